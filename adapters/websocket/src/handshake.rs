//! The opening handshake, as a client (RFC 6455 §4.1): the upgrade request written into a
//! caller buffer, and the check of the server's response head.

use core::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// The GUID every server appends to the key before hashing it (§1.3).
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// At most this many response headers are read by [`check_response`]; a response with more is
/// refused ([`HandshakeError::TooManyHeaders`]). Discord's edge sends about a dozen.
/// [`check_response_with`] takes another bound, where the stack is tight.
pub const MAX_RESPONSE_HEADERS: usize = 64;

/// The longest reason phrase kept in [`HandshakeError::Status`]; a longer one is cut there.
pub const MAX_REASON_LEN: usize = 40;

/// The `Sec-WebSocket-Key` of one attempt: 16 random bytes, base64-encoded.
///
/// Not a secret (the server echoes a hash of it), so it shows in `Debug`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Key([u8; 24]);

impl Key {
    /// Encodes 16 bytes of caller entropy (the key must be random for each connection, §4.1).
    pub fn new(nonce: [u8; 16]) -> Self {
        let mut key = [0; 24];
        // 16 bytes always encode to 24: the slice is exactly large enough.
        let _ = STANDARD.encode_slice(nonce, &mut key);
        Self(key)
    }

    /// A key already encoded (e.g. one another library generated): `None` unless it is the
    /// base64 of exactly 16 bytes, as §4.1 requires.
    pub fn from_encoded(encoded: &[u8]) -> Option<Self> {
        let key: [u8; 24] = encoded.try_into().ok()?;
        let mut nonce = [0; 18];
        match STANDARD.decode_slice(key, &mut nonce) {
            Ok(16) => Some(Self(key)),
            _ => None,
        }
    }

    /// The key as sent in `Sec-WebSocket-Key`.
    pub fn as_str(&self) -> &str {
        // Base64 is ASCII.
        core::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The `Sec-WebSocket-Accept` value a server must answer with: the base64 of the SHA-1 of
    /// the key and the protocol's GUID.
    pub fn expected_accept(&self) -> [u8; 28] {
        let mut sha = sha1_smol::Sha1::new();
        sha.update(&self.0);
        sha.update(ACCEPT_GUID);
        let mut accept = [0; 28];
        // 20 bytes always encode to 28.
        let _ = STANDARD.encode_slice(sha.digest().bytes(), &mut accept);
        accept
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Key").field(&self.as_str()).finish()
    }
}

/// A client's upgrade request: `GET <target> HTTP/1.1` with `Host`, `Upgrade: websocket`,
/// `Connection: Upgrade`, `Sec-WebSocket-Key`, `Sec-WebSocket-Version: 13`, then
/// `User-Agent` and any extra headers, in that order.
///
/// No extension and no subprotocol is offered, so [`check_response`] refuses a server that
/// picks one.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The `Host` header: the URL's host, and its port when the URL names one.
    pub host: &'a str,
    /// The path and query (`/?v=10&encoding=json`); a `/` is put in front when missing.
    pub target: &'a str,
    /// This attempt's key.
    pub key: &'a Key,
    /// The `User-Agent` header, if any.
    pub user_agent: Option<&'a str>,
    /// More headers, sent as they are (name, value). They must not repeat the ones above.
    pub headers: &'a [(&'a str, &'a [u8])],
}

impl<'a> Request<'a> {
    /// A request with no `User-Agent` and no extra header.
    pub fn new(host: &'a str, target: &'a str, key: &'a Key) -> Self {
        Self {
            host,
            target,
            key,
            user_agent: None,
            headers: &[],
        }
    }

    /// How many bytes [`Request::write`] needs.
    ///
    /// # Errors
    /// [`HandshakeError::InvalidRequest`] as for [`Request::write`].
    pub fn encoded_len(&self) -> Result<usize, HandshakeError> {
        match self.write(&mut []) {
            Ok(len) | Err(HandshakeError::RequestTooLong { needed: len }) => Ok(len),
            Err(error) => Err(error),
        }
    }

    /// Writes the request head into the front of `out` and returns its length.
    ///
    /// # Errors
    /// - [`HandshakeError::InvalidRequest`] when a part would break the request's syntax (a
    ///   line break in a header, a space in the target, an empty host): nothing a server could
    ///   misread is ever sent.
    /// - [`HandshakeError::RequestTooLong`] when `out` is too short; it says how long it must be.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, HandshakeError> {
        if self.host.is_empty() {
            return Err(HandshakeError::InvalidRequest("host"));
        }
        check_field("host", self.host.as_bytes(), is_host_byte)?;
        check_field("target", self.target.as_bytes(), is_target_byte)?;
        if let Some(agent) = self.user_agent {
            check_field("user agent", agent.as_bytes(), is_value_byte)?;
        }
        for (name, value) in self.headers {
            if name.is_empty() {
                return Err(HandshakeError::InvalidRequest("header name"));
            }
            check_field("header name", name.as_bytes(), is_token_byte)?;
            check_field("header value", value, is_value_byte)?;
        }

        let mut writer = Writer { out, len: 0 };
        writer.push(b"GET ");
        if !self.target.starts_with('/') {
            writer.push(b"/");
        }
        writer.push(self.target.as_bytes());
        writer.push(b" HTTP/1.1\r\nHost: ");
        writer.push(self.host.as_bytes());
        writer.push(b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ");
        writer.push(&self.key.0);
        writer.push(b"\r\nSec-WebSocket-Version: 13\r\n");
        if let Some(agent) = self.user_agent {
            writer.push(b"User-Agent: ");
            writer.push(agent.as_bytes());
            writer.push(b"\r\n");
        }
        for (name, value) in self.headers {
            writer.push(name.as_bytes());
            writer.push(b": ");
            writer.push(value);
            writer.push(b"\r\n");
        }
        writer.push(b"\r\n");
        if writer.len > writer.out.len() {
            return Err(HandshakeError::RequestTooLong { needed: writer.len });
        }
        Ok(writer.len)
    }
}

/// Copies what fits and counts everything, so that a short buffer learns the length it needs.
struct Writer<'a> {
    out: &'a mut [u8],
    len: usize,
}

impl Writer<'_> {
    fn push(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if let Some(room) = self.out.get_mut(self.len..end) {
            room.copy_from_slice(bytes);
        }
        self.len = end;
    }
}

/// `bytes` holds only bytes `allowed` accepts.
fn check_field(
    what: &'static str,
    bytes: &[u8],
    allowed: fn(u8) -> bool,
) -> Result<(), HandshakeError> {
    if bytes.iter().all(|&byte| allowed(byte)) {
        Ok(())
    } else {
        Err(HandshakeError::InvalidRequest(what))
    }
}

/// A header value: visible ASCII, spaces, tabs and non-ASCII bytes (RFC 9110 §5.5), never a
/// line break or another control byte.
fn is_value_byte(byte: u8) -> bool {
    byte == b'\t' || (byte >= b' ' && byte != 0x7F)
}

/// A request target: visible ASCII only (RFC 9112 §3.2), so no space ends it early.
fn is_target_byte(byte: u8) -> bool {
    byte.is_ascii_graphic()
}

/// A host and optional port (`[::1]:8080` included): visible ASCII that ends no header.
fn is_host_byte(byte: u8) -> bool {
    byte.is_ascii_graphic() && byte != b'/' && byte != b'?' && byte != b'#'
}

/// A header name is a token (RFC 9110 §5.6.2).
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// Checks the server's answer at the front of `bytes`: `Ok(None)` while its head is
/// incomplete, otherwise how many bytes the head took (websocket frames may follow it in the
/// same read).
///
/// A caller whose buffer is full and still gets `Ok(None)` has a response head too large for
/// it: that is [`HandshakeError::TooLarge`].
///
/// # Errors
/// A [`HandshakeError`] saying what is wrong with the response.
pub fn check_response(bytes: &[u8], key: &Key) -> Result<Option<usize>, HandshakeError> {
    check_response_with::<MAX_RESPONSE_HEADERS>(bytes, key)
}

/// [`check_response`] reading at most `HEADERS` response headers, for a caller whose stack is
/// tight (each costs two slices of stack while the head is checked).
///
/// # Errors
/// A [`HandshakeError`] saying what is wrong with the response;
/// [`HandshakeError::TooManyHeaders`] over `HEADERS` headers.
pub fn check_response_with<const HEADERS: usize>(
    bytes: &[u8],
    key: &Key,
) -> Result<Option<usize>, HandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HandshakeError::TooManyHeaders { limit: HEADERS })
        }
        Err(_) => return Err(HandshakeError::NotHttp),
    };
    let code = response.code.unwrap_or(0);
    if code != 101 {
        return Err(HandshakeError::Status {
            code,
            reason: Reason::new(response.reason.unwrap_or("")),
        });
    }
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|header| header.name.eq_ignore_ascii_case(name))
            .map(|header| header.value.trim_ascii())
    };
    let upgrade = header("Upgrade").is_some_and(|value| value.eq_ignore_ascii_case(b"websocket"));
    // `Connection` is a list of tokens (`keep-alive, Upgrade` is as good as `Upgrade`).
    let connection = header("Connection").is_some_and(|value| {
        value
            .split(|&byte| byte == b',')
            .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"upgrade"))
    });
    if !upgrade || !connection {
        return Err(HandshakeError::NotUpgraded);
    }
    if header("Sec-WebSocket-Accept") != Some(&key.expected_accept()[..]) {
        return Err(HandshakeError::BadAccept);
    }
    // No extension and no subprotocol is ever offered, so any chosen is one not offered.
    for name in ["Sec-WebSocket-Extensions", "Sec-WebSocket-Protocol"] {
        if header(name).is_some() {
            return Err(HandshakeError::Unrequested(name));
        }
    }
    Ok(Some(len))
}

/// The reason phrase of a refused upgrade, kept without an allocation: its first
/// [`MAX_REASON_LEN`] bytes, cut at a character boundary.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Reason {
    bytes: [u8; MAX_REASON_LEN],
    len: u8,
}

impl Reason {
    /// Keeps the start of `reason`.
    pub fn new(reason: &str) -> Self {
        let mut len = reason.len().min(MAX_REASON_LEN);
        while !reason.is_char_boundary(len) {
            len -= 1;
        }
        let mut bytes = [0; MAX_REASON_LEN];
        bytes[..len].copy_from_slice(&reason.as_bytes()[..len]);
        Self {
            bytes,
            // At most MAX_REASON_LEN.
            len: len as u8,
        }
    }

    /// The phrase as kept.
    pub fn as_str(&self) -> &str {
        // Cut at a character boundary of a `str`.
        core::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Debug for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for Reason {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Reason {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Why the upgrade request could not be written, or why the server's answer did not open a
/// websocket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// A part of the request is missing or would break its syntax: which one (`"host"`,
    /// `"target"`, `"user agent"`, `"header name"`, `"header value"`, or `"key"` when a caller
    /// holding an encoded key finds it is not one, see [`Key::from_encoded`]).
    InvalidRequest(&'static str),
    /// The request does not fit the buffer it is written into.
    RequestTooLong {
        /// How many bytes it needs.
        needed: usize,
    },
    /// The server closed the connection before the end of its response head.
    Closed,
    /// The response is not HTTP/1.x.
    NotHttp,
    /// The response has more headers than are read ([`MAX_RESPONSE_HEADERS`] unless the
    /// caller chose another bound).
    TooManyHeaders {
        /// That bound.
        limit: usize,
    },
    /// The response head is longer than the buffer or bound it is read into.
    TooLarge {
        /// That bound, in bytes.
        limit: usize,
    },
    /// The server answered with a status other than `101 Switching Protocols`: `429` and `5xx`
    /// are worth retrying later, a `4xx` usually means the URL is wrong.
    Status {
        /// The HTTP status code.
        code: u16,
        /// The reason phrase, as sent (its start).
        reason: Reason,
    },
    /// A `101` without `Upgrade: websocket` or without `upgrade` in `Connection`.
    NotUpgraded,
    /// `Sec-WebSocket-Accept` missing, or not the hash of the key sent.
    BadAccept,
    /// The server chose an extension or a subprotocol (the header named), and none was offered.
    Unrequested(&'static str),
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidRequest(part) => write!(
                f,
                "the websocket upgrade request's {part} is empty or holds a byte that would break the request"
            ),
            Self::RequestTooLong { needed } => write!(
                f,
                "the websocket upgrade request needs {needed} bytes, more than its buffer holds"
            ),
            Self::Closed => {
                f.write_str("the server closed the connection during the websocket handshake")
            }
            Self::NotHttp => f.write_str("the server's handshake response is not HTTP/1.1"),
            Self::TooManyHeaders { limit } => write!(
                f,
                "the server's handshake response has over {limit} headers"
            ),
            Self::TooLarge { limit } => write!(
                f,
                "the server's handshake response head is over {limit} bytes"
            ),
            Self::Status { code, reason } => write!(
                f,
                "the server answered the websocket upgrade with HTTP {code} {reason}"
            ),
            Self::NotUpgraded => f.write_str(
                "the server's 101 response lacks `Upgrade: websocket` or `Connection: upgrade`",
            ),
            Self::BadAccept => f.write_str(
                "the server's Sec-WebSocket-Accept does not match the key sent (not a websocket server, or a proxy in the way)",
            ),
            Self::Unrequested(header) => {
                write!(f, "the server set {header}, which the client did not offer")
            }
        }
    }
}

impl core::error::Error for HandshakeError {}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::format;
    use std::string::{String, ToString};

    use super::*;

    /// The example of RFC 6455 §1.3: the nonce, its key and the accept value.
    const RFC_NONCE: [u8; 16] = *b"the sample nonce";
    const RFC_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const RFC_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    fn key() -> Key {
        Key::new(RFC_NONCE)
    }

    fn response(extra: &str) -> String {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {RFC_ACCEPT}\r\n{extra}\r\n"
        )
    }

    #[test]
    fn the_rfc_sample_key_gives_the_rfc_accept_value() {
        let key = key();
        assert_eq!(key.as_str(), RFC_KEY);
        assert_eq!(&key.expected_accept(), RFC_ACCEPT.as_bytes());
        assert_eq!(Key::from_encoded(RFC_KEY.as_bytes()), Some(key));
        assert_eq!(format!("{key:?}"), format!("Key({RFC_KEY:?})"));
    }

    #[test]
    fn only_the_base64_of_sixteen_bytes_is_a_key() {
        for bad in [
            &b""[..],
            b"dGhlIHNhbXBsZSBub25jZQ=",
            b"dGhlIHNhbXBsZSBub25jZQ===",
            b"dGhlIHNhbXBsZSBub25jZ!==",
            b"dGhlIHNhbXBsZSBub25jZQAA",
        ] {
            assert_eq!(Key::from_encoded(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_complete_101_is_accepted_and_its_head_measured() {
        let head = response("Server: cloudflare\r\n");
        let mut bytes = head.clone().into_bytes();
        bytes.extend_from_slice(&[0x81, 0x02, b'h', b'i']);
        assert_eq!(check_response(&bytes, &key()), Ok(Some(head.len())));
        // Header names and the `upgrade` token are case-insensitive; `Connection` is a list.
        let relaxed = format!(
            "HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\nsec-websocket-accept:  {RFC_ACCEPT} \r\n\r\n"
        );
        assert_eq!(
            check_response(relaxed.as_bytes(), &key()),
            Ok(Some(relaxed.len()))
        );
    }

    #[test]
    fn a_response_split_at_every_byte_is_partial_until_its_last() {
        let head = response("Server: cloudflare\r\nDate: Sat, 05 Dec 2026 18:00:00 GMT\r\n");
        let mut wire = head.clone().into_bytes();
        wire.extend_from_slice(&[0x81, 0x02, b'h', b'i']);
        for end in 0..head.len() {
            assert_eq!(check_response(&wire[..end], &key()), Ok(None), "{end}");
        }
        for end in head.len()..=wire.len() {
            assert_eq!(
                check_response(&wire[..end], &key()),
                Ok(Some(head.len())),
                "{end}"
            );
        }
    }

    #[test]
    fn each_broken_answer_has_its_own_error() {
        let key = key();
        let status = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 5\r\n\r\n";
        assert!(matches!(
            check_response(status.as_bytes(), &key),
            Err(HandshakeError::Status { code: 429, reason }) if reason == "Too Many Requests"
        ));
        let no_upgrade = format!(
            "HTTP/1.1 101 OK\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {RFC_ACCEPT}\r\n\r\n"
        );
        assert_eq!(
            check_response(no_upgrade.as_bytes(), &key),
            Err(HandshakeError::NotUpgraded)
        );
        let h2c = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n";
        assert_eq!(
            check_response(h2c.as_bytes(), &key),
            Err(HandshakeError::NotUpgraded)
        );
        let no_connection = format!(
            "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Accept: {RFC_ACCEPT}\r\n\r\n"
        );
        assert_eq!(
            check_response(no_connection.as_bytes(), &key),
            Err(HandshakeError::NotUpgraded)
        );
        let wrong_key = response("").replace(RFC_ACCEPT, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        assert_eq!(
            check_response(wrong_key.as_bytes(), &key),
            Err(HandshakeError::BadAccept)
        );
        let missing_key = "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
        assert_eq!(
            check_response(missing_key.as_bytes(), &key),
            Err(HandshakeError::BadAccept)
        );
        for (extra, name) in [
            (
                "Sec-WebSocket-Extensions: permessage-deflate\r\n",
                "Sec-WebSocket-Extensions",
            ),
            ("Sec-WebSocket-Protocol: chat\r\n", "Sec-WebSocket-Protocol"),
        ] {
            assert_eq!(
                check_response(response(extra).as_bytes(), &key),
                Err(HandshakeError::Unrequested(name))
            );
        }
        assert_eq!(
            check_response(b"SSH-2.0-OpenSSH_9.6\r\n\r\n", &key),
            Err(HandshakeError::NotHttp)
        );
        let crowded = response(&"X-A: b\r\n".repeat(MAX_RESPONSE_HEADERS));
        assert_eq!(
            check_response(crowded.as_bytes(), &key),
            Err(HandshakeError::TooManyHeaders {
                limit: MAX_RESPONSE_HEADERS
            })
        );
        // A smaller bound, as the embedded client's, counts the same way.
        // Upgrade, Connection and Sec-WebSocket-Accept, then the padding.
        let eight = response(&"X-A: b\r\n".repeat(5));
        assert_eq!(
            check_response_with::<8>(eight.as_bytes(), &key),
            Ok(Some(eight.len()))
        );
        let nine = response(&"X-A: b\r\n".repeat(6));
        assert_eq!(
            check_response_with::<8>(nine.as_bytes(), &key),
            Err(HandshakeError::TooManyHeaders { limit: 8 })
        );
    }

    #[test]
    fn a_long_or_multibyte_reason_is_cut_at_a_character() {
        let long = "é".repeat(MAX_REASON_LEN);
        let reason = Reason::new(&long);
        assert_eq!(reason.as_str(), &long[..MAX_REASON_LEN]);
        let odd = format!("x{long}");
        assert_eq!(Reason::new(&odd).as_str(), &odd[..MAX_REASON_LEN - 1]);
        let error = HandshakeError::Status {
            code: 503,
            reason: Reason::new("Service Unavailable"),
        };
        assert_eq!(
            error.to_string(),
            "the server answered the websocket upgrade with HTTP 503 Service Unavailable"
        );
    }

    #[test]
    fn the_request_names_host_target_key_version_agent_and_extras() {
        let key = key();
        let request = Request {
            host: "gateway.discord.gg:8443",
            target: "/?v=10&encoding=json",
            key: &key,
            user_agent: Some("DiscordBot (x, 1)"),
            headers: &[("X-Trace", b"abc")],
        };
        let mut out = [0; 512];
        let len = request.write(&mut out).unwrap();
        assert_eq!(request.encoded_len(), Ok(len));
        assert_eq!(
            core::str::from_utf8(&out[..len]).unwrap(),
            "GET /?v=10&encoding=json HTTP/1.1\r\nHost: gateway.discord.gg:8443\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nUser-Agent: DiscordBot (x, 1)\r\nX-Trace: abc\r\n\r\n"
        );
        // Every shorter buffer is refused with the length it needs, and nothing else.
        for short in 0..len {
            assert_eq!(
                request.write(&mut out[..short]),
                Err(HandshakeError::RequestTooLong { needed: len })
            );
        }
        let bare = Request::new("example.com", "", &key);
        let len = bare.write(&mut out).unwrap();
        assert!(out[..len].starts_with(b"GET / HTTP/1.1\r\nHost: example.com\r\n"));
        let query = Request::new("example.com", "?v=10", &key);
        let len = query.write(&mut out).unwrap();
        assert!(out[..len].starts_with(b"GET /?v=10 HTTP/1.1\r\n"));
    }

    #[test]
    fn a_part_that_would_break_the_request_is_refused() {
        let key = key();
        let mut out = [0; 512];
        let base = Request::new("example.com", "/", &key);
        let cases: [(Request<'_>, &str); 6] = [
            (
                Request {
                    host: "evil\r\nX: y",
                    ..base
                },
                "host",
            ),
            (Request { host: "", ..base }, "host"),
            (
                Request {
                    target: "/ HTTP/1.0\r\n",
                    ..base
                },
                "target",
            ),
            (
                Request {
                    user_agent: Some("bot\nX: y"),
                    ..base
                },
                "user agent",
            ),
            (
                Request {
                    headers: &[("Bad Name", b"v")],
                    ..base
                },
                "header name",
            ),
            (
                Request {
                    headers: &[("X-Ok", b"v\r\nX-Injected: 1")],
                    ..base
                },
                "header value",
            ),
        ];
        for (request, part) in cases {
            assert_eq!(
                request.write(&mut out),
                Err(HandshakeError::InvalidRequest(part))
            );
            assert_eq!(
                request.encoded_len(),
                Err(HandshakeError::InvalidRequest(part))
            );
        }
    }

    #[test]
    fn a_request_and_its_answer_round_trip_through_httparse() {
        // What the request says parses as a request, with the key a server would hash.
        let key = Key::new(*b"0123456789abcdef");
        let mut out = [0; 256];
        let len = Request::new("h:1", "/p?q", &key).write(&mut out).unwrap();
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let mut parsed = httparse::Request::new(&mut headers);
        assert_eq!(
            parsed.parse(&out[..len]),
            Ok(httparse::Status::Complete(len))
        );
        assert_eq!(parsed.path, Some("/p?q"));
        let sent = parsed
            .headers
            .iter()
            .find(|header| header.name == "Sec-WebSocket-Key")
            .unwrap()
            .value;
        assert_eq!(Key::from_encoded(sent), Some(key));
    }
}
