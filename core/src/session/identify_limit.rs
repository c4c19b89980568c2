//! Identify pacing, decided once for every adapter: [`IdentifyLimiter`].

use core::fmt;
use core::time::Duration;

use crate::protocol::ShardId;
use crate::time::Instant;

/// How long one Identify takes its bucket: Discord's 5 s.
pub const IDENTIFY_WINDOW: Duration = Duration::from_secs(5);

/// How long a daily session start budget lasts once it resets: a day.
pub const BUDGET_PERIOD: Duration = Duration::from_secs(24 * 60 * 60);

/// The daily session start budget, as `GET /gateway/bot` reports it, on the caller's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionBudget {
    /// Sessions allowed per day.
    pub total: u32,
    /// Sessions left until `resets_at`.
    pub remaining: u32,
    /// When `remaining` is back to `total` (and every [`BUDGET_PERIOD`] after).
    pub resets_at: Instant,
}

/// One period of a [`SessionBudget`]: [`SessionBudget::period_at`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetPeriod {
    /// 0 until the budget's first reset, then one more for each [`BUDGET_PERIOD`].
    pub index: u64,
    /// What the period starts with: `remaining` in period 0, `total` after.
    pub allowance: u32,
    /// When the period ends (the next reset).
    pub ends_at: Instant,
}

impl SessionBudget {
    /// A budget of `remaining` sessions out of `total` a day, back to `total` at `resets_at`.
    #[must_use]
    pub const fn new(total: u32, remaining: u32, resets_at: Instant) -> Self {
        Self {
            total,
            remaining,
            resets_at,
        }
    }

    /// The period `now` falls in: before `resets_at` the one the budget was read in, then one
    /// per [`BUDGET_PERIOD`], each starting with `total`.
    #[must_use]
    pub fn period_at(&self, now: Instant) -> BudgetPeriod {
        if now < self.resets_at {
            return BudgetPeriod {
                index: 0,
                allowance: self.remaining,
                ends_at: self.resets_at,
            };
        }
        let period_ms = BUDGET_PERIOD.as_millis() as u64;
        let since_reset = now.as_millis() - self.resets_at.as_millis();
        let index = since_reset / period_ms;
        BudgetPeriod {
            index: index + 1,
            allowance: self.total,
            ends_at: Instant::from_millis(
                self.resets_at
                    .as_millis()
                    .saturating_add((index + 1).saturating_mul(period_ms)),
            ),
        }
    }
}

/// More buckets than an [`IdentifyLimiter`] has room for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooManyBuckets {
    /// The `max_concurrency` asked for.
    pub max_concurrency: u32,
    /// The buckets the limiter holds.
    pub capacity: usize,
}

impl fmt::Display for TooManyBuckets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "max_concurrency {} is more identify buckets than this limiter holds ({})",
            self.max_concurrency, self.capacity
        )
    }
}

impl core::error::Error for TooManyBuckets {}

/// What [`IdentifyLimiter::try_acquire`] answers.
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub enum Verdict {
    /// The shard may identify now: its bucket is booked for one window, and a session start
    /// is spent. Hand the grant back with [`IdentifyLimiter::release`] if Identify is not sent.
    Granted(Grant),
    /// Not now: ask again at [`Wait::until`].
    Wait(Wait),
}

/// Why and until when a shard waits ([`Verdict::Wait`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wait {
    /// When to ask again; always later than the `now` asked at.
    pub until: Instant,
    /// What the shard waits for.
    pub reason: WaitReason,
}

/// What a shard waits for ([`Wait::reason`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitReason {
    /// Its bucket took an Identify less than a window ago.
    Bucket,
    /// The daily budget is spent; `until` is its reset.
    Budget {
        /// Sessions allowed per day, once the budget resets.
        total: u32,
    },
}

/// A bucket booked and a session start spent for one Identify ([`Verdict::Granted`]).
///
/// Dropping it keeps both spent (the Identify went out); [`IdentifyLimiter::release`] gives
/// them back when it did not.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a grant that goes unused should be released"]
pub struct Grant {
    bucket: usize,
    /// The bucket's `free_at` before this grant booked it.
    was_free_at: Instant,
    /// What this grant booked it until.
    booked_until: Instant,
    /// The budget period the session start was spent in, when a budget is kept.
    spent_in: Option<u64>,
}

impl Grant {
    /// The bucket booked (`shard_id % max_concurrency`).
    #[must_use]
    pub const fn bucket(&self) -> usize {
        self.bucket
    }
}

/// The budget as the limiter keeps it: what is left of the current period.
#[derive(Clone, Copy, Debug)]
struct Budget {
    schedule: SessionBudget,
    period: u64,
    remaining: u32,
}

impl Budget {
    /// Moves to the period `now` falls in, refilling the budget if it reset.
    fn catch_up(&mut self, now: Instant) -> BudgetPeriod {
        let period = self.schedule.period_at(now);
        if period.index != self.period {
            self.period = period.index;
            self.remaining = period.allowance;
        }
        period
    }
}

/// Identify pacing, decided once for every adapter: which shard may send Identify when.
///
/// Discord puts a bot's shards in `max_concurrency` buckets (`shard_id % max_concurrency`) and
/// takes one Identify per bucket per [`IDENTIFY_WINDOW`]; a second one in the window is answered
/// with Invalid Session. On top of that a bot may start only so many sessions a day (the
/// `session_start_limit` of `GET /gateway/bot`); identifying past it resets the bot's token.
///
/// The limiter keeps both rules without a clock: the caller hands in `now` and asks
/// [`IdentifyLimiter::try_acquire`] whether a shard may identify. A [`Grant`] books the bucket
/// for one window and spends one session start at once, which is when the shard identifies; a
/// grant that went unused (the connection dropped before Identify was sent) goes back with
/// [`IdentifyLimiter::release`], so the next shard in the bucket need not wait out a window
/// nobody used. Who waits in what order, and how a caller sleeps until
/// [`Wait::until`], is the adapter's business; the rules are here.
///
/// ```
/// use core::time::Duration;
/// use discord_gateway::session::{IdentifyLimiter, Verdict, IDENTIFY_WINDOW};
/// use discord_gateway::{Instant, ShardId};
///
/// # fn main() -> Result<(), Box<dyn core::error::Error>> {
/// let mut limiter = IdentifyLimiter::<16>::new(16, IDENTIFY_WINDOW)?;
/// let now = Instant::ZERO;
/// let shard = |id| ShardId::new(id, 32).unwrap();
/// assert!(matches!(limiter.try_acquire(shard(0), now), Verdict::Granted(_)));
/// // Shard 16 shares bucket 0 with shard 0: it asks again when the window is over.
/// let Verdict::Wait(wait) = limiter.try_acquire(shard(16), now) else { unreachable!() };
/// assert_eq!(wait.until, now + Duration::from_secs(5));
/// // Shard 1 has a bucket of its own.
/// assert!(matches!(limiter.try_acquire(shard(1), now), Verdict::Granted(_)));
/// # Ok(()) }
/// ```
///
/// # Capacity
///
/// `N` is the most `max_concurrency` the limiter holds, fixed at compile time so it needs no
/// allocator: Discord's values are 1 for most bots and 16, 32, 64 and up for large ones. An
/// embedded client running one shard uses `IdentifyLimiter<1>`; the driver's in-process queue
/// holds [`MAX_CONCURRENCY_CAP`](crate::session::MAX_CONCURRENCY_CAP) buckets. Each bucket is
/// one [`Instant`].
#[derive(Clone, Debug)]
pub struct IdentifyLimiter<const N: usize> {
    /// When each bucket may identify again; only the first `len` are used.
    free_at: [Instant; N],
    len: usize,
    window: Duration,
    budget: Option<Budget>,
}

/// The buckets the driver's in-process identify queue holds: 1024, far above the largest
/// `max_concurrency` Discord hands out today.
pub const MAX_CONCURRENCY_CAP: usize = 1024;

impl<const N: usize> IdentifyLimiter<N> {
    /// A limiter for a bot whose `GET /gateway/bot` reported `max_concurrency` (0 is taken as
    /// 1), each bucket taking one Identify per `window` ([`IDENTIFY_WINDOW`] against Discord;
    /// shorter only against a simulated gateway that scales its own window down), with no
    /// daily budget kept until [`IdentifyLimiter::with_budget`].
    ///
    /// # Errors
    /// [`TooManyBuckets`] when `max_concurrency` is more than `N`.
    pub const fn new(max_concurrency: u32, window: Duration) -> Result<Self, TooManyBuckets> {
        let len = if max_concurrency == 0 {
            1
        } else {
            max_concurrency as usize
        };
        if len > N || N == 0 {
            return Err(TooManyBuckets {
                max_concurrency,
                capacity: N,
            });
        }
        Ok(Self {
            free_at: [Instant::ZERO; N],
            len,
            window,
            budget: None,
        })
    }

    /// The same limiter keeping `budget`: once it is spent, shards wait for its reset.
    #[must_use]
    pub const fn with_budget(mut self, budget: SessionBudget) -> Self {
        self.budget = Some(Budget {
            schedule: budget,
            period: 0,
            remaining: budget.remaining,
        });
        self
    }

    /// Makes each bucket taken for `window` after an Identify from now on.
    pub fn set_window(&mut self, window: Duration) {
        self.window = window;
    }

    /// How long a bucket stays taken after an Identify.
    #[must_use]
    pub const fn window(&self) -> Duration {
        self.window
    }

    /// The number of buckets (`max_concurrency`).
    #[must_use]
    pub const fn max_concurrency(&self) -> u32 {
        self.len as u32
    }

    /// The bucket `shard` identifies in: `shard_id % max_concurrency`.
    #[must_use]
    pub const fn bucket_of(&self, shard: ShardId) -> usize {
        shard.rate_limit_key(self.len as u32) as usize
    }

    /// Sessions left in the daily budget as of the last grant or release (`None` when no
    /// budget is kept).
    #[must_use]
    pub fn remaining(&self) -> Option<u32> {
        self.budget.map(|budget| budget.remaining)
    }

    /// May `shard` identify at `now`? See [`IdentifyLimiter::try_acquire_bucket`].
    pub fn try_acquire(&mut self, shard: ShardId, now: Instant) -> Verdict {
        self.try_acquire_bucket(self.bucket_of(shard), now)
    }

    /// May a shard of `bucket` identify at `now`? The budget is checked first (a spent one
    /// waits for its reset, whatever the bucket), then the bucket; a grant books both. A
    /// bucket past `max_concurrency` is taken modulo it.
    pub fn try_acquire_bucket(&mut self, bucket: usize, now: Instant) -> Verdict {
        let bucket = bucket % self.len;
        let mut spent_in = None;
        if let Some(budget) = self.budget.as_mut() {
            let period = budget.catch_up(now);
            if budget.remaining == 0 {
                return Verdict::Wait(Wait {
                    until: period.ends_at,
                    reason: WaitReason::Budget {
                        total: budget.schedule.total,
                    },
                });
            }
            spent_in = Some(period.index);
        }
        let free_at = self.free_at[bucket];
        if free_at > now {
            return Verdict::Wait(Wait {
                until: free_at,
                reason: WaitReason::Bucket,
            });
        }
        let booked_until = now + self.window;
        self.free_at[bucket] = booked_until;
        if let Some(budget) = self.budget.as_mut() {
            budget.remaining -= 1;
        }
        Verdict::Granted(Grant {
            bucket,
            was_free_at: free_at,
            booked_until,
            spent_in,
        })
    }

    /// Gives back a grant whose Identify was never sent: its bucket is free again for the next
    /// shard (unless a later grant booked it since), and its session start is refunded if the
    /// budget has not reset since.
    pub fn release(&mut self, grant: Grant) {
        let Grant {
            bucket,
            was_free_at,
            booked_until,
            spent_in,
        } = grant;
        if let Some(slot) = self.free_at.get_mut(bucket) {
            if *slot == booked_until {
                *slot = was_free_at;
            }
        }
        if let (Some(budget), Some(period)) = (self.budget.as_mut(), spent_in) {
            if budget.period == period {
                budget.remaining = budget.remaining.saturating_add(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Instant = Instant::from_millis;

    fn shard(id: u32) -> ShardId {
        ShardId::new(id, 64).unwrap()
    }

    fn granted(verdict: Verdict) -> Grant {
        match verdict {
            Verdict::Granted(grant) => grant,
            Verdict::Wait(wait) => panic!("expected a grant, got {wait:?}"),
        }
    }

    fn waits(verdict: Verdict) -> Wait {
        match verdict {
            Verdict::Wait(wait) => wait,
            Verdict::Granted(grant) => panic!("expected a wait, got {grant:?}"),
        }
    }

    #[test]
    fn a_bucket_takes_one_identify_per_window() {
        let mut limiter = IdentifyLimiter::<4>::new(4, IDENTIFY_WINDOW).unwrap();
        let _ = granted(limiter.try_acquire(shard(0), MS(1_000)));
        // Shard 4 is in bucket 0 too: it waits out the window from the grant.
        let wait = waits(limiter.try_acquire(shard(4), MS(1_000)));
        assert_eq!(wait.until, MS(6_000));
        assert_eq!(wait.reason, WaitReason::Bucket);
        assert_eq!(
            waits(limiter.try_acquire(shard(4), MS(5_999))).until,
            MS(6_000)
        );
        let grant = granted(limiter.try_acquire(shard(4), MS(6_000)));
        assert_eq!(grant.bucket(), 0);
        assert_eq!(
            waits(limiter.try_acquire(shard(8), MS(6_000))).until,
            MS(11_000)
        );
    }

    #[test]
    fn buckets_are_independent() {
        let mut limiter = IdentifyLimiter::<16>::new(16, IDENTIFY_WINDOW).unwrap();
        for id in 0..16 {
            let grant = granted(limiter.try_acquire(shard(id), Instant::ZERO));
            assert_eq!(grant.bucket(), id as usize);
        }
        for id in 16..32 {
            let wait = waits(limiter.try_acquire(shard(id), MS(10)));
            assert_eq!(wait.until, MS(5_000), "shard {id}");
        }
        // Bucket 3 taken later does not move bucket 2's window.
        let _ = granted(limiter.try_acquire(shard(19), MS(5_000)));
        let _ = granted(limiter.try_acquire(shard(18), MS(5_000)));
    }

    #[test]
    fn max_concurrency_one_serialises_every_shard() {
        let mut limiter = IdentifyLimiter::<1>::new(1, IDENTIFY_WINDOW).unwrap();
        let mut now = Instant::ZERO;
        let mut times = [0; 4];
        for (id, time) in (0..4).zip(&mut times) {
            let grant = loop {
                match limiter.try_acquire(shard(id), now) {
                    Verdict::Granted(grant) => break grant,
                    Verdict::Wait(wait) => {
                        assert!(wait.until > now);
                        now = wait.until;
                    }
                }
            };
            assert_eq!(grant.bucket(), 0);
            *time = now.as_millis();
        }
        assert_eq!(times, [0, 5_000, 10_000, 15_000]);
    }

    #[test]
    fn a_spent_budget_waits_for_its_reset_then_comes_back_whole() {
        let budget = SessionBudget::new(1000, 2, MS(3_600_000));
        let mut limiter = IdentifyLimiter::<1>::new(1, IDENTIFY_WINDOW)
            .unwrap()
            .with_budget(budget);
        assert_eq!(limiter.remaining(), Some(2));
        let _ = granted(limiter.try_acquire(shard(0), MS(0)));
        let _ = granted(limiter.try_acquire(shard(1), MS(5_000)));
        assert_eq!(limiter.remaining(), Some(0));
        // Spent: the wait is for the reset, even though the bucket frees at 10 s.
        let wait = waits(limiter.try_acquire(shard(2), MS(10_000)));
        assert_eq!(wait.until, MS(3_600_000));
        assert_eq!(wait.reason, WaitReason::Budget { total: 1000 });
        let _ = granted(limiter.try_acquire(shard(2), MS(3_600_000)));
        assert_eq!(limiter.remaining(), Some(999));
        // A day later it is whole again, whatever was spent.
        let next_day = MS(3_600_000 + BUDGET_PERIOD.as_millis() as u64);
        let _ = granted(limiter.try_acquire(shard(3), next_day));
        assert_eq!(limiter.remaining(), Some(999));
    }

    #[test]
    fn budget_periods_follow_the_reset_schedule() {
        let budget = SessionBudget::new(1000, 7, MS(60_000));
        let day = BUDGET_PERIOD.as_millis() as u64;
        assert_eq!(
            budget.period_at(MS(0)),
            BudgetPeriod {
                index: 0,
                allowance: 7,
                ends_at: MS(60_000)
            }
        );
        assert_eq!(
            budget.period_at(MS(60_000 + day + 5)),
            BudgetPeriod {
                index: 2,
                allowance: 1000,
                ends_at: MS(60_000 + 2 * day)
            }
        );
    }

    #[test]
    fn an_unused_grant_hands_its_slot_on() {
        let budget = SessionBudget::new(10, 3, MS(3_600_000));
        let mut limiter = IdentifyLimiter::<1>::new(1, IDENTIFY_WINDOW)
            .unwrap()
            .with_budget(budget);
        let _ = granted(limiter.try_acquire(shard(0), MS(0)));
        let unused = granted(limiter.try_acquire(shard(1), MS(5_000)));
        assert_eq!(limiter.remaining(), Some(1));
        // Shard 1's connection dropped before it sent Identify: shard 2 goes at once, and the
        // session start comes back.
        limiter.release(unused);
        assert_eq!(limiter.remaining(), Some(2));
        let _ = granted(limiter.try_acquire(shard(2), MS(5_001)));
        assert_eq!(
            waits(limiter.try_acquire(shard(3), MS(5_001))).until,
            MS(10_001)
        );
    }

    #[test]
    fn a_release_after_a_later_grant_keeps_that_grant_booked() {
        let mut limiter = IdentifyLimiter::<1>::new(1, IDENTIFY_WINDOW).unwrap();
        let early = granted(limiter.try_acquire(shard(0), MS(0)));
        let _late = granted(limiter.try_acquire(shard(1), MS(5_000)));
        limiter.release(early);
        assert_eq!(
            waits(limiter.try_acquire(shard(2), MS(5_000))).until,
            MS(10_000)
        );
    }

    #[test]
    fn a_refund_after_the_reset_is_not_counted_twice() {
        let budget = SessionBudget::new(5, 1, MS(10_000));
        let mut limiter = IdentifyLimiter::<2>::new(2, IDENTIFY_WINDOW)
            .unwrap()
            .with_budget(budget);
        let unused = granted(limiter.try_acquire(shard(0), MS(0)));
        let _ = granted(limiter.try_acquire(shard(1), MS(10_000)));
        assert_eq!(limiter.remaining(), Some(4));
        limiter.release(unused);
        assert_eq!(limiter.remaining(), Some(4));
    }

    #[test]
    fn more_buckets_than_the_capacity_is_a_typed_error() {
        let error = IdentifyLimiter::<16>::new(32, IDENTIFY_WINDOW).unwrap_err();
        assert_eq!(
            error,
            TooManyBuckets {
                max_concurrency: 32,
                capacity: 16
            }
        );
        let mut text = heapless::String::<128>::new();
        core::fmt::write(&mut text, format_args!("{error}")).unwrap();
        assert!(text.contains("max_concurrency 32"), "{text}");
        // 0 is Discord's "no concurrency": one bucket.
        let limiter = IdentifyLimiter::<1>::new(0, IDENTIFY_WINDOW).unwrap();
        assert_eq!(limiter.max_concurrency(), 1);
    }

    #[test]
    fn a_scaled_window_spaces_a_bucket_by_that_window() {
        let mut limiter = IdentifyLimiter::<1>::new(1, IDENTIFY_WINDOW).unwrap();
        limiter.set_window(Duration::from_millis(200));
        let _ = granted(limiter.try_acquire(shard(0), MS(0)));
        assert_eq!(waits(limiter.try_acquire(shard(1), MS(0))).until, MS(200));
    }
}
