//! A serde `Deserializer` over ETF terms, so `d` deserializes into the same types as its JSON.
//!
//! ETF and JSON disagree on a few shapes; this side bends to what the JSON form would give:
//! - snowflakes arrive as integers or as binaries: a string field accepts an integer (as its
//!   decimal text) and an integer field accepts a binary of decimal digits;
//! - the atoms `nil`, `true` and `false` are null and the booleans; other atoms are strings;
//! - binaries are strings (UTF-8 is checked when one is read as text);
//! - `STRING_EXT` is Erlang's packing of a list of small integers, so it reads as a sequence of
//!   numbers (and, where text is asked for, as that text when it is UTF-8);
//! - tuples read as sequences, and map keys of any kind as whatever the key type asks for.
//!
//! Nothing is allocated: strings are borrowed from the input, except an integer read as a
//! string or a Latin-1 atom with non-ASCII characters, which are formatted on the stack.

use core::fmt::{self, Write as _};

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use super::reader::{Atom, Reader, Term, MAX_DEPTH};
use super::EtfError;

/// The longest custom error message kept (serde's own messages fit; longer ones are cut).
const MESSAGE_LEN: usize = 96;

/// Why a term could not be deserialized into the type asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a well-formed term within bounds.
    Etf(EtfError),
    /// The term is well-formed but not what the type expects (serde's message, cut to 96 bytes).
    Mismatch(heapless::String<MESSAGE_LEN>),
}

impl From<EtfError> for Error {
    fn from(error: EtfError) -> Self {
        Self::Etf(error)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Etf(error) => error.fmt(f),
            Self::Mismatch(message) => f.write_str(message),
        }
    }
}

impl core::error::Error for Error {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Etf(error) => Some(error),
            Self::Mismatch(_) => None,
        }
    }
}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        let mut message = Truncating(heapless::String::new());
        let _ = write!(message, "{msg}");
        Self::Mismatch(message.0)
    }
}

/// Writes what fits and drops the rest, at a character boundary.
struct Truncating<const N: usize>(heapless::String<N>);

impl<const N: usize> fmt::Write for Truncating<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            if self.0.push(c).is_err() {
                break;
            }
        }
        Ok(())
    }
}

/// Deserializes a bare term (such as an envelope's `d` span) that must fill `bytes`.
///
/// # Errors
/// An [`Error`] when the bytes are not one term or the term does not fit `T`.
pub fn from_term<'de, T: de::Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, Error> {
    let mut deserializer = Deserializer::new(Reader::new(bytes));
    let value = T::deserialize(&mut deserializer)?;
    deserializer.reader.finish()?;
    Ok(value)
}

/// Deserializes a whole message: the version byte 131, then one term.
///
/// # Errors
/// As [`from_term`], and [`EtfError::BadVersion`] for a wrong first byte.
pub fn from_message<'de, T: de::Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, Error> {
    let mut deserializer = Deserializer::new(Reader::message(bytes)?);
    let value = T::deserialize(&mut deserializer)?;
    deserializer.reader.finish()?;
    Ok(value)
}

/// The serde `Deserializer` over an ETF [`Reader`].
#[derive(Debug)]
pub struct Deserializer<'de> {
    reader: Reader<'de>,
    depth: usize,
}

impl<'de> Deserializer<'de> {
    /// A deserializer reading terms from `reader`, at nesting level 0.
    #[must_use]
    pub const fn new(reader: Reader<'de>) -> Self {
        Self { reader, depth: 0 }
    }

    /// The head of the next term, without consuming it.
    fn peek(&self) -> Result<Term<'de>, Error> {
        Ok(self.reader.clone().next()?)
    }

    fn enter(&mut self) -> Result<(), Error> {
        if self.depth >= MAX_DEPTH {
            return Err(EtfError::TooDeep { limit: MAX_DEPTH }.into());
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Hands a list's elements to `visitor`, then checks the list was proper and fully read.
    fn visit_list<V: Visitor<'de>>(
        &mut self,
        len: u32,
        proper: bool,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.enter()?;
        let mut seq = Seq {
            de: self,
            left: len,
        };
        let value = visitor.visit_seq(&mut seq)?;
        let left = seq.left;
        if left > 0 {
            return Err(de::Error::invalid_length(len as usize, &"fewer elements"));
        }
        if !proper {
            let at = self.reader.position();
            if self.reader.next()? != Term::Nil {
                return Err(EtfError::ImproperList { offset: at }.into());
            }
        }
        self.leave();
        Ok(value)
    }
}

/// An integer term as the visitor's number: unsigned when it is not negative, as `serde_json`
/// gives numbers.
fn visit_integer<'de, V: Visitor<'de>>(value: i128, visitor: V) -> Result<V::Value, Error> {
    if let Ok(value) = u64::try_from(value) {
        visitor.visit_u64(value)
    } else if let Ok(value) = i64::try_from(value) {
        visitor.visit_i64(value)
    } else {
        Err(de::Error::custom("integer does not fit in 64 bits"))
    }
}

/// An atom as text, borrowed when it can be and re-encoded on the stack when it is Latin-1.
fn visit_atom_str<'de, V: Visitor<'de>>(atom: Atom<'de>, visitor: V) -> Result<V::Value, Error> {
    if let Some(text) = atom.as_str() {
        return visitor.visit_borrowed_str(text);
    }
    // 255 Latin-1 characters take at most 510 bytes of UTF-8.
    let mut text = heapless::String::<512>::new();
    for c in atom.chars() {
        text.push(c)
            .map_err(|_| <Error as de::Error>::custom("atom too long"))?;
    }
    visitor.visit_str(&text)
}

/// A binary of decimal digits (a snowflake as a string) as a number, if it is one.
fn parse_decimal(bytes: &[u8]) -> Option<i128> {
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    if digits.is_empty() || digits.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let magnitude = digits
        .iter()
        .fold(0i128, |value, digit| value * 10 + i128::from(digit - b'0'));
    Some(if negative { -magnitude } else { magnitude })
}

macro_rules! integer_methods {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            if let Term::Binary(bytes) = self.peek()? {
                if let Some(value) = parse_decimal(bytes) {
                    self.reader.next()?;
                    return visit_integer(value, visitor);
                }
            }
            self.deserialize_any(visitor)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for &mut Deserializer<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.reader.next()? {
            Term::Integer(value) => visit_integer(value, visitor),
            Term::Float(value) => visitor.visit_f64(value),
            Term::Atom(atom) if atom.is("nil") => visitor.visit_unit(),
            Term::Atom(atom) if atom.is("true") => visitor.visit_bool(true),
            Term::Atom(atom) if atom.is("false") => visitor.visit_bool(false),
            Term::Atom(atom) => visit_atom_str(atom, visitor),
            Term::Binary(bytes) => match core::str::from_utf8(bytes) {
                Ok(text) => visitor.visit_borrowed_str(text),
                Err(_) => visitor.visit_borrowed_bytes(bytes),
            },
            Term::ByteList(bytes) => {
                self.enter()?;
                let mut seq = de::value::SeqDeserializer::<_, Error>::new(bytes.iter().copied());
                let value = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                self.leave();
                Ok(value)
            }
            Term::Nil => self.visit_list(0, true, visitor),
            Term::List(len) => self.visit_list(len, false, visitor),
            Term::Tuple(arity) => self.visit_list(arity, true, visitor),
            Term::Map(arity) => {
                self.enter()?;
                let mut map = Map {
                    de: self,
                    left: arity,
                };
                let value = visitor.visit_map(&mut map)?;
                if map.left > 0 {
                    return Err(de::Error::invalid_length(arity as usize, &"fewer entries"));
                }
                self.leave();
                Ok(value)
            }
        }
    }

    integer_methods! {
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let at = self.reader.position();
        match self.peek()? {
            Term::Integer(value) => {
                self.reader.next()?;
                let mut text = heapless::String::<40>::new();
                let _ = write!(text, "{value}");
                visitor.visit_str(&text)
            }
            Term::Binary(bytes) | Term::ByteList(bytes) => {
                self.reader.next()?;
                let text = core::str::from_utf8(bytes)
                    .map_err(|_| EtfError::InvalidUtf8 { offset: at })?;
                visitor.visit_borrowed_str(text)
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.peek()? {
            Term::Binary(bytes) | Term::ByteList(bytes) => {
                self.reader.next()?;
                visitor.visit_borrowed_bytes(bytes)
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.peek()? {
            Term::Atom(atom) if atom.is("nil") => {
                self.reader.next()?;
                visitor.visit_none()
            }
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.peek()? {
            Term::Map(1) => {
                self.reader.next()?;
                self.enter()?;
                let value = visitor.visit_enum(Enum { de: self })?;
                self.leave();
                Ok(value)
            }
            Term::Map(_) => Err(de::Error::custom(
                "an enum must be a map with exactly one entry",
            )),
            Term::Atom(atom) if atom.is("nil") => self.deserialize_any(visitor),
            _ => {
                // A unit variant named by a string (or atom, or integer text).
                let name: &'de str = match self.reader.next()? {
                    Term::Binary(bytes) => core::str::from_utf8(bytes).map_err(|_| {
                        <Error as de::Error>::custom("enum variant name is not UTF-8")
                    })?,
                    Term::Atom(atom) => atom.as_str().ok_or_else(|| {
                        <Error as de::Error>::custom("enum variant name is not ASCII")
                    })?,
                    _ => return Err(de::Error::custom("expected an enum variant name")),
                };
                visitor.visit_enum(name.into_deserializer())
            }
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.reader.skip(self.depth)?;
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool f32 f64 unit unit_struct seq tuple tuple_struct map struct
    }
}

struct Seq<'a, 'de> {
    de: &'a mut Deserializer<'de>,
    left: u32,
}

impl<'de> de::SeqAccess<'de> for Seq<'_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.de).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        // Checked against the bytes left, so no caller reserves for a lie.
        usize::try_from(self.left).ok()
    }
}

struct Map<'a, 'de> {
    de: &'a mut Deserializer<'de>,
    left: u32,
}

impl<'de> de::MapAccess<'de> for Map<'_, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(&mut *self.de).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        seed.deserialize(&mut *self.de)
    }

    fn size_hint(&self) -> Option<usize> {
        usize::try_from(self.left).ok()
    }
}

/// An externally tagged enum: a one-entry map from the variant name to its content.
struct Enum<'a, 'de> {
    de: &'a mut Deserializer<'de>,
}

impl<'de> de::EnumAccess<'de> for Enum<'_, 'de> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        let variant = seed.deserialize(&mut *self.de)?;
        Ok((variant, self))
    }
}

impl<'de> de::VariantAccess<'de> for Enum<'_, 'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        de::Deserialize::deserialize(&mut *self.de)
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(&mut *self.de)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_seq(&mut *self.de, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_map(&mut *self.de, visitor)
    }
}
