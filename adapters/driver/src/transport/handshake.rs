//! The websocket opening handshake, as a client (RFC 6455, section 4.1), over async I/O.
//!
//! tungstenite can do this itself, but what it leaves behind costs every idle shard: it reads the
//! response through a 4 KiB buffer and hands that same allocation to the frame codec as its read
//! buffer, whatever `read_buffer_size` says. Doing the handshake here reads the response into
//! one buffer of [`WEBSOCKET_READ_BUFFER`] bytes that then *becomes* the codec's read buffer, with
//! whatever frames arrived behind the response still in it: one allocation per connection where
//! there were several, none of them thrown away between the long-lived ones (which is what
//! fragments the heap of a process holding a thousand shards).
//!
//! The request and the check of the answer are `discord-gateway-websocket`'s (shared with the
//! embedded client); this module is the async I/O around them. Everything after the handshake,
//! the framing, masking, pings and closes, stays tungstenite's.

use std::io;

use async_tungstenite::tungstenite::handshake::client::Request;
use async_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use async_tungstenite::WebSocketStream;
pub use discord_gateway_websocket::HandshakeError;
use discord_gateway_websocket::{check_response, Key};
use futures_io::{AsyncRead, AsyncWrite};
use futures_util::io::{AsyncReadExt, AsyncWriteExt};

use crate::transport::read_ahead::WEBSOCKET_READ_BUFFER;
use crate::transport::TransportError;

/// The longest response head accepted. Discord's (through its CDN) is well under 1 KiB; a server
/// that sends more than this before its blank line is not a websocket server.
pub const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// The headers `discord-gateway-websocket` writes itself; the request's others are sent after
/// them as they are.
const WRITTEN_BY_REQUEST: [&str; 6] = [
    "host",
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "user-agent",
];

impl From<HandshakeError> for TransportError {
    fn from(error: HandshakeError) -> Self {
        TransportError::Other(Box::new(error))
    }
}

fn io_error(error: io::Error) -> TransportError {
    TransportError::Other(Box::new(error))
}

/// Sends `request` over `stream`, checks the server's answer and returns the open websocket,
/// with any bytes the server sent after its response head kept for the first reads.
///
/// `request` is tungstenite's client request (from `IntoClientRequest`): its target, its
/// `Host`, `Sec-WebSocket-Key` and `User-Agent`, and any other header, are sent.
///
/// # Errors
/// Inside [`TransportError::Other`]: a [`HandshakeError`] when the request cannot be made or
/// the server's answer does not open a websocket, the socket's `io::Error` when it fails.
pub(crate) async fn upgrade<S>(
    mut stream: S,
    request: &Request,
    config: WebSocketConfig,
) -> Result<WebSocketStream<S>, TransportError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (head, key) = request_head(request)?;
    stream.write_all(&head).await.map_err(io_error)?;
    stream.flush().await.map_err(io_error)?;
    drop(head);

    let mut buf = Vec::with_capacity(WEBSOCKET_READ_BUFFER);
    let head = loop {
        if buf.len() == buf.capacity() {
            if buf.len() >= MAX_RESPONSE_HEAD {
                return Err(HandshakeError::TooLarge {
                    limit: MAX_RESPONSE_HEAD,
                }
                .into());
            }
            buf.reserve(buf.len());
        }
        let filled = buf.len();
        buf.resize(buf.capacity().min(MAX_RESPONSE_HEAD), 0);
        let read = stream.read(&mut buf[filled..]).await;
        buf.truncate(filled + read.as_ref().copied().unwrap_or(0));
        match read {
            Ok(0) => return Err(HandshakeError::Closed.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_error(e)),
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

/// The request line and headers of `request` as bytes on the wire, and the key they carry.
fn request_head(request: &Request) -> Result<(Vec<u8>, Key), HandshakeError> {
    let text = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
    };
    // tungstenite's `IntoClientRequest` sets both from the URL; without them there is no
    // request a server could answer.
    let key = request
        .headers()
        .get("Sec-WebSocket-Key")
        .and_then(|key| Key::from_encoded(key.as_bytes()))
        .ok_or(HandshakeError::InvalidRequest("key"))?;
    let host = text("Host").ok_or(HandshakeError::InvalidRequest("host"))?;
    let extra: Vec<(&str, &[u8])> = request
        .headers()
        .iter()
        .filter(|(name, _)| !WRITTEN_BY_REQUEST.contains(&name.as_str()))
        .map(|(name, value)| (name.as_str(), value.as_bytes()))
        .collect();
    let head = discord_gateway_websocket::Request {
        host,
        target: request
            .uri()
            .path_and_query()
            .map_or("/", |target| target.as_str()),
        key: &key,
        user_agent: text("User-Agent"),
        headers: &extra,
    };
    let mut bytes = vec![0; head.encoded_len()?];
    head.write(&mut bytes)?;
    Ok((bytes, key))
}

#[cfg(test)]
mod tests {
    use super::{request_head, upgrade, HandshakeError, MAX_RESPONSE_HEAD};
    use crate::transport::read_ahead::WEBSOCKET_READ_BUFFER;
    use crate::transport::TransportError;
    use async_tungstenite::tungstenite::client::IntoClientRequest;
    use async_tungstenite::tungstenite::http::HeaderValue;
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
    fn the_request_carries_every_header_of_the_request() {
        let mut request = "wss://gateway.discord.gg:8443/?v=10&encoding=json"
            .into_client_request()
            .unwrap();
        request
            .headers_mut()
            .insert("User-Agent", "DiscordBot (x, 1)".parse().unwrap());
        request
            .headers_mut()
            .insert("X-Trace", "abc".parse().unwrap());
        let (head, key) = request_head(&request).unwrap();
        let head = String::from_utf8(head).unwrap();
        assert!(
            head.starts_with("GET /?v=10&encoding=json HTTP/1.1\r\n"),
            "{head}"
        );
        assert!(head.ends_with("\r\n\r\n"));
        let lines: Vec<&str> = head.trim_end().lines().collect();
        let sent_key = request.headers()["Sec-WebSocket-Key"].to_str().unwrap();
        assert_eq!(key.as_str(), sent_key);
        let key_line = format!("Sec-WebSocket-Key: {sent_key}");
        for wanted in [
            "Host: gateway.discord.gg:8443",
            "Connection: Upgrade",
            "Upgrade: websocket",
            "Sec-WebSocket-Version: 13",
            "User-Agent: DiscordBot (x, 1)",
            "x-trace: abc",
            &key_line,
        ] {
            assert_eq!(
                lines.iter().filter(|line| **line == wanted).count(),
                1,
                "{wanted} once in {head}"
            );
        }
        // The request line, six headers and X-Trace: nothing sent twice.
        assert_eq!(lines.len(), 8, "{head}");
    }

    #[test]
    fn a_request_without_a_usable_key_is_refused_before_anything_is_sent() {
        for key in [None, Some("not base64 of sixteen bytes")] {
            let mut request = request_with_key();
            match key {
                None => drop(request.headers_mut().remove("Sec-WebSocket-Key")),
                Some(key) => drop(
                    request
                        .headers_mut()
                        .insert("Sec-WebSocket-Key", HeaderValue::from_static(key)),
                ),
            }
            let mut socket = Scripted {
                input: Cursor::new(response("").into_bytes()),
                written: Vec::new(),
            };
            let result = now(upgrade(&mut socket, &request, WebSocketConfig::default()));
            assert_eq!(
                handshake_error(result),
                HandshakeError::InvalidRequest("key")
            );
            assert!(socket.written.is_empty());
        }
    }

    /// The [`HandshakeError`] inside a failed upgrade.
    fn handshake_error<T>(result: Result<T, TransportError>) -> HandshakeError {
        match result {
            Err(TransportError::Other(error)) => *error
                .downcast::<HandshakeError>()
                .expect("a handshake error"),
            Err(other) => panic!("not a handshake error: {other:?}"),
            Ok(_) => panic!("the upgrade succeeded"),
        }
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
        assert!(written.contains(&format!("Sec-WebSocket-Key: {KEY}\r\n")));
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
        assert_eq!(handshake_error(result), HandshakeError::Closed);

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
        assert_eq!(
            handshake_error(result),
            HandshakeError::TooLarge {
                limit: MAX_RESPONSE_HEAD
            }
        );
    }
}
