//! The opening handshake (RFC 6455 §4.1): the upgrade request and the check of the answer.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::HandshakeError;
use crate::url::GatewayUrl;

/// The GUID every server appends to the key before hashing it (§1.3).
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// How many response headers are looked at; Discord's edge sends about a dozen.
const MAX_RESPONSE_HEADERS: usize = 32;

/// The `Sec-WebSocket-Key` of one attempt: 16 random bytes, base64-encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key([u8; 24]);

impl Key {
    /// Encodes 16 bytes of caller entropy.
    pub fn new(nonce: [u8; 16]) -> Self {
        let mut key = [0; 24];
        // 16 bytes always encode to 24: the slice is exactly large enough.
        let _ = STANDARD.encode_slice(nonce, &mut key);
        Self(key)
    }

    fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The `Sec-WebSocket-Accept` value a server must answer with.
    pub(crate) fn expected_accept(&self) -> [u8; 28] {
        let mut sha = sha1_smol::Sha1::new();
        sha.update(&self.0);
        sha.update(ACCEPT_GUID);
        let mut accept = [0; 28];
        let _ = STANDARD.encode_slice(sha.digest().bytes(), &mut accept);
        accept
    }
}

/// Writes the upgrade request for `url` into `out` and returns its length.
pub fn write_request(url: &GatewayUrl, key: &Key, out: &mut [u8]) -> Result<usize, HandshakeError> {
    let mut writer = SliceWriter { out, len: 0 };
    let path = url.path();
    let slash: &[u8] = if path.starts_with('/') { b"" } else { b"/" };
    let parts: [&[u8]; 8] = [
        b"GET ",
        slash,
        path.as_bytes(),
        b" HTTP/1.1\r\nHost: ",
        url.authority().as_bytes(),
        b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ",
        key.as_bytes(),
        b"\r\nSec-WebSocket-Version: 13\r\n\r\n",
    ];
    for part in parts {
        writer.push(part)?;
    }
    Ok(writer.len)
}

struct SliceWriter<'a> {
    out: &'a mut [u8],
    len: usize,
}

impl SliceWriter<'_> {
    fn push(&mut self, bytes: &[u8]) -> Result<(), HandshakeError> {
        let end = self.len + bytes.len();
        self.out
            .get_mut(self.len..end)
            .ok_or(HandshakeError::RequestTooLong)?
            .copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }
}

/// Checks the server's answer at the front of `bytes`: `Ok(None)` while it is incomplete,
/// otherwise how many bytes it took (websocket frames may follow in the same read).
pub fn check_response(bytes: &[u8], key: &Key) -> Result<Option<usize>, HandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(HandshakeError::MalformedResponse),
    };
    let status = response.code.unwrap_or(0);
    if status != 101 {
        return Err(HandshakeError::Status(status));
    }
    let (mut upgrade, mut connection, mut accepted) = (false, false, false);
    for header in response.headers.iter() {
        let value = trim(header.value);
        if header.name.eq_ignore_ascii_case("upgrade") {
            upgrade = value.eq_ignore_ascii_case(b"websocket");
        } else if header.name.eq_ignore_ascii_case("connection") {
            connection = value
                .split(|&byte| byte == b',')
                .any(|token| trim(token).eq_ignore_ascii_case(b"upgrade"));
        } else if header.name.eq_ignore_ascii_case("sec-websocket-accept") {
            accepted = value == key.expected_accept();
        } else if header.name.eq_ignore_ascii_case("sec-websocket-extensions")
            || header.name.eq_ignore_ascii_case("sec-websocket-protocol")
        {
            // We offered neither; a server that picks one anyway speaks something else (§4.1).
            return Err(HandshakeError::UnrequestedExtension);
        }
    }
    if !upgrade || !connection {
        return Err(HandshakeError::NotAnUpgrade);
    }
    if !accepted {
        return Err(HandshakeError::BadAccept);
    }
    Ok(Some(len))
}

fn trim(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example key and accept value of RFC 6455 §1.3.
    const RFC_NONCE: [u8; 16] = *b"the sample nonce";
    const RFC_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    fn response(accept: &str) -> std::string::String {
        std::format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        )
    }

    extern crate std;

    #[test]
    fn the_rfc_example_key_is_accepted() {
        let key = Key::new(RFC_NONCE);
        assert_eq!(key.as_bytes(), b"dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(&key.expected_accept(), RFC_ACCEPT.as_bytes());
        let text = response(RFC_ACCEPT);
        let mut bytes = std::vec::Vec::from(text.as_bytes());
        bytes.extend_from_slice(b"\x81\x02hi");
        assert_eq!(check_response(&bytes, &key), Ok(Some(text.len())));
    }

    #[test]
    fn a_partial_response_waits_and_a_wrong_one_is_refused() {
        let key = Key::new(RFC_NONCE);
        let text = response(RFC_ACCEPT);
        assert_eq!(check_response(&text.as_bytes()[..40], &key), Ok(None));
        let wrong = response("AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        assert_eq!(
            check_response(wrong.as_bytes(), &key),
            Err(HandshakeError::BadAccept)
        );
        let denied = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            check_response(denied, &key),
            Err(HandshakeError::Status(403))
        );
        let plain =
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n";
        assert_eq!(
            check_response(plain, &key),
            Err(HandshakeError::NotAnUpgrade)
        );
        assert_eq!(
            check_response(b"SSH-2.0-OpenSSH\r\n\r\n", &key),
            Err(HandshakeError::MalformedResponse)
        );
    }

    #[test]
    fn the_request_names_host_path_key_and_version() {
        let url = GatewayUrl::parse("wss://gateway.discord.gg/?v=10&encoding=json").unwrap();
        let key = Key::new(RFC_NONCE);
        let mut out = [0; 512];
        let len = write_request(&url, &key, &mut out).unwrap();
        let request = core::str::from_utf8(&out[..len]).unwrap();
        assert_eq!(
            request,
            "GET /?v=10&encoding=json HTTP/1.1\r\nHost: gateway.discord.gg\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        assert_eq!(
            write_request(&url, &key, &mut out[..100]),
            Err(HandshakeError::RequestTooLong)
        );
    }
}
