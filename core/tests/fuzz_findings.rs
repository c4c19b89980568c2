//! What the fuzz targets in `fuzz/` found where the fix belongs to code outside the fuzzing
//! work. Each test names the target that found it (see `fuzz/README.md`). Findings fixed along
//! with the fuzzing work sit with the tests of the code they fixed (`core/tests/session.rs`, the
//! driver's `inflate` tests).

use discord_gateway::command::{encode_into, EncodeError, RawCommand, MAX_PAYLOAD_LEN};
use discord_gateway::OpCode;

fn encode_raw(d: &str) -> Result<usize, EncodeError> {
    let mut buf = [0u8; MAX_PAYLOAD_LEN];
    encode_into(
        &RawCommand::new(OpCode::PresenceUpdate, d.as_bytes()),
        &mut buf,
    )
}

#[test]
fn a_raw_command_with_a_number_beyond_f64_is_refused() {
    // Found by command_round_trip: `d` = 184469440184469440731e+93709551616 passed the strict
    // validator, but serde_json refuses it ("number out of range") and so would any parser that
    // reads numbers as doubles: Discord would close the connection with 4002.
    let out_of_range = format!("1{}", "0".repeat(400));
    for d in [
        "1e400",
        "-1e400",
        "184469440184469440731e+93709551616",
        "[1.8e308]",
        r#"{"since":2e308}"#,
        out_of_range.as_str(),
    ] {
        assert!(serde_json::from_str::<serde_json::Value>(d).is_err(), "{d}");
        assert!(
            matches!(
                encode_raw(d),
                Err(EncodeError::InvalidField { field: "d", .. })
            ),
            "{d} was accepted"
        );
    }
}

#[test]
fn numbers_serde_json_reads_stay_accepted() {
    // The other side of the finding above: the largest doubles, underflow to zero, and integers
    // past u64 that still fit a double all read fine.
    for d in [
        "1e308",
        "-1.7976931348623157e308",
        "1e-400",
        "18446744073709551616",
        "[0.5,-0,1E+2]",
    ] {
        assert!(serde_json::from_str::<serde_json::Value>(d).is_ok(), "{d}");
        assert!(encode_raw(d).is_ok(), "{d} was refused");
    }
}
