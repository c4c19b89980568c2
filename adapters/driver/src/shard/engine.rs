//! The driver loop: one shard, any runtime, no background tasks, one `poll_next`.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use discord_gateway::codec::{read_head, PrefixHead};
use discord_gateway::command::{Encode, MAX_PAYLOAD_LEN};
use discord_gateway::protocol::{CloseCode, ShardId};
use discord_gateway::session::{
    CloseKind, Config, Event, Message, ResumeState, SendBuffer, SendError, Session, State, Stop,
    Transmit,
};
use discord_gateway::Instant as CoreInstant;
use futures_channel::mpsc;
use futures_util::{Stream, StreamExt};

use crate::fleet::identify::{IdentifyQueue, Permit};
use crate::metrics::ShardMetrics;
use crate::runtime::Timer;
use crate::shard::clock::Clock;
use crate::shard::event::{Dispatch, ErrorChain, MessageError, ShardError, ShardEvent};
use crate::shard::link::{Closing, Dial, Link};
use crate::shard::sender::{Encoded, Outgoing, QueueError, ShardSender};
use crate::shard::status::{ConnectionError, ConnectionErrorKind, ShardStatus, Track};
use crate::transport::inflate::{InflateError, Inflater};
use crate::transport::{ConnectOptions, Frame, TransportError, USER_AGENT};
use crate::Runtime;

thread_local! {
    /// Where the session encodes its own messages: one buffer per thread rather than one per
    /// shard. Each use copies the bytes out before the borrow ends, so shards on a thread never
    /// hold it at the same time, and a thousand idle shards keep 4 KiB for it instead of 4 MiB.
    static SEND_BUFFER: RefCell<Box<SendBuffer>> = RefCell::new(Box::new([0; MAX_PAYLOAD_LEN]));
}

/// Whether the current connection can take a frame.
enum Writable {
    Ready,
    /// The socket has not taken the last frame yet; it wakes the task when it does.
    Waiting,
    /// The connection failed and is gone.
    Failed,
    NoLink,
}

/// How many inputs a shard handles after a deadline passed before it handles the deadline:
/// enough to read what was already waiting when a shard is polled late, few enough that a
/// connection that never falls quiet cannot keep a deadline from being noticed.
const INPUT_BUDGET: u32 = 32;

/// The deadlines a shard keeps, read once per look at the timer.
struct Deadlines {
    session: Option<Instant>,
    dial: Option<Instant>,
    write: Option<Instant>,
    closing: Option<Instant>,
}

impl Deadlines {
    fn earliest(&self) -> Option<Instant> {
        [self.session, self.dial, self.write, self.closing]
            .into_iter()
            .flatten()
            .min()
    }
}

/// What the driver decides for every connection, shared by the shards one builder made.
#[derive(Debug)]
pub(crate) struct Limits {
    pub(crate) connect_timeout: Duration,
    pub(crate) max_message_size: usize,
    pub(crate) read_buffer_size: usize,
    pub(crate) trust: crate::transport::Trust,
}

/// One gateway shard on runtime `R`, and a [`Stream`] of its events.
///
/// All work happens while it is polled (through [`Stream::poll_next`], or
/// [`Shard::next_event`]): there are no background tasks, so the application decides where and
/// when the shard runs. Between polls nothing happens, so poll it continuously (heartbeats are
/// due every ~41 s).
///
/// **Cancel-safe.** The shard keeps no future across polls that owns a message, a command or a
/// permit: a command leaves the queue only when the socket has taken it, a heartbeat or
/// Identify is taken from the session only when the socket can take it, and a dropped
/// `next_event()` (say, in `tokio::select!` while a write waits on a full TCP buffer) sends
/// nothing twice and loses nothing.
///
/// # Commands
///
/// Commands queued with [`Shard::send`] or a [`ShardSender`] go out in the order they were
/// queued, each at most once, as the rate limit allows:
///
/// - **Only on a live session**: after READY or RESUMED, never before Identify or Resume, and
///   never on a connection the gateway has left. The shard reads what has already arrived
///   before it writes a command, so a command queued just before an op 7 (Reconnect) or op 9
///   (Invalid Session) waits instead of being lost with the old connection or refused with 4003.
/// - **Across cancellation, reconnects and resumes** a command stays queued until the socket
///   has taken it, and goes out on the next connection after RESUMED.
/// - **When the session is lost** (op 9 `false`, close 4007 or 4009, ...) the shard identifies
///   a new one, and the commands still queued go out on it after its READY, whatever session
///   they were queued under (a presence update then applies to the new session).
/// - **When the shard stops** ([`Shard::close`], [`ShardSender::close`], a fatal close code) the
///   commands not yet sent are dropped with a warning that counts them, and from then on
///   [`Shard::send`] and [`ShardSender::send`] return [`QueueError::ShardGone`]. A connection
///   the shard closes itself (op 7, a zombie, a close) first flushes what was already written
///   to it and its close frame, within 2 s.
///
/// One window is left that no client can close: a command written in the same instant as
/// the gateway sends op 7 crosses it on the wire, and Discord may drop it with that
/// connection. The gateway acknowledges no command, so the shard cannot tell, and it does not
/// send a command twice.
///
/// Several shards in one task: put them in `futures::stream::SelectAll`; its `iter_mut` keeps
/// every shard's handle ([`Shard::resume_state`], [`Shard::close`], [`Shard::latency`]).
pub struct Shard<R: Runtime> {
    runtime: R,
    session: Session<Arc<Config>>,
    clock: Clock,
    span: tracing::Span,
    limits: Arc<Limits>,
    link: Option<Link<R::Socket>>,
    /// Connections the session has left, each finishing its closing handshake within its own
    /// bound: a second one set aside does not cut the first one's close off. Empty nearly all
    /// the time (and a `Vec` keeps their sockets, over a kilobyte each, off the shard).
    closing: Vec<Closing<R::Socket>>,
    dial: Option<Dial<R::Socket>>,
    identify: Arc<dyn IdentifyQueue>,
    permit: Option<Permit>,
    commands: mpsc::UnboundedReceiver<Outgoing>,
    sender: mpsc::UnboundedSender<Outgoing>,
    queued: VecDeque<Encoded>,
    out: VecDeque<Result<ShardEvent, ShardError>>,
    /// The deadline the timer is set to, and the one timer, made at the first deadline and
    /// moved from then on.
    timer: Option<(Instant, Pin<Box<dyn Timer>>)>,
    finished: bool,
    /// When the session last had `handle_timeout`: a deadline at or before it that is still
    /// pending waits on something else (a write the socket has not taken), not on the timer.
    timed_out_at: Option<CoreInstant>,
    /// Inputs handled since a deadline passed without it being handled (see
    /// [`Shard::poll_inputs`]).
    inputs_past_deadline: u32,
    /// Reconnects, the last dispatch's time and the last disconnect, for [`Shard::status`].
    track: Track,
    /// The shard's metric handles (nothing without the `metrics` feature).
    metrics: ShardMetrics,
}

// Nothing is pinned through a `Shard`: every future it holds is boxed.
impl<R: Runtime> Unpin for Shard<R> {}

impl<R: Runtime> std::fmt::Debug for Shard<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard")
            .field("shard", &self.session.shard())
            .field("state", &self.session.state())
            .field("queued_commands", &self.queued.len())
            .finish_non_exhaustive()
    }
}

impl<R: Runtime + Default> Shard<R> {
    /// Starts building a shard on the default instance of runtime `R`.
    pub fn builder(token: discord_gateway::Token) -> crate::ShardBuilder<R> {
        crate::ShardBuilder::new(R::default(), token)
    }
}

impl<R: Runtime> Shard<R> {
    pub(crate) fn from_parts(
        runtime: R,
        session: Session<Arc<Config>>,
        identify: Arc<dyn IdentifyQueue>,
        limits: Arc<Limits>,
    ) -> Self {
        let shard = session.shard();
        let (sender, commands) = mpsc::unbounded();
        Self {
            span: tracing::info_span!("shard", id = shard.id(), count = shard.count()),
            clock: Clock::new(runtime.now()),
            runtime,
            limits,
            link: None,
            closing: Vec::new(),
            dial: None,
            identify,
            permit: None,
            commands,
            sender,
            queued: VecDeque::new(),
            out: VecDeque::new(),
            timer: None,
            finished: false,
            timed_out_at: None,
            inputs_past_deadline: 0,
            track: Track::default(),
            metrics: ShardMetrics::new(shard),
            session,
        }
    }

    /// This shard's id.
    #[must_use]
    pub fn id(&self) -> ShardId {
        self.session.shard()
    }

    /// A handle to queue commands from other tasks.
    #[must_use]
    pub fn sender(&self) -> ShardSender {
        ShardSender::new(self.sender.clone(), self.session.config().encoding())
    }

    /// Queues a command (Update Presence, Request Guild Members, ...) from the shard's own task.
    /// It goes out as the rate limit allows, in order with those of [`Shard::sender`]s queued
    /// before it, while the shard is polled.
    ///
    /// When it goes out, and what happens to it across reconnects and session loss: see
    /// [commands](Shard#commands).
    ///
    /// # Errors
    /// [`QueueError`] when the command is invalid or one the shard sends itself, and
    /// [`QueueError::ShardGone`] once the shard has stopped.
    pub fn send(&mut self, command: &impl Encode) -> Result<(), QueueError> {
        let encoded = Encoded::new(command, self.session.config().encoding())?;
        if matches!(self.session.state(), State::Stopped(_)) {
            return Err(QueueError::ShardGone);
        }
        // Commands already sent through a `ShardSender` go first.
        self.accept_commands();
        self.queued.push_back(encoded);
        Ok(())
    }

    /// The state machine's view of the connection.
    #[must_use]
    pub fn state(&self) -> State {
        self.session.state()
    }

    /// Round-trip time of the last acknowledged heartbeat.
    #[must_use]
    pub fn latency(&self) -> Option<Duration> {
        self.session.latency()
    }

    /// What a later process needs to resume this session (save it on shutdown after
    /// `close(CloseKind::Resumable)`).
    #[must_use]
    pub fn resume_state(&self) -> Option<ResumeState> {
        self.session.resume_state()
    }

    /// A snapshot of this shard: state, latency, last dispatch, reconnects, whether it holds
    /// a session, and the last disconnect with its cause and error. Cheap: call it every
    /// second if you like.
    #[must_use]
    pub fn status(&self) -> ShardStatus {
        ShardStatus {
            id: self.id(),
            state: self.session.state(),
            latency: self.session.latency(),
            last_event: self.track.last_event,
            reconnects: self.track.reconnects,
            has_session: self.session.session_id().is_some(),
            last_disconnect: self.track.last_disconnect.as_deref().cloned(),
        }
    }

    /// Sets the state, latency and queue depth gauges where they changed.
    fn observe_metrics(&mut self) {
        self.metrics.observe(
            self.session.state(),
            self.session.latency(),
            self.queued.len(),
        );
    }

    /// The session state machine, for inspection.
    #[must_use]
    pub fn session(&self) -> &Session<Arc<Config>> {
        &self.session
    }

    /// The next event: `None` once the shard has stopped and everything was delivered; an
    /// `Err` when it stopped on a fatal close code. The same as [`StreamExt::next`].
    ///
    /// Cancel-safe: see [`Shard`].
    pub async fn next_event(&mut self) -> Option<Result<ShardEvent, ShardError>> {
        self.next().await
    }

    /// Closes the shard and waits (at most 2 s) for the server to answer the close frame.
    /// [`CloseKind::Resumable`] keeps the session alive on Discord's side for a few minutes, so
    /// [`Shard::resume_state`] can be resumed by another process; [`CloseKind::EndSession`]
    /// ends it and the bot goes offline. Events that were still due stay readable from the
    /// stream.
    pub async fn close(&mut self, kind: CloseKind) {
        self.session.close(kind);
        self.abandon_dial();
        poll_fn(|cx| {
            let span = self.span.clone();
            let _entered = span.enter();
            while self.step(cx) {}
            self.observe_metrics();
            if self.closing.is_empty() && self.link.is_none() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }

    /// Does one round of work: sends, events and dials the session wants now; otherwise polls
    /// every input once. False when nothing progressed, and every input is then registered to
    /// wake the task.
    fn step(&mut self, cx: &mut Context<'_>) -> bool {
        let now = self.runtime.now();
        let core_now = self.clock.core_instant(now);
        self.accept_commands();
        let mut progressed = self.write(cx, now, core_now);
        progressed |= self.drain_events();
        progressed |= self.start_dial(now, core_now);
        if progressed {
            return true;
        }
        self.poll_inputs(cx, now, core_now)
    }

    fn accept_commands(&mut self) {
        while let Ok(outgoing) = self.commands.try_recv() {
            self.accept(outgoing);
        }
    }

    fn accept(&mut self, outgoing: Outgoing) {
        match outgoing {
            Outgoing::Command(encoded) => self.queued.push_back(encoded),
            Outgoing::Close(kind) => {
                self.session.close(kind);
                self.abandon_dial();
            }
        }
    }

    /// A dial still in progress when the session stopped is dropped: the connection it would
    /// open has no session to serve, and nothing would ever close it.
    fn abandon_dial(&mut self) {
        if matches!(self.session.state(), State::Stopped(_)) && self.dial.take().is_some() {
            tracing::debug!("closed while dialing; the dial is abandoned");
        }
    }

    /// Hands the socket what the session and the command queue want sent, as far as the socket
    /// takes it, and flushes. Nothing is taken from the session or the queue before the socket
    /// is ready for it.
    fn write(&mut self, cx: &mut Context<'_>, now: Instant, core_now: CoreInstant) -> bool {
        let mut progressed = false;
        while self.session.has_transmit(core_now) {
            // Without a connection only a close frame can be due, for one set aside.
            match self.poll_writable(cx, now, core_now) {
                Writable::Ready | Writable::NoLink => {}
                Writable::Waiting => break,
                Writable::Failed => return true,
            }
            let transmit = SEND_BUFFER.with_borrow_mut(|buffer| {
                self.session
                    .poll_transmit(core_now, buffer)
                    .map(|transmit| match transmit {
                        Transmit::Text(bytes) => Ok(Frame::Text(Bytes::copy_from_slice(bytes))),
                        Transmit::Binary(bytes) => Ok(Frame::Binary(Bytes::copy_from_slice(bytes))),
                        Transmit::Close(code) => Err(code),
                    })
            });
            match transmit {
                None => break,
                Some(Err(code)) => self.set_aside_link(Some(code), now),
                Some(Ok(frame)) => self.send_frame(frame, core_now),
            }
            progressed = true;
        }
        while self.session.is_active() && !self.queued.is_empty() {
            match self.poll_writable(cx, now, core_now) {
                Writable::Ready => {}
                Writable::Waiting | Writable::NoLink => break,
                Writable::Failed => return true,
            }
            // What has already arrived is read before a command goes out: a Reconnect, an
            // Invalid Session or a close frame waiting there means the gateway has left this
            // connection or session, and a command written after it would be lost with the
            // connection, or refused with 4003. The command then waits for the next live session.
            if let Some(link) = self.link.as_mut() {
                if let Poll::Ready(frame) = link.poll_read(cx) {
                    self.receive(core_now, frame);
                    return true;
                }
            }
            let op = self.queued[0].op;
            match self.session.admit_command(core_now, op) {
                Ok(()) => {
                    let command = self.queued.pop_front().expect("checked non-empty");
                    self.metrics.command_sent();
                    let frame = if self.session.config().encoding().is_binary() {
                        Frame::Binary(command.payload)
                    } else {
                        Frame::Text(command.payload)
                    };
                    self.send_frame(frame, core_now);
                    progressed = true;
                }
                Err(SendError::RateLimited { .. } | SendError::NotReady) => break,
                Err(error) => {
                    tracing::warn!(error = %ErrorChain(&error), "dropping a command the session refused");
                    self.queued.pop_front();
                }
            }
        }
        if let Some(link) = self.link.as_mut() {
            if let Poll::Ready(Err(error)) = link.poll_flush(cx, now) {
                self.lose_link(core_now, &error);
                progressed = true;
            }
        }
        progressed
    }

    /// Whether the current connection can take a frame now. A failed one is dropped and the
    /// session told.
    fn poll_writable(
        &mut self,
        cx: &mut Context<'_>,
        now: Instant,
        core_now: CoreInstant,
    ) -> Writable {
        let Some(link) = self.link.as_mut() else {
            return Writable::NoLink;
        };
        match link.poll_writable(cx, now) {
            Poll::Ready(Ok(())) => Writable::Ready,
            Poll::Ready(Err(error)) => {
                self.lose_link(core_now, &error);
                Writable::Failed
            }
            Poll::Pending => Writable::Waiting,
        }
    }

    /// Hands one frame to the current connection. Without one (the session sent while no
    /// connection was open, which it does not), the frame is dropped.
    fn send_frame(&mut self, frame: Frame, core_now: CoreInstant) {
        let Some(link) = self.link.as_mut() else {
            tracing::debug!("no connection for a frame the session sent");
            return;
        };
        if let Err(error) = link.send(frame) {
            self.lose_link(core_now, &error);
        }
    }

    /// The connection failed: tell the session, which decides what comes next.
    fn lose_link(&mut self, core_now: CoreInstant, error: &TransportError) {
        tracing::debug!(error = %ErrorChain(error), "connection lost");
        self.track.failed(ConnectionError::from_transport(error));
        self.link = None;
        self.session.handle_transport_lost(core_now);
    }

    /// Moves the current connection, if any, aside, where its closing handshake (with `close`
    /// sent first) can finish within the close timeout.
    fn set_aside_link(&mut self, close: Option<CloseCode>, now: Instant) {
        let code = close.map(CloseCode::to_u16);
        if let Some(link) = self.link.take() {
            self.closing.push(link.into_closing(code, now));
        } else if let (Some(code), Some(closing)) = (code, self.closing.last_mut()) {
            closing.queue_close(code);
        }
    }

    fn drain_events(&mut self) -> bool {
        let mut progressed = false;
        while let Some(event) = self.session.poll_event() {
            progressed = true;
            // The transport error behind a disconnect, the one thing the shard adds to an event.
            let error = match event {
                Event::IdentifyPermitNeeded => {
                    self.permit = Some(self.identify.acquire(self.id()));
                    continue;
                }
                Event::Ready => {
                    let session_id = self.session.session_id().unwrap_or_default();
                    tracing::info!(session_id = %session_id, "ready");
                    None
                }
                Event::Resumed { replayed } => {
                    tracing::info!(replayed, "resumed");
                    None
                }
                Event::SequenceGap { expected, received } => {
                    tracing::warn!(expected, received, "sequence gap");
                    None
                }
                Event::StaleDispatch { .. } => None,
                Event::Disconnected { cause, next } => {
                    let disconnect = self.track.disconnected(cause, self.runtime.now());
                    self.metrics.reconnect(disconnect.cause_label());
                    let error = disconnect.error.clone();
                    // An absent error leaves the field out of the line.
                    tracing::info!(
                        %cause,
                        error = error.as_ref().map(tracing::field::display),
                        label = disconnect.cause_label(),
                        ?next,
                        "disconnected"
                    );
                    // The session has left this connection; let its closing handshake finish.
                    self.set_aside_link(None, self.runtime.now());
                    // A permit still waiting hands its place on.
                    self.permit = None;
                    error
                }
                Event::Stopped(Stop::Fatal(code)) => {
                    tracing::error!(%code, "stopped");
                    self.stop();
                    self.out.push_back(Err(ShardError::Fatal(code)));
                    continue;
                }
                Event::Stopped(stop @ (Stop::MessageTooLarge | Stop::ReadyTooLarge)) => {
                    // Resuming would replay the same message into the same wall; the session
                    // stays resumable with a higher limit (READY: there is none to resume).
                    let limit = self.limits.max_message_size;
                    tracing::error!(limit, %stop, "a message over max_message_size keeps coming back");
                    self.stop();
                    self.out
                        .push_back(Err(ShardError::MessageTooLarge { limit }));
                    continue;
                }
                Event::ResumeUrlRefused { source, reason } => {
                    tracing::warn!(
                        %source,
                        %reason,
                        gateway = self.session.config().gateway_url(),
                        "a resume URL the configured gateway does not vouch for was dropped; resuming at the configured gateway"
                    );
                    continue;
                }
                Event::NotResumable(reason) => {
                    tracing::warn!(reason = %ErrorChain(&reason), "READY's session cannot be resumed; a reconnect will identify");
                    None
                }
                Event::Stopped(stop) => {
                    tracing::info!(%stop, "stopped");
                    self.stop();
                    continue;
                }
                _ => None,
            };
            // Which of the core's events an application reads is decided in one place.
            let Some(item) = ShardEvent::from_session(event, error) else {
                continue;
            };
            self.out.push_back(Ok(item));
        }
        progressed
    }

    /// The session stopped for good: nothing more goes out. Commands still queued are dropped
    /// (with a warning that counts them), and the command channel is closed, so a later
    /// [`ShardSender::send`] tells its caller with [`QueueError::ShardGone`].
    fn stop(&mut self) {
        self.finished = true;
        self.commands.close();
        self.accept_commands();
        if !self.queued.is_empty() {
            tracing::warn!(
                dropped = self.queued.len(),
                "the shard stopped with commands still queued; they were not sent"
            );
            self.queued.clear();
        }
    }

    /// Starts dialing when the session asks for a connection.
    fn start_dial(&mut self, now: Instant, core_now: CoreInstant) -> bool {
        if self.dial.is_some() {
            return false;
        }
        let Some(connect) = self.session.poll_connect(core_now) else {
            return false;
        };
        let url = connect.url.to_string();
        let resume = connect.resume;
        tracing::debug!(url = %url, resume, "dialing");
        self.track.dialing();
        self.link = None;
        let options = ConnectOptions {
            url,
            max_message_size: self.limits.max_message_size,
            read_buffer_size: self.limits.read_buffer_size,
            user_agent: USER_AGENT,
            trust: self.limits.trust.clone(),
        };
        self.dial = Some(Dial {
            future: Box::pin(self.runtime.connect(options)),
            deadline: now + self.limits.connect_timeout,
            resume,
        });
        true
    }

    /// Polls every input once: the closing connection, the current one, a dial, a permit, the
    /// command channel and the timer. True when one of them moved.
    ///
    /// What has already arrived is read before a deadline that passed meanwhile is handled (a
    /// heartbeat ACK or a close frame waiting there decides what the deadline means), but at
    /// most [`INPUT_BUDGET`] times: a connection that always has another message ready must not
    /// keep a stalled write, a zombie or a dial's timeout from ever being noticed.
    fn poll_inputs(&mut self, cx: &mut Context<'_>, now: Instant, core_now: CoreInstant) -> bool {
        let deadlines = self.deadlines();
        if deadlines.earliest().is_some_and(|at| at <= now) {
            if self.inputs_past_deadline >= INPUT_BUDGET {
                self.expire(now, core_now, &deadlines);
                return true;
            }
            if self.poll_sources(cx, now, core_now) {
                self.inputs_past_deadline += 1;
                return true;
            }
        } else if self.poll_sources(cx, now, core_now) {
            return true;
        }
        self.poll_timer(cx, now, core_now)
    }

    /// Polls every input but the timer once. True when one of them moved.
    fn poll_sources(&mut self, cx: &mut Context<'_>, now: Instant, core_now: CoreInstant) -> bool {
        let closing = self.closing.len();
        self.closing
            .retain_mut(|closing| closing.poll(cx, now).is_pending());
        if self.closing.len() < closing {
            // A stopped shard's stream ends once its last connection is closed.
            return true;
        }
        if let Some(link) = self.link.as_mut() {
            if let Poll::Ready(frame) = link.poll_read(cx) {
                self.receive(core_now, frame);
                return true;
            }
        }
        if let Some(dial) = self.dial.as_mut() {
            if let Poll::Ready(result) = dial.future.as_mut().poll(cx) {
                let resume = self.dial.take().is_some_and(|dial| dial.resume);
                self.connected(core_now, result, resume);
                return true;
            }
        }
        if let Some(permit) = self.permit.as_mut() {
            if permit.as_mut().poll(cx).is_ready() {
                self.permit = None;
                self.session.handle_identify_permit(core_now);
                return true;
            }
        }
        if let Poll::Ready(Some(outgoing)) = self.commands.poll_next_unpin(cx) {
            self.accept(outgoing);
            return true;
        }
        false
    }

    /// Every deadline the shard keeps: the session's (one not yet handled), a dial's, a
    /// stalled write's and a closing handshake's.
    fn deadlines(&self) -> Deadlines {
        Deadlines {
            session: self
                .session
                .poll_timeout()
                .filter(|at| self.timed_out_at.is_none_or(|handled| *at > handled))
                .map(|at| self.clock.std_instant(at)),
            dial: self.dial.as_ref().map(|dial| dial.deadline),
            write: self.link.as_ref().and_then(Link::write_deadline),
            closing: self.closing.iter().map(Closing::deadline).min(),
        }
    }

    /// Sleeps until the earliest deadline. True when one has passed (and was handled).
    fn poll_timer(&mut self, cx: &mut Context<'_>, now: Instant, core_now: CoreInstant) -> bool {
        let deadlines = self.deadlines();
        let Some(deadline) = deadlines.earliest() else {
            // Nothing to wait for (a stopped shard): no sleep stays registered.
            self.timer = None;
            return false;
        };
        if deadline > now {
            match self.timer.as_mut() {
                None => self.timer = Some((deadline, self.runtime.timer(deadline))),
                Some((at, timer)) if *at != deadline => {
                    *at = deadline;
                    timer.as_mut().reset(deadline);
                }
                Some(_) => {}
            }
            let (_, timer) = self.timer.as_mut().expect("set above");
            if timer.as_mut().poll_expired(cx).is_pending() {
                return false;
            }
        }
        self.expire(now, core_now, &deadlines);
        true
    }

    /// Handles every deadline in `deadlines` that has passed at `now`.
    fn expire(&mut self, now: Instant, core_now: CoreInstant, deadlines: &Deadlines) {
        if deadlines.dial.is_some_and(|at| at <= now) {
            tracing::debug!("dial timed out");
            self.track.failed(ConnectionError::new(
                ConnectionErrorKind::Timeout,
                format!(
                    "the websocket was not open after the {:?} connect timeout",
                    self.limits.connect_timeout
                ),
            ));
            self.dial = None;
            self.session.handle_transport_lost(core_now);
        }
        if deadlines.write.is_some_and(|at| at <= now) {
            tracing::debug!("write timed out");
            self.track.failed(ConnectionError::new(
                ConnectionErrorKind::Timeout,
                "the socket took no data before the write timeout",
            ));
            self.link = None;
            self.session.handle_transport_lost(core_now);
        }
        if deadlines.closing.is_some_and(|at| at <= now) {
            self.closing.retain(|closing| closing.deadline() > now);
        }
        self.session.handle_timeout(core_now);
        self.timed_out_at = Some(core_now);
        self.inputs_past_deadline = 0;
    }

    fn connected(
        &mut self,
        core_now: CoreInstant,
        result: Result<R::Socket, TransportError>,
        resume: bool,
    ) {
        let socket = match result {
            Ok(socket) => socket,
            Err(error) => {
                tracing::debug!(error = %ErrorChain(&error), "dial failed");
                self.track.failed(ConnectionError::from_transport(&error));
                self.session.handle_transport_lost(core_now);
                return;
            }
        };
        if self.session.state() != State::Connecting {
            // The session stopped while this dial was in flight: the socket is dropped at
            // once rather than kept as a connection nothing would ever close.
            tracing::debug!("a dial completed after the session stopped; dropped");
            return;
        }
        match Inflater::new(self.session.config().compression()) {
            Ok(inflater) => {
                self.link = Some(Link::new(socket, inflater));
                self.session.handle_open(core_now);
                self.out.push_back(Ok(ShardEvent::Connected { resume }));
            }
            Err(error) => {
                tracing::warn!(error = %ErrorChain(&error), "cannot decompress this connection");
                self.track.failed(ConnectionError::from_error(&error));
                self.session.handle_transport_lost(core_now);
            }
        }
    }

    fn receive(&mut self, now: CoreInstant, frame: Option<Result<Frame, TransportError>>) {
        let payload = match frame {
            Some(Ok(Frame::Text(text))) => {
                self.metrics.received(text.len());
                text
            }
            Some(Ok(Frame::Binary(data))) => {
                self.metrics.received(data.len());
                let Some(link) = self.link.as_mut() else {
                    return;
                };
                let limit = self.limits.max_message_size;
                match link.inflater.push(&data, &mut link.payloads, limit) {
                    // Cut from the inflate buffer, not copied (see `payloads`).
                    Ok(true) => {
                        let payload = link.payloads.finish();
                        self.metrics.inflated(payload.len());
                        payload
                    }
                    Ok(false) => return,
                    Err(error @ InflateError::TooLarge { .. }) => {
                        // Skipped whole with the stream kept in step; the session counts it
                        // from the head its first bytes tell.
                        tracing::warn!(error = %ErrorChain(&error), "skipped a message over max_message_size");
                        self.out
                            .push_back(Ok(ShardEvent::Malformed(MessageError::Inflate(error))));
                        self.skipped(now);
                        return;
                    }
                    Err(error) => {
                        // A broken stream cannot be re-synchronised: start a fresh connection,
                        // which resumes, so nothing is lost.
                        tracing::warn!(error = %ErrorChain(&error), "decompression failed; reconnecting");
                        self.track.failed(ConnectionError::from_error(&error));
                        self.out
                            .push_back(Ok(ShardEvent::Malformed(MessageError::Inflate(error))));
                        self.link = None;
                        self.session.handle_transport_lost(now);
                        return;
                    }
                }
            }
            Some(Ok(Frame::Close(code))) => {
                let code = code.map(CloseCode::from_u16);
                self.handle_message(now, Message::Close(code), None);
                return;
            }
            Some(Err(TransportError::MessageTooLarge)) => {
                // The session decides: resume (which replays the message), or stop once it
                // keeps coming back at the same point.
                tracing::warn!(
                    limit = self.limits.max_message_size,
                    "a message over max_message_size ended the connection"
                );
                self.link = None;
                self.session.handle_message_too_large(now);
                return;
            }
            Some(Err(error)) => {
                self.lose_link(now, &error);
                return;
            }
            None => {
                self.track.failed(ConnectionError::new(
                    ConnectionErrorKind::Reset,
                    "the server ended the connection without a close frame",
                ));
                self.link = None;
                self.session.handle_transport_lost(now);
                return;
            }
        };
        self.handle_message(now, Message::Text(&payload), Some(&payload));
    }

    /// A message over the limit was skipped and its first bytes are in the inflate buffer: the
    /// core reads its head from them and the session counts it as it would the whole message,
    /// or, when the head is not in them, leaves the connection to have it replayed.
    fn skipped(&mut self, now: CoreInstant) {
        let Some(link) = self.link.as_mut() else {
            return;
        };
        let encoding = self.session.config().encoding();
        let counted = match read_head(encoding, link.payloads.payload()) {
            Ok(PrefixHead::Known(head)) => {
                self.session
                    .handle_skipped_message(now, head.op(), head.event_type(), head.seq())
            }
            _ => {
                self.session.handle_message_too_large(now);
                Ok(false)
            }
        };
        link.payloads.discard();
        if let Err(error) = counted {
            tracing::debug!(error = %ErrorChain(&error), "a skipped message was refused");
        }
        self.drain_events();
    }

    fn handle_message(&mut self, now: CoreInstant, message: Message<'_>, payload: Option<&Bytes>) {
        match self.session.handle_message(now, message) {
            Ok(Some(dispatch)) => {
                let owned = payload.map(|payload| {
                    let name = dispatch.name().map_or(0..0, |name| {
                        let start = name.raw().as_ptr() as usize - payload.as_ptr() as usize;
                        start..start + name.raw().len()
                    });
                    Dispatch::new(
                        payload.clone(),
                        name,
                        dispatch.data_range(),
                        dispatch.seq(),
                        dispatch.kind(),
                        dispatch.encoding(),
                    )
                });
                self.track.last_event = Some(self.runtime.now());
                self.metrics.dispatch(dispatch.kind());
                // Lifecycle events the message caused (a gap, READY) come before the dispatch.
                self.drain_events();
                if let Some(owned) = owned {
                    self.out.push_back(Ok(ShardEvent::Dispatch(owned)));
                }
            }
            Ok(None) => {
                self.drain_events();
            }
            Err(error) => {
                tracing::debug!(error = %ErrorChain(&error), "skipping a malformed message");
                self.out
                    .push_back(Ok(ShardEvent::Malformed(MessageError::Payload(error))));
            }
        }
    }
}

impl<R: Runtime> Stream for Shard<R> {
    type Item = Result<ShardEvent, ShardError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let span = this.span.clone();
        let _entered = span.enter();
        loop {
            if let Some(item) = this.out.pop_front() {
                return Poll::Ready(Some(item));
            }
            if this.finished {
                // A stopped shard's last connection finishes its closing handshake (within the
                // close timeout) before the stream ends: an application that drops the shard
                // then does not cut off the close frame or what was written before it.
                if this.link.is_some() {
                    this.set_aside_link(None, this.runtime.now());
                }
                if this.closing.is_empty() {
                    return Poll::Ready(None);
                }
            }
            let progressed = this.step(cx);
            this.observe_metrics();
            if !progressed {
                return Poll::Pending;
            }
        }
    }
}
