//! Events into a Redis Stream, for the usual split of a large bot into gateway processes and
//! stateless workers reading with consumer groups.
//!
//! Each entry is `XADD {key} MAXLEN ~ {cap} * shard {id} event {raw event}`.
//!
//! # Nothing lost, nothing written twice
//!
//! The shard loop hands events to a [`RedisStreamSink`]; a [`StreamWriter`], driven by a task
//! the application spawns, writes them in batches. Between the two sits a bounded buffer:
//! while Redis is unreachable the writer retries with backoff and the buffer fills, and once it
//! is full [`RedisStreamSink::push`] waits. The shard stops reading from its socket, which
//! Discord tolerates for a while; no event is ever dropped to make room.
//!
//! A failed write is retried, and a retry must not write again what the failed attempt did
//! write: the reply can be lost after Redis executed the command (a timeout, a connection cut
//! by a restart). So every event gets a number from the writer, consecutive and increasing, and
//! each batch goes to Redis as one Lua script that, atomically with its `XADD`s, records the
//! last number written in a key of the writer's own (`{TAG}:writer:{id}`, `TAG` the stream
//! key's hash tag, so that on Redis Cluster the record is in the stream's slot). A retry skips the
//! numbers at or below it. The record is in the same dataset as the stream, so it survives a
//! Redis restart exactly as well as the entries it describes: with AOF, a script's writes are
//! logged as one `MULTI`/`EXEC` block, replayed whole or not at all.
//!
//! Why not explicit stream ids (`XADD key <id>`, which Redis refuses at or below the stream's
//! last id)? Refusal would catch a repeat only while this writer is the stream's only one:
//! a second gateway process writing the same stream makes the stream's last id say nothing about
//! what this writer wrote, and entries would be lost as "duplicates". The writer's own record
//! holds with any number of writers, and entries keep Redis's time-based `*` ids.
//!
//! How durable a written entry is remains Redis's setting: with `appendfsync everysec` a crash
//! of the Redis host can lose the last second (entries and record together, so a retry writes
//! them again: still never twice).

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use discord_gateway_driver::discord_gateway::ShardId;
use discord_gateway_driver::Runtime;
use futures_channel::{mpsc, oneshot};
use futures_util::{SinkExt, StreamExt};
use redis::{Client, RedisResult, Script};

use crate::keys;
use crate::link::Link;

/// Writes one batch, skipping what an earlier attempt of the same batch already wrote.
///
/// KEYS: the stream, the writer's record. ARGV: the `MAXLEN ~` cap, the number of the batch's
/// first event, how long the record lives (ms), then `shard`, `event` for each event in order.
const WRITE: &str = r"
local written = tonumber(redis.call('GET', KEYS[2]) or '-1')
local first = tonumber(ARGV[2])
local count = (#ARGV - 3) / 2
for i = 0, count - 1 do
  local number = first + i
  if number > written then
    local added = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',
      'shard', ARGV[4 + 2 * i], 'event', ARGV[5 + 2 * i])
    if type(added) == 'table' and added.err then
      -- Scripts are not rolled back: record what did get in before failing.
      if number - 1 > written then
        redis.call('SET', KEYS[2], number - 1, 'PX', ARGV[3])
      end
      return added
    end
  end
end
if first + count - 1 > written then
  redis.call('SET', KEYS[2], first + count - 1, 'PX', ARGV[3])
end
return count
";

/// Default `MAXLEN ~` cap of the stream.
pub const DEFAULT_MAX_LEN: u64 = 1_000_000;
/// Default number of events the sink holds before [`RedisStreamSink::push`] waits.
pub const DEFAULT_BUFFER: usize = 10_000;
/// Default largest number of events in one write.
pub const DEFAULT_BATCH: usize = 512;
/// How long a writer's record of what it wrote outlives its last write.
const RECORD_TTL: Duration = Duration::from_secs(24 * 60 * 60);
const RETRY_FIRST: Duration = Duration::from_millis(20);

/// Builds a [`RedisStreamSink`] and its [`StreamWriter`].
#[derive(Debug)]
#[must_use]
pub struct RedisStreamBuilder {
    client: Client,
    key: String,
    max_len: u64,
    buffer: usize,
    batch: usize,
    max_retry: Duration,
}

impl RedisStreamBuilder {
    /// The stream's approximate cap: `XADD … MAXLEN ~ {max_len}` (default
    /// [`DEFAULT_MAX_LEN`]). Workers that fall further behind than this lose the oldest entries,
    /// which is Redis's trimming, not the sink's.
    pub fn max_len(mut self, max_len: u64) -> Self {
        self.max_len = max_len;
        self
    }

    /// Events held before [`RedisStreamSink::push`] waits (default [`DEFAULT_BUFFER`], at
    /// least 1). The writer holds one batch more while it writes it.
    pub fn buffer(mut self, events: usize) -> Self {
        self.buffer = events.max(1);
        self
    }

    /// Largest number of events written in one round trip (default [`DEFAULT_BATCH`]).
    pub fn batch(mut self, events: usize) -> Self {
        self.batch = events.max(1);
        self
    }

    /// Longest wait between two attempts to reach Redis (default 2 s); the first is 20 ms,
    /// doubling.
    pub fn max_retry(mut self, max_retry: Duration) -> Self {
        self.max_retry = max_retry.max(RETRY_FIRST);
        self
    }

    /// The sink the shards push into, and the writer to spawn on `runtime`.
    pub fn build<R: Runtime>(self, runtime: R) -> (RedisStreamSink, StreamWriter<R>) {
        // The channel gives each sender one slot beyond its capacity; count it in the buffer.
        let (sender, receiver) = mpsc::channel(self.buffer - 1);
        let writer_id = format!("{:016x}", discord_gateway_driver::os_seed());
        let backlog = Backlog::new(&self.key);
        let writer = StreamWriter {
            runtime,
            link: Link::new(self.client),
            // In the stream's hash slot (Redis Cluster): one script writes both.
            record_key: format!("{{{}}}:writer:{writer_id}", keys::hash_tag(&self.key)),
            key: self.key,
            max_len: self.max_len,
            batch: self.batch,
            max_retry: self.max_retry,
            script: Script::new(WRITE),
            receiver,
            next_number: 0,
            backlog: backlog.clone(),
        };
        (RedisStreamSink { sender, backlog }, writer)
    }
}

/// Where shards push events for a Redis Stream. Clone it for each task that pushes; the
/// entries of one sink handle keep the order they were pushed in.
#[derive(Clone, Debug)]
pub struct RedisStreamSink {
    sender: mpsc::Sender<Item>,
    backlog: Backlog,
}

/// The `discord_gateway_redis_stream_backlog` gauge: events pushed and not yet in Redis
/// (nothing without the `metrics` feature).
#[derive(Clone, Debug)]
struct Backlog {
    #[cfg(feature = "metrics")]
    gauge: metrics::Gauge,
}

impl Backlog {
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    fn new(key: &str) -> Self {
        Self {
            #[cfg(feature = "metrics")]
            gauge: metrics::gauge!("discord_gateway_redis_stream_backlog", "stream" => key.to_owned()),
        }
    }

    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    fn add(&self, events: usize) {
        #[cfg(feature = "metrics")]
        self.gauge.increment(events as f64);
    }

    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    fn written(&self, events: usize) {
        #[cfg(feature = "metrics")]
        self.gauge.decrement(events as f64);
    }
}

enum Item {
    Event { shard: u32, event: Bytes },
    Flush(oneshot::Sender<()>),
}

/// The [`StreamWriter`] is gone (its task ended or was dropped): nothing pushed now can reach
/// Redis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriterGone;

impl fmt::Display for WriterGone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the Redis stream writer has stopped")
    }
}

impl std::error::Error for WriterGone {}

impl RedisStreamSink {
    /// A builder for a sink into the stream `key` on the Redis `client` points at.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use discord_gateway_redis::RedisStreamSink;
    /// use discord_gateway_tokio::{ShardId, Tokio};
    ///
    /// let client = redis::Client::open("redis://127.0.0.1:6379")?;
    /// let (mut sink, writer) = RedisStreamSink::builder(client, "gateway-events").build(Tokio);
    /// let writing = tokio::spawn(writer.run());
    /// sink.push(ShardId::new(0, 1)?, &br#"{"t":"READY"}"#[..]).await?;
    /// sink.flush().await?;
    /// drop(sink);
    /// writing.await?;
    /// # Ok(()) }
    /// ```
    pub fn builder(client: Client, key: impl Into<String>) -> RedisStreamBuilder {
        RedisStreamBuilder {
            client,
            key: key.into(),
            max_len: DEFAULT_MAX_LEN,
            buffer: DEFAULT_BUFFER,
            batch: DEFAULT_BATCH,
            max_retry: Duration::from_secs(2),
        }
    }

    /// Queues one raw event of `shard`; waits while the buffer is full (Redis unreachable or
    /// slower than the gateway).
    pub async fn push(
        &mut self,
        shard: ShardId,
        event: impl Into<Bytes>,
    ) -> Result<(), WriterGone> {
        let item = Item::Event {
            shard: shard.id(),
            event: event.into(),
        };
        self.sender.send(item).await.map_err(|_| WriterGone)?;
        self.backlog.add(1);
        Ok(())
    }

    /// Completes once every event this handle pushed before the call is in Redis.
    pub async fn flush(&mut self) -> Result<(), WriterGone> {
        let (done, written) = oneshot::channel();
        self.sender
            .send(Item::Flush(done))
            .await
            .map_err(|_| WriterGone)?;
        written.await.map_err(|_| WriterGone)
    }
}

/// Writes what a [`RedisStreamSink`] was given. Spawn [`StreamWriter::run`] on the runtime.
pub struct StreamWriter<R: Runtime> {
    runtime: R,
    link: Link,
    key: String,
    record_key: String,
    max_len: u64,
    batch: usize,
    max_retry: Duration,
    script: Script,
    receiver: mpsc::Receiver<Item>,
    /// The number the next event gets.
    next_number: u64,
    backlog: Backlog,
}

impl<R: Runtime> fmt::Debug for StreamWriter<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamWriter")
            .field("link", &self.link)
            .field("key", &self.key)
            .field("record_key", &self.record_key)
            .field("written", &self.next_number)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> StreamWriter<R> {
    /// Writes events until every sink handle is dropped and everything they pushed is in
    /// Redis. It never gives up on an event: while Redis is unreachable it retries with
    /// backoff (logging each failure) and the sink's buffer fills.
    pub async fn run(mut self) {
        let mut events: Vec<(u32, Bytes)> = Vec::with_capacity(self.batch);
        let mut flushes = Vec::new();
        while let Some(item) = self.receiver.next().await {
            Self::take(item, &mut events, &mut flushes);
            while events.len() < self.batch {
                match self.receiver.try_recv() {
                    Ok(item) => Self::take(item, &mut events, &mut flushes),
                    // Empty for now, or closed: write what there is.
                    Err(_) => break,
                }
            }
            if !events.is_empty() {
                self.write_until_done(&events).await;
                self.backlog.written(events.len());
                events.clear();
            }
            for done in flushes.drain(..) {
                let _ = done.send(());
            }
        }
    }

    fn take(item: Item, events: &mut Vec<(u32, Bytes)>, flushes: &mut Vec<oneshot::Sender<()>>) {
        match item {
            Item::Event { shard, event } => events.push((shard, event)),
            Item::Flush(done) => flushes.push(done),
        }
    }

    async fn write_until_done(&mut self, events: &[(u32, Bytes)]) {
        let first = self.next_number;
        self.next_number += events.len() as u64;
        let mut retry = RETRY_FIRST;
        loop {
            match self.write(first, events).await {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(
                        %error,
                        key = %self.key,
                        waiting = events.len(),
                        retry_ms = retry.as_millis() as u64,
                        "writing events to the Redis stream failed; retrying the batch"
                    );
                    let deadline = self.runtime.now() + retry;
                    self.runtime.sleep_until(deadline).await;
                    retry = (retry * 2).min(self.max_retry);
                }
            }
        }
    }

    async fn write(&self, first: u64, events: &[(u32, Bytes)]) -> RedisResult<()> {
        let mut invocation = self.script.key(&self.key);
        invocation
            .key(&self.record_key)
            .arg(self.max_len)
            .arg(first)
            .arg(u64::try_from(RECORD_TTL.as_millis()).unwrap_or(u64::MAX));
        for (shard, event) in events {
            invocation.arg(*shard).arg(&event[..]);
        }
        self.link
            .run(|mut connection| async move {
                invocation.invoke_async::<u64>(&mut connection).await?;
                Ok(())
            })
            .await
    }
}
