//! `wss://` for the sim: a certificate authority made at test time and a server certificate it
//! signs for `localhost` and `127.0.0.1`, so a client can be told to trust exactly this CA (and
//! a client that trusts only the web's roots refuses the sim).

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::SimError;

/// A throwaway certificate authority and the sim's server certificate, signed by it.
#[derive(Clone)]
pub struct TestCa {
    ca: CertificateDer<'static>,
    server: CertificateDer<'static>,
    server_key: Arc<Vec<u8>>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No key material in logs.
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

fn rcgen_error(error: rcgen::Error) -> SimError {
    SimError::Tls(error.to_string())
}

impl TestCa {
    /// A new CA (fresh keys, never written to disk) and a server certificate for `localhost`
    /// and `127.0.0.1`.
    ///
    /// # Errors
    /// [`SimError::Tls`] when a key or certificate cannot be made.
    pub fn generate() -> Result<Self, SimError> {
        Self::generate_for(&["localhost", "127.0.0.1"])
    }

    /// A new CA and a server certificate for `names` only (DNS names or IP addresses): with
    /// names other than the host a client dials (`127.0.0.1`), a client that trusts the CA
    /// still refuses the sim, for the name.
    ///
    /// # Errors
    /// [`SimError::Tls`] when a key or certificate cannot be made (a name that is neither a
    /// DNS name nor an IP address, say).
    pub fn generate_for(names: &[&str]) -> Result<Self, SimError> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(rcgen_error)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "discord-gateway-sim test CA");
        let ca_key = KeyPair::generate().map_err(rcgen_error)?;
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(rcgen_error)?;
        let names: Vec<String> = names.iter().map(|&name| name.to_owned()).collect();
        let server_params = CertificateParams::new(names).map_err(rcgen_error)?;
        let server_key = KeyPair::generate().map_err(rcgen_error)?;
        let server = server_params
            .signed_by(&server_key, &ca)
            .map_err(rcgen_error)?;
        Ok(Self {
            ca: ca.der().clone(),
            server: server.der().clone(),
            server_key: Arc::new(server_key.serialize_der()),
        })
    }

    /// The CA's certificate (DER), for a client to trust.
    #[must_use]
    pub fn ca_der(&self) -> &CertificateDer<'static> {
        &self.ca
    }

    /// The CA's certificate as a PEM file holds it (`-----BEGIN CERTIFICATE-----`, base64 in
    /// lines of 64), for a client that reads its roots from a file.
    #[must_use]
    pub fn ca_pem(&self) -> String {
        let body = base64(&self.ca);
        let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in body.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
        pem
    }

    /// The server certificate (DER) the sim presents.
    #[must_use]
    pub fn server_der(&self) -> &CertificateDer<'static> {
        &self.server
    }

    /// A rustls server configuration presenting the server certificate (TLS 1.2 and 1.3, the
    /// ring provider).
    pub(crate) fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, SimError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.to_vec()));
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| SimError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(vec![self.server.clone()], key)
            .map_err(|e| SimError::Tls(e.to_string()))?;
        Ok(Arc::new(config))
    }
}

/// Standard base64 with padding (RFC 4648), for [`TestCa::ca_pem`].
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_matches_rfc_4648_test_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, encoded) in vectors {
            assert_eq!(base64(input.as_bytes()), encoded, "{input}");
        }
    }
}
