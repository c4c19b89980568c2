//! The in-process identify queue: one Identify per concurrency bucket per 5 s.

use std::time::{Duration, Instant};

use discord_gateway_tokio::{LocalIdentifyQueue, ShardId, Tokio};

fn shard(id: u32) -> ShardId {
    ShardId::new(id, 32).unwrap()
}

#[test]
fn buckets_follow_shard_id_modulo_max_concurrency() {
    let queue = LocalIdentifyQueue::new(Tokio, 16);
    let start = Instant::now();
    // Shards 0..16 are in 16 different buckets: all may identify at once.
    let first: Vec<Instant> = (0..16).map(|id| queue.reserve(shard(id))).collect();
    assert!(first
        .iter()
        .all(|at| at.saturating_duration_since(start) < Duration::from_millis(100)));
    // Shards 16..32 share those buckets: each waits for its bucket's window to pass.
    for id in 16..32 {
        let at = queue.reserve(shard(id));
        let bucket_start = first[(id % 16) as usize];
        assert_eq!(
            at.duration_since(bucket_start),
            Duration::from_secs(5),
            "shard {id}"
        );
    }
}

#[test]
fn one_bucket_spaces_every_identify_five_seconds_apart() {
    let queue = LocalIdentifyQueue::new(Tokio, 1);
    let times: Vec<Instant> = (0..4).map(|id| queue.reserve(shard(id))).collect();
    for pair in times.windows(2) {
        assert_eq!(pair[1].duration_since(pair[0]), Duration::from_secs(5));
    }
}
