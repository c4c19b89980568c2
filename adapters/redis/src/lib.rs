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
