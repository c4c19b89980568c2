//! How a session is set up: who it is, what it asks for, where it connects, how it retries.

use core::fmt;
use core::time::Duration;

use super::SEND_WINDOW;
use crate::codec::{Encoding, MAX_URL_LEN};
use crate::command::{OwnedPresence, LARGE_THRESHOLD_RANGE, MAX_PAYLOAD_LEN};
use crate::protocol::{EventSet, Intents, ShardId};
use crate::token::Token;

/// The gateway URL used when none is configured. Discord asks bots to fetch it from
/// `GET /gateway/bot`, but this value has not changed in years and is what that call returns.
pub const DEFAULT_GATEWAY_URL: &str = "wss://gateway.discord.gg";
/// The gateway API version this crate speaks.
pub const API_VERSION: u8 = 10;
/// How long a session waits for READY after Identify, or for RESUMED after Resume (and after
/// each replayed dispatch), unless [`ConfigBuilder::handshake_timeout`] says otherwise.
///
/// READY is one payload Discord sends as soon as it has processed the Identify: the session,
/// the user and the guilds as unavailable stubs (2,500 at most per shard); the guilds'
/// contents come after it as GUILD_CREATEs, which the wait does not cover. It arrives within a
/// second or two even for the largest bots, and within seconds while Discord is degraded, so
/// 30 s is an order of magnitude of headroom, while a gateway that never answers costs a shard
/// half a minute rather than the rest of the process's life.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// The most bytes kept for each of Identify's `properties` strings.
pub const MAX_PROPERTY_LEN: usize = 32;

/// Transport compression, negotiated through the connection URL's `compress` parameter.
///
/// The core only names it in the URL; adapters inflate the binary messages before handing them
/// in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Compression {
    /// Plain text frames.
    #[default]
    None,
    /// One zlib stream per connection, each payload ending in a sync flush.
    ZlibStream,
    /// One zstd stream per connection, one payload per message.
    ZstdStream,
}

impl Compression {
    /// The value of the `compress` URL parameter, if any.
    #[must_use]
    pub const fn query_value(self) -> Option<&'static str> {
        match self {
            Self::None => None,
            Self::ZlibStream => Some("zlib-stream"),
            Self::ZstdStream => Some("zstd-stream"),
        }
    }
}

/// Exponential backoff between failed connection attempts.
///
/// The first reconnect after a connection that proved stable (a heartbeat acknowledged after
/// READY or RESUMED) is immediate; each further attempt that ends before that doubles the
/// delay up to `max` (an accepted session dropped right away counts as a failure too), and the actual wait is drawn
/// uniformly from the upper half of it so a fleet does not retry in lockstep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The delay after the first failed attempt.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

/// Why a configuration was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A URL is longer than the room kept for it.
    UrlTooLong {
        /// The most bytes accepted.
        limit: usize,
    },
    /// A URL is not a `ws://` or `wss://` URL.
    UrlScheme,
    /// A URL carries a query or a fragment. The session adds the gateway's own query
    /// (`?v=10&encoding=json&compress=...`); a second one would make the gateway read the wrong
    /// encoding or compression, and every connection would fail the same way.
    UrlQuery,
    /// An Identify `properties` string is too long.
    PropertyTooLong {
        /// The most bytes accepted.
        limit: usize,
    },
    /// `large_threshold` is outside 50..=250.
    LargeThreshold(u8),
    /// The Identify this configuration sends would not fit in Discord's 4096-byte limit (a
    /// presence whose strings are mostly escapes can get there).
    IdentifyTooLarge,
    /// A saved [`crate::session::ResumeState`] names no session (its id is empty), so there
    /// is nothing to resume: Resume cannot carry an empty id.
    EmptySessionId,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::UrlTooLong { limit } => write!(f, "the gateway URL is longer than {limit} bytes"),
            Self::UrlScheme => f.write_str("the gateway URL must start with ws:// or wss://"),
            Self::UrlQuery => f.write_str(
                "the gateway URL must not carry a query or fragment: the library adds v, encoding and compress itself",
            ),
            Self::PropertyTooLong { limit } => {
                write!(f, "an Identify property is longer than {limit} bytes")
            }
            Self::LargeThreshold(value) => {
                write!(f, "large_threshold {value} is outside 50..=250")
            }
            Self::EmptySessionId => f.write_str("the saved session state has no session id"),
            Self::IdentifyTooLarge => {
                f.write_str("the Identify payload would exceed 4096 bytes; shorten the presence")
            }
        }
    }
}

impl core::error::Error for ConfigError {}

/// A validated session configuration. Build one with [`Config::builder`].
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) token: Token,
    pub(crate) intents: Intents,
    pub(crate) events: EventSet,
    pub(crate) unknown_events: bool,
    pub(crate) shard: ShardId,
    pub(crate) os: heapless::String<MAX_PROPERTY_LEN>,
    pub(crate) library: heapless::String<MAX_PROPERTY_LEN>,
    pub(crate) large_threshold: Option<u8>,
    pub(crate) presence: Option<OwnedPresence>,
    pub(crate) gateway_url: heapless::String<MAX_URL_LEN>,
    pub(crate) compression: Compression,
    pub(crate) encoding: Encoding,
    pub(crate) seed: u64,
    pub(crate) backoff: Backoff,
    pub(crate) hello_timeout: Duration,
    pub(crate) handshake_timeout: Duration,
    pub(crate) send_window: Duration,
}

impl Config {
    /// Starts a configuration for `token`. By default the session asks for no intents and
    /// passes every event through; set [`ConfigBuilder::events`] to receive (and derive intents
    /// for) only what you need, and [`ConfigBuilder::intents`] to add intents no event implies
    /// (such as [`Intents::MESSAGE_CONTENT`]).
    pub fn builder(token: Token) -> ConfigBuilder {
        ConfigBuilder {
            token,
            intents: Intents::empty(),
            events: None,
            unknown_events: true,
            shard: ShardId::ONE,
            os: property("none"),
            library: property("discord-gateway"),
            large_threshold: None,
            presence: None,
            gateway_url: parse_url(DEFAULT_GATEWAY_URL),
            compression: Compression::None,
            encoding: Encoding::Json,
            seed: 0,
            backoff: Backoff::default(),
            hello_timeout: Duration::from_secs(20),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            send_window: SEND_WINDOW,
        }
    }

    /// The intents sent in Identify.
    #[must_use]
    pub const fn intents(&self) -> Intents {
        self.intents
    }

    /// The dispatches handed to the application.
    #[must_use]
    pub const fn events(&self) -> EventSet {
        self.events
    }

    /// The shard this session runs.
    #[must_use]
    pub const fn shard(&self) -> ShardId {
        self.shard
    }

    /// The transport compression asked for in the URL.
    #[must_use]
    pub const fn compression(&self) -> Compression {
        self.compression
    }

    /// The encoding asked for in the URL, and used for every payload and command.
    #[must_use]
    pub const fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The gateway URL new sessions connect to.
    #[must_use]
    pub fn gateway_url(&self) -> &str {
        &self.gateway_url
    }
}

/// Builds a [`Config`].
#[derive(Clone, Debug)]
#[must_use]
pub struct ConfigBuilder {
    token: Token,
    /// Named explicitly; the ones the events need are added in `build`.
    intents: Intents,
    events: Option<EventSet>,
    unknown_events: bool,
    shard: ShardId,
    os: Result<heapless::String<MAX_PROPERTY_LEN>, ConfigError>,
    library: Result<heapless::String<MAX_PROPERTY_LEN>, ConfigError>,
    large_threshold: Option<u8>,
    presence: Option<OwnedPresence>,
    gateway_url: Result<heapless::String<MAX_URL_LEN>, ConfigError>,
    compression: Compression,
    encoding: Encoding,
    seed: u64,
    backoff: Backoff,
    hello_timeout: Duration,
    handshake_timeout: Duration,
    send_window: Duration,
}

impl ConfigBuilder {
    /// Intents to identify with in addition to those [`ConfigBuilder::events`] needs: they add
    /// to the derived ones, never replace them, so `events(MESSAGE_CREATE)` with
    /// `intents(MESSAGE_CONTENT)` identifies with `GUILD_MESSAGES | DIRECT_MESSAGES |
    /// MESSAGE_CONTENT`. Without [`ConfigBuilder::events`] these are the intents, exactly.
    /// Calling it again replaces the intents named before.
    pub const fn intents(mut self, intents: Intents) -> Self {
        self.intents = intents;
        self
    }

    /// The dispatches the application wants. Others are dropped as soon as their name is read,
    /// before anyone looks at their data. The intents they need (guild and direct-message
    /// alike, see [`Intents::for_events`]) are identified with, together with any named in
    /// [`ConfigBuilder::intents`].
    pub const fn events(mut self, events: EventSet) -> Self {
        self.events = Some(events);
        self
    }

    /// Whether dispatches with names this crate does not know are passed through (default
    /// `true`: Discord adds events before libraries learn about them).
    pub const fn unknown_events(mut self, pass_through: bool) -> Self {
        self.unknown_events = pass_through;
        self
    }

    /// The shard to run (default: the only shard, `0/1`).
    pub const fn shard(mut self, shard: ShardId) -> Self {
        self.shard = shard;
        self
    }

    /// Identify's `properties`: the operating system, and the library name sent as `browser`
    /// and `device`.
    pub fn properties(mut self, os: &str, library: &str) -> Self {
        self.os = property(os);
        self.library = property(library);
        self
    }

    /// Member count above which Discord omits offline members (50..=250).
    pub const fn large_threshold(mut self, threshold: u8) -> Self {
        self.large_threshold = Some(threshold);
        self
    }

    /// The presence to identify with.
    pub fn presence(mut self, presence: OwnedPresence) -> Self {
        self.presence = Some(presence);
        self
    }

    /// The gateway URL for new sessions (resumes use the URL READY names). Must be `ws://` or
    /// `wss://`; the query (`?v=10&encoding=json...`) is added by the session.
    pub fn gateway_url(mut self, url: &str) -> Self {
        self.gateway_url = parse_url(url);
        self
    }

    /// Transport compression to ask for.
    pub const fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// The encoding to ask for (`encoding=json` or `encoding=etf` in the URL): JSON by default.
    /// With [`Encoding::Etf`] payloads are read as ETF and commands go out as binary frames
    /// ([`crate::Transmit::Binary`]).
    pub const fn encoding(mut self, encoding: Encoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// The seed for heartbeat and reconnect jitter. Give each shard and each process start a
    /// different one (adapters draw it from the OS); tests fix it to replay exactly.
    pub const fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Backoff between failed connection attempts.
    pub const fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// How long to wait for Hello after the socket opened before giving up on the connection.
    pub const fn hello_timeout(mut self, timeout: Duration) -> Self {
        self.hello_timeout = timeout;
        self
    }

    /// How long to wait for READY after Identify (counted from the identify permit, so the
    /// wait for one is not part of it) or for RESUMED after Resume, before closing the
    /// connection resumably and trying again after a backoff: default
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`]. While resuming, every replayed dispatch starts the wait
    /// again, so a long replay is never cut short; heartbeat ACKs do not, as a gateway that
    /// answers heartbeats but never READY would otherwise hold the shard forever.
    pub const fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The window over which at most 120 messages may be sent. Discord's is 60 s, the default;
    /// change it only to test against a simulated gateway that scales time down, so a flood of
    /// commands can be exercised in seconds.
    pub const fn send_window(mut self, window: Duration) -> Self {
        self.send_window = window;
        self
    }

    /// Validates and builds the configuration.
    ///
    /// # Errors
    /// A [`ConfigError`] for a malformed or too long URL, a too long property, or an
    /// out-of-range `large_threshold`.
    pub fn build(self) -> Result<Config, ConfigError> {
        let gateway_url = self.gateway_url?;
        if let Some(threshold) = self.large_threshold {
            if !LARGE_THRESHOLD_RANGE.contains(&threshold) {
                return Err(ConfigError::LargeThreshold(threshold));
            }
        }
        let events = self.events.unwrap_or(EventSet::ALL);
        let derived = self.events.map_or(Intents::empty(), Intents::for_events);
        let intents = self.intents | derived;
        let config = Config {
            token: self.token,
            intents,
            events,
            unknown_events: self.unknown_events,
            shard: self.shard,
            os: self.os?,
            library: self.library?,
            large_threshold: self.large_threshold,
            presence: self.presence,
            gateway_url,
            compression: self.compression,
            encoding: self.encoding,
            seed: self.seed,
            backoff: self.backoff,
            hello_timeout: self.hello_timeout,
            handshake_timeout: self.handshake_timeout,
            send_window: self.send_window,
        };
        // Proven here, once, so the session never meets an Identify it cannot send: with the
        // widest shard id there is, since one configuration may serve every shard of a bot
        // (`Session::for_shard`).
        let mut scratch = [0u8; MAX_PAYLOAD_LEN];
        super::encode_identify(&config, WIDEST_SHARD, &mut scratch)
            .ok_or(ConfigError::IdentifyTooLarge)?;
        Ok(config)
    }
}

/// The shard id with the most digits (and the largest ETF integers): `[4294967294, 4294967295]`.
const WIDEST_SHARD: ShardId = match ShardId::new(u32::MAX - 1, u32::MAX) {
    Ok(shard) => shard,
    Err(_) => ShardId::ONE,
};

fn property(text: &str) -> Result<heapless::String<MAX_PROPERTY_LEN>, ConfigError> {
    heapless::String::try_from(text).map_err(|_| ConfigError::PropertyTooLong {
        limit: MAX_PROPERTY_LEN,
    })
}

/// Checks a gateway base URL and keeps it.
pub(crate) fn parse_url(url: &str) -> Result<heapless::String<MAX_URL_LEN>, ConfigError> {
    if !(url.starts_with("wss://") || url.starts_with("ws://")) {
        return Err(ConfigError::UrlScheme);
    }
    if url.contains(['?', '#']) {
        return Err(ConfigError::UrlQuery);
    }
    heapless::String::try_from(url).map_err(|_| ConfigError::UrlTooLong { limit: MAX_URL_LEN })
}
