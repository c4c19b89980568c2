//! Errors of the codec layer: a payload that is not what the protocol says it is.

use core::fmt;

use super::etf::EtfError;

/// Why a received payload could not be decoded.
///
/// Offsets are byte positions in the message that was handed in, so a log line can point at the
/// byte that broke. Nothing in here ever echoes payload contents (they may carry a token).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The message ended inside a value.
    UnexpectedEnd,
    /// A byte that JSON does not allow at this position.
    UnexpectedByte {
        /// Where the byte is.
        offset: usize,
        /// What the grammar wanted there.
        expected: &'static str,
    },
    /// The top-level value is not a JSON object (or, in ETF, not a map).
    NotAnObject,
    /// A string holds an invalid escape sequence or an unpaired surrogate.
    InvalidEscape {
        /// Where the escape starts.
        offset: usize,
    },
    /// A string holds a raw control character (JSON requires it escaped).
    ControlCharacter {
        /// Where the character is.
        offset: usize,
    },
    /// A key or a string the core reads is not valid UTF-8 (or, for JSON the crate is about to
    /// send, any of its bytes).
    InvalidUtf8 {
        /// Where the string starts; for JSON about to be sent, the first invalid byte.
        offset: usize,
    },
    /// A number is malformed or out of range for its field.
    InvalidNumber {
        /// Where the number starts.
        offset: usize,
    },
    /// A field holds a value of the wrong JSON type.
    WrongType {
        /// The field.
        field: &'static str,
        /// The type the protocol gives it.
        expected: &'static str,
    },
    /// A required field is absent.
    MissingField {
        /// The field.
        field: &'static str,
    },
    /// A field appears twice in one object.
    DuplicateField {
        /// The field.
        field: &'static str,
    },
    /// A string is longer than the core has room for.
    TooLong {
        /// The field.
        field: &'static str,
        /// The most bytes the core keeps.
        limit: usize,
    },
    /// Arrays and objects nest deeper than the limit.
    TooDeep {
        /// The deepest nesting accepted.
        limit: usize,
    },
    /// Something other than whitespace follows the top-level object.
    TrailingBytes {
        /// Where it starts.
        offset: usize,
    },
    /// An ETF message that is not a well-formed term within bounds.
    Etf(EtfError),
}

impl From<EtfError> for DecodeError {
    fn from(error: EtfError) -> Self {
        Self::Etf(error)
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::UnexpectedEnd => f.write_str("payload ends in the middle of a value"),
            Self::UnexpectedByte { offset, expected } => {
                write!(f, "unexpected byte at offset {offset}: expected {expected}")
            }
            Self::NotAnObject => f.write_str("payload is not a JSON object"),
            Self::InvalidEscape { offset } => write!(f, "invalid string escape at offset {offset}"),
            Self::ControlCharacter { offset } => {
                write!(
                    f,
                    "unescaped control character in a string at offset {offset}"
                )
            }
            Self::InvalidUtf8 { offset } => {
                write!(f, "invalid UTF-8 in the string at offset {offset}")
            }
            Self::InvalidNumber { offset } => {
                write!(f, "malformed or out-of-range number at offset {offset}")
            }
            Self::WrongType { field, expected } => write!(f, "field `{field}` must be {expected}"),
            Self::MissingField { field } => write!(f, "required field `{field}` is missing"),
            Self::DuplicateField { field } => write!(f, "field `{field}` appears more than once"),
            Self::TooLong { field, limit } => {
                write!(
                    f,
                    "field `{field}` is longer than the {limit} bytes kept for it"
                )
            }
            Self::TooDeep { limit } => write!(f, "values nest deeper than {limit} levels"),
            Self::TrailingBytes { offset } => {
                write!(f, "unexpected data after the payload at offset {offset}")
            }
            Self::Etf(error) => error.fmt(f),
        }
    }
}

impl core::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Etf(error) => Some(error),
            _ => None,
        }
    }
}
