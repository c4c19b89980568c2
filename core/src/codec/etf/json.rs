//! The JSON view of an ETF term, for people and tools that want text (`gateway-tail`, logs).
//!
//! ETF says some things JSON cannot and the other way round, so the view chooses:
//! - binaries become JSON strings (bytes that are not UTF-8 become U+FFFD, as
//!   `String::from_utf8_lossy` does: Discord's binaries are UTF-8 text);
//! - integers become numbers, whatever tag they came in, except those at or past 2^53 either
//!   way ([`SAFE_INTEGER_LIMIT`]), which become strings of their decimal text: JavaScript and
//!   older jq read JSON numbers as doubles and would round them, and those are snowflakes, which
//!   Discord sends over ETF as integers and in JSON as exactly these strings (the view does not
//!   guess from the field name; every real snowflake is past 2^53, so an id prints as its JSON
//!   form printed it);
//! - floats become numbers (with a `.0` when whole, as `serde_json` writes them);
//! - the atoms `nil`, `true` and `false` become `null`, `true` and `false`; other atoms strings;
//! - lists and tuples become arrays; `STRING_EXT` (Erlang's packed list of small integers)
//!   becomes an array of numbers, as the deserializer reads it;
//! - map keys become strings: atoms and binaries by their text, integers by their decimal text;
//!   a key of any other kind is written as the JSON text of its value, in a string;
//! - strings are escaped as `serde_json` escapes them (`"`, `\`, control characters), so the
//!   view of a payload that came from canonical JSON is that JSON again, key order included.

use alloc::string::String;
use core::fmt::Write as _;

use super::reader::{Reader, Term, MAX_DEPTH};
use super::EtfError;

/// 2^53: the view writes integers of this magnitude or more as strings (see the module docs),
/// since a JSON reader that holds numbers as doubles cannot hold them exactly.
pub const SAFE_INTEGER_LIMIT: u64 = 1 << 53;

/// Appends the JSON text of the bare term `term` (such as an envelope's `d`) to `out`.
///
/// # Errors
/// An [`EtfError`] when `term` is not exactly one well-formed term within bounds; `out` then
/// holds part of the text.
pub fn to_json(term: &[u8], out: &mut String) -> Result<(), EtfError> {
    let mut reader = Reader::new(term);
    value(&mut reader, out, 0)?;
    reader.finish()
}

fn value(reader: &mut Reader<'_>, out: &mut String, depth: usize) -> Result<(), EtfError> {
    let term = reader.next()?;
    if term.is_nested() && depth >= MAX_DEPTH {
        return Err(EtfError::TooDeep { limit: MAX_DEPTH });
    }
    match term {
        Term::Integer(int) if int.unsigned_abs() >= u128::from(SAFE_INTEGER_LIMIT) => {
            let _ = write!(out, "\"{int}\"");
        }
        Term::Integer(int) => {
            let _ = write!(out, "{int}");
        }
        Term::Float(float) => float_text(float, out),
        Term::Atom(atom) if atom.is("nil") => out.push_str("null"),
        Term::Atom(atom) if atom.is("true") => out.push_str("true"),
        Term::Atom(atom) if atom.is("false") => out.push_str("false"),
        Term::Atom(atom) => string(atom.chars(), out),
        Term::Binary(bytes) => string(lossy(bytes), out),
        Term::ByteList(bytes) => numbers(bytes, out),
        Term::Nil => out.push_str("[]"),
        Term::List(len) => {
            elements(reader, out, len, depth)?;
            // The tail of a proper list is `[]`; an improper tail is shown as one more element.
            if reader.clone().next()? == Term::Nil {
                reader.next()?;
            } else {
                out.pop();
                if len > 0 {
                    out.push(',');
                }
                value(reader, out, depth + 1)?;
                out.push(']');
            }
        }
        Term::Tuple(arity) => elements(reader, out, arity, depth)?,
        Term::Map(arity) => {
            out.push('{');
            for index in 0..arity {
                if index > 0 {
                    out.push(',');
                }
                key(reader, out, depth)?;
                out.push(':');
                value(reader, out, depth + 1)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn elements(
    reader: &mut Reader<'_>,
    out: &mut String,
    count: u32,
    depth: usize,
) -> Result<(), EtfError> {
    out.push('[');
    for index in 0..count {
        if index > 0 {
            out.push(',');
        }
        value(reader, out, depth + 1)?;
    }
    out.push(']');
    Ok(())
}

fn key(reader: &mut Reader<'_>, out: &mut String, depth: usize) -> Result<(), EtfError> {
    let mut peek = reader.clone();
    match peek.next()? {
        Term::Atom(atom) => {
            reader.next()?;
            string(atom.chars(), out);
        }
        Term::Binary(bytes) => {
            reader.next()?;
            string(lossy(bytes), out);
        }
        Term::Integer(int) => {
            reader.next()?;
            let _ = write!(out, "\"{int}\"");
        }
        _ => {
            let mut text = String::new();
            value(reader, &mut text, depth + 1)?;
            string(text.chars(), out);
        }
    }
    Ok(())
}

/// A binary's text, with U+FFFD for each byte sequence that is not UTF-8.
fn lossy(bytes: &[u8]) -> impl Iterator<Item = char> + '_ {
    bytes.utf8_chunks().flat_map(|chunk| {
        let bad = (!chunk.invalid().is_empty()).then_some(char::REPLACEMENT_CHARACTER);
        chunk.valid().chars().chain(bad)
    })
}

fn numbers(bytes: &[u8], out: &mut String) {
    out.push('[');
    for (index, byte) in bytes.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        let _ = write!(out, "{byte}");
    }
    out.push(']');
}

fn float_text(float: f64, out: &mut String) {
    if !float.is_finite() {
        // JSON has no infinities or NaN; serde_json writes them as null too.
        out.push_str("null");
        return;
    }
    let start = out.len();
    let _ = write!(out, "{float}");
    if !out[start..].contains(['.', 'e']) {
        out.push_str(".0");
    }
}

/// Writes a JSON string literal, escaping as `serde_json` does.
fn string(chars: impl Iterator<Item = char>, out: &mut String) {
    out.push('"');
    for c in chars {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
