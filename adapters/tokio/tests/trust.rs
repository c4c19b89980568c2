//! `ManagerBuilder::trust`: every shard of a manager reaches a `wss://` gateway whose
//! certificate a private CA signed (the sim's), and each of their connections is TLS.

use std::time::Duration;

use discord_gateway_sim::{Sim, TestCa};
use discord_gateway_tokio::{
    Intents, LocalIdentifyQueue, Shard, ShardManager, ShardRange, Token, Tokio, Trust,
};

const TOKEN: &str = "trust-token";

#[test]
fn a_manager_trusting_the_sims_ca_gets_every_shard_ready_over_tls() {
    let ca = TestCa::generate().expect("a test CA");
    let sim = Sim::builder()
        .token(TOKEN)
        .tls(&ca)
        .identify_window(Duration::ZERO)
        .guilds(0)
        .start_blocking()
        .expect("the sim starts");
    let shards = Shard::builder(Token::new(TOKEN).expect("token"))
        .configure(|c| c.gateway_url(&sim.url()).intents(Intents::GUILDS));
    let trust = Trust::roots_pem(ca.ca_pem().as_bytes()).expect("the CA's PEM");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(async {
            let mut manager = ShardManager::builder(shards, ShardRange::all(2).unwrap())
                .identify_queue(LocalIdentifyQueue::new(Tokio, 2).with_window(Duration::ZERO))
                .trust(trust)
                .start()
                .await
                .expect("the shards build");
            tokio::time::timeout(Duration::from_secs(20), async {
                while manager.ready() < 2 {
                    manager
                        .next_event()
                        .await
                        .expect("the manager runs")
                        .expect("no shard stops");
                }
            })
            .await
            .unwrap_or_else(|_| panic!("not every shard READY: {:?}", sim.counters()));
        });
    let c = sim.counters();
    assert_eq!(
        (c.readies, c.connections, c.tls_handshake_failures),
        (2, 2, 0),
        "{c:?}"
    );
    for conn in sim.connections() {
        assert_eq!(conn.tls_version.as_deref(), Some("TLSv1_3"), "{conn:?}");
    }
}
