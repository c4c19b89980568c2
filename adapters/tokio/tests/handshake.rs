//! Issue 22, item 7, over real sockets: a gateway that acknowledges heartbeats but never answers
//! Identify (the sim's `Fault::SilentHandshake`) is left after the handshake timeout, and the
//! shard identifies on a fresh connection after a backoff.

use std::time::Duration;

use discord_gateway_sim::{Fault, Sim, Target};
use discord_gateway_tokio::discord_gateway::session::{Backoff, DisconnectCause, Next};
use discord_gateway_tokio::{Intents, SessionEvent, Shard, ShardEvent, StreamExt, Token};

const TOKEN: &str = "handshake-token";

#[test]
fn a_silent_handshake_is_left_after_the_timeout_and_the_shard_identifies_again() {
    let sim = Sim::builder()
        .token(TOKEN)
        .heartbeat_interval(Duration::from_millis(100))
        .start_blocking()
        .unwrap();
    sim.fault_to(Target::NextConnection, Fault::SilentHandshake);
    let timeout = Duration::from_millis(700);
    let mut shard = Shard::builder(Token::new(TOKEN).unwrap())
        .configure(|c| {
            c.gateway_url(&sim.url())
                .intents(Intents::GUILDS)
                .backoff(Backoff {
                    initial: Duration::from_millis(50),
                    max: Duration::from_millis(200),
                })
                .handshake_timeout(timeout)
        })
        .seed(3)
        .build()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (cause, next, ready) = runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(20), async {
            let mut disconnected = None;
            while let Some(event) = shard.next().await {
                match event.expect("no fatal stop") {
                    ShardEvent::Session(SessionEvent::Disconnected { cause, next }, _)
                        if disconnected.is_none() =>
                    {
                        disconnected = Some((cause, next));
                    }
                    ShardEvent::Session(SessionEvent::Ready, _) => {
                        let (cause, next) = disconnected.expect("READY after a disconnect");
                        return (cause, next, true);
                    }
                    _ => {}
                }
            }
            panic!("the stream ended");
        })
        .await
        .expect("the shard got over the silent gateway within 20 s")
    });
    assert_eq!(cause, DisconnectCause::HandshakeTimeout);
    assert!(
        matches!(next, Next::Identify { after } if after > Duration::ZERO),
        "{next:?}"
    );
    assert!(ready);
    let counters = sim.counters();
    assert_eq!(counters.identifies, 2, "one unanswered, one answered");
    assert!(
        counters.heartbeats >= 2,
        "the silent connection kept answering heartbeats: {counters:?}"
    );
}
