//! The Redis session store against a real redis-server.

mod common;

use common::{run, RedisServer};
use discord_gateway_redis::RedisSessionStore;
use discord_gateway_tokio::{ResumeState, SessionStore, ShardId};

fn state(session: &str, seq: u64) -> ResumeState {
    ResumeState {
        session_id: session.try_into().unwrap(),
        resume_gateway_url: "wss://gateway-us-east1-b.discord.gg".try_into().unwrap(),
        seq,
    }
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
        let store = RedisSessionStore::new(redis.client()).prefix("bot-a");
        let saved = [
            (shard(0, 16), state("aaaa", 10)),
            (shard(3, 16), state("bbbb", 20)),
        ];
        store.save(&saved).await.unwrap();

        // Shard 3 of 32 is another shard than 3 of 16: nothing saved for it.
        let wanted = [shard(0, 16), shard(1, 16), shard(3, 16), shard(3, 32)];
        let loaded = store.load(&wanted).await.unwrap();
        assert_eq!(
            loaded,
            vec![Some(state("aaaa", 10)), None, Some(state("bbbb", 20)), None]
        );

        // Another prefix is another bot.
        let other = RedisSessionStore::new(redis.client()).prefix("bot-b");
        assert_eq!(other.load(&wanted[..1]).await.unwrap(), vec![None]);

        // A save replaces; a clear forgets only what it names.
        store
            .save(&[(shard(0, 16), state("cccc", 30))])
            .await
            .unwrap();
        store.clear(&[shard(3, 16)]).await.unwrap();
        let loaded = store.load(&wanted).await.unwrap();
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
        let store = RedisSessionStore::new(redis.client())
            .expire_after(std::time::Duration::from_millis(100));
        store
            .save(&[(shard(0, 1), state("aaaa", 1))])
            .await
            .unwrap();
        let mut connection = redis
            .client()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let ttl: i64 = redis::cmd("PTTL")
            .arg("discord-gateway:session:1:0")
            .query_async(&mut connection)
            .await
            .unwrap();
        assert!((1..=100).contains(&ttl), "PTTL {ttl}");
    });
}

#[test]
fn unreadable_sessions_and_unreachable_redis_are_typed_errors() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    run(async {
        let store = RedisSessionStore::new(redis.client());
        let mut connection = redis
            .client()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        redis::cmd("SET")
            .arg("discord-gateway:session:1:0")
            .arg("{not json")
            .query_async::<()>(&mut connection)
            .await
            .unwrap();
        let error = store.load(&[shard(0, 1)]).await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "session store failed while reading a session saved in Redis"
        );
        assert!(std::error::Error::source(&error).is_some());

        redis.kill();
        let error = store
            .save(&[(shard(0, 1), state("aaaa", 1))])
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "session store failed while saving sessions to Redis"
        );
    });
}
