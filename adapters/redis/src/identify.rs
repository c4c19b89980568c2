//! An identify queue shared through Redis by every process of a bot.
//!
//! The rules are [`LocalIdentifyQueue`]'s: one Identify per bucket (`shard_id %
//! max_concurrency`) per window, first come first served among the shards of one process, the
//! daily budget kept when one is given. What changes is where the state lives: each bucket is a
//! Redis key set with `NX`-like semantics and an expiry of one window, and the budget is a
//! counter that expires at the reset. One Lua script checks the bucket, checks and spends the
//! budget, and takes the bucket, so two processes can never both win a bucket, and a session
//! start is never spent without the bucket being taken with it.
//!
//! A process that dies while it holds a bucket blocks nobody for longer than the window: the
//! key expires on its own. Nothing is ever released early, so a crash can only make the bot
//! slower, never faster than Discord allows. The same holds for a reply lost after Redis ran the
//! script (a timeout, a cut connection): the retry finds the bucket taken and waits it out,
//! which costs one window and one session start, never a second Identify in the window.
//!
//! [`LocalIdentifyQueue`]: discord_gateway_driver::LocalIdentifyQueue

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use discord_gateway_driver::discord_gateway::ShardId;
use discord_gateway_driver::{IdentifyQueue, Permit, Runtime, SessionStartLimit, IDENTIFY_WINDOW};
use redis::{Client, RedisResult, Script};

use crate::link::Link;

/// How long a daily budget lasts once it resets (Discord: a day).
const BUDGET_PERIOD: Duration = Duration::from_secs(24 * 60 * 60);
/// The longest a queue sleeps on a spent budget before asking Redis again, so a budget someone
/// raised by hand (or a reset seen by another process) is noticed.
const BUDGET_RECHECK: Duration = Duration::from_secs(60);
/// How often to look at a bucket key that has no expiry (set by someone else, by hand).
const STUCK_RECHECK: Duration = Duration::from_secs(1);
/// First and longest wait before asking an unreachable Redis again.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Checks the bucket, then the budget, then takes both, atomically.
///
/// KEYS: the bucket, the budget. ARGV: the owner written into the bucket, how long to hold it
/// (ms), then for a budget found missing ("" when no budget is kept) what to put in it and for
/// how long (ms): see [`Shared::budget_seed`].
/// Returns `{0, ms}` when the bucket frees in `ms` (-1: it has no expiry), `{1, ms}` when the
/// budget is spent and resets in `ms`, `{2, 0}` when the bucket was taken.
const ACQUIRE: &str = r"
local wait = redis.call('PTTL', KEYS[1])
if wait ~= -2 then
  return {0, wait}
end
if ARGV[3] ~= '' then
  local remaining = redis.call('GET', KEYS[2])
  if not remaining then
    -- First use, a reset (the key expired), or a Redis that lost its data: the caller says
    -- what the budget is at most, from the limit Discord gave it.
    redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
    remaining = ARGV[3]
  end
  if tonumber(remaining) <= 0 then
    return {1, redis.call('PTTL', KEYS[2])}
  end
  redis.call('DECR', KEYS[2])
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {2, 0}
";

/// Builds a [`RedisIdentifyQueue`].
#[derive(Debug)]
#[must_use]
pub struct RedisIdentifyQueueBuilder {
    client: Client,
    prefix: String,
    max_concurrency: u32,
    limit: Option<SessionStartLimit>,
    window: Duration,
    guard: Option<Duration>,
}

impl RedisIdentifyQueueBuilder {
    /// A builder for a queue on the Redis `client` points at.
    ///
    /// ```no_run
    /// # fn demo() -> redis::RedisResult<()> {
    /// use discord_gateway_redis::RedisIdentifyQueueBuilder;
    /// use discord_gateway_tokio::Tokio;
    ///
    /// let client = redis::Client::open("redis://127.0.0.1:6379")?;
    /// let queue = RedisIdentifyQueueBuilder::new(client)
    ///     .max_concurrency(16)
    ///     .build(Tokio);
    /// # Ok(()) }
    /// ```
    pub fn new(client: Client) -> Self {
        Self {
            client,
            prefix: "discord-gateway".to_owned(),
            max_concurrency: 1,
            limit: None,
            window: IDENTIFY_WINDOW,
            guard: None,
        }
    }

    /// The prefix of every key the queue uses (default `discord-gateway`). Bots sharing one
    /// Redis need one prefix each; every process of one bot must use the same.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// `max_concurrency` from `GET /gateway/bot` (default 1). Every process must agree on it.
    pub fn max_concurrency(mut self, max_concurrency: u32) -> Self {
        self.max_concurrency = max_concurrency.max(1);
        self
    }

    /// Keeps the daily budget of `limit` in Redis (and takes its `max_concurrency`).
    ///
    /// The first process to identify seeds Redis with `remaining`, expiring at `reset_after`;
    /// later ones find the budget there and leave it alone, so a budget spent by one process is
    /// spent for all. When the key expires (the reset) it comes back as `total` for a day. Should
    /// Redis lose the key before then (a restart without persistence), the next process to
    /// identify puts back what its own `limit` says is left at most, never the whole `total`.
    pub fn limit(mut self, limit: SessionStartLimit) -> Self {
        self.max_concurrency = limit.max_concurrency.max(1);
        self.limit = Some(limit);
        self
    }

    /// How long one Identify occupies its bucket (default [`IDENTIFY_WINDOW`], Discord's 5 s).
    /// Only tests against a simulated gateway with a shorter window should change it.
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Extra time a bucket is held beyond the window (default a 25th of the window: 200 ms of
    /// 5 s). The window is measured at Redis but enforced where Discord receives the Identify;
    /// the guard absorbs how much later one Identify may travel than the one before it.
    pub fn guard(mut self, guard: Duration) -> Self {
        self.guard = Some(guard);
        self
    }

    /// The queue, on `runtime`'s timer. Nothing is sent to Redis until a shard asks.
    pub fn build<R: Runtime>(self, runtime: R) -> RedisIdentifyQueue<R> {
        let guard = self.guard.unwrap_or(self.window / 25);
        let buckets = self.max_concurrency.max(1);
        let limit_known_at = runtime.now();
        RedisIdentifyQueue {
            inner: Arc::new(Shared {
                runtime,
                link: Link::new(self.client),
                bucket_keys: (0..buckets)
                    .map(|n| format!("{}:identify:bucket:{n}", self.prefix))
                    .collect(),
                budget_key: format!("{}:identify:budget", self.prefix),
                hold: self.window + guard,
                limit: self.limit,
                limit_known_at,
                owner: format!(
                    "{}:{:x}",
                    std::process::id(),
                    discord_gateway_driver::os_seed()
                ),
                script: Script::new(ACQUIRE),
                budget_logged: AtomicBool::new(false),
                lines: Mutex::new(Lines {
                    buckets: (0..buckets).map(|_| VecDeque::new()).collect(),
                    next_ticket: 0,
                }),
            }),
        }
    }
}

/// An [`IdentifyQueue`] kept in Redis, shared by every process of a bot: see the module docs.
/// Build one with [`RedisIdentifyQueueBuilder::new`].
///
/// If Redis cannot be reached, permits wait (retrying with backoff, and saying so in the log):
/// a shard never identifies without Redis's word that it may.
///
/// Cloning it is cheap, and every clone is the same queue.
pub struct RedisIdentifyQueue<R: Runtime> {
    inner: Arc<Shared<R>>,
}

impl<R: Runtime> Clone for RedisIdentifyQueue<R> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<R: Runtime> std::fmt::Debug for RedisIdentifyQueue<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisIdentifyQueue")
            .field("link", &self.inner.link)
            .field("budget_key", &self.inner.budget_key)
            .field("max_concurrency", &self.inner.bucket_keys.len())
            .field("hold", &self.inner.hold)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> RedisIdentifyQueue<R> {
    /// Sessions left in the daily budget, as Redis has it now (`None` when no budget is kept
    /// or it has not been seeded yet).
    pub async fn remaining(&self) -> RedisResult<Option<u32>> {
        let key = self.inner.budget_key.clone();
        self.inner
            .link
            .run(|mut connection| async move {
                redis::cmd("GET")
                    .arg(key)
                    .query_async::<Option<u32>>(&mut connection)
                    .await
            })
            .await
    }
}

/// What every clone of a queue, and every permit it handed out, shares.
struct Shared<R: Runtime> {
    runtime: R,
    link: Link,
    bucket_keys: Vec<String>,
    budget_key: String,
    /// How long a granted bucket stays taken: the window and its guard.
    hold: Duration,
    limit: Option<SessionStartLimit>,
    /// When `limit` was true, on the runtime's clock.
    limit_known_at: Instant,
    /// Written into the bucket keys this process takes, for whoever inspects Redis.
    owner: String,
    script: Script,
    /// Whether the wait for the budget's reset was already logged.
    budget_logged: AtomicBool,
    lines: Mutex<Lines>,
}

/// The shards of this process waiting for each bucket, first in line first.
struct Lines {
    buckets: Vec<VecDeque<Waiter>>,
    next_ticket: u64,
}

struct Waiter {
    ticket: u64,
    waker: Option<Waker>,
}

/// What Redis said about one attempt to take a bucket.
enum Verdict {
    Granted,
    /// The bucket is taken; `None` when its key has no expiry.
    BucketBusy(Option<Duration>),
    /// The budget is spent; it resets after this long (`None`: the key has no expiry).
    BudgetSpent(Option<Duration>),
}

impl<R: Runtime> Shared<R> {
    fn lines(&self) -> MutexGuard<'_, Lines> {
        self.lines.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn sleep(&self, duration: Duration) {
        let deadline = self.runtime.now() + duration;
        self.runtime.sleep_until(deadline).await;
    }

    /// Waits until Redis grants `bucket`, however long Redis stays unreachable.
    async fn take(&self, bucket: usize) {
        let mut retry = RETRY_FIRST;
        loop {
            match self.try_take(bucket).await {
                Ok(Verdict::Granted) => {
                    self.budget_logged.store(false, Ordering::Relaxed);
                    return;
                }
                Ok(Verdict::BucketBusy(wait)) => {
                    retry = RETRY_FIRST;
                    let wait = wait.unwrap_or(STUCK_RECHECK);
                    self.sleep(wait.max(Duration::from_millis(1))).await;
                }
                Ok(Verdict::BudgetSpent(wait)) => {
                    retry = RETRY_FIRST;
                    if !self.budget_logged.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            wait_secs = wait.map(|wait| wait.as_secs()),
                            total = self.limit.map(|limit| limit.total),
                            key = %self.budget_key,
                            "the daily session start limit is used up; waiting for it to reset before identifying"
                        );
                    }
                    let wait = wait.unwrap_or(BUDGET_RECHECK).min(BUDGET_RECHECK);
                    self.sleep(wait.max(Duration::from_millis(1))).await;
                }
                Err(error) => {
                    tracing::warn!(
                        %error,
                        retry_ms = retry.as_millis() as u64,
                        "the Redis identify queue is unreachable; no shard identifies until it answers"
                    );
                    self.sleep(retry).await;
                    retry = (retry * 2).min(RETRY_MAX);
                }
            }
        }
    }

    /// What to put in a budget found missing in Redis, and until when: as of now, by this
    /// process's `limit`, `remaining` until its reset, then `total` for each day after. Other
    /// processes may have spent some since, so it is an upper bound, which is why Redis's own
    /// count wins whenever it has one.
    fn budget_seed(&self) -> Option<(u32, Duration)> {
        let limit = self.limit?;
        let known_for = self
            .runtime
            .now()
            .saturating_duration_since(self.limit_known_at);
        Some(match limit.reset_after.checked_sub(known_for) {
            Some(left) if !left.is_zero() => (limit.remaining, left),
            _ => {
                let into_day =
                    (known_for - limit.reset_after).as_millis() % BUDGET_PERIOD.as_millis();
                let into_day = Duration::from_millis(u64::try_from(into_day).unwrap_or(0));
                (limit.total, BUDGET_PERIOD - into_day)
            }
        })
    }

    async fn try_take(&self, bucket: usize) -> RedisResult<Verdict> {
        let hold_ms = millis(self.hold).max(1);
        self.link
            .run(|mut connection| async move {
                let (seed_remaining, seed_ttl) = match self.budget_seed() {
                    Some((remaining, ttl)) => (remaining.to_string(), millis(ttl).max(1)),
                    None => (String::new(), 0),
                };
                let (status, ms): (u8, i64) = self
                    .script
                    .key(&self.bucket_keys[bucket])
                    .key(&self.budget_key)
                    .arg(&self.owner)
                    .arg(hold_ms)
                    .arg(seed_remaining)
                    .arg(seed_ttl)
                    .invoke_async(&mut connection)
                    .await?;
                let wait = u64::try_from(ms).ok().map(Duration::from_millis);
                Ok(match status {
                    2 => Verdict::Granted,
                    1 => Verdict::BudgetSpent(wait),
                    _ => Verdict::BucketBusy(wait),
                })
            })
            .await
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl<R: Runtime> IdentifyQueue for RedisIdentifyQueue<R> {
    fn acquire(&self, shard: ShardId) -> Permit {
        let bucket = shard.rate_limit_key(self.inner.bucket_keys.len() as u32) as usize;
        // The place is taken now, not at the first poll: the order of `acquire` calls is the
        // order shards of this process go in.
        let place = Place::join(Arc::clone(&self.inner), bucket);
        Box::pin(async move {
            Turn { place: &place }.await;
            place.queue.take(place.bucket).await;
            // Dropping the place hands the turn on.
        })
    }
}

/// A place in this process's line for one bucket. Dropping it (granted, or given up) leaves
/// the line and wakes whoever is next.
struct Place<R: Runtime> {
    queue: Arc<Shared<R>>,
    bucket: usize,
    ticket: u64,
}

impl<R: Runtime> Place<R> {
    fn join(queue: Arc<Shared<R>>, bucket: usize) -> Self {
        let mut lines = queue.lines();
        let ticket = lines.next_ticket;
        lines.next_ticket += 1;
        lines.buckets[bucket].push_back(Waiter {
            ticket,
            waker: None,
        });
        drop(lines);
        Self {
            queue,
            bucket,
            ticket,
        }
    }
}

impl<R: Runtime> Drop for Place<R> {
    fn drop(&mut self) {
        let mut lines = self.queue.lines();
        let line = &mut lines.buckets[self.bucket];
        if let Some(position) = line.iter().position(|w| w.ticket == self.ticket) {
            line.remove(position);
            if position == 0 {
                if let Some(next) = line.front_mut().and_then(|w| w.waker.take()) {
                    next.wake();
                }
            }
        }
    }
}

/// Completes when its place is first in line.
struct Turn<'a, R: Runtime> {
    place: &'a Place<R>,
}

impl<R: Runtime> Future for Turn<'_, R> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let place = self.place;
        let mut lines = place.queue.lines();
        let line = &mut lines.buckets[place.bucket];
        match line.iter().position(|w| w.ticket == place.ticket) {
            Some(0) | None => Poll::Ready(()),
            Some(position) => {
                line[position].waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
