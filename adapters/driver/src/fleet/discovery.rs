//! Discovery: `GET /gateway/bot`, which tells a bot its gateway URL, how many shards Discord
//! recommends, and its session start limit (daily budget and `max_concurrency`).
//!
//! The request is made with `ureq` on a short-lived thread of its own, and awaited through a
//! oneshot channel. That keeps it runtime-agnostic with one code path: tokio, smol or a
//! manual-clock test runtime all await a channel the same way, and no runtime has to lend its
//! IO to an HTTP stack (hyper would need an executor and IO binding per runtime). A bot calls
//! this once at start, so a thread per call costs nothing that matters. TLS is rustls with the
//! `ring` provider named explicitly, never the process-wide default, for the reason given in
//! `websocket::tls_config`, trusting the compiled-in roots or a [`crate::Trust`]
//! ([`Discovery::trust`]); waits between attempts go through the [`Runtime`] clock.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use discord_gateway::Token;
use futures_channel::oneshot;
use serde::Deserialize;

use crate::{Runtime, SessionStartLimit, USER_AGENT};

/// Discord's REST base for gateway API version 10.
pub const DISCORD_API: &str = "https://discord.com/api/v10";

/// How many times a rate-limited request is tried again by default.
pub const DEFAULT_RATE_LIMIT_RETRIES: u32 = 3;

/// The longest `retry_after` honoured: past this, waiting is worse than reporting it.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// What `GET /gateway/bot` answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayBot {
    /// The gateway URL for new sessions (`wss://gateway.discord.gg`).
    pub url: String,
    /// The shard count Discord recommends for the bot.
    pub shards: u32,
    /// The daily session budget and the identify concurrency.
    pub session_start_limit: SessionStartLimit,
}

/// Why discovery failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// 401: Discord does not accept the token (it was reset, or is not a bot token).
    Unauthorized,
    /// 429 on every attempt.
    RateLimited {
        /// Requests made.
        attempts: u32,
        /// The last `retry_after` Discord asked for.
        retry_after: Duration,
    },
    /// Another HTTP status.
    Status {
        /// The status code.
        status: u16,
        /// Discord's `message`, when the body had one.
        message: Option<String>,
    },
    /// The body was not the JSON `GET /gateway/bot` answers with.
    Body(serde_json::Error),
    /// The request could not be made (DNS, connect, TLS, timeout, a malformed URL).
    Request(Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unauthorized => f.write_str(
                "GET /gateway/bot answered 401 Unauthorized: the token is not a valid bot token \
                 (reset it in the developer portal, and check it is the bot's, not a secret)",
            ),
            Self::RateLimited {
                attempts,
                retry_after,
            } => write!(
                f,
                "GET /gateway/bot was rate limited {attempts} times (last retry_after {:.3} s)",
                retry_after.as_secs_f64()
            ),
            Self::Status {
                status,
                message: Some(message),
            } => write!(f, "GET /gateway/bot answered {status}: {message}"),
            Self::Status {
                status,
                message: None,
            } => write!(f, "GET /gateway/bot answered {status}"),
            Self::Body(_) => f.write_str("GET /gateway/bot answered with an unexpected body"),
            Self::Request(_) => f.write_str("GET /gateway/bot could not be requested"),
        }
    }
}

impl std::error::Error for DiscoveryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Body(error) => Some(error),
            Self::Request(error) => Some(&**error),
            _ => None,
        }
    }
}

/// Asks `GET {api}/gateway/bot`, honouring 429s a bounded number of times.
#[derive(Clone, Debug)]
pub struct Discovery {
    api: String,
    retries: u32,
    timeout: Duration,
    trust: crate::Trust,
}

impl Discovery {
    /// Discovery against the REST base `api` (such as [`DISCORD_API`]; no trailing `/gateway`).
    pub fn new(api: &str) -> Self {
        Self {
            api: api.trim_end_matches('/').to_owned(),
            retries: DEFAULT_RATE_LIMIT_RETRIES,
            timeout: Duration::from_secs(30),
            trust: crate::Trust::default(),
        }
    }

    /// How many times a 429 is waited out and the request tried again.
    #[must_use]
    pub fn rate_limit_retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// How long one request may take, connect to last byte (default 30 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The certificate authorities an `https://` API trusts (by default the compiled-in
    /// roots): for a self-hosted gateway's API behind a private CA, the same [`crate::Trust`]
    /// as its shards'.
    #[must_use]
    pub fn trust(mut self, trust: crate::Trust) -> Self {
        self.trust = trust;
        self
    }

    /// The URL asked.
    #[must_use]
    pub fn url(&self) -> String {
        format!("{}/gateway/bot", self.api)
    }

    /// Asks for the bot's gateway, shard count and session start limit. A 429 is waited out on
    /// `runtime`'s clock for its `retry_after` (and logged), up to the retry bound.
    ///
    /// # Errors
    /// [`DiscoveryError`], by cause; none of them holds the token.
    pub async fn gateway_bot<R: Runtime>(
        &self,
        runtime: &R,
        token: &Token,
    ) -> Result<GatewayBot, DiscoveryError> {
        let agent = agent(self.timeout, &self.trust)?;
        let url = self.url();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let answer = get(agent.clone(), url.clone(), token).await?;
            match answer.status {
                200 => return parse(&answer.body),
                401 => return Err(DiscoveryError::Unauthorized),
                429 => {
                    let retry_after = retry_after(&answer);
                    if attempts > self.retries || retry_after > MAX_RETRY_AFTER {
                        return Err(DiscoveryError::RateLimited {
                            attempts,
                            retry_after,
                        });
                    }
                    tracing::warn!(
                        retry_after_ms = retry_after.as_millis() as u64,
                        attempt = attempts,
                        "GET /gateway/bot is rate limited; waiting before trying again"
                    );
                    runtime.sleep_until(runtime.now() + retry_after).await;
                }
                status => {
                    return Err(DiscoveryError::Status {
                        status,
                        message: discord_message(&answer.body),
                    })
                }
            }
        }
    }
}

/// What one request answered.
struct Answer {
    status: u16,
    /// The `Retry-After` header, in seconds.
    retry_after_header: Option<f64>,
    body: String,
}

/// The body's `retry_after` (seconds, fractional), else the header's, else one second.
fn retry_after(answer: &Answer) -> Duration {
    #[derive(Deserialize)]
    struct RateLimited {
        retry_after: f64,
    }
    let seconds = serde_json::from_str::<RateLimited>(&answer.body)
        .map(|body| body.retry_after)
        .ok()
        .or(answer.retry_after_header)
        .filter(|s| s.is_finite() && *s >= 0.0)
        .unwrap_or(1.0);
    Duration::try_from_secs_f64(seconds).unwrap_or(MAX_RETRY_AFTER)
}

/// Discord's error `message`, if the body is one of its error objects.
fn discord_message(body: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct ErrorBody {
        message: String,
    }
    serde_json::from_str::<ErrorBody>(body)
        .ok()
        .map(|error| error.message)
}

fn parse(body: &str) -> Result<GatewayBot, DiscoveryError> {
    #[derive(Deserialize)]
    struct Body {
        url: String,
        shards: u32,
        session_start_limit: Limit,
    }
    #[derive(Deserialize)]
    struct Limit {
        total: u32,
        remaining: u32,
        reset_after: u64,
        max_concurrency: u32,
    }
    let body: Body = serde_json::from_str(body).map_err(DiscoveryError::Body)?;
    let limit = body.session_start_limit;
    Ok(GatewayBot {
        url: body.url,
        shards: body.shards,
        session_start_limit: SessionStartLimit {
            total: limit.total,
            remaining: limit.remaining,
            reset_after: Duration::from_millis(limit.reset_after),
            max_concurrency: limit.max_concurrency,
        },
    })
}

fn agent(timeout: Duration, trust: &crate::Trust) -> Result<ureq::Agent, DiscoveryError> {
    let roots = match trust.custom_roots() {
        None => roots()?,
        Some(der) => {
            let certs: Vec<_> = der
                .iter()
                .map(|der| ureq::tls::Certificate::from_der(der).to_owned())
                .collect();
            ureq::tls::RootCerts::new_with_certs(&certs)
        }
    };
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .root_certs(roots)
        .build();
    let config = ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_global(Some(timeout))
        // Statuses are answers to read, not transport errors.
        .http_status_as_error(false)
        .user_agent(USER_AGENT)
        .build();
    Ok(config.new_agent())
}

/// The roots the enabled feature chooses, as for the websocket: the system's with
/// `rustls-native-roots`, else Mozilla's with `rustls-webpki-roots`.
fn roots() -> Result<ureq::tls::RootCerts, DiscoveryError> {
    #[cfg(feature = "rustls-native-roots")]
    {
        let native = rustls_native_certs::load_native_certs();
        if !native.certs.is_empty() {
            let certs: Vec<_> = native
                .certs
                .iter()
                .map(|der| ureq::tls::Certificate::from_der(der).to_owned())
                .collect();
            return Ok(ureq::tls::RootCerts::new_with_certs(&certs));
        }
    }
    #[cfg(feature = "rustls-webpki-roots")]
    {
        Ok(ureq::tls::RootCerts::WebPki)
    }
    // Plain http:// (a simulated gateway) still works; https:// fails to verify, and says so.
    #[cfg(not(feature = "rustls-webpki-roots"))]
    {
        Ok(ureq::tls::RootCerts::new_with_certs(&[]))
    }
}

/// Makes the request on a thread of its own and awaits its answer on any runtime.
async fn get(agent: ureq::Agent, url: String, token: &Token) -> Result<Answer, DiscoveryError> {
    let authorization = format!("Bot {}", token.as_str());
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("gateway-discovery".to_owned())
        .spawn(move || {
            let _ = tx.send(blocking_get(&agent, &url, &authorization));
        })
        .map_err(|error| DiscoveryError::Request(Box::new(error)))?;
    rx.await.unwrap_or_else(|_| {
        Err(DiscoveryError::Request(
            "the discovery thread ended without an answer".into(),
        ))
    })
}

fn blocking_get(
    agent: &ureq::Agent,
    url: &str,
    authorization: &str,
) -> Result<Answer, DiscoveryError> {
    let request = |error: ureq::Error| DiscoveryError::Request(Box::new(error));
    let mut response = agent
        .get(url)
        .header("Authorization", authorization)
        .call()
        .map_err(request)?;
    let status = response.status().as_u16();
    let retry_after_header = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse().ok());
    let body = response.body_mut().read_to_string().map_err(request)?;
    Ok(Answer {
        status,
        retry_after_header,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, header: Option<f64>, body: &str) -> Answer {
        Answer {
            status,
            retry_after_header: header,
            body: body.to_owned(),
        }
    }

    #[test]
    fn parses_the_documented_body() {
        let bot = parse(
            r#"{"url":"wss://gateway.discord.gg","shards":9,"session_start_limit":{"total":1000,"remaining":999,"reset_after":14400000,"max_concurrency":1}}"#,
        )
        .unwrap();
        assert_eq!(bot.url, "wss://gateway.discord.gg");
        assert_eq!(bot.shards, 9);
        assert_eq!(bot.session_start_limit.remaining, 999);
        assert_eq!(
            bot.session_start_limit.reset_after,
            Duration::from_secs(4 * 3600)
        );
        assert!(matches!(
            parse(r#"{"url":"x","shards":1}"#),
            Err(DiscoveryError::Body(_))
        ));
    }

    #[test]
    fn retry_after_prefers_the_body_then_the_header() {
        let limited =
            r#"{"message":"You are being rate limited.","retry_after":0.25,"global":false}"#;
        assert_eq!(
            retry_after(&answer(429, Some(3.0), limited)),
            Duration::from_millis(250)
        );
        assert_eq!(
            retry_after(&answer(429, Some(2.0), "not json")),
            Duration::from_secs(2)
        );
        assert_eq!(retry_after(&answer(429, None, "")), Duration::from_secs(1));
    }

    #[test]
    fn discord_error_messages_are_read() {
        assert_eq!(
            discord_message(r#"{"message": "404: Not Found", "code": 0}"#).as_deref(),
            Some("404: Not Found")
        );
        assert_eq!(discord_message("<html>bad gateway</html>"), None);
    }
}
