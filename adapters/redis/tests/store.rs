//! The Redis session store against a real redis-server.

mod common;

use common::{key, run, token, RedisServer};
use discord_gateway_redis::RedisSessionStore;
use discord_gateway_tokio::{
    ResumeState, SealedSession, SessionSeal, SessionStore, ShardId, Token,
};

fn state(session: &str, seq: u64) -> ResumeState {
    ResumeState {
        session_id: session.try_into().unwrap(),
        resume_gateway_url: "wss://gateway-us-east1-b.discord.gg".try_into().unwrap(),
        seq,
    }
}

fn seal() -> SessionSeal {
    SessionSeal::new(&Token::new("store-test-token").unwrap())
}

/// `state` sealed as `shard`'s session.
fn sealed(shard: ShardId, session: &str, seq: u64) -> (ShardId, SealedSession) {
    (shard, seal().seal(shard, &state(session, seq)))
}

/// What each loaded entry opens to for the shard it was loaded for.
fn opened(shards: &[ShardId], loaded: Vec<Option<SealedSession>>) -> Vec<Option<ResumeState>> {
    shards
        .iter()
        .zip(loaded)
        .map(|(shard, sealed)| sealed.map(|sealed| seal().open(*shard, &sealed).unwrap()))
        .collect()
}

fn shard(id: u32, count: u32) -> ShardId {
    ShardId::new(id, count).unwrap()
}

#[test]
fn saves_loads_and_clears_by_shard_id_and_count() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    run(async {
        let store = RedisSessionStore::new(redis.client(), &token()).prefix("bot-a");
        let saved = [
            sealed(shard(0, 16), "aaaa", 10),
            sealed(shard(3, 16), "bbbb", 20),
        ];
        store.save(&saved).await.unwrap();

        // Shard 3 of 32 is another shard than 3 of 16: nothing saved for it.
        let wanted = [shard(0, 16), shard(1, 16), shard(3, 16), shard(3, 32)];
        let loaded = opened(&wanted, store.load(&wanted).await.unwrap());
        assert_eq!(
            loaded,
            vec![Some(state("aaaa", 10)), None, Some(state("bbbb", 20)), None]
        );

        // Another prefix is another bot.
        let other = RedisSessionStore::new(redis.client(), &token()).prefix("bot-b");
        assert_eq!(other.load(&wanted[..1]).await.unwrap(), vec![None]);

        // A save replaces; a clear forgets only what it names.
        store
            .save(&[sealed(shard(0, 16), "cccc", 30)])
            .await
            .unwrap();
        store.clear(&[shard(3, 16)]).await.unwrap();
        let loaded = opened(&wanted, store.load(&wanted).await.unwrap());
        assert_eq!(loaded, vec![Some(state("cccc", 30)), None, None, None]);

        // Empty requests are answered without a round trip that Redis would refuse.
        assert_eq!(store.load(&[]).await.unwrap(), Vec::new());
        store.save(&[]).await.unwrap();
        store.clear(&[]).await.unwrap();
    });
}

#[test]
fn expired_sessions_are_forgotten() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    run(async {
        let store = RedisSessionStore::new(redis.client(), &token())
            .expire_after(std::time::Duration::from_millis(100));
        store.save(&[sealed(shard(0, 1), "aaaa", 1)]).await.unwrap();
        let mut connection = redis.connection().await;
        let ttl: i64 = redis::cmd("PTTL")
            .arg(key("session:1:0"))
            .query_async(&mut connection)
            .await
            .unwrap();
        assert!((1..=100).contains(&ttl), "PTTL {ttl}");
    });
}

#[test]
fn unreadable_sessions_are_refused_and_unreachable_redis_is_a_typed_error() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    run(async {
        let store = RedisSessionStore::new(redis.client(), &token());
        let mut connection = redis.connection().await;
        redis::cmd("SET")
            .arg(key("session:1:0"))
            .arg("{not json")
            .query_async::<()>(&mut connection)
            .await
            .unwrap();
        // The store hands it over as it is; the seal refuses it (and the shard identifies).
        let loaded = store.load(&[shard(0, 1)]).await.unwrap();
        let refused = seal().open(shard(0, 1), loaded[0].as_ref().unwrap());
        assert!(refused.is_err(), "{refused:?}");

        redis.kill();
        let error = store
            .save(&[sealed(shard(0, 1), "aaaa", 1)])
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "session store failed while saving sessions to Redis"
        );
    });
}
