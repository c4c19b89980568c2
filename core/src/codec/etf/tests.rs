//! ETF against an independent implementation (`eetf`), against the JSON forms of the same
//! payloads, and against hostile bytes.

extern crate std;

use std::boxed::Box;
use std::collections::HashMap;
use std::format;
use std::string::String;
use std::vec;
use std::vec::Vec;

use eetf::{Atom as EAtom, BigInteger, Binary, FixInteger, Float, List, Map, Term as ETerm, Tuple};
use serde_json::Value;

use super::{from_message, from_term, to_slice, EtfError, Reader, Term, MAX_DEPTH};
use crate::codec::{DecodeError, Envelope};
use crate::protocol::Snowflake;

// ---- a comparable tree, built by both readers --------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tree {
    Int(i128),
    Float(u64),
    Atom(String),
    Bin(Vec<u8>),
    List(Vec<Tree>, Box<Tree>),
    Nil,
    Tuple(Vec<Tree>),
    /// Pairs sorted by their debug text: map order is not part of the value.
    Map(Vec<(Tree, Tree)>),
}

fn sorted(mut pairs: Vec<(Tree, Tree)>) -> Tree {
    pairs.sort_by_key(|pair| format!("{pair:?}"));
    Tree::Map(pairs)
}

fn ours(reader: &mut Reader<'_>) -> Result<Tree, EtfError> {
    Ok(match reader.next()? {
        Term::Integer(value) => Tree::Int(value),
        Term::Float(value) => Tree::Float(value.to_bits()),
        Term::Atom(atom) => Tree::Atom(atom.chars().collect()),
        Term::Binary(bytes) => Tree::Bin(bytes.to_vec()),
        Term::ByteList(bytes) => Tree::List(
            bytes.iter().map(|&b| Tree::Int(b.into())).collect(),
            Box::new(Tree::Nil),
        ),
        Term::Nil => Tree::Nil,
        Term::List(len) => {
            let elements = (0..len).map(|_| ours(reader)).collect::<Result<_, _>>()?;
            Tree::List(elements, Box::new(ours(reader)?))
        }
        Term::Tuple(arity) => {
            Tree::Tuple((0..arity).map(|_| ours(reader)).collect::<Result<_, _>>()?)
        }
        Term::Map(arity) => sorted(
            (0..arity)
                .map(|_| Ok((ours(reader)?, ours(reader)?)))
                .collect::<Result<_, EtfError>>()?,
        ),
    })
}

fn theirs(term: &ETerm) -> Tree {
    match term {
        ETerm::Atom(atom) => Tree::Atom(atom.name.clone()),
        ETerm::FixInteger(int) => Tree::Int(int.value.into()),
        ETerm::BigInteger(big) => Tree::Int(i128::try_from(&big.value).expect("test bigs fit")),
        ETerm::Float(float) => Tree::Float(float.value.to_bits()),
        ETerm::Binary(binary) => Tree::Bin(binary.bytes.clone()),
        ETerm::ByteList(list) => Tree::List(
            list.bytes.iter().map(|&b| Tree::Int(b.into())).collect(),
            Box::new(Tree::Nil),
        ),
        ETerm::List(list) if list.elements.is_empty() => Tree::Nil,
        ETerm::List(list) => {
            // eetf writes a list of small integers as STRING_EXT, which reads back the same.
            Tree::List(
                list.elements.iter().map(theirs).collect(),
                Box::new(Tree::Nil),
            )
        }
        ETerm::ImproperList(list) => Tree::List(
            list.elements.iter().map(theirs).collect(),
            Box::new(theirs(&list.last)),
        ),
        ETerm::Tuple(tuple) => Tree::Tuple(tuple.elements.iter().map(theirs).collect()),
        ETerm::Map(map) => sorted(
            map.map
                .iter()
                .map(|(k, v)| (theirs(k), theirs(v)))
                .collect(),
        ),
        other => panic!("the generator makes no {other:?}"),
    }
}

fn encode(term: &ETerm) -> Vec<u8> {
    let mut bytes = Vec::new();
    term.encode(&mut bytes).expect("eetf encodes");
    bytes
}

// ---- a small deterministic generator of terms --------------------------------------------

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn text(&mut self) -> String {
        const PIECES: [&str; 8] = ["a", "Z", "_", "0", "é", "日本", "🦀", " "];
        (0..self.below(12))
            .map(|_| PIECES[self.below(8) as usize])
            .collect()
    }

    fn term(&mut self, depth: usize) -> ETerm {
        let leaf = depth >= 6 || self.below(3) == 0;
        match if leaf {
            self.below(7)
        } else {
            7 + self.below(5)
        } {
            0 => ETerm::from(EAtom::from(
                ["nil", "true", "false", "READY", ""][self.below(5) as usize],
            )),
            1 => ETerm::from(EAtom::from(self.text())),
            2 => ETerm::from(FixInteger::from(self.next() as i32 >> self.below(32))),
            3 => {
                let value = self.next() >> self.below(64);
                if self.below(2) == 0 {
                    ETerm::from(BigInteger::from(value))
                } else {
                    ETerm::from(BigInteger::from((value as i64).wrapping_neg()))
                }
            }
            4 => {
                let value = f64::from_bits(self.next());
                ETerm::from(Float::try_from(if value.is_finite() { value } else { 0.5 }).unwrap())
            }
            5 => ETerm::from(Binary::from(self.text().into_bytes())),
            6 => ETerm::from(eetf::ByteList::from(
                (0..self.below(8))
                    .map(|_| self.next() as u8)
                    .collect::<Vec<u8>>(),
            )),
            7 | 8 => {
                let mut elements: Vec<ETerm> =
                    (0..self.below(6)).map(|_| self.term(depth + 1)).collect();
                // eetf 0.12 packs a list of integers below 256 as STRING_EXT without checking
                // for negatives (-5706 goes out as 182): keep such lists out of its way.
                let small = |e: &ETerm| matches!(e, ETerm::FixInteger(i) if i.value < 0x100);
                let negative = |e: &ETerm| matches!(e, ETerm::FixInteger(i) if i.value < 0);
                if elements.iter().all(small) && elements.iter().any(negative) {
                    elements.push(EAtom::from("pad").into());
                }
                ETerm::from(List::from(elements))
            }
            9 => ETerm::from(eetf::ImproperList::from((
                (0..1 + self.below(4))
                    .map(|_| self.term(depth + 1))
                    .collect::<Vec<_>>(),
                self.term(depth + 1),
            ))),
            10 => ETerm::from(Tuple::from(
                (0..self.below(6))
                    .map(|_| self.term(depth + 1))
                    .collect::<Vec<_>>(),
            )),
            _ => {
                let map: HashMap<ETerm, ETerm> = (0..self.below(6))
                    .map(|_| (self.term(depth + 1), self.term(depth + 1)))
                    .collect();
                ETerm::from(Map::from(map))
            }
        }
    }
}

#[test]
fn terms_encoded_by_eetf_read_back_equal() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for case in 0..3000 {
        let term = rng.term(0);
        let bytes = encode(&term);
        let mut reader = Reader::message(&bytes).unwrap();
        let tree = ours(&mut reader).unwrap_or_else(|e| panic!("case {case}: {e} for {term}"));
        reader.finish().unwrap();
        assert_eq!(tree, theirs(&term), "case {case}: {term}");

        // The iterative skip delimits exactly the same term.
        let mut skipper = Reader::message(&bytes).unwrap();
        assert_eq!(skipper.skip(0).unwrap(), 1..bytes.len(), "case {case}");
    }
}

#[test]
fn every_truncation_is_an_error_and_never_a_panic() {
    let mut rng = Rng(7);
    for _ in 0..40 {
        let bytes = encode(&rng.term(0));
        for end in 1..bytes.len() {
            let prefix = &bytes[..end];
            let read = Reader::message(prefix).and_then(|mut r| {
                ours(&mut r)?;
                r.finish()
            });
            assert!(read.is_err(), "{prefix:?}");
            assert!(Reader::message(prefix).unwrap().skip(0).is_err());
            assert!(from_message::<Value>(prefix).is_err());
        }
    }
}

#[test]
fn bounds_are_typed_errors() {
    // A list nested past the bound, built by hand (no recursion on the way in or out).
    let mut deep = vec![131];
    for _ in 0..=MAX_DEPTH {
        deep.extend_from_slice(&[108, 0, 0, 0, 1]);
    }
    deep.push(106);
    deep.extend(core::iter::repeat_n(106, MAX_DEPTH + 1));
    let limit = EtfError::TooDeep { limit: MAX_DEPTH };
    assert_eq!(Reader::message(&deep).unwrap().skip(0), Err(limit));
    assert_eq!(from_message::<Value>(&deep), Err(limit.into()));

    // Counts that claim more than the bytes left are refused before anything is read.
    for head in [
        &[131, 108, 255, 255, 255, 255][..],
        &[131, 116, 0, 0, 0, 9, 106],
        &[131, 105, 255, 255, 255, 255],
        &[131, 109, 255, 255, 255, 255, 1],
        &[131, 107, 0, 5, 1],
    ] {
        assert!(
            matches!(
                Reader::message(head).unwrap().next(),
                Err(EtfError::UnexpectedEnd { .. })
            ),
            "{head:?}"
        );
    }

    // Snowflakes fit in 64 bits; a 65-bit integer is its own error, not a wrapped value.
    let max = encode(&ETerm::from(BigInteger::from(u64::MAX)));
    assert_eq!(from_message::<u64>(&max), Ok(u64::MAX));
    let big = [131, 110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    assert_eq!(
        Reader::message(&big).unwrap().next(),
        Err(EtfError::IntegerTooLarge { offset: 1 })
    );
    assert_eq!(
        Reader::message(&[130, 106]).err(),
        Some(EtfError::BadVersion { found: 130 })
    );
    assert_eq!(
        Reader::message(&[131, 88]).unwrap().next(),
        Err(EtfError::UnknownTag { tag: 88, offset: 1 })
    );
    assert_eq!(
        from_message::<Value>(&[131, 106, 106]),
        Err(EtfError::TrailingBytes { offset: 2 }.into())
    );
    // An improper list is not a sequence.
    let improper = encode(&ETerm::from(eetf::ImproperList::from((
        vec![ETerm::from(FixInteger::from(1))],
        ETerm::from(FixInteger::from(2)),
    ))));
    assert!(matches!(
        from_message::<Vec<u8>>(&improper),
        Err(super::Error::Etf(EtfError::ImproperList { .. }))
    ));
}

#[test]
fn garbage_never_panics() {
    let mut rng = Rng(99);
    for _ in 0..20_000 {
        let len = rng.below(40) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if let Some(first) = bytes.first_mut() {
            *first = 131;
        }
        let _ = from_message::<Value>(&bytes);
        let _ = Envelope::decode_etf(&bytes);
        if let Ok(mut reader) = Reader::message(&bytes) {
            let _ = reader.skip(0);
        }
    }
}

// ---- the same payloads in JSON and ETF -------------------------------------------------

/// How a JSON payload is carried in ETF.
#[derive(Clone, Copy)]
enum Snowflakes {
    /// As binaries, exactly as the JSON strings (erlpack's choice for strings).
    Binaries,
    /// As integers, which Discord documents it may also send.
    Integers,
}

/// The ETF Discord would send for a JSON value: atom keys, `nil`/`true`/`false` atoms, strings
/// as binaries, integers in the smallest tag.
fn to_etf(value: &Value, snowflakes: Snowflakes) -> ETerm {
    match value {
        Value::Null => EAtom::from("nil").into(),
        Value::Bool(b) => EAtom::from(if *b { "true" } else { "false" }).into(),
        Value::Number(n) => {
            if let Some(v) = n.as_i64() {
                match i32::try_from(v) {
                    Ok(small) => FixInteger::from(small).into(),
                    Err(_) => BigInteger::from(v).into(),
                }
            } else if let Some(v) = n.as_u64() {
                BigInteger::from(v).into()
            } else {
                Float::try_from(n.as_f64().unwrap()).unwrap().into()
            }
        }
        Value::String(s) => match (snowflakes, s.parse::<u64>()) {
            (Snowflakes::Integers, Ok(id)) if s.len() >= 17 => BigInteger::from(id).into(),
            _ => Binary::from(s.as_bytes()).into(),
        },
        Value::Array(items) => List::from(
            items
                .iter()
                .map(|v| to_etf(v, snowflakes))
                .collect::<Vec<_>>(),
        )
        .into(),
        Value::Object(map) => Map::from(
            map.iter()
                .map(|(k, v)| (ETerm::from(EAtom::from(k.as_str())), to_etf(v, snowflakes)))
                .collect::<HashMap<_, _>>(),
        )
        .into(),
    }
}

const PAYLOADS: [&str; 16] = [
    include_str!("../../../../fixtures/payload-examples/guild_create.json"),
    include_str!("../../../../fixtures/payload-examples/guild_delete_unavailable.json"),
    include_str!("../../../../fixtures/payload-examples/guild_members_chunk.json"),
    include_str!("../../../../fixtures/payload-examples/heartbeat_ack.json"),
    include_str!("../../../../fixtures/payload-examples/hello.json"),
    include_str!("../../../../fixtures/payload-examples/interaction_create.json"),
    include_str!("../../../../fixtures/payload-examples/invalid_session_resumable.json"),
    include_str!("../../../../fixtures/payload-examples/message_create.json"),
    include_str!("../../../../fixtures/payload-examples/message_create_unicode_escapes.json"),
    include_str!("../../../../fixtures/payload-examples/presence_update.json"),
    include_str!("../../../../fixtures/payload-examples/ready.json"),
    include_str!("../../../../fixtures/payload-examples/reconnect.json"),
    include_str!("../../../../fixtures/payload-examples/resumed.json"),
    include_str!("../../../../fixtures/payload-examples/typing_start.json"),
    include_str!("../../../../fixtures/payload-examples/voice_state_update.json"),
    include_str!("../../../../fixtures/payload-examples/send_identify.json"),
];

/// A dispatch as an application might model it: ids both as `Snowflake` and as `String`.
#[derive(Debug, PartialEq, serde::Deserialize)]
struct Guild {
    id: Snowflake,
    name: String,
    owner_id: String,
    roles: Vec<Role>,
    channels: Option<Vec<Channel>>,
    unavailable: Option<bool>,
    system_channel_id: Option<Snowflake>,
    member_count: Option<u64>,
}

#[derive(Debug, PartialEq, serde::Deserialize)]
struct Role {
    id: String,
    name: String,
    color: u32,
    position: i64,
    hoist: bool,
}

#[derive(Debug, PartialEq, serde::Deserialize)]
struct Channel {
    id: Snowflake,
    #[serde(rename = "type")]
    kind: u8,
    name: Option<String>,
    parent_id: Option<String>,
}

#[test]
fn payloads_decode_to_the_values_of_their_json() {
    for json in PAYLOADS {
        let value: Value = serde_json::from_str(json).unwrap();
        let json_envelope = Envelope::decode(json.as_bytes()).unwrap();
        let etf = encode(&to_etf(&value, Snowflakes::Binaries));
        let envelope = Envelope::decode_etf(&etf).unwrap();
        assert_eq!(envelope.op(), json_envelope.op());
        assert_eq!(envelope.seq(), json_envelope.seq());
        assert_eq!(
            envelope.name().map(|n| n.raw()),
            json_envelope.name().map(|n| n.raw())
        );
        assert_eq!(envelope.event_type(), json_envelope.event_type());
        assert_eq!(envelope.data_is_null(), json_envelope.data_is_null());
        match (envelope.data(), json_envelope.data()) {
            (Some(etf), Some(json)) => assert_eq!(
                from_term::<Value>(etf).unwrap(),
                serde_json::from_slice::<Value>(json).unwrap()
            ),
            (None, None) => {}
            other => panic!("d differs: {other:?}"),
        }
        // The whole message reads back as the same value too.
        assert_eq!(from_message::<Value>(&etf).unwrap(), value);
    }
}

#[test]
fn the_captured_guild_create_deserializes_into_equal_types() {
    let json = include_str!("../../../../fixtures/captured/serenity-guild_create_1.json");
    let value: Value = serde_json::from_str(json).unwrap();
    let expected: Guild = serde_json::from_str(json).unwrap();
    assert!(expected.roles.len() > 10);
    for snowflakes in [Snowflakes::Binaries, Snowflakes::Integers] {
        let etf = encode(&to_etf(&value, snowflakes));
        assert_eq!(from_message::<Guild>(&etf).unwrap(), expected);
    }
    let etf = encode(&to_etf(&value, Snowflakes::Binaries));
    assert_eq!(from_message::<Value>(&etf).unwrap(), value);
}

#[test]
fn snowflakes_as_integers_or_binaries_fill_string_and_integer_fields() {
    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Ids {
        text: String,
        number: u64,
        flake: Snowflake,
        maybe: Option<u64>,
    }
    let id = 1_085_987_654_321_012_345_u64;
    let expected = Ids {
        text: format!("{id}"),
        number: id,
        flake: Snowflake(id),
        maybe: Some(id),
    };
    let as_int = ETerm::from(BigInteger::from(id));
    let as_bin = ETerm::from(Binary::from(format!("{id}").into_bytes()));
    for (text, number) in [
        (&as_int, &as_bin),
        (&as_bin, &as_int),
        (&as_int, &as_int),
        (&as_bin, &as_bin),
    ] {
        let map = Map::from(
            [
                ("text", text.clone()),
                ("number", number.clone()),
                ("flake", number.clone()),
                ("maybe", text.clone()),
            ]
            .into_iter()
            .map(|(k, v)| (ETerm::from(Binary::from(k.as_bytes())), v))
            .collect::<HashMap<_, _>>(),
        );
        assert_eq!(from_message::<Ids>(&encode(&map.into())).unwrap(), expected);
    }
    // nil, true and false are null and booleans; other atoms are strings.
    let list = List::from(vec![
        ETerm::from(EAtom::from("nil")),
        EAtom::from("true").into(),
        EAtom::from("false").into(),
        EAtom::from("online").into(),
    ]);
    assert_eq!(
        from_message::<Value>(&encode(&list.into())).unwrap(),
        serde_json::json!([null, true, false, "online"])
    );
    // A binary that is not UTF-8 is refused as a string, with its offset.
    let bad = encode(&Binary::from(&[0xFF, 0xFE][..]).into());
    assert_eq!(
        from_message::<String>(&bad),
        Err(EtfError::InvalidUtf8 { offset: 1 }.into())
    );
}

// ---- the encoder ------------------------------------------------------------------------

/// What eetf reads from our bytes, as JSON (keys must be binaries, as Discord requires).
fn eetf_to_json(term: &ETerm) -> Value {
    match term {
        ETerm::Atom(atom) => match atom.name.as_str() {
            "nil" => Value::Null,
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            other => panic!("unexpected atom {other}"),
        },
        ETerm::FixInteger(int) => int.value.into(),
        ETerm::BigInteger(big) => {
            let value = i128::try_from(&big.value).expect("64-bit");
            match u64::try_from(value) {
                Ok(positive) => positive.into(),
                Err(_) => i64::try_from(value).expect("64-bit").into(),
            }
        }
        ETerm::Float(float) => float.value.into(),
        ETerm::Binary(binary) => Value::String(String::from_utf8(binary.bytes.clone()).unwrap()),
        ETerm::ByteList(list) => list.bytes.iter().map(|&b| Value::from(b)).collect(),
        ETerm::List(list) => list.elements.iter().map(eetf_to_json).collect(),
        ETerm::Map(map) => map
            .map
            .iter()
            .map(|(k, v)| {
                let ETerm::Binary(key) = k else {
                    panic!("map key {k} is not a binary")
                };
                (
                    String::from_utf8(key.bytes.clone()).unwrap(),
                    eetf_to_json(v),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into(),
        other => panic!("the encoder wrote {other}"),
    }
}

#[test]
fn values_encoded_by_us_read_back_in_eetf_with_binary_keys() {
    let value = serde_json::json!({
        "a": [1, 300, -5, 70000, 5_000_000_000_u64, 18_446_744_073_709_551_615_u64, 1.5],
        "b": {"nested": [null, true, false, "text é 🦀", []]},
        "c": "",
    });
    let mut buf = [0u8; 512];
    let len = to_slice(&value, &mut buf).unwrap();
    let term = ETerm::decode(&buf[..len]).unwrap();
    assert_eq!(eetf_to_json(&term), value);
    assert_eq!(from_message::<Value>(&buf[..len]).unwrap(), value);
    assert_eq!(
        to_slice(&value, &mut buf[..len - 1]),
        Err(super::SerError::Full)
    );
}

#[test]
fn commands_in_etf_carry_what_their_json_carries() {
    use crate::command::{
        encode_etf_into, encode_into, Activity, ActivityType, ChannelInfoField,
        ConnectionProperties, Heartbeat, Identify, MemberSelector, RawCommand, RequestChannelInfo,
        RequestGuildMembers, RequestSoundboardSounds, Resume, Status, UpdatePresence,
        UpdateVoiceState, MAX_PAYLOAD_LEN,
    };
    use crate::command::{Encode, EncodeError};
    use crate::protocol::{Intents, OpCode, ShardId};
    use crate::token::Token;

    fn same(command: &impl Encode) {
        let mut json = [0u8; MAX_PAYLOAD_LEN];
        let json_len = encode_into(command, &mut json).unwrap();
        let mut etf = [0u8; MAX_PAYLOAD_LEN];
        let etf_len = encode_etf_into(command, &mut etf).unwrap();
        let expected: Value = serde_json::from_slice(&json[..json_len]).unwrap();
        let term = ETerm::decode(&etf[..etf_len]).unwrap();
        assert_eq!(eetf_to_json(&term), expected);
        // And the session's own envelope scan reads it.
        let envelope = Envelope::decode_etf(&etf[..etf_len]).unwrap();
        assert_eq!(
            u64::from(envelope.op().to_u8()),
            expected["op"].as_u64().unwrap()
        );
    }

    let token = Token::new("Bot abc.def.ghi").unwrap();
    let activities = [Activity::new(ActivityType::Custom, "x").with_state("é 🦀")];
    let presence = UpdatePresence::new(Status::DoNotDisturb, &activities);
    let mut identify = Identify::new(
        &token,
        Intents::GUILDS | Intents::MESSAGE_CONTENT,
        ConnectionProperties::new("linux", "lib", "lib"),
    );
    identify.shard = Some(ShardId::new(3, 16).unwrap());
    identify.large_threshold = Some(250);
    identify.presence = Some(presence);
    same(&identify);
    same(&Resume {
        token: &token,
        session_id: "abc",
        seq: 5_000_000_000,
    });
    same(&Heartbeat { seq: None });
    same(&Heartbeat { seq: Some(251) });
    same(&presence);
    let ids = [Snowflake(1), Snowflake(u64::MAX)];
    same(&RequestGuildMembers::new(
        Snowflake(81_384_788_765_712_384),
        MemberSelector::UserIds(&ids),
    ));
    same(&RequestGuildMembers::new(
        Snowflake(1),
        MemberSelector::Query {
            prefix: "",
            limit: 0,
        },
    ));
    same(&UpdateVoiceState {
        guild_id: Snowflake(41_771_983_423_143_937),
        channel_id: None,
        self_mute: false,
        self_deaf: true,
    });
    same(&UpdateVoiceState::join(Snowflake(1), Snowflake(127)));
    same(&RequestSoundboardSounds { guild_ids: &ids });
    same(&RequestChannelInfo {
        guild_id: Snowflake(9),
        fields: &[ChannelInfoField::Status, ChannelInfoField::VoiceStartTime],
    });

    // Raw commands carry JSON text, transcoded term by term (escapes resolved, numbers in the
    // tag that holds them).
    same(&RawCommand::new(
        OpCode::PresenceUpdate,
        br#" {"since":null,"activities":[{"name":"x \u00e9\n\"","type":0}],"status":"online",
            "afk":false,"n":[1,-2,1.5,1e3,18446744073709551615,-9007199254740993],"e":{},"l":[]} "#,
    ));
    same(&RawCommand::new(OpCode::Heartbeat, b"null"));
    // Still refused when it is not JSON, before anything is written.
    let raw = RawCommand::new(OpCode::PresenceUpdate, b"{");
    assert!(matches!(
        encode_etf_into(&raw, &mut [0u8; 64]),
        Err(EncodeError::InvalidField { field: "d", .. })
    ));
    // The size limit holds in ETF too.
    let long = "n".repeat(MAX_PAYLOAD_LEN);
    let activities = [Activity::new(ActivityType::Playing, &long)];
    assert_eq!(
        encode_etf_into(
            &UpdatePresence::new(Status::Online, &activities),
            &mut [0u8; 8192]
        ),
        Err(EncodeError::TooLarge {
            limit: MAX_PAYLOAD_LEN
        })
    );
    let mut small = [0u8; 4];
    assert!(matches!(
        encode_etf_into(&Heartbeat { seq: Some(1) }, &mut small),
        Err(EncodeError::BufferTooSmall { .. })
    ));
}

#[test]
fn a_wrong_envelope_is_a_typed_error() {
    let list = encode(&List::from(vec![ETerm::from(FixInteger::from(1))]).into());
    assert_eq!(Envelope::decode_etf(&list), Err(DecodeError::NotAnObject));
    let op = |term: ETerm| {
        encode(
            &Map::from(
                [(ETerm::from(EAtom::from("op")), term)]
                    .into_iter()
                    .collect::<HashMap<_, _>>(),
            )
            .into(),
        )
    };
    assert!(matches!(
        Envelope::decode_etf(&op(Binary::from(&b"1"[..]).into())),
        Err(DecodeError::WrongType { field: "op", .. })
    ));
    assert!(matches!(
        Envelope::decode_etf(&op(FixInteger::from(300).into())),
        Err(DecodeError::WrongType { field: "op", .. })
    ));
    assert_eq!(
        Envelope::decode_etf(&[131, 116, 0, 0, 0, 0]),
        Err(DecodeError::MissingField { field: "op" })
    );
}

#[cfg(feature = "alloc")]
#[test]
fn the_json_view_of_canonical_json_is_that_json() {
    use super::{term_to_slice, to_json};
    let guild = include_str!("../../../../fixtures/captured/serenity-guild_create_1.json");
    for json in PAYLOADS.into_iter().chain([guild]) {
        let value: Value = serde_json::from_str(json).unwrap();
        let canonical = serde_json::to_string(&value).unwrap();
        // Our encoder keeps the value's key order, so the view can be compared byte for byte.
        let mut buf = vec![0u8; 2 * json.len()];
        let len = term_to_slice(&value, &mut buf).unwrap();
        let mut text = String::new();
        to_json(&buf[..len], &mut text).unwrap();
        assert_eq!(text, canonical);
        // And whatever the key order, eetf's encoding views as the same value, snowflakes sent
        // as integers included (they view as the strings JSON has).
        for snowflakes in [Snowflakes::Binaries, Snowflakes::Integers] {
            let etf = encode(&to_etf(&value, snowflakes));
            text.clear();
            to_json(&etf[1..], &mut text).unwrap();
            assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), value);
        }
    }
    // The documented choices for what JSON cannot say.
    let mut text = String::new();
    let terms = ETerm::from(Tuple::from(vec![
        ETerm::from(BigInteger::from(1_085_987_654_321_012_345_u64)),
        EAtom::from("online").into(),
        Binary::from(&[0xFF][..]).into(),
        eetf::ByteList::from(vec![1u8, 2]).into(),
        Float::try_from(2.0).unwrap().into(),
        Map::from(
            [(
                ETerm::from(FixInteger::from(7)),
                ETerm::from(EAtom::from("nil")),
            )]
            .into_iter()
            .collect::<HashMap<_, _>>(),
        )
        .into(),
        eetf::ImproperList::from((
            vec![ETerm::from(FixInteger::from(1))],
            ETerm::from(FixInteger::from(2)),
        ))
        .into(),
    ]));
    to_json(&encode(&terms)[1..], &mut text).unwrap();
    assert_eq!(
        text,
        "[\"1085987654321012345\",\"online\",\"\u{fffd}\",[1,2],2.0,{\"7\":null},[1,2]]"
    );
    assert!(to_json(&[106, 106], &mut text).is_err());

    // Integers are numbers below 2^53 either way, and strings from 2^53 on, where a reader that
    // holds numbers as doubles would round them.
    let limit = i64::try_from(super::SAFE_INTEGER_LIMIT).unwrap();
    let terms = ETerm::from(List::from(
        [limit - 1, limit, -(limit - 1), -limit, 0]
            .into_iter()
            .map(|n| ETerm::from(BigInteger::from(n)))
            .collect::<Vec<_>>(),
    ));
    text.clear();
    to_json(&encode(&terms)[1..], &mut text).unwrap();
    assert_eq!(
        text,
        "[9007199254740991,\"9007199254740992\",-9007199254740991,\"-9007199254740992\",0]"
    );
}

#[test]
fn a_session_runs_on_etf_end_to_end() {
    use crate::session::{Event, Message, SendBuffer, Session, Transmit};
    use crate::{Config, Encoding, EventSet, EventType, Instant, Token};
    use core::time::Duration;

    /// A payload as Discord writes it: `t`, `s`, `op`, `d` with atom keys.
    fn payload(op: i32, t: Option<&str>, s: Option<u64>, d: ETerm) -> Vec<u8> {
        let nil = || ETerm::from(EAtom::from("nil"));
        let map: HashMap<ETerm, ETerm> = [
            ("t", t.map_or_else(nil, |t| EAtom::from(t).into())),
            ("s", s.map_or_else(nil, |s| BigInteger::from(s).into())),
            ("op", FixInteger::from(op).into()),
            ("d", d),
        ]
        .into_iter()
        .map(|(k, v)| (ETerm::from(EAtom::from(k)), v))
        .collect();
        encode(&Map::from(map).into())
    }
    fn object(pairs: &[(&str, ETerm)]) -> ETerm {
        Map::from(
            pairs
                .iter()
                .map(|(k, v)| (ETerm::from(EAtom::from(*k)), v.clone()))
                .collect::<HashMap<_, _>>(),
        )
        .into()
    }

    let token = Token::new("Bot abc.def.ghi").unwrap();
    let config = Config::builder(token)
        .events(EventSet::EMPTY.with(EventType::MessageCreate))
        .encoding(Encoding::Etf)
        .build()
        .unwrap();
    let mut session = Session::new(config);
    let mut now = Instant::ZERO;
    let connect = session.poll_connect(now).unwrap();
    assert_eq!(
        format!("{}", connect.url),
        "wss://gateway.discord.gg/?v=10&encoding=etf"
    );
    session.handle_open(now);
    let hello = payload(
        10,
        None,
        None,
        object(&[("heartbeat_interval", FixInteger::from(41250).into())]),
    );
    session
        .handle_message(now, Message::Binary(&hello))
        .unwrap();
    assert_eq!(session.poll_event(), Some(Event::IdentifyPermitNeeded));
    assert!(session.handle_identify_permit(now));

    let mut buf: SendBuffer = [0; crate::MAX_PAYLOAD_LEN];
    let Some(Transmit::Binary(identify)) = session.poll_transmit(now, &mut buf) else {
        panic!("Identify goes out as a binary frame");
    };
    let identify = eetf_to_json(&ETerm::decode(identify).unwrap());
    assert_eq!(identify["op"], 2);
    assert_eq!(identify["d"]["token"], "abc.def.ghi");
    assert_eq!(identify["d"]["shard"], serde_json::json!([0, 1]));

    let ready = payload(
        0,
        Some("READY"),
        Some(1),
        object(&[
            (
                "session_id",
                Binary::from(&b"b8db01e8de815a5c73391a08d7615c77"[..]).into(),
            ),
            (
                "resume_gateway_url",
                Binary::from(&b"wss://gateway-us-east1-b.discord.gg"[..]).into(),
            ),
            ("v", FixInteger::from(10).into()),
        ]),
    );
    assert_eq!(
        session
            .handle_message(now, Message::Binary(&ready))
            .unwrap(),
        None
    );
    assert_eq!(session.poll_event(), Some(Event::Ready));

    // An unwanted dispatch stops early; a wanted one is handed over with its ETF `d`.
    let typing = payload(0, Some("TYPING_START"), Some(2), object(&[]));
    assert_eq!(
        session
            .handle_message(now, Message::Binary(&typing))
            .unwrap(),
        None
    );
    let message = payload(
        0,
        Some("MESSAGE_CREATE"),
        Some(3),
        object(&[
            ("id", BigInteger::from(1_085_987_654_321_012_345_u64).into()),
            ("content", Binary::from("héllo".as_bytes()).into()),
        ]),
    );
    let dispatch = session
        .handle_message(now, Message::Binary(&message))
        .unwrap()
        .expect("MESSAGE_CREATE is wanted");
    assert_eq!(dispatch.encoding(), Encoding::Etf);
    assert_eq!(dispatch.seq(), Some(3));
    #[derive(serde::Deserialize)]
    struct Created<'a> {
        id: String,
        content: &'a str,
    }
    let created: Created<'_> = from_term(dispatch.data()).unwrap();
    assert_eq!(
        (created.id.as_str(), created.content),
        ("1085987654321012345", "héllo")
    );

    // Heartbeats carry the last sequence, in ETF.
    now += Duration::from_secs(60);
    let beat = match session.poll_transmit(now, &mut buf) {
        Some(Transmit::Binary(bytes)) => eetf_to_json(&ETerm::decode(bytes).unwrap()),
        other => panic!("expected a heartbeat, got {other:?}"),
    };
    assert_eq!(beat, serde_json::json!({"op": 1, "d": 3}));

    // Invalid Session's boolean atom is read.
    let invalid = payload(9, None, None, EAtom::from("false").into());
    session
        .handle_message(now, Message::Binary(&invalid))
        .unwrap();
    assert!(matches!(
        session.poll_event(),
        Some(Event::Disconnected { .. })
    ));
}
