//! The accept loop: one listener on 127.0.0.1 serving REST and websocket on the same port.

use std::sync::Arc;
use std::time::Duration;

use async_tungstenite::tokio::TokioAdapter;
use async_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use async_tungstenite::WebSocketStream;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::connection;
use crate::http;
use crate::record::Endpoint;
use crate::state::Shared;
use crate::stream::SimStream;

/// How long a peer may take to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts connections until `shutdown` fires.
pub(crate) async fn run(
    shared: Arc<Shared>,
    listener: TcpListener,
    mut shutdown: oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(accept(shared.clone(), stream));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
        }
    }
}

fn ws_config() -> WebSocketConfig {
    // Clients may send at most 4096 bytes per payload; a generous cap keeps a misbehaving client
    // from making the sim buffer megabytes, while still letting the sim answer "too big" with
    // 4002. A small read buffer keeps thousands of idle connections cheap.
    WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20))
}

/// Completes the TLS handshake first when the sim serves `wss://`; a client that refuses the
/// certificate never reaches the websocket, so it is never counted as a connection.
async fn accept(shared: Arc<Shared>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let stream = match shared.tls.clone() {
        None => SimStream::Plain(stream),
        Some(config) => {
            let acceptor = tokio_rustls::TlsAcceptor::from(config);
            match tokio::time::timeout(HEAD_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => SimStream::Tls(Box::new(tls)),
                Ok(Err(e)) => {
                    tracing::debug!("TLS handshake failed: {e}");
                    shared.count(|c| c.tls_handshake_failures += 1);
                    return;
                }
                Err(_) => return,
            }
        }
    };
    handle(shared, stream).await;
}

async fn handle(shared: Arc<Shared>, mut stream: SimStream) {
    let Ok(Ok(Some((head, rest)))) =
        tokio::time::timeout(HEAD_TIMEOUT, http::read_head(&mut stream)).await
    else {
        return;
    };
    if !head.is_websocket_upgrade() {
        if let Err(e) = http::serve(&shared, &head, &mut stream).await {
            tracing::debug!("http exchange failed: {e}");
        }
        return;
    }
    let endpoint = match head.path.trim_end_matches('/') {
        "" => Endpoint::Main,
        "/resume" => Endpoint::Resume,
        _ => {
            shared.count(|c| c.http_requests += 1);
            let _ = http::respond(
                &mut stream,
                404,
                "Not Found",
                r#"{"message": "404: Not Found", "code": 0}"#,
            )
            .await;
            return;
        }
    };
    let key = match (
        head.header("sec-websocket-key"),
        head.header("sec-websocket-version"),
    ) {
        (Some(key), Some("13")) => key.to_owned(),
        _ => {
            shared.count(|c| c.http_requests += 1);
            let _ = http::respond(
                &mut stream,
                400,
                "Bad Request",
                r#"{"message": "400: Bad Request", "code": 0}"#,
            )
            .await;
            return;
        }
    };
    if stream
        .write_all(http::upgrade_response(&key).as_bytes())
        .await
        .is_err()
    {
        return;
    }
    let ws = WebSocketStream::from_partially_read(
        TokioAdapter::new(stream),
        rest,
        Role::Server,
        Some(ws_config()),
    )
    .await;
    connection::run(shared, ws, endpoint, head.query).await;
}
