//! Gateway close codes and what each one means for the session.

use core::fmt;

/// What a client must do after its connection ended.
///
/// This is the single answer every disconnect reduces to; [`CloseCode::recovery`] and
/// [`crate::session::DisconnectCause::recovery`] are the only places that decide it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Recovery {
    /// Reconnect to the session's `resume_gateway_url` and send Resume.
    Resume,
    /// Reconnect to the cached gateway URL and Identify a new session.
    Reidentify,
    /// Do not reconnect: the configuration is wrong and retrying cannot succeed.
    Fatal,
}

/// A websocket close code received from (or sent to) the gateway.
///
/// Besides Discord's 4000-range codes this keeps the RFC 6455 codes libraries meet in practice, and
/// any other value in [`CloseCode::Other`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseCode {
    /// 1000: normal closure. Sent by a client it ends the session.
    Normal,
    /// 1001: going away. Sent by a client it ends the session.
    GoingAway,
    /// 1006: abnormal closure (never on the wire; reported when the TCP connection dropped).
    Abnormal,
    /// 4000: the server does not know what went wrong.
    UnknownError,
    /// 4001: an invalid opcode or payload for an opcode was sent.
    UnknownOpcode,
    /// 4002: a payload could not be decoded, or was larger than 4096 bytes.
    DecodeError,
    /// 4003: a payload was sent before Identify.
    NotAuthenticated,
    /// 4004: the token in Identify is invalid.
    AuthenticationFailed,
    /// 4005: more than one Identify was sent on the connection.
    AlreadyAuthenticated,
    /// 4007: the `seq` in Resume is invalid.
    InvalidSeq,
    /// 4008: payloads were sent too fast.
    RateLimited,
    /// 4009: the session timed out.
    SessionTimedOut,
    /// 4010: the `shard` in Identify is invalid.
    InvalidShard,
    /// 4011: the session would handle too many guilds; more shards are needed.
    ShardingRequired,
    /// 4012: the `v` query parameter names an invalid API version.
    InvalidApiVersion,
    /// 4013: the intents bitfield is invalid.
    InvalidIntents,
    /// 4014: a privileged intent was requested that is not enabled or approved.
    DisallowedIntents,
    /// Any other code; the value is kept.
    Other(u16),
}

impl CloseCode {
    /// The code a client closes with when it leaves a connection it means to resume (op 7, a
    /// zombie, a message too large, a resumable close): anything but 1000/1001 keeps the
    /// session alive on Discord's side. Every client of the workspace closes with this one.
    pub const RESUME: Self = Self::UnknownError;

    /// The close code for a raw value.
    #[must_use]
    pub const fn from_u16(value: u16) -> Self {
        match value {
            1000 => Self::Normal,
            1001 => Self::GoingAway,
            1006 => Self::Abnormal,
            4000 => Self::UnknownError,
            4001 => Self::UnknownOpcode,
            4002 => Self::DecodeError,
            4003 => Self::NotAuthenticated,
            4004 => Self::AuthenticationFailed,
            4005 => Self::AlreadyAuthenticated,
            4007 => Self::InvalidSeq,
            4008 => Self::RateLimited,
            4009 => Self::SessionTimedOut,
            4010 => Self::InvalidShard,
            4011 => Self::ShardingRequired,
            4012 => Self::InvalidApiVersion,
            4013 => Self::InvalidIntents,
            4014 => Self::DisallowedIntents,
            other => Self::Other(other),
        }
    }

    /// The raw value of this close code.
    #[must_use]
    pub const fn to_u16(self) -> u16 {
        match self {
            Self::Normal => 1000,
            Self::GoingAway => 1001,
            Self::Abnormal => 1006,
            Self::UnknownError => 4000,
            Self::UnknownOpcode => 4001,
            Self::DecodeError => 4002,
            Self::NotAuthenticated => 4003,
            Self::AuthenticationFailed => 4004,
            Self::AlreadyAuthenticated => 4005,
            Self::InvalidSeq => 4007,
            Self::RateLimited => 4008,
            Self::SessionTimedOut => 4009,
            Self::InvalidShard => 4010,
            Self::ShardingRequired => 4011,
            Self::InvalidApiVersion => 4012,
            Self::InvalidIntents => 4013,
            Self::DisallowedIntents => 4014,
            Self::Other(other) => other,
        }
    }

    /// What to do when the **server** closed the connection with this code.
    ///
    /// From the protocol reference (§4, §5.8): 4004 and 4010-4014 are fatal; 4003, 4007 and 4009
    /// need a new session; everything else, including codes Discord never documented, server-sent
    /// 1000/1001 and a dropped connection, is worth a Resume: if the session is gone after all the
    /// server answers the Resume with Invalid Session and the client identifies then.
    #[must_use]
    pub const fn recovery(self) -> Recovery {
        match self {
            Self::AuthenticationFailed
            | Self::InvalidShard
            | Self::ShardingRequired
            | Self::InvalidApiVersion
            | Self::InvalidIntents
            | Self::DisallowedIntents => Recovery::Fatal,
            Self::NotAuthenticated | Self::InvalidSeq | Self::SessionTimedOut => {
                Recovery::Reidentify
            }
            Self::Normal
            | Self::GoingAway
            | Self::Abnormal
            | Self::UnknownError
            | Self::UnknownOpcode
            | Self::DecodeError
            | Self::AlreadyAuthenticated
            | Self::RateLimited
            | Self::Other(_) => Recovery::Resume,
        }
    }

    /// Whether a client closing with this code ends its session (Discord invalidates the session
    /// when a client closes with 1000 or 1001; any other code keeps it resumable).
    #[must_use]
    pub const fn ends_session_when_sent(self) -> bool {
        matches!(self, Self::Normal | Self::GoingAway)
    }

    /// A short description of the code, as Discord documents it.
    #[must_use]
    pub const fn description(self) -> &'static str {
        match self {
            Self::Normal => "normal closure",
            Self::GoingAway => "going away",
            Self::Abnormal => "connection dropped without a close frame",
            Self::UnknownError => "unknown error",
            Self::UnknownOpcode => "unknown opcode",
            Self::DecodeError => "decode error",
            Self::NotAuthenticated => "not authenticated",
            Self::AuthenticationFailed => "authentication failed",
            Self::AlreadyAuthenticated => "already authenticated",
            Self::InvalidSeq => "invalid seq",
            Self::RateLimited => "rate limited",
            Self::SessionTimedOut => "session timed out",
            Self::InvalidShard => "invalid shard",
            Self::ShardingRequired => "sharding required",
            Self::InvalidApiVersion => "invalid API version",
            Self::InvalidIntents => "invalid intents",
            Self::DisallowedIntents => "disallowed intents",
            Self::Other(_) => "unrecognised close code",
        }
    }

    /// For a fatal code, what the user has to change before connecting again.
    #[must_use]
    pub const fn remedy(self) -> Option<&'static str> {
        match self {
            Self::AuthenticationFailed => Some("check the bot token (DISCORD_TOKEN)"),
            Self::InvalidShard => Some("check the shard id and shard count"),
            Self::ShardingRequired => Some("use more shards (see GET /gateway/bot)"),
            Self::InvalidApiVersion => Some("connect with a supported gateway version (v=10)"),
            Self::InvalidIntents => Some("request only documented intent bits"),
            Self::DisallowedIntents => Some(
                "enable the privileged intents in the Developer Portal, or stop requesting them",
            ),
            _ => None,
        }
    }
}

impl From<u16> for CloseCode {
    fn from(value: u16) -> Self {
        Self::from_u16(value)
    }
}

impl From<CloseCode> for u16 {
    fn from(value: CloseCode) -> Self {
        value.to_u16()
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.description(), self.to_u16())?;
        if let Some(remedy) = self.remedy() {
            write!(f, ": {remedy}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{CloseCode, Recovery};

    /// The close-code table of the protocol reference (§4 and §5.8), row by row.
    const TABLE: &[(u16, Recovery)] = &[
        (1000, Recovery::Resume),
        (1001, Recovery::Resume),
        (1006, Recovery::Resume),
        (4000, Recovery::Resume),
        (4001, Recovery::Resume),
        (4002, Recovery::Resume),
        (4003, Recovery::Reidentify),
        (4004, Recovery::Fatal),
        (4005, Recovery::Resume),
        (4007, Recovery::Reidentify),
        (4008, Recovery::Resume),
        (4009, Recovery::Reidentify),
        (4010, Recovery::Fatal),
        (4011, Recovery::Fatal),
        (4012, Recovery::Fatal),
        (4013, Recovery::Fatal),
        (4014, Recovery::Fatal),
    ];

    #[test]
    fn every_documented_code_has_its_recovery() {
        for &(code, recovery) in TABLE {
            assert_eq!(
                CloseCode::from_u16(code).recovery(),
                recovery,
                "close code {code}"
            );
        }
    }

    #[test]
    fn undocumented_codes_resume() {
        for code in [1002u16, 1011, 4006, 4015, 4999, 0, u16::MAX] {
            assert_eq!(CloseCode::from_u16(code), CloseCode::Other(code));
            assert_eq!(CloseCode::from_u16(code).recovery(), Recovery::Resume);
        }
    }

    #[test]
    fn every_value_round_trips() {
        for value in 0..=u16::MAX {
            assert_eq!(CloseCode::from_u16(value).to_u16(), value);
        }
    }

    #[test]
    fn only_fatal_codes_have_a_remedy() {
        for &(code, recovery) in TABLE {
            let code = CloseCode::from_u16(code);
            assert_eq!(
                code.remedy().is_some(),
                recovery == Recovery::Fatal,
                "{code:?}"
            );
        }
    }

    #[test]
    fn client_closes_with_1000_or_1001_end_the_session() {
        assert!(CloseCode::Normal.ends_session_when_sent());
        assert!(CloseCode::GoingAway.ends_session_when_sent());
        assert!(!CloseCode::UnknownError.ends_session_when_sent());
        assert!(!CloseCode::Other(3000).ends_session_when_sent());
    }

    #[test]
    fn the_resume_close_keeps_the_session_and_reads_as_resumable() {
        assert!(!CloseCode::RESUME.ends_session_when_sent());
        assert_eq!(CloseCode::RESUME.recovery(), Recovery::Resume);
        assert_eq!(
            CloseCode::from_u16(CloseCode::RESUME.to_u16()),
            CloseCode::RESUME
        );
    }
}
