//! The crate on smol: `cargo test -p discord-gateway-redis --no-default-features --features smol
//! --test smol` (CI runs it). The identify queue's timers, the store and the stream writer, with
//! Redis connections on smol's reactor and no tokio runtime anywhere.
#![cfg(feature = "smol")]

mod common;

use std::time::{Duration, Instant};

use common::RedisServer;
use discord_gateway_redis::{RedisIdentifyQueueBuilder, RedisSessionStore, RedisStreamSink};
use discord_gateway_smol::{IdentifyQueue, ResumeState, SessionStore, ShardId, Smol};

#[test]
fn queue_store_and_stream_run_on_smol() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    smol::block_on(async {
        // Two shards of one bucket: the second waits the window out on smol's timer.
        let queue = RedisIdentifyQueueBuilder::new(redis.client())
            .window(Duration::from_millis(200))
            .guard(Duration::ZERO)
            .build(Smol);
        let first = queue.acquire(ShardId::new(0, 2).unwrap());
        let second = queue.acquire(ShardId::new(1, 2).unwrap());
        first.await;
        let granted = Instant::now();
        second.await;
        assert!(granted.elapsed() >= Duration::from_millis(100));

        let store = RedisSessionStore::new(redis.client());
        let state = ResumeState {
            session_id: "abcd".try_into().unwrap(),
            resume_gateway_url: "wss://gateway.discord.gg".try_into().unwrap(),
            seq: 42,
        };
        let shard = ShardId::new(0, 1).unwrap();
        store.save(&[(shard, state.clone())]).await.unwrap();
        assert_eq!(store.load(&[shard]).await.unwrap(), vec![Some(state)]);

        let (mut sink, writer) = RedisStreamSink::builder(redis.client(), "events").build(Smol);
        let writing = smol::spawn(writer.run());
        for n in 0..1_000u32 {
            sink.push(shard, n.to_string().into_bytes()).await.unwrap();
        }
        sink.flush().await.unwrap();
        drop(sink);
        writing.await;
    });
    let mut connection = redis.client().get_connection().unwrap();
    let length: u64 = redis::cmd("XLEN")
        .arg("events")
        .query(&mut connection)
        .unwrap();
    assert_eq!(length, 1_000);
}
