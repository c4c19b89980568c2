//! The client over embedded-tls (TLS 1.3) to the sim's `wss://`, in both loops: the server's
//! certificate verified against the test's CA, a session with READY, events, op 7 and a
//! dropped TCP connection; an untrusted CA or a wrong name refused before any token is sent;
//! and the heartbeat coming due while a TLS record is half received, with no read cut short.

mod common;

use std::ops::ControlFlow;
use std::time::Duration;

use common::host::{entropy, TokioTimer};
use common::tls::{BlockingTlsConnector, TlsConnector, Trickle, Trust};
use common::{config, describe, WAIT};
use discord_gateway::session::Event;
use discord_gateway_embedded::std_net::StdClock;
use discord_gateway_embedded::{Buffers, Client, ConnectionError, Received, SEND_BUFFER_LEN};
use discord_gateway_sim::{Fault, Sim, TestCa};

fn tls_sim(heartbeat: Duration) -> (Sim, TestCa) {
    let ca = TestCa::generate().expect("a test CA");
    let sim = Sim::builder()
        .token(common::TOKEN)
        .heartbeat_interval(heartbeat)
        .identify_window(Duration::ZERO)
        .tls(&ca)
        .start_blocking()
        .expect("the sim starts");
    assert!(sim.url().starts_with("wss://"), "{}", sim.url());
    (sim, ca)
}

/// Trusts `ca` for the name the sim's certificate carries.
fn trust(ca: &TestCa) -> Trust {
    Trust {
        ca_der: ca.ca_der().to_vec(),
        server_name: "localhost".to_owned(),
    }
}

fn content(received: &Received<'_>) -> Option<String> {
    match received {
        Received::Dispatch(dispatch) if dispatch.name()?.raw() == "MESSAGE_CREATE" => {
            let data: serde_json::Value = serde_json::from_slice(dispatch.data()).unwrap();
            Some(data["content"].as_str().unwrap().to_owned())
        }
        _ => None,
    }
}

/// READY, a message, op 7 and the resume, a message, the TCP connection dropped and the
/// resume, a message, three heartbeats acknowledged, a last message.
struct Session {
    sim: discord_gateway_sim::SimHandle,
    contents: Vec<String>,
    resumes: usize,
    log: Vec<String>,
}

impl Session {
    fn new(sim: &Sim) -> Self {
        Self {
            sim: sim.handle(),
            contents: Vec::new(),
            resumes: 0,
            log: Vec::new(),
        }
    }

    fn on(&mut self, received: &Received<'_>) -> ControlFlow<()> {
        self.log.push(describe(received));
        if let Some(content) = content(received) {
            self.contents.push(content);
            match self.contents.len() {
                1 => {
                    self.sim.fault(Fault::Reconnect);
                }
                2 => {
                    self.sim.fault(Fault::DropTcp);
                }
                3 => {
                    let sim = self.sim.clone();
                    std::thread::spawn(move || {
                        sim.wait_for_blocking(|c| c.heartbeat_acks >= 3, WAIT)
                            .unwrap();
                        sim.message_create("three beats later");
                    });
                }
                _ => return ControlFlow::Break(()),
            }
        }
        match received {
            Received::Event(Event::Ready) => {
                self.sim.message_create("first over tls");
            }
            Received::Event(Event::Resumed { .. }) => {
                self.resumes += 1;
                self.sim.message_create(if self.resumes == 1 {
                    "after op 7"
                } else {
                    "after the dropped connection"
                });
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn check(&self, sim: &Sim) {
        assert_eq!(
            self.contents,
            [
                "first over tls",
                "after op 7",
                "after the dropped connection",
                "three beats later"
            ],
            "{:#?}",
            self.log
        );
        let counters = sim.counters();
        assert_eq!(
            (
                counters.connections,
                counters.identifies,
                counters.resumed,
                counters.tls_handshake_failures
            ),
            (3, 1, 2, 0),
            "{counters:#?}\n{:#?}",
            self.log
        );
        assert!(counters.heartbeat_acks >= 3, "{counters:#?}");
        assert_eq!(counters.heartbeat_seq_errors, 0);
        let identify = &sim.connections()[0].sent_with_op(2)[0];
        assert_eq!(identify["d"]["token"], common::TOKEN);
    }
}

#[tokio::test]
async fn the_async_loop_runs_a_session_over_verified_tls() {
    let (sim, ca) = tls_sim(Duration::from_millis(300));
    let mut timer = TokioTimer::new();
    let mut connector = TlsConnector::new(trust(&ca), timer);
    let (mut rx, mut tx) = (vec![0u8; 16 * 1024], [0u8; SEND_BUFFER_LEN]);
    let buffers = Buffers {
        rx: &mut rx,
        tx: &mut tx,
    };
    let mut client = Client::new(config(&sim), buffers, entropy(21)).unwrap();
    let mut session = Session::new(&sim);
    let result = tokio::time::timeout(
        WAIT,
        client.run(&mut connector, &mut timer, |_, received| {
            session.on(&received)
        }),
    )
    .await;
    result
        .unwrap_or_else(|_| panic!("the session did not finish: {:#?}", session.log))
        .unwrap();
    session.check(&sim);
    assert_eq!(connector.dials, 3);
}

#[test]
fn the_blocking_loop_runs_a_session_over_verified_tls() {
    let (sim, ca) = tls_sim(Duration::from_millis(300));
    let mut connector = BlockingTlsConnector::new(trust(&ca));
    let (mut rx, mut tx) = (vec![0u8; 16 * 1024], [0u8; SEND_BUFFER_LEN]);
    let buffers = Buffers {
        rx: &mut rx,
        tx: &mut tx,
    };
    let mut client = Client::new(config(&sim), buffers, entropy(22)).unwrap();
    let mut session = Session::new(&sim);
    client
        .run_blocking(&mut connector, &mut StdClock::new(), |_, received| {
            session.on(&received)
        })
        .unwrap();
    session.check(&sim);
    assert_eq!(connector.dials, 3);
}

/// Runs the async loop until the connector's first error reaches the handler; returns it.
async fn first_dial_error(sim: &Sim, trust: Trust) -> String {
    let mut timer = TokioTimer::new();
    let mut connector = TlsConnector::new(trust, timer);
    let (mut rx, mut tx) = (vec![0u8; 16 * 1024], [0u8; SEND_BUFFER_LEN]);
    let buffers = Buffers {
        rx: &mut rx,
        tx: &mut tx,
    };
    let mut client = Client::new(config(sim), buffers, entropy(23)).unwrap();
    let run = client.run(&mut connector, &mut timer, |context, received| {
        assert!(
            !matches!(received, Received::Event(Event::Ready)),
            "a session over a refused certificate"
        );
        match received {
            Received::ConnectionLost(ConnectionError::Dial) => {
                ControlFlow::Break(format!("{:?}", context.dial_error()))
            }
            _ => ControlFlow::Continue(()),
        }
    });
    tokio::time::timeout(WAIT, run).await.unwrap().unwrap()
}

/// What the sim saw of a client that refused its certificate: a failed handshake, no
/// websocket, no Identify (so no token).
async fn assert_refused_before_the_token(sim: &Sim) {
    sim.wait_for(|c| c.tls_handshake_failures >= 1, WAIT)
        .await
        .expect("the sim sees the handshake fail");
    let counters = sim.counters();
    assert_eq!((counters.identifies, counters.readies), (0, 0));
    assert!(
        sim.connections()
            .iter()
            .all(|connection| connection.sent_with_op(2).is_empty()),
        "no Identify went out"
    );
}

#[tokio::test]
async fn a_server_certificate_from_an_untrusted_ca_is_refused() {
    let (sim, _ca) = tls_sim(Duration::from_secs(40));
    let stranger = TestCa::generate().unwrap();
    let error = first_dial_error(&sim, trust(&stranger)).await;
    assert!(
        error.contains("Tls(InvalidSignature)") || error.contains("Tls(InvalidCertificate)"),
        "{error}"
    );
    assert_refused_before_the_token(&sim).await;
}

#[tokio::test]
async fn a_server_certificate_for_another_name_is_refused() {
    let (sim, ca) = tls_sim(Duration::from_secs(40));
    let elsewhere = Trust {
        server_name: "gateway.discord.gg".to_owned(),
        ..trust(&ca)
    };
    let error = first_dial_error(&sim, elsewhere).await;
    assert!(error.contains("Tls(InvalidCertificate)"), "{error}");
    assert_refused_before_the_token(&sim).await;
}

#[test]
fn the_blocking_loop_refuses_an_untrusted_ca() {
    let (sim, _ca) = tls_sim(Duration::from_secs(40));
    let mut connector = BlockingTlsConnector::new(trust(&TestCa::generate().unwrap()));
    let (mut rx, mut tx) = (vec![0u8; 16 * 1024], [0u8; SEND_BUFFER_LEN]);
    let buffers = Buffers {
        rx: &mut rx,
        tx: &mut tx,
    };
    let mut client = Client::new(config(&sim), buffers, entropy(24)).unwrap();
    let error = client
        .run_blocking(&mut connector, &mut StdClock::new(), |context, received| {
            assert!(!matches!(received, Received::Event(Event::Ready)));
            match received {
                Received::ConnectionLost(ConnectionError::Dial) => {
                    ControlFlow::Break(format!("{:?}", context.dial_error()))
                }
                _ => ControlFlow::Continue(()),
            }
        })
        .unwrap();
    assert!(error.contains("Tls(Invalid"), "{error}");
    sim.handle()
        .wait_for_blocking(|c| c.tls_handshake_failures >= 1, WAIT)
        .unwrap();
    assert_eq!(sim.counters().identifies, 0);
}

/// Heartbeats every 250 ms while 10 KB messages keep a slow link (1500 bytes a read, 2 ms
/// apart) busy, one every 60 ms, until the heartbeat has come due mid-record three times and
/// 20 messages are in. (Faster than the link drains, the ACKs would queue behind the messages
/// and the connection be a zombie.)
async fn burst_over_a_slow_link(cancel_reads: bool) -> (Sim, Vec<String>, Vec<String>, usize) {
    const MESSAGES: usize = 200;
    let (sim, ca) = tls_sim(Duration::from_millis(INTERVAL_MS));
    let mut timer = TokioTimer::new();
    let mut connector = TlsConnector::new(trust(&ca), timer);
    connector.trickle = Some(Trickle {
        chunk: 1500,
        pause: Duration::from_millis(2),
        after: 0,
    });
    connector.cancel_reads = cancel_reads;
    let past_deadline = std::rc::Rc::clone(&connector.reads_past_deadline);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (mut rx, mut tx) = (vec![0u8; 16 * 1024], [0u8; SEND_BUFFER_LEN]);
    let buffers = Buffers {
        rx: &mut rx,
        tx: &mut tx,
    };
    let mut client = Client::new(config(&sim), buffers, entropy(25)).unwrap();
    let (mut contents, mut log) = (Vec::new(), Vec::new());
    let run = client.run(&mut connector, &mut timer, |_, received| {
        log.push(describe(&received));
        if let Received::Event(Event::Ready) = received {
            let (sim, stop) = (sim.handle(), stop.clone());
            std::thread::spawn(move || {
                for i in 0..MESSAGES {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    sim.message_create(&message(i));
                    std::thread::sleep(Duration::from_millis(60));
                }
            });
        }
        if let Some(content) = content(&received) {
            contents.push(content);
            if contents.len() >= 20 && past_deadline.get() >= 3 || contents.len() == MESSAGES {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .unwrap_or_else(|_| panic!("the burst did not arrive: {log:#?}"))
        .unwrap();
    let past_deadline = connector.reads_past_deadline.get();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    (sim, contents, log, past_deadline)
}

const INTERVAL_MS: u64 = 250;

/// The `i`th message of the burst: 10 KB that say which they are all along.
fn message(i: usize) -> String {
    format!("message {i:02}: ").repeat(10_000 / 12)
}

#[tokio::test]
async fn a_heartbeat_due_mid_record_never_cuts_a_tls_read() {
    let (sim, contents, log, past_deadline) = burst_over_a_slow_link(false).await;
    assert_eq!(
        contents,
        (0..contents.len()).map(message).collect::<Vec<_>>(),
        "every message whole and in order"
    );
    let counters = sim.counters();
    assert_eq!(
        (counters.connections, counters.resumes, counters.identifies),
        (1, 0, 1),
        "one connection throughout: {log:#?}"
    );
    assert!(!log.iter().any(|line| line.starts_with("lost")), "{log:#?}");
    assert!(
        past_deadline >= 3,
        "the heartbeat came due mid-record {past_deadline} times: the test did not test that"
    );
    assert_eq!(counters.heartbeat_seq_errors, 0);
    // Heartbeats on time: a record in flight delays one by the rest of that record, never by
    // a reconnect.
    let beats: Vec<Duration> = sim.connections()[0]
        .payloads
        .iter()
        .filter(|payload| payload.op == Some(1))
        .map(|payload| payload.at)
        .collect();
    assert!(beats.len() >= 3, "{beats:?}");
    for pair in beats.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap <= Duration::from_millis(INTERVAL_MS + 150), "{beats:?}");
    }
    assert!(
        counters.heartbeat_acks + 1 >= beats.len() as u64,
        "{counters:#?}"
    );
}

/// The blocking twin: the socket's read timeout runs out while records are half received (a
/// slow link after the first 64 KB: 1500 bytes every 20 ms, a 10 KB message every 200 ms,
/// heartbeats every 250 ms).
#[test]
fn a_read_timeout_mid_record_never_cuts_a_tls_read_in_the_blocking_loop() {
    const MESSAGES: usize = 200;
    let (sim, ca) = tls_sim(Duration::from_millis(INTERVAL_MS));
    let mut connector = BlockingTlsConnector::new(trust(&ca));
    connector.trickle = Some(Trickle {
        chunk: 1500,
        pause: Duration::from_millis(20),
        after: 64 * 1024,
    });
    let past_deadline = std::rc::Rc::clone(&connector.reads_past_deadline);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (mut rx, mut tx) = (vec![0u8; 16 * 1024], [0u8; SEND_BUFFER_LEN]);
    let buffers = Buffers {
        rx: &mut rx,
        tx: &mut tx,
    };
    let mut client = Client::new(config(&sim), buffers, entropy(26)).unwrap();
    let (mut contents, mut log) = (Vec::new(), Vec::new());
    let started = std::time::Instant::now();
    client
        .run_blocking(&mut connector, &mut StdClock::new(), |_, received| {
            log.push(describe(&received));
            assert!(
                started.elapsed() < WAIT * 3,
                "the burst did not arrive: {log:#?}"
            );
            if let Received::Event(Event::Ready) = received {
                let (sim, stop) = (sim.handle(), stop.clone());
                std::thread::spawn(move || {
                    for i in 0..MESSAGES {
                        if stop.load(std::sync::atomic::Ordering::Relaxed) {
                            break;
                        }
                        sim.message_create(&message(i));
                        std::thread::sleep(Duration::from_millis(200));
                    }
                });
            }
            if let Some(content) = content(&received) {
                contents.push(content);
                if contents.len() >= 10 && past_deadline.get() >= 3 || contents.len() == MESSAGES {
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        })
        .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        contents,
        (0..contents.len()).map(message).collect::<Vec<_>>(),
        "every message whole and in order"
    );
    let counters = sim.counters();
    assert_eq!(
        (counters.connections, counters.resumes, counters.identifies),
        (1, 0, 1),
        "one connection throughout: {log:#?}"
    );
    assert!(
        connector.reads_past_deadline.get() >= 3,
        "the timeout ran out mid-record {} times: the test did not test that",
        connector.reads_past_deadline.get()
    );
    assert_eq!(counters.heartbeat_seq_errors, 0);
    assert!(counters.heartbeat_acks >= 3, "{counters:#?}");
}
