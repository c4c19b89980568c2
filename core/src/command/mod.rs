//! Commands a client sends (protocol reference §10), and their encoding into payloads.
//!
//! Each send event is a small borrowed type for its `d` ([`Identify`], [`Resume`],
//! [`Heartbeat`], [`UpdatePresence`], [`UpdateVoiceState`], [`RequestGuildMembers`],
//! [`RequestSoundboardSounds`], [`RequestChannelInfo`]), and [`RawCommand`] carries pre-encoded
//! JSON for anything else a client may send. [`encode_into`] and [`encode`] wrap one in the
//! `{"op":N,"d":...}` envelope after checking what Discord would otherwise punish by closing the
//! connection: fields it refuses, and payloads over [`MAX_PAYLOAD_LEN`] bytes.
//!
//! ```
//! use discord_gateway::command::{encode_into, Heartbeat};
//!
//! let mut buf = [0u8; 64];
//! let len = encode_into(&Heartbeat { seq: Some(251) }, &mut buf).unwrap();
//! assert_eq!(&buf[..len], br#"{"op":1,"d":251}"#);
//! ```

mod channel_info;
mod encode;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod guild_members;
mod heartbeat;
mod identify;
mod json_out;
mod owned_presence;
mod presence;
mod raw;
mod resume;
mod soundboard;
#[cfg(test)]
mod testing;
mod voice_state;

pub use channel_info::{ChannelInfoField, RequestChannelInfo};
pub(crate) use encode::encode_into_as;
pub use encode::{encode, encode_etf, encode_etf_into, encode_into, MAX_PAYLOAD_LEN};
pub use error::EncodeError;
pub use guild_members::{MemberSelector, RequestGuildMembers, MAX_NONCE_LEN, MAX_USER_IDS};
pub use heartbeat::Heartbeat;
pub use identify::{ConnectionProperties, Identify, LARGE_THRESHOLD_RANGE};
pub use owned_presence::{
    OwnedActivity, OwnedPresence, PresenceTooLarge, MAX_OWNED_ACTIVITIES, MAX_OWNED_STRING_LEN,
};
pub use presence::{Activity, ActivityType, Status, UpdatePresence};
pub use raw::RawCommand;
pub use resume::Resume;
pub use soundboard::RequestSoundboardSounds;
pub use voice_state::UpdateVoiceState;

use crate::codec::etf::SerError;
use crate::protocol::OpCode;

/// A typed send event: the `d` of one opcode.
///
/// Sealed: every send event Discord documents is implemented here, and the encoder relies on
/// these types holding nothing JSON cannot say (no floats, only string map keys). Use
/// [`RawCommand`] for anything else.
pub trait Command: serde::Serialize + sealed::Typed {
    /// The opcode this command is sent with.
    const OPCODE: OpCode;

    /// Checks what the type system cannot: ranges, lengths and counts Discord enforces.
    /// The encode functions call it first, so a refused command is never written.
    ///
    /// # Errors
    /// [`EncodeError::InvalidField`] naming the offending field.
    fn validate(&self) -> Result<(), EncodeError> {
        Ok(())
    }
}

/// Anything [`encode_into`] and [`encode`] accept: every [`Command`] and [`RawCommand`].
pub trait Encode: sealed::Envelope {
    /// The opcode written in the envelope's `op`.
    fn opcode(&self) -> OpCode;
}

impl<C: Command> Encode for C {
    fn opcode(&self) -> OpCode {
        C::OPCODE
    }
}

impl<C: Command> sealed::Envelope for C {
    fn check(&self) -> Result<(), EncodeError> {
        self.validate()
    }

    fn write_envelope(&self, buf: &mut [u8]) -> Option<usize> {
        /// `op` first: Discord does not care about key order, but people reading captures do.
        #[derive(serde::Serialize)]
        struct Envelope<'c, C> {
            op: u8,
            d: &'c C,
        }

        // Only a full buffer fails here: no command holds a float or a non-string map key,
        // the writer's other refusal.
        json_out::to_slice(
            &Envelope {
                op: C::OPCODE.to_u8(),
                d: self,
            },
            buf,
        )
        .ok()
    }

    fn write_etf_envelope(&self, buf: &mut [u8]) -> Result<usize, SerError> {
        crate::codec::etf::to_slice(
            &EtfEnvelope {
                op: C::OPCODE.to_u8(),
                d: self,
            },
            buf,
        )
    }
}

/// `op` first, as in the JSON envelope.
#[derive(serde::Serialize)]
struct EtfEnvelope<'c, C> {
    op: u8,
    d: &'c C,
}

mod sealed {
    use super::EncodeError;

    /// Marks the typed commands of this crate, so no other type can be a [`super::Command`].
    pub trait Typed {}

    /// How a payload is checked and written; hidden so that only this crate implements it.
    pub trait Envelope {
        /// Refuses what Discord would refuse.
        fn check(&self) -> Result<(), EncodeError>;

        /// Writes the whole `{"op":N,"d":...}` payload at the start of `buf`, or returns `None`
        /// when it does not fit (what was written is then garbage).
        fn write_envelope(&self, buf: &mut [u8]) -> Option<usize>;

        /// Writes the whole payload as one ETF message (version byte, then the `op`/`d` map).
        fn write_etf_envelope(&self, buf: &mut [u8]) -> Result<usize, crate::codec::etf::SerError>;
    }
}
