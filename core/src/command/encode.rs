//! Turning a command into the bytes of one frame: JSON text, or ETF binary.

use super::{Encode, EncodeError};
use crate::codec::etf::SerError;
use crate::codec::Encoding;

/// The largest payload Discord accepts from a client, in bytes. It closes the connection with
/// 4002 (decode error) on anything longer, so the encoder refuses such payloads instead.
pub const MAX_PAYLOAD_LEN: usize = 4096;

/// Encodes `cmd` as a complete payload at the start of `buf` and returns its length.
///
/// On error nothing useful is left in `buf` (it may hold part of a payload).
///
/// # Errors
/// - [`EncodeError::InvalidField`] when the command fails validation (nothing is written);
/// - [`EncodeError::TooLarge`] when the payload would exceed [`MAX_PAYLOAD_LEN`];
/// - [`EncodeError::BufferTooSmall`] with the payload's exact length when `buf` is shorter. To
///   measure it the command is encoded once more into a [`MAX_PAYLOAD_LEN`]-byte buffer on the
///   stack; a `buf` of [`MAX_PAYLOAD_LEN`] bytes never needs that.
pub fn encode_into(cmd: &impl Encode, buf: &mut [u8]) -> Result<usize, EncodeError> {
    encode_into_as(Encoding::Json, cmd, buf)
}

/// [`encode_into`] for an ETF connection: the payload is one ETF message (version byte 131, then
/// a map with binary keys `op` and `d`), to be sent as a binary frame. The same limits apply.
///
/// # Errors
/// As [`encode_into`]. A [`RawCommand`](super::RawCommand)'s JSON `d` is transcoded: objects
/// become maps with binary keys, strings binaries, integers that fit in 64 bits integers, other
/// numbers floats.
pub fn encode_etf_into(cmd: &impl Encode, buf: &mut [u8]) -> Result<usize, EncodeError> {
    encode_into_as(Encoding::Etf, cmd, buf)
}

/// Encodes `cmd` in `encoding` at the start of `buf` (see [`encode_into`]).
pub(crate) fn encode_into_as(
    encoding: Encoding,
    cmd: &impl Encode,
    buf: &mut [u8],
) -> Result<usize, EncodeError> {
    cmd.check()?;
    let write = |buf: &mut [u8]| match encoding {
        Encoding::Json => Ok(cmd.write_envelope(buf)),
        Encoding::Etf => match cmd.write_etf_envelope(buf) {
            Ok(len) => Ok(Some(len)),
            Err(SerError::Full) => Ok(None),
            Err(SerError::Unsupported(reason)) => Err(EncodeError::invalid("d", reason)),
        },
    };
    // Never let a payload grow past the limit, even into a larger buffer.
    let usable = buf.len().min(MAX_PAYLOAD_LEN);
    if let Some(len) = write(&mut buf[..usable])? {
        return Ok(len);
    }
    if usable == MAX_PAYLOAD_LEN {
        return Err(EncodeError::TooLarge {
            limit: MAX_PAYLOAD_LEN,
        });
    }
    let mut scratch = [0u8; MAX_PAYLOAD_LEN];
    match write(&mut scratch)? {
        Some(needed) => Err(EncodeError::BufferTooSmall { needed }),
        None => Err(EncodeError::TooLarge {
            limit: MAX_PAYLOAD_LEN,
        }),
    }
}

/// Encodes `cmd` as a complete payload and writes it to `out`; returns the number of bytes
/// written.
///
/// The payload is built in a [`MAX_PAYLOAD_LEN`]-byte buffer on the stack first, so nothing
/// reaches `out` unless the whole command is valid and within the limit. `out` is not flushed:
/// the payload is one websocket message and the caller knows where that ends.
///
/// # Errors
/// - [`EncodeError::InvalidField`] and [`EncodeError::TooLarge`] as for [`encode_into`], before
///   anything is written;
/// - [`EncodeError::Write`] when `out` fails, and [`EncodeError::WriteZero`] when it stops
///   accepting bytes without an error; part of the payload may have been written then.
pub fn encode<W: embedded_io::Write>(
    cmd: &impl Encode,
    out: &mut W,
) -> Result<usize, EncodeError<W::Error>> {
    encode_as(Encoding::Json, cmd, out)
}

/// [`encode`] for an ETF connection: the bytes of one binary frame (see [`encode_etf_into`]).
///
/// # Errors
/// As [`encode`] and [`encode_etf_into`].
pub fn encode_etf<W: embedded_io::Write>(
    cmd: &impl Encode,
    out: &mut W,
) -> Result<usize, EncodeError<W::Error>> {
    encode_as(Encoding::Etf, cmd, out)
}

fn encode_as<W: embedded_io::Write>(
    encoding: Encoding,
    cmd: &impl Encode,
    out: &mut W,
) -> Result<usize, EncodeError<W::Error>> {
    let mut scratch = [0u8; MAX_PAYLOAD_LEN];
    let len = encode_into_as(encoding, cmd, &mut scratch).map_err(EncodeError::widen)?;
    // `write_all` would panic on a writer that returns `Ok(0)`; report it instead.
    let mut written = 0;
    while written < len {
        match out.write(&scratch[written..len]) {
            Ok(0) => return Err(EncodeError::WriteZero { written }),
            Ok(n) => written += n,
            Err(error) => return Err(EncodeError::Write(error)),
        }
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec;
    use std::vec::Vec;

    use embedded_io::{ErrorType, SliceWriteError, Write};

    use super::{encode, encode_into, MAX_PAYLOAD_LEN};
    use serde_json::json;

    use crate::command::testing::{encode_to_string, round_trip};
    use crate::command::{
        Activity, ActivityType, ConnectionProperties, EncodeError, Heartbeat, Identify,
        MemberSelector, RawCommand, RequestGuildMembers, Resume, Status, UpdatePresence,
    };
    use crate::protocol::{Intents, OpCode, Snowflake};
    use crate::token::Token;

    #[test]
    fn a_short_buffer_learns_the_exact_size_and_a_retry_succeeds() {
        let activities = [Activity::new(ActivityType::Watching, "the gateway")];
        let presence = UpdatePresence::new(Status::Idle, &activities);
        let mut full = [0u8; MAX_PAYLOAD_LEN];
        let expected = encode_into(&presence, &mut full).unwrap();

        for short in [0, 1, expected / 2, expected - 1] {
            let mut buf = vec![0u8; short];
            assert_eq!(
                encode_into(&presence, &mut buf),
                Err(EncodeError::BufferTooSmall { needed: expected }),
                "{short} bytes"
            );
        }
        let mut exact = vec![0u8; expected];
        assert_eq!(encode_into(&presence, &mut exact), Ok(expected));
        assert_eq!(exact, full[..expected]);
    }

    #[test]
    fn a_larger_buffer_is_only_used_up_to_the_limit() {
        let name = "n".repeat(MAX_PAYLOAD_LEN);
        let activities = [Activity::new(ActivityType::Playing, &name)];
        let presence = UpdatePresence::new(Status::Online, &activities);
        let mut huge = vec![0u8; 3 * MAX_PAYLOAD_LEN];
        assert_eq!(
            encode_into(&presence, &mut huge),
            Err(EncodeError::TooLarge {
                limit: MAX_PAYLOAD_LEN
            })
        );
        let mut small = [0u8; 16];
        assert_eq!(
            encode_into(&presence, &mut small),
            Err(EncodeError::TooLarge {
                limit: MAX_PAYLOAD_LEN
            })
        );
    }

    #[test]
    fn a_payload_of_exactly_the_limit_is_sent() {
        // {"op":1,"d":"..."} with the string filling the rest.
        let envelope = br#"{"op":1,"d":""}"#.len();
        let text = [b'"']
            .into_iter()
            .chain(core::iter::repeat_n(b'x', MAX_PAYLOAD_LEN - envelope))
            .chain([b'"'])
            .collect::<Vec<u8>>();
        let at_limit = RawCommand::new(OpCode::Heartbeat, &text);
        let mut buf = [0u8; MAX_PAYLOAD_LEN];
        assert_eq!(encode_into(&at_limit, &mut buf), Ok(MAX_PAYLOAD_LEN));

        let one_more = [&text[..1], b"x", &text[1..]].concat();
        let over = RawCommand::new(OpCode::Heartbeat, &one_more);
        assert_eq!(
            encode_into(&over, &mut buf),
            Err(EncodeError::TooLarge {
                limit: MAX_PAYLOAD_LEN
            })
        );
    }

    #[test]
    fn invalid_commands_are_refused_before_anything_is_written() {
        let raw = RawCommand::new(OpCode::Heartbeat, b"{");
        let mut buf = [0xAAu8; 32];
        assert!(matches!(
            encode_into(&raw, &mut buf),
            Err(EncodeError::InvalidField { field: "d", .. })
        ));
        assert_eq!(buf, [0xAA; 32]);
        let mut out = Sink::default();
        assert!(matches!(
            encode(&raw, &mut out),
            Err(EncodeError::InvalidField { field: "d", .. })
        ));
        assert!(out.0.is_empty());
    }

    #[test]
    fn a_writer_receives_the_same_bytes() {
        let beat = Heartbeat { seq: None };
        let mut out = Sink::default();
        assert_eq!(encode(&beat, &mut out), Ok(17));
        assert_eq!(out.0, br#"{"op":1,"d":null}"#);
    }

    #[test]
    fn writer_errors_are_passed_on() {
        let beat = Heartbeat { seq: Some(7) };
        let mut tiny = [0u8; 4];
        let mut slice: &mut [u8] = &mut tiny;
        assert_eq!(
            encode(&beat, &mut slice),
            Err(EncodeError::Write(SliceWriteError::Full))
        );
    }

    /// Strings JSON must escape, and characters it must not mangle.
    const AWKWARD: [&str; 8] = [
        "say \"hi\"",
        "C:\\path\\",
        "line\nbreak\r\ttab",
        "nul\u{0}bell\u{7}esc\u{1b}unit\u{1f}del\u{7f}",
        "é ü ß 日本語 🦀 👩‍💻",
        "\u{2028}\u{2029}\u{feff}",
        "</script> \\u0041 /slash/",
        "",
    ];

    #[test]
    fn strings_are_escaped_and_parse_back_unchanged() {
        for text in AWKWARD {
            let activities = [Activity::new(ActivityType::Listening, text)
                .with_state(text)
                .with_url(text)];
            let d = round_trip(
                &UpdatePresence::new(Status::Online, &activities),
                OpCode::PresenceUpdate,
            );
            for key in ["name", "state", "url"] {
                assert_eq!(d["activities"][0][key], json!(text), "{text:?}");
            }

            let token = Token::new("abc").unwrap();
            let identify = Identify::new(
                &token,
                Intents::GUILDS,
                ConnectionProperties::new(text, text, text),
            );
            let d = round_trip(&identify, OpCode::Identify);
            assert_eq!(
                d["properties"],
                json!({"os": text, "browser": text, "device": text})
            );

            let resume = Resume {
                token: &token,
                session_id: text,
                seq: 1,
            };
            if !text.is_empty() {
                assert_eq!(
                    round_trip(&resume, OpCode::Resume)["session_id"],
                    json!(text)
                );
            }

            let query = RequestGuildMembers::new(
                Snowflake(1),
                MemberSelector::Query {
                    prefix: text,
                    limit: 1,
                },
            );
            let d = round_trip(&query, OpCode::RequestGuildMembers);
            assert_eq!(d["query"], json!(text), "{text:?}");
        }
    }

    #[test]
    fn control_characters_use_json_escapes() {
        let activities = [Activity::new(ActivityType::Playing, "\"\\\n\u{0}\u{1f}")];
        let text = encode_to_string(&UpdatePresence::new(Status::Online, &activities));
        assert!(text.contains(r#""name":"\"\\\n\u0000\u001f""#), "{text}");
    }

    /// Collects everything written, like a websocket message being assembled.
    #[derive(Default)]
    struct Sink(Vec<u8>);

    impl ErrorType for Sink {
        type Error = core::convert::Infallible;
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
            self.0.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> Result<(), Self::Error> {
            Ok(())
        }
    }

    /// Accepts a few bytes, then claims success while taking none.
    struct Stalling(usize);

    impl ErrorType for Stalling {
        type Error = core::convert::Infallible;
    }

    impl Write for Stalling {
        fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
            let n = buf.len().min(self.0);
            self.0 -= n;
            Ok(n)
        }

        fn flush(&mut self) -> Result<(), Self::Error> {
            Ok(())
        }
    }

    #[test]
    fn a_stalling_writer_is_reported_not_a_panic() {
        let beat = Heartbeat { seq: Some(7) };
        assert_eq!(
            encode(&beat, &mut Stalling(5)),
            Err(EncodeError::WriteZero { written: 5 })
        );
        assert_eq!(encode(&beat, &mut Stalling(100)), Ok(14));
    }
}
