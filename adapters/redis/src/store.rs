//! A session store in Redis, so that any process of a bot can resume any shard.

use std::time::Duration;

use discord_gateway_driver::discord_gateway::session::ResumeState;
use discord_gateway_driver::discord_gateway::ShardId;
use discord_gateway_driver::{SessionStore, StoreError, StoreFuture};
use redis::Client;

use crate::link::Link;

/// A [`SessionStore`] in Redis: one key per shard, `{prefix}:session:{count}:{id}`, holding the
/// [`ResumeState`] as JSON. Loads are one `MGET`, saves and clears one atomic pipeline
/// (`MULTI` … `EXEC`), whatever the number of shards.
///
/// The key names the shard count as well as the id: a session of shard 3 of 16 says nothing
/// about shard 3 of 32.
#[derive(Debug)]
pub struct RedisSessionStore {
    link: Link,
    prefix: String,
    expire_after: Option<Duration>,
}

impl RedisSessionStore {
    /// A store on the Redis `client` points at, with keys under `discord-gateway`.
    #[must_use]
    pub fn new(client: Client) -> Self {
        Self {
            link: Link::new(client),
            prefix: "discord-gateway".to_owned(),
            expire_after: None,
        }
    }

    /// The prefix of every key (default `discord-gateway`); one per bot sharing a Redis.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Lets Redis forget a saved session after `ttl` (default: kept until cleared). Discord
    /// keeps a disconnected session resumable for minutes, not days: an expiry keeps a process
    /// that starts much later from trying a Resume that can only fail.
    #[must_use]
    pub fn expire_after(mut self, ttl: Duration) -> Self {
        self.expire_after = Some(ttl);
        self
    }

    fn key(&self, shard: ShardId) -> String {
        format!("{}:session:{}:{}", self.prefix, shard.count(), shard.id())
    }
}

impl SessionStore for RedisSessionStore {
    fn load<'a>(&'a self, shards: &'a [ShardId]) -> StoreFuture<'a, Vec<Option<ResumeState>>> {
        Box::pin(async move {
            if shards.is_empty() {
                return Ok(Vec::new());
            }
            let keys: Vec<String> = shards.iter().map(|&shard| self.key(shard)).collect();
            let values: Vec<Option<String>> = self
                .link
                .run(|mut connection| async move {
                    redis::cmd("MGET")
                        .arg(&keys)
                        .query_async(&mut connection)
                        .await
                })
                .await
                .map_err(|error| StoreError::new("loading sessions from Redis", error))?;
            values
                .into_iter()
                .map(|value| {
                    value
                        .map(|json| serde_json::from_str(&json))
                        .transpose()
                        .map_err(|error| StoreError::new("reading a session saved in Redis", error))
                })
                .collect()
        })
    }

    fn save<'a>(&'a self, states: &'a [(ShardId, ResumeState)]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if states.is_empty() {
                return Ok(());
            }
            let mut pipe = redis::pipe();
            pipe.atomic();
            for (shard, state) in states {
                let json = serde_json::to_string(state)
                    .map_err(|error| StoreError::new("encoding a session for Redis", error))?;
                let set = pipe.cmd("SET").arg(self.key(*shard)).arg(json);
                if let Some(ttl) = self.expire_after {
                    set.arg("PX")
                        .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1));
                }
                set.ignore();
            }
            self.link
                .run(|mut connection| async move { pipe.query_async::<()>(&mut connection).await })
                .await
                .map_err(|error| StoreError::new("saving sessions to Redis", error))
        })
    }

    fn clear<'a>(&'a self, shards: &'a [ShardId]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if shards.is_empty() {
                return Ok(());
            }
            let keys: Vec<String> = shards.iter().map(|&shard| self.key(shard)).collect();
            self.link
                .run(|mut connection| async move {
                    redis::cmd("DEL")
                        .arg(&keys)
                        .query_async::<()>(&mut connection)
                        .await
                })
                .await
                .map_err(|error| StoreError::new("clearing sessions in Redis", error))
        })
    }
}
