//! Resume (op 6, protocol reference §5.5): continues a dropped session.

use serde::Serialize;

use super::{sealed, Command, EncodeError};
use crate::protocol::OpCode;
use crate::token::Token;

/// Continues a session on a new connection; Discord then replays the dispatches missed since
/// `seq`. Unlike Identify it does not count against the daily session-start budget.
///
/// `Debug` shows the token as `<redacted>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Resume<'a> {
    /// The bot token.
    pub token: &'a Token,
    /// The `session_id` from READY.
    pub session_id: &'a str,
    /// The last sequence number received (the key is `seq`, not `s`).
    pub seq: u64,
}

impl sealed::Typed for Resume<'_> {}

impl Command for Resume<'_> {
    const OPCODE: OpCode = OpCode::Resume;

    fn validate(&self) -> Result<(), EncodeError> {
        // An empty id can only come from a session that never saw READY: Discord would answer
        // with Invalid Session, wasting a connection that could have identified.
        if self.session_id.is_empty() {
            return Err(EncodeError::invalid("session_id", "must not be empty"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::format;

    use serde_json::json;

    use super::Resume;
    use crate::command::testing::{assert_matches_fixture, fixture, round_trip};
    use crate::command::{encode_into, EncodeError};
    use crate::protocol::OpCode;
    use crate::token::Token;

    const SECRET: &str = "MTA4NTk4NzY1NDMyMTAxMjM0NQ.GxYzAb.not-a-real-token-0123456789abcdefghij";

    #[test]
    fn the_fixture_encodes_identically() {
        let token = Token::new(SECRET).unwrap();
        let resume = Resume {
            token: &token,
            session_id: "b8db01e8de815a5c73391a08d7615c77",
            seq: 1337,
        };
        assert_matches_fixture(&resume, fixture!("send_resume.json"));
    }

    #[test]
    fn the_largest_sequence_number_round_trips() {
        let token = Token::new("abc").unwrap();
        let resume = Resume {
            token: &token,
            session_id: "s",
            seq: u64::MAX,
        };
        let d = round_trip(&resume, OpCode::Resume);
        assert_eq!(
            d,
            json!({"token": "abc", "session_id": "s", "seq": u64::MAX})
        );
    }

    #[test]
    fn an_empty_session_id_is_refused() {
        let token = Token::new("abc").unwrap();
        let resume = Resume {
            token: &token,
            session_id: "",
            seq: 1,
        };
        assert_eq!(
            encode_into(&resume, &mut [0u8; 128]),
            Err(EncodeError::InvalidField {
                field: "session_id",
                reason: "must not be empty",
            })
        );
    }

    #[test]
    fn formatting_a_resume_never_shows_the_token() {
        let token = Token::new(SECRET).unwrap();
        let resume = Resume {
            token: &token,
            session_id: "b8db01e8de815a5c73391a08d7615c77",
            seq: 1337,
        };
        let text = format!("{resume:?}");
        assert!(!text.contains("GxYzAb"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }
}
