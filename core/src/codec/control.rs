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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ready {
    /// The new session's id, needed to resume it.
    pub session_id: heapless::String<MAX_SESSION_ID_LEN>,
    /// Where to connect to resume it.
    pub resume_gateway_url: heapless::String<MAX_URL_LEN>,
}

impl Ready {
    /// Reads READY's `d`, unescaping the two strings the session keeps and skipping the rest.
    ///
    /// # Errors
    /// A [`DecodeError`] when `d` is malformed, a field is missing or not a string, or a string
    /// is longer than the room kept for it.
    pub fn parse(data: &[u8]) -> Result<Self, DecodeError> {
        let mut session_id = None;
        let mut resume_gateway_url = None;
        const FIELDS: [&str; 2] = ["session_id", "resume_gateway_url"];
        for_each_field(data, &FIELDS, |index, reader| {
            let field = FIELDS[index];
            if reader.peek_kind()? != Kind::String {
                return Err(DecodeError::WrongType {
                    field,
                    expected: "a string",
                });
            }
            let raw = reader.read_str()?;
            if index == 0 {
                raw.unescape_into(field, session_id.insert(heapless::String::new()))
            } else {
                raw.unescape_into(field, resume_gateway_url.insert(heapless::String::new()))
            }
        })?;
        Ok(Self {
            session_id: session_id.ok_or(DecodeError::MissingField {
                field: "session_id",
            })?,
            resume_gateway_url: resume_gateway_url.ok_or(DecodeError::MissingField {
                field: "resume_gateway_url",
            })?,
        })
    }
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
