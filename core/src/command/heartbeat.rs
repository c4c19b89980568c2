//! Heartbeat (op 1, protocol reference §5.2): keeps the connection alive.

use serde::Serialize;

use super::{sealed, Command};
use crate::protocol::OpCode;

/// Keeps the connection alive; `d` is the last sequence number received, or `null` before any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Heartbeat {
    /// The last non-null `s` received on this session.
    pub seq: Option<u64>,
}

impl sealed::Typed for Heartbeat {}

impl Command for Heartbeat {
    const OPCODE: OpCode = OpCode::Heartbeat;
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Heartbeat;
    use crate::command::testing::{assert_matches_fixture, encode_to_string, fixture, round_trip};
    use crate::protocol::OpCode;

    #[test]
    fn the_fixture_encodes_identically() {
        assert_matches_fixture(
            &Heartbeat { seq: Some(251) },
            fixture!("send_heartbeat.json"),
        );
    }

    #[test]
    fn before_any_dispatch_d_is_null() {
        assert_eq!(
            encode_to_string(&Heartbeat::default()),
            r#"{"op":1,"d":null}"#
        );
        assert_eq!(
            round_trip(&Heartbeat { seq: None }, OpCode::Heartbeat),
            json!(null)
        );
    }

    #[test]
    fn the_largest_sequence_number_round_trips() {
        let d = round_trip(
            &Heartbeat {
                seq: Some(u64::MAX),
            },
            OpCode::Heartbeat,
        );
        assert_eq!(d, json!(u64::MAX));
    }
}
