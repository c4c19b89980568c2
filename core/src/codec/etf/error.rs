//! Errors of the ETF reader: bytes that are not a term Discord sends, or not within bounds.

use core::fmt;

/// Why ETF bytes could not be read.
///
/// Offsets are byte positions in the slice handed to the reader. Nothing here echoes payload
/// contents (they may carry a token).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EtfError {
    /// The bytes end inside a term (or a length says more bytes follow than there are).
    UnexpectedEnd {
        /// Where the term that runs past the end starts.
        offset: usize,
    },
    /// The message does not start with the version byte 131.
    BadVersion {
        /// The first byte found instead (0 for an empty message).
        found: u8,
    },
    /// A tag this reader does not know (or Discord never sends: pids, refs, funs...).
    UnknownTag {
        /// The tag byte.
        tag: u8,
        /// Where it is.
        offset: usize,
    },
    /// Lists, tuples and maps nest deeper than the limit.
    TooDeep {
        /// The deepest nesting accepted.
        limit: usize,
    },
    /// An integer does not fit in 64 bits (Discord's are snowflakes, which do).
    IntegerTooLarge {
        /// Where the integer starts.
        offset: usize,
    },
    /// A big integer whose sign byte is neither 0 nor 1.
    InvalidSign {
        /// Where the integer starts.
        offset: usize,
    },
    /// An atom longer than Erlang allows (255 characters).
    AtomTooLong {
        /// Where the atom starts.
        offset: usize,
    },
    /// Text (a binary read as a string, a UTF-8 atom) that is not valid UTF-8.
    InvalidUtf8 {
        /// Where the term starts.
        offset: usize,
    },
    /// A list whose tail is not the empty list where a sequence was expected.
    ImproperList {
        /// Where the tail starts.
        offset: usize,
    },
    /// A float that is not finite, or a legacy `FLOAT_EXT` whose text is not a number.
    InvalidFloat {
        /// Where the float starts.
        offset: usize,
    },
    /// Bytes follow the top-level term.
    TrailingBytes {
        /// Where they start.
        offset: usize,
    },
}

impl fmt::Display for EtfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::UnexpectedEnd { offset } => {
                write!(
                    f,
                    "ETF term at offset {offset} runs past the end of the message"
                )
            }
            Self::BadVersion { found } => {
                write!(
                    f,
                    "ETF message starts with {found}, not the version byte 131"
                )
            }
            Self::UnknownTag { tag, offset } => {
                write!(f, "unsupported ETF tag {tag} at offset {offset}")
            }
            Self::TooDeep { limit } => write!(f, "ETF terms nest deeper than {limit} levels"),
            Self::IntegerTooLarge { offset } => {
                write!(f, "ETF integer at offset {offset} does not fit in 64 bits")
            }
            Self::InvalidSign { offset } => {
                write!(
                    f,
                    "ETF big integer at offset {offset} has a sign byte other than 0 or 1"
                )
            }
            Self::AtomTooLong { offset } => {
                write!(
                    f,
                    "ETF atom at offset {offset} is longer than 255 characters"
                )
            }
            Self::InvalidUtf8 { offset } => {
                write!(f, "ETF text at offset {offset} is not valid UTF-8")
            }
            Self::ImproperList { offset } => {
                write!(f, "ETF list tail at offset {offset} is not the empty list")
            }
            Self::InvalidFloat { offset } => {
                write!(f, "ETF float at offset {offset} is not a finite number")
            }
            Self::TrailingBytes { offset } => {
                write!(f, "unexpected bytes after the ETF term at offset {offset}")
            }
        }
    }
}

impl core::error::Error for EtfError {}
