//! What the `websocket_handshake` fuzz target runs (`fuzz/`); not part of the API.

use crate::{check_response, HandshakeError, Key, Request};

/// The key every fuzzed response is checked against (RFC 6455's sample).
const KEY: [u8; 16] = *b"the sample nonce";

/// Checks a response head from arbitrary bytes, and the same bytes cut at a point they choose:
/// no panic, a measured head within the bytes, and a head complete in the whole is partial in
/// every shorter prefix and complete, of the same length, in every longer one. Then builds a
/// request from the bytes split at NULs: if it is written, `httparse` reads it back whole,
/// with the target sent.
pub fn response_head(data: &[u8]) {
    let key = Key::new(KEY);
    let whole = check_response(data, &key);
    let cut = usize::from(data.first().copied().unwrap_or(0)) * 67 % (data.len() + 1);
    let part = check_response(&data[..cut], &key);
    if let Ok(Some(len)) = whole {
        assert!(len <= data.len());
        if cut < len {
            assert_eq!(part, Ok(None));
        } else {
            assert_eq!(part, Ok(Some(len)));
        }
    }

    let mut fields = data.split(|&byte| byte == 0).map(core::str::from_utf8);
    let (Some(Ok(host)), Some(Ok(target)), agent) = (fields.next(), fields.next(), fields.next())
    else {
        return;
    };
    let request = Request {
        host,
        target,
        key: &key,
        user_agent: agent.and_then(Result::ok),
        headers: &[("X-Fuzz", b"1")],
    };
    let mut out = [0; 1024];
    match request.write(&mut out) {
        Ok(len) => {
            assert_eq!(request.encoded_len(), Ok(len));
            let mut headers = [httparse::EMPTY_HEADER; 8];
            let mut parsed = httparse::Request::new(&mut headers);
            assert_eq!(
                parsed.parse(&out[..len]),
                Ok(httparse::Status::Complete(len))
            );
            let path = parsed.path.unwrap_or_default();
            assert_eq!(path.trim_start_matches('/'), target.trim_start_matches('/'));
            assert_eq!(
                parsed.headers.len(),
                6 + usize::from(request.user_agent.is_some())
            );
        }
        Err(HandshakeError::RequestTooLong { needed }) => assert!(needed > out.len()),
        Err(HandshakeError::InvalidRequest(_)) => {}
        Err(other) => panic!("writing a request cannot fail with {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    /// The seeds of `fuzz/seeds/websocket_handshake`, each cut at every point.
    #[test]
    fn the_seeds_pass_at_every_cut() {
        let response: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x02hi";
        let request: &[u8] = b"gateway.discord.gg\0/?v=10&encoding=json\0DiscordBot (x, 1)";
        for seed in [response, request, b"\0\0", b"h\0 \0\r\n"] {
            for first in 0..=u8::MAX {
                let mut input = Vec::from(seed);
                input[0] = first;
                super::response_head(&input);
                super::response_head(&input[1..]);
            }
        }
    }
}
