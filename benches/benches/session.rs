//! Benchmark 3: state-machine overhead per dispatch.
//!
//! A live session (Hello, Identify, READY done) takes one MESSAGE_CREATE (the payload example,
//! 3 KB) per iteration through `handle_message`, then is drained the documented way
//! (`poll_transmit`, `poll_event`, `poll_connect`) as a driver would after every input. Each
//! message carries the next sequence number, written into a fixed-width, space-padded `s`
//! field of one buffer (JSON allows the spaces), so the session sees an ordinary stream.
//!
//! Allocations are counted with a per-thread counting allocator over 100,000 dispatches before
//! the timing starts: the core must make none. The adapters' allocations per dispatch are
//! measured over the loopback by the `e2e` bench (column "allocs/event").
//!
//! `cargo bench -p discord-gateway-benches --bench session`
#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use discord_gateway::protocol::{EventSet, EventType};
use discord_gateway::session::{Config, Event, Message, SendBuffer, Session, Transmit};
use discord_gateway::{Instant, Token};
use discord_gateway_benches::alloc::{self, CountingAlloc};
use discord_gateway_benches::corpus::example_data;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const SEQ_WIDTH: usize = 20;

/// A dispatch whose `s` can be rewritten in place.
struct Stream {
    buf: Vec<u8>,
    seq_at: usize,
    seq: u64,
}

impl Stream {
    fn new(name: &str, data: &str) -> Self {
        let head = format!(r#"{{"t":"{name}","s":"#);
        let seq_at = head.len();
        let mut buf = head.into_bytes();
        buf.extend_from_slice(&[b' '; SEQ_WIDTH]);
        buf.extend_from_slice(br#","op":0,"d":"#);
        buf.extend_from_slice(data.as_bytes());
        buf.push(b'}');
        Self {
            buf,
            seq_at,
            seq: 1,
        }
    }

    /// The next message: `s` one more than the last.
    fn next(&mut self) -> &[u8] {
        self.seq += 1;
        let field = &mut self.buf[self.seq_at..self.seq_at + SEQ_WIDTH];
        let mut n = self.seq;
        for byte in field.iter_mut().rev() {
            *byte = if n == 0 {
                b' '
            } else {
                let digit = b'0' + u8::try_from(n % 10).unwrap_or(0);
                n /= 10;
                digit
            };
        }
        &self.buf
    }
}

/// Everything a driver does with the outputs after an input; returns how many there were.
fn drain(session: &mut Session, now: Instant, buf: &mut SendBuffer) -> usize {
    let mut outputs = 0;
    while let Some(transmit) = session.poll_transmit(now, buf) {
        black_box(&transmit);
        outputs += 1;
    }
    while let Some(event) = session.poll_event() {
        black_box(&event);
        outputs += 1;
    }
    if session.poll_connect(now).is_some() {
        outputs += 1;
    }
    outputs
}

/// A session that is READY, wanting only MESSAGE_CREATE.
fn live_session(now: Instant, buf: &mut SendBuffer) -> Session {
    let token = Token::new("sim-token").expect("token");
    let config = Config::builder(token)
        .events(EventSet::EMPTY.with(EventType::MessageCreate))
        .seed(7)
        .build()
        .expect("config");
    let mut session = Session::new(config);
    assert!(session.poll_connect(now).is_some());
    session.handle_open(now);
    let hello = br#"{"t":null,"s":null,"op":10,"d":{"heartbeat_interval":41250}}"#;
    session
        .handle_message(now, Message::Text(hello))
        .expect("hello");
    assert_eq!(session.poll_event(), Some(Event::IdentifyPermitNeeded));
    session.handle_identify_permit(now);
    assert!(matches!(
        session.poll_transmit(now, buf),
        Some(Transmit::Text(_))
    ));
    let ready = br#"{"t":"READY","s":1,"op":0,"d":{"session_id":"abc","resume_gateway_url":"wss://gateway-us-east1-b.discord.gg"}}"#;
    session
        .handle_message(now, Message::Text(ready))
        .expect("ready");
    assert_eq!(session.poll_event(), Some(Event::Ready));
    assert_eq!(drain(&mut session, now, buf), 0);
    session
}

fn one(session: &mut Session, stream: &mut Stream, now: Instant, buf: &mut SendBuffer) -> usize {
    let message = stream.next();
    let dispatch = session
        .handle_message(now, Message::Text(message))
        .expect("valid");
    let len = dispatch.map_or(0, |d| black_box(d.data()).len());
    len + drain(session, now, buf)
}

fn session(c: &mut Criterion) {
    let data = example_data("message_create");
    let now = Instant::from_millis(1_000);
    let mut buf: SendBuffer = [0; 4096];
    println!(
        "size_of::<Session>() = {} bytes",
        std::mem::size_of::<Session>()
    );

    for (label, name, wanted) in [
        ("dispatch_wanted", "MESSAGE_CREATE", true),
        ("dispatch_unwanted", "TYPING_START", false),
    ] {
        let mut session = live_session(now, &mut buf);
        let mut stream = Stream::new(name, &data);
        let dispatches = 100_000u64;
        let (_, allocations) = alloc::count(|| {
            for _ in 0..dispatches {
                let len = one(&mut session, &mut stream, now, &mut buf);
                assert_eq!(len > 0, wanted, "the filter decides");
            }
        });
        println!(
            "core {label}: {allocations} allocations over {dispatches} dispatches ({} per dispatch)",
            allocations as f64 / dispatches as f64
        );
        assert_eq!(allocations, 0, "the core allocated");
        assert_eq!(session.seq(), Some(stream.seq));

        let mut group = c.benchmark_group("session");
        group.throughput(Throughput::Elements(1));
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(3));
        group.bench_function(label, |b| {
            b.iter(|| one(&mut session, &mut stream, now, &mut buf));
        });
        group.finish();
    }
}

criterion_group!(benches, session);
criterion_main!(benches);
