//! `--shards`: a range of shards in this process, through discovery and the shard manager.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::{self, Write};
use std::pin::pin;
use std::time::Duration;

use discord_gateway::{ShardId, Token};
use discord_gateway_driver::discovery::Discovery;
use discord_gateway_driver::{
    Dispatch, ErrorChain, FileSessionStore, LocalIdentifyQueue, Runtime, SessionEvent,
    ShardBuilder, ShardEvent, ShardManager, ShardRange, SuspendedSessions,
};
use discord_gateway_redis::{
    RedisIdentifyQueueBuilder, RedisSessionStore, RedisStreamSink, StreamWriter,
};

use crate::args::{IdentifyQueueChoice, RedisUrl, SessionStoreChoice, ShardsChoice};
use crate::progress::ProgressLine;
use crate::tail::{Finish, StopThenDrain, TailError, Unprinted};
use futures_util::future::{select, Either};

/// What `--shards` and its companion flags asked for.
pub(crate) struct Plan {
    pub(crate) shards: ShardsChoice,
    /// The REST base discovery asks.
    pub(crate) api_url: String,
    /// The CAs an `https://` API of one's own is trusted by (`--ca-file`); `None` keeps the
    /// web's roots.
    pub(crate) api_trust: Option<discord_gateway_driver::Trust>,
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
    /// How often to print the progress line during the start (`None`: `--quiet`).
    pub(crate) progress: Option<Duration>,
    /// `--redis-prefix`: replaces the default key prefix (`discord-gateway:BOT_ID`).
    pub(crate) redis_prefix: Option<String>,
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
    let mut discovery = Discovery::new(&plan.api_url);
    if let Some(trust) = &plan.api_trust {
        discovery = discovery.trust(trust.clone());
    }
    let bot = discovery
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
        template.configure(|c| c.gateway_url(&bot.url))
    };
    let mut manager = ShardManager::builder(template, range);
    manager = match redis.queue {
        // max_concurrency and the daily budget from discovery, kept in Redis for every process.
        Some(client) => {
            let mut queue = RedisIdentifyQueueBuilder::new(client, token).limit(limit);
            if let Some(prefix) = &plan.redis_prefix {
                queue = queue.prefix(prefix);
            }
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
            let mut store = RedisSessionStore::new(client, token);
            if let Some(prefix) = &plan.redis_prefix {
                store = store.prefix(prefix);
            }
            manager.session_store(store)
        }
        _ => manager,
    };
    let mut manager = manager.start().await.map_err(TailError::Start)?;
    let Some((client, key)) = redis.stream else {
        let (printed, suspended) =
            print(&mut manager, plan.max_events, None, plan.progress, stop).await;
        suspended.save().await.map_err(TailError::Store)?;
        return printed;
    };
    let (mut sink, writer) = RedisStreamSink::builder(client, key).build(runtime);
    let written = spawn_writer(writer);
    let (printed, suspended) = print(
        &mut manager,
        plan.max_events,
        Some(&mut sink),
        plan.progress,
        stop,
    )
    .await;
    // Whatever ended the tail, what was pushed goes to Redis before the process exits, and
    // before the sessions are saved: a saved session must not cover events the stream never got
    // (a kill during the flush leaves no session, and the next start identifies).
    let flushed = sink.flush().await;
    drop(sink);
    written.await;
    // Saved only once the stream has every event the sessions cover.
    let saved = match flushed {
        Ok(()) => suspended.save().await.map(drop),
        Err(_) => Ok(()),
    };
    let finish = printed?;
    flushed.map_err(TailError::Stream)?;
    saved.map_err(TailError::Store)?;
    Ok(finish)
}

/// Prints (and pushes to the stream) until the tail ends, then stops the shards and prints
/// what was still due; the sessions are handed back unsaved, for the caller to save once the
/// stream has everything.
async fn print<R: Runtime + Default>(
    manager: &mut ShardManager<R>,
    max_events: Option<u64>,
    stream: Option<&mut RedisStreamSink>,
    progress: Option<Duration>,
    stop: impl Future<Output = ()>,
) -> (Result<Finish, TailError>, SuspendedSessions) {
    let mut out = io::BufWriter::new(io::stdout());
    let mut printed = 0u64;
    let mut stream = stream;
    let ended = read(
        manager,
        max_events,
        &mut stream,
        &mut out,
        &mut printed,
        progress,
        stop,
    )
    .await;
    // Resumable with a session store; ended without one.
    let mut suspended = manager.suspend().await;
    // Dispatches that were still due when the shards closed are part of the sessions: print
    // them (up to --max-events) rather than lose them; the sessions of those past it are
    // saved as of the last one printed, so the next start replays the rest.
    let mut unprinted = BTreeMap::new();
    let drained = drain(
        manager,
        max_events,
        &mut stream,
        &mut out,
        &mut printed,
        &mut unprinted,
    )
    .await;
    for (shard, unprinted) in unprinted {
        if let Some(seq) = unprinted.resume_from() {
            suspended.rewind(shard, seq);
        }
    }
    let flushed = out.flush().map_err(TailError::Io);
    (
        ended.and_then(|finish| drained.and(flushed).map(|()| finish)),
        suspended,
    )
}

async fn read<R: Runtime + Default>(
    manager: &mut ShardManager<R>,
    max_events: Option<u64>,
    stream: &mut Option<&mut RedisStreamSink>,
    out: &mut io::BufWriter<io::Stdout>,
    printed: &mut u64,
    progress: Option<Duration>,
    stop: impl Future<Output = ()>,
) -> Result<Finish, TailError> {
    let mut progress = progress.map(ProgressLine::<R>::new);
    let stop = pin!(stop);
    let mut stop = StopThenDrain::<R, _>::new(stop);
    loop {
        if max_events.is_some_and(|max| *printed >= max) {
            break Ok(Finish::MaxEvents);
        }
        let next = async {
            match progress.as_mut().and_then(ProgressLine::tick) {
                Some(tick) => match select(pin!(manager.next_event()), tick).await {
                    Either::Left((event, _)) => Some(event),
                    // The next event is not lost: `next_event` is cancel-safe.
                    Either::Right(((), _)) => None,
                },
                None => Some(manager.next_event().await),
            }
        };
        let Some(next) = stop.next(next).await else {
            break Ok(Finish::Stopped);
        };
        let Some(event) = next else {
            if let Some(line) = progress.as_mut() {
                line.print(manager.progress());
            }
            continue;
        };
        if let (
            Some(line),
            Some(Ok((
                _,
                ShardEvent::Session(SessionEvent::Ready, _)
                | ShardEvent::Session(SessionEvent::Resumed { .. }, _),
            ))),
        ) = (progress.as_mut(), &event)
        {
            line.shard_ready(manager.progress());
        }
        match event {
            Some(Ok((shard, ShardEvent::Dispatch(dispatch)))) => {
                deliver(out, stream, shard, &dispatch).await?;
                *printed += 1;
            }
            Some(Ok((shard, ShardEvent::Malformed(error)))) => {
                tracing::warn!(shard = shard.id(), error = %ErrorChain(&error), "skipped a message");
            }
            Some(Ok(_)) => {}
            Some(Err(stopped)) => break Err(TailError::ShardStopped(stopped)),
            None => break Ok(Finish::ShardClosed),
        }
    }
}

/// Reads the manager's stream to its end after the shards were closed.
async fn drain<R: Runtime + Default>(
    manager: &mut ShardManager<R>,
    max_events: Option<u64>,
    stream: &mut Option<&mut RedisStreamSink>,
    out: &mut io::BufWriter<io::Stdout>,
    printed: &mut u64,
    unprinted: &mut BTreeMap<ShardId, Unprinted>,
) -> Result<(), TailError> {
    while let Some(item) = manager.next_event().await {
        if let Ok((shard, ShardEvent::Dispatch(dispatch))) = item {
            if max_events.is_none_or(|max| *printed < max) {
                deliver(out, stream, shard, &dispatch).await?;
                *printed += 1;
            } else {
                unprinted.entry(shard).or_default().note(dispatch.seq());
            }
        }
    }
    Ok(())
}

/// Prints one dispatch as an NDJSON line, then adds it to the stream if there is one (waiting
/// while Redis is away and the sink's buffer is full).
async fn deliver(
    out: &mut io::BufWriter<io::Stdout>,
    stream: &mut Option<&mut RedisStreamSink>,
    shard: ShardId,
    dispatch: &Dispatch,
) -> Result<(), TailError> {
    crate::ndjson::write_line(out, shard.id(), dispatch)?;
    out.flush()?;
    if let Some(sink) = stream.as_deref_mut() {
        sink.push(shard, dispatch.message().clone())
            .await
            .map_err(TailError::Stream)?;
    }
    Ok(())
}
