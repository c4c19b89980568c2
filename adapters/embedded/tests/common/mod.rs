//! What the tests share: host sockets and clocks, a client against a sim, and a way to write
//! down what the client handed over.
#![allow(dead_code, unreachable_pub, missing_docs)]

pub mod host;
pub mod script;
pub mod tls;

use std::time::Duration;

use discord_gateway::session::{Config, Event};
use discord_gateway::{Intents, Token};
use discord_gateway_embedded::Received;
use discord_gateway_sim::Sim;

pub const TOKEN: &str = "sim-token-0123456789";
/// How long any one scenario may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(20);

pub fn sim(heartbeat: Duration) -> Sim {
    Sim::builder()
        .token(TOKEN)
        .heartbeat_interval(heartbeat)
        .identify_window(Duration::ZERO)
        .start_blocking()
        .expect("the sim starts")
}

pub fn config(sim: &Sim) -> Config {
    Config::builder(Token::new(TOKEN).unwrap())
        .gateway_url(&sim.url())
        .intents(Intents::GUILDS | Intents::GUILD_MESSAGES | Intents::MESSAGE_CONTENT)
        .seed(7)
        .build()
        .unwrap()
}

/// One line per thing the client handed over, as the protocol would name it.
pub fn describe(received: &Received<'_>) -> String {
    match received {
        Received::Dispatch(dispatch) => format!(
            "dispatch {} s={}",
            dispatch.name().map_or("?", |name| name.raw()),
            dispatch.seq().map_or(-1, |s| s as i64)
        ),
        Received::Event(Event::Disconnected { cause, next }) => {
            format!("disconnected {cause:?} -> {}", next_name(next))
        }
        Received::Event(event) => format!("event {event:?}"),
        Received::Skipped(skipped) => format!(
            "skipped {} s={} size={}",
            skipped.name(),
            skipped.seq().map_or(-1, |s| s as i64),
            skipped.size()
        ),
        Received::Refused(error) => format!("refused {error:?}"),
        Received::ConnectionLost(error) => format!("lost {error:?}"),
        _ => format!("{received:?}"),
    }
}

fn next_name(next: &discord_gateway::session::Next) -> &'static str {
    match next {
        discord_gateway::session::Next::Resume { .. } => "resume",
        discord_gateway::session::Next::Identify { .. } => "identify",
        discord_gateway::session::Next::Stop => "stop",
        _ => "other",
    }
}
