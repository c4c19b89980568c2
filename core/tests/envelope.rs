//! Differential tests of the envelope scan ([`Envelope::decode`]) against `serde_json`.
//!
//! The reference reads a message the way an application built on serde would: `serde_json`
//! deserializes it into [`Reference`] (integer `op`, optional `s` and `t`, `d` kept as a borrowed
//! [`RawValue`]), and a [`Value`] parse of the whole message tells `"d": null` from a missing `d`
//! (and applies serde_json's nesting limit, which `RawValue` skipping does not). Whenever the
//! reference accepts a message, the scan must accept it too and agree on `op`, `s`, `t`
//! (unescaped) and the exact byte span of `d`. Inputs are the payload examples of the shared
//! spec, a real 2.8 MB GUILD_CREATE, generated variants of each (key order, whitespace, escapes,
//! unknown keys, every type of `d`, odd `s` and `t`), and a table of broken messages.
//!
//! # Deliberate differences from serde_json
//!
//! "serde_json accepts ⇒ the scan accepts and agrees" has no exceptions. The converse ("the
//! scan accepts ⇒ serde_json accepts") holds for every generated message and fails only for
//! these classes, each pinned by a test below:
//!
//! - **`d` is delimited, not parsed** (`structural_skip_leaves_d_contents_to_the_consumer`). The
//!   scan checks that `d` (and the value of an unknown top-level key) is one value whose strings
//!   end and whose brackets pair up within [`MAX_DEPTH`]; a number or literal `d` is checked
//!   against the grammar too. It does not look inside strings (invalid UTF-8, raw control
//!   characters, bad escapes or lone surrogates) and does not check numbers, literals or
//!   separators inside containers. Whoever deserializes `d` rejects those (serde_json's own
//!   `RawValue` lets lone surrogates through too), and most dispatches are never deserialized
//!   at all, which is the point of the scan.
//! - **Nesting** (`nesting_is_bounded_by_max_depth`). [`MAX_DEPTH`] counts every open array and
//!   object, the envelope included: 128 levels are accepted, 129 are `TooDeep`. serde_json's
//!   `Value` parse stops at 127, while its `RawValue` (and ignored values) have no limit at all,
//!   so a 100,000-level `d` deserializes into [`Reference`]; the scan refuses it.
//! - **Early stop** (`unwanted_dispatch_is_never_read_past_its_header`). `decode_filtered` stops
//!   reading an unwanted dispatch once `op`, `s` and `t` are known, so what follows is not
//!   checked at all.
//!
//! Agreements that are easy to get wrong, asserted as such: duplicate `op`/`s`/`t`/`d` keys are
//! refused (serde derive refuses duplicate fields; duplicate unknown keys are ignored by both);
//! `-0` is refused for `op` and `s` (serde_json reads `-0` as the float `-0.0`, which no integer
//! field accepts); keys and `t` are read strictly (escapes, surrogates, control characters and
//! UTF-8, as serde_json does for every string it deserializes).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::path::Path;
use std::time::{Duration, Instant};

use discord_gateway::codec::{Data, DecodeError, Envelope, EventName, MAX_DEPTH};
use discord_gateway::protocol::EventType;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// The shape an application would deserialize an envelope into.
#[derive(Deserialize)]
struct Reference<'a> {
    op: u8,
    #[serde(default)]
    s: Option<u64>,
    #[serde(default)]
    t: Option<String>,
    #[serde(borrow, default)]
    d: Option<&'a RawValue>,
}

/// Where `d` stands, as both sides can report it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum D {
    Absent,
    Null,
    /// The byte range of a non-null `d` in the message.
    Span(Range<usize>),
}

/// What a decoder saw in one message.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Scan {
    op: u8,
    s: Option<u64>,
    t: Option<String>,
    d: D,
}

/// The reference's reading, or why it refused.
fn reference(msg: &[u8]) -> Result<Scan, String> {
    let parsed: Reference<'_> = serde_json::from_slice(msg).map_err(|e| e.to_string())?;
    let whole: Value = serde_json::from_slice(msg).map_err(|e| e.to_string())?;
    let d = match parsed.d {
        Some(raw) => {
            let start = raw.get().as_ptr().addr() - msg.as_ptr().addr();
            D::Span(start..start + raw.get().len())
        }
        None => match whole.get("d") {
            None => D::Absent,
            Some(Value::Null) => D::Null,
            Some(other) => panic!("RawValue missed a non-null d: {other}"),
        },
    };
    Ok(Scan {
        op: parsed.op,
        s: parsed.s,
        t: parsed.t,
        d,
    })
}

fn unescaped(name: &EventName<'_>) -> String {
    let mut out = heapless::String::<512>::new();
    name.unescape_into(&mut out).expect("test names fit");
    if !name.is_escaped() {
        assert_eq!(
            name.raw(),
            out.as_str(),
            "an unescaped name is its raw text"
        );
    }
    out.as_str().to_owned()
}

fn scan_of(envelope: &Envelope<'_>) -> Scan {
    let d = match envelope.data_span() {
        Data::Absent => D::Absent,
        Data::Present(_) if envelope.data_is_null() => D::Null,
        Data::Present(range) => D::Span(range.clone()),
        Data::Skipped => panic!("scan_of is for complete scans"),
    };
    Scan {
        op: envelope.op().to_u8(),
        s: envelope.seq(),
        t: envelope.name().map(unescaped),
        d,
    }
}

fn ours(msg: &[u8]) -> Result<Scan, DecodeError> {
    Envelope::decode(msg).map(|envelope| scan_of(&envelope))
}

/// A message for an assertion message: lossy, and cut short when long.
fn show(msg: &[u8]) -> String {
    let text = String::from_utf8_lossy(msg);
    if text.chars().count() <= 400 {
        return format!("{text:?}");
    }
    let head: String = text.chars().take(300).collect();
    format!("{head:?}... ({} bytes)", msg.len())
}

/// How the two decoders got on with a message.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Both accept it (and agree on everything).
    BothAccept,
    /// Both refuse it; ours with this error.
    BothRefuse(DecodeError),
    /// Only the scan accepts it: one of the documented differences.
    OnlyOursAccepts,
}

/// Decodes `msg` both ways and checks they agree wherever the reference accepts.
fn compare(msg: &[u8]) -> Verdict {
    let theirs = reference(msg);
    let mine = ours(msg);
    match (theirs, mine) {
        (Ok(theirs), Ok(mine)) => {
            assert_eq!(mine, theirs, "decoders disagree on {}", show(msg));
            if let D::Span(range) = &mine.d {
                if msg.len() < 200_000 {
                    let whole: Value = serde_json::from_slice(msg).unwrap();
                    let d: Value =
                        serde_json::from_slice(&msg[range.clone()]).unwrap_or_else(|e| {
                            panic!("our d span does not parse ({e}): {}", show(msg))
                        });
                    assert_eq!(&d, &whole["d"], "d differs in {}", show(msg));
                }
            }
            check_filtered(msg, &mine);
            Verdict::BothAccept
        }
        (Ok(theirs), Err(error)) => panic!(
            "serde_json accepts ({theirs:?}) but the scan refuses with {error:?}: {}",
            show(msg)
        ),
        (Err(_), Ok(_)) => Verdict::OnlyOursAccepts,
        (Err(_), Err(error)) => Verdict::BothRefuse(error),
    }
}

/// `compare`, requiring agreement in both directions.
fn agree(msg: &[u8]) -> Verdict {
    let verdict = compare(msg);
    if verdict == Verdict::OnlyOursAccepts {
        panic!(
            "the scan accepts what serde_json refuses ({}): {}",
            reference(msg).unwrap_err(),
            show(msg)
        );
    }
    verdict
}

/// `decode_filtered` agrees with `decode` on an accepted message: a filter that wants
/// everything changes nothing, and one that wants nothing only drops `d`, asking exactly once
/// per named dispatch.
fn check_filtered(msg: &[u8], full: &Scan) {
    let all = Envelope::decode_filtered(msg, |_| true).expect("wanted: same as decode");
    assert_eq!(&scan_of(&all), full);

    let mut asked = Vec::new();
    let none = Envelope::decode_filtered(msg, |name| {
        asked.push(unescaped(name));
        false
    })
    .expect("unwanted: still decodes");
    let named_dispatch = full.op == 0 && full.t.is_some();
    assert_eq!(asked.len(), usize::from(named_dispatch), "{}", show(msg));
    assert_eq!(none.op().to_u8(), full.op);
    assert_eq!(none.seq(), full.s);
    assert_eq!(none.name().map(unescaped), full.t);
    if named_dispatch {
        assert_eq!(asked[0].as_str(), full.t.as_deref().unwrap());
        assert_eq!(none.data(), None, "{}", show(msg));
        assert_eq!(none.data_span(), &Data::Skipped);
    } else {
        assert_eq!(&scan_of(&none), full);
    }
}

// ---- inputs ------------------------------------------------------------------------------------

/// The repository's test fixtures (`fixtures/README.md` says where each came from).
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures");

/// Every payload example, by file name.
fn examples() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(FIXTURES).join("payload-examples");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    assert!(files.len() >= 20, "payload examples missing from {dir:?}");
    files
}

/// The captured GUILD_CREATE, wrapped the way Discord sends it.
fn captured_guild_create() -> Vec<u8> {
    let path = Path::new(FIXTURES).join("captured/serenity-guild_create_1.json");
    let d = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut msg = br#"{"t":"GUILD_CREATE","s":2,"op":0,"d":"#.to_vec();
    msg.extend_from_slice(&d);
    msg.push(b'}');
    msg
}

/// The four envelope fields of a message as raw JSON texts (escapes intact).
#[derive(Clone, Debug)]
struct Parts {
    op: Option<String>,
    s: Option<String>,
    t: Option<String>,
    d: Option<String>,
}

impl Parts {
    fn of(msg: &[u8]) -> Self {
        let mut fields: HashMap<String, &RawValue> =
            serde_json::from_slice(msg).expect("examples are valid JSON");
        let mut take = |key: &str| fields.remove(key).map(|raw| raw.get().to_owned());
        let parts = Self {
            op: take("op"),
            s: take("s"),
            t: take("t"),
            d: take("d"),
        };
        assert!(fields.is_empty(), "only the four envelope keys in examples");
        parts
    }
}

/// A small deterministic PRNG (xorshift64*), so every failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }

    /// JSON whitespace: usually none, sometimes a few bytes of every kind.
    fn ws(&mut self) -> &'static str {
        const WHITESPACE: &[&str] = &["", "", "", " ", "\n", "\t", "\r\n", "  \t \r\n "];
        WHITESPACE[self.below(WHITESPACE.len())]
    }
}

/// `text` as a JSON string literal with some characters written as `\u` escapes (surrogate
/// pairs outside the BMP, either hex case) and `/` sometimes as `\/`.
fn escaped_string(text: &str, rng: &mut Rng, percent: u64) -> String {
    let mut out = String::from("\"");
    for ch in text.chars() {
        let escape = rng.chance(percent);
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' if escape && rng.chance(50) => out.push_str("\\/"),
            c if escape || u32::from(c) < 0x20 => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    if rng.chance(50) {
                        write!(out, "\\u{unit:04x}").unwrap();
                    } else {
                        write!(out, "\\u{unit:04X}").unwrap();
                    }
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Scalars that make good JSON values, some tricky for a scanner.
const SCALARS: &[&str] = &[
    "null",
    "true",
    "false",
    "0",
    "-0",
    "-12",
    "1.5e-7",
    "1E+2",
    "18446744073709551616",
    "-0.0",
    r#""""#,
    r#""s""#,
    r#""op""#,
    r#""]""#,
    r#""}""#,
    r#""{""#,
    r#""\"""#,
    r#""\\""#,
    r#""\\\"""#,
    r#""{\"op\":1,\"s\":2}""#,
    r#""[\"s\",{""#,
    r#""\u0022}""#,
    r#""é✓😀""#,
    r#""\ud83d\ude00\u2028""#,
    r#""a\/b\n\t""#,
];

/// Keys inside generated values.
const INNER_KEYS: &[&str] = &[
    r#""s""#, r#""op""#, r#""d""#, r#""t""#, r#""}""#, r#""\"""#, r#""""#,
];

/// A random JSON value nesting at most `depth` more levels.
fn value(rng: &mut Rng, depth: u32) -> String {
    let kind = if depth == 0 { 0 } else { rng.below(4) };
    match kind {
        0 | 1 => (*rng.pick(SCALARS)).to_owned(),
        2 => {
            let mut out = String::from("[");
            out.push_str(rng.ws());
            for i in 0..rng.below(4) {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(rng.ws());
                out.push_str(&value(rng, depth - 1));
                out.push_str(rng.ws());
            }
            out.push(']');
            out
        }
        _ => {
            let mut out = String::from("{");
            out.push_str(rng.ws());
            for i in 0..rng.below(4) {
                if i > 0 {
                    out.push(',');
                }
                let ws = rng.ws();
                write!(out, "{ws}{}{ws}:", rng.pick(INNER_KEYS)).unwrap();
                out.push_str(rng.ws());
                out.push_str(&value(rng, depth - 1));
            }
            out.push('}');
            out
        }
    }
}

/// Top-level keys no envelope field answers to, however they are spelled.
const UNKNOWN_KEYS: &[&str] = &[
    r#""_trace""#,
    r#""s ""#,
    r#"" s""#,
    r#""ops""#,
    r#""S""#,
    r#""OP""#,
    r#""""#,
    r#""\"s\"""#,
    r#""d\\""#,
    r#""\u00e9""#,
    r#""é""#,
    r#""t\u0000""#,
    r#""\u006fps""#,
    r#""o""#,
    "\"\u{7f}\"",
];

/// Variants of `op`; the reference accepts the integers 0 to 255 only.
const OPS: &[&str] = &[
    "0", "1", "7", "9", "10", "11", "255", "256", "-0", "-1", "1.0", "1e1", r#""0""#, "null",
    "true", "[0]",
];

/// Variants of `s`.
const SEQS: &[&str] = &[
    "null",
    "0",
    "1",
    "18446744073709551615",
    "18446744073709551614",
    "18446744073709551616",
    "-0",
    "-1",
    "1.5",
    "2e3",
    r#""1""#,
    "false",
    "{}",
];

/// Variants of `t` as plain text, escaped at random when used.
const NAMES: &[&str] = &[
    "MESSAGE_CREATE",
    "READY",
    "RESUMED",
    "GUILD_CREATE",
    "SOME_FUTURE_EVENT",
    "",
    "A/B",
    "quote\"back\\slash",
    "É_😀",
    "tab\tnul\0del\u{7f}",
];

/// The key of an envelope field, sometimes written with `\u` escapes.
fn key(name: &str, rng: &mut Rng) -> String {
    if rng.chance(25) {
        escaped_string(name, rng, 60)
    } else {
        format!("\"{name}\"")
    }
}

/// Joins `(key, value)` members into an object, with random whitespace around every token
/// when `spaced`.
fn render(members: &[(String, String)], rng: &mut Rng, spaced: bool) -> Vec<u8> {
    let ws = |rng: &mut Rng| if spaced { rng.ws() } else { "" };
    let mut out = String::new();
    out.push_str(ws(rng));
    out.push('{');
    for (i, (k, v)) in members.iter().enumerate() {
        if i > 0 {
            out.push_str(ws(rng));
            out.push(',');
        }
        out.push_str(ws(rng));
        out.push_str(k);
        out.push_str(ws(rng));
        out.push(':');
        out.push_str(ws(rng));
        out.push_str(v);
    }
    out.push_str(ws(rng));
    out.push('}');
    out.push_str(ws(rng));
    out.into_bytes()
}

/// A random variant of a message with these fields; `small_d` allows replacing `d`.
fn variant(parts: &Parts, rng: &mut Rng, small_d: bool) -> Vec<u8> {
    let mut members = Vec::new();
    let op = if rng.chance(20) {
        Some((*rng.pick(OPS)).to_owned())
    } else {
        parts.op.clone()
    };
    let s = match rng.below(10) {
        0 => None,
        1 | 2 => Some((*rng.pick(SEQS)).to_owned()),
        3 => Some((rng.next() >> rng.below(64)).to_string()),
        _ => parts.s.clone(),
    };
    let t = match rng.below(10) {
        0 => None,
        1 => Some("null".to_owned()),
        2 => Some((*rng.pick(&["5", "true", "[]", r#"{"t":"X"}"#])).to_owned()),
        3 | 4 => {
            let name = *rng.pick(NAMES);
            Some(escaped_string(name, rng, 30))
        }
        5 => parts.t.as_deref().map(|raw| {
            let text: String = serde_json::from_str::<Option<String>>(raw)
                .unwrap()
                .unwrap_or_default();
            escaped_string(&text, rng, 40)
        }),
        _ => parts.t.clone(),
    };
    let d = if small_d && rng.chance(30) {
        if rng.chance(10) {
            None
        } else {
            Some(value(rng, 4))
        }
    } else {
        parts.d.clone()
    };
    for (name, field) in [("op", op), ("s", s), ("t", t), ("d", d)] {
        if let Some(field) = field {
            members.push((key(name, rng), field));
        }
    }
    for _ in 0..rng.below(4) {
        let at = rng.below(members.len() + 1);
        let extra = ((*rng.pick(UNKNOWN_KEYS)).to_owned(), value(rng, 3));
        members.insert(at, extra);
    }
    rng.shuffle(&mut members);
    let spaced = rng.chance(50);
    render(&members, rng, spaced)
}

/// All 24 orders of four items.
fn permutations() -> Vec<[usize; 4]> {
    let mut all = Vec::new();
    for a in 0..4 {
        for b in 0..4 {
            for c in 0..4 {
                for d in 0..4 {
                    let order = [a, b, c, d];
                    let mut seen = [false; 4];
                    order.iter().for_each(|&i| seen[i] = true);
                    if seen.iter().all(|&s| s) {
                        all.push(order);
                    }
                }
            }
        }
    }
    assert_eq!(all.len(), 24);
    all
}

/// The fields in a fixed order, each with its plain key.
fn members_of(parts: &Parts) -> Vec<(String, String)> {
    [
        ("op", &parts.op),
        ("s", &parts.s),
        ("t", &parts.t),
        ("d", &parts.d),
    ]
    .into_iter()
    .filter_map(|(name, field)| Some((format!("\"{name}\""), field.clone()?)))
    .collect()
}

// ---- agreement on valid input ------------------------------------------------------------------

#[test]
fn every_example_decodes_like_serde_json() {
    for (name, msg) in examples() {
        assert_eq!(agree(&msg), Verdict::BothAccept, "{name}");
        let envelope = Envelope::decode(&msg).unwrap();
        if envelope.op().to_u8() == 0 {
            assert!(
                envelope.event_type().is_some(),
                "{name}: a documented event"
            );
        }
    }
}

#[test]
fn captured_guild_create_decodes_like_serde_json() {
    let msg = captured_guild_create();
    assert_eq!(agree(&msg), Verdict::BothAccept);
    let envelope = Envelope::decode(&msg).unwrap();
    assert_eq!(envelope.event_type(), Some(EventType::GuildCreate));
    assert_eq!(envelope.seq(), Some(2));
    let header = br#"{"t":"GUILD_CREATE","s":2,"op":0,"d":"#.len();
    let d = msg[header..msg.len() - 1].trim_ascii_end();
    assert_eq!(envelope.data(), Some(d));

    // The same d first, spaced out, among escaped and unknown keys. Key order cannot change
    // the reference's reading, so it is not run again on 2.8 MB (debug builds are slow).
    let text = |s: &str| s.to_owned();
    let members = [
        (text(r#""d""#), String::from_utf8(d.to_vec()).unwrap()),
        (
            text(r#""_trace""#),
            text(r#"["{\"s\":1,\"op\":2}", {"t": "X"}]"#),
        ),
        (text(r#""\u006fp""#), text("0")),
        (text(r#""t""#), text(r#""GUILD_\u0043REATE""#)),
        (text(r#""s""#), text("2")),
    ];
    let moved = render(&members, &mut Rng(0x5EED_CAFE), true);
    let scan = ours(&moved).unwrap();
    assert_eq!(
        (scan.op, scan.s, scan.t.as_deref()),
        (0, Some(2), Some("GUILD_CREATE"))
    );
    let D::Span(span) = &scan.d else {
        panic!("d is present")
    };
    assert_eq!(&moved[span.clone()], d);
    check_filtered(&moved, &scan);
}

#[test]
fn every_key_order_of_every_example() {
    let mut rng = Rng(24);
    for (name, msg) in examples() {
        let members = members_of(&Parts::of(&msg));
        assert_eq!(members.len(), 4, "{name}");
        for order in permutations() {
            let reordered: Vec<_> = order.iter().map(|&i| members[i].clone()).collect();
            let spaced = rng.chance(50);
            let msg = render(&reordered, &mut rng, spaced);
            assert_eq!(
                agree(&msg),
                Verdict::BothAccept,
                "{name} in order {order:?}"
            );
        }
    }
}

#[test]
fn generated_variants_of_every_example() {
    let mut rng = Rng(0x00D1_5C0D);
    let mut accepted = 0;
    let mut refused = 0;
    for (name, msg) in examples() {
        let parts = Parts::of(&msg);
        let rounds = if msg.len() > 20_000 { 20 } else { 200 };
        for _ in 0..rounds {
            let variant = variant(&parts, &mut rng, true);
            match agree(&variant) {
                Verdict::BothAccept => accepted += 1,
                Verdict::BothRefuse(_) => refused += 1,
                Verdict::OnlyOursAccepts => unreachable!("{name}"),
            }
        }
    }
    // Both kinds of outcome are well represented, so the generator is not degenerate.
    assert!(accepted > 2000 && refused > 700, "{accepted} / {refused}");
}

#[test]
fn whitespace_between_every_token() {
    let mut rng = Rng(0x0A0D_0920);
    for (name, msg) in examples() {
        let members = members_of(&Parts::of(&msg));
        let rounds = if msg.len() > 20_000 { 3 } else { 20 };
        for _ in 0..rounds {
            let msg = render(&members, &mut rng, true);
            assert_eq!(agree(&msg), Verdict::BothAccept, "{name}");
        }
    }
    let all = b" \t\r\n{ \t\r\n\"op\" \t\r\n: \t\r\n0 \t\r\n, \t\r\n\"t\"\n:\n\"X\"\n,\n\"d\"\r:\r[ 1 , { } ]\r} \t\r\n";
    assert_eq!(agree(all), Verdict::BothAccept);
    let envelope = Envelope::decode(all).unwrap();
    assert_eq!(envelope.data(), Some(&b"[ 1 , { } ]"[..]));
}

#[test]
fn escaped_keys_and_names() {
    let cases: &[(&str, Scan)] = &[
        (
            r#"{"\u006fp":0,"\u0073":5,"\u0074":"\u0052EADY","\u0064":{}}"#,
            Scan {
                op: 0,
                s: Some(5),
                t: Some("READY".into()),
                d: D::Span(55..57),
            },
        ),
        (
            r#"{"o\u0070":11,"\u0064":null}"#,
            Scan {
                op: 11,
                s: None,
                t: None,
                d: D::Null,
            },
        ),
        (
            r#"{"op":0,"t":"A\/B\"\\\u00e9\ud83d\ude00\n"}"#,
            Scan {
                op: 0,
                s: None,
                t: Some("A/B\"\\é😀\n".into()),
                d: D::Absent,
            },
        ),
    ];
    for (msg, expected) in cases {
        assert_eq!(agree(msg.as_bytes()), Verdict::BothAccept, "{msg}");
        assert_eq!(&ours(msg.as_bytes()).unwrap(), expected, "{msg}");
    }
    // An escaped name is still recognised.
    let envelope = Envelope::decode(br#"{"op":0,"t":"MESSAGE\u005FCREATE"}"#).unwrap();
    assert_eq!(envelope.event_type(), Some(EventType::MessageCreate));
    assert!(envelope.name().unwrap().is_escaped());
    assert_eq!(envelope.name().unwrap().raw(), r"MESSAGE\u005FCREATE");
}

#[test]
fn d_of_every_type_and_s_t_null_or_absent() {
    let ds = [
        None,
        Some("null"),
        Some("true"),
        Some("false"),
        Some("0"),
        Some("-0"),
        Some("-1.25E-3"),
        Some("18446744073709551616"),
        Some(r#""text""#),
        Some(r#""}\"]""#),
        Some("[]"),
        Some("{}"),
        Some(r#"[1,"a",{"b":[null]}]"#),
        Some(r#"{"s":1,"op":2,"t":"X","d":{}}"#),
    ];
    let seqs = [None, Some("null"), Some("0"), Some("18446744073709551615")];
    let names = [None, Some("null"), Some(r#""X""#)];
    let mut rng = Rng(7);
    for d in ds {
        for s in seqs {
            for t in names {
                let mut members = vec![("\"op\"".to_owned(), "0".to_owned())];
                for (k, v) in [("\"s\"", s), ("\"t\"", t), ("\"d\"", d)] {
                    if let Some(v) = v {
                        members.push((k.to_owned(), v.to_owned()));
                    }
                }
                rng.shuffle(&mut members);
                let msg = render(&members, &mut rng, false);
                assert_eq!(agree(&msg), Verdict::BothAccept, "{}", show(&msg));
            }
        }
    }
}

#[test]
fn sequence_numbers_up_to_u64_max() {
    for s in [
        0,
        1,
        255,
        256,
        u64::from(u32::MAX) + 1,
        u64::MAX - 1,
        u64::MAX,
    ] {
        let msg = format!(r#"{{"t":"X","s":{s},"op":0,"d":null}}"#);
        assert_eq!(agree(msg.as_bytes()), Verdict::BothAccept);
        assert_eq!(Envelope::decode(msg.as_bytes()).unwrap().seq(), Some(s));
    }
    let over = br#"{"op":0,"s":18446744073709551616}"#;
    assert_eq!(
        agree(over),
        Verdict::BothRefuse(DecodeError::WrongType {
            field: "s",
            expected: "an integer or null"
        })
    );
}

#[test]
fn minus_zero_is_refused_like_serde_json() {
    // serde_json reads `-0` as the float -0.0, which no integer type accepts.
    assert!(serde_json::from_str::<u8>("-0").is_err());
    assert!(serde_json::from_str::<u64>("-0").is_err());
    assert!(serde_json::from_str::<Option<u64>>("-0").is_err());
    assert_eq!(
        agree(br#"{"op":-0}"#),
        Verdict::BothRefuse(DecodeError::WrongType {
            field: "op",
            expected: "an integer from 0 to 255"
        })
    );
    assert_eq!(
        agree(br#"{"op":0,"s":-0}"#),
        Verdict::BothRefuse(DecodeError::WrongType {
            field: "s",
            expected: "an integer or null"
        })
    );
    // In `d` it is just a number.
    assert_eq!(agree(br#"{"op":1,"d":-0}"#), Verdict::BothAccept);
}

// ---- broken input ------------------------------------------------------------------------------

/// The error a broken message must produce, or any error when the exact one means little.
enum Expect {
    Is(DecodeError),
    Any,
}

fn wrong(field: &'static str) -> Expect {
    let expected = match field {
        "op" => "an integer from 0 to 255",
        "s" => "an integer or null",
        _ => "a string or null",
    };
    Expect::Is(DecodeError::WrongType { field, expected })
}

fn byte(offset: usize, expected: &'static str) -> Expect {
    Expect::Is(DecodeError::UnexpectedByte { offset, expected })
}

#[test]
fn broken_messages_are_refused_with_the_right_error() {
    use DecodeError::*;
    let end = || Expect::Is(UnexpectedEnd);
    let dup = |field| Expect::Is(DuplicateField { field });
    let utf8 = |offset| Expect::Is(InvalidUtf8 { offset });
    let escape = |offset| Expect::Is(InvalidEscape { offset });
    let control = |offset| Expect::Is(ControlCharacter { offset });
    let table: Vec<(&[u8], Expect)> = vec![
        // Not an object.
        (b"", end()),
        (b" \n\t", end()),
        (b"[]", Expect::Is(NotAnObject)),
        (br#"[{"op":0}]"#, Expect::Is(NotAnObject)),
        (br#""op""#, Expect::Is(NotAnObject)),
        (b"0", Expect::Is(NotAnObject)),
        (b"null", Expect::Is(NotAnObject)),
        (b"true", Expect::Is(NotAnObject)),
        (b"x", byte(0, "a JSON value")),
        (b"\xEF\xBB\xBF{\"op\":0}", byte(0, "a JSON value")),
        // Missing or mistyped fields.
        (b"{}", Expect::Is(MissingField { field: "op" })),
        (
            br#"{"s":1,"t":"X","d":{}}"#,
            Expect::Is(MissingField { field: "op" }),
        ),
        (br#"{"op":"0"}"#, wrong("op")),
        (br#"{"op":null}"#, wrong("op")),
        (br#"{"op":true}"#, wrong("op")),
        (br#"{"op":[0]}"#, wrong("op")),
        (br#"{"op":{}}"#, wrong("op")),
        (br#"{"op":1.0}"#, wrong("op")),
        (br#"{"op":1e0}"#, wrong("op")),
        (br#"{"op":-1}"#, wrong("op")),
        (br#"{"op":256}"#, wrong("op")),
        (br#"{"op":1000}"#, wrong("op")),
        (br#"{"op":99999999999999999999999}"#, wrong("op")),
        (br#"{"op":-0}"#, wrong("op")),
        (br#"{"op":0,"s":"1"}"#, wrong("s")),
        (br#"{"op":0,"s":-1}"#, wrong("s")),
        (br#"{"op":0,"s":1.5}"#, wrong("s")),
        (br#"{"op":0,"s":1e3}"#, wrong("s")),
        (br#"{"op":0,"s":true}"#, wrong("s")),
        (br#"{"op":0,"s":[]}"#, wrong("s")),
        (br#"{"op":0,"t":1}"#, wrong("t")),
        (br#"{"op":0,"t":false}"#, wrong("t")),
        (br#"{"op":0,"t":[]}"#, wrong("t")),
        (br#"{"op":0,"t":{"t":"X"}}"#, wrong("t")),
        // Duplicate envelope keys, however spelled.
        (br#"{"op":0,"op":0}"#, dup("op")),
        (br#"{"op":0,"\u006fp":1}"#, dup("op")),
        (br#"{"s":1,"op":0,"s":null}"#, dup("s")),
        (br#"{"t":null,"op":0,"t":"X"}"#, dup("t")),
        (br#"{"d":1,"op":0,"d":2}"#, dup("d")),
        (br#"{"d":null,"op":0,"\u0064":null}"#, dup("d")),
        // Invalid UTF-8 in keys and in `t`.
        (b"{\"op\":0,\"\xFF\":1}", utf8(8)),
        (b"{\"o\xFFp\":0}", utf8(1)),
        (b"{\"op\":0,\"t\":\"A\xFFB\"}", utf8(12)),
        (b"{\"op\":0,\"t\":\"\xC0\x80\"}", utf8(12)),
        (b"{\"op\":0,\"t\":\"\xED\xA0\x80\"}", utf8(12)),
        (b"{\"op\":0,\"t\":\"\xE2\x82\"}", utf8(12)),
        (b"{\"op\":0,\"t\":\"\xF4\x90\x80\x80\"}", utf8(12)),
        // Unterminated strings.
        (br#"{"op":0,"t":"ABC"#, end()),
        (br#"{"op":0,"t":"ABC\"}"#, end()),
        (br#"{"op"#, end()),
        (br#"{"op":0,"d":"abc}"#, end()),
        (br#"{"op":0,"d":{"a":"b}}"#, end()),
        (br#"{"op":0,"x":["\"]}"#, end()),
        // Bad escapes and unpaired surrogates in keys and `t`.
        (br#"{"op":0,"t":"\x41"}"#, escape(13)),
        (br#"{"op":0,"t":"A\'"}"#, escape(14)),
        (br#"{"op":0,"t":"\U0041"}"#, escape(13)),
        (br#"{"op":0,"t":"\u12G4"}"#, escape(13)),
        (br#"{"op":0,"t":"\u12"}"#, escape(13)),
        (br#"{"op":0,"t":"\ud83d"}"#, escape(13)),
        (br#"{"op":0,"t":"\ude00"}"#, escape(13)),
        (br#"{"op":0,"t":"\ud83dx"}"#, escape(13)),
        (br#"{"op":0,"t":"\ud83d\u0041"}"#, escape(13)),
        (br#"{"op":0,"t":"\ud83d\ud83d"}"#, escape(13)),
        (br#"{"op":0,"t":"\ude00\ud83d"}"#, escape(13)),
        (br#"{"\ud800":0,"op":0}"#, escape(2)),
        (br#"{"o\p":0}"#, escape(3)),
        // Raw control characters in keys and `t`.
        (b"{\"op\":0,\"t\":\"A\nB\"}", control(14)),
        (b"{\"op\":0,\"t\":\"\x00\"}", control(13)),
        (b"{\"o\tp\":0}", control(3)),
        // Broken structure.
        (br#"{"op":0,}"#, byte(8, "a string key")),
        (br#"{"op":0 "s":1}"#, byte(8, "`,` or `}`")),
        (br#"{"op" 0}"#, byte(6, "`:`")),
        (br#"{op:0}"#, byte(1, "a string key")),
        (br#"{'op':0}"#, byte(1, "a string key")),
        (br#"{,"op":0}"#, byte(1, "a string key")),
        (br#"{"op":0,,"s":1}"#, byte(8, "a string key")),
        (br#"{"op":0]"#, byte(7, "`,` or `}`")),
        (br#"{"op":0,"d":}"#, byte(12, "a JSON value")),
        (br#"{"op":0,"d":]}"#, byte(12, "a JSON value")),
        (br#"{"op":0,"d":[}"#, byte(13, "`]`")),
        (br#"{"op":0,"d":{]}"#, byte(13, "`}`")),
        (br#"{"op":0,"d":[1,2}"#, byte(16, "`]`")),
        (br#"{"op":0,"d":[[]]]}"#, byte(16, "`,` or `}`")),
        (br#"{"op":0,"d":01}"#, byte(13, "`,` or `}`")),
        (
            br#"{"op":0,"d":1.}"#,
            Expect::Is(InvalidNumber { offset: 12 }),
        ),
        (
            br#"{"op":0,"d":1.e5}"#,
            Expect::Is(InvalidNumber { offset: 12 }),
        ),
        (
            br#"{"op":0,"d":1e}"#,
            Expect::Is(InvalidNumber { offset: 12 }),
        ),
        (
            br#"{"op":0,"d":-}"#,
            Expect::Is(InvalidNumber { offset: 12 }),
        ),
        (
            br#"{"op":0,"d":-a}"#,
            Expect::Is(InvalidNumber { offset: 12 }),
        ),
        (br#"{"op":0,"d":+1}"#, byte(12, "a JSON value")),
        (br#"{"op":0,"d":.5}"#, byte(12, "a JSON value")),
        (br#"{"op":0,"d":NaN}"#, byte(12, "a JSON value")),
        (br#"{"op":0,"d":tru}"#, Expect::Any),
        (br#"{"op":0,"d":nulL}"#, Expect::Any),
        (br#"{"op":0,"d":True}"#, byte(12, "a JSON value")),
        (b"{\"op\":0,\x0C\"s\":1}", byte(8, "a string key")),
        (b"{\"op\":\xC2\xA00}", byte(6, "a JSON value")),
        (br#"{"op":00}"#, byte(7, "`,` or `}`")),
        // Trailing garbage.
        (br#"{"op":0}x"#, Expect::Is(TrailingBytes { offset: 8 })),
        (br#"{"op":0} {}"#, Expect::Is(TrailingBytes { offset: 9 })),
        (br#"{"op":0},"#, Expect::Is(TrailingBytes { offset: 8 })),
        (b"{\"op\":0}\n\0", Expect::Is(TrailingBytes { offset: 9 })),
        (b"{\"op\":0}}", Expect::Is(TrailingBytes { offset: 8 })),
    ];
    for (msg, expect) in table {
        let Err(error) = ours(msg) else {
            panic!("accepted: {}", show(msg));
        };
        if let Expect::Is(expected) = expect {
            assert_eq!(error, expected, "{}", show(msg));
        }
        // Every row is something serde_json refuses too.
        assert!(reference(msg).is_err(), "serde_json accepts {}", show(msg));
    }
}

#[test]
fn every_truncation_ends_unexpectedly() {
    let mut messages: Vec<Vec<u8>> = examples().into_iter().map(|(_, msg)| msg).collect();
    let mut rng = Rng(0x7256);
    for (_, msg) in examples().iter().take(8) {
        messages.push(variant(&Parts::of(msg), &mut rng, true));
    }
    messages.push(br#"{"\u006fp":0,"t":"\ud83d\ude00\u0041","s":-0.5e+1}"#.to_vec());
    for msg in &messages {
        // Everything up to the closing brace is a proper prefix; what follows is whitespace.
        let end = msg.iter().rposition(|&b| b == b'}').unwrap() + 1;
        let valid = reference(msg).is_ok();
        let step = (end / 250).max(1);
        for len in (0..end).step_by(step).chain(end.saturating_sub(40)..end) {
            let cut = &msg[..len];
            if let Ok(scan) = ours(cut) {
                panic!("{} decodes to {scan:?}", show(cut));
            }
            // Whatever the full message held, a cut one ends in the middle of something.
            if valid {
                assert_eq!(ours(cut), Err(DecodeError::UnexpectedEnd), "{}", show(cut));
            }
        }
        let _ = ours(msg);
    }
    let big = captured_guild_create();
    for i in 0..5 {
        let len = big.len() * i / 5 + i;
        assert_eq!(ours(&big[..len]), Err(DecodeError::UnexpectedEnd));
    }
}

#[test]
fn nesting_is_bounded_by_max_depth() {
    assert_eq!(MAX_DEPTH, 128);
    let nested = |levels: usize, inner: &str| {
        // `levels` counts the envelope object.
        let d = levels - 1;
        format!(
            r#"{{"op":0,"d":{}{inner}{}}}"#,
            "[".repeat(d),
            "]".repeat(d)
        )
    };
    let deepest = nested(MAX_DEPTH, "1");
    assert!(ours(deepest.as_bytes()).is_ok());
    // serde_json's own recursion limit is one level less.
    assert!(serde_json::from_str::<Value>(&deepest).is_err());
    assert_eq!(compare(deepest.as_bytes()), Verdict::OnlyOursAccepts);
    let ok = nested(MAX_DEPTH - 1, "1");
    assert_eq!(agree(ok.as_bytes()), Verdict::BothAccept);

    let too_deep = Err(DecodeError::TooDeep { limit: MAX_DEPTH });
    assert_eq!(ours(nested(MAX_DEPTH + 1, "").as_bytes()), too_deep);
    assert_eq!(ours(nested(MAX_DEPTH + 2, "").as_bytes()), too_deep);
    let objects = format!(
        r#"{{"op":0,"d":{}{}}}"#,
        r#"{"a":"#.repeat(MAX_DEPTH),
        "}".repeat(MAX_DEPTH)
    );
    assert_eq!(ours(objects.as_bytes()), too_deep);
    let unknown = format!(
        r#"{{"x":{},"op":0}}"#,
        "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH)
    );
    assert_eq!(ours(unknown.as_bytes()), too_deep);

    // Hostile depth is refused at once and without recursion, wherever it is.
    for msg in [
        format!(r#"{{"op":0,"d":{}"#, "[".repeat(100_000)),
        format!(
            r#"{{"op":0,"d":{}1{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        ),
        format!(r#"{{"op":0,"d":{}"#, r#"{"a":"#.repeat(100_000)),
        format!(r#"{{"x":{},"op":0}}"#, "[".repeat(100_000)),
        r#"{"x":"#.repeat(100_000),
    ] {
        let started = Instant::now();
        assert_eq!(ours(msg.as_bytes()), too_deep, "{}", show(msg.as_bytes()));
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(serde_json::from_str::<Value>(&msg).is_err());
    }
    // The struct alone accepts it: RawValue skips without a depth limit.
    let hostile = nested(100_000, "1");
    assert!(serde_json::from_str::<Reference<'_>>(&hostile).is_ok());
    assert_eq!(ours(hostile.as_bytes()), too_deep);
}

#[test]
fn structural_skip_leaves_d_contents_to_the_consumer() {
    // Each of these is refused by serde_json and accepted by the scan: the problem is inside `d`
    // (or an unknown key's value), which the scan only delimits.
    for msg in [
        &b"{\"op\":0,\"d\":\"\xFF\"}"[..],
        b"{\"op\":0,\"d\":{\"a\":\"\xC0\x80\"}}",
        b"{\"op\":0,\"d\":[\"tab\there\"]}",
        b"{\"op\":0,\"d\":\"\x01\"}",
        br#"{"op":0,"d":"\q"}"#,
        br#"{"op":0,"d":"\u12"}"#,
        br#"{"op":0,"d":["\ud800"]}"#,
        br#"{"op":0,"d":[01]}"#,
        br#"{"op":0,"d":[1.]}"#,
        br#"{"op":0,"d":{"a":-}}"#,
        br#"{"op":0,"d":[tru]}"#,
        br#"{"op":0,"d":[1 2]}"#,
        br#"{"op":0,"d":{"a" 1}}"#,
        br#"{"op":0,"d":[,]}"#,
        br#"{"op":0,"x":{"a":nul},"d":null}"#,
        b"{\"op\":0,\"\xE2\x9C\x93\":\"\xFF\"}",
    ] {
        assert_eq!(compare(msg), Verdict::OnlyOursAccepts, "{}", show(msg));
    }
    // A bad `\u` escape inside `d` is a difference from the Value parse, not from the struct:
    // RawValue skips escapes as leniently as the scan.
    let lone_surrogate = br#"{"op":0,"d":"\ud800"}"#;
    assert!(serde_json::from_slice::<Reference<'_>>(lone_surrogate).is_ok());
    assert_eq!(compare(lone_surrogate), Verdict::OnlyOursAccepts);
}

// ---- early stop --------------------------------------------------------------------------------

#[test]
fn unwanted_dispatch_is_never_read_past_its_header() {
    let header = br#"{"t":"MESSAGE_CREATE","s":42,"op":0,"d":"#;
    for tail in [
        &b""[..],
        b"{\"content\":\"cut",
        b"\xFF\xFE]]]]",
        b"{\"a\":[[[[[[[[",
        b"garbage",
        b"{}} trailing",
    ] {
        let msg = [&header[..], tail].concat();
        assert!(Envelope::decode(&msg).is_err(), "{}", show(&msg));
        let envelope = Envelope::decode_filtered(&msg, |name| {
            assert_eq!(name.kind(), Some(EventType::MessageCreate));
            false
        })
        .unwrap_or_else(|e| panic!("{e}: {}", show(&msg)));
        assert_eq!(envelope.data(), None);
        assert_eq!(envelope.data_span(), &Data::Skipped);
        assert_eq!(envelope.op().to_u8(), 0);
        assert_eq!(envelope.seq(), Some(42));
        assert_eq!(envelope.name().unwrap().raw(), "MESSAGE_CREATE");
        assert_eq!(envelope.event_type(), Some(EventType::MessageCreate));
    }
    // Deep garbage after the header is not even looked at.
    let deep = [&header[..], "[".repeat(100_000).as_bytes()].concat();
    assert!(Envelope::decode_filtered(&deep, |_| false).is_ok());
    // A wanted one is read in full, and the garbage found.
    let msg = [&header[..], b"garbage"].concat();
    assert!(Envelope::decode_filtered(&msg, |_| true).is_err());
}

#[test]
fn filter_with_d_first_or_s_missing_is_still_correct() {
    let d = r#"{"content":"hi","nested":{"t":"READY","s":1,"op":10}}"#;
    let messages = [
        format!(r#"{{"d":{d},"t":"MESSAGE_CREATE","s":7,"op":0}}"#),
        format!(r#"{{"op":0,"d":{d},"s":7,"t":"MESSAGE_CREATE"}}"#),
        format!(r#"{{"t":"MESSAGE_CREATE","op":0,"d":{d},"s":7}}"#),
        format!(r#"{{"s":7,"d":{d},"op":0,"t":"MESSAGE_CREATE"}}"#),
    ];
    for msg in &messages {
        let full = ours(msg.as_bytes()).unwrap();
        assert_eq!(agree(msg.as_bytes()), Verdict::BothAccept);
        assert_eq!(full.s, Some(7));
        let D::Span(span) = &full.d else {
            panic!("d is present")
        };
        assert_eq!(&msg[span.clone()], d);

        let kept = Envelope::decode_filtered(msg.as_bytes(), |_| true).unwrap();
        assert_eq!(kept.data(), Some(d.as_bytes()));
        let mut calls = 0;
        let dropped = Envelope::decode_filtered(msg.as_bytes(), |name| {
            calls += 1;
            name.kind() != Some(EventType::MessageCreate)
        })
        .unwrap();
        assert_eq!(calls, 1, "{msg}");
        assert_eq!(dropped.data(), None, "{msg}");
        assert_eq!((dropped.op().to_u8(), dropped.seq()), (0, Some(7)));
        assert_eq!(dropped.event_type(), Some(EventType::MessageCreate));
    }

    // Without `s` the filter is asked once the object ends, and still decides.
    let no_seq = format!(r#"{{"t":"MESSAGE_CREATE","op":0,"d":{d}}}"#);
    let mut calls = 0;
    let dropped = Envelope::decode_filtered(no_seq.as_bytes(), |_| {
        calls += 1;
        false
    })
    .unwrap();
    assert_eq!(calls, 1);
    assert_eq!(dropped.data(), None);
    assert_eq!(dropped.seq(), None);

    // Only named dispatches are filtered.
    for msg in [
        r#"{"t":"X","s":1,"op":1,"d":null}"#,
        r#"{"t":null,"s":1,"op":0,"d":{}}"#,
        r#"{"op":0,"d":{}}"#,
    ] {
        let envelope = Envelope::decode_filtered(msg.as_bytes(), |_| panic!("asked")).unwrap();
        assert!(envelope.data().is_some(), "{msg}");
    }
}
