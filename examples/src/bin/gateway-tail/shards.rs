//! `--shards`: a range of shards in this process, through discovery and the shard manager.

use std::future::Future;
use std::io::{self, Write};
use std::pin::pin;
use std::time::Instant;

use discord_gateway::Token;
use discord_gateway_driver::discovery::Discovery;
use discord_gateway_driver::{
    ErrorChain, FileSessionStore, LocalIdentifyQueue, ManagerBuilder, Runtime, ShardBuilder,
    ShardEvent, ShardManager, ShardRange,
};
use futures_util::future::{select, Either};

use crate::args::{IdentifyQueueChoice, SessionStoreChoice, ShardsChoice};
use crate::tail::{Finish, TailError, DRAIN};

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
}

/// Discovers the bot's gateway, runs the shards `plan` names from clones of `template`, and
/// prints every dispatch of every shard until `stop`, `max_events` or a shard stopping for
/// good; then stops the shards (saving their sessions when a store was given).
pub(crate) async fn run<R: Runtime + Default>(
    template: ShardBuilder<R>,
    token: &Token,
    plan: Plan,
    stop: impl Future<Output = ()>,
) -> Result<Finish, TailError> {
    let runtime = R::default();
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
    manager = match plan.identify_queue {
        IdentifyQueueChoice::Local => {
            manager.identify_queue(LocalIdentifyQueue::with_limit(runtime, limit))
        }
    };
    manager = with_store(manager, plan.session_store);
    let mut manager = manager.start().await.map_err(TailError::Start)?;
    print(&mut manager, plan.max_events, stop).await
}

fn with_store<R: Runtime>(
    manager: ManagerBuilder<R>,
    store: Option<SessionStoreChoice>,
) -> ManagerBuilder<R> {
    match store {
        Some(SessionStoreChoice::File(path)) => manager.session_store(FileSessionStore::new(path)),
        None => manager,
    }
}

async fn print<R: Runtime + Default>(
    manager: &mut ShardManager<R>,
    max_events: Option<u64>,
    stop: impl Future<Output = ()>,
) -> Result<Finish, TailError> {
    let mut out = io::BufWriter::new(io::stdout());
    let mut printed = 0u64;
    let mut stop = pin!(stop);
    let mut draining_until: Option<Instant> = None;
    let ended = loop {
        if max_events.is_some_and(|max| printed >= max) {
            break Ok(Finish::MaxEvents);
        }
        let next = pin!(manager.next_event());
        let event = match draining_until {
            None => match select(next, stop.as_mut()).await {
                Either::Left((event, _)) => event,
                Either::Right(((), _)) => {
                    draining_until = Some(Instant::now() + DRAIN);
                    continue;
                }
            },
            Some(until) => match select(next, pin!(R::default().sleep_until(until))).await {
                Either::Left((event, _)) => event,
                Either::Right(((), _)) => break Ok(Finish::Stopped),
            },
        };
        match event {
            Some(Ok((shard, ShardEvent::Dispatch(dispatch)))) => {
                crate::ndjson::write_line(&mut out, shard.id(), &dispatch)?;
                out.flush()?;
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
                printed += 1;
            }
        }
    }
    out.flush()?;
    saved.map_err(TailError::Store)?;
    ended
}
