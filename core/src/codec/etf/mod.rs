//! ETF, Erlang's external term format: the gateway's binary encoding (`encoding=etf`,
//! protocol reference §11.4).
//!
//! - [`Reader`] walks terms zero-copy, with depth and size bounds;
//! - the envelope scan reads `op`, `s`, `t` and the span of `d` ([`crate::codec::Envelope::decode_etf`]);
//! - [`from_term`] deserializes `d` into the same types as its JSON form;
//! - [`to_slice`] writes a `Serialize` value, which is how commands are encoded;
//! - `to_json` (with the `alloc` feature) gives the JSON view of a term, for text output.

mod control;
mod de;
mod envelope;
mod error;
mod from_json;
#[cfg(feature = "alloc")]
mod json;
mod reader;
mod ser;

pub(crate) use control::{hello, invalid_session, ready};
pub use de::{from_message, from_term, Deserializer, Error};
pub(crate) use envelope::{
    decode_filtered, envelope_key, envelope_name, envelope_op, envelope_seq,
};
pub use error::EtfError;
#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub use json::{to_json, SAFE_INTEGER_LIMIT};
pub use reader::{Atom, Reader, Term, MAX_DEPTH, VERSION};
pub(crate) use ser::raw_envelope;
pub use ser::{term_to_slice, to_slice, SerError};

/// The atom `nil` (Erlang's null) as a bare term, in the form erlpack writes it
/// (`SMALL_ATOM_EXT`).
pub const NIL_TERM: &[u8] = &[reader::tag::SMALL_ATOM, 3, b'n', b'i', b'l'];

#[cfg(test)]
mod tests;
