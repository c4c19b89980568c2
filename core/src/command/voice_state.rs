//! Update Voice State (op 4, protocol reference §10.6): join, move between or leave voice.

use serde::Serialize;

use super::{sealed, Command};
use crate::protocol::{OpCode, Snowflake};

/// Joins, moves or leaves a voice channel of one guild.
///
/// Discord answers with `VOICE_STATE_UPDATE` and `VOICE_SERVER_UPDATE`; a voice connection needs
/// both. If the channel is full and the bot lacks `MOVE_MEMBERS`, neither arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct UpdateVoiceState {
    /// The guild of the channel.
    pub guild_id: Snowflake,
    /// The channel to join or move to; `None` (sent as `null`) leaves voice.
    pub channel_id: Option<Snowflake>,
    /// Whether the bot mutes itself.
    pub self_mute: bool,
    /// Whether the bot deafens itself.
    pub self_deaf: bool,
}

impl UpdateVoiceState {
    /// Joins (or moves to) `channel_id`, neither muted nor deafened.
    #[must_use]
    pub const fn join(guild_id: Snowflake, channel_id: Snowflake) -> Self {
        Self {
            guild_id,
            channel_id: Some(channel_id),
            self_mute: false,
            self_deaf: false,
        }
    }

    /// Leaves voice in `guild_id`.
    #[must_use]
    pub const fn leave(guild_id: Snowflake) -> Self {
        Self {
            guild_id,
            channel_id: None,
            self_mute: false,
            self_deaf: false,
        }
    }
}

impl sealed::Typed for UpdateVoiceState {}

impl Command for UpdateVoiceState {
    const OPCODE: OpCode = OpCode::VoiceStateUpdate;
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::UpdateVoiceState;
    use crate::command::testing::{assert_matches_fixture, fixture, round_trip};
    use crate::protocol::{OpCode, Snowflake};

    const GUILD: Snowflake = Snowflake(584_799_433_523_331_074);

    #[test]
    fn the_fixture_encodes_identically() {
        let join = UpdateVoiceState {
            self_deaf: true,
            ..UpdateVoiceState::join(GUILD, Snowflake(589_061_475_532_931_158))
        };
        assert_matches_fixture(&join, fixture!("send_update_voice_state.json"));
    }

    #[test]
    fn leaving_sends_a_null_channel() {
        let d = round_trip(&UpdateVoiceState::leave(GUILD), OpCode::VoiceStateUpdate);
        assert_eq!(
            d,
            json!({
                "guild_id": "584799433523331074",
                "channel_id": null,
                "self_mute": false,
                "self_deaf": false,
            })
        );
    }
}
