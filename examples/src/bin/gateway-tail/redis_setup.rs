//! `redis://` flags: the URL as parsed, and the check at startup that Redis answers, so a typo
//! or a Redis that is down stops gateway-tail with one clear line before any shard connects.

use std::fmt;
use std::time::Duration;

use discord_gateway_redis::redis::{self, Client, RedisError};

/// How long the startup check waits for Redis to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A Redis URL given on the command line, checked to parse.
#[derive(Clone)]
pub(crate) struct RedisUrl {
    url: String,
    /// `HOST:PORT/DB`: what messages show (never a password the URL may hold).
    shown: String,
}

impl RedisUrl {
    /// Whether `text` is meant as a Redis URL (rather than `local` or `file:PATH`).
    pub(crate) fn looks_like(text: &str) -> bool {
        ["redis://", "rediss://", "redis+unix://", "unix://"]
            .iter()
            .any(|scheme| text.starts_with(scheme))
    }

    /// The URL in the REDIS_URL environment variable (where a password is not shown by `ps`).
    pub(crate) fn from_env() -> Result<Self, String> {
        match std::env::var("REDIS_URL") {
            Ok(url) if !url.trim().is_empty() => {
                Self::parse(url.trim()).map_err(|error| format!("REDIS_URL: {error}"))
            }
            _ => Err("`redis` means the Redis of REDIS_URL, which is not set".to_owned()),
        }
    }

    /// Parses `text`; the message of a refusal does not repeat the URL, which may hold a
    /// password.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let client = Client::open(text).map_err(|error| {
            format!(
                "not a Redis URL (expected redis://HOST:PORT[/DB]): {}",
                error
            )
        })?;
        let info = client.get_connection_info();
        let shown = format!("{}/{}", info.addr(), info.redis_settings().db());
        Ok(Self {
            url: text.to_owned(),
            shown,
        })
    }

    /// Connects and sends PING, blocking for at most [`CONNECT_TIMEOUT`]; gives back the client
    /// on success. `role` says what the Redis is for, in the error.
    pub(crate) fn check(&self, role: &'static str) -> Result<Client, RedisSetupError> {
        let client = Client::open(self.url.as_str());
        let answered = client.clone().and_then(|client| {
            let mut connection = client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
            redis::cmd("PING").query::<String>(&mut connection)
        });
        match (client, answered) {
            (Ok(client), Ok(_)) => Ok(client),
            (Err(source), _) | (_, Err(source)) => Err(RedisSetupError {
                role,
                addr: self.shown.clone(),
                source,
            }),
        }
    }
}

impl PartialEq for RedisUrl {
    fn eq(&self, other: &Self) -> bool {
        self.url == other.url
    }
}

impl Eq for RedisUrl {}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RedisUrl").field(&self.shown).finish()
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// Redis did not answer at startup.
#[derive(Debug)]
pub(crate) struct RedisSetupError {
    role: &'static str,
    addr: String,
    source: RedisError,
}

impl fmt::Display for RedisSetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot reach the Redis for {} at {}: {}",
            self.role, self.addr, self.source
        )
    }
}

// The Redis error is part of the message: its own source repeats what it says.
impl std::error::Error for RedisSetupError {}
