//! Request Soundboard Sounds (op 31, protocol reference §10.7).

use serde::Serialize;

use super::{sealed, Command, EncodeError};
use crate::protocol::{OpCode, Snowflake};

/// Asks for the soundboard sounds of guilds; one `SOUNDBOARD_SOUNDS` dispatch arrives per guild.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct RequestSoundboardSounds<'a> {
    /// The guilds to ask about; at least one.
    pub guild_ids: &'a [Snowflake],
}

impl sealed::Typed for RequestSoundboardSounds<'_> {}

impl Command for RequestSoundboardSounds<'_> {
    const OPCODE: OpCode = OpCode::RequestSoundboardSounds;

    fn validate(&self) -> Result<(), EncodeError> {
        // An empty request gets no answer but still spends one of the 120 sends per minute.
        if self.guild_ids.is_empty() {
            return Err(EncodeError::invalid("guild_ids", "must not be empty"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::RequestSoundboardSounds;
    use crate::command::testing::round_trip;
    use crate::command::{encode_into, EncodeError};
    use crate::protocol::{OpCode, Snowflake};

    #[test]
    fn guild_ids_are_sent_as_strings() {
        let guild_ids = [
            Snowflake(613_425_648_685_547_541),
            Snowflake(81_384_788_765_712_384),
        ];
        let d = round_trip(
            &RequestSoundboardSounds {
                guild_ids: &guild_ids,
            },
            OpCode::RequestSoundboardSounds,
        );
        assert_eq!(
            d,
            json!({"guild_ids": ["613425648685547541", "81384788765712384"]})
        );
    }

    #[test]
    fn no_guilds_is_refused() {
        assert_eq!(
            encode_into(&RequestSoundboardSounds { guild_ids: &[] }, &mut [0u8; 64]),
            Err(EncodeError::InvalidField {
                field: "guild_ids",
                reason: "must not be empty",
            })
        );
    }
}
