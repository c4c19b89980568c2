//! Metrics through the [`metrics`](https://docs.rs/metrics) facade, behind the `metrics`
//! feature: whatever recorder the application installs (a Prometheus exporter, say) receives
//! them. Every metric is listed, with its type and labels, in `docs/metrics.md`.
//!
//! Without the feature every hook here is an empty inline function on a zero-sized type: the
//! shard carries no field and calls nothing.
//!
//! Install the recorder before building the shards: each shard takes its handles when it is
//! built, and a handle taken before a recorder exists records nothing.

#[cfg(feature = "metrics")]
pub use on::describe;
#[cfg(feature = "metrics")]
pub(crate) use on::{identify_queue, ShardMetrics};

#[cfg(not(feature = "metrics"))]
pub(crate) use off::{identify_queue, ShardMetrics};

/// Every metric's name, for the docs and the tests.
pub mod names {
    /// Gauge, label `shard`: 1 while the shard's session is live, else 0.
    pub const SHARD_UP: &str = "discord_gateway_shard_up";
    /// Gauge, labels `shard` and `state`: 1 for the state the shard is in, 0 for the states
    /// it was in before.
    pub const SHARD_STATE: &str = "discord_gateway_shard_state";
    /// Gauge, label `shard`: the last heartbeat round trip, in seconds.
    pub const HEARTBEAT_LATENCY: &str = "discord_gateway_heartbeat_latency_seconds";
    /// Counter, labels `shard` and `event`: dispatches received, by name.
    pub const EVENTS: &str = "discord_gateway_events_total";
    /// Counter, label `shard`: bytes received on the wire (compressed where compressed).
    pub const BYTES_RECEIVED: &str = "discord_gateway_bytes_received_total";
    /// Counter, label `shard`: bytes of payload after decompression.
    pub const BYTES_INFLATED: &str = "discord_gateway_bytes_inflated_total";
    /// Counter, labels `shard` and `cause`: connections that ended or failed to open.
    pub const RECONNECTS: &str = "discord_gateway_reconnects_total";
    /// Counter, label `shard`: commands written to the gateway.
    pub const COMMANDS_SENT: &str = "discord_gateway_commands_sent_total";
    /// Gauge, label `shard`: commands queued and not yet sent.
    pub const COMMAND_QUEUE_DEPTH: &str = "discord_gateway_command_queue_depth";
    /// Gauge: shards waiting for an identify permit from the process's queue.
    pub const IDENTIFY_WAITING: &str = "discord_gateway_identify_waiting";
    /// Gauge: sessions left in the daily session start budget.
    pub const SESSION_START_REMAINING: &str = "discord_gateway_session_start_remaining";
}

/// The `state` label of a session state.
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
fn state_label(state: discord_gateway::session::State) -> &'static str {
    use discord_gateway::session::State;
    match state {
        State::Waiting => "waiting",
        State::Connecting => "connecting",
        State::AwaitingHello => "awaiting_hello",
        State::AwaitingPermit => "waiting_for_permit",
        State::Identifying => "identifying",
        State::Resuming => "resuming",
        State::Active => "live",
        State::Stopped(_) => "stopped",
        _ => "other",
    }
}

#[cfg(feature = "metrics")]
mod on {
    use std::time::Duration;

    use ::metrics::{counter, gauge, Counter, Gauge, SharedString, Unit};
    use discord_gateway::protocol::{EventType, ShardId};
    use discord_gateway::session::State;

    use super::names::*;
    use super::state_label;

    /// Describes every metric to the installed recorder (units and help texts, which the
    /// Prometheus exporter prints as `# HELP`). Call it once after installing the recorder.
    pub fn describe() {
        use ::metrics::{describe_counter, describe_gauge};
        describe_gauge!(SHARD_UP, "1 while the shard's session is live");
        describe_gauge!(SHARD_STATE, "1 for the state the shard is in");
        describe_gauge!(
            HEARTBEAT_LATENCY,
            Unit::Seconds,
            "round trip of the last acknowledged heartbeat"
        );
        describe_counter!(
            EVENTS,
            "dispatches received, by event name (other: undocumented)"
        );
        describe_counter!(BYTES_RECEIVED, Unit::Bytes, "bytes received on the wire");
        describe_counter!(
            BYTES_INFLATED,
            Unit::Bytes,
            "payload bytes after decompression"
        );
        describe_counter!(
            RECONNECTS,
            "connections that ended or failed to open, by cause"
        );
        describe_counter!(COMMANDS_SENT, "commands written to the gateway");
        describe_gauge!(COMMAND_QUEUE_DEPTH, "commands queued, not yet sent");
        describe_gauge!(IDENTIFY_WAITING, "shards waiting for an identify permit");
        describe_gauge!(SESSION_START_REMAINING, "sessions left in the daily budget");
    }

    /// One shard's handles, taken once when it is built; the per-event counters are taken the
    /// first time each event arrives.
    pub(crate) struct ShardMetrics {
        shard: SharedString,
        up: Gauge,
        /// Taken at the first acknowledged heartbeat: a latency of 0 before any would lie.
        latency: Option<Gauge>,
        wire: Counter,
        inflated: Counter,
        commands: Counter,
        depth: Gauge,
        /// Dispatch counters by [`EventType::index`] (and `u8::MAX` for `other`): a bot sees
        /// a handful of event types, so a short list searched in order beats a map.
        events: Vec<(u8, Counter)>,
        state: Option<State>,
        last_latency: Option<Duration>,
        last_depth: usize,
    }

    impl ShardMetrics {
        pub(crate) fn new(id: ShardId) -> Self {
            let shard = SharedString::from(id.id().to_string());
            Self {
                up: gauge!(SHARD_UP, "shard" => shard.clone()),
                latency: None,
                wire: counter!(BYTES_RECEIVED, "shard" => shard.clone()),
                inflated: counter!(BYTES_INFLATED, "shard" => shard.clone()),
                commands: counter!(COMMANDS_SENT, "shard" => shard.clone()),
                depth: gauge!(COMMAND_QUEUE_DEPTH, "shard" => shard.clone()),
                events: Vec::new(),
                state: None,
                last_latency: None,
                last_depth: 0,
                shard,
            }
        }

        /// After each round of work: the state, latency and queue depth gauges, set only when
        /// they changed.
        #[inline]
        pub(crate) fn observe(&mut self, state: State, latency: Option<Duration>, depth: usize) {
            if self.state != Some(state) {
                self.state_changed(state);
            }
            if self.last_latency != latency {
                self.last_latency = latency;
                if let Some(latency) = latency {
                    self.latency
                        .get_or_insert_with(
                            || gauge!(HEARTBEAT_LATENCY, "shard" => self.shard.clone()),
                        )
                        .set(latency.as_secs_f64());
                }
            }
            if self.last_depth != depth {
                self.last_depth = depth;
                self.depth.set(depth as f64);
            }
        }

        #[cold]
        fn state_changed(&mut self, state: State) {
            if let Some(old) = self.state.replace(state) {
                gauge!(SHARD_STATE, "shard" => self.shard.clone(), "state" => state_label(old))
                    .set(0.0);
            }
            gauge!(SHARD_STATE, "shard" => self.shard.clone(), "state" => state_label(state))
                .set(1.0);
            self.up.set(if matches!(state, State::Active) {
                1.0
            } else {
                0.0
            });
        }

        /// A dispatch arrived; a name outside the documented set counts as `other`, so a
        /// hostile gateway cannot grow the label set.
        #[inline]
        pub(crate) fn dispatch(&mut self, kind: Option<EventType>) {
            let index = kind.map_or(u8::MAX, EventType::index);
            if let Some((_, counter)) = self.events.iter().find(|(at, _)| *at == index) {
                counter.increment(1);
                return;
            }
            let name = kind.map_or("other", EventType::as_str);
            let counter = counter!(EVENTS, "shard" => self.shard.clone(), "event" => name);
            counter.increment(1);
            self.events.push((index, counter));
        }

        #[inline]
        pub(crate) fn received(&self, wire: usize) {
            self.wire.increment(wire as u64);
        }

        #[inline]
        pub(crate) fn inflated(&self, bytes: usize) {
            self.inflated.increment(bytes as u64);
        }

        #[inline]
        pub(crate) fn command_sent(&self) {
            self.commands.increment(1);
        }

        pub(crate) fn reconnect(&self, cause: &'static str) {
            counter!(RECONNECTS, "shard" => self.shard.clone(), "cause" => cause).increment(1);
        }
    }

    /// The process's identify queue changed: shards waiting, and the daily budget left.
    pub(crate) fn identify_queue(waiting: usize, remaining: Option<u32>) {
        gauge!(IDENTIFY_WAITING).set(waiting as f64);
        if let Some(remaining) = remaining {
            gauge!(SESSION_START_REMAINING).set(f64::from(remaining));
        }
    }
}

#[cfg(not(feature = "metrics"))]
mod off {
    use std::time::Duration;

    use discord_gateway::protocol::{EventType, ShardId};
    use discord_gateway::session::State;

    /// Nothing: the `metrics` feature is off.
    pub(crate) struct ShardMetrics;

    impl ShardMetrics {
        #[inline(always)]
        pub(crate) fn new(_: ShardId) -> Self {
            Self
        }
        #[inline(always)]
        pub(crate) fn observe(&mut self, _: State, _: Option<Duration>, _: usize) {}
        #[inline(always)]
        pub(crate) fn dispatch(&mut self, _: Option<EventType>) {}
        #[inline(always)]
        pub(crate) fn received(&self, _: usize) {}
        #[inline(always)]
        pub(crate) fn inflated(&self, _: usize) {}
        #[inline(always)]
        pub(crate) fn command_sent(&self) {}
        #[inline(always)]
        pub(crate) fn reconnect(&self, _: &'static str) {}
    }

    #[inline(always)]
    pub(crate) fn identify_queue(_: usize, _: Option<u32>) {}
}
