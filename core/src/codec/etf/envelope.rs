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
        let key = envelope_key(reader.next()?)?;
        match key {
            b"op" => {
                if op.is_some() {
                    return Err(DecodeError::DuplicateField { field: "op" });
                }
                op = Some(envelope_op(reader.next()?)?);
            }
            b"s" => {
                if seq.is_some() {
                    return Err(DecodeError::DuplicateField { field: "s" });
                }
                seq = Some(envelope_seq(reader.next()?)?);
            }
            b"t" => {
                if name.is_some() {
                    return Err(DecodeError::DuplicateField { field: "t" });
                }
                let offset = reader.position();
                name = Some(envelope_name(reader.next()?, offset)?);
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

/// The text of an envelope key: an atom's or a binary's, and nothing for a scalar of another
/// kind (which matches no field).
///
/// # Errors
/// A container as a key.
pub(crate) fn envelope_key(term: Term<'_>) -> Result<&[u8], DecodeError> {
    match term {
        Term::Atom(atom) => Ok(atom.as_bytes()),
        Term::Binary(bytes) => Ok(bytes),
        Term::Integer(_) | Term::Float(_) | Term::ByteList(_) | Term::Nil => Ok(b""),
        Term::List(_) | Term::Tuple(_) | Term::Map(_) => {
            // Discord keys its maps by atoms or binaries; nothing else is worth walking.
            Err(DecodeError::WrongType {
                field: "payload",
                expected: "a map with atom or binary keys",
            })
        }
    }
}

/// `op` from its term: an integer from 0 to 255.
pub(crate) fn envelope_op(term: Term<'_>) -> Result<OpCode, DecodeError> {
    let value = match term {
        Term::Integer(value) => u8::try_from(value).ok(),
        _ => None,
    };
    value.map(OpCode::from_u8).ok_or(DecodeError::WrongType {
        field: "op",
        expected: "an integer from 0 to 255",
    })
}

/// `s` from its term: a non-negative integer or `nil`.
pub(crate) fn envelope_seq(term: Term<'_>) -> Result<Option<u64>, DecodeError> {
    let wrong = DecodeError::WrongType {
        field: "s",
        expected: "an integer or null",
    };
    match term {
        Term::Atom(atom) if atom.is("nil") => Ok(None),
        Term::Integer(value) => u64::try_from(value).map(Some).map_err(|_| wrong),
        _ => Err(wrong),
    }
}

/// `t` from its term, which started at `offset`: a UTF-8 atom or binary, or `nil`.
pub(crate) fn envelope_name(
    term: Term<'_>,
    offset: usize,
) -> Result<Option<EventName<'_>>, DecodeError> {
    match term {
        Term::Atom(atom) if atom.is("nil") => Ok(None),
        Term::Atom(atom) => event_name(atom.as_str(), atom.as_bytes(), offset).map(Some),
        Term::Binary(raw) => event_name(core::str::from_utf8(raw).ok(), raw, offset).map(Some),
        _ => Err(DecodeError::WrongType {
            field: "t",
            expected: "a string or null",
        }),
    }
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
