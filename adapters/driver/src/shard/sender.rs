//! Sending commands to a shard, from its own task or any other.

use std::fmt;

use bytes::Bytes;
use discord_gateway::command::{
    encode_etf_into, encode_into, Encode, EncodeError, RawCommand, MAX_PAYLOAD_LEN,
};
use discord_gateway::Encoding;
use discord_gateway::OpCode;
use futures_channel::mpsc;

use crate::CloseKind;

/// A command encoded and checked once, when it was queued; these bytes are what goes out.
#[derive(Clone, Debug)]
pub(crate) struct Encoded {
    pub(crate) op: OpCode,
    pub(crate) payload: Bytes,
}

impl Encoded {
    /// Encodes `command` for a connection in `encoding`, refusing the opcodes the session sends
    /// itself.
    pub(crate) fn new(command: &impl Encode, encoding: Encoding) -> Result<Self, QueueError> {
        let op = command.opcode();
        if op.is_session_owned() {
            return Err(QueueError::Reserved(op));
        }
        let mut buf = [0u8; MAX_PAYLOAD_LEN];
        let len = match encoding {
            Encoding::Json => encode_into(command, &mut buf),
            Encoding::Etf => encode_etf_into(command, &mut buf),
        }
        .map_err(QueueError::Encode)?;
        Ok(Self {
            op,
            payload: Bytes::copy_from_slice(&buf[..len]),
        })
    }
}

/// What travels from senders to the shard.
#[derive(Debug)]
pub(crate) enum Outgoing {
    Command(Encoded),
    Close(CloseKind),
}

/// Why a command was not queued.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueueError {
    /// The command is invalid or too large; nothing was queued.
    Encode(EncodeError),
    /// Identify, Resume and Heartbeat are sent by the shard itself.
    Reserved(OpCode),
    /// The shard has stopped (closed, or a fatal close code) or was dropped: nothing more
    /// goes out on it.
    ShardGone,
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Encode(_) => f.write_str("command not queued"),
            Self::Reserved(op) => write!(f, "opcode {} is sent by the shard itself", op.to_u8()),
            Self::ShardGone => f.write_str("the shard has stopped or been dropped"),
        }
    }
}

impl std::error::Error for QueueError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Encode(error) => Some(error),
            _ => None,
        }
    }
}

/// A cloneable handle that queues commands for a shard from any task or thread.
///
/// Commands are encoded and checked when queued (so a bad one fails here, at the call site),
/// wait while the shard reconnects, and go out as the rate limit allows: the shard never sends
/// more than 120 messages a minute and always keeps room for heartbeats. What holds across
/// reconnects, session loss and a stop is the same as for [`crate::Shard::send`]: see
/// [commands](crate::Shard#commands).
#[derive(Clone)]
pub struct ShardSender {
    tx: mpsc::UnboundedSender<Outgoing>,
    encoding: Encoding,
}

impl fmt::Debug for ShardSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardSender")
            .field("closed", &self.tx.is_closed())
            .finish()
    }
}

impl ShardSender {
    pub(crate) fn new(tx: mpsc::UnboundedSender<Outgoing>, encoding: Encoding) -> Self {
        Self { tx, encoding }
    }

    /// Queues a typed command (Update Presence, Request Guild Members, ...).
    ///
    /// # Errors
    /// [`QueueError`] when the command is invalid, reserved, or the shard has stopped or is
    /// gone.
    pub fn send(&self, command: &impl Encode) -> Result<(), QueueError> {
        self.push(Outgoing::Command(Encoded::new(command, self.encoding)?))
    }

    /// Queues a command with a pre-encoded `d`, for opcodes this library has no type for.
    ///
    /// # Errors
    /// As [`ShardSender::send`]; `data` must be one well-formed JSON value (a shard on ETF
    /// transcodes it).
    pub fn send_raw(&self, op: OpCode, data: &[u8]) -> Result<(), QueueError> {
        self.send(&RawCommand::new(op, data))
    }

    /// Asks the shard to close: [`CloseKind::Resumable`] keeps the session alive on Discord's
    /// side for a few minutes so it can be resumed from its exported state.
    ///
    /// # Errors
    /// [`QueueError::ShardGone`] when the shard has already stopped or been dropped.
    pub fn close(&self, kind: CloseKind) -> Result<(), QueueError> {
        self.push(Outgoing::Close(kind))
    }

    fn push(&self, outgoing: Outgoing) -> Result<(), QueueError> {
        self.tx
            .unbounded_send(outgoing)
            .map_err(|_| QueueError::ShardGone)
    }
}
