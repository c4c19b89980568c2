//! Errors the session returns to its driver.
//!
//! One rule for every error that wraps another: its `Display` says what went wrong at its own
//! layer and nothing more, and `source()` returns the inner error. Walking the chain (as error
//! reporters do) then prints each cause once.

use core::fmt;

use crate::codec::DecodeError;
use crate::command::EncodeError;
use crate::protocol::OpCode;
use crate::time::Instant;

/// The gateway sent something well-formed that the protocol does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// Hello named a heartbeat interval of zero.
    ZeroHeartbeatInterval,
    /// A payload that needs `d` came without it.
    MissingData {
        /// The payload's opcode.
        op: OpCode,
    },
    /// A dispatch came before Hello, which opens every connection. It is refused so that the
    /// Hello deadline keeps running: taking a READY here would leave a live-looking session
    /// with no heartbeat to notice the connection dying.
    DispatchBeforeHello,
    /// READY named an empty `session_id`. Resume cannot carry one, so the session is not
    /// kept for resuming (see [`crate::session::Event::NotResumable`]).
    EmptySessionId,
    /// READY's `session_id` could not be read: missing, not a string, or longer than
    /// [`crate::codec::MAX_SESSION_ID_LEN`]. Resume needs it whole, so the session is not kept
    /// for resuming (see [`crate::session::Event::NotResumable`]).
    UnusableSessionId(DecodeError),
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroHeartbeatInterval => f.write_str("Hello named a heartbeat interval of zero"),
            Self::MissingData { op } => write!(f, "opcode {} came without `d`", op.to_u8()),
            Self::DispatchBeforeHello => f.write_str("a dispatch came before Hello"),
            Self::EmptySessionId => f.write_str("READY named an empty session id"),
            Self::UnusableSessionId(_) => f.write_str("READY's session id cannot be used"),
        }
    }
}

impl core::error::Error for ProtocolError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::UnusableSessionId(error) => Some(error),
            _ => None,
        }
    }
}

/// Why [`crate::session::Session::handle_message`] refused a message. The session's state is
/// exactly as it was before the call: a bad message never costs an event or a sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandleError {
    /// The payload is malformed.
    Decode(DecodeError),
    /// The payload breaks the protocol.
    Protocol(ProtocolError),
    /// Lifecycle events from earlier inputs were not drained with `poll_event`; drain them and
    /// hand the message in again.
    EventsNotDrained,
}

impl fmt::Display for HandleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Decode(_) => f.write_str("malformed payload"),
            Self::Protocol(_) => f.write_str("the payload breaks the protocol"),
            Self::EventsNotDrained => {
                f.write_str("poll_event must be drained before the next input")
            }
        }
    }
}

impl core::error::Error for HandleError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Decode(error) => Some(error),
            Self::Protocol(error) => Some(error),
            Self::EventsNotDrained => None,
        }
    }
}

impl From<DecodeError> for HandleError {
    fn from(error: DecodeError) -> Self {
        Self::Decode(error)
    }
}

impl From<ProtocolError> for HandleError {
    fn from(error: ProtocolError) -> Self {
        Self::Protocol(error)
    }
}

/// Why a command was not sent. Nothing was counted against the rate limit.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The session is not ready (not connected, identifying, resuming, or stopped); commands
    /// sent before READY would close the connection with 4003. Keep it and try after
    /// [`crate::session::Event::Ready`] or [`crate::session::Event::Resumed`].
    NotReady,
    /// Sending now could exceed 120 messages in 60 s; try again at `ready_at`.
    RateLimited {
        /// When a command may go.
        ready_at: Instant,
    },
    /// This opcode belongs to the session (Identify, Resume, Heartbeat) and is sent by it.
    Reserved(OpCode),
    /// The command could not be encoded.
    Encode(EncodeError),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotReady => f.write_str("the session is not ready for commands"),
            Self::RateLimited { ready_at } => {
                write!(f, "rate limited until {} ms", ready_at.as_millis())
            }
            Self::Reserved(op) => write!(f, "opcode {} is sent by the session itself", op.to_u8()),
            Self::Encode(_) => f.write_str("the command could not be encoded"),
        }
    }
}

impl core::error::Error for SendError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Encode(error) => Some(error),
            _ => None,
        }
    }
}

impl From<EncodeError> for SendError {
    fn from(error: EncodeError) -> Self {
        Self::Encode(error)
    }
}
