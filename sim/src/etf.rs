//! ETF on the wire, for connections that ask for `encoding=etf`.
//!
//! The sim builds every payload as JSON text; an ETF connection gets the same payload
//! transcoded term by term, in the text's key order, shaped as Discord's encoder shapes it: map
//! keys as atoms, strings as binaries, `null`/`true`/`false` as atoms, integers in the smallest
//! integer tag, and snowflakes as the integers Discord sends over ETF (`SMALL_BIG_EXT`): a string
//! of decimal digits at or past 2^53 (as every real snowflake is) under a key named `id`,
//! `*_id`, `*_ids` or `roles`.
//!
//! Commands from an ETF client are checked and read without the core (which the sim uses for
//! protocol enums only, so a mistake the client's encoder and reader share cannot hide here):
//! `to_value` first walks the bytes and refuses, as erlpack-based servers do, any term erlpack
//! would not have written (a UTF-8 atom tag, an atom other than `nil`/`true`/`false`, an
//! integer in a larger tag than it needs, a key that is not a binary, `STRING_EXT`, tuples, ...;
//! the table is in the protocol reference, §11.4), then decodes the term with `eetf`, an
//! independent ETF implementation.

use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

const VERSION: u8 = 131;
const SMALL_INTEGER: u8 = 97;
const INTEGER: u8 = 98;
const NEW_FLOAT: u8 = 70;
const SMALL_BIG: u8 = 110;
const BINARY: u8 = 109;
const NIL: u8 = 106;
const LIST: u8 = 108;
const MAP: u8 = 116;
const SMALL_ATOM: u8 = 115;
const SMALL_ATOM_UTF8: u8 = 119;
const ATOM_UTF8: u8 = 118;

/// The deepest nesting of lists and maps a command may have (serde_json's own bound for the
/// JSON commands).
const MAX_DEPTH: usize = 128;

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
    Transcode {
        out: &mut out,
        snowflakes: false,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(out)
}

/// Reads an ETF command: the payload as JSON, or `None` when it is not a term erlpack would
/// have written (see the module docs), which Discord closes with 4002.
pub(crate) fn to_value(bytes: &[u8]) -> Option<Value> {
    erlpack_shaped(bytes).ok()?;
    // Only bytes the walk accepted reach eetf, which reserves memory for claimed lengths.
    let term = eetf::Term::decode(bytes).ok()?;
    value(&term)
}

/// Whether `bytes` is one message exactly as erlpack writes its value; the reason otherwise.
pub fn erlpack_shaped(bytes: &[u8]) -> Result<(), &'static str> {
    let mut walk = Walk { bytes, pos: 0 };
    if walk.u8()? != VERSION {
        return Err("the message does not start with the version byte 131");
    }
    walk.term(0)?;
    if walk.pos != bytes.len() {
        return Err("bytes follow the term");
    }
    Ok(())
}

/// A cursor checking terms against erlpack's encoder.
struct Walk<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Walk<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], &'static str> {
        let end = self.pos.checked_add(len).ok_or("a length past the end")?;
        let taken = self
            .bytes
            .get(self.pos..end)
            .ok_or("the message ends inside a term")?;
        self.pos = end;
        Ok(taken)
    }

    fn u8(&mut self) -> Result<u8, &'static str> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, &'static str> {
        let bytes = self.take(4)?;
        Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// A count of elements that each take at least one byte: more than the bytes left is a lie
    /// (and checked before anything is reserved for it).
    fn count(&mut self) -> Result<u32, &'static str> {
        let count = self.u32()?;
        if count as usize > self.bytes.len() - self.pos {
            return Err("a count past the end of the message");
        }
        Ok(count)
    }

    fn binary(&mut self) -> Result<&'a [u8], &'static str> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    fn term(&mut self, depth: usize) -> Result<(), &'static str> {
        match self.u8()? {
            SMALL_INTEGER => {
                self.take(1)?;
            }
            INTEGER => {
                let bytes = self.take(4)?;
                let value = i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
                if (0..=255).contains(&value) {
                    return Err("an integer 0..=255 not in SMALL_INTEGER_EXT");
                }
            }
            SMALL_BIG => {
                let len = usize::from(self.u8()?);
                let sign = self.u8()?;
                let digits = self.take(len)?;
                if sign > 1 || len == 0 || len > 8 || digits[len - 1] == 0 {
                    return Err("a SMALL_BIG_EXT that is not the fewest bytes of a 64-bit integer");
                }
                let mut magnitude = [0u8; 8];
                magnitude[..len].copy_from_slice(digits);
                let magnitude = i128::from(u64::from_le_bytes(magnitude));
                let value = if sign == 1 { -magnitude } else { magnitude };
                if i32::try_from(value).is_ok() {
                    return Err("an integer that fits INTEGER_EXT in SMALL_BIG_EXT");
                }
            }
            NEW_FLOAT => {
                let bytes = self.take(8)?;
                let mut be = [0u8; 8];
                be.copy_from_slice(bytes);
                if !f64::from_be_bytes(be).is_finite() {
                    return Err("a float that is not finite");
                }
            }
            BINARY => {
                let text = self.binary()?;
                if std::str::from_utf8(text).is_err() {
                    return Err("a binary that is not UTF-8 text");
                }
            }
            SMALL_ATOM => {
                let len = usize::from(self.u8()?);
                if !matches!(self.take(len)?, b"nil" | b"true" | b"false") {
                    return Err("an atom other than nil, true and false");
                }
            }
            SMALL_ATOM_UTF8 | ATOM_UTF8 => {
                return Err("an atom in a UTF-8 atom tag (erlpack writes and reads SMALL_ATOM_EXT)")
            }
            NIL => {}
            LIST => {
                let len = self.count()?;
                if len == 0 {
                    return Err("an empty LIST_EXT (erlpack writes NIL_EXT)");
                }
                if depth >= MAX_DEPTH {
                    return Err("nested too deep");
                }
                for _ in 0..len {
                    self.term(depth + 1)?;
                }
                if self.u8()? != NIL {
                    return Err("an improper list");
                }
            }
            MAP => {
                let arity = self.count()?;
                if depth >= MAX_DEPTH {
                    return Err("nested too deep");
                }
                let mut keys = HashSet::new();
                for _ in 0..arity {
                    if self.u8()? != BINARY {
                        return Err("a map key that is not a binary (atom keys are refused)");
                    }
                    let key = self.binary()?;
                    if std::str::from_utf8(key).is_err() || !keys.insert(key) {
                        return Err("a map key that is not UTF-8, or repeated");
                    }
                    self.term(depth + 1)?;
                }
            }
            _ => return Err("a term erlpack does not write"),
        }
        Ok(())
    }
}

/// The JSON value of a term the walk accepted, as eetf read it.
fn value(term: &eetf::Term) -> Option<Value> {
    use eetf::Term;
    Some(match term {
        Term::Atom(atom) => match atom.name.as_str() {
            "nil" => Value::Null,
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return None,
        },
        Term::FixInteger(int) => Value::from(int.value),
        Term::BigInteger(big) => {
            let text = big.value.to_string();
            match text.parse::<u64>() {
                Ok(positive) => Value::from(positive),
                Err(_) => Value::from(text.parse::<i64>().ok()?),
            }
        }
        Term::Float(float) => Value::Number(Number::from_f64(float.value)?),
        Term::Binary(binary) => Value::String(String::from_utf8(binary.bytes.clone()).ok()?),
        Term::List(list) => Value::Array(list.elements.iter().map(value).collect::<Option<_>>()?),
        Term::Map(map) => {
            let mut object = Map::new();
            for (key, item) in &map.map {
                let Term::Binary(key) = key else {
                    return None;
                };
                object.insert(String::from_utf8(key.bytes.clone()).ok()?, value(item)?);
            }
            Value::Object(object)
        }
        _ => return None,
    })
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
    /// Whether the value is under a snowflake key, so a snowflake string goes out as an integer.
    snowflakes: bool,
}

/// Whether a key holds snowflakes (or a list of them).
fn snowflake_key(key: &str) -> bool {
    key == "id" || key == "roles" || key.ends_with("_id") || key.ends_with("_ids")
}

/// A snowflake string as Discord's ETF encoder sends it: its integer, when it is the canonical
/// decimal text of one at or past 2^53 (every real snowflake is; smaller ids stay binaries, so
/// text output that prints integers past 2^53 as strings reads the same for both encodings).
fn snowflake(text: &str) -> Option<u64> {
    if text.starts_with('0') || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|&value| value >= 1 << 53)
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
        match snowflake(value).filter(|_| self.snowflakes) {
            Some(id) => integer(self.out, id.into()),
            None => binary(self.out, value),
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let at = self.out.len();
        self.out.extend_from_slice(&[LIST, 0, 0, 0, 0]);
        let mut count: u32 = 0;
        while seq
            .next_element_seed(Transcode {
                out: &mut *self.out,
                snowflakes: self.snowflakes,
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
                snowflakes: snowflake_key(&key),
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

    use super::{erlpack_shaped, from_json, to_value};

    fn map(arity: u32) -> Vec<u8> {
        [&[116][..], &arity.to_be_bytes()].concat()
    }
    fn bin(text: &str) -> Vec<u8> {
        [
            &[109][..],
            &(text.len() as u32).to_be_bytes(),
            text.as_bytes(),
        ]
        .concat()
    }
    fn atom(name: &str) -> Vec<u8> {
        [&[115, name.len() as u8][..], name.as_bytes()].concat()
    }
    fn utf8_atom(name: &str) -> Vec<u8> {
        [&[119, name.len() as u8][..], name.as_bytes()].concat()
    }
    fn message(terms: &[Vec<u8>]) -> Vec<u8> {
        [vec![131], terms.concat()].concat()
    }

    #[test]
    fn snowflakes_go_out_as_integers_under_id_keys() {
        let text = r#"{"id":"1085987654321012345","content":"1085987654321012345","guild_id":"5","roles":["9007199254740992"],"n":-2,"f":0.5,"e":[],"x":null,"y":true}"#;
        let snowflake = 1_085_987_654_321_012_345_u64;
        let expected = message(&[
            map(9),
            utf8_atom("id"),
            [&[110, 8, 0][..], &snowflake.to_le_bytes()].concat(),
            utf8_atom("content"),
            bin("1085987654321012345"),
            utf8_atom("guild_id"),
            bin("5"),
            utf8_atom("roles"),
            vec![108, 0, 0, 0, 1, 110, 7, 0, 0, 0, 0, 0, 0, 0, 0x20, 106],
            utf8_atom("n"),
            vec![98, 255, 255, 255, 254],
            utf8_atom("f"),
            [&[70][..], &0.5f64.to_be_bytes()].concat(),
            utf8_atom("e"),
            vec![106],
            utf8_atom("x"),
            utf8_atom("nil"),
            utf8_atom("y"),
            utf8_atom("true"),
        ]);
        assert_eq!(from_json(text).unwrap(), expected);
        // eetf, not the core, reads it back to the same value, snowflakes as integers.
        let term = eetf::Term::decode(&expected[..]).unwrap();
        let eetf::Term::Map(map) = term else {
            panic!("{term}")
        };
        let id = map
            .map
            .get(&eetf::Term::from(eetf::Atom::from("id")))
            .unwrap();
        assert_eq!(id.to_string(), snowflake.to_string());
    }

    #[test]
    fn commands_as_erlpack_writes_them_are_read_with_eetf() {
        let command = message(&[
            map(2),
            bin("op"),
            vec![97, 2],
            bin("d"),
            map(5),
            bin("token"),
            bin("abc"),
            bin("shard"),
            vec![108, 0, 0, 0, 2, 97, 0, 97, 1, 106],
            bin("since"),
            atom("nil"),
            bin("big"),
            vec![110, 5, 0, 0, 0xF2, 5, 0x2A, 1],
            bin("afk"),
            atom("false"),
        ]);
        assert_eq!(erlpack_shaped(&command), Ok(()));
        assert_eq!(
            to_value(&command),
            Some(
                json!({"op": 2, "d": {"token": "abc", "shard": [0, 1], "since": null,
                "big": 5_000_000_000_u64, "afk": false}})
            )
        );
        let heartbeat = message(&[map(2), bin("op"), vec![97, 1], bin("d"), atom("nil")]);
        assert_eq!(to_value(&heartbeat), Some(json!({"op": 1, "d": null})));
    }

    #[test]
    fn terms_erlpack_would_not_write_are_refused() {
        let with_d = |d: Vec<u8>| message(&[map(2), bin("op"), vec![97, 1], bin("d"), d]);
        let refused = [
            // The issue's case: atoms in SMALL_ATOM_UTF8_EXT (and ATOM_UTF8_EXT, ATOM_EXT).
            ("utf-8 atom", with_d(utf8_atom("nil"))),
            ("long utf-8 atom", with_d(vec![118, 0, 3, b'n', b'i', b'l'])),
            (
                "latin-1 ATOM_EXT",
                with_d(vec![100, 0, 3, b'n', b'i', b'l']),
            ),
            ("other atom", with_d(atom("undefined"))),
            // Atom keys, as the sim's own (Discord's) encoding has them.
            ("atom keys", from_json(r#"{"op":1,"d":null}"#).unwrap()),
            ("small integer in INTEGER_EXT", with_d(vec![98, 0, 0, 0, 5])),
            ("i32 in SMALL_BIG_EXT", with_d(vec![110, 2, 0, 0, 1])),
            (
                "big with a zero top byte",
                with_d(vec![110, 6, 0, 0, 0xF2, 5, 0x2A, 1, 0]),
            ),
            (
                "LARGE_BIG_EXT",
                with_d(vec![111, 0, 0, 0, 5, 0, 0, 0xF2, 5, 0x2A, 1]),
            ),
            ("empty LIST_EXT", with_d(vec![108, 0, 0, 0, 0, 106])),
            ("improper list", with_d(vec![108, 0, 0, 0, 1, 97, 1, 97, 2])),
            ("STRING_EXT", with_d(vec![107, 0, 2, 0, 1])),
            ("tuple", with_d(vec![104, 1, 97, 1])),
            ("legacy float", with_d([&[99][..], &[b'1'; 31]].concat())),
            ("not utf-8", with_d(vec![109, 0, 0, 0, 1, 0xFF])),
            (
                "repeated key",
                message(&[map(2), bin("op"), vec![97, 1], bin("op"), vec![97, 1]]),
            ),
            ("trailing bytes", [with_d(atom("nil")), vec![106]].concat()),
            ("no version", with_d(atom("nil"))[1..].to_vec()),
            (
                "a count past the end",
                with_d(vec![108, 0xFF, 0xFF, 0xFF, 0xFF, 106]),
            ),
            ("truncated", with_d(atom("nil"))[..20].to_vec()),
        ];
        for (what, bytes) in refused {
            assert!(erlpack_shaped(&bytes).is_err(), "{what} was accepted");
            assert_eq!(to_value(&bytes), None, "{what}");
        }
    }
}
