//! The gateway clients the end-to-end and memory benchmarks compare, each run the way its
//! documentation shows, on a single-threaded runtime on the calling thread.
//!
//! The benchmarks run each client in a child process (`bench-client`), so that every contender
//! starts from a fresh heap and its CPU time and resident memory are its own; the loopback sim
//! runs in the benchmark's process.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use discord_gateway::protocol::{EventSet, EventType};
use discord_gateway::session::Compression;
use discord_gateway::Token;
use discord_gateway_driver::{
    LocalIdentifyQueue, Runtime, SessionEvent, Shard, ShardBuilder, ShardEvent, ShardRange,
};
use futures_util::StreamExt;

use crate::measure::{process_cpu, rss_bytes, thread_cpu, trim_heap};

/// The sim's token for our clients (they send it bare, as Discord wants).
pub const TOKEN: &str = "sim-token";
/// twilight-gateway prefixes `Bot ` to the token and sends it so in Identify; the sim compares
/// tokens exactly, so twilight's runs use a sim configured with this.
pub const TWILIGHT_TOKEN: &str = "Bot sim-token";

/// A contender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    /// `discord-gateway-tokio`.
    Tokio,
    /// `discord-gateway-smol`.
    Smol,
    /// `discord-gateway-tokio`, ending where most bots end: each MESSAGE_CREATE deserialized
    /// into the same `twilight_model::channel::Message` twilight's `next_event` produces.
    TokioTyped,
    /// `discord-gateway-tokio` on the ETF encoding (`encoding=etf`), handing out the raw event.
    TokioEtf,
    /// `discord-gateway-tokio` as [`Client::Tokio`], with the driver's metrics recorded by
    /// `metrics-exporter-prometheus` (its recorder installed, no HTTP listener).
    TokioMetrics,
    /// `twilight-gateway` 0.18, reading raw messages (`Shard` as a `Stream` of `Message`s):
    /// the same work as ours, which hands out the raw event.
    TwilightRaw,
    /// `twilight-gateway` 0.18 the way its README reads events: `next_event(flags)`, which also
    /// deserializes each MESSAGE_CREATE into `twilight_model` types.
    TwilightEvent,
}

impl Client {
    /// Every contender.
    pub const ALL: [Self; 7] = [
        Self::Tokio,
        Self::TokioMetrics,
        Self::Smol,
        Self::TokioTyped,
        Self::TokioEtf,
        Self::TwilightRaw,
        Self::TwilightEvent,
    ];

    /// The command-line name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Tokio => "ours-tokio",
            Self::Smol => "ours-smol",
            Self::TokioTyped => "ours-tokio-typed",
            Self::TokioEtf => "ours-tokio-etf",
            Self::TokioMetrics => "ours-tokio-metrics",
            Self::TwilightRaw => "twilight-raw",
            Self::TwilightEvent => "twilight-event",
        }
    }

    /// Whether this is a twilight-gateway run.
    #[must_use]
    pub const fn is_twilight(self) -> bool {
        matches!(self, Self::TwilightRaw | Self::TwilightEvent)
    }
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Client {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|client| client.name() == s)
            .ok_or_else(|| format!("unknown client {s}"))
    }
}

/// Transport compression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compress {
    /// Text frames.
    None,
    /// `zlib-stream`.
    Zlib,
    /// `zstd-stream`.
    Zstd,
}

impl Compress {
    /// Every setting.
    pub const ALL: [Self; 3] = [Self::None, Self::Zlib, Self::Zstd];

    /// The command-line name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Zlib => "zlib-stream",
            Self::Zstd => "zstd-stream",
        }
    }

    /// The core's setting.
    #[must_use]
    pub const fn ours(self) -> Compression {
        match self {
            Self::None => Compression::None,
            Self::Zlib => Compression::ZlibStream,
            Self::Zstd => Compression::ZstdStream,
        }
    }

    /// The cargo arguments that build a `bench-client` whose twilight uses this setting.
    #[must_use]
    pub const fn twilight_features(self) -> &'static [&'static str] {
        match self {
            Self::None => &["--no-default-features"],
            Self::Zlib => &["--no-default-features", "--features", "twilight-zlib"],
            Self::Zstd => &["--no-default-features", "--features", "twilight-zstd"],
        }
    }
}

impl fmt::Display for Compress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Compress {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| format!("unknown compression {s}"))
    }
}

/// The compression twilight-gateway negotiates in this build (it is a compile-time choice).
pub const TWILIGHT_COMPRESSION: Compress = if cfg!(feature = "twilight-zstd") {
    Compress::Zstd
} else if cfg!(feature = "twilight-zlib") {
    Compress::Zlib
} else {
    Compress::None
};

/// What the twilight-gateway inside the `bench-client` at `exe` negotiates.
///
/// # Panics
/// When it cannot be run.
#[must_use]
pub fn twilight_compression_of(exe: &Path) -> Option<Compress> {
    let output = Command::new(exe)
        .arg("twilight-compression")
        .output()
        .expect("bench-client runs");
    String::from_utf8_lossy(&output.stdout).trim().parse().ok()
}

/// A `bench-client` executable whose twilight negotiates `compress`, copied to
/// `<target>/release/bench-client.<compression>`.
///
/// `default` is the one cargo built for the benchmark (`CARGO_BIN_EXE_bench-client`). For another
/// setting the same target directory is rebuilt with other features of this package: only
/// twilight-gateway and this crate are recompiled, everything else is shared. That build
/// replaces `default` on disk, which is why every variant is used from its own copy.
///
/// # Panics
/// When the build fails or the result is not what was asked for.
#[must_use]
pub fn bench_client(default: &Path, compress: Compress) -> PathBuf {
    let dir = default
        .parent()
        .expect("bench-client lives in <target>/<profile>/");
    let copy = dir.join(format!("bench-client.{}", compress.name()));
    if twilight_compression_of(default) != Some(compress) {
        let target = dir.parent().expect("<target>/<profile>");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        eprintln!("building bench-client with twilight {compress}");
        let status = Command::new(cargo)
            .args([
                "build",
                "--profile",
                "bench",
                "--locked",
                "--bin",
                "bench-client",
            ])
            .arg("--manifest-path")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
            .args(compress.twilight_features())
            .arg("--target-dir")
            .arg(target)
            .status()
            .expect("cargo runs");
        assert!(
            status.success(),
            "building bench-client for {compress} failed"
        );
        assert_eq!(
            twilight_compression_of(default),
            Some(compress),
            "the rebuilt bench-client"
        );
    }
    std::fs::copy(default, &copy).expect("copy bench-client");
    copy
}

/// CPU, wall time and allocations at one instant.
#[derive(Clone, Copy, Debug)]
struct Probe {
    wall: Instant,
    thread: Duration,
    process: Duration,
    allocs: u64,
}

impl Probe {
    fn now() -> Self {
        Self {
            wall: Instant::now(),
            thread: thread_cpu(),
            process: process_cpu(),
            allocs: crate::alloc::allocations().0,
        }
    }
}

/// What one streaming run measured, between the first and the last MESSAGE_CREATE.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StreamReport {
    /// MESSAGE_CREATE dispatches received in the window.
    pub events: u64,
    /// Their payload bytes (after decompression).
    pub bytes: u64,
    /// Wall-clock seconds.
    pub wall_s: f64,
    /// CPU seconds of the client's thread.
    pub thread_cpu_s: f64,
    /// CPU seconds of the whole client process.
    pub process_cpu_s: f64,
    /// Heap allocations made by the client's thread.
    pub allocs: u64,
}

impl StreamReport {
    /// Events per second of wall time.
    #[must_use]
    pub fn events_per_s(&self) -> f64 {
        self.events as f64 / self.wall_s
    }

    /// Events per CPU-second of the client process.
    #[must_use]
    pub fn events_per_cpu_s(&self) -> f64 {
        self.events as f64 / self.process_cpu_s
    }

    /// CPU-seconds of the client process per million events.
    #[must_use]
    pub fn cpu_s_per_million(&self) -> f64 {
        self.process_cpu_s * 1e6 / self.events as f64
    }

    /// Allocations of the client thread per event.
    #[must_use]
    pub fn allocs_per_event(&self) -> f64 {
        self.allocs as f64 / self.events as f64
    }

    /// One line for the parent process.
    #[must_use]
    pub fn to_line(&self) -> String {
        format!(
            "result events={} bytes={} wall_s={} thread_cpu_s={} process_cpu_s={} allocs={}",
            self.events,
            self.bytes,
            self.wall_s,
            self.thread_cpu_s,
            self.process_cpu_s,
            self.allocs
        )
    }

    /// Parses [`StreamReport::to_line`].
    #[must_use]
    pub fn from_line(line: &str) -> Option<Self> {
        let fields = fields(line.strip_prefix("result ")?);
        Some(Self {
            events: fields.get("events")?.parse().ok()?,
            bytes: fields.get("bytes")?.parse().ok()?,
            wall_s: fields.get("wall_s")?.parse().ok()?,
            thread_cpu_s: fields.get("thread_cpu_s")?.parse().ok()?,
            process_cpu_s: fields.get("process_cpu_s")?.parse().ok()?,
            allocs: fields.get("allocs")?.parse().ok()?,
        })
    }
}

fn fields(line: &str) -> std::collections::HashMap<&str, &str> {
    line.split_whitespace()
        .filter_map(|field| field.split_once('='))
        .collect()
}

/// Counts MESSAGE_CREATEs and takes the probes.
struct Window {
    want: u64,
    seen: u64,
    bytes: u64,
    start: Option<Probe>,
}

impl Window {
    fn new(want: u64) -> Self {
        Self {
            want,
            seen: 0,
            bytes: 0,
            start: None,
        }
    }

    /// Records one MESSAGE_CREATE; `true` once the last one arrived.
    fn event(&mut self, len: usize) -> bool {
        if self.start.is_none() {
            // The first event opens the window: connecting and READY are not measured.
            self.start = Some(Probe::now());
            return false;
        }
        self.seen += 1;
        self.bytes += len as u64;
        self.seen + 1 >= self.want
    }

    fn report(&self) -> StreamReport {
        let end = Probe::now();
        let start = self.start.expect("at least one event");
        StreamReport {
            events: self.seen,
            bytes: self.bytes,
            wall_s: (end.wall - start.wall).as_secs_f64(),
            thread_cpu_s: (end.thread - start.thread).as_secs_f64(),
            process_cpu_s: (end.process - start.process).as_secs_f64(),
            allocs: end.allocs - start.allocs,
        }
    }
}

/// Tells the parent the client is READY (one line on stdout).
fn signal_ready() {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "ready");
    let _ = out.flush();
}

fn ours_builder<R: Runtime + Default>(url: &str, compress: Compress) -> ShardBuilder<R> {
    Shard::<R>::builder(Token::new(TOKEN).expect("token"))
        .configure(|c| {
            c.gateway_url(url)
                .events(EventSet::EMPTY.with(EventType::MessageCreate))
                .compression(compress.ours())
        })
        .seed(7)
}

/// How far a client of ours takes each event.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Depth {
    /// The checked raw event, as twilight's raw mode hands out an unchecked one.
    Raw,
    /// A `twilight_model::channel::Message`, as twilight's `next_event` hands out.
    Typed,
}

async fn stream_ours<R: Runtime + Default>(
    url: &str,
    compress: Compress,
    count: u64,
    depth: Depth,
    encoding: discord_gateway::Encoding,
) -> StreamReport {
    let mut shard = ours_builder::<R>(url, compress)
        .configure(|c| c.encoding(encoding))
        .build()
        .expect("config");
    let mut window = Window::new(count);
    while let Some(event) = shard.next_event().await {
        match event.expect("no fatal close") {
            ShardEvent::Session(SessionEvent::Ready, _) => signal_ready(),
            ShardEvent::Dispatch(dispatch) if dispatch.kind() == Some(EventType::MessageCreate) => {
                let len = match depth {
                    Depth::Raw => std::hint::black_box(dispatch.message()).len(),
                    Depth::Typed => {
                        let message: twilight_model::channel::Message =
                            dispatch.deserialize().expect("a MESSAGE_CREATE");
                        std::hint::black_box(&message).content.len()
                    }
                };
                if window.event(len) {
                    return window.report();
                }
            }
            _ => {}
        }
    }
    panic!("the shard stopped before the stream ended");
}

fn twilight_config(url: &str) -> twilight_gateway::Config {
    twilight_gateway::ConfigBuilder::new(
        TWILIGHT_TOKEN.to_owned(),
        twilight_gateway::Intents::GUILD_MESSAGES | twilight_gateway::Intents::DIRECT_MESSAGES,
    )
    .proxy_url(url.to_owned())
    .build()
}

async fn stream_twilight_raw(url: &str, count: u64) -> StreamReport {
    use twilight_gateway::Message;
    let mut shard =
        twilight_gateway::Shard::with_config(twilight_gateway::ShardId::ONE, twilight_config(url));
    let mut window = Window::new(count);
    while let Some(message) = shard.next().await {
        if let Message::Text(text) = message.expect("no error") {
            // Discord's key order: the name is the first thing in the payload.
            if text.starts_with(r#"{"t":"MESSAGE_CREATE""#) {
                if window.event(std::hint::black_box(&text).len()) {
                    return window.report();
                }
            } else if text.starts_with(r#"{"t":"READY""#) {
                signal_ready();
            }
        }
    }
    panic!("the shard stopped before the stream ended");
}

async fn stream_twilight_event(url: &str, count: u64) -> StreamReport {
    use twilight_gateway::{Event, EventTypeFlags, StreamExt as _};
    let mut shard =
        twilight_gateway::Shard::with_config(twilight_gateway::ShardId::ONE, twilight_config(url));
    let mut window = Window::new(count);
    let wanted = EventTypeFlags::READY | EventTypeFlags::MESSAGE_CREATE;
    while let Some(event) = shard.next_event(wanted).await {
        match event.expect("no error") {
            Event::MessageCreate(message) => {
                let len = std::hint::black_box(&message).content.len();
                if window.event(len) {
                    return window.report();
                }
            }
            Event::Ready(_) => signal_ready(),
            _ => {}
        }
    }
    panic!("the shard stopped before the stream ended");
}

/// Connects one shard of `client` to the sim at `url`, prints `ready` when it is READY, and
/// measures the `count` MESSAGE_CREATEs that follow (the parent starts the stream).
///
/// # Panics
/// On any error: a benchmark run that fails must not report a figure.
#[must_use]
pub fn stream(client: Client, compress: Compress, url: &str, count: u64) -> StreamReport {
    if client.is_twilight() {
        assert_eq!(
            compress, TWILIGHT_COMPRESSION,
            "this bench-client's twilight negotiates {TWILIGHT_COMPRESSION}"
        );
    }
    let json = discord_gateway::Encoding::Json;
    match client {
        Client::Tokio => current_thread_tokio().block_on(
            stream_ours::<discord_gateway_tokio::Tokio>(url, compress, count, Depth::Raw, json),
        ),
        Client::TokioMetrics => {
            install_metrics_recorder();
            current_thread_tokio().block_on(stream_ours::<discord_gateway_tokio::Tokio>(
                url,
                compress,
                count,
                Depth::Raw,
                json,
            ))
        }
        Client::TokioTyped => {
            current_thread_tokio().block_on(stream_ours::<discord_gateway_tokio::Tokio>(
                url,
                compress,
                count,
                Depth::Typed,
                json,
            ))
        }
        Client::TokioEtf => {
            current_thread_tokio().block_on(stream_ours::<discord_gateway_tokio::Tokio>(
                url,
                compress,
                count,
                Depth::Raw,
                discord_gateway::Encoding::Etf,
            ))
        }
        Client::Smol => smol::block_on(stream_ours::<discord_gateway_smol::Smol>(
            url,
            compress,
            count,
            Depth::Raw,
            json,
        )),
        Client::TwilightRaw => current_thread_tokio().block_on(stream_twilight_raw(url, count)),
        Client::TwilightEvent => current_thread_tokio().block_on(stream_twilight_event(url, count)),
    }
}

fn current_thread_tokio() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// What the idle-shards run measured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct IdleReport {
    /// Shards that reached READY.
    pub shards: u32,
    /// Resident memory before the shards were created (runtime already running).
    pub rss_before: u64,
    /// Resident memory with every shard READY and idle.
    pub rss_after: u64,
    /// Seconds until every shard was READY.
    pub ready_s: f64,
}

impl IdleReport {
    /// Resident bytes per shard.
    #[must_use]
    pub fn per_shard(&self) -> f64 {
        (self.rss_after.saturating_sub(self.rss_before)) as f64 / f64::from(self.shards.max(1))
    }

    /// One line for the parent process.
    #[must_use]
    pub fn to_line(&self) -> String {
        format!(
            "idle shards={} rss_before={} rss_after={} ready_s={}",
            self.shards, self.rss_before, self.rss_after, self.ready_s
        )
    }

    /// Parses [`IdleReport::to_line`].
    #[must_use]
    pub fn from_line(line: &str) -> Option<Self> {
        let fields = fields(line.strip_prefix("idle ")?);
        Some(Self {
            shards: fields.get("shards")?.parse().ok()?,
            rss_before: fields.get("rss_before")?.parse().ok()?,
            rss_after: fields.get("rss_after")?.parse().ok()?,
            ready_s: fields.get("ready_s")?.parse().ok()?,
        })
    }
}

/// Waits until `ready` reaches `shards` (or a minute passes), lets the shards settle, and reads
/// the resident memory.
async fn settle<F: std::future::Future<Output = ()>>(
    ready: &AtomicU32,
    shards: u32,
    started: Instant,
    sleep: impl Fn(Duration) -> F,
) -> (u32, f64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while ready.load(Ordering::Relaxed) < shards && Instant::now() < deadline {
        sleep(Duration::from_millis(50)).await;
    }
    let ready_s = started.elapsed().as_secs_f64();
    // Every shard has its connection, READY and its buffers; give stragglers' GUILD_CREATEs and
    // the allocator a moment, then return freed memory before reading RSS.
    sleep(Duration::from_secs(2)).await;
    (ready.load(Ordering::Relaxed), ready_s)
}

fn read_rss() -> u64 {
    trim_heap();
    rss_bytes()
}

async fn idle_ours<R: Runtime + Default>(
    runtime: R,
    url: &str,
    compress: Compress,
    shards: u32,
    spawn: impl Fn(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>),
) -> IdleReport {
    let ready = Arc::new(AtomicU32::new(0));
    let rss_before = read_rss();
    let started = Instant::now();
    let queue = LocalIdentifyQueue::new(runtime.clone(), shards);
    // One configuration for every shard, as twilight's side below shares its `Config`.
    let range = ShardRange::all(shards).expect("at least one shard");
    let built = ours_builder::<R>(url, compress)
        .identify_queue(queue.clone())
        .build_range(range)
        .expect("config");
    for mut shard in built {
        let ready = Arc::clone(&ready);
        spawn(Box::pin(async move {
            while let Some(event) = shard.next_event().await {
                if let Ok(ShardEvent::Session(SessionEvent::Ready, _)) = event {
                    ready.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    let (count, ready_s) = settle(&ready, shards, started, |d| {
        runtime.sleep_until(Instant::now() + d)
    })
    .await;
    IdleReport {
        shards: count,
        rss_before,
        rss_after: read_rss(),
        ready_s,
    }
}

async fn idle_twilight(url: &str, shards: u32) -> IdleReport {
    use twilight_gateway::{EventTypeFlags, StreamExt as _};
    let ready = Arc::new(AtomicU32::new(0));
    let rss_before = read_rss();
    let started = Instant::now();
    let queue = twilight_gateway::queue::InMemoryQueue::new(
        u16::try_from(shards).unwrap_or(u16::MAX),
        100_000,
        Duration::from_secs(24 * 3600),
        100_000,
    );
    let config = twilight_gateway::ConfigBuilder::from(twilight_config(url))
        .queue(queue)
        .build();
    for id in 0..shards {
        let mut shard = twilight_gateway::Shard::with_config(
            twilight_gateway::ShardId::new(id, shards),
            config.clone(),
        );
        let ready = Arc::clone(&ready);
        tokio::spawn(async move {
            while let Some(event) = shard.next_event(EventTypeFlags::READY).await {
                if let Ok(twilight_gateway::Event::Ready(_)) = event {
                    ready.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    let (count, ready_s) = settle(&ready, shards, started, tokio::time::sleep).await;
    IdleReport {
        shards: count,
        rss_before,
        rss_after: read_rss(),
        ready_s,
    }
}

/// Installs the Prometheus exporter's recorder for the whole process (before any shard is
/// built: each takes its metric handles then).
fn install_metrics_recorder() {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .expect("the first recorder of this process");
    discord_gateway_driver::metrics::describe();
    // The exporter renders through the handle; the recorder stays installed without it.
    drop(handle);
}

/// Connects `shards` shards of `client` to the sim at `url` in this process, one task each on a
/// single-threaded runtime, and measures resident memory once all are READY.
#[must_use]
pub fn idle(client: Client, compress: Compress, url: &str, shards: u32) -> IdleReport {
    if client.is_twilight() {
        assert_eq!(compress, TWILIGHT_COMPRESSION, "twilight build mismatch");
    }
    match client {
        // The memory bench idles only the raw clients; the others idle the same way.
        Client::Tokio | Client::TokioTyped | Client::TokioEtf | Client::TokioMetrics => {
            if client == Client::TokioMetrics {
                install_metrics_recorder();
            }
            let runtime = current_thread_tokio();
            runtime.block_on(idle_ours(
                discord_gateway_tokio::Tokio,
                url,
                compress,
                shards,
                |task| {
                    tokio::spawn(task);
                },
            ))
        }
        Client::Smol => {
            let executor = Arc::new(smol::Executor::new());
            let spawner = Arc::clone(&executor);
            smol::block_on(executor.run(idle_ours(
                discord_gateway_smol::Smol,
                url,
                compress,
                shards,
                move |task| spawner.spawn(task).detach(),
            )))
        }
        Client::TwilightRaw | Client::TwilightEvent => {
            current_thread_tokio().block_on(idle_twilight(url, shards))
        }
    }
}
