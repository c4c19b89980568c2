//! The client against scripted conversations on a virtual clock: the framing cases the sim does
//! not produce (fragments, pings), timers without waiting, and the oversized paths.

mod common;

use std::ops::ControlFlow;

use common::describe;
use common::script::{frame, Script, ACK, HELLO};
use discord_gateway::session::{Config, Event};
use discord_gateway::{Instant, Token};
use discord_gateway_embedded::replay::{Replay, SeededEntropy, VirtualTimer};
use discord_gateway_embedded::{Buffers, Client, Error, Received, SEND_BUFFER_LEN};

const SEED: u64 = 0x5eed;

fn config() -> Config {
    Config::builder(Token::new(common::TOKEN).unwrap())
        .gateway_url("ws://gateway.test")
        .seed(3)
        .build()
        .unwrap()
}

/// Plays `script` to a client with an `rx`-byte buffer until `until` says stop; returns the
/// log, the outcome and the virtual time it ended at.
fn play<B>(
    script: &Script,
    rx: usize,
    mut until: impl FnMut(&Received<'_>) -> Option<B>,
) -> (Result<B, Error>, Vec<String>, Instant) {
    let mut buffer = vec![0u8; rx];
    let mut tx = [0u8; SEND_BUFFER_LEN];
    let mut client = Client::new(
        config(),
        Buffers {
            rx: &mut buffer,
            tx: &mut tx,
        },
        SeededEntropy::new(SEED),
    )
    .unwrap();
    let mut replay = Replay::new(&script.records);
    let mut timer = VirtualTimer::new(Instant::from_millis(1_000));
    let mut log = Vec::new();
    let result = embassy_futures::block_on(client.run(&mut replay, &mut timer, |_, received| {
        log.push(describe(&received));
        if log.len() > 100 {
            // A client that departed from the script: stop and say where.
            return ControlFlow::Break(None);
        }
        until(&received).map_or(ControlFlow::Continue(()), |b| ControlFlow::Break(Some(b)))
    }));
    assert_eq!(replay.mismatch(), None, "{log:#?}");
    let result = result.map(|b| b.expect("the client ran away from the script"));
    assert!(
        replay.finished(),
        "the script was not played to the end: {log:#?}"
    );
    use discord_gateway_embedded::Timer as _;
    (result, log, timer.now())
}

fn dispatch(name: &str, seq: u64, data: &str) -> String {
    format!(r#"{{"t":"{name}","s":{seq},"op":0,"d":{data}}}"#)
}

#[test]
fn a_fragmented_message_with_a_ping_between_its_fragments_arrives_whole_and_the_ping_is_answered() {
    let message = dispatch(
        "MESSAGE_CREATE",
        2,
        r#"{"content":"in three parts","id":"9"}"#,
    );
    let (a, rest) = message.as_bytes().split_at(20);
    let (b, c) = rest.split_at(17);
    let mut wire = frame(false, 1, a);
    wire.extend(frame(true, 9, b"are you there"));
    wire.extend(frame(false, 0, b));
    wire.extend(frame(true, 0, c));
    let mut script = Script::new(SEED);
    script
        .connect("gateway.test")
        .identify("s1")
        .server(&wire)
        .client_pong(b"are you there")
        .server_text(&dispatch("MESSAGE_CREATE", 3, r#"{"content":"after"}"#));
    let mut content = None;
    let (result, log, _) = play(&script, 1024, |received| match received {
        Received::Dispatch(d) if d.seq() == Some(2) => {
            content = Some(String::from_utf8(d.data().to_vec()).unwrap());
            None
        }
        Received::Dispatch(d) if d.seq() == Some(3) => Some(()),
        _ => None,
    });
    result.unwrap();
    assert_eq!(
        content.as_deref(),
        Some(r#"{"content":"in three parts","id":"9"}"#),
        "{log:#?}"
    );
}

#[test]
fn heartbeats_follow_the_virtual_clock_and_a_missing_ack_makes_a_zombie_that_resumes() {
    let mut script = Script::new(SEED);
    script
        .connect("gateway.test")
        .identify("s1")
        .client_text(r#"{"op":1,"d":1}"#)
        .server_text(ACK)
        .client_text(r#"{"op":1,"d":1}"#)
        // No ACK this time: at the next beat the connection is a zombie.
        .client_close(4000)
        .connect("resume.gateway.test")
        .server_text(HELLO)
        .client_text_starting(r#"{"op":6,"d":{"#)
        .server_text(r#"{"t":"RESUMED","s":2,"op":0,"d":{}}"#);
    let (result, log, end) = play(&script, 2048, |received| match received {
        Received::Event(Event::Resumed { replayed }) => Some(*replayed),
        _ => None,
    });
    assert_eq!(result.unwrap(), 0);
    assert!(
        log.contains(&"disconnected Zombie -> resume".into()),
        "{log:#?}"
    );
    // Two beats and the zombie check: within three intervals of virtual time, in no real time.
    assert!(
        end.as_millis() > 1_000 + 41_250 && end.as_millis() <= 1_000 + 3 * 41_250,
        "{end:?}"
    );
}

#[test]
fn an_oversized_event_whose_head_does_not_say_its_sequence_is_resumed_not_guessed() {
    let data = format!(r#"{{"big":"{}"}}"#, "x".repeat(3_000));
    let out_of_order = format!(r#"{{"d":{data},"t":"GUILD_CREATE","s":2,"op":0}}"#);
    let mut script = Script::new(SEED);
    script
        .connect("gateway.test")
        .identify("s1")
        .server_text(&out_of_order)
        .client_close(4000)
        .connect("resume.gateway.test")
        .server_text(HELLO)
        .client_text_starting(r#"{"op":6,"d":{"#)
        // The replay, in Discord's order this time.
        .server_text(&dispatch("GUILD_CREATE", 2, &data))
        .server_text(r#"{"t":"RESUMED","s":3,"op":0,"d":{}}"#);
    let (result, log, _) = play(&script, 1024, |received| match received {
        Received::Event(Event::Resumed { replayed }) => Some(*replayed),
        _ => None,
    });
    assert_eq!(result.unwrap(), 1);
    let size = out_of_order.len();
    assert!(
        log.contains(&format!("lost UnreadableHead {{ size: {size} }}")),
        "{log:#?}"
    );
    assert!(
        log.contains(&format!("skipped GUILD_CREATE s=2 size={}", size)),
        "{log:#?}"
    );
    assert!(!log.iter().any(|line| line.contains("Gap")), "{log:#?}");
}

#[test]
fn a_ready_larger_than_the_buffer_is_an_error_not_a_hang() {
    let guilds = vec![r#"{"id":"1","unavailable":true}"#; 60].join(",");
    let ready = format!(
        r#"{{"t":"READY","s":1,"op":0,"d":{{"v":10,"guilds":[{guilds}],"session_id":"s1","resume_gateway_url":"ws://resume.gateway.test"}}}}"#
    );
    let mut script = Script::new(SEED);
    script
        .connect("gateway.test")
        .server_text(HELLO)
        .client_text_starting(r#"{"op":2,"d":{"#)
        .server_text(&ready);
    let (result, log, _) = play(&script, 1024, |_| None::<()>);
    assert_eq!(
        result,
        Err(Error::ReadyTooLarge {
            size: ready.len() as u64
        }),
        "{log:#?}"
    );
}

#[test]
fn a_message_whose_head_never_says_its_sequence_stops_the_session_instead_of_looping() {
    use discord_gateway::session::{Stop, MESSAGE_TOO_LARGE_ATTEMPTS};
    let data = format!(r#"{{"big":"{}"}}"#, "x".repeat(3_000));
    let out_of_order = format!(r#"{{"d":{data},"t":"GUILD_CREATE","s":2,"op":0}}"#);
    let mut script = Script::new(SEED);
    script
        .connect("gateway.test")
        .identify("s1")
        .server_text(&out_of_order)
        .client_close(4000);
    // Each resume replays the same message, whose head is no better the next time.
    for _ in 1..MESSAGE_TOO_LARGE_ATTEMPTS {
        script
            .connect("resume.gateway.test")
            .server_text(HELLO)
            .client_text_starting(r#"{"op":6,"d":{"#)
            .server_text(&out_of_order)
            .client_close(4000);
    }
    let (result, log, _) = play(&script, 1024, |_| None::<()>);
    assert_eq!(
        result,
        Err(Error::Stopped(Stop::MessageTooLarge)),
        "{log:#?}"
    );
    let lost = log
        .iter()
        .filter(|line| line.starts_with("lost UnreadableHead"))
        .count();
    assert_eq!(lost as u32, MESSAGE_TOO_LARGE_ATTEMPTS, "{log:#?}");
}

/// The core's head reader steps over any complete value before the head, where the embedded
/// client's own scanner gave up on anything nested and resumed to have the message replayed
/// (which, replayed the same way, ended in a stop).
#[test]
fn an_oversized_event_with_a_nested_key_before_its_head_is_skipped_without_a_reconnect() {
    let data = format!(r#"{{"big":"{}"}}"#, "x".repeat(3_000));
    let nested_first = format!(
        r#"{{"t":"GUILD_CREATE","_trace":["gateway-prd",{{"x":1}}],"s":2,"op":0,"d":{data}}}"#
    );
    let mut script = Script::new(SEED);
    script
        .connect("gateway.test")
        .identify("s1")
        .server_text(&nested_first)
        .server_text(&dispatch("MESSAGE_CREATE", 3, r#"{"id":"9"}"#));
    let (result, log, _) = play(&script, 1024, |received| match received {
        Received::Dispatch(dispatch) if dispatch.seq() == Some(3) => Some(()),
        _ => None,
    });
    result.unwrap();
    assert!(
        log.contains(&format!(
            "skipped GUILD_CREATE s=2 size={}",
            nested_first.len()
        )),
        "{log:#?}"
    );
    assert!(
        !log.iter()
            .any(|line| line.contains("lost") || line.contains("Gap")),
        "{log:#?}"
    );
}

/// Identify pacing is the core's `IdentifyLimiter`: a session that must identify again
/// (Invalid Session, not resumable) waits out Discord's 5 s window from the last Identify.
#[test]
fn an_identify_after_a_non_resumable_invalid_session_waits_out_the_window_from_the_first() {
    use discord_gateway_embedded::IDENTIFY_INTERVAL;

    let mut script = Script::new(SEED);
    script
        .connect("gateway.test")
        .identify("s1")
        .server_text(r#"{"t":null,"s":null,"op":9,"d":false}"#)
        .client_close(4000)
        .connect("gateway.test")
        .identify("s2");
    let mut readies = 0;
    let (result, log, end) = play(&script, 4096, |received| match received {
        Received::Event(Event::Ready) => {
            readies += 1;
            (readies == 2).then_some(())
        }
        _ => None,
    });
    result.unwrap();
    // The replay answers at once: the first Identify went at the clock's start (1 s), and the
    // second READY is read at its Identify's instant. The wait after a non-resumable Invalid
    // Session (1 to 5 s, seeded) is the shorter here, so the window is what it waited for.
    assert_eq!(
        end,
        Instant::from_millis(1_000) + IDENTIFY_INTERVAL,
        "{log:#?}"
    );
}
