//! A tokio bot that answers message commands through the shard's command sender.
//!
//! `!presence <text>` sets the bot's custom status; `!members` asks for the first members of
//! the guild (they arrive as GUILD_MEMBERS_CHUNK); `!quit` closes the shard. The commands are
//! queued from a separate task, as a real bot would from its handlers.
//!
//! Run with `DISCORD_TOKEN=... cargo run --example tokio_bot`, or without a token to try it
//! against a simulated gateway.

// Programs for a terminal: printing is their job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::borrow::Cow;

use discord_gateway_tokio::command::{
    Activity, MemberSelector, RequestGuildMembers, Status, UpdatePresence,
};
use discord_gateway_tokio::{
    CloseKind, EventSet, EventType, Intents, SessionEvent, Shard, ShardEvent, Snowflake, Token,
};
use serde::Deserialize;

/// The part of MESSAGE_CREATE this bot reads. `content` is a `Cow`: it borrows from the event
/// when it can, and owns the text when Discord escaped it (a quote, a backslash, a newline),
/// where a `&str` would fail to deserialize (see `Dispatch::deserialize`).
#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    content: Cow<'a, str>,
    guild_id: Option<Snowflake>,
}

/// The example; `pub` because `examples/tests/examples.rs` runs it against the sim.
#[tokio::main(flavor = "current_thread")]
pub async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let gateway = common::gateway(1);
    let events = EventSet::from_slice(&[EventType::MessageCreate, EventType::GuildMembersChunk]);
    let mut builder = Shard::builder(Token::new(&gateway.token)?).configure(|c| {
        c.events(events)
            .intents(Intents::GUILD_MESSAGES | Intents::MESSAGE_CONTENT)
    });
    if let Some(url) = &gateway.gateway_url {
        builder = builder.configure(|c| c.gateway_url(url));
    }
    let mut shard = builder.build()?;

    // Handlers live in their own task and talk to the shard only through the sender.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, Option<Snowflake>)>();
    let sender = shard.sender();
    let handlers = tokio::spawn(async move {
        while let Some((content, guild_id)) = rx.recv().await {
            let queued = if let Some(text) = content.strip_prefix("!presence ") {
                let activity = [Activity::custom(text)];
                sender.send(&UpdatePresence::new(Status::Online, &activity))
            } else if let (Some(guild_id), "!members") = (guild_id, content.as_str()) {
                sender.send(&RequestGuildMembers::new(
                    guild_id,
                    MemberSelector::Query {
                        prefix: "",
                        limit: 10,
                    },
                ))
            } else if content == "!quit" {
                sender.close(CloseKind::EndSession)
            } else {
                continue;
            };
            if let Err(error) = queued {
                eprintln!("command not sent: {error}");
            }
        }
    });

    while let Some(event) = shard.next_event().await {
        match event? {
            ShardEvent::Session(SessionEvent::Ready, _) => {
                let session_id = shard.session().session_id().unwrap_or_default();
                println!("ready: session {session_id}");
            }
            ShardEvent::Dispatch(dispatch) if dispatch.kind() == Some(EventType::MessageCreate) => {
                let message: Message<'_> = dispatch.deserialize()?;
                println!("message: {}", message.content);
                tx.send((message.content.into_owned(), message.guild_id))?;
            }
            ShardEvent::Dispatch(dispatch) => {
                println!("{}: {} bytes", dispatch.name(), dispatch.data().len())
            }
            other => println!("{other:?}"),
        }
    }
    drop(tx);
    handlers.await?;
    Ok(())
}
