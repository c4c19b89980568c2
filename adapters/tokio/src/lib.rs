//! Discord gateway shards on [tokio](https://tokio.rs).
//!
//! A thin binding of the shared driver to tokio: an `async-tungstenite` websocket over TCP with
//! rustls (Mozilla's roots compiled in by default, the OS's with `rustls-native-roots`) and
//! tokio's timer. Everything else, the session state machine, heartbeats, reconnects, rate
//! limits, decompression, lives in [`discord_gateway`] and [`discord_gateway_driver`] and is the
//! same on every runtime.
//!
//! ```no_run
//! use discord_gateway_tokio::{EventSet, EventType, Shard, ShardEvent, Token};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let token = Token::new(&std::env::var("DISCORD_TOKEN")?)?;
//! let events = EventSet::EMPTY.with(EventType::MessageCreate);
//! let mut shard = Shard::builder(token).events(events).build()?;
//! while let Some(event) = shard.next_event().await {
//!     if let ShardEvent::Dispatch(message) = event? {
//!         println!("{}", String::from_utf8_lossy(message.data()));
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! The shard does its work only while it is polled; it spawns nothing.

mod read_ahead;

use std::future::Future;
use std::time::Instant;

use async_tungstenite::tokio::TokioAdapter;
use discord_gateway_driver::websocket;
use discord_gateway_driver::{BoxedTransport, ConnectOptions, TransportError};
use read_ahead::ReadAheadStream;

pub use discord_gateway_driver::discord_gateway;
pub use discord_gateway_driver::prelude::*;

/// The tokio [`Runtime`]: TCP + rustls websockets and tokio's timer. Needs a tokio runtime with
/// the time driver enabled.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tokio;

impl Runtime for Tokio {
    // Boxed, so the public type names no websocket library's.
    type Socket = BoxedTransport;

    // Not an `async fn`: the future must be `'static`, which one borrowing `&self` is not.
    #[allow(clippy::manual_async_fn)]
    fn connect(
        &self,
        options: ConnectOptions,
    ) -> impl Future<Output = Result<Self::Socket, TransportError>> + Send + 'static {
        async move {
            let request = websocket::request(&options)?;
            let tls = websocket::tls_for(&options)?;
            let (host, port) = websocket::address(&request)?;
            let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
                .await
                .map_err(|e| TransportError::Other(Box::new(e)))?;
            let stream = ReadAheadStream::new(tcp, options.read_buffer_size);
            // Two monomorphic paths rather than an enum over both streams: nothing to dispatch
            // per read.
            match tls {
                None => websocket::open(TokioAdapter::new(stream), &request, &options).await,
                Some(config) => {
                    let name = websocket::server_name(&host)?;
                    let stream = tokio_rustls::TlsConnector::from(config)
                        .connect(name, stream)
                        .await
                        .map_err(|e| TransportError::Other(Box::new(e)))?;
                    websocket::open(TokioAdapter::new(stream), &request, &options).await
                }
            }
        }
    }

    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send + 'static {
        tokio::time::sleep_until(deadline.into())
    }
}

/// A shard on tokio. Build one with `Shard::builder(token)`.
pub type Shard = discord_gateway_driver::Shard<Tokio>;
/// Builds a [`Shard`].
pub type ShardBuilder = discord_gateway_driver::ShardBuilder<Tokio>;
/// Identify permits shared by the shards of one process.
pub type LocalIdentifyQueue = discord_gateway_driver::LocalIdentifyQueue<Tokio>;
/// A range of shards in one process, as one stream. Build one with `ShardManager::builder`.
pub type ShardManager = discord_gateway_driver::ShardManager<Tokio>;
/// Sets up a [`ShardManager`].
pub type ManagerBuilder = discord_gateway_driver::ManagerBuilder<Tokio>;

#[cfg(feature = "discovery")]
pub use discord_gateway_driver::discovery::{Discovery, DiscoveryError, GatewayBot, DISCORD_API};
