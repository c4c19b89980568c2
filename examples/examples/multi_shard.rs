//! Several shards in one task: one shared identify queue, one merged stream of events.
//!
//! No task per shard is needed: `select_all` polls every shard's stream, and each shard does
//! its work while polled. The identify queue makes sure shards in one concurrency bucket
//! identify at least 5 s apart, as Discord requires.
//!
//! Run with `DISCORD_TOKEN=... SHARDS=4 cargo run --example multi_shard`, or without a token to
//! try it against a simulated gateway.

// Programs for a terminal: printing is their job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::sync::Arc;

use discord_gateway_tokio::{
    EventType, Intents, LocalIdentifyQueue, Shard, ShardEvent, ShardId, Token, Tokio,
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

    let mut streams = Vec::new();
    for id in 0..count {
        let mut builder = Shard::builder(Token::new(&gateway.token)?)
            .shard(ShardId::new(id, count)?)
            .intents(Intents::GUILDS | Intents::GUILD_MESSAGES)
            .identify_queue(Arc::clone(&queue) as _);
        if let Some(url) = &gateway.gateway_url {
            builder = builder.gateway_url(url);
        }
        let shard = builder.build()?;
        streams.push(shard.into_stream().map(move |event| (id, event)).boxed());
    }

    let mut events = select_all(streams);
    let mut ready = 0;
    while let Some((shard, event)) = events.next().await {
        match event? {
            ShardEvent::Ready { .. } => {
                ready += 1;
                println!("shard {shard} ready ({ready}/{count})");
            }
            ShardEvent::Dispatch(dispatch) => {
                println!("shard {shard}: {}", dispatch.name());
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
    Ok(())
}
