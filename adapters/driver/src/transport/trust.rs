//! Which certificate authorities a `wss://` connection trusts: the driver's own type, so that
//! no rustls type is part of a public signature (a new rustls release then changes this file,
//! not the builders' nor the adapters' API).
//!
//! A [`Trust`] is carried in [`crate::ConnectOptions`] to the adapter's `connect` and set on
//! [`crate::ShardBuilder::trust`] (or [`crate::ManagerBuilder::trust`]). It lives there rather
//! than on the adapters' runtime values (`Tokio`, `Smol`) because it is a property of the
//! gateway a shard talks to, like its URL, and the runtimes stay `Copy` unit types that every
//! runtime-generic test and helper can make with `Default`.

use std::fmt;
use std::sync::Arc;

/// The certificate authorities a shard's `wss://` connections trust.
///
/// [`Trust::default`] is the roots the driver's features compile in: Mozilla's
/// (`rustls-webpki-roots`, the adapters' default) or the operating system's
/// (`rustls-native-roots`), parsed once per process. For a gateway whose certificate a private
/// CA signs (a self-hosted, Discord-compatible gateway; a test), trust exactly that CA with
/// [`Trust::roots_der`] or [`Trust::roots_pem`]: its TLS configuration is built once, when the
/// `Trust` is made (and shared by its clones: every shard and every connection of a builder),
/// never per connection. The server's certificate is always verified, against these roots and
/// for the host name of the URL dialled.
///
/// Cloning is cheap (one reference count).
///
/// ```
/// # #[cfg(feature = "rustls")]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use discord_gateway_driver::Trust;
///
/// // The CA of a self-hosted gateway, as a PEM file would hold it.
/// let pem = b"-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n";
/// // A file that is not a certificate is refused here, not at every dial.
/// assert!(Trust::roots_pem(pem).is_err());
/// assert_eq!(Trust::default(), Trust::platform());
/// # Ok(()) }
/// # #[cfg(not(feature = "rustls"))]
/// # fn main() {}
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Trust(Option<Arc<Roots>>);

/// The certificate authorities of a [`Trust`] other than the default.
struct Roots {
    /// Each trusted CA certificate (DER), in the order given.
    der: Vec<Vec<u8>>,
    /// The client configuration trusting exactly `der`, built once.
    #[cfg(feature = "rustls")]
    config: Arc<rustls::ClientConfig>,
}

impl PartialEq for Roots {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Eq for Roots {}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("Trust::platform"),
            Some(roots) => f
                .debug_struct("Trust")
                .field("roots", &roots.der.len())
                .finish(),
        }
    }
}

impl Trust {
    /// The roots the driver's features compile in (the same as [`Trust::default`]): Mozilla's
    /// with `rustls-webpki-roots`, the operating system's with `rustls-native-roots`, both when
    /// both are on.
    #[must_use]
    pub fn platform() -> Self {
        Self(None)
    }

    /// Trusts exactly the CA certificates `certs` (each DER-encoded), and no other root.
    ///
    /// # Errors
    /// [`TrustError::NoCertificates`] when `certs` is empty; [`TrustError::Certificate`] when
    /// one is not a certificate a root can be made of; [`TrustError::Unsupported`] when this
    /// build has no TLS (the driver's `rustls` feature is off).
    pub fn roots_der<C: AsRef<[u8]>>(
        certs: impl IntoIterator<Item = C>,
    ) -> Result<Self, TrustError> {
        let der: Vec<Vec<u8>> = certs.into_iter().map(|c| c.as_ref().to_vec()).collect();
        Self::from_der(der)
    }

    /// Trusts exactly the CA certificates of a PEM file (every `CERTIFICATE` section, in
    /// order; other sections, such as keys, are skipped), and no other root.
    ///
    /// # Errors
    /// [`TrustError::Pem`] when the PEM is malformed; otherwise as [`Trust::roots_der`].
    pub fn roots_pem(pem: &[u8]) -> Result<Self, TrustError> {
        #[cfg(feature = "rustls")]
        {
            use rustls::pki_types::pem::PemObject;
            use rustls::pki_types::CertificateDer;
            let der = CertificateDer::pem_slice_iter(pem)
                .map(|cert| cert.map(|cert| cert.to_vec()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| TrustError::Pem(e.to_string()))?;
            Self::from_der(der)
        }
        #[cfg(not(feature = "rustls"))]
        {
            let _ = pem;
            Err(TrustError::Unsupported)
        }
    }

    /// Trusts the certificates of a file read whole: PEM when it holds a `-----BEGIN` line,
    /// otherwise one DER certificate.
    ///
    /// # Errors
    /// As [`Trust::roots_pem`] or [`Trust::roots_der`].
    pub fn roots_pem_or_der(contents: &[u8]) -> Result<Self, TrustError> {
        if contents.windows(10).any(|w| w == b"-----BEGIN") {
            Self::roots_pem(contents)
        } else {
            Self::roots_der([contents])
        }
    }

    /// Whether this is [`Trust::platform`] (the compiled-in roots).
    #[must_use]
    pub fn is_platform(&self) -> bool {
        self.0.is_none()
    }

    /// The trusted CA certificates (DER), `None` for the platform roots.
    #[cfg(feature = "discovery")]
    pub(crate) fn custom_roots(&self) -> Option<&[Vec<u8>]> {
        self.0.as_ref().map(|roots| roots.der.as_slice())
    }

    fn from_der(der: Vec<Vec<u8>>) -> Result<Self, TrustError> {
        if der.is_empty() {
            return Err(TrustError::NoCertificates);
        }
        #[cfg(feature = "rustls")]
        {
            let mut store = rustls::RootCertStore::empty();
            for (index, cert) in der.iter().enumerate() {
                store
                    .add(rustls::pki_types::CertificateDer::from(cert.as_slice()).into_owned())
                    .map_err(|e| TrustError::Certificate {
                        index,
                        reason: e.to_string(),
                    })?;
            }
            let config =
                crate::transport::websocket::client_config(store).map_err(TrustError::Tls)?;
            Ok(Self(Some(Arc::new(Roots { der, config }))))
        }
        #[cfg(not(feature = "rustls"))]
        {
            Err(TrustError::Unsupported)
        }
    }

    /// The rustls client configuration for a `wss://` connection under this trust: the
    /// process-wide one (built once) for the default, this trust's own otherwise.
    #[cfg(feature = "rustls")]
    pub(crate) fn client_config(
        &self,
    ) -> Result<Arc<rustls::ClientConfig>, crate::transport::TransportError> {
        match &self.0 {
            None => crate::transport::websocket::tls_config(),
            Some(roots) => Ok(Arc::clone(&roots.config)),
        }
    }
}

/// Why a [`Trust`] could not be made.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrustError {
    /// No certificate was given (an empty list, or a PEM file without a `CERTIFICATE`).
    NoCertificates,
    /// The certificate at `index` (from 0, in the order given) cannot be a root.
    Certificate {
        /// Its position in the list or file.
        index: usize,
        /// What the certificate parser said.
        reason: String,
    },
    /// The PEM text is malformed.
    Pem(String),
    /// rustls refused the configuration.
    Tls(String),
    /// This build has no TLS: the driver's `rustls` feature is off.
    Unsupported,
}

impl fmt::Display for TrustError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoCertificates => f.write_str("no CA certificate was given to trust"),
            Self::Certificate { index, reason } => {
                write!(f, "CA certificate #{index} cannot be trusted: {reason}")
            }
            Self::Pem(reason) => write!(f, "the CA certificate file is not valid PEM: {reason}"),
            Self::Tls(reason) => write!(f, "the TLS configuration was refused: {reason}"),
            Self::Unsupported => f.write_str(
                "this build has no TLS (the discord-gateway-driver `rustls` feature is off)",
            ),
        }
    }
}

impl std::error::Error for TrustError {}

#[cfg(test)]
mod tests {
    use super::{Trust, TrustError};

    #[test]
    fn the_default_is_the_platform_roots() {
        assert_eq!(Trust::default(), Trust::platform());
        assert!(Trust::default().is_platform());
        assert_eq!(format!("{:?}", Trust::default()), "Trust::platform");
    }

    #[test]
    fn no_certificate_is_refused() {
        let none: [&[u8]; 0] = [];
        assert_eq!(Trust::roots_der(none), Err(TrustError::NoCertificates));
    }

    #[cfg(feature = "rustls")]
    #[test]
    fn what_is_not_a_certificate_is_refused_when_the_trust_is_made() {
        let error = Trust::roots_der([b"not DER".as_slice()]).unwrap_err();
        assert!(
            matches!(error, TrustError::Certificate { index: 0, .. }),
            "{error:?}"
        );
        assert!(error
            .to_string()
            .starts_with("CA certificate #0 cannot be trusted"));
        // A PEM file with only a key in it names no CA.
        let key = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert_eq!(Trust::roots_pem(key), Err(TrustError::NoCertificates));
        // A certificate section whose base64 decodes to no certificate.
        let bad = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            Trust::roots_pem(bad),
            Err(TrustError::Certificate { index: 0, .. })
        ));
        // Broken base64 inside the armour.
        let broken = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        assert!(matches!(Trust::roots_pem(broken), Err(TrustError::Pem(_))));
        // The file reader picks PEM by its armour, DER otherwise.
        assert!(matches!(
            Trust::roots_pem_or_der(bad),
            Err(TrustError::Certificate { index: 0, .. })
        ));
        assert!(matches!(
            Trust::roots_pem_or_der(b"\x30\x03\x02\x01\x01"),
            Err(TrustError::Certificate { index: 0, .. })
        ));
    }

    #[cfg(not(feature = "rustls"))]
    #[test]
    fn without_tls_a_custom_trust_is_unsupported() {
        assert_eq!(
            Trust::roots_der([b"anything".as_slice()]),
            Err(TrustError::Unsupported)
        );
    }
}
