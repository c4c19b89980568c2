//! Hello, READY and Invalid Session read from ETF: the same results and errors as their JSON
//! readers in `codec/control.rs`.

use core::time::Duration;

use crate::codec::{DecodeError, Hello, Ready};

use super::reader::{Reader, Term};

/// Reads Hello's `d` (a bare term).
pub(crate) fn hello(data: &[u8]) -> Result<Hello, DecodeError> {
    let wrong = DecodeError::WrongType {
        field: "heartbeat_interval",
        expected: "a non-negative integer",
    };
    let mut interval = None;
    for_each_field(data, &["heartbeat_interval"], |_, reader| {
        match reader.next()? {
            Term::Integer(value) => {
                interval = Some(u64::try_from(value).map_err(|_| wrong)?);
                Ok(())
            }
            _ => Err(wrong),
        }
    })?;
    let millis = interval.ok_or(DecodeError::MissingField {
        field: "heartbeat_interval",
    })?;
    Ok(Hello {
        heartbeat_interval: Duration::from_millis(millis),
    })
}

/// Reads READY's `d`, keeping `session_id` and `resume_gateway_url`.
pub(crate) fn ready(data: &[u8]) -> Result<Ready, DecodeError> {
    const FIELDS: [&str; 2] = ["session_id", "resume_gateway_url"];
    let mut session_id = Err(DecodeError::MissingField { field: FIELDS[0] });
    let mut resume_gateway_url = Err(DecodeError::MissingField { field: FIELDS[1] });
    for_each_field(data, &FIELDS, |index, reader| {
        let field = FIELDS[index];
        let offset = reader.position();
        let text = match reader.next()? {
            Term::Binary(bytes) => {
                core::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8 { offset })
            }
            Term::Atom(atom) if !atom.is("nil") => {
                atom.as_str().ok_or(DecodeError::InvalidUtf8 { offset })
            }
            head => {
                // Step over the rest of a compound value before reporting its type.
                skip_contents(reader, head)?;
                Err(DecodeError::WrongType {
                    field,
                    expected: "a string",
                })
            }
        };
        if index == 0 {
            session_id = text.and_then(|text| kept(text, field));
        } else {
            resume_gateway_url = text.and_then(|text| kept(text, field));
        }
        Ok(())
    })?;
    Ok(Ready {
        session_id,
        resume_gateway_url,
    })
}

/// Reads op 9's `d`: a boolean atom; absent or `nil` reads as `false`.
pub(crate) fn invalid_session(data: Option<&[u8]>) -> Result<bool, DecodeError> {
    let Some(data) = data else { return Ok(false) };
    let mut reader = Reader::new(data);
    let resumable = match reader.next()? {
        Term::Atom(atom) if atom.is("true") => true,
        Term::Atom(atom) if atom.is("false") || atom.is("nil") => false,
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

fn kept<const N: usize>(
    text: &str,
    field: &'static str,
) -> Result<heapless::String<N>, DecodeError> {
    heapless::String::try_from(text).map_err(|_| DecodeError::TooLong { field, limit: N })
}

/// Skips what follows a container head already read.
fn skip_contents(reader: &mut Reader<'_>, head: Term<'_>) -> Result<(), DecodeError> {
    let children = match head {
        Term::List(len) => u64::from(len) + 1,
        Term::Tuple(arity) => u64::from(arity),
        Term::Map(arity) => 2 * u64::from(arity),
        _ => 0,
    };
    for _ in 0..children {
        reader.skip(2)?;
    }
    Ok(())
}

/// Walks the map in `data` as `codec/control.rs` walks a JSON object: `read` reads the value of a
/// listed key, every other value is skipped, and a listed key seen twice is an error.
fn for_each_field(
    data: &[u8],
    names: &[&'static str],
    mut read: impl FnMut(usize, &mut Reader<'_>) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let mut reader = Reader::new(data);
    let Term::Map(arity) = reader.next()? else {
        return Err(DecodeError::WrongType {
            field: "d",
            expected: "an object",
        });
    };
    let mut seen: u32 = 0;
    for _ in 0..arity {
        let key: &[u8] = match reader.next()? {
            Term::Atom(atom) => atom.as_bytes(),
            Term::Binary(bytes) => bytes,
            head => {
                skip_contents(&mut reader, head)?;
                b""
            }
        };
        match names.iter().position(|name| name.as_bytes() == key) {
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
                reader.skip(1)?;
            }
        }
    }
    reader.finish()?;
    Ok(())
}
