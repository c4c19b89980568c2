//! ETF's own promises on arbitrary bytes: the reader, the skip, the deserializer, the JSON view
//! and the envelope scan agree with one another, stay within the depth bound, and never panic.
//! (The differential check against an independent decoder is in `fuzz/fuzz_targets/etf.rs`,
//! which has `eetf`.)

extern crate std;

use std::string::String;

use serde::de::IgnoredAny;

use crate::codec::etf::{from_message, to_json, Reader, SAFE_INTEGER_LIMIT};
use crate::codec::{validate_value, Data, Envelope};
use crate::protocol::OpCode;

/// Reads arbitrary bytes as an ETF message every way the crate offers.
///
/// # Panics
/// When a reader panics, or they disagree: the skip and the deserializer accept different
/// messages; a value `serde_json` can hold does not view as the same JSON; the envelope scan
/// with an always-yes filter differs from the plain scan, or a no-filter fails where it did not;
/// a span of `d` is out of bounds.
pub fn etf(data: &[u8]) {
    let skipped = Reader::message(data).and_then(|mut reader| {
        let span = reader.skip(0)?;
        reader.finish()?;
        Ok(span)
    });
    let ignored = from_message::<IgnoredAny>(data);
    // `IgnoredAny` walks every term but asks nothing of it, so it fails exactly where the skip
    // does (an improper list tail is still a term to both).
    assert_eq!(
        skipped.is_ok(),
        ignored.is_ok(),
        "skip and deserializer disagree: {skipped:?} / {ignored:?}"
    );
    if let Ok(span) = &skipped {
        assert_eq!(span, &(1..data.len()));
        let mut text = String::new();
        to_json(&data[1..], &mut text).expect("a term that skips has a JSON view");
        // The crate's strict validator, which takes the full depth bound (serde_json stops one
        // level short of it).
        validate_value(text.as_bytes()).expect("the JSON view is JSON");
        let viewed = serde_json::from_str::<serde_json::Value>(&text);
        if let (Ok(value), Ok(viewed)) = (from_message::<serde_json::Value>(data), viewed) {
            assert!(
                same(&viewed, &value),
                "the JSON view differs from the deserialized value: {viewed} / {value}"
            );
        }
    }

    let full = Envelope::decode_etf(data);
    let yes = Envelope::decode_etf_filtered(data, |_| true);
    assert_eq!(full, yes, "decode and an always-yes filter disagree");
    let no = Envelope::decode_etf_filtered(data, |_| false);
    match (&full, &no) {
        (Ok(full), Ok(no)) => {
            assert_eq!((full.op(), full.seq()), (no.op(), no.seq()));
            if let Data::Present(range) = full.data_span() {
                let d = data.get(range.clone()).expect("the span of d is in bounds");
                // The span is exactly one term.
                let mut reader = Reader::new(d);
                reader.skip(1).expect("the span of d is a term");
                reader.finish().expect("the span of d is one term");
            }
        }
        (Err(_), Ok(no)) => {
            assert_eq!(no.op(), OpCode::Dispatch);
            assert_eq!(no.data_span(), &Data::Skipped);
        }
        (Ok(_), Err(error)) => panic!("a filter that says no failed where decode did not: {error}"),
        (Err(_), Err(_)) => {}
    }
}

/// Equal values, where the view writes integers at or past 2^53 as their decimal text (the
/// deserialized value holds them as numbers). Floats are equal exactly: the view writes the shortest decimal that reads back
/// as the same `f64`, and the `fuzzing` feature turns on serde_json's `float_roundtrip`, which
/// reads it back exactly (without it serde_json may read a subnormal more than one unit off).
fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => x == y,
                _ => false,
            }
        }
        (Value::String(text), Value::Number(n)) => {
            let big = n
                .as_u64()
                .map(|u| u >= SAFE_INTEGER_LIMIT)
                .or_else(|| n.as_i64().map(|i| i.unsigned_abs() >= SAFE_INTEGER_LIMIT));
            big == Some(true) && *text == std::format!("{n}")
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}
