//! Several shards in one process on a `ShardManager`: one merged stream of events, identifies
//! paced by one shared queue, commands queued from another task through `manager.sender(id)`,
//! and on Ctrl-C every shard closed resumably, with the sessions a restart could resume printed.
//!
//! Each `!ping` is answered with an Update Presence on the shard the message came from, sent by
//! a handler task. A command queued while its shard reconnects waits and goes out once the
//! session is live again (see "Commands" in the `Shard` docs).
//!
//! Run with `DISCORD_TOKEN=... SHARDS=4 cargo run --example multi_shard`, or without a token to
//! try it against a simulated gateway (which says `!quit` where you would press Ctrl-C).

// Programs for a terminal: printing is their job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::borrow::Cow;

use discord_gateway_tokio::command::{Activity, Status, UpdatePresence};
use discord_gateway_tokio::{
    CloseKind, EventType, Intents, LocalIdentifyQueue, SessionEvent, Shard, ShardEvent,
    ShardManager, ShardRange, ShardSender, Token, Tokio,
};
use serde::Deserialize;

/// The part of MESSAGE_CREATE this bot reads; a `Cow` because Discord escapes quotes,
/// backslashes and newlines, which a borrowed `&str` cannot hold.
#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    content: Cow<'a, str>,
}

/// The example; `pub` because `examples/tests/examples.rs` runs it against the sim.
#[tokio::main(flavor = "current_thread")]
pub async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count: u32 = std::env::var("SHARDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2);
    // `max_concurrency` from GET /gateway/bot; 1 for most bots.
    let max_concurrency = std::env::var("MAX_CONCURRENCY")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let gateway = common::gateway(count);
    let mut shards = Shard::builder(Token::new(&gateway.token)?).configure(|c| {
        c.intents(Intents::GUILDS | Intents::GUILD_MESSAGES | Intents::MESSAGE_CONTENT)
    });
    if let Some(url) = &gateway.gateway_url {
        shards = shards.configure(|c| c.gateway_url(url));
    }
    // No session store: this example prints the resume states instead of saving them. With
    // one, `manager.shutdown()` closes resumably and saves them; without one, `shutdown()`
    // ends the sessions, so this example closes with `CloseKind::Resumable` itself.
    let mut manager = ShardManager::builder(shards, ShardRange::all(count)?)
        .identify_queue(LocalIdentifyQueue::new(Tokio, max_concurrency))
        .start()
        .await?;

    let (stop_tx, mut stop) = tokio::sync::mpsc::unbounded_channel::<()>();
    if let Err(error) = ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    }) {
        eprintln!("Ctrl-C will not close the shards resumably: {error}");
    }

    // Handlers live in their own task and reach a shard only through its sender.
    let (to_handlers, mut pings) = tokio::sync::mpsc::unbounded_channel::<ShardSender>();
    let handlers = tokio::spawn(async move {
        while let Some(sender) = pings.recv().await {
            let activity = [Activity::custom("pong")];
            if let Err(error) = sender.send(&UpdatePresence::new(Status::Online, &activity)) {
                eprintln!("presence not queued: {error}");
            }
        }
    });

    loop {
        // `next_event` is cancel-safe: leaving it for Ctrl-C loses no event and no command.
        let event = tokio::select! {
            event = manager.next_event() => event,
            _ = stop.recv() => break,
        };
        let Some(event) = event else { break };
        match event {
            Ok((shard, ShardEvent::Session(SessionEvent::Ready, _))) => {
                // READY's session id is the shard's session's from now on.
                let session = manager.shard_mut(shard).map(|s| s.session());
                let session_id = session.and_then(|s| s.session_id()).unwrap_or_default();
                println!("shard {shard}: ready, session {session_id}");
            }
            Ok((shard, ShardEvent::Session(SessionEvent::Resumed { replayed }, _))) => {
                println!("shard {shard}: resumed, {replayed} events replayed");
            }
            Ok((shard, ShardEvent::Dispatch(dispatch)))
                if dispatch.kind() == Some(EventType::MessageCreate) =>
            {
                let message: Message<'_> = dispatch.deserialize()?;
                println!("shard {shard}: message {:?}", message.content);
                match message.content.as_ref() {
                    "!ping" => {
                        if let Some(sender) = manager.sender(shard) {
                            to_handlers.send(sender)?;
                        }
                    }
                    // The simulated gateway's Ctrl-C.
                    "!quit" if gateway.sim.is_some() => break,
                    _ => {}
                }
            }
            Ok(_) => {}
            Err(stopped) => eprintln!("{stopped}"),
        }
    }

    // Discord keeps resumably closed sessions for a few minutes: a restart given these states
    // (through a `SessionStore`, or `ShardBuilder::resume`) resumes them without an Identify.
    manager.close(CloseKind::Resumable).await;
    for shard in manager.shards_mut() {
        match shard.resume_state() {
            Some(state) => println!(
                "shard {}: resumable session {} at seq {}",
                shard.id(),
                state.session_id,
                state.seq
            ),
            None => println!("shard {}: nothing to resume", shard.id()),
        }
    }
    drop(to_handlers);
    handlers.await?;
    Ok(())
}
