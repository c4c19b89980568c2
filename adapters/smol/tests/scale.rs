//! Discovery and the shard manager on smol: the same driver code as on tokio, awaited on smol's
//! executor and timer.

use std::time::{Duration, Instant};

use discord_gateway_sim::Sim;
use discord_gateway_smol::{
    Discovery, Intents, LocalIdentifyQueue, SessionEvent, Shard, ShardEvent, ShardManager,
    ShardRange, Smol, StreamExt, Token,
};

const TOKEN: &str = "smol-scale-token";

#[test]
fn discovery_waits_out_a_429_on_smols_timer() {
    let sim = Sim::builder()
        .token(TOKEN)
        .max_concurrency(4)
        .start_blocking()
        .unwrap();
    sim.rate_limit_gateway_bot(1, Duration::from_millis(100));
    let started = Instant::now();
    let bot = smol::block_on(
        Discovery::new(&format!("{}/api/v10", sim.http_url()))
            .gateway_bot(&Smol, &Token::new(TOKEN).unwrap()),
    )
    .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert_eq!(bot.session_start_limit.max_concurrency, 4);
    assert_eq!(sim.counters().http_rate_limited, 1);
}

#[test]
fn a_manager_starts_its_shards_and_stops_them() {
    let sim = Sim::builder()
        .token(TOKEN)
        .max_concurrency(4)
        // The queue's 200 ms less 10 % for the sim's own timestamp jitter (see the tokio
        // adapter's tests/manager.rs).
        .identify_window(Duration::from_millis(180))
        .guilds(0)
        .start_blocking()
        .unwrap();
    smol::block_on(async {
        let template = Shard::builder(Token::new(TOKEN).unwrap())
            .configure(|c| c.gateway_url(&sim.url()).intents(Intents::GUILDS));
        let queue = LocalIdentifyQueue::new(Smol, 4).with_window(Duration::from_millis(200));
        let mut manager = ShardManager::builder(template, ShardRange::all(8).unwrap())
            .identify_queue(queue)
            .start()
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut readies = 0;
        while readies < 8 {
            assert!(Instant::now() < deadline, "{manager:?}");
            if let Ok((_, ShardEvent::Session(SessionEvent::Ready, _))) =
                manager.next().await.unwrap()
            {
                readies += 1;
            }
        }
        assert_eq!(manager.ready(), 8);
        // No store: the sessions are ended, and the stream ends.
        assert_eq!(manager.shutdown().await.unwrap(), 0);
        while manager.next().await.is_some() {}
        assert_eq!(manager.running(), 0);
    });
    let counters = sim.counters();
    assert_eq!(counters.identifies, 8);
    assert_eq!(counters.identify_rate_limited, 0);
    assert_eq!(counters.client_closed(1000), 8, "{counters:?}");
}
