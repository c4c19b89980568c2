//! Command-line flags.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use discord_gateway::protocol::{EventSet, Intents, ShardId};
use discord_gateway::session::Compression;

/// A `tail -f` for Discord gateway events: every dispatch as one JSON object per line.
///
/// The token is read from the DISCORD_TOKEN environment variable only (flags show up in `ps`).
/// With neither DISCORD_TOKEN nor --gateway-url, it runs an offline demo against a simulated
/// gateway started in-process.
#[derive(Debug, Parser)]
#[command(name = "gateway-tail", version, about, long_about)]
pub(crate) struct Args {
    /// Gateway base URL (ws:// or wss://); `?v=10&encoding=json` and the compress parameter are
    /// added. Default: Discord's gateway when DISCORD_TOKEN is set, the offline demo otherwise.
    #[arg(long, value_name = "URL")]
    pub(crate) gateway_url: Option<String>,

    /// Async runtime that drives the shard.
    #[arg(long, value_enum, default_value_t = RuntimeChoice::Tokio)]
    pub(crate) runtime: RuntimeChoice,

    /// Intents: a number, or names separated by commas (e.g. GUILDS,GUILD_MESSAGES). Derived from
    /// --events when absent.
    #[arg(long, value_name = "INTENTS", value_parser = parse_intents)]
    pub(crate) intents: Option<Intents>,

    /// Only these dispatches, by name, separated by commas (e.g. MESSAGE_CREATE,GUILD_CREATE).
    #[arg(long, value_name = "NAMES", value_parser = parse_events)]
    pub(crate) events: Option<EventSet>,

    /// Which shard to run, as ID/COUNT.
    #[arg(long, value_name = "ID/COUNT", value_parser = parse_shard)]
    pub(crate) shard: Option<ShardId>,

    /// Transport compression.
    #[arg(long, value_enum, default_value_t = CompressChoice::None)]
    pub(crate) compress: CompressChoice,

    /// Gateway encoding: JSON, or ETF (Discord's binary format, printed as the same NDJSON).
    #[arg(long, value_enum, default_value_t = EncodingChoice::Json)]
    pub(crate) encoding: EncodingChoice,

    /// Exit 0 after printing this many dispatches.
    #[arg(long, value_name = "N")]
    pub(crate) max_events: Option<u64>,

    /// Resume the session saved in this file on start, and save it there on exit.
    #[arg(long, value_name = "PATH")]
    pub(crate) session_file: Option<PathBuf>,
}

/// The async runtime to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum RuntimeChoice {
    /// tokio, current-thread.
    Tokio,
    /// smol.
    Smol,
}

/// The gateway encoding, as the URL names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum EncodingChoice {
    /// JSON text.
    Json,
    /// Erlang's external term format.
    Etf,
}

impl From<EncodingChoice> for discord_gateway::Encoding {
    fn from(choice: EncodingChoice) -> Self {
        match choice {
            EncodingChoice::Json => Self::Json,
            EncodingChoice::Etf => Self::Etf,
        }
    }
}

/// Transport compression, as the gateway names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum CompressChoice {
    /// Plain text frames.
    None,
    /// One zlib stream per connection.
    #[value(name = "zlib-stream")]
    ZlibStream,
    /// One zstd stream per connection.
    #[value(name = "zstd-stream")]
    ZstdStream,
}

impl From<CompressChoice> for Compression {
    fn from(choice: CompressChoice) -> Self {
        match choice {
            CompressChoice::None => Self::None,
            CompressChoice::ZlibStream => Self::ZlibStream,
            CompressChoice::ZstdStream => Self::ZstdStream,
        }
    }
}

pub(crate) fn parse_intents(text: &str) -> Result<Intents, String> {
    if let Ok(bits) = text.trim().parse::<u64>() {
        return Intents::from_bits(bits)
            .ok_or_else(|| format!("{bits} has bits that are not intents"));
    }
    let mut intents = Intents::empty();
    for name in text
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
    {
        let upper = name.to_ascii_uppercase();
        intents |=
            Intents::from_discord_name(&upper).ok_or_else(|| format!("unknown intent `{name}`"))?;
    }
    Ok(intents)
}

pub(crate) fn parse_events(text: &str) -> Result<EventSet, String> {
    EventSet::parse_names(text.split(',')).map_err(|error| error.to_string())
}

pub(crate) fn parse_shard(text: &str) -> Result<ShardId, String> {
    let (id, count) = text.split_once('/').ok_or("expected ID/COUNT, e.g. 0/1")?;
    let id = id
        .trim()
        .parse()
        .map_err(|_| format!("`{id}` is not a shard id"))?;
    let count = count
        .trim()
        .parse()
        .map_err(|_| format!("`{count}` is not a shard count"))?;
    ShardId::new(id, count).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intents_take_numbers_and_names() {
        assert_eq!(
            parse_intents("513"),
            Ok(Intents::GUILDS | Intents::GUILD_MESSAGES)
        );
        assert_eq!(
            parse_intents("guilds, GUILD_MESSAGES"),
            Ok(Intents::GUILDS | Intents::GUILD_MESSAGES)
        );
        assert!(parse_intents("GUILDS,NOPE").unwrap_err().contains("NOPE"));
        assert!(parse_intents("131072").is_err(), "bit 17 is not an intent");
    }

    #[test]
    fn shards_and_events_parse() {
        assert_eq!(
            parse_shard("3/8"),
            ShardId::new(3, 8).map_err(|e| e.to_string())
        );
        assert!(parse_shard("8/8").is_err());
        assert!(parse_shard("3").is_err());
        assert_eq!(
            parse_events("MESSAGE_CREATE,GUILD_CREATE").unwrap().len(),
            2
        );
        assert!(parse_events("MESSAGE_CREATE,NOT_AN_EVENT").is_err());
    }
}
