//! Two OS processes sharing one Redis and one sim: the identify rule holds across both, a
//! process killed mid-start does not stop the other, and sessions one saved the other resumes.
//!
//! The second process is this test binary run again (`second_process`, ignored unless the
//! parent's environment says what to do), so no extra binary ships with the crate.

mod common;

use std::process::Child;
use std::time::{Duration, Instant};

use common::shards::{
    assert_identify_rule, env, identifies, queue_builder, shards, sim_builder, spawn_process,
    start_all,
};
use common::{run, RedisServer};
use discord_gateway_redis::RedisSessionStore;
use discord_gateway_tokio::{CloseKind, SessionSeal, SessionStore, ShardId, Token, Tokio};

const SECOND: &str = "second_process";

/// What the second process does, told by the parent through its environment.
#[test]
#[ignore = "the second process of the tests in this file; does nothing when run by hand"]
fn second_process() {
    let Ok(role) = std::env::var(env::ROLE) else {
        return;
    };
    let client = redis::Client::open(env::get(env::REDIS)).unwrap();
    let sim_url = env::get(env::SIM);
    let ids = env::number(env::FIRST)..env::number(env::END);
    let total = env::number(env::TOTAL);
    let queue = queue_builder(client.clone(), &env::get(env::PREFIX)).build(Tokio);
    run(async {
        let (mut started, _) = start_all(shards(&sim_url, ids, total, &queue, None)).await;
        match role.as_str() {
            "identify" => {}
            "save-sessions" => {
                let seal = SessionSeal::new(&Token::new(common::shards::TOKEN).unwrap());
                let mut states = Vec::new();
                for shard in &mut started {
                    shard.close(CloseKind::Resumable).await;
                    let state = shard.resume_state().expect("a session");
                    states.push((shard.id(), seal.seal(shard.id(), &state)));
                }
                RedisSessionStore::new(client, &common::token())
                    .prefix(env::get(env::PREFIX))
                    .save(&states)
                    .await
                    .unwrap();
            }
            other => panic!("unknown role {other}"),
        }
    });
}

fn vars(
    redis: &RedisServer,
    sim_url: &str,
    role: &str,
    ids: std::ops::Range<u32>,
    total: u32,
) -> Vec<(&'static str, String)> {
    vec![
        (env::ROLE, role.to_owned()),
        (env::REDIS, redis.url()),
        (env::SIM, sim_url.to_owned()),
        (env::PREFIX, "bot".to_owned()),
        (env::FIRST, ids.start.to_string()),
        (env::END, ids.end.to_string()),
        (env::TOTAL, total.to_string()),
    ]
}

/// Waits for the second process and checks it succeeded.
fn wait_success(mut child: Child) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "the second process failed: {status}");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the second process did not finish");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn two_processes_share_the_identify_rule() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let sim = sim_builder().start_blocking().unwrap();
    let other = spawn_process(SECOND, &vars(&redis, &sim.url(), "identify", 16..32, 32));
    let queue = queue_builder(redis.client(), "bot").build(Tokio);
    let (_, started) = run(start_all(shards(&sim.url(), 0..16, 32, &queue, None)));
    assert_eq!(started.ready.len(), 16);
    wait_success(other);

    // Every one of the 32 shards identified once and reached READY, by the rule.
    let shards: Vec<u32> = identifies(&sim).into_iter().map(|(_, id)| id).collect();
    let mut sorted = shards.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        (0..32).collect::<Vec<_>>(),
        "one Identify per shard"
    );
    assert_eq!(sim.counters().readies, 32);
    assert_identify_rule(&sim);
}

#[test]
fn a_process_killed_mid_start_leaves_the_other_starting() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let sim = sim_builder().start_blocking().unwrap();
    let mut other = spawn_process(SECOND, &vars(&redis, &sim.url(), "identify", 16..32, 32));
    // Kill the second process (SIGKILL, as a crash) once two of its shards have identified:
    // it may well hold a bucket at that moment.
    let killer = {
        let sim = sim.handle();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while identifies(&sim).iter().filter(|(_, id)| *id >= 16).count() < 2 {
                assert!(
                    Instant::now() < deadline,
                    "the second process never identified"
                );
                std::thread::sleep(Duration::from_millis(2));
            }
            other.kill().unwrap();
            other.wait().unwrap();
        })
    };
    let queue = queue_builder(redis.client(), "bot").build(Tokio);
    let (_, started) = run(start_all(shards(&sim.url(), 0..16, 32, &queue, None)));
    killer.join().unwrap();
    assert_eq!(
        started.ready.len(),
        16,
        "this process started all its shards"
    );

    let theirs = identifies(&sim).iter().filter(|(_, id)| *id >= 16).count();
    assert!(
        (2..16).contains(&theirs),
        "the second process died mid-start ({theirs} of its 16 shards identified)"
    );
    assert_identify_rule(&sim);
}

#[test]
fn sessions_saved_by_one_process_resume_in_another() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let sim = sim_builder().start_blocking().unwrap();
    let other = spawn_process(SECOND, &vars(&redis, &sim.url(), "save-sessions", 0..8, 8));
    wait_success(other);
    assert_eq!(sim.counters().identifies, 8, "{:#?}", sim.counters());

    let ids: Vec<ShardId> = (0..8).map(|id| ShardId::new(id, 8).unwrap()).collect();
    let store = RedisSessionStore::new(redis.client(), &common::token()).prefix("bot");
    let queue = queue_builder(redis.client(), "bot").build(Tokio);
    let started = run(async {
        let seal = SessionSeal::new(&Token::new(common::shards::TOKEN).unwrap());
        let states = store.load(&ids).await.unwrap();
        let states: Vec<_> = ids
            .iter()
            .zip(states)
            .map(|(id, sealed)| {
                Some(
                    seal.open(*id, &sealed.expect("every session saved"))
                        .unwrap(),
                )
            })
            .collect();
        let (_, started) = start_all(shards(&sim.url(), 0..8, 8, &queue, Some(states))).await;
        store.clear(&ids).await.unwrap();
        assert!(store.load(&ids).await.unwrap().iter().all(Option::is_none));
        started
    });
    assert_eq!(started.resumed.len(), 8, "{started:?}");
    assert!(started.ready.is_empty());
    let counters = sim.counters();
    assert_eq!(
        counters.identifies, 8,
        "no Identify from the second process"
    );
    assert_eq!(counters.resumed, 8);
}
