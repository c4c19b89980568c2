//! Building a shard: the core's settings plus what only a driver needs.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use discord_gateway::protocol::ShardId;
use discord_gateway::session::{
    Compression, Config, ConfigBuilder, ConfigError, ResumeState, Session,
};
use discord_gateway::Token;

use crate::fleet::identify::{IdentifyQueue, LocalIdentifyQueue};
use crate::fleet::seal::SessionSeal;
use crate::runtime::os_seed;
use crate::shard::Limits;
use crate::transport::inflate::Inflater;
use crate::transport::Trust;
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
/// The session's settings are the core's [`ConfigBuilder`], set through
/// [`ShardBuilder::configure`]; the setters here are the driver's own. A [`crate::ShardManager`]
/// takes a whole `ShardBuilder` the same way, and adds only what a fleet needs (the range, a
/// shared identify queue, a session store).
///
/// Cloning a builder is how a bot makes its shards: set what they share once, then set each
/// clone's shard id (`configure(|c| c.shard(id))`), or let [`ShardBuilder::build_range`] or a
/// [`crate::ShardManager`] do it.
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
    /// Seals and opens the sessions a store keeps for this bot (a key derived from the token).
    seal: SessionSeal,
    /// The roots `wss://` connections trust.
    trust: Trust,
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
            seal: SessionSeal::new(&token),
            runtime,
            core: Config::builder(token),
            seed: None,
            identify: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            read_buffer_size: DEFAULT_READ_BUFFER_SIZE,
            resume: None,
            trust: Trust::default(),
        }
    }

    /// Sets the session's settings on the core's own [`ConfigBuilder`]: intents, events, the
    /// shard id, presence, gateway URL, compression, encoding, backoff, timeouts and whatever
    /// the core adds later, with the core's documentation and defaults. There is one list of
    /// them, the core's; this builder keeps only what a driver adds (the identify queue,
    /// timeouts and limits of the transport, a session to resume, the jitter seed).
    ///
    /// ```
    /// use discord_gateway_driver::discord_gateway::protocol::{EventSet, EventType, Intents};
    /// # fn f<R: discord_gateway_driver::Runtime>(
    /// #     builder: discord_gateway_driver::ShardBuilder<R>,
    /// # ) -> discord_gateway_driver::ShardBuilder<R> {
    /// builder.configure(|c| {
    ///     c.events(EventSet::from_slice(&[EventType::MessageCreate]))
    ///         .intents(Intents::MESSAGE_CONTENT)
    /// })
    /// # }
    /// ```
    ///
    /// [`ConfigBuilder::seed`] is not read here: see [`ShardBuilder::seed`].
    pub fn configure(mut self, configure: impl FnOnce(ConfigBuilder) -> ConfigBuilder) -> Self {
        self.core = configure(self.core);
        self
    }

    /// A fixed jitter seed for every shard built from this builder (tests that replay a run
    /// exactly). By default each shard draws its own from the OS ([`crate::os_seed`]) when it
    /// is built.
    ///
    /// The seed is the driver's, not [`ConfigBuilder::seed`]: the core is `no_std` and has no
    /// entropy, so its default is a fixed 0, while the shards of one process and of every
    /// restart must not share their heartbeat and reconnect jitter. One builder (and one
    /// shared configuration) makes many shards, so the seed is drawn per shard, where
    /// [`Session::for_shard`] takes it.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
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
    /// instead of identifying a new one. Its resume URL is used only where the configured
    /// gateway vouches for it ([`discord_gateway::session::vouches_for`]); otherwise the
    /// session is resumed at the configured gateway, with a warning.
    pub fn resume(mut self, state: ResumeState) -> Self {
        self.resume = Some(state);
        self
    }

    /// The certificate authorities the shard's `wss://` connections trust (by default the
    /// roots the adapter's features compile in): a [`Trust::roots_der`] or
    /// [`Trust::roots_pem`] of a private CA for a self-hosted gateway or a test. Every shard
    /// built from this builder (and its clones) shares the one TLS configuration.
    pub fn trust(mut self, trust: Trust) -> Self {
        self.trust = trust;
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

    /// The seal of this bot's saved sessions: what a [`crate::SessionStore`] holds is sealed and
    /// opened with it (the [`crate::ShardManager`] does both), and its [`SessionSeal::bot`]
    /// namespaces a shared store.
    #[must_use]
    pub fn session_seal(&self) -> &SessionSeal {
        &self.seal
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
            trust: self.trust,
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
