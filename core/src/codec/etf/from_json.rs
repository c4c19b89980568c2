//! JSON text as ETF: how a raw command (pre-encoded JSON) goes out on an ETF connection.
//!
//! The JSON was validated when the command was checked, so this only has to translate, with the
//! same choices as the serializer: objects as maps with binary keys, strings as binaries,
//! `null`/`true`/`false` as atoms, integers that fit in 64 bits as integers, other numbers as
//! floats.

use super::reader::tag;
use super::ser::{SerError, Writer};
use crate::codec::json::{Kind, Reader};

/// The nesting the walk recurses to; validated JSON never goes deeper.
const MAX_DEPTH: usize = crate::codec::MAX_DEPTH;

/// Writes the term of the JSON value in `json` (whitespace around it allowed).
pub(crate) fn transcode(json: &[u8], out: &mut Writer<'_>) -> Result<(), SerError> {
    let mut reader = Reader::new(json);
    value(&mut reader, out, 0)?;
    reader.finish().map_err(|_| malformed())
}

fn malformed() -> SerError {
    SerError::Unsupported("a raw command's d is not well-formed JSON")
}

fn value(reader: &mut Reader<'_>, out: &mut Writer<'_>, depth: usize) -> Result<(), SerError> {
    if depth > MAX_DEPTH {
        return Err(malformed());
    }
    match reader.peek_kind().map_err(|_| malformed())? {
        Kind::Null => {
            reader.read_null().map_err(|_| malformed())?;
            out.nil()
        }
        Kind::Bool => {
            let value = reader.read_bool().map_err(|_| malformed())?;
            out.atom(if value { "true" } else { "false" })
        }
        Kind::Number => number(reader.read_number().map_err(|_| malformed())?, out),
        Kind::String => string(reader, out),
        Kind::Array => {
            reader.begin_array().map_err(|_| malformed())?;
            let mut list = out.open(tag::LIST)?;
            let mut first = true;
            while reader.next_element(first).map_err(|_| malformed())? {
                first = false;
                value(reader, out, depth + 1)?;
                list.count += 1;
            }
            out.close(list)
        }
        Kind::Object => {
            reader.begin_object().map_err(|_| malformed())?;
            let mut map = out.open(tag::MAP)?;
            let mut first = true;
            while let Some(key) = reader.next_key(first).map_err(|_| malformed())? {
                first = false;
                binary_of(&key, out)?;
                value(reader, out, depth + 1)?;
                map.count += 1;
            }
            out.close(map)
        }
    }
}

fn string(reader: &mut Reader<'_>, out: &mut Writer<'_>) -> Result<(), SerError> {
    let raw = reader.read_str().map_err(|_| malformed())?;
    binary_of(&raw, out)
}

/// A JSON string's unescaped text as a binary.
fn binary_of(raw: &crate::codec::json::RawStr<'_>, out: &mut Writer<'_>) -> Result<(), SerError> {
    let mut binary = out.begin_binary()?;
    let mut full = false;
    raw.for_each_piece(|piece| {
        if !full && out.put(piece.as_bytes()).is_err() {
            full = true;
        }
    })
    .map_err(|_| malformed())?;
    if full {
        return Err(SerError::Full);
    }
    out.end_binary(&mut binary)
}

/// An integer that fits in 64 bits as an integer term; anything else as a float.
fn number(text: &[u8], out: &mut Writer<'_>) -> Result<(), SerError> {
    let integer = !text.iter().any(|b| matches!(b, b'.' | b'e' | b'E'));
    let text = core::str::from_utf8(text).map_err(|_| malformed())?;
    if integer {
        if let Ok(value) = text.parse::<i128>() {
            if value.unsigned_abs() <= u128::from(u64::MAX) {
                return out.integer(value);
            }
        }
    }
    let value: f64 = text.parse().map_err(|_| malformed())?;
    out.float(value)
}
