//! Serialising gateway payloads the way Discord lays them out: keys in the order `t`, `s`, `op`,
//! `d`, with `s`/`t` null outside dispatches.
//!
//! Frames are built by concatenation around an already-serialised `d`, so the sim never re-orders
//! the keys of a fixture and a broadcast event is serialised once, not once per shard.

/// A dispatch (op 0) frame.
pub(crate) fn dispatch(t: &str, seq: u64, d: &str) -> String {
    let mut out = String::with_capacity(d.len() + t.len() + 40);
    out.push_str("{\"t\":");
    push_json_str(&mut out, t);
    out.push_str(",\"s\":");
    out.push_str(&seq.to_string());
    out.push_str(",\"op\":0,\"d\":");
    out.push_str(d);
    out.push('}');
    out
}

/// A non-dispatch frame (`t` and `s` null).
pub(crate) fn op(op: u8, d: &str) -> String {
    format!("{{\"t\":null,\"s\":null,\"op\":{op},\"d\":{d}}}")
}

/// Appends `s` as a JSON string literal.
pub(crate) fn push_json_str(out: &mut String, s: &str) {
    // serde_json's string escaping is the reference; a `String` cannot fail to serialise.
    out.push_str(&serde_json::Value::from(s).to_string());
}

/// `s` as a JSON string literal.
pub(crate) fn json_str(s: &str) -> String {
    let mut out = String::new();
    push_json_str(&mut out, s);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn key_order_is_t_s_op_d() {
        assert_eq!(
            super::dispatch("READY", 1, "{}"),
            r#"{"t":"READY","s":1,"op":0,"d":{}}"#
        );
        assert_eq!(
            super::op(11, "null"),
            r#"{"t":null,"s":null,"op":11,"d":null}"#
        );
        assert_eq!(super::json_str("a\"b"), r#""a\"b""#);
    }
}
