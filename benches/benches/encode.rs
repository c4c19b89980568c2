//! Benchmark 2: command encoding.
//!
//! Heartbeat, Identify (with shard, presence and large_threshold), Update Presence and Request
//! Guild Members, encoded by `discord_gateway::encode_into` into a fixed 4096-byte buffer, against
//! `serde_json::to_vec` of the structs a serde user would write (owned strings, an `{op, d}`
//! wrapper). Setup checks that both produce the same JSON.
//!
//! `cargo bench -p discord-gateway-benches --bench encode`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use discord_gateway::command::{
    encode_into, Activity, ActivityType, ConnectionProperties, Encode, Heartbeat, Identify,
    MemberSelector, RequestGuildMembers, Status, UpdatePresence, MAX_PAYLOAD_LEN,
};
use discord_gateway::protocol::{Intents, ShardId, Snowflake};
use discord_gateway::Token;
use serde::Serialize;

const TOKEN: &str = "MTA4NTk4NzY1NDMyMTAxMjM0NQ.GxYzAb.not-a-real-token-0123456789abcdefghij";

#[derive(Serialize)]
struct Payload<T> {
    op: u8,
    d: T,
}

#[derive(Serialize)]
struct SerdeProperties {
    os: String,
    browser: String,
    device: String,
}

#[derive(Serialize)]
struct SerdeActivity {
    name: String,
    #[serde(rename = "type")]
    kind: u8,
}

#[derive(Serialize)]
struct SerdePresence {
    since: Option<u64>,
    activities: Vec<SerdeActivity>,
    status: String,
    afk: bool,
}

#[derive(Serialize)]
struct SerdeIdentify {
    token: String,
    properties: SerdeProperties,
    compress: bool,
    large_threshold: u8,
    shard: [u32; 2],
    presence: SerdePresence,
    intents: u64,
}

#[derive(Serialize)]
struct SerdeRequestGuildMembers {
    guild_id: String,
    query: String,
    limit: u16,
    presences: bool,
    nonce: String,
}

fn serde_presence() -> SerdePresence {
    SerdePresence {
        since: None,
        activities: vec![SerdeActivity {
            name: "the gateway".to_owned(),
            kind: 3,
        }],
        status: "online".to_owned(),
        afk: false,
    }
}

/// Encodes with both and checks the JSON is the same, then benchmarks both.
fn pair<C: Encode, S: Serialize>(c: &mut Criterion, name: &str, ours: &C, serde: &Payload<S>) {
    let mut buf = [0u8; MAX_PAYLOAD_LEN];
    let len = encode_into(ours, &mut buf).expect("encodes");
    let ours_json: serde_json::Value = serde_json::from_slice(&buf[..len]).expect("valid JSON");
    let serde_json_bytes = serde_json::to_vec(serde).expect("serializes");
    let theirs: serde_json::Value = serde_json::from_slice(&serde_json_bytes).expect("valid");
    assert_eq!(ours_json, theirs, "{name}: the two encodings differ");

    let mut group = c.benchmark_group(format!("encode/{name}"));
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(2));
    group.bench_function("ours/encode_into", |b| {
        let mut buf = [0u8; MAX_PAYLOAD_LEN];
        b.iter(|| encode_into(black_box(ours), black_box(&mut buf)));
    });
    group.bench_function("serde_json/to_vec", |b| {
        b.iter(|| serde_json::to_vec(black_box(serde)));
    });
    group.finish();
}

fn encode(c: &mut Criterion) {
    let token = Token::new(TOKEN).expect("token");
    let activities = [Activity::new(ActivityType::Watching, "the gateway")];
    let presence = UpdatePresence::new(Status::Online, &activities);

    pair(
        c,
        "heartbeat",
        &Heartbeat { seq: Some(251) },
        &Payload {
            op: 1,
            d: Some(251u64),
        },
    );

    let intents = Intents::GUILDS | Intents::GUILD_MESSAGES | Intents::MESSAGE_CONTENT;
    let mut identify = Identify::new(
        &token,
        intents,
        ConnectionProperties::new("linux", "discord-gateway", "discord-gateway"),
    );
    identify.large_threshold = Some(250);
    identify.shard = Some(ShardId::new(3, 16).expect("shard"));
    identify.presence = Some(presence);
    pair(
        c,
        "identify",
        &identify,
        &Payload {
            op: 2,
            d: SerdeIdentify {
                token: TOKEN.to_owned(),
                properties: SerdeProperties {
                    os: "linux".to_owned(),
                    browser: "discord-gateway".to_owned(),
                    device: "discord-gateway".to_owned(),
                },
                compress: false,
                large_threshold: 250,
                shard: [3, 16],
                presence: serde_presence(),
                intents: intents.bits(),
            },
        },
    );

    pair(
        c,
        "update_presence",
        &presence,
        &Payload {
            op: 3,
            d: serde_presence(),
        },
    );

    let mut request = RequestGuildMembers::new(
        Snowflake::from(584_799_433_523_331_074),
        MemberSelector::Query {
            prefix: "ferr",
            limit: 10,
        },
    );
    request.presences = true;
    request.nonce = Some("a1b2c3d4");
    pair(
        c,
        "request_guild_members",
        &request,
        &Payload {
            op: 8,
            d: SerdeRequestGuildMembers {
                guild_id: "584799433523331074".to_owned(),
                query: "ferr".to_owned(),
                limit: 10,
                presences: true,
                nonce: "a1b2c3d4".to_owned(),
            },
        },
    );
}

criterion_group!(benches, encode);
criterion_main!(benches);
