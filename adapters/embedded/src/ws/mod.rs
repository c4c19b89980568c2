//! The websocket client layer (RFC 6455), sans-IO: the upgrade request and its check, frame
//! headers and masking, and the reassembly of the server's messages in a caller buffer.

mod frame;
mod handshake;
mod receiver;

use core::fmt;

pub use frame::{apply_mask, write_client_header, Header, Opcode, MAX_CONTROL_LEN, MAX_HEADER_LEN};
pub use handshake::{check_response, write_request, Key};
pub use receiver::{Incoming, Receiver};

/// The server broke the framing rules (RFC 6455 §5); the connection is closed with 1002.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WsError {
    /// A reserved bit was set, but no extension was negotiated.
    ReservedBits,
    /// An opcode RFC 6455 does not define.
    UnknownOpcode(u8),
    /// The server masked a frame.
    MaskedByServer,
    /// A 64-bit length with its top bit set.
    LengthOverflow,
    /// A close, ping or pong split into fragments.
    FragmentedControl,
    /// A control frame over 125 bytes.
    ControlTooLong,
    /// A continuation frame with no message to continue.
    UnexpectedContinuation,
    /// A new message began before the last one's final fragment.
    ExpectedContinuation,
    /// A close frame with a one-byte payload or a reason that is not UTF-8.
    BadClosePayload,
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReservedBits => f.write_str("a frame set a reserved bit"),
            Self::UnknownOpcode(op) => write!(f, "a frame has the undefined opcode {op:#x}"),
            Self::MaskedByServer => f.write_str("the server masked a frame"),
            Self::LengthOverflow => f.write_str("a frame length has its top bit set"),
            Self::FragmentedControl => f.write_str("a control frame was fragmented"),
            Self::ControlTooLong => f.write_str("a control frame is longer than 125 bytes"),
            Self::UnexpectedContinuation => f.write_str("a continuation frame continues nothing"),
            Self::ExpectedContinuation => {
                f.write_str("a new message began before the last one ended")
            }
            Self::BadClosePayload => f.write_str("a close frame's payload is malformed"),
        }
    }
}

impl core::error::Error for WsError {}

/// The server did not accept the websocket upgrade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The request does not fit in the send buffer (only with an absurdly long URL).
    RequestTooLong,
    /// The response is not HTTP/1.1, or is larger than the receive buffer.
    MalformedResponse,
    /// The status was not 101.
    Status(u16),
    /// `Upgrade: websocket` or `Connection: Upgrade` is missing.
    NotAnUpgrade,
    /// `Sec-WebSocket-Accept` is missing or does not match the key.
    BadAccept,
    /// The server chose an extension or subprotocol we did not offer.
    UnrequestedExtension,
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RequestTooLong => f.write_str("the upgrade request does not fit the send buffer"),
            Self::MalformedResponse => f.write_str("the upgrade response is not valid HTTP"),
            Self::Status(code) => write!(f, "the server answered the upgrade with status {code}"),
            Self::NotAnUpgrade => f.write_str("the server's answer is not a websocket upgrade"),
            Self::BadAccept => f.write_str("Sec-WebSocket-Accept does not match the key"),
            Self::UnrequestedExtension => {
                f.write_str("the server chose an extension or subprotocol that was not offered")
            }
        }
    }
}

impl core::error::Error for HandshakeError {}
