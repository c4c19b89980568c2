//! The in-process identify queue on a manual clock: one Identify per concurrency bucket per
//! 5 s, places handed on when a shard gives up, and the daily session start limit kept.

use std::time::Duration;

use discord_gateway_driver::discord_gateway::ShardId;
use discord_gateway_driver::testing::TestRuntime;
use discord_gateway_driver::{IdentifyQueue, LocalIdentifyQueue, Permit, SessionStartLimit};

fn shard(id: u32) -> ShardId {
    ShardId::new(id, 64).expect("a valid shard")
}

/// Polls every permit still waiting, and returns the indices of those granted now.
fn granted(rt: &TestRuntime, permits: &mut [Option<Permit>]) -> Vec<usize> {
    let mut now = Vec::new();
    for (i, slot) in permits.iter_mut().enumerate() {
        if let Some(permit) = slot {
            if rt.poll_once(permit).is_ready() {
                *slot = None;
                now.push(i);
            }
        }
    }
    now
}

/// Runs the clock until every permit is granted; returns when each was, since the start.
fn grant_times(rt: &TestRuntime, mut permits: Vec<Option<Permit>>) -> Vec<Duration> {
    let start = rt.elapsed();
    let mut times = vec![Duration::MAX; permits.len()];
    loop {
        for i in granted(rt, &mut permits) {
            times[i] = rt.elapsed() - start;
        }
        if permits.iter().all(Option::is_none) {
            return times;
        }
        rt.advance_to_next_deadline()
            .expect("a waiting permit sleeps");
    }
}

#[test]
fn buckets_follow_shard_id_modulo_max_concurrency() {
    let rt = TestRuntime::new();
    let queue = LocalIdentifyQueue::new(rt.clone(), 16);
    let permits = (0..32).map(|id| Some(queue.acquire(shard(id)))).collect();
    let times = grant_times(&rt, permits);
    // Shards 0..16 are in 16 different buckets: all identify at once; 16..32 share them and
    // wait out their bucket's window.
    assert!(times[..16].iter().all(|t| t.is_zero()), "{times:?}");
    assert!(
        times[16..].iter().all(|t| *t == Duration::from_secs(5)),
        "{times:?}"
    );
}

#[test]
fn one_bucket_spaces_every_identify_five_seconds_apart() {
    let rt = TestRuntime::new();
    let queue = LocalIdentifyQueue::new(rt.clone(), 1);
    let permits = (0..4).map(|id| Some(queue.acquire(shard(id)))).collect();
    let times = grant_times(&rt, permits);
    let secs: Vec<u64> = times.iter().map(Duration::as_secs).collect();
    assert_eq!(secs, [0, 5, 10, 15]);
}

/// Defect 3 of the driver issue: a shard whose connection dropped while it waited for a permit
/// used to keep the slot booked for it, so everyone behind it waited 5 s longer.
#[test]
fn a_permit_given_up_hands_its_slot_to_the_next_shard() {
    let rt = TestRuntime::new();
    let queue = LocalIdentifyQueue::new(rt.clone(), 1);
    let mut first = queue.acquire(shard(0));
    assert!(rt.poll_once(&mut first).is_ready());
    let mut dropped = queue.acquire(shard(1));
    assert!(rt.poll_once(&mut dropped).is_pending());
    let third = queue.acquire(shard(2));
    drop(dropped);
    let times = grant_times(&rt, vec![Some(third)]);
    assert_eq!(times, [Duration::from_secs(5)]);
}

#[test]
fn a_permit_dropped_before_it_was_polled_frees_its_place() {
    let rt = TestRuntime::new();
    let queue = LocalIdentifyQueue::new(rt.clone(), 1);
    let never_polled = queue.acquire(shard(0));
    let next = queue.acquire(shard(1));
    drop(never_polled);
    let times = grant_times(&rt, vec![Some(next)]);
    assert_eq!(times, [Duration::ZERO]);
}

/// Defect 4 of the driver issue: `session_start_limit` was never consulted, and running past it
/// makes Discord reset the bot's token. Once `remaining` is spent the queue waits for the reset.
#[test]
fn the_daily_budget_waits_for_its_reset_when_spent() {
    let rt = TestRuntime::new();
    let queue = LocalIdentifyQueue::with_limit(
        rt.clone(),
        SessionStartLimit {
            total: 1000,
            remaining: 2,
            reset_after: Duration::from_secs(3600),
            max_concurrency: 1,
        },
    );
    assert_eq!(queue.remaining(), Some(2));
    let permits = (0..4).map(|id| Some(queue.acquire(shard(id)))).collect();
    let times = grant_times(&rt, permits);
    let secs: Vec<u64> = times.iter().map(Duration::as_secs).collect();
    // Two left today; the third waits for the reset, and the fourth for its bucket after it.
    assert_eq!(secs, [0, 5, 3600, 3605]);
    assert_eq!(queue.remaining(), Some(998));
}

#[test]
fn clones_share_one_queue() {
    let rt = TestRuntime::new();
    let queue = LocalIdentifyQueue::new(rt.clone(), 1);
    let other = queue.clone();
    let permits = vec![Some(queue.acquire(shard(0))), Some(other.acquire(shard(1)))];
    let times = grant_times(&rt, permits);
    assert_eq!(times, [Duration::ZERO, Duration::from_secs(5)]);
}

#[test]
fn a_scaled_window_spaces_a_bucket_by_that_window() {
    let rt = TestRuntime::new();
    let window = Duration::from_millis(200);
    let queue = LocalIdentifyQueue::new(rt.clone(), 4).with_window(window);
    let permits = (0..12).map(|id| Some(queue.acquire(shard(id)))).collect();
    let times = grant_times(&rt, permits);
    // Bucket b holds shards b, b + 4, b + 8: one per window, all four buckets in step.
    for (id, at) in times.iter().enumerate() {
        assert_eq!(*at, window * (id as u32 / 4), "shard {id}: {times:?}");
    }
}
