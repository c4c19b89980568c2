//! Session stores: where a process puts its shards' sessions on a graceful stop, so that the
//! next process (after a deploy, on another machine) resumes them instead of identifying again.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use discord_gateway::ShardId;

use crate::fleet::seal::SealedSession;

/// The future a [`SessionStore`] method returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Keeps each shard's saved session between processes.
///
/// States are keyed by the whole [`ShardId`] (id and count): a session of shard 3 of 16 says
/// nothing about shard 3 of 32. Implementations are shared by every shard of a process (and,
/// for a networked store, by every process of the bot), so they take `&self`.
///
/// A store holds [`SealedSession`]s, never bare states: the [`crate::ShardManager`] seals what
/// it saves and opens what it takes with the bot's [`crate::SessionSeal`], so a store needs no
/// key, and what its writers put in it is trusted with nothing (see [`crate::SessionSeal`]).
/// Even a record sealed with the bot's own key is not trusted with the token: whatever its
/// resume URL says, the shard dials it only where the configured gateway vouches for it
/// ([`discord_gateway::session::vouches_for`]), and otherwise resumes at the configured
/// gateway with a warning.
///
/// A store shared by several processes can also lease shards ([`SessionStore::claim`]), so
/// that two processes given overlapping ranges never run one shard twice. The default methods
/// grant every lease: a store for one process (a file) needs none.
pub trait SessionStore: Send + Sync + 'static {
    /// The saved session of each of `shards`, in the same order; `None` where nothing is saved.
    /// Nothing is removed.
    fn load<'a>(&'a self, shards: &'a [ShardId]) -> StoreFuture<'a, Vec<Option<SealedSession>>>;

    /// Like [`SessionStore::load`], and removes what it returns in the same step, so that two
    /// processes can never both take one session. The default loads, then clears; a store
    /// shared by processes overrides it with one atomic operation.
    fn take<'a>(&'a self, shards: &'a [ShardId]) -> StoreFuture<'a, Vec<Option<SealedSession>>> {
        Box::pin(async move {
            let taken = self.load(shards).await?;
            let found: Vec<ShardId> = shards
                .iter()
                .zip(&taken)
                .filter(|(_, session)| session.is_some())
                .map(|(shard, _)| *shard)
                .collect();
            if !found.is_empty() {
                self.clear(&found).await?;
            }
            Ok(taken)
        })
    }

    /// Saves `sessions`, replacing whatever was saved for those shards.
    fn save<'a>(&'a self, sessions: &'a [(ShardId, SealedSession)]) -> StoreFuture<'a, ()>;

    /// Forgets what was saved for `shards`.
    fn clear<'a>(&'a self, shards: &'a [ShardId]) -> StoreFuture<'a, ()>;

    /// Takes (or keeps) the lease of each of `shards` for this process, in the same order: a
    /// shard whose lease another process holds must not run here. By default every lease is
    /// granted.
    fn claim<'a>(&'a self, shards: &'a [ShardId]) -> StoreFuture<'a, Vec<Claim>> {
        Box::pin(async move { Ok(vec![Claim::Granted; shards.len()]) })
    }

    /// How often the leases this process holds must be renewed ([`SessionStore::claim`] again);
    /// `None` (the default) when the store keeps no leases.
    fn lease_renewal(&self) -> Option<Duration> {
        None
    }

    /// Gives up the leases of `shards` this process holds (on shutdown, after saving their
    /// sessions), so the next process can take them at once. By default nothing to do.
    fn release<'a>(&'a self, shards: &'a [ShardId]) -> StoreFuture<'a, ()> {
        let _ = shards;
        Box::pin(async { Ok(()) })
    }
}

/// The answer to one shard's [`SessionStore::claim`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// This process holds the shard's lease.
    Granted,
    /// Another process does: it is named here (as the store knows it, e.g. `pid 4242 on
    /// host-a`).
    HeldBy(String),
}

impl<S: SessionStore + ?Sized> SessionStore for Arc<S> {
    fn load<'a>(&'a self, shards: &'a [ShardId]) -> StoreFuture<'a, Vec<Option<SealedSession>>> {
        (**self).load(shards)
    }

    fn take<'a>(&'a self, shards: &'a [ShardId]) -> StoreFuture<'a, Vec<Option<SealedSession>>> {
        (**self).take(shards)
    }

    fn save<'a>(&'a self, sessions: &'a [(ShardId, SealedSession)]) -> StoreFuture<'a, ()> {
        (**self).save(sessions)
    }

    fn clear<'a>(&'a self, shards: &'a [ShardId]) -> StoreFuture<'a, ()> {
        (**self).clear(shards)
    }

    fn claim<'a>(&'a self, shards: &'a [ShardId]) -> StoreFuture<'a, Vec<Claim>> {
        (**self).claim(shards)
    }

    fn lease_renewal(&self) -> Option<Duration> {
        (**self).lease_renewal()
    }

    fn release<'a>(&'a self, shards: &'a [ShardId]) -> StoreFuture<'a, ()> {
        (**self).release(shards)
    }
}

/// A session store failed: it could not be reached, or what it holds could not be read.
#[derive(Debug)]
pub struct StoreError {
    what: &'static str,
    source: Box<dyn Error + Send + Sync + 'static>,
}

impl StoreError {
    /// A failure while doing `what` ("reading the session file", "saving to Redis"), caused by
    /// `source`.
    pub fn new(
        what: &'static str,
        source: impl Into<Box<dyn Error + Send + Sync + 'static>>,
    ) -> Self {
        Self {
            what,
            source: source.into(),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "session store failed while {}", self.what)
    }
}

impl Error for StoreError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.source)
    }
}
