//! Identify permits: at most one Identify per concurrency bucket per 5 seconds across shards,
//! and never more in a day than the bot's session start limit allows.
//!
//! The rules are the core's ([`IdentifyLimiter`]); what lives here is the async part every
//! queue shares, the [`WaiterLine`]: the shards of this process waiting for each bucket, first
//! come first served, each sleeping on the runtime's timer until it may ask again. The local
//! queue asks the core's limiter; a distributed queue (the Redis crate's) asks its store.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use discord_gateway::session::{
    IdentifyLimiter, SessionBudget, Verdict, WaitReason, MAX_CONCURRENCY_CAP,
};
use discord_gateway::ShardId;

use crate::shard::clock::Clock;
use crate::Runtime;

/// How long one concurrency bucket stays taken after an Identify: the core's
/// [`IDENTIFY_WINDOW`](discord_gateway::session::IDENTIFY_WINDOW).
pub const IDENTIFY_WINDOW: Duration = discord_gateway::session::IDENTIFY_WINDOW;

/// A future that completes when the shard may identify. Dropping it before it completes gives
/// up its place in the queue.
pub type Permit = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Hands out identify permits. Share one between every shard of a bot (in this process, or a
/// distributed implementation across processes): Discord answers a second Identify in the same
/// bucket within 5 s with Invalid Session, and identifying past the daily session start limit
/// resets the bot's token.
pub trait IdentifyQueue: Send + Sync + 'static {
    /// Completes when `shard` may send Identify; the shard identifies as soon as it does.
    fn acquire(&self, shard: ShardId) -> Permit;

    /// Where the queue stands, for a status view, a progress line and metrics; `None` (the
    /// default) when the queue cannot tell cheaply.
    fn status(&self) -> Option<QueueStatus> {
        None
    }
}

impl<Q: IdentifyQueue + ?Sized> IdentifyQueue for Arc<Q> {
    fn acquire(&self, shard: ShardId) -> Permit {
        (**self).acquire(shard)
    }

    fn status(&self) -> Option<QueueStatus> {
        (**self).status()
    }
}

/// Where an [`IdentifyQueue`] stands ([`IdentifyQueue::status`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueStatus {
    /// Identify buckets, each taking one Identify per `window`.
    pub max_concurrency: u32,
    /// How long a bucket stays taken after an Identify.
    pub window: Duration,
    /// Shards waiting for a permit.
    pub waiting: u32,
    /// Sessions left in the daily budget, when one is kept.
    pub remaining: Option<u32>,
}

impl QueueStatus {
    /// A queue's state.
    #[must_use]
    pub const fn new(
        max_concurrency: u32,
        window: Duration,
        waiting: u32,
        remaining: Option<u32>,
    ) -> Self {
        Self {
            max_concurrency,
            window,
            waiting,
            remaining,
        }
    }
}

/// The `session_start_limit` of `GET /gateway/bot`: how many sessions the bot may still start
/// today, and how its shards share the identify rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionStartLimit {
    /// Sessions allowed per day.
    pub total: u32,
    /// Sessions left until the reset.
    pub remaining: u32,
    /// Time until `remaining` is back to `total`.
    pub reset_after: Duration,
    /// Identify buckets (`shard_id % max_concurrency`), each allowing one Identify per 5 s.
    pub max_concurrency: u32,
}

/// The buckets of this process's shards waiting for a permit, each served first come first
/// served, and what they ask when their turn comes: the async part of an identify queue,
/// shared by [`LocalIdentifyQueue`] and distributed queues.
///
/// [`WaiterLine::acquire`] takes a place in a bucket's line at once (the order of calls is the
/// order shards go in). When the place is first in line, its permit asks the [`GrantSource`]
/// and sleeps on the runtime's timer until the answer says to ask again; once granted it leaves
/// the line and the next shard starts its own wait. A permit dropped before it is granted
/// leaves the line too, handing its place on. The daily budget's warning is logged here, once
/// per spell of waiting for a reset.
///
/// Cloning it is cheap, and every clone is the same line.
pub struct WaiterLine<R: Runtime, S: GrantSource> {
    inner: Arc<Line<R, S>>,
}

impl<R: Runtime, S: GrantSource> Clone for WaiterLine<R, S> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<R: Runtime, S: GrantSource> std::fmt::Debug for WaiterLine<R, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaiterLine")
            .field("buckets", &self.inner.lines().buckets.len())
            .field("waiting", &self.waiting())
            .finish_non_exhaustive()
    }
}

/// How a [`WaiterLine`] asks whether the first shard in a bucket's line may identify now.
pub trait GrantSource: Send + Sync + 'static {
    /// Asks once for `bucket`. [`Answer::Granted`] means the shard identifies now, so the
    /// source has booked the bucket (and spent a session start) for it.
    fn ask(&self, bucket: usize) -> impl Future<Output = Answer> + Send + '_;

    /// Sessions left in the daily budget, when the source can tell without a round trip.
    fn remaining(&self) -> Option<u32> {
        None
    }
}

/// What a [`GrantSource`] answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Answer {
    /// The shard may identify now.
    Granted,
    /// The bucket is taken: ask again at `until`.
    Busy {
        /// When to ask again.
        until: Instant,
    },
    /// The daily session start budget is spent: ask again at `until`.
    BudgetSpent {
        /// When to ask again (the reset, or sooner to notice a budget raised elsewhere).
        until: Instant,
        /// Time until the budget resets, when known.
        resets_in: Option<Duration>,
        /// Sessions allowed per day, when known.
        total: Option<u32>,
    },
}

/// What every clone of a line, and every permit it handed out, shares.
struct Line<R: Runtime, S: GrantSource> {
    runtime: R,
    source: S,
    lines: Mutex<Lines>,
    /// Whether the wait for the budget's reset was already logged.
    budget_logged: AtomicBool,
}

/// The shards waiting for each bucket, first in line first.
struct Lines {
    buckets: Vec<VecDeque<Waiter>>,
    next_ticket: u64,
}

struct Waiter {
    ticket: u64,
    waker: Option<Waker>,
}

impl<R: Runtime, S: GrantSource> WaiterLine<R, S> {
    /// A line of `buckets` buckets (at least one) on `runtime`'s timer, asking `source`.
    #[must_use]
    pub fn new(runtime: R, source: S, buckets: usize) -> Self {
        Self {
            inner: Arc::new(Line {
                runtime,
                source,
                lines: Mutex::new(Lines {
                    buckets: (0..buckets.max(1)).map(|_| VecDeque::new()).collect(),
                    next_ticket: 0,
                }),
                budget_logged: AtomicBool::new(false),
            }),
        }
    }

    /// What the line asks.
    #[must_use]
    pub fn source(&self) -> &S {
        &self.inner.source
    }

    /// The runtime whose timer the line sleeps on.
    #[must_use]
    pub fn runtime(&self) -> &R {
        &self.inner.runtime
    }

    /// Shards waiting for a permit, in every bucket.
    #[must_use]
    pub fn waiting(&self) -> usize {
        self.inner.lines().waiting()
    }

    /// A place in `bucket`'s line (taken modulo the number of buckets), as a permit that
    /// completes when the source grants it. Dropping the permit before then leaves the line.
    pub fn acquire(&self, bucket: usize) -> Permit {
        // The place is taken now, not at the first poll: the order of `acquire` calls is the
        // order shards of this process go in.
        let place = Place::join(Arc::clone(&self.inner), bucket);
        Box::pin(async move {
            Turn { place: &place }.await;
            place.line.take(place.bucket).await;
            // Dropping the place hands the turn on.
        })
    }
}

impl Lines {
    fn waiting(&self) -> usize {
        self.buckets.iter().map(VecDeque::len).sum()
    }
}

impl<R: Runtime, S: GrantSource> Line<R, S> {
    fn lines(&self) -> MutexGuard<'_, Lines> {
        self.lines.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the `identify_waiting` and `session_start_remaining` gauges (nothing without the
    /// `metrics` feature).
    fn report_metrics(&self, waiting: usize) {
        crate::metrics::identify_queue(waiting, self.source.remaining());
    }

    /// Asks the source until it grants `bucket`, sleeping as each answer says.
    async fn take(&self, bucket: usize) {
        loop {
            let until = match self.source.ask(bucket).await {
                Answer::Granted => {
                    self.budget_logged.store(false, Ordering::Relaxed);
                    return;
                }
                Answer::Busy { until } => until,
                Answer::BudgetSpent {
                    until,
                    resets_in,
                    total,
                } => {
                    if !self.budget_logged.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            wait_secs = resets_in.map(|wait| wait.as_secs()),
                            total,
                            "the daily session start limit is used up; waiting for it to reset before identifying"
                        );
                    }
                    until
                }
            };
            self.runtime.sleep_until(until).await;
        }
    }
}

/// A place in one bucket's line. Dropping it (granted, or given up) leaves the line and wakes
/// whoever is next.
struct Place<R: Runtime, S: GrantSource> {
    line: Arc<Line<R, S>>,
    bucket: usize,
    ticket: u64,
}

impl<R: Runtime, S: GrantSource> Place<R, S> {
    fn join(line: Arc<Line<R, S>>, bucket: usize) -> Self {
        let mut lines = line.lines();
        let bucket = bucket % lines.buckets.len();
        let ticket = lines.next_ticket;
        lines.next_ticket += 1;
        lines.buckets[bucket].push_back(Waiter {
            ticket,
            waker: None,
        });
        let waiting = lines.waiting();
        drop(lines);
        line.report_metrics(waiting);
        Self {
            line,
            bucket,
            ticket,
        }
    }
}

impl<R: Runtime, S: GrantSource> Drop for Place<R, S> {
    fn drop(&mut self) {
        let mut lines = self.line.lines();
        let line = &mut lines.buckets[self.bucket];
        if let Some(position) = line.iter().position(|w| w.ticket == self.ticket) {
            line.remove(position);
            if position == 0 {
                if let Some(next) = line.front_mut().and_then(|w| w.waker.take()) {
                    next.wake();
                }
            }
            let waiting = lines.waiting();
            drop(lines);
            self.line.report_metrics(waiting);
        }
    }
}

/// Completes when its place is first in line.
struct Turn<'a, R: Runtime, S: GrantSource> {
    place: &'a Place<R, S>,
}

impl<R: Runtime, S: GrantSource> Future for Turn<'_, R, S> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let place = self.place;
        let mut lines = place.line.lines();
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

/// The in-process queue: `max_concurrency` buckets (`shard_id % max_concurrency`), each taking
/// one Identify per [`IDENTIFY_WINDOW`], first come first served, with the daily budget kept
/// when one is given. The rules are the core's [`IdentifyLimiter`]; this is a [`WaiterLine`]
/// asking it.
///
/// A slot is taken when a permit is granted, which is when the shard identifies: a shard whose
/// connection drops while it waits drops its permit, and the next shard in the bucket moves up
/// instead of the slot going unused.
///
/// It holds up to [`MAX_CONCURRENCY_CAP`] buckets; a larger `max_concurrency` is served with
/// the largest divisor of it that fits (shards sharing a bucket at Discord still share one
/// here, so the queue is slower, never faster), and a warning says so.
///
/// Cloning it is cheap, and every clone is the same queue.
#[derive(Clone)]
pub struct LocalIdentifyQueue<R: Runtime> {
    line: WaiterLine<R, LocalLimiter<R>>,
}

/// The core's limiter on the runtime's clock: what a [`LocalIdentifyQueue`]'s line asks.
struct LocalLimiter<R: Runtime> {
    runtime: R,
    clock: Clock,
    limiter: Mutex<IdentifyLimiter<MAX_CONCURRENCY_CAP>>,
}

impl<R: Runtime> LocalLimiter<R> {
    fn lock(&self) -> MutexGuard<'_, IdentifyLimiter<MAX_CONCURRENCY_CAP>> {
        self.limiter.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<R: Runtime> GrantSource for LocalLimiter<R> {
    fn ask(&self, bucket: usize) -> impl Future<Output = Answer> + Send + '_ {
        let now = self.runtime.now();
        let verdict = self
            .lock()
            .try_acquire_bucket(bucket, self.clock.core_instant(now));
        std::future::ready(match verdict {
            // The Identify goes out now: the grant stays spent.
            Verdict::Granted(_) => Answer::Granted,
            Verdict::Wait(wait) => {
                let until = self.clock.std_instant(wait.until);
                match wait.reason {
                    WaitReason::Budget { total } => Answer::BudgetSpent {
                        until,
                        resets_in: Some(until.saturating_duration_since(now)),
                        total: Some(total),
                    },
                    WaitReason::Bucket => Answer::Busy { until },
                }
            }
        })
    }

    fn remaining(&self) -> Option<u32> {
        self.lock().remaining()
    }
}

impl<R: Runtime> std::fmt::Debug for LocalIdentifyQueue<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let limiter = self.line.source().lock();
        f.debug_struct("LocalIdentifyQueue")
            .field("max_concurrency", &limiter.max_concurrency())
            .field("remaining", &limiter.remaining())
            .finish()
    }
}

impl<R: Runtime> LocalIdentifyQueue<R> {
    /// A queue for a bot whose `GET /gateway/bot` reported `max_concurrency` (1 for most bots),
    /// with no daily budget kept (see [`LocalIdentifyQueue::with_limit`]).
    #[must_use]
    pub fn new(runtime: R, max_concurrency: u32) -> Self {
        let limiter = limiter(max_concurrency);
        Self::build(runtime, limiter)
    }

    /// A queue that also keeps the daily budget of `limit`: when `remaining` runs out it waits
    /// for the reset (and says so in the log) instead of identifying.
    #[must_use]
    pub fn with_limit(runtime: R, limit: SessionStartLimit) -> Self {
        // The queue's clock starts now: the reset is `reset_after` from its origin.
        let resets_at = discord_gateway::Instant::ZERO + limit.reset_after;
        let limiter = limiter(limit.max_concurrency).with_budget(SessionBudget::new(
            limit.total,
            limit.remaining,
            resets_at,
        ));
        Self::build(runtime, limiter)
    }

    fn build(runtime: R, limiter: IdentifyLimiter<MAX_CONCURRENCY_CAP>) -> Self {
        let buckets = limiter.max_concurrency() as usize;
        let source = LocalLimiter {
            clock: Clock::new(runtime.now()),
            runtime: runtime.clone(),
            limiter: Mutex::new(limiter),
        };
        Self {
            line: WaiterLine::new(runtime, source, buckets),
        }
    }

    /// The same queue with each bucket taken for `window` after an Identify instead of Discord's
    /// [`IDENTIFY_WINDOW`]. Only for a simulated gateway that scales its own window down by the
    /// same factor: against Discord, a shorter window gets Identifies refused with Invalid
    /// Session.
    #[must_use]
    pub fn with_window(self, window: Duration) -> Self {
        self.line.source().lock().set_window(window);
        self
    }

    /// Sessions left in the daily budget, when one is kept.
    #[must_use]
    pub fn remaining(&self) -> Option<u32> {
        self.line.source().remaining()
    }
}

/// The core's limiter for `max_concurrency` buckets, or for the largest divisor of it within
/// [`MAX_CONCURRENCY_CAP`].
fn limiter(max_concurrency: u32) -> IdentifyLimiter<MAX_CONCURRENCY_CAP> {
    match IdentifyLimiter::new(max_concurrency, IDENTIFY_WINDOW) {
        Ok(limiter) => limiter,
        Err(error) => {
            // Shards that share a bucket at Discord (ids equal modulo `max_concurrency`) are
            // equal modulo any divisor of it too, so they still share one here.
            let cap = u32::try_from(MAX_CONCURRENCY_CAP).unwrap_or(u32::MAX);
            let buckets = (1..=cap)
                .rev()
                .find(|d| max_concurrency.is_multiple_of(*d))
                .unwrap_or(1);
            tracing::warn!(
                %error,
                buckets,
                "identifying with fewer buckets than max_concurrency allows"
            );
            IdentifyLimiter::new(buckets, IDENTIFY_WINDOW)
                .unwrap_or_else(|_| unreachable!("a divisor within the cap fits"))
        }
    }
}

impl<R: Runtime> IdentifyQueue for LocalIdentifyQueue<R> {
    fn acquire(&self, shard: ShardId) -> Permit {
        let bucket = self.line.source().lock().bucket_of(shard);
        self.line.acquire(bucket)
    }

    fn status(&self) -> Option<QueueStatus> {
        let (max_concurrency, window, remaining) = {
            let limiter = self.line.source().lock();
            (
                limiter.max_concurrency(),
                limiter.window(),
                limiter.remaining(),
            )
        };
        Some(QueueStatus {
            max_concurrency,
            window,
            waiting: u32::try_from(self.line.waiting()).unwrap_or(u32::MAX),
            remaining,
        })
    }
}
