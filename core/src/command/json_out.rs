//! Compact JSON into a byte slice: the serializer every typed command is written with.
//!
//! serde-json-core, which this replaces, escapes strings one byte at a time and formats
//! integers through a generic path; commands are mostly strings (a token, names, a query), so
//! this writer finds the next byte that needs escaping and copies the run before it at once,
//! and writes integers two digits at a time. Output is the same JSON text: `"`, `\` and the
//! controls with short forms (`\b \f \n \r \t`) get those, the other controls `\u00XX`
//! (lower-case hex, as serde_json writes it), and everything else, non-ASCII included, is copied as is.

use core::fmt;

use serde::ser::{self, Serialize};

/// Why a value could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteError {
    /// The buffer is full.
    Full,
    /// A value JSON cannot hold: a non-finite float, a map key that is not a string, or a
    /// `Serialize` impl that failed on its own.
    Unrepresentable,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Full => "the buffer is full",
            Self::Unrepresentable => "the value has no JSON form",
        })
    }
}

impl ser::StdError for WriteError {}

impl ser::Error for WriteError {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        Self::Unrepresentable
    }
}

/// Serializes `value` as compact JSON at the start of `buf` and returns the length written.
pub(crate) fn to_slice(value: &impl Serialize, buf: &mut [u8]) -> Result<usize, WriteError> {
    let mut out = JsonOut { buf, len: 0 };
    value.serialize(&mut out)?;
    Ok(out.len)
}

/// The serializer: a slice and how much of it is written.
pub(crate) struct JsonOut<'b> {
    buf: &'b mut [u8],
    len: usize,
}

/// Which bytes need escaping inside a JSON string: 0 = copy, otherwise the escape's letter
/// (`u` for the `\u00XX` form).
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// How many bytes at the start of `bytes` need no escaping, found eight at a time.
fn clean_prefix(bytes: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut at = 0;
    for chunk in bytes.chunks_exact(8) {
        let word = u64::from_le_bytes([
            chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
        ]);
        // A byte below 0x20, or equal to '"' or '\\', sets its high bit in `flags` (the
        // classic "has a byte less than n" and "has a zero byte" tricks; `!word` keeps bytes
        // of 0x80 and above out of the first).
        let control = word.wrapping_sub(ONES * 0x20) & !word;
        let quote = (word ^ (ONES * u64::from(b'"'))).wrapping_sub(ONES);
        let quote = quote & !(word ^ (ONES * u64::from(b'"')));
        let backslash = (word ^ (ONES * u64::from(b'\\'))).wrapping_sub(ONES);
        let backslash = backslash & !(word ^ (ONES * u64::from(b'\\')));
        let flags = (control | quote | backslash) & HIGHS;
        if flags != 0 {
            // Borrows can flag a byte after the first hit, never one before it.
            return at + (flags.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at + bytes[at..]
        .iter()
        .position(|&byte| ESCAPE[byte as usize] != 0)
        .unwrap_or(bytes.len() - at)
}

impl JsonOut<'_> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        let end = self.len + bytes.len();
        let room = self.buf.get_mut(self.len..end).ok_or(WriteError::Full)?;
        room.copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    #[inline]
    fn put_byte(&mut self, byte: u8) -> Result<(), WriteError> {
        let slot = self.buf.get_mut(self.len).ok_or(WriteError::Full)?;
        *slot = byte;
        self.len += 1;
        Ok(())
    }

    fn put_u64(&mut self, value: u64) -> Result<(), WriteError> {
        self.put(crate::decimal::digits(value, &mut [0u8; 20]))
    }

    fn put_i64(&mut self, value: i64) -> Result<(), WriteError> {
        if value < 0 {
            self.put_byte(b'-')?;
        }
        self.put_u64(value.unsigned_abs())
    }

    fn put_str(&mut self, text: &str) -> Result<(), WriteError> {
        let bytes = text.as_bytes();
        let clean = clean_prefix(bytes);
        if clean == bytes.len() {
            // The common case, a string with nothing to escape: one bounds check, one copy.
            let room = self
                .buf
                .get_mut(self.len..self.len + bytes.len() + 2)
                .ok_or(WriteError::Full)?;
            let (quote, rest) = room.split_at_mut(1);
            quote[0] = b'"';
            let (body, close) = rest.split_at_mut(bytes.len());
            body.copy_from_slice(bytes);
            close[0] = b'"';
            self.len += bytes.len() + 2;
            return Ok(());
        }
        self.put_byte(b'"')?;
        self.put(&bytes[..clean])?;
        let mut run = clean;
        let mut at = clean;
        while at < bytes.len() {
            let byte = bytes[at];
            let escape = ESCAPE[byte as usize];
            if escape == 0 {
                // Skip the next clean stretch at once rather than byte by byte.
                at += clean_prefix(&bytes[at..]).max(1);
                continue;
            }
            self.put(&bytes[run..at])?;
            if escape == b'u' {
                self.put(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(byte >> 4) as usize],
                    HEX[(byte & 0xf) as usize],
                ])?;
            } else {
                self.put(&[b'\\', escape])?;
            }
            at += 1;
            run = at;
        }
        self.put(&bytes[run..])?;
        self.put_byte(b'"')
    }

    fn put_float(&mut self, value: f64) -> Result<(), WriteError> {
        if !value.is_finite() {
            return Err(WriteError::Unrepresentable);
        }
        // `Display` for floats prints the shortest text that reads back the same value, with
        // no exponent, which is valid JSON.
        fmt::write(self, format_args!("{value}")).map_err(|_| WriteError::Full)
    }
}

impl fmt::Write for JsonOut<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.put(s.as_bytes()).map_err(|_| fmt::Error)
    }
}

/// A container being written: whether the next element is the first (no comma before it).
pub(crate) struct Compound<'w, 'b> {
    out: &'w mut JsonOut<'b>,
    first: bool,
}

impl Compound<'_, '_> {
    fn comma(&mut self) -> Result<(), WriteError> {
        if self.first {
            self.first = false;
            Ok(())
        } else {
            self.out.put_byte(b',')
        }
    }

    fn key(&mut self, key: &str) -> Result<(), WriteError> {
        let comma = usize::from(!self.first);
        self.first = false;
        let bytes = key.as_bytes();
        if clean_prefix(bytes) < bytes.len() {
            if comma == 1 {
                self.out.put_byte(b',')?;
            }
            self.out.put_str(key)?;
            return self.out.put_byte(b':');
        }
        // Field names are plain words: write `,"name":` with one bounds check.
        let out = &mut *self.out;
        let end = out.len + comma + bytes.len() + 3;
        let room = out.buf.get_mut(out.len..end).ok_or(WriteError::Full)?;
        let (head, rest) = room.split_at_mut(comma + 1);
        head[0] = b',';
        head[comma] = b'"';
        let (name, tail) = rest.split_at_mut(bytes.len());
        name.copy_from_slice(bytes);
        tail.copy_from_slice(b"\":");
        out.len = end;
        Ok(())
    }
}

impl<'w, 'b> ser::Serializer for &'w mut JsonOut<'b> {
    type Ok = ();
    type Error = WriteError;
    type SerializeSeq = Compound<'w, 'b>;
    type SerializeTuple = Compound<'w, 'b>;
    type SerializeTupleStruct = Compound<'w, 'b>;
    type SerializeTupleVariant = Compound<'w, 'b>;
    type SerializeMap = Compound<'w, 'b>;
    type SerializeStruct = Compound<'w, 'b>;
    type SerializeStructVariant = Compound<'w, 'b>;

    fn serialize_bool(self, v: bool) -> Result<(), WriteError> {
        self.put(if v { b"true" } else { b"false" })
    }

    fn serialize_i8(self, v: i8) -> Result<(), WriteError> {
        self.put_i64(v.into())
    }

    fn serialize_i16(self, v: i16) -> Result<(), WriteError> {
        self.put_i64(v.into())
    }

    fn serialize_i32(self, v: i32) -> Result<(), WriteError> {
        self.put_i64(v.into())
    }

    fn serialize_i64(self, v: i64) -> Result<(), WriteError> {
        self.put_i64(v)
    }

    fn serialize_u8(self, v: u8) -> Result<(), WriteError> {
        self.put_u64(v.into())
    }

    fn serialize_u16(self, v: u16) -> Result<(), WriteError> {
        self.put_u64(v.into())
    }

    fn serialize_u32(self, v: u32) -> Result<(), WriteError> {
        self.put_u64(v.into())
    }

    fn serialize_u64(self, v: u64) -> Result<(), WriteError> {
        self.put_u64(v)
    }

    fn serialize_f32(self, v: f32) -> Result<(), WriteError> {
        self.put_float(v.into())
    }

    fn serialize_f64(self, v: f64) -> Result<(), WriteError> {
        self.put_float(v)
    }

    fn serialize_char(self, v: char) -> Result<(), WriteError> {
        self.put_str(v.encode_utf8(&mut [0u8; 4]))
    }

    fn serialize_str(self, v: &str) -> Result<(), WriteError> {
        self.put_str(v)
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), WriteError> {
        // As serde_json does: an array of numbers.
        let mut seq = ser::Serializer::serialize_seq(self, Some(v.len()))?;
        for byte in v {
            ser::SerializeSeq::serialize_element(&mut seq, byte)?;
        }
        ser::SerializeSeq::end(seq)
    }

    fn serialize_none(self) -> Result<(), WriteError> {
        self.put(b"null")
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), WriteError> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), WriteError> {
        self.put(b"null")
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), WriteError> {
        self.put(b"null")
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), WriteError> {
        self.put_str(variant)
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), WriteError> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), WriteError> {
        self.put_byte(b'{')?;
        self.put_str(variant)?;
        self.put_byte(b':')?;
        value.serialize(&mut *self)?;
        self.put_byte(b'}')
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'w, 'b>, WriteError> {
        self.put_byte(b'[')?;
        Ok(Compound {
            out: self,
            first: true,
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'w, 'b>, WriteError> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'w, 'b>, WriteError> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'w, 'b>, WriteError> {
        self.put_byte(b'{')?;
        self.put_str(variant)?;
        self.put(b":[")?;
        Ok(Compound {
            out: self,
            first: true,
        })
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'w, 'b>, WriteError> {
        self.put_byte(b'{')?;
        Ok(Compound {
            out: self,
            first: true,
        })
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'w, 'b>, WriteError> {
        self.serialize_map(Some(len))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'w, 'b>, WriteError> {
        self.put_byte(b'{')?;
        self.put_str(variant)?;
        self.put(b":{")?;
        Ok(Compound {
            out: self,
            first: true,
        })
    }

    fn collect_str<T: ?Sized + fmt::Display>(self, value: &T) -> Result<(), WriteError> {
        self.put_str(&displayed(value)?)
    }
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = WriteError;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), WriteError> {
        self.comma()?;
        value.serialize(&mut *self.out)
    }

    fn end(self) -> Result<(), WriteError> {
        self.out.put_byte(b']')
    }
}

impl ser::SerializeTuple for Compound<'_, '_> {
    type Ok = ();
    type Error = WriteError;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), WriteError> {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result<(), WriteError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = WriteError;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), WriteError> {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result<(), WriteError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = WriteError;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), WriteError> {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result<(), WriteError> {
        self.out.put(b"]}")
    }
}

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = WriteError;

    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), WriteError> {
        self.comma()?;
        key.serialize(KeyOut(&mut *self.out))?;
        self.out.put_byte(b':')
    }

    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), WriteError> {
        value.serialize(&mut *self.out)
    }

    fn end(self) -> Result<(), WriteError> {
        self.out.put_byte(b'}')
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = WriteError;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), WriteError> {
        self.key(key)?;
        value.serialize(&mut *self.out)
    }

    fn end(self) -> Result<(), WriteError> {
        self.out.put_byte(b'}')
    }
}

impl ser::SerializeStructVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = WriteError;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), WriteError> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }

    fn end(self) -> Result<(), WriteError> {
        self.out.put(b"}}")
    }
}

/// `value`'s `Display` text, through a small stack buffer so it can be escaped as a whole (no
/// command formats anything longer).
fn displayed<T: ?Sized + fmt::Display>(value: &T) -> Result<heapless::String<256>, WriteError> {
    let mut text = heapless::String::new();
    fmt::write(&mut text, format_args!("{value}")).map_err(|_| WriteError::Unrepresentable)?;
    Ok(text)
}

/// Map keys: JSON object keys are strings, so only string-like keys are written.
struct KeyOut<'w, 'b>(&'w mut JsonOut<'b>);

impl ser::Serializer for KeyOut<'_, '_> {
    type Ok = ();
    type Error = WriteError;
    type SerializeSeq = ser::Impossible<(), WriteError>;
    type SerializeTuple = ser::Impossible<(), WriteError>;
    type SerializeTupleStruct = ser::Impossible<(), WriteError>;
    type SerializeTupleVariant = ser::Impossible<(), WriteError>;
    type SerializeMap = ser::Impossible<(), WriteError>;
    type SerializeStruct = ser::Impossible<(), WriteError>;
    type SerializeStructVariant = ser::Impossible<(), WriteError>;

    fn serialize_str(self, v: &str) -> Result<(), WriteError> {
        self.0.put_str(v)
    }

    fn serialize_char(self, v: char) -> Result<(), WriteError> {
        self.0.put_str(v.encode_utf8(&mut [0u8; 4]))
    }

    fn collect_str<T: ?Sized + fmt::Display>(self, value: &T) -> Result<(), WriteError> {
        self.0.put_str(&displayed(value)?)
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), WriteError> {
        self.0.put_str(variant)
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), WriteError> {
        value.serialize(self)
    }

    fn serialize_bool(self, _v: bool) -> Result<(), WriteError> {
        Err(WriteError::Unrepresentable)
    }

    fn serialize_i8(self, _v: i8) -> Result<(), WriteError> {
        Err(WriteError::Unrepresentable)
    }

    fn serialize_i16(self, _v: i16) -> Result<(), WriteError> {
        Err(WriteError::Unrepresentable)
    }

    fn serialize_i32(self, _v: i32) -> Result<(), WriteError> {
        Err(WriteError::Unrepresentable)
    }

    fn serialize_i64(self, _v: i64) -> Result<(), WriteError> {
        Err(WriteError::Unrepresentable)
    }

    fn serialize_u8(self, _v: u8) -> Result<(), WriteError> {
        Err(WriteError::Unrepresentable)
    }

    fn serialize_u16(self, _v: u16) -> Result<(), WriteError> {
        Err(WriteError::Unrepresentable)
    }

    fn serialize_u32(self, _v: u32) -> Result<(), WriteError> {
        Err(WriteError::Unrepresentable)
    }

    fn serialize_u64(self, _v: u64) -> Result<(), WriteError> {
        Err(WriteError::Unrepresentable)
    }

    fn serialize_f32(self, _v: f32) -> Result<(), WriteError> {
        Err(WriteError::Unrepresentable)
    }

    fn serialize_f64(self, _v: f64) -> Result<(), WriteError> {
        Err(WriteError::Unrepresentable)
    }

    fn serialize_bytes(self, _v: &[u8]) -> Result<(), WriteError> {
        Err(WriteError::Unrepresentable)
    }

    fn serialize_none(self) -> Result<(), WriteError> {
        Err(WriteError::Unrepresentable)
    }

    fn serialize_some<T: ?Sized + Serialize>(self, _value: &T) -> Result<(), WriteError> {
        Err(WriteError::Unrepresentable)
    }

    fn serialize_unit(self) -> Result<(), WriteError> {
        Err(WriteError::Unrepresentable)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), WriteError> {
        Err(WriteError::Unrepresentable)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), WriteError> {
        Err(WriteError::Unrepresentable)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, WriteError> {
        Err(WriteError::Unrepresentable)
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, WriteError> {
        Err(WriteError::Unrepresentable)
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, WriteError> {
        Err(WriteError::Unrepresentable)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, WriteError> {
        Err(WriteError::Unrepresentable)
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, WriteError> {
        Err(WriteError::Unrepresentable)
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, WriteError> {
        Err(WriteError::Unrepresentable)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, WriteError> {
        Err(WriteError::Unrepresentable)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::collections::BTreeMap;
    use std::string::String;
    use std::vec;
    use std::vec::Vec;

    use super::{clean_prefix, to_slice, WriteError, ESCAPE};

    fn text(value: &impl serde::Serialize) -> String {
        let mut buf = vec![0u8; 8192];
        let len = to_slice(value, &mut buf).expect("fits");
        String::from_utf8(buf[..len].to_vec()).expect("UTF-8")
    }

    #[derive(serde::Serialize)]
    struct Sample<'a> {
        text: &'a str,
        number: u64,
        negative: i32,
        float: f64,
        flag: bool,
        nothing: Option<u8>,
        list: [u16; 3],
        pair: (u32, &'a str),
        #[serde(rename = "type")]
        kind: Kind,
    }

    #[derive(serde::Serialize)]
    enum Kind {
        Plain,
        Wrapped(u8),
        Shaped { x: u8 },
        Pairs(u8, u8),
    }

    #[test]
    fn writes_what_serde_json_writes() {
        let strings = [
            "",
            "plain",
            "say \"hi\" \\ there",
            "\u{0}\u{1}\u{8}\u{9}\u{a}\u{b}\u{c}\u{d}\u{1f}\u{7f}",
            "é ü ß 日本語 🦀 \u{2028}",
        ];
        let numbers = [
            0,
            7,
            9,
            10,
            99,
            100,
            101,
            12_345,
            u64::from(u32::MAX),
            u64::MAX,
        ];
        for (at, text_value) in strings.iter().enumerate() {
            for kind in [
                Kind::Plain,
                Kind::Wrapped(3),
                Kind::Shaped { x: 4 },
                Kind::Pairs(1, 2),
            ] {
                let sample = Sample {
                    text: text_value,
                    number: numbers[at * 2],
                    negative: -(i32::try_from(at).unwrap() * 1_000_003),
                    float: 0.1 * f64::from(u32::try_from(at).unwrap()) - 2.5,
                    flag: at % 2 == 0,
                    nothing: (at % 2 == 1).then_some(8),
                    list: [1, 10, 65_535],
                    pair: (
                        u32::try_from(numbers[at * 2 + 1] % 4_000_000_000).unwrap(),
                        "p",
                    ),
                    kind,
                };
                assert_eq!(text(&sample), serde_json::to_string(&sample).unwrap());
            }
        }
        let mut map = BTreeMap::new();
        map.insert("k\"ey", vec![i64::MIN, -1, 0, i64::MAX]);
        map.insert("other", Vec::new());
        assert_eq!(text(&map), serde_json::to_string(&map).unwrap());
        assert_eq!(text(&'\n'), serde_json::to_string(&'\n').unwrap());
        assert_eq!(
            text(&format_args!("{}-{}", 1, "\"")),
            serde_json::to_string(&std::format!("{}-{}", 1, "\"")).unwrap()
        );
    }

    #[test]
    fn the_word_scan_finds_the_first_byte_to_escape() {
        // Every byte value at every position of a 19-byte run (two words and a tail), over
        // backgrounds of ASCII and of high bytes that must not be mistaken for controls.
        for background in [b'a', 0x80, 0xff, b'!', b'#', b'[', b']'] {
            for at in 0..19 {
                for byte in 0..=255u8 {
                    let mut bytes = [background; 19];
                    bytes[at] = byte;
                    let expected = bytes
                        .iter()
                        .position(|&b| ESCAPE[b as usize] != 0)
                        .unwrap_or(bytes.len());
                    assert_eq!(clean_prefix(&bytes), expected, "{background} {at} {byte}");
                }
            }
        }
    }

    #[test]
    fn a_full_buffer_is_an_error_at_every_cut() {
        let value = ("a \"quoted\"\n string", 1_234_567_u64, [true, false]);
        let whole = text(&value);
        for cut in 0..whole.len() {
            let mut buf = vec![0u8; cut];
            assert_eq!(to_slice(&value, &mut buf), Err(WriteError::Full), "{cut}");
        }
    }

    #[test]
    fn values_json_cannot_hold_are_refused() {
        let mut buf = [0u8; 64];
        assert_eq!(
            to_slice(&f64::NAN, &mut buf),
            Err(WriteError::Unrepresentable)
        );
        let mut map = BTreeMap::new();
        map.insert(1u8, 2u8);
        assert_eq!(to_slice(&map, &mut buf), Err(WriteError::Unrepresentable));
    }
}
