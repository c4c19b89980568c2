//! A deterministic runtime for tests: in-memory websockets and a manual clock.
//!
//! [`TestRuntime`] implements [`Runtime`] with sockets that are two queues in memory and a clock
//! that only moves when the test says so. A test plays the gateway through the [`TestServer`]
//! end of each connection the shard dials, polls the shard with [`TestRuntime::poll`] (which
//! never blocks), and jumps the clock to the next deadline with
//! [`TestRuntime::advance_to_next_deadline`]. Minutes of heartbeats, zombie checks and backoff
//! run in microseconds, and the same test gives the same transcript every time.
//!
//! ```
//! use discord_gateway_driver::testing::TestRuntime;
//! use discord_gateway_driver::{ShardBuilder, ShardEvent};
//! use discord_gateway_driver::discord_gateway::Token;
//!
//! let rt = TestRuntime::new();
//! let token = Token::new("Bot test-token")?;
//! let mut shard = ShardBuilder::new(rt.clone(), token).seed(1).build()?;
//! // The shard dials at once; an in-memory dial completes at once.
//! assert!(matches!(rt.poll(&mut shard)[..], [Ok(ShardEvent::Connected { resume: false })]));
//! let server = rt.accept().expect("the shard dialled");
//! server.send_text(r#"{"op":10,"d":{"heartbeat_interval":41250}}"#);
//! rt.poll(&mut shard);
//! let identify = server.received_text();
//! assert!(identify[0].starts_with(r#"{"op":2,"#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Sink, Stream};

use crate::transport::{ConnectOptions, Frame, TransportError};
use crate::{Runtime, Timer};

/// A runtime with in-memory sockets and a manual clock. Clones share the clock and the sockets.
#[derive(Clone, Debug)]
pub struct TestRuntime {
    shared: Arc<Mutex<World>>,
}

impl Default for TestRuntime {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Debug)]
struct World {
    origin: Instant,
    elapsed: Duration,
    next_sleeper: u64,
    sleepers: Vec<Sleeper>,
    /// How many sleeps and timers were made.
    timers_made: u64,
    /// Server ends of connections dialled and not yet taken by the test.
    accepted: VecDeque<TestServer>,
    /// Every dial's options, in order.
    dials: Vec<ConnectOptions>,
    /// How many of the next dials fail at once.
    refuse: u32,
    /// How many of the next dials never complete.
    hang: u32,
    /// How many of the next dials complete only after a while, and how long.
    delay: (u32, Duration),
}

#[derive(Debug)]
struct Sleeper {
    id: u64,
    deadline: Instant,
    waker: Option<Waker>,
}

impl World {
    fn now(&self) -> Instant {
        self.origin + self.elapsed
    }
}

impl TestRuntime {
    /// A runtime whose clock stands still until [`TestRuntime::advance`].
    #[must_use]
    pub fn new() -> Self {
        Self {
            shared: Arc::new(Mutex::new(World {
                origin: Instant::now(),
                elapsed: Duration::ZERO,
                next_sleeper: 0,
                sleepers: Vec::new(),
                timers_made: 0,
                accepted: VecDeque::new(),
                dials: Vec::new(),
                refuse: 0,
                hang: 0,
                delay: (0, Duration::ZERO),
            })),
        }
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How far the clock has moved since the runtime was made.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        self.world().elapsed
    }

    /// Moves the clock forward, waking every sleep that is due.
    pub fn advance(&self, by: Duration) {
        let wakers: Vec<Waker> = {
            let mut world = self.world();
            world.elapsed += by;
            let now = world.now();
            world
                .sleepers
                .iter_mut()
                .filter(|sleeper| sleeper.deadline <= now)
                .filter_map(|sleeper| sleeper.waker.take())
                .collect()
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// The earliest deadline anyone sleeps until, if anyone sleeps.
    #[must_use]
    pub fn next_deadline(&self) -> Option<Instant> {
        self.world().sleepers.iter().map(|s| s.deadline).min()
    }

    /// Moves the clock to the earliest deadline anyone sleeps until, and returns how far it
    /// moved (`None`, and no move, when nobody sleeps).
    pub fn advance_to_next_deadline(&self) -> Option<Duration> {
        let deadline = self.next_deadline()?;
        let by = deadline.saturating_duration_since(self.world().now());
        self.advance(by);
        Some(by)
    }

    /// How many sleeps ([`Runtime::sleep_until`]) and timers ([`Runtime::timer`]) were made on
    /// this runtime so far. A shard makes one timer and moves it from deadline to deadline.
    #[must_use]
    pub fn timers_made(&self) -> u64 {
        self.world().timers_made
    }

    /// The server end of the oldest connection dialled and not yet taken.
    #[must_use]
    pub fn accept(&self) -> Option<TestServer> {
        self.world().accepted.pop_front()
    }

    /// The options of every dial so far, in order.
    #[must_use]
    pub fn dials(&self) -> Vec<ConnectOptions> {
        self.world().dials.clone()
    }

    /// Makes the next `count` dials fail at once.
    pub fn refuse_dials(&self, count: u32) {
        self.world().refuse = count;
    }

    /// Makes the next `count` dials never complete (for connect timeouts).
    pub fn hang_dials(&self, count: u32) {
        self.world().hang = count;
    }

    /// Makes the next `count` dials complete (open) only once the clock has moved `by` past
    /// the dial: for what happens while a connection is being dialled.
    pub fn delay_dials(&self, count: u32, by: Duration) {
        self.world().delay = (count, by);
    }

    /// Polls `stream` until it has nothing ready, and returns what it yielded. Never blocks:
    /// what is pending stays pending until the test moves the clock or a server end.
    pub fn poll<S: Stream + Unpin>(&self, stream: &mut S) -> Vec<S::Item> {
        let mut cx = Context::from_waker(Waker::noop());
        let mut items = Vec::new();
        while let Poll::Ready(Some(item)) = Pin::new(&mut *stream).poll_next(&mut cx) {
            items.push(item);
        }
        items
    }

    /// Polls a future once with a waker that does nothing.
    pub fn poll_once<F: Future + Unpin>(&self, future: &mut F) -> Poll<F::Output> {
        let mut cx = Context::from_waker(Waker::noop());
        Pin::new(future).poll(&mut cx)
    }

    /// A sleep on the manual clock, registered so the test can see its deadline.
    fn sleep(&self, deadline: Instant) -> TestSleep {
        let mut world = self.world();
        let id = world.next_sleeper;
        world.next_sleeper += 1;
        world.timers_made += 1;
        world.sleepers.push(Sleeper {
            id,
            deadline,
            waker: None,
        });
        TestSleep {
            runtime: self.clone(),
            id,
            deadline,
        }
    }
}

impl Runtime for TestRuntime {
    type Socket = TestSocket;

    fn connect(
        &self,
        options: ConnectOptions,
    ) -> impl Future<Output = Result<TestSocket, TransportError>> + Send + 'static {
        let mut world = self.world();
        world.dials.push(options);
        let delay = match world.delay {
            (0, _) => None,
            (count, by) => {
                world.delay = (count - 1, by);
                Some(world.now() + by)
            }
        };
        drop(world);
        let delay = delay.map(|at| self.sleep_until(at));
        let mut world = self.world();
        let outcome = if world.hang > 0 {
            world.hang -= 1;
            None
        } else if world.refuse > 0 {
            world.refuse -= 1;
            // What an OS reports for a port nobody listens on.
            Some(Err(TransportError::Other(Box::new(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "connection refused (test)",
            )))))
        } else {
            let pipe = Arc::new(Mutex::new(Pipe::default()));
            world.accepted.push_back(TestServer {
                pipe: Arc::clone(&pipe),
            });
            Some(Ok(TestSocket { pipe }))
        };
        async move {
            if let Some(delay) = delay {
                delay.await;
            }
            match outcome {
                Some(result) => result,
                None => std::future::pending().await,
            }
        }
    }

    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send + 'static {
        self.sleep(deadline)
    }

    fn timer(&self, deadline: Instant) -> Pin<Box<dyn Timer>> {
        Box::pin(TestTimer(self.sleep(deadline)))
    }

    fn now(&self) -> Instant {
        self.world().now()
    }
}

/// A timer on the manual clock: a sleep whose deadline moves.
struct TestTimer(TestSleep);

impl Timer for TestTimer {
    fn reset(self: Pin<&mut Self>, deadline: Instant) {
        let sleep = &mut self.get_mut().0;
        sleep.deadline = deadline;
        let mut world = sleep.runtime.world();
        if let Some(sleeper) = world.sleepers.iter_mut().find(|s| s.id == sleep.id) {
            sleeper.deadline = deadline;
        }
    }

    fn poll_expired(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.get_mut().0).poll(cx)
    }
}

/// A sleep on the manual clock.
struct TestSleep {
    runtime: TestRuntime,
    id: u64,
    deadline: Instant,
}

impl Future for TestSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut world = self.runtime.world();
        if world.now() >= self.deadline {
            return Poll::Ready(());
        }
        if let Some(sleeper) = world.sleepers.iter_mut().find(|s| s.id == self.id) {
            sleeper.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl Drop for TestSleep {
    fn drop(&mut self) {
        self.runtime.world().sleepers.retain(|s| s.id != self.id);
    }
}

/// Both directions of one in-memory connection.
#[derive(Debug, Default)]
struct Pipe {
    /// Frames (or an error) on their way to the client.
    to_client: VecDeque<Result<Frame, TransportError>>,
    /// The server ended the connection: the client reads the end after `to_client`.
    server_gone: bool,
    read_waker: Option<Waker>,
    /// Frames the client handed over and has not flushed.
    buffered: Vec<Frame>,
    /// Frames that reached the server.
    delivered: VecDeque<Frame>,
    /// Everything the client ever delivered, in order.
    transcript: Vec<Frame>,
    /// While set, the client's writes wait (a peer that does not read).
    stalled: bool,
    write_waker: Option<Waker>,
    /// The client dropped its end.
    client_gone: bool,
}

/// The client end of an in-memory connection: what the shard holds.
#[derive(Debug)]
pub struct TestSocket {
    pipe: Arc<Mutex<Pipe>>,
}

/// The server end of an in-memory connection: what the test plays the gateway with.
#[derive(Clone, Debug)]
pub struct TestServer {
    pipe: Arc<Mutex<Pipe>>,
}

fn lock(pipe: &Mutex<Pipe>) -> MutexGuard<'_, Pipe> {
    pipe.lock().unwrap_or_else(PoisonError::into_inner)
}

impl TestServer {
    /// Sends a frame to the client.
    pub fn send(&self, frame: Frame) {
        self.to_client(|pipe| pipe.to_client.push_back(Ok(frame)));
    }

    /// Changes what the client reads, and wakes it.
    fn to_client(&self, change: impl FnOnce(&mut Pipe)) {
        let waker = {
            let mut pipe = lock(&self.pipe);
            change(&mut pipe);
            pipe.read_waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Sends a text message.
    pub fn send_text(&self, text: &str) {
        self.send(Frame::Text(Bytes::copy_from_slice(text.as_bytes())));
    }

    /// Sends a close frame with `code`, then ends the connection.
    pub fn close(&self, code: u16) {
        self.send(Frame::Close(Some(code)));
        self.hang_up();
    }

    /// Ends the connection without a close frame (a dropped TCP connection).
    pub fn hang_up(&self) {
        self.to_client(|pipe| pipe.server_gone = true);
    }

    /// Fails the client's next read with `error`.
    pub fn fail(&self, error: TransportError) {
        self.to_client(|pipe| pipe.to_client.push_back(Err(error)));
    }

    /// Stops (or resumes) reading: while stalled, the client's writes wait.
    pub fn stall_writes(&self, stalled: bool) {
        let waker = {
            let mut pipe = lock(&self.pipe);
            pipe.stalled = stalled;
            pipe.write_waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The frames that reached the server since the last call.
    #[must_use]
    pub fn received(&self) -> Vec<Frame> {
        lock(&self.pipe).delivered.drain(..).collect()
    }

    /// The text frames that reached the server since the last call, as strings.
    #[must_use]
    pub fn received_text(&self) -> Vec<String> {
        self.received()
            .into_iter()
            .filter_map(|frame| match frame {
                Frame::Text(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
                _ => None,
            })
            .collect()
    }

    /// Every frame that ever reached the server on this connection, in order.
    #[must_use]
    pub fn transcript(&self) -> Vec<Frame> {
        lock(&self.pipe).transcript.clone()
    }

    /// Whether the client dropped its end.
    #[must_use]
    pub fn client_gone(&self) -> bool {
        lock(&self.pipe).client_gone
    }
}

impl Stream for TestSocket {
    type Item = Result<Frame, TransportError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut pipe = lock(&self.pipe);
        if let Some(item) = pipe.to_client.pop_front() {
            return Poll::Ready(Some(item));
        }
        if pipe.server_gone {
            return Poll::Ready(None);
        }
        pipe.read_waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Sink<Frame> for TestSocket {
    type Error = TransportError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let mut pipe = lock(&self.pipe);
        if pipe.server_gone {
            return Poll::Ready(Err(TransportError::Closed));
        }
        // Like a websocket with no write buffer: one frame waits at most.
        if pipe.stalled && !pipe.buffered.is_empty() {
            pipe.write_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, frame: Frame) -> Result<(), Self::Error> {
        lock(&self.pipe).buffered.push(frame);
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        let mut pipe = lock(&self.pipe);
        if pipe.server_gone {
            return Poll::Ready(Err(TransportError::Closed));
        }
        if pipe.stalled {
            pipe.write_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let frames: Vec<Frame> = pipe.buffered.drain(..).collect();
        pipe.transcript.extend(frames.iter().cloned());
        pipe.delivered.extend(frames);
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.poll_flush(cx)
    }
}

impl Drop for TestSocket {
    fn drop(&mut self) {
        lock(&self.pipe).client_gone = true;
    }
}
