//! The `async-tungstenite` binding both adapters share: [`connect`] opens a gateway websocket
//! over a TCP stream the adapter dials, and hands the driver a [`crate::BoxedTransport`].
//!
//! Only adapters use this module (feature `async-tungstenite`). Its public items name no
//! tungstenite, rustls or http type, so a new release of those changes this module, not the
//! `Runtime` contract nor the adapters' public types: the adapter gives [`connect`] a closure
//! that opens a TCP connection (any `futures-io` stream), and everything above TCP, the
//! read-ahead buffer, TLS with the driver's roots, the opening handshake and the framing,
//! happens here, once for every runtime.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::error::CapacityError;
use async_tungstenite::tungstenite::handshake::client::Request;
use async_tungstenite::tungstenite::http::header::{HeaderValue, USER_AGENT};
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::protocol::frame::Utf8Bytes;
use async_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use async_tungstenite::tungstenite::{Error as WsError, Message};
use async_tungstenite::WebSocketStream;
use futures_util::{Sink, Stream};

use crate::transport::handshake::upgrade;
pub use crate::transport::handshake::{HandshakeError, MAX_RESPONSE_HEAD};
use crate::transport::read_ahead::ReadAheadStream;
pub use crate::transport::read_ahead::{ReadAhead, WEBSOCKET_READ_BUFFER};
use crate::transport::{ConnectOptions, Frame, TransportError};

/// An `async-tungstenite` websocket as the driver's [`crate::Transport`].
#[derive(Debug)]
pub(crate) struct WebSocket<S> {
    inner: WebSocketStream<S>,
}

impl<S> WebSocket<S> {
    /// Wraps an open websocket.
    pub(crate) fn new(inner: WebSocketStream<S>) -> Self {
        Self { inner }
    }
}

/// The upgrade request for `options`: its URL, with the `User-Agent` header.
///
/// # Errors
/// [`TransportError::Other`] when the URL is not a websocket URL.
pub(crate) fn request(options: &ConnectOptions) -> Result<Request, TransportError> {
    let mut request = options.url.as_str().into_client_request().map_err(error)?;
    request
        .headers_mut()
        .insert(USER_AGENT, HeaderValue::from_static(options.user_agent));
    Ok(request)
}

/// The websocket limits for `options`, for a websocket that reads through a [`ReadAhead`] of
/// `options.read_buffer_size`: tungstenite's own read buffer is then only
/// [`WEBSOCKET_READ_BUFFER`]. Commands are small and flushed one by one, so writes are not
/// buffered.
#[must_use]
pub(crate) fn config(options: &ConnectOptions) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(options.max_message_size))
        .max_frame_size(Some(options.max_message_size))
        .read_buffer_size(WEBSOCKET_READ_BUFFER)
        .write_buffer_size(0)
}

/// The host and port to open a TCP connection to for `request` (443 for `wss://` and 80 for
/// `ws://` unless the URL names a port).
///
/// # Errors
/// [`TransportError::Other`] when the URL has no host, or a scheme other than `ws`/`wss` and
/// no port.
pub(crate) fn address(request: &Request) -> Result<(String, u16), TransportError> {
    let uri = request.uri();
    let host = uri
        .host()
        .ok_or_else(|| TransportError::Other("the gateway URL has no host".into()))?;
    // An IPv6 literal keeps its brackets in the URI, which no resolver accepts.
    let host = host
        .strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(host);
    let port = match (uri.port_u16(), uri.scheme_str()) {
        (Some(port), _) => port,
        (None, Some("wss")) => 443,
        (None, Some("ws")) => 80,
        (None, _) => {
            return Err(TransportError::Other(
                "the gateway URL is neither ws:// nor wss://".into(),
            ))
        }
    };
    Ok((host.to_owned(), port))
}

/// Opens the websocket over `stream` (plain TCP or TLS, already connected): the handshake of
/// [`upgrade`], then the driver's [`crate::Transport`] around it.
///
/// # Errors
/// A [`HandshakeError`], or the socket's `io::Error`, inside [`TransportError::Other`].
pub(crate) async fn open<S>(
    stream: S,
    request: &Request,
    options: &ConnectOptions,
) -> Result<crate::BoxedTransport, TransportError>
where
    S: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin + Send + 'static,
{
    let socket = upgrade(stream, request, config(options)).await?;
    Ok(crate::BoxedTransport::new(WebSocket::new(socket)))
}

/// Opens the gateway websocket `options` describe: `dial` opens a TCP connection to the host
/// and port of `options.url` (the adapter's own TCP, as any `futures-io` stream), then reads go
/// through a [`ReadAhead`] of `options.read_buffer_size`, `wss://` URLs get TLS (rustls with
/// the driver's provider, trusting `options.trust`; the certificate is verified for the URL's
/// host), and the opening handshake runs with the limits of `options`.
///
/// The tokio and smol adapters' `Runtime::connect` are this, with their own TCP.
///
///
/// # Errors
/// [`TransportError::Other`] when the URL is not a websocket URL, the dial, the TLS or the
/// opening handshake fails (a [`HandshakeError`] inside).
#[cfg(feature = "rustls")]
pub async fn connect<S, D, F>(
    options: ConnectOptions,
    dial: D,
) -> Result<crate::BoxedTransport, TransportError>
where
    D: FnOnce(String, u16) -> F,
    F: Future<Output = std::io::Result<S>>,
    S: futures_io::AsyncRead + futures_io::AsyncWrite + Unpin + Send + 'static,
{
    let request = request(&options)?;
    let tls = tls_for(&options)?;
    let (host, port) = address(&request)?;
    let name = match tls {
        Some(_) => Some(server_name(&host)?),
        None => None,
    };
    let tcp = dial(host, port)
        .await
        .map_err(|e| TransportError::Other(Box::new(e)))?;
    let stream = ReadAheadStream::new(tcp, options.read_buffer_size);
    // Two monomorphic paths rather than an enum over both streams: nothing to dispatch per
    // read.
    match (tls, name) {
        (Some(config), Some(name)) => {
            let stream = futures_rustls::TlsConnector::from(config)
                .connect(name, stream)
                .await
                .map_err(|e| TransportError::Other(Box::new(e)))?;
            open(stream, &request, &options).await
        }
        _ => open(stream, &request, &options).await,
    }
}

/// Turns a tungstenite error into the driver's.
#[must_use]
pub(crate) fn error(error: WsError) -> TransportError {
    match error {
        WsError::Capacity(CapacityError::MessageTooLong { .. }) => TransportError::MessageTooLarge,
        WsError::ConnectionClosed | WsError::AlreadyClosed => TransportError::Closed,
        other => TransportError::Other(Box::new(other)),
    }
}

impl<S> Stream for WebSocket<S>
where
    WebSocketStream<S>: Stream<Item = Result<Message, WsError>> + Unpin,
{
    type Item = Result<Frame, TransportError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let message = match Pin::new(&mut self.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(message))) => message,
                Poll::Ready(Some(Err(WsError::ConnectionClosed))) | Poll::Ready(None) => {
                    return Poll::Ready(None)
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(error(e)))),
                Poll::Pending => return Poll::Pending,
            };
            let frame = match message {
                Message::Text(text) => Frame::Text(text.into()),
                Message::Binary(data) => Frame::Binary(data),
                Message::Close(frame) => Frame::Close(frame.map(|frame| u16::from(frame.code))),
                // tungstenite answers pings itself.
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            };
            return Poll::Ready(Some(Ok(frame)));
        }
    }
}

impl<S> Sink<Frame> for WebSocket<S>
where
    WebSocketStream<S>: Sink<Message, Error = WsError> + Unpin,
{
    type Error = TransportError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_ready(cx).map_err(error)
    }

    fn start_send(mut self: Pin<&mut Self>, frame: Frame) -> Result<(), Self::Error> {
        let message = match frame {
            // The core's encoders write UTF-8; a payload that is not would be an encoder bug,
            // reported here rather than mangled.
            Frame::Text(bytes) => Message::Text(
                Utf8Bytes::try_from(bytes).map_err(|e| TransportError::Other(Box::new(e)))?,
            ),
            Frame::Binary(bytes) => Message::Binary(bytes),
            Frame::Close(code) => Message::Close(code.map(|code| CloseFrame {
                code: CloseCode::from(code),
                reason: Utf8Bytes::default(),
            })),
        };
        Pin::new(&mut self.inner).start_send(message).map_err(error)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_flush(cx).map_err(error)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut self.inner).poll_close(cx).map_err(error)
    }
}

/// The TLS configuration a connection to `options.url` needs: `None` for `ws://`, else the
/// one of `options.trust` (the process-wide [`tls_config`] for the default roots).
///
/// # Errors
/// As [`tls_config`], for a `wss://` URL under the default roots.
#[cfg(feature = "rustls")]
pub(crate) fn tls_for(
    options: &ConnectOptions,
) -> Result<Option<std::sync::Arc<rustls::ClientConfig>>, TransportError> {
    if options.url.starts_with("wss:") {
        options.trust.client_config().map(Some)
    } else {
        Ok(None)
    }
}

/// The name `host` is checked against in the server's certificate.
///
/// # Errors
/// [`TransportError::Other`] when `host` is neither a DNS name nor an IP address.
#[cfg(feature = "rustls")]
pub(crate) fn server_name(
    host: &str,
) -> Result<rustls::pki_types::ServerName<'static>, TransportError> {
    rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| TransportError::Other(Box::new(e)))
}

/// The TLS client configuration for every `wss://` connection: rustls with its `ring` provider
/// named explicitly, and the roots the enabled feature chooses.
///
/// Naming the provider matters: when rustls is asked for `ClientConfig::builder()` it uses the
/// process-wide default provider, and if the application's dependency graph enables both of
/// rustls' providers (`ring` here, `aws-lc-rs` through rustls' default features elsewhere) and
/// nobody installed a default, rustls panics on the first connect.
///
/// # Errors
/// [`TransportError::Other`] when the native roots cannot be loaded, or none was found.
#[cfg(feature = "rustls")]
pub(crate) fn tls_config() -> Result<std::sync::Arc<rustls::ClientConfig>, TransportError> {
    // Built once per process: parsing the roots costs more than a handshake.
    static CONFIG: std::sync::OnceLock<Result<std::sync::Arc<rustls::ClientConfig>, String>> =
        std::sync::OnceLock::new();
    CONFIG
        .get_or_init(build_tls_config)
        .clone()
        .map_err(|why| TransportError::Other(why.into()))
}

#[cfg(feature = "rustls")]
fn build_tls_config() -> Result<std::sync::Arc<rustls::ClientConfig>, String> {
    client_config(roots()?)
}

/// A TLS client configuration trusting exactly `roots`, with the provider named as in
/// [`tls_config`]: the default roots' and every [`crate::Trust`]'s own.
///
/// # Errors
/// When rustls refuses its own defaults (it does not).
#[cfg(feature = "rustls")]
pub(crate) fn client_config(
    roots: rustls::RootCertStore,
) -> Result<std::sync::Arc<rustls::ClientConfig>, String> {
    use std::sync::Arc;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("rustls refused its own defaults: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(feature = "rustls")]
fn roots() -> Result<rustls::RootCertStore, String> {
    // Mutated only by the root features that are on.
    #[allow(unused_mut)]
    let mut roots = rustls::RootCertStore::empty();
    #[allow(unused_mut)]
    let mut problem = String::from("no TLS root certificates are compiled in or installed");
    #[cfg(feature = "rustls-native-roots")]
    {
        let native = rustls_native_certs::load_native_certs();
        if let Some(error) = native.errors.first() {
            problem = format!("the system's root certificates could not be read: {error}");
        }
        roots.add_parsable_certificates(native.certs);
    }
    #[cfg(feature = "rustls-webpki-roots")]
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if roots.is_empty() {
        return Err(problem);
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::{address, request};
    use crate::transport::{ConnectOptions, Trust, USER_AGENT};

    fn options(url: &str) -> ConnectOptions {
        ConnectOptions {
            url: url.to_owned(),
            max_message_size: 1 << 20,
            read_buffer_size: 16 * 1024,
            user_agent: USER_AGENT,
            trust: Trust::default(),
        }
    }

    #[test]
    fn the_address_follows_the_scheme_unless_a_port_is_given() {
        let cases = [
            (
                "wss://gateway.discord.gg/?v=10",
                ("gateway.discord.gg", 443),
            ),
            ("ws://127.0.0.1/?v=10", ("127.0.0.1", 80)),
            ("ws://127.0.0.1:4711/?v=10", ("127.0.0.1", 4711)),
            ("wss://[::1]:9000/", ("::1", 9000)),
            ("wss://[::1]/", ("::1", 443)),
        ];
        for (url, (host, port)) in cases {
            let request = request(&options(url)).expect("a websocket URL");
            assert_eq!(
                address(&request).expect(url),
                (host.to_owned(), port),
                "{url}"
            );
        }
    }
}
