//! The envelope scan against `serde_json`, on arbitrary bytes.

extern crate std;

use std::format;
use std::string::String;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use crate::codec::{Data, Envelope};
use crate::protocol::{EventType, OpCode};

/// The envelope fields of a JSON object as `serde_json` reads it.
#[derive(Default)]
struct Fields {
    op: Option<Value>,
    s: Option<Value>,
    t: Option<Value>,
    d: Option<Value>,
    /// One of the four keys appeared twice (`serde_json` keeps the last; the scan refuses).
    duplicate: bool,
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FieldsVisitor)
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields;

    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        let mut fields = Fields::default();
        while let Some(key) = map.next_key::<String>()? {
            let slot = match key.as_str() {
                "op" => &mut fields.op,
                "s" => &mut fields.s,
                "t" => &mut fields.t,
                "d" => &mut fields.d,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            fields.duplicate |= slot.is_some();
            *slot = Some(map.next_value()?);
        }
        Ok(fields)
    }
}

/// Decodes arbitrary bytes with the scan and with `serde_json`.
///
/// Whenever `serde_json` reads the bytes as one object in which `op`, `s`, `t` and `d` appear at
/// most once each, `op` is an integer from 0 to 255, `s` is absent, null or an integer that
/// fits a `u64`, and `t` is absent, null or a string, the scan must accept the bytes and return
/// the same `op`, `s` and `t` (unescaped), the same event kind for `t`, and a span for `d` that
/// `serde_json` reads as the same value (or no span when there is no `d`). A filter that says
/// no must report the same `op`, `s` and `t`.
///
/// The converse is not promised: the scan only delimits `d` and unknown values, so it accepts
/// some bytes `serde_json` refuses (a bad escape inside `d`, say), leaving that to whoever
/// deserializes `d`.
///
/// # Panics
/// When the two disagree.
pub fn envelope_differential(data: &[u8]) {
    let Ok(fields) = serde_json::from_slice::<Fields>(data) else {
        return;
    };
    if fields.duplicate {
        return;
    }
    let Some(op) = fields.op.as_ref().and_then(Value::as_u64) else {
        return;
    };
    let Ok(op) = u8::try_from(op) else { return };
    let seq = match &fields.s {
        None | Some(Value::Null) => None,
        Some(value) => match value.as_u64() {
            Some(seq) => Some(seq),
            None => return,
        },
    };
    let name = match &fields.t {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name.as_str()),
        Some(_) => return,
    };

    let envelope = Envelope::decode(data).unwrap_or_else(|error| {
        panic!("serde_json reads an envelope the scan refuses ({error}): {data:?}")
    });
    assert_eq!(envelope.op(), OpCode::from_u8(op), "op");
    assert_eq!(envelope.seq(), seq, "s");
    match (envelope.name(), name) {
        (None, None) => {}
        (Some(scanned), Some(name)) => {
            // The raw text, quoted again, must read as the same string.
            let quoted = format!("\"{}\"", scanned.raw());
            let reread: String = serde_json::from_str(&quoted).expect("t is a JSON string");
            assert_eq!(reread, name, "t");
            if !scanned.is_escaped() {
                assert_eq!(scanned.raw(), name, "t without escapes");
            }
            let mut unescaped = heapless::String::<256>::new();
            if name.len() <= 256 {
                scanned.unescape_into(&mut unescaped).expect("t unescapes");
                assert_eq!(unescaped.as_str(), name, "t unescaped");
            } else {
                assert!(scanned.unescape_into(&mut unescaped).is_err());
            }
            assert_eq!(
                envelope.event_type(),
                EventType::from_name(name.as_bytes()),
                "kind"
            );
        }
        (scanned, name) => panic!("t: the scan read {scanned:?}, serde_json {name:?}"),
    }
    match (envelope.data_span(), &fields.d) {
        (Data::Absent, None) => {}
        (Data::Present(range), Some(d)) => {
            let reread: Value = serde_json::from_slice(&data[range.clone()])
                .unwrap_or_else(|error| panic!("the span of d does not parse: {error}"));
            assert_eq!(&reread, d, "d");
        }
        (span, d) => panic!("d: the scan has {span:?}, serde_json {d:?}"),
    }

    let unwanted = Envelope::decode_filtered(data, |_| false).expect("a filter that says no");
    assert_eq!(
        (unwanted.op(), unwanted.seq(), unwanted.name()),
        (envelope.op(), envelope.seq(), envelope.name())
    );
}
