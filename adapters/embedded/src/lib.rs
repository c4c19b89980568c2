//! A whole Discord gateway client for microcontrollers: no std, no allocator, no unsafe code.
//!
//! The `discord-gateway` core decides everything about the gateway (Hello, heartbeats,
//! Identify/Resume, op 7/9, close codes, rate limits) but takes whole websocket messages and
//! does no I/O. This crate is what sits between it and a socket on a device:
//!
//! - a sans-IO websocket client layer ([`ws`]): the RFC 6455 upgrade request and the check of
//!   `Sec-WebSocket-Accept`, frame headers, masking with caller entropy, fragmented messages,
//!   ping/pong, close frames with codes, and size bounds;
//! - [`Client`]: the session, the websocket state and the buffers, stepped without I/O by
//!   one piece of code that both loops share;
//! - two thin loops: [`Client::run`] over `embedded-io-async` sockets (what embassy-net and
//!   embedded-tls provide) with a [`Timer`] you implement in a few lines, and
//!   [`Client::run_blocking`] over blocking `embedded-io` sockets with a read timeout.
//!
//! It never allocates, never reads a clock or draws randomness of its own (the [`Timer`] /
//! [`Clock`] and [`Entropy`] you hand it do), and never does TLS: a `wss://` connection is
//! your [`Connector`]'s job (see below).
//!
//! # Memory
//!
//! Everything is fixed when the client is built: the core's `Session` and the websocket state
//! in the [`Client`], and the two [`Buffers`] you lend: a receive buffer (`&mut [u8]`, any size
//! from [`MIN_RECEIVE_BUFFER_LEN`]) and a send buffer of [`SEND_BUFFER_LEN`] bytes (Discord's
//! 4096-byte payload limit plus a frame header). Nothing grows. Lending the buffers from statics
//! keeps them off the stack; BENCHMARKS.md ("Embedded") lists the sizes.
//!
//! Messages are reassembled in the receive buffer, in place: a socket read lands in its free
//! end and a single-frame message (all Discord sends in practice) is handed to the core where
//! it lies. A message larger than the buffer (a big GUILD_CREATE) never crashes or desyncs the
//! session: it is streamed through, its first bytes are kept just long enough to read `t`, `s`
//! and `op` (Discord writes them before `d`), the sequence number is kept, and the handler gets
//! [`Received::Skipped`] with the event's name and size. If the first bytes do not settle the
//! sequence number (keys in another order), the client closes the connection resumably and
//! resumes, so the gateway replays it, rather than guess; the session counts those resumes and
//! stops with `Stop::MessageTooLarge` rather than loop on a message that never says.
//!
//! READY itself must fit ([`Error::ReadyTooLarge`] otherwise): it is about 2 KB plus some 45
//! bytes per guild (`{"id":"…","unavailable":true},`), so 16 KiB holds it for about 300 guilds.
//!
//! # No transport compression
//!
//! The client asks Discord for plain JSON and refuses a configuration with `zlib-stream` or
//! `zstd-stream` ([`BuildError::CompressionUnsupported`]): zlib-stream's inflater needs 10.5 KB of
//! state and a 32 KiB window for the whole connection, about twice this client's whole memory
//! budget (BENCHMARKS.md, "Embedded", has the figures).
//!
//! # Wiring it on a board: embassy-net and embedded-tls
//!
//! The [`Connector`] opens a TCP socket with embassy-net and, for `wss://`, wraps it in an
//! embedded-tls `TlsConnection`; both implement `embedded_io_async::{Read, Write}`, so the
//! connection is the socket:
//!
//! ```ignore
//! struct Gateway<'d> {
//!     stack: embassy_net::Stack<'d>,
//!     tcp_rx: [u8; 4096], tcp_tx: [u8; 4096],
//!     tls_read: [u8; 16_640], tls_write: [u8; 4096],
//!     rng: Rng, // your HAL's RNG, implementing rand_core's CryptoRng
//! }
//!
//! impl discord_gateway_embedded::Connector for Gateway<'_> {
//!     type Socket<'a> = TlsConnection<'a, TcpSocket<'a>, Aes128GcmSha256> where Self: 'a;
//!     type Error = ();
//!
//!     async fn connect<'a>(&'a mut self, url: &GatewayUrl) -> Result<Self::Socket<'a>, ()> {
//!         let address = self.stack.dns_query(url.host(), DnsQueryType::A).await.map_err(drop)?[0];
//!         let mut tcp = TcpSocket::new(self.stack, &mut self.tcp_rx, &mut self.tcp_tx);
//!         tcp.connect((address, url.port())).await.map_err(drop)?;
//!         let mut tls = TlsConnection::new(tcp, &mut self.tls_read, &mut self.tls_write);
//!         let config = TlsConfig::new().with_server_name(url.host());
//!         tls.open(TlsContext::new(&config, UnsecureProvider::new::<Aes128GcmSha256>(&mut self.rng)))
//!             .await.map_err(drop)?;
//!         Ok(tls)
//!     }
//! }
//! ```
//!
//! and the task that runs the bot is:
//!
//! ```ignore
//! static RX: StaticCell<[u8; 16 * 1024]> = StaticCell::new();
//! static TX: StaticCell<[u8; SEND_BUFFER_LEN]> = StaticCell::new();
//! let config = Config::builder(Token::new(TOKEN)?).events(EventSet::MESSAGE_CREATE).seed(seed).build()?;
//! let buffers = Buffers { rx: RX.init_with(|| [0; 16 * 1024]), tx: TX.init_with(|| [0; SEND_BUFFER_LEN]) };
//! let mut client = Client::new(config, buffers, |bytes: &mut [u8]| rng.fill_bytes(bytes))?;
//! client.run(&mut gateway, &mut EmbassyTimer, |_, received| {
//!     if let Received::Dispatch(dispatch) = received { /* dispatch.data() is the JSON of `d` */ }
//!     ControlFlow::<()>::Continue(())
//! }).await?;
//! ```
//!
//! embedded-tls verifies certificates only with a verifier you provide; `UnsecureProvider`
//! (as above) checks none and is for trying things out. The TLS read buffer must hold a
//! whole TLS record (16 KiB + overhead) whatever the client's receive buffer is. The read
//! future is raced against the timer, so it must be cancel-safe: check that your embedded-tls
//! has the cancel-safe record reader (see [`Connector`], "Cancel safety").
//!
//! # On the host
//!
//! `examples/host.rs` runs the same client over tokio's `TcpStream` (as `embedded-io-async`) and
//! over std's (as blocking `embedded-io` with a read timeout) against the sim:
//! `cargo run -p discord-gateway-embedded --example host [-- --blocking]`. [`replay`] plays a
//! recorded conversation as an in-memory transport with a virtual clock; `ci/qemu` runs it on a
//! Cortex-M4.
//!
//! # The framing: why not `embedded-websocket`
//!
//! `embedded-websocket` (0.9) was evaluated first, as the issue asked. It is no_std and works
//! with small buffers, but it does not fit this design: its async framer is written against
//! `futures` `Stream`/`Sink` rather than `embedded-io-async`, its client needs a `rand_core`
//! 0.6 RNG and brings heapless 0.7, base64 0.13 and sha1 0.10 next to the versions this
//! workspace uses, it copies each frame into a frame buffer the caller provides rather than
//! reassembling in place, and it has no way to stream a message larger than the buffer while
//! keeping its first bytes (what the oversized path needs). The framing here is small: frame
//! headers and masking ([`ws`]), with the handshake's parsing, digest and encoding taken from
//! `httparse`, `sha1_smol` and `base64` (no_std, maintained).
#![no_std]
#![forbid(unsafe_code)]

mod asynch;
mod blocking;
mod client;
#[doc(hidden)]
pub mod fuzzing;
pub mod head;
pub mod replay;
mod url;
pub mod ws;

pub use asynch::{Connector, Timer};
pub use blocking::{BlockingConnector, Clock, TimeoutSocket};
pub use client::{
    Buffers, BuildError, Client, CommandError, ConnectionError, Context, Entropy, Error, Received,
    Skipped, IDENTIFY_INTERVAL, MIN_RECEIVE_BUFFER_LEN, SEND_BUFFER_LEN, UPGRADE_TIMEOUT,
};
pub use url::{GatewayUrl, UrlError, MAX_CONNECT_URL_LEN};
