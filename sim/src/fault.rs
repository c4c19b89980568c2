//! Fault injection: what can go wrong on a gateway connection, where to aim it, and a seeded
//! "chaos" mode that mixes faults at random.

use std::time::Duration;

use crate::record::ConnId;
use crate::rng::Rng;

/// Which sessions or connections an event or a fault is for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// As Discord routes: a guild event to the shard `(guild_id >> 22) % num_shards`, an event
    /// without a guild to shard 0. For faults, the same as [`Target::All`].
    Routed,
    /// Every session / every open connection.
    All,
    /// Sessions and connections of this shard id.
    Shard(u32),
    /// One connection (and the session attached to it).
    Connection(ConnId),
    /// Faults only: applied to the next connection the sim accepts, before Hello (e.g. op 7
    /// before Hello, or a close during the handshake).
    NextConnection,
}

/// Something the sim does to a connection on request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Send op 7 Reconnect (the session stays resumable).
    Reconnect,
    /// Send op 9 Invalid Session; with `false` the session is ended.
    InvalidSession(bool),
    /// Close with this code. Codes after which Discord ends the session (4003, 4004, 4007, 4009,
    /// 4010-4014) end it here too; any other code leaves it resumable.
    Close(u16),
    /// Drop the TCP connection without a close frame (the client sees 1006).
    DropTcp,
    /// Stop acknowledging heartbeats on this connection (a zombie connection, from the client's
    /// point of view). Everything else keeps flowing.
    WithholdAcks,
    /// Stop sending anything at all on this connection (no ACKs, no events); events still reach
    /// the session's backlog, so a Resume replays them.
    Freeze,
    /// Answer heartbeats as usual but never answer Identify with READY nor Resume with
    /// RESUMED on this connection (aim it with [`Target::NextConnection`]): a gateway that
    /// accepted the socket and then stalls the handshake. The Identify or Resume is counted
    /// and otherwise ignored.
    SilentHandshake,
    /// Send op 1: ask the client for an immediate heartbeat.
    RequestHeartbeat,
    /// Send a text payload that is not valid JSON (compressed like any payload).
    Malformed,
    /// Send a payload with an opcode Discord does not document.
    UnknownOpcode(u8),
    /// Dispatch an event with a `t` no client knows (it takes a sequence number).
    UnknownEvent,
    /// Send these bytes as a text websocket message, bypassing compression.
    RawText(String),
    /// Send these bytes as a binary websocket message, bypassing compression.
    RawBinary(Vec<u8>),
    /// Send this text as one websocket message split into this many frames (a text frame, then
    /// continuation frames), bypassing compression. Discord does not fragment, but RFC 6455
    /// allows any server to, and a client must reassemble.
    FragmentedText(String, usize),
    /// Send a websocket ping with this payload (at most 125 bytes). The client's pongs are
    /// counted in [`crate::Counters::pongs`], the last one's payload kept in
    /// [`crate::Counters::last_pong`].
    Ping(Vec<u8>),
    /// Hold everything sent on the connection for this long (latency spike / stalled server).
    Delay(Duration),
    /// Dispatch a GUILD_CREATE of at least this many bytes.
    HugeGuildCreate(usize),
    /// Dispatch this many MESSAGE_CREATE back to back.
    Burst(usize),
}

impl Fault {
    /// Whether the fault is an event on the session (so it needs a session and takes sequence
    /// numbers) rather than something done to the connection.
    pub(crate) fn is_dispatch(&self) -> bool {
        matches!(
            self,
            Self::UnknownEvent | Self::HugeGuildCreate(_) | Self::Burst(_)
        )
    }
}

/// Whether Discord ends the session when it closes a connection with `code`.
pub(crate) fn close_ends_session(code: u16) -> bool {
    matches!(code, 4003 | 4004 | 4007 | 4009..=4014)
}

/// Settings of chaos mode: every `interval` a random fault from `faults` hits a random open
/// connection. The same seed and the same connections give the same faults.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChaosConfig {
    /// Seed of the PRNG choosing faults and targets.
    pub seed: u64,
    /// Time between two faults.
    pub interval: Duration,
    /// Stop after this many faults (`None`: until stopped).
    pub steps: Option<u64>,
    /// The faults to choose from.
    pub faults: Vec<Fault>,
}

impl ChaosConfig {
    /// Chaos with the default mix: only faults a correct client recovers from by itself
    /// (nothing fatal like 4004).
    #[must_use]
    pub fn new(seed: u64, interval: Duration) -> Self {
        Self {
            seed,
            interval,
            steps: None,
            faults: vec![
                Fault::Reconnect,
                Fault::InvalidSession(true),
                Fault::InvalidSession(false),
                Fault::Close(4000),
                Fault::Close(4009),
                Fault::Close(1001),
                Fault::DropTcp,
                Fault::WithholdAcks,
                Fault::RequestHeartbeat,
                Fault::UnknownOpcode(42),
                Fault::UnknownEvent,
                Fault::Delay(Duration::from_millis(50)),
                Fault::Burst(20),
            ],
        }
    }

    /// Stops after `steps` faults.
    #[must_use]
    pub fn steps(mut self, steps: u64) -> Self {
        self.steps = Some(steps);
        self
    }

    /// Replaces the fault mix.
    #[must_use]
    pub fn faults(mut self, faults: Vec<Fault>) -> Self {
        self.faults = faults;
        self
    }
}

/// One fault chaos mode applied.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChaosEvent {
    /// Time since the sim started.
    pub at: Duration,
    /// The connection hit.
    pub conn: ConnId,
    /// What was done to it.
    pub fault: Fault,
}

/// Chooses the next chaos fault and target among `open` connections.
pub(crate) fn chaos_pick(
    rng: &mut Rng,
    config: &ChaosConfig,
    open: &[ConnId],
) -> Option<(ConnId, Fault)> {
    if open.is_empty() || config.faults.is_empty() {
        return None;
    }
    let conn = open[rng.below(open.len() as u64) as usize];
    let fault = config.faults[rng.below(config.faults.len() as u64) as usize].clone();
    Some((conn, fault))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chaos_is_deterministic_per_seed() {
        let config = ChaosConfig::new(42, Duration::from_millis(1));
        let open = [3, 5, 8];
        let run = |seed| {
            let mut rng = Rng::new(seed);
            (0..20)
                .map(|_| chaos_pick(&mut rng, &config, &open))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
        assert_eq!(chaos_pick(&mut Rng::new(1), &config, &[]), None);
    }

    #[test]
    fn fatal_and_new_session_codes_end_sessions() {
        for code in [4003, 4004, 4007, 4009, 4010, 4014] {
            assert!(close_ends_session(code), "{code}");
        }
        for code in [1000, 1001, 4000, 4001, 4002, 4005, 4008] {
            assert!(!close_ends_session(code), "{code}");
        }
    }
}
