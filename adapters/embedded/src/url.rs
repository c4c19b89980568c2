//! The URL a connection dials, split into what a connector and the upgrade request need.

use core::fmt::{self, Write as _};
use core::ops::Range;

use discord_gateway::codec::MAX_URL_LEN;

/// Room for the longest base URL the core keeps plus the query it appends.
pub const MAX_CONNECT_URL_LEN: usize = MAX_URL_LEN + 64;

/// Why a URL could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// Longer than [`MAX_CONNECT_URL_LEN`].
    TooLong,
    /// Not `ws://` or `wss://`.
    Scheme,
    /// No host, or a port that is not a number.
    Authority,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooLong => "the gateway URL is too long",
            Self::Scheme => "the gateway URL is not ws:// or wss://",
            Self::Authority => "the gateway URL has no host or a bad port",
        })
    }
}

impl core::error::Error for UrlError {}

/// A `ws://` or `wss://` URL the client wants dialed. A [`crate::Connector`] opens a TCP
/// connection to [`GatewayUrl::host`] and [`GatewayUrl::port`], with TLS when
/// [`GatewayUrl::is_secure`] (using `host` as the server name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayUrl {
    text: heapless::String<MAX_CONNECT_URL_LEN>,
    secure: bool,
    authority: Range<usize>,
    host: Range<usize>,
    port: u16,
    path: Range<usize>,
}

impl GatewayUrl {
    /// Parses a websocket URL.
    ///
    /// # Errors
    /// A [`UrlError`] saying what is wrong with it.
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let mut text = heapless::String::new();
        text.push_str(url).map_err(|_| UrlError::TooLong)?;
        Self::from_text(text)
    }

    /// Formats and parses what the session asked for.
    pub(crate) fn from_display(url: &impl fmt::Display) -> Result<Self, UrlError> {
        let mut text = heapless::String::new();
        write!(text, "{url}").map_err(|_| UrlError::TooLong)?;
        Self::from_text(text)
    }

    fn from_text(text: heapless::String<MAX_CONNECT_URL_LEN>) -> Result<Self, UrlError> {
        let (secure, scheme_len) = if text.starts_with("wss://") {
            (true, 6)
        } else if text.starts_with("ws://") {
            (false, 5)
        } else {
            return Err(UrlError::Scheme);
        };
        let rest = &text[scheme_len..];
        let authority_len = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = scheme_len..scheme_len + authority_len;
        let auth = &text[authority.clone()];
        // An IPv6 literal keeps its colons inside brackets.
        let port_colon = match auth.rfind(']') {
            Some(bracket) => auth[bracket..].find(':').map(|i| bracket + i),
            None => auth.rfind(':'),
        };
        let (host_text, port) = match port_colon {
            Some(colon) => {
                let port = auth[colon + 1..].parse().map_err(|_| UrlError::Authority)?;
                (&auth[..colon], port)
            }
            None => (auth, if secure { 443 } else { 80 }),
        };
        let bracketed =
            host_text.len() >= 2 && host_text.starts_with('[') && host_text.ends_with(']');
        let host = if bracketed {
            scheme_len + 1..scheme_len + host_text.len() - 1
        } else {
            scheme_len..scheme_len + host_text.len()
        };
        if host.is_empty() {
            return Err(UrlError::Authority);
        }
        let path = authority.end..text.len();
        Ok(Self {
            text,
            secure,
            authority,
            host,
            port,
            path,
        })
    }

    /// The whole URL.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the connection needs TLS (`wss://`).
    #[must_use]
    pub const fn is_secure(&self) -> bool {
        self.secure
    }

    /// The host name or address to connect to (and the TLS server name), without brackets.
    #[must_use]
    pub fn host(&self) -> &str {
        &self.text[self.host.clone()]
    }

    /// The TCP port (443 or 80 unless the URL names one).
    #[must_use]
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// Host and port as the URL spells them: the `Host` header.
    #[must_use]
    pub fn authority(&self) -> &str {
        &self.text[self.authority.clone()]
    }

    /// Path and query as the URL spells them (the request target, once a missing leading `/`
    /// is added).
    #[must_use]
    pub fn path(&self) -> &str {
        &self.text[self.path.clone()]
    }
}

impl fmt::Display for GatewayUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discord_and_sim_urls_split_into_their_parts() {
        let url = GatewayUrl::parse("wss://gateway.discord.gg/?v=10&encoding=json").unwrap();
        assert!(url.is_secure());
        assert_eq!(
            (url.host(), url.port(), url.path()),
            ("gateway.discord.gg", 443, "/?v=10&encoding=json")
        );
        let url = GatewayUrl::parse("ws://127.0.0.1:8080/resume?v=10").unwrap();
        assert!(!url.is_secure());
        assert_eq!(
            (url.host(), url.port(), url.authority(), url.path()),
            ("127.0.0.1", 8080, "127.0.0.1:8080", "/resume?v=10")
        );
        let url = GatewayUrl::parse("ws://[::1]:9000?v=10").unwrap();
        assert_eq!((url.host(), url.port(), url.path()), ("::1", 9000, "?v=10"));
        let url = GatewayUrl::parse("ws://example.org").unwrap();
        assert_eq!((url.port(), url.path()), (80, ""));
    }

    #[test]
    fn what_is_not_a_websocket_url_is_refused() {
        assert_eq!(GatewayUrl::parse("https://x"), Err(UrlError::Scheme));
        assert_eq!(GatewayUrl::parse("ws://:80/"), Err(UrlError::Authority));
        assert_eq!(GatewayUrl::parse("ws://h:port/"), Err(UrlError::Authority));
        let long = "ws://a/".repeat(40);
        assert_eq!(GatewayUrl::parse(&long), Err(UrlError::TooLong));
    }
}
