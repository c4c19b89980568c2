//! Maps the runtime's clock onto the core's millisecond instants.

use std::time::{Duration, Instant};

use discord_gateway::Instant as CoreInstant;

/// The origin the core's instants count from: when the shard was created, on its runtime's
/// clock.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    origin: Instant,
}

impl Clock {
    pub(crate) fn new(origin: Instant) -> Self {
        Self { origin }
    }

    pub(crate) fn core_instant(self, at: Instant) -> CoreInstant {
        let millis = at.saturating_duration_since(self.origin).as_millis();
        CoreInstant::from_millis(u64::try_from(millis).unwrap_or(u64::MAX))
    }

    pub(crate) fn std_instant(self, at: CoreInstant) -> Instant {
        self.origin + Duration::from_millis(at.as_millis())
    }
}
