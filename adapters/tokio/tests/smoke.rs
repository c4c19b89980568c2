//! A first end-to-end check against the sim: identify, dispatch, reconnect and resume.

use std::time::Duration;

use discord_gateway_sim::{Fault, Sim};
use discord_gateway_tokio::{Shard, ShardEvent, Token};

#[tokio::test]
async fn identifies_receives_and_resumes_after_op_7() {
    let sim = Sim::builder()
        .heartbeat_interval(Duration::from_millis(500))
        .token("smoke-token")
        .start()
        .await
        .unwrap();
    let mut shard = Shard::builder(Token::new("smoke-token").unwrap())
        .gateway_url(&sim.url())
        .intents(discord_gateway_tokio::Intents::GUILD_MESSAGES)
        .seed(1)
        .build()
        .unwrap();
    let mut seen = Vec::new();
    let mut resumed = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline {
        let event = tokio::time::timeout(Duration::from_secs(5), shard.next_event())
            .await
            .unwrap_or_else(|_| panic!("stuck in {:?}; sim {:?}", shard.state(), sim.counters()))
            .unwrap()
            .unwrap();
        eprintln!("{event:?}");
        match event {
            ShardEvent::Ready { .. } => {
                sim.message_create("one");
                sim.fault(Fault::Reconnect);
                sim.message_create("two");
            }
            ShardEvent::Dispatch(dispatch) => seen.push(dispatch.name().to_owned()),
            ShardEvent::Resumed { .. } => {
                resumed = true;
                sim.message_create("three");
            }
            _ => {}
        }
        if resumed && seen.iter().filter(|n| *n == "MESSAGE_CREATE").count() == 3 {
            break;
        }
    }
    assert!(resumed, "{seen:?}");
    assert_eq!(
        seen.iter().filter(|n| *n == "MESSAGE_CREATE").count(),
        3,
        "{seen:?}"
    );
}
