//! The gateway's side of a transcript: payloads drawn from a grammar of valid and broken ones.
//!
//! Most choices are relative to what the session has seen, so a handful of bytes reaches the
//! interesting places: the next sequence number, a repeat, a gap, a READY with a session id
//! that is too long, a Hello before or after its time.

extern crate std;

use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use crate::fuzzing::Input;

/// One websocket message from the gateway, as bytes.
pub(super) fn message(input: &mut Input<'_>, last_seq: Option<u64>) -> Vec<u8> {
    match input.byte() % 16 {
        0 => hello(input),
        1 | 14 => payload(input, "11", Some("null"), None, None),
        2 => payload(input, "1", Some("null"), None, None),
        3 => payload(input, "7", Some("null"), None, None),
        4 => {
            let d = input.pick(&[Some("false"), Some("true"), Some("null"), None, Some("1")]);
            payload(input, "9", d, None, None)
        }
        5 => ready(input, last_seq),
        6 => {
            let s = seq(input, last_seq);
            payload(
                input,
                "0",
                Some(r#"{"_trace":["x"]}"#),
                s.as_deref(),
                Some("\"RESUMED\""),
            )
        }
        7..=10 | 15 => dispatch(input, last_seq),
        11 => {
            let op = input.pick(&["5", "12", "255", "256", "-1", "2", "6"]);
            payload(input, op, Some("null"), None, None)
        }
        12 => {
            let len = usize::from(input.byte());
            input.bytes(len).to_vec()
        }
        _ => {
            // A valid dispatch, cut short or with one byte changed.
            let mut bytes = dispatch(input, last_seq);
            let at = usize::from(input.u16()) % bytes.len().max(1);
            if input.bool() {
                bytes.truncate(at);
            } else if let Some(byte) = bytes.get_mut(at) {
                *byte = input.byte();
            }
            bytes
        }
    }
}

fn hello(input: &mut Input<'_>) -> Vec<u8> {
    let interval = input.pick(&[
        "41250",
        "41250",
        "1000",
        "45000",
        "1",
        "0",
        "18446744073709551615",
        "-1",
        "1.5",
        "\"x\"",
    ]);
    let d = match input.byte() % 8 {
        0 => "null".to_string(),
        1 => "{}".to_string(),
        _ => format!(r#"{{"heartbeat_interval":{interval},"_trace":["gateway-prd"]}}"#),
    };
    payload(input, "10", Some(&d), None, None)
}

fn ready(input: &mut Input<'_>, last_seq: Option<u64>) -> Vec<u8> {
    let long_id = format!("\"{}\"", "a".repeat(70));
    let long_url = format!("\"wss://{}\"", "b".repeat(200));
    let session_id = match input.byte() % 8 {
        0 | 1 => Some("\"session-1\""),
        2 => Some("\"session-2\""),
        3 => Some(long_id.as_str()),
        4 => Some("\"\""),
        5 => Some("\"s\\u002d3\""),
        6 => Some("5"),
        _ => None,
    };
    let url = match input.byte() % 6 {
        0 | 1 => Some("\"wss://resume.example\""),
        2 => Some("\"wss:\\/\\/escaped.example\""),
        3 => Some("\"http://not-a-websocket\""),
        4 => Some(long_url.as_str()),
        _ => None,
    };
    let mut d = String::from(r#"{"v":10,"user":{"id":"1","username":"bot"},"guilds":[]"#);
    if let Some(id) = session_id {
        d.push_str(&format!(r#","session_id":{id}"#));
    }
    if let Some(url) = url {
        d.push_str(&format!(r#","resume_gateway_url":{url}"#));
    }
    d.push_str(r#","shard":[0,1],"application":{"id":"1","flags":0}}"#);
    // READY starts a session at 1; the grammar still lets it arrive with any number.
    let s = if input.bool() {
        Some("1".to_string())
    } else {
        seq(input, last_seq)
    };
    payload(input, "0", Some(&d), s.as_deref(), Some("\"READY\""))
}

fn dispatch(input: &mut Input<'_>, last_seq: Option<u64>) -> Vec<u8> {
    let name = input.pick(&[
        Some("\"MESSAGE_CREATE\""),
        Some("\"MESSAGE_CREATE\""),
        Some("\"GUILD_CREATE\""),
        Some("\"TYPING_START\""),
        Some("\"SOMETHING_NEW\""),
        Some("\"MESSAGE\\u005fCREATE\""),
        Some("\"READY\""),
        Some("\"RESUMED\""),
        Some("\"\""),
        Some("null"),
        None,
    ]);
    let deep = format!("{}{}", "[".repeat(130), "]".repeat(130));
    let d = match input.byte() % 10 {
        0..=3 => Some(r#"{"id":"1","nested":{"s":999,"op":7,"t":"READY"}}"#),
        4 => Some("null"),
        5 => None,
        6 => Some(r#"{"a":[}"#),
        7 => Some(r#"{"text":"\u00zz raw \u0001 bytes"}"#),
        8 => Some(deep.as_str()),
        _ => Some("[1,2.5e3,true,\"\\ud83d\\ude00\"]"),
    };
    let s = seq(input, last_seq);
    payload(input, "0", d, s.as_deref(), name)
}

/// The `s` of a dispatch, mostly relative to the last one the session saw.
fn seq(input: &mut Input<'_>, last_seq: Option<u64>) -> Option<String> {
    let last = last_seq.unwrap_or(0);
    let value = match input.byte() % 16 {
        0..=5 => last.saturating_add(1),
        6 => last,
        7 => last.saturating_sub(1 + u64::from(input.byte())),
        8 => last.saturating_add(2 + u64::from(input.byte())),
        9 => 1,
        10 => u64::MAX,
        11 => 0,
        12 => return Some("null".to_string()),
        13 => return None,
        14 => return Some("18446744073709551616".to_string()),
        _ => return Some(input.pick(&["-1", "1.0", "\"3\"", "-0", "1e3"]).to_string()),
    };
    Some(value.to_string())
}

/// An envelope with the given raw JSON values (`None`: key absent), in one of several key orders.
fn payload(
    input: &mut Input<'_>,
    op: &str,
    d: Option<&str>,
    s: Option<&str>,
    t: Option<&str>,
) -> Vec<u8> {
    let (s, t) = if op == "0" {
        (s, t)
    } else {
        // Discord sends `s` and `t` as null outside dispatches, or leaves them out.
        let null = input.bool().then_some("null");
        (null, null)
    };
    let fields = [("t", t), ("s", s), ("op", Some(op)), ("d", d)];
    let order: [usize; 4] = match input.byte() % 4 {
        0 => [0, 1, 2, 3],
        1 => [2, 3, 1, 0],
        2 => [3, 0, 1, 2],
        _ => [1, 2, 3, 0],
    };
    let separator = if input.bool() { ", " } else { "," };
    let mut out = String::from("{");
    let mut first = true;
    for (key, value) in order.iter().map(|&i| fields[i]) {
        let Some(value) = value else { continue };
        if !first {
            out.push_str(separator);
        }
        first = false;
        out.push_str(&format!("\"{key}\":{value}"));
    }
    out.push('}');
    out.into_bytes()
}
