//! The HTTP side of the port: reading a request head, the websocket upgrade answer, and
//! `GET /api/v10/gateway[/bot]`.
//!
//! The sim reads the request head itself (rather than letting the websocket library do it) so one
//! port can serve both REST and websocket, and so it can complete the upgrade before rejecting a
//! bad `v`/`encoding` with a close code, as Discord does.

use std::io;
use std::time::Instant;

use crate::stream::SimStream;
use async_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::state::{lock, Shared};

const MAX_HEAD: usize = 16 * 1024;

/// A parsed request line and headers.
#[derive(Debug)]
pub(crate) struct RequestHead {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: String,
    headers: Vec<(String, String)>,
}

impl RequestHead {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.header(name)
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }

    pub(crate) fn is_websocket_upgrade(&self) -> bool {
        self.header_has_token("upgrade", "websocket")
            && self.header_has_token("connection", "upgrade")
    }
}

/// Reads a request head. Returns the head and any bytes read past it, or `None` if the peer sent
/// something that is not HTTP (it has then been answered with 400) or went away.
pub(crate) async fn read_head(
    stream: &mut SimStream,
) -> io::Result<Option<(RequestHead, Vec<u8>)>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let target = req.path.unwrap_or("/");
                let (path, query) = target.split_once('?').unwrap_or((target, ""));
                let head = RequestHead {
                    method: req.method.unwrap_or("").to_owned(),
                    path: path.to_owned(),
                    query: query.to_owned(),
                    headers: req
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_owned(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect(),
                };
                return Ok(Some((head, buf[len..].to_vec())));
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
            _ => {
                respond(
                    stream,
                    400,
                    "Bad Request",
                    r#"{"message": "400: Bad Request", "code": 0}"#,
                )
                .await?;
                return Ok(None);
            }
        }
    }
}

/// The `101 Switching Protocols` answer for a websocket key.
pub(crate) fn upgrade_response(key: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    )
}

/// Writes a JSON response and ends the exchange (`Connection: close`).
pub(crate) async fn respond(
    stream: &mut SimStream,
    status: u16,
    reason: &str,
    body: &str,
) -> io::Result<()> {
    respond_with(stream, status, reason, "", body).await
}

/// [`respond`] with extra header lines (each ending in `\r\n`).
async fn respond_with(
    stream: &mut SimStream,
    status: u16,
    reason: &str,
    headers: &str,
    body: &str,
) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
{headers}Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.flush().await?;
    stream.shutdown().await
}

/// Serves a plain HTTP request: the gateway discovery endpoints, 401 without the right token,
/// 404 for anything else.
pub(crate) async fn serve(
    shared: &Shared,
    head: &RequestHead,
    stream: &mut SimStream,
) -> io::Result<()> {
    shared.count(|c| c.http_requests += 1);
    let route = route(&head.path);
    if head.method != "GET" && route != Route::NotFound {
        return respond(
            stream,
            405,
            "Method Not Allowed",
            r#"{"message": "405: Method Not Allowed", "code": 0}"#,
        )
        .await;
    }
    match route {
        Route::Gateway => {
            let body = format!(r#"{{"url":"{}"}}"#, shared.url());
            respond(stream, 200, "OK", &body).await
        }
        Route::GatewayBot => {
            let expected = format!("Bot {}", shared.config.token);
            if head.header("authorization") != Some(expected.as_str()) {
                return respond(
                    stream,
                    401,
                    "Unauthorized",
                    r#"{"message": "401: Unauthorized", "code": 0}"#,
                )
                .await;
            }
            if let Some(retry_after) = take_rate_limit(shared) {
                shared.count(|c| c.http_rate_limited += 1);
                let body = format!(
                    r#"{{"message": "You are being rate limited.", "retry_after": {:.3}, "global": false}}"#,
                    retry_after.as_secs_f64()
                );
                let headers = format!(
                    "Retry-After: {}\r\nX-RateLimit-Scope: user\r\n",
                    retry_after.as_secs_f64().ceil() as u64
                );
                return respond_with(stream, 429, "Too Many Requests", &headers, &body).await;
            }
            let (total, remaining, reset_after, max_concurrency) =
                lock(&shared.limiter).snapshot(Instant::now());
            let body = format!(
                r#"{{"url":"{}","shards":{},"session_start_limit":{{"total":{total},"remaining":{remaining},"reset_after":{reset_after},"max_concurrency":{max_concurrency}}}}}"#,
                shared.url(),
                shared.config.recommended_shards,
            );
            respond(stream, 200, "OK", &body).await
        }
        Route::NotFound => {
            respond(
                stream,
                404,
                "Not Found",
                r#"{"message": "404: Not Found", "code": 0}"#,
            )
            .await
        }
    }
}

/// The `retry_after` to answer this request with, if a rate limit was asked for.
fn take_rate_limit(shared: &Shared) -> Option<std::time::Duration> {
    let mut limited = lock(&shared.gateway_bot_429);
    if limited.0 == 0 {
        return None;
    }
    limited.0 -= 1;
    Some(limited.1)
}

#[derive(Debug, PartialEq, Eq)]
enum Route {
    Gateway,
    GatewayBot,
    NotFound,
}

fn route(path: &str) -> Route {
    let path = path.trim_end_matches('/');
    let Some(rest) = path.strip_prefix("/api") else {
        return Route::NotFound;
    };
    // `/api/gateway` (unversioned) and `/api/v<N>/gateway` are both served.
    let rest = match rest.strip_prefix("/v") {
        Some(versioned) => match versioned.split_once('/') {
            Some((v, tail)) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => tail,
            _ => return Route::NotFound,
        },
        None => rest.strip_prefix('/').unwrap_or(rest),
    };
    match rest {
        "gateway" => Route::Gateway,
        "gateway/bot" => Route::GatewayBot,
        _ => Route::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::{route, Route};

    #[test]
    fn routes() {
        assert_eq!(route("/api/v10/gateway/bot"), Route::GatewayBot);
        assert_eq!(route("/api/v9/gateway"), Route::Gateway);
        assert_eq!(route("/api/gateway/bot/"), Route::GatewayBot);
        assert_eq!(route("/api/vx/gateway"), Route::NotFound);
        assert_eq!(route("/gateway"), Route::NotFound);
    }
}
