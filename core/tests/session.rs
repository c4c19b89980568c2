//! Whole conversations between the session state machine and a fake gateway, on a virtual clock.
//!
//! Every test reads as the protocol: the gateway says something, time passes, and the test checks
//! what the client sent and what it reported. Nothing sleeps and nothing touches a network.

use core::borrow::Borrow;
use core::time::Duration;
use std::rc::Rc;

use discord_gateway::codec::DecodeError;
use discord_gateway::command::{
    Activity, ActivityType, MemberSelector, OwnedPresence, RequestGuildMembers, Status,
    UpdatePresence, UpdateVoiceState, MAX_OWNED_STRING_LEN,
};
use discord_gateway::protocol::{
    CloseCode, EventSet, EventType, Intents, Recovery, ShardId, Snowflake,
};
use discord_gateway::session::{
    send_margin, Backoff, CloseKind, Compression, Config, ConfigBuilder, ConfigError,
    DisconnectCause, Event, HandleError, Message, Next, ProtocolError, ResumeState, SendBuffer,
    SendError, Session, State, Stop, Transmit, MAX_PROPERTY_LEN, SEND_LIMIT, SEND_WINDOW,
};
use discord_gateway::token::MAX_TOKEN_LEN;
use discord_gateway::{Instant, Token};
use serde_json::{json, Value};

const TOKEN: &str = "MTA4NTk4NzY1NDMyMTAxMjM0NQ.GxYzAb.not-a-real-token-0123456789abcdefghij";
const INTERVAL: u64 = 41_250;
const RESUME_URL: &str = "wss://gateway-us-east1-d.discord.gg";

/// What the client put on the wire.
#[derive(Clone, Debug, PartialEq)]
enum Sent {
    Payload { at: Instant, value: Value },
    Close { at: Instant, code: CloseCode },
}

/// The client side of a conversation: a session, a virtual clock, and a record of everything.
struct Client<C = Config> {
    session: Session<C>,
    now: Instant,
    buf: SendBuffer,
    sent: Vec<Sent>,
    events: Vec<Event>,
    dispatches: Vec<(Option<u64>, String, Value)>,
    dials: Vec<(String, bool)>,
    /// Dials fail (the gateway is unreachable) while set.
    refuse_dials: bool,
    /// The gateway acknowledges every heartbeat at once while set.
    auto_ack: bool,
}

impl<C: Borrow<Config>> Client<C> {
    fn new(config: C) -> Self {
        Self::from_session(Session::new(config))
    }

    fn from_session(session: Session<C>) -> Self {
        Self {
            session,
            now: Instant::from_millis(1_000),
            buf: [0; 4096],
            sent: Vec::new(),
            events: Vec::new(),
            dispatches: Vec::new(),
            dials: Vec::new(),
            refuse_dials: false,
            auto_ack: false,
        }
    }

    /// Drains every output, in the documented order, and dials when asked.
    fn drain(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(transmit) = self.session.poll_transmit(self.now, &mut self.buf) {
                progressed = true;
                let at = self.now;
                let sent = match transmit {
                    Transmit::Text(bytes) => Sent::Payload {
                        at,
                        value: serde_json::from_slice(bytes).unwrap(),
                    },
                    Transmit::Close(code) => Sent::Close { at, code },
                    Transmit::Binary(_) => panic!("these sessions speak JSON"),
                };
                let heartbeat = matches!(&sent, Sent::Payload { value, .. } if value["op"] == 1);
                self.sent.push(sent);
                if heartbeat && self.auto_ack {
                    let ack = Message::Text(br#"{"t":null,"s":null,"op":11,"d":null}"#);
                    self.session.handle_message(self.now, ack).unwrap();
                }
            }
            while let Some(event) = self.session.poll_event() {
                progressed = true;
                self.events.push(event);
            }
            if let Some(connect) = self.session.poll_connect(self.now) {
                progressed = true;
                self.dials.push((connect.url.to_string(), connect.resume));
                if self.refuse_dials {
                    self.session.handle_transport_lost(self.now);
                } else {
                    self.session.handle_open(self.now);
                }
            }
            if !progressed {
                return;
            }
        }
    }

    /// The gateway sends a text message.
    fn recv(&mut self, payload: &str) {
        let result = self
            .session
            .handle_message(self.now, Message::Text(payload.as_bytes()));
        let dispatch = result.unwrap_or_else(|error| panic!("{error:?} in {payload}"));
        if let Some(dispatch) = dispatch {
            let name = dispatch.name().unwrap().raw().to_owned();
            let data = serde_json::from_slice(dispatch.data()).unwrap();
            self.dispatches.push((dispatch.seq(), name, data));
        }
        self.drain();
    }

    fn recv_value(&mut self, value: Value) {
        self.recv(&value.to_string());
    }

    fn close_from_server(&mut self, code: u16) {
        self.session
            .handle_message(self.now, Message::Close(Some(CloseCode::from_u16(code))))
            .unwrap();
        self.drain();
    }

    /// Lets time pass, waking the session at every deadline it names on the way.
    fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        loop {
            self.drain();
            match self.session.poll_timeout() {
                Some(at) if at <= until => {
                    self.now = self.now.max(at);
                    self.session.handle_timeout(self.now);
                }
                _ => break,
            }
        }
        self.now = until;
        self.session.handle_timeout(self.now);
        self.drain();
    }

    fn advance_to(&mut self, at: Instant) {
        let by = at.saturating_duration_since(self.now);
        self.advance(by);
    }

    fn hello(&mut self) {
        self.recv_value(json!({"t": null, "s": null, "op": 10, "d": {"heartbeat_interval": INTERVAL, "_trace": ["x"]}}));
    }

    fn ready(&mut self, session_id: &str) {
        self.recv_value(json!({"t": "READY", "s": 1, "op": 0, "d": {
            "v": 10, "user": {"id": "1", "username": "bot"}, "guilds": [],
            "session_id": session_id, "resume_gateway_url": RESUME_URL,
            "shard": [0, 1], "application": {"id": "1", "flags": 0}}}));
    }

    fn dispatch(&mut self, seq: u64, name: &str) {
        self.recv(&format!(
            r#"{{"t":"{name}","s":{seq},"op":0,"d":{{"id":"{seq}","nested":{{"s":999,"op":7}}}}}}"#
        ));
    }

    fn ack(&mut self) {
        self.recv(r#"{"t":null,"s":null,"op":11,"d":null}"#);
    }

    /// The gateway asks for a heartbeat (op 1), which goes out at once, and acknowledges it:
    /// the live connection proved stable, so the next disconnect reconnects without delay.
    fn prove_stable(&mut self) {
        self.recv(r#"{"t":null,"s":null,"op":1,"d":null}"#);
        self.ack();
    }

    /// Connect, Hello, permit, READY: a live session.
    fn start(&mut self) {
        self.drain();
        self.hello();
        assert!(self.session.handle_identify_permit(self.now));
        self.drain();
        self.ready("session-1");
    }

    fn payloads(&self, op: u64) -> Vec<(Instant, Value)> {
        self.sent
            .iter()
            .filter_map(|sent| match sent {
                Sent::Payload { at, value } if value["op"] == op => Some((*at, value["d"].clone())),
                _ => None,
            })
            .collect()
    }

    fn closes(&self) -> Vec<CloseCode> {
        self.sent
            .iter()
            .filter_map(|sent| match sent {
                Sent::Close { code, .. } => Some(*code),
                Sent::Payload { .. } => None,
            })
            .collect()
    }

    fn take_events(&mut self) -> Vec<Event> {
        core::mem::take(&mut self.events)
    }
}

fn config() -> discord_gateway::session::ConfigBuilder {
    Config::builder(Token::new(TOKEN).unwrap())
        .intents(Intents::GUILDS | Intents::GUILD_MESSAGES)
        .seed(42)
}

fn client() -> Client {
    Client::new(config().build().unwrap())
}

#[test]
fn identifies_on_the_default_gateway_then_becomes_ready() {
    let mut client = client();
    client.drain();
    assert_eq!(
        client.dials,
        [(
            "wss://gateway.discord.gg/?v=10&encoding=json".to_owned(),
            false
        )]
    );
    assert_eq!(client.session.state(), State::AwaitingHello);

    client.hello();
    assert_eq!(client.take_events(), [Event::IdentifyPermitNeeded]);
    assert!(
        client.payloads(2).is_empty(),
        "no Identify before the permit"
    );
    assert!(client.session.handle_identify_permit(client.now));
    assert!(
        !client.session.handle_identify_permit(client.now),
        "a second permit is not used"
    );
    client.drain();

    let identify = &client.payloads(2)[0].1;
    assert_eq!(identify["token"], TOKEN);
    assert_eq!(
        identify["intents"],
        (Intents::GUILDS | Intents::GUILD_MESSAGES).bits()
    );
    assert_eq!(identify["shard"], json!([0, 1]));
    assert_eq!(identify["properties"]["browser"], "discord-gateway");

    client.ready("session-1");
    assert_eq!(client.take_events(), [Event::Ready]);
    assert_eq!(client.session.state(), State::Active);
    assert_eq!(client.session.session_id(), Some("session-1"));
    assert_eq!(client.session.seq(), Some(1));
    assert_eq!(client.dispatches[0].1, "READY");
}

#[test]
fn sequence_numbers_advance_and_payloads_without_s_are_still_delivered() {
    // discordpkg/gateway v0.2 never advanced its sequence and dropped payloads without `s`.
    let mut client = client();
    client.start();
    client.dispatch(2, "MESSAGE_CREATE");
    client.dispatch(3, "GUILD_CREATE");
    assert_eq!(client.session.seq(), Some(3));
    client.recv(r#"{"t":"MESSAGE_CREATE","op":0,"d":{"id":"no-seq"}}"#);
    client.recv(r#"{"t":"MESSAGE_CREATE","s":null,"op":0,"d":{"id":"null-seq"}}"#);
    assert_eq!(
        client.session.seq(),
        Some(3),
        "only a non-null s moves the sequence"
    );
    let names: Vec<_> = client
        .dispatches
        .iter()
        .map(|(seq, name, _)| (*seq, name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            (Some(1), "READY"),
            (Some(2), "MESSAGE_CREATE"),
            (Some(3), "GUILD_CREATE"),
            (None, "MESSAGE_CREATE"),
            (None, "MESSAGE_CREATE")
        ]
    );
    assert_eq!(
        client.dispatches[2].2["nested"]["s"], 999,
        "nested s/op keys are data, not envelope"
    );
}

#[test]
fn sequence_gaps_are_reported_and_repeats_dropped_without_breaking_the_session() {
    let mut client = client();
    client.start();
    client.take_events();
    client.dispatch(2, "MESSAGE_CREATE");
    client.dispatch(5, "MESSAGE_CREATE");
    assert_eq!(
        client.take_events(),
        [Event::SequenceGap {
            expected: 3,
            received: 5
        }]
    );
    client.dispatch(4, "MESSAGE_CREATE");
    assert_eq!(
        client.take_events(),
        [Event::StaleDispatch {
            last: 5,
            received: 4
        }]
    );
    client.dispatch(6, "MESSAGE_CREATE");
    let seqs: Vec<_> = client.dispatches.iter().map(|d| d.0.unwrap()).collect();
    assert_eq!(seqs, [1, 2, 5, 6]);
    assert_eq!(client.session.state(), State::Active);
}

#[test]
fn heartbeats_start_after_seeded_jitter_then_keep_the_interval_and_carry_the_last_seq() {
    let first_beat = |seed| {
        let mut client = Client::new(config().seed(seed).build().unwrap());
        client.start();
        let hello_at = client.now;
        client.advance(Duration::from_millis(INTERVAL));
        client.payloads(1)[0].0.saturating_duration_since(hello_at)
    };
    // Same seed, same transcript; other seeds spread over [0, interval).
    assert_eq!(first_beat(7), first_beat(7));
    let firsts: Vec<Duration> = (0..20).map(first_beat).collect();
    assert!(firsts.iter().all(|d| *d < Duration::from_millis(INTERVAL)));
    assert!(firsts.iter().any(|d| *d != firsts[0]));

    let mut client = client();
    client.start();
    client.dispatch(2, "MESSAGE_CREATE");
    client.advance(Duration::from_millis(INTERVAL));
    let beats = client.payloads(1);
    assert_eq!(beats.len(), 1);
    assert_eq!(beats[0].1, json!(2));
    client.advance(Duration::from_millis(100));
    client.ack();
    assert_eq!(
        client.session.latency(),
        Some(client.now.saturating_duration_since(beats[0].0))
    );
    client.dispatch(3, "MESSAGE_CREATE");
    client.advance(Duration::from_millis(INTERVAL));
    let beats = client.payloads(1);
    assert_eq!(beats.len(), 2);
    assert_eq!(
        beats[1].0.saturating_duration_since(beats[0].0),
        Duration::from_millis(INTERVAL)
    );
    assert_eq!(beats[1].1, json!(3));
}

#[test]
fn a_heartbeat_before_any_dispatch_carries_null() {
    let mut client = client();
    client.drain();
    client.hello();
    client.advance(Duration::from_millis(INTERVAL));
    assert_eq!(client.payloads(1)[0].1, Value::Null);
}

#[test]
fn a_server_heartbeat_request_is_answered_at_once() {
    let mut client = client();
    client.start();
    client.recv(r#"{"t":null,"s":null,"op":1,"d":null}"#);
    let beats = client.payloads(1);
    assert_eq!(beats.len(), 1);
    assert_eq!(beats[0], (client.now, json!(1)));
}

#[test]
fn a_zombie_connection_is_closed_and_resumed_with_replay() {
    let mut client = client();
    client.start();
    client.prove_stable();
    client.dispatch(2, "MESSAGE_CREATE");
    client.take_events();
    // One beat goes unanswered; at the next one the connection is declared a zombie.
    client.advance(Duration::from_millis(INTERVAL));
    let first_beat = client.payloads(1).last().unwrap().0;
    client.advance_to(first_beat + Duration::from_millis(INTERVAL - 1));
    assert!(client.closes().is_empty());
    client.advance(Duration::from_millis(1));
    assert_eq!(
        client.closes(),
        [CloseCode::UnknownError],
        "closed with a code that keeps the session"
    );
    assert_eq!(
        client.take_events(),
        [Event::Disconnected {
            cause: DisconnectCause::Zombie,
            next: Next::Resume {
                after: Duration::ZERO
            }
        }]
    );
    assert_eq!(
        client.dials.last().unwrap(),
        &(format!("{RESUME_URL}/?v=10&encoding=json"), true)
    );

    client.hello();
    let resume = &client.payloads(6)[0].1;
    assert_eq!(
        resume,
        &json!({"token": TOKEN, "session_id": "session-1", "seq": 2})
    );
    assert!(client.payloads(2).len() == 1, "no second Identify");
    client.dispatch(3, "MESSAGE_CREATE");
    client.dispatch(4, "MESSAGE_CREATE");
    client.recv(r#"{"t":"RESUMED","s":5,"op":0,"d":{"_trace":["x"]}}"#);
    assert_eq!(client.take_events(), [Event::Resumed { replayed: 2 }]);
    assert_eq!(client.session.seq(), Some(5));
    assert!(client.session.is_active());
}

#[test]
fn reconnect_resumes_and_reconnect_before_hello_without_a_session_identifies() {
    let mut client = client();
    client.start();
    client.prove_stable();
    client.take_events();
    client.recv(r#"{"t":null,"s":null,"op":7,"d":null}"#);
    assert_eq!(client.closes(), [CloseCode::UnknownError]);
    assert_eq!(
        client.take_events(),
        [Event::Disconnected {
            cause: DisconnectCause::Reconnect,
            next: Next::Resume {
                after: Duration::ZERO
            }
        }]
    );
    assert!(client.dials.last().unwrap().1);

    let mut fresh = self::client();
    fresh.drain();
    fresh.recv(r#"{"op":7,"d":null}"#);
    let events = fresh.take_events();
    let [Event::Disconnected {
        cause: DisconnectCause::Reconnect,
        next: Next::Identify { after },
    }] = events[..]
    else {
        panic!("{events:?}")
    };
    assert!(
        after <= Duration::from_secs(1),
        "a connection that never became ready backs off: {after:?}"
    );
    fresh.advance(after);
    assert_eq!(fresh.dials.len(), 2);
    assert!(!fresh.dials[1].1, "nothing to resume: identify");
}

#[test]
fn invalid_session_resumable_resumes() {
    let mut client = client();
    client.start();
    client.prove_stable();
    client.take_events();
    client.recv(r#"{"t":null,"s":null,"op":9,"d":true}"#);
    assert_eq!(
        client.take_events(),
        [Event::Disconnected {
            cause: DisconnectCause::InvalidSession { resumable: true },
            next: Next::Resume {
                after: Duration::ZERO
            }
        }]
    );
    client.hello();
    assert_eq!(client.payloads(6).len(), 1);
}

#[test]
fn invalid_session_not_resumable_waits_one_to_five_seconds_then_identifies_a_new_session() {
    let mut client = client();
    client.start();
    client.dispatch(2, "MESSAGE_CREATE");
    client.take_events();
    client.recv(r#"{"t":null,"s":null,"op":9,"d":false}"#);
    let events = client.take_events();
    let Event::Disconnected {
        cause,
        next: Next::Identify { after },
    } = events[0]
    else {
        panic!("{events:?}")
    };
    assert_eq!(cause, DisconnectCause::InvalidSession { resumable: false });
    assert!(
        (Duration::from_secs(1)..=Duration::from_secs(5)).contains(&after),
        "{after:?}"
    );
    assert_eq!(client.session.resume_state(), None);
    assert_eq!(client.dials.len(), 1, "no dial before the wait is over");

    client.advance(after);
    assert_eq!(client.dials.len(), 2);
    assert_eq!(
        client.dials[1],
        (
            "wss://gateway.discord.gg/?v=10&encoding=json".to_owned(),
            false
        )
    );
    client.hello();
    assert_eq!(client.take_events(), [Event::IdentifyPermitNeeded]);
    client.session.handle_identify_permit(client.now);
    client.drain();
    assert_eq!(client.payloads(2).len(), 2);
    client.ready("session-2");
    assert_eq!(
        client.take_events(),
        [Event::Ready],
        "the new session starts again at s=1 with no gap"
    );
    assert_eq!(client.session.session_id(), Some("session-2"));
}

#[test]
fn every_close_code_leads_where_the_protocol_says() {
    let fatal = [4004u16, 4010, 4011, 4012, 4013, 4014];
    let reidentify = [4003u16, 4007, 4009];
    let resume = [
        1000u16, 1001, 1005, 1006, 1011, 4000, 4001, 4002, 4005, 4008, 4999,
    ];
    for code in fatal.into_iter().chain(reidentify).chain(resume) {
        let mut client = client();
        client.start();
        client.prove_stable();
        client.take_events();
        client.close_from_server(code);
        let events = client.take_events();
        let cause = DisconnectCause::ServerClosed(CloseCode::from_u16(code));
        if fatal.contains(&code) {
            assert_eq!(
                events,
                [
                    Event::Disconnected {
                        cause,
                        next: Next::Stop
                    },
                    Event::Stopped(Stop::Fatal(CloseCode::from_u16(code)))
                ],
                "{code}"
            );
            client.advance(Duration::from_secs(3600));
            assert_eq!(
                client.dials.len(),
                1,
                "{code}: no reconnect after a fatal code"
            );
            assert!(CloseCode::from_u16(code)
                .to_string()
                .contains(&code.to_string()));
        } else if reidentify.contains(&code) {
            assert_eq!(
                events,
                [Event::Disconnected {
                    cause,
                    next: Next::Identify {
                        after: Duration::ZERO
                    }
                }],
                "{code}"
            );
            assert!(!client.dials[1].1);
        } else {
            assert_eq!(
                events,
                [Event::Disconnected {
                    cause,
                    next: Next::Resume {
                        after: Duration::ZERO
                    }
                }],
                "{code}"
            );
            assert!(client.dials[1].1);
        }
        assert!(
            client.closes().is_empty(),
            "{code}: the server closed; the client sends no close of its own"
        );
    }
}

#[test]
fn a_message_too_large_resumes_twice_at_one_sequence_number_then_stops_resumable() {
    // The transport ended the connection because an uncompressed message was over its size
    // limit. A resume replays the same message, so the same wall is met again: twice is worth a
    // try (the message may have been a one-off), the third time at the same `s` stops.
    let mut client = client();
    client.start();
    client.dispatch(2, "MESSAGE_CREATE");
    client.take_events();
    for attempt in 1..=2 {
        client.session.handle_message_too_large(client.now);
        client.drain();
        let events = client.take_events();
        let [Event::Disconnected {
            cause: DisconnectCause::MessageTooLarge { attempt: counted },
            next: Next::Resume { after },
        }] = events[..]
        else {
            panic!("attempt {attempt}: {events:?}")
        };
        assert_eq!(counted, attempt);
        assert_eq!(
            DisconnectCause::MessageTooLarge { attempt }.recovery(),
            Recovery::Resume
        );
        client.advance(after);
        assert_eq!(client.dials.len(), 1 + attempt as usize);
        assert!(client.dials.last().unwrap().1, "resumes");
        assert!(client.closes().is_empty(), "the transport is already gone");
        client.hello();
        assert_eq!(client.payloads(6).len(), attempt as usize);
    }
    client.session.handle_message_too_large(client.now);
    client.drain();
    assert_eq!(
        client.take_events(),
        [
            Event::Disconnected {
                cause: DisconnectCause::MessageTooLarge { attempt: 3 },
                next: Next::Stop
            },
            Event::Stopped(Stop::MessageTooLarge)
        ]
    );
    assert_eq!(
        DisconnectCause::MessageTooLarge { attempt: 3 }.recovery(),
        Recovery::Fatal
    );
    assert_eq!(
        client.session.state(),
        State::Stopped(Stop::MessageTooLarge)
    );
    let saved = client.session.resume_state().expect("kept for a resume");
    assert_eq!((saved.session_id.as_str(), saved.seq), ("session-1", 2));
    client.advance(Duration::from_secs(3600));
    assert_eq!(client.dials.len(), 3, "no reconnect after the third");
}

#[test]
fn messages_too_large_at_different_sequence_numbers_start_the_count_again() {
    let mut client = client();
    client.start();
    client.prove_stable();
    for seq in 2..6 {
        client.dispatch(seq, "MESSAGE_CREATE");
        client.take_events();
        client.session.handle_message_too_large(client.now);
        client.drain();
        let events = client.take_events();
        assert!(
            matches!(
                events[..],
                [Event::Disconnected {
                    cause: DisconnectCause::MessageTooLarge { attempt: 1 },
                    next: Next::Resume { .. }
                }]
            ),
            "{events:?}"
        );
        client.hello();
        client.recv(r#"{"t":"RESUMED","s":null,"op":0,"d":{}}"#);
        assert!(client.session.is_active());
        client.prove_stable();
    }
}

#[test]
fn a_close_frame_without_a_code_is_reported_as_1005_and_resumes() {
    let mut client = client();
    client.start();
    client.prove_stable();
    client.take_events();
    client
        .session
        .handle_message(client.now, Message::Close(None))
        .unwrap();
    client.drain();
    assert_eq!(
        client.take_events(),
        [Event::Disconnected {
            cause: DisconnectCause::ServerClosed(CloseCode::Other(1005)),
            next: Next::Resume {
                after: Duration::ZERO
            }
        }]
    );
}

#[test]
fn a_dropped_transport_resumes_and_failed_dials_back_off_exponentially() {
    let mut client = Client::new(
        config()
            .backoff(Backoff {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(8),
            })
            .build()
            .unwrap(),
    );
    client.start();
    client.prove_stable();
    client.take_events();
    client.session.handle_transport_lost(client.now);
    assert_eq!(
        client.session.poll_event(),
        Some(Event::Disconnected {
            cause: DisconnectCause::TransportLost,
            next: Next::Resume {
                after: Duration::ZERO
            },
        })
    );
    // The gateway is unreachable: every dial fails, and the waits double up to the cap.
    client.refuse_dials = true;
    client.session.handle_transport_lost(client.now);
    client.drain();
    let mut waits = Vec::new();
    for _ in 0..6 {
        let events = client.take_events();
        let Some(Event::Disconnected {
            cause: DisconnectCause::DialFailed,
            next: Next::Resume { after },
        }) = events.last().copied()
        else {
            panic!("expected a dial failure: {events:?}")
        };
        waits.push(after);
        let dials = client.dials.len();
        client.advance(after);
        assert_eq!(client.dials.len(), dials + 1);
    }
    let caps = [1u64, 2, 4, 8, 8, 8].map(Duration::from_secs);
    for (wait, cap) in waits.iter().zip(caps) {
        assert!(
            *wait >= cap / 2 && *wait <= cap,
            "{wait:?} not in [{:?}, {cap:?}]",
            cap / 2
        );
    }
    // After three failed resumes the configured gateway is tried instead of READY's host.
    assert!(client
        .dials
        .last()
        .unwrap()
        .0
        .starts_with("wss://gateway.discord.gg/"));
    assert!(client.dials.last().unwrap().1, "still a resume");
}

#[test]
fn a_missing_hello_times_out_and_reconnects() {
    let mut client = Client::new(
        config()
            .hello_timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
    );
    client.drain();
    client.advance(Duration::from_secs(10));
    assert_eq!(client.closes(), [CloseCode::UnknownError]);
    let events = client.take_events();
    assert!(
        matches!(
            events[0],
            Event::Disconnected {
                cause: DisconnectCause::HelloTimeout,
                ..
            }
        ),
        "{events:?}"
    );
}

#[test]
fn a_flood_of_commands_never_puts_more_than_120_messages_in_any_minute() {
    let mut client = client();
    client.auto_ack = true;
    client.start();
    let guild = Snowflake(584_799_433_523_331_074);
    let request = RequestGuildMembers::new(
        guild,
        MemberSelector::Query {
            prefix: "fer",
            limit: 25,
        },
    );
    let mut delivered = 0;
    let mut buf = [0u8; 4096];
    while delivered < 500 {
        match client.session.send_command(client.now, &request, &mut buf) {
            Ok(bytes) => {
                let value: Value = serde_json::from_slice(bytes).unwrap();
                client.sent.push(Sent::Payload {
                    at: client.now,
                    value,
                });
                delivered += 1;
            }
            Err(SendError::RateLimited { ready_at }) => {
                assert!(ready_at > client.now);
                // Heartbeats go on meanwhile (and are acknowledged).
                client.advance_to(ready_at);
            }
            Err(other) => panic!("{other}"),
        }
    }
    assert!(
        client.session.is_active(),
        "no zombie: heartbeats were never starved"
    );
    let times: Vec<u64> = client
        .sent
        .iter()
        .filter_map(|sent| match sent {
            Sent::Payload { at, .. } => Some(at.as_millis()),
            Sent::Close { .. } => None,
        })
        .collect();
    for (i, &start) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .take_while(|&&t| t < start + 60_000)
            .count();
        assert!(
            in_window <= SEND_LIMIT,
            "{in_window} messages in the minute from {start}"
        );
    }
    let elapsed = client
        .now
        .saturating_duration_since(Instant::from_millis(1_000));
    let beats = client.payloads(1).len() as u128;
    assert!(
        beats >= elapsed.as_millis() / u128::from(INTERVAL),
        "heartbeats kept going through the flood: {beats}"
    );
    assert!(
        elapsed < Duration::from_secs(5 * 60),
        "the limiter did not over-throttle: {elapsed:?}"
    );
}

#[test]
fn commands_wait_for_a_ready_session_and_the_session_opcodes_are_its_own() {
    let mut client = client();
    let mut buf = [0u8; 4096];
    let leave = UpdateVoiceState {
        guild_id: Snowflake(1),
        channel_id: None,
        self_mute: false,
        self_deaf: false,
    };
    assert_eq!(
        client.session.send_command(client.now, &leave, &mut buf),
        Err(SendError::NotReady)
    );
    client.start();
    assert!(client
        .session
        .send_command(client.now, &leave, &mut buf)
        .is_ok());
    let heartbeat = discord_gateway::command::Heartbeat { seq: Some(1) };
    assert!(matches!(
        client
            .session
            .send_command(client.now, &heartbeat, &mut buf),
        Err(SendError::Reserved(_))
    ));
}

#[test]
fn a_restored_session_resumes_in_a_new_process() {
    let mut first = client();
    first.start();
    first.dispatch(2, "MESSAGE_CREATE");
    first.dispatch(3, "MESSAGE_CREATE");
    first.session.close(CloseKind::Resumable);
    first.drain();
    assert_eq!(
        first.closes(),
        [CloseCode::UnknownError],
        "a resumable close avoids 1000/1001"
    );
    let saved = serde_json::to_string(&first.session.resume_state().unwrap()).unwrap();

    let state: ResumeState = serde_json::from_str(&saved).unwrap();
    let mut second =
        Client::from_session(Session::restore(config().build().unwrap(), &state).unwrap());
    second.drain();
    assert_eq!(
        second.dials,
        [(format!("{RESUME_URL}/?v=10&encoding=json"), true)]
    );
    second.hello();
    assert_eq!(
        second.payloads(6)[0].1,
        json!({"token": TOKEN, "session_id": "session-1", "seq": 3})
    );
    second.dispatch(4, "MESSAGE_CREATE");
    second.recv(r#"{"t":"RESUMED","s":5,"op":0,"d":{}}"#);
    assert!(second
        .take_events()
        .contains(&Event::Resumed { replayed: 1 }));
}

#[test]
fn closing_for_good_sends_1000_and_forgets_the_session() {
    let mut client = client();
    client.start();
    client.take_events();
    client.session.close(CloseKind::EndSession);
    client.drain();
    assert_eq!(client.closes(), [CloseCode::Normal]);
    assert_eq!(
        client.take_events(),
        [Event::Stopped(Stop::Closed(CloseKind::EndSession))]
    );
    assert_eq!(client.session.resume_state(), None);
    client.advance(Duration::from_secs(600));
    assert_eq!(client.dials.len(), 1);
}

#[test]
fn malformed_messages_are_refused_without_losing_state() {
    let mut client = client();
    client.start();
    client.dispatch(2, "MESSAGE_CREATE");
    for bad in [
        "",
        "[]",
        "{",
        r#"{"op":"0"}"#,
        r#"{"t":"X","s":-3,"op":0,"d":{}}"#,
        r#"{"s":3,"op":0,"d":{"a":[}"#,
        r#"{"op":0,"op":0}"#,
        r#"{"op":9,"d":"yes"}"#,
    ] {
        let result = client
            .session
            .handle_message(client.now, Message::Text(bad.as_bytes()));
        assert!(result.is_err(), "{bad:?} was accepted");
        assert_eq!(client.session.seq(), Some(2), "{bad:?} moved the sequence");
        assert_eq!(client.session.state(), State::Active);
    }
    client.dispatch(3, "MESSAGE_CREATE");
    assert_eq!(client.dispatches.last().unwrap().0, Some(3));
}

#[test]
fn a_hello_without_a_usable_interval_is_refused_and_the_hello_deadline_still_runs() {
    let mut client = client();
    client.drain();
    for bad in [
        r#"{"op":10,"d":{"heartbeat_interval":0}}"#,
        r#"{"op":10,"d":{}}"#,
        r#"{"op":10}"#,
        r#"{"op":10,"d":{"heartbeat_interval":-5}}"#,
    ] {
        assert!(
            client
                .session
                .handle_message(client.now, Message::Text(bad.as_bytes()))
                .is_err(),
            "{bad}"
        );
        assert_eq!(client.session.state(), State::AwaitingHello);
    }
    client.advance(Duration::from_secs(20));
    assert!(client.take_events().iter().any(|e| matches!(
        e,
        Event::Disconnected {
            cause: DisconnectCause::HelloTimeout,
            ..
        }
    )));
}

#[test]
fn explicit_intents_add_to_the_ones_the_events_need() {
    // `events(MESSAGE_CREATE).intents(MESSAGE_CONTENT)` is a bot that reads message text: it
    // needs the message intents the events imply as well as the content one it names.
    let mut client = Client::new(
        Config::builder(Token::new(TOKEN).unwrap())
            .events(EventSet::EMPTY.with(EventType::MessageCreate))
            .intents(Intents::MESSAGE_CONTENT)
            .build()
            .unwrap(),
    );
    let expected = Intents::GUILD_MESSAGES | Intents::DIRECT_MESSAGES | Intents::MESSAGE_CONTENT;
    assert_eq!(client.session.config().intents(), expected);
    client.start();
    assert_eq!(client.payloads(2)[0].1["intents"], expected.bits());

    // The order of the calls does not matter, and without events the intents are exactly the
    // ones named.
    let reversed = Config::builder(Token::new(TOKEN).unwrap())
        .intents(Intents::MESSAGE_CONTENT)
        .events(EventSet::EMPTY.with(EventType::MessageCreate))
        .build()
        .unwrap();
    assert_eq!(reversed.intents(), expected);
    let named = Config::builder(Token::new(TOKEN).unwrap())
        .intents(Intents::GUILDS)
        .build()
        .unwrap();
    assert_eq!(named.intents(), Intents::GUILDS);
}

#[test]
fn unwanted_events_advance_the_sequence_but_are_not_delivered() {
    let mut client = Client::new(
        Config::builder(Token::new(TOKEN).unwrap())
            .events(EventSet::EMPTY.with(EventType::MessageCreate))
            .unknown_events(false)
            .build()
            .unwrap(),
    );
    assert_eq!(
        client.session.config().intents(),
        Intents::GUILD_MESSAGES | Intents::DIRECT_MESSAGES
    );
    client.start();
    client.dispatch(2, "GUILD_CREATE");
    client.dispatch(3, "SOMETHING_NEW");
    // Even unwanted data after the envelope is never looked at.
    client.recv(r#"{"t":"TYPING_START","s":4,"op":0,"d":{ this is never read"#);
    client.dispatch(5, "MESSAGE_CREATE");
    assert_eq!(client.session.seq(), Some(5));
    let delivered: Vec<_> = client.dispatches.iter().map(|d| d.1.as_str()).collect();
    assert_eq!(
        delivered,
        ["MESSAGE_CREATE"],
        "READY is read by the session but not delivered when unwanted"
    );
    assert!(client
        .take_events()
        .iter()
        .all(|e| !matches!(e, Event::SequenceGap { .. })));
}

#[test]
fn urls_carry_the_query_and_compression_and_shards_go_in_identify() {
    let mut client = Client::new(
        config()
            .gateway_url("ws://127.0.0.1:9999/gateway")
            .compression(Compression::ZstdStream)
            .shard(ShardId::new(3, 8).unwrap())
            .build()
            .unwrap(),
    );
    client.start();
    assert_eq!(
        client.dials[0].0,
        "ws://127.0.0.1:9999/gateway?v=10&encoding=json&compress=zstd-stream"
    );
    assert_eq!(client.payloads(2)[0].1["shard"], json!([3, 8]));
}

#[test]
fn shards_sharing_one_config_each_identify_and_resume_as_themselves() {
    // One configuration (the token, presence and URL once) behind a shared pointer, as a
    // process with many shards holds it; the config's own shard id is not the one used.
    let shared = Rc::new(
        config()
            .shard(ShardId::new(0, 16).unwrap())
            .build()
            .unwrap(),
    );
    let mut shards: Vec<Client<Rc<Config>>> = [3, 11]
        .into_iter()
        .map(|id| {
            let shard = ShardId::new(id, 16).unwrap();
            Client::from_session(Session::for_shard(Rc::clone(&shared), shard, u64::from(id)))
        })
        .collect();
    for (client, id) in shards.iter_mut().zip([3, 11]) {
        assert_eq!(client.session.shard(), ShardId::new(id, 16).unwrap());
        client.start();
        assert_eq!(client.payloads(2)[0].1["shard"], json!([id, 16]));
        assert_eq!(client.payloads(2)[0].1["token"], TOKEN);
    }
    assert_eq!(Rc::strong_count(&shared), 3, "one config, not three");

    // A saved session resumes on a shared config too.
    let state = ResumeState {
        session_id: "abc".try_into().unwrap(),
        resume_gateway_url: "wss://resume.discord.gg".try_into().unwrap(),
        seq: 7,
    };
    let session = Session::for_shard(Rc::clone(&shared), ShardId::new(5, 16).unwrap(), 1)
        .resuming(&state)
        .unwrap();
    let mut resumed = Client::from_session(session);
    resumed.drain();
    assert!(resumed.dials[0].1, "dials to resume");
    resumed.hello();
    assert_eq!(
        resumed.payloads(6)[0].1,
        json!({"token": TOKEN, "session_id": "abc", "seq": 7})
    );
}

/// The longest token accepted, of the characters that grow most in JSON (`\` and `"` escape to
/// two bytes).
fn widest_token() -> String {
    "\\\"".repeat(MAX_TOKEN_LEN.max(512) / 2)
}

/// A builder for the widest Identify but for its shard and presence: `token`, the largest
/// properties of characters that escape to six bytes, every intent, the largest threshold.
fn widest_builder(token: &str) -> ConfigBuilder {
    Config::builder(Token::new(token).unwrap())
        .properties(
            &"\u{1}".repeat(MAX_PROPERTY_LEN),
            &"\u{1}".repeat(MAX_PROPERTY_LEN),
        )
        .intents(Intents::all())
        .large_threshold(250)
}

#[test]
fn build_refuses_an_identify_that_would_only_overflow_with_a_wider_shard_id() {
    // A config serves any shard (`Session::for_shard`), so `build` proves the Identify with
    // the widest shard id there is: a presence that fits beside `[0, 1]` but not beside
    // `[4294967294, 4294967295]` is refused.
    let token = widest_token();
    let base = || widest_builder(&token);
    let wide = ShardId::new(u32::MAX - 1, u32::MAX).unwrap();
    // Grow the presence by one escaped control character (six bytes on the wire) at a time,
    // filling two activities' names and states in turn, until build refuses it.
    let escapes = |count: usize| "\u{1}".repeat(count.min(MAX_OWNED_STRING_LEN));
    let mut last_fit = 0;
    for count in 0..4 * MAX_OWNED_STRING_LEN {
        let slot = |i: usize| escapes(count.saturating_sub(i * MAX_OWNED_STRING_LEN));
        let (first, second, third, fourth) = (slot(0), slot(1), slot(2), slot(3));
        let activities = [
            Activity::new(ActivityType::Playing, &first).with_state(&second),
            Activity::new(ActivityType::Watching, &third).with_state(&fourth),
        ];
        let presence =
            OwnedPresence::from_borrowed(&UpdatePresence::new(Status::Idle, &activities)).unwrap();
        match base().presence(presence).build() {
            Ok(config) => {
                // Whatever build accepts fits beside the widest shard id.
                let mut client = Client::from_session(Session::for_shard(config, wide, 1));
                client.start();
                let identify = json!({"op": 2, "d": client.payloads(2)[0].1}).to_string();
                assert!(identify.len() <= 4096, "{}", identify.len());
                last_fit = identify.len();
            }
            Err(error) => {
                assert_eq!(error, ConfigError::IdentifyTooLarge);
                // The refused Identify is six bytes longer than the last that fitted; with
                // `[0, 1]` (20 bytes narrower) it would have fitted, so the width was checked.
                assert!(last_fit + 6 - 20 <= 4096, "{last_fit}");
                assert!(last_fit > 4096 - 6, "refused too early: {last_fit}");
                return;
            }
        }
    }
    panic!("the presence never became too large");
}

/// Defect 5 of the driver issue: a gateway URL that already carried a query got the session's
/// own query appended a second time, so compressed frames were read as JSON, Hello never
/// parsed, and every connection failed the same way. It is a configuration error now, and so
/// is a saved resume URL with a query.
#[test]
fn a_gateway_url_with_a_query_or_fragment_is_refused() {
    for url in [
        "wss://gateway.discord.gg/?v=10&encoding=json",
        "wss://gateway.discord.gg?compress=zlib-stream",
        "ws://127.0.0.1:9999/#top",
    ] {
        let built = config().gateway_url(url).build();
        assert_eq!(built.err(), Some(ConfigError::UrlQuery), "{url}");
    }
    let mut state = ResumeState {
        session_id: "abc".try_into().unwrap(),
        resume_gateway_url: "wss://resume.discord.gg/?v=10".try_into().unwrap(),
        seq: 3,
    };
    let refused = Session::restore(config().build().unwrap(), &state);
    assert_eq!(refused.err(), Some(ConfigError::UrlQuery));
    state.resume_gateway_url = "wss://resume.discord.gg/".try_into().unwrap();
    assert!(Session::restore(config().build().unwrap(), &state).is_ok());
}

#[test]
fn a_512_byte_token_identifies_and_resumes_and_an_identify_over_4096_bytes_is_refused_by_build() {
    // Discord-compatible gateways issue JWT-style tokens of about 400 bytes. The longest token
    // accepted, made of the characters that grow most in JSON (`\` and `"` escape to two
    // bytes), with the largest properties (control characters escape to six) and every other
    // field at its widest, still makes an Identify within Discord's 4096 bytes.
    let token = widest_token();
    let widest = || widest_builder(&token).shard(ShardId::new(u32::MAX - 1, u32::MAX).unwrap());
    let mut client = Client::new(widest().build().unwrap());
    client.start();
    client.prove_stable();
    let identify = client.payloads(2)[0].1.clone();
    assert_eq!(identify["token"], token.as_str());
    // serde_json escapes these characters as the session does, so this is the wire length.
    let wire = json!({"op": 2, "d": identify}).to_string();
    assert!(wire.len() <= 4096, "{}", wire.len());
    client.session.handle_transport_lost(client.now);
    client.drain();
    client.hello();
    assert_eq!(client.payloads(6)[0].1["token"], token.as_str());

    // A presence made of escapes on top of that cannot fit: a typed error from build(), not a
    // panic and not an Identify that Discord would answer with 4002.
    let escapes = "\u{1}".repeat(MAX_OWNED_STRING_LEN);
    let activities = [
        Activity::new(ActivityType::Playing, &escapes).with_state(&escapes),
        Activity::new(ActivityType::Watching, &escapes).with_state(&escapes),
    ];
    let presence =
        OwnedPresence::from_borrowed(&UpdatePresence::new(Status::Idle, &activities)).unwrap();
    assert_eq!(
        widest().presence(presence).build().err(),
        Some(ConfigError::IdentifyTooLarge)
    );
}

#[test]
fn the_token_never_shows_in_debug_output() {
    let mut client = client();
    client.start();
    let debug = format!("{:?} {:?}", client.session, client.session.config());
    assert!(!debug.contains(TOKEN));
    assert!(!debug.contains("not-a-real-token"));
}

#[test]
fn undrained_events_refuse_the_next_message_instead_of_dropping_events() {
    let mut session = Session::new(config().build().unwrap());
    let mut now = Instant::ZERO;
    let mut refused = false;
    for _ in 0..10 {
        let _ = session.poll_connect(now);
        session.handle_open(now);
        // Op 7 before Hello: each one disconnects and queues an event nobody drains.
        match session.handle_message(now, Message::Text(br#"{"op":7,"d":null}"#)) {
            Err(discord_gateway::session::HandleError::EventsNotDrained) => {
                refused = true;
                break;
            }
            Ok(_) => now += Duration::from_secs(3600),
            Err(other) => panic!("{other}"),
        }
    }
    assert!(refused);
    let mut count = 0;
    while let Some(event) = session.poll_event() {
        assert!(matches!(
            event,
            Event::Disconnected {
                cause: DisconnectCause::Reconnect,
                ..
            }
        ));
        count += 1;
    }
    assert!(count >= 5, "every event was kept: {count}");
}

#[test]
fn a_requested_heartbeat_held_by_the_limit_goes_out_as_soon_as_a_slot_frees() {
    let mut client = client();
    client.auto_ack = true;
    client.start();
    // Late enough that the next scheduled beat falls after the window frees up.
    client.advance(Duration::from_secs(30));
    // The server keeps asking for heartbeats until the whole window is spent.
    let mut asked = 0;
    loop {
        let before = client.payloads(1).len();
        client.recv(r#"{"t":null,"s":null,"op":1,"d":null}"#);
        asked += 1;
        if client.payloads(1).len() == before {
            break;
        }
        assert!(asked <= SEND_LIMIT, "the limit never held a heartbeat back");
    }
    // The held beat wakes the session when the first send of the window expires, not at the
    // next scheduled beat.
    let wake = client.session.poll_timeout().unwrap();
    let sends: Vec<Instant> = client
        .sent
        .iter()
        .filter_map(|sent| match sent {
            Sent::Payload { at, .. } => Some(*at),
            Sent::Close { .. } => None,
        })
        .collect();
    let oldest_in_window = sends[sends.len() - SEND_LIMIT];
    assert_eq!(
        wake,
        oldest_in_window + SEND_WINDOW + send_margin(SEND_WINDOW)
    );
    let scheduled = client.payloads(1).last().unwrap().0 + Duration::from_millis(INTERVAL);
    assert!(wake < scheduled, "woken by the limit, not by the schedule");
    client.advance_to(wake);
    assert_eq!(client.payloads(1).last().unwrap().0, wake);
}

/// Regression (found by the adapter suite's 1,000-command flood against the sim, which closed
/// with 4008): Discord times a message when it arrives, the client when it sends it (to the
/// millisecond), so reusing a slot exactly one window later let the gateway see 121 messages in
/// its window whenever the first one was delayed more on the way than the last.
#[test]
fn a_slot_is_reused_only_a_margin_after_the_window() {
    let mut client = client();
    client.auto_ack = true;
    client.start();
    let guild = Snowflake(584_799_433_523_331_074);
    let request = RequestGuildMembers::new(
        guild,
        MemberSelector::Query {
            prefix: "fer",
            limit: 25,
        },
    );
    let mut buf = [0u8; 4096];
    let mut sends = Vec::new();
    loop {
        match client.session.send_command(client.now, &request, &mut buf) {
            Ok(_) => sends.push(client.now),
            Err(SendError::RateLimited { ready_at }) => {
                let all: Vec<Instant> = client
                    .sent
                    .iter()
                    .filter_map(|sent| match sent {
                        Sent::Payload { at, .. } => Some(*at),
                        Sent::Close { .. } => None,
                    })
                    .chain(sends.iter().copied())
                    .collect();
                let oldest = *all.iter().min().unwrap();
                assert!(
                    ready_at >= oldest + SEND_WINDOW + send_margin(SEND_WINDOW),
                    "a slot is free at {ready_at:?}, the window opened at {oldest:?}"
                );
                assert!(send_margin(SEND_WINDOW) >= Duration::from_secs(1));
                return;
            }
            Err(other) => panic!("{other}"),
        }
    }
}

#[test]
fn a_dispatch_before_hello_is_refused_and_the_hello_deadline_still_runs() {
    // Found by the session_transcript fuzz target: a READY ahead of Hello used to make the
    // session Active with no heartbeat and no Hello deadline, so nothing would ever notice the
    // connection dying, and a restored session never sent its Resume.
    let mut client = Client::new(
        config()
            .hello_timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
    );
    client.drain();
    let ready =
        br#"{"t":"READY","s":1,"op":0,"d":{"session_id":"s","resume_gateway_url":"wss://r"}}"#;
    let result = client
        .session
        .handle_message(client.now, Message::Text(ready));
    assert_eq!(
        result,
        Err(HandleError::Protocol(ProtocolError::DispatchBeforeHello))
    );
    assert_eq!(client.session.state(), State::AwaitingHello);
    assert_eq!(client.session.seq(), None);
    assert_eq!(client.session.session_id(), None);
    client.advance(Duration::from_secs(10));
    assert!(client.take_events().iter().any(|e| matches!(
        e,
        Event::Disconnected {
            cause: DisconnectCause::HelloTimeout,
            ..
        }
    )));
}

/// Connect, Hello and permit: an Identify on the wire, READY due.
fn identified() -> Client {
    let mut client = client();
    client.drain();
    client.hello();
    assert!(client.session.handle_identify_permit(client.now));
    client.drain();
    client.take_events();
    client
}

#[test]
fn a_ready_without_a_usable_resume_url_goes_live_and_resumes_on_the_first_url() {
    // READYs before 2022 carry no `resume_gateway_url`; some gateways send one longer than the
    // room kept for it. The Identify was spent either way: the session is live, and resumes go to
    // the URL first dialled.
    let long_url = format!("wss://{}", "a".repeat(200));
    for resume_url in [
        None,
        Some(json!(long_url)),
        Some(json!(null)),
        Some(json!(5)),
    ] {
        let mut client = identified();
        let mut d = json!({"v": 10, "session_id": "old-session", "guilds": []});
        if let Some(url) = resume_url.clone() {
            d["resume_gateway_url"] = url;
        }
        client.recv_value(json!({"t": "READY", "s": 1, "op": 0, "d": d}));
        assert_eq!(client.take_events(), [Event::Ready], "{resume_url:?}");
        assert_eq!(client.session.state(), State::Active);
        assert_eq!(client.session.session_id(), Some("old-session"));
        client.prove_stable();

        client.session.handle_transport_lost(client.now);
        client.drain();
        client.hello();
        assert_eq!(
            client.dials.last().unwrap(),
            &(
                "wss://gateway.discord.gg/?v=10&encoding=json".to_owned(),
                true
            )
        );
        assert_eq!(client.payloads(6)[0].1["session_id"], "old-session");
    }
}

#[test]
fn a_ready_with_an_unusable_session_id_goes_live_and_the_next_connection_identifies() {
    // Resume cannot carry an empty, missing or truncated id, so the session cannot be resumed.
    // The connection itself is authenticated and live, though: dropping it would spend another
    // Identify against the daily budget, only to be answered with the same READY. So the session
    // goes live, says it cannot be resumed, and identifies when this connection ends.
    let too_long = "a".repeat(discord_gateway::codec::MAX_SESSION_ID_LEN + 1);
    let cases = [
        (json!(""), ProtocolError::EmptySessionId),
        (
            json!(too_long),
            ProtocolError::UnusableSessionId(DecodeError::TooLong {
                field: "session_id",
                limit: discord_gateway::codec::MAX_SESSION_ID_LEN,
            }),
        ),
        (
            json!(null),
            ProtocolError::UnusableSessionId(DecodeError::WrongType {
                field: "session_id",
                expected: "a string",
            }),
        ),
        (
            Value::Null,
            ProtocolError::UnusableSessionId(DecodeError::MissingField {
                field: "session_id",
            }),
        ),
    ];
    for (index, (session_id, reason)) in cases.into_iter().enumerate() {
        let mut client = identified();
        let mut d = json!({"v": 10, "resume_gateway_url": RESUME_URL});
        if index != 3 {
            d["session_id"] = session_id;
        }
        client.recv_value(json!({"t": "READY", "s": 1, "op": 0, "d": d}));
        assert_eq!(
            client.take_events(),
            [Event::Ready, Event::NotResumable(reason)]
        );
        assert_eq!(client.session.state(), State::Active);
        assert_eq!(client.session.session_id(), None);
        assert_eq!(client.session.resume_state(), None);
        assert_eq!(client.session.seq(), Some(1));
        let mut buf = [0; 4096];
        let leave = UpdateVoiceState::leave(Snowflake(1));
        assert!(client
            .session
            .send_command(client.now, &leave, &mut buf)
            .is_ok());
        client.prove_stable();

        client.session.handle_transport_lost(client.now);
        client.drain();
        assert_eq!(
            client.take_events(),
            [Event::Disconnected {
                cause: DisconnectCause::TransportLost,
                next: Next::Identify {
                    after: Duration::ZERO
                }
            }]
        );
        assert!(!client.dials.last().unwrap().1, "nothing to resume");
        client.hello();
        assert_eq!(client.take_events(), [Event::IdentifyPermitNeeded]);
    }
}

#[test]
fn a_ready_goes_live_even_when_its_sequence_number_is_stale() {
    // A gateway that numbers READY after a dispatch it already sent: the sequence check drops
    // the payload as a repeat, but the session still becomes live.
    let mut client = identified();
    client.dispatch(1, "GUILD_CREATE");
    client.take_events();
    client.ready("session-1");
    assert_eq!(
        client.take_events(),
        [
            Event::StaleDispatch {
                last: 1,
                received: 1
            },
            Event::Ready
        ]
    );
    assert_eq!(client.session.state(), State::Active);
    assert_eq!(client.session.session_id(), Some("session-1"));
}

#[test]
fn a_resumed_that_repeats_the_last_sequence_number_still_ends_the_resume() {
    // Some gateways number RESUMED with the last `s` already received (nothing new happened).
    // Dropping it as stale before leaving Resuming refused commands forever.
    let mut client = client();
    client.start();
    client.prove_stable();
    client.dispatch(2, "MESSAGE_CREATE");
    client.session.handle_transport_lost(client.now);
    client.drain();
    client.hello();
    client.take_events();
    client.recv(r#"{"t":"RESUMED","s":2,"op":0,"d":{"_trace":["x"]}}"#);
    assert_eq!(
        client.take_events(),
        [
            Event::StaleDispatch {
                last: 2,
                received: 2
            },
            Event::Resumed { replayed: 0 }
        ]
    );
    assert_eq!(client.session.state(), State::Active);
    assert_eq!(client.session.seq(), Some(2));
    let mut buf = [0; 4096];
    let leave = UpdateVoiceState::leave(Snowflake(1));
    assert!(client
        .session
        .send_command(client.now, &leave, &mut buf)
        .is_ok());
}

#[test]
fn a_saved_state_without_a_session_id_is_refused_rather_than_resumed_forever() {
    // Found by the session_transcript fuzz target: restoring a state whose session id is empty
    // (a truncated or hand-edited session file) made every connection wait after Hello for a
    // Resume that Resume's own validation refuses to encode, so the session never went live.
    let state = ResumeState {
        session_id: "".try_into().unwrap(),
        resume_gateway_url: RESUME_URL.try_into().unwrap(),
        seq: 3,
    };
    assert_eq!(
        Session::restore(config().build().unwrap(), &state).err(),
        Some(ConfigError::EmptySessionId)
    );
}

// ---- issue 22: trust boundaries and a silent gateway ------------------------------------------

/// Whether every dial of `client` went to the configured (default) gateway.
fn dialled_only_the_gateway(client: &Client) -> bool {
    client
        .dials
        .iter()
        .all(|(url, _)| url.starts_with("wss://gateway.discord.gg/"))
}

#[test]
fn a_stored_resume_url_the_gateway_does_not_vouch_for_is_dropped_and_the_session_resumed_at_the_gateway(
) {
    use discord_gateway::session::{UrlRefusal, UrlSource};
    // Whoever can write the session store plants a host of theirs; Resume would carry the token
    // there. The session resumes the same session at the configured gateway instead.
    let planted = [
        ("ws://127.0.0.2:4000/resume", UrlRefusal::Scheme),
        ("wss://attacker.example", UrlRefusal::Host),
        ("wss://gateway.discord.gg:8443", UrlRefusal::Port),
        (
            "wss://gateway.discord.gg@attacker.example",
            UrlRefusal::Malformed,
        ),
    ];
    for (url, reason) in planted {
        let state = ResumeState {
            session_id: "stored-session".try_into().unwrap(),
            resume_gateway_url: url.try_into().unwrap(),
            seq: 41,
        };
        let session = Session::restore(config().build().unwrap(), &state).unwrap();
        let exported = session.resume_state().unwrap();
        assert_eq!(
            exported.resume_gateway_url, "wss://gateway.discord.gg",
            "{url}"
        );
        let mut client = Client::from_session(session);
        client.drain();
        assert_eq!(
            client.take_events(),
            [Event::ResumeUrlRefused {
                source: UrlSource::Stored,
                reason
            }],
            "{url}"
        );
        assert_eq!(
            client.dials,
            [(
                "wss://gateway.discord.gg/?v=10&encoding=json".to_owned(),
                true
            )],
            "{url}"
        );
        client.hello();
        assert_eq!(
            client.payloads(6)[0].1,
            json!({"token": TOKEN, "session_id": "stored-session", "seq": 41})
        );
        // Nor is it dialled later, after failed resumes.
        client.session.handle_transport_lost(client.now);
        client.advance(Duration::from_secs(600));
        assert!(dialled_only_the_gateway(&client), "{:?}", client.dials);
    }
    // A host under discord.gg, as READY names them, is kept.
    let state = ResumeState {
        session_id: "stored-session".try_into().unwrap(),
        resume_gateway_url: RESUME_URL.try_into().unwrap(),
        seq: 41,
    };
    let mut client =
        Client::from_session(Session::restore(config().build().unwrap(), &state).unwrap());
    client.drain();
    assert_eq!(client.take_events(), []);
    assert_eq!(
        client.dials,
        [(format!("{RESUME_URL}/?v=10&encoding=json"), true)]
    );
}

#[test]
fn a_resume_url_in_ready_that_the_gateway_does_not_vouch_for_is_never_dialled() {
    use discord_gateway::session::{UrlRefusal, UrlSource};
    let mut client = identified();
    client.recv_value(json!({"t": "READY", "s": 1, "op": 0, "d": {
        "v": 10, "session_id": "s-1", "resume_gateway_url": "ws://gateway-us-east1-b.discord.gg"}}));
    assert_eq!(
        client.take_events(),
        [
            Event::Ready,
            Event::ResumeUrlRefused {
                source: UrlSource::Ready,
                reason: UrlRefusal::Scheme
            }
        ]
    );
    assert_eq!(
        client.session.resume_state().unwrap().resume_gateway_url,
        "wss://gateway.discord.gg"
    );
    client.session.handle_transport_lost(client.now);
    client.advance(Duration::from_secs(60));
    assert!(client.dials.len() >= 2);
    assert!(client.dials[1].1, "still a resume");
    assert!(dialled_only_the_gateway(&client), "{:?}", client.dials);
}

#[test]
fn a_gateway_that_acknowledges_heartbeats_but_never_sends_ready_is_left_after_the_handshake_timeout(
) {
    let timeout = discord_gateway::session::DEFAULT_HANDSHAKE_TIMEOUT;
    assert_eq!(timeout, Duration::from_secs(30));
    let mut client = identified();
    client.auto_ack = true;
    let identified_at = client.now;
    client.advance(timeout - Duration::from_millis(1));
    assert_eq!(client.session.state(), State::Identifying);
    assert!(
        !client.payloads(1).is_empty(),
        "heartbeats went on and were acknowledged"
    );
    client.advance(Duration::from_millis(1));
    assert_eq!(client.closes(), [CloseCode::UnknownError]);
    let events = client.take_events();
    let [Event::Disconnected {
        cause: DisconnectCause::HandshakeTimeout,
        next: Next::Identify { after },
    }] = events[..]
    else {
        panic!("{events:?}")
    };
    assert_eq!(client.now, identified_at + timeout);
    assert!(after > Duration::ZERO, "counted as a failure: backs off");

    // Resuming: each replayed dispatch starts the wait again; silence after it does not.
    let state = ResumeState {
        session_id: "s-1".try_into().unwrap(),
        resume_gateway_url: RESUME_URL.try_into().unwrap(),
        seq: 1,
    };
    let config = config()
        .handshake_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut client = Client::from_session(Session::restore(config, &state).unwrap());
    client.auto_ack = true;
    client.drain();
    client.hello();
    for seq in 2..6 {
        client.advance(Duration::from_secs(4));
        client.dispatch(seq, "MESSAGE_CREATE");
    }
    assert_eq!(client.session.state(), State::Resuming);
    let last_replay = client.now;
    client.advance(Duration::from_secs(5) - Duration::from_millis(1));
    assert_eq!(client.session.state(), State::Resuming);
    client.take_events();
    client.advance(Duration::from_millis(1));
    assert_eq!(client.now, last_replay + Duration::from_secs(5));
    assert!(matches!(
        client.take_events()[..],
        [Event::Disconnected {
            cause: DisconnectCause::HandshakeTimeout,
            next: Next::Resume { after }
        }] if after > Duration::ZERO
    ));
    assert_eq!(client.session.seq(), Some(5), "the replay is kept");
}

#[test]
fn the_wait_for_an_identify_permit_is_not_part_of_the_handshake_timeout() {
    let mut client = client();
    client.drain();
    client.hello();
    client.take_events();
    client.auto_ack = true;
    client.advance(Duration::from_secs(300));
    assert_eq!(client.session.state(), State::AwaitingPermit);
    assert!(client.session.handle_identify_permit(client.now));
    client.drain();
    client.advance(Duration::from_secs(29));
    client.ready("session-1");
    assert!(client.session.is_active());
    assert_eq!(client.take_events(), [Event::Ready]);
}

#[test]
fn a_gateway_that_closes_every_session_with_4000_right_after_ready_is_redialled_ever_later() {
    // Reproduced against gateway-tail: READY (or RESUMED), then close 4000, in a loop. Each
    // accepted session used to reset the failure count, so the next dial came at once.
    let mut client = Client::new(
        config()
            .backoff(Backoff {
                initial: Duration::from_secs(1),
                max: Duration::from_secs(64),
            })
            .build()
            .unwrap(),
    );
    client.start();
    let mut waits = Vec::new();
    for _ in 0..7 {
        client.take_events();
        client.close_from_server(4000);
        let events = client.take_events();
        let [Event::Disconnected {
            next: Next::Resume { after },
            ..
        }] = events[..]
        else {
            panic!("{events:?}")
        };
        waits.push(after);
        let dials = client.dials.len();
        client.advance(after);
        assert_eq!(client.dials.len(), dials + 1, "dialled after {after:?}");
        client.hello();
        client.recv(r#"{"t":"RESUMED","s":null,"op":0,"d":{}}"#);
        assert!(client.session.is_active());
    }
    let caps = [1u64, 2, 4, 8, 16, 32, 64].map(Duration::from_secs);
    for (wait, cap) in waits.iter().zip(caps) {
        assert!(
            *wait >= cap / 2 && *wait <= cap,
            "{waits:?}: {wait:?} not in [{:?}, {cap:?}]",
            cap / 2
        );
    }
    // A connection that answers a heartbeat after RESUMED proved stable: the next drop
    // reconnects at once, and the count starts again.
    client.prove_stable();
    client.take_events();
    client.close_from_server(4000);
    assert_eq!(
        client.take_events(),
        [Event::Disconnected {
            cause: DisconnectCause::ServerClosed(CloseCode::from_u16(4000)),
            next: Next::Resume {
                after: Duration::ZERO
            }
        }]
    );
}

// ---- dispatches too large to take, whose head was read from their first bytes ----------------

impl Client {
    /// The transport skipped a message too large to take; its first bytes said `op`, `t`, `s`.
    fn skip(&mut self, op: u8, kind: Option<EventType>, seq: Option<u64>) {
        let op = discord_gateway::OpCode::from_u8(op);
        let counted = self
            .session
            .handle_skipped_message(self.now, op, kind, seq)
            .unwrap();
        // Counted exactly when it is a dispatch other than READY.
        assert_eq!(
            counted,
            op == discord_gateway::OpCode::Dispatch && kind != Some(EventType::Ready)
        );
        self.drain();
    }
}

#[test]
fn a_skipped_dispatch_counts_its_sequence_number_exactly_as_a_read_one() {
    // The same conversation twice: once with every dispatch read, once with some of them too
    // large and skipped. The events, the sequence number and the heartbeats are the same.
    let script: [(u64, bool); 6] = [
        (2, false),
        (3, true),
        (5, true),
        (4, true),
        (6, false),
        (7, true),
    ];
    let mut read = client();
    let mut skipped = client();
    for client in [&mut read, &mut skipped] {
        client.start();
        client.take_events();
    }
    for (seq, skip) in script {
        read.dispatch(seq, "GUILD_CREATE");
        if skip {
            skipped.skip(0, Some(EventType::GuildCreate), Some(seq));
        } else {
            skipped.dispatch(seq, "GUILD_CREATE");
        }
        assert_eq!(skipped.take_events(), read.take_events(), "at s {seq}");
        assert_eq!(skipped.session.seq(), read.session.seq(), "at s {seq}");
    }
    assert_eq!(skipped.session.seq(), Some(7));
    // The gap and the stale one were reported on the way, as for read dispatches.
    let mut replay = client();
    replay.start();
    replay.dispatch(2, "GUILD_CREATE");
    replay.take_events();
    replay.skip(0, Some(EventType::GuildCreate), Some(5));
    replay.skip(0, Some(EventType::GuildCreate), Some(4));
    assert_eq!(
        replay.take_events(),
        [
            Event::SequenceGap {
                expected: 3,
                received: 5
            },
            Event::StaleDispatch {
                last: 5,
                received: 4
            }
        ]
    );
    // Nothing was delivered for the skipped ones, and the connection carries on.
    assert_eq!(skipped.dispatches.len(), 2 + 1);
    assert!(skipped.session.is_active());
    assert!(skipped.closes().is_empty());
    skipped.advance(Duration::from_millis(INTERVAL));
    assert_eq!(skipped.payloads(1).last().unwrap().1, json!(7));
}

#[test]
fn skipped_dispatches_during_a_resume_are_replays_and_a_skipped_resumed_completes_it() {
    let mut client = client();
    client.start();
    client.prove_stable();
    client.dispatch(2, "MESSAGE_CREATE");
    client.recv(r#"{"t":null,"s":null,"op":7,"d":null}"#);
    client.take_events();
    client.auto_ack = true;
    client.hello();
    assert_eq!(client.payloads(6)[0].1["seq"], json!(2));
    let timeout = discord_gateway::session::DEFAULT_HANDSHAKE_TIMEOUT;
    // Each replayed dispatch, skipped or not, pushes the handshake deadline back.
    client.advance(timeout - Duration::from_millis(1));
    client.skip(0, Some(EventType::GuildCreate), Some(3));
    client.advance(timeout - Duration::from_millis(1));
    client.dispatch(4, "MESSAGE_CREATE");
    client.advance(timeout - Duration::from_millis(1));
    client.skip(0, Some(EventType::Resumed), Some(5));
    assert_eq!(client.take_events(), [Event::Resumed { replayed: 2 }]);
    assert!(client.session.is_active());
    assert_eq!(client.session.seq(), Some(5));
    assert_eq!(client.dials.len(), 2, "no handshake timeout on the way");
}

#[test]
fn a_skipped_ready_stops_the_session_and_ends_the_one_discord_started() {
    // READY is what a session is: without its session id nothing can be resumed, and
    // identifying again brings the same READY over the same limit (it grows with the guilds).
    let mut client = client();
    client.drain();
    client.hello();
    assert!(client.session.handle_identify_permit(client.now));
    client.drain();
    assert_eq!(client.payloads(2).len(), 1);
    client.take_events();
    client.skip(0, Some(EventType::Ready), Some(1));
    assert_eq!(
        client.take_events(),
        [
            Event::Disconnected {
                cause: DisconnectCause::ReadyTooLarge,
                next: Next::Stop
            },
            Event::Stopped(Stop::ReadyTooLarge)
        ]
    );
    assert_eq!(DisconnectCause::ReadyTooLarge.recovery(), Recovery::Fatal);
    assert_eq!(client.closes(), [CloseCode::Normal]);
    assert_eq!(client.session.state(), State::Stopped(Stop::ReadyTooLarge));
    assert!(client.session.resume_state().is_none());
    client.advance(Duration::from_secs(3600));
    assert_eq!(client.dials.len(), 1, "no reconnect, no second Identify");
    assert_eq!(client.payloads(2).len(), 1);
}

#[test]
fn only_a_message_whose_head_is_unknown_counts_towards_the_stop_and_a_skip_moves_past_it() {
    let mut client = client();
    client.start();
    client.prove_stable();
    client.dispatch(2, "MESSAGE_CREATE");
    client.take_events();
    // Head unknown: resume, which replays it.
    client.session.handle_message_too_large(client.now);
    client.drain();
    client.hello();
    // Replayed, its head now read from a longer prefix: skipped, and the count is behind us.
    client.skip(0, Some(EventType::GuildCreate), Some(3));
    client.skip(0, Some(EventType::Resumed), None);
    client.take_events();
    for attempt in [1, 2] {
        client.session.handle_message_too_large(client.now);
        client.drain();
        let events = client.take_events();
        let [Event::Disconnected {
            cause: DisconnectCause::MessageTooLarge { attempt: counted },
            next: Next::Resume { after },
        }] = events[..]
        else {
            panic!("attempt {attempt}: {events:?}")
        };
        assert_eq!(counted, attempt);
        client.advance(after);
        client.hello();
    }
    // Any other opcode too large is a message whose head says nothing of use: the third at s 3.
    client.skip(10, None, None);
    assert_eq!(
        client.take_events(),
        [
            Event::Disconnected {
                cause: DisconnectCause::MessageTooLarge { attempt: 3 },
                next: Next::Stop
            },
            Event::Stopped(Stop::MessageTooLarge)
        ]
    );
    assert_eq!(client.session.resume_state().unwrap().seq, 3);
}

#[test]
fn a_skipped_dispatch_before_hello_is_refused_and_changes_nothing() {
    let mut client = client();
    client.drain();
    let result = client.session.handle_skipped_message(
        client.now,
        discord_gateway::OpCode::Dispatch,
        Some(EventType::GuildCreate),
        Some(1),
    );
    assert_eq!(
        result,
        Err(HandleError::Protocol(ProtocolError::DispatchBeforeHello))
    );
    assert_eq!(client.session.seq(), None);
    client.drain();
    assert!(client.take_events().is_empty());
}
