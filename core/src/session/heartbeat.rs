//! Heartbeat timing and zombie detection for one connection.

use core::time::Duration;

use crate::time::Instant;

/// What the heartbeat timer wants at a given moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Beat {
    /// Nothing to do before [`Heartbeater::next_due`].
    Idle,
    /// A heartbeat must be sent now.
    Send,
    /// The previous heartbeat was never acknowledged: the connection is a zombie.
    Zombie,
}

#[derive(Clone, Debug)]
pub(crate) struct Heartbeater {
    interval: Duration,
    next_due: Instant,
    /// When the last heartbeat went out, while its ACK is outstanding.
    unacked_since: Option<Instant>,
    /// The server asked for a heartbeat (op 1) that has not gone out yet.
    requested: bool,
    latency: Option<Duration>,
}

impl Heartbeater {
    /// Starts the timer on Hello: the first beat comes after `interval * jitter` (the caller
    /// draws `first` in `[0, interval)`), which spreads a fleet's reconnects apart.
    pub(crate) fn start(now: Instant, interval: Duration, first: Duration) -> Self {
        Self {
            interval,
            next_due: now + first,
            unacked_since: None,
            requested: false,
            latency: None,
        }
    }

    pub(crate) const fn interval(&self) -> Duration {
        self.interval
    }

    /// When the timer next needs attention: at once while a requested beat is waiting (for
    /// the rate limit), otherwise at the next scheduled beat.
    pub(crate) fn next_due(&self) -> Instant {
        if self.requested {
            Instant::ZERO
        } else {
            self.next_due
        }
    }

    pub(crate) fn poll(&self, now: Instant) -> Beat {
        if self.requested {
            return Beat::Send;
        }
        if now < self.next_due {
            return Beat::Idle;
        }
        if self.unacked_since.is_some() {
            Beat::Zombie
        } else {
            Beat::Send
        }
    }

    /// The server asked for a heartbeat now (op 1).
    pub(crate) fn request(&mut self) {
        self.requested = true;
    }

    /// A heartbeat went out. The timer restarts from here, so the zombie check always comes a
    /// full interval after the last beat, even when that beat was one the server asked for.
    pub(crate) fn sent(&mut self, now: Instant) {
        self.requested = false;
        self.unacked_since = Some(now);
        self.next_due = now + self.interval;
    }

    /// Op 11 arrived. Returns whether it acknowledged a heartbeat that went out.
    pub(crate) fn acknowledged(&mut self, now: Instant) -> bool {
        let Some(sent) = self.unacked_since.take() else {
            return false;
        };
        self.latency = Some(now.saturating_duration_since(sent));
        true
    }

    /// Round-trip time of the last acknowledged heartbeat.
    pub(crate) const fn latency(&self) -> Option<Duration> {
        self.latency
    }
}

#[cfg(test)]
mod tests {
    use super::{Beat, Duration, Heartbeater, Instant};

    const INTERVAL: Duration = Duration::from_millis(41_250);

    #[test]
    fn beats_after_jitter_then_every_interval_and_measures_latency() {
        let start = Instant::from_millis(100);
        let mut heart = Heartbeater::start(start, INTERVAL, Duration::from_millis(5_000));
        assert_eq!(heart.poll(start), Beat::Idle);
        let first = start + Duration::from_millis(5_000);
        assert_eq!(heart.next_due(), first);
        assert_eq!(heart.poll(first), Beat::Send);
        heart.sent(first);
        heart.acknowledged(first + Duration::from_millis(42));
        assert_eq!(heart.latency(), Some(Duration::from_millis(42)));
        assert_eq!(
            heart.poll(first + (INTERVAL - Duration::from_millis(1))),
            Beat::Idle
        );
        assert_eq!(heart.poll(first + INTERVAL), Beat::Send);
    }

    #[test]
    fn a_missing_ack_is_a_zombie_at_the_next_beat() {
        let mut heart = Heartbeater::start(Instant::ZERO, INTERVAL, Duration::ZERO);
        heart.sent(Instant::ZERO);
        assert_eq!(heart.poll(Instant::ZERO + INTERVAL), Beat::Zombie);
    }

    #[test]
    fn a_server_request_beats_at_once_and_restarts_the_timer() {
        let mut heart = Heartbeater::start(Instant::ZERO, INTERVAL, Duration::from_secs(30));
        heart.request();
        assert_eq!(heart.poll(Instant::from_millis(10)), Beat::Send);
        assert_eq!(
            heart.next_due(),
            Instant::ZERO,
            "a requested beat is due now"
        );
        heart.sent(Instant::from_millis(10));
        assert_eq!(heart.poll(Instant::from_millis(30_000)), Beat::Idle);
        assert_eq!(heart.next_due(), Instant::from_millis(10) + INTERVAL);
    }
}
