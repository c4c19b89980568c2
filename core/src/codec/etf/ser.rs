//! A serde `Serializer` writing ETF into a caller's buffer: how commands go out on an ETF
//! connection, driven by the same `Serialize` impls that write their JSON.
//!
//! The terms chosen are the ones erlpack, the ETF library Discord publishes, writes (the table in
//! the protocol reference, §11.4), since erlpack-based servers refuse anything else with 4002:
//! maps keyed by binaries (atom keys get the connection closed with 4002 too), strings as
//! binaries, `null` as the atom `nil`, booleans as the atoms `true`/`false`, every atom as
//! `SMALL_ATOM_EXT` (erlpack's decoder does not take the UTF-8 atom tags), integers in the
//! smallest of `SMALL_INTEGER_EXT`/`INTEGER_EXT`/`SMALL_BIG_EXT`, floats as `NEW_FLOAT_EXT`, the
//! empty list as `NIL_EXT`. Tuples and sequences both become lists, as they are
//! arrays in the JSON form. Lengths unknown up front are patched in once the contents are written.

use core::fmt;

use serde::ser::{self, Serialize};

use super::reader::{tag, VERSION};

/// Why a value could not be written as ETF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SerError {
    /// The buffer is full.
    Full,
    /// The value has a shape Discord's ETF cannot carry (a map key that is not a string, or a
    /// serde error raised by the value itself).
    Unsupported(&'static str),
}

impl fmt::Display for SerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full => f.write_str("the ETF output buffer is full"),
            Self::Unsupported(what) => write!(f, "cannot encode as ETF: {what}"),
        }
    }
}

impl core::error::Error for SerError {}

impl ser::Error for SerError {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        // Commands raise no errors of their own; keep no text that could echo a field.
        Self::Unsupported("the value refused to serialize")
    }
}

/// Writes a raw command's envelope: `op`, then `d` transcoded from its JSON text.
pub(crate) fn raw_envelope(op: u8, json: &[u8], buf: &mut [u8]) -> Result<usize, SerError> {
    let mut out = Writer { buf, pos: 0 };
    out.put(&[VERSION, tag::MAP, 0, 0, 0, 2])?;
    out.binary(b"op")?;
    out.integer(op.into())?;
    out.binary(b"d")?;
    super::from_json::transcode(json, &mut out)?;
    Ok(out.pos)
}

/// Writes `value` as a whole ETF message (version byte first) at the start of `buf` and returns
/// its length.
///
/// # Errors
/// [`SerError::Full`] when it does not fit, [`SerError::Unsupported`] for a shape ETF cannot carry.
pub fn to_slice<T: Serialize + ?Sized>(value: &T, buf: &mut [u8]) -> Result<usize, SerError> {
    let mut out = Writer { buf, pos: 0 };
    out.put(&[VERSION])?;
    value.serialize(&mut out)?;
    Ok(out.pos)
}

/// Writes the bare term of `value` (no version byte) at the start of `buf`.
///
/// # Errors
/// As [`to_slice`].
pub fn term_to_slice<T: Serialize + ?Sized>(value: &T, buf: &mut [u8]) -> Result<usize, SerError> {
    let mut out = Writer { buf, pos: 0 };
    value.serialize(&mut out)?;
    Ok(out.pos)
}

/// The output cursor, and the serializer itself.
pub(crate) struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl<'b> Writer<'b> {
    pub(crate) fn put(&mut self, bytes: &[u8]) -> Result<(), SerError> {
        let end = self.pos + bytes.len();
        self.buf
            .get_mut(self.pos..end)
            .ok_or(SerError::Full)?
            .copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }

    /// Writes one of the atoms the serializer uses (`nil`, `true`, `false`: ASCII, so Latin-1
    /// too) as `SMALL_ATOM_EXT`, as erlpack does.
    pub(crate) fn atom(&mut self, name: &str) -> Result<(), SerError> {
        self.put(&[tag::SMALL_ATOM, name.len() as u8])?;
        self.put(name.as_bytes())
    }

    pub(crate) fn nil(&mut self) -> Result<(), SerError> {
        self.atom("nil")
    }

    pub(crate) fn binary(&mut self, bytes: &[u8]) -> Result<(), SerError> {
        let len = u32::try_from(bytes.len()).map_err(|_| SerError::Full)?;
        self.put(&[tag::BINARY])?;
        self.put(&len.to_be_bytes())?;
        self.put(bytes)
    }

    /// Writes a binary head whose length [`Writer::end_binary`] fills in once the bytes are put.
    pub(crate) fn begin_binary(&mut self) -> Result<OpenBinary, SerError> {
        let at = self.pos;
        self.put(&[tag::BINARY, 0, 0, 0, 0])?;
        Ok(OpenBinary { at })
    }

    pub(crate) fn end_binary(&mut self, binary: &mut OpenBinary) -> Result<(), SerError> {
        let len = u32::try_from(self.pos - binary.at - 5).map_err(|_| SerError::Full)?;
        self.buf[binary.at + 1..binary.at + 5].copy_from_slice(&len.to_be_bytes());
        Ok(())
    }

    pub(crate) fn integer(&mut self, value: i128) -> Result<(), SerError> {
        if let Ok(small) = u8::try_from(value) {
            return self.put(&[tag::SMALL_INTEGER, small]);
        }
        if let Ok(int) = i32::try_from(value) {
            self.put(&[tag::INTEGER])?;
            return self.put(&int.to_be_bytes());
        }
        let magnitude = u64::try_from(value.unsigned_abs())
            .map_err(|_| SerError::Unsupported("an integer past 64 bits"))?;
        let digits = magnitude.to_le_bytes();
        let len = 8 - (magnitude.leading_zeros() / 8) as usize;
        self.put(&[tag::SMALL_BIG, len as u8, u8::from(value < 0)])?;
        self.put(&digits[..len])
    }

    pub(crate) fn float(&mut self, value: f64) -> Result<(), SerError> {
        self.put(&[tag::NEW_FLOAT])?;
        self.put(&value.to_be_bytes())
    }

    /// Writes a container head whose count is filled in by [`Writer::close`].
    pub(crate) fn open(&mut self, tag: u8) -> Result<Open, SerError> {
        let at = self.pos;
        self.put(&[tag, 0, 0, 0, 0])?;
        Ok(Open { at, count: 0 })
    }

    /// Patches the count of an open container (a list gets its tail; an empty list becomes
    /// `NIL_EXT`, the only form Erlang itself writes).
    pub(crate) fn close(&mut self, open: Open) -> Result<(), SerError> {
        let list = self.buf[open.at] == tag::LIST;
        if list && open.count == 0 {
            self.pos = open.at;
            return self.put(&[tag::NIL]);
        }
        self.buf[open.at + 1..open.at + 5].copy_from_slice(&open.count.to_be_bytes());
        if list {
            self.put(&[tag::NIL])?;
        }
        Ok(())
    }
}

/// Formats text straight into the output.
struct Text<'w, 'b> {
    out: &'w mut Writer<'b>,
    full: bool,
}

impl fmt::Write for Text<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.out.put(s.as_bytes()).map_err(|_| {
            self.full = true;
            fmt::Error
        })
    }
}

/// A list or map being written; `count` is its elements (or pairs) so far.
pub(crate) struct Open {
    at: usize,
    pub(crate) count: u32,
}

/// A binary being written; its length is patched by [`Writer::end_binary`].
pub(crate) struct OpenBinary {
    at: usize,
}

/// A container in progress, as serde's compound serializers.
pub(crate) struct Compound<'w, 'b> {
    out: &'w mut Writer<'b>,
    open: Open,
}

impl Compound<'_, '_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerError> {
        value.serialize(&mut *self.out)?;
        self.open.count += 1;
        Ok(())
    }

    fn key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), SerError> {
        let at = self.out.pos;
        key.serialize(&mut *self.out)?;
        if self.out.buf.get(at) != Some(&tag::BINARY) {
            return Err(SerError::Unsupported("a map key that is not a string"));
        }
        Ok(())
    }

    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerError> {
        value.serialize(&mut *self.out)?;
        self.open.count += 1;
        Ok(())
    }

    fn end(self) -> Result<(), SerError> {
        self.out.close(self.open)
    }
}

impl<'w, 'b> ser::Serializer for &'w mut Writer<'b> {
    type Ok = ();
    type Error = SerError;
    type SerializeSeq = Compound<'w, 'b>;
    type SerializeTuple = Compound<'w, 'b>;
    type SerializeTupleStruct = Compound<'w, 'b>;
    type SerializeTupleVariant = Compound<'w, 'b>;
    type SerializeMap = Compound<'w, 'b>;
    type SerializeStruct = Compound<'w, 'b>;
    type SerializeStructVariant = Compound<'w, 'b>;

    fn serialize_bool(self, v: bool) -> Result<(), SerError> {
        self.atom(if v { "true" } else { "false" })
    }
    fn serialize_i8(self, v: i8) -> Result<(), SerError> {
        self.integer(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), SerError> {
        self.integer(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), SerError> {
        self.integer(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), SerError> {
        self.integer(v.into())
    }
    fn serialize_i128(self, v: i128) -> Result<(), SerError> {
        self.integer(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), SerError> {
        self.integer(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), SerError> {
        self.integer(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), SerError> {
        self.integer(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), SerError> {
        self.integer(v.into())
    }
    fn serialize_u128(self, v: u128) -> Result<(), SerError> {
        let v = i128::try_from(v).map_err(|_| SerError::Unsupported("an integer past 64 bits"))?;
        self.integer(v)
    }
    fn serialize_f32(self, v: f32) -> Result<(), SerError> {
        self.float(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<(), SerError> {
        self.float(v)
    }
    fn serialize_char(self, v: char) -> Result<(), SerError> {
        self.binary(v.encode_utf8(&mut [0; 4]).as_bytes())
    }
    fn serialize_str(self, v: &str) -> Result<(), SerError> {
        self.binary(v.as_bytes())
    }
    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<(), SerError> {
        use fmt::Write as _;
        let mut binary = self.begin_binary()?;
        let mut text = Text {
            out: &mut *self,
            full: false,
        };
        if write!(text, "{value}").is_err() || text.full {
            return Err(SerError::Full);
        }
        self.end_binary(&mut binary)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), SerError> {
        self.binary(v)
    }
    fn serialize_none(self) -> Result<(), SerError> {
        self.nil()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), SerError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), SerError> {
        self.nil()
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), SerError> {
        self.nil()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), SerError> {
        self.binary(variant.as_bytes())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), SerError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), SerError> {
        let open = self.open(tag::MAP)?;
        let mut map = Compound { out: self, open };
        map.key(variant)?;
        map.value(value)?;
        map.end()
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'w, 'b>, SerError> {
        let open = self.open(tag::LIST)?;
        Ok(Compound { out: self, open })
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'w, 'b>, SerError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'w, 'b>, SerError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'w, 'b>, SerError> {
        Err(SerError::Unsupported("a tuple variant"))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'w, 'b>, SerError> {
        let open = self.open(tag::MAP)?;
        Ok(Compound { out: self, open })
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Compound<'w, 'b>, SerError> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'w, 'b>, SerError> {
        Err(SerError::Unsupported("a struct variant"))
    }
}

impl ser::SerializeSeq for Compound<'_, '_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerError> {
        self.element(value)
    }
    fn end(self) -> Result<(), SerError> {
        Compound::end(self)
    }
}

impl ser::SerializeTuple for Compound<'_, '_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerError> {
        self.element(value)
    }
    fn end(self) -> Result<(), SerError> {
        Compound::end(self)
    }
}

impl ser::SerializeTupleStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerError> {
        self.element(value)
    }
    fn end(self) -> Result<(), SerError> {
        Compound::end(self)
    }
}

impl ser::SerializeTupleVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerError> {
        self.element(value)
    }
    fn end(self) -> Result<(), SerError> {
        Compound::end(self)
    }
}

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), SerError> {
        self.key(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SerError> {
        self.value(value)
    }
    fn end(self) -> Result<(), SerError> {
        Compound::end(self)
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), SerError> {
        self.key(key)?;
        self.value(value)
    }
    fn end(self) -> Result<(), SerError> {
        Compound::end(self)
    }
}

impl ser::SerializeStructVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = SerError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), SerError> {
        self.key(key)?;
        self.value(value)
    }
    fn end(self) -> Result<(), SerError> {
        Compound::end(self)
    }
}
