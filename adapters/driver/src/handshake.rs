//! The websocket opening handshake, as a client (RFC 6455, section 4.1).
//!
//! tungstenite can do this itself, but what it leaves behind costs every idle shard: it reads the
//! response through a 4 KiB buffer and hands that same allocation to the frame codec as its read
//! buffer, whatever `read_buffer_size` says. Doing the handshake here reads the response into
//! one buffer of [`WEBSOCKET_READ_BUFFER`] bytes that then *becomes* the codec's read buffer, with
//! whatever frames arrived behind the response still in it: one allocation per connection where
//! there were several, none of them thrown away between the long-lived ones (which is what
//! fragments the heap of a process holding a thousand shards).
//!
//! Everything after the handshake, the framing, masking, pings and closes, stays tungstenite's.

use std::fmt;
use std::io;

use async_tungstenite::tungstenite::handshake::client::Request;
use async_tungstenite::tungstenite::handshake::derive_accept_key;
use async_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use async_tungstenite::WebSocketStream;
use futures_io::{AsyncRead, AsyncWrite};
use futures_util::io::{AsyncReadExt, AsyncWriteExt};

use crate::read_ahead::WEBSOCKET_READ_BUFFER;
use crate::transport::TransportError;

/// The longest response head accepted. Discord's (through its CDN) is well under 1 KiB; a server
/// that sends more than this before its blank line is not a websocket server.
pub const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// At most this many response headers are read.
const MAX_HEADERS: usize = 64;

/// Why the server's answer to the upgrade request did not open a websocket.
#[derive(Debug)]
#[non_exhaustive]
pub enum HandshakeError {
    /// Reading or writing the socket failed.
    Io(io::Error),
    /// The server closed the connection before the end of its response head.
    Closed,
    /// The response was not HTTP: `httparse` refused it.
    Malformed(httparse::Error),
    /// The response head was over [`MAX_RESPONSE_HEAD`] bytes.
    TooLarge,
    /// The server answered with a status other than `101 Switching Protocols`: `429` and `5xx`
    /// are worth retrying later, a `4xx` usually means the URL is wrong.
    Status {
        /// The HTTP status code.
        code: u16,
        /// The reason phrase, as sent.
        reason: String,
    },
    /// A `101` without `Upgrade: websocket` or without `upgrade` in `Connection`.
    NotUpgraded,
    /// `Sec-WebSocket-Accept` missing, or not the hash of the key sent.
    BadAccept,
    /// The server chose an extension or subprotocol, and none was asked for.
    Unrequested(&'static str),
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(_) => f.write_str("the websocket handshake failed on the socket"),
            Self::Closed => f.write_str("the server closed the connection during the websocket handshake"),
            Self::Malformed(why) => write!(f, "the server's handshake response is not HTTP: {why}"),
            Self::TooLarge => write!(
                f,
                "the server's handshake response head is over {MAX_RESPONSE_HEAD} bytes"
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
                write!(f, "the server set {header}, which the client did not ask for")
            }
        }
    }
}

impl std::error::Error for HandshakeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(error) => Some(error),
            Self::Malformed(error) => Some(error),
            _ => None,
        }
    }
}

impl From<HandshakeError> for TransportError {
    fn from(error: HandshakeError) -> Self {
        TransportError::Other(Box::new(error))
    }
}

/// Sends `request` over `stream`, checks the server's answer and returns the open websocket,
/// with any bytes the server sent after its response head kept for the first reads.
///
/// `request` is tungstenite's client request (from `IntoClientRequest`): its URI and headers,
/// `Sec-WebSocket-Key` among them, are sent as they are.
///
/// # Errors
/// A [`HandshakeError`] (inside [`TransportError::Other`]) for every way the exchange can fail.
pub async fn upgrade<S>(
    mut stream: S,
    request: &Request,
    config: WebSocketConfig,
) -> Result<WebSocketStream<S>, HandshakeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let key = request
        .headers()
        .get("Sec-WebSocket-Key")
        .map(|key| derive_accept_key(key.as_bytes()))
        .ok_or(HandshakeError::BadAccept)?;
    stream
        .write_all(&request_head(request))
        .await
        .map_err(HandshakeError::Io)?;
    stream.flush().await.map_err(HandshakeError::Io)?;

    let mut buf = Vec::with_capacity(WEBSOCKET_READ_BUFFER);
    let head = loop {
        if buf.len() == buf.capacity() {
            if buf.len() >= MAX_RESPONSE_HEAD {
                return Err(HandshakeError::TooLarge);
            }
            buf.reserve(buf.len());
        }
        let filled = buf.len();
        buf.resize(buf.capacity().min(MAX_RESPONSE_HEAD), 0);
        let read = stream.read(&mut buf[filled..]).await;
        buf.truncate(filled + read.as_ref().copied().unwrap_or(0));
        match read {
            Ok(0) => return Err(HandshakeError::Closed),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(HandshakeError::Io(e)),
        }
        if let Some(head) = check_response(&buf, &key)? {
            break head;
        }
    };
    // What follows the head is the first websocket bytes; the same allocation becomes
    // tungstenite's read buffer.
    buf.drain(..head);
    Ok(WebSocketStream::from_partially_read(stream, buf, Role::Client, Some(config)).await)
}

/// The request line and headers of `request`, as bytes on the wire.
fn request_head(request: &Request) -> Vec<u8> {
    let uri = request.uri();
    let target = uri.path_and_query().map_or("/", |target| target.as_str());
    let mut head = Vec::with_capacity(256);
    head.extend_from_slice(b"GET ");
    head.extend_from_slice(target.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in request.headers() {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// The length of the response head in `buf` once it is complete and accepts the upgrade;
/// `None` while it is still arriving.
fn check_response(buf: &[u8], accept: &str) -> Result<Option<usize>, HandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let length = match response.parse(buf).map_err(HandshakeError::Malformed)? {
        httparse::Status::Partial => return Ok(None),
        httparse::Status::Complete(length) => length,
    };
    let code = response.code.unwrap_or(0);
    if code != 101 {
        return Err(HandshakeError::Status {
            code,
            reason: response.reason.unwrap_or("").to_owned(),
        });
    }
    let header = |name: &str| {
        response
            .headers
            .iter()
            .find(|header| header.name.eq_ignore_ascii_case(name))
            .map(|header| header.value)
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
    if header("Sec-WebSocket-Accept").map(<[u8]>::trim_ascii) != Some(accept.as_bytes()) {
        return Err(HandshakeError::BadAccept);
    }
    // No extension and no subprotocol is ever asked for, so any chosen is one not asked for.
    for name in ["Sec-WebSocket-Extensions", "Sec-WebSocket-Protocol"] {
        if header(name).is_some() {
            return Err(HandshakeError::Unrequested(name));
        }
    }
    Ok(Some(length))
}

#[cfg(test)]
mod tests {
    use super::{check_response, request_head, upgrade, HandshakeError, MAX_RESPONSE_HEAD};
    use crate::read_ahead::WEBSOCKET_READ_BUFFER;
    use async_tungstenite::tungstenite::client::IntoClientRequest;
    use async_tungstenite::tungstenite::handshake::derive_accept_key;
    use async_tungstenite::tungstenite::protocol::WebSocketConfig;
    use async_tungstenite::tungstenite::Message;
    use futures_util::io::Cursor;
    use futures_util::{FutureExt, StreamExt};

    /// The in-memory socket below is always ready, so every future here finishes at once.
    fn now<F: std::future::Future>(future: F) -> F::Output {
        future
            .now_or_never()
            .expect("an in-memory socket never waits")
    }

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    /// RFC 6455's own example: the accept value for [`KEY`].
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    fn response(extra: &str) -> String {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n{extra}\r\n"
        )
    }

    #[test]
    fn the_accept_value_is_rfc_6455s() {
        assert_eq!(derive_accept_key(KEY.as_bytes()), ACCEPT);
    }

    #[test]
    fn a_complete_101_is_accepted_and_its_head_measured() {
        let head = response("");
        let mut bytes = head.clone().into_bytes();
        bytes.extend_from_slice(&[0x81, 0x02, b'h', b'i']);
        assert_eq!(check_response(&bytes, ACCEPT).unwrap(), Some(head.len()));
        // Header names and the `upgrade` token are case-insensitive; `Connection` is a list.
        let relaxed = format!(
            "HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\nsec-websocket-accept: {ACCEPT}\r\n\r\n"
        );
        assert!(check_response(relaxed.as_bytes(), ACCEPT)
            .unwrap()
            .is_some());
    }

    #[test]
    fn every_prefix_of_a_response_is_partial() {
        let head = response("Server: cloudflare\r\n");
        for end in 0..head.len() {
            assert_eq!(
                check_response(&head.as_bytes()[..end], ACCEPT).unwrap(),
                None,
                "{end}"
            );
        }
    }

    #[test]
    fn each_broken_answer_has_its_own_error() {
        let status = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 5\r\n\r\n";
        assert!(matches!(
            check_response(status.as_bytes(), ACCEPT),
            Err(HandshakeError::Status { code: 429, ref reason }) if reason == "Too Many Requests"
        ));
        let no_upgrade = format!(
            "HTTP/1.1 101 OK\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
        );
        assert!(matches!(
            check_response(no_upgrade.as_bytes(), ACCEPT),
            Err(HandshakeError::NotUpgraded)
        ));
        let no_connection = format!("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n");
        assert!(matches!(
            check_response(no_connection.as_bytes(), ACCEPT),
            Err(HandshakeError::NotUpgraded)
        ));
        let wrong_key = response("").replace(ACCEPT, "x3JJHMbDL1EzLkh9GBhXDw==");
        assert!(matches!(
            check_response(wrong_key.as_bytes(), ACCEPT),
            Err(HandshakeError::BadAccept)
        ));
        let missing_key = "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
        assert!(matches!(
            check_response(missing_key.as_bytes(), ACCEPT),
            Err(HandshakeError::BadAccept)
        ));
        for (extra, name) in [
            (
                "Sec-WebSocket-Extensions: permessage-deflate\r\n",
                "Sec-WebSocket-Extensions",
            ),
            ("Sec-WebSocket-Protocol: chat\r\n", "Sec-WebSocket-Protocol"),
        ] {
            assert!(matches!(
                check_response(response(extra).as_bytes(), ACCEPT),
                Err(HandshakeError::Unrequested(got)) if got == name
            ));
        }
        assert!(matches!(
            check_response(b"SSH-2.0-OpenSSH_9.6\r\n\r\n", ACCEPT),
            Err(HandshakeError::Malformed(_))
        ));
    }

    #[test]
    fn the_request_carries_every_header_of_the_request() {
        let mut request = "wss://gateway.discord.gg:8443/?v=10&encoding=json"
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("User-Agent", "DiscordBot (x, 1)".parse().unwrap());
        let head = String::from_utf8(request_head(&request)).unwrap();
        assert!(
            head.starts_with("GET /?v=10&encoding=json HTTP/1.1\r\n"),
            "{head}"
        );
        assert!(head.ends_with("\r\n\r\n"));
        let lines: Vec<&str> = head.trim_end().lines().collect();
        for wanted in [
            "host: gateway.discord.gg:8443",
            "connection: Upgrade",
            "upgrade: websocket",
            "sec-websocket-version: 13",
            "user-agent: DiscordBot (x, 1)",
        ] {
            assert!(lines.contains(&wanted), "{wanted} in {head}");
        }
        let key = request.headers()["Sec-WebSocket-Key"].to_str().unwrap();
        assert!(lines.contains(&format!("sec-websocket-key: {key}").as_str()));
    }

    /// An in-memory socket: reads come from `input`, writes are kept.
    struct Scripted {
        input: Cursor<Vec<u8>>,
        written: Vec<u8>,
    }

    impl futures_io::AsyncRead for Scripted {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &mut [u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            std::pin::Pin::new(&mut self.input).poll_read(cx, buf)
        }
    }

    impl futures_io::AsyncWrite for Scripted {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            self.written.extend_from_slice(buf);
            std::task::Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_close(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    fn request_with_key() -> async_tungstenite::tungstenite::handshake::client::Request {
        let mut request = "ws://127.0.0.1:1/".into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Key", KEY.parse().unwrap());
        request
    }

    #[test]
    fn frames_sent_right_behind_the_response_are_not_lost() {
        // A long head (so the response spans several reads) and two frames behind it.
        let padding = format!("X-Padding: {}\r\n", "p".repeat(3 * WEBSOCKET_READ_BUFFER));
        let mut input = response(&padding).into_bytes();
        input.extend_from_slice(&[0x81, 0x05]);
        input.extend_from_slice(b"hello");
        input.extend_from_slice(&[0x81, 0x02]);
        input.extend_from_slice(b"hi");
        let socket = Scripted {
            input: Cursor::new(input),
            written: Vec::new(),
        };
        let mut websocket = now(upgrade(
            socket,
            &request_with_key(),
            WebSocketConfig::default(),
        ))
        .expect("the handshake completes");
        let first = now(websocket.next()).unwrap().unwrap();
        let second = now(websocket.next()).unwrap().unwrap();
        assert_eq!(first, Message::text("hello"));
        assert_eq!(second, Message::text("hi"));
        let written = String::from_utf8(websocket.get_ref().written.clone()).unwrap();
        assert!(written.starts_with("GET / HTTP/1.1\r\n"), "{written}");
        assert!(written.contains(&format!("sec-websocket-key: {KEY}\r\n")));
    }

    #[test]
    fn a_server_that_hangs_up_or_never_ends_its_head_is_refused() {
        let hung_up = Scripted {
            input: Cursor::new(b"HTTP/1.1 101 Switching".to_vec()),
            written: Vec::new(),
        };
        let result = now(upgrade(
            hung_up,
            &request_with_key(),
            WebSocketConfig::default(),
        ));
        assert!(matches!(result, Err(HandshakeError::Closed)));

        let endless = format!(
            "HTTP/1.1 101 Switching Protocols\r\nX-Padding: {}",
            "p".repeat(2 * MAX_RESPONSE_HEAD)
        );
        let endless = Scripted {
            input: Cursor::new(endless.into_bytes()),
            written: Vec::new(),
        };
        let result = now(upgrade(
            endless,
            &request_with_key(),
            WebSocketConfig::default(),
        ));
        assert!(matches!(result, Err(HandshakeError::TooLarge)));
    }
}
