//! `gateway-sim`: run the loopback Discord gateway sim from the command line and point any client
//! at it.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use discord_gateway::protocol::Intents;
use discord_gateway_sim::{ChaosConfig, Fault, Script, Sim, SimBuilder, SimConfig};

/// A loopback Discord gateway for testing gateway clients.
///
/// Serves the gateway at ws://127.0.0.1:PORT (a client that adds the query itself, such as
/// discord-gateway's --gateway-url, takes it as it is; a bare websocket client connects to
/// ws://127.0.0.1:PORT/?v=10&encoding=json[&compress=zlib-stream|zstd-stream]) and
/// GET /api/v10/gateway/bot (header `Authorization: Bot <token>`) on the same port. READY
/// hands out resume_gateway_url = ws://127.0.0.1:PORT/resume. Point a client at it by using
/// http://127.0.0.1:PORT as the REST base (or the ws URL directly) and the token given here.
///
/// Behaviour follows Discord: Hello, heartbeat ACKs, closes for missed heartbeats, Identify checks
/// (4004 token, 4013/4014 intents, 4010 shard, 4005 twice, 4003 before Identify), Resume with
/// replay of missed events (op 9 false when too old, 4007 for a bad seq), 120 payloads per 60 s
/// (4008), 4096-byte payloads (4002), identify concurrency buckets (op 9) and the daily
/// session-start limit.
#[derive(Debug, Parser)]
#[command(name = "gateway-sim", version, about, long_about, after_help = FAULTS_HELP)]
struct Args {
    /// TCP port on 127.0.0.1 (0: pick a free one; the URL is printed on stdout).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Bot token clients must send (raw in Identify/Resume, `Bot <token>` over HTTP).
    #[arg(long, default_value = "sim-token")]
    token: String,
    /// Heartbeat interval in Hello, in milliseconds (Discord: 41250).
    #[arg(long, default_value_t = 41_250)]
    heartbeat_interval_ms: u64,
    /// Grace after an interval before a silent client is closed, in ms (default: one interval).
    #[arg(long)]
    heartbeat_grace_ms: Option<u64>,
    /// Close code for a client that missed its heartbeats.
    #[arg(long, default_value_t = 4009)]
    missed_heartbeat_close: u16,
    /// `shards` answered by GET /gateway/bot.
    #[arg(long, default_value_t = 1)]
    shards: u32,
    /// `max_concurrency`: identify buckets.
    #[arg(long, default_value_t = 1)]
    max_concurrency: u32,
    /// How long one identify occupies its bucket, in ms (Discord: 5000).
    #[arg(long, default_value_t = 5000)]
    identify_window_ms: u64,
    /// Daily session starts (`session_start_limit.total` and initial `remaining`).
    #[arg(long, default_value_t = 1000)]
    session_start_limit: u32,
    /// Intent bits Identify may not ask for (close 4014), e.g. 33026 for all privileged ones.
    #[arg(long, default_value_t = 0)]
    disallowed_intents: u64,
    /// Payloads a connection may send per 60 s before close 4008.
    #[arg(long, default_value_t = 120)]
    rate_limit: u32,
    /// Guilds the bot is in (one GUILD_CREATE each after READY, spread over shards).
    #[arg(long, default_value_t = 1)]
    guilds: u32,
    /// Members per guild in GUILD_CREATE.
    #[arg(long, default_value_t = 42)]
    members: u32,
    /// Broadcast this many MESSAGE_CREATE per second (0: off).
    #[arg(long, default_value_t = 0.0)]
    event_rate: f64,
    /// Split zlib-stream payloads into websocket messages of at most this many bytes.
    #[arg(long)]
    zlib_split: Option<usize>,
    /// Dispatches kept per session for replay on Resume.
    #[arg(long, default_value_t = 1000)]
    backlog: usize,
    /// Seconds a disconnected session stays resumable.
    #[arg(long, default_value_t = 180)]
    session_timeout_s: u64,
    /// Send op 7 Reconnect to every connection every this many seconds.
    #[arg(long)]
    reconnect_every_s: Option<f64>,
    /// Send op 9 (not resumable) to every connection every this many seconds.
    #[arg(long)]
    invalidate_every_s: Option<f64>,
    /// Chaos mode: random faults from a seeded PRNG (same seed, same faults).
    #[arg(long)]
    chaos_seed: Option<u64>,
    /// Milliseconds between two chaos faults.
    #[arg(long, default_value_t = 2000)]
    chaos_interval_ms: u64,
    /// Run a built-in script: `demo` (events, a reconnect, an invalid session), then exit.
    #[arg(long, value_parser = ["demo"])]
    script: Option<String>,
    /// Exit after this many seconds (default: run until killed).
    #[arg(long)]
    exit_after_s: Option<f64>,
    /// Print the counters every this many seconds.
    #[arg(long)]
    stats_every_s: Option<f64>,
    /// Runtime worker threads (1: one thread).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Log what the sim does (tracing, to stderr).
    #[arg(short, long)]
    verbose: bool,
}

const FAULTS_HELP: &str = "\
Faults (library: Sim::fault / fault_to; CLI: --reconnect-every-s, --invalidate-every-s, --chaos-seed):
  Reconnect            op 7
  InvalidSession(b)    op 9 with d = b (false ends the session)
  Close(code)          close frame with any code
  DropTcp              cut TCP without a close frame
  WithholdAcks         stop ACKing heartbeats (zombie)
  SilentHandshake      ACK heartbeats, never answer Identify/Resume (aim at the next connection)
  Freeze               stop sending anything
  RequestHeartbeat     op 1
  Malformed            invalid JSON payload
  UnknownOpcode(n)     payload with an undocumented op
  UnknownEvent         dispatch with an unknown t
  RawText / RawBinary  arbitrary websocket message
  FragmentedText(s, n) a text message in n frames
  Ping(payload)        a websocket ping
  Delay(d)             hold output for d
  HugeGuildCreate(n)   GUILD_CREATE of n bytes
  Burst(n)             n MESSAGE_CREATE at once

Example:
  gateway-sim --port 8080 --heartbeat-interval-ms 5000 --event-rate 2
  # then give a gateway library ws://127.0.0.1:8080 (it adds ?v=10&encoding=... itself),
  # or connect a bare websocket to ws://127.0.0.1:8080/?v=10&encoding=json&compress=zlib-stream,
  # and identify with token \"sim-token\"";

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn secs(v: f64) -> Duration {
    Duration::from_secs_f64(v.max(0.001))
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.verbose {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_max_level(tracing::Level::DEBUG)
            .init();
    }
    let mut config = SimConfig::default();
    config.port = args.port;
    config.token = args.token.clone();
    config.heartbeat_interval = ms(args.heartbeat_interval_ms);
    config.heartbeat_grace = ms(args
        .heartbeat_grace_ms
        .unwrap_or(args.heartbeat_interval_ms));
    config.missed_heartbeat_close_code = args.missed_heartbeat_close;
    config.recommended_shards = args.shards;
    config.max_concurrency = args.max_concurrency;
    config.identify_window = ms(args.identify_window_ms);
    config.session_start_total = args.session_start_limit;
    config.session_start_remaining = args.session_start_limit;
    config.disallowed_intents = Intents::from_bits_retain(args.disallowed_intents);
    config.rate_limit_count = args.rate_limit;
    config.guilds = args.guilds;
    config.guild_members = args.members;
    config.event_rate = args.event_rate;
    config.zlib_split = args.zlib_split;
    config.backlog_size = args.backlog;
    config.session_timeout = Duration::from_secs(args.session_timeout_s);
    config.threads = args.threads;

    let sim = match SimBuilder::from_config(config).start_blocking() {
        Ok(sim) => sim,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "gateway-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    let _ = writeln!(
        std::io::stdout(),
        "gateway-sim listening on {} (resume URL {}, REST {}/api/v10/gateway/bot, token {:?}), bare websocket URL {}/?v=10&encoding=json",
        sim.url(),
        sim.resume_url(),
        sim.http_url(),
        args.token,
        sim.url()
    );
    let _ = std::io::stdout().flush();

    if let Some(seed) = args.chaos_seed {
        sim.start_chaos(ChaosConfig::new(seed, ms(args.chaos_interval_ms)));
    }
    let periodic: Vec<(Duration, Fault)> = [
        args.reconnect_every_s.map(|s| (secs(s), Fault::Reconnect)),
        args.invalidate_every_s
            .map(|s| (secs(s), Fault::InvalidSession(false))),
    ]
    .into_iter()
    .flatten()
    .collect();
    for (every, fault) in periodic {
        let handle = sim.handle();
        std::thread::spawn(move || loop {
            std::thread::sleep(every);
            handle.fault(fault.clone());
        });
    }
    if let Some(every) = args.stats_every_s {
        let handle = sim.handle();
        std::thread::spawn(move || loop {
            std::thread::sleep(secs(every));
            let _ = writeln!(std::io::stdout(), "{:?}", handle.counters());
        });
    }

    let script = args
        .script
        .as_deref()
        .map(|_| sim.run_script(Script::demo()));
    match (script, args.exit_after_s) {
        (Some(script), _) => {
            let result = script.wait_blocking();
            let _ = writeln!(std::io::stdout(), "script finished: {result:?}");
            report(&sim);
            if result.is_err() {
                return ExitCode::FAILURE;
            }
        }
        (None, Some(after)) => {
            std::thread::sleep(secs(after));
            report(&sim);
        }
        (None, None) => loop {
            std::thread::park();
        },
    }
    ExitCode::SUCCESS
}

fn report(sim: &Sim) {
    let _ = writeln!(std::io::stdout(), "{:?}", sim.counters());
}
