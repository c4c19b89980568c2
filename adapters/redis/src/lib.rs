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
//! # One process of a bot split across several
//!
//! Run this once per range of shards (`0..16` of 32 here, `16..32` in the other process), every
//! process pointed at the same Redis. Sessions saved by whichever process ran a shard before are
//! resumed; the rest identify through the shared queue.
//!
//! ```no_run
//! use discord_gateway_redis::{redis, RedisIdentifyQueueBuilder, RedisSessionStore, RedisStreamSink};
//! use discord_gateway_tokio::{
//!     CloseKind, Intents, SessionStore, Shard, ShardEvent, ShardId, StreamExt, Token, Tokio,
//! };
//! use futures_util::stream::select_all;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let (shards, total) = (0..16, 32);
//!     let client = redis::Client::open(std::env::var("REDIS_URL")?)?;
//!     // `max_concurrency` (or the whole `session_start_limit`, with `.limit(..)`) from
//!     // GET /gateway/bot.
//!     let queue = RedisIdentifyQueueBuilder::new(client.clone()).max_concurrency(1).build(Tokio);
//!     let store = RedisSessionStore::new(client.clone());
//!     let (mut sink, writer) = RedisStreamSink::builder(client, "gateway-events").build(Tokio);
//!     let writing = tokio::spawn(writer.run());
//!
//!     let ids = shards.map(|id| ShardId::new(id, total)).collect::<Result<Vec<_>, _>>()?;
//!     let saved = store.load(&ids).await?;
//!     let mut running = Vec::new();
//!     for (&id, state) in ids.iter().zip(saved) {
//!         let mut builder = Shard::builder(Token::new(&std::env::var("DISCORD_TOKEN")?)?)
//!             .shard(id)
//!             .intents(Intents::GUILDS | Intents::GUILD_MESSAGES)
//!             .identify_queue(queue.clone());
//!         if let Some(state) = state {
//!             builder = builder.resume(state);
//!         }
//!         running.push(builder.build()?);
//!     }
//!     // The shards hold their sessions now: a crash must not leave these for the next start.
//!     store.clear(&ids).await?;
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
//!             states.push((shard.id(), state));
//!         }
//!     }
//!     store.save(&states).await?;
//!     sink.flush().await?;
//!     drop(sink);
//!     writing.await?;
//!     Ok(())
//! }
//! ```

mod identify;
mod link;
mod store;
mod stream;

pub use identify::{RedisIdentifyQueue, RedisIdentifyQueueBuilder};
pub use store::RedisSessionStore;
pub use stream::{
    RedisStreamBuilder, RedisStreamSink, StreamWriter, WriterGone, DEFAULT_BATCH, DEFAULT_BUFFER,
    DEFAULT_MAX_LEN,
};

/// The `redis` crate this one is built on, for [`redis::Client`].
pub use redis;
