//! The driver loop: one shard, any runtime, no background tasks.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use async_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use async_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use bytes::Bytes;
use discord_gateway::codec::Envelope;
use discord_gateway::command::{RawCommand, MAX_PAYLOAD_LEN};
use discord_gateway::protocol::{CloseCode, ShardId};
use discord_gateway::session::{
    Event, Message, ResumeState, SendBuffer, SendError, Session, State, Stop, Transmit,
};
use discord_gateway::Instant as CoreInstant;
use futures_channel::mpsc;
use futures_util::{SinkExt, Stream, StreamExt};
use tracing::Instrument;

use crate::clock::Clock;
use crate::event::{Dispatch, MessageError, ShardError, ShardEvent};
use crate::identify::{IdentifyQueue, Permit};
use crate::inflate::{InflateError, Inflater};
use crate::payloads::PayloadBuffer;
use crate::sender::{Outgoing, ShardSender};
use crate::Runtime;

/// How many times an uncompressed message over the size limit may end a connection at the same
/// sequence number before the shard gives up (each resume replays it).
const OVERSIZED_ATTEMPTS: u32 = 3;

/// How long a single websocket write may block before the connection counts as lost.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection the session has left may take to finish its closing handshake.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

type Connecting<S> = Pin<Box<dyn Future<Output = Result<S, WsError>> + Send>>;

/// What woke the loop.
enum Wake<S> {
    Socket(Option<Result<WsMessage, WsError>>),
    Connected(Result<S, WsError>),
    ConnectTimedOut,
    Permit,
    Command(Option<Outgoing>),
    Timeout,
}

thread_local! {
    /// Where commands are encoded: one buffer per thread rather than one per shard. Each use
    /// copies the bytes out before anything awaits, so shards on a thread never hold it at the
    /// same time, and a thousand idle shards keep 4 KiB for it instead of 4 MiB.
    static SEND_BUFFER: RefCell<Box<SendBuffer>> = RefCell::new(Box::new([0; MAX_PAYLOAD_LEN]));
}

/// A connection being closed: see `Shard::closing`.
struct Closing<S> {
    socket: S,
    deadline: std::time::Instant,
}

/// One gateway shard on runtime `R`.
///
/// All work happens inside [`Shard::next_event`] (or the [`Stream`] from [`Shard::into_stream`]):
/// there are no background tasks, so the application decides where and when the shard runs.
/// Between polls nothing happens, so poll it continuously (heartbeats are due every ~41 s).
pub struct Shard<R: Runtime> {
    runtime: R,
    session: Session,
    clock: Clock,
    span: tracing::Span,
    socket: Option<R::Socket>,
    /// A connection the session has left, kept until the server answers our close frame (or
    /// `CLOSE_TIMEOUT` passes) so the close code reaches it instead of a TCP reset. Boxed: a
    /// socket is over a kilobyte inline, and this is empty nearly all the time.
    closing: Option<Box<Closing<R::Socket>>>,
    connecting: Option<(Connecting<R::Socket>, std::time::Instant, bool)>,
    connect_timeout: Duration,
    max_message_size: usize,
    websocket: WebSocketConfig,
    inflater: Inflater,
    inflated: PayloadBuffer,
    identify: Arc<dyn IdentifyQueue>,
    permit: Option<Permit>,
    commands: mpsc::UnboundedReceiver<Outgoing>,
    sender: mpsc::UnboundedSender<Outgoing>,
    queued: VecDeque<Vec<u8>>,
    out: VecDeque<Result<ShardEvent, ShardError>>,
    finished: bool,
    /// The sequence number at which connections were lost to an oversized message, and how often.
    oversized: Option<(Option<u64>, u32)>,
}

impl<R: Runtime> std::fmt::Debug for Shard<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard")
            .field("shard", &self.session.config().shard())
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
        session: Session,
        identify: Arc<dyn IdentifyQueue>,
        connect_timeout: Duration,
        websocket: WebSocketConfig,
    ) -> Self {
        let shard = session.config().shard();
        let (sender, commands) = mpsc::unbounded();
        Self {
            runtime,
            span: tracing::info_span!("shard", id = shard.id(), count = shard.count()),
            clock: Clock::new(),
            inflater: Inflater::None,
            inflated: PayloadBuffer::new(),
            socket: None,
            closing: None,
            connecting: None,
            connect_timeout,
            max_message_size: websocket.max_message_size.unwrap_or(usize::MAX),
            websocket,
            identify,
            permit: None,
            commands,
            sender,
            queued: VecDeque::new(),
            out: VecDeque::new(),
            finished: false,
            oversized: None,
            session,
        }
    }

    /// This shard's id.
    #[must_use]
    pub fn id(&self) -> ShardId {
        self.session.config().shard()
    }

    /// A handle to queue commands from other tasks.
    #[must_use]
    pub fn sender(&self) -> ShardSender {
        ShardSender::new(self.sender.clone())
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

    /// What a later process needs to resume this session (save it on shutdown after a
    /// resumable [`Shard::close`]).
    #[must_use]
    pub fn resume_state(&self) -> Option<ResumeState> {
        self.session.resume_state()
    }

    /// The session state machine, for inspection.
    #[must_use]
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The next event: `None` once the shard has stopped and everything was delivered; an
    /// `Err` when it stopped on a fatal close code.
    ///
    /// Cancel-safe in the sense that dropping the future loses no event and no session state;
    /// a websocket write that was in progress completes on the next call.
    pub async fn next_event(&mut self) -> Option<Result<ShardEvent, ShardError>> {
        let span = self.span.clone();
        async move {
            loop {
                if let Some(item) = self.out.pop_front() {
                    return Some(item);
                }
                if self.finished {
                    return None;
                }
                self.pump().await;
                if self.out.is_empty() && !self.finished {
                    let wake = self.wait().await;
                    self.handle_wake(wake).await;
                }
            }
        }
        .instrument(span)
        .await
    }

    /// The shard as a [`Stream`] of events.
    pub fn into_stream(self) -> impl Stream<Item = Result<ShardEvent, ShardError>> + Send
    where
        R::Socket: Send,
    {
        futures_util::stream::unfold(self, |mut shard| async move {
            let item = shard.next_event().await?;
            Some((item, shard))
        })
    }

    /// Closes the shard. With `resumable` the session stays alive on Discord's side for a few
    /// minutes, so [`Shard::resume_state`] can be resumed by another process; otherwise the
    /// session ends and the bot goes offline.
    pub async fn close(&mut self, resumable: bool) {
        self.session.close(resumable);
        self.pump().await;
        if let Some(closing) = self.closing.take() {
            let mut socket = closing.socket;
            // Read until the server answers the close frame, so the code is not lost to a reset.
            let drain = async { while let Some(Ok(_)) = socket.next().await {} };
            let timeout = self
                .runtime
                .sleep_until(std::time::Instant::now() + CLOSE_TIMEOUT);
            futures_util::future::select(pin!(drain), pin!(timeout)).await;
        }
        if let Some(mut socket) = self.socket.take() {
            let close = socket.close();
            let timeout = self
                .runtime
                .sleep_until(std::time::Instant::now() + Duration::from_secs(2));
            futures_util::future::select(pin!(close), pin!(timeout)).await;
        }
    }

    /// Does everything the session wants done now: sends, events, commands, connects.
    async fn pump(&mut self) {
        loop {
            let now = self.clock.now();
            self.accept_commands();
            let mut progressed = self.flush_transmits(now).await;
            progressed |= self.drain_events();
            progressed |= self.send_queued_commands().await;
            if self.connecting.is_none() {
                if let Some(connect) = self.session.poll_connect(now) {
                    let url = connect.url.to_string();
                    let resume = connect.resume;
                    tracing::debug!(url = %url, resume, "dialing");
                    self.socket = None;
                    let dial = self.runtime.connect(url, self.websocket);
                    let deadline = std::time::Instant::now() + self.connect_timeout;
                    self.connecting = Some((Box::pin(dial), deadline, resume));
                    progressed = true;
                }
            }
            if !progressed {
                return;
            }
        }
    }

    /// Sends what the session has to send. `now` is read again only after a send, which may
    /// have waited: the clock is a syscall-free but not free read, and every event passes here.
    async fn flush_transmits(&mut self, mut now: CoreInstant) -> bool {
        let mut progressed = false;
        loop {
            let transmit = SEND_BUFFER.with_borrow_mut(|buffer| {
                self.session
                    .poll_transmit(now, buffer)
                    .map(|transmit| match transmit {
                        Transmit::Text(bytes) => Ok(String::from_utf8_lossy(bytes).into_owned()),
                        Transmit::Close(code) => Err(code),
                    })
            });
            let message = match transmit {
                None => return progressed,
                Some(Ok(text)) => WsMessage::text(text),
                Some(Err(code)) => {
                    progressed = true;
                    self.send_close(code).await;
                    continue;
                }
            };
            progressed = true;
            let written = self.write(message).await;
            now = self.clock.now();
            if !written {
                self.session.handle_transport_lost(now);
            }
        }
    }

    /// Moves the current connection, if any, to `closing`, where its closing handshake can
    /// finish within `CLOSE_TIMEOUT`.
    fn set_aside_socket(&mut self) {
        if let Some(socket) = self.socket.take() {
            let deadline = std::time::Instant::now() + CLOSE_TIMEOUT;
            self.closing = Some(Box::new(Closing { socket, deadline }));
        }
    }

    /// Sends a close frame on the connection the session just left (set aside by the
    /// `Disconnected` event, or still current) and keeps it until the handshake completes.
    async fn send_close(&mut self, code: CloseCode) {
        let deadline = std::time::Instant::now() + CLOSE_TIMEOUT;
        self.set_aside_socket();
        let Some(Closing { socket, .. }) = self.closing.as_deref_mut() else {
            return;
        };
        let frame = WsMessage::Close(Some(CloseFrame {
            code: WsCloseCode::from(code.to_u16()),
            reason: "".into(),
        }));
        let send = socket.send(frame);
        let timeout = self.runtime.sleep_until(deadline);
        match futures_util::future::select(pin!(send), pin!(timeout)).await {
            futures_util::future::Either::Left((Ok(()), _)) => {}
            _ => self.closing = None,
        }
    }

    /// Writes one message, with a bound on how long a stalled peer can hold the loop.
    async fn write(&mut self, message: WsMessage) -> bool {
        let Some(socket) = self.socket.as_mut() else {
            return false;
        };
        let send = socket.send(message);
        let timeout = self
            .runtime
            .sleep_until(std::time::Instant::now() + SEND_TIMEOUT);
        match futures_util::future::select(pin!(send), pin!(timeout)).await {
            futures_util::future::Either::Left((Ok(()), _)) => true,
            futures_util::future::Either::Left((Err(error), _)) => {
                tracing::debug!(%error, "write failed");
                self.socket = None;
                false
            }
            futures_util::future::Either::Right(((), _)) => {
                tracing::debug!("write timed out");
                self.socket = None;
                false
            }
        }
    }

    fn drain_events(&mut self) -> bool {
        let mut progressed = false;
        while let Some(event) = self.session.poll_event() {
            progressed = true;
            let item = match event {
                Event::IdentifyPermitNeeded => {
                    self.permit = Some(self.identify.acquire(self.id()));
                    continue;
                }
                Event::Ready => {
                    let session_id = self.session.session_id().unwrap_or_default().to_owned();
                    tracing::info!(session_id = %session_id, "ready");
                    Ok(ShardEvent::Ready { session_id })
                }
                Event::Resumed { replayed } => {
                    tracing::info!(replayed, "resumed");
                    Ok(ShardEvent::Resumed { replayed })
                }
                Event::SequenceGap { expected, received } => {
                    tracing::warn!(expected, received, "sequence gap");
                    Ok(ShardEvent::SequenceGap { expected, received })
                }
                Event::StaleDispatch { last, received } => {
                    Ok(ShardEvent::StaleDispatch { last, received })
                }
                Event::Disconnected { cause, next } => {
                    tracing::info!(%cause, ?next, "disconnected");
                    // The session has left this connection; a close frame may still be due on it.
                    self.set_aside_socket();
                    self.permit = None;
                    Ok(ShardEvent::Disconnected { cause, next })
                }
                Event::Stopped(Stop::Fatal(code)) => {
                    tracing::error!(%code, "stopped");
                    self.finished = true;
                    Err(ShardError::Fatal(code))
                }
                Event::Stopped(stop) => {
                    tracing::info!(%stop, "stopped");
                    self.finished = true;
                    continue;
                }
                _ => continue,
            };
            self.out.push_back(item);
        }
        progressed
    }

    fn accept_commands(&mut self) {
        while let Ok(outgoing) = self.commands.try_recv() {
            self.accept(outgoing);
        }
    }

    fn accept(&mut self, outgoing: Outgoing) {
        match outgoing {
            Outgoing::Command(payload) => self.queued.push_back(payload),
            Outgoing::Close { resumable } => self.session.close(resumable),
        }
    }

    async fn send_queued_commands(&mut self) -> bool {
        let mut progressed = false;
        while self.session.is_active() {
            let Some(payload) = self.queued.front() else {
                break;
            };
            let now = self.clock.now();
            // Encoded and checked when queued; decoding it back only finds `op` and `d`.
            let Ok(envelope) = Envelope::decode(payload) else {
                self.queued.pop_front();
                continue;
            };
            let command = RawCommand::new(envelope.op(), envelope.data().unwrap_or(b"null"));
            let sent = SEND_BUFFER.with_borrow_mut(|buffer| {
                self.session
                    .send_command(now, &command, buffer)
                    .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
            });
            let text = match sent {
                Ok(text) => text,
                Err(SendError::RateLimited { .. } | SendError::NotReady) => break,
                Err(error) => {
                    tracing::warn!(%error, "dropping a command the session refused");
                    self.queued.pop_front();
                    continue;
                }
            };
            progressed = true;
            if self.write(WsMessage::text(text)).await {
                self.queued.pop_front();
            } else {
                // Kept for the next connection.
                self.session.handle_transport_lost(self.clock.now());
                break;
            }
        }
        progressed
    }

    /// Waits for the next input: a message, a finished dial, a permit, a command, or a deadline.
    async fn wait(&mut self) -> Wake<R::Socket> {
        let deadline = self
            .session
            .poll_timeout()
            .map(|at| self.clock.std_instant(at));
        let connect_deadline = self.connecting.as_ref().map(|(_, at, _)| *at);
        let closing_deadline = self.closing.as_ref().map(|closing| closing.deadline);
        let wake_at = [deadline, connect_deadline, closing_deadline]
            .into_iter()
            .flatten()
            .min();
        let mut sleep = pin!(wake_at.map(|at| self.runtime.sleep_until(at)));
        poll_fn(|cx| {
            // Whatever still arrives on a connection being closed is dropped (a resume replays
            // it); reading it lets the closing handshake finish.
            if let Some(closing) = self.closing.as_deref_mut() {
                let finished = loop {
                    match closing.socket.poll_next_unpin(cx) {
                        Poll::Ready(Some(Ok(_))) => {}
                        Poll::Ready(_) => break true,
                        Poll::Pending => break false,
                    }
                };
                if finished {
                    self.closing = None;
                }
            }
            if let Some(socket) = self.socket.as_mut() {
                if let Poll::Ready(item) = socket.poll_next_unpin(cx) {
                    return Poll::Ready(Wake::Socket(item));
                }
            }
            if let Some((dial, _, _)) = self.connecting.as_mut() {
                if let Poll::Ready(result) = dial.as_mut().poll(cx) {
                    return Poll::Ready(Wake::Connected(result));
                }
            }
            if let Some(permit) = self.permit.as_mut() {
                if permit.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Wake::Permit);
                }
            }
            if let Poll::Ready(outgoing) = self.commands.poll_next_unpin(cx) {
                return Poll::Ready(Wake::Command(outgoing));
            }
            if let Some(sleep) = sleep.as_mut().as_pin_mut() {
                if sleep.poll(cx).is_ready() {
                    let connect_expired = self
                        .connecting
                        .as_ref()
                        .is_some_and(|(_, at, _)| *at <= std::time::Instant::now());
                    return Poll::Ready(if connect_expired {
                        Wake::ConnectTimedOut
                    } else {
                        Wake::Timeout
                    });
                }
            }
            Poll::Pending
        })
        .await
    }

    async fn handle_wake(&mut self, wake: Wake<R::Socket>) {
        let now = self.clock.now();
        if self
            .closing
            .as_ref()
            .is_some_and(|closing| closing.deadline <= std::time::Instant::now())
        {
            self.closing = None;
        }
        match wake {
            Wake::Socket(Some(Ok(message))) => self.receive(now, message),
            Wake::Socket(Some(Err(error))) => {
                tracing::debug!(%error, "connection error");
                self.socket = None;
                if matches!(error, WsError::Capacity(_)) && self.oversized_again() {
                    // Resuming would replay the same message into the same wall.
                    let limit = self.max_message_size;
                    tracing::error!(limit, "a message over max_message_size keeps coming back");
                    self.session.close(true);
                    self.drain_events();
                    self.out
                        .push_back(Err(ShardError::MessageTooLarge { limit }));
                    self.finished = true;
                    return;
                }
                self.session.handle_transport_lost(now);
            }
            Wake::Socket(None) => {
                self.socket = None;
                self.session.handle_transport_lost(now);
            }
            Wake::Connected(result) => {
                let resume = self.connecting.take().is_some_and(|(_, _, resume)| resume);
                match result
                    .map(|socket| (socket, Inflater::new(self.session.config().compression())))
                {
                    Ok((socket, Ok(inflater))) => {
                        self.socket = Some(socket);
                        self.inflater = inflater;
                        self.session.handle_open(now);
                        self.out.push_back(Ok(ShardEvent::Connected { resume }));
                    }
                    Ok((_, Err(error))) => {
                        tracing::warn!(%error, "cannot decompress this connection");
                        self.session.handle_transport_lost(now);
                    }
                    Err(error) => {
                        tracing::debug!(%error, "dial failed");
                        self.session.handle_transport_lost(now);
                    }
                }
            }
            Wake::ConnectTimedOut => {
                tracing::debug!("dial timed out");
                self.connecting = None;
                self.session.handle_transport_lost(now);
            }
            Wake::Permit => {
                self.permit = None;
                self.session.handle_identify_permit(now);
            }
            Wake::Command(Some(outgoing)) => self.accept(outgoing),
            // Every sender is gone, but this shard keeps one: unreachable in practice.
            Wake::Command(None) => {}
            Wake::Timeout => self.session.handle_timeout(now),
        }
    }

    /// Counts connections lost to an uncompressed message over the size limit at the same point
    /// of the session; true on the third, when a resume is known to replay it again.
    fn oversized_again(&mut self) -> bool {
        let seq = self.session.seq();
        let count = match self.oversized {
            Some((at, count)) if at == seq => count + 1,
            _ => 1,
        };
        self.oversized = Some((seq, count));
        count >= OVERSIZED_ATTEMPTS
    }

    fn receive(&mut self, now: CoreInstant, message: WsMessage) {
        let payload = match message {
            WsMessage::Text(text) => Bytes::from(text),
            WsMessage::Binary(data) => {
                match self
                    .inflater
                    .push(&data, &mut self.inflated, self.max_message_size)
                {
                    // Cut from the inflate buffer, not copied (see `payloads`).
                    Ok(true) => self.inflated.finish(),
                    Ok(false) => return,
                    Err(error @ InflateError::TooLarge { .. }) => {
                        // Skipped whole with the stream kept in step: the connection carries
                        // on, and the lost dispatch shows as a sequence gap.
                        tracing::warn!(%error, "skipped a message over max_message_size");
                        self.out
                            .push_back(Ok(ShardEvent::Malformed(MessageError::Inflate(error))));
                        return;
                    }
                    Err(error) => {
                        // A broken stream cannot be re-synchronised: start a fresh connection,
                        // which resumes, so nothing is lost.
                        tracing::warn!(%error, "decompression failed; reconnecting");
                        self.out
                            .push_back(Ok(ShardEvent::Malformed(MessageError::Inflate(error))));
                        self.socket = None;
                        self.session.handle_transport_lost(now);
                        return;
                    }
                }
            }
            WsMessage::Close(frame) => {
                let code = frame.map(|frame| CloseCode::from_u16(u16::from(frame.code)));
                self.handle_message(now, Message::Close(code), None);
                return;
            }
            WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_) => return,
        };
        self.handle_message(now, Message::Text(&payload), Some(&payload));
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
                    )
                });
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
                tracing::debug!(%error, "skipping a malformed message");
                self.out
                    .push_back(Ok(ShardEvent::Malformed(MessageError::Payload(error))));
            }
        }
    }
}
