//! Request Channel Info (op 43, protocol reference §10.8).

use serde::Serialize;

use super::{sealed, Command, EncodeError};
use crate::protocol::{OpCode, Snowflake};

/// Asks for ephemeral data of a guild's channels; a `CHANNEL_INFO` dispatch answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct RequestChannelInfo<'a> {
    /// The guild whose channels are wanted.
    pub guild_id: Snowflake,
    /// The data to include; at least one field.
    pub fields: &'a [ChannelInfoField],
}

/// A piece of ephemeral channel data [`RequestChannelInfo`] can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChannelInfoField {
    /// `status`: the voice channel status text.
    Status,
    /// `voice_start_time`: when the current voice session in the channel started.
    VoiceStartTime,
}

impl ChannelInfoField {
    /// The name Discord uses for this field.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::VoiceStartTime => "voice_start_time",
        }
    }
}

impl Serialize for ChannelInfoField {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl sealed::Typed for RequestChannelInfo<'_> {}

impl Command for RequestChannelInfo<'_> {
    const OPCODE: OpCode = OpCode::RequestChannelInfo;

    fn validate(&self) -> Result<(), EncodeError> {
        // Asking for nothing gets nothing useful but still spends a send.
        if self.fields.is_empty() {
            return Err(EncodeError::invalid("fields", "must not be empty"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{ChannelInfoField, RequestChannelInfo};
    use crate::command::testing::round_trip;
    use crate::command::{encode_into, EncodeError};
    use crate::protocol::{OpCode, Snowflake};

    #[test]
    fn both_documented_fields_are_sent_by_name() {
        let request = RequestChannelInfo {
            guild_id: Snowflake(584_799_433_523_331_074),
            fields: &[ChannelInfoField::Status, ChannelInfoField::VoiceStartTime],
        };
        let d = round_trip(&request, OpCode::RequestChannelInfo);
        assert_eq!(
            d,
            json!({"guild_id": "584799433523331074", "fields": ["status", "voice_start_time"]})
        );
    }

    #[test]
    fn no_fields_is_refused() {
        let request = RequestChannelInfo {
            guild_id: Snowflake(1),
            fields: &[],
        };
        assert_eq!(
            encode_into(&request, &mut [0u8; 64]),
            Err(EncodeError::InvalidField {
                field: "fields",
                reason: "must not be empty",
            })
        );
    }
}
