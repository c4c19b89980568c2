//! ETF on the wire, for connections that ask for `encoding=etf`.
//!
//! The sim builds every payload as JSON text; an ETF connection gets the same payload
//! transcoded term by term, in the text's key order, shaped as Discord's encoder shapes it: map
//! keys as atoms, strings as binaries, `null`/`true`/`false` as atoms, integers in the smallest
//! integer tag (snowflakes stay the binaries they are in the JSON). Commands from an ETF client
//! are read with the core's deserializer, after checking their map keys are binaries (Discord
//! closes with 4002 on atom keys).

use std::fmt;

use discord_gateway::codec::etf::{self as core_etf, Reader, Term};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

const VERSION: u8 = 131;
const SMALL_INTEGER: u8 = 97;
const INTEGER: u8 = 98;
const NEW_FLOAT: u8 = 70;
const SMALL_BIG: u8 = 110;
const BINARY: u8 = 109;
const NIL: u8 = 106;
const LIST: u8 = 108;
const MAP: u8 = 116;
const SMALL_ATOM_UTF8: u8 = 119;
const ATOM_UTF8: u8 = 118;

/// A message cut off inside its map: what a malformed-payload fault sends on ETF.
pub(crate) const MALFORMED: &[u8] = &[VERSION, MAP, 0, 0, 0, 4, SMALL_ATOM_UTF8, 2, b'o'];

/// The ETF message for one JSON payload.
///
/// # Errors
/// The `serde_json` error when `text` is not JSON.
pub fn from_json(text: &str) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(text.len());
    out.push(VERSION);
    let mut de = serde_json::Deserializer::from_str(text);
    Transcode { out: &mut out }.deserialize(&mut de)?;
    de.end()?;
    Ok(out)
}

/// Reads an ETF command: the payload as JSON, or `None` when it is not a term Discord accepts
/// (malformed, or a map keyed by anything but binaries).
pub(crate) fn to_value(bytes: &[u8]) -> Option<Value> {
    let mut reader = Reader::message(bytes).ok()?;
    if !binary_keys(&mut reader, 0)? {
        return None;
    }
    core_etf::from_message(bytes).ok()
}

/// Walks one term; `Some(false)` when a map in it has a key that is not a binary.
fn binary_keys(reader: &mut Reader<'_>, depth: usize) -> Option<bool> {
    if depth > core_etf::MAX_DEPTH {
        return None;
    }
    match reader.next().ok()? {
        Term::List(len) => {
            for _ in 0..=len {
                if !binary_keys(reader, depth + 1)? {
                    return Some(false);
                }
            }
        }
        Term::Tuple(arity) => {
            for _ in 0..arity {
                if !binary_keys(reader, depth + 1)? {
                    return Some(false);
                }
            }
        }
        Term::Map(arity) => {
            for _ in 0..arity {
                if !matches!(reader.next().ok()?, Term::Binary(_)) {
                    return Some(false);
                }
                if !binary_keys(reader, depth + 1)? {
                    return Some(false);
                }
            }
        }
        _ => {}
    }
    Some(true)
}

fn integer(out: &mut Vec<u8>, value: i128) {
    if let Ok(small) = u8::try_from(value) {
        out.extend_from_slice(&[SMALL_INTEGER, small]);
    } else if let Ok(int) = i32::try_from(value) {
        out.push(INTEGER);
        out.extend_from_slice(&int.to_be_bytes());
    } else {
        // JSON numbers the sim writes fit in 64 bits.
        let magnitude = u64::try_from(value.unsigned_abs()).unwrap_or(u64::MAX);
        let len = 8 - (magnitude.leading_zeros() / 8) as usize;
        out.extend_from_slice(&[SMALL_BIG, len as u8, u8::from(value < 0)]);
        out.extend_from_slice(&magnitude.to_le_bytes()[..len]);
    }
}

fn atom(out: &mut Vec<u8>, name: &str) {
    match u8::try_from(name.len()) {
        Ok(len) => out.extend_from_slice(&[SMALL_ATOM_UTF8, len]),
        Err(_) => {
            out.push(ATOM_UTF8);
            out.extend_from_slice(&(name.len() as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(name.as_bytes());
}

fn binary(out: &mut Vec<u8>, text: &str) {
    out.push(BINARY);
    out.extend_from_slice(&(text.len() as u32).to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// Writes the next JSON value as a term.
struct Transcode<'o> {
    out: &'o mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for Transcode<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Transcode<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        atom(self.out, "nil");
        Ok(())
    }

    fn visit_bool<E>(self, value: bool) -> Result<(), E> {
        atom(self.out, if value { "true" } else { "false" });
        Ok(())
    }

    fn visit_u64<E>(self, value: u64) -> Result<(), E> {
        integer(self.out, value.into());
        Ok(())
    }

    fn visit_i64<E>(self, value: i64) -> Result<(), E> {
        integer(self.out, value.into());
        Ok(())
    }

    fn visit_f64<E>(self, value: f64) -> Result<(), E> {
        self.out.push(NEW_FLOAT);
        self.out.extend_from_slice(&value.to_be_bytes());
        Ok(())
    }

    fn visit_str<E>(self, value: &str) -> Result<(), E> {
        binary(self.out, value);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let at = self.out.len();
        self.out.extend_from_slice(&[LIST, 0, 0, 0, 0]);
        let mut count: u32 = 0;
        while seq
            .next_element_seed(Transcode {
                out: &mut *self.out,
            })?
            .is_some()
        {
            count += 1;
        }
        if count == 0 {
            self.out.truncate(at);
        } else {
            self.out[at + 1..at + 5].copy_from_slice(&count.to_be_bytes());
        }
        self.out.push(NIL);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let at = self.out.len();
        self.out.extend_from_slice(&[MAP, 0, 0, 0, 0]);
        let mut count: u32 = 0;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            atom(self.out, &key);
            map.next_value_seed(Transcode {
                out: &mut *self.out,
            })?;
            count += 1;
        }
        self.out[at + 1..at + 5].copy_from_slice(&count.to_be_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn payloads_read_back_as_the_same_json() {
        let value = json!({"t": "READY", "s": 1, "op": 0, "d": {
            "id": "1085987654321012345", "n": [1, -2, 300, 5_000_000_000_u64], "f": 0.5,
            "empty": [], "none": null, "yes": true, "text": "é \"q\""}});
        let etf = super::from_json(&value.to_string()).unwrap();
        assert_eq!(etf[0], 131);
        let back: serde_json::Value = discord_gateway::codec::etf::from_message(&etf).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn commands_with_atom_keys_are_refused() {
        // The sim's own encoding uses atom keys, as Discord's does: a client must not.
        let atoms = super::from_json(r#"{"op":1,"d":null}"#).unwrap();
        assert_eq!(super::to_value(&atoms), None);
        let mut buf = [0u8; 64];
        let len =
            discord_gateway::codec::etf::to_slice(&json!({"op": 1, "d": 5}), &mut buf).unwrap();
        assert_eq!(super::to_value(&buf[..len]), Some(json!({"op": 1, "d": 5})));
    }
}
