//! The sim over `wss://`: a client that trusts the test CA completes the TLS handshake and the
//! websocket upgrade and gets Hello; one that trusts another CA never reaches the websocket.

use std::sync::Arc;
use std::time::Duration;

use discord_gateway_sim::{Sim, TestCa};
use futures_util::StreamExt;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::ServerName;

fn client_config(trusted: &TestCa) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.ca_der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

async fn dial(
    sim: &Sim,
    trusted: &TestCa,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tokio::net::TcpStream::connect(sim.addr()).await?;
    let connector = tokio_rustls::TlsConnector::from(client_config(trusted));
    let name = ServerName::try_from("127.0.0.1").unwrap().to_owned();
    connector.connect(name, tcp).await
}

#[tokio::test]
async fn a_client_trusting_the_test_ca_gets_hello_over_wss() {
    let ca = TestCa::generate().unwrap();
    let sim = Sim::builder().tls(&ca).start().await.unwrap();
    assert!(sim.url().starts_with("wss://127.0.0.1:"), "{}", sim.url());
    let tls = dial(&sim, &ca).await.expect("the TLS handshake completes");
    let url = format!("{}/?v=10&encoding=json", sim.url());
    let (mut ws, _) = async_tungstenite::tokio::client_async(url, tls)
        .await
        .expect("the websocket upgrade completes over TLS");
    let hello = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("Hello in time")
        .expect("a message")
        .expect("a websocket message");
    let hello: serde_json::Value = serde_json::from_str(hello.to_text().unwrap()).unwrap();
    assert_eq!(hello["op"], 10, "{hello}");
    let counters = sim.counters();
    assert_eq!(
        (counters.connections, counters.tls_handshake_failures),
        (1, 0)
    );
}

#[tokio::test]
async fn a_client_trusting_another_ca_is_refused_before_the_websocket() {
    let ca = TestCa::generate().unwrap();
    let other = TestCa::generate().unwrap();
    let sim = Sim::builder().tls(&ca).start().await.unwrap();
    let error = dial(&sim, &other)
        .await
        .expect_err("a certificate from an untrusted CA is refused");
    assert!(
        error.to_string().to_lowercase().contains("certificate"),
        "{error}"
    );
    let handle = sim.handle();
    handle
        .wait_for(|c| c.tls_handshake_failures == 1, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(sim.counters().connections, 0);
}

#[tokio::test]
async fn each_connection_records_that_it_came_over_tls() {
    let ca = TestCa::generate().unwrap();
    let sim = Sim::builder().tls(&ca).start().await.unwrap();
    let tls = dial(&sim, &ca).await.expect("the TLS handshake completes");
    let url = format!("{}/?v=10&encoding=json", sim.url());
    let (_ws, _) = async_tungstenite::tokio::client_async(url, tls)
        .await
        .expect("the websocket upgrade completes over TLS");
    let handle = sim.handle();
    handle
        .wait_for(|c| c.connections == 1, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(sim.connections()[0].tls_version.as_deref(), Some("TLSv1_3"));

    let plain = Sim::builder().start().await.unwrap();
    let url = format!("{}/?v=10&encoding=json", plain.url());
    let tcp = tokio::net::TcpStream::connect(plain.addr()).await.unwrap();
    let (_ws, _) = async_tungstenite::tokio::client_async(url, tcp)
        .await
        .unwrap();
    plain
        .handle()
        .wait_for(|c| c.connections == 1, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(plain.connections()[0].tls_version, None);
}

#[tokio::test]
async fn a_certificate_for_another_host_is_refused_by_a_client_trusting_its_ca() {
    let ca = TestCa::generate_for(&["gateway.example.com"]).unwrap();
    let sim = Sim::builder().tls(&ca).start().await.unwrap();
    let error = dial(&sim, &ca)
        .await
        .expect_err("a certificate for gateway.example.com does not name 127.0.0.1");
    assert!(error.to_string().contains("not valid for name"), "{error}");
    assert_eq!(sim.counters().connections, 0);
}

#[test]
fn the_ca_pem_holds_the_ca_der() {
    let ca = TestCa::generate().unwrap();
    let pem = ca.ca_pem();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"), "{pem}");
    assert!(pem.ends_with("-----END CERTIFICATE-----\n"), "{pem}");
    let mut roots = rustls::RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(
        <rustls::pki_types::CertificateDer<'_> as rustls::pki_types::pem::PemObject>::pem_slice_iter(
            pem.as_bytes(),
        )
        .map(Result::unwrap),
    );
    assert_eq!((added, ignored), (1, 0));
    let der: Vec<u8> =
        <rustls::pki_types::CertificateDer<'_> as rustls::pki_types::pem::PemObject>::from_pem_slice(
            pem.as_bytes(),
        )
        .unwrap()
        .to_vec();
    assert_eq!(der, ca.ca_der().to_vec());
}
