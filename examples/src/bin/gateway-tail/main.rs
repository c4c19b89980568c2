//! `gateway-tail`: a `tail -f` for Discord gateway events.
//!
//! Every dispatch goes to stdout as one JSON object per line, `d` byte for byte, ready for `jq`;
//! lifecycle and errors go to stderr through `tracing` (`RUST_LOG` is honoured).

// Programs for a terminal: printing is their job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod args;
mod demo;
mod ndjson;
mod session_file;
mod tail;

use std::process::ExitCode;

use clap::Parser;
use discord_gateway::protocol::Intents;
use discord_gateway::Token;
use discord_gateway_driver::{Runtime, ShardBuilder};
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
    let args = Args::parse();
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

    let resume = match &args.session_file {
        Some(path) => {
            session_file::load(path).map_err(|error| format!("{}: {error}", path.display()))?
        }
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
            )?;
            runtime.block_on(tail::run(
                builder.build().map_err(|e| e.to_string())?,
                args.max_events,
                args.session_file.clone(),
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
            )?;
            let shard = builder.build().map_err(|e| e.to_string())?;
            smol::block_on(tail::run(
                shard,
                args.max_events,
                args.session_file.clone(),
                stop,
            ))
        }
    };
    drop(demo);
    result.map_err(|error| match error {
        TailError::Fatal(code) => code.to_string(),
        TailError::Io(error) => format!("output failed: {error}"),
    })
}

/// Applies the flags to a shard builder.
fn configure<R: Runtime>(
    mut builder: ShardBuilder<R>,
    args: &Args,
    gateway_url: Option<String>,
    resume: Option<discord_gateway::session::ResumeState>,
    demo: bool,
) -> Result<ShardBuilder<R>, String> {
    if let Some(url) = &gateway_url {
        builder = builder.gateway_url(url);
    }
    if let Some(events) = args.events {
        builder = builder.events(events);
    }
    match args.intents {
        Some(intents) => builder = builder.intents(intents),
        // The demo gateway allows every intent; a real bot gets the ones its events need.
        None if demo && args.events.is_none() => builder = builder.intents(Intents::all()),
        None => {}
    }
    if let Some(shard) = args.shard {
        builder = builder.shard(shard);
    }
    if let Some(state) = resume {
        builder = builder.resume(state);
    }
    Ok(builder
        .compression(args.compress.into())
        .encoding(args.encoding.into()))
}
