//! What travels between the driver and a websocket: the driver's own frame, error and
//! connect-options types, so no websocket library's types reach the public API.
//!
//! An adapter turns its websocket library's messages into [`Frame`]s and its errors into
//! [`TransportError`]s; `crate::transport::websocket` does it once for `async-tungstenite`, which both
//! adapters use.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{Sink, Stream};

/// One websocket message, as the driver sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A text message. Received: a JSON payload; sent: an encoded command (always UTF-8).
    Text(Bytes),
    /// A binary message: a piece of a compressed stream.
    Binary(Bytes),
    /// A close frame, with its code (`None` when it carried none).
    Close(Option<u16>),
}

/// Why a websocket failed. Every variant ends the connection.
#[derive(Debug)]
#[non_exhaustive]
pub enum TransportError {
    /// A message was larger than [`ConnectOptions::max_message_size`].
    MessageTooLarge,
    /// The connection is already closed.
    Closed,
    /// Anything else: I/O, TLS, the websocket handshake or framing.
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MessageTooLarge => f.write_str("a message was over the size limit"),
            Self::Closed => f.write_str("the connection is closed"),
            Self::Other(_) => f.write_str("websocket error"),
        }
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Other(error) => Some(&**error),
            _ => None,
        }
    }
}

/// How to open a connection: where, and the limits the driver (not the adapter) decides.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// `ws://` or `wss://`, with the gateway's query (`v`, `encoding`, `compress`).
    pub url: String,
    /// The largest message (and frame) accepted, in bytes.
    pub max_message_size: usize,
    /// How many bytes to read from the socket at once during a burst (the adapters'
    /// read-ahead buffer, freed while the socket is quiet).
    pub read_buffer_size: usize,
    /// The `User-Agent` header of the upgrade request.
    pub user_agent: &'static str,
    /// The certificate authorities a `wss://` connection trusts (the shard's
    /// [`crate::ShardBuilder::trust`]; the compiled-in roots by default). An adapter that does
    /// its own TLS must honour it.
    pub trust: crate::transport::Trust,
}

/// The `User-Agent` sent on every upgrade, in the form Discord asks of HTTP clients
/// (`DiscordBot ($url, $versionNumber)`); some Discord-compatible gateways refuse an upgrade
/// without one.
pub const USER_AGENT: &str = concat!(
    "DiscordBot (",
    env!("CARGO_PKG_REPOSITORY"),
    ", ",
    env!("CARGO_PKG_VERSION"),
    ")"
);

/// An open websocket: frames in, frames out. Implemented for anything with the right `Stream`
/// and `Sink` halves.
pub trait Transport:
    Stream<Item = Result<Frame, TransportError>>
    + Sink<Frame, Error = TransportError>
    + Unpin
    + Send
    + 'static
{
}

impl<T> Transport for T where
    T: Stream<Item = Result<Frame, TransportError>>
        + Sink<Frame, Error = TransportError>
        + Unpin
        + Send
        + 'static
{
}

/// Any [`Transport`] behind one pointer: what the adapters hand the driver, so that their public
/// `Runtime::Socket` type names no websocket library's types (a new async-tungstenite release
/// then changes no signature of theirs). One allocation per connection; each poll goes through a
/// vtable, which is noise beside the syscall behind it.
pub struct BoxedTransport(Box<dyn Transport>);

impl BoxedTransport {
    /// Boxes `transport`.
    pub fn new(transport: impl Transport) -> Self {
        Self(Box::new(transport))
    }
}

impl fmt::Debug for BoxedTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoxedTransport")
    }
}

impl Stream for BoxedTransport {
    type Item = Result<Frame, TransportError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut *self.0).poll_next(cx)
    }
}

impl Sink<Frame> for BoxedTransport {
    type Error = TransportError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut *self.0).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, frame: Frame) -> Result<(), Self::Error> {
        Pin::new(&mut *self.0).start_send(frame)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut *self.0).poll_close(cx)
    }
}
