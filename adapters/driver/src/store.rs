//! Session stores: where a process puts its shards' sessions on a graceful stop, so that the
//! next process (after a deploy, on another machine) resumes them instead of identifying again.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use discord_gateway::session::ResumeState;
use discord_gateway::ShardId;

/// The future a [`SessionStore`] method returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Keeps each shard's [`ResumeState`] between processes.
///
/// States are keyed by the whole [`ShardId`] (id and count): a session of shard 3 of 16 says
/// nothing about shard 3 of 32. Implementations are shared by every shard of a process (and,
/// for a networked store, by every process of the bot), so they take `&self`.
pub trait SessionStore: Send + Sync + 'static {
    /// The saved state of each of `shards`, in the same order; `None` where nothing is saved.
    fn load<'a>(&'a self, shards: &'a [ShardId]) -> StoreFuture<'a, Vec<Option<ResumeState>>>;

    /// Saves `states`, replacing whatever was saved for those shards.
    fn save<'a>(&'a self, states: &'a [(ShardId, ResumeState)]) -> StoreFuture<'a, ()>;

    /// Forgets what was saved for `shards`. A process clears the states it loaded once its
    /// shards have them, so that a crash later (with no graceful save) does not leave a stale
    /// session for the next start to try.
    fn clear<'a>(&'a self, shards: &'a [ShardId]) -> StoreFuture<'a, ()>;
}

impl<S: SessionStore + ?Sized> SessionStore for Arc<S> {
    fn load<'a>(&'a self, shards: &'a [ShardId]) -> StoreFuture<'a, Vec<Option<ResumeState>>> {
        (**self).load(shards)
    }

    fn save<'a>(&'a self, states: &'a [(ShardId, ResumeState)]) -> StoreFuture<'a, ()> {
        (**self).save(states)
    }

    fn clear<'a>(&'a self, shards: &'a [ShardId]) -> StoreFuture<'a, ()> {
        (**self).clear(shards)
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
