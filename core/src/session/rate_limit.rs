//! The per-connection send limit: never more than 120 messages in any 60 s window, with room
//! always kept for heartbeats.

use core::time::Duration;

use crate::time::Instant;

/// Messages Discord accepts per connection per window.
pub const SEND_LIMIT: usize = 120;
/// The window the limit applies to.
pub const SEND_WINDOW: Duration = Duration::from_secs(60);
/// Offsets are rebased long before they could overflow a `u32` (about 24 days).
const REBASE_AFTER_MS: u64 = 1 << 31;
/// The least slack kept on top of the window: transit-time jitter is absolute, not relative.
const MIN_MARGIN: Duration = Duration::from_millis(250);

/// The slack the limiter adds to `window` before it lets a slot be reused.
///
/// Discord counts a message when it *arrives*, and the client times it (to the millisecond) when
/// it is *sent*. If the first message of a window is delayed more on the way than the 121st,
/// the server sees both inside one window although the client spaced them a full window apart,
/// and closes with 4008. So a slot is reused only after the window plus this margin: 1/40 of the
/// window (1.5 s of Discord's 60 s), at least 250 ms, at most a quarter of the window.
#[must_use]
pub fn send_margin(window: Duration) -> Duration {
    (window / 40).max(MIN_MARGIN).min(window / 4)
}

/// A sliding-window log of the last [`SEND_LIMIT`] sends on one connection.
///
/// A sliding log (rather than a token bucket) is what makes the guarantee exact: the check is
/// "the k-th most recent send is older than 60 s", which holds for every window, not only for
/// aligned ones, and still lets a quiet connection burst to the full limit. Times are kept as
/// `u32` offsets from a base to halve the footprint; the base moves forward on long connections.
#[derive(Clone, Debug)]
pub(crate) struct SendLimiter {
    base: Instant,
    window_ms: u32,
    sent: [u32; SEND_LIMIT],
    /// Where the next send is written.
    next: u8,
    len: u8,
}

impl SendLimiter {
    /// A limiter for a connection opened at `now`. `window` is Discord's 60 s except against a
    /// simulated gateway that scales time down; [`send_margin`] is added to it.
    pub(crate) fn new(now: Instant, window: Duration) -> Self {
        let window = window + send_margin(window);
        let window_ms = u32::try_from(window.as_millis())
            .unwrap_or(u32::MAX)
            .clamp(1, 1 << 30);
        Self {
            base: now,
            window_ms,
            sent: [0; SEND_LIMIT],
            next: 0,
            len: 0,
        }
    }

    /// When a send that must leave `reserve` slots free may go: `now` if it may go at once.
    pub(crate) fn ready_at(&self, now: Instant, reserve: usize) -> Instant {
        let allowed = SEND_LIMIT.saturating_sub(reserve).max(1);
        if usize::from(self.len) < allowed {
            return now;
        }
        // The allowed-th most recent send must have left the window.
        let index = (usize::from(self.next) + SEND_LIMIT - allowed) % SEND_LIMIT;
        let free_at = self.base
            + Duration::from_millis(u64::from(self.sent[index]) + u64::from(self.window_ms));
        free_at.max(now)
    }

    /// Records a send at `now`.
    pub(crate) fn record(&mut self, now: Instant) {
        if now.saturating_duration_since(self.base).as_millis() >= u128::from(REBASE_AFTER_MS) {
            self.rebase(now);
        }
        let offset =
            u32::try_from(now.saturating_duration_since(self.base).as_millis()).unwrap_or(u32::MAX);
        self.sent[usize::from(self.next)] = offset;
        self.next = ((usize::from(self.next) + 1) % SEND_LIMIT) as u8;
        self.len = self.len.saturating_add(1).min(SEND_LIMIT as u8);
    }

    /// Moves the base to just over a window before `now`. Sends older than that no longer
    /// matter, so clamping them to the new base keeps every answer the same.
    fn rebase(&mut self, now: Instant) {
        let new_base = Instant::from_millis(
            now.as_millis()
                .saturating_sub(u64::from(self.window_ms) + 1),
        );
        let shift = new_base.saturating_duration_since(self.base).as_millis();
        let shift = u32::try_from(shift).unwrap_or(u32::MAX);
        for offset in &mut self.sent {
            *offset = offset.saturating_sub(shift);
        }
        self.base = new_base;
    }

    /// How many sends fall in the window ending at `now`.
    #[cfg(test)]
    pub(crate) fn in_window(&self, now: Instant) -> usize {
        (1..=usize::from(self.len))
            .take_while(|&k| {
                let index = (usize::from(self.next) + SEND_LIMIT - k) % SEND_LIMIT;
                let at = self.base + Duration::from_millis(u64::from(self.sent[index]));
                now.saturating_duration_since(at) < Duration::from_millis(u64::from(self.window_ms))
            })
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::{send_margin, Duration, Instant, SendLimiter, SEND_LIMIT, SEND_WINDOW};

    /// The window as the limiter applies it.
    fn window() -> Duration {
        SEND_WINDOW + send_margin(SEND_WINDOW)
    }

    #[test]
    fn a_quiet_connection_bursts_to_the_limit_then_waits_a_window() {
        let start = Instant::from_millis(1_000);
        let mut limiter = SendLimiter::new(start, SEND_WINDOW);
        for _ in 0..SEND_LIMIT {
            assert_eq!(limiter.ready_at(start, 0), start);
            limiter.record(start);
        }
        assert_eq!(limiter.ready_at(start, 0), start + window());
    }

    #[test]
    fn the_margin_scales_with_the_window_within_bounds() {
        assert_eq!(send_margin(SEND_WINDOW), Duration::from_millis(1_500));
        assert_eq!(
            send_margin(Duration::from_secs(2)),
            Duration::from_millis(250)
        );
        assert_eq!(
            send_margin(Duration::from_millis(400)),
            Duration::from_millis(100)
        );
    }

    #[test]
    fn a_reserve_stops_commands_short_of_the_limit() {
        let start = Instant::ZERO;
        let mut limiter = SendLimiter::new(start, SEND_WINDOW);
        for _ in 0..SEND_LIMIT - 3 {
            limiter.record(start);
        }
        assert_eq!(limiter.ready_at(start, 3), start + window());
        // Heartbeats (no reserve) still go.
        assert_eq!(limiter.ready_at(start, 0), start);
    }

    #[test]
    fn no_window_ever_holds_more_than_the_limit() {
        let mut limiter = SendLimiter::new(Instant::ZERO, SEND_WINDOW);
        let mut now = Instant::ZERO;
        let mut log = [0u64; 2_000];
        for slot in &mut log {
            now = limiter.ready_at(now, 0);
            limiter.record(now);
            *slot = now.as_millis();
            assert!(limiter.in_window(now) <= SEND_LIMIT);
            now += Duration::from_millis(37);
        }
        for (i, &t) in log.iter().enumerate() {
            let in_window = log[i..].iter().take_while(|&&u| u < t + 60_000).count();
            assert!(in_window <= SEND_LIMIT, "window at {t} holds {in_window}");
        }
    }

    #[test]
    fn long_connections_rebase_without_losing_recent_sends() {
        let mut limiter = SendLimiter::new(Instant::ZERO, SEND_WINDOW);
        let late = Instant::from_millis(40 * 24 * 3600 * 1000);
        for i in 0..SEND_LIMIT as u64 {
            limiter.record(late + Duration::from_millis(i));
        }
        let now = late + Duration::from_millis(SEND_LIMIT as u64);
        assert_eq!(limiter.in_window(now), SEND_LIMIT);
        assert_eq!(limiter.ready_at(now, 0), late + window());
    }
}
