//! The Redis Stream sink against a real redis-server: order, no loss and no repeats through a
//! Redis restart, a reply lost after Redis executed a write, and backpressure while Redis is
//! away.

mod common;

use std::collections::BTreeMap;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{capture_logs, run, Persistence, RedisServer};
use discord_gateway_redis::RedisStreamSink;
use discord_gateway_tokio::{ShardId, Tokio};
use futures_util::future::{select, Either};
use redis::Value;

const KEY: &str = "gateway-events";

/// The event a test shard `shard` pushes as its `n`th.
fn event(shard: u32, n: u64) -> Vec<u8> {
    format!(r#"{{"op":0,"t":"MESSAGE_CREATE","s":{n},"d":{{"shard":{shard},"n":{n}}}}}"#)
        .into_bytes()
}

/// Every entry of the stream, in stream order, as (shard field, event field).
fn read_stream(redis: &RedisServer) -> Vec<(u32, Vec<u8>)> {
    let mut connection = redis.client().get_connection().expect("a connection");
    let mut entries = Vec::new();
    let mut start = "-".to_owned();
    loop {
        let page: Vec<(String, Vec<(String, Value)>)> = redis::cmd("XRANGE")
            .arg(KEY)
            .arg(&start)
            .arg("+")
            .arg("COUNT")
            .arg(10_000)
            .query(&mut connection)
            .expect("XRANGE");
        let Some((last, _)) = page.last() else {
            return entries;
        };
        start = format!("({last}");
        for (_, fields) in page {
            let field = |name: &str| -> Vec<u8> {
                match fields.iter().find(|(key, _)| key == name) {
                    Some((_, Value::BulkString(bytes))) => bytes.clone(),
                    other => panic!("field {name}: {other:?}"),
                }
            };
            let shard = String::from_utf8(field("shard")).unwrap().parse().unwrap();
            entries.push((shard, field("event")));
        }
    }
}

/// Checks that every shard's events are all there, once each, in the order pushed.
fn assert_exactly_once_in_order(entries: &[(u32, Vec<u8>)], shards: u32, per_shard: u64) {
    let mut next: BTreeMap<u32, u64> = BTreeMap::new();
    for (position, (shard, bytes)) in entries.iter().enumerate() {
        let expected = next.entry(*shard).or_insert(0);
        assert_eq!(
            bytes,
            &event(*shard, *expected),
            "entry {position}: shard {shard} should have its event {expected} next",
        );
        *expected += 1;
    }
    let counts: Vec<u64> = (0..shards)
        .map(|s| next.get(&s).copied().unwrap_or(0))
        .collect();
    assert_eq!(counts, vec![per_shard; shards as usize], "events per shard");
    assert_eq!(entries.len() as u64, u64::from(shards) * per_shard);
}

#[test]
fn hundred_thousand_events_from_four_shards_survive_a_redis_restart() {
    const SHARDS: u32 = 4;
    const PER_SHARD: u64 = 25_000;
    let Some(redis) = RedisServer::start_with(Persistence::AppendAlways) else {
        return;
    };
    let client = redis.client();
    let pushed = Arc::new(AtomicU64::new(0));

    // Kill Redis (SIGKILL, as a crash) a third of the way through, start it again half a
    // second later on the same port and data.
    let restarter = {
        let pushed = Arc::clone(&pushed);
        let mut redis = redis;
        std::thread::spawn(move || {
            while pushed.load(Ordering::Relaxed) < 30_000 {
                std::thread::sleep(Duration::from_millis(1));
            }
            let mut connection = redis.client().get_connection().unwrap();
            let before: u64 = redis::cmd("XLEN").arg(KEY).query(&mut connection).unwrap();
            redis.kill();
            std::thread::sleep(Duration::from_millis(500));
            redis.start_again();
            (redis, before)
        })
    };

    let (_logs_guard, logs) = capture_logs();
    run(async move {
        let (sink, writer) = RedisStreamSink::builder(client, KEY)
            .buffer(5_000)
            .max_retry(Duration::from_millis(100))
            .build(Tokio);
        let writing = tokio::spawn(writer.run());
        let mut shards = Vec::new();
        for shard in 0..SHARDS {
            let mut sink = sink.clone();
            let pushed = Arc::clone(&pushed);
            shards.push(tokio::spawn(async move {
                let id = ShardId::new(shard, SHARDS).unwrap();
                for n in 0..PER_SHARD {
                    sink.push(id, event(shard, n)).await.unwrap();
                    pushed.fetch_add(1, Ordering::Relaxed);
                    if n % 64 == 0 {
                        // Let the other shards in, as a real gateway's interleaving would.
                        tokio::task::yield_now().await;
                    }
                }
                sink.flush().await.unwrap();
            }));
        }
        drop(sink);
        for shard in shards {
            shard.await.unwrap();
        }
        writing.await.unwrap();
    });

    let (redis, before_kill) = restarter.join().unwrap();
    assert!(
        (1..100_000).contains(&before_kill),
        "the restart came mid-stream ({before_kill} entries in before it)"
    );
    assert!(
        logs.text().contains("retrying the batch"),
        "the writer saw Redis go away:\n{}",
        logs.text()
    );
    let entries = read_stream(&redis);
    assert_exactly_once_in_order(&entries, SHARDS, PER_SHARD);
}

/// A write whose reply never comes (Redis paused writes past the client's response timeout, so
/// the writer gives up on it and retries on a new connection) lands once: Redis runs both
/// attempts when the pause ends, and the second skips what the first wrote.
#[test]
fn a_write_retried_after_its_reply_was_lost_lands_once() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (_logs_guard, logs) = capture_logs();
    let client = redis.client();
    run(async {
        let (mut sink, writer) = RedisStreamSink::builder(client.clone(), KEY)
            .max_retry(Duration::from_millis(50))
            .build(Tokio);
        let writing = tokio::spawn(writer.run());
        let id = ShardId::new(0, 1).unwrap();
        for n in 0..100 {
            sink.push(id, event(0, n)).await.unwrap();
        }
        sink.flush().await.unwrap();

        let mut admin = client.get_multiplexed_async_connection().await.unwrap();
        // Longer than the client's 500 ms response timeout, so the first attempt times out
        // while Redis holds it, and the retry queues up behind it.
        redis::cmd("CLIENT")
            .arg("PAUSE")
            .arg(1_500)
            .arg("WRITE")
            .query_async::<()>(&mut admin)
            .await
            .unwrap();
        for n in 100..200 {
            sink.push(id, event(0, n)).await.unwrap();
        }
        sink.flush().await.unwrap();
        drop(sink);
        writing.await.unwrap();
    });
    assert!(
        logs.text().contains("retrying the batch"),
        "the first attempt timed out:\n{}",
        logs.text()
    );
    assert_exactly_once_in_order(&read_stream(&redis), 1, 200);
}

/// While Redis is down the sink buffers up to its bound, then `push` waits instead of
/// dropping; when Redis is back everything arrives.
#[test]
fn a_full_buffer_holds_the_shard_back_until_redis_returns() {
    const BUFFER: usize = 100;
    const BATCH: usize = 10;
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let client = redis.client();
    redis.kill();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (mut sink, writer) = RedisStreamSink::builder(client, KEY)
        .buffer(BUFFER)
        .batch(BATCH)
        .max_retry(Duration::from_millis(50))
        .build(Tokio);
    let id = ShardId::new(0, 1).unwrap();
    let writing = runtime.spawn(writer.run());
    // Push until a push has waited 300 ms (the writer failing and retrying all along), then
    // bring Redis back: that push must go through, and with it everything held.
    let mut pushed = 0u64;
    runtime.block_on(async {
        loop {
            let push = pin!(sink.push(id, event(0, pushed)));
            let later = pin!(tokio::time::sleep(Duration::from_millis(300)));
            match select(push, later).await {
                Either::Left((result, _)) => {
                    result.unwrap();
                    pushed += 1;
                    assert!(
                        pushed <= (BUFFER + BATCH) as u64,
                        "{pushed} events pushed while Redis is down: the bound is not held"
                    );
                }
                Either::Right(((), push)) => {
                    redis.start_again();
                    push.await.unwrap();
                    pushed += 1;
                    break;
                }
            }
        }
        sink.flush().await.unwrap();
    });
    assert!(
        pushed > BUFFER as u64 / 2,
        "only {pushed} events were buffered before the sink held the shard back"
    );
    drop(sink);
    runtime.block_on(writing).unwrap();
    assert_exactly_once_in_order(&read_stream(&redis), 1, pushed);
}
