//! The async client against the loopback gateway: real sockets, the sim's own clock.

mod common;

use std::ops::ControlFlow;
use std::time::Duration;

use common::host::{entropy, TokioConnector, TokioTimer};
use common::{config, describe, sim, WAIT};
use discord_gateway::session::{DisconnectCause, Event, Stop};
use discord_gateway::CloseCode;
use discord_gateway_embedded::{Buffers, Client, Error, Received, SEND_BUFFER_LEN};
use discord_gateway_sim::{Fault, Sim};

/// A client of `sim` on the lent buffers, its masking entropy seeded with `seed`.
fn client<'b>(
    sim: &Sim,
    rx: &'b mut [u8],
    tx: &'b mut [u8; SEND_BUFFER_LEN],
    seed: u64,
) -> Client<'b, impl discord_gateway_embedded::Entropy> {
    Client::new(config(sim), Buffers { rx, tx }, entropy(seed)).unwrap()
}

/// Runs the client until `script` breaks, with a log of everything it handed over.
async fn run_until<B>(
    client: &mut Client<'_, impl discord_gateway_embedded::Entropy>,
    mut script: impl FnMut(&[String], &Received<'_>) -> ControlFlow<B>,
) -> (Result<B, Error>, Vec<String>) {
    let mut log = Vec::new();
    let mut connector = TokioConnector::default();
    let mut timer = TokioTimer::new();
    let result = tokio::time::timeout(
        WAIT,
        client.run(&mut connector, &mut timer, |_, received| {
            log.push(describe(&received));
            script(&log, &received)
        }),
    )
    .await;
    match result {
        Ok(result) => (result, log),
        Err(_) => panic!("the scenario did not finish; the client handed over: {log:#?}"),
    }
}

#[tokio::test]
async fn it_connects_identifies_and_receives_dispatches() {
    let sim = sim(Duration::from_secs(40));
    let (mut rx, mut tx) = ([0u8; 16 * 1024], [0u8; SEND_BUFFER_LEN]);
    let mut client = client(&sim, &mut rx, &mut tx, 1);
    let (result, log) = run_until(&mut client, |_, received| match received {
        Received::Event(Event::Ready) => {
            sim.message_create("hello from the sim");
            ControlFlow::Continue(())
        }
        Received::Dispatch(dispatch) if dispatch.name().unwrap().raw() == "MESSAGE_CREATE" => {
            let data = core::str::from_utf8(dispatch.data()).unwrap();
            assert!(data.contains("hello from the sim"), "{data}");
            ControlFlow::Break(dispatch.seq())
        }
        _ => ControlFlow::Continue(()),
    })
    .await;
    let seq = result.unwrap().unwrap();
    assert_eq!(
        log[..2],
        ["dispatch READY s=1", "event Ready"],
        "the client grants identify permits itself; the handler is not asked for one"
    );
    // Every dispatch in order, numbered from 1 without a gap; the sim's 48 KB GUILD_CREATE is
    // larger than the buffer and skipped in its place.
    assert!(
        log.iter()
            .any(|line| line.starts_with("skipped GUILD_CREATE s=2")),
        "{log:#?}"
    );
    let seqs: Vec<i64> = log
        .iter()
        .filter(|line| line.starts_with("dispatch ") || line.starts_with("skipped "))
        .map(|line| {
            let after = line.split_once("s=").unwrap().1;
            after.split(' ').next().unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "{log:#?}"
    );
    assert_eq!(
        log.last().unwrap(),
        &format!("dispatch MESSAGE_CREATE s={seq}")
    );
    let counters = sim.counters();
    assert_eq!((counters.connections, counters.identifies), (1, 1));
    let identify = &sim.connections()[0].sent_with_op(2)[0];
    assert_eq!(identify["d"]["token"], common::TOKEN);
}

#[tokio::test]
async fn heartbeats_go_out_on_time_carry_the_sequence_and_are_acked() {
    let sim = sim(Duration::from_millis(250));
    let handle = sim.handle();
    std::thread::spawn(move || {
        handle
            .wait_for_blocking(|c| c.heartbeat_acks >= 5, WAIT)
            .unwrap();
        handle.message_create("five beats");
    });
    let (mut rx, mut tx) = ([0u8; 8 * 1024], [0u8; SEND_BUFFER_LEN]);
    let mut client = client(&sim, &mut rx, &mut tx, 2);
    let (result, _) = run_until(&mut client, |_, received| match received {
        Received::Dispatch(dispatch) if dispatch.name().unwrap().raw() == "MESSAGE_CREATE" => {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    })
    .await;
    result.unwrap();
    let counters = sim.counters();
    assert!(counters.heartbeats >= 5);
    assert_eq!(counters.heartbeat_seq_errors, 0);
    assert_eq!(
        counters.connections, 1,
        "no reconnect while heartbeats are acked"
    );
    let beats = sim.connections()[0].sent_with_op(1);
    assert!(beats.iter().any(|beat| beat["d"].is_u64()), "{beats:?}");
}

#[tokio::test]
async fn a_zombie_connection_is_left_and_the_session_resumed() {
    let sim = sim(Duration::from_millis(100));
    let (mut rx, mut tx) = ([0u8; 8 * 1024], [0u8; SEND_BUFFER_LEN]);
    let mut client = client(&sim, &mut rx, &mut tx, 3);
    let (result, log) = run_until(&mut client, |_, received| match received {
        Received::Event(Event::Ready) => {
            sim.fault(Fault::WithholdAcks);
            ControlFlow::Continue(())
        }
        Received::Event(Event::Resumed { .. }) => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })
    .await;
    result.unwrap();
    assert!(
        log.contains(&"disconnected Zombie -> resume".to_string()),
        "{log:#?}"
    );
    let counters = sim.counters();
    assert_eq!(
        (counters.identifies, counters.resumes, counters.resumed),
        (1, 1, 1)
    );
    assert_eq!(
        counters.client_closed(4000),
        1,
        "left with a resumable close"
    );
}

#[tokio::test]
async fn op_7_reconnects_to_the_resume_url_and_resumes() {
    let sim = sim(Duration::from_secs(40));
    let (mut rx, mut tx) = ([0u8; 8 * 1024], [0u8; SEND_BUFFER_LEN]);
    let mut client = client(&sim, &mut rx, &mut tx, 4);
    let mut reconnected = false;
    let (result, log) = run_until(&mut client, |_, received| match received {
        Received::Event(Event::Ready) => {
            sim.fault(Fault::Reconnect);
            ControlFlow::Continue(())
        }
        Received::Event(Event::Disconnected {
            cause: DisconnectCause::Reconnect,
            ..
        }) => {
            reconnected = true;
            // Dispatched while the client is away: the resume must replay it.
            sim.message_create("while away");
            ControlFlow::Continue(())
        }
        Received::Event(Event::Resumed { replayed }) => ControlFlow::Break(*replayed),
        _ => ControlFlow::Continue(()),
    })
    .await;
    assert!(reconnected);
    assert_eq!(result.unwrap(), 1, "{log:#?}");
    let counters = sim.counters();
    assert_eq!((counters.resume_url_connections, counters.resumed), (1, 1));
    assert!(log
        .iter()
        .any(|line| line.starts_with("dispatch MESSAGE_CREATE")));
    assert!(!log.iter().any(|line| line.contains("Gap")), "{log:#?}");
}

#[tokio::test]
async fn op_9_resumable_resumes_and_not_resumable_identifies_again() {
    let sim = sim(Duration::from_secs(40));
    let (mut rx, mut tx) = ([0u8; 8 * 1024], [0u8; SEND_BUFFER_LEN]);
    let mut client = client(&sim, &mut rx, &mut tx, 5);
    let (result, log) = run_until(&mut client, |log, received| match received {
        Received::Event(Event::Ready)
            if log.iter().filter(|l| *l == "event Ready").count() == 1 =>
        {
            sim.fault(Fault::InvalidSession(true));
            ControlFlow::Continue(())
        }
        Received::Event(Event::Resumed { .. }) => {
            sim.fault(Fault::InvalidSession(false));
            ControlFlow::Continue(())
        }
        Received::Event(Event::Ready) => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })
    .await;
    result.unwrap();
    let disconnects: Vec<_> = log
        .iter()
        .filter(|l| l.starts_with("disconnected"))
        .collect();
    assert_eq!(
        disconnects,
        [
            "disconnected InvalidSession { resumable: true } -> resume",
            "disconnected InvalidSession { resumable: false } -> identify"
        ]
    );
    let counters = sim.counters();
    assert_eq!(
        (counters.identifies, counters.resumed, counters.readies),
        (2, 1, 2)
    );
}

#[tokio::test]
async fn fatal_close_codes_stop_the_session() {
    for code in [4004u16, 4010, 4014] {
        let sim = sim(Duration::from_secs(40));
        let (mut rx, mut tx) = ([0u8; 8 * 1024], [0u8; SEND_BUFFER_LEN]);
        let mut client = client(&sim, &mut rx, &mut tx, 6);
        let (result, log) = run_until(&mut client, |_, received| {
            if let Received::Event(Event::Ready) = received {
                sim.fault(Fault::Close(code));
            }
            ControlFlow::<()>::Continue(())
        })
        .await;
        assert_eq!(
            result,
            Err(Error::Stopped(Stop::Fatal(CloseCode::from_u16(code)))),
            "{log:#?}"
        );
        assert_eq!(sim.counters().connections, 1, "no reconnect after {code}");
    }
}

#[tokio::test]
async fn an_event_three_times_the_receive_buffer_is_skipped_and_its_sequence_kept() {
    const RX: usize = 4096;
    let sim = sim(Duration::from_millis(400));
    let (mut rx, mut tx) = ([0u8; RX], [0u8; SEND_BUFFER_LEN]);
    let mut client = client(&sim, &mut rx, &mut tx, 8);
    let mut skipped_seq = None;
    let (result, log) = run_until(&mut client, |_, received| match received {
        Received::Event(Event::Ready) => {
            sim.fault(Fault::HugeGuildCreate(3 * RX));
            ControlFlow::Continue(())
        }
        Received::Skipped(skipped) => {
            assert_eq!(skipped.name(), "GUILD_CREATE");
            assert!(skipped.size() >= 3 * RX as u64, "{}", skipped.size());
            skipped_seq = skipped.seq();
            sim.message_create("after the big one");
            ControlFlow::Continue(())
        }
        Received::Dispatch(dispatch) if dispatch.name().unwrap().raw() == "MESSAGE_CREATE" => {
            ControlFlow::Break(dispatch.seq())
        }
        _ => ControlFlow::Continue(()),
    })
    .await;
    let after = result.unwrap().unwrap();
    let skipped = skipped_seq.expect("the huge GUILD_CREATE was reported skipped");
    assert_eq!(after, skipped + 1, "{log:#?}");
    assert!(!log.iter().any(|line| line.contains("Gap")), "{log:#?}");
    assert_eq!(client.session().seq(), Some(after));
    let counters = sim.counters();
    assert_eq!(counters.connections, 1, "skipping needs no reconnect");
    assert_eq!(counters.heartbeat_seq_errors, 0);
}

#[test]
fn the_blocking_client_connects_and_resumes_after_op_7() {
    use common::host::{StdClock, StdConnector};
    let sim = sim(Duration::from_millis(200));
    let (mut rx, mut tx) = ([0u8; 8 * 1024], [0u8; SEND_BUFFER_LEN]);
    let mut client = client(&sim, &mut rx, &mut tx, 9);
    let mut connector = StdConnector::default();
    let mut clock = StdClock::new();
    let mut log = Vec::new();
    let started = std::time::Instant::now();
    let result = client.run_blocking(&mut connector, &mut clock, |_, received| {
        log.push(describe(&received));
        assert!(started.elapsed() < WAIT, "{log:#?}");
        match received {
            Received::Event(Event::Ready) => {
                sim.fault(Fault::Reconnect);
                ControlFlow::Continue(())
            }
            Received::Event(Event::Resumed { .. }) => {
                sim.message_create("blocking");
                ControlFlow::Continue(())
            }
            Received::Dispatch(dispatch) if dispatch.name().unwrap().raw() == "MESSAGE_CREATE" => {
                ControlFlow::Break(())
            }
            _ => ControlFlow::Continue(()),
        }
    });
    result.unwrap();
    assert_eq!(connector.dials, 2);
    assert_eq!(sim.counters().resumed, 1, "{log:#?}");
}

#[tokio::test]
async fn the_handler_sends_a_command_and_a_second_one_in_the_same_call_is_refused() {
    use discord_gateway::command::{Status, UpdatePresence};
    use discord_gateway_embedded::CommandError;
    let sim = sim(Duration::from_millis(200));
    let (mut rx, mut tx) = ([0u8; 8 * 1024], [0u8; SEND_BUFFER_LEN]);
    let mut client = client(&sim, &mut rx, &mut tx, 10);
    let mut connector = TokioConnector::default();
    let mut timer = TokioTimer::new();
    let presence = UpdatePresence::new(Status::Idle, &[]);
    let result = tokio::time::timeout(
        WAIT,
        client.run(&mut connector, &mut timer, |context, received| {
            if let Received::Event(Event::Ready) = received {
                assert_eq!(context.send(&presence), Ok(()));
                assert_eq!(context.send(&presence), Err(CommandError::Busy));
                // Heartbeats keep flowing after it; stop once the sim has the presence.
                sim.message_create("after the presence");
            }
            match received {
                Received::Dispatch(d) if d.name().unwrap().raw() == "MESSAGE_CREATE" => {
                    ControlFlow::Break(())
                }
                _ => ControlFlow::Continue(()),
            }
        }),
    )
    .await
    .expect("the scenario finished");
    result.unwrap();
    // The sim reads on its own thread: give it until the deadline to see the presence.
    let started = std::time::Instant::now();
    let mut presences = sim.connections()[0].sent_with_op(3);
    while presences.is_empty() && started.elapsed() < WAIT {
        tokio::time::sleep(Duration::from_millis(10)).await;
        presences = sim.connections()[0].sent_with_op(3);
    }
    assert_eq!(presences.len(), 1, "{presences:?}");
    assert_eq!(presences[0]["d"]["status"], "idle");
}

#[test]
fn the_blocking_client_heartbeats_on_its_read_timeout() {
    use common::host::{StdClock, StdConnector};
    let sim = sim(Duration::from_millis(250));
    let handle = sim.handle();
    std::thread::spawn(move || {
        handle
            .wait_for_blocking(|c| c.heartbeat_acks >= 4, WAIT)
            .unwrap();
        handle.message_create("four beats");
    });
    let (mut rx, mut tx) = ([0u8; 8 * 1024], [0u8; SEND_BUFFER_LEN]);
    let mut client = client(&sim, &mut rx, &mut tx, 11);
    let started = std::time::Instant::now();
    let result = client.run_blocking(
        &mut StdConnector::default(),
        &mut StdClock::new(),
        |_, received| {
            assert!(started.elapsed() < WAIT, "no heartbeats in time");
            match received {
                Received::Dispatch(d) if d.name().unwrap().raw() == "MESSAGE_CREATE" => {
                    ControlFlow::Break(())
                }
                _ => ControlFlow::Continue(()),
            }
        },
    );
    result.unwrap();
    let counters = sim.counters();
    assert!(counters.heartbeats >= 4);
    assert_eq!(counters.connections, 1, "no zombie, no reconnect");
}

#[tokio::test]
async fn a_malformed_payload_is_refused_and_the_connection_goes_on() {
    let sim = sim(Duration::from_secs(40));
    let (mut rx, mut tx) = ([0u8; 8 * 1024], [0u8; SEND_BUFFER_LEN]);
    let mut client = client(&sim, &mut rx, &mut tx, 12);
    let (result, log) = run_until(&mut client, |_, received| match received {
        Received::Event(Event::Ready) => {
            sim.fault(Fault::Malformed);
            sim.message_create("still here");
            ControlFlow::Continue(())
        }
        Received::Dispatch(d) if d.name().unwrap().raw() == "MESSAGE_CREATE" => {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    })
    .await;
    result.unwrap();
    assert!(
        log.iter().any(|line| line.starts_with("refused Decode")),
        "{log:#?}"
    );
    assert_eq!(sim.counters().connections, 1);
}

#[tokio::test]
async fn closing_from_the_handler_sends_1000_and_stops() {
    use discord_gateway::session::CloseKind;
    let sim = sim(Duration::from_secs(40));
    let (mut rx, mut tx) = ([0u8; 8 * 1024], [0u8; SEND_BUFFER_LEN]);
    let mut client = client(&sim, &mut rx, &mut tx, 13);
    let mut connector = TokioConnector::default();
    let mut timer = TokioTimer::new();
    let result = tokio::time::timeout(
        WAIT,
        client.run(&mut connector, &mut timer, |context, received| {
            if let Received::Event(Event::Ready) = received {
                context.close(CloseKind::EndSession);
            }
            ControlFlow::<()>::Continue(())
        }),
    )
    .await
    .expect("the close finished the run");
    assert_eq!(
        result,
        Err(Error::Stopped(Stop::Closed(CloseKind::EndSession)))
    );
    sim.wait_for(|c| c.client_closed(1000) == 1, WAIT)
        .await
        .expect("the sim saw the client's 1000");
    assert_eq!(
        sim.session_count(),
        0,
        "the session ended on Discord's side"
    );
}

/// A connector whose dials never finish.
struct NeverConnects;

impl discord_gateway_embedded::Connector for NeverConnects {
    type Socket<'a> = common::host::TokioSocket;
    type Error = ();

    async fn connect(
        &mut self,
        _url: &discord_gateway_embedded::GatewayUrl,
    ) -> Result<common::host::TokioSocket, ()> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn a_run_cancelled_while_dialing_leaves_a_client_that_connects_next_time() {
    let sim = sim(Duration::from_secs(40));
    let (mut rx, mut tx) = ([0u8; 8 * 1024], [0u8; SEND_BUFFER_LEN]);
    let mut client = client(&sim, &mut rx, &mut tx, 14);
    let mut timer = TokioTimer::new();
    let cancelled = tokio::time::timeout(
        Duration::from_millis(50),
        client.run(&mut NeverConnects, &mut timer, |_, _| {
            ControlFlow::<()>::Continue(())
        }),
    )
    .await;
    assert!(cancelled.is_err(), "the dial never finishes");
    let (result, log) = run_until(&mut client, |_, received| match received {
        Received::Event(Event::Ready) => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    })
    .await;
    result.unwrap();
    assert!(
        log.iter()
            .any(|line| line.starts_with("disconnected DialFailed")),
        "{log:#?}"
    );
}

#[tokio::test]
async fn a_fragmented_dispatch_arrives_whole_and_a_server_ping_is_answered_with_its_payload() {
    let sim = sim(Duration::from_secs(40));
    let (mut rx, mut tx) = ([0u8; 8 * 1024], [0u8; SEND_BUFFER_LEN]);
    let mut client = client(&sim, &mut rx, &mut tx, 15);
    // A dispatch without a sequence number (the sim's raw faults take none), in five frames.
    let fragmented = r#"{"t":"CHANNEL_PINS_UPDATE","s":null,"op":0,"d":{"channel_id":"77","note":"sent in five frames"}}"#;
    let mut data = None;
    let (result, log) = run_until(&mut client, |_, received| match received {
        Received::Event(Event::Ready) => {
            sim.fault(Fault::Ping(b"are you there".to_vec()));
            sim.fault(Fault::FragmentedText(fragmented.into(), 5));
            ControlFlow::Continue(())
        }
        Received::Dispatch(d) if d.name().unwrap().raw() == "CHANNEL_PINS_UPDATE" => {
            data = Some(String::from_utf8(d.data().to_vec()).unwrap());
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    })
    .await;
    result.unwrap();
    assert_eq!(
        data.as_deref(),
        Some(r#"{"channel_id":"77","note":"sent in five frames"}"#),
        "{log:#?}"
    );
    sim.wait_for(|c| c.pongs == 1, WAIT)
        .await
        .expect("the client answered the ping");
    assert_eq!(sim.counters().last_pong, b"are you there");
    assert_eq!(sim.counters().connections, 1);
}
