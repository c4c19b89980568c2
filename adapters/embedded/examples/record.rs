//! Records a gateway conversation with the sim for the firmware to replay (see
//! `ci/qemu/firmware`): `cargo run -p discord-gateway-embedded --example record -- OUT_DIR`.
//!
//! The client runs with the firmware's configuration, entropy seed and receive buffer size
//! against a sim on a fixed port, through a socket that writes down every byte the server sent
//! and every frame the client sent. The scenario: upgrade, Hello, Identify, READY, the sim's
//! 48 KB GUILD_CREATE (larger than the buffer), 8 of the sim's 3 KB MESSAGE_CREATEs, 16 of
//! 1.3 KB, 1,000 small dispatches, op 7, Resume with two dispatches replayed, RESUMED, one more dispatch.
//! Writes `session.rec` (the records) and `session.expect` (one line per thing the client
//! handed over, in `replay::summarize`'s words).
#![allow(missing_docs, clippy::print_stdout)]

#[path = "../tests/common/host.rs"]
#[allow(dead_code, unreachable_pub)]
mod host;

use std::cell::RefCell;
use std::ops::ControlFlow;
use std::rc::Rc;
use std::time::Duration;

use discord_gateway::session::{DisconnectCause, Event};
use discord_gateway_embedded::replay::{
    summarize, unmask_frame, SeededEntropy, RECORD_CONNECT, RECORD_SERVER, RECORD_UPGRADE,
    RECORD_WRITE,
};
use discord_gateway_embedded::{Buffers, Client, Connector, GatewayUrl, Received, SEND_BUFFER_LEN};
use discord_gateway_sim::{Fault, Sim};
use host::{TokioConnector, TokioSocket, TokioTimer};

// What the firmware and the host replay test use too.
use discord_gateway_embedded::replay::firmware_session::{self, PORT, RX_LEN, SEED, TOKEN};
const TICKS: usize = 1_000;
const MESSAGES: usize = 8;
/// MESSAGE_CREATEs of about 1.3 KB, what the firmware counts instructions on.
const SMALL_MESSAGES: usize = 16;

/// A guild MESSAGE_CREATE's `d` with the fields Discord sends, about 1.3 KB on the wire.
fn small_message(i: usize) -> serde_json::Value {
    serde_json::json!({
        "type": 0, "tts": false, "timestamp": "2026-11-30T15:00:00.000000+00:00",
        "pinned": false, "nonce": format!("13{i:017}"), "mentions": [], "mention_roles": [],
        "mention_everyone": false,
        "member": {"roles": ["1040000000000000001"], "premium_since": null, "pending": false,
                   "nick": null, "mute": false, "joined_at": "2024-01-01T00:00:00.000000+00:00",
                   "flags": 0, "deaf": false, "communication_disabled_until": null,
                   "banner": null, "avatar": null},
        "id": format!("13{i:017}"), "flags": 0, "embeds": [], "edited_timestamp": null,
        "content": format!(
            "message {i}: the quick brown fox jumps over the lazy dog, twice over, so that this \
             payload weighs what a chat line does; then a second sentence, as people write"
        ),
        "sticker_items": [],
        "reactions": [{"emoji": {"id": null, "name": "+1"}, "count": 1, "me": false}],
        "components": [], "channel_id": "1040000000000000002",
        "author": {"username": "someone", "public_flags": 0, "primary_guild": null,
                   "id": "1040000000000000003", "global_name": "Someone",
                   "discriminator": "0", "collectibles": null, "clan": null,
                   "avatar_decoration_data": null, "avatar": "0123456789abcdef0123456789abcdef"},
        "attachments": [], "guild_id": "1040000000000000004",
        "channel_type": 0, "poll": null, "referenced_message": null,
        "message_reference": null, "position": 0, "application_id": null, "webhook_id": null
    })
}

type Records = Rc<RefCell<Vec<u8>>>;

fn record(records: &Records, kind: u8, body: &[u8]) {
    let mut records = records.borrow_mut();
    records.push(kind);
    records.extend_from_slice(&u32::try_from(body.len()).unwrap().to_le_bytes());
    records.extend_from_slice(body);
}

struct Tap {
    inner: TokioConnector,
    records: Records,
}

struct TapSocket {
    inner: TokioSocket,
    records: Records,
    upgraded: bool,
    written: Vec<u8>,
}

impl embedded_io_async::ErrorType for TapSocket {
    type Error = host::HostIoError;
}

impl embedded_io_async::Read for TapSocket {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, host::HostIoError> {
        let n = self.inner.read(buf).await?;
        if n > 0 {
            record(&self.records, RECORD_SERVER, &buf[..n]);
        }
        Ok(n)
    }
}

impl embedded_io_async::Write for TapSocket {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, host::HostIoError> {
        let n = self.inner.write(buf).await?;
        self.written.extend_from_slice(&buf[..n]);
        loop {
            if !self.upgraded {
                let Some(end) = self.written.windows(4).position(|w| w == b"\r\n\r\n") else {
                    break;
                };
                record(&self.records, RECORD_UPGRADE, &self.written[..end + 4]);
                self.written.drain(..end + 4);
                self.upgraded = true;
                continue;
            }
            let mut frame = self.written.clone();
            let Some((opcode, payload)) = unmask_frame(&mut frame).expect("a client frame") else {
                break;
            };
            let mut body = vec![opcode];
            body.extend_from_slice(&frame[payload.clone()]);
            record(&self.records, RECORD_WRITE, &body);
            self.written.drain(..payload.end);
        }
        Ok(n)
    }

    async fn flush(&mut self) -> Result<(), host::HostIoError> {
        self.inner.flush().await
    }
}

impl Connector for Tap {
    type Socket<'a> = TapSocket;
    type Error = std::io::Error;

    async fn connect(&mut self, url: &GatewayUrl) -> Result<TapSocket, std::io::Error> {
        record(&self.records, RECORD_CONNECT, &[]);
        let inner = self.inner.connect(url).await?;
        Ok(TapSocket {
            inner,
            records: self.records.clone(),
            upgraded: false,
            written: Vec::new(),
        })
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let out_dir = std::env::args().nth(1).unwrap_or_else(|| ".".into());
    let sim = Sim::builder()
        .port(PORT)
        .token(TOKEN)
        .identify_window(Duration::ZERO)
        .start()
        .await
        .expect("the sim starts on its fixed port");
    assert_eq!(sim.url(), firmware_session::GATEWAY_URL);
    let config = firmware_session::config().expect("the recording's configuration is valid");
    let mut rx = vec![0u8; RX_LEN];
    let mut tx = [0u8; SEND_BUFFER_LEN];
    let mut client = Client::new(
        config,
        Buffers {
            rx: &mut rx,
            tx: &mut tx,
        },
        SeededEntropy::new(SEED),
    )
    .unwrap();
    let records = Records::default();
    let mut tap = Tap {
        inner: TokioConnector::default(),
        records: records.clone(),
    };
    let mut expect = String::new();
    let mut ticks = 0;
    let mut after_resume = false;
    let result = client
        .run(&mut tap, &mut TokioTimer::new(), |_, received| {
            summarize(&received, &mut expect).unwrap();
            expect.push('\n');
            match &received {
                Received::Event(Event::Ready) => {
                    for i in 0..MESSAGES {
                        sim.message_create(&format!("message {i} for the firmware"));
                    }
                    for i in 0..SMALL_MESSAGES {
                        let sent = sim.dispatch("MESSAGE_CREATE", &small_message(i));
                        assert_eq!(sent, 1, "the sim routed a small message to the client");
                    }
                    for _ in 0..TICKS {
                        let sent = sim.dispatch(
                            "CHANNEL_PINS_UPDATE",
                            &serde_json::json!({"guild_id": "1", "channel_id": "2"}),
                        );
                        assert_eq!(sent, 1, "the sim routed a tick to the client");
                    }
                }
                Received::Dispatch(d) if d.name().unwrap().raw() == "CHANNEL_PINS_UPDATE" => {
                    ticks += 1;
                    if ticks == TICKS {
                        sim.fault(Fault::Reconnect);
                    }
                }
                Received::Event(Event::Disconnected {
                    cause: DisconnectCause::Reconnect,
                    ..
                }) => {
                    sim.message_create("replayed one");
                    sim.message_create("replayed two");
                }
                Received::Event(Event::Resumed { .. }) => {
                    after_resume = true;
                    sim.message_create("after the resume");
                }
                Received::Dispatch(d)
                    if after_resume && d.name().unwrap().raw() == "MESSAGE_CREATE" =>
                {
                    return ControlFlow::Break(());
                }
                _ => {}
            }
            ControlFlow::Continue(())
        })
        .await;
    result.expect("the recorded session ran to its end");
    let records = records.borrow();
    std::fs::write(format!("{out_dir}/session.rec"), &*records).unwrap();
    std::fs::write(format!("{out_dir}/session.expect"), &expect).unwrap();
    println!(
        "recorded {} bytes of records and {} expected lines in {out_dir}",
        records.len(),
        expect.lines().count()
    );
}
