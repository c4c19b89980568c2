//! Many shards in one process and many processes in one bot: the [`ShardManager`], identify
//! permits, saved sessions (stores and their seal), the shard range a process runs, and
//! discovery through `GET /gateway/bot`.
//!
//! [`ShardManager`]: crate::ShardManager

#[cfg(feature = "discovery")]
pub mod discovery;
pub(crate) mod file_store;
pub(crate) mod identify;
pub(crate) mod manager;
pub(crate) mod seal;
pub(crate) mod shard_range;
pub(crate) mod store;
