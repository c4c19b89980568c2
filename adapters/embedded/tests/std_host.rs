//! The blocking loop on the host as a new user wires it from the crate docs, against the sim:
//! the `std` feature's socket, connector and clock, and a socket whose error is plain
//! `std::io::Error` (whose read timeout embedded-io reports as `Other`).

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::ops::ControlFlow;
use std::time::Duration;

use common::host::entropy;
use common::{config, sim, WAIT};
use discord_gateway_embedded::std_net::{StdClock, StdConnector};
use discord_gateway_embedded::{
    BlockingConnector, Buffers, Client, Event, GatewayUrl, Received, TimeoutSocket, SEND_BUFFER_LEN,
};
use discord_gateway_sim::Sim;

/// What a user writes first: std's stream with `std::io::Error` as the socket's error.
struct PlainSocket(TcpStream);

impl embedded_io::ErrorType for PlainSocket {
    type Error = std::io::Error;
}

impl embedded_io::Read for PlainSocket {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, std::io::Error> {
        self.0.read(buf)
    }
}

impl embedded_io::Write for PlainSocket {
    fn write(&mut self, buf: &[u8]) -> Result<usize, std::io::Error> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> Result<(), std::io::Error> {
        self.0.flush()
    }
}

impl TimeoutSocket for PlainSocket {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<(), std::io::Error> {
        self.0.set_read_timeout(timeout)
    }

    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> Result<(), std::io::Error> {
        self.0.set_write_timeout(timeout)
    }
}

#[derive(Default)]
struct PlainConnector;

impl BlockingConnector for PlainConnector {
    type Socket<'a> = PlainSocket;
    type Error = std::io::Error;

    fn connect(&mut self, url: &GatewayUrl) -> Result<PlainSocket, std::io::Error> {
        Ok(PlainSocket(TcpStream::connect((url.host(), url.port()))?))
    }
}

/// Runs the blocking client against `sim` until it has seen `beats` heartbeat acks, and
/// returns how many connections the sim saw.
fn heartbeats_on_one_connection(
    sim: &Sim,
    connector: &mut impl BlockingConnector,
    beats: u32,
) -> usize {
    let handle = sim.handle();
    std::thread::spawn(move || {
        if handle
            .wait_for_blocking(|c| c.heartbeat_acks >= u64::from(beats), WAIT)
            .is_ok()
        {
            handle.message_create("beats acknowledged");
        }
    });
    let (mut rx, mut tx) = ([0u8; 8 * 1024], [0u8; SEND_BUFFER_LEN]);
    let buffers = Buffers {
        rx: &mut rx,
        tx: &mut tx,
    };
    let mut client = Client::new(config(sim), buffers, entropy(21)).unwrap();
    let started = std::time::Instant::now();
    let mut resumes = 0;
    let result = client.run_blocking(connector, &mut StdClock::new(), |_, received| {
        assert!(
            started.elapsed() < WAIT,
            "{beats} heartbeats were not acknowledged in time ({resumes} resumes, counters {:?})",
            sim.counters()
        );
        match received {
            Received::Event(Event::Resumed { .. }) => {
                resumes += 1;
                ControlFlow::Continue(())
            }
            Received::Dispatch(d) if d.name().unwrap().raw() == "MESSAGE_CREATE" => {
                ControlFlow::Break(())
            }
            _ => ControlFlow::Continue(()),
        }
    });
    result.unwrap();
    let counters = sim.counters();
    assert!(counters.heartbeat_acks >= u64::from(beats), "{counters:?}");
    counters.connections as usize
}

#[test]
fn a_read_timeout_reported_as_a_plain_io_error_is_a_timeout_not_a_lost_connection() {
    let sim = sim(Duration::from_millis(200));
    let connections = heartbeats_on_one_connection(&sim, &mut PlainConnector, 4);
    assert_eq!(
        connections, 1,
        "each heartbeat's read timeout was taken for a broken connection"
    );
}

#[test]
fn the_std_feature_wiring_heartbeats_on_one_connection() {
    let sim = sim(Duration::from_millis(200));
    let connections = heartbeats_on_one_connection(&sim, &mut StdConnector::new(), 4);
    assert_eq!(connections, 1);
}

#[test]
fn the_std_connector_refuses_wss_with_a_clear_error() {
    let url = GatewayUrl::parse("wss://gateway.discord.gg/?v=10&encoding=json").unwrap();
    let error = StdConnector::new().connect(&url).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::Unsupported);
    assert!(error.to_string().contains("TLS"), "{error}");
}
