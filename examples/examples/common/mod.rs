//! What every example shares: where to connect, and a simulated gateway when there is no token.

use std::time::Duration;

use discord_gateway_sim::{Sim, Target};

/// Where an example connects: the real gateway with `DISCORD_TOKEN`, or (without it) a simulated
/// one started in this process, which also plays a few events so the example has work to do.
#[allow(dead_code)] // Each example uses a different part of it.
pub(crate) struct Gateway {
    /// The token to identify with.
    pub(crate) token: String,
    /// The gateway base URL, when not Discord's.
    pub(crate) gateway_url: Option<String>,
    /// The simulated gateway, kept alive for the example's lifetime.
    pub(crate) sim: Option<Sim>,
}

/// Reads `DISCORD_TOKEN` (and optionally `GATEWAY_URL`), or starts an offline gateway.
pub(crate) fn gateway(shards: u32) -> Gateway {
    if let Ok(token) = std::env::var("DISCORD_TOKEN") {
        return Gateway {
            token,
            gateway_url: std::env::var("GATEWAY_URL").ok(),
            sim: None,
        };
    }
    eprintln!("no DISCORD_TOKEN: running against a simulated gateway on 127.0.0.1");
    let sim = Sim::builder()
        .token("offline-example-token")
        .heartbeat_interval(Duration::from_secs(5))
        .start_blocking()
        .expect("start the simulated gateway");
    let handle = sim.handle();
    std::thread::spawn(move || {
        // Once a session is up, users start talking to the bot.
        if handle
            .wait_for_blocking(|c| c.readies >= u64::from(shards), Duration::from_secs(30))
            .is_ok()
        {
            // Discord escapes a quote, a backslash and a newline in `content`: the examples
            // must read such a message as well as a plain one.
            for text in [
                "hello",
                ESCAPED,
                "!presence writing examples",
                "!members",
                "!ping",
                "!quit",
            ] {
                std::thread::sleep(Duration::from_millis(200));
                handle
                    .dispatch_raw(Target::Routed, "MESSAGE_CREATE", &message(text))
                    .ok();
            }
        }
    });
    Gateway {
        token: "offline-example-token".into(),
        gateway_url: Some(sim.url()),
        sim: Some(sim),
    }
}

/// A message whose JSON `content` has escapes in it (`\"`, `\\`, `\n`).
pub(crate) const ESCAPED: &str = "she said \"hi\" \\o/\nsecond line";

fn message(content: &str) -> String {
    serde_json::json!({
        "id": "1", "channel_id": discord_gateway_sim::DEFAULT_CHANNEL_ID.to_string(),
        "guild_id": "584799433523331074", "content": content, "type": 0,
        "author": {"id": "217010734628995077", "username": "ana"},
    })
    .to_string()
}
