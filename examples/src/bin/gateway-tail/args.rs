//! Command-line flags.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use discord_gateway::protocol::{EventSet, Intents, ShardId};
use discord_gateway::session::Compression;
use discord_gateway_driver::ShardRange;

pub(crate) use crate::redis_setup::RedisUrl;

/// A `tail -f` for Discord gateway events: every dispatch as one JSON object per line.
///
/// The token is read from the DISCORD_TOKEN environment variable only (flags show up in `ps`).
/// So can a Redis URL be, from REDIS_URL: a password in a redis:// flag shows in `ps` too, so
/// put such a URL in REDIS_URL and give `redis` as the queue or store.
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
    #[arg(long, value_name = "ID/COUNT", value_parser = parse_shard, conflicts_with = "shards")]
    pub(crate) shard: Option<ShardId>,

    /// Run several shards in this process: FIRST-LAST/COUNT (e.g. 0-15/32), or `auto` for every
    /// shard of the count GET /gateway/bot recommends. Identifies are paced by the bot's
    /// max_concurrency and daily budget, as discovery reports them.
    #[arg(long, value_name = "A-B/N|auto", value_parser = parse_shards)]
    pub(crate) shards: Option<ShardsChoice>,

    /// The REST base discovery asks (`{URL}/gateway/bot`) with --shards. --gateway-url still
    /// overrides the gateway URL it returns.
    #[arg(long, value_name = "URL", default_value = discord_gateway_driver::discovery::DISCORD_API)]
    pub(crate) api_url: String,

    /// Where identify permits come from with --shards: `local` (this process paces its own
    /// shards), `redis://HOST:PORT[/DB]` (every process pointed at that Redis shares the
    /// buckets and the daily budget discovery reports), or `redis` (the Redis of REDIS_URL: a
    /// password in a flag shows in `ps`).
    #[arg(long, value_name = "QUEUE", value_parser = parse_identify_queue, default_value = "local", requires = "shards")]
    pub(crate) identify_queue: IdentifyQueueChoice,

    /// With --shards: save every shard's session here on exit and resume them on the next start
    /// (`file:PATH`, one JSON file; `redis://HOST:PORT[/DB]`, where any process can resume any
    /// shard and each shard is leased to one process; or `redis`, the Redis of REDIS_URL).
    #[arg(long, value_name = "STORE", value_parser = parse_session_store, requires = "shards")]
    pub(crate) session_store: Option<SessionStoreChoice>,

    /// With --shards: also add every dispatch to the Redis Stream KEY (fields `shard` and
    /// `event`, the raw event), in the Redis of --redis-url, else of --identify-queue or
    /// --session-store. Lines still go to stdout.
    #[arg(long, value_name = "KEY", requires = "shards")]
    pub(crate) redis_stream: Option<String>,

    /// The Redis for --redis-stream: redis://HOST:PORT[/DB]. Default: REDIS_URL, else the Redis
    /// of --identify-queue or --session-store. A password in this flag shows in `ps`: prefer
    /// REDIS_URL.
    #[arg(long, value_name = "URL", value_parser = parse_redis_url, requires = "redis_stream")]
    pub(crate) redis_url: Option<RedisUrl>,

    /// With --shards and a Redis queue or store: the prefix of every key this bot keeps there
    /// (default `discord-gateway:BOT_ID`, the bot's user id from the token, so bots sharing a
    /// Redis never share a key). Every process of one bot must use the same.
    #[arg(long, value_name = "PREFIX", requires = "shards")]
    pub(crate) redis_prefix: Option<String>,

    /// How long one Identify holds its bucket, in ms (Discord: 5000). Only for a simulated
    /// gateway whose window is scaled down (gateway-sim --identify-window-ms).
    #[arg(long, value_name = "MS", hide = true, requires = "shards")]
    pub(crate) identify_window_ms: Option<u64>,

    /// With a Redis identify queue: how long past the window a bucket stays taken, in ms
    /// (default a 25th of the window), for scaled-down windows on a loaded machine.
    #[arg(long, value_name = "MS", hide = true, requires = "identify_window_ms")]
    pub(crate) identify_guard_ms: Option<u64>,

    /// Transport compression.
    #[arg(long, value_enum, default_value_t = CompressChoice::None)]
    pub(crate) compress: CompressChoice,

    /// Gateway encoding: JSON, or ETF (Discord's binary format, printed as the same NDJSON).
    #[arg(long, value_enum, default_value_t = EncodingChoice::Json)]
    pub(crate) encoding: EncodingChoice,

    /// Exit 0 after printing this many dispatches.
    #[arg(long, value_name = "N")]
    pub(crate) max_events: Option<u64>,

    /// Resume the session saved in this file on start, and save it there on exit (one shard;
    /// with --shards, use --session-store).
    #[arg(long, value_name = "PATH", conflicts_with = "shards")]
    pub(crate) session_file: Option<PathBuf>,

    /// Serve the shards' metrics in the Prometheus text format at http://ADDR/metrics (for
    /// example 127.0.0.1:9464; docs/metrics.md lists them).
    #[arg(long, value_name = "ADDR")]
    pub(crate) metrics_addr: Option<std::net::SocketAddr>,

    /// With --shards: no progress line on stderr during the start.
    #[arg(long)]
    pub(crate) quiet: bool,

    /// With --shards: how often the progress line is printed during the start, in ms.
    #[arg(long, value_name = "MS", hide = true, default_value_t = 5000)]
    pub(crate) progress_interval_ms: u64,

    /// Trust only the CA certificate(s) in this file (PEM, or one DER certificate) for the
    /// gateway's wss:// connections, instead of the web's roots: for a self-hosted gateway
    /// behind a private CA. With --shards and an --api-url of your own, discovery trusts the
    /// file's CAs too; Discord's API, the default, keeps the web's roots.
    #[arg(long, value_name = "PATH", value_parser = parse_ca_file)]
    pub(crate) ca_file: Option<discord_gateway_driver::Trust>,
}

/// Parses the command line; exits (as clap would) on `--help`, `--version` or an error. An
/// error never repeats a value, which may be a Redis URL with a password: clap's own message
/// would print it whole.
pub(crate) fn parse() -> Args {
    match Args::try_parse() {
        Ok(args) => args,
        Err(error) => exit_on(error),
    }
}

fn exit_on(error: clap::Error) -> ! {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => error.exit(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue => {
            let flag = match error.get(ContextKind::InvalidArg) {
                Some(ContextValue::String(flag)) => flag.clone(),
                _ => "a flag".to_owned(),
            };
            let why = std::error::Error::source(&error)
                .map(|source| format!(": {source}"))
                .unwrap_or_default();
            eprintln!(
                "error: invalid value for '{flag}'{why}\n\nFor more information, try '--help'."
            );
            std::process::exit(2)
        }
        _ => {
            eprint!("{}", redact_passwords(&error.render().to_string()));
            std::process::exit(error.exit_code())
        }
    }
}

/// `text` with the password of every `scheme://user:password@` in it replaced by `***`.
pub(crate) fn redact_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        let authority_end = after
            .find(|c: char| c == '/' || c.is_whitespace() || c == '\'' || c == '"')
            .unwrap_or(after.len());
        let authority = &after[..authority_end];
        match (authority.rfind('@'), authority.find(':')) {
            (Some(user_end), Some(colon)) if colon < user_end => {
                out.push_str(&authority[..=colon]);
                out.push_str("***");
                out.push_str(&authority[user_end..]);
            }
            _ => out.push_str(authority),
        }
        rest = &after[authority_end..];
    }
    out.push_str(rest);
    out
}

/// Which shards `--shards` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ShardsChoice {
    /// These shards.
    Range(ShardRange),
    /// Every shard of the count discovery recommends.
    Auto,
}

/// Where identify permits come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum IdentifyQueueChoice {
    /// This process's own queue, paced by discovery's `max_concurrency` and budget.
    Local,
    /// A queue in Redis, shared by every process of the bot.
    Redis(RedisUrl),
}

/// Where sessions are kept between runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SessionStoreChoice {
    /// One JSON file.
    File(PathBuf),
    /// One key per shard in Redis.
    Redis(RedisUrl),
}

/// `--ca-file`: the file read and its certificates checked now, so a wrong file stops the
/// start with one line instead of failing every dial.
pub(crate) fn parse_ca_file(path: &str) -> Result<discord_gateway_driver::Trust, String> {
    let contents = std::fs::read(path).map_err(|error| format!("cannot read {path}: {error}"))?;
    discord_gateway_driver::Trust::roots_pem_or_der(&contents).map_err(|error| error.to_string())
}

pub(crate) fn parse_shards(text: &str) -> Result<ShardsChoice, String> {
    if text.trim().eq_ignore_ascii_case("auto") {
        return Ok(ShardsChoice::Auto);
    }
    text.parse()
        .map(ShardsChoice::Range)
        .map_err(|error: discord_gateway_driver::InvalidRange| error.to_string())
}

pub(crate) fn parse_identify_queue(text: &str) -> Result<IdentifyQueueChoice, String> {
    match text.trim() {
        "local" => Ok(IdentifyQueueChoice::Local),
        "redis" => RedisUrl::from_env().map(IdentifyQueueChoice::Redis),
        url if RedisUrl::looks_like(url) => RedisUrl::parse(url).map(IdentifyQueueChoice::Redis),
        _ => Err(
            "not an identify queue; expected `local`, `redis` or redis://HOST:PORT[/DB]".to_owned(),
        ),
    }
}

pub(crate) fn parse_session_store(text: &str) -> Result<SessionStoreChoice, String> {
    if text.trim() == "redis" {
        return RedisUrl::from_env().map(SessionStoreChoice::Redis);
    }
    if RedisUrl::looks_like(text) {
        return RedisUrl::parse(text).map(SessionStoreChoice::Redis);
    }
    match text.split_once(':') {
        Some(("file", path)) if !path.is_empty() => Ok(SessionStoreChoice::File(path.into())),
        _ => Err(
            "not a session store; expected file:PATH, `redis` or redis://HOST:PORT[/DB]".to_owned(),
        ),
    }
}

pub(crate) fn parse_redis_url(text: &str) -> Result<RedisUrl, String> {
    RedisUrl::parse(text)
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

    #[test]
    fn shard_ranges_queues_and_stores_parse() {
        assert_eq!(parse_shards("auto"), Ok(ShardsChoice::Auto));
        assert_eq!(
            parse_shards("0-3/4"),
            Ok(ShardsChoice::Range(ShardRange::new(0, 3, 4).unwrap()))
        );
        assert!(parse_shards("0-4/4").unwrap_err().contains("past the end"));
        assert_eq!(
            parse_identify_queue("local"),
            Ok(IdentifyQueueChoice::Local)
        );
        assert!(parse_identify_queue("elsewhere").is_err());
        assert!(matches!(
            parse_identify_queue("redis://127.0.0.1:6379/2"),
            Ok(IdentifyQueueChoice::Redis(_))
        ));
        assert!(parse_identify_queue("redis://127.0.0.1:notaport").is_err());
        assert!(matches!(
            parse_session_store("redis://127.0.0.1:6379"),
            Ok(SessionStoreChoice::Redis(_))
        ));
        let error = parse_session_store("redis://:hunter2@127.0.0.1:x").unwrap_err();
        assert!(!error.contains("hunter2"), "{error}");
        assert_eq!(
            redact_passwords("invalid value 'redis://me:hunter2@db:63x9/0' for x; rediss://:pw@h"),
            "invalid value 'redis://me:***@db:63x9/0' for x; rediss://:***@h"
        );
        assert_eq!(
            redact_passwords("redis://db:6379 and http://x/y"),
            "redis://db:6379 and http://x/y"
        );
        assert_eq!(
            parse_session_store("file:/tmp/s.json"),
            Ok(SessionStoreChoice::File("/tmp/s.json".into()))
        );
        assert!(parse_session_store("file:").is_err());
        assert!(parse_session_store("/tmp/s.json").is_err());
    }
}
