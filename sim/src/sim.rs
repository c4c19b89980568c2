//! The handle a test holds: start, push events and faults, read counters and records, wait.

use std::future::Future;
use std::net::SocketAddr;
use std::ops::Deref;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use futures_util::future::{select, Either};
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

use crate::block_on::block_on;
use crate::config::{SimBuilder, SimConfig};
use crate::connection::Outbound;
use crate::error::SimError;
use crate::fault::{chaos_pick, ChaosConfig, ChaosEvent, Fault, Target};
use crate::fixtures;
use crate::record::{ConnId, ConnectionRecord, Counters};
use crate::rng::Rng;
use crate::script::{Script, ScriptHandle};
use crate::server;
use crate::state::{lock, Shared};

/// A running gateway sim. Dropping it stops the server (every connection is cut).
///
/// The sim runs on its own thread with its own tokio runtime, so it works the same under a tokio
/// test, a smol test or no runtime at all. Every method of the handle ([`SimHandle`], which `Sim`
/// derefs to) is either synchronous and non-blocking (events, faults, counters) or returns a
/// future that needs no particular runtime (`wait_for`); `*_blocking` variants park the calling
/// thread instead.
pub struct Sim {
    handle: SimHandle,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// A cloneable handle on a running sim (see [`Sim`]); clones can move into tasks and scripts.
#[derive(Clone)]
pub struct SimHandle {
    pub(crate) shared: Arc<Shared>,
    pub(crate) runtime: Handle,
    chaos: Arc<Mutex<Option<AbortHandle>>>,
}

impl Sim {
    /// A builder with Discord's defaults (41.25 s heartbeats, 120/60 s, 4096-byte payloads,
    /// `max_concurrency` 1, 1000 session starts, one realistic guild).
    pub fn builder() -> SimBuilder {
        SimBuilder::default()
    }

    /// A cloneable handle on this sim.
    #[must_use]
    pub fn handle(&self) -> SimHandle {
        self.handle.clone()
    }

    /// Stops the server and waits for its thread; open connections are cut without a close
    /// frame.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Deref for Sim {
    type Target = SimHandle;

    fn deref(&self) -> &SimHandle {
        &self.handle
    }
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl SimBuilder {
    /// Binds 127.0.0.1 and starts the sim on its own thread.
    ///
    /// The returned future does all its work on the first poll and needs no runtime, so
    /// `Sim::builder().start().await` works under tokio, smol or any executor.
    pub fn start(self) -> impl Future<Output = Result<Sim, SimError>> {
        let result = self.start_blocking();
        async move { result }
    }

    /// Binds 127.0.0.1 and starts the sim on its own thread, without a future.
    pub fn start_blocking(self) -> Result<Sim, SimError> {
        start(self.config)
    }
}

fn start(config: SimConfig) -> Result<Sim, SimError> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", config.port))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let runtime = if config.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.threads)
            .thread_name("gateway-sim-worker")
            .enable_all()
            .build()?
    };
    let tls = config
        .tls
        .as_ref()
        .map(crate::TestCa::server_config)
        .transpose()?;
    let shared = Arc::new(Shared::new(config, addr, tls));
    let handle = SimHandle {
        shared: shared.clone(),
        runtime: runtime.handle().clone(),
        chaos: Arc::new(Mutex::new(None)),
    };
    let (shutdown_tx, shutdown_rx) = oneshot::channel();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let rate_handle = handle.clone();
    let thread = std::thread::Builder::new()
        .name("gateway-sim".to_owned())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => {
                        let _ = ready_tx.send(Ok(()));
                        l
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                tokio::spawn(expire_sessions(rate_handle.shared.clone()));
                if rate_handle.shared.config.event_rate > 0.0 {
                    tokio::spawn(event_rate(rate_handle));
                }
                server::run(shared, listener, shutdown_rx).await;
            });
            // Dropping the runtime here cancels every connection task.
        })?;
    match ready_rx.recv() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(SimError::Io(e)),
        Err(_) => return Err(SimError::Stopped),
    }
    Ok(Sim {
        handle,
        shutdown: Some(shutdown_tx),
        thread: Some(thread),
    })
}

/// Drops sessions whose resume window passed, so memory is freed and waiters see it happen.
async fn expire_sessions(shared: Arc<Shared>) {
    let period = (shared.config.session_timeout / 4)
        .clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut ticker = tokio::time::interval(period);
    loop {
        ticker.tick().await;
        let changed = {
            let mut sessions = lock(&shared.sessions);
            let before = sessions.len();
            sessions.expire(std::time::Instant::now());
            sessions.len() != before
        };
        if changed {
            shared.notify();
        }
    }
}

/// Broadcasts MESSAGE_CREATE at the configured rate (ticks of 10 ms, carrying fractions over).
async fn event_rate(sim: SimHandle) {
    let rate = sim.shared.config.event_rate;
    let mut ticker = tokio::time::interval(Duration::from_millis(10));
    let mut owed = 0.0;
    let mut n = 0u64;
    loop {
        ticker.tick().await;
        owed += rate / 100.0;
        while owed >= 1.0 {
            owed -= 1.0;
            n += 1;
            sim.message_create(&format!("event {n}"));
        }
    }
}

impl SimHandle {
    /// The gateway URL, `ws://127.0.0.1:PORT`, as `GET /gateway/bot` gives it: hand it as it is
    /// to a client that adds `?v=10&encoding=...` itself (discord-gateway's `gateway_url`
    /// refuses a URL that already has a query); a bare websocket client appends
    /// `/?v=10&encoding=json[&compress=...]`.
    #[must_use]
    pub fn url(&self) -> String {
        self.shared.url()
    }

    /// The `resume_gateway_url` READY hands out: `ws://127.0.0.1:PORT/resume`.
    #[must_use]
    pub fn resume_url(&self) -> String {
        self.shared.resume_url()
    }

    /// The REST base, `http://127.0.0.1:PORT` (serves `/api/v10/gateway` and `/gateway/bot`);
    /// `https://` when the sim serves TLS ([`crate::SimBuilder::tls`]).
    #[must_use]
    pub fn http_url(&self) -> String {
        let scheme = if self.shared.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.shared.addr)
    }

    /// The bound address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// The configuration the sim runs with.
    #[must_use]
    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    /// A snapshot of the counters.
    #[must_use]
    pub fn counters(&self) -> Counters {
        lock(&self.shared.counters).clone()
    }

    /// Records of every connection so far, in accept order.
    #[must_use]
    pub fn connections(&self) -> Vec<ConnectionRecord> {
        lock(&self.shared.records).clone()
    }

    /// The record of one connection.
    #[must_use]
    pub fn connection(&self, id: ConnId) -> Option<ConnectionRecord> {
        lock(&self.shared.records)
            .iter()
            .find(|r| r.id == id)
            .cloned()
    }

    /// Ids of the connections open now.
    #[must_use]
    pub fn open_connections(&self) -> Vec<ConnId> {
        let mut ids: Vec<ConnId> = lock(&self.shared.conns).keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Sessions alive (attached or waiting for a Resume).
    #[must_use]
    pub fn session_count(&self) -> usize {
        let mut sessions = lock(&self.shared.sessions);
        sessions.expire(std::time::Instant::now());
        sessions.len()
    }

    /// Ids of the guilds the bot is in (READY lists each shard's share).
    #[must_use]
    pub fn guild_ids(&self) -> Vec<u64> {
        self.shared.guilds.iter().map(|g| g.id).collect()
    }

    /// The log of faults chaos mode applied.
    #[must_use]
    pub fn chaos_log(&self) -> Vec<ChaosEvent> {
        lock(&self.shared.chaos_log).clone()
    }

    /// Dispatches an event, routed as Discord routes it (by `d.guild_id`, or `d.id` for
    /// GUILD_CREATE/UPDATE/DELETE; no guild: shard 0). Events generated while a client is away
    /// wait in the session's backlog. Returns how many sessions got it.
    pub fn dispatch(&self, t: &str, d: &serde_json::Value) -> usize {
        self.dispatch_to(Target::Routed, t, d)
    }

    /// Dispatches an event to the sessions `target` selects.
    pub fn dispatch_to(&self, target: Target, t: &str, d: &serde_json::Value) -> usize {
        let guild = route_guild(t, d);
        self.dispatch_text(&target, t, &d.to_string(), guild)
    }

    /// Dispatches an already-serialised `d` (kept byte for byte, key order included).
    pub fn dispatch_raw(&self, target: Target, t: &str, d: &str) -> Result<usize, SimError> {
        let value: serde_json::Value = serde_json::from_str(d)?;
        Ok(self.dispatch_text(&target, t, d, route_guild(t, &value)))
    }

    pub(crate) fn dispatch_text(
        &self,
        target: &Target,
        t: &str,
        d: &str,
        guild: Option<u64>,
    ) -> usize {
        let filter = self.shared.config.filter_by_intents;
        let n = lock(&self.shared.sessions).dispatch(target, t, d, guild, filter);
        self.shared.count(|c| c.dispatches += n as u64);
        n
    }

    fn first_guild(&self) -> u64 {
        self.shared
            .guilds
            .first()
            .map_or(fixtures::TEMPLATE_GUILD_ID, |g| g.id)
    }

    /// A realistic MESSAGE_CREATE with this content in the first guild's default channel.
    pub fn message_create(&self, content: &str) -> usize {
        self.message_create_in(self.first_guild(), fixtures::DEFAULT_CHANNEL_ID, content)
    }

    /// A realistic MESSAGE_CREATE in a given guild and channel.
    pub fn message_create_in(&self, guild_id: u64, channel_id: u64, content: &str) -> usize {
        let d = fixtures::message_create(guild_id, channel_id, content);
        self.dispatch_text(&Target::Routed, "MESSAGE_CREATE", &d, Some(guild_id))
    }

    /// A GUILD_CREATE for the first guild with `members` members.
    pub fn guild_create(&self, members: usize) -> usize {
        let id = self.first_guild();
        let d = fixtures::guild_create(id, &fixtures::members(members));
        self.dispatch_text(&Target::Routed, "GUILD_CREATE", &d, Some(id))
    }

    /// A GUILD_CREATE for the first guild of at least `bytes` bytes (tens of MB are fine).
    pub fn guild_create_sized(&self, bytes: usize) -> usize {
        let id = self.first_guild();
        let d = fixtures::guild_create_sized(id, bytes);
        self.dispatch_text(&Target::Routed, "GUILD_CREATE", &d, Some(id))
    }

    /// A PRESENCE_UPDATE in the first guild.
    pub fn presence_update(&self) -> usize {
        let id = self.first_guild();
        self.dispatch_text(
            &Target::Routed,
            "PRESENCE_UPDATE",
            &fixtures::presence_update(id),
            Some(id),
        )
    }

    /// A TYPING_START in the first guild's default channel.
    pub fn typing_start(&self) -> usize {
        let id = self.first_guild();
        let d = fixtures::typing_start(id, fixtures::DEFAULT_CHANNEL_ID);
        self.dispatch_text(&Target::Routed, "TYPING_START", &d, Some(id))
    }

    /// An INTERACTION_CREATE (slash command) in the first guild.
    pub fn interaction_create(&self) -> usize {
        let id = self.first_guild();
        self.dispatch_text(
            &Target::Routed,
            "INTERACTION_CREATE",
            &fixtures::interaction_create(id),
            Some(id),
        )
    }

    /// Answers the next `times` authorised `GET /gateway/bot` requests with 429 Too Many
    /// Requests, as Discord's REST rate limit does: `retry_after` (seconds, fractional) in the
    /// JSON body, `Retry-After` (whole seconds, rounded up) in the headers.
    pub fn rate_limit_gateway_bot(&self, times: u32, retry_after: Duration) {
        *lock(&self.shared.gateway_bot_429) = (times, retry_after);
    }

    /// Applies a fault to every open connection. Returns how many connections it hit.
    pub fn fault(&self, fault: Fault) -> usize {
        self.fault_to(Target::All, fault)
    }

    /// Applies a fault to the connections `target` selects. Event-like faults
    /// ([`Fault::Burst`], [`Fault::HugeGuildCreate`], [`Fault::UnknownEvent`]) go to sessions
    /// instead, so they are kept for replay like any event. Returns connections (or sessions) hit.
    pub fn fault_to(&self, target: Target, fault: Fault) -> usize {
        if target == Target::NextConnection {
            if fault.is_dispatch() {
                return 0;
            }
            lock(&self.shared.next_conn_faults).push(fault);
            return 1;
        }
        if fault.is_dispatch() {
            self.shared.count(|c| c.faults += 1);
            return match fault {
                Fault::Burst(n) => (0..n)
                    .map(|i| {
                        let g = self.first_guild();
                        let d = fixtures::message_create(
                            g,
                            fixtures::DEFAULT_CHANNEL_ID,
                            &format!("burst message {i}"),
                        );
                        self.dispatch_text(&target, "MESSAGE_CREATE", &d, Some(g))
                    })
                    .max()
                    .unwrap_or(0),
                Fault::HugeGuildCreate(bytes) => {
                    let g = self.first_guild();
                    let d = fixtures::guild_create_sized(g, bytes);
                    self.dispatch_text(&target, "GUILD_CREATE", &d, Some(g))
                }
                _ => self.dispatch_text(
                    &target,
                    "SIM_UNKNOWN_EVENT",
                    "{\"note\":\"an event no client knows\"}",
                    None,
                ),
            };
        }
        let targets = self.shared.targets(&target);
        for (_, tx) in &targets {
            let _ = tx.send(Outbound::Fault(fault.clone()));
        }
        targets.len()
    }

    /// Throughput mode: streams `count` MESSAGE_CREATE to each selected connection, as fast as
    /// the client reads them (the next batch is generated only when the last one was written).
    /// [`Counters::streamed`] counts what was queued.
    pub fn stream_messages(&self, target: Target, count: u64) -> usize {
        let targets = self.shared.targets(&target);
        for (_, tx) in &targets {
            let _ = tx.send(Outbound::Stream(count));
        }
        targets.len()
    }

    /// Starts chaos mode (replacing a running one).
    pub fn start_chaos(&self, config: ChaosConfig) {
        self.stop_chaos();
        let sim = self.clone();
        let task = self.runtime.spawn(async move {
            let mut rng = Rng::new(config.seed);
            let mut done = 0u64;
            while config.steps.is_none_or(|s| done < s) {
                tokio::time::sleep(config.interval).await;
                let open = sim.open_connections();
                let Some((conn, fault)) = chaos_pick(&mut rng, &config, &open) else {
                    continue;
                };
                lock(&sim.shared.chaos_log).push(ChaosEvent {
                    at: sim.shared.elapsed(),
                    conn,
                    fault: fault.clone(),
                });
                sim.fault_to(Target::Connection(conn), fault);
                done += 1;
            }
        });
        *lock(&self.chaos) = Some(task.abort_handle());
    }

    /// Stops chaos mode.
    pub fn stop_chaos(&self) {
        if let Some(task) = lock(&self.chaos).take() {
            task.abort();
        }
    }

    /// Runs a script on the sim's thread; the handle tells when it finished.
    pub fn run_script(&self, script: Script) -> ScriptHandle {
        crate::script::spawn(self.clone(), script)
    }

    /// A future that resolves after `after` on the sim's own clock (no runtime needed to await).
    pub(crate) fn timer(&self, after: Duration) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.runtime.spawn(async move {
            tokio::time::sleep(after).await;
            let _ = tx.send(());
        });
        rx
    }

    /// Waits until `pred` holds for the counters, without polling: the sim wakes the waiter on
    /// every change. Returns the counters that satisfied it. Needs no particular runtime.
    pub async fn wait_for(
        &self,
        mut pred: impl FnMut(&Counters) -> bool,
        timeout: Duration,
    ) -> Result<Counters, SimError> {
        let mut last = None;
        self.wait_until(
            || {
                let c = self.counters();
                let ok = pred(&c);
                last = Some(c);
                ok
            },
            timeout,
        )
        .await?;
        Ok(last.unwrap_or_default())
    }

    /// Waits until `cond` returns true; it is re-evaluated whenever anything in the sim changes
    /// (so it may look at [`SimHandle::connections`] and the like).
    pub async fn wait_until(
        &self,
        mut cond: impl FnMut() -> bool,
        timeout: Duration,
    ) -> Result<(), SimError> {
        let mut changes = self.shared.subscribe();
        let mut deadline = pin!(self.timer(timeout));
        loop {
            changes.borrow_and_update();
            if cond() {
                return Ok(());
            }
            match select(pin!(changes.changed()), deadline.as_mut()).await {
                Either::Left((Ok(()), _)) => {}
                Either::Left((Err(_), _)) => return Err(SimError::Stopped),
                Either::Right(_) => {
                    return if cond() {
                        Ok(())
                    } else {
                        Err(SimError::Timeout {
                            what: "sim condition".to_owned(),
                            after: timeout,
                        })
                    };
                }
            }
        }
    }

    /// [`SimHandle::wait_for`], parking the calling thread. Do not call it on a single-threaded
    /// runtime that also drives the client under test.
    pub fn wait_for_blocking(
        &self,
        pred: impl FnMut(&Counters) -> bool,
        timeout: Duration,
    ) -> Result<Counters, SimError> {
        block_on(self.wait_for(pred, timeout))
    }
}

/// The guild an event is routed by.
fn route_guild(t: &str, d: &serde_json::Value) -> Option<u64> {
    let key = match t {
        "GUILD_CREATE" | "GUILD_UPDATE" | "GUILD_DELETE" => "id",
        _ => "guild_id",
    };
    match d.get(key)? {
        serde_json::Value::String(s) => s.parse().ok(),
        serde_json::Value::Number(n) => n.as_u64(),
        _ => None,
    }
}
