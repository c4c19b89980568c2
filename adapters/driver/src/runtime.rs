//! What an async runtime has to provide: a websocket connection and a timer.

use std::future::Future;
use std::time::Instant;

use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use async_tungstenite::tungstenite::{Error as WsError, Message};
use futures_util::{Sink, Stream};

/// The two things the driver needs from an async runtime. Each adapter implements this in a few
/// lines (an `async-tungstenite` connect with TLS, and the runtime's sleep); everything else, the
/// loop, decompression, reconnects, commands, is shared.
pub trait Runtime: Clone + Send + Sync + 'static {
    /// An open websocket.
    type Socket: Stream<Item = Result<Message, WsError>>
        + Sink<Message, Error = WsError>
        + Unpin
        + Send
        + 'static;

    /// Opens a websocket to `url` (`ws://` or `wss://`, TLS as the adapter configures it) with
    /// `config`, which the driver builds: message-size bounds and buffer sizes are protocol
    /// decisions, made once for every runtime.
    fn connect(
        &self,
        url: String,
        config: WebSocketConfig,
    ) -> impl Future<Output = Result<Self::Socket, WsError>> + Send + 'static;

    /// Completes at `deadline`.
    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send + 'static;
}

/// A seed for the session's jitter from the operating system's randomness, without a dependency:
/// std seeds every `RandomState` from the OS.
#[must_use]
pub fn os_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x5eed);
    hasher.finish()
}
