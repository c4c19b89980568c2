//! A no_std, allocation-free, sans-IO websocket client layer (RFC 6455), shared by the
//! discord-gateway driver (under tokio and smol) and its embedded client.
//!
//! - **The opening handshake** (§4.1): [`Request::write`] puts the upgrade request (host, path
//!   and query, [`Key`], `User-Agent`, extra headers) into a caller buffer, and
//!   [`check_response`] reads the server's response head from the front of whatever was read so
//!   far: `101`, `Upgrade: websocket`, `Connection: upgrade`, the `Sec-WebSocket-Accept` of the
//!   key, and no extension or subprotocol (none is offered). It says how long the head was, so
//!   frames that arrived behind it in the same read are kept. Every way it fails is one
//!   [`HandshakeError`].
//! - **Framing** (§5): [`Header::parse`] reads a server frame header and refuses what a server
//!   must not send ([`FrameError`]), [`write_client_header`] and [`apply_mask`] make a masked
//!   client frame, [`parse_close`] reads a close frame's code.
//!
//! Nothing here does I/O, reads a clock, draws randomness or allocates: the caller supplies the
//! key's 16 random bytes ([`Key::new`]), the mask keys and every buffer. The driver reads the
//! response with async I/O and hands the framing to async-tungstenite; the embedded client
//! reassembles messages over its caller-lent buffers with this crate's frame headers.
//!
//! ```
//! use discord_gateway_websocket::{check_response, Key, Request};
//!
//! let key = Key::new(*b"the sample nonce");
//! let mut out = [0; 256];
//! let len = Request::new("gateway.discord.gg", "/?v=10&encoding=json", &key).write(&mut out)?;
//! assert!(out[..len].starts_with(b"GET /?v=10&encoding=json HTTP/1.1\r\n"));
//!
//! let answer = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
//!     Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x02hi";
//! assert_eq!(check_response(&answer[..20], &key)?, None); // not all there yet
//! assert_eq!(check_response(answer, &key)?, Some(answer.len() - 4)); // a frame follows
//! # Ok::<(), discord_gateway_websocket::HandshakeError>(())
//! ```

#![no_std]
#![forbid(unsafe_code)]

mod frame;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
mod handshake;

pub use frame::{
    apply_mask, parse_close, write_client_header, FrameError, Header, Opcode, MAX_CONTROL_LEN,
    MAX_HEADER_LEN, PROTOCOL_ERROR,
};
pub use handshake::{
    check_response, check_response_with, HandshakeError, Key, Reason, Request, MAX_REASON_LEN,
    MAX_RESPONSE_HEADERS,
};
