//! Building a shard: the core's settings plus what only a driver needs.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use discord_gateway::command::OwnedPresence;
use discord_gateway::protocol::{EventSet, Intents, ShardId};
use discord_gateway::session::{
    Backoff, Compression, Config, ConfigBuilder, ConfigError, ResumeState, Session,
};
use discord_gateway::Token;

use crate::identify::{IdentifyQueue, LocalIdentifyQueue};
use crate::inflate::Inflater;
use crate::runtime::os_seed;
use crate::shard::Limits;
use crate::{Runtime, Shard, ShardRange};

/// The largest message accepted by default, after decompression: enough for the GUILD_CREATE
/// of a very large guild, small enough that a decompression bomb is an error, not an OOM.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 64 * 1024 * 1024;
/// How many bytes a connection reads from its socket at once during a burst, by default. The
/// adapters' read-ahead buffer of this size exists only while bytes are in flight (a quiet
/// socket holds none), so a gateway bot's many mostly idle shards do not each keep one.
pub const DEFAULT_READ_BUFFER_SIZE: usize = 16 * 1024;
/// How long dialing (TCP, TLS and the websocket handshake) may take by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds a [`Shard`]. Start from the adapter's `Shard::builder(token)`.
///
/// Cloning a builder is how a bot makes its shards: set what they share once, then set each
/// clone's [`ShardBuilder::shard`].
#[must_use]
#[derive(Clone)]
pub struct ShardBuilder<R: Runtime> {
    runtime: R,
    core: ConfigBuilder,
    /// The jitter seed the tests fixed; `None` draws one from the OS per shard.
    seed: Option<u64>,
    identify: Option<Arc<dyn IdentifyQueue>>,
    connect_timeout: Duration,
    max_message_size: usize,
    read_buffer_size: usize,
    resume: Option<ResumeState>,
}

impl<R: Runtime> std::fmt::Debug for ShardBuilder<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardBuilder")
            .field("core", &self.core)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_message_size", &self.max_message_size)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> ShardBuilder<R> {
    /// A builder for a shard running on `runtime`.
    pub fn new(runtime: R, token: Token) -> Self {
        Self {
            runtime,
            core: Config::builder(token),
            seed: None,
            identify: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            read_buffer_size: DEFAULT_READ_BUFFER_SIZE,
            resume: None,
        }
    }

    /// Intents to identify with, added to those derived from [`ShardBuilder::events`] (for
    /// example `MESSAGE_CONTENT`, which no event implies).
    pub fn intents(mut self, intents: Intents) -> Self {
        self.core = self.core.intents(intents);
        self
    }

    /// The dispatches wanted; others are dropped before anyone reads their data, and the
    /// intents are derived from these unless set.
    pub fn events(mut self, events: EventSet) -> Self {
        self.core = self.core.events(events);
        self
    }

    /// Whether dispatches this library does not know are passed through (default `true`).
    pub fn unknown_events(mut self, pass_through: bool) -> Self {
        self.core = self.core.unknown_events(pass_through);
        self
    }

    /// Which shard this is (default `0/1`).
    pub fn shard(mut self, shard: ShardId) -> Self {
        self.core = self.core.shard(shard);
        self
    }

    /// The presence to identify with.
    pub fn presence(mut self, presence: OwnedPresence) -> Self {
        self.core = self.core.presence(presence);
        self
    }

    /// The gateway URL for new sessions (default `wss://gateway.discord.gg`).
    pub fn gateway_url(mut self, url: &str) -> Self {
        self.core = self.core.gateway_url(url);
        self
    }

    /// Transport compression (zlib-stream or zstd-stream).
    pub fn compression(mut self, compression: Compression) -> Self {
        self.core = self.core.compression(compression);
        self
    }

    /// The gateway encoding: JSON (the default) or ETF, Discord's binary encoding. On ETF,
    /// commands go out as binary frames and [`crate::Dispatch::deserialize`] reads ETF.
    pub fn encoding(mut self, encoding: discord_gateway::Encoding) -> Self {
        self.core = self.core.encoding(encoding);
        self
    }

    /// Member count above which offline members are left out (50..=250).
    pub fn large_threshold(mut self, threshold: u8) -> Self {
        self.core = self.core.large_threshold(threshold);
        self
    }

    /// Backoff between failed connection attempts.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.core = self.core.backoff(backoff);
        self
    }

    /// How long to wait for Hello after connecting.
    pub fn hello_timeout(mut self, timeout: Duration) -> Self {
        self.core = self.core.hello_timeout(timeout);
        self
    }

    /// The send-limit window (Discord's 60 s by default); only for simulated gateways that
    /// scale time down.
    pub fn send_window(mut self, window: Duration) -> Self {
        self.core = self.core.send_window(window);
        self
    }

    /// A fixed jitter seed (tests); by default one is drawn from the OS.
    pub fn seed(mut self, seed: u64) -> Self {
        self.core = self.core.seed(seed);
        self.seed = Some(seed);
        self
    }

    /// Any other core setting.
    pub fn configure(mut self, configure: impl FnOnce(ConfigBuilder) -> ConfigBuilder) -> Self {
        self.core = configure(self.core);
        self
    }

    /// The identify permits to use. Share one queue between all shards of a bot (a
    /// [`LocalIdentifyQueue`] clone, or an `Arc` of your own); by default each shard gets its own
    /// single-bucket queue.
    pub fn identify_queue(mut self, queue: impl IdentifyQueue) -> Self {
        self.identify = Some(Arc::new(queue));
        self
    }

    /// [`ShardBuilder::identify_queue`] for a queue that is already shared.
    pub(crate) fn shared_identify_queue(mut self, queue: Arc<dyn IdentifyQueue>) -> Self {
        self.identify = Some(queue);
        self
    }

    /// The runtime the shards will run on.
    pub(crate) fn runtime(&self) -> &R {
        &self.runtime
    }

    /// How long dialing may take before it counts as a failed attempt.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The largest message accepted, after decompression.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// How many bytes to read from the socket at once during a burst (default
    /// [`DEFAULT_READ_BUFFER_SIZE`]): larger reads fewer times under heavy traffic. The buffer
    /// is freed whenever the socket goes quiet, so this costs idle shards nothing.
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.read_buffer_size = bytes;
        self
    }

    /// Resume this session (exported by [`Shard::resume_state`], maybe by another process)
    /// instead of identifying a new one.
    pub fn resume(mut self, state: ResumeState) -> Self {
        self.resume = Some(state);
        self
    }

    /// Builds the shard. It does nothing until it is polled.
    ///
    /// # Errors
    /// A [`BuildError`] for a malformed configuration, or a compression this build cannot read.
    pub fn build(self) -> Result<Shard<R>, BuildError> {
        let config = self.shared_config()?;
        let shard = config.shard();
        self.build_shared(config, shard)
    }

    /// Builds every shard of `range` over one shared configuration, for a bot that runs each
    /// shard on a task of its own (a [`crate::ShardManager`] does this for its range itself).
    /// A resume state set with [`ShardBuilder::resume`] is not used: it names one session.
    ///
    /// # Errors
    /// As [`ShardBuilder::build`].
    pub fn build_range(self, range: ShardRange) -> Result<Vec<Shard<R>>, BuildError> {
        let config = self.shared_config()?;
        let mut builder = self;
        builder.resume = None;
        range
            .shards()
            .map(|id| builder.clone().build_shared(Arc::clone(&config), id))
            .collect()
    }

    /// The core configuration, checked once, for every shard built from this builder to share
    /// ([`ShardBuilder::build_shared`]): a process with a thousand shards keeps one token,
    /// presence and URL, not a thousand.
    pub(crate) fn shared_config(&self) -> Result<Arc<Config>, BuildError> {
        let config = self.core.clone().build().map_err(BuildError::Config)?;
        // Otherwise every connection would fail to decompress, and the shard would reconnect
        // for ever.
        Inflater::new(config.compression())
            .map_err(|_| BuildError::CompressionUnavailable(config.compression()))?;
        Ok(Arc::new(config))
    }

    /// Builds shard `shard` over `config` (from [`ShardBuilder::shared_config`]), with its own
    /// jitter seed unless the builder fixed one.
    pub(crate) fn build_shared(
        self,
        config: Arc<Config>,
        shard: ShardId,
    ) -> Result<Shard<R>, BuildError> {
        let session = Session::for_shard(config, shard, self.seed.unwrap_or_else(os_seed));
        let session = match &self.resume {
            Some(state) => session.resuming(state).map_err(BuildError::Config)?,
            None => session,
        };
        let identify = match self.identify {
            Some(queue) => queue,
            None => Arc::new(LocalIdentifyQueue::new(self.runtime.clone(), 1)),
        };
        let limits = Arc::new(Limits {
            connect_timeout: self.connect_timeout,
            max_message_size: self.max_message_size,
            read_buffer_size: self.read_buffer_size,
        });
        Ok(Shard::from_parts(self.runtime, session, identify, limits))
    }
}

/// Why a shard could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// The session's configuration is malformed.
    Config(ConfigError),
    /// The compression asked for is not compiled in (turn on the adapter's `zlib` or `zstd`
    /// feature).
    CompressionUnavailable(Compression),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(_) => f.write_str("invalid shard configuration"),
            Self::CompressionUnavailable(compression) => write!(
                f,
                "{compression:?} was asked for, but its feature is not compiled in"
            ),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Config(error) => Some(error),
            Self::CompressionUnavailable(_) => None,
        }
    }
}
