//! A write that stalls (a peer that stops reading) is given up after `WRITE_TIMEOUT` on the
//! virtual clock, in both loops, and the session resumes on a new connection: heartbeats never
//! silently stop.

mod common;

use std::cell::Cell;
use std::ops::ControlFlow;
use std::rc::Rc;
use std::sync::mpsc;
use std::task::Poll;
use std::time::Duration;

use common::describe;
use common::script::{Script, HELLO};
use discord_gateway_embedded::replay::{Replay, ReplayError, ReplaySocket, SeededEntropy};
use discord_gateway_embedded::{
    BlockingConnector, Buffers, Client, Clock, Config, ConnectionError, Connector, Event,
    GatewayUrl, Instant, Received, TimeoutSocket, Timer, Token, SEND_BUFFER_LEN, WRITE_TIMEOUT,
};
use embedded_io::ErrorKind;

const SEED: u64 = 0x5eed;
const START: Instant = Instant::from_millis(1_000);

fn config() -> Config {
    Config::builder(Token::new(common::TOKEN).unwrap())
        .gateway_url("ws://gateway.test")
        .seed(3)
        .build()
        .unwrap()
}

/// Identify and READY; the first heartbeat's write stalls; then the resume on a new
/// connection.
fn script() -> Script {
    let mut script = Script::new(SEED);
    script
        .connect("gateway.test")
        .identify("s1")
        // The heartbeat reaches the peer's buffer, but the write never completes.
        .client_text(r#"{"op":1,"d":1}"#)
        .connect("resume.gateway.test")
        .server_text(HELLO)
        .client_text_starting(r#"{"op":6,"d":{"#)
        .server_text(r#"{"t":"RESUMED","s":2,"op":0,"d":{}}"#);
    script
}

/// The virtual clock, shared by the timer and the sockets (which say when a write stalled).
#[derive(Clone)]
struct Shared {
    now: Rc<Cell<Instant>>,
    stalled_at: Rc<Cell<Option<Instant>>>,
}

impl Shared {
    fn new() -> Self {
        Self {
            now: Rc::new(Cell::new(START)),
            stalled_at: Rc::new(Cell::new(None)),
        }
    }
}

impl Timer for Shared {
    fn now(&mut self) -> Instant {
        self.now.get()
    }

    async fn sleep_until(&mut self, at: Instant) {
        self.now.set(self.now.get().max(at));
    }
}

impl Clock for Shared {
    fn now(&mut self) -> Instant {
        self.now.get()
    }

    fn sleep_until(&mut self, at: Instant) {
        self.now.set(self.now.get().max(at));
    }
}

/// The replay, with the third write of the first connection (the first heartbeat, after the
/// upgrade request and Identify) never completing: its bytes reach the replay, the write call
/// never returns (async) or times out (blocking).
struct Stalling<'r> {
    replay: Replay<'r>,
    connections: usize,
    shared: Shared,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

impl<'r> Stalling<'r> {
    fn new(records: &'r [u8], shared: Shared) -> Self {
        Self {
            replay: Replay::new(records),
            connections: 0,
            shared,
            read_timeout: None,
            write_timeout: None,
        }
    }
}

struct StallingSocket<'a, 'r> {
    inner: ReplaySocket<'a, 'r>,
    writes_left: Option<usize>,
    shared: Shared,
    read_timeout: &'a mut Option<Duration>,
    write_timeout: &'a mut Option<Duration>,
}

impl StallingSocket<'_, '_> {
    /// Whether this write stalls (and notes when).
    fn stalls(&mut self) -> bool {
        match &mut self.writes_left {
            Some(0) => {
                if self.shared.stalled_at.get().is_none() {
                    self.shared.stalled_at.set(Some(self.shared.now.get()));
                }
                true
            }
            Some(left) => {
                *left -= 1;
                false
            }
            None => false,
        }
    }
}

impl<'r> Connector for Stalling<'r> {
    type Socket<'a>
        = StallingSocket<'a, 'r>
    where
        Self: 'a;
    type Error = ReplayError;

    async fn connect<'a>(&'a mut self, url: &GatewayUrl) -> Result<Self::Socket<'a>, ReplayError> {
        self.connections += 1;
        let writes_left = (self.connections == 1).then_some(2);
        let inner = self.replay.connect(url).await?;
        Ok(StallingSocket {
            inner,
            writes_left,
            shared: self.shared.clone(),
            read_timeout: &mut self.read_timeout,
            write_timeout: &mut self.write_timeout,
        })
    }
}

impl embedded_io::ErrorType for StallingSocket<'_, '_> {
    type Error = ErrorKind;
}

impl embedded_io_async::Read for StallingSocket<'_, '_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        self.inner
            .read(buf)
            .await
            .map_err(|_| ErrorKind::InvalidData)
    }
}

impl embedded_io_async::Write for StallingSocket<'_, '_> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        let stalls = self.stalls();
        let written = self
            .inner
            .write(buf)
            .await
            .map_err(|_| ErrorKind::InvalidData);
        if stalls {
            // The peer stopped reading: this write never completes.
            return std::future::pending().await;
        }
        written
    }

    async fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

/// The blocking view of the same socket: what an OS socket with timeouts does, on the virtual
/// clock (a read or write that would wait past its timeout returns `TimedOut` then).
impl embedded_io::Read for StallingSocket<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        match embassy_futures::poll_once(embedded_io_async::Read::read(&mut self.inner, buf)) {
            Poll::Ready(read) => read.map_err(|_| ErrorKind::InvalidData),
            Poll::Pending => {
                let timeout = self
                    .read_timeout
                    .expect("a read with no timeout never ends");
                self.shared.now.set(self.shared.now.get() + timeout);
                Err(ErrorKind::TimedOut)
            }
        }
    }
}

impl embedded_io::Write for StallingSocket<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        let stalls = self.stalls();
        let written =
            embassy_futures::block_on(embedded_io_async::Write::write(&mut self.inner, buf))
                .map_err(|_| ErrorKind::InvalidData);
        if stalls {
            let timeout = self
                .write_timeout
                .expect("a write with no timeout blocks forever: the loop must bound it");
            self.shared.now.set(self.shared.now.get() + timeout);
            return Err(ErrorKind::TimedOut);
        }
        written
    }

    fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

impl TimeoutSocket for StallingSocket<'_, '_> {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<(), ErrorKind> {
        *self.read_timeout = timeout;
        Ok(())
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> Result<(), ErrorKind> {
        *self.write_timeout = timeout;
        Ok(())
    }
}

impl<'r> BlockingConnector for Stalling<'r> {
    type Socket<'a>
        = StallingSocket<'a, 'r>
    where
        Self: 'a;
    type Error = ReplayError;

    fn connect(&mut self, url: &GatewayUrl) -> Result<StallingSocket<'_, 'r>, ReplayError> {
        embassy_futures::block_on(Connector::connect(self, url))
    }
}

/// What a run saw: the log, and when the connection was given up.
struct Outcome {
    log: Vec<String>,
    lost_at: Option<Instant>,
    stalled_at: Option<Instant>,
    replay_ok: bool,
    mismatch: Option<String>,
}

fn run(blocking: bool) -> Outcome {
    let script = script();
    let shared = Shared::new();
    let mut connector = Stalling::new(&script.records, shared.clone());
    let mut clock = shared.clone();
    let (mut rx, mut tx) = (vec![0u8; 2048], [0u8; SEND_BUFFER_LEN]);
    let buffers = Buffers {
        rx: &mut rx,
        tx: &mut tx,
    };
    let mut client = Client::new(config(), buffers, SeededEntropy::new(SEED)).unwrap();
    let mut log = Vec::new();
    let mut lost_at = None;
    let handler = |context: &mut discord_gateway_embedded::Context<'_>, received: Received<'_>| {
        log.push(describe(&received));
        match received {
            Received::ConnectionLost(ConnectionError::WriteTimeout) => {
                lost_at = Some(context.now());
                ControlFlow::Continue(())
            }
            Received::Event(Event::Resumed { .. }) => ControlFlow::Break(()),
            _ if log.len() > 50 => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        }
    };
    let result = if blocking {
        client.run_blocking(&mut connector, &mut clock, handler)
    } else {
        embassy_futures::block_on(client.run(&mut connector, &mut clock, handler))
    };
    result.unwrap();
    Outcome {
        log,
        lost_at,
        stalled_at: shared.stalled_at.get(),
        replay_ok: connector.replay.mismatch().is_none() && connector.replay.finished(),
        mismatch: connector
            .replay
            .mismatch()
            .map(|m| format!("{m:?} finished={}", connector.replay.finished())),
    }
}

/// Runs a loop on its own thread: a loop that waits on the stalled write forever fails the
/// test instead of hanging it.
fn run_with_a_real_time_limit(blocking: bool) -> Outcome {
    let (done, outcome) = mpsc::channel();
    std::thread::spawn(move || {
        let outcome = run(blocking);
        let _ = done.send(outcome);
    });
    outcome
        .recv_timeout(Duration::from_secs(10))
        .expect("the loop waited on the stalled write forever")
}

fn check(outcome: &Outcome) {
    let log = &outcome.log;
    assert!(
        outcome.replay_ok,
        "the client departed from the script: {log:#?} {:?}",
        outcome.mismatch
    );
    let stalled_at = outcome.stalled_at.expect("the heartbeat's write stalled");
    assert!(
        stalled_at > START,
        "the first heartbeat is jittered after READY"
    );
    assert_eq!(
        outcome.lost_at,
        Some(stalled_at + WRITE_TIMEOUT),
        "the connection is given up exactly at the write deadline: {log:#?}"
    );
    let lost = log
        .iter()
        .position(|line| line == "lost WriteTimeout")
        .expect("the stalled write is reported");
    assert_eq!(
        log.last().unwrap(),
        "event Resumed { replayed: 0 }",
        "{log:#?}"
    );
    assert!(
        log[lost..]
            .iter()
            .any(|line| line.starts_with("disconnected") && line.ends_with("-> resume")),
        "{log:#?}"
    );
}

#[test]
fn the_async_loop_gives_up_a_stalled_write_at_its_deadline_and_resumes() {
    check(&run_with_a_real_time_limit(false));
}

#[test]
fn the_blocking_loop_bounds_a_stalled_write_and_resumes() {
    check(&run_with_a_real_time_limit(true));
}
