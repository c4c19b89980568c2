//! Many bots and many processes in one Redis (issue 22, items 2 and 3): every key of a bot is
//! under its own prefix (its user id by default), a saved session is taken by one process only,
//! a shard's lease is held by one process at a time, and every script's keys share a hash slot,
//! so the queue, the store and the stream run on Redis Cluster.

mod common;

use std::time::Duration;

use common::{day_limit, run, RedisServer};
use discord_gateway_redis::{RedisIdentifyQueueBuilder, RedisSessionStore, RedisStreamSink};
use discord_gateway_tokio::{
    Claim, IdentifyQueue, Intents, ResumeState, SessionSeal, SessionStore, Shard, ShardId,
    ShardManager, ShardRange, ShardStopped, Token, Tokio,
};

/// Two bots, tokens in Discord's format (the first segment is base64 of the user id).
const BOT_A: &str = "MTExMTExMTExMTExMTExMTEx.GaBcDe.botAsecretAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const BOT_B: &str = "MjIyMjIyMjIyMjIyMjIyMjIy.GfGhIj.botBsecretBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

fn token(text: &str) -> Token {
    Token::new(text).unwrap()
}

fn shard(id: u32, count: u32) -> ShardId {
    ShardId::new(id, count).unwrap()
}

fn state(session: &str) -> ResumeState {
    ResumeState {
        session_id: session.try_into().unwrap(),
        resume_gateway_url: "wss://gateway-us-east1-b.discord.gg".try_into().unwrap(),
        seq: 7,
    }
}

async fn keys(redis: &RedisServer) -> Vec<String> {
    let mut connection = redis.connection().await;
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut connection)
        .await
        .unwrap();
    keys.sort();
    keys
}

#[test]
fn two_bots_in_one_redis_never_share_a_key() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    run(async {
        let limit = day_limit(10, 1);
        for (bot, session) in [(BOT_A, "aaaa"), (BOT_B, "bbbb")] {
            let token = token(bot);
            let queue = RedisIdentifyQueueBuilder::new(redis.client(), &token)
                .limit(limit)
                .window(Duration::from_millis(20))
                .build(Tokio);
            queue.acquire(shard(0, 1)).await;
            let store = RedisSessionStore::new(redis.client(), &token);
            let seal = SessionSeal::new(&token);
            assert_eq!(store.claim(&[shard(0, 1)]).await.unwrap(), [Claim::Granted]);
            store
                .save(&[(shard(0, 1), seal.seal(shard(0, 1), &state(session)))])
                .await
                .unwrap();
        }
        let keys = keys(&redis).await;
        let (a, b): (Vec<&String>, Vec<&String>) = keys
            .iter()
            .partition(|key| key.starts_with("{discord-gateway:111111111111111111}:"));
        assert!(
            b.iter()
                .all(|key| key.starts_with("{discord-gateway:222222222222222222}:")),
            "every key is under one bot's prefix: {keys:?}"
        );
        // Each bot has its own budget, bucket, session and lease.
        assert_eq!(a.len(), 4, "{keys:?}");
        assert_eq!(b.len(), 4, "{keys:?}");

        // Each bot loads only its own session; the other's lease does not block it.
        for (bot, session) in [(BOT_A, "aaaa"), (BOT_B, "bbbb")] {
            let token = token(bot);
            let store = RedisSessionStore::new(redis.client(), &token);
            let taken = store.take(&[shard(0, 1)]).await.unwrap();
            let opened = SessionSeal::new(&token).open(shard(0, 1), taken[0].as_ref().unwrap());
            assert_eq!(opened, Ok(state(session)));
        }
        // An explicit prefix (`--redis-prefix`) replaces the default one.
        let store = RedisSessionStore::new(redis.client(), &token(BOT_A)).prefix("my-bot");
        assert_eq!(store.key_prefix(), "my-bot");
        store.clear(&[shard(0, 1)]).await.unwrap();
    });
}

#[test]
fn a_saved_session_is_taken_by_one_process_only() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    run(async {
        let token = token(BOT_A);
        let seal = SessionSeal::new(&token);
        let ids: Vec<ShardId> = (0..8).map(|id| shard(id, 8)).collect();
        for round in 0..20 {
            let saved: Vec<_> = ids
                .iter()
                .map(|&id| (id, seal.seal(id, &state(&format!("s{round}")))))
                .collect();
            let one = RedisSessionStore::new(redis.client(), &token);
            let two = RedisSessionStore::new(redis.client(), &token);
            one.save(&saved).await.unwrap();
            // Two processes starting at once, overlapping ranges: each session goes to one.
            let (first, second) = futures_util::join!(one.take(&ids), two.take(&ids[2..]));
            let (first, second) = (first.unwrap(), second.unwrap());
            for (index, id) in ids.iter().enumerate() {
                let here = first[index].is_some();
                let there = index >= 2 && second[index - 2].is_some();
                assert!(
                    here ^ there,
                    "round {round}: shard {id} taken {here} and {there}"
                );
            }
            assert!(one.load(&ids).await.unwrap().iter().all(Option::is_none));
        }
    });
}

#[test]
fn a_shard_lease_is_held_by_one_process_renewed_by_it_and_released_on_request() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    run(async {
        let token = token(BOT_A);
        let ttl = Duration::from_millis(600);
        let one = RedisSessionStore::new(redis.client(), &token).lease_ttl(ttl);
        let two = RedisSessionStore::new(redis.client(), &token).lease_ttl(ttl);
        assert_eq!(one.lease_renewal(), Some(ttl / 3));
        let first = [shard(0, 4), shard(1, 4), shard(2, 4)];
        let second = [shard(1, 4), shard(2, 4), shard(3, 4)];
        assert_eq!(one.claim(&first).await.unwrap(), vec![Claim::Granted; 3]);
        let claims = two.claim(&second).await.unwrap();
        assert_eq!(claims[2], Claim::Granted);
        for claim in &claims[..2] {
            let Claim::HeldBy(holder) = claim else {
                panic!("{claims:?}");
            };
            assert!(
                holder.starts_with(&format!("pid {} on ", std::process::id())),
                "the holder is named: {holder}"
            );
        }
        // Releasing what one does not hold leaves it alone.
        one.release(&[shard(3, 4)]).await.unwrap();
        assert!(matches!(
            &one.claim(&[shard(3, 4)]).await.unwrap()[0],
            Claim::HeldBy(_)
        ));
        // Renewed by its holder (claimed again), the lease outlives its first TTL.
        for _ in 0..4 {
            tokio::time::sleep(ttl / 3).await;
            assert_eq!(one.claim(&first).await.unwrap(), vec![Claim::Granted; 3]);
        }
        assert!(matches!(
            &two.claim(&second[..1]).await.unwrap()[0],
            Claim::HeldBy(_)
        ));
        // Released: the other process takes it at once.
        one.release(&first[..1]).await.unwrap();
        assert_eq!(two.claim(&first[..1]).await.unwrap(), [Claim::Granted]);
        // Not renewed: it lapses after its TTL.
        tokio::time::sleep(ttl + ttl / 2).await;
        assert_eq!(two.claim(&second).await.unwrap(), vec![Claim::Granted; 3]);
    });
}

/// Every script and multi-key command of the crate against a one-node Redis Cluster, which
/// refuses keys of different slots in one call with CROSSSLOT.
#[test]
fn the_queue_the_store_and_the_stream_run_on_redis_cluster() {
    let Some(redis) = RedisServer::start_cluster() else {
        return;
    };
    run(async {
        let mut connection = redis.connection().await;
        // The check itself: this server refuses a cross-slot command.
        let refused = redis::cmd("MGET")
            .arg("a")
            .arg("b")
            .query_async::<Vec<Option<String>>>(&mut connection)
            .await
            .unwrap_err();
        assert!(
            refused
                .to_string()
                .to_ascii_uppercase()
                .contains("CROSSSLOT"),
            "{refused}"
        );

        let token = token(BOT_A);
        let limit = day_limit(10, 2);
        let queue = RedisIdentifyQueueBuilder::new(redis.client(), &token)
            .limit(limit)
            .window(Duration::from_millis(20))
            .build(Tokio);
        // The bucket and the budget in one script.
        tokio::time::timeout(Duration::from_secs(5), async {
            queue.acquire(shard(0, 2)).await;
            queue.acquire(shard(1, 2)).await;
        })
        .await
        .expect("the identify script runs on the cluster");
        assert_eq!(queue.remaining().await.unwrap(), Some(8));

        let store = RedisSessionStore::new(redis.client(), &token);
        let seal = SessionSeal::new(&token);
        let ids = [shard(0, 2), shard(1, 2)];
        assert_eq!(store.claim(&ids).await.unwrap(), vec![Claim::Granted; 2]);
        let saved: Vec<_> = ids
            .iter()
            .map(|&id| (id, seal.seal(id, &state("cccc"))))
            .collect();
        store.save(&saved).await.unwrap();
        assert!(store.load(&ids).await.unwrap().iter().all(Option::is_some));
        assert!(store.take(&ids).await.unwrap().iter().all(Option::is_some));
        store.save(&saved).await.unwrap();
        store.clear(&ids).await.unwrap();
        store.release(&ids).await.unwrap();

        // The stream and the writer's record in one script.
        let (mut sink, writer) = RedisStreamSink::builder(redis.client(), "events").build(Tokio);
        let writing = tokio::spawn(writer.run());
        for n in 0..10u32 {
            sink.push(shard(0, 2), n.to_string().into_bytes())
                .await
                .unwrap();
        }
        tokio::time::timeout(Duration::from_secs(5), sink.flush())
            .await
            .expect("the stream script runs on the cluster")
            .unwrap();
        drop(sink);
        writing.await.unwrap();
        let length: u64 = redis::cmd("XLEN")
            .arg("events")
            .query_async(&mut connection)
            .await
            .unwrap();
        assert_eq!(length, 10);
    });
}

/// The manager claims its shards' leases at start, keeps them while it runs (past many times
/// their TTL), stops a shard whose lease another process took, and releases the rest on
/// shutdown, after saving their sessions.
#[test]
fn a_manager_renews_its_leases_stops_a_shard_it_lost_and_releases_on_shutdown() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let sim = common::shards::sim_builder()
        .heartbeat_interval(Duration::from_secs(5))
        .start_blocking()
        .unwrap();
    let token = common::token();
    let ttl = Duration::from_millis(300);
    run(async {
        let builder = Shard::builder(token.clone())
            .configure(|c| c.gateway_url(&sim.url()).intents(Intents::GUILDS));
        let queue = common::shards::queue_builder(redis.client(), "fleet").build(Tokio);
        let mut manager = ShardManager::builder(builder, ShardRange::new(0, 1, 2).unwrap())
            .identify_queue(queue)
            .session_store(RedisSessionStore::new(redis.client(), &token).lease_ttl(ttl))
            .start()
            .await
            .unwrap();
        let other = RedisSessionStore::new(redis.client(), &token).lease_ttl(ttl);
        let ids = [shard(0, 2), shard(1, 2)];
        // Polled for four TTLs: the leases are renewed all along.
        let until = tokio::time::Instant::now() + ttl * 4;
        while let Ok(item) = tokio::time::timeout_at(until, manager.next_event()).await {
            assert!(item.expect("running").is_ok());
        }
        for claim in other.claim(&ids).await.unwrap() {
            assert!(matches!(claim, Claim::HeldBy(_)), "{claim:?}");
        }
        // Another process takes shard 1's lease (this one could not renew in time, say).
        let mut connection = redis.connection().await;
        redis::cmd("SET")
            .arg(common::key("lease:2:1"))
            .arg("the other process")
            .query_async::<()>(&mut connection)
            .await
            .unwrap();
        let lost = loop {
            let item = tokio::time::timeout(Duration::from_secs(10), manager.next_event())
                .await
                .expect("the lost lease is noticed at the next renewal")
                .expect("running");
            if let Err(stopped) = item {
                break stopped;
            }
        };
        assert_eq!(
            lost,
            ShardStopped::LeaseLost {
                shard: shard(1, 2),
                holder: "the other process".into()
            }
        );
        assert_eq!(manager.running(), 1);
        assert_eq!(
            manager.shutdown().await.unwrap(),
            1,
            "shard 0's session saved"
        );
        // Shard 0's lease released, shard 1's left to its holder.
        let claims = other.claim(&ids).await.unwrap();
        assert_eq!(claims[0], Claim::Granted);
        assert_eq!(claims[1], Claim::HeldBy("the other process".into()));
        assert!(other.load(&ids).await.unwrap()[0].is_some());
    });
}
