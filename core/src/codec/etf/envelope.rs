//! The envelope scan for ETF: the same fields, checks and early stop as the JSON scan, over a map.

use crate::codec::envelope::{Data, Envelope, EventName};
use crate::codec::json::RawStr;
use crate::codec::{DecodeError, Encoding};
use crate::protocol::OpCode;

use super::reader::{Reader, Term};

/// Scans an ETF message; see [`Envelope::decode_filtered`] for what `wanted` is asked and when.
pub(crate) fn decode_filtered<'a>(
    bytes: &'a [u8],
    mut wanted: impl FnMut(&EventName<'a>) -> bool,
) -> Result<Envelope<'a>, DecodeError> {
    let mut reader = Reader::message(bytes)?;
    let Term::Map(arity) = reader.next()? else {
        return Err(DecodeError::NotAnObject);
    };
    let mut op = None;
    let mut seq = None;
    let mut name = None;
    let mut data = Data::Absent;
    let mut asked = false;
    for _ in 0..arity {
        let key = match reader.next()? {
            Term::Atom(atom) => atom.as_bytes(),
            Term::Binary(bytes) => bytes,
            Term::Integer(_) | Term::Float(_) | Term::ByteList(_) | Term::Nil => b"",
            Term::List(_) | Term::Tuple(_) | Term::Map(_) => {
                // Discord keys its maps by atoms or binaries; nothing else is worth walking.
                return Err(DecodeError::WrongType {
                    field: "payload",
                    expected: "a map with atom or binary keys",
                });
            }
        };
        match key {
            b"op" => {
                if op.is_some() {
                    return Err(DecodeError::DuplicateField { field: "op" });
                }
                let value = match reader.next()? {
                    Term::Integer(value) => u8::try_from(value).ok(),
                    _ => None,
                };
                let value = value.ok_or(DecodeError::WrongType {
                    field: "op",
                    expected: "an integer from 0 to 255",
                })?;
                op = Some(OpCode::from_u8(value));
            }
            b"s" => {
                if seq.is_some() {
                    return Err(DecodeError::DuplicateField { field: "s" });
                }
                seq = Some(match reader.next()? {
                    Term::Atom(atom) if atom.is("nil") => None,
                    Term::Integer(value) => {
                        Some(u64::try_from(value).map_err(|_| DecodeError::WrongType {
                            field: "s",
                            expected: "an integer or null",
                        })?)
                    }
                    _ => {
                        return Err(DecodeError::WrongType {
                            field: "s",
                            expected: "an integer or null",
                        })
                    }
                });
            }
            b"t" => {
                if name.is_some() {
                    return Err(DecodeError::DuplicateField { field: "t" });
                }
                let offset = reader.position();
                name = Some(match reader.next()? {
                    Term::Atom(atom) if atom.is("nil") => None,
                    Term::Atom(atom) => Some(event_name(atom.as_str(), atom.as_bytes(), offset)?),
                    Term::Binary(raw) => {
                        Some(event_name(core::str::from_utf8(raw).ok(), raw, offset)?)
                    }
                    _ => {
                        return Err(DecodeError::WrongType {
                            field: "t",
                            expected: "a string or null",
                        })
                    }
                });
            }
            b"d" => {
                if data != Data::Absent {
                    return Err(DecodeError::DuplicateField { field: "d" });
                }
                data = Data::Present(reader.skip(1)?);
            }
            _ => {
                reader.skip(1)?;
            }
        }

        if let (false, Some(OpCode::Dispatch), Some(seq), Some(Some(event))) =
            (asked, op, seq, name)
        {
            asked = true;
            if !wanted(&event) {
                return Ok(Envelope::from_parts(
                    bytes,
                    Encoding::Etf,
                    OpCode::Dispatch,
                    seq,
                    Some(event),
                    Data::Skipped,
                ));
            }
        }
    }
    reader.finish()?;

    let op = op.ok_or(DecodeError::MissingField { field: "op" })?;
    if let (false, OpCode::Dispatch, Some(Some(event))) = (asked, op, name) {
        if !wanted(&event) {
            data = Data::Skipped;
        }
    }
    Ok(Envelope::from_parts(
        bytes,
        Encoding::Etf,
        op,
        seq.flatten(),
        name.flatten(),
        data,
    ))
}

/// An event name from its text, which must be UTF-8 (Discord's are ASCII).
fn event_name<'a>(
    text: Option<&'a str>,
    raw: &'a [u8],
    offset: usize,
) -> Result<EventName<'a>, DecodeError> {
    if text.is_none() {
        return Err(DecodeError::InvalidUtf8 { offset });
    }
    Ok(EventName::new(RawStr {
        raw,
        offset,
        escaped: false,
    }))
}
