//! State shared by the accept loop, every connection task and the [`crate::Sim`] handle.
//!
//! Plain `std` mutexes: every critical section is short and never awaits, and it lets the handle
//! be used synchronously from any runtime. A `watch` channel ticks on every change so waiters
//! (`Sim::wait_for`) wake without polling.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;

use crate::config::SimConfig;
use crate::connection::Outbound;
use crate::fault::{ChaosEvent, Fault, Target};
use crate::fixtures::{self, Member};
use crate::limits::IdentifyLimiter;
use crate::record::{ConnId, ConnectionRecord, Counters};
use crate::rng::Rng;
use crate::session::Sessions;

/// Locks a mutex, recovering the data if a panicking thread poisoned it: the sim's state stays
/// usable for the assertions that follow.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One guild the bot is in. Members and the GUILD_CREATE body are built on first use, so a sim
/// with thousands of guilds costs nothing until they are asked for.
pub(crate) struct Guild {
    pub(crate) id: u64,
    member_count: usize,
    members: OnceLock<Vec<Member>>,
    create: OnceLock<Arc<str>>,
}

impl Guild {
    pub(crate) fn members(&self) -> &[Member] {
        self.members
            .get_or_init(|| fixtures::members(self.member_count))
    }

    pub(crate) fn create_d(&self) -> Arc<str> {
        self.create
            .get_or_init(|| fixtures::guild_create(self.id, self.members()).into())
            .clone()
    }
}

/// An open connection, as the handle and other connections see it.
pub(crate) struct ConnEntry {
    pub(crate) tx: UnboundedSender<Outbound>,
    pub(crate) shard: Option<[u32; 2]>,
}

pub(crate) struct Shared {
    pub(crate) config: SimConfig,
    pub(crate) addr: SocketAddr,
    pub(crate) started: Instant,
    pub(crate) counters: Mutex<Counters>,
    pub(crate) records: Mutex<Vec<ConnectionRecord>>,
    pub(crate) sessions: Mutex<Sessions>,
    pub(crate) conns: Mutex<HashMap<ConnId, ConnEntry>>,
    pub(crate) next_conn_faults: Mutex<Vec<Fault>>,
    pub(crate) limiter: Mutex<IdentifyLimiter>,
    /// `GET /gateway/bot` answers 429 this many more times, asking to retry after this long.
    pub(crate) gateway_bot_429: Mutex<(u32, Duration)>,
    pub(crate) guilds: Vec<Guild>,
    pub(crate) all_member_requests: Mutex<HashMap<u64, Instant>>,
    pub(crate) chaos_log: Mutex<Vec<ChaosEvent>>,
    pub(crate) rng: Mutex<Rng>,
    /// The TLS server configuration when the sim serves `wss://`.
    pub(crate) tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    next_conn: AtomicU64,
    changed: watch::Sender<u64>,
}

impl Shared {
    pub(crate) fn new(
        config: SimConfig,
        addr: SocketAddr,
        tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    ) -> Self {
        let now = Instant::now();
        let guilds = (0..config.guilds)
            .map(|i| Guild {
                id: fixtures::guild_id(i),
                member_count: config.guild_members as usize,
                members: OnceLock::new(),
                create: OnceLock::new(),
            })
            .collect();
        Self {
            limiter: Mutex::new(IdentifyLimiter::new(
                config.max_concurrency,
                config.identify_window,
                config.session_start_total,
                config.session_start_remaining,
                config.session_start_reset_after,
                now,
            )),
            gateway_bot_429: Mutex::new((0, Duration::ZERO)),
            sessions: Mutex::new(Sessions::new(config.backlog_size, config.session_timeout)),
            config,
            addr,
            started: now,
            counters: Mutex::new(Counters::default()),
            records: Mutex::new(Vec::new()),
            conns: Mutex::new(HashMap::new()),
            next_conn_faults: Mutex::new(Vec::new()),
            guilds,
            all_member_requests: Mutex::new(HashMap::new()),
            chaos_log: Mutex::new(Vec::new()),
            rng: Mutex::new(Rng::from_entropy()),
            tls,
            next_conn: AtomicU64::new(0),
            changed: watch::channel(0).0,
        }
    }

    fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "wss"
        } else {
            "ws"
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("{}://{}", self.scheme(), self.addr)
    }

    pub(crate) fn resume_url(&self) -> String {
        format!("{}://{}/resume", self.scheme(), self.addr)
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub(crate) fn next_conn_id(&self) -> ConnId {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Wakes everyone waiting for a condition.
    pub(crate) fn notify(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// Updates the counters and wakes waiters.
    pub(crate) fn count(&self, f: impl FnOnce(&mut Counters)) {
        f(&mut lock(&self.counters));
        self.notify();
    }

    /// Updates a connection's record and wakes waiters.
    pub(crate) fn record(&self, conn: ConnId, f: impl FnOnce(&mut ConnectionRecord)) {
        {
            let mut records = lock(&self.records);
            if let Some(r) = records.iter_mut().rev().find(|r| r.id == conn) {
                f(r);
            }
        }
        self.notify();
    }

    /// The guild with this id, if the bot is in it.
    pub(crate) fn guild(&self, id: u64) -> Option<&Guild> {
        self.guilds.iter().find(|g| g.id == id)
    }

    /// The guilds a shard `[id, count]` serves.
    pub(crate) fn guilds_of(&self, shard: [u32; 2]) -> Vec<&Guild> {
        let count = u64::from(shard[1].max(1));
        self.guilds
            .iter()
            .filter(|g| (g.id >> 22) % count == u64::from(shard[0]))
            .collect()
    }

    /// The open connections a fault target selects.
    pub(crate) fn targets(&self, target: &Target) -> Vec<(ConnId, UnboundedSender<Outbound>)> {
        let conns = lock(&self.conns);
        let mut out: Vec<_> = conns
            .iter()
            .filter(|(id, e)| match target {
                Target::Routed | Target::All => true,
                Target::Shard(s) => e.shard.is_some_and(|sh| sh[0] == *s),
                Target::Connection(c) => *id == c,
                Target::NextConnection => false,
            })
            .map(|(id, e)| (*id, e.tx.clone()))
            .collect();
        out.sort_by_key(|(id, _)| *id);
        out
    }
}
