//! The envelope head (`op`, `s`, `t`) read from the first bytes of a message, in JSON or ETF.
//!
//! A message too large to take whole (over a transport's size limit, or larger than an embedded
//! receive buffer) still has to be counted: its `s` is the next sequence number, and a resume
//! that does not know it replays the message or reports a gap. [`read_head`] reads `op`, `s` and
//! `t` from whatever prefix of the message the caller held on to, and says when that prefix
//! cannot tell.
//!
//! # What a prefix can and cannot tell
//!
//! - The three fields may come in any order, and other keys with them. Discord writes
//!   `t`, `s`, `op`, `d` in JSON, so the head is in the first few dozen bytes; ETF maps come
//!   in no promised order. A key before the head (`d` included) is stepped over when it ends
//!   within the prefix.
//! - When the prefix ends before all three are read: [`PrefixHead::NeedMore`] if it ends
//!   outside `d` (a few more bytes settle it, e.g. `"s":12` may still be `"s":1234`), and
//!   [`PrefixHead::BehindData`] if it ends inside a `d` that came first, so the fields still
//!   missing lie after the data, which no bounded prefix of a large message reaches. Neither
//!   is final: a longer prefix may settle either (a short `d` may close within it).
//! - A field that is absent counts as null (`s` and `t`) only once the whole object is in the
//!   prefix; `op` is required, as by [`Envelope::decode`].
//! - What comes after the head is not seen: a prefix whose head is [`PrefixHead::Known`] may
//!   still belong to a message the full decoder refuses (a duplicate key, trailing bytes, a
//!   malformed `d`). Every answer given is the one the full decoder gives for a message it
//!   accepts, and an error is only returned for bytes no continuation can make valid.
//! - [`PrefixHead::Known`] and an error are final, for any bytes: every longer prefix of the same
//!   message gives the same answer. A number is judged (its type and range) only once a byte
//!   follows it. So a caller that reads a head from however many bytes have arrived gets the
//!   answer a fixed prefix would give, whatever the network's cuts.
//!
//! [`Envelope::decode`]: crate::codec::Envelope::decode

use super::envelope::{read_name, read_op, read_seq, EventName, Key};
use super::etf::{self, Term};
use super::json::{Kind, Reader};
use super::{DecodeError, Encoding};
use crate::protocol::{EventType, OpCode};

/// `op`, `s` and `t` of a message, as [`crate::codec::Envelope`] would read them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnvelopeHead<'a> {
    op: OpCode,
    seq: Option<u64>,
    name: Option<EventName<'a>>,
}

impl<'a> EnvelopeHead<'a> {
    pub(crate) const fn new(op: OpCode, seq: Option<u64>, name: Option<EventName<'a>>) -> Self {
        Self { op, seq, name }
    }

    /// The opcode.
    #[must_use]
    pub const fn op(&self) -> OpCode {
        self.op
    }

    /// The sequence number (`s`), when not null.
    #[must_use]
    pub const fn seq(&self) -> Option<u64> {
        self.seq
    }

    /// The event name (`t`), when not null, borrowed from the prefix.
    #[must_use]
    pub const fn name(&self) -> Option<&EventName<'a>> {
        self.name.as_ref()
    }

    /// The documented event named by `t`, if any.
    #[must_use]
    pub fn event_type(&self) -> Option<EventType> {
        self.name.and_then(|name| name.kind())
    }
}

/// What a prefix of a message says about its head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrefixHead<'a> {
    /// `op`, `s` and `t` are settled.
    Known(EnvelopeHead<'a>),
    /// The prefix ends before they are settled, outside `d`: more bytes may settle it.
    NeedMore,
    /// `d` came before a field still missing and the prefix ends inside it: the rest of the
    /// head lies behind the data.
    BehindData,
}

/// Reads the envelope head from the first bytes of a message in `encoding` (see the module
/// docs for what a prefix can tell). The prefix may be cut anywhere, even inside a token; the
/// whole message is a prefix of itself.
///
/// # Errors
/// A [`DecodeError`] when the bytes already break the envelope's rules in a way no
/// continuation can mend: not an object (map), `op`, `s` or `t` of the wrong type, a field
/// twice, malformed JSON or ETF, or a whole object without `op`.
pub fn read_head(encoding: Encoding, prefix: &[u8]) -> Result<PrefixHead<'_>, DecodeError> {
    let mut walk = Walk::default();
    let result = match encoding {
        Encoding::Json => json(prefix, &mut walk),
        Encoding::Etf => etf_head(prefix, &mut walk),
    };
    match result {
        Ok(head) => Ok(PrefixHead::Known(head)),
        Err(Stop::Cut) if walk.in_data => Ok(PrefixHead::BehindData),
        Err(Stop::Cut) => Ok(PrefixHead::NeedMore),
        Err(Stop::Invalid(error)) => Err(error),
    }
}

/// The fields read so far.
#[derive(Default)]
struct Walk<'a> {
    op: Option<OpCode>,
    seq: Option<Option<u64>>,
    name: Option<Option<EventName<'a>>>,
    /// Whether the value being read is `d`.
    in_data: bool,
}

impl<'a> Walk<'a> {
    /// The head, when all three fields are settled.
    fn known(&self) -> Option<EnvelopeHead<'a>> {
        Some(EnvelopeHead {
            op: self.op?,
            seq: self.seq?,
            name: self.name?,
        })
    }

    /// The head of a whole object: absent `s` and `t` are null, an absent `op` an error.
    fn finished(&self) -> Result<EnvelopeHead<'a>, Stop> {
        Ok(EnvelopeHead {
            op: self.op.ok_or(DecodeError::MissingField { field: "op" })?,
            seq: self.seq.flatten(),
            name: self.name.flatten(),
        })
    }
}

/// Why the walk ended without a head.
enum Stop {
    /// The prefix ended.
    Cut,
    /// The bytes cannot be a valid envelope.
    Invalid(DecodeError),
}

impl From<DecodeError> for Stop {
    fn from(error: DecodeError) -> Self {
        match error {
            DecodeError::UnexpectedEnd | DecodeError::Etf(etf::EtfError::UnexpectedEnd { .. }) => {
                Self::Cut
            }
            other => Self::Invalid(other),
        }
    }
}

impl From<etf::EtfError> for Stop {
    fn from(error: etf::EtfError) -> Self {
        DecodeError::from(error).into()
    }
}

fn duplicate(field: &'static str) -> Stop {
    Stop::Invalid(DecodeError::DuplicateField { field })
}

fn json<'a>(prefix: &'a [u8], walk: &mut Walk<'a>) -> Result<EnvelopeHead<'a>, Stop> {
    let mut reader = Reader::new(prefix);
    if reader.peek_kind()? != Kind::Object {
        return Err(DecodeError::NotAnObject.into());
    }
    reader.begin_object()?;
    let mut first = true;
    while let Some(key) = reader.next_key(first)? {
        first = false;
        match Key::of(&key) {
            Key::Op => {
                if walk.op.is_some() {
                    return Err(duplicate("op"));
                }
                let op = read_op(&mut reader);
                // `1` may be the start of `12`, and `920` (out of range) of `920e` (cut): a
                // number is only whole, and only then judged, once a byte follows it. So
                // every final answer (a head, an error) stays the same for longer prefixes.
                reader.peek()?;
                walk.op = Some(op?);
            }
            Key::Seq => {
                if walk.seq.is_some() {
                    return Err(duplicate("s"));
                }
                let seq = read_seq(&mut reader);
                reader.peek()?;
                walk.seq = Some(seq?);
            }
            Key::Name => {
                if walk.name.is_some() {
                    return Err(duplicate("t"));
                }
                walk.name = Some(read_name(&mut reader)?);
            }
            Key::Data => {
                walk.in_data = true;
                reader.skip_value()?;
                // A number or literal `d` is only whole once a byte follows it.
                reader.peek()?;
                walk.in_data = false;
            }
            Key::Other => {
                reader.skip_value()?;
                reader.peek()?;
            }
        }
        if let Some(head) = walk.known() {
            return Ok(head);
        }
    }
    walk.finished()
}

fn etf_head<'a>(prefix: &'a [u8], walk: &mut Walk<'a>) -> Result<EnvelopeHead<'a>, Stop> {
    if prefix.is_empty() {
        return Err(Stop::Cut);
    }
    let mut reader = etf::Reader::message(prefix)?;
    let Term::Map(arity) = reader.next()? else {
        return Err(DecodeError::NotAnObject.into());
    };
    for _ in 0..arity {
        match etf::envelope_key(reader.next()?)? {
            b"op" => {
                if walk.op.is_some() {
                    return Err(duplicate("op"));
                }
                walk.op = Some(etf::envelope_op(reader.next()?)?);
            }
            b"s" => {
                if walk.seq.is_some() {
                    return Err(duplicate("s"));
                }
                walk.seq = Some(etf::envelope_seq(reader.next()?)?);
            }
            b"t" => {
                if walk.name.is_some() {
                    return Err(duplicate("t"));
                }
                let offset = reader.position();
                walk.name = Some(etf::envelope_name(reader.next()?, offset)?);
            }
            b"d" => {
                walk.in_data = true;
                reader.skip(1)?;
                walk.in_data = false;
            }
            _ => {
                reader.skip(1)?;
            }
        }
        if let Some(head) = walk.known() {
            return Ok(head);
        }
    }
    walk.finished()
}
