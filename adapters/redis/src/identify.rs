//! An identify queue shared through Redis by every process of a bot.
//!
//! The rules are the core's [`IdentifyLimiter`], as [`LocalIdentifyQueue`] keeps them: one
//! Identify per bucket (`shard_id % max_concurrency`) per window, the daily budget kept when one
//! is given. The shards of one process wait in the driver's [`WaiterLine`], first come first
//! served, as the local queue's do. What changes is where the state lives: each bucket is a
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
//! A bucket key found without an expiry (set by hand, or by a tool that does not know the
//! rules) would hold its bucket for ever; the script gives it one window's expiry and the queue
//! says so in a warning, so it is held for one window, never silently for good.
//!
//! The daily budget is as good as the Redis keeping it. Should Redis lose the budget key before
//! its reset (a restart without persistence, a failover to a replica that had not received the
//! last writes, `FLUSHALL`), the next process to identify seeds it again from what its own
//! `limit` said was left, less the session starts this process was granted since. Starts other
//! processes were granted since are not known to it, so after such a loss the bot can start
//! more sessions than the day had left (at most what the other processes started since this
//! one read its limit); give each process a fresh `limit` from `GET /gateway/bot` on start to
//! keep that small. Within the window, a bucket lost with the budget can likewise let a second
//! Identify through: the window rule holds while Redis keeps its data.
//!
//! [`LocalIdentifyQueue`]: discord_gateway_driver::LocalIdentifyQueue
//! [`IdentifyLimiter`]: discord_gateway_driver::discord_gateway::session::IdentifyLimiter

use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use discord_gateway_driver::discord_gateway::session::SessionBudget;
use discord_gateway_driver::discord_gateway::{Instant as CoreInstant, ShardId, Token};
use discord_gateway_driver::{
    Answer, GrantSource, IdentifyQueue, Permit, QueueStatus, Runtime, SessionStartLimit,
    WaiterLine, IDENTIFY_WINDOW,
};
use redis::{Client, RedisResult, Script};

use crate::keys;
use crate::link::Link;

/// The longest a queue sleeps on a spent budget before asking Redis again, so a budget someone
/// raised by hand (or a reset seen by another process) is noticed.
const BUDGET_RECHECK: Duration = Duration::from_secs(60);
/// First and longest wait before asking an unreachable Redis again.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Checks the bucket, then the budget, then takes both, atomically.
///
/// KEYS: the bucket, the budget. ARGV: the owner written into the bucket, how long to hold it
/// (ms), then for a budget found missing ("" when no budget is kept) what to put in it and for
/// how long (ms): see [`Shared::budget_seed`].
/// Returns `{0, ms, b}` when the bucket frees in `ms`, `{1, ms, b}` when the budget is spent
/// and resets in `ms`, `{2, 0, b}` when the bucket was taken, `{3, ms, b}` when the bucket had
/// no expiry and was given one of `ms` (one hold). `b` is what the budget holds after the
/// answer, -1 when none is kept, so the queue knows it without a round trip of its own.
///
/// The budget key is untrusted like every key: one that holds no whole number is seeded anew,
/// as a missing one is, rather than failing every ask with a Lua error.
const ACQUIRE: &str = r"
-- Whether a budget is kept is the caller's word, never the stored value's: a planted -1 is a
-- spent budget like any count below one, not 'no budget'.
local kept = ARGV[3] ~= ''
local budget = -1
if kept then
  budget = tonumber(redis.call('GET', KEYS[2]))
  if not budget or budget ~= math.floor(budget) or math.abs(budget) > 4294967295 then
    -- First use, a reset (the key expired), a Redis that lost its data, or a value no one of
    -- us wrote: the caller says what the budget is at most, from the limit Discord gave it.
    redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
    budget = tonumber(ARGV[3])
  end
end
local wait = redis.call('PTTL', KEYS[1])
if wait == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {3, tonumber(ARGV[2]), budget}
end
if wait ~= -2 then
  return {0, wait, budget}
end
if kept then
  if budget <= 0 then
    return {1, redis.call('PTTL', KEYS[2]), budget}
  end
  budget = redis.call('DECR', KEYS[2])
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {2, 0, budget}
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
    /// A builder for a queue on the Redis `client` points at, for the bot `token` belongs to:
    /// keys under `discord-gateway:{bot id}` (the token itself is not kept).
    ///
    /// ```no_run
    /// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use discord_gateway_redis::RedisIdentifyQueueBuilder;
    /// use discord_gateway_tokio::{Token, Tokio};
    ///
    /// let token = Token::new(&std::env::var("DISCORD_TOKEN")?)?;
    /// let client = redis::Client::open("redis://127.0.0.1:6379")?;
    /// let queue = RedisIdentifyQueueBuilder::new(client, &token)
    ///     .max_concurrency(16)
    ///     .build(Tokio);
    /// # Ok(()) }
    /// ```
    pub fn new(client: Client, token: &Token) -> Self {
        Self {
            client,
            prefix: keys::bot_prefix(token),
            max_concurrency: 1,
            limit: None,
            window: IDENTIFY_WINDOW,
            guard: None,
        }
    }

    /// Replaces the prefix of every key the queue uses (default `discord-gateway:{bot id}`,
    /// one per bot). Every process of one bot must use the same; two bots must never. Keys are
    /// `{PREFIX}:identify:…`: the prefix is their hash tag, so on Redis Cluster a bucket and the
    /// budget, which one script touches, share a slot.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = keys::prefix(prefix.into());
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
    /// identify puts back what its own `limit` said was left less what this process was granted
    /// since, never the whole `total` (see the module docs for what it cannot know).
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
        let source = Shared {
            runtime: runtime.clone(),
            link: Link::new(self.client),
            bucket_keys: (0..buckets)
                .map(|n| keys::key(&self.prefix, format_args!("identify:bucket:{n}")))
                .collect(),
            budget_key: keys::key(&self.prefix, format_args!("identify:budget")),
            hold: self.window + guard,
            limit: self.limit,
            limit_known_at,
            owner: format!(
                "{}:{:x}",
                std::process::id(),
                discord_gateway_driver::os_seed()
            ),
            script: Script::new(ACQUIRE),
            granted: Mutex::new(Grants::default()),
            budget_seen: Mutex::new(None),
        };
        RedisIdentifyQueue {
            line: WaiterLine::new(runtime, source, buckets as usize),
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
#[derive(Clone)]
pub struct RedisIdentifyQueue<R: Runtime> {
    line: WaiterLine<R, Shared<R>>,
}

impl<R: Runtime> std::fmt::Debug for RedisIdentifyQueue<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.line.source();
        f.debug_struct("RedisIdentifyQueue")
            .field("link", &inner.link)
            .field("budget_key", &inner.budget_key)
            .field("max_concurrency", &inner.bucket_keys.len())
            .field("hold", &inner.hold)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> RedisIdentifyQueue<R> {
    /// Sessions left in the daily budget, as Redis has it now (`None` when no budget is kept
    /// or it has not been seeded yet).
    pub async fn remaining(&self) -> RedisResult<Option<u32>> {
        let key = self.line.source().budget_key.clone();
        self.line
            .source()
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

/// Redis's word on the buckets and the budget: what the queue's [`WaiterLine`] asks.
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
    /// Session starts this process was granted in the current budget period.
    granted: Mutex<Grants>,
    /// The budget as Redis's last answer had it (`None` before the first, or when none is
    /// kept): every process's grants counted, read without a round trip of its own.
    budget_seen: Mutex<Option<u32>>,
}

/// Session starts this process was granted in one budget period.
#[derive(Default)]
struct Grants {
    period: u64,
    count: u32,
}

impl Grants {
    fn spent(&self, period: u64) -> u32 {
        if self.period == period {
            self.count
        } else {
            0
        }
    }
}

/// What Redis said about one attempt to take a bucket.
enum Verdict {
    Granted,
    /// The bucket is taken; `None` when Redis said nothing usable about its expiry.
    BucketBusy(Option<Duration>),
    /// The bucket's key had no expiry: it was given one, and frees after this long.
    BucketStuck(Duration),
    /// The budget is spent; it resets after this long (`None`: the key has no expiry).
    BudgetSpent(Option<Duration>),
}

impl<R: Runtime> Shared<R> {
    async fn sleep(&self, duration: Duration) {
        let deadline = self.runtime.now() + duration;
        self.runtime.sleep_until(deadline).await;
    }

    /// Asks Redis for `bucket` until it answers, however long it stays unreachable.
    async fn ask_redis(&self, bucket: usize) -> Answer {
        let mut retry = RETRY_FIRST;
        loop {
            let now = self.runtime.now();
            let after = |wait: Duration| now + wait.max(Duration::from_millis(1));
            match self.try_take(bucket).await {
                Ok(Verdict::Granted) => {
                    self.note_grant();
                    return Answer::Granted;
                }
                Ok(Verdict::BucketBusy(wait)) => {
                    return Answer::Busy {
                        until: after(wait.unwrap_or(self.hold)),
                    };
                }
                Ok(Verdict::BucketStuck(wait)) => {
                    tracing::warn!(
                        key = %self.bucket_keys[bucket],
                        wait_ms = millis(wait),
                        "an identify bucket key had no expiry (set by hand?) and would have held its bucket for ever; it now expires after one window"
                    );
                    return Answer::Busy { until: after(wait) };
                }
                Ok(Verdict::BudgetSpent(wait)) => {
                    return Answer::BudgetSpent {
                        until: after(wait.unwrap_or(BUDGET_RECHECK).min(BUDGET_RECHECK)),
                        resets_in: wait,
                        total: self.limit.map(|limit| limit.total),
                    };
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
    /// process's `limit`, `remaining` until its reset, then `total` for each day after, less
    /// what this process was granted in that period. Other processes may have spent some since,
    /// so it is an upper bound, which is why Redis's own count wins whenever it has one.
    fn budget_seed(&self) -> Option<(u32, Duration)> {
        let limit = self.limit?;
        let (period, start, left) = self.period(limit);
        let spent = self.grants().spent(period);
        Some((start.saturating_sub(spent), left))
    }

    /// The budget period now (0 until `limit`'s reset, then one per day, as the core's
    /// [`SessionBudget`] counts them), what the budget was at its start, and how long it has
    /// left.
    fn period(&self, limit: SessionStartLimit) -> (u64, u32, Duration) {
        // On a clock whose origin is when `limit` was true.
        let core = |at: Duration| {
            CoreInstant::from_millis(u64::try_from(at.as_millis()).unwrap_or(u64::MAX))
        };
        let now = core(
            self.runtime
                .now()
                .saturating_duration_since(self.limit_known_at),
        );
        let budget = SessionBudget::new(limit.total, limit.remaining, core(limit.reset_after));
        let period = budget.period_at(now);
        (
            period.index,
            period.allowance,
            period.ends_at.saturating_duration_since(now),
        )
    }

    fn grants(&self) -> MutexGuard<'_, Grants> {
        self.granted.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a session start granted now against the current period.
    fn note_grant(&self) {
        if let Some(limit) = self.limit {
            let (period, _, _) = self.period(limit);
            let mut grants = self.grants();
            if grants.period != period {
                *grants = Grants { period, count: 0 };
            }
            grants.count = grants.count.saturating_add(1);
        }
    }

    async fn try_take(&self, bucket: usize) -> RedisResult<Verdict> {
        let hold_ms = millis(self.hold).max(1);
        self.link
            .run(|mut connection| async move {
                let (seed_remaining, seed_ttl) = match self.budget_seed() {
                    Some((remaining, ttl)) => (remaining.to_string(), millis(ttl).max(1)),
                    None => (String::new(), 0),
                };
                let (status, ms, budget): (u8, i64, i64) = self
                    .script
                    .key(&self.bucket_keys[bucket])
                    .key(&self.budget_key)
                    .arg(&self.owner)
                    .arg(hold_ms)
                    .arg(seed_remaining)
                    .arg(seed_ttl)
                    .invoke_async(&mut connection)
                    .await?;
                // -1 (no budget kept) or a count below zero someone wrote: nothing to report.
                *self
                    .budget_seen
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = u32::try_from(budget).ok();
                let wait = u64::try_from(ms).ok().map(Duration::from_millis);
                Ok(match status {
                    3 => Verdict::BucketStuck(wait.unwrap_or(self.hold)),
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

impl<R: Runtime> GrantSource for Shared<R> {
    fn ask(&self, bucket: usize) -> impl Future<Output = Answer> + Send + '_ {
        self.ask_redis(bucket)
    }

    fn remaining(&self) -> Option<u32> {
        *self
            .budget_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl<R: Runtime> IdentifyQueue for RedisIdentifyQueue<R> {
    fn acquire(&self, shard: ShardId) -> Permit {
        let buckets = u32::try_from(self.line.source().bucket_keys.len()).unwrap_or(u32::MAX);
        self.line.acquire(shard.rate_limit_key(buckets) as usize)
    }

    /// This process's line: how many of its shards wait, at what pace. `remaining` is the
    /// shared daily budget as Redis's last answer to this process had it (every process's
    /// grants counted; `None` before this process first asked, or when no budget is kept).
    fn status(&self) -> Option<QueueStatus> {
        let inner = self.line.source();
        Some(QueueStatus::new(
            u32::try_from(inner.bucket_keys.len()).unwrap_or(u32::MAX),
            inner.hold,
            u32::try_from(self.line.waiting()).unwrap_or(u32::MAX),
            inner.remaining(),
        ))
    }
}
