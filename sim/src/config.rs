//! Everything about the sim that a test or the CLI can tune, with Discord's values as defaults
//! where Discord documents one.

use std::time::Duration;

use discord_gateway::protocol::Intents;

/// The sim's settings. Build one with [`crate::Sim::builder`]; the fields are public so tests and
/// the CLI can read back what they configured.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SimConfig {
    /// TCP port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Bot token accepted in Identify/Resume (raw) and in `Authorization: Bot <token>`.
    pub token: String,
    /// `heartbeat_interval` sent in Hello. Discord sends 41250 ms.
    pub heartbeat_interval: Duration,
    /// Extra time after a heartbeat interval before a silent connection is closed.
    pub heartbeat_grace: Duration,
    /// Close code used when a client misses its heartbeats.
    pub missed_heartbeat_close_code: u16,
    /// Delay between the websocket handshake and Hello.
    pub hello_delay: Duration,
    /// Gateway versions (`v=`) accepted; others are closed with 4012.
    pub accepted_versions: Vec<u8>,
    /// `shards` returned by `GET /gateway/bot`.
    pub recommended_shards: u32,
    /// If set, Identify's shard count must be a multiple of this (large-bot sharding), else 4010.
    pub shard_count_multiple: Option<u32>,
    /// `session_start_limit.max_concurrency`: identify buckets (`shard_id % max_concurrency`).
    pub max_concurrency: u32,
    /// How long one identify occupies its bucket (Discord: 5 s).
    pub identify_window: Duration,
    /// `session_start_limit.total`.
    pub session_start_total: u32,
    /// `session_start_limit.remaining` at start; every READY takes one.
    pub session_start_remaining: u32,
    /// How long until the daily session-start window resets.
    pub session_start_reset_after: Duration,
    /// Intent bits that Identify may not ask for (4014), e.g. privileged ones not "approved".
    pub disallowed_intents: Intents,
    /// Messages a connection may send per [`SimConfig::rate_limit_window`] before 4008.
    pub rate_limit_count: u32,
    /// Window of the send rate limit (sliding; Discord: 120 per 60 s).
    pub rate_limit_window: Duration,
    /// Largest payload a client may send, in bytes, before 4002 (Discord: 4096).
    pub max_payload_size: usize,
    /// Dispatches kept per session for replay on Resume; older ones are lost (Resume -> op 9).
    pub backlog_size: usize,
    /// How long a session without a connection stays resumable.
    pub session_timeout: Duration,
    /// If set, after sending op 7 the sim closes the socket itself after this long (code 4000).
    pub reconnect_close_after: Option<Duration>,
    /// Guilds the bot is in; READY lists each shard's share, then one GUILD_CREATE each.
    pub guilds: u32,
    /// Members per generated guild (the first 42 come from the realistic fixture).
    pub guild_members: u32,
    /// Split each zlib-stream payload into websocket messages of at most this many bytes.
    pub zlib_split: Option<usize>,
    /// Drop dispatches a session's intents did not ask for, as Discord does.
    pub filter_by_intents: bool,
    /// Keep the text of every payload each connection sent (see [`crate::ConnectionRecord`]).
    pub record_payloads: bool,
    /// Broadcast this many MESSAGE_CREATE per second to every session (0 = off).
    pub event_rate: f64,
    /// Minimum time between two "all members" Request Guild Members for one guild (Discord:
    /// 30 s); faster requests get a RATE_LIMITED dispatch.
    pub all_members_rate_limit: Duration,
    /// Worker threads of the sim's runtime (1 = a current-thread runtime on the sim's thread).
    pub threads: usize,
    /// Serve `wss://` (TLS over the same port, with this CA's server certificate) instead of
    /// `ws://`.
    pub tls: Option<crate::TestCa>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            port: 0,
            token: "sim-token".to_owned(),
            heartbeat_interval: Duration::from_millis(41_250),
            heartbeat_grace: Duration::from_millis(41_250),
            missed_heartbeat_close_code: 4009,
            hello_delay: Duration::ZERO,
            accepted_versions: vec![9, 10],
            recommended_shards: 1,
            shard_count_multiple: None,
            max_concurrency: 1,
            identify_window: Duration::from_secs(5),
            session_start_total: 1000,
            session_start_remaining: 1000,
            session_start_reset_after: Duration::from_secs(24 * 3600),
            disallowed_intents: Intents::empty(),
            rate_limit_count: 120,
            rate_limit_window: Duration::from_secs(60),
            max_payload_size: 4096,
            backlog_size: 1000,
            session_timeout: Duration::from_secs(180),
            reconnect_close_after: None,
            guilds: 1,
            guild_members: 42,
            zlib_split: None,
            filter_by_intents: true,
            record_payloads: true,
            event_rate: 0.0,
            all_members_rate_limit: Duration::from_secs(30),
            threads: 1,
            tls: None,
        }
    }
}

/// Builds and starts a [`crate::Sim`]. Every setter is optional.
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct SimBuilder {
    pub(crate) config: SimConfig,
}

macro_rules! setters {
    ($( $(#[$doc:meta])* $name:ident : $ty:ty ),* $(,)?) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, value: $ty) -> Self {
                self.config.$name = value;
                self
            }
        )*
    };
}

impl SimBuilder {
    /// Starts from a whole configuration (the CLI does this).
    pub fn from_config(config: SimConfig) -> Self {
        Self { config }
    }

    /// The configuration built so far.
    #[must_use]
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Serves `wss://` with `ca`'s server certificate (for `localhost` and `127.0.0.1`):
    /// [`crate::SimHandle::url`] is then `wss://127.0.0.1:PORT`, and a client must trust
    /// [`crate::TestCa::ca_der`] to get a session.
    pub fn tls(mut self, ca: &crate::TestCa) -> Self {
        self.config.tls = Some(ca.clone());
        self
    }

    /// The bot token clients must present.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.config.token = token.into();
        self
    }

    /// Sets the heartbeat interval and, unless set later, a grace of the same length.
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.config.heartbeat_interval = interval;
        self.config.heartbeat_grace = interval;
        self
    }

    /// Gateway versions accepted in `v=` (others: close 4012).
    pub fn accepted_versions(mut self, versions: &[u8]) -> Self {
        self.config.accepted_versions = versions.to_vec();
        self
    }

    /// The send rate limit: `count` messages per sliding `window`.
    pub fn rate_limit(mut self, count: u32, window: Duration) -> Self {
        self.config.rate_limit_count = count;
        self.config.rate_limit_window = window;
        self
    }

    /// `session_start_limit.total` and `remaining` (remaining is capped at total).
    pub fn session_start_limit(mut self, total: u32, remaining: u32) -> Self {
        self.config.session_start_total = total;
        self.config.session_start_remaining = remaining.min(total);
        self
    }

    setters! {
        /// TCP port on 127.0.0.1 (0 = any free port).
        port: u16,
        /// Time after a heartbeat interval before a silent connection is closed.
        heartbeat_grace: Duration,
        /// Close code for a connection that missed its heartbeats (default 4009).
        missed_heartbeat_close_code: u16,
        /// Delay before Hello on every connection.
        hello_delay: Duration,
        /// `shards` returned by `GET /gateway/bot`.
        recommended_shards: u32,
        /// Require Identify's shard count to be a multiple of this (else 4010).
        shard_count_multiple: Option<u32>,
        /// `max_concurrency` (identify buckets).
        max_concurrency: u32,
        /// How long one identify occupies its bucket (default 5 s).
        identify_window: Duration,
        /// Time until the daily session-start window resets.
        session_start_reset_after: Duration,
        /// Intents Identify may not request (close 4014).
        disallowed_intents: Intents,
        /// Largest accepted client payload (default 4096 bytes; larger: 4002).
        max_payload_size: usize,
        /// Dispatches kept per session for replay on Resume.
        backlog_size: usize,
        /// How long a disconnected session stays resumable.
        session_timeout: Duration,
        /// Close the socket this long after sending op 7 if the client has not.
        reconnect_close_after: Option<Duration>,
        /// Number of guilds the bot is in.
        guilds: u32,
        /// Members per guild in GUILD_CREATE.
        guild_members: u32,
        /// Split zlib-stream payloads into websocket messages of at most this many bytes.
        zlib_split: Option<usize>,
        /// Filter dispatches by the session's intents (default on).
        filter_by_intents: bool,
        /// Record every payload clients send (default on).
        record_payloads: bool,
        /// Broadcast MESSAGE_CREATE events at this rate per second (0 = off).
        event_rate: f64,
        /// Minimum time between two "all members" requests for one guild.
        all_members_rate_limit: Duration,
        /// Worker threads for the sim's runtime (default 1).
        threads: usize,
    }
}
