//! A cursor over ETF bytes: one term header at a time, borrowed from the input, never allocating.
//!
//! [`Reader::next`] reads the head of the next term: a whole scalar, or the count of a list,
//! tuple or map whose elements follow. Every length is checked against the bytes left before it
//! is used, and a container may not claim more elements than there are bytes left (each element
//! takes at least one), so a hostile count cannot make a caller loop or reserve for long.
//! [`Reader::skip`] steps over a whole term without recursion, under the same depth bound as the
//! deserializer.

use core::ops::Range;

use super::EtfError;

/// The byte every ETF message starts with.
pub const VERSION: u8 = 131;

/// The deepest nesting of lists, tuples and maps accepted (the envelope map is level 1; the
/// empty list and `STRING_EXT` count as a level, as the arrays they are in JSON), the same bound
/// as for JSON ([`crate::codec::MAX_DEPTH`]).
pub const MAX_DEPTH: usize = crate::codec::MAX_DEPTH;

/// Tag numbers (Erlang's `external.h`, protocol reference §11.4).
pub(crate) mod tag {
    pub(crate) const NEW_FLOAT: u8 = 70;
    pub(crate) const SMALL_INTEGER: u8 = 97;
    pub(crate) const INTEGER: u8 = 98;
    pub(crate) const FLOAT: u8 = 99;
    pub(crate) const ATOM: u8 = 100;
    pub(crate) const SMALL_TUPLE: u8 = 104;
    pub(crate) const LARGE_TUPLE: u8 = 105;
    pub(crate) const NIL: u8 = 106;
    pub(crate) const STRING: u8 = 107;
    pub(crate) const LIST: u8 = 108;
    pub(crate) const BINARY: u8 = 109;
    pub(crate) const SMALL_BIG: u8 = 110;
    pub(crate) const LARGE_BIG: u8 = 111;
    pub(crate) const SMALL_ATOM: u8 = 115;
    pub(crate) const MAP: u8 = 116;
    pub(crate) const ATOM_UTF8: u8 = 118;
    pub(crate) const SMALL_ATOM_UTF8: u8 = 119;
}

/// The most characters Erlang allows in an atom.
const MAX_ATOM_CHARS: usize = 255;

/// An atom's name as it is on the wire: UTF-8, or Latin-1 for the legacy tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Atom<'a> {
    bytes: &'a [u8],
    latin1: bool,
}

impl<'a> Atom<'a> {
    /// The name's bytes as encoded (UTF-8, or Latin-1 when [`Atom::is_latin1`]).
    #[must_use]
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Whether the atom came in a Latin-1 tag (`ATOM_EXT`, `SMALL_ATOM_EXT`).
    #[must_use]
    pub const fn is_latin1(&self) -> bool {
        self.latin1
    }

    /// The name as text without copying: always for UTF-8 atoms (checked when read), and for
    /// Latin-1 atoms that are plain ASCII, which every atom Discord sends is.
    #[must_use]
    pub fn as_str(&self) -> Option<&'a str> {
        if self.latin1 && !self.bytes.is_ascii() {
            return None;
        }
        core::str::from_utf8(self.bytes).ok()
    }

    /// The name's characters, decoded from whichever charset it came in.
    pub fn chars(&self) -> impl Iterator<Item = char> + 'a {
        let latin1 = self.latin1.then_some(self.bytes);
        let utf8 = if self.latin1 {
            ""
        } else {
            core::str::from_utf8(self.bytes).unwrap_or_default()
        };
        latin1
            .into_iter()
            .flatten()
            .map(|&byte| char::from(byte))
            .chain(utf8.chars())
    }

    /// Whether this is the atom `name` (ASCII names only, as Erlang's `nil`, `true`, `false`).
    #[must_use]
    pub fn is(&self, name: &str) -> bool {
        self.bytes == name.as_bytes()
    }
}

/// The head of one term.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Term<'a> {
    /// `SMALL_INTEGER_EXT`, `INTEGER_EXT`, or a big integer whose magnitude fits in 64 bits.
    Integer(i128),
    /// `NEW_FLOAT_EXT` or the legacy `FLOAT_EXT`.
    Float(f64),
    /// Any of the four atom tags.
    Atom(Atom<'a>),
    /// `BINARY_EXT`: Discord's strings.
    Binary(&'a [u8]),
    /// `STRING_EXT`: a list of small integers, packed one byte each.
    ByteList(&'a [u8]),
    /// `NIL_EXT`: the empty list.
    Nil,
    /// `LIST_EXT`: this many elements follow, then the tail (`Nil` for a proper list).
    List(u32),
    /// `SMALL_TUPLE_EXT` or `LARGE_TUPLE_EXT`: this many elements follow.
    Tuple(u32),
    /// `MAP_EXT`: this many key/value pairs follow, key first.
    Map(u32),
}

impl Term<'_> {
    /// Whether this term is a level of nesting: a list, tuple or map, including the empty
    /// list and the packed byte list, which are arrays in JSON and sequences to serde.
    pub(crate) const fn is_nested(&self) -> bool {
        matches!(
            self,
            Self::List(_) | Self::Tuple(_) | Self::Map(_) | Self::Nil | Self::ByteList(_)
        )
    }

    /// How many terms follow this head as its contents.
    const fn children(&self) -> u64 {
        match *self {
            Self::List(len) => len as u64 + 1,
            Self::Tuple(arity) => arity as u64,
            Self::Map(arity) => 2 * arity as u64,
            _ => 0,
        }
    }
}

/// A cursor over ETF terms.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over bare terms (no version byte), such as the `d` span of an envelope.
    #[must_use]
    pub const fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// A reader over a whole message, positioned after its version byte.
    ///
    /// # Errors
    /// [`EtfError::BadVersion`] when the first byte is not 131.
    pub fn message(bytes: &'a [u8]) -> Result<Self, EtfError> {
        match bytes.first() {
            Some(&VERSION) => Ok(Self { bytes, pos: 1 }),
            Some(&found) => Err(EtfError::BadVersion { found }),
            None => Err(EtfError::BadVersion { found: 0 }),
        }
    }

    /// Where the next term starts.
    #[must_use]
    pub const fn position(&self) -> usize {
        self.pos
    }

    /// The bytes the reader walks.
    #[must_use]
    pub const fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Reads the head of the next term (see the module docs).
    ///
    /// # Errors
    /// An [`EtfError`] for a truncated term, an unknown tag, an integer past 64 bits, an atom
    /// that is too long or not UTF-8, or a container that claims more elements than bytes left.
    #[allow(clippy::should_implement_trait)] // fallible, and not an iterator over one thing
    pub fn next(&mut self) -> Result<Term<'a>, EtfError> {
        let start = self.pos;
        let mut cursor = Cursor {
            bytes: self.bytes,
            pos: start,
            start,
        };
        let term = match cursor.u8()? {
            tag::SMALL_INTEGER => Term::Integer(i128::from(cursor.u8()?)),
            tag::INTEGER => Term::Integer(i128::from(i32::from_be_bytes(cursor.array()?))),
            tag::SMALL_BIG => {
                let len = usize::from(cursor.u8()?);
                cursor.big(len)?
            }
            tag::LARGE_BIG => {
                let len = cursor.len32()?;
                cursor.big(len)?
            }
            tag::NEW_FLOAT => finite(f64::from_be_bytes(cursor.array()?), start)?,
            tag::FLOAT => {
                // Erlang's `float_to_list` text, padded with NULs to 31 bytes.
                let text = cursor.take(31)?;
                let end = text
                    .iter()
                    .rposition(|&b| b != 0)
                    .map_or(0, |last| last + 1);
                let invalid = EtfError::InvalidFloat { offset: start };
                let text = core::str::from_utf8(&text[..end]).map_err(|_| invalid)?;
                finite(text.parse().map_err(|_| invalid)?, start)?
            }
            tag::ATOM => {
                let len = usize::from(u16::from_be_bytes(cursor.array()?));
                cursor.atom(len, true)?
            }
            tag::SMALL_ATOM => {
                let len = usize::from(cursor.u8()?);
                cursor.atom(len, true)?
            }
            tag::ATOM_UTF8 => {
                let len = usize::from(u16::from_be_bytes(cursor.array()?));
                cursor.atom(len, false)?
            }
            tag::SMALL_ATOM_UTF8 => {
                let len = usize::from(cursor.u8()?);
                cursor.atom(len, false)?
            }
            tag::BINARY => {
                let len = cursor.len32()?;
                Term::Binary(cursor.take(len)?)
            }
            tag::STRING => {
                let len = usize::from(u16::from_be_bytes(cursor.array()?));
                Term::ByteList(cursor.take(len)?)
            }
            tag::NIL => Term::Nil,
            tag::LIST => Term::List(u32::from_be_bytes(cursor.array()?)),
            tag::SMALL_TUPLE => Term::Tuple(u32::from(cursor.u8()?)),
            tag::LARGE_TUPLE => Term::Tuple(u32::from_be_bytes(cursor.array()?)),
            tag::MAP => Term::Map(u32::from_be_bytes(cursor.array()?)),
            other => {
                return Err(EtfError::UnknownTag {
                    tag: other,
                    offset: start,
                })
            }
        };
        // Every element takes at least one byte: a count past what is left is a lie.
        let left = (self.bytes.len() - cursor.pos) as u64;
        if term.children() > left {
            return Err(EtfError::UnexpectedEnd { offset: start });
        }
        self.pos = cursor.pos;
        Ok(term)
    }

    /// Skips one whole term, nested `depth` levels deep already, and returns its span.
    ///
    /// One visit per term, without recursion: the heads Discord sends (binaries, small atoms,
    /// integers, maps, lists) are stepped over by their own lengths and counts right here, and
    /// every other head, and any head that is not well-formed, goes through [`Reader::next`], so
    /// the skip accepts exactly what `next` accepts and fails with the same error.
    ///
    /// # Errors
    /// As [`Reader::next`], and [`EtfError::TooDeep`] when containers nest past [`MAX_DEPTH`].
    pub fn skip(&mut self, depth: usize) -> Result<Range<usize>, EtfError> {
        let start = self.pos;
        let bytes = self.bytes;
        let mut pos = self.pos;
        // How many terms are still due at each open level, innermost last.
        let mut due = [0u64; MAX_DEPTH];
        let mut open = 0;
        let mut pending: u64 = 1;
        loop {
            // Scalars in a row, the bulk of a payload, in a loop of their own.
            while pending > 0 {
                let Some(len) = fast_scalar(bytes, pos) else {
                    break;
                };
                pos += len;
                pending -= 1;
            }
            if pending == 0 {
                if open == 0 {
                    self.pos = pos;
                    return Ok(start..pos);
                }
                open -= 1;
                pending = due[open];
                continue;
            }
            pending -= 1;
            // A container, or a head the scalar loop does not take: the common ones are
            // stepped over in place; anything else, or anything not well-formed, falls through
            // to `next`, which reads or refuses it.
            let (nested, children) = match fast_container(bytes, pos) {
                Some((nested, children)) => {
                    pos += if children == 0 { 1 } else { 5 };
                    (nested, children)
                }
                None => {
                    self.pos = pos;
                    let term = self.next()?;
                    pos = self.pos;
                    (term.is_nested(), term.children())
                }
            };
            if nested && depth + open + 1 > MAX_DEPTH {
                self.pos = pos;
                return Err(EtfError::TooDeep { limit: MAX_DEPTH });
            }
            if children > 0 {
                due[open] = pending;
                open += 1;
                pending = children;
            }
        }
    }

    /// Checks that nothing follows the last term.
    ///
    /// # Errors
    /// [`EtfError::TrailingBytes`] otherwise.
    pub fn finish(&self) -> Result<(), EtfError> {
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err(EtfError::TrailingBytes { offset: self.pos })
        }
    }
}

/// The length of the scalar term at `at` when it is one of the kinds Discord sends and
/// well-formed; `None` for anything else. Accepts exactly what [`Reader::next`] accepts for
/// these tags.
#[inline(always)]
fn fast_scalar(bytes: &[u8], at: usize) -> Option<usize> {
    let (&head, body) = bytes.get(at..)?.split_first()?;
    match head {
        tag::BINARY => {
            let len = u32::from_be_bytes(*body.first_chunk::<4>()?) as usize;
            (len <= body.len() - 4).then_some(5 + len)
        }
        tag::SMALL_ATOM_UTF8 | tag::SMALL_ATOM => {
            // A one-byte length holds at most 255 bytes, so at most 255 characters.
            let (&len, rest) = body.split_first()?;
            let name = rest.get(..usize::from(len))?;
            if head == tag::SMALL_ATOM_UTF8 && !ascii(name) {
                core::str::from_utf8(name).ok()?;
            }
            Some(2 + usize::from(len))
        }
        tag::SMALL_INTEGER => (!body.is_empty()).then_some(2),
        tag::INTEGER => (body.len() >= 4).then_some(5),
        tag::SMALL_BIG => {
            // Up to 64 bits of magnitude and a valid sign; longer ones go through `next`.
            let [len, sign, ..] = *body else {
                return None;
            };
            let len = usize::from(len);
            (len <= 8 && sign <= 1 && len <= body.len() - 2).then_some(3 + len)
        }
        tag::NEW_FLOAT => {
            let bits = u64::from_be_bytes(*body.first_chunk::<8>()?);
            // Not an infinity or NaN: the exponent is not all ones.
            ((bits >> 52) & 0x7FF != 0x7FF).then_some(9)
        }
        _ => None,
    }
}

/// The empty list, a map or a list at `at`, well-formed: whether it nests and how many terms
/// it contains (its head is 1 byte when it contains none, else 5); `None` for anything else.
#[inline(always)]
fn fast_container(bytes: &[u8], at: usize) -> Option<(bool, u64)> {
    let (&head, body) = bytes.get(at..)?.split_first()?;
    match head {
        tag::NIL => Some((true, 0)),
        tag::MAP | tag::LIST => {
            let count = u64::from(u32::from_be_bytes(*body.first_chunk::<4>()?));
            let children = if head == tag::MAP {
                2 * count
            } else {
                count + 1
            };
            // Every element takes at least one byte: a count past what is left is a lie. An
            // empty map contains nothing but has a 5-byte head: `next` reads it.
            (children > 0 && children <= (body.len() - 4) as u64).then_some((true, children))
        }
        _ => None,
    }
}

/// Whether `bytes` is ASCII, checked eight bytes at a time without a branch per byte (atom
/// names are short, and `is_ascii` tests them byte by byte).
#[inline(always)]
fn ascii(bytes: &[u8]) -> bool {
    let (words, rest) = bytes.as_chunks::<8>();
    let high = words
        .iter()
        .fold(0u64, |high, word| high | u64::from_ne_bytes(*word));
    let rest = rest.iter().fold(0u8, |high, &byte| high | byte);
    high & 0x8080_8080_8080_8080 == 0 && rest < 0x80
}

/// A float Erlang can write: it has no infinities or NaN, and JSON cannot carry them either.
fn finite(value: f64, offset: usize) -> Result<Term<'static>, EtfError> {
    if value.is_finite() {
        Ok(Term::Float(value))
    } else {
        Err(EtfError::InvalidFloat { offset })
    }
}

/// Reads the parts of one term, reporting a truncation at the term's start.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    start: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], EtfError> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(EtfError::UnexpectedEnd { offset: self.start })?;
        let taken = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], EtfError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, EtfError> {
        Ok(self.take(1)?[0])
    }

    fn len32(&mut self) -> Result<usize, EtfError> {
        usize::try_from(u32::from_be_bytes(self.array()?))
            .map_err(|_| EtfError::UnexpectedEnd { offset: self.start })
    }

    /// A big integer of `len` little-endian magnitude bytes after a sign byte.
    fn big(&mut self, len: usize) -> Result<Term<'a>, EtfError> {
        let negative = match self.u8()? {
            0 => false,
            1 => true,
            _ => return Err(EtfError::InvalidSign { offset: self.start }),
        };
        let digits = self.take(len)?;
        let (low, high) = digits.split_at(len.min(8));
        if high.iter().any(|&byte| byte != 0) {
            return Err(EtfError::IntegerTooLarge { offset: self.start });
        }
        let mut magnitude = [0u8; 8];
        magnitude[..low.len()].copy_from_slice(low);
        let magnitude = i128::from(u64::from_le_bytes(magnitude));
        Ok(Term::Integer(if negative { -magnitude } else { magnitude }))
    }

    fn atom(&mut self, len: usize, latin1: bool) -> Result<Term<'a>, EtfError> {
        let bytes = self.take(len)?;
        if latin1 {
            if len > MAX_ATOM_CHARS {
                return Err(EtfError::AtomTooLong { offset: self.start });
            }
        } else {
            let text = core::str::from_utf8(bytes)
                .map_err(|_| EtfError::InvalidUtf8 { offset: self.start })?;
            if text.chars().count() > MAX_ATOM_CHARS {
                return Err(EtfError::AtomTooLong { offset: self.start });
            }
        }
        Ok(Term::Atom(Atom { bytes, latin1 }))
    }
}
