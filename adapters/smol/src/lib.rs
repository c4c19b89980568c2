//! Discord gateway shards on [smol](https://github.com/smol-rs/smol).
//!
//! A thin binding of the shared driver to smol: an `async-tungstenite` websocket over
//! `async-net` TCP with rustls (Mozilla's roots compiled in by default, the OS's with
//! `rustls-native-roots`) and `async-io`'s timer. Everything else, the session state machine,
//! heartbeats, reconnects, rate limits, decompression, lives in [`discord_gateway`] and
//! [`discord_gateway_driver`] and is the same on every runtime.
//!
//! ```no_run
//! use discord_gateway_smol::{EventSet, EventType, Shard, ShardEvent, Token};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! smol::block_on(async {
//!     let token = Token::new(&std::env::var("DISCORD_TOKEN")?)?;
//!     let events = EventSet::EMPTY.with(EventType::MessageCreate);
//!     let mut shard = Shard::builder(token).configure(|c| c.events(events)).build()?;
//!     while let Some(event) = shard.next_event().await {
//!         if let ShardEvent::Dispatch(message) = event? {
//!             println!("{}", String::from_utf8_lossy(message.data()));
//!         }
//!     }
//!     Ok(())
//! })
//! # }
//! ```
//!
//! The shard does its work only while it is polled; it spawns nothing.
//!
//! # TLS
//!
//! `wss://` certificates are verified, for the host name dialled, against the compiled-in roots.
//! A gateway behind a private CA (self-hosted, or a test's) is trusted with [`Trust`], set on
//! the builder; the shard then trusts exactly that CA. The file is read and the TLS
//! configuration built once, here, not at every dial:
//!
//! ```no_run
//! use discord_gateway_smol::{Shard, Token, Trust};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let trust = Trust::roots_pem(&std::fs::read("gateway-ca.pem")?)?;
//! let shard = Shard::builder(Token::new(&std::env::var("DISCORD_TOKEN")?)?)
//!     .configure(|c| c.gateway_url("wss://gateway.internal.example:8443"))
//!     .trust(trust)
//!     .build()?;
//! # drop(shard); Ok(()) }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use discord_gateway_driver::websocket;
use discord_gateway_driver::{BoxedTransport, ConnectOptions, Timer, TransportError};

pub use discord_gateway_driver::discord_gateway;
/// Metric names and descriptions (the `metrics` feature; docs/metrics.md lists them).
#[cfg(feature = "metrics")]
pub use discord_gateway_driver::metrics;
pub use discord_gateway_driver::prelude::*;

/// The smol [`Runtime`]: `async-net` TCP + rustls websockets and `async-io`'s timer.
#[derive(Clone, Copy, Debug, Default)]
pub struct Smol;

impl Runtime for Smol {
    // Boxed, so the public type names no websocket library's.
    type Socket = BoxedTransport;

    // Not an `async fn`: the future must be `'static`, which one borrowing `&self` is not.
    #[allow(clippy::manual_async_fn)]
    fn connect(
        &self,
        options: ConnectOptions,
    ) -> impl Future<Output = Result<Self::Socket, TransportError>> + Send + 'static {
        websocket::connect(options, |host, port| async move {
            async_net::TcpStream::connect((host.as_str(), port)).await
        })
    }

    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send + 'static {
        let timer = async_io::Timer::at(deadline);
        async move {
            timer.await;
        }
    }

    fn timer(&self, deadline: Instant) -> Pin<Box<dyn Timer>> {
        Box::pin(SmolTimer(async_io::Timer::at(deadline)))
    }
}

/// async-io's `Timer`, moved in place by [`Timer::reset`].
struct SmolTimer(async_io::Timer);

impl Timer for SmolTimer {
    fn reset(self: Pin<&mut Self>, deadline: Instant) {
        self.get_mut().0.set_at(deadline);
    }

    fn poll_expired(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.get_mut().0).poll(cx).map(drop)
    }
}

/// A shard on smol. Build one with `Shard::builder(token)`.
pub type Shard = discord_gateway_driver::Shard<Smol>;
/// Builds a [`Shard`].
pub type ShardBuilder = discord_gateway_driver::ShardBuilder<Smol>;
/// Identify permits shared by the shards of one process.
pub type LocalIdentifyQueue = discord_gateway_driver::LocalIdentifyQueue<Smol>;
/// A range of shards in one process, as one stream. Build one with `ShardManager::builder`.
pub type ShardManager = discord_gateway_driver::ShardManager<Smol>;
/// Sets up a [`ShardManager`].
pub type ManagerBuilder = discord_gateway_driver::ManagerBuilder<Smol>;

#[cfg(feature = "discovery")]
pub use discord_gateway_driver::discovery::{Discovery, DiscoveryError, GatewayBot, DISCORD_API};
