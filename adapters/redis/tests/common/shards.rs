//! Shards against the sim with a Redis identify queue, what the sim saw of them, and the
//! second OS process some tests run (the test binary itself, re-executed).

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command};
use std::time::Duration;

use discord_gateway_redis::{RedisIdentifyQueue, RedisIdentifyQueueBuilder};
use discord_gateway_sim::{Sim, SimBuilder, SimHandle};
use discord_gateway_tokio::{
    Intents, ResumeState, SessionEvent, Shard, ShardError, ShardEvent, ShardId, Token, Tokio,
};
use futures_util::stream::{select_all, StreamExt};

pub const TOKEN: &str = "redis-suite-token";
/// Discord's 5 s identify window, scaled down in the sim and the queue together.
pub const WINDOW: Duration = Duration::from_millis(300);
/// How long the queue holds a bucket beyond the window: the window is measured where Redis
/// grants a bucket, the sim checks it where Identifies arrive, and on a loaded 2-core machine
/// running several test processes one Identify can leave its process 70 ms later than the one
/// before it (measured: 50 ms was not enough). Discord's 5 s take the default 200 ms.
pub const GUARD: Duration = Duration::from_millis(200);
pub const MAX_CONCURRENCY: u32 = 4;
/// The longest a group of shards may take to start before the test fails.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

pub fn sim_builder() -> SimBuilder {
    Sim::builder()
        .token(TOKEN)
        .max_concurrency(MAX_CONCURRENCY)
        .identify_window(WINDOW)
}

pub fn queue_builder(client: redis::Client, prefix: &str) -> RedisIdentifyQueueBuilder {
    RedisIdentifyQueueBuilder::new(client, &Token::new(TOKEN).unwrap())
        .prefix(prefix)
        .max_concurrency(MAX_CONCURRENCY)
        .window(WINDOW)
        .guard(GUARD)
}

/// Shards `ids` of `total` pointed at the sim, sharing `queue`, resuming `resume[i]` if given.
pub fn shards(
    sim_url: &str,
    ids: std::ops::Range<u32>,
    total: u32,
    queue: &RedisIdentifyQueue<Tokio>,
    resume: Option<Vec<Option<ResumeState>>>,
) -> Vec<Shard> {
    let mut resume = resume.map(Vec::into_iter);
    ids.map(|id| {
        let mut builder = Shard::builder(Token::new(TOKEN).unwrap())
            .configure(|c| {
                c.gateway_url(sim_url)
                    .shard(ShardId::new(id, total).unwrap())
                    .intents(Intents::GUILDS)
            })
            .identify_queue(queue.clone());
        if let Some(state) = resume.as_mut().and_then(Iterator::next).flatten() {
            builder = builder.resume(state);
        }
        builder.build().unwrap()
    })
    .collect()
}

/// How each shard started.
#[derive(Debug, Default)]
pub struct Started {
    pub ready: BTreeSet<u32>,
    pub resumed: BTreeSet<u32>,
}

/// Polls `shards`, merged as `examples/multi_shard.rs` runs them, until every one has reported
/// READY or RESUMED; gives them back (still connected) with how each started.
pub async fn start_all(shards: Vec<Shard>) -> (Vec<Shard>, Started) {
    let count = shards.len();
    let mut events = select_all(shards.into_iter().map(|shard| {
        let id = shard.id().id();
        shard.map(move |event| (id, event))
    }));
    let mut started = Started::default();
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    while started.ready.len() + started.resumed.len() < count {
        let next = tokio::time::timeout_at(deadline, events.next()).await;
        let Ok(Some((id, event))) = next else {
            panic!("shards did not all start in time: {started:?} of {count}");
        };
        match event {
            Ok(ShardEvent::Session(SessionEvent::Ready, _)) => {
                started.ready.insert(id);
            }
            Ok(ShardEvent::Session(SessionEvent::Resumed { .. }, _)) => {
                started.resumed.insert(id);
            }
            Ok(_) => {}
            Err(error @ ShardError::Fatal(_)) => panic!("shard {id}: {error}"),
            Err(error) => panic!("shard {id}: {error:?}"),
        }
    }
    let shards = events
        .into_iter()
        .map(futures_util::stream::Map::into_inner)
        .collect();
    (shards, started)
}

/// Every Identify the sim received: when (since the sim started), and for which shard.
pub fn identifies(sim: &SimHandle) -> Vec<(Duration, u32)> {
    let mut found = Vec::new();
    for connection in sim.connections() {
        for payload in connection.payloads.iter().filter(|p| p.op == Some(2)) {
            let json = payload.json().expect("Identify is JSON");
            let id = json["d"]["shard"][0]
                .as_u64()
                .expect("Identify names its shard");
            found.push((payload.at, id as u32));
        }
    }
    found.sort();
    found
}

/// Discord's rule as the sim saw it: no bucket identified twice within a window.
pub fn assert_identify_rule(sim: &SimHandle) {
    let mut last: BTreeMap<u32, Duration> = BTreeMap::new();
    for (at, shard) in identifies(sim) {
        let bucket = shard % MAX_CONCURRENCY;
        if let Some(previous) = last.insert(bucket, at) {
            assert!(
                at - previous >= WINDOW,
                "bucket {bucket} identified at {previous:?} and again at {at:?} (shard {shard})"
            );
        }
    }
    assert_eq!(
        sim.counters().identify_rate_limited,
        0,
        "the sim refused Identifies as too fast"
    );
}

/// The environment a second process reads its part from.
pub mod env {
    pub const ROLE: &str = "DISCORD_GATEWAY_REDIS_TEST_ROLE";
    pub const REDIS: &str = "DISCORD_GATEWAY_REDIS_TEST_REDIS";
    pub const SIM: &str = "DISCORD_GATEWAY_REDIS_TEST_SIM";
    pub const PREFIX: &str = "DISCORD_GATEWAY_REDIS_TEST_PREFIX";
    pub const FIRST: &str = "DISCORD_GATEWAY_REDIS_TEST_FIRST";
    pub const END: &str = "DISCORD_GATEWAY_REDIS_TEST_END";
    pub const TOTAL: &str = "DISCORD_GATEWAY_REDIS_TEST_TOTAL";

    pub fn get(name: &str) -> String {
        std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by the parent test"))
    }

    pub fn number(name: &str) -> u32 {
        get(name).parse().expect("a number")
    }
}

/// Runs the ignored test `test` of this test binary as a second OS process, with `vars`.
pub fn spawn_process(test: &str, vars: &[(&str, String)]) -> Child {
    Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "--exact",
            test,
            "--nocapture",
            "--ignored",
            "--test-threads=1",
        ])
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .spawn()
        .expect("the second process starts")
}
