//! Issue 22, item 1: whoever can write the Redis session store cannot get the token by planting
//! a resume URL of theirs. A listener on another loopback address plays their host.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::shards::{queue_builder, shards, sim_builder, start_all, TOKEN};
use common::{run, RedisServer};
use discord_gateway_redis::RedisSessionStore;
use discord_gateway_tokio::{
    CloseKind, Intents, ResumeState, SessionEvent, SessionSeal, SessionStore, Shard, ShardEvent,
    ShardId, ShardManager, ShardRange, Token, Tokio,
};
use futures_util::StreamExt;

/// A TCP listener on 127.0.0.2 that counts the connections it is offered.
async fn attacker() -> (u16, Arc<AtomicUsize>) {
    // Linux routes all of 127.0.0.0/8 to the loopback interface.
    let listener = tokio::net::TcpListener::bind("127.0.0.2:0")
        .await
        .expect("a listener on 127.0.0.2");
    let port = listener.local_addr().expect("bound").port();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (port, seen)
}

#[test]
fn a_resume_url_planted_in_redis_never_gets_the_token() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let sim = sim_builder().start_blocking().unwrap();
    run(async {
        let (port, attacker_connections) = attacker().await;
        // A real session, closed resumably as a deploy would.
        let queue = queue_builder(redis.client(), "bot").build(Tokio);
        let (mut started, _) = start_all(shards(&sim.url(), 0..1, 1, &queue, None)).await;
        let mut shard = started.pop().expect("one shard");
        shard.close(CloseKind::Resumable).await;
        let real = shard.resume_state().expect("a session to resume");

        // Someone with the same Redis credentials plants their host in the saved session,
        // sealed with the bot's own key: the worst case, a writer that knows the token, so
        // what stops it here is the URL rule, not the seal.
        let token = Token::new(TOKEN).unwrap();
        let seal = SessionSeal::new(&token);
        let store = RedisSessionStore::new(redis.client(), &token).prefix("bot");
        for planted in [
            format!("ws://127.0.0.2:{port}/resume"),
            format!("wss://127.0.0.2:{port}"),
        ] {
            let state = ResumeState {
                resume_gateway_url: planted.as_str().try_into().unwrap(),
                ..real.clone()
            };
            let id = ShardId::new(0, 1).unwrap();
            store.save(&[(id, seal.seal(id, &state))]).await.unwrap();

            let resumes_before = sim.counters().resumed;
            let builder = Shard::builder(Token::new(TOKEN).unwrap())
                .configure(|c| c.gateway_url(&sim.url()).intents(Intents::GUILDS));
            let mut manager = ShardManager::builder(builder, ShardRange::new(0, 0, 1).unwrap())
                .identify_queue(queue.clone())
                .session_store(RedisSessionStore::new(redis.client(), &token).prefix("bot"))
                .start()
                .await
                .unwrap();
            let resumed = tokio::time::timeout(Duration::from_secs(20), async {
                while let Some(event) = manager.next().await {
                    match event {
                        Ok((_, ShardEvent::Session(SessionEvent::Resumed { .. }, _))) => {
                            return true
                        }
                        Ok((_, ShardEvent::Session(SessionEvent::Ready, _))) => return false,
                        _ => {}
                    }
                }
                false
            })
            .await
            .expect("the shard started within 20 s");
            assert!(resumed, "{planted}: resumed at the configured gateway");
            assert_eq!(
                sim.counters().resumed,
                resumes_before + 1,
                "{planted}: the sim saw the Resume"
            );
            assert_eq!(
                attacker_connections.load(Ordering::SeqCst),
                0,
                "{planted}: the planted host was dialled"
            );
            assert_eq!(
                manager.shutdown().await.unwrap(),
                1,
                "the session is saved again"
            );
            let saved = store.load(&[id]).await.unwrap();
            let saved = seal
                .open(id, saved[0].as_ref().expect("saved"))
                .expect("sealed by this bot");
            assert_eq!(saved.session_id, real.session_id);
            assert!(
                saved.resume_gateway_url.starts_with(&sim.url())
                    || saved.resume_gateway_url == sim.resume_url().as_str(),
                "the planted URL is gone: {saved:?}"
            );
        }
    });
}
