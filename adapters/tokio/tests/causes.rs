//! A failed dial names its cause down to the OS, TLS or HTTP error: connection refused, a
//! TLS handshake with a server that does not speak TLS, and an HTTP 404 on the upgrade read
//! differently in the event, the status and the `cause` label.

use std::time::Duration;

use discord_gateway_tokio::{
    ConnectionErrorKind, DisconnectCause, SessionEvent, Shard, ShardEvent, Token,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Dials `url` once and returns the failed dial's error kind, text and cause label.
async fn first_failure(url: &str) -> (ConnectionErrorKind, String, &'static str) {
    let mut shard = Shard::builder(Token::new("Bot causes-test-token").expect("token"))
        .configure(|c| c.gateway_url(url))
        .build()
        .expect("valid configuration");
    let error = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match shard.next_event().await {
                Some(Ok(ShardEvent::Session(SessionEvent::Disconnected { cause, .. }, error))) => {
                    assert_eq!(cause, DisconnectCause::DialFailed);
                    break error.expect("a failed dial carries its error");
                }
                Some(Ok(_)) => {}
                other => panic!("unexpected: {other:?}"),
            }
        }
    })
    .await
    .expect("the failed dial is reported");
    let label = shard
        .status()
        .last_disconnect
        .expect("recorded")
        .cause_label();
    let text = error.to_string();
    assert!(!text.contains("causes-test-token"), "{text}");
    (error.kind(), text, label)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

#[test]
fn connection_refused_is_named() {
    runtime().block_on(async {
        // A port that was just free: nothing listens on it.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("address").port()
        };
        let (kind, text, label) = first_failure(&format!("ws://127.0.0.1:{port}")).await;
        assert_eq!(kind, ConnectionErrorKind::Refused, "{text}");
        assert!(text.to_lowercase().contains("refused"), "{text}");
        assert_eq!(label, "dial_refused");
    });
}

#[test]
fn an_http_error_on_the_upgrade_is_named_with_its_status() {
    runtime().block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = [0; 4096];
                let _ = stream.read(&mut request).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                    .await;
            }
        });
        let (kind, text, label) = first_failure(&format!("ws://127.0.0.1:{port}")).await;
        assert_eq!(kind, ConnectionErrorKind::Http { status: 404 }, "{text}");
        assert!(text.contains("HTTP 404 Not Found"), "{text}");
        assert_eq!(label, "dial_http");
    });
}

#[test]
fn a_tls_failure_is_named() {
    runtime().block_on(async {
        // Speaks plain HTTP where a TLS ServerHello is due.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let _ = stream
                    .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                    .await;
            }
        });
        let (kind, text, label) = first_failure(&format!("wss://127.0.0.1:{port}")).await;
        assert_eq!(kind, ConnectionErrorKind::Tls, "{text}");
        assert_eq!(label, "dial_tls");
    });
}
