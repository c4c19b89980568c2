//! Which shards a process runs: `first..=last` of `total`.

use std::fmt;
use std::str::FromStr;

use discord_gateway::ShardId;

/// The shards one process runs: ids `first..=last` of a bot sharded `total` ways. Every value
/// of this type is a valid, non-empty range (`first <= last < total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ShardRange {
    first: u32,
    last: u32,
    total: u32,
}

/// Why a shard range was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidRange {
    /// A bot has at least one shard.
    NoShards,
    /// `first` comes after `last`.
    Reversed {
        /// The first id asked for.
        first: u32,
        /// The last id asked for.
        last: u32,
    },
    /// `last` is not below `total`.
    PastTotal {
        /// The last id asked for.
        last: u32,
        /// The bot's shard count.
        total: u32,
    },
    /// The text is not `A-B/N` (or `ID/N`).
    Syntax(String),
}

impl fmt::Display for InvalidRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoShards => f.write_str("a bot has at least one shard"),
            Self::Reversed { first, last } => {
                write!(f, "the range starts at shard {first}, after its end {last}")
            }
            Self::PastTotal { last, total } => write!(
                f,
                "shard ids run from 0 to {} of {total} shards; {last} is past the end",
                total - 1
            ),
            Self::Syntax(text) => write!(f, "`{text}` is not a range like 0-15/32 or 3/32"),
        }
    }
}

impl std::error::Error for InvalidRange {}

impl ShardRange {
    /// Shards `first..=last` of `total`.
    ///
    /// # Errors
    /// [`InvalidRange`] unless `first <= last < total`.
    pub const fn new(first: u32, last: u32, total: u32) -> Result<Self, InvalidRange> {
        if total == 0 {
            return Err(InvalidRange::NoShards);
        }
        if first > last {
            return Err(InvalidRange::Reversed { first, last });
        }
        if last >= total {
            return Err(InvalidRange::PastTotal { last, total });
        }
        Ok(Self { first, last, total })
    }

    /// Every shard of a bot sharded `total` ways (the `shards` of `GET /gateway/bot`).
    ///
    /// # Errors
    /// [`InvalidRange::NoShards`] for 0.
    pub const fn all(total: u32) -> Result<Self, InvalidRange> {
        if total == 0 {
            return Err(InvalidRange::NoShards);
        }
        Self::new(0, total - 1, total)
    }

    /// The first shard id.
    #[must_use]
    pub const fn first(self) -> u32 {
        self.first
    }

    /// The last shard id (included).
    #[must_use]
    pub const fn last(self) -> u32 {
        self.last
    }

    /// The bot's shard count.
    #[must_use]
    pub const fn total(self) -> u32 {
        self.total
    }

    /// How many shards the range holds (never 0).
    #[must_use]
    pub const fn len(self) -> u32 {
        self.last - self.first + 1
    }

    /// Always false: a range holds at least one shard.
    #[must_use]
    pub const fn is_empty(self) -> bool {
        false
    }

    /// Whether `shard` is one of the range's shards.
    #[must_use]
    pub const fn contains(self, shard: ShardId) -> bool {
        shard.count() == self.total && shard.id() >= self.first && shard.id() <= self.last
    }

    /// The range's shards, in id order.
    pub fn shards(self) -> impl ExactSizeIterator<Item = ShardId> {
        // `last < total`, so `last + 1` cannot overflow; a half-open range knows its length.
        (self.first..self.last + 1).map(move |id| {
            ShardId::new(id, self.total).expect("a ShardRange holds only valid shard ids")
        })
    }
}

impl fmt::Display for ShardRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}/{}", self.first, self.last, self.total)
    }
}

impl FromStr for ShardRange {
    type Err = InvalidRange;

    /// `A-B/N` (shards A to B of N) or `ID/N` (one shard).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let syntax = || InvalidRange::Syntax(text.to_owned());
        let (ids, total) = text.trim().split_once('/').ok_or_else(syntax)?;
        let (first, last) = ids.split_once('-').unwrap_or((ids, ids));
        let number = |part: &str| part.trim().parse::<u32>().map_err(|_| syntax());
        Self::new(number(first)?, number(last)?, number(total)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges_and_single_shards() {
        let range: ShardRange = "4-7/16".parse().unwrap();
        assert_eq!((range.first(), range.last(), range.total()), (4, 7, 16));
        assert_eq!(range.len(), 4);
        assert_eq!(range.to_string(), "4-7/16");
        let ids: Vec<u32> = range.shards().map(ShardId::id).collect();
        assert_eq!(ids, [4, 5, 6, 7]);
        assert_eq!("3/8".parse::<ShardRange>().unwrap().len(), 1);
        assert!(range.contains(ShardId::new(5, 16).unwrap()));
        assert!(!range.contains(ShardId::new(5, 32).unwrap()));
    }

    #[test]
    fn refuses_what_is_not_a_range() {
        assert_eq!("0-3/0".parse::<ShardRange>(), Err(InvalidRange::NoShards));
        assert_eq!(
            "5-3/8".parse::<ShardRange>(),
            Err(InvalidRange::Reversed { first: 5, last: 3 })
        );
        assert_eq!(
            "0-8/8".parse::<ShardRange>(),
            Err(InvalidRange::PastTotal { last: 8, total: 8 })
        );
        assert!(matches!(
            "0-3".parse::<ShardRange>(),
            Err(InvalidRange::Syntax(_))
        ));
        assert!(matches!(
            "a-3/4".parse::<ShardRange>(),
            Err(InvalidRange::Syntax(_))
        ));
    }
}
