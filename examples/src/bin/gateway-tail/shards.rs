//! `--shards`: a range of shards in this process, through discovery and the shard manager.

use std::future::Future;
use std::io::{self, Write};
use std::pin::pin;
use std::time::Duration;

use discord_gateway::Token;
use discord_gateway_driver::discovery::Discovery;
use discord_gateway_driver::{
    ErrorChain, FileSessionStore, LocalIdentifyQueue, Runtime, ShardBuilder, ShardEvent,
    ShardManager, ShardRange,
};
use discord_gateway_redis::{
    RedisIdentifyQueueBuilder, RedisSessionStore, RedisStreamSink, StreamWriter,
};

use crate::args::{IdentifyQueueChoice, RedisUrl, SessionStoreChoice, ShardsChoice};
use crate::tail::{Finish, StopThenDrain, TailError};

/// What `--shards` and its companion flags asked for.
pub(crate) struct Plan {
    pub(crate) shards: ShardsChoice,
    /// The REST base discovery asks.
    pub(crate) api_url: String,
    /// Whether `--gateway-url` replaces the URL discovery returns.
    pub(crate) gateway_url_given: bool,
    pub(crate) identify_queue: IdentifyQueueChoice,
    pub(crate) session_store: Option<SessionStoreChoice>,
    /// Dispatches to print across every shard before exiting.
    pub(crate) max_events: Option<u64>,
    /// `--redis-stream`: the Redis and the stream key every dispatch is also added to.
    pub(crate) redis_stream: Option<(RedisUrl, String)>,
    /// `--identify-window-ms` (a simulated gateway's scaled-down window), and the Redis
    /// queue's guard past it.
    pub(crate) identify_window: Option<Duration>,
    pub(crate) identify_guard: Option<Duration>,
}

/// The Redis clients the flags name, each checked once at startup.
struct Redis {
    queue: Option<discord_gateway_redis::redis::Client>,
    store: Option<discord_gateway_redis::redis::Client>,
    stream: Option<(discord_gateway_redis::redis::Client, String)>,
}

impl Redis {
    /// Connects to every Redis the plan names. This blocks the thread for at most a few
    /// seconds, before anything else runs on it: a startup check, not a code path of the tail.
    fn check(plan: &Plan) -> Result<Self, TailError> {
        let queue = match &plan.identify_queue {
            IdentifyQueueChoice::Redis(url) => Some(url.check("the identify queue")?),
            IdentifyQueueChoice::Local => None,
        };
        let store = match &plan.session_store {
            Some(SessionStoreChoice::Redis(url)) => Some(url.check("the session store")?),
            _ => None,
        };
        let stream = match &plan.redis_stream {
            Some((url, key)) => Some((url.check("--redis-stream")?, key.clone())),
            None => None,
        };
        Ok(Self {
            queue,
            store,
            stream,
        })
    }
}

/// Discovers the bot's gateway, runs the shards `plan` names from clones of `template`, and
/// prints every dispatch of every shard until `stop`, `max_events` or a shard stopping for
/// good; then stops the shards (saving their sessions when a store was given).
///
/// With `--redis-stream`, `spawn_writer` spawns the stream's writer on the runtime and gives
/// back a future that completes when the writer has written everything and ended.
pub(crate) async fn run<R: Runtime + Default, W: Future<Output = ()>>(
    template: ShardBuilder<R>,
    token: &Token,
    plan: Plan,
    spawn_writer: impl FnOnce(StreamWriter<R>) -> W,
    stop: impl Future<Output = ()>,
) -> Result<Finish, TailError> {
    let runtime = R::default();
    let redis = Redis::check(&plan)?;
    let bot = Discovery::new(&plan.api_url)
        .gateway_bot(&runtime, token)
        .await
        .map_err(TailError::Discovery)?;
    let range = match plan.shards {
        ShardsChoice::Range(range) => {
            if range.total() < bot.shards {
                tracing::warn!(
                    running = range.total(),
                    recommended = bot.shards,
                    "Discord recommends more shards than --shards gives"
                );
            }
            range
        }
        ShardsChoice::Auto => ShardRange::all(bot.shards.max(1)).expect("at least one shard"),
    };
    let limit = bot.session_start_limit;
    tracing::info!(
        %range,
        max_concurrency = limit.max_concurrency,
        remaining = limit.remaining,
        "discovered the gateway"
    );
    let template = if plan.gateway_url_given {
        template
    } else {
        template.gateway_url(&bot.url)
    };
    let mut manager = ShardManager::builder(template, range);
    manager = match redis.queue {
        // max_concurrency and the daily budget from discovery, kept in Redis for every process.
        Some(client) => {
            let mut queue = RedisIdentifyQueueBuilder::new(client).limit(limit);
            if let Some(window) = plan.identify_window {
                queue = queue.window(window);
            }
            if let Some(guard) = plan.identify_guard {
                queue = queue.guard(guard);
            }
            manager.identify_queue(queue.build(runtime.clone()))
        }
        None => {
            let mut queue = LocalIdentifyQueue::with_limit(runtime.clone(), limit);
            if let Some(window) = plan.identify_window {
                queue = queue.with_window(window);
            }
            manager.identify_queue(queue)
        }
    };
    manager = match (plan.session_store, redis.store) {
        (Some(SessionStoreChoice::File(path)), _) => {
            manager.session_store(FileSessionStore::new(path))
        }
        (Some(SessionStoreChoice::Redis(_)), Some(client)) => {
            manager.session_store(RedisSessionStore::new(client))
        }
        _ => manager,
    };
    let mut manager = manager.start().await.map_err(TailError::Start)?;
    let Some((client, key)) = redis.stream else {
        return print(&mut manager, plan.max_events, None, stop).await;
    };
    let (mut sink, writer) = RedisStreamSink::builder(client, key).build(runtime);
    let written = spawn_writer(writer);
    let printed = print(&mut manager, plan.max_events, Some(&mut sink), stop).await;
    // Whatever ended the tail, what was pushed goes to Redis before the process exits.
    let flushed = sink.flush().await;
    drop(sink);
    written.await;
    let finish = printed?;
    flushed.map_err(TailError::Stream)?;
    Ok(finish)
}

async fn print<R: Runtime + Default>(
    manager: &mut ShardManager<R>,
    max_events: Option<u64>,
    mut stream: Option<&mut RedisStreamSink>,
    stop: impl Future<Output = ()>,
) -> Result<Finish, TailError> {
    let mut out = io::BufWriter::new(io::stdout());
    let mut printed = 0u64;
    let stop = pin!(stop);
    let mut stop = StopThenDrain::<R, _>::new(stop);
    let ended = loop {
        if max_events.is_some_and(|max| printed >= max) {
            break Ok(Finish::MaxEvents);
        }
        let Some(event) = stop.next(manager.next_event()).await else {
            break Ok(Finish::Stopped);
        };
        match event {
            Some(Ok((shard, ShardEvent::Dispatch(dispatch)))) => {
                crate::ndjson::write_line(&mut out, shard.id(), &dispatch)?;
                out.flush()?;
                if let Some(sink) = stream.as_deref_mut() {
                    // Waits while Redis is away and the sink's buffer is full.
                    sink.push(shard, dispatch.message().clone())
                        .await
                        .map_err(TailError::Stream)?;
                }
                printed += 1;
            }
            Some(Ok((shard, ShardEvent::Malformed(error)))) => {
                tracing::warn!(shard = shard.id(), error = %ErrorChain(&error), "skipped a message");
            }
            Some(Ok(_)) => {}
            Some(Err(stopped)) => break Err(TailError::ShardStopped(stopped)),
            None => break Ok(Finish::ShardClosed),
        }
    };
    // Resumable and saved with a session store; ended without one.
    let saved = manager.shutdown().await;
    // Dispatches that were still due when the shards closed are part of the saved sessions:
    // print them (up to --max-events) rather than lose them.
    while let Some(item) = manager.next_event().await {
        if let Ok((shard, ShardEvent::Dispatch(dispatch))) = item {
            if max_events.is_none_or(|max| printed < max) {
                crate::ndjson::write_line(&mut out, shard.id(), &dispatch)?;
                if let Some(sink) = stream.as_deref_mut() {
                    sink.push(shard, dispatch.message().clone())
                        .await
                        .map_err(TailError::Stream)?;
                }
                printed += 1;
            }
        }
    }
    out.flush()?;
    saved.map_err(TailError::Store)?;
    ended
}
