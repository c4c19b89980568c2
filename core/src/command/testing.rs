//! Test helpers shared by the command tests: encode, parse back with `serde_json`, compare.

extern crate std;

use std::string::String;

use serde_json::Value;

use super::{encode_into, Encode, MAX_PAYLOAD_LEN};
use crate::codec::validate_value;
use crate::protocol::OpCode;

/// The text of a fixture in the repository's `fixtures/payload-examples/`.
macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/payload-examples/",
            $name
        ))
    };
}
pub(crate) use fixture;

/// Encodes `cmd`, checks the envelope is exactly `{"op":op,"d":...}` and gives back the parsed `d`.
pub(crate) fn round_trip(cmd: &impl Encode, op: OpCode) -> Value {
    let text = encode_to_string(cmd);
    assert_eq!(validate_value(text.as_bytes()), Ok(()), "{text}");
    assert!(
        text.starts_with(&std::format!("{{\"op\":{},\"d\":", op.to_u8())),
        "{text}"
    );
    assert_eq!(cmd.opcode(), op);
    let Value::Object(mut envelope) = serde_json::from_str(&text).expect("encoded payload parses")
    else {
        panic!("payload is not an object: {text}");
    };
    assert_eq!(envelope.len(), 2, "only op and d are sent: {text}");
    assert_eq!(envelope.remove("op"), Some(Value::from(op.to_u8())));
    envelope.remove("d").expect("d is present")
}

/// Encodes `cmd` into a full-size buffer and returns the text.
pub(crate) fn encode_to_string(cmd: &impl Encode) -> String {
    let mut buf = [0u8; MAX_PAYLOAD_LEN];
    let len = encode_into(cmd, &mut buf).expect("command encodes");
    String::from_utf8(buf[..len].to_vec()).expect("payload is UTF-8")
}

/// Asserts `cmd` encodes to the same `op` and `d` as the fixture (which also carries `s`/`t`).
pub(crate) fn assert_matches_fixture(cmd: &impl Encode, fixture: &str) {
    let expected: Value = serde_json::from_str(fixture).expect("fixture parses");
    let op = u8::try_from(expected["op"].as_u64().expect("fixture has op")).unwrap();
    let d = round_trip(cmd, OpCode::from_u8(op));
    assert_eq!(d, expected["d"]);
}
