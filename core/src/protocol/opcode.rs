//! Gateway opcodes (the `op` field of every payload).

/// A gateway opcode, as carried in the `op` field of a payload.
///
/// Unknown values are kept in [`OpCode::Unknown`] rather than rejected: Discord documents that
/// undocumented opcodes may appear and must be ignored, and a client that hard-fails on them would
/// drop a healthy session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OpCode {
    /// 0: an event was dispatched (receive only; carries `s` and `t`).
    Dispatch,
    /// 1: keep-alive sent by the client, or a request from the server for one immediately.
    Heartbeat,
    /// 2: start a new session (send only).
    Identify,
    /// 3: update the client's presence (send only).
    PresenceUpdate,
    /// 4: join, move between or leave voice channels (send only).
    VoiceStateUpdate,
    /// 6: resume a previous session (send only).
    Resume,
    /// 7: the server asks the client to reconnect and resume (receive only).
    Reconnect,
    /// 8: request members of a guild (send only).
    RequestGuildMembers,
    /// 9: the session was invalidated; `d` says whether it may be resumed (receive only).
    InvalidSession,
    /// 10: first message on every connection, with the heartbeat interval (receive only).
    Hello,
    /// 11: acknowledgement of a heartbeat (receive only).
    HeartbeatAck,
    /// 31: request the soundboard sounds of guilds (send only).
    RequestSoundboardSounds,
    /// 43: request ephemeral channel information (send only).
    RequestChannelInfo,
    /// Any opcode this crate does not know; the value is kept.
    Unknown(u8),
}

impl OpCode {
    /// The opcode for a raw value.
    #[must_use]
    pub const fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::Dispatch,
            1 => Self::Heartbeat,
            2 => Self::Identify,
            3 => Self::PresenceUpdate,
            4 => Self::VoiceStateUpdate,
            6 => Self::Resume,
            7 => Self::Reconnect,
            8 => Self::RequestGuildMembers,
            9 => Self::InvalidSession,
            10 => Self::Hello,
            11 => Self::HeartbeatAck,
            31 => Self::RequestSoundboardSounds,
            43 => Self::RequestChannelInfo,
            other => Self::Unknown(other),
        }
    }

    /// The raw value of this opcode.
    #[must_use]
    pub const fn to_u8(self) -> u8 {
        match self {
            Self::Dispatch => 0,
            Self::Heartbeat => 1,
            Self::Identify => 2,
            Self::PresenceUpdate => 3,
            Self::VoiceStateUpdate => 4,
            Self::Resume => 6,
            Self::Reconnect => 7,
            Self::RequestGuildMembers => 8,
            Self::InvalidSession => 9,
            Self::Hello => 10,
            Self::HeartbeatAck => 11,
            Self::RequestSoundboardSounds => 31,
            Self::RequestChannelInfo => 43,
            Self::Unknown(other) => other,
        }
    }

    /// Whether the session sends this opcode itself (Identify, Resume, Heartbeat), so an
    /// application must not: the one check behind every command path.
    #[must_use]
    pub const fn is_session_owned(self) -> bool {
        matches!(self, Self::Identify | Self::Resume | Self::Heartbeat)
    }

    /// Whether a client may send this opcode.
    #[must_use]
    pub const fn is_sendable(self) -> bool {
        matches!(
            self,
            Self::Heartbeat
                | Self::Identify
                | Self::PresenceUpdate
                | Self::VoiceStateUpdate
                | Self::Resume
                | Self::RequestGuildMembers
                | Self::RequestSoundboardSounds
                | Self::RequestChannelInfo
        )
    }
}

impl From<u8> for OpCode {
    fn from(value: u8) -> Self {
        Self::from_u8(value)
    }
}

impl From<OpCode> for u8 {
    fn from(value: OpCode) -> Self {
        value.to_u8()
    }
}

#[cfg(test)]
mod tests {
    use super::OpCode;

    #[test]
    fn every_value_round_trips() {
        for value in 0..=u8::MAX {
            assert_eq!(OpCode::from_u8(value).to_u8(), value);
        }
    }

    #[test]
    fn undocumented_values_are_unknown() {
        for value in [5u8, 12, 30, 32, 42, 44, 255] {
            assert_eq!(OpCode::from_u8(value), OpCode::Unknown(value));
        }
    }

    #[test]
    fn only_client_opcodes_are_sendable() {
        let sendable: [u8; 8] = [1, 2, 3, 4, 6, 8, 31, 43];
        for value in 0..=u8::MAX {
            assert_eq!(
                OpCode::from_u8(value).is_sendable(),
                sendable.contains(&value),
                "op {value}"
            );
        }
    }
}
