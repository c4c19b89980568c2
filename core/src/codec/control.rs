//! The few payloads the session itself reads: Hello, READY and Invalid Session.
//!
//! These are read with the crate's own JSON reader rather than `serde-json-core`, because
//! serde-json-core 0.7 hands strings back with their escapes intact, and `resume_gateway_url`
//! (`"wss:\/\/..."` is valid JSON for it) must be unescaped before anyone dials it.

use core::time::Duration;

use super::json::{Kind, Reader};
use super::DecodeError;

/// The most bytes of a `session_id` kept (Discord's are 32 hex digits).
pub const MAX_SESSION_ID_LEN: usize = 64;
/// The most bytes of a `resume_gateway_url` kept.
pub const MAX_URL_LEN: usize = 128;

/// Op 10 Hello.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    /// How often to heartbeat.
    pub heartbeat_interval: Duration,
}

impl Hello {
    /// Reads Hello's `d`.
    ///
    /// # Errors
    /// A [`DecodeError`] when `d` is not an object with an integer `heartbeat_interval`.
    pub fn parse(data: &[u8]) -> Result<Self, DecodeError> {
        let mut interval = None;
        for_each_field(data, &["heartbeat_interval"], |_, reader| {
            if reader.peek_kind()? != Kind::Number {
                return Err(wrong_interval());
            }
            interval = Some(reader.read_u64().map_err(|_| wrong_interval())?);
            Ok(())
        })?;
        let millis = interval.ok_or(DecodeError::MissingField {
            field: "heartbeat_interval",
        })?;
        Ok(Self {
            heartbeat_interval: Duration::from_millis(millis),
        })
    }
}

fn wrong_interval() -> DecodeError {
    DecodeError::WrongType {
        field: "heartbeat_interval",
        expected: "a non-negative integer",
    }
}

/// What the session keeps from READY.
///
/// Each field is read on its own: READY means Discord accepted the Identify, whatever shape its
/// fields are in, so a field the core cannot use must not cost the whole payload. A READY from
/// before 2022 has no `resume_gateway_url` at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ready {
    /// The new session's id, needed to resume it, or why it cannot be kept (missing, not a
    /// string, or longer than [`MAX_SESSION_ID_LEN`]).
    pub session_id: Result<heapless::String<MAX_SESSION_ID_LEN>, DecodeError>,
    /// Where to connect to resume it, or why it cannot be kept.
    pub resume_gateway_url: Result<heapless::String<MAX_URL_LEN>, DecodeError>,
}

impl Ready {
    /// Reads READY's `d`, unescaping the two strings the session keeps and skipping the rest.
    ///
    /// # Errors
    /// A [`DecodeError`] when `d` is not a well-formed object or names one of the two fields
    /// twice. A field that is missing, not a string, or too long is reported in its own place.
    pub fn parse(data: &[u8]) -> Result<Self, DecodeError> {
        const FIELDS: [&str; 2] = ["session_id", "resume_gateway_url"];
        let mut session_id = Err(DecodeError::MissingField { field: FIELDS[0] });
        let mut resume_gateway_url = Err(DecodeError::MissingField { field: FIELDS[1] });
        for_each_field(data, &FIELDS, |index, reader| {
            let field = FIELDS[index];
            if reader.peek_kind()? != Kind::String {
                reader.skip_value()?;
                let wrong = DecodeError::WrongType {
                    field,
                    expected: "a string",
                };
                if index == 0 {
                    session_id = Err(wrong);
                } else {
                    resume_gateway_url = Err(wrong);
                }
                return Ok(());
            }
            let raw = reader.read_str()?;
            if index == 0 {
                session_id = unescaped(raw, field);
            } else {
                resume_gateway_url = unescaped(raw, field);
            }
            Ok(())
        })?;
        Ok(Self {
            session_id,
            resume_gateway_url,
        })
    }
}

/// A string field's text, or why it does not fit in `N` bytes.
fn unescaped<const N: usize>(
    raw: super::json::RawStr<'_>,
    field: &'static str,
) -> Result<heapless::String<N>, DecodeError> {
    let mut text = heapless::String::new();
    raw.unescape_into(field, &mut text)?;
    Ok(text)
}

/// Reads op 9's `d`: whether the session may be resumed. Discord sends a boolean; a missing or
/// null `d` is read as `false`, the safe answer (a new session always works).
///
/// # Errors
/// A [`DecodeError`] when `d` is present and neither a boolean nor null.
pub fn parse_invalid_session(data: Option<&[u8]>) -> Result<bool, DecodeError> {
    let Some(data) = data else { return Ok(false) };
    let mut reader = Reader::new(data);
    let resumable = match reader.peek_kind()? {
        Kind::Bool => reader.read_bool()?,
        Kind::Null => {
            reader.read_null()?;
            false
        }
        _ => {
            return Err(DecodeError::WrongType {
                field: "d",
                expected: "a boolean",
            })
        }
    };
    reader.finish()?;
    Ok(resumable)
}

/// Walks the object in `data`. For a key listed in `names`, `read` gets its index and reads the
/// value; every other value is skipped. A listed key that appears twice is an error.
fn for_each_field(
    data: &[u8],
    names: &[&'static str],
    mut read: impl FnMut(usize, &mut Reader<'_>) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let mut reader = Reader::new(data);
    if reader.peek_kind()? != Kind::Object {
        return Err(DecodeError::WrongType {
            field: "d",
            expected: "an object",
        });
    }
    reader.begin_object()?;
    let mut seen: u32 = 0;
    let mut first = true;
    while let Some(key) = reader.next_key(first)? {
        first = false;
        match names.iter().position(|name| key.equals(name)) {
            Some(index) => {
                if seen & (1 << index) != 0 {
                    return Err(DecodeError::DuplicateField {
                        field: names[index],
                    });
                }
                seen |= 1 << index;
                read(index, &mut reader)?;
            }
            None => {
                reader.skip_value()?;
            }
        }
    }
    reader.finish()
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::string::String;
    use std::vec::Vec;

    use super::{parse_invalid_session, Hello, Ready, MAX_SESSION_ID_LEN, MAX_URL_LEN};
    use crate::codec::{DecodeError, Envelope};
    use core::time::Duration;

    const HELLO: &str = include_str!("../../../fixtures/payload-examples/hello.json");
    const READY: &str = include_str!("../../../fixtures/payload-examples/ready.json");
    const SESSION_ID: &str = "b8db01e8de815a5c73391a08d7615c77";
    const URL: &str = "wss://gateway-us-east1-d.discord.gg";

    /// The `d` of a whole payload.
    fn data(payload: &str) -> &[u8] {
        Envelope::decode(payload.as_bytes())
            .expect("fixture decodes")
            .data()
            .expect("fixture has d")
    }

    /// READY's `d` with one piece of text replaced.
    fn ready_with(from: &str, to: &str) -> String {
        let d = core::str::from_utf8(data(READY)).unwrap();
        assert!(d.contains(from), "{from}");
        d.replacen(from, to, 1)
    }

    #[test]
    fn hello_with_trace() {
        let hello = Hello::parse(data(HELLO)).unwrap();
        assert_eq!(hello.heartbeat_interval, Duration::from_millis(41_250));
        let reordered =
            br#"{"_trace":["[\"gw\",{\"heartbeat_interval\":1}]"],"heartbeat_interval":45000}"#;
        assert_eq!(
            Hello::parse(reordered).unwrap().heartbeat_interval,
            Duration::from_millis(45_000)
        );
        let escaped_key = br#"{"heartbeat\u005finterval":1}"#;
        assert_eq!(
            Hello::parse(escaped_key).unwrap().heartbeat_interval,
            Duration::from_millis(1)
        );
    }

    #[test]
    fn broken_hello() {
        let wrong = Err(DecodeError::WrongType {
            field: "heartbeat_interval",
            expected: "a non-negative integer",
        });
        for value in [
            "\"41250\"",
            "null",
            "-1",
            "-0",
            "41250.0",
            "4e4",
            "[]",
            "true",
        ] {
            let d = std::format!(r#"{{"heartbeat_interval":{value}}}"#);
            assert_eq!(Hello::parse(d.as_bytes()), wrong, "{value}");
        }
        let too_big = br#"{"heartbeat_interval":18446744073709551616}"#;
        assert_eq!(Hello::parse(too_big), wrong);
        assert_eq!(
            Hello::parse(br#"{"_trace":[]}"#),
            Err(DecodeError::MissingField {
                field: "heartbeat_interval"
            })
        );
        assert_eq!(
            Hello::parse(br#"{"heartbeat_interval":1,"heartbeat_interval":2}"#),
            Err(DecodeError::DuplicateField {
                field: "heartbeat_interval"
            })
        );
        for not_object in [&b"null"[..], b"41250", b"[]", b"\"x\""] {
            assert_eq!(
                Hello::parse(not_object),
                Err(DecodeError::WrongType {
                    field: "d",
                    expected: "an object"
                })
            );
        }
        assert_eq!(
            Hello::parse(br#"{"heartbeat_interval":1"#),
            Err(DecodeError::UnexpectedEnd)
        );
        assert_eq!(
            Hello::parse(br#"{"heartbeat_interval":1} x"#),
            Err(DecodeError::TrailingBytes { offset: 25 })
        );
    }

    /// READY's session id, or why it was refused (the whole payload or the field alone).
    fn session_id_of(d: &[u8]) -> Result<String, DecodeError> {
        let ready = Ready::parse(d)?;
        ready.session_id.map(|id| String::from(id.as_str()))
    }

    fn resume_url_of(d: &[u8]) -> Result<String, DecodeError> {
        let ready = Ready::parse(d)?;
        ready
            .resume_gateway_url
            .map(|url| String::from(url.as_str()))
    }

    #[test]
    fn ready_keeps_session_and_resume_url() {
        assert_eq!(session_id_of(data(READY)).unwrap(), SESSION_ID);
        assert_eq!(resume_url_of(data(READY)).unwrap(), URL);
    }

    #[test]
    fn ready_strings_are_unescaped() {
        let d = ready_with(
            &std::format!("\"{URL}\""),
            r#""wss:\/\/gateway-us-east1-d.discord.gg""#,
        );
        let d = d.replacen(
            &std::format!("\"{SESSION_ID}\""),
            r#""\u0062\u0038db01e8de815a5c73391a08d7615c77""#,
            1,
        );
        let d = d.replacen("\"session_id\"", r#""session\u005Fid""#, 1);
        assert_eq!(resume_url_of(d.as_bytes()).unwrap(), URL);
        assert_eq!(session_id_of(d.as_bytes()).unwrap(), SESSION_ID);

        // The room is for the unescaped text: escapes may make the raw text longer.
        let long_raw = String::from("wss:") + &r"\/".repeat(100);
        assert!(long_raw.len() > MAX_URL_LEN);
        let d = ready_with(&std::format!("\"{URL}\""), &std::format!("\"{long_raw}\""));
        assert_eq!(resume_url_of(d.as_bytes()).unwrap().len(), 104);
    }

    #[test]
    fn ready_strings_that_do_not_fit() {
        let longest_id = "a".repeat(MAX_SESSION_ID_LEN);
        let d = ready_with(SESSION_ID, &longest_id);
        assert_eq!(session_id_of(d.as_bytes()).unwrap(), longest_id);
        // A field that does not fit is refused on its own; the other is still read.
        let d = ready_with(SESSION_ID, &"a".repeat(MAX_SESSION_ID_LEN + 1));
        assert_eq!(resume_url_of(d.as_bytes()).unwrap(), URL);
        assert_eq!(
            session_id_of(d.as_bytes()),
            Err(DecodeError::TooLong {
                field: "session_id",
                limit: MAX_SESSION_ID_LEN
            })
        );
        let long_url = String::from("wss://") + &"a".repeat(MAX_URL_LEN - 5);
        let d = ready_with(URL, &long_url);
        assert_eq!(session_id_of(d.as_bytes()).unwrap(), SESSION_ID);
        assert_eq!(
            resume_url_of(d.as_bytes()),
            Err(DecodeError::TooLong {
                field: "resume_gateway_url",
                limit: MAX_URL_LEN
            })
        );
    }

    #[test]
    fn broken_ready() {
        let missing = |field| Err(DecodeError::MissingField { field });
        let d = ready_with("\"session_id\"", "\"session\"");
        assert_eq!(session_id_of(d.as_bytes()), missing("session_id"));
        assert_eq!(resume_url_of(d.as_bytes()).unwrap(), URL);
        // READYs from before 2022 have no resume URL.
        let d = ready_with("\"resume_gateway_url\"", "\"gateway_url\"");
        assert_eq!(resume_url_of(d.as_bytes()), missing("resume_gateway_url"));
        assert_eq!(session_id_of(d.as_bytes()).unwrap(), SESSION_ID);
        // The same keys deeper down are not READY's.
        let nested = br#"{"user":{"session_id":"x","resume_gateway_url":"wss://x"}}"#;
        assert_eq!(session_id_of(nested), missing("session_id"));
        assert_eq!(resume_url_of(nested), missing("resume_gateway_url"));

        let not_string = Err(DecodeError::WrongType {
            field: "session_id",
            expected: "a string",
        });
        for value in ["null", "5", "[]", "{}"] {
            let d = ready_with(&std::format!("\"{SESSION_ID}\""), value);
            assert_eq!(session_id_of(d.as_bytes()), not_string, "{value}");
            assert_eq!(resume_url_of(d.as_bytes()).unwrap(), URL);
        }
        let d = ready_with("\"session_type\"", "\"session_id\"");
        assert_eq!(
            Ready::parse(d.as_bytes()),
            Err(DecodeError::DuplicateField {
                field: "session_id"
            })
        );
        let d = ready_with(SESSION_ID, r"\ud800");
        assert!(matches!(
            session_id_of(d.as_bytes()),
            Err(DecodeError::InvalidEscape { .. })
        ));
        let mut d: Vec<u8> = ready_with(SESSION_ID, "\u{e9}").into_bytes();
        let at = d.iter().position(|&b| b == 0xC3).unwrap();
        d[at + 1] = 0xFF;
        assert!(matches!(
            session_id_of(&d),
            Err(DecodeError::InvalidUtf8 { .. })
        ));
        let d = ready_with(SESSION_ID, "tab\there");
        assert!(matches!(
            session_id_of(d.as_bytes()),
            Err(DecodeError::ControlCharacter { .. })
        ));
        let d = data(READY);
        assert_eq!(
            Ready::parse(&d[..d.len() - 1]),
            Err(DecodeError::UnexpectedEnd)
        );
    }

    #[test]
    fn invalid_session_reads_its_boolean() {
        assert_eq!(parse_invalid_session(Some(b"true")), Ok(true));
        assert_eq!(parse_invalid_session(Some(b"false")), Ok(false));
        assert_eq!(parse_invalid_session(Some(b" true\n")), Ok(true));
        // No answer is the safe answer: start a new session.
        assert_eq!(parse_invalid_session(Some(b"null")), Ok(false));
        assert_eq!(parse_invalid_session(None), Ok(false));

        let not_bool = Err(DecodeError::WrongType {
            field: "d",
            expected: "a boolean",
        });
        for garbage in [&b"1"[..], b"0", b"\"true\"", b"{}", b"[true]"] {
            assert_eq!(parse_invalid_session(Some(garbage)), not_bool);
        }
        assert_eq!(
            parse_invalid_session(Some(b"tru")),
            Err(DecodeError::UnexpectedEnd)
        );
        assert!(matches!(
            parse_invalid_session(Some(b"True")),
            Err(DecodeError::UnexpectedByte { offset: 0, .. })
        ));
        assert!(matches!(
            parse_invalid_session(Some(b"truex")),
            Err(DecodeError::TrailingBytes { offset: 4 })
        ));
        assert!(matches!(
            parse_invalid_session(Some(b"true false")),
            Err(DecodeError::TrailingBytes { offset: 5 })
        ));
        assert_eq!(
            parse_invalid_session(Some(b"")),
            Err(DecodeError::UnexpectedEnd)
        );

        for (payload, resumable) in [
            (
                include_str!("../../../fixtures/payload-examples/invalid_session_resumable.json"),
                true,
            ),
            (
                include_str!(
                    "../../../fixtures/payload-examples/invalid_session_not_resumable.json"
                ),
                false,
            ),
        ] {
            let envelope = Envelope::decode(payload.as_bytes()).unwrap();
            assert_eq!(parse_invalid_session(envelope.data()), Ok(resumable));
        }
        let absent = Envelope::decode(br#"{"op":9}"#).unwrap();
        assert_eq!(parse_invalid_session(absent.data()), Ok(false));
    }
}
