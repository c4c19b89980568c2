//! The scale-out runner: a whole range of shards in one [`ShardManager`], started against the
//! sim as fast as its identify buckets allow, timed and weighed in a child process
//! (`bench-client managed`), so the sim's own memory is not counted.

use std::time::{Duration, Instant};

use discord_gateway::protocol::{EventSet, EventType};
use discord_gateway::Token;
use discord_gateway_driver::{LocalIdentifyQueue, ShardRange};
use discord_gateway_tokio::{Shard, ShardManager, Tokio};
use futures_util::StreamExt;

use crate::clients::TOKEN;
use crate::measure::{rss_bytes, trim_heap};

/// What one managed start measured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ManagedReport {
    /// Shards that reached READY.
    pub shards: u32,
    /// Seconds from building the manager to the last READY.
    pub start_s: f64,
    /// Resident memory before the manager was built (runtime already running).
    pub rss_before: u64,
    /// Resident memory with every shard READY and idle.
    pub rss_after: u64,
}

impl ManagedReport {
    /// Resident bytes per shard.
    #[must_use]
    pub fn per_shard(&self) -> f64 {
        (self.rss_after.saturating_sub(self.rss_before)) as f64 / f64::from(self.shards.max(1))
    }

    /// One line for the parent process.
    #[must_use]
    pub fn to_line(&self) -> String {
        format!(
            "managed shards={} start_s={} rss_before={} rss_after={}",
            self.shards, self.start_s, self.rss_before, self.rss_after
        )
    }

    /// Parses [`ManagedReport::to_line`].
    #[must_use]
    pub fn from_line(line: &str) -> Option<Self> {
        let mut report = Self::default();
        for pair in line.strip_prefix("managed ")?.split(' ') {
            let (key, value) = pair.split_once('=')?;
            match key {
                "shards" => report.shards = value.parse().ok()?,
                "start_s" => report.start_s = value.parse().ok()?,
                "rss_before" => report.rss_before = value.parse().ok()?,
                "rss_after" => report.rss_after = value.parse().ok()?,
                _ => return None,
            }
        }
        Some(report)
    }
}

fn read_rss() -> u64 {
    trim_heap();
    rss_bytes()
}

/// Runs every shard of `total` in one manager on a current-thread tokio runtime, its identify
/// queue holding `max_concurrency` buckets of `window` each, until all are READY (or two
/// minutes pass); then lets them settle for 2 s (still polled) and reads resident memory.
#[must_use]
pub fn managed(url: &str, total: u32, max_concurrency: u32, window: Duration) -> ManagedReport {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let rss_before = read_rss();
        let started = Instant::now();
        let template = Shard::builder(Token::new(TOKEN).expect("token"))
            .configure(|c| {
                c.gateway_url(url)
                    .events(EventSet::EMPTY.with(EventType::MessageCreate))
            })
            .seed(7);
        let range = ShardRange::all(total).expect("at least one shard");
        let queue = LocalIdentifyQueue::new(Tokio, max_concurrency).with_window(window);
        let mut manager = ShardManager::builder(template, range)
            .identify_queue(queue)
            .start()
            .await
            .expect("the shards build");
        let deadline = started + Duration::from_secs(120);
        while manager.ready() < total && Instant::now() < deadline {
            let _ = tokio::time::timeout_at(deadline.into(), manager.next()).await;
        }
        let start_s = started.elapsed().as_secs_f64();
        let settle = tokio::time::sleep(Duration::from_secs(2));
        tokio::pin!(settle);
        loop {
            tokio::select! {
                () = &mut settle => break,
                _ = manager.next() => {}
            }
        }
        ManagedReport {
            shards: manager.ready(),
            start_s,
            rss_before,
            rss_after: read_rss(),
        }
    })
}
