//! Shards: which slice of a bot's guilds a session handles.

use core::fmt;

use super::Snowflake;

/// A shard: `id` of `count`, as sent in Identify's `shard` field. Always valid (`id < count`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardId {
    id: u32,
    count: u32,
}

impl ShardId {
    /// The only shard of an unsharded bot: `[0, 1]`.
    pub const ONE: Self = Self { id: 0, count: 1 };

    /// Shard `id` of `count`.
    ///
    /// # Errors
    /// [`InvalidShard`] when `count` is zero or `id >= count`.
    pub const fn new(id: u32, count: u32) -> Result<Self, InvalidShard> {
        if count == 0 || id >= count {
            return Err(InvalidShard { id, count });
        }
        Ok(Self { id, count })
    }

    /// This shard's zero-based id.
    #[must_use]
    pub const fn id(self) -> u32 {
        self.id
    }

    /// How many shards the bot runs.
    #[must_use]
    pub const fn count(self) -> u32 {
        self.count
    }

    /// Whether this shard receives the events of `guild_id`.
    #[must_use]
    pub const fn handles(self, guild_id: Snowflake) -> bool {
        shard_for_guild(guild_id, self.count) == self.id
    }

    /// The identify rate-limit key of this shard: shards with the same key must identify at
    /// least 5 s apart; shards with different keys may identify together.
    #[must_use]
    pub const fn rate_limit_key(self, max_concurrency: u32) -> u32 {
        if max_concurrency == 0 {
            0
        } else {
            self.id % max_concurrency
        }
    }
}

impl Default for ShardId {
    fn default() -> Self {
        Self::ONE
    }
}

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.id, self.count)
    }
}

/// The shard that receives the events of `guild_id` when the bot runs `shard_count` shards:
/// `(guild_id >> 22) % shard_count`. A zero count is treated as one shard.
#[must_use]
pub const fn shard_for_guild(guild_id: Snowflake, shard_count: u32) -> u32 {
    if shard_count == 0 {
        return 0;
    }
    // The remainder is below shard_count, so it fits in u32.
    ((guild_id.0 >> 22) % shard_count as u64) as u32
}

/// A shard id was not below the shard count, or the count was zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidShard {
    /// The shard id given.
    pub id: u32,
    /// The shard count given.
    pub count: u32,
}

impl fmt::Display for InvalidShard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "shard {} of {} is invalid: the count must be positive and the id below it",
            self.id, self.count
        )
    }
}

impl core::error::Error for InvalidShard {}

#[cfg(test)]
mod tests {
    use super::{shard_for_guild, ShardId, Snowflake};

    #[test]
    fn guilds_route_by_their_timestamp_bits() {
        let guild = Snowflake(584_799_433_523_331_074);
        let expected = ((584_799_433_523_331_074u64 >> 22) % 16) as u32;
        assert_eq!(shard_for_guild(guild, 16), expected);
        assert_eq!(shard_for_guild(guild, 1), 0);
        assert_eq!(shard_for_guild(guild, 0), 0);
        assert!(ShardId::new(expected, 16).unwrap().handles(guild));
    }

    #[test]
    fn invalid_shards_are_refused() {
        assert!(ShardId::new(0, 0).is_err());
        assert!(ShardId::new(2, 2).is_err());
        assert_eq!(ShardId::new(1, 2).map(|s| (s.id(), s.count())), Ok((1, 2)));
    }

    #[test]
    fn rate_limit_keys_bucket_by_max_concurrency() {
        let keys: [u32; 4] =
            [0, 1, 16, 31].map(|id| ShardId::new(id, 32).unwrap().rate_limit_key(16));
        assert_eq!(keys, [0, 1, 0, 15]);
        assert_eq!(ShardId::new(5, 32).unwrap().rate_limit_key(0), 0);
    }
}
