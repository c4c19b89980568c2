//! The envelope scan: `op`, `s`, `t` and the span of `d` from one message, without copying.

use core::ops::Range;

use super::json::{Kind, RawStr, Reader};
use super::{DecodeError, Encoding, EnvelopeHead};
use crate::protocol::{EventType, OpCode};

/// The longest event name looked up when it arrives escaped (no documented name comes close).
const MAX_ESCAPED_NAME: usize = 64;

/// The name of a dispatch (`t`), as received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventName<'a> {
    raw: RawStr<'a>,
    kind: Option<EventType>,
}

impl<'a> EventName<'a> {
    pub(crate) fn new(raw: RawStr<'a>) -> Self {
        let kind = if raw.escaped {
            let mut name = heapless::String::<MAX_ESCAPED_NAME>::new();
            raw.unescape_into("t", &mut name)
                .ok()
                .and_then(|()| EventType::from_name(name.as_bytes()))
        } else {
            EventType::from_name(raw.raw)
        };
        Self { raw, kind }
    }

    /// The documented event this names, or `None` for a name this crate does not know.
    #[must_use]
    pub const fn kind(&self) -> Option<EventType> {
        self.kind
    }

    /// The name as it is on the wire, between its quotes (escapes intact, which for real traffic
    /// means none: Discord's event names are plain ASCII). In ETF, the atom's or binary's text.
    #[must_use]
    pub fn raw(&self) -> &'a str {
        // Checked to be UTF-8 when the envelope was scanned.
        core::str::from_utf8(self.raw.raw).unwrap_or_default()
    }

    /// Whether the name arrived with JSON escapes, so that [`EventName::raw`] is not its text.
    #[must_use]
    pub const fn is_escaped(&self) -> bool {
        self.raw.escaped
    }

    /// The name with escapes resolved, written into `out`.
    ///
    /// # Errors
    /// [`DecodeError::TooLong`] when it does not fit in `out`.
    pub fn unescape_into<const N: usize>(
        &self,
        out: &mut heapless::String<N>,
    ) -> Result<(), DecodeError> {
        self.raw.unescape_into("t", out)
    }
}

/// Where the `d` field stands after a scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Data {
    /// The payload has no `d` key.
    Absent,
    /// The byte range of the `d` value in the message (`null` included).
    Present(Range<usize>),
    /// The dispatch was not wanted, so the scan stopped before delimiting `d`.
    Skipped,
}

/// One gateway payload, scanned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope<'a> {
    bytes: &'a [u8],
    encoding: Encoding,
    /// `op`, `s` and `t`: the same type a prefix's head is read into, so the two never drift.
    head: EnvelopeHead<'a>,
    data: Data,
}

impl<'a> Envelope<'a> {
    /// Scans a whole payload in either encoding.
    ///
    /// # Errors
    /// As [`Envelope::decode_filtered`] or [`Envelope::decode_etf_filtered`].
    pub fn decode_as(
        encoding: Encoding,
        bytes: &'a [u8],
        wanted: impl FnMut(&EventName<'a>) -> bool,
    ) -> Result<Self, DecodeError> {
        match encoding {
            Encoding::Json => Self::decode_filtered(bytes, wanted),
            Encoding::Etf => Self::decode_etf_filtered(bytes, wanted),
        }
    }

    /// Scans a whole ETF message (version byte 131, then a map).
    ///
    /// # Errors
    /// [`DecodeError::Etf`] for bytes that are not a term within bounds, and the JSON scan's
    /// errors for a term that is not a map with an integer `op`, an integer or `nil` `s`, and a
    /// binary, atom or `nil` `t`.
    pub fn decode_etf(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        Self::decode_etf_filtered(bytes, |_| true)
    }

    /// [`Envelope::decode_filtered`] for ETF: the same question, asked at the same point, with
    /// the same early stop (Discord's ETF maps come in the same `t`, `s`, `op`, `d` order).
    /// [`Envelope::data`] is then the bare term of `d`, without the version byte.
    ///
    /// # Errors
    /// As [`Envelope::decode_etf`].
    pub fn decode_etf_filtered(
        bytes: &'a [u8],
        wanted: impl FnMut(&EventName<'a>) -> bool,
    ) -> Result<Self, DecodeError> {
        super::etf::decode_filtered(bytes, wanted)
    }

    /// An envelope from the parts a scan found.
    pub(crate) const fn from_parts(
        bytes: &'a [u8],
        encoding: Encoding,
        op: OpCode,
        seq: Option<u64>,
        name: Option<EventName<'a>>,
        data: Data,
    ) -> Self {
        Self {
            bytes,
            encoding,
            head: EnvelopeHead::new(op, seq, name),
            data,
        }
    }

    /// Scans a whole payload.
    ///
    /// # Errors
    /// A [`DecodeError`] when the bytes are not one JSON object with an integer `op`, an integer
    /// or null `s`, and a string or null `t`.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        Self::decode_filtered(bytes, |_| true)
    }

    /// Scans a payload, asking `wanted` about a dispatch as soon as its `op`, `s` and `t` are
    /// known. When it answers `false` the scan stops there and [`Envelope::data`] is `None`: with
    /// Discord's key order (`t`, `s`, `op`, `d`) an unwanted event costs only its first few
    /// dozen bytes, whatever its size. Any other key order is read correctly too, just without
    /// the shortcut where `d` comes first; a dispatch without an `s` key is asked about once
    /// the whole object is read.
    ///
    /// `wanted` is asked exactly once for every dispatch (op 0) whose `t` is a string, and
    /// never for anything else.
    ///
    /// # Errors
    /// As [`Envelope::decode`]; an unwanted dispatch is not checked past the point where the
    /// scan stopped.
    pub fn decode_filtered(
        bytes: &'a [u8],
        mut wanted: impl FnMut(&EventName<'a>) -> bool,
    ) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        if reader.peek_kind()? != Kind::Object {
            return Err(DecodeError::NotAnObject);
        }
        reader.begin_object()?;

        let mut op = None;
        let mut seq = Field::Unseen;
        let mut name = Field::Unseen;
        let mut data = Data::Absent;
        let mut asked = false;
        let mut first = true;
        while let Some(key) = reader.next_key(first)? {
            first = false;
            match Key::of(&key) {
                Key::Op => {
                    if op.is_some() {
                        return Err(DecodeError::DuplicateField { field: "op" });
                    }
                    op = Some(read_op(&mut reader)?);
                }
                Key::Seq => {
                    if !matches!(seq, Field::Unseen) {
                        return Err(DecodeError::DuplicateField { field: "s" });
                    }
                    seq = Field::Seen(read_seq(&mut reader)?);
                }
                Key::Name => {
                    if !matches!(name, Field::Unseen) {
                        return Err(DecodeError::DuplicateField { field: "t" });
                    }
                    name = Field::Seen(read_name(&mut reader)?);
                }
                Key::Data => {
                    if data != Data::Absent {
                        return Err(DecodeError::DuplicateField { field: "d" });
                    }
                    data = Data::Present(reader.skip_value()?);
                }
                Key::Other => {
                    reader.skip_value()?;
                }
            }

            if let (false, Some(OpCode::Dispatch), Field::Seen(seq), Field::Seen(Some(event))) =
                (asked, op, seq, name)
            {
                asked = true;
                if !wanted(&event) {
                    return Ok(Self::from_parts(
                        bytes,
                        Encoding::Json,
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
        if let (false, OpCode::Dispatch, Field::Seen(Some(event))) = (asked, op, name) {
            // `s` never came, so the question could not be asked on the way.
            if !wanted(&event) {
                data = Data::Skipped;
            }
        }
        Ok(Self::from_parts(
            bytes,
            Encoding::Json,
            op,
            seq.value().flatten(),
            name.value().flatten(),
            data,
        ))
    }

    /// The encoding the message was scanned in, which is the encoding of [`Envelope::data`].
    #[must_use]
    pub const fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// `op`, `s` and `t` together, as [`crate::codec::read_head`] reads them from a prefix.
    #[must_use]
    pub const fn head(&self) -> &EnvelopeHead<'a> {
        &self.head
    }

    /// The opcode.
    #[must_use]
    pub const fn op(&self) -> OpCode {
        self.head.op()
    }

    /// The sequence number (`s`), when not null.
    #[must_use]
    pub const fn seq(&self) -> Option<u64> {
        self.head.seq()
    }

    /// The event name (`t`), when not null.
    #[must_use]
    pub const fn name(&self) -> Option<&EventName<'a>> {
        self.head.name()
    }

    /// The documented event named by `t`, if any.
    #[must_use]
    pub fn event_type(&self) -> Option<EventType> {
        self.head.event_type()
    }

    /// The bytes of `d` (`null` included), or `None` when absent or skipped. In ETF, the bare
    /// term (no version byte), which [`crate::codec::etf::from_term`] deserializes.
    #[must_use]
    pub fn data(&self) -> Option<&'a [u8]> {
        match &self.data {
            Data::Present(range) => self.bytes.get(range.clone()),
            Data::Absent | Data::Skipped => None,
        }
    }

    /// Where `d` stands: its byte range in the message, absent, or skipped.
    #[must_use]
    pub const fn data_span(&self) -> &Data {
        &self.data
    }

    /// Whether `d` is present and null (JSON `null`, the ETF atom `nil`).
    #[must_use]
    pub fn data_is_null(&self) -> bool {
        match (self.encoding, self.data()) {
            (Encoding::Json, Some(data)) => data == b"null",
            (Encoding::Etf, Some(data)) => matches!(
                super::etf::Reader::new(data).next(),
                Ok(super::etf::Term::Atom(atom)) if atom.is("nil")
            ),
            (_, None) => false,
        }
    }

    /// The whole message this envelope was scanned from.
    #[must_use]
    pub const fn message(&self) -> &'a [u8] {
        self.bytes
    }
}

/// A field that may be absent, present as null, or present with a value.
#[derive(Clone, Copy)]
enum Field<T> {
    Unseen,
    Seen(T),
}

impl<T> Field<T> {
    fn value(self) -> Option<T> {
        match self {
            Self::Unseen => None,
            Self::Seen(value) => Some(value),
        }
    }
}

/// The envelope keys, matched once per key.
pub(super) enum Key {
    Op,
    Seq,
    Name,
    Data,
    Other,
}

impl Key {
    pub(super) fn of(key: &RawStr<'_>) -> Self {
        if !key.escaped {
            return match key.raw {
                b"op" => Self::Op,
                b"s" => Self::Seq,
                b"t" => Self::Name,
                b"d" => Self::Data,
                _ => Self::Other,
            };
        }
        // Escaped keys are legal JSON ("\u006fp" is "op"); rare enough to take the slow path.
        [
            ("op", Self::Op),
            ("s", Self::Seq),
            ("t", Self::Name),
            ("d", Self::Data),
        ]
        .into_iter()
        .find(|(text, _)| key.equals(text))
        .map_or(Self::Other, |(_, found)| found)
    }
}

/// Reads `op`: an integer from 0 to 255.
pub(super) fn read_op(reader: &mut Reader<'_>) -> Result<OpCode, DecodeError> {
    let value = read_integer(reader, "op", "an integer from 0 to 255")?;
    let value = u8::try_from(value).map_err(|_| DecodeError::WrongType {
        field: "op",
        expected: "an integer from 0 to 255",
    })?;
    Ok(OpCode::from_u8(value))
}

/// Reads `s`: an integer or null.
pub(super) fn read_seq(reader: &mut Reader<'_>) -> Result<Option<u64>, DecodeError> {
    if reader.peek_kind()? == Kind::Null {
        reader.read_null()?;
        return Ok(None);
    }
    read_integer(reader, "s", "an integer or null").map(Some)
}

/// Reads `t`: a UTF-8 string or null.
pub(super) fn read_name<'a>(reader: &mut Reader<'a>) -> Result<Option<EventName<'a>>, DecodeError> {
    match reader.peek_kind()? {
        Kind::Null => {
            reader.read_null()?;
            Ok(None)
        }
        Kind::String => {
            let raw = reader.read_str()?;
            core::str::from_utf8(raw.raw)
                .map_err(|_| DecodeError::InvalidUtf8 { offset: raw.offset })?;
            Ok(Some(EventName::new(raw)))
        }
        _ => Err(DecodeError::WrongType {
            field: "t",
            expected: "a string or null",
        }),
    }
}

/// Reads a non-negative integer, turning a value of another JSON type (or a negative or
/// fractional number) into [`DecodeError::WrongType`].
fn read_integer(
    reader: &mut Reader<'_>,
    field: &'static str,
    expected: &'static str,
) -> Result<u64, DecodeError> {
    if reader.peek_kind()? != Kind::Number {
        return Err(DecodeError::WrongType { field, expected });
    }
    reader.read_u64().map_err(|error| match error {
        DecodeError::InvalidNumber { .. } => DecodeError::WrongType { field, expected },
        other => other,
    })
}
