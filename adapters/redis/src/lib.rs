//! Redis for bots that run their shards in many processes, on many machines.
//!
//! - [`RedisIdentifyQueue`]: an [`IdentifyQueue`](discord_gateway_driver::IdentifyQueue) every
//!   process of the bot shares, so that together they identify as fast as Discord's rules
//!   allow and no faster: one Identify per `shard_id % max_concurrency` bucket per 5 s, and no
//!   more in a day than the session start limit.
//! - [`RedisSessionStore`]: a [`SessionStore`](discord_gateway_driver::SessionStore), so any
//!   process can resume any shard after a deploy instead of identifying it again.
//! - [`RedisStreamSink`]: events into a Redis Stream for stateless workers, buffered up to a
//!   bound while Redis is away, then holding the shard back rather than dropping events; never
//!   writing one twice.
//!
//! The crate is generic over the driver's [`Runtime`](discord_gateway_driver::Runtime) for its
//! timers; the Redis connections run on tokio (feature `tokio`, the default) or smol (feature
//! `smol`). With both features on, the `redis` crate picks the runtime it is called from.
//!
//! # Keys, trust and leases
//!
//! - **One namespace per bot.** Every key of the queue and the store is under
//!   `discord-gateway:{bot id}` (the bot's user id, which the token's first segment encodes), so
//!   two bots in one Redis never share a budget, a bucket, a session or a lease.
//!   `.prefix(..)` replaces it (every process of a bot must use the same). The stream's key is
//!   the one you give.
//! - **Redis Cluster.** Keys are `{PREFIX}:…`: the prefix is their hash tag, so every key one
//!   script or `MULTI` touches (an identify bucket and the budget, the sessions of many shards,
//!   their leases) is in one slot. A stream writer's record is `{KEY}:writer:…`, in its stream's
//!   slot. Connect to the node that serves the slot (or through a cluster-aware proxy).
//! - **What the store trusts.** Nothing it reads, on its own: a session is saved sealed to the
//!   bot and the shard (an HMAC-SHA256 under a key derived from the token, see
//!   [`SessionSeal`](discord_gateway_driver::SessionSeal)), and the
//!   [`ShardManager`](discord_gateway_driver::ShardManager) resumes only what opens for this bot
//!   and this shard. Whoever can write the Redis without the token can delete sessions or take
//!   leases (making shards identify, or not run), but not make a shard resume a session it did
//!   not save, nor send the token anywhere.
//! - **One process per shard.** [`RedisSessionStore`] leases each shard to the process running
//!   it (`SET NX PX`-like, renewed every third of its time to live while the manager runs,
//!   released on shutdown after the sessions are saved); a process that finds a shard leased
//!   logs the shard and the holder and does not run it. Saved sessions are taken with `GETDEL`
//!   in one `MULTI`, so two processes never both resume one.
//!
//! # One process of a bot split across several
//!
//! Run this once per range of shards (`0..16` of 32 here, `16..32` in the other process), every
//! process pointed at the same Redis. Sessions saved by whichever process ran a shard before are
//! resumed; the rest identify through the shared queue. (A
//! [`ShardManager`](discord_gateway_driver::ShardManager) with the store does all of this, and
//! holds the shards' leases too; this is the same by hand.)
//!
//! ```no_run
//! use discord_gateway_redis::{redis, RedisIdentifyQueueBuilder, RedisSessionStore, RedisStreamSink};
//! use discord_gateway_tokio::{
//!     CloseKind, Intents, SessionSeal, SessionStore, Shard, ShardEvent, ShardId, StreamExt, Token,
//!     Tokio,
//! };
//! use futures_util::stream::select_all;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let (shards, total) = (0..16, 32);
//!     let client = redis::Client::open(std::env::var("REDIS_URL")?)?;
//!     // `max_concurrency` (or the whole `session_start_limit`, with `.limit(..)`) from
//!     // GET /gateway/bot.
//!     let token = Token::new(&std::env::var("DISCORD_TOKEN")?)?;
//!     // Every key under `discord-gateway:{bot id}`: other bots in this Redis have their own.
//!     let queue = RedisIdentifyQueueBuilder::new(client.clone(), &token)
//!         .max_concurrency(1)
//!         .build(Tokio);
//!     let store = RedisSessionStore::new(client.clone(), &token);
//!     let (mut sink, writer) = RedisStreamSink::builder(client, "gateway-events").build(Tokio);
//!     let writing = tokio::spawn(writer.run());
//!
//!     // Seals what the store keeps to this bot and shard, and opens only what it sealed.
//!     let seal = SessionSeal::new(&token);
//!     let ids = shards.map(|id| ShardId::new(id, total)).collect::<Result<Vec<_>, _>>()?;
//!     // Taken out of the store in one step: no other process resumes them too.
//!     let saved = store.take(&ids).await?;
//!     let mut running = Vec::new();
//!     for (&id, sealed) in ids.iter().zip(saved) {
//!         let mut builder = Shard::builder(token.clone())
//!             .configure(|c| c.shard(id).intents(Intents::GUILDS | Intents::GUILD_MESSAGES))
//!             .identify_queue(queue.clone());
//!         match sealed.map(|sealed| seal.open(id, &sealed)) {
//!             Some(Ok(state)) => builder = builder.resume(state),
//!             Some(Err(refused)) => eprintln!("shard {id}: {refused}; identifying"),
//!             None => {}
//!         }
//!         running.push(builder.build()?);
//!     }
//!
//!     let mut events = select_all(running.into_iter().map(|shard| {
//!         let id = shard.id();
//!         shard.map(move |event| (id, event))
//!     }));
//!     let mut left: u64 = std::env::var("MAX_EVENTS")?.parse()?;
//!     while let Some((id, event)) = events.next().await {
//!         if let ShardEvent::Dispatch(dispatch) = event? {
//!             // Waits while Redis is away and the sink's buffer is full.
//!             sink.push(id, dispatch.message().clone()).await?;
//!             left -= 1;
//!             if left == 0 {
//!                 break;
//!             }
//!         }
//!     }
//!
//!     // A graceful stop: whichever process starts these shards next resumes them.
//!     let mut states = Vec::new();
//!     for shard in events.iter_mut() {
//!         let shard = shard.get_mut();
//!         shard.close(CloseKind::Resumable).await;
//!         if let Some(state) = shard.resume_state() {
//!             states.push((shard.id(), seal.seal(shard.id(), &state)));
//!         }
//!     }
//!     // Flushed first: a saved session must not cover events the stream never got.
//!     sink.flush().await?;
//!     drop(sink);
//!     writing.await?;
//!     store.save(&states).await?;
//!     Ok(())
//! }
//! ```

mod identify;
mod keys;
mod link;
mod store;
mod stream;

pub use identify::{RedisIdentifyQueue, RedisIdentifyQueueBuilder};
pub use store::{RedisSessionStore, DEFAULT_LEASE_TTL};
pub use stream::{
    RedisStreamBuilder, RedisStreamSink, StreamWriter, WriterGone, DEFAULT_BATCH, DEFAULT_BUFFER,
    DEFAULT_MAX_LEN,
};

/// The `redis` crate this one is built on, for [`redis::Client`].
pub use redis;
