//! What lies between a shard and the network: the driver's own frame, error and connect
//! types ([`Frame`], [`TransportError`], [`ConnectOptions`]), transport decompression, and
//! (feature `async-tungstenite`) the websocket binding both adapters share.

mod frame;
pub(crate) mod inflate;
mod trust;

#[cfg(feature = "async-tungstenite")]
pub(crate) mod handshake;
#[cfg(feature = "async-tungstenite")]
pub(crate) mod read_ahead;
#[cfg(feature = "async-tungstenite")]
pub mod websocket;

pub use frame::{BoxedTransport, ConnectOptions, Frame, Transport, TransportError, USER_AGENT};
pub use trust::{Trust, TrustError};
