//! The byte streams every contender reads, built from the protocol reference's payload examples
//! (`fixtures/payload-examples`) and the captured GUILD_CREATE (`fixtures/captured`).
//!
//! Every message is compact JSON, as Discord sends it. Each corpus exists in two key orders of
//! the envelope: Discord's (`t`, `s`, `op`, `d`) and a shuffled one (same objects, the four
//! envelope keys reordered), so a scanner that only works for Discord's order cannot win.

use std::path::PathBuf;

use crate::json::{array_items, minify, Members};

/// The key order of the envelopes in a corpus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// `t`, `s`, `op`, `d`: what Discord sends.
    Discord,
    /// The four keys permuted (never Discord's order): a proxy or another server may do this.
    Shuffled,
}

impl Order {
    /// `"discord"` or `"shuffled"`.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Discord => "discord",
            Self::Shuffled => "shuffled",
        }
    }
}

/// One gateway message and what a correct envelope scan must find in it.
#[derive(Clone, Debug)]
pub struct Message {
    /// The whole payload.
    pub bytes: Vec<u8>,
    /// `op`.
    pub op: u8,
    /// `s`, when not null.
    pub seq: Option<u64>,
    /// `t`, when not null.
    pub name: Option<String>,
    /// The exact text of `d`.
    pub data: String,
}

/// A named list of messages.
#[derive(Clone, Debug)]
pub struct Corpus {
    /// `mix` or `guild_create_5mb`.
    pub name: &'static str,
    /// The key order of its envelopes.
    pub order: Order,
    /// The messages, in stream order.
    pub messages: Vec<Message>,
}

impl Corpus {
    /// Total payload bytes.
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.messages.iter().map(|m| m.bytes.len() as u64).sum()
    }

    /// `mix/discord` and the like.
    #[must_use]
    pub fn label(&self) -> String {
        format!("{}/{}", self.name, self.order.label())
    }
}

/// The repository's test fixtures (`fixtures/README.md` says where each came from).
#[must_use]
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

fn read(path: &str) -> String {
    let path = fixtures_dir().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The compact `d` of a payload example (`message_create`, `guild_create`, ...).
#[must_use]
pub fn example_data(name: &str) -> String {
    let text = minify(&read(&format!("payload-examples/{name}.json")));
    let members = Members::parse(&text).expect("an example is an object");
    members.get("d").expect("an example has d").to_owned()
}

/// A MESSAGE_CREATE `d` without the reply (about 1.3 KB): the common case.
#[must_use]
pub fn plain_message_data() -> String {
    let mut d = Members::parse(&example_data("message_create")).expect("object");
    d.0.retain(|(key, _)| key != "referenced_message" && key != "message_reference");
    d.set("type", "0".to_owned());
    d.to_json()
}

/// The payload example GUILD_CREATE `d`, its member list repeated up to `target` bytes.
#[must_use]
pub fn guild_create_data(target: usize) -> String {
    let mut d = Members::parse(&example_data("guild_create")).expect("object");
    let items = array_items(d.get("members").expect("members"));
    let mut members: Vec<String> = items.iter().map(|m| m.get().to_owned()).collect();
    let base = d.to_json().len();
    let mut extra = 0;
    let mut i = 0;
    while base + extra < target {
        let item = items[i % items.len()].get().to_owned();
        extra += item.len() + 1;
        members.push(item);
        i += 1;
    }
    d.set("members", format!("[{}]", members.join(",")));
    d.to_json()
}

/// The captured 2.8 MB GUILD_CREATE `d` with its members and presences repeated to reach
/// `target` bytes (about 5 MB for the benchmark).
#[must_use]
pub fn big_guild_create_data(target: usize) -> String {
    let text = read("captured/serenity-guild_create_1.json");
    let mut d = Members::parse(text.trim()).expect("object");
    let members = d.get("members").expect("members").to_owned();
    let presences = d.get("presences").expect("presences").to_owned();
    let inner = |array: &str| array[1..array.len() - 1].to_owned();
    let (members_inner, presences_inner) = (inner(&members), inner(&presences));
    let mut copies = 1;
    while d.to_json().len() < target {
        copies += 1;
        d.set(
            "members",
            format!("[{}]", vec![members_inner.as_str(); copies].join(",")),
        );
        d.set(
            "presences",
            format!("[{}]", vec![presences_inner.as_str(); copies].join(",")),
        );
        if copies > 8 {
            break;
        }
    }
    d.to_json()
}

#[derive(Clone, Copy)]
enum Key {
    T,
    S,
    Op,
    D,
}

const DISCORD_ORDER: [Key; 4] = [Key::T, Key::S, Key::Op, Key::D];

/// A small deterministic generator for the shuffles (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A permutation of the envelope keys other than Discord's.
    fn shuffled(&mut self) -> [Key; 4] {
        loop {
            let mut keys = DISCORD_ORDER;
            for i in (1..keys.len()).rev() {
                let j = usize::try_from(self.next() % (i as u64 + 1)).unwrap_or(0);
                keys.swap(i, j);
            }
            if !matches!(keys, [Key::T, Key::S, Key::Op, Key::D]) {
                return keys;
            }
        }
    }
}

/// Builds one envelope with its keys in `order`.
fn envelope(order: [Key; 4], name: Option<&str>, seq: Option<u64>, op: u8, data: &str) -> Message {
    let mut out = String::with_capacity(data.len() + 64);
    out.push('{');
    for (i, key) in order.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match key {
            Key::T => {
                out.push_str("\"t\":");
                match name {
                    Some(name) => {
                        out.push('"');
                        out.push_str(name);
                        out.push('"');
                    }
                    None => out.push_str("null"),
                }
            }
            Key::S => {
                out.push_str("\"s\":");
                match seq {
                    Some(seq) => out.push_str(&seq.to_string()),
                    None => out.push_str("null"),
                }
            }
            Key::Op => {
                out.push_str("\"op\":");
                out.push_str(&op.to_string());
            }
            Key::D => {
                out.push_str("\"d\":");
                out.push_str(data);
            }
        }
    }
    out.push('}');
    Message {
        bytes: out.into_bytes(),
        op,
        seq,
        name: name.map(str::to_owned),
        data: data.to_owned(),
    }
}

/// A single Discord-ordered dispatch.
#[must_use]
pub fn dispatch(name: &str, seq: u64, data: &str) -> Vec<u8> {
    envelope(DISCORD_ORDER, Some(name), Some(seq), 0, data).bytes
}

/// What a realistic stream looks like: per 100 messages, 74 MESSAGE_CREATE (three shapes,
/// 1.3 to 3 KB), 10 PRESENCE_UPDATE, 10 TYPING_START, 5 heartbeat ACKs and one 80 KB
/// GUILD_CREATE, with consecutive sequence numbers. 200 messages, about 0.5 MB.
#[must_use]
pub fn mix(order: Order) -> Corpus {
    let reply = example_data("message_create");
    let plain = plain_message_data();
    let unicode = example_data("message_create_unicode_escapes");
    let presence = example_data("presence_update");
    let typing = example_data("typing_start");
    let guild = guild_create_data(80_000);
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    let mut seq = 1;
    let mut messages = Vec::new();
    let mut message_shape = 0usize;
    for i in 0..200usize {
        let keys = match order {
            Order::Discord => DISCORD_ORDER,
            Order::Shuffled => rng.shuffled(),
        };
        if i % 20 == 7 {
            messages.push(envelope(keys, None, None, 11, "null"));
            continue;
        }
        let (name, data) = match i % 100 {
            50 => ("GUILD_CREATE", guild.as_str()),
            _ if i % 10 == 3 => ("PRESENCE_UPDATE", presence.as_str()),
            _ if i % 10 == 5 => ("TYPING_START", typing.as_str()),
            _ => {
                message_shape += 1;
                let data = match message_shape % 4 {
                    0 | 2 => plain.as_str(),
                    1 => reply.as_str(),
                    _ => unicode.as_str(),
                };
                ("MESSAGE_CREATE", data)
            }
        };
        seq += 1;
        messages.push(envelope(keys, Some(name), Some(seq), 0, data));
    }
    Corpus {
        name: "mix",
        order,
        messages,
    }
}

/// One GUILD_CREATE of about 5 MB (the captured guild, members and presences repeated).
#[must_use]
pub fn big_guild_create(order: Order) -> Corpus {
    let data = big_guild_create_data(5_000_000);
    let keys = match order {
        Order::Discord => DISCORD_ORDER,
        // The order of the protocol reference's own examples.
        Order::Shuffled => [Key::Op, Key::D, Key::S, Key::T],
    };
    Corpus {
        name: "guild_create_5mb",
        order,
        messages: vec![envelope(keys, Some("GUILD_CREATE"), Some(2), 0, &data)],
    }
}
