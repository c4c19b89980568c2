//! The envelope head read from a prefix ([`read_head`]) against the whole-message envelope
//! decoder ([`Envelope::decode_as`]): every fixture payload, in JSON and in ETF (written by
//! `eetf`, an implementation that is not ours), in Discord's key order and with `d` first, cut
//! at every length. A prefix either says what the whole message says, or that it cannot tell
//! yet; never something else, never an error for a valid message, and the whole message always
//! tells.

use std::path::Path;

use discord_gateway::codec::{read_head, DecodeError, Encoding, Envelope, PrefixHead};
use eetf::{Atom, BigInteger, Binary, FixInteger, Float, List, Map, Term};
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures");

/// Every payload example, and the captured GUILD_CREATE wrapped as Discord sends it.
fn payloads() -> Vec<(String, Value)> {
    let dir = Path::new(FIXTURES).join("payload-examples");
    let mut files: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (
                name,
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap(),
            )
        })
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(files.len() >= 20, "payload examples missing from {dir:?}");
    let guild =
        std::fs::read(Path::new(FIXTURES).join("captured/serenity-guild_create_1.json")).unwrap();
    let guild: Value = serde_json::from_slice(&guild).unwrap();
    files.push((
        "captured GUILD_CREATE".to_owned(),
        serde_json::json!({"t": "GUILD_CREATE", "s": 2, "op": 0, "d": guild}),
    ));
    files
}

/// The orders the envelope's keys are written in: Discord's, `d` first, and reversed.
const ORDERS: [[&str; 4]; 3] = [
    ["t", "s", "op", "d"],
    ["d", "t", "s", "op"],
    ["op", "d", "s", "t"],
];

/// The payload's keys in `order` (keys the payload lacks are left out, others follow).
fn ordered<'v>(payload: &'v Value, order: &[&str; 4]) -> Vec<(&'v str, &'v Value)> {
    let object = payload.as_object().expect("payloads are objects");
    let mut pairs: Vec<(&str, &Value)> = order
        .iter()
        .filter_map(|key| object.get_key_value(*key))
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    pairs.extend(
        object
            .iter()
            .filter(|(k, _)| !order.contains(&k.as_str()))
            .map(|(k, v)| (k.as_str(), v)),
    );
    pairs
}

fn json_message(pairs: &[(&str, &Value)]) -> Vec<u8> {
    let members: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}:{}", serde_json::to_string(k).unwrap(), v))
        .collect();
    format!("{{{}}}", members.join(",")).into_bytes()
}

/// The ETF Discord sends: atom keys, `nil`/`true`/`false` atoms, strings as binaries.
fn to_etf(value: &Value) -> Term {
    match value {
        Value::Null => Atom::from("nil").into(),
        Value::Bool(b) => Atom::from(if *b { "true" } else { "false" }).into(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(v), _) => match i32::try_from(v) {
                Ok(small) => FixInteger::from(small).into(),
                Err(_) => BigInteger::from(v).into(),
            },
            (None, Some(v)) => BigInteger::from(v).into(),
            _ => Float::try_from(n.as_f64().unwrap()).unwrap().into(),
        },
        Value::String(s) => Binary::from(s.as_bytes()).into(),
        Value::Array(items) => List::from(items.iter().map(to_etf).collect::<Vec<_>>()).into(),
        Value::Object(map) => Map::from(
            map.iter()
                .map(|(k, v)| (Term::from(Atom::from(k.as_str())), to_etf(v)))
                .collect::<std::collections::HashMap<_, _>>(),
        )
        .into(),
    }
}

/// A bare term as eetf writes it (without its version byte).
fn bare(term: &Term) -> Vec<u8> {
    let mut bytes = Vec::new();
    term.encode(&mut bytes).unwrap();
    assert_eq!(bytes[0], 131);
    bytes.remove(0);
    bytes
}

/// The envelope map in the given key order (eetf's own maps have no order of ours to choose),
/// every key and value written by eetf.
fn etf_message(pairs: &[(&str, &Value)]) -> Vec<u8> {
    let mut message = vec![131, 116];
    message.extend_from_slice(&u32::try_from(pairs.len()).unwrap().to_be_bytes());
    for (key, value) in pairs {
        message.extend(bare(&Atom::from(*key).into()));
        message.extend(bare(&to_etf(value)));
    }
    message
}

/// `op`, `s` and `t` (unescaped) as a comparable triple.
type Triple = (u8, Option<u64>, Option<String>);

fn unescaped(name: &discord_gateway::codec::EventName<'_>) -> String {
    let mut text = heapless::String::<256>::new();
    name.unescape_into(&mut text).unwrap();
    text.as_str().to_owned()
}

fn whole(encoding: Encoding, message: &[u8]) -> Triple {
    let envelope = Envelope::decode_as(encoding, message, |_| true).unwrap();
    (
        envelope.op().to_u8(),
        envelope.seq(),
        envelope.name().map(unescaped),
    )
}

/// Every cut in `cuts` agrees with the whole message; returns how many cuts knew the head.
fn check_cuts(
    label: &str,
    encoding: Encoding,
    message: &[u8],
    cuts: impl Iterator<Item = usize>,
) -> usize {
    let expected = whole(encoding, message);
    let mut known_from = None;
    let mut known = 0;
    for cut in cuts {
        match read_head(encoding, &message[..cut]) {
            Ok(PrefixHead::Known(head)) => {
                let got = (head.op().to_u8(), head.seq(), head.name().map(unescaped));
                assert_eq!(got, expected, "{label}, {encoding:?}, cut at {cut}");
                known_from.get_or_insert(cut);
                known += 1;
            }
            Ok(other) => assert!(
                known_from.is_none(),
                "{label}, {encoding:?}: known at {known_from:?}, then {other:?} at {cut}"
            ),
            Err(error) => panic!("{label}, {encoding:?}, cut at {cut}: {error}"),
        }
    }
    known
}

#[test]
fn every_cut_of_every_payload_agrees_with_the_whole_message_in_both_encodings() {
    for (name, payload) in payloads() {
        for order in &ORDERS {
            let pairs = ordered(&payload, order);
            for encoding in [Encoding::Json, Encoding::Etf] {
                let message = match encoding {
                    Encoding::Json => json_message(&pairs),
                    Encoding::Etf => etf_message(&pairs),
                };
                let label = format!("{name} in order {order:?}");
                let len = message.len();
                // Each cut past `d` walks it all, so a long message is cut everywhere in its
                // first 2 KiB (where the head is) and its last 64 bytes (where `d` closes), and
                // at points spread over the rest (256, or 16 in the 2.8 MB capture): every cut
                // of the capture would take hours, and every cut of each fixture made this test
                // the slowest in CI.
                let cuts: Box<dyn Iterator<Item = usize>> = if len > 4096 {
                    let points = if len > 100_000 { 16 } else { 256 };
                    let middle = (2048..len - 64).step_by((len - 2112) / points + 1);
                    Box::new((0..2048).chain(middle).chain(len - 64..len))
                } else {
                    Box::new(0..len)
                };
                check_cuts(&label, encoding, &message, cuts);
                // The whole message always tells.
                assert_eq!(
                    check_cuts(&label, encoding, &message, [len].into_iter()),
                    1,
                    "{label}, {encoding:?}: the whole message did not settle the head"
                );
            }
        }
    }
}

#[test]
fn discords_order_tells_from_the_first_bytes_and_data_first_does_not() {
    let payload = payloads()
        .into_iter()
        .find(|(name, _)| name == "captured GUILD_CREATE")
        .unwrap()
        .1;
    for encoding in [Encoding::Json, Encoding::Etf] {
        let message = |order| match encoding {
            Encoding::Json => json_message(&ordered(&payload, order)),
            Encoding::Etf => etf_message(&ordered(&payload, order)),
        };
        let discord = message(&ORDERS[0]);
        let Ok(PrefixHead::Known(head)) = read_head(encoding, &discord[..64]) else {
            panic!("{encoding:?}: not known from 64 bytes");
        };
        assert_eq!(head.seq(), Some(2));
        assert_eq!(head.name().unwrap().raw(), "GUILD_CREATE");
        assert_eq!(
            head.event_type(),
            Some(discord_gateway::EventType::GuildCreate)
        );
        let data_first = message(&ORDERS[1]);
        assert_eq!(
            read_head(encoding, &data_first[..4096]),
            Ok(PrefixHead::BehindData),
            "{encoding:?}"
        );
        // Cut before the data starts, it only needs more.
        assert_eq!(
            read_head(encoding, &data_first[..3]),
            Ok(PrefixHead::NeedMore),
            "{encoding:?}"
        );
    }
}

#[test]
fn a_number_cut_at_the_end_of_the_prefix_is_never_taken() {
    let message = br#"{"t":"MESSAGE_CREATE","s":1234,"op":0,"d":{}}"#;
    // `"s":12` may be 12 or 1234; `"op":0` may not be followed by `,` yet either.
    for cut in [28, 30, 36, 37] {
        assert_eq!(
            read_head(Encoding::Json, &message[..cut]),
            Ok(PrefixHead::NeedMore),
            "{:?}",
            std::str::from_utf8(&message[..cut])
        );
    }
    assert!(matches!(
        read_head(Encoding::Json, &message[..38]),
        Ok(PrefixHead::Known(head)) if head.seq() == Some(1234)
    ));
}

/// Found by the `prefix_head` fuzz target once it checked that final answers stay final: `920`
/// was refused as an opcode out of range, `920E` then needed more, `920E-71"` was refused again.
/// A number is judged only once a byte follows it, so an answer never flips between an error and
/// "need more" (the embedded receiver takes an error from a short prefix as final).
#[test]
fn a_number_out_of_range_cut_at_the_end_is_judged_only_once_it_is_whole() {
    let message = br#"{"t":null,"s":null,"op":920E-71"d":oul}"#;
    for cut in 25..=31 {
        assert_eq!(
            read_head(Encoding::Json, &message[..cut]),
            Ok(PrefixHead::NeedMore),
            "{:?}",
            std::str::from_utf8(&message[..cut])
        );
    }
    for cut in 32..=message.len() {
        assert!(read_head(Encoding::Json, &message[..cut]).is_err(), "{cut}");
    }
    let seq = br#"{"t":null,"op":0,"s":18446744073709551616,"d":null}"#;
    let whole = seq.len();
    assert_eq!(
        read_head(Encoding::Json, &seq[..whole - 10]),
        Ok(PrefixHead::NeedMore),
        "past u64, cut"
    );
    assert!(read_head(Encoding::Json, &seq[..whole - 9]).is_err());
}

#[test]
fn a_whole_object_without_s_or_t_has_them_null_and_one_without_op_is_refused() {
    for (encoding, message) in [
        (Encoding::Json, br#"{"op":11}"#.to_vec()),
        (
            Encoding::Etf,
            etf_message(&[("op", &serde_json::json!(11))]),
        ),
    ] {
        let Ok(PrefixHead::Known(head)) = read_head(encoding, &message) else {
            panic!("{encoding:?}");
        };
        assert_eq!(
            (head.op().to_u8(), head.seq(), head.name()),
            (11, None, None)
        );
        // Without its last byte the object is not whole: `s` and `t` may still come.
        assert_eq!(
            read_head(encoding, &message[..message.len() - 1]),
            Ok(PrefixHead::NeedMore)
        );
    }
    assert_eq!(
        read_head(Encoding::Json, br#"{"s":1,"t":null}"#),
        Err(DecodeError::MissingField { field: "op" })
    );
}

#[test]
fn bytes_no_continuation_can_mend_are_typed_errors() {
    let json: [(&[u8], DecodeError); 5] = [
        (b"[", DecodeError::NotAnObject),
        (
            br#"{"op":"0""#,
            DecodeError::WrongType {
                field: "op",
                expected: "an integer from 0 to 255",
            },
        ),
        (
            br#"{"op":300,"#,
            DecodeError::WrongType {
                field: "op",
                expected: "an integer from 0 to 255",
            },
        ),
        (
            br#"{"t":1"#,
            DecodeError::WrongType {
                field: "t",
                expected: "a string or null",
            },
        ),
        (
            br#"{"s":1,"s":"#,
            DecodeError::DuplicateField { field: "s" },
        ),
    ];
    for (prefix, error) in json {
        assert_eq!(read_head(Encoding::Json, prefix), Err(error));
    }
    assert!(matches!(
        read_head(Encoding::Json, br#"{"s":1 x"#),
        Err(DecodeError::UnexpectedByte { .. })
    ));
    assert!(matches!(
        read_head(Encoding::Etf, &[130, 116]),
        Err(DecodeError::Etf(_))
    ));
    assert_eq!(
        read_head(Encoding::Etf, &[131, 106]),
        Err(DecodeError::NotAnObject)
    );
    assert_eq!(read_head(Encoding::Etf, &[]), Ok(PrefixHead::NeedMore));
    assert_eq!(read_head(Encoding::Json, b"  "), Ok(PrefixHead::NeedMore));
}
