//! Commands around op 7 and op 9 against the sim, on tokio, as the trial of issue 24 ran them:
//! a bot answers each `!ping` with a command, and the gateway sends op 7 (Reconnect) or op 9
//! (Invalid Session) right behind the message. The sim's record of what it received shows each
//! command exactly once, after Identify or Resume, and never refused with 4003.

#[path = "../../suite/mod.rs"]
mod suite;

use std::time::Duration;

use discord_gateway_sim::Fault;
use discord_gateway_tokio::discord_gateway::OpCode;
use discord_gateway_tokio::{SessionEvent, ShardEvent, Tokio};
use suite::{builder, member_request_nonces, sim, Harness};

fn run<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(future)
}

#[test]
fn a_command_answering_a_message_just_before_op_7_or_op_9_goes_out_once_when_live() {
    run(async {
        const ROUNDS: usize = 4;
        let sim = sim();
        let mut h = Harness::<Tokio>::build(builder(&sim));
        h.ready().await;
        let guild = sim.guild_ids()[0];
        let sender = h.shard.sender();
        for round in 0..ROUNDS {
            // The sim holds its writes for a moment, so the message and the op 7 / op 9 behind
            // it reach the client together, as they do when Discord sends them back to back.
            sim.fault(Fault::Delay(Duration::from_millis(30)));
            assert_eq!(sim.message_create("!ping"), 1);
            sim.fault(if round % 2 == 0 {
                Fault::Reconnect
            } else {
                Fault::InvalidSession(false)
            });
            h.until(
                "the !ping",
                |event| matches!(event, ShardEvent::Dispatch(d) if d.name() == "MESSAGE_CREATE"),
            )
            .await;
            let d = format!(r#"{{"guild_id":"{guild}","user_ids":["1"],"nonce":"n{round}"}}"#);
            sender
                .send_raw(OpCode::RequestGuildMembers, d.as_bytes())
                .expect("queued");
            h.until("the session live again", |event| {
                matches!(
                    event,
                    ShardEvent::Session(SessionEvent::Ready, _)
                        | ShardEvent::Session(SessionEvent::Resumed { .. }, _)
                )
            })
            .await;
            // The command reaches the sim on the live session before the next round starts.
            h.until_sim(&sim, "the round's command at the sim", || {
                member_request_nonces(&sim).len() > round
            })
            .await;
        }

        let expected: Vec<String> = (0..ROUNDS).map(|round| format!("n{round}")).collect();
        assert_eq!(member_request_nonces(&sim), expected, "each exactly once");
        // Never on the connection the gateway left: round r's command went out on the
        // connection opened after round r's op 7 or op 9 (connection 0 is the first one).
        let connections = sim.connections();
        assert_eq!(connections.len(), ROUNDS + 1);
        for (round, connection) in connections.iter().skip(1).enumerate() {
            let nonces: Vec<String> = connection
                .sent_with_op(8)
                .iter()
                .filter_map(|p| p["d"]["nonce"].as_str().map(str::to_owned))
                .collect();
            assert_eq!(
                nonces,
                [format!("n{round}")],
                "connection {}",
                connection.id
            );
        }
        for connection in connections {
            let ops: Vec<Option<u64>> = connection.payloads.iter().map(|p| p.op).collect();
            let handshake = ops.iter().position(|op| matches!(op, Some(2 | 6)));
            let first_command = ops.iter().position(|op| *op == Some(8));
            if let Some(command) = first_command {
                assert!(
                    handshake.is_some_and(|at| at < command),
                    "a command before Identify or Resume on connection {}: {ops:?}",
                    connection.id
                );
            }
        }
        let counters = sim.counters();
        assert_eq!(counters.server_closed(4003), 0, "{counters:?}");
    });
}
