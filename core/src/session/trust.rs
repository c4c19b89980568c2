//! Which resume URLs the configured gateway vouches for.
//!
//! Resume carries the bot token, so the host a session resumes at must be one the operator
//! already trusts with it. A resume URL comes from READY (over the connection to a trusted
//! gateway) or from a saved [`super::ResumeState`] (from a file or a shared store, which
//! anyone who can write the store controls). Both go through [`vouches_for`], the one rule.

use core::fmt;

/// The host of Discord's own gateway, as `GET /gateway/bot` names it.
pub const DISCORD_GATEWAY_HOST: &str = "gateway.discord.gg";
/// The registrable domain of Discord's gateway: READY's `resume_gateway_url` names a host under
/// it (`gateway-us-east1-b.discord.gg`).
pub const DISCORD_GATEWAY_DOMAIN: &str = "discord.gg";

/// Why [`vouches_for`] refused a resume URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UrlRefusal {
    /// The URL is not a plain `ws://` or `wss://` URL with a host this rule can read (a
    /// user-info part, an empty host, a character no host name has, an unreadable port).
    Malformed,
    /// Its scheme differs from the configured gateway's (`ws://` under a `wss://`
    /// configuration would send the token in clear text).
    Scheme,
    /// Its host is neither the configured one nor one the configured gateway vouches for.
    Host,
    /// Its port differs from the configured gateway's (each counted with its scheme's
    /// default, 443 or 80, when none is written).
    Port,
}

impl fmt::Display for UrlRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Malformed => "it is not a ws:// or wss:// URL with a plain host",
            Self::Scheme => "its scheme differs from the configured gateway's",
            Self::Host => "its host is not one the configured gateway vouches for",
            Self::Port => "its port differs from the configured gateway's",
        })
    }
}

/// Whether `configured` (the gateway URL the bot was set up with) vouches for `candidate` as a
/// place to resume, that is to send the token to.
///
/// The rule, in order:
///
/// 1. **Scheme**: the same as the configured one: `wss://` under `wss://`, `ws://` under `ws://`
///    (a local test gateway). Never `ws://` under `wss://`, which would send the token in clear.
/// 2. **Host**, compared without regard to ASCII case:
///    - the configured host itself;
///    - a host under it (`resume.gateway.example` under `gateway.example`), whose DNS the
///      configured host's owner delegates; not for an IP address, which has no names under it;
///    - for Discord's gateway ([`DISCORD_GATEWAY_HOST`]), any host under its registrable
///      domain [`DISCORD_GATEWAY_DOMAIN`], where READY's `resume_gateway_url` points.
/// 3. **Port**: the same as the configured one, each counted with its scheme's default (443
///    for `wss://`, 80 for `ws://`) when none is written, so `wss://gateway.discord.gg:443` is
///    `wss://gateway.discord.gg`. Another port on the same host can be another program (another
///    user's, on a shared machine): a port is part of whom the token goes to.
///
/// A user-info part (`wss://gateway.discord.gg@evil.example`) and any host that is not plain
/// letters, digits, `-` and `.` (or a bracketed IPv6 address) are refused as malformed. The
/// path is not looked at: it does not change the host the token is sent to.
///
/// # Errors
/// The [`UrlRefusal`] that says which part failed.
pub fn vouches_for(configured: &str, candidate: &str) -> Result<(), UrlRefusal> {
    let configured = Authority::parse(configured).ok_or(UrlRefusal::Malformed)?;
    let candidate = Authority::parse(candidate).ok_or(UrlRefusal::Malformed)?;
    if candidate.secure != configured.secure {
        return Err(UrlRefusal::Scheme);
    }
    if !configured.vouches_for_host(candidate.host) {
        return Err(UrlRefusal::Host);
    }
    if candidate.port != configured.port {
        return Err(UrlRefusal::Port);
    }
    Ok(())
}

/// The parts of a websocket URL the rule reads.
struct Authority<'u> {
    secure: bool,
    /// Without brackets for IPv6; never empty.
    host: &'u str,
    /// The port written, or the scheme's default.
    port: u16,
    /// Whether the host is an IP address (v4 or v6).
    ip: bool,
}

impl<'u> Authority<'u> {
    fn parse(url: &'u str) -> Option<Self> {
        let (secure, rest) = if let Some(rest) = strip_prefix_ignore_case(url, "wss://") {
            (true, rest)
        } else {
            (false, strip_prefix_ignore_case(url, "ws://")?)
        };
        let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
        let authority = &rest[..end];
        if authority.contains('@') {
            return None;
        }
        let default_port = if secure { 443 } else { 80 };
        let (host, port, ip) = if let Some(bracketed) = authority.strip_prefix('[') {
            let (host, after) = bracketed.split_once(']')?;
            if host.is_empty() || !host.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
                return None;
            }
            let port = match after {
                "" => default_port,
                _ => parse_port(after.strip_prefix(':')?)?,
            };
            (host, port, true)
        } else {
            let (host, port) = match authority.split_once(':') {
                Some((host, port)) => (host, parse_port(port)?),
                None => (authority, default_port),
            };
            let plain = host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            if host.is_empty() || !plain || host.starts_with('.') || host.contains("..") {
                return None;
            }
            let ip = host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
            (host, port, ip)
        };
        Some(Self {
            secure,
            host,
            port,
            ip,
        })
    }

    fn vouches_for_host(&self, host: &str) -> bool {
        if host.eq_ignore_ascii_case(self.host) {
            return true;
        }
        if !self.ip && is_under(host, self.host) {
            return true;
        }
        self.host.eq_ignore_ascii_case(DISCORD_GATEWAY_HOST)
            && is_under(host, DISCORD_GATEWAY_DOMAIN)
    }
}

/// Whether `host` is a name under `domain` (at least one label before it).
fn is_under(host: &str, domain: &str) -> bool {
    let Some(split) = host.len().checked_sub(domain.len() + 1) else {
        return false;
    };
    split > 0
        && host.as_bytes()[split] == b'.'
        && host.is_char_boundary(split + 1)
        && host[split + 1..].eq_ignore_ascii_case(domain)
}

fn strip_prefix_ignore_case<'u>(url: &'u str, prefix: &str) -> Option<&'u str> {
    let head = url.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &url[prefix.len()..])
}

fn parse_port(port: &str) -> Option<u16> {
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    port.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::{vouches_for, UrlRefusal};

    const DISCORD: &str = "wss://gateway.discord.gg";

    /// The rule row by row: (configured, candidate, verdict).
    #[test]
    fn the_configured_gateway_vouches_as_documented() {
        let rows: &[(&str, &str, Result<(), UrlRefusal>)] = &[
            // Discord's gateway: itself, and hosts under discord.gg.
            (DISCORD, "wss://gateway.discord.gg", Ok(())),
            (DISCORD, "wss://gateway.discord.gg/", Ok(())),
            (DISCORD, "wss://GATEWAY.Discord.GG", Ok(())),
            (DISCORD, "wss://gateway-us-east1-b.discord.gg", Ok(())),
            (DISCORD, "wss://gateway-us-east1-b.discord.gg:443/", Ok(())),
            (DISCORD, "wss://a.b.discord.gg/path", Ok(())),
            (DISCORD, "wss://discord.gg", Err(UrlRefusal::Host)),
            (DISCORD, "wss://evildiscord.gg", Err(UrlRefusal::Host)),
            (
                DISCORD,
                "wss://discord.gg.evil.example",
                Err(UrlRefusal::Host),
            ),
            (DISCORD, "wss://evil.example", Err(UrlRefusal::Host)),
            (DISCORD, "wss://127.0.0.2", Err(UrlRefusal::Host)),
            (DISCORD, "wss://gateway.discord.com", Err(UrlRefusal::Host)),
            // Never in clear text under wss://, whatever the host.
            (DISCORD, "ws://gateway.discord.gg", Err(UrlRefusal::Scheme)),
            (DISCORD, "ws://evil.example", Err(UrlRefusal::Scheme)),
            (DISCORD, "WS://gateway.discord.gg", Err(UrlRefusal::Scheme)),
            // Ports: the default one written out is the same port; another is not.
            (DISCORD, "wss://gateway.discord.gg:443", Ok(())),
            (
                DISCORD,
                "wss://gateway.discord.gg:8443",
                Err(UrlRefusal::Port),
            ),
            (
                DISCORD,
                "wss://gateway.discord.gg:",
                Err(UrlRefusal::Malformed),
            ),
            (
                DISCORD,
                "wss://gateway.discord.gg:99999",
                Err(UrlRefusal::Malformed),
            ),
            (
                DISCORD,
                "wss://gateway.discord.gg:+443",
                Err(UrlRefusal::Malformed),
            ),
            // Tricks on the authority.
            (
                DISCORD,
                "wss://gateway.discord.gg@evil.example",
                Err(UrlRefusal::Malformed),
            ),
            (
                DISCORD,
                "wss://user:pw@gateway.discord.gg",
                Err(UrlRefusal::Malformed),
            ),
            (
                DISCORD,
                "wss://evil.example\\.discord.gg",
                Err(UrlRefusal::Host),
            ),
            (
                DISCORD,
                "wss://evil.example%2f.discord.gg",
                Err(UrlRefusal::Malformed),
            ),
            (DISCORD, "wss://.discord.gg", Err(UrlRefusal::Malformed)),
            (DISCORD, "wss://a..discord.gg", Err(UrlRefusal::Malformed)),
            (DISCORD, "wss://", Err(UrlRefusal::Malformed)),
            (
                DISCORD,
                "wss:///gateway.discord.gg",
                Err(UrlRefusal::Malformed),
            ),
            (
                DISCORD,
                "https://gateway.discord.gg",
                Err(UrlRefusal::Malformed),
            ),
            (
                DISCORD,
                "wss://gatewäy.discord.gg",
                Err(UrlRefusal::Malformed),
            ),
            // Another configured gateway: itself and the names under it, nothing else.
            ("wss://gateway.test", "wss://gateway.test/resume", Ok(())),
            ("wss://gateway.test", "wss://resume.gateway.test", Ok(())),
            (
                "wss://gateway.test",
                "wss://agateway.test",
                Err(UrlRefusal::Host),
            ),
            ("wss://gateway.test", "wss://test", Err(UrlRefusal::Host)),
            (
                "wss://gateway.test",
                "wss://x.discord.gg",
                Err(UrlRefusal::Host),
            ),
            (
                "wss://gateway.test:9000",
                "wss://gateway.test:9000/r",
                Ok(()),
            ),
            (
                "wss://gateway.test:9000",
                "wss://gateway.test",
                Err(UrlRefusal::Port),
            ),
            // A local gateway in clear text: the same address and port only.
            (
                "ws://127.0.0.1:4000/gateway",
                "ws://127.0.0.1:4000/resume",
                Ok(()),
            ),
            (
                "ws://127.0.0.1:4000/gateway",
                "ws://127.0.0.2:4000/resume",
                Err(UrlRefusal::Host),
            ),
            (
                "ws://127.0.0.1:4000/gateway",
                "ws://1.127.0.0.1:4000",
                Err(UrlRefusal::Host),
            ),
            (
                "ws://127.0.0.1:4000/gateway",
                "ws://127.0.0.1:4001/resume",
                Err(UrlRefusal::Port),
            ),
            (
                "ws://127.0.0.1:4000/gateway",
                "wss://127.0.0.1:4000/resume",
                Err(UrlRefusal::Scheme),
            ),
            ("ws://localhost", "ws://localhost:80/", Ok(())),
            ("ws://[::1]:4000", "ws://[::1]:4000/resume", Ok(())),
            (
                "ws://[::1]:4000",
                "ws://[::2]:4000/resume",
                Err(UrlRefusal::Host),
            ),
            ("ws://[::1]:4000", "ws://[::1]x", Err(UrlRefusal::Malformed)),
            // A configuration the rule cannot read vouches for nothing.
            (
                "wss://user@gateway.discord.gg",
                DISCORD,
                Err(UrlRefusal::Malformed),
            ),
        ];
        for (configured, candidate, verdict) in rows {
            assert_eq!(
                vouches_for(configured, candidate),
                *verdict,
                "{configured} vouching for {candidate}"
            );
        }
    }
}
