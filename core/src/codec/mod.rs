//! Reading gateway payloads: the envelope scan and the control payloads the session needs.
//!
//! Encoding commands lives in [`crate::command`].

mod control;
mod encoding;
mod envelope;
mod error;
pub mod etf;
mod head;
mod json;
mod scan;

pub use control::{parse_invalid_session, Hello, Ready, MAX_SESSION_ID_LEN, MAX_URL_LEN};
pub use encoding::Encoding;
pub use envelope::{Data, Envelope, EventName};
pub use error::DecodeError;
pub use head::{read_head, EnvelopeHead, PrefixHead};
pub(crate) use json::validate_value;
pub use json::MAX_DEPTH;
