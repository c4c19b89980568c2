//! Identify permits: at most one Identify per concurrency bucket per 5 seconds, across shards.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use discord_gateway::ShardId;

use crate::Runtime;

/// How long one concurrency bucket stays taken after an Identify.
pub const IDENTIFY_WINDOW: Duration = Duration::from_secs(5);

/// A future that completes when the shard may identify.
pub type Permit = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Hands out identify permits. Share one between every shard of a bot (in this process, or a
/// distributed implementation across processes): Discord answers a second Identify in the same
/// bucket within 5 s with Invalid Session, and too many Identifies a day reset the token.
pub trait IdentifyQueue: Send + Sync + 'static {
    /// Completes when `shard` may send Identify; the permit is used at once.
    fn acquire(&self, shard: ShardId) -> Permit;
}

/// The in-process queue: `max_concurrency` buckets (`shard_id % max_concurrency`), each taking
/// one Identify per [`IDENTIFY_WINDOW`].
pub struct LocalIdentifyQueue<R: Runtime> {
    runtime: R,
    max_concurrency: u32,
    /// When each bucket is next free.
    free_at: Mutex<Vec<Instant>>,
}

impl<R: Runtime> std::fmt::Debug for LocalIdentifyQueue<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalIdentifyQueue")
            .field("max_concurrency", &self.max_concurrency)
            .finish()
    }
}

impl<R: Runtime> LocalIdentifyQueue<R> {
    /// A queue for a bot whose `GET /gateway/bot` reported `max_concurrency` (1 for most bots).
    #[must_use]
    pub fn new(runtime: R, max_concurrency: u32) -> Arc<Self> {
        let buckets = max_concurrency.max(1);
        let now = Instant::now();
        Arc::new(Self {
            runtime,
            max_concurrency: buckets,
            free_at: Mutex::new(vec![now; buckets as usize]),
        })
    }

    /// Books the next slot of `shard`'s bucket and says when it starts.
    pub fn reserve(&self, shard: ShardId) -> Instant {
        let bucket = shard.rate_limit_key(self.max_concurrency) as usize;
        let now = Instant::now();
        let mut free_at = self
            .free_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let at = free_at[bucket].max(now);
        free_at[bucket] = at + IDENTIFY_WINDOW;
        at
    }
}

impl<R: Runtime> IdentifyQueue for LocalIdentifyQueue<R> {
    fn acquire(&self, shard: ShardId) -> Permit {
        let at = self.reserve(shard);
        Box::pin(self.runtime.sleep_until(at))
    }
}
