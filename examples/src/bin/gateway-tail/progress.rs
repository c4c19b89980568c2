//! `--shards`: the progress line on stderr while a start goes on, every few seconds, and once
//! more when every shard is ready: `ready 412/1000, 37 connecting, 551 waiting for identify,
//! ~4m10s left`.

use std::time::{Duration, Instant};

use discord_gateway_driver::{Progress, Runtime};

pub(crate) struct ProgressLine<R: Runtime> {
    runtime: R,
    interval: Duration,
    next_at: Instant,
    /// Every shard was ready once: the start is over, and so is the line.
    done: bool,
}

impl<R: Runtime + Default> ProgressLine<R> {
    pub(crate) fn new(interval: Duration) -> Self {
        let runtime = R::default();
        Self {
            next_at: runtime.now() + interval,
            runtime,
            interval,
            done: false,
        }
    }

    /// A sleep until the next line is due; `None` once the start is over.
    pub(crate) fn tick(&mut self) -> Option<crate::progress::Sleep> {
        if self.done {
            return None;
        }
        Some(Box::pin(self.runtime.sleep_until(self.next_at)))
    }

    /// The line is due: prints it.
    pub(crate) fn print(&mut self, progress: Progress) {
        eprintln!("gateway-tail: {progress}");
        self.next_at = self.runtime.now() + self.interval;
        self.done = progress.live == progress.shards;
    }

    /// A shard became ready: the last line is printed at once when it was the last one.
    pub(crate) fn shard_ready(&mut self, progress: Progress) {
        if !self.done && progress.live == progress.shards {
            self.print(progress);
        }
    }
}

/// The runtime's sleep, boxed.
pub(crate) type Sleep = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
