//! Typed reads of a dispatch's `d` without an allocator (feature `serde-json-core`).
//!
//! JSON goes through `serde-json-core`; ETF through the core's own term reader
//! ([`crate::codec::etf::from_term`]). Strings are borrowed from the message: a JSON string
//! with escapes (`\"`, `\n`, `\u00e9`) is not the same bytes as its value, so it cannot be a
//! borrowed `&str`. [`DispatchRef::deserialize`] says so ([`DataError::EscapedString`]) rather
//! than hand over the raw escaped bytes; [`DispatchRef::deserialize_unescaped`] unescapes into a
//! scratch buffer for fields that own their text (`heapless::String<N>`).

use core::fmt;

use serde::Deserialize;

use super::DispatchRef;
use crate::codec::{etf, Encoding};

/// Why `d` could not be read into the type asked for (see [`DispatchRef::deserialize`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataError {
    /// A string in `d` has escapes, which a borrowed `&str` cannot hold (or, with
    /// [`DispatchRef::deserialize_unescaped`], which did not fit the scratch buffer).
    EscapedString,
    /// The JSON of `d` does not match the type (serde-json-core's reason).
    Json(serde_json_core::de::Error),
    /// The ETF term of `d` does not match the type.
    Etf(etf::Error),
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EscapedString => f.write_str(
                "a string in the dispatch's data has escapes, which a borrowed &str cannot hold; \
                 read that field into an owned string (heapless::String) with \
                 deserialize_unescaped and a scratch buffer",
            ),
            Self::Json(error) => write!(f, "the dispatch's data does not match the type: {error}"),
            Self::Etf(error) => write!(f, "the dispatch's data does not match the type: {error}"),
        }
    }
}

impl core::error::Error for DataError {}

impl<'m> DispatchRef<'m> {
    /// Reads `d` into `T`, borrowing strings from the message; no allocator.
    ///
    /// ```
    /// #[derive(serde::Deserialize)]
    /// struct Message<'a> {
    ///     content: &'a str,
    ///     #[serde(borrow)]
    ///     author: Author<'a>,
    /// }
    /// #[derive(serde::Deserialize)]
    /// struct Author<'a> {
    ///     id: &'a str,
    /// }
    /// fn on_message_create(dispatch: &discord_gateway::session::DispatchRef<'_>) {
    ///     match dispatch.deserialize::<Message<'_>>() {
    ///         Ok(message) => { let _ = (message.content, message.author.id); }
    ///         Err(error) => { let _ = error; /* e.g. DataError::EscapedString */ }
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    /// [`DataError::EscapedString`] for a JSON string with escapes anywhere in `d`, in a field
    /// `T` reads or one it skips (serde-json-core unescapes skipped strings as well): read such
    /// data with [`DispatchRef::deserialize_unescaped`]. Otherwise
    /// [`DataError::Json`] / [`DataError::Etf`] when `d` does not match `T`.
    pub fn deserialize<T: Deserialize<'m>>(&self) -> Result<T, DataError> {
        self.deserialize_unescaped(&mut [])
    }

    /// Reads `d` into `T` like [`DispatchRef::deserialize`], unescaping strings that have
    /// escapes into `scratch` first: a field that owns its text (`heapless::String<N>`) gets
    /// their value, while a borrowed `&str` field still cannot hold one (serde's "expected a
    /// borrowed string" arrives as [`DataError::Json`]). Strings without escapes are borrowed
    /// as before.
    ///
    /// # Errors
    /// [`DataError::EscapedString`] when an escaped string does not fit `scratch`, otherwise as
    /// [`DispatchRef::deserialize`].
    pub fn deserialize_unescaped<T: Deserialize<'m>>(
        &self,
        scratch: &mut [u8],
    ) -> Result<T, DataError> {
        let data = self.data();
        match self.encoding() {
            Encoding::Etf => etf::from_term(data).map_err(DataError::Etf),
            Encoding::Json => match serde_json_core::from_slice_escaped(data, scratch) {
                Ok((value, _)) => Ok(value),
                Err(serde_json_core::de::Error::EscapedStringIsTooLong) => {
                    Err(DataError::EscapedString)
                }
                Err(error) => Err(DataError::Json(error)),
            },
        }
    }
}
