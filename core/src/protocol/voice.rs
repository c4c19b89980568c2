//! The voice gateway's opcodes and close codes (protocol reference §12).
//!
//! The voice gateway is a separate websocket per voice connection, with its own numbering: voice
//! op 2 is Ready, not Identify, and its close codes mean different things from the main gateway's.

use core::fmt;

/// A voice gateway opcode (protocol reference §12.2).
///
/// Unknown values are kept in [`VoiceOpCode::Unknown`]: Discord sends opcodes it has not
/// documented (12 and 14-20 at least), and a voice connection must survive them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VoiceOpCode {
    /// 0: start a voice session (client).
    Identify,
    /// 1: choose the UDP transport and encryption mode (client).
    SelectProtocol,
    /// 2: the session is ready, with the SSRC, UDP address and offered modes (server).
    Ready,
    /// 3: keep-alive (client).
    Heartbeat,
    /// 4: the chosen mode and the secret key (server).
    SessionDescription,
    /// 5: who is speaking; a client must send it before its first audio (client and server).
    Speaking,
    /// 6: acknowledgement of a heartbeat (server).
    HeartbeatAck,
    /// 7: resume a voice session (client).
    Resume,
    /// 8: first message on every connection, with the heartbeat interval (server).
    Hello,
    /// 9: a Resume succeeded (server).
    Resumed,
    /// 11: users joined the call (server).
    ClientsConnect,
    /// 13: a user left the call (server).
    ClientDisconnect,
    /// 21: DAVE: a downgrade to a protocol version is announced (server).
    DavePrepareTransition,
    /// 22: DAVE: carry out an announced transition (server).
    DaveExecuteTransition,
    /// 23: DAVE: the client is ready for a transition (client).
    DaveTransitionReady,
    /// 24: DAVE: a protocol version or group change is coming; epoch 1 is a new MLS group (server).
    DavePrepareEpoch,
    /// 25: DAVE: the MLS external sender's credential and key (server, binary).
    DaveMlsExternalSender,
    /// 26: DAVE: the client's MLS key package (client, binary).
    DaveMlsKeyPackage,
    /// 27: DAVE: MLS proposals to add or remove members (server, binary).
    DaveMlsProposals,
    /// 28: DAVE: the client's MLS commit and welcome (client, binary).
    DaveMlsCommitWelcome,
    /// 29: DAVE: the winning MLS commit, and the transition it starts (server, binary).
    DaveMlsAnnounceCommitTransition,
    /// 30: DAVE: the MLS welcome that adds this client to the group (server, binary).
    DaveMlsWelcome,
    /// 31: DAVE: the client could not process a commit or welcome (client).
    DaveMlsInvalidCommitWelcome,
    /// Any opcode this crate does not know; the value is kept.
    Unknown(u8),
}

impl VoiceOpCode {
    /// The opcode for a raw value.
    #[must_use]
    pub const fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::Identify,
            1 => Self::SelectProtocol,
            2 => Self::Ready,
            3 => Self::Heartbeat,
            4 => Self::SessionDescription,
            5 => Self::Speaking,
            6 => Self::HeartbeatAck,
            7 => Self::Resume,
            8 => Self::Hello,
            9 => Self::Resumed,
            11 => Self::ClientsConnect,
            13 => Self::ClientDisconnect,
            21 => Self::DavePrepareTransition,
            22 => Self::DaveExecuteTransition,
            23 => Self::DaveTransitionReady,
            24 => Self::DavePrepareEpoch,
            25 => Self::DaveMlsExternalSender,
            26 => Self::DaveMlsKeyPackage,
            27 => Self::DaveMlsProposals,
            28 => Self::DaveMlsCommitWelcome,
            29 => Self::DaveMlsAnnounceCommitTransition,
            30 => Self::DaveMlsWelcome,
            31 => Self::DaveMlsInvalidCommitWelcome,
            other => Self::Unknown(other),
        }
    }

    /// The raw value of this opcode.
    #[must_use]
    pub const fn to_u8(self) -> u8 {
        match self {
            Self::Identify => 0,
            Self::SelectProtocol => 1,
            Self::Ready => 2,
            Self::Heartbeat => 3,
            Self::SessionDescription => 4,
            Self::Speaking => 5,
            Self::HeartbeatAck => 6,
            Self::Resume => 7,
            Self::Hello => 8,
            Self::Resumed => 9,
            Self::ClientsConnect => 11,
            Self::ClientDisconnect => 13,
            Self::DavePrepareTransition => 21,
            Self::DaveExecuteTransition => 22,
            Self::DaveTransitionReady => 23,
            Self::DavePrepareEpoch => 24,
            Self::DaveMlsExternalSender => 25,
            Self::DaveMlsKeyPackage => 26,
            Self::DaveMlsProposals => 27,
            Self::DaveMlsCommitWelcome => 28,
            Self::DaveMlsAnnounceCommitTransition => 29,
            Self::DaveMlsWelcome => 30,
            Self::DaveMlsInvalidCommitWelcome => 31,
            Self::Unknown(other) => other,
        }
    }

    /// Whether this opcode travels in a binary websocket message rather than JSON: the DAVE MLS
    /// messages 25-30, framed as `[seq: u16 BE, server to client only][opcode: u8][payload]`.
    #[must_use]
    pub const fn is_binary(self) -> bool {
        matches!(
            self,
            Self::DaveMlsExternalSender
                | Self::DaveMlsKeyPackage
                | Self::DaveMlsProposals
                | Self::DaveMlsCommitWelcome
                | Self::DaveMlsAnnounceCommitTransition
                | Self::DaveMlsWelcome
        )
    }

    /// Whether a client may send this opcode (Speaking goes both ways).
    #[must_use]
    pub const fn is_sendable(self) -> bool {
        matches!(
            self,
            Self::Identify
                | Self::SelectProtocol
                | Self::Heartbeat
                | Self::Speaking
                | Self::Resume
                | Self::DaveTransitionReady
                | Self::DaveMlsKeyPackage
                | Self::DaveMlsCommitWelcome
                | Self::DaveMlsInvalidCommitWelcome
        )
    }
}

impl From<u8> for VoiceOpCode {
    fn from(value: u8) -> Self {
        Self::from_u8(value)
    }
}

impl From<VoiceOpCode> for u8 {
    fn from(value: VoiceOpCode) -> Self {
        value.to_u8()
    }
}

/// What a voice client must do after its voice websocket closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VoiceRecovery {
    /// Reconnect to the same endpoint and send voice Resume (op 7) with the same credentials.
    Resume,
    /// Start the voice session over: send Update Voice State (main gateway op 4) for a fresh
    /// `session_id`, token and endpoint, then connect and Identify.
    NewSession,
    /// Do not reconnect: the bot was removed from the call, or the client sent something a
    /// retry would send again.
    DoNotReconnect,
}

/// A close code of the voice websocket (protocol reference §12.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VoiceCloseCode {
    /// 4001: an invalid opcode was sent.
    UnknownOpcode,
    /// 4002: a payload could not be decoded.
    DecodeError,
    /// 4003: a payload was sent before Identify.
    NotAuthenticated,
    /// 4004: the token in Identify is wrong.
    AuthenticationFailed,
    /// 4005: more than one Identify was sent.
    AlreadyAuthenticated,
    /// 4006: the session is no longer valid.
    SessionNoLongerValid,
    /// 4009: the session timed out.
    SessionTimeout,
    /// 4011: the voice server was not found.
    ServerNotFound,
    /// 4012: Select Protocol named a protocol Discord does not know.
    UnknownProtocol,
    /// 4014: disconnected: kicked, the channel was removed, or the main gateway session dropped.
    Disconnected,
    /// 4015: the voice server crashed.
    VoiceServerCrashed,
    /// 4016: Select Protocol named an encryption mode Discord does not know.
    UnknownEncryptionMode,
    /// 4017: the call requires end-to-end encryption (DAVE) and the client did not offer it.
    E2eeRequired,
    /// 4020: a payload was malformed.
    BadRequest,
    /// 4021: disconnected for sending too fast.
    RateLimited,
    /// 4022: disconnected because the call ended (channel deleted, voice server changed).
    CallTerminated,
    /// Any other code; the value is kept.
    Other(u16),
}

impl VoiceCloseCode {
    /// The close code for a raw value.
    #[must_use]
    pub const fn from_u16(value: u16) -> Self {
        match value {
            4001 => Self::UnknownOpcode,
            4002 => Self::DecodeError,
            4003 => Self::NotAuthenticated,
            4004 => Self::AuthenticationFailed,
            4005 => Self::AlreadyAuthenticated,
            4006 => Self::SessionNoLongerValid,
            4009 => Self::SessionTimeout,
            4011 => Self::ServerNotFound,
            4012 => Self::UnknownProtocol,
            4014 => Self::Disconnected,
            4015 => Self::VoiceServerCrashed,
            4016 => Self::UnknownEncryptionMode,
            4017 => Self::E2eeRequired,
            4020 => Self::BadRequest,
            4021 => Self::RateLimited,
            4022 => Self::CallTerminated,
            other => Self::Other(other),
        }
    }

    /// The raw value of this close code.
    #[must_use]
    pub const fn to_u16(self) -> u16 {
        match self {
            Self::UnknownOpcode => 4001,
            Self::DecodeError => 4002,
            Self::NotAuthenticated => 4003,
            Self::AuthenticationFailed => 4004,
            Self::AlreadyAuthenticated => 4005,
            Self::SessionNoLongerValid => 4006,
            Self::SessionTimeout => 4009,
            Self::ServerNotFound => 4011,
            Self::UnknownProtocol => 4012,
            Self::Disconnected => 4014,
            Self::VoiceServerCrashed => 4015,
            Self::UnknownEncryptionMode => 4016,
            Self::E2eeRequired => 4017,
            Self::BadRequest => 4020,
            Self::RateLimited => 4021,
            Self::CallTerminated => 4022,
            Self::Other(other) => other,
        }
    }

    /// What to do when the voice server closed the connection with this code.
    ///
    /// Discord states three answers (protocol reference §12.3): 4015 may be resumed, and after
    /// 4014, 4021 and 4022 the client must not reconnect. The rest is our reading:
    /// - 4001, 4002, 4005, 4012, 4016, 4017 and 4020 say the client sent something wrong (a bug,
    ///   an unsupported mode, no DAVE). Reconnecting would send the same bytes and be closed the
    ///   same way, in a loop, so they do not reconnect; the error is for a person to fix.
    /// - 4004, 4006, 4009 and 4011 say the credentials or the server are gone, so only fresh ones
    ///   from Update Voice State can help.
    /// - 4003 (a payload before Identify) means the connection never authenticated, so there is
    ///   nothing to resume; a new session is always valid while the bot should be in the call.
    /// - Any other code, including a dropped connection, is a new session for the same reason:
    ///   nothing promises the old one survived, and the fresh one costs one main-gateway command.
    #[must_use]
    pub const fn recovery(self) -> VoiceRecovery {
        match self {
            Self::VoiceServerCrashed => VoiceRecovery::Resume,
            Self::Disconnected
            | Self::RateLimited
            | Self::CallTerminated
            | Self::UnknownOpcode
            | Self::DecodeError
            | Self::AlreadyAuthenticated
            | Self::UnknownProtocol
            | Self::UnknownEncryptionMode
            | Self::E2eeRequired
            | Self::BadRequest => VoiceRecovery::DoNotReconnect,
            Self::NotAuthenticated
            | Self::AuthenticationFailed
            | Self::SessionNoLongerValid
            | Self::SessionTimeout
            | Self::ServerNotFound
            | Self::Other(_) => VoiceRecovery::NewSession,
        }
    }

    /// A short description of the code, as Discord documents it.
    #[must_use]
    pub const fn description(self) -> &'static str {
        match self {
            Self::UnknownOpcode => "unknown opcode",
            Self::DecodeError => "failed to decode payload",
            Self::NotAuthenticated => "not authenticated",
            Self::AuthenticationFailed => "authentication failed",
            Self::AlreadyAuthenticated => "already authenticated",
            Self::SessionNoLongerValid => "session no longer valid",
            Self::SessionTimeout => "session timeout",
            Self::ServerNotFound => "server not found",
            Self::UnknownProtocol => "unknown protocol",
            Self::Disconnected => "disconnected",
            Self::VoiceServerCrashed => "voice server crashed",
            Self::UnknownEncryptionMode => "unknown encryption mode",
            Self::E2eeRequired => "E2EE/DAVE protocol required",
            Self::BadRequest => "bad request",
            Self::RateLimited => "disconnected: rate limited",
            Self::CallTerminated => "disconnected: call terminated",
            Self::Other(_) => "unrecognised voice close code",
        }
    }
}

impl From<u16> for VoiceCloseCode {
    fn from(value: u16) -> Self {
        Self::from_u16(value)
    }
}

impl From<VoiceCloseCode> for u16 {
    fn from(value: VoiceCloseCode) -> Self {
        value.to_u16()
    }
}

impl fmt::Display for VoiceCloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.description(), self.to_u16())
    }
}

#[cfg(test)]
mod tests {
    use super::{VoiceCloseCode, VoiceOpCode, VoiceRecovery};

    /// The voice opcode table of the protocol reference (§12.2): value, sent by the client,
    /// binary.
    const OPCODES: &[(u8, bool, bool)] = &[
        (0, true, false),
        (1, true, false),
        (2, false, false),
        (3, true, false),
        (4, false, false),
        (5, true, false),
        (6, false, false),
        (7, true, false),
        (8, false, false),
        (9, false, false),
        (11, false, false),
        (13, false, false),
        (21, false, false),
        (22, false, false),
        (23, true, false),
        (24, false, false),
        (25, false, true),
        (26, true, true),
        (27, false, true),
        (28, true, true),
        (29, false, true),
        (30, false, true),
        (31, true, false),
    ];

    #[test]
    fn every_documented_opcode_is_known_with_its_direction_and_framing() {
        for &(value, sendable, binary) in OPCODES {
            let op = VoiceOpCode::from_u8(value);
            assert!(!matches!(op, VoiceOpCode::Unknown(_)), "op {value}");
            assert_eq!(op.is_sendable(), sendable, "op {value}");
            assert_eq!(op.is_binary(), binary, "op {value}");
        }
    }

    #[test]
    fn undocumented_opcodes_are_unknown() {
        for value in 0..=u8::MAX {
            let documented = OPCODES.iter().any(|&(op, _, _)| op == value);
            assert_eq!(
                matches!(VoiceOpCode::from_u8(value), VoiceOpCode::Unknown(_)),
                !documented,
                "op {value}"
            );
        }
        assert!(!VoiceOpCode::Unknown(12).is_binary());
        assert!(!VoiceOpCode::Unknown(12).is_sendable());
    }

    #[test]
    fn every_opcode_round_trips() {
        for value in 0..=u8::MAX {
            assert_eq!(VoiceOpCode::from_u8(value).to_u8(), value);
            assert_eq!(u8::from(VoiceOpCode::from(value)), value);
        }
    }

    /// The voice close-code table of the protocol reference (§12.3), row by row.
    const CLOSE_CODES: &[(u16, VoiceRecovery)] = &[
        (4001, VoiceRecovery::DoNotReconnect),
        (4002, VoiceRecovery::DoNotReconnect),
        (4003, VoiceRecovery::NewSession),
        (4004, VoiceRecovery::NewSession),
        (4005, VoiceRecovery::DoNotReconnect),
        (4006, VoiceRecovery::NewSession),
        (4009, VoiceRecovery::NewSession),
        (4011, VoiceRecovery::NewSession),
        (4012, VoiceRecovery::DoNotReconnect),
        (4014, VoiceRecovery::DoNotReconnect),
        (4015, VoiceRecovery::Resume),
        (4016, VoiceRecovery::DoNotReconnect),
        (4017, VoiceRecovery::DoNotReconnect),
        (4020, VoiceRecovery::DoNotReconnect),
        (4021, VoiceRecovery::DoNotReconnect),
        (4022, VoiceRecovery::DoNotReconnect),
    ];

    #[test]
    fn every_documented_close_code_has_its_recovery() {
        for &(code, recovery) in CLOSE_CODES {
            let close = VoiceCloseCode::from_u16(code);
            assert!(!matches!(close, VoiceCloseCode::Other(_)), "close {code}");
            assert_eq!(close.recovery(), recovery, "close {code}");
        }
    }

    #[test]
    fn undocumented_close_codes_start_a_new_session() {
        for code in [
            0u16, 1000, 1001, 1006, 4000, 4007, 4008, 4010, 4013, 4018, 4999,
        ] {
            assert_eq!(VoiceCloseCode::from_u16(code), VoiceCloseCode::Other(code));
            assert_eq!(
                VoiceCloseCode::from_u16(code).recovery(),
                VoiceRecovery::NewSession
            );
        }
    }

    #[test]
    fn every_close_code_round_trips() {
        for value in 0..=u16::MAX {
            assert_eq!(VoiceCloseCode::from_u16(value).to_u16(), value);
            assert_eq!(u16::from(VoiceCloseCode::from(value)), value);
        }
    }

    #[test]
    fn documented_close_codes_have_their_own_description() {
        let other = VoiceCloseCode::Other(0).description();
        for &(code, _) in CLOSE_CODES {
            assert_ne!(
                VoiceCloseCode::from_u16(code).description(),
                other,
                "{code}"
            );
        }
    }
}
