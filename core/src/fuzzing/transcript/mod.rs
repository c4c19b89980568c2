//! Session transcripts: arbitrary sequences of inputs driven through the state machine by a
//! well-behaved driver, with every invariant of `checker` checked after every step.
//!
//! The bytes are read as a program. A few bytes choose the configuration (seed, which events
//! are wanted, timeouts, backoff, the send window, whether a saved session is restored); each
//! further step is one input: a message from the `grammar`, a close frame, a lost transport, an
//! identify permit, a message over the transport's size limit, a command or a flood of them, time passing (waking at every deadline on the
//! way, or oversleeping them all), dials starting to fail or succeed again, or the application
//! closing. After every input the driver drains the session exactly as its module docs say.

mod checker;
mod grammar;

extern crate std;

use core::time::Duration;
use std::format;
use std::vec::Vec;

use checker::{is_open, Checker};

use crate::codec::{read_head, Encoding, PrefixHead};
use crate::command::{
    encode_into, Activity, ActivityType, ChannelInfoField, Encode, Heartbeat, MemberSelector,
    RawCommand, RequestChannelInfo, RequestGuildMembers, RequestSoundboardSounds, Status,
    UpdatePresence, UpdateVoiceState, MAX_PAYLOAD_LEN,
};
use crate::fuzzing::Input;
use crate::protocol::{CloseCode, EventSet, EventType, OpCode, Snowflake};
use crate::session::{
    Backoff, CloseKind, Config, ConfigError, Message, ResumeState, SendBuffer, Session, SEND_WINDOW,
};
use crate::time::Instant;
use crate::token::Token;

/// Transcripts longer than this stop early, so one input never runs for long.
const MAX_STEPS: usize = 400;
/// Wake-ups at one instant before the driver is declared spinning.
const MAX_WAKES_AT_ONE_INSTANT: u32 = 64;
/// Rounds of draining after one input before the session is declared never settling.
const MAX_DRAIN_ROUNDS: u32 = 64;

/// Runs one transcript.
///
/// # Panics
/// When the session panics or breaks one of the invariants of the `checker` module.
pub fn session_transcript(data: &[u8]) {
    let mut input = Input::new(data);
    let mut run = Run::new(&mut input);
    for _ in 0..MAX_STEPS {
        if input.is_empty() {
            break;
        }
        run.step(&mut input);
    }
}

/// The driver: the session, a virtual clock, the socket (always one dial away) and the checker.
struct Run {
    session: Session,
    now: Instant,
    buf: SendBuffer,
    refuse_dials: bool,
    check: Checker,
}

impl Run {
    fn new(input: &mut Input<'_>) -> Self {
        let token = Token::new("MTA4NTk4NzY1NDMyMTAxMjM0NQ.GxYzAb.fuzzing-token").unwrap();
        let events = match input.byte() % 4 {
            0 => EventSet::ALL,
            1 => EventSet::EMPTY.with(EventType::MessageCreate),
            2 => EventSet::ALL
                .without(EventType::Ready)
                .without(EventType::Resumed),
            _ => EventSet::EMPTY,
        };
        let backoff = input.pick(&[
            Backoff::default(),
            Backoff {
                initial: Duration::from_millis(10),
                max: Duration::from_millis(80),
            },
        ]);
        let hello_timeout = input.pick(&[20_000, 1_000, 50]);
        let send_window = input.pick(&[SEND_WINDOW, SEND_WINDOW, Duration::from_millis(600)]);
        let config = Config::builder(token)
            .events(events)
            .unknown_events(input.bool())
            .seed(u64::from(input.byte()))
            .backoff(backoff)
            .hello_timeout(Duration::from_millis(hello_timeout))
            .handshake_timeout(Duration::from_millis(hello_timeout))
            .send_window(send_window)
            .build()
            .unwrap();
        let mut stored_url = None;
        let session = match input.byte() % 4 {
            0 => {
                let session_id = input.pick(&["restored", "restored", ""]);
                let state = ResumeState {
                    session_id: session_id.try_into().unwrap(),
                    resume_gateway_url: "wss://resume.example".try_into().unwrap(),
                    seq: input.pick(&[0, 7, u64::MAX - 1, u64::MAX]),
                };
                stored_url = Some(state.resume_gateway_url.clone());
                match Session::restore(config.clone(), &state) {
                    Ok(session) => session,
                    Err(error) => {
                        assert_eq!(error, ConfigError::EmptySessionId);
                        Session::new(config)
                    }
                }
            }
            _ => Session::new(config),
        };
        // Every wait the session may choose: its backoff cap, or Invalid Session's 1-5 s.
        let longest_wait = backoff.max.max(Duration::from_secs(5));
        let check = Checker::new(&session, longest_wait, stored_url.as_deref());
        let mut run = Self {
            session,
            now: Instant::from_millis(1_000),
            buf: [0; MAX_PAYLOAD_LEN],
            refuse_dials: false,
            check,
        };
        run.drain();
        run.check.settled(run.now, &run.session);
        run
    }

    fn step(&mut self, input: &mut Input<'_>) {
        let kind = input.byte() % 32;
        trace(format_args!(
            "{:?} {:?}: step {kind}",
            self.now,
            self.session.state()
        ));
        match kind {
            13 => self.skipped_message(input),
            0..=12 => {
                let bytes = grammar::message(input, self.session.seq());
                let message = if input.bool() {
                    Message::Binary(&bytes)
                } else {
                    Message::Text(&bytes)
                };
                let before = self.session.clone();
                let result = self.session.handle_message(self.now, message);
                trace(format_args!(
                    "  {} -> {result:?}",
                    std::string::String::from_utf8_lossy(&bytes)
                ));
                self.check.message(&bytes, result, &before, &self.session);
            }
            14 | 15 => {
                let code = input.pick(&[
                    None,
                    Some(1000),
                    Some(1001),
                    Some(1006),
                    Some(4000),
                    Some(4001),
                    Some(4002),
                    Some(4003),
                    Some(4004),
                    Some(4005),
                    Some(4007),
                    Some(4008),
                    Some(4009),
                    Some(4010),
                    Some(4014),
                    Some(4999),
                    Some(0),
                ]);
                let code = code
                    .map(|code| CloseCode::from_u16(if code == 0 { input.u16() } else { code }));
                let result = self.session.handle_message(self.now, Message::Close(code));
                assert!(matches!(result, Ok(None)), "{result:?}");
            }
            16 => {
                if input.bool() {
                    self.check.message_too_large();
                    self.session.handle_message_too_large(self.now);
                } else {
                    self.session.handle_transport_lost(self.now);
                }
            }
            17 | 18 => {
                let state = self.session.state();
                let used = self.session.handle_identify_permit(self.now);
                self.check.permit(used, state);
            }
            19 => {
                // A driver that calls handle_open when nothing was dialed changes nothing.
                let before = format!("{:?}", self.session);
                self.session.handle_open(self.now);
                assert_eq!(before, format!("{:?}", self.session));
            }
            20..=22 => self.command(input),
            23 => {
                let count = input.byte();
                let guild = Snowflake(input.u64());
                for _ in 0..count {
                    self.send(&UpdateVoiceState::leave(guild));
                }
            }
            24..=28 => {
                let by = input.pick(&[0, 1, 10, 100, 1_000, 5_000, 41_250, 60_000, 300_000]);
                self.advance(Duration::from_millis(by));
            }
            29 => {
                // The driver slept through every deadline (a suspended laptop, a stalled task).
                self.now += Duration::from_millis(u64::from(input.u32()));
                self.session.handle_timeout(self.now);
            }
            30 => self.refuse_dials = !self.refuse_dials,
            _ => {
                let kind = if input.bool() {
                    CloseKind::Resumable
                } else {
                    CloseKind::EndSession
                };
                self.check.closing(kind);
                self.session.close(kind);
            }
        }
        self.drain();
        self.check.settled(self.now, &self.session);
    }

    /// A message too large for the transport went by, its head read from its first bytes
    /// (`read_head`, as the driver and the embedded client read it). A skipped dispatch must
    /// leave the session exactly as the same message read whole does, events included: only
    /// its data is lost. It is checked against a clone that reads it; the checker's model then
    /// follows the message read whole. READY too large must close 1000 and stop. A message the
    /// whole read refuses, or whose head a prefix cannot tell, is read whole instead (a
    /// transport cannot know what it skipped is malformed).
    fn skipped_message(&mut self, input: &mut Input<'_>) {
        let bytes = grammar::message(input, self.session.seq());
        let (encoding, message) = if input.bool() {
            (Encoding::Etf, Message::Binary(&bytes))
        } else {
            (Encoding::Json, Message::Text(&bytes))
        };
        let mut whole = self.session.clone();
        let read = whole.handle_message(self.now, message);
        let head = match read_head(encoding, &bytes) {
            Ok(PrefixHead::Known(head)) if read.is_ok() && head.op() == OpCode::Dispatch => head,
            _ => {
                let before = core::mem::replace(&mut self.session, whole);
                return self.check.message(&bytes, read, &before, &self.session);
            }
        };
        let before = self.session.clone();
        let counted =
            self.session
                .handle_skipped_message(self.now, head.op(), head.event_type(), head.seq());
        trace(format_args!(
            "  skipped {} -> {counted:?}",
            std::string::String::from_utf8_lossy(&bytes)
        ));
        let open = is_open(before.state());
        if head.event_type() == Some(EventType::Ready) && open {
            assert_eq!(counted, Ok(false), "READY too large goes on");
            self.check.ready_too_large();
            return;
        }
        assert_eq!(counted, Ok(open), "a skipped dispatch");
        assert_eq!(
            format!("{whole:?}"),
            format!("{:?}", self.session),
            "a skipped dispatch left the session unlike the same message read whole"
        );
        self.check.message(&bytes, read, &before, &self.session);
    }

    /// One command of many kinds, valid or not.
    fn command(&mut self, input: &mut Input<'_>) {
        let guild = Snowflake(input.u64());
        match input.byte() % 8 {
            0 => {
                let activities = [
                    Activity::new(ActivityType::Playing, input.text()),
                    Activity::custom(input.text()),
                ];
                let count = usize::from(input.byte() % 3);
                self.send(&UpdatePresence::new(Status::Idle, &activities[..count]));
            }
            1 => self.send(&UpdateVoiceState::join(guild, Snowflake(input.u64()))),
            2 => {
                let ids: Vec<Snowflake> = (0..input.byte() % 4)
                    .map(|i| Snowflake(u64::from(i) + 1))
                    .collect();
                let selector = if input.bool() {
                    MemberSelector::UserIds(&ids)
                } else {
                    MemberSelector::Query {
                        prefix: input.text(),
                        limit: input.u16(),
                    }
                };
                self.send(&RequestGuildMembers::new(guild, selector));
            }
            3 => {
                let op = OpCode::from_u8(input.pick(&[3, 4, 8, 31, 43, 1, 2, 6, 99]));
                let data = input.pick(&[&b"null"[..], b"{}", b"{\"x\":[1]}", b"", b"{"]);
                self.send(&RawCommand::new(op, data));
            }
            4 => self.send(&Heartbeat {
                seq: input.u64_if(),
            }),
            5 => {
                let ids = [guild];
                let count = usize::from(input.byte() % 2);
                self.send(&RequestSoundboardSounds {
                    guild_ids: &ids[..count],
                });
            }
            _ => {
                let all = [ChannelInfoField::Status, ChannelInfoField::VoiceStartTime];
                let count = usize::from(input.byte() % 3);
                self.send(&RequestChannelInfo {
                    guild_id: guild,
                    fields: &all[..count],
                });
            }
        }
    }

    fn send(&mut self, command: &impl Encode) {
        let mut scratch = [0u8; MAX_PAYLOAD_LEN];
        let valid = encode_into(command, &mut scratch).is_ok();
        let state = self.session.state();
        let mut buf = [0u8; MAX_PAYLOAD_LEN];
        let result = self.session.send_command(self.now, command, &mut buf);
        self.check
            .command(self.now, command.opcode(), result, state, valid);
    }

    /// Lets `by` pass, waking at every deadline the session names on the way.
    fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        let mut wakes_here = 0;
        loop {
            self.drain();
            match self.session.poll_timeout() {
                Some(at) if at <= until => {
                    if at > self.now {
                        self.now = at;
                        wakes_here = 0;
                    }
                    wakes_here += 1;
                    assert!(
                        wakes_here <= MAX_WAKES_AT_ONE_INSTANT,
                        "woken again and again at {:?} ({:?})",
                        self.now,
                        self.session.state()
                    );
                    self.session.handle_timeout(self.now);
                }
                _ => break,
            }
        }
        self.now = until;
        self.session.handle_timeout(self.now);
    }

    /// Drains every output in the documented order, dialing when asked, until nothing moves.
    fn drain(&mut self) {
        let mut events = Vec::new();
        for _ in 0..MAX_DRAIN_ROUNDS {
            let mut progressed = false;
            while let Some(transmit) = self.session.poll_transmit(self.now, &mut self.buf) {
                progressed = true;
                trace(format_args!("  sent {transmit:?}"));
                self.check.transmit(self.now, transmit);
            }
            events.clear();
            while let Some(event) = self.session.poll_event() {
                events.push(event);
            }
            if !events.is_empty() {
                progressed = true;
                trace(format_args!("  events {events:?}"));
                self.check.events(&events, &self.session);
            }
            if let Some(connect) = self.session.poll_connect(self.now) {
                progressed = true;
                trace(format_args!(
                    "  dial {connect:?} (refused: {})",
                    self.refuse_dials
                ));
                let resume = connect.resume;
                self.check.dialed(resume, &self.session);
                if self.refuse_dials {
                    self.session.handle_transport_lost(self.now);
                } else {
                    self.session.handle_open(self.now);
                    self.check.opened(&self.session);
                }
            }
            if !progressed {
                return;
            }
        }
        panic!("the session never settles ({:?})", self.session.state());
    }
}

/// Prints a line when `FUZZ_TRACE` is set, to read a crashing transcript step by step:
/// `FUZZ_TRACE=1 cargo +nightly fuzz run session_transcript <artifact>`.
// Printing is this function's purpose: it runs only inside the fuzz targets, on request.
#[allow(clippy::print_stderr)]
fn trace(line: core::fmt::Arguments<'_>) {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *ON.get_or_init(|| std::env::var_os("FUZZ_TRACE").is_some()) {
        std::eprintln!("{line}");
    }
}
