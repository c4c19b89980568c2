//! Why a command could not be encoded.

use core::convert::Infallible;
use core::fmt;

/// Why a command was not encoded (or not completely written).
///
/// `E` is the writer's error for [`encode`](super::encode); encoding into a slice
/// ([`encode_into`](super::encode_into)) cannot fail that way and uses the default, [`Infallible`].
/// No variant ever carries field contents, so logging one cannot leak a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError<E = Infallible> {
    /// The caller's buffer is too small; `needed` is the exact length of this payload, so a retry
    /// with a buffer at least that long succeeds.
    BufferTooSmall {
        /// The payload's length in bytes.
        needed: usize,
    },
    /// The payload would be longer than Discord accepts (it closes the connection with 4002).
    TooLarge {
        /// The largest payload allowed, [`MAX_PAYLOAD_LEN`](super::MAX_PAYLOAD_LEN).
        limit: usize,
    },
    /// A field holds a value Discord would refuse or silently drop.
    InvalidField {
        /// The field's JSON key.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The writer failed; part of the payload may have been written. The writer's error is
    /// shown in this error's `Display` and is not its `source()`: `embedded-io` errors need not
    /// implement `core::error::Error`, so this is the one place it can be printed, once.
    Write(E),
    /// The writer accepted no bytes without reporting an error (a broken `embedded-io`
    /// implementation); `written` bytes of the payload went out before it stalled.
    WriteZero {
        /// How many bytes were written before the writer stalled.
        written: usize,
    },
}

impl<E> EncodeError<E> {
    /// Converts the writer error, keeping every other variant.
    ///
    /// Handy to merge a slice error (`EncodeError<Infallible>`) into a writer's error type:
    /// `error.map_write(|never| match never {})`.
    pub fn map_write<F>(self, f: impl FnOnce(E) -> F) -> EncodeError<F> {
        match self {
            Self::BufferTooSmall { needed } => EncodeError::BufferTooSmall { needed },
            Self::TooLarge { limit } => EncodeError::TooLarge { limit },
            Self::InvalidField { field, reason } => EncodeError::InvalidField { field, reason },
            Self::Write(error) => EncodeError::Write(f(error)),
            Self::WriteZero { written } => EncodeError::WriteZero { written },
        }
    }

    /// An invalid-field error, in const contexts too.
    pub(crate) const fn invalid(field: &'static str, reason: &'static str) -> Self {
        Self::InvalidField { field, reason }
    }
}

impl EncodeError {
    /// The same error for a writer with error type `E` (a slice error never holds one).
    pub(crate) fn widen<E>(self) -> EncodeError<E> {
        self.map_write(|never| match never {})
    }
}

impl<E: fmt::Debug> fmt::Display for EncodeError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall { needed } => {
                write!(
                    f,
                    "the buffer is too small: the payload needs {needed} bytes"
                )
            }
            Self::TooLarge { limit } => write!(
                f,
                "the payload is larger than the {limit} bytes Discord accepts"
            ),
            Self::InvalidField { field, reason } => write!(f, "field `{field}` {reason}"),
            Self::Write(error) => write!(f, "writing the payload failed: {error:?}"),
            Self::WriteZero { written } => write!(
                f,
                "the writer stopped accepting bytes after {written} bytes of the payload"
            ),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for EncodeError<E> {}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::string::ToString;

    use super::EncodeError;

    #[test]
    fn messages_name_the_problem() {
        let cases: [(EncodeError<&str>, &str); 5] = [
            (
                EncodeError::BufferTooSmall { needed: 81 },
                "the buffer is too small: the payload needs 81 bytes",
            ),
            (
                EncodeError::TooLarge { limit: 4096 },
                "the payload is larger than the 4096 bytes Discord accepts",
            ),
            (
                EncodeError::invalid("nonce", "is longer than 32 bytes"),
                "field `nonce` is longer than 32 bytes",
            ),
            (
                EncodeError::Write("broken pipe"),
                "writing the payload failed: \"broken pipe\"",
            ),
            (
                EncodeError::WriteZero { written: 12 },
                "the writer stopped accepting bytes after 12 bytes of the payload",
            ),
        ];
        for (error, message) in cases {
            assert_eq!(error.to_string(), message);
        }
    }

    #[test]
    fn slice_errors_widen_to_any_writer_error() {
        let error: EncodeError<u8> = EncodeError::BufferTooSmall { needed: 3 }.widen();
        assert_eq!(error, EncodeError::BufferTooSmall { needed: 3 });
        assert_eq!(
            EncodeError::Write(7u8).map_write(u16::from),
            EncodeError::Write(7u16)
        );
    }
}
