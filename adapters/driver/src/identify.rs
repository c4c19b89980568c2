//! Identify permits: at most one Identify per concurrency bucket per 5 seconds across shards,
//! and never more in a day than the bot's session start limit allows.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use discord_gateway::ShardId;

use crate::runtime::Sleep;
use crate::Runtime;

/// How long one concurrency bucket stays taken after an Identify.
pub const IDENTIFY_WINDOW: Duration = Duration::from_secs(5);

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
}

impl<Q: IdentifyQueue + ?Sized> IdentifyQueue for Arc<Q> {
    fn acquire(&self, shard: ShardId) -> Permit {
        (**self).acquire(shard)
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

/// How long a daily budget lasts once it resets.
const BUDGET_PERIOD: Duration = Duration::from_secs(24 * 60 * 60);

/// The in-process queue: `max_concurrency` buckets (`shard_id % max_concurrency`), each taking
/// one Identify per [`IDENTIFY_WINDOW`], first come first served, with the daily budget kept
/// when one is given.
///
/// A slot is taken when a permit is granted, which is when the shard identifies: a shard whose
/// connection drops while it waits drops its permit, and the next shard in the bucket moves up
/// instead of the slot going unused.
///
/// Cloning it is cheap, and every clone is the same queue.
pub struct LocalIdentifyQueue<R: Runtime> {
    inner: Arc<Shared<R>>,
}

impl<R: Runtime> Clone for LocalIdentifyQueue<R> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// What every clone of a queue, and every permit it handed out, shares.
struct Shared<R: Runtime> {
    runtime: R,
    state: Mutex<State>,
}

struct State {
    buckets: Vec<Bucket>,
    /// How long a bucket stays taken after an Identify ([`IDENTIFY_WINDOW`] unless scaled).
    window: Duration,
    budget: Option<Budget>,
    next_ticket: u64,
}

struct Bucket {
    /// When the bucket may identify again.
    free_at: Instant,
    /// Waiting permits, first in line first.
    waiters: VecDeque<Waiter>,
}

struct Waiter {
    ticket: u64,
    waker: Option<Waker>,
}

#[derive(Clone, Copy, Debug)]
struct Budget {
    total: u32,
    remaining: u32,
    resets_at: Instant,
    /// Whether the wait for the reset was already logged.
    logged: bool,
}

impl<R: Runtime> std::fmt::Debug for LocalIdentifyQueue<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.inner.lock();
        f.debug_struct("LocalIdentifyQueue")
            .field("max_concurrency", &state.buckets.len())
            .field("remaining", &state.budget.map(|budget| budget.remaining))
            .finish()
    }
}

impl<R: Runtime> LocalIdentifyQueue<R> {
    /// A queue for a bot whose `GET /gateway/bot` reported `max_concurrency` (1 for most bots),
    /// with no daily budget kept (see [`LocalIdentifyQueue::with_limit`]).
    #[must_use]
    pub fn new(runtime: R, max_concurrency: u32) -> Self {
        Self::build(runtime, max_concurrency, None)
    }

    /// A queue that also keeps the daily budget of `limit`: when `remaining` runs out it waits
    /// for the reset (and says so in the log) instead of identifying.
    #[must_use]
    pub fn with_limit(runtime: R, limit: SessionStartLimit) -> Self {
        let resets_at = runtime.now() + limit.reset_after;
        let budget = Budget {
            total: limit.total,
            remaining: limit.remaining,
            resets_at,
            logged: false,
        };
        Self::build(runtime, limit.max_concurrency, Some(budget))
    }

    fn build(runtime: R, max_concurrency: u32, budget: Option<Budget>) -> Self {
        let now = runtime.now();
        let buckets = (0..max_concurrency.max(1))
            .map(|_| Bucket {
                free_at: now,
                waiters: VecDeque::new(),
            })
            .collect();
        Self {
            inner: Arc::new(Shared {
                runtime,
                state: Mutex::new(State {
                    buckets,
                    window: IDENTIFY_WINDOW,
                    budget,
                    next_ticket: 0,
                }),
            }),
        }
    }

    /// The same queue with each bucket taken for `window` after an Identify instead of Discord's
    /// [`IDENTIFY_WINDOW`]. Only for a simulated gateway that scales its own window down by the
    /// same factor: against Discord, a shorter window gets Identifies refused with Invalid
    /// Session.
    #[must_use]
    pub fn with_window(self, window: Duration) -> Self {
        self.inner.lock().window = window;
        self
    }

    /// Sessions left in the daily budget, when one is kept.
    #[must_use]
    pub fn remaining(&self) -> Option<u32> {
        self.inner.lock().budget.map(|budget| budget.remaining)
    }
}

impl<R: Runtime> Shared<R> {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Grants the permit `ticket` of `bucket` if it is first in line and its time has come;
    /// otherwise says until when to sleep (`None`: until woken by the one ahead).
    fn try_grant(&self, bucket: usize, ticket: u64, waker: &Waker) -> Result<(), Option<Instant>> {
        let now = self.runtime.now();
        let mut state = self.lock();
        let State {
            buckets,
            budget,
            window,
            ..
        } = &mut *state;
        let line = &mut buckets[bucket];
        let Some(position) = line.waiters.iter().position(|w| w.ticket == ticket) else {
            // Never queued or already granted: nothing to wait for.
            return Ok(());
        };
        if position > 0 {
            line.waiters[position].waker = Some(waker.clone());
            return Err(None);
        }
        if let Some(budget) = budget.as_mut() {
            if budget.resets_at <= now {
                budget.remaining = budget.total;
                budget.resets_at = now + BUDGET_PERIOD;
                budget.logged = false;
            }
            if budget.remaining == 0 {
                if !budget.logged {
                    budget.logged = true;
                    tracing::warn!(
                        wait_secs = budget.resets_at.saturating_duration_since(now).as_secs(),
                        total = budget.total,
                        "the daily session start limit is used up; waiting for it to reset before identifying"
                    );
                }
                return Err(Some(budget.resets_at));
            }
        }
        if line.free_at > now {
            return Err(Some(line.free_at));
        }
        line.free_at = now + *window;
        line.waiters.pop_front();
        if let Some(budget) = budget.as_mut() {
            budget.remaining -= 1;
        }
        // The next in line starts its own wait now.
        if let Some(next) = line.waiters.front_mut().and_then(|w| w.waker.take()) {
            next.wake();
        }
        Ok(())
    }

    /// Leaves the line without identifying, handing the place on.
    fn withdraw(&self, bucket: usize, ticket: u64) {
        let mut state = self.lock();
        let line = &mut state.buckets[bucket];
        if let Some(position) = line.waiters.iter().position(|w| w.ticket == ticket) {
            line.waiters.remove(position);
            if position == 0 {
                if let Some(next) = line.waiters.front_mut().and_then(|w| w.waker.take()) {
                    next.wake();
                }
            }
        }
    }
}

impl<R: Runtime> IdentifyQueue for LocalIdentifyQueue<R> {
    fn acquire(&self, shard: ShardId) -> Permit {
        let mut state = self.inner.lock();
        let bucket = shard.rate_limit_key(state.buckets.len() as u32) as usize;
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.buckets[bucket].waiters.push_back(Waiter {
            ticket,
            waker: None,
        });
        drop(state);
        Box::pin(LocalPermit {
            queue: Arc::clone(&self.inner),
            bucket,
            ticket,
            sleep: None,
            granted: false,
        })
    }
}

/// A place in a [`LocalIdentifyQueue`] bucket.
struct LocalPermit<R: Runtime> {
    queue: Arc<Shared<R>>,
    bucket: usize,
    ticket: u64,
    sleep: Option<(Instant, Sleep)>,
    granted: bool,
}

impl<R: Runtime> Future for LocalPermit<R> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.granted {
                return Poll::Ready(());
            }
            match self.queue.try_grant(self.bucket, self.ticket, cx.waker()) {
                Ok(()) => {
                    self.granted = true;
                    self.sleep = None;
                }
                Err(None) => {
                    self.sleep = None;
                    return Poll::Pending;
                }
                Err(Some(until)) => {
                    if self.sleep.as_ref().is_none_or(|(at, _)| *at != until) {
                        let sleep = Box::pin(self.queue.runtime.sleep_until(until));
                        self.sleep = Some((until, sleep));
                    }
                    let (_, sleep) = self.sleep.as_mut().expect("set above");
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
            }
        }
    }
}

impl<R: Runtime> Drop for LocalPermit<R> {
    fn drop(&mut self) {
        if !self.granted {
            self.queue.withdraw(self.bucket, self.ticket);
        }
    }
}
