//! A whole Discord gateway client for microcontrollers: no std, no allocator, no unsafe code.
//!
//! The `discord-gateway` core decides everything about the gateway (Hello, heartbeats,
//! Identify/Resume, op 7/9, close codes, rate limits) but takes whole websocket messages and
//! does no I/O. This crate is what sits between it and a socket on a device:
//!
//! - a sans-IO websocket client layer ([`ws`]): the RFC 6455 upgrade request and the check of
//!   `Sec-WebSocket-Accept`, frame headers, masking with caller entropy and close codes (from
//!   `discord-gateway-websocket`, which the driver shares), and this crate's own reassembly of
//!   fragmented messages in the caller's buffer, ping/pong, and size bounds;
//! - [`Client`]: the session, the websocket state and the buffers, stepped without I/O by
//!   one piece of code that both loops share;
//! - two thin loops: [`Client::run`] over `embedded-io-async` sockets (what embassy-net and
//!   embedded-tls provide) with a [`Timer`] you implement in a few lines, and
//!   [`Client::run_blocking`] over blocking `embedded-io` sockets with a read timeout.
//!
//! It never allocates, never reads a clock or draws randomness of its own (the [`Timer`] /
//! [`Clock`] and [`Entropy`] you hand it do), and never does TLS: a `wss://` connection is
//! your [`Connector`]'s job (see below); the [`tls`] module's record gates, which go under
//! a TLS connection, only keep its reads whole.
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
//! session: it is streamed through, its first bytes are kept just long enough for the core to
//! read `t`, `s` and `op` (`discord_gateway::codec::read_head`; Discord writes them before `d`),
//! the session counts the dispatch as if it had been read (`Session::handle_skipped_message`),
//! and the handler gets [`Received::Skipped`] with the event's name and size. If the first bytes
//! do not settle the head (`d` before it), the client closes the connection resumably and
//! resumes, so the gateway replays it, rather than guess; the session counts those resumes and
//! stops with `Stop::MessageTooLarge` rather than loop on a message that never says.
//!
//! READY itself must fit ([`Error::ReadyTooLarge`] otherwise): it is about 2 KB plus some 45
//! bytes per guild (`{"id":"…","unavailable":true},`), so 16 KiB holds it for about 300 guilds.
//!
//! # Typed events without an allocator
//!
//! [`Received::Dispatch`] hands over the core's [`DispatchRef`], whose
//! [`deserialize`](DispatchRef::deserialize) reads `d` into any serde type through
//! `serde-json-core`, borrowing strings from the receive buffer:
//!
//! ```
//! #[derive(serde::Deserialize)]
//! struct Message<'a> {
//!     content: &'a str,
//!     #[serde(borrow)]
//!     author: Author<'a>,
//! }
//! #[derive(serde::Deserialize)]
//! struct Author<'a> {
//!     id: &'a str,
//! }
//! # fn read(dispatch: &discord_gateway_embedded::DispatchRef<'_>) -> Result<(), discord_gateway_embedded::DataError> {
//! let message: Message<'_> = dispatch.deserialize()?;
//! # let _ = (message.content, message.author.id); Ok(()) }
//! ```
//!
//! A JSON string with escapes (a quote, a newline, `\u00e9`) is not the bytes of its value, so a
//! borrowed `&str` cannot hold it: `deserialize` then fails with
//! [`DataError::EscapedString`] rather than hand over the raw escaped text. That holds for
//! every string in `d`, including fields the type skips (serde-json-core unescapes skipped
//! strings too); [`DispatchRef::deserialize_unescaped`] takes a scratch buffer for them and
//! for owned fields (`heapless::String<N>`). Why serde-json-core rather than the core's own
//! reader: the core scans JSON envelopes but has no serde `Deserializer` for JSON (only for
//! ETF); serde-json-core is that, maintained, no_std, and costs what BENCHMARKS.md
//! ("Embedded") measures per MESSAGE_CREATE on a Cortex-M4.
//!
//! # Logging
//!
//! With the `defmt` feature (or `log` on a host), the client logs its state changes at info
//! level: dialing (host and port), the upgrade, the connection lost and why, a server's close
//! code, and the session's events. Both are off by default and cost nothing then. The token is
//! never logged: the logging code never sees the configuration.
//!
//! # No transport compression
//!
//! The client asks Discord for plain JSON and refuses a configuration with `zlib-stream` or
//! `zstd-stream` ([`BuildError::CompressionUnsupported`]): zlib-stream's inflater needs 10.5 KB of
//! state and a 32 KiB window for the whole connection, about twice this client's whole memory
//! budget (BENCHMARKS.md, "Embedded", has the figures). It is built and tested for JSON only, so
//! a configuration with `Encoding::Etf` is refused too ([`BuildError::EncodingUnsupported`]);
//! the oversized-message head is read by the core in either encoding.
//!
//! # Wiring it on a board: embassy-net and embedded-tls
//!
//! The [`Connector`] opens a TCP socket with embassy-net and, for `wss://`, wraps it in an
//! embedded-tls `TlsConnection` (TLS 1.3) that verifies the server's certificate against a CA
//! you ship (embedded-tls's `rustpki` verifier: ECDSA P-256 chains by default, P-384 and RSA
//! behind its features). Two things matter beyond opening the connection:
//!
//! - **Reads are never cut short.** embedded-tls loses a record's header when its read is
//!   dropped, so the connector implements [`Connector::read_until`] with a read it never drops:
//!   a [`RecordGate`](tls::RecordGate) under the `TlsConnection` ends it at the loop's
//!   deadline only between two TLS records ([`tls`] says why and how).
//! - **Buffers**: the TLS read buffer holds a whole record's body, whatever the client's
//!   receive buffer is: 16 KiB of plaintext, its content type and AES-GCM's 16-byte tag, 16 401
//!   bytes at the least (measured against the sim; 16 640 covers any TLS 1.3 record). The
//!   write buffer needs far less (256 bytes worked: embedded-tls splits a frame into records);
//!   [`SEND_BUFFER_LEN`] and a record's overhead send each frame in one record.
//!
//! `tests/tls.rs` runs this wiring on the host (tokio and std sockets in place of
//! embassy-net) against the sim's `wss://`. Here it is for embassy-net (its pieces and the
//! timer are stubbed so that the example compiles):
//!
//! ```no_run
//! # mod embassy_net {
//! #   #[derive(Clone, Copy)] pub struct Stack<'d>(core::marker::PhantomData<&'d ()>);
//! #   pub enum DnsQueryType { A }
//! #   impl Stack<'_> {
//! #     pub async fn dns_query(&self, _: &str, _: DnsQueryType) -> Result<Vec<core::net::IpAddr>, ()> { Err(()) } }
//! #   pub mod tcp {
//! #     pub struct TcpSocket<'a>(core::marker::PhantomData<&'a ()>);
//! #     impl<'a> TcpSocket<'a> {
//! #       pub fn new(_: super::Stack<'a>, _: &'a mut [u8], _: &'a mut [u8]) -> Self { Self(core::marker::PhantomData) }
//! #       pub async fn connect(&mut self, _: (core::net::IpAddr, u16)) -> Result<(), ()> { Ok(()) } }
//! #     impl embedded_io_async::ErrorType for TcpSocket<'_> { type Error = embedded_io::ErrorKind; }
//! #     impl embedded_io_async::Read for TcpSocket<'_> {
//! #       async fn read(&mut self, _: &mut [u8]) -> Result<usize, Self::Error> { Ok(0) } }
//! #     impl embedded_io_async::Write for TcpSocket<'_> {
//! #       async fn write(&mut self, b: &[u8]) -> Result<usize, Self::Error> { Ok(b.len()) }
//! #       async fn flush(&mut self) -> Result<(), Self::Error> { Ok(()) } } } }
//! # #[derive(Clone, Copy)] struct EmbassyTimer;
//! # impl discord_gateway_embedded::Timer for EmbassyTimer {
//! #   fn now(&mut self) -> Instant { Instant::from_millis(0) }
//! #   async fn sleep_until(&mut self, _: Instant) {} }
//! use discord_gateway_embedded::tls::{ReadDeadline, RecordGate};
//! use discord_gateway_embedded::{Connector, GatewayUrl, Instant, Timer};
//! use embassy_net::{tcp::TcpSocket, DnsQueryType, Stack};
//! use embedded_io::ErrorKind;
//! use embedded_tls::pki::CertVerifier;
//! use embedded_tls::{
//!     Aes128GcmSha256, Certificate, CryptoProvider, CryptoRngCore, NoClock, TlsConfig,
//!     TlsConnection, TlsContext, TlsError, TlsVerifier,
//! };
//!
//! /// The CA certificate (DER) that signed the last certificate of the chain the gateway
//! /// sends: check it with `openssl s_client -connect gateway.discord.gg:443 -showcerts`.
//! static GATEWAY_CA: &[u8] = &[/* DER bytes, from flash */];
//!
//! struct Gateway<'d, R> {
//!     stack: Stack<'d>,
//!     tcp_rx: [u8; 4096],
//!     tcp_tx: [u8; 4096],
//!     tls_read: [u8; 16_640],
//!     tls_write: [u8; 4352],
//!     deadline: ReadDeadline,
//!     rng: R, // your HAL's RNG, as rand_core 0.6's `CryptoRng + RngCore`
//! }
//!
//! /// Verifies the server's chain against `GATEWAY_CA` and its name against the URL's host.
//! /// `NoClock`: a board without a wall clock does not check validity dates.
//! struct Verified<'a, R> {
//!     rng: &'a mut R,
//!     verifier: CertVerifier<'a, Aes128GcmSha256, NoClock, 4096>,
//! }
//!
//! impl<R: CryptoRngCore> CryptoProvider for Verified<'_, R> {
//!     type CipherSuite = Aes128GcmSha256;
//!     type Signature = [u8; 64]; // no client certificate
//!
//!     fn rng(&mut self) -> impl CryptoRngCore {
//!         &mut *self.rng
//!     }
//!
//!     fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Aes128GcmSha256>, TlsError> {
//!         Ok(&mut self.verifier)
//!     }
//! }
//!
//! struct GatewaySocket<'a> {
//!     tls: TlsConnection<'a, RecordGate<'a, TcpSocket<'a>, EmbassyTimer>, Aes128GcmSha256>,
//!     deadline: &'a ReadDeadline,
//! }
//!
//! impl embedded_io_async::ErrorType for GatewaySocket<'_> {
//!     type Error = TlsError;
//! }
//!
//! impl embedded_io_async::Read for GatewaySocket<'_> {
//!     async fn read(&mut self, buf: &mut [u8]) -> Result<usize, TlsError> {
//!         self.tls.read(buf).await
//!     }
//! }
//!
//! impl embedded_io_async::Write for GatewaySocket<'_> {
//!     async fn write(&mut self, buf: &[u8]) -> Result<usize, TlsError> {
//!         self.tls.write(buf).await
//!     }
//!     async fn flush(&mut self) -> Result<(), TlsError> {
//!         self.tls.flush().await
//!     }
//! }
//!
//! #[derive(Debug)]
//! enum DialError {
//!     Dns,
//!     Tcp,
//!     Tls(TlsError), // InvalidCertificate, InvalidSignature: not the gateway
//! }
//!
//! impl<R: CryptoRngCore> Connector for Gateway<'_, R> {
//!     type Socket<'a> = GatewaySocket<'a> where Self: 'a;
//!     type Error = DialError;
//!
//!     async fn connect<'a>(&'a mut self, url: &GatewayUrl) -> Result<GatewaySocket<'a>, DialError> {
//!         let addresses = self.stack.dns_query(url.host(), DnsQueryType::A).await;
//!         let address = *addresses.map_err(|_| DialError::Dns)?.first().ok_or(DialError::Dns)?;
//!         let mut tcp = TcpSocket::new(self.stack, &mut self.tcp_rx, &mut self.tcp_tx);
//!         tcp.connect((address, url.port())).await.map_err(|_| DialError::Tcp)?;
//!         self.deadline.set(None); // the handshake is not cut short either
//!         let gate = RecordGate::new(tcp, EmbassyTimer, &self.deadline);
//!         let mut tls = TlsConnection::new(gate, &mut self.tls_read, &mut self.tls_write);
//!         let config = TlsConfig::new().with_server_name(url.host());
//!         let verified = Verified {
//!             rng: &mut self.rng,
//!             verifier: CertVerifier::new(Certificate::X509(GATEWAY_CA)),
//!         };
//!         tls.open(TlsContext::new(&config, verified)).await.map_err(DialError::Tls)?;
//!         Ok(GatewaySocket { tls, deadline: &self.deadline })
//!     }
//!
//!     async fn read_until<'s, T: Timer>(
//!         socket: &mut GatewaySocket<'s>,
//!         buf: &mut [u8],
//!         until: Option<Instant>,
//!         _timer: &mut T,
//!     ) -> Result<Option<usize>, ErrorKind>
//!     where
//!         Self: 's,
//!     {
//!         // Not raced: the gate ends the read at `until` between two records, or lets it
//!         // finish the record it has begun.
//!         socket.deadline.set(until);
//!         let read = socket.tls.read(buf).await;
//!         socket.deadline.set(None);
//!         match read {
//!             Ok(n) => Ok(Some(n)),
//!             Err(TlsError::Io(ErrorKind::TimedOut)) => Ok(None),
//!             Err(error) => Err(embedded_io::Error::kind(&error)),
//!         }
//!     }
//! }
//! ```
//!
//! Each certificate of the chain is checked against the one above it, up to `GATEWAY_CA`,
//! and the handshake fails with `TlsError::InvalidCertificate` (or `InvalidSignature`) for a
//! chain another CA signed or a certificate for another name; the client then reports the
//! error ([`Context::dial_error`]) and dials again later, never sending the token. This wiring
//! is tested against the sim's CA, not against Discord's live chain: Discord's may need
//! embedded-tls's `p384` feature (an ECDSA P-384 root).
//!
//! and the task that runs the bot is (the embassy pieces are stubbed here so that it compiles):
//!
//! ```no_run
//! # mod static_cell { pub struct StaticCell<T>(core::marker::PhantomData<T>);
//! #   impl<T> StaticCell<T> { pub const fn new() -> Self { Self(core::marker::PhantomData) }
//! #   pub fn init_with(&'static self, _: impl FnOnce() -> T) -> &'static mut T { unimplemented!() } } }
//! # struct Rng; impl Rng { fn fill_bytes(&mut self, _: &mut [u8]) {} fn next_u64(&mut self) -> u64 { 4 } }
//! # struct EmbassyTimer;
//! # impl discord_gateway_embedded::Timer for EmbassyTimer {
//! #   fn now(&mut self) -> Instant { Instant::from_millis(0) }
//! #   async fn sleep_until(&mut self, _: Instant) {} }
//! # struct Gateway;
//! # impl discord_gateway_embedded::Connector for Gateway {
//! #   type Socket<'a> = Socket; type Error = ();
//! #   async fn connect<'a>(&'a mut self, _: &discord_gateway_embedded::GatewayUrl) -> Result<Socket, ()> { Err(()) } }
//! # struct Socket;
//! # impl embedded_io_async::ErrorType for Socket { type Error = embedded_io::ErrorKind; }
//! # impl embedded_io_async::Read for Socket { async fn read(&mut self, _: &mut [u8]) -> Result<usize, Self::Error> { Ok(0) } }
//! # impl embedded_io_async::Write for Socket { async fn write(&mut self, b: &[u8]) -> Result<usize, Self::Error> { Ok(b.len()) }
//! #   async fn flush(&mut self) -> Result<(), Self::Error> { Ok(()) } }
//! use core::ops::ControlFlow;
//! use discord_gateway_embedded::{
//!     Buffers, Client, Config, EventSet, EventType, Instant, Received, Token, SEND_BUFFER_LEN,
//! };
//! use static_cell::StaticCell;
//!
//! const TOKEN: &str = "your-bot-token";
//! static RX: StaticCell<[u8; 16 * 1024]> = StaticCell::new();
//! static TX: StaticCell<[u8; SEND_BUFFER_LEN]> = StaticCell::new();
//!
//! // `gateway` owns the RNG its TLS handshakes use; the websocket masks get their own.
//! async fn bot(mut gateway: Gateway, mut mask_rng: Rng) -> Result<(), Box<dyn core::error::Error>> {
//!     let config = Config::builder(Token::new(TOKEN)?)
//!         .events(EventSet::EMPTY.with(EventType::MessageCreate))
//!         .seed(mask_rng.next_u64())
//!         .build()?;
//!     let buffers = Buffers {
//!         rx: RX.init_with(|| [0; 16 * 1024]),
//!         tx: TX.init_with(|| [0; SEND_BUFFER_LEN]),
//!     };
//!     let entropy = move |bytes: &mut [u8]| mask_rng.fill_bytes(bytes);
//!     let mut client = Client::new(config, buffers, entropy)?;
//!     client
//!         .run(&mut gateway, &mut EmbassyTimer, |_, received| {
//!             if let Received::Dispatch(dispatch) = received {
//!                 // dispatch.data() is the JSON of `d`
//!                 let _ = dispatch.data();
//!             }
//!             ControlFlow::<()>::Continue(())
//!         })
//!         .await?;
//!     Ok(())
//! }
//! ```
//!
//! The blocking loop over TLS is wired the same way with embedded-tls's `blocking`
//! connection over a [`BlockingRecordGate`](tls::BlockingRecordGate), the socket's
//! [`TimeoutSocket`] methods forwarding to its [`Timeouts`](tls::Timeouts).
//!
//! # On the host
//!
//! The `std` feature ships the blocking loop's host wiring, `std_net`: std's `TcpStream` as a
//! [`TimeoutSocket`] whose read timeout stays a timeout, a `ws://` connector and std's clock.
//!
//! `examples/host.rs` runs the same client over tokio's `TcpStream` (as `embedded-io-async`) and
//! over std's (as blocking `embedded-io` with a read timeout) against the sim:
//! `cargo run -p discord-gateway-embedded --example host [-- --blocking]`. `replay` (feature `replay`) plays a
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
//! headers and masking from `discord-gateway-websocket` (the workspace's no_std websocket
//! crate, whose handshake takes its parsing, digest and encoding from `httparse`, `sha1_smol`
//! and `base64`), and the in-place reassembly of [`ws::Receiver`].
#![no_std]
#![forbid(unsafe_code)]

mod asynch;
mod blocking;
mod client;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod head;
#[cfg(feature = "replay")]
pub mod replay;
#[cfg(feature = "std")]
pub mod std_net;
pub mod tls;
mod trace;
mod url;
pub mod ws;

// The core's types a bot needs, so that this crate is the one dependency (and the core itself
// for the rest).
pub use discord_gateway;
pub use discord_gateway::command::{self, Command, Encode};
pub use discord_gateway::session::{
    CloseKind, Config, ConfigBuilder, ConfigError, DataError, DisconnectCause, DispatchRef, Event,
    HandleError, Next, ResumeState, SendError, Session, State, Stop,
};
pub use discord_gateway::token::InvalidToken;
pub use discord_gateway::{CloseCode, EventSet, EventType, Instant, Intents, ShardId, Token};
// The I/O traits a connector's socket implements (a TLS socket around a record gate).
pub use embedded_io;
pub use embedded_io_async;

pub use asynch::{Connector, Timer};
pub use blocking::{BlockingConnector, Clock, TimeoutSocket};
pub use client::{
    Buffers, BuildError, Client, CommandError, ConnectionError, Context, Entropy, Error, Received,
    Skipped, Step, IDENTIFY_INTERVAL, MIN_RECEIVE_BUFFER_LEN, SEND_BUFFER_LEN, UPGRADE_TIMEOUT,
    WRITE_TIMEOUT,
};
pub use url::{GatewayUrl, UrlError, MAX_CONNECT_URL_LEN};
