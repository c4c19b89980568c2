//! A small deterministic PRNG for jitter. Seeded through the config so every transcript replays
//! exactly; never used for anything that needs to be unpredictable.

use core::time::Duration;

/// SplitMix64: tiny state, good enough statistics for spreading reconnects.
#[derive(Clone, Debug)]
pub(crate) struct Jitter {
    state: u64,
}

impl Jitter {
    pub(crate) const fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniformly drawn duration in `[0, max)` (zero when `max` is zero), at millisecond grain.
    pub(crate) fn below(&mut self, max: Duration) -> Duration {
        let millis = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
        if millis == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(self.next_u64() % millis)
    }

    /// A uniformly drawn duration in `[low, high]`.
    pub(crate) fn between(&mut self, low: Duration, high: Duration) -> Duration {
        if high <= low {
            return low;
        }
        low + self.below(high - low + Duration::from_millis(1))
    }
}

#[cfg(test)]
mod tests {
    use super::{Duration, Jitter};

    #[test]
    fn draws_stay_in_range_and_replay_from_the_seed() {
        let mut a = Jitter::new(7);
        let mut b = Jitter::new(7);
        for _ in 0..1000 {
            let x = a.below(Duration::from_millis(41_250));
            assert!(x < Duration::from_millis(41_250));
            assert_eq!(x, b.below(Duration::from_millis(41_250)));
            let y = a.between(Duration::from_secs(1), Duration::from_secs(5));
            assert!((Duration::from_secs(1)..=Duration::from_secs(5)).contains(&y));
            b.between(Duration::from_secs(1), Duration::from_secs(5));
        }
        assert_eq!(a.below(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn draws_spread_over_the_range() {
        let mut jitter = Jitter::new(1);
        let mut buckets = [0u32; 10];
        for _ in 0..10_000 {
            let ms = jitter.below(Duration::from_millis(1000)).as_millis();
            buckets[(ms / 100) as usize] += 1;
        }
        assert!(
            buckets.iter().all(|&n| (800..1200).contains(&n)),
            "{buckets:?}"
        );
    }
}
