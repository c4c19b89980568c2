//! The adapter test suite, written once and run against the sim on every runtime.
//!
//! Each adapter's `tests/sim.rs` includes this module and expands [`suite_tests!`] with a
//! function that runs a future to completion on its runtime. Every case is a generic
//! `async fn case<R: Runtime + Default>()`: it only uses what the driver exposes and the
//! runtime's own timer (through [`Runtime::sleep_until`]), so the same code exercises the tokio
//! and the smol bindings.
//!
//! Every wait is bounded: a hang fails the case with the shard's recent events in the message.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::print_stderr)]

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use discord_gateway_driver::discord_gateway::command::RawCommand;
use discord_gateway_driver::discord_gateway::protocol::{CloseCode, Intents, ShardId};
use discord_gateway_driver::discord_gateway::session::{
    Backoff, Compression, DisconnectCause, Next,
};
use discord_gateway_driver::discord_gateway::{Encoding, OpCode, Token};
use discord_gateway_driver::{
    CloseKind, ConnectOptions, Frame, IdentifyQueue, MessageError, Permit, Runtime, SessionEvent,
    Shard, ShardBuilder, ShardError, ShardEvent, Transport, TransportError,
};
use discord_gateway_sim::{ChaosConfig, Fault, Sim, SimHandle, Target};
use futures_util::future::{select, Either};

pub const TOKEN: &str = "suite-token";
/// Short heartbeats so zombie detection and missed beats take a fraction of a second.
pub const HEARTBEAT: Duration = Duration::from_millis(300);
/// The longest any single expectation may take before the case fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// Expands to one `#[test]` per suite case, each run to completion by `$run`
/// (a `fn<F: Future>(F) -> F::Output` for the runtime `$rt`).
#[macro_export]
macro_rules! suite_tests {
    ($rt:ty, $run:path) => {
        $crate::suite_tests!(@cases $rt, $run;
            identify_ready_and_dispatch,
            reconnect_op7_resumes,
            reconnect_op7_before_hello,
            invalid_session_resumable_resumes,
            invalid_session_not_resumable_reidentifies,
            resumable_close_codes_resume,
            reidentify_close_codes_start_a_new_session,
            fatal_close_codes_end_the_stream,
            bad_token_is_fatal,
            abrupt_tcp_drop_resumes_with_replay,
            malformed_frames_lose_nothing,
            corrupt_compressed_stream_resumes,
            zlib_stream_split_payloads,
            zstd_stream,
            zlib_stream_20_mb_guild_create,
            zstd_stream_20_mb_guild_create,
            oversized_message_is_bounded,
            command_flood_respects_rate_limit,
            cancelled_next_event_with_stalled_writes_sends_each_command_once,
            session_export_resume_in_new_shard,
            closing_for_good_ends_the_session,
            no_progress_without_polling,
            chaos_exactly_once,
            chaos_with_non_resumable_faults,
            etf_end_to_end,
            untrusted_certificate_never_gets_a_session,
            trusted_wss_session_resumes_after_op7_and_a_tcp_drop,
            trusted_wss_zlib_stream,
            wrong_ca_or_wrong_host_name_never_gets_a_session,
        );
    };
    (@cases $rt:ty, $run:path; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $run(suite::$case::<$rt>());
            }
        )*
    };
}

// ---- plumbing ------------------------------------------------------------------------------

/// Grants every identify at once: the sim's identify window is set to zero in these tests, so
/// re-identifying cases do not wait Discord's 5 s.
struct ImmediateIdentify;

impl IdentifyQueue for ImmediateIdentify {
    fn acquire(&self, _shard: ShardId) -> Permit {
        Box::pin(std::future::ready(()))
    }
}

pub fn sim_builder() -> discord_gateway_sim::SimBuilder {
    Sim::builder()
        .token(TOKEN)
        .heartbeat_interval(HEARTBEAT)
        .identify_window(Duration::ZERO)
}

pub fn start(builder: discord_gateway_sim::SimBuilder) -> Sim {
    builder.start_blocking().expect("the sim starts")
}

pub fn sim() -> Sim {
    start(sim_builder())
}

/// A shard pointed at `sim` with short timings.
pub fn builder<R: Runtime + Default>(sim: &SimHandle) -> ShardBuilder<R> {
    Shard::<R>::builder(Token::new(TOKEN).expect("token"))
        .configure(|c| {
            c.gateway_url(&sim.url())
                .intents(Intents::GUILDS | Intents::GUILD_MESSAGES)
                .backoff(Backoff {
                    initial: Duration::from_millis(20),
                    max: Duration::from_millis(200),
                })
                .hello_timeout(Duration::from_secs(2))
        })
        .seed(7)
        .connect_timeout(Duration::from_secs(2))
        .identify_queue(ImmediateIdentify)
}

/// `f`, or `None` when `after` passes first (on the runtime's own timer).
pub async fn within<R: Runtime, F: Future>(rt: &R, after: Duration, f: F) -> Option<F::Output> {
    let sleep = rt.sleep_until(Instant::now() + after);
    match select(pin!(f), pin!(sleep)).await {
        Either::Left((value, _)) => Some(value),
        Either::Right(((), _)) => None,
    }
}

/// Sleeps on the runtime's timer (only for negative checks: "nothing happened meanwhile").
pub async fn pause<R: Runtime + Default>(after: Duration) {
    R::default().sleep_until(Instant::now() + after).await;
}

#[derive(serde::Deserialize)]
struct Message {
    content: String,
}

/// What an application built on the shard saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Numbered MESSAGE_CREATE contents, in arrival order.
    pub numbers: Vec<u64>,
    /// Other MESSAGE_CREATE contents.
    pub texts: Vec<String>,
    /// Dispatch names, in order.
    pub names: Vec<String>,
    pub readies: Vec<String>,
    pub resumes: Vec<u64>,
    pub disconnects: Vec<(DisconnectCause, Next)>,
    pub connects: Vec<bool>,
    pub malformed: Vec<MessageError>,
    /// Sequence numbers that did not follow the previous one within a session (by our check).
    pub seq_breaks: Vec<(Option<u64>, Option<u64>)>,
    /// Gap / stale events the shard reported.
    pub gaps: u64,
    pub stale: u64,
    pub dispatches: u64,
    /// Bytes of the largest dispatch `d`.
    pub largest: usize,
    last_seq: Option<u64>,
}

/// A shard under test with a log of what it yielded.
pub struct Harness<R: Runtime> {
    pub shard: Shard<R>,
    pub seen: Seen,
    log: VecDeque<String>,
    /// Updated with the count of numbered messages seen (for a paced producer).
    pub progress: Option<Arc<AtomicU64>>,
    rt: R,
}

impl<R: Runtime + Default> Harness<R> {
    pub fn new(shard: Shard<R>) -> Self {
        Self {
            shard,
            seen: Seen::default(),
            log: VecDeque::new(),
            progress: None,
            rt: R::default(),
        }
    }

    pub fn build(builder: ShardBuilder<R>) -> Self {
        Self::new(builder.build().expect("valid shard config"))
    }

    fn context(&self) -> String {
        let tail: Vec<&str> = self.log.iter().map(String::as_str).collect();
        format!(
            "state {:?}; last events:\n  {}",
            self.shard.state(),
            tail.join("\n  ")
        )
    }

    fn note(&mut self, line: String) {
        if self.log.len() == 40 {
            self.log.pop_front();
        }
        self.log.push_back(line);
    }

    fn record(&mut self, event: &ShardEvent) {
        match event {
            ShardEvent::Dispatch(dispatch) => {
                let seen = &mut self.seen;
                seen.dispatches += 1;
                seen.largest = seen.largest.max(dispatch.data().len());
                if let Some(s) = dispatch.seq() {
                    if seen.last_seq.is_some_and(|last| s != last + 1) {
                        seen.seq_breaks.push((seen.last_seq, Some(s)));
                    }
                    seen.last_seq = Some(s);
                }
                if dispatch.name() == "MESSAGE_CREATE" {
                    let message: Message = dispatch.deserialize().expect("MESSAGE_CREATE d");
                    match message.content.parse::<u64>() {
                        Ok(n) => {
                            seen.numbers.push(n);
                            if let Some(progress) = &self.progress {
                                progress.fetch_max(n + 1, Ordering::Relaxed);
                            }
                        }
                        Err(_) => seen.texts.push(message.content),
                    }
                }
                if seen.names.len() < 100_000 {
                    seen.names.push(dispatch.name().to_owned());
                }
            }
            ShardEvent::Session(SessionEvent::Ready, _) => {
                // READY's session id, which the shard's session holds from READY on.
                let session_id = self.shard.session().session_id().unwrap_or_default();
                self.seen.readies.push(session_id.to_owned());
                // A new session numbers from 1 again.
                self.seen.last_seq = Some(0);
            }
            ShardEvent::Session(SessionEvent::Resumed { replayed }, _) => {
                self.seen.resumes.push(*replayed)
            }
            ShardEvent::Session(SessionEvent::Disconnected { cause, next }, _) => {
                self.seen.disconnects.push((*cause, *next))
            }
            ShardEvent::Connected { resume } => self.seen.connects.push(*resume),
            ShardEvent::Malformed(error) => self.seen.malformed.push(error.clone()),
            ShardEvent::Session(SessionEvent::SequenceGap { .. }, _) => self.seen.gaps += 1,
            ShardEvent::Session(SessionEvent::StaleDispatch { .. }, _) => self.seen.stale += 1,
            _ => {}
        }
        let line = match event {
            ShardEvent::Dispatch(d) => format!("Dispatch {} s={:?}", d.name(), d.seq()),
            other => format!("{other:?}"),
        };
        self.note(line);
    }

    /// The next item, or a panic after `after`.
    pub async fn next_within(&mut self, after: Duration) -> Option<Result<ShardEvent, ShardError>> {
        let rt = self.rt.clone();
        let Some(item) = within(&rt, after, self.shard.next_event()).await else {
            panic!("no event within {after:?}; {}", self.context());
        };
        match &item {
            Some(Ok(event)) => self.record(event),
            Some(Err(error)) => self.note(format!("Err({error:?})")),
            None => self.note("end of stream".to_owned()),
        }
        item
    }

    /// The next event; panics on an error, the end of the stream, or a timeout.
    pub async fn next(&mut self) -> ShardEvent {
        match self.next_within(WAIT).await {
            Some(Ok(event)) => event,
            other => panic!("expected an event, got {other:?}; {}", self.context()),
        }
    }

    /// Polls until an event matches `pred`, and returns it.
    pub async fn until(
        &mut self,
        what: &str,
        mut pred: impl FnMut(&ShardEvent) -> bool,
    ) -> ShardEvent {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_within(left).await {
                Some(Ok(event)) if pred(&event) => return event,
                Some(Ok(_)) => {}
                other => panic!("waiting for {what}, got {other:?}; {}", self.context()),
            }
        }
    }

    /// Polls the shard until `cond` (about the sim, re-checked on every sim change) holds.
    pub async fn until_sim(&mut self, sim: &SimHandle, what: &str, mut cond: impl FnMut() -> bool) {
        self.until_sim_within(sim, what, WAIT, &mut cond).await;
    }

    pub async fn until_sim_within(
        &mut self,
        sim: &SimHandle,
        what: &str,
        after: Duration,
        cond: &mut dyn FnMut() -> bool,
    ) {
        let deadline = Instant::now() + after;
        loop {
            if cond() {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "timed out waiting for {what}; sim {:?}; {}",
                    sim.counters(),
                    self.context()
                );
            }
            let step = {
                let next = self.shard.next_event();
                let waiting = sim.wait_until(&mut *cond, left);
                match select(pin!(next), pin!(waiting)).await {
                    Either::Left((item, _)) => Either::Left(item),
                    Either::Right((done, _)) => Either::Right(done.is_ok()),
                }
            };
            match step {
                Either::Left(Some(Ok(event))) => self.record(&event),
                Either::Left(other) => {
                    panic!("waiting for {what}, got {other:?}; {}", self.context())
                }
                Either::Right(true) => return,
                Either::Right(false) => {}
            }
        }
    }

    /// Waits for READY.
    pub async fn ready(&mut self) -> String {
        self.until("READY", |e| {
            matches!(e, ShardEvent::Session(SessionEvent::Ready, _))
        })
        .await;
        let session_id = self.shard.session().session_id();
        session_id.unwrap_or_default().to_owned()
    }

    /// Waits for RESUMED and returns how many dispatches were replayed.
    pub async fn resumed(&mut self) -> u64 {
        match self
            .until("RESUMED", |e| {
                matches!(e, ShardEvent::Session(SessionEvent::Resumed { .. }, _))
            })
            .await
        {
            ShardEvent::Session(SessionEvent::Resumed { replayed }, _) => replayed,
            _ => unreachable!(),
        }
    }

    /// Waits until the numbered messages seen reach `count`.
    pub async fn numbers(&mut self, count: usize) {
        let deadline = Instant::now() + WAIT;
        while self.seen.numbers.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_within(left).await {
                Some(Ok(_)) => {}
                other => panic!(
                    "waiting for {count} messages, got {other:?}; {}",
                    self.context()
                ),
            }
        }
    }

    /// Polls until the shard is idle (active, nothing arrives) for `quiet`.
    pub async fn drain(&mut self, quiet: Duration) {
        let rt = self.rt.clone();
        while let Some(item) = within(&rt, quiet, self.shard.next_event()).await {
            match item {
                Some(Ok(event)) => self.record(&event),
                other => panic!("draining, got {other:?}; {}", self.context()),
            }
        }
    }
}

/// The nonces of every Request Guild Members the sim received, in order.
pub fn member_request_nonces(sim: &SimHandle) -> Vec<String> {
    sim.connections()
        .iter()
        .flat_map(|c| c.sent_with_op(8))
        .filter_map(|p| p["d"]["nonce"].as_str().map(str::to_owned))
        .collect()
}

/// Sends numbered MESSAGE_CREATEs `range` through the sim.
pub fn send_numbers(sim: &SimHandle, range: std::ops::Range<u64>) {
    for n in range {
        assert_eq!(
            sim.message_create(&n.to_string()),
            1,
            "one session gets message {n}"
        );
    }
}

/// Asserts `numbers` is exactly `0..count`, with a summary of what went wrong otherwise.
pub fn assert_exactly_once(numbers: &[u64], count: u64) {
    let report = exactly_once_report(numbers, count);
    assert!(
        report.lost == 0 && report.duplicated == 0 && report.out_of_order == 0,
        "{report:?}"
    );
}

#[derive(Debug, Default)]
pub struct OnceReport {
    pub sent: u64,
    pub delivered: u64,
    pub unique: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
}

pub fn exactly_once_report(numbers: &[u64], sent: u64) -> OnceReport {
    let mut seen = vec![0u32; usize::try_from(sent).unwrap_or(0)];
    let mut report = OnceReport {
        sent,
        delivered: numbers.iter().filter(|&&n| n < sent).count() as u64,
        ..OnceReport::default()
    };
    let mut prev: Option<u64> = None;
    for &n in numbers {
        if let Some(slot) = seen.get_mut(n as usize) {
            *slot += 1;
        }
        if prev.is_some_and(|p| n <= p) {
            report.out_of_order += 1;
        }
        prev = Some(n);
    }
    report.unique = seen.iter().filter(|&&c| c > 0).count() as u64;
    report.lost = seen.iter().filter(|&&c| c == 0).count() as u64;
    report.duplicated = seen.iter().map(|&c| u64::from(c.saturating_sub(1))).sum();
    report
}

fn is_resume(next: &Next) -> bool {
    matches!(next, Next::Resume { .. })
}

fn is_identify(next: &Next) -> bool {
    matches!(next, Next::Identify { .. })
}

// ---- cases ---------------------------------------------------------------------------------

/// Identify with the configured token, shard and intents; READY names the session; a dispatch
/// arrives with its data intact.
pub async fn identify_ready_and_dispatch<R: Runtime + Default>() {
    let sim = sim();
    let mut h =
        Harness::<R>::build(builder(&sim).configure(|c| c.shard(ShardId::new(0, 1).unwrap())));
    assert_eq!(h.next().await, ShardEvent::Connected { resume: false });
    let session = h.ready().await;
    assert_eq!(session.len(), 32, "the sim's session ids are 32 hex digits");
    send_numbers(&sim, 0..3);
    h.numbers(3).await;
    assert_eq!(h.seen.numbers, [0, 1, 2]);
    assert!(
        h.seen.names.iter().any(|n| n == "GUILD_CREATE"),
        "{:?}",
        h.seen.names
    );

    let conn = &sim.connections()[0];
    let identify = &conn.sent_with_op(2)[0]["d"];
    assert_eq!(identify["token"], TOKEN);
    assert_eq!(identify["shard"], serde_json::json!([0, 1]));
    assert_eq!(
        identify["intents"],
        (Intents::GUILDS | Intents::GUILD_MESSAGES).bits()
    );
    assert_eq!(conn.session_id.as_deref(), Some(session.as_str()));
    assert!(conn.query.contains("v=10") && conn.query.contains("encoding=json"));
    let c = sim.counters();
    assert_eq!((c.identifies, c.readies, c.connections), (1, 1, 1));
    assert!(h.seen.seq_breaks.is_empty(), "{:?}", h.seen.seq_breaks);
}

/// op 7 while active: close, resume on the resume URL, replay, carry on.
pub async fn reconnect_op7_resumes<R: Runtime + Default>() {
    let sim = sim();
    let mut h = Harness::<R>::build(builder(&sim));
    h.ready().await;
    send_numbers(&sim, 0..2);
    sim.fault(Fault::Reconnect);
    send_numbers(&sim, 2..4);
    h.resumed().await;
    send_numbers(&sim, 4..6);
    h.numbers(6).await;
    assert_exactly_once(&h.seen.numbers, 6);
    assert!(h
        .seen
        .disconnects
        .iter()
        .any(|(c, n)| *c == DisconnectCause::Reconnect && is_resume(n)));
    let c = sim.counters();
    assert_eq!((c.identifies, c.resumed, c.resumed_on_main_url), (1, 1, 0));
    let code = sim.connections()[0].client_close;
    assert!(code.is_some_and(|c| c != 1000 && c != 1001), "{code:?}");
}

/// op 7 before Hello on a resuming connection: the shard tries again and resumes.
pub async fn reconnect_op7_before_hello<R: Runtime + Default>() {
    let sim = sim();
    let mut h = Harness::<R>::build(builder(&sim));
    h.ready().await;
    send_numbers(&sim, 0..2);
    sim.fault_to(Target::NextConnection, Fault::Reconnect);
    sim.fault(Fault::DropTcp);
    send_numbers(&sim, 2..4);
    h.resumed().await;
    h.numbers(4).await;
    assert_exactly_once(&h.seen.numbers, 4);
    let causes: Vec<_> = h.seen.disconnects.iter().map(|(c, _)| *c).collect();
    assert_eq!(
        causes,
        [DisconnectCause::TransportLost, DisconnectCause::Reconnect]
    );
    let c = sim.counters();
    assert_eq!((c.connections, c.identifies, c.resumed), (3, 1, 1));
}

/// op 9 `true`: resume the same session.
pub async fn invalid_session_resumable_resumes<R: Runtime + Default>() {
    let sim = sim();
    let mut h = Harness::<R>::build(builder(&sim));
    let session = h.ready().await;
    send_numbers(&sim, 0..2);
    sim.fault(Fault::InvalidSession(true));
    send_numbers(&sim, 2..4);
    h.resumed().await;
    h.numbers(4).await;
    assert_exactly_once(&h.seen.numbers, 4);
    assert_eq!(h.seen.readies, [session]);
    assert!(h.seen.disconnects.iter().any(|(c, n)| {
        *c == DisconnectCause::InvalidSession { resumable: true } && is_resume(n)
    }));
}

/// op 9 `false`: a new session after a wait; nothing duplicated, later events delivered.
pub async fn invalid_session_not_resumable_reidentifies<R: Runtime + Default>() {
    let sim = sim();
    let mut h = Harness::<R>::build(builder(&sim));
    let first = h.ready().await;
    send_numbers(&sim, 0..2);
    h.numbers(2).await;
    let asked = Instant::now();
    sim.fault(Fault::InvalidSession(false));
    let second = h.ready().await;
    let waited = asked.elapsed();
    assert_ne!(first, second);
    assert!(
        waited >= Duration::from_millis(900),
        "re-identified after {waited:?}; Discord's old docs ask for 1-5 s"
    );
    assert!(h.seen.disconnects.iter().any(|(c, n)| {
        *c == DisconnectCause::InvalidSession { resumable: false } && is_identify(n)
    }));
    send_numbers(&sim, 2..4);
    h.numbers(4).await;
    assert_exactly_once(&h.seen.numbers, 4);
    let c = sim.counters();
    assert_eq!((c.identifies, c.readies, c.resumes), (2, 2, 0));
    // The old session was invalidated on the sim; the client never tried to resume it.
    assert_eq!(sim.session_count(), 1);
}

/// 4000, 4001, 4002, 4005, 4008, and server 1000/1001: reconnect and resume, nothing lost.
pub async fn resumable_close_codes_resume<R: Runtime + Default>() {
    let sim = sim();
    let mut h = Harness::<R>::build(builder(&sim));
    let session = h.ready().await;
    let codes = [4000u16, 4001, 4002, 4005, 4008, 1000, 1001];
    let mut n = 0;
    for (i, code) in codes.into_iter().enumerate() {
        send_numbers(&sim, n..n + 2);
        sim.fault(Fault::Close(code));
        send_numbers(&sim, n + 2..n + 4);
        n += 4;
        let replayed = h.resumed().await;
        assert!(replayed <= 4, "{code}: replayed {replayed}");
        assert_eq!(h.seen.resumes.len(), i + 1, "{code} resumed");
        let (cause, next) = *h.seen.disconnects.last().unwrap();
        assert_eq!(
            cause,
            DisconnectCause::ServerClosed(CloseCode::from_u16(code))
        );
        assert!(is_resume(&next), "{code}: {next:?}");
    }
    h.numbers(n as usize).await;
    assert_exactly_once(&h.seen.numbers, n);
    assert_eq!(h.seen.readies, [session]);
    assert_eq!(sim.counters().identifies, 1);
}

/// 4003, 4007, 4009: a new session (Identify), never a Resume of the old one.
pub async fn reidentify_close_codes_start_a_new_session<R: Runtime + Default>() {
    let sim = sim();
    let mut h = Harness::<R>::build(builder(&sim));
    h.ready().await;
    let codes = [4003u16, 4007, 4009];
    let mut n = 0;
    for (i, code) in codes.into_iter().enumerate() {
        send_numbers(&sim, n..n + 2);
        h.numbers(n as usize + 2).await;
        sim.fault(Fault::Close(code));
        h.ready().await;
        assert_eq!(h.seen.readies.len(), i + 2);
        let (cause, next) = *h.seen.disconnects.last().unwrap();
        assert_eq!(
            cause,
            DisconnectCause::ServerClosed(CloseCode::from_u16(code))
        );
        assert!(is_identify(&next), "{code}: {next:?}");
        n += 2;
    }
    send_numbers(&sim, n..n + 2);
    h.numbers(n as usize + 2).await;
    assert_exactly_once(&h.seen.numbers, n + 2);
    let c = sim.counters();
    assert_eq!((c.identifies, c.resumes), (4, 0));
}

/// 4004, 4010-4014: the stream yields `ShardError::Fatal(code)` and then ends, without
/// reconnecting.
pub async fn fatal_close_codes_end_the_stream<R: Runtime + Default>() {
    for code in [4004u16, 4010, 4011, 4012, 4013, 4014] {
        let sim = sim();
        let mut h = Harness::<R>::build(builder(&sim));
        h.ready().await;
        sim.fault(Fault::Close(code));
        loop {
            match h.next_within(WAIT).await {
                Some(Ok(_)) => {}
                Some(Err(ShardError::Fatal(got))) => {
                    assert_eq!(got, CloseCode::from_u16(code));
                    break;
                }
                other => panic!("{code}: {other:?}"),
            }
        }
        let (cause, next) = *h.seen.disconnects.last().unwrap();
        assert_eq!(
            cause,
            DisconnectCause::ServerClosed(CloseCode::from_u16(code))
        );
        assert_eq!(next, Next::Stop);
        assert_eq!(h.next_within(WAIT).await, None, "{code}: the stream ends");
        assert_eq!(sim.counters().connections, 1, "{code}: no reconnect");
    }
}

/// A wrong token: Discord closes with 4004, which is fatal.
pub async fn bad_token_is_fatal<R: Runtime + Default>() {
    let sim = sim();
    let mut h = Harness::<R>::new(
        Shard::<R>::builder(Token::new("wrong-token").unwrap())
            .configure(|c| c.gateway_url(&sim.url()).intents(Intents::GUILDS))
            .identify_queue(ImmediateIdentify)
            .build()
            .unwrap(),
    );
    loop {
        match h.next_within(WAIT).await {
            Some(Ok(_)) => {}
            Some(Err(ShardError::Fatal(code))) => {
                assert_eq!(code, CloseCode::AuthenticationFailed);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(h.next_within(WAIT).await, None);
    assert_eq!(sim.counters().connections, 1);
}

/// The TCP connection vanishes without a close frame: resume, replaying what was missed.
pub async fn abrupt_tcp_drop_resumes_with_replay<R: Runtime + Default>() {
    let sim = sim();
    let mut h = Harness::<R>::build(builder(&sim));
    h.ready().await;
    // A heartbeat answered after READY proves the connection stable, so losing it is not a
    // failure and the resume comes at once (its ACK is read before the numbers below).
    let beats = sim.counters().heartbeats;
    h.until_sim(&sim, "a heartbeat after READY", || {
        sim.counters().heartbeats > beats
    })
    .await;
    send_numbers(&sim, 0..3);
    h.numbers(3).await;
    sim.fault(Fault::DropTcp);
    send_numbers(&sim, 3..10);
    let replayed = h.resumed().await;
    assert!(
        replayed >= 1,
        "events sent during the drop were replayed ({replayed})"
    );
    h.numbers(10).await;
    assert_exactly_once(&h.seen.numbers, 10);
    assert_eq!(
        h.seen.disconnects[0],
        (
            DisconnectCause::TransportLost,
            Next::Resume {
                after: Duration::ZERO
            }
        )
    );
    let c = sim.counters();
    assert_eq!((c.tcp_drops, c.identifies, c.resumed), (1, 1, 1));
}

/// Invalid JSON, unknown opcodes, unknown events, garbage text and binary frames: each is
/// skipped (reported as `Malformed` where it is one), the connection stays up, nothing is lost.
pub async fn malformed_frames_lose_nothing<R: Runtime + Default>() {
    let sim = sim();
    let mut h = Harness::<R>::build(builder(&sim));
    h.ready().await;
    let faults = [
        Fault::Malformed,
        Fault::UnknownOpcode(42),
        Fault::UnknownEvent,
        Fault::RawText("not json at all".to_owned()),
        Fault::RawText("{\"op\":0,\"s\":\"x\",\"t\":7,\"d\":{}}".to_owned()),
        Fault::RawText("{\"op\":10,\"d\":{\"heartbeat_interval\":\"soon\"}}".to_owned()),
        Fault::RawBinary(vec![0xff, 0x00, 0x13, 0x37]),
        Fault::RawText(String::new()),
    ];
    let mut n = 0;
    for fault in faults {
        send_numbers(&sim, n..n + 2);
        sim.fault(fault);
        send_numbers(&sim, n + 2..n + 4);
        n += 4;
    }
    h.numbers(n as usize).await;
    assert_exactly_once(&h.seen.numbers, n);
    assert!(h.seen.malformed.len() >= 4, "{:?}", h.seen.malformed);
    assert!(h.seen.names.iter().any(|t| t == "SIM_UNKNOWN_EVENT"));
    assert!(h.seen.disconnects.is_empty(), "{:?}", h.seen.disconnects);
    assert_eq!(sim.counters().connections, 1);
    assert!(h.seen.seq_breaks.is_empty(), "{:?}", h.seen.seq_breaks);
}

/// A corrupt zlib-stream cannot be resynchronised: the shard reports it, reconnects with a fresh
/// context and resumes, losing nothing.
pub async fn corrupt_compressed_stream_resumes<R: Runtime + Default>() {
    for compression in [Compression::ZlibStream, Compression::ZstdStream] {
        let sim = sim();
        let mut h = Harness::<R>::build(builder(&sim).configure(|c| c.compression(compression)));
        h.ready().await;
        send_numbers(&sim, 0..2);
        h.numbers(2).await;
        sim.fault(Fault::RawBinary(vec![
            0x13, 0x37, 0xde, 0xad, 0, 0, 0xff, 0xff,
        ]));
        send_numbers(&sim, 2..5);
        h.resumed().await;
        h.numbers(5).await;
        assert_exactly_once(&h.seen.numbers, 5);
        // Garbage spliced into a zlib stream may even inflate to a few bytes before the
        // stream breaks; what matters is that the break is reported and recovered from.
        assert!(
            h.seen
                .malformed
                .iter()
                .any(|e| matches!(e, MessageError::Inflate(_))),
            "{compression:?}: {:?}",
            h.seen.malformed
        );
        assert_eq!(sim.counters().identifies, 1);
    }
}

async fn compressed_traffic<R: Runtime + Default>(
    sim: &Sim,
    compression: Compression,
    query: &str,
) {
    let mut h = Harness::<R>::build(builder(sim).configure(|c| c.compression(compression)));
    h.ready().await;
    send_numbers(sim, 0..50);
    sim.guild_create(500);
    sim.fault(Fault::Malformed);
    sim.fault(Fault::Reconnect);
    send_numbers(sim, 50..100);
    h.resumed().await;
    h.numbers(100).await;
    assert_exactly_once(&h.seen.numbers, 100);
    assert_eq!(h.seen.malformed.len(), 1, "{:?}", h.seen.malformed);
    assert!(
        h.seen.largest > 100_000,
        "the 500-member GUILD_CREATE ({} bytes)",
        h.seen.largest
    );
    for conn in sim.connections() {
        assert!(conn.query.contains(query), "{}", conn.query);
    }
}

/// zlib-stream with every payload split into 100-byte websocket messages (the sync-flush suffix
/// lands in its own message or across two), across a reconnect (fresh context).
pub async fn zlib_stream_split_payloads<R: Runtime + Default>() {
    let sim = start(sim_builder().zlib_split(Some(100)));
    compressed_traffic::<R>(&sim, Compression::ZlibStream, "compress=zlib-stream").await;
    let sim = start(sim_builder().zlib_split(Some(3)));
    compressed_traffic::<R>(&sim, Compression::ZlibStream, "compress=zlib-stream").await;
}

/// zstd-stream: one frame per connection, one payload per message.
pub async fn zstd_stream<R: Runtime + Default>() {
    let sim = sim();
    compressed_traffic::<R>(&sim, Compression::ZstdStream, "compress=zstd-stream").await;
}

async fn huge_guild_create<R: Runtime + Default>(compression: Compression, split: Option<usize>) {
    const SIZE: usize = 20 * 1024 * 1024;
    let sim = start(
        sim_builder()
            .zlib_split(split)
            // Building and compressing 20 MB in a debug build takes a while; do not let the
            // missed-heartbeat timer cut the connection meanwhile.
            .heartbeat_grace(Duration::from_secs(30)),
    );
    let mut h = Harness::<R>::build(builder(&sim).configure(|c| c.compression(compression)));
    h.ready().await;
    send_numbers(&sim, 0..1);
    sim.guild_create_sized(SIZE);
    send_numbers(&sim, 1..2);
    let started = Instant::now();
    let event = loop {
        match h.next_within(Duration::from_secs(60)).await {
            Some(Ok(ShardEvent::Dispatch(d))) if d.data().len() >= SIZE => break d,
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    };
    eprintln!(
        "{compression:?}: 20 MB GUILD_CREATE after {:?}",
        started.elapsed()
    );
    assert_eq!(event.name(), "GUILD_CREATE");
    let guild: serde_json::Value = event.deserialize().expect("the GUILD_CREATE is whole JSON");
    assert!(guild["members"].as_array().is_some_and(|m| !m.is_empty()));
    h.numbers(2).await;
    assert_exactly_once(&h.seen.numbers, 2);
    assert!(h.seen.malformed.is_empty(), "{:?}", h.seen.malformed);
}

pub async fn zlib_stream_20_mb_guild_create<R: Runtime + Default>() {
    huge_guild_create::<R>(Compression::ZlibStream, Some(64 * 1024)).await;
}

pub async fn zstd_stream_20_mb_guild_create<R: Runtime + Default>() {
    huge_guild_create::<R>(Compression::ZstdStream, None).await;
}

/// A message inflating past `max_message_size` is an error the shard survives, never an
/// unbounded allocation or a panic.
pub async fn oversized_message_is_bounded<R: Runtime + Default>() {
    for compression in [Compression::ZlibStream, Compression::ZstdStream] {
        let sim = sim();
        let mut h = Harness::<R>::build(
            builder(&sim)
                .configure(|c| c.compression(compression))
                .max_message_size(64 * 1024),
        );
        h.ready().await;
        send_numbers(&sim, 0..2);
        h.numbers(2).await;
        sim.guild_create_sized(256 * 1024);
        let event = h
            .until("the oversized message", |e| {
                matches!(e, ShardEvent::Malformed(_))
            })
            .await;
        assert!(
            matches!(&event, ShardEvent::Malformed(MessageError::Inflate(_))),
            "{compression:?}: {event:?}"
        );
        // The stream stayed in step: the same connection goes on with the next events.
        send_numbers(&sim, 2..4);
        h.numbers(4).await;
        assert_eq!(
            sim.counters().connections,
            1,
            "{compression:?}: no reconnect was needed"
        );
        h.shard.close(CloseKind::EndSession).await;
    }

    // Uncompressed, the websocket layer refuses the message and the connection dies; every
    // resume would replay it, so after a few tries the shard stops with an error that says so,
    // leaving the session resumable.
    let sim = sim();
    let mut h = Harness::<R>::build(builder(&sim).max_message_size(64 * 1024));
    h.ready().await;
    sim.guild_create_sized(256 * 1024);
    let deadline = Instant::now() + WAIT;
    let error = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match h.next_within(left).await {
            Some(Ok(event)) => h.record(&event),
            Some(Err(error)) => break error,
            None => panic!("the shard ended without an error; {}", h.context()),
        }
    };
    assert_eq!(error, ShardError::MessageTooLarge { limit: 64 * 1024 });
    assert!(
        h.shard.resume_state().is_some(),
        "the session is kept for a resume"
    );
}

/// 1,000 commands queued at once: all go out, in order, and the sim never closes with 4008.
/// Time is scaled down on both sides (120 per second) so the real limiter logic runs.
pub async fn command_flood_respects_rate_limit<R: Runtime + Default>() {
    const COMMANDS: usize = 1_000;
    const WINDOW: Duration = Duration::from_secs(1);
    let sim = start(sim_builder().rate_limit(120, WINDOW));
    let mut h = Harness::<R>::build(builder(&sim).configure(|c| c.send_window(WINDOW)));
    h.ready().await;
    let guild = sim.guild_ids()[0];
    let sender = h.shard.sender();
    let started = Instant::now();
    for i in 0..COMMANDS {
        let d = format!("{{\"guild_id\":\"{guild}\",\"user_ids\":[\"1\"],\"nonce\":\"n{i}\"}}");
        sender
            .send_raw(OpCode::RequestGuildMembers, d.as_bytes())
            .expect("queued");
    }
    let nonces = || member_request_nonces(&sim);
    h.until_sim_within(
        &sim,
        "1,000 commands at the sim",
        Duration::from_secs(30),
        &mut || sim.counters().member_requests as usize >= COMMANDS,
    )
    .await;
    let took = started.elapsed();
    eprintln!("1,000 commands in {took:?}");
    let c = sim.counters();
    assert_eq!(c.server_closed(4008), 0, "rate limited: {c:?}");
    assert_eq!(c.connections, 1, "no reconnects: {c:?}");
    let sent = nonces();
    let expected: Vec<String> = (0..COMMANDS).map(|i| format!("n{i}")).collect();
    assert_eq!(sent, expected, "every command exactly once, in order");
    // 1,000 commands at under 120 per window take at least 8 windows.
    assert!(
        took >= WINDOW * 8,
        "{took:?} is faster than the limit allows"
    );
    // Heartbeats kept flowing through the flood (the reserve), so no zombie and no 4009.
    assert!(c.heartbeats >= 3, "{c:?}");
    assert!(h.seen.disconnects.is_empty(), "{:?}", h.seen.disconnects);
}

/// A runtime whose sockets' writes can be held, as a peer that stops reading holds them once the
/// TCP buffers are full: the first frame is taken by the socket and its flush waits; the next
/// one waits to be taken.
#[derive(Clone, Default)]
pub struct Stalling<R> {
    inner: R,
    gate: Arc<Gate>,
}

#[derive(Default)]
pub struct Gate {
    state: std::sync::Mutex<(bool, Vec<std::task::Waker>)>,
}

impl Gate {
    fn stalled(&self, cx: &mut std::task::Context<'_>) -> bool {
        let mut state = self.state.lock().unwrap();
        if state.0 {
            state.1.push(cx.waker().clone());
        }
        state.0
    }

    pub fn set(&self, stalled: bool) {
        let wakers = {
            let mut state = self.state.lock().unwrap();
            state.0 = stalled;
            std::mem::take(&mut state.1)
        };
        wakers.into_iter().for_each(std::task::Waker::wake);
    }
}

pub struct StallingSocket<S> {
    inner: S,
    gate: Arc<Gate>,
    unflushed: bool,
}

impl<S: Transport> futures_util::Stream for StallingSocket<S> {
    type Item = Result<Frame, TransportError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::pin::Pin::new(&mut self.inner).poll_next(cx)
    }
}

impl<S: Transport> futures_util::Sink<Frame> for StallingSocket<S> {
    type Error = TransportError;

    fn poll_ready(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), TransportError>> {
        if self.unflushed && self.gate.stalled(cx) {
            return std::task::Poll::Pending;
        }
        std::pin::Pin::new(&mut self.inner).poll_ready(cx)
    }

    fn start_send(mut self: std::pin::Pin<&mut Self>, frame: Frame) -> Result<(), TransportError> {
        self.unflushed = true;
        std::pin::Pin::new(&mut self.inner).start_send(frame)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), TransportError>> {
        if self.gate.stalled(cx) {
            return std::task::Poll::Pending;
        }
        let flushed = std::pin::Pin::new(&mut self.inner).poll_flush(cx);
        if flushed.is_ready() {
            self.unflushed = false;
        }
        flushed
    }

    fn poll_close(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), TransportError>> {
        std::pin::Pin::new(&mut self.inner).poll_close(cx)
    }
}

impl<R: Runtime> Runtime for Stalling<R> {
    type Socket = StallingSocket<R::Socket>;

    fn connect(
        &self,
        options: ConnectOptions,
    ) -> impl Future<Output = Result<Self::Socket, TransportError>> + Send + 'static {
        let connect = self.inner.connect(options);
        let gate = Arc::clone(&self.gate);
        async move {
            Ok(StallingSocket {
                inner: connect.await?,
                gate,
                unflushed: false,
            })
        }
    }

    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send + 'static {
        self.inner.sleep_until(deadline)
    }

    fn timer(&self, deadline: Instant) -> std::pin::Pin<Box<dyn discord_gateway_driver::Timer>> {
        self.inner.timer(deadline)
    }

    fn now(&self) -> Instant {
        self.inner.now()
    }
}

/// The cancellation case of the driver issue, on a real runtime against the sim: while the
/// socket's writes wait, `next_event` futures are dropped again and again (as `select!` does),
/// and when the writes go through, the sim has every command exactly once.
pub async fn cancelled_next_event_with_stalled_writes_sends_each_command_once<
    R: Runtime + Default,
>() {
    const COMMANDS: usize = 12;
    let sim = sim();
    let rt = Stalling::<R>::default();
    let gate = Arc::clone(&rt.gate);
    let shard = ShardBuilder::new(rt, Token::new(TOKEN).expect("token"))
        .configure(|c| {
            c.gateway_url(&sim.url())
                .intents(Intents::GUILDS | Intents::GUILD_MESSAGES)
        })
        .seed(7)
        .identify_queue(ImmediateIdentify)
        .build()
        .expect("valid shard config");
    let mut h = Harness::new(shard);
    h.ready().await;
    let guild = sim.guild_ids()[0];
    let sender = h.shard.sender();
    gate.set(true);
    for i in 0..COMMANDS {
        let d = format!("{{\"guild_id\":\"{guild}\",\"user_ids\":[\"1\"],\"nonce\":\"c{i}\"}}");
        if i % 2 == 0 {
            h.shard
                .send(&RawCommand::new(OpCode::RequestGuildMembers, d.as_bytes()))
                .expect("queued");
        } else {
            sender
                .send_raw(OpCode::RequestGuildMembers, d.as_bytes())
                .expect("queued");
        }
        // Wait for an event a little, then give up on it: the future is dropped mid-write.
        // (An event that does arrive, a GUILD_CREATE say, is only noted.)
        let rt = R::default();
        if let Some(Some(Ok(event))) =
            within(&rt, Duration::from_millis(5), h.shard.next_event()).await
        {
            h.record(&event);
        }
    }
    gate.set(false);
    let nonces = || member_request_nonces(&sim);
    h.until_sim(&sim, "every command at the sim", &mut || {
        nonces().len() >= COMMANDS
    })
    .await;
    // A little longer, in case a duplicate is on its way.
    h.drain(Duration::from_millis(200)).await;
    let expected: Vec<String> = (0..COMMANDS).map(|i| format!("c{i}")).collect();
    assert_eq!(nonces(), expected, "every command exactly once, in order");
    assert_eq!(sim.counters().connections, 1, "no reconnect");
}

/// Export the session from one shard, close it resumably, build a new shard from the exported
/// state (through JSON, as a restarted process would), and resume with the missed events
/// replayed.
pub async fn session_export_resume_in_new_shard<R: Runtime + Default>() {
    let sim = sim();
    let mut h = Harness::<R>::build(builder(&sim));
    let session = h.ready().await;
    send_numbers(&sim, 0..5);
    h.numbers(5).await;
    h.shard.close(CloseKind::Resumable).await;
    let state = h.shard.resume_state().expect("a resumable session");
    assert_eq!(state.session_id.as_str(), session);
    let saved = serde_json::to_string(&state).unwrap();
    assert!(
        !saved.contains(TOKEN),
        "the token is not part of the exported state"
    );
    assert_eq!(
        h.next_within(WAIT).await,
        None,
        "the closed shard's stream ends"
    );
    sim.wait_for(|c| c.open_connections == 0, WAIT)
        .await
        .expect("the old connection ends");
    let code = sim.connections()[0].client_close;
    assert!(code.is_some_and(|c| c != 1000 && c != 1001), "{code:?}");

    send_numbers(&sim, 5..12);
    let restored = serde_json::from_str(&saved).unwrap();
    let mut h2 = Harness::<R>::build(builder(&sim).resume(restored));
    assert_eq!(h2.next().await, ShardEvent::Connected { resume: true });
    let replayed = h2.resumed().await;
    assert_eq!(replayed, 7);
    send_numbers(&sim, 12..15);
    h2.numbers(10).await;
    let mut all = h.seen.numbers.clone();
    all.extend(&h2.seen.numbers);
    assert_exactly_once(&all, 15);
    let c = sim.counters();
    assert_eq!((c.identifies, c.resumed, c.replayed), (1, 1, 7));
    assert!(h2.seen.readies.is_empty());
}

/// `close(CloseKind::EndSession)` ends the session on Discord's side: the close frame (1000) reaches the
/// gateway even while events are in flight, and nothing can resume the session afterwards.
pub async fn closing_for_good_ends_the_session<R: Runtime + Default>() {
    let sim = sim();
    let mut h = Harness::<R>::build(builder(&sim));
    h.ready().await;
    send_numbers(&sim, 0..200);
    h.numbers(1).await;
    h.shard.close(CloseKind::EndSession).await;
    assert!(h.shard.resume_state().is_none());
    sim.wait_for(|c| c.open_connections == 0, WAIT)
        .await
        .expect("the connection ends");
    assert_eq!(sim.connections()[0].client_close, Some(1000));
    assert_eq!(sim.session_count(), 0, "the session ended");
    assert_eq!(h.next_within(WAIT).await, None);
}

/// The shard spawns nothing: unpolled, it neither connects nor heartbeats. And its future is
/// `Send`, so it can run on a multi-threaded executor.
pub async fn no_progress_without_polling<R: Runtime + Default>() {
    fn assert_send<T: Send>(_: &T) {}
    let sim = sim();
    let mut h = Harness::<R>::build(builder(&sim));
    {
        let future = h.shard.next_event();
        assert_send(&future);
    }
    pause::<R>(Duration::from_millis(300)).await;
    assert_eq!(
        sim.counters().connections,
        0,
        "connected without being polled"
    );
    h.ready().await;
    h.until_sim(&sim, "a heartbeat", || sim.counters().heartbeats >= 1)
        .await;
    let beats = sim.counters().heartbeats;
    pause::<R>(HEARTBEAT * 3).await;
    assert_eq!(
        sim.counters().heartbeats,
        beats,
        "heartbeats sent without being polled"
    );
    // Meanwhile the sim gave up on the silent connection (interval + grace) and ended the
    // session with 4009. Polled again, the shard notices and starts a new session.
    assert_eq!(sim.counters().server_closed(4009), 1);
    h.ready().await;
    assert_eq!(
        h.seen.disconnects[0].0,
        DisconnectCause::ServerClosed(CloseCode::SessionTimedOut)
    );
    send_numbers(&sim, 0..3);
    h.numbers(3).await;
    assert_exactly_once(&h.seen.numbers, 3);
}

// ---- chaos ---------------------------------------------------------------------------------

/// Faults after which Discord keeps the session: the application must see every event exactly
/// once, in order.
pub fn resumable_faults() -> Vec<Fault> {
    vec![
        Fault::Reconnect,
        Fault::InvalidSession(true),
        Fault::Close(4000),
        Fault::Close(4001),
        Fault::Close(4002),
        Fault::Close(4005),
        Fault::Close(4008),
        Fault::Close(1001),
        Fault::DropTcp,
        Fault::WithholdAcks,
        Fault::Freeze,
        Fault::RequestHeartbeat,
        Fault::Malformed,
        Fault::UnknownOpcode(42),
        Fault::UnknownEvent,
        Fault::Delay(Duration::from_millis(50)),
        Fault::Burst(20),
    ]
}

/// The number of events of the exactly-once chaos run: 100,000, or `SUITE_CHAOS_EVENTS`.
pub fn chaos_events() -> u64 {
    std::env::var("SUITE_CHAOS_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

#[derive(Debug)]
pub struct ChaosResult {
    pub report: OnceReport,
    pub faults: BTreeMap<String, u64>,
    pub took: Duration,
    pub sessions: usize,
    pub resumes: usize,
    pub disconnects: BTreeMap<String, u64>,
    pub connections: u64,
    /// What the sim actually did (a fault queued behind events on a connection that another
    /// fault ends first never happens; `faults` above counts what chaos picked).
    pub applied: String,
    pub bursts: usize,
}

fn fault_kind(fault: &Fault) -> String {
    let text = format!("{fault:?}");
    match fault {
        Fault::Close(_) | Fault::InvalidSession(_) => text,
        _ => text.split('(').next().unwrap_or(&text).to_owned(),
    }
}

/// Streams `events` numbered MESSAGE_CREATE through the sim while chaos hits the connection
/// every `interval`, and collects what the application saw.
async fn chaos_run<R: Runtime + Default>(
    events: u64,
    faults: Vec<Fault>,
    seed: u64,
    interval: Duration,
    compression: Compression,
) -> (Harness<R>, ChaosResult) {
    /// How far the producer may run ahead of the application (bounded backlog on the sim).
    const AHEAD: u64 = 300;
    let sim = start(
        sim_builder()
            .backlog_size(20_000)
            .zlib_split(Some(512))
            .record_payloads(false),
    );
    let mut h = Harness::<R>::build(builder(&sim).configure(|c| c.compression(compression)));
    h.ready().await;
    let progress = Arc::new(AtomicU64::new(0));
    h.progress = Some(progress.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicBool::new(false));
    let producer = {
        let sim = sim.handle();
        let progress = progress.clone();
        let stop = stop.clone();
        let finished = finished.clone();
        std::thread::spawn(move || {
            let mut orphaned = 0u64;
            for n in 0..events {
                // Wait for the application to catch up, but not for events that will never
                // come (lost with a session that ended): give up waiting after a while.
                let waiting = Instant::now();
                while n >= progress.load(Ordering::Relaxed) + AHEAD
                    && waiting.elapsed() < Duration::from_millis(250)
                {
                    if stop.load(Ordering::Relaxed) {
                        return orphaned;
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
                // No session takes it only between a non-resumable fault and the next READY.
                if sim.message_create(&n.to_string()) == 0 {
                    orphaned += 1;
                }
            }
            finished.store(true, Ordering::Relaxed);
            orphaned
        })
    };
    let started = Instant::now();
    sim.start_chaos(ChaosConfig::new(seed, interval).faults(faults));
    // Generous: the run is bounded by the producer's pacing, not by a fixed time.
    let limit = Duration::from_secs(120) + Duration::from_millis(events);
    let deadline = started + limit;
    let mut last_count = 0;
    let mut last_change = Instant::now();
    let mut chaos_on = true;
    // Past the last numbered event: sent only if the last ones were lost with an ended session.
    let mut extra = events;
    loop {
        let numbers = h.seen.numbers.len();
        if numbers != last_count {
            last_count = numbers;
            last_change = Instant::now();
        }
        if h.seen.numbers.last().is_some_and(|&n| n >= events - 1) {
            break;
        }
        if finished.load(Ordering::Relaxed) {
            if chaos_on {
                sim.stop_chaos();
                chaos_on = false;
            }
            if last_change.elapsed() > Duration::from_secs(1) && h.shard.session().is_active() {
                sim.message_create(&extra.to_string());
                extra += 1;
                last_change = Instant::now();
            }
        }
        if Instant::now() > deadline || last_change.elapsed() > Duration::from_secs(15) {
            sim.stop_chaos();
            stop.store(true, Ordering::Relaxed);
            panic!(
                "chaos stalled at {numbers} of {events} events after {:?}; sim {:?}; {}",
                started.elapsed(),
                sim.counters(),
                h.context()
            );
        }
        // Polled a second at a time: when the last events were lost with an ended session
        // nothing more arrives, and the loop above has to get a turn to send the extras.
        let rt = h.rt.clone();
        match within(&rt, Duration::from_secs(1), h.shard.next_event()).await {
            None => {}
            Some(Some(Ok(event))) => h.record(&event),
            other => panic!("chaos: {other:?}; {}", h.context()),
        }
    }
    sim.stop_chaos();
    stop.store(true, Ordering::Relaxed);
    let orphaned = producer.join().expect("producer thread");
    eprintln!(
        "{orphaned} events found no session; {} sent past the end",
        extra - events
    );
    let took = started.elapsed();
    let mut faults = BTreeMap::new();
    for event in sim.chaos_log() {
        *faults.entry(fault_kind(&event.fault)).or_default() += 1;
    }
    let result = ChaosResult {
        report: exactly_once_report(&h.seen.numbers, events),
        faults,
        took,
        sessions: h.seen.readies.len(),
        resumes: h.seen.resumes.len(),
        disconnects: h
            .seen
            .disconnects
            .iter()
            .fold(BTreeMap::new(), |mut map, (cause, _)| {
                *map.entry(format!("{cause:?}")).or_default() += 1;
                map
            }),
        connections: sim.counters().connections,
        applied: {
            let c = sim.counters();
            format!(
                "faults {}, op7 {}, op9(true) {}, op9(false) {}, op1 {}, tcp drops {}, \
                 closes {:?}, resumed {}, replayed {}, identifies {}",
                c.faults,
                c.reconnects_sent,
                c.invalid_sessions_resumable,
                c.invalid_sessions_not_resumable,
                c.heartbeat_requests_sent,
                c.tcp_drops,
                c.server_closes,
                c.resumed,
                c.replayed,
                c.identifies
            )
        },
        bursts: h.seen.texts.len(),
    };
    eprintln!("chaos ({compression:?}, seed {seed}, every {interval:?}): {result:#?}");
    (h, result)
}

/// A seeded chaos run (100,000 events by default) with only resumable faults: every event
/// exactly once, in order, in one session, and no sequence number skipped or repeated.
pub async fn chaos_exactly_once<R: Runtime + Default>() {
    let events = chaos_events();
    let (h, result) = chaos_run::<R>(
        events,
        resumable_faults(),
        0x5eed,
        Duration::from_millis(10),
        Compression::ZlibStream,
    )
    .await;
    let r = &result.report;
    assert_eq!(
        (r.delivered, r.lost, r.duplicated, r.out_of_order),
        (events, 0, 0, 0),
        "{result:#?}"
    );
    assert_eq!(result.sessions, 1, "one session throughout: {result:#?}");
    assert!(
        result.resumes >= 10,
        "the faults forced resumes: {result:#?}"
    );
    assert_seq_breaks_are_lost_resumed(&h, &result);
    assert_eq!(h.seen.stale, 0);
    assert_eq!(
        result.bursts % 20,
        0,
        "bursts arrive whole: {}",
        result.bursts
    );
}

/// The sim numbers RESUMED like a dispatch but, like READY, never replays it: when a connection
/// dies after the replay but before RESUMED arrives, the next resume skips that one number (and
/// several such resumes in a row, with no dispatch between them, skip one number each). Every
/// other dispatch is replayed, so the numbers skipped can be no more than the resumes that did
/// not complete.
fn assert_seq_breaks_are_lost_resumed<R: Runtime>(h: &Harness<R>, result: &ChaosResult) {
    let incomplete = result.connections as usize - 1 - result.resumes - (result.sessions - 1);
    let mut skipped = 0;
    for &(last, next) in &h.seen.seq_breaks {
        let Some(gap) = next.zip(last).map(|(n, l)| n.saturating_sub(l)) else {
            panic!("a break without numbers: {:?}", h.seen.seq_breaks);
        };
        assert!(
            gap >= 2,
            "a break that skips nothing: {:?}",
            h.seen.seq_breaks
        );
        skipped += usize::try_from(gap - 1).unwrap_or(usize::MAX);
    }
    assert!(
        skipped <= incomplete,
        "{skipped} numbers skipped in {:?}, {incomplete} incomplete resumes",
        h.seen.seq_breaks
    );
    assert_eq!(
        h.seen.gaps as usize,
        h.seen.seq_breaks.len(),
        "the shard reported each"
    );
}

/// Chaos including faults that end the session (op 9 false, 4003, 4007, 4009): each is reported
/// and recovered from with a new session. Events of an ended session that it never delivered
/// are gone, as on Discord; none is ever delivered twice or out of order, and the run completes.
pub async fn chaos_with_non_resumable_faults<R: Runtime + Default>() {
    let mut faults = resumable_faults();
    faults.extend([
        Fault::InvalidSession(false),
        Fault::Close(4003),
        Fault::Close(4007),
        Fault::Close(4009),
    ]);
    let events = 10_000;
    // A seed whose first fault is a non-resumable one (the faults a seed draws are fixed; only
    // when they land varies): a fast run ends after a few dozen faults, and with a seed whose
    // first non-resumable fault came 15th a fast machine could finish before it, in one session.
    let (h, result) = chaos_run::<R>(
        events,
        faults,
        5,
        Duration::from_millis(40),
        Compression::None,
    )
    .await;
    let r = &result.report;
    assert_eq!((r.duplicated, r.out_of_order), (0, 0), "{result:#?}");
    let ended = h
        .seen
        .disconnects
        .iter()
        .filter(|(_, next)| is_identify(next))
        .count();
    // Every new session follows a disconnect that asked for one; a non-resumable fault that
    // lands while a connection is still identifying asks for one without a session to end.
    assert!(
        result.sessions > 1 && result.sessions <= ended + 1,
        "sessions {} after {ended} identify-disconnects: {:?}",
        result.sessions,
        h.seen.disconnects
    );
    // Within each session the sequence is unbroken.
    assert_seq_breaks_are_lost_resumed(&h, &result);
    eprintln!(
        "non-resumable chaos: {} sessions, {} events lost with ended sessions",
        result.sessions, r.lost
    );
}

/// The whole client on ETF (`encoding=etf`), under each transport compression: READY and
/// dispatches read from ETF (`Dispatch::deserialize` into the same types as JSON), a resume after
/// op 7 in ETF, and commands, typed and raw, sent as binary ETF with binary keys (the sim closes
/// with 4002 on anything else).
pub async fn etf_end_to_end<R: Runtime + Default>() {
    for compression in [
        Compression::None,
        Compression::ZlibStream,
        Compression::ZstdStream,
    ] {
        let sim = sim();
        let mut h = Harness::<R>::build(
            builder(&sim).configure(|c| c.encoding(Encoding::Etf).compression(compression)),
        );
        h.ready().await;
        send_numbers(&sim, 0..3);
        sim.fault(Fault::Reconnect);
        send_numbers(&sim, 3..6);
        h.resumed().await;
        h.numbers(6).await;
        assert_exactly_once(&h.seen.numbers, 6);

        let guild = sim.guild_ids()[0];
        let sender = h.shard.sender();
        let d = format!("{{\"guild_id\":\"{guild}\",\"user_ids\":[\"1\"],\"nonce\":\"etf\"}}");
        sender
            .send_raw(OpCode::RequestGuildMembers, d.as_bytes())
            .expect("queued");
        h.until_sim_within(
            &sim,
            "the member request at the sim",
            Duration::from_secs(10),
            &mut || sim.counters().member_requests >= 1,
        )
        .await;

        let connections = sim.connections();
        assert_eq!(connections.len(), 2, "{compression:?}");
        for connection in &connections {
            assert!(
                connection.query.contains("encoding=etf"),
                "{}",
                connection.query
            );
            assert!(
                connection.payloads.iter().all(|p| p.binary),
                "{compression:?}"
            );
        }
        assert_eq!(connections[0].sent_with_op(2)[0]["d"]["token"], TOKEN);
        assert!(connections[1].sent_with_op(6)[0]["d"]["seq"].as_u64() >= Some(3));
        let request = &connections[1].sent_with_op(8)[0]["d"];
        assert_eq!(request["nonce"], "etf");
        let c = sim.counters();
        assert_eq!(c.server_closed(4002), 0, "{compression:?}: {c:?}");
        assert!(h.seen.malformed.is_empty(), "{:?}", h.seen.malformed);
    }
}

/// The sim serves `wss://` with a certificate from a CA made at test time, which the shard's
/// roots (Mozilla's) do not hold: every dial fails at the TLS handshake, so no websocket is
/// opened and nothing (the token least of all) is sent.
pub async fn untrusted_certificate_never_gets_a_session<R: Runtime + Default>() {
    let ca = discord_gateway_sim::TestCa::generate().expect("a test CA");
    let sim = start(sim_builder().tls(&ca));
    assert!(sim.url().starts_with("wss://"), "{}", sim.url());
    let mut h = Harness::<R>::build(builder(&sim));
    for _ in 0..2 {
        let event = h
            .until("a failed dial", |event| {
                assert!(
                    !matches!(event, ShardEvent::Connected { .. }),
                    "connected to an untrusted server: {event:?}"
                );
                matches!(
                    event,
                    ShardEvent::Session(SessionEvent::Disconnected { .. }, _)
                )
            })
            .await;
        let ShardEvent::Session(SessionEvent::Disconnected { cause, .. }, _) = event else {
            unreachable!()
        };
        assert_eq!(cause, DisconnectCause::DialFailed);
    }
    h.until_sim(&sim, "the refused handshakes at the sim", || {
        sim.counters().tls_handshake_failures >= 2
    })
    .await;
    let c = sim.counters();
    assert_eq!((c.connections, c.identifies, c.resumes), (0, 0, 0), "{c:?}");
}

// ---- wss:// with the sim's CA trusted (issue 26 item 1) ------------------------------------

/// A shard pointed at `sim` (serving `wss://`) that trusts exactly `ca`, and no public root.
pub fn trusting<R: Runtime + Default>(
    sim: &SimHandle,
    ca: &discord_gateway_sim::TestCa,
) -> ShardBuilder<R> {
    let trust = discord_gateway_driver::Trust::roots_der([ca.ca_der()]).expect("the CA parses");
    builder(sim).trust(trust)
}

/// Asserts every connection the sim recorded came over TLS 1.3 (the sim's handshake).
fn assert_all_tls(sim: &SimHandle) {
    let connections = sim.connections();
    assert!(!connections.is_empty());
    for conn in connections {
        assert_eq!(
            conn.tls_version.as_deref(),
            Some("TLSv1_3"),
            "connection {} was not TLS",
            conn.id
        );
    }
}

/// A whole session over the sim's `wss://`, its CA trusted: READY, a dispatch byte for byte,
/// op 7 then RESUMED, a dropped TCP connection then RESUMED with the missed events replayed,
/// and every connection a TLS one at the sim.
pub async fn trusted_wss_session_resumes_after_op7_and_a_tcp_drop<R: Runtime + Default>() {
    let ca = discord_gateway_sim::TestCa::generate().expect("a test CA");
    let sim = start(sim_builder().tls(&ca));
    assert!(sim.url().starts_with("wss://"), "{}", sim.url());
    let mut h = Harness::<R>::build(trusting(&sim, &ca));
    assert_eq!(h.next().await, ShardEvent::Connected { resume: false });
    h.ready().await;

    // Escapes, non-ASCII, odd spacing and key order: what the shard hands over is the bytes the
    // sim wrote, untouched by the TLS layer.
    let raw = r#"{ "z":1,"id" : "80351110224678912", "name":"caf\u00e9 \"tls\" ✓\n","a":[1.50, null ,{}]}"#;
    assert_eq!(
        sim.dispatch_raw(discord_gateway_sim::Target::All, "USER_UPDATE", raw)
            .expect("valid JSON"),
        1
    );
    let event = h
        .until(
            "USER_UPDATE",
            |e| matches!(e, ShardEvent::Dispatch(d) if d.name() == "USER_UPDATE"),
        )
        .await;
    let ShardEvent::Dispatch(dispatch) = event else {
        unreachable!()
    };
    assert_eq!(dispatch.data(), raw.as_bytes());

    send_numbers(&sim, 0..3);
    h.numbers(3).await;
    sim.fault(Fault::Reconnect);
    send_numbers(&sim, 3..5);
    h.resumed().await;
    h.numbers(5).await;

    // A heartbeat answered on the resumed connection makes it stable, so the resume after the
    // drop comes at once.
    let beats = sim.counters().heartbeat_acks;
    h.until_sim(&sim, "a heartbeat ACK after RESUMED", || {
        sim.counters().heartbeat_acks > beats
    })
    .await;
    sim.fault(Fault::DropTcp);
    send_numbers(&sim, 5..10);
    let replayed = h.resumed().await;
    assert!(replayed >= 1, "events sent during the drop were replayed");
    h.numbers(10).await;
    assert_exactly_once(&h.seen.numbers, 10);

    let causes: Vec<_> = h.seen.disconnects.iter().map(|(c, _)| *c).collect();
    assert_eq!(
        causes,
        [DisconnectCause::Reconnect, DisconnectCause::TransportLost]
    );
    let c = sim.counters();
    assert_eq!(
        (
            c.identifies,
            c.resumed,
            c.tcp_drops,
            c.tls_handshake_failures
        ),
        (1, 2, 1, 0),
        "{c:?}"
    );
    let endpoints: Vec<_> = sim.connections().iter().map(|c| c.endpoint).collect();
    use discord_gateway_sim::Endpoint;
    assert_eq!(
        endpoints,
        [Endpoint::Main, Endpoint::Resume, Endpoint::Resume]
    );
    assert_all_tls(&sim);
}

/// zlib-stream inside TLS, payloads split across websocket messages, across a reconnect.
pub async fn trusted_wss_zlib_stream<R: Runtime + Default>() {
    let ca = discord_gateway_sim::TestCa::generate().expect("a test CA");
    let sim = start(sim_builder().tls(&ca).zlib_split(Some(100)));
    let mut h = Harness::<R>::build(
        trusting(&sim, &ca).configure(|c| c.compression(Compression::ZlibStream)),
    );
    h.ready().await;
    send_numbers(&sim, 0..50);
    sim.guild_create(500);
    sim.fault(Fault::Reconnect);
    send_numbers(&sim, 50..100);
    h.resumed().await;
    h.numbers(100).await;
    assert_exactly_once(&h.seen.numbers, 100);
    assert!(h.seen.malformed.is_empty(), "{:?}", h.seen.malformed);
    assert!(
        h.seen.largest > 100_000,
        "the 500-member GUILD_CREATE ({} bytes)",
        h.seen.largest
    );
    for conn in sim.connections() {
        assert!(
            conn.query.contains("compress=zlib-stream"),
            "{}",
            conn.query
        );
    }
    assert_all_tls(&sim);
}

/// The shard trusts a CA, but not the one that signed the sim's certificate; or the CA that
/// did, for a certificate naming another host than the one dialled: either way every dial
/// fails at the TLS handshake, with the certificate named in the error, and no websocket
/// (nor the token) ever reaches the sim.
pub async fn wrong_ca_or_wrong_host_name_never_gets_a_session<R: Runtime + Default>() {
    let sim_ca = discord_gateway_sim::TestCa::generate().expect("a test CA");
    let other_ca = discord_gateway_sim::TestCa::generate().expect("a test CA");
    let elsewhere =
        discord_gateway_sim::TestCa::generate_for(&["gateway.example.com"]).expect("a test CA");
    for (served, trusted, why) in [
        // Both test CAs have the same name, so rustls reports a bad signature or an unknown
        // issuer, depending on which check it reaches first.
        (&sim_ca, &other_ca, "invalid peer certificate"),
        (&elsewhere, &elsewhere, "not valid for name"),
    ] {
        let sim = start(sim_builder().tls(served));
        let mut h = Harness::<R>::build(trusting(&sim, trusted));
        for _ in 0..2 {
            let event = h
                .until("a failed dial", |event| {
                    assert!(
                        !matches!(event, ShardEvent::Connected { .. }),
                        "{why}: connected to a server it must not trust: {event:?}"
                    );
                    matches!(
                        event,
                        ShardEvent::Session(SessionEvent::Disconnected { .. }, _)
                    )
                })
                .await;
            let ShardEvent::Session(SessionEvent::Disconnected { cause, .. }, error) = event else {
                unreachable!()
            };
            assert_eq!(cause, DisconnectCause::DialFailed, "{why}");
            let error = error.expect("a failed dial carries its error").to_string();
            assert!(
                error.contains("certificate") && error.contains(why),
                "{why}: {error}"
            );
            assert!(!error.contains(TOKEN), "{error}");
        }
        h.until_sim(&sim, "the refused handshakes at the sim", || {
            sim.counters().tls_handshake_failures >= 2
        })
        .await;
        let c = sim.counters();
        assert_eq!(
            (c.connections, c.identifies, c.resumes),
            (0, 0, 0),
            "{why}: {c:?}"
        );
    }
}
