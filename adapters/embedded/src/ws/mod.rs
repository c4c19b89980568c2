//! The websocket client layer (RFC 6455), sans-IO: the upgrade request and its check, frame
//! headers and masking (all `discord-gateway-websocket`'s, which the driver shares, re-exported
//! here), and what is this client's own, the reassembly of the server's messages in a caller
//! buffer ([`Receiver`]).

mod receiver;

/// The server broke the framing rules (RFC 6455 §5); the connection is closed with 1002.
pub use discord_gateway_websocket::FrameError as WsError;
pub use discord_gateway_websocket::{
    apply_mask, write_client_header, HandshakeError, Header, Key, Opcode, MAX_CONTROL_LEN,
    MAX_HEADER_LEN, PROTOCOL_ERROR,
};
pub use receiver::{Incoming, Receiver};

use crate::url::GatewayUrl;

/// How many response headers the upgrade's check reads: Discord's edge sends about a dozen,
/// and each costs 16 bytes of stack on a 32-bit target while the head is checked.
pub const MAX_RESPONSE_HEADERS: usize = 32;

/// Checks the server's answer to the upgrade at the front of `bytes`: `Ok(None)` while it is
/// incomplete, otherwise how many bytes it took (frames may follow it in the same read).
///
/// # Errors
/// A [`HandshakeError`] saying what is wrong with the response, among them
/// [`HandshakeError::TooManyHeaders`] over [`MAX_RESPONSE_HEADERS`] headers.
pub fn check_response(bytes: &[u8], key: &Key) -> Result<Option<usize>, HandshakeError> {
    discord_gateway_websocket::check_response_with::<MAX_RESPONSE_HEADERS>(bytes, key)
}

/// Writes the upgrade request for `url` into `out` and returns its length.
///
/// # Errors
/// [`HandshakeError::RequestTooLong`] when `out` is too short,
/// [`HandshakeError::InvalidRequest`] for a URL part that would break the request.
pub fn write_request(url: &GatewayUrl, key: &Key, out: &mut [u8]) -> Result<usize, HandshakeError> {
    discord_gateway_websocket::Request::new(url.authority(), url.path(), key).write(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_names_host_path_key_and_version() {
        let url = GatewayUrl::parse("wss://gateway.discord.gg/?v=10&encoding=json").unwrap();
        let key = Key::new(*b"the sample nonce");
        let mut out = [0; 512];
        let len = write_request(&url, &key, &mut out).unwrap();
        let request = core::str::from_utf8(&out[..len]).unwrap();
        assert_eq!(
            request,
            "GET /?v=10&encoding=json HTTP/1.1\r\nHost: gateway.discord.gg\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        assert_eq!(
            write_request(&url, &key, &mut out[..100]),
            Err(HandshakeError::RequestTooLong { needed: len })
        );
    }
}
