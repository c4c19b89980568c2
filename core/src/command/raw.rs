//! Raw commands: pre-encoded JSON for a send event this crate has no type for.

use core::fmt;

use super::{sealed, Encode, EncodeError};
use crate::codec::etf::SerError;
use crate::codec::{validate_value, DecodeError};
use crate::protocol::OpCode;

/// Why `data` is not exactly one JSON value; each reason reads after the field name `d`.
mod reason {
    pub(super) const NOT_UTF8: &str = "is not valid UTF-8";
    pub(super) const EMPTY: &str = "holds no JSON value";
    pub(super) const TRAILING: &str = "has bytes after its JSON value";
    pub(super) const MALFORMED: &str = "is not well-formed JSON";
    pub(super) const BAD_STRING: &str =
        "has a JSON string with a raw control character, a bad escape or a lone surrogate";
    pub(super) const TOO_DEEP: &str = "nests arrays and objects more than 128 levels deep";
}

/// Checks `data` with the codec's strict validator and says what is wrong in a few words.
fn check_data(data: &[u8]) -> Result<(), &'static str> {
    if data
        .iter()
        .all(|byte| matches!(byte, b' ' | b'\t' | b'\n' | b'\r'))
    {
        return Err(reason::EMPTY);
    }
    validate_value(data).map_err(|error| match error {
        DecodeError::InvalidUtf8 { .. } => reason::NOT_UTF8,
        DecodeError::TrailingBytes { .. } => reason::TRAILING,
        DecodeError::InvalidEscape { .. } | DecodeError::ControlCharacter { .. } => {
            reason::BAD_STRING
        }
        DecodeError::TooDeep { .. } => reason::TOO_DEEP,
        _ => reason::MALFORMED,
    })
}

/// A send event whose `d` the caller encoded already, for opcodes or fields this crate does not
/// model yet.
///
/// `data` goes into the payload byte for byte, so it is checked first: it must be exactly one
/// well-formed JSON value (surrounding whitespace allowed) in UTF-8, and `op` must be an opcode a
/// client may send ([`OpCode::is_sendable`]). Anything else would get the connection closed.
///
/// `Debug` shows only the length of `data`, which may hold a token.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RawCommand<'a> {
    /// The opcode to send.
    pub op: OpCode,
    /// The JSON text of `d`.
    pub data: &'a [u8],
}

impl<'a> RawCommand<'a> {
    /// A raw command; nothing is checked until it is encoded (or [`RawCommand::validate`]d).
    #[must_use]
    pub const fn new(op: OpCode, data: &'a [u8]) -> Self {
        Self { op, data }
    }

    /// Checks that `op` may be sent and `data` is exactly one JSON value.
    ///
    /// # Errors
    /// [`EncodeError::InvalidField`] for field `op` or `d`.
    pub fn validate(&self) -> Result<(), EncodeError> {
        if !self.op.is_sendable() {
            return Err(EncodeError::invalid(
                "op",
                "is not an opcode a client may send",
            ));
        }
        check_data(self.data).map_err(|reason| EncodeError::invalid("d", reason))
    }
}

impl fmt::Debug for RawCommand<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawCommand")
            .field("op", &self.op)
            .field("data_len", &self.data.len())
            .finish_non_exhaustive()
    }
}

impl Encode for RawCommand<'_> {
    fn opcode(&self) -> OpCode {
        self.op
    }
}

impl sealed::Envelope for RawCommand<'_> {
    fn check(&self) -> Result<(), EncodeError> {
        self.validate()
    }

    fn write_envelope(&self, buf: &mut [u8]) -> Option<usize> {
        // `d` is already JSON (checked by `check`), so the envelope is written around it by hand.
        let mut digits = [0u8; 20];
        let op = crate::decimal::digits(self.op.to_u8().into(), &mut digits);
        let mut out = Cursor { buf, len: 0 };
        out.put(b"{\"op\":")?;
        out.put(op)?;
        out.put(b",\"d\":")?;
        out.put(self.data)?;
        out.put(b"}")?;
        Some(out.len)
    }

    fn write_etf_envelope(&self, buf: &mut [u8]) -> Result<usize, SerError> {
        // `d` is JSON text (checked by `validate`): transcoded term by term.
        crate::codec::etf::raw_envelope(self.op.to_u8(), self.data, buf)
    }
}

/// Appends to a slice, failing once it is full.
struct Cursor<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl Cursor<'_> {
    fn put(&mut self, bytes: &[u8]) -> Option<()> {
        let end = self.len.checked_add(bytes.len())?;
        self.buf.get_mut(self.len..end)?.copy_from_slice(bytes);
        self.len = end;
        Some(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::format;
    use std::vec::Vec;

    use serde_json::json;

    use super::{check_data, reason, RawCommand};
    use crate::codec::MAX_DEPTH;
    use crate::command::testing::{encode_to_string, round_trip};
    use crate::command::{encode_into, EncodeError, MAX_PAYLOAD_LEN};
    use crate::protocol::OpCode;

    #[test]
    fn data_is_inserted_verbatim() {
        let raw = RawCommand::new(OpCode::RequestSoundboardSounds, br#"{"guild_ids":["1"]}"#);
        assert_eq!(
            encode_to_string(&raw),
            r#"{"op":31,"d":{"guild_ids":["1"]}}"#
        );
        let spaced = RawCommand::new(OpCode::Heartbeat, b" \n 42 \t");
        assert_eq!(encode_to_string(&spaced), "{\"op\":1,\"d\": \n 42 \t}");
        assert_eq!(round_trip(&spaced, OpCode::Heartbeat), json!(42));
    }

    #[test]
    fn every_sendable_opcode_is_written_as_its_number() {
        for value in 0..=u8::MAX {
            let op = OpCode::from_u8(value);
            if op.is_sendable() {
                assert_eq!(round_trip(&RawCommand::new(op, b"null"), op), json!(null));
            }
        }
    }

    #[test]
    fn opcodes_a_client_may_not_send_are_refused() {
        for op in [
            OpCode::Dispatch,
            OpCode::Hello,
            OpCode::HeartbeatAck,
            OpCode::Reconnect,
            OpCode::InvalidSession,
            OpCode::Unknown(5),
            OpCode::Unknown(255),
        ] {
            assert_eq!(
                encode_into(&RawCommand::new(op, b"null"), &mut [0u8; 64]),
                Err(EncodeError::InvalidField {
                    field: "op",
                    reason: "is not an opcode a client may send",
                }),
                "{op:?}"
            );
        }
    }

    #[test]
    fn malformed_json_is_refused() {
        for bad in [
            &b""[..],
            b"{",
            b"{} {}",
            b"nul",
            b"\"\xff\"",
            b"[1,]",
            b"{\"a\":1",
        ] {
            let result = encode_into(&RawCommand::new(OpCode::Heartbeat, bad), &mut [0u8; 64]);
            assert!(
                matches!(result, Err(EncodeError::InvalidField { field: "d", .. })),
                "{bad:?}: {result:?}"
            );
        }
    }

    #[test]
    fn each_problem_has_its_reason() {
        for (data, expected) in [
            (&b""[..], reason::EMPTY),
            (b" \r\n\t", reason::EMPTY),
            (b"1 2", reason::TRAILING),
            (b"{}{}", reason::TRAILING),
            (b"null,", reason::TRAILING),
            (b"01", reason::TRAILING),
            (b"nulls", reason::TRAILING),
            (b"\"\xff\"", reason::NOT_UTF8),
            (b"\xC0\x80", reason::NOT_UTF8),
            (b"\"tab\tinside\"", reason::BAD_STRING),
            (b"[\"nul\0inside\"]", reason::BAD_STRING),
            (br#""\x41""#, reason::BAD_STRING),
            (br#""\u12""#, reason::BAD_STRING),
            (br#""\uD83D""#, reason::BAD_STRING),
            (br#""\uD83D\u0041""#, reason::BAD_STRING),
            (br#""\uDE00""#, reason::BAD_STRING),
            (b"nul", reason::MALFORMED),
            (b"-", reason::MALFORMED),
            (b"1.", reason::MALFORMED),
            (b".5", reason::MALFORMED),
            (b"+1", reason::MALFORMED),
            (b"[1,]", reason::MALFORMED),
            (b"{\"a\"}", reason::MALFORMED),
            (b"{a:1}", reason::MALFORMED),
            (b"[1 2]", reason::MALFORMED),
            (b"[}", reason::MALFORMED),
            (b"\"open", reason::MALFORMED),
            (b"NaN", reason::MALFORMED),
        ] {
            assert_eq!(check_data(data), Err(expected), "{data:?}");
        }
        let deepest = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert_eq!(check_data(deepest.as_bytes()), Ok(()));
        let too_deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(check_data(too_deep.as_bytes()), Err(reason::TOO_DEEP));
        assert_eq!(
            check_data("[".repeat(100_000).as_bytes()),
            Err(reason::TOO_DEEP)
        );
        assert_eq!(check_data(b" {\"a\": [1, \"\\u00e9\"]} "), Ok(()));
    }

    #[test]
    fn five_thousand_bytes_are_too_large() {
        let mut data = Vec::from(&b"\""[..]);
        data.resize(4999, b'a');
        data.push(b'"');
        let raw = RawCommand::new(OpCode::PresenceUpdate, &data);
        let mut buf = [0u8; MAX_PAYLOAD_LEN];
        assert_eq!(
            encode_into(&raw, &mut buf),
            Err(EncodeError::TooLarge {
                limit: MAX_PAYLOAD_LEN
            })
        );
    }

    #[test]
    fn debug_shows_only_the_length_of_data() {
        let raw = RawCommand::new(OpCode::Identify, br#"{"token":"secret-token"}"#);
        let text = format!("{raw:?}");
        assert!(!text.contains("secret"), "{text}");
        assert!(
            !text.contains("115"),
            "bytes must not be listed either: {text}"
        );
        assert_eq!(text, "RawCommand { op: Identify, data_len: 24, .. }");
    }
}
