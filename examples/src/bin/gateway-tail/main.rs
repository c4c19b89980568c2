//! `gateway-tail`: a `tail -f` for Discord gateway events.
//!
//! Every dispatch goes to stdout as one JSON object per line, `d` byte for byte, ready for `jq`;
//! lifecycle and errors go to stderr through `tracing` (`RUST_LOG` is honoured).

// Programs for a terminal: printing is their job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod args;
mod demo;
mod ndjson;
mod progress;
mod redis_setup;
mod session_file;
mod shards;
mod tail;

use std::process::ExitCode;
use std::time::Duration;

use discord_gateway::protocol::Intents;
use discord_gateway::ShardId;
use discord_gateway::Token;
use discord_gateway_driver::{Runtime, SessionSeal, ShardBuilder};
use discord_gateway_redis::StreamWriter;
use futures_util::StreamExt;

use args::{Args, RuntimeChoice};
use tail::{Finish, TailError};

fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_env_filter(filter)
        .init();
    let args = args::parse();
    match run(args) {
        Ok(_) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("gateway-tail: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> Result<Finish, String> {
    let token = std::env::var("DISCORD_TOKEN")
        .ok()
        .filter(|token| !token.trim().is_empty());
    let (token, gateway_url, demo) = match (token, args.gateway_url.clone()) {
        (Some(token), url) => (token, url, None),
        (None, Some(_)) => {
            return Err("set DISCORD_TOKEN (the token is never taken from a flag)".into())
        }
        (None, None) => {
            eprintln!("gateway-tail: no DISCORD_TOKEN, so this is an offline demo against a simulated gateway on 127.0.0.1");
            let demo = demo::start()
                .map_err(|error| format!("could not start the demo gateway: {error}"))?;
            (
                demo::DEMO_TOKEN.to_owned(),
                Some(demo.sim.url()),
                Some(demo),
            )
        }
    };
    let token = Token::new(&token).map_err(|error| format!("DISCORD_TOKEN: {error}"))?;
    if let Some(addr) = args.metrics_addr {
        // Before any shard is built: each takes its metric handles when it is.
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(addr)
            .install()
            .map_err(|error| format!("--metrics-addr {addr}: {error}"))?;
        discord_gateway_driver::metrics::describe();
        tracing::info!(%addr, "serving metrics at /metrics");
    }

    // Ctrl-C (and, in the demo, the script's end) asks the tail to stop and close cleanly.
    let (stop_tx, mut stop_rx) = futures_channel::mpsc::unbounded::<()>();
    let ctrl_c = stop_tx.clone();
    ctrlc::set_handler(move || {
        let _ = ctrl_c.unbounded_send(());
    })
    .map_err(|error| format!("cannot handle Ctrl-C: {error}"))?;
    if let Some(demo) = &demo {
        let script = demo.script.clone();
        let done = stop_tx.clone();
        std::thread::spawn(move || {
            if let Err(error) = script.wait_blocking() {
                tracing::warn!(%error, "the demo script did not finish");
            }
            let _ = done.unbounded_send(());
        });
    }
    let stop = async move {
        stop_rx.next().await;
    };

    if let Some(choice) = args.shards {
        // The demo gateway answers discovery too.
        let api_url = match &demo {
            Some(demo) if args.api_url == discord_gateway_driver::discovery::DISCORD_API => {
                format!("{}/api/v10", demo.sim.http_url())
            }
            _ => args.api_url.clone(),
        };
        // A CA file is for a gateway of one's own; Discord's API keeps the web's roots.
        let api_trust = args
            .ca_file
            .clone()
            .filter(|_| api_url != discord_gateway_driver::discovery::DISCORD_API);
        let plan = shards::Plan {
            shards: choice,
            api_url,
            api_trust,
            gateway_url_given: args.gateway_url.is_some(),
            identify_queue: args.identify_queue.clone(),
            session_store: args.session_store.clone(),
            max_events: args.max_events,
            redis_stream: match &args.redis_stream {
                Some(key) => Some((stream_redis(&args)?, key.clone())),
                None => None,
            },
            identify_window: args.identify_window_ms.map(Duration::from_millis),
            identify_guard: args.identify_guard_ms.map(Duration::from_millis),
            progress: (!args.quiet).then(|| Duration::from_millis(args.progress_interval_ms)),
            redis_prefix: args.redis_prefix.clone(),
        };
        let result = run_shards(&args, token, gateway_url, demo.is_some(), plan, stop);
        drop(demo);
        return result.map_err(|error| error.to_string());
    }

    let shard_id = args.shard.unwrap_or(ShardId::ONE);
    let session_file = args
        .session_file
        .clone()
        .map(|path| session_file::SessionFile::new(path, SessionSeal::new(&token)));
    let resume = match &session_file {
        Some(file) => file
            .load(shard_id)
            .map_err(|error| format!("{}: {error}", file.path().display()))?,
        None => None,
    };
    let result = match args.runtime {
        RuntimeChoice::Tokio => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| format!("cannot start tokio: {error}"))?;
            let builder = configure(
                ShardBuilder::new(discord_gateway_tokio::Tokio, token),
                &args,
                gateway_url,
                resume,
                demo.is_some(),
            );
            runtime.block_on(tail::run(
                builder.build().map_err(|e| e.to_string())?,
                args.max_events,
                session_file,
                stop,
            ))
        }
        RuntimeChoice::Smol => {
            let builder = configure(
                ShardBuilder::new(discord_gateway_smol::Smol, token),
                &args,
                gateway_url,
                resume,
                demo.is_some(),
            );
            let shard = builder.build().map_err(|e| e.to_string())?;
            smol::block_on(tail::run(shard, args.max_events, session_file, stop))
        }
    };
    drop(demo);
    result.map_err(|error: TailError| error.to_string())
}

/// The Redis `--redis-stream` writes to: `--redis-url`, else the identify queue's or the
/// session store's Redis.
fn stream_redis(args: &Args) -> Result<args::RedisUrl, String> {
    if let Some(url) = &args.redis_url {
        return Ok(url.clone());
    }
    if std::env::var_os("REDIS_URL").is_some() {
        return args::RedisUrl::from_env();
    }
    if let args::IdentifyQueueChoice::Redis(url) = &args.identify_queue {
        return Ok(url.clone());
    }
    if let Some(args::SessionStoreChoice::Redis(url)) = &args.session_store {
        return Ok(url.clone());
    }
    Err(
        "--redis-stream needs a Redis: set REDIS_URL or give --redis-url redis://HOST:PORT[/DB]"
            .into(),
    )
}

/// `--shards`: the shard manager on the chosen runtime.
fn run_shards(
    args: &Args,
    token: Token,
    gateway_url: Option<String>,
    demo: bool,
    plan: shards::Plan,
    stop: impl std::future::Future<Output = ()>,
) -> Result<Finish, TailError> {
    match args.runtime {
        RuntimeChoice::Tokio => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(TailError::Io)?;
            let template = configure(
                ShardBuilder::new(discord_gateway_tokio::Tokio, token.clone()),
                args,
                gateway_url,
                None,
                demo,
            );
            let spawn_writer = |writer: StreamWriter<discord_gateway_tokio::Tokio>| {
                let task = tokio::spawn(writer.run());
                async move {
                    if let Err(error) = task.await {
                        tracing::error!(%error, "the Redis stream writer failed");
                    }
                }
            };
            runtime.block_on(shards::run(template, &token, plan, spawn_writer, stop))
        }
        RuntimeChoice::Smol => {
            let template = configure(
                ShardBuilder::new(discord_gateway_smol::Smol, token.clone()),
                args,
                gateway_url,
                None,
                demo,
            );
            let spawn_writer =
                |writer: StreamWriter<discord_gateway_smol::Smol>| smol::spawn(writer.run());
            smol::block_on(shards::run(template, &token, plan, spawn_writer, stop))
        }
    }
}

/// Applies the flags to a shard builder.
fn configure<R: Runtime>(
    mut builder: ShardBuilder<R>,
    args: &Args,
    gateway_url: Option<String>,
    resume: Option<discord_gateway::session::ResumeState>,
    demo: bool,
) -> ShardBuilder<R> {
    if let Some(url) = &gateway_url {
        builder = builder.configure(|c| c.gateway_url(url));
    }
    if let Some(events) = args.events {
        builder = builder.configure(|c| c.events(events));
    }
    match args.intents {
        Some(intents) => builder = builder.configure(|c| c.intents(intents)),
        // The demo gateway allows every intent; a real bot gets the ones its events need.
        None if demo && args.events.is_none() => {
            builder = builder.configure(|c| c.intents(Intents::all()))
        }
        None => {}
    }
    if let Some(shard) = args.shard {
        builder = builder.configure(|c| c.shard(shard));
    }
    if let Some(state) = resume {
        builder = builder.resume(state);
    }
    if let Some(trust) = &args.ca_file {
        builder = builder.trust(trust.clone());
    }
    builder.configure(|c| {
        c.compression(args.compress.into())
            .encoding(args.encoding.into())
    })
}
