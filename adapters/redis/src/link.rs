//! One multiplexed Redis connection, opened on first use and opened again after it breaks.
//!
//! The identify queue, the session store and the stream writer all talk to Redis through a
//! [`Link`], so they share one rule for when a connection is worth keeping.

use std::sync::{Mutex, PoisonError};

use redis::aio::MultiplexedConnection;
use redis::{Client, RedisError, RedisResult};

/// A Redis client and the connection it last opened.
pub(crate) struct Link {
    client: Client,
    connection: Mutex<Option<MultiplexedConnection>>,
}

impl Link {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            connection: Mutex::new(None),
        }
    }

    /// The open connection, or a new one. Clones are cheap: they share one socket.
    pub(crate) async fn connection(&self) -> RedisResult<MultiplexedConnection> {
        if let Some(connection) = self.cached().clone() {
            return Ok(connection);
        }
        let connection = self.client.get_multiplexed_async_connection().await?;
        *self.cached() = Some(connection.clone());
        Ok(connection)
    }

    /// Drops the cached connection if `error` says it is broken, so the next call reconnects.
    /// A command Redis refused (a wrong type, a script error) leaves it in place.
    pub(crate) fn note(&self, error: &RedisError) {
        if error.is_io_error()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
            || error.is_timeout()
            || error.is_unrecoverable_error()
        {
            *self.cached() = None;
        }
    }

    /// Runs `op` on a connection, forgetting the connection if it failed because it broke.
    pub(crate) async fn run<T, F, Fut>(&self, op: F) -> RedisResult<T>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = RedisResult<T>>,
    {
        let result = match self.connection().await {
            Ok(connection) => op(connection).await,
            Err(error) => Err(error),
        };
        if let Err(error) = &result {
            self.note(error);
        }
        result
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, Option<MultiplexedConnection>> {
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection info may hold a password: show only where it points.
        let info = self.client.get_connection_info();
        f.debug_struct("Link")
            .field("addr", &info.addr().to_string())
            .finish_non_exhaustive()
    }
}
