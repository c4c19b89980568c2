//! The invariants a transcript is checked against, after every input and every output.
//!
//! The checker watches the session from the outside, the way a driver and the gateway would,
//! and keeps a small model of what must be true:
//!
//! - **Sends.** On one connection, never more than `SEND_LIMIT` text messages (heartbeats,
//!   Identify, Resume and commands alike) in any window of the configured length (Discord's
//!   60 s): every send is logged with its time, and the log of the current connection is
//!   counted over the window ending at each new send. Commands always leave room for
//!   heartbeats (at most `SEND_LIMIT - 2` after an accepted command), and a command refused for
//!   the limit is refused only when at least half the window (plus the limiter's safety margin,
//!   `send_margin`) is used.
//! - **Handshakes.** At most one Identify and at most one Resume per connection, never both, none
//!   before that connection's Hello, and an Identify only after a permit the session asked for
//!   on that connection was handed in.
//! - **Sequence.** The model keeps the last dispatch sequence number (`last_seq`), read from each
//!   accepted message's envelope. A *session epoch* is the span between two moments the
//!   session forgets its sequence: an Identify going out (a new session numbers from 1), a
//!   disconnect whose recovery is to re-identify, or a close for good. Within an epoch the model
//!   only moves forward (a repeated or older `s` is stale), so checking `Session::seq() ==
//!   last_seq` after every step proves the sequence never goes backwards and never resets
//!   except at an epoch boundary.
//! - **Heartbeats** carry exactly `last_seq` (`null` before any), and Resume carries
//!   `last_seq` (0 before any) and the session id of the last READY.
//! - **Delivery.** Each accepted dispatch with a fresh `s` (or none) is handed back if and only
//!   if the configuration wants its name; a stale one is never handed back and is reported as
//!   `StaleDispatch`; a skip is reported as `SequenceGap`. Within an epoch the delivered
//!   sequence numbers strictly increase, so nothing is delivered twice. No gap or stale report
//!   appears without its dispatch.
//! - **Lifecycle.** Every connection and every dial that ends is reported by exactly one
//!   `Disconnected` (or `Stopped` for a close by the application); the session's state always
//!   matches the socket the driver holds; nothing is sent on a connection after its close frame;
//!   close codes 1000/1001 (which end the session on Discord's side) are sent only by a close
//!   for good; a refused message leaves the session exactly as it was (compared through
//!   `Debug`, which shows every field).
//! - **Liveness.** While connected or waiting there is always a deadline (`poll_timeout`), so
//!   a dead connection is always noticed; a requested heartbeat, a Resume after Hello and an
//!   Identify after its permit go out at once unless the send limit is full; a wake-up at a
//!   deadline always makes progress.

extern crate std;

use core::time::Duration;
use std::collections::VecDeque;
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

use serde_json::Value;

use crate::codec::{Envelope, EventName};
use crate::protocol::{CloseCode, EventSet, EventType, OpCode, Recovery};
use crate::session::{
    send_margin, vouches_for, CloseKind, DisconnectCause, DispatchRef, Event, HandleError, Next,
    SendError, Session, State, Stop, Transmit, UrlRefusal, UrlSource, SEND_LIMIT,
};
use crate::time::Instant;

/// The most events one input may queue (the session's own bound; its queue holds 8).
const EVENTS_PER_INPUT: usize = 3;

/// READY's session id as `serde_json` reads it: `Some(None)` when Resume could not carry it
/// (missing, not a string, empty, or longer than the room the core keeps), `None` when the
/// payload is beyond `serde_json` (the differential target compares the two readers).
fn usable_session_id(bytes: &[u8]) -> Option<Option<String>> {
    let value: Value = serde_json::from_slice(bytes).ok()?;
    let id = value["d"]["session_id"].as_str();
    Some(
        id.filter(|id| !id.is_empty() && id.len() <= crate::codec::MAX_SESSION_ID_LEN)
            .map(ToString::to_string),
    )
}

/// How the session must refuse READY's `resume_gateway_url`, as `serde_json` reads it: a
/// websocket URL the session can keep (no query, within `MAX_URL_LEN`) that the configured
/// gateway does not vouch for.
fn refused_ready_url(bytes: &[u8], session: &Session) -> Option<(UrlSource, UrlRefusal)> {
    let value: Value = serde_json::from_slice(bytes).ok()?;
    let url = value["d"]["resume_gateway_url"].as_str()?;
    let keepable = (url.starts_with("wss://") || url.starts_with("ws://"))
        && !url.contains(['?', '#'])
        && url.len() <= crate::codec::MAX_URL_LEN;
    if !keepable {
        return None;
    }
    let reason = vouches_for(session.config().gateway_url(), url).err()?;
    Some((UrlSource::Ready, reason))
}

/// The socket as the driver sees it.
#[derive(Debug)]
enum Link {
    /// No socket, no dial in progress.
    Idle,
    /// `poll_connect` asked for a socket that is not open yet.
    Dialing,
    /// A socket is open.
    Open(Connection),
}

/// What happened on the open socket.
#[derive(Debug, Default)]
struct Connection {
    /// When each text message went out, oldest first, trimmed to the window.
    sends: VecDeque<Instant>,
    identifies: u32,
    resumes: u32,
    hello: bool,
    permit_asked: bool,
    permit_used: bool,
    /// Fresh dispatches accepted while resuming, other than READY and RESUMED.
    replayed: u64,
    /// The session sent its close frame; nothing else may follow.
    closed: bool,
    /// A heartbeat went out and no ACK has come since.
    awaiting_ack: bool,
    /// A heartbeat was acknowledged while the session was active: the connection proved
    /// stable.
    stable: bool,
}

impl Connection {
    /// How many sends fall in the window of length `window` that ends at `now`. The log keeps
    /// the sends of the longest window asked about (the window plus the limiter's margin).
    fn in_window(&mut self, now: Instant, window: Duration) -> usize {
        let keep = window + send_margin(window);
        while self
            .sends
            .front()
            .is_some_and(|&at| now.saturating_duration_since(at) >= keep)
        {
            self.sends.pop_front();
        }
        self.sends
            .iter()
            .filter(|&&at| now.saturating_duration_since(at) < window)
            .count()
    }

    /// Whether the limiter may hold a send back at `now`: the window plus the margin by which
    /// it reuses a slot late (see `send_margin`) is full.
    fn limiter_full(&mut self, now: Instant, window: Duration) -> bool {
        self.in_window(now, window + send_margin(window)) >= SEND_LIMIT
    }

    fn record_send(&mut self, now: Instant, window: Duration) {
        self.sends.push_back(now);
        let count = self.in_window(now, window);
        assert!(
            count <= SEND_LIMIT,
            "{count} messages in the {window:?} window ending at {now:?}"
        );
    }
}

/// Things that must happen before the current step ends.
#[derive(Debug, Default)]
struct Owed {
    /// `SequenceGap` and `StaleDispatch` reports the last message called for.
    reports: Vec<Event>,
    ready: u32,
    /// READY named no session id Resume could carry.
    not_resumable: bool,
    resumed: Option<u64>,
    stopped: Option<Stop>,
    /// The attempt a connection lost to an oversized message must be reported with.
    too_large: Option<u32>,
    heartbeat: bool,
    resume: bool,
    identify: bool,
    /// A resume URL the configured gateway does not vouch for (from READY or the restored
    /// state) must be reported as refused.
    url_refused: Option<(UrlSource, UrlRefusal)>,
}

/// The model and the invariants; see the module docs.
#[derive(Debug)]
pub(super) struct Checker {
    window: Duration,
    events: EventSet,
    unknown_events: bool,
    longest_wait: Duration,
    link: Link,
    last_seq: Option<u64>,
    last_delivered: Option<u64>,
    session_id: Option<String>,
    stopped: bool,
    /// The sequence number at which connections were lost to oversized messages, and how many.
    too_large: Option<(Option<u64>, u32)>,
    /// The application closed for good in this step: 1000 may be sent.
    closing_for_good: bool,
    owed: Owed,
}

pub(super) fn is_open(state: State) -> bool {
    matches!(
        state,
        State::AwaitingHello
            | State::AwaitingPermit
            | State::Identifying
            | State::Resuming
            | State::Active
    )
}

impl Checker {
    /// A checker for `session`, restored from a state with `stored_url` if it was.
    pub(super) fn new(session: &Session, longest_wait: Duration, stored_url: Option<&str>) -> Self {
        let config = session.config();
        let mut owed = Owed::default();
        if let Some(url) = stored_url.filter(|_| session.session_id().is_some()) {
            if let Err(reason) = vouches_for(&config.gateway_url, url) {
                owed.url_refused = Some((UrlSource::Stored, reason));
                let kept = session.resume_state().map(|state| state.resume_gateway_url);
                assert_eq!(
                    kept.as_deref(),
                    Some(config.gateway_url()),
                    "a refused URL kept"
                );
            }
        }
        Self {
            window: config.send_window,
            events: config.events,
            unknown_events: config.unknown_events,
            longest_wait,
            link: Link::Idle,
            last_seq: session.seq(),
            last_delivered: None,
            session_id: session.session_id().map(ToString::to_string),
            stopped: false,
            too_large: None,
            closing_for_good: false,
            owed,
        }
    }

    fn wants(&self, name: &EventName<'_>) -> bool {
        match name.kind() {
            Some(kind) => self.events.contains(kind),
            None => self.unknown_events,
        }
    }

    fn forget_sequence(&mut self) {
        self.last_seq = None;
        self.last_delivered = None;
    }

    fn connection(&mut self) -> &mut Connection {
        match &mut self.link {
            Link::Open(connection) => connection,
            other => panic!("the session acted on a connection while the socket is {other:?}"),
        }
    }

    // ---- outputs ------------------------------------------------------------------------

    pub(super) fn dialed(&mut self, resume: bool, session: &Session) {
        assert!(!self.stopped, "a stopped session asked for a connection");
        assert!(
            matches!(self.link, Link::Idle),
            "asked for a connection while the socket is {:?}",
            self.link
        );
        assert_eq!(
            resume,
            self.session_id.is_some(),
            "a dial resumes exactly when there is a session to resume"
        );
        assert_eq!(session.state(), State::Connecting);
        self.link = Link::Dialing;
    }

    pub(super) fn opened(&mut self, session: &Session) {
        if matches!(self.link, Link::Dialing) {
            assert_eq!(session.state(), State::AwaitingHello);
            self.link = Link::Open(Connection::default());
        }
    }

    pub(super) fn transmit(&mut self, now: Instant, transmit: Transmit<'_>) {
        let window = self.window;
        match transmit {
            Transmit::Close(code) => {
                if matches!(code, CloseCode::Normal | CloseCode::GoingAway) {
                    assert!(
                        self.closing_for_good,
                        "sent {code:?}, which ends the session on Discord's side"
                    );
                }
                let connection = self.connection();
                assert!(!connection.closed, "two close frames on one connection");
                connection.closed = true;
            }
            Transmit::Text(bytes) | Transmit::Binary(bytes) => {
                assert!(bytes.len() <= crate::command::MAX_PAYLOAD_LEN);
                let value: Value = if matches!(transmit, Transmit::Binary(_)) {
                    crate::codec::etf::from_message(bytes)
                        .unwrap_or_else(|error| panic!("sent malformed ETF ({error}): {bytes:?}"))
                } else {
                    serde_json::from_slice(bytes)
                        .unwrap_or_else(|error| panic!("sent malformed JSON ({error}): {bytes:?}"))
                };
                let op = value["op"]
                    .as_u64()
                    .expect("every payload has an integer op");
                let d = &value["d"];
                let last_seq = self.last_seq;
                let session_id = self.session_id.clone();
                let connection = self.connection();
                assert!(!connection.closed, "sent after the close frame");
                assert!(connection.hello, "sent op {op} before Hello");
                match op {
                    1 => {
                        assert_eq!(*d, serde_json::json!(last_seq), "heartbeat d");
                        connection.awaiting_ack = true;
                        self.owed.heartbeat = false;
                    }
                    2 => {
                        connection.identifies += 1;
                        assert_eq!(connection.identifies, 1, "two Identify on one connection");
                        assert_eq!(connection.resumes, 0, "Identify after Resume");
                        assert!(connection.permit_used, "Identify without a permit");
                        self.owed.identify = false;
                        self.forget_sequence();
                    }
                    6 => {
                        connection.resumes += 1;
                        assert_eq!(connection.resumes, 1, "two Resume on one connection");
                        assert_eq!(connection.identifies, 0, "Resume after Identify");
                        assert_eq!(d["seq"], serde_json::json!(last_seq.unwrap_or(0)));
                        assert_eq!(d["session_id"].as_str(), session_id.as_deref());
                        self.owed.resume = false;
                    }
                    other => panic!("the session sent op {other} on its own"),
                }
                self.connection().record_send(now, window);
            }
        }
    }

    /// Checks one drained batch of events (everything one input queued).
    pub(super) fn events(&mut self, events: &[Event], session: &Session) {
        assert!(
            events.len() <= EVENTS_PER_INPUT,
            "one input queued {} events: {events:?}",
            events.len()
        );
        for &event in events {
            self.event(event, session);
        }
    }

    fn event(&mut self, event: Event, session: &Session) {
        assert!(!self.stopped, "{event:?} after the session stopped");
        match event {
            Event::IdentifyPermitNeeded => {
                assert!(self.session_id.is_none(), "a permit asked to resume");
                let connection = self.connection();
                assert!(connection.hello && !connection.permit_asked);
                connection.permit_asked = true;
            }
            Event::Ready => {
                assert!(self.owed.ready > 0, "Ready without a READY");
                self.owed.ready -= 1;
            }
            Event::NotResumable(_) => {
                assert!(self.owed.not_resumable, "NotResumable after a usable READY");
                assert!(self.session_id.is_none());
                self.owed.not_resumable = false;
            }
            Event::Resumed { replayed } => {
                assert_eq!(self.owed.resumed.take(), Some(replayed), "Resumed");
            }
            Event::ResumeUrlRefused { source, reason } => {
                assert_eq!(
                    self.owed.url_refused.take(),
                    Some((source, reason)),
                    "{event:?}"
                );
            }
            Event::SequenceGap { .. } | Event::StaleDispatch { .. } => {
                let at = self.owed.reports.iter().position(|owed| *owed == event);
                let at = at.unwrap_or_else(|| panic!("{event:?} not called for"));
                self.owed.reports.remove(at);
            }
            Event::Disconnected { cause, next } => {
                let stable = match core::mem::replace(&mut self.link, Link::Idle) {
                    Link::Dialing => {
                        assert_eq!(cause, DisconnectCause::DialFailed);
                        false
                    }
                    Link::Open(connection) => {
                        assert_ne!(cause, DisconnectCause::DialFailed);
                        connection.stable
                    }
                    Link::Idle => panic!("{event:?} without a socket or a dial"),
                };
                if let DisconnectCause::MessageTooLarge { attempt } = cause {
                    assert_eq!(self.owed.too_large.take(), Some(attempt), "{cause:?}");
                    assert_eq!(
                        attempt >= crate::session::MESSAGE_TOO_LARGE_ATTEMPTS,
                        next == Next::Stop,
                        "{event:?}"
                    );
                }
                if cause.recovery() == Recovery::Reidentify {
                    self.session_id = None;
                    self.forget_sequence();
                }
                match next {
                    Next::Stop => {
                        assert_eq!(cause.recovery(), Recovery::Fatal);
                        let State::Stopped(stop) = session.state() else {
                            panic!("{:?} after Next::Stop", session.state())
                        };
                        match cause {
                            DisconnectCause::ServerClosed(code) => {
                                assert_eq!(stop, Stop::Fatal(code));
                            }
                            DisconnectCause::MessageTooLarge { .. } => {
                                assert_eq!(stop, Stop::MessageTooLarge);
                            }
                            DisconnectCause::ReadyTooLarge => {
                                assert_eq!(stop, Stop::ReadyTooLarge);
                            }
                            _ => assert!(matches!(stop, Stop::Fatal(_)), "{stop:?}"),
                        }
                        // Only an application close forgets the session when stopping.
                        assert_eq!(session.session_id(), self.session_id.as_deref());
                    }
                    Next::Resume { after } | Next::Identify { after } => {
                        assert_ne!(cause.recovery(), Recovery::Fatal);
                        assert_eq!(
                            matches!(next, Next::Resume { .. }),
                            self.session_id.is_some()
                        );
                        assert!(after <= self.longest_wait, "waits {after:?}");
                        // Only a connection that proved stable is followed at once; any other
                        // (every backoff here starts at 10 ms or more) waits, so a gateway
                        // that drops each session right after READY is not redialled in a
                        // loop. Invalid Session waits 1-5 s in any case.
                        if cause != (DisconnectCause::InvalidSession { resumable: false }) {
                            assert_eq!(after.is_zero(), stable, "{event:?} stable: {stable}");
                        }
                    }
                }
            }
            Event::Stopped(stop) => {
                self.link = Link::Idle;
                self.stopped = true;
                if let Some(owed) = self.owed.stopped.take() {
                    assert_eq!(stop, owed);
                } else {
                    assert!(
                        matches!(stop, Stop::Fatal(_) | Stop::MessageTooLarge),
                        "{stop:?} without a close"
                    );
                }
            }
        }
    }

    // ---- inputs -------------------------------------------------------------------------

    /// A message was handed in; `before` is the session as it was.
    pub(super) fn message(
        &mut self,
        bytes: &[u8],
        result: Result<Option<DispatchRef<'_>>, HandleError>,
        before: &Session,
        after: &Session,
    ) {
        let unchanged = || assert_eq!(format!("{before:?}"), format!("{after:?}"));
        let dispatch = match result {
            Err(HandleError::EventsNotDrained) => panic!("EventsNotDrained though drained"),
            Err(_) => return unchanged(),
            Ok(dispatch) => dispatch,
        };
        let state = before.state();
        if !is_open(state) {
            assert!(dispatch.is_none());
            return unchanged();
        }
        // The envelope as the session read it (the scan itself is checked against serde_json by
        // the differential target); unwanted data is never needed here.
        let envelope = Envelope::decode_filtered(bytes, |_| false)
            .unwrap_or_else(|error| panic!("accepted, yet the scan fails: {error}"));
        match envelope.op() {
            OpCode::Dispatch => {
                self.dispatch(bytes, &envelope, dispatch, state);
                if envelope.event_type() == Some(EventType::Ready) {
                    // READY always brings the connection live; the session keeps its id only
                    // when Resume can carry it.
                    self.session_id = after.session_id().map(ToString::to_string);
                    if let Some(expected) = usable_session_id(bytes) {
                        assert_eq!(self.session_id, expected, "the session id READY named");
                    }
                    if let Some(id) = &self.session_id {
                        assert!(!id.is_empty() && id.len() <= crate::codec::MAX_SESSION_ID_LEN);
                        self.owed.url_refused = refused_ready_url(bytes, after);
                        let kept = after.resume_state().map(|state| state.resume_gateway_url);
                        if self.owed.url_refused.is_some() {
                            assert_eq!(kept.as_deref(), Some(after.config().gateway_url()));
                        }
                    } else {
                        self.owed.not_resumable = true;
                    }
                }
            }
            op => {
                assert!(dispatch.is_none(), "op {op:?} handed back as a dispatch");
                let hello = self.connection().hello;
                match op {
                    OpCode::Hello if matches!(state, State::AwaitingHello) => {
                        self.connection().hello = true;
                        if self.session_id.is_some() {
                            self.owed.resume = true;
                        }
                    }
                    OpCode::Heartbeat if hello => self.owed.heartbeat = true,
                    OpCode::HeartbeatAck => {
                        let connection = self.connection();
                        let answered = core::mem::take(&mut connection.awaiting_ack);
                        connection.stable |= answered && state == State::Active;
                    }
                    _ => {}
                }
            }
        }
    }

    /// Checks a dispatch the session accepted. A stale one (its `s` already seen) is neither
    /// delivered nor remembered, but READY and RESUMED act on the session all the same.
    fn dispatch(
        &mut self,
        bytes: &[u8],
        envelope: &Envelope<'_>,
        dispatch: Option<DispatchRef<'_>>,
        state: State,
    ) {
        let kind = envelope.event_type();
        let mut fresh = true;
        if let (Some(received), Some(last)) = (envelope.seq(), self.last_seq) {
            if received <= last {
                assert!(dispatch.is_none(), "stale dispatch {received} delivered");
                self.owed
                    .reports
                    .push(Event::StaleDispatch { last, received });
                fresh = false;
            } else if received != last + 1 {
                self.owed.reports.push(Event::SequenceGap {
                    expected: last + 1,
                    received,
                });
            }
        }
        if fresh {
            if let Some(received) = envelope.seq() {
                self.last_seq = Some(received);
            }
            let wanted = envelope.name().is_some_and(|name| self.wants(name));
            match dispatch {
                Some(dispatch) => {
                    assert!(wanted, "an unwanted dispatch was delivered");
                    let full = Envelope::decode(bytes).expect("a delivered dispatch scans in full");
                    assert_eq!(dispatch.envelope(), &full);
                    if let Some(seq) = dispatch.seq() {
                        assert!(
                            self.last_delivered.is_none_or(|last| seq > last),
                            "dispatch {seq} delivered after {:?}",
                            self.last_delivered
                        );
                        self.last_delivered = Some(seq);
                    }
                }
                None => assert!(!wanted, "a wanted dispatch was dropped: {bytes:?}"),
            }
        }

        match kind {
            Some(EventType::Ready) => self.owed.ready += 1,
            Some(EventType::Resumed) if state == State::Resuming => {
                let replayed = self.connection().replayed;
                self.owed.resumed = Some(replayed);
            }
            _ if state == State::Resuming && fresh => self.connection().replayed += 1,
            _ => {}
        }
    }

    /// The transport ended the connection for a message over its size limit: on an open
    /// connection it is counted per sequence number (a dial in progress just fails).
    pub(super) fn message_too_large(&mut self) {
        if !matches!(self.link, Link::Open(_)) {
            return;
        }
        let attempt = match self.too_large {
            Some((at, count)) if at == self.last_seq => count + 1,
            _ => 1,
        };
        self.too_large = Some((self.last_seq, attempt));
        self.owed.too_large = Some(attempt);
    }

    pub(super) fn permit(&mut self, used: bool, state_before: State) {
        let asked = match &self.link {
            Link::Open(connection) => connection.permit_asked && !connection.permit_used,
            _ => false,
        };
        assert_eq!(
            used,
            asked && state_before == State::AwaitingPermit,
            "permit"
        );
        if used {
            self.connection().permit_used = true;
            self.owed.identify = true;
        }
    }

    /// READY went by too large to read: there is no session id to resume and identifying
    /// again brings the same READY, so the session ends the session Discord started (1000, so
    /// a close for good) and stops.
    pub(super) fn ready_too_large(&mut self) {
        self.owed.stopped = Some(Stop::ReadyTooLarge);
        self.closing_for_good = true;
        self.session_id = None;
        self.forget_sequence();
    }

    pub(super) fn closing(&mut self, kind: CloseKind) {
        if self.stopped {
            return;
        }
        self.owed.stopped = Some(Stop::Closed(kind));
        if kind == CloseKind::EndSession {
            self.closing_for_good = true;
            self.session_id = None;
            self.forget_sequence();
        }
    }

    /// A command went through `send_command`.
    pub(super) fn command(
        &mut self,
        now: Instant,
        op: OpCode,
        result: Result<&[u8], SendError>,
        state: State,
        valid: bool,
    ) {
        let reserved = matches!(op, OpCode::Identify | OpCode::Resume | OpCode::Heartbeat);
        let window = self.window;
        match result {
            Ok(bytes) => {
                assert!(!reserved && valid && state == State::Active);
                let value: Value = serde_json::from_slice(bytes).expect("a command is JSON");
                assert_eq!(value["op"], u64::from(op.to_u8()));
                let connection = self.connection();
                assert!(!connection.closed);
                connection.record_send(now, window);
                let used = connection.in_window(now, window);
                assert!(
                    used <= SEND_LIMIT - 2,
                    "no room left for heartbeats: {used}"
                );
            }
            Err(SendError::Reserved(refused)) => assert!(reserved && refused == op),
            Err(SendError::NotReady) => assert!(!reserved && state != State::Active),
            Err(SendError::RateLimited { ready_at }) => {
                assert!(!reserved && state == State::Active && ready_at > now);
                let slack = window + send_margin(window);
                let used = self.connection().in_window(now, slack);
                assert!(
                    used >= SEND_LIMIT / 2,
                    "throttled with {used} sends in the window"
                );
            }
            Err(SendError::Encode(_)) => assert!(!reserved && state == State::Active && !valid),
        }
    }

    // ---- after every step ---------------------------------------------------------------

    /// Everything owed was paid and the session agrees with the model.
    pub(super) fn settled(&mut self, now: Instant, session: &Session) {
        let state = session.state();
        match &self.link {
            Link::Idle => assert!(
                matches!(state, State::Waiting | State::Stopped(_)),
                "{state:?}"
            ),
            Link::Dialing => assert_eq!(state, State::Connecting),
            Link::Open(connection) => {
                assert!(is_open(state), "{state:?} with an open socket");
                assert!(!connection.closed, "still open after its close frame");
            }
        }
        assert_eq!(self.stopped, matches!(state, State::Stopped(_)));
        assert_eq!(session.seq(), self.last_seq, "the sequence number");
        assert_eq!(session.session_id(), self.session_id.as_deref());
        match session.resume_state() {
            Some(resume) => {
                assert_eq!(Some(resume.session_id.as_str()), self.session_id.as_deref());
                assert_eq!(resume.seq, self.last_seq.unwrap_or(0));
            }
            None => assert!(self.session_id.is_none()),
        }
        if is_open(state) || state == State::Waiting {
            assert!(
                session.poll_timeout().is_some(),
                "{state:?} with no deadline"
            );
        }

        let owed = core::mem::take(&mut self.owed);
        assert!(
            owed.reports.is_empty(),
            "never reported: {:?}",
            owed.reports
        );
        assert_eq!(owed.ready, 0, "READY without Ready");
        assert!(
            !owed.not_resumable,
            "an unusable READY without NotResumable"
        );
        assert_eq!(owed.resumed, None, "RESUMED without Resumed");
        assert_eq!(
            owed.url_refused, None,
            "an unvouched URL kept without a report"
        );
        assert_eq!(owed.stopped, None, "close without Stopped");
        assert_eq!(
            owed.too_large, None,
            "an oversized message without its Disconnected"
        );
        let window = self.window;
        if let Link::Open(connection) = &mut self.link {
            let room = !connection.limiter_full(now, window);
            assert!(
                !(owed.heartbeat && room),
                "a requested heartbeat was not sent"
            );
            assert!(!(owed.resume && room), "Hello was not answered with Resume");
            assert!(
                !(owed.identify && room),
                "the permit was not used for Identify"
            );
        }
        self.closing_for_good = false;
    }
}
