//! Commands and the session they need, as Discord treats them: a command is taken only on a
//! session that Identify or Resume started, and one sent after an Invalid Session (`false`) on
//! the same connection is closed with 4003 (not authenticated), like one sent before Identify.

mod common;

use common::{ready, sim, Closed};
use discord_gateway_sim::Fault;
use serde_json::json;

fn presence() -> serde_json::Value {
    json!({"op": 3, "d": {"since": null, "activities": [], "status": "online", "afk": false}})
}

#[tokio::test]
async fn a_command_on_a_live_session_is_taken_and_recorded() {
    let sim = sim().await;
    let (mut c, _) = ready(&sim, "v=10&encoding=json").await;
    c.send(presence()).await;
    c.heartbeat(Some(1)).await;
    // The ACK comes after the sim handled the command before it.
    c.recv_until(11, None).await;
    let record = &sim.connections()[0];
    assert_eq!(record.sent_with_op(3).len(), 1, "{record:?}");
    assert_eq!(record.server_close, None);
}

#[tokio::test]
async fn a_command_after_an_invalid_session_is_closed_with_4003() {
    let sim = sim().await;
    let (mut c, _) = ready(&sim, "v=10&encoding=json").await;
    assert_eq!(sim.fault(Fault::InvalidSession(false)), 1);
    let op9 = c.recv_until(9, None).await;
    assert_eq!(op9["d"], false);
    c.send(presence()).await;
    assert_eq!(c.closed().await, Closed::Code(4003));
    assert_eq!(sim.counters().server_closed(4003), 1);
    // The record keeps the refused command, so a test can tell what a client sent when.
    let record = &sim.connections()[0];
    assert_eq!(record.sent_with_op(3).len(), 1);
    assert_eq!(record.server_close, Some(4003));
}
