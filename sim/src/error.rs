//! Errors the sim reports to the code driving it (never to a gateway client: clients get close
//! codes).

use std::fmt;
use std::io;
use std::time::Duration;

/// Something went wrong starting or driving the sim.
#[derive(Debug)]
#[non_exhaustive]
pub enum SimError {
    /// Binding the listener or spawning the sim's thread failed.
    Io(io::Error),
    /// A payload handed to the sim (`dispatch_raw`, a script step) is not valid JSON.
    InvalidJson(serde_json::Error),
    /// The sim has shut down; the handle can no longer reach it.
    Stopped,
    /// A test certificate or the TLS configuration could not be made.
    Tls(String),
    /// A wait did not see its condition within the timeout.
    Timeout {
        /// What was being waited for.
        what: String,
        /// How long the wait lasted.
        after: Duration,
    },
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "gateway sim I/O error: {e}"),
            Self::InvalidJson(e) => write!(f, "payload is not valid JSON: {e}"),
            Self::Stopped => f.write_str("the gateway sim has stopped"),
            Self::Tls(e) => write!(f, "gateway sim TLS setup failed: {e}"),
            Self::Timeout { what, after } => {
                write!(f, "timed out after {after:?} waiting for {what}")
            }
        }
    }
}

impl std::error::Error for SimError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            Self::InvalidJson(e) => Some(e),
            Self::Stopped | Self::Timeout { .. } | Self::Tls(_) => None,
        }
    }
}

impl From<io::Error> for SimError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<serde_json::Error> for SimError {
    fn from(e: serde_json::Error) -> Self {
        Self::InvalidJson(e)
    }
}
