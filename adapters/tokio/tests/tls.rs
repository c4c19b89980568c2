//! TLS with both of rustls' crypto providers in the dependency graph.
//!
//! This crate's dev-dependencies turn on rustls' `aws-lc-rs` provider beside the `ring` one the
//! adapters use, as an application's own dependencies often do. rustls then cannot pick a
//! process-wide default, and `ClientConfig::builder()` (what async-tungstenite calls when it
//! is handed no connector) panics on the first `wss://` connect: defect 6 of the driver issue.
//! The driver names its provider, so the dial fails like any dial to a server that is not
//! speaking TLS, and the shard carries on.

use std::time::Duration;

use discord_gateway_tokio::{DisconnectCause, SessionEvent, Shard, ShardEvent, Token};

#[test]
fn wss_dials_with_both_providers_compiled_in() {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(async {
            // Accepts TCP and hangs up at once: the TLS handshake fails, nothing panics.
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let port = listener.local_addr().expect("address").port();
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    drop(stream);
                }
            });
            assert!(
                rustls::crypto::CryptoProvider::get_default().is_none(),
                "no process default: the driver must name its provider"
            );
            let mut shard = Shard::builder(Token::new("Bot tls-test").expect("token"))
                .configure(|c| c.gateway_url(&format!("wss://127.0.0.1:{port}")))
                .build()
                .expect("valid configuration");
            let event = tokio::time::timeout(Duration::from_secs(20), async {
                loop {
                    match shard.next_event().await {
                        Some(Ok(ShardEvent::Session(
                            SessionEvent::Disconnected { cause, .. },
                            _,
                        ))) => break cause,
                        Some(Ok(_)) => {}
                        other => panic!("unexpected: {other:?}"),
                    }
                }
            })
            .await
            .expect("the failed dial is reported");
            assert_eq!(event, DisconnectCause::DialFailed);
        });
}
