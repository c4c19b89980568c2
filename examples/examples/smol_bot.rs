//! The same kind of bot on smol: print every message, and leave on `!quit`.
//!
//! Run with `DISCORD_TOKEN=... cargo run --example smol_bot`, or without a token to try it
//! against a simulated gateway.

// Programs for a terminal: printing is their job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use discord_gateway_smol::{CloseKind, EventSet, EventType, Intents, Shard, ShardEvent, Token};

/// The example; `pub` because `examples/tests/examples.rs` runs it against the sim.
pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let gateway = common::gateway(1);
    smol::block_on(async {
        let mut builder = Shard::builder(Token::new(&gateway.token)?).configure(|c| {
            c.events(EventSet::EMPTY.with(EventType::MessageCreate))
                .intents(Intents::GUILD_MESSAGES | Intents::MESSAGE_CONTENT)
        });
        if let Some(url) = &gateway.gateway_url {
            builder = builder.configure(|c| c.gateway_url(url));
        }
        let mut shard = builder.build()?;
        while let Some(event) = shard.next_event().await {
            if let ShardEvent::Dispatch(message) = event? {
                let value: serde_json::Value = message.deserialize()?;
                println!("message: {}", value["content"]);
                if value["content"] == "!quit" {
                    shard.close(CloseKind::EndSession).await;
                }
            }
        }
        Ok(())
    })
}
