//! The gateway's rate limits: 120 payloads per 60 s per connection, identify concurrency buckets
//! and the daily session-start budget (protocol reference §6, §7.3).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// A sliding-window counter of one connection's payloads.
///
/// Sliding (not fixed) on purpose: Discord does not say where its window starts, so a client that
/// passes a sliding window passes any fixed one.
#[derive(Debug)]
pub(crate) struct SendWindow {
    limit: usize,
    window: Duration,
    sent: VecDeque<Instant>,
}

impl SendWindow {
    pub(crate) fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit: limit as usize,
            window,
            sent: VecDeque::new(),
        }
    }

    /// Records one payload at `now`; `false` when it exceeds the limit.
    pub(crate) fn admit(&mut self, now: Instant) -> bool {
        while self
            .sent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            self.sent.pop_front();
        }
        self.sent.push_back(now);
        self.sent.len() <= self.limit
    }
}

/// Why an Identify may not start a session right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IdentifyVerdict {
    Allowed,
    /// The shard's concurrency bucket identified less than a window ago (op 9 `false`).
    BucketBusy,
    /// The daily session-start budget is spent.
    BudgetSpent,
}

/// Identify admission shared by every connection of the sim.
#[derive(Debug)]
pub(crate) struct IdentifyLimiter {
    max_concurrency: u32,
    window: Duration,
    last: HashMap<u32, Instant>,
    total: u32,
    remaining: u32,
    resets_at: Instant,
    reset_after: Duration,
}

impl IdentifyLimiter {
    pub(crate) fn new(
        max_concurrency: u32,
        window: Duration,
        total: u32,
        remaining: u32,
        reset_after: Duration,
        now: Instant,
    ) -> Self {
        Self {
            max_concurrency: max_concurrency.max(1),
            window,
            last: HashMap::new(),
            total,
            remaining,
            resets_at: now + reset_after,
            reset_after,
        }
    }

    fn roll(&mut self, now: Instant) {
        if now >= self.resets_at {
            self.remaining = self.total;
            self.resets_at = now + self.reset_after;
        }
    }

    /// Decides an Identify for `shard_id` at `now`, taking a bucket slot and a session start if
    /// allowed.
    pub(crate) fn identify(&mut self, shard_id: u32, now: Instant) -> IdentifyVerdict {
        self.roll(now);
        if self.remaining == 0 {
            return IdentifyVerdict::BudgetSpent;
        }
        let key = shard_id % self.max_concurrency;
        if self
            .last
            .get(&key)
            .is_some_and(|t| now.duration_since(*t) < self.window)
        {
            return IdentifyVerdict::BucketBusy;
        }
        self.last.insert(key, now);
        self.remaining -= 1;
        IdentifyVerdict::Allowed
    }

    /// `(total, remaining, reset_after_ms, max_concurrency)` for `GET /gateway/bot`.
    pub(crate) fn snapshot(&mut self, now: Instant) -> (u32, u32, u128, u32) {
        self.roll(now);
        (
            self.total,
            self.remaining,
            self.resets_at.saturating_duration_since(now).as_millis(),
            self.max_concurrency,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_window_slides() {
        let t0 = Instant::now();
        let mut w = SendWindow::new(3, Duration::from_secs(10));
        assert!(w.admit(t0));
        assert!(w.admit(t0));
        assert!(w.admit(t0 + Duration::from_secs(5)));
        assert!(!w.admit(t0 + Duration::from_secs(6)));
        // The first two have left the window by t0 + 10 s.
        let mut w = SendWindow::new(3, Duration::from_secs(10));
        for _ in 0..3 {
            assert!(w.admit(t0));
        }
        assert!(w.admit(t0 + Duration::from_secs(10)));
    }

    #[test]
    fn buckets_and_budget() {
        let t0 = Instant::now();
        let w = Duration::from_secs(5);
        let mut l = IdentifyLimiter::new(2, w, 3, 3, Duration::from_secs(100), t0);
        assert_eq!(l.identify(0, t0), IdentifyVerdict::Allowed);
        assert_eq!(l.identify(1, t0), IdentifyVerdict::Allowed);
        assert_eq!(l.identify(2, t0), IdentifyVerdict::BucketBusy);
        assert_eq!(l.identify(2, t0 + w), IdentifyVerdict::Allowed);
        assert_eq!(l.identify(3, t0 + w * 2), IdentifyVerdict::BudgetSpent);
        assert_eq!(l.snapshot(t0).1, 0);
        assert_eq!(
            l.identify(3, t0 + Duration::from_secs(100)),
            IdentifyVerdict::Allowed
        );
    }
}
