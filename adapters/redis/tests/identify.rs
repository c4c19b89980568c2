//! The Redis identify queue in one process: first come first served within a bucket, a dropped
//! permit handing its place on, a bucket held by a process that died, and the daily budget.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::shards::{
    assert_identify_rule, identifies, queue_builder, shards, sim_builder, start_all,
};
use common::{capture_logs, day_limit, key, run, token, RedisServer};
use discord_gateway_redis::RedisIdentifyQueueBuilder;
use discord_gateway_tokio::{IdentifyQueue, SessionStartLimit, ShardId, Tokio};
use futures_util::stream::{FuturesUnordered, StreamExt};

fn shard(id: u32) -> ShardId {
    ShardId::new(id, 16).unwrap()
}

#[test]
fn one_bucket_grants_in_order_one_per_window_and_skips_a_dropped_permit() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    run(async {
        let queue = RedisIdentifyQueueBuilder::new(redis.client(), &token())
            .max_concurrency(4)
            .window(Duration::from_millis(200))
            .guard(Duration::ZERO)
            .build(Tokio);
        // Shards 0, 4, 8, 12 share bucket 0; 4 gives up before its turn.
        let granted = Arc::new(Mutex::new(Vec::new()));
        let mut permits = FuturesUnordered::new();
        let mut dropped = None;
        for id in [0, 4, 8, 12, 1] {
            let permit = queue.acquire(shard(id));
            if id == 4 {
                dropped = Some(permit);
                continue;
            }
            let granted = Arc::clone(&granted);
            permits.push(async move {
                permit.await;
                granted.lock().unwrap().push((id, Instant::now()));
            });
        }
        drop(dropped);
        while permits.next().await.is_some() {}
        let granted = granted.lock().unwrap().clone();
        let order: Vec<u32> = granted.iter().map(|(id, _)| *id).collect();
        // In bucket 0, 8 moves up into 4's place; bucket 1 does not wait for bucket 0's window.
        let bucket_0: Vec<u32> = order.iter().copied().filter(|id| id % 4 == 0).collect();
        assert_eq!(bucket_0, vec![0, 8, 12]);
        assert_eq!(
            order[..2].iter().filter(|&&id| id == 1).count(),
            1,
            "{order:?}"
        );
        let at = |id: u32| granted.iter().find(|(g, _)| *g == id).unwrap().1;
        let gap = at(8) - at(0);
        assert!(
            gap >= Duration::from_millis(100),
            "bucket 0 granted twice {gap:?} apart"
        );
    });
}

#[test]
fn a_bucket_taken_by_a_dead_process_frees_when_its_key_expires() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    run(async {
        // What a process that died right after taking bucket 0 leaves behind.
        let mut connection = redis.connection().await;
        redis::cmd("SET")
            .arg(key("identify:bucket:0"))
            .arg("dead-process")
            .arg("PX")
            .arg(400)
            .query_async::<()>(&mut connection)
            .await
            .unwrap();
        let queue = RedisIdentifyQueueBuilder::new(redis.client(), &token()).build(Tokio);
        let asked = Instant::now();
        queue.acquire(shard(0)).await;
        let waited = asked.elapsed();
        assert!(
            waited >= Duration::from_millis(200),
            "granted after {waited:?}"
        );
        let owner: String = redis::cmd("GET")
            .arg(key("identify:bucket:0"))
            .query_async(&mut connection)
            .await
            .unwrap();
        assert_ne!(owner, "dead-process", "this process holds the bucket now");
    });
}

#[test]
fn a_spent_budget_waits_for_the_reset_and_says_so() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    const RESET: Duration = Duration::from_millis(1_500);
    // 6 shards, 2 session starts left until a reset 1.5 s away (scaled down from a day).
    let sim = sim_builder()
        .session_start_limit(6, 2)
        .session_start_reset_after(RESET)
        .start_blocking()
        .unwrap();
    let limit = SessionStartLimit {
        total: 6,
        remaining: 2,
        reset_after: RESET,
        max_concurrency: 4,
    };
    let (_logs_guard, logs) = capture_logs();
    let queue = queue_builder(redis.client(), "bot")
        .limit(limit)
        .build(Tokio);
    let (started, remaining) = run(async {
        let (_, started) = start_all(shards(&sim.url(), 0..6, 6, &queue, None)).await;
        (started, queue.remaining().await.unwrap())
    });
    assert_eq!(started.ready.len(), 6);

    let times: Vec<Duration> = identifies(&sim).into_iter().map(|(at, _)| at).collect();
    assert_eq!(times.len(), 6, "no Identify was refused or repeated");
    assert!(times[1] < RESET, "two identified at once: {times:?}");
    assert!(
        times[2] >= RESET,
        "the third waited for the reset: {times:?}"
    );
    assert_identify_rule(&sim);
    assert!(
        logs.text()
            .contains("the daily session start limit is used up; waiting for it to reset"),
        "{}",
        logs.text()
    );
    // After the reset the budget came back whole (6) and four were spent from it.
    assert_eq!(remaining, Some(2));
}

/// Redis losing the budget (a restart without persistence) must not hand out a whole day's
/// `total`, nor what this process already spent: the queue puts back what its own limit said
/// was left, less its own grants since.
#[test]
fn a_lost_budget_comes_back_as_the_known_remaining_less_own_grants_not_the_total() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    run(async {
        let limit = day_limit(3, 1);
        let queue = RedisIdentifyQueueBuilder::new(redis.client(), &token())
            .limit(limit)
            .window(Duration::from_millis(20))
            .guard(Duration::ZERO)
            .build(Tokio);
        queue.acquire(shard(0)).await;
        assert_eq!(queue.remaining().await.unwrap(), Some(2));

        let mut connection = redis.connection().await;
        redis::cmd("DEL")
            .arg(key("identify:budget"))
            .query_async::<()>(&mut connection)
            .await
            .unwrap();
        queue.acquire(shard(1)).await;
        // Seeded with the 3 the limit said, less the 1 this process was granted since; then
        // this grant: 1 left (seeding 3 again would have left 2, one session start spent twice).
        assert_eq!(queue.remaining().await.unwrap(), Some(1));
        let ttl: i64 = redis::cmd("PTTL")
            .arg(key("identify:budget"))
            .query_async(&mut connection)
            .await
            .unwrap();
        assert!(
            ttl > 3_500_000 && ttl <= 3_600_000,
            "resets with the known reset: {ttl}"
        );
    });
}

/// Issue 27's `session_start_remaining` gauge and `status().remaining` read the shared budget
/// from the script's last answer: every process's grants counted, no round trip of its own.
#[test]
fn the_queue_reports_the_budget_redis_last_returned() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    run(async {
        let limit = day_limit(12, 1);
        let process = || {
            RedisIdentifyQueueBuilder::new(redis.client(), &token())
                .limit(limit)
                .window(Duration::from_millis(20))
                .guard(Duration::ZERO)
                .build(Tokio)
        };
        let (first, second) = (process(), process());
        let remaining = |queue: &discord_gateway_redis::RedisIdentifyQueue<Tokio>| {
            queue.status().expect("the Redis queue reports").remaining
        };
        assert_eq!(remaining(&first), None, "nothing asked yet");
        first.acquire(shard(0)).await;
        assert_eq!(remaining(&first), Some(11));
        second.acquire(shard(1)).await;
        second.acquire(shard(2)).await;
        assert_eq!(remaining(&second), Some(9), "both processes' grants");
        first.acquire(shard(3)).await;
        assert_eq!(remaining(&first), Some(8));
        assert_eq!(first.remaining().await.unwrap(), Some(8), "as Redis has it");
    });
}

/// The budget key is untrusted input: one holding no number must not fail every ask (which
/// would stop every shard from identifying); it is seeded anew, as a missing one is.
#[test]
fn a_budget_key_that_is_no_number_is_seeded_anew() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    run(async {
        let mut connection = redis.connection().await;
        let queue = RedisIdentifyQueueBuilder::new(redis.client(), &token())
            .limit(day_limit(10, 1))
            .window(Duration::from_millis(20))
            .guard(Duration::ZERO)
            .build(Tokio);
        for (n, planted) in ["not a number", "2.5", "1e999"].into_iter().enumerate() {
            redis::cmd("SET")
                .arg(key("identify:budget"))
                .arg(planted)
                .query_async::<()>(&mut connection)
                .await
                .unwrap();
            tokio::time::timeout(Duration::from_secs(10), queue.acquire(shard(n as u32)))
                .await
                .unwrap_or_else(|_| panic!("granted despite the budget key {planted:?}"));
            // Seeded from the limit's 10, less this process's grants before this one.
            let left = 9 - n as u32;
            assert_eq!(queue.remaining().await.unwrap(), Some(left), "{planted:?}");
            assert_eq!(queue.status().unwrap().remaining, Some(left), "{planted:?}");
        }
    });
}

/// A planted budget of -1 is a spent budget, as any count below one is, never "no budget kept":
/// the ask waits for the key to expire (the reset) and is then granted from a new seed.
#[test]
fn a_budget_planted_below_zero_is_spent_not_ignored() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    run(async {
        let mut connection = redis.connection().await;
        redis::cmd("SET")
            .arg(key("identify:budget"))
            .arg("-1")
            .arg("PX")
            .arg(600)
            .query_async::<()>(&mut connection)
            .await
            .unwrap();
        let queue = RedisIdentifyQueueBuilder::new(redis.client(), &token())
            .limit(day_limit(10, 1))
            .window(Duration::from_millis(20))
            .guard(Duration::ZERO)
            .build(Tokio);
        let asked = Instant::now();
        tokio::time::timeout(Duration::from_secs(10), queue.acquire(shard(0)))
            .await
            .expect("granted after the reset");
        let waited = asked.elapsed();
        assert!(
            waited >= Duration::from_millis(400),
            "waited for the planted budget's reset: {waited:?}"
        );
        assert_eq!(queue.remaining().await.unwrap(), Some(9), "seeded anew");
    });
}

/// A bucket key without an expiry (set by hand) must not hold the bucket for ever in silence:
/// it is held for one window, with a warning naming the key.
#[test]
fn a_bucket_key_without_an_expiry_holds_its_bucket_for_one_window_and_is_reported() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (_guard, logs) = capture_logs();
    run(async {
        let mut connection = redis.connection().await;
        redis::cmd("SET")
            .arg(key("identify:bucket:0"))
            .arg("set-by-hand")
            .query_async::<()>(&mut connection)
            .await
            .unwrap();
        let queue = RedisIdentifyQueueBuilder::new(redis.client(), &token())
            .window(Duration::from_millis(200))
            .guard(Duration::ZERO)
            .build(Tokio);
        let asked = Instant::now();
        tokio::time::timeout(Duration::from_secs(10), queue.acquire(shard(0)))
            .await
            .expect("granted after one window, not never");
        let waited = asked.elapsed();
        assert!(
            waited >= Duration::from_millis(150),
            "held for the window first: {waited:?}"
        );
    });
    let logs = logs.text();
    assert!(
        logs.contains("had no expiry") && logs.contains("identify:bucket:0"),
        "{logs}"
    );
}

/// The queue tells where this process's line stands (for `ShardManager::progress()`'s estimate):
/// its buckets, its pace (the window and its guard), and how many of its shards wait; no budget
/// is kept without a limit, so none is reported.
#[test]
fn the_queue_reports_its_line_for_the_progress_estimate() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    run(async {
        let queue = RedisIdentifyQueueBuilder::new(redis.client(), &token())
            .max_concurrency(4)
            .window(Duration::from_millis(200))
            .guard(Duration::from_millis(50))
            .build(Tokio);
        let status = |queue: &discord_gateway_redis::RedisIdentifyQueue<Tokio>| {
            queue.status().expect("the Redis queue reports its line")
        };
        assert_eq!(status(&queue).waiting, 0);
        // Places are taken at `acquire`, in order: three shards of bucket 0 and one of bucket 1.
        let permits: Vec<_> = [0, 4, 8, 1]
            .into_iter()
            .map(|id| queue.acquire(shard(id)))
            .collect();
        let waiting = status(&queue);
        assert_eq!(waiting.max_concurrency, 4);
        assert_eq!(waiting.window, Duration::from_millis(250));
        assert_eq!(waiting.waiting, 4);
        assert_eq!(waiting.remaining, None);
        let mut permits = permits.into_iter();
        permits.next().expect("shard 0's").await;
        assert_eq!(status(&queue).waiting, 3, "shard 0 left the line");
        drop(permits);
        assert_eq!(status(&queue).waiting, 0, "dropped permits leave the line");
    });
}
