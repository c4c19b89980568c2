//! The crate on smol: `cargo test -p discord-gateway-redis --no-default-features --features smol
//! --test smol` (CI runs it). The identify queue's timers, the store and the stream writer, with
//! Redis connections on smol's reactor and no tokio runtime anywhere.
#![cfg(feature = "smol")]

mod common;

use std::time::{Duration, Instant};

use common::RedisServer;
use discord_gateway_redis::{RedisIdentifyQueueBuilder, RedisSessionStore, RedisStreamSink};
use discord_gateway_smol::{
    IdentifyQueue, ResumeState, SessionSeal, SessionStore, ShardId, Smol, Token,
};

#[test]
fn queue_store_and_stream_run_on_smol() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let token = Token::new("smol-token").unwrap();
    smol::block_on(async {
        // Two shards of one bucket: the second waits the window out on smol's timer.
        let queue = RedisIdentifyQueueBuilder::new(redis.client(), &token)
            .window(Duration::from_millis(200))
            .guard(Duration::ZERO)
            .build(Smol);
        let first = queue.acquire(ShardId::new(0, 2).unwrap());
        let second = queue.acquire(ShardId::new(1, 2).unwrap());
        first.await;
        let granted = Instant::now();
        second.await;
        assert!(granted.elapsed() >= Duration::from_millis(100));

        let store = RedisSessionStore::new(redis.client(), &token);
        let state = ResumeState {
            session_id: "abcd".try_into().unwrap(),
            resume_gateway_url: "wss://gateway.discord.gg".try_into().unwrap(),
            seq: 42,
        };
        let shard = ShardId::new(0, 1).unwrap();
        let seal = SessionSeal::new(&token);
        store
            .save(&[(shard, seal.seal(shard, &state))])
            .await
            .unwrap();
        let loaded = store.load(&[shard]).await.unwrap();
        assert_eq!(seal.open(shard, loaded[0].as_ref().unwrap()), Ok(state));

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
