//! Several shards in one task: one shared identify queue, one merged stream of events.
//!
//! No task per shard is needed: a shard is a `Stream`, `select_all` polls every one, and each
//! does its work while polled. The merged stream still holds the shards, so `iter_mut` reaches
//! every shard's handle: here, to close them all resumably and show what a restart would
//! resume. The identify queue makes sure shards in one concurrency bucket identify at least
//! 5 s apart, as Discord requires.
//!
//! Run with `DISCORD_TOKEN=... SHARDS=4 cargo run --example multi_shard`, or without a token to
//! try it against a simulated gateway.

// Programs for a terminal: printing is their job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use discord_gateway_tokio::{
    CloseKind, EventType, Intents, LocalIdentifyQueue, Shard, ShardEvent, ShardId, Token, Tokio,
};
use futures_util::stream::{select_all, StreamExt};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
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
    let queue = LocalIdentifyQueue::new(Tokio, max_concurrency);

    let mut shards = Vec::new();
    for id in 0..count {
        let mut builder = Shard::builder(Token::new(&gateway.token)?)
            .shard(ShardId::new(id, count)?)
            .intents(Intents::GUILDS | Intents::GUILD_MESSAGES)
            .identify_queue(queue.clone());
        if let Some(url) = &gateway.gateway_url {
            builder = builder.gateway_url(url);
        }
        shards.push(builder.build()?);
    }

    let mut events = select_all(shards);
    let mut ready = 0;
    while let Some(event) = events.next().await {
        match event? {
            ShardEvent::Ready { session_id } => {
                ready += 1;
                println!("ready: session {session_id} ({ready}/{count})");
            }
            ShardEvent::Dispatch(dispatch) => {
                println!("{}", dispatch.name());
                if dispatch.kind() == Some(EventType::MessageCreate) && gateway.sim.is_some() {
                    let message: serde_json::Value = dispatch.deserialize()?;
                    if message["content"] == "!quit" {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    for shard in events.iter_mut() {
        shard.close(CloseKind::Resumable).await;
        let session = shard
            .resume_state()
            .map(|state| state.session_id.to_string());
        println!("shard {}: resumable session {session:?}", shard.id());
    }
    Ok(())
}
