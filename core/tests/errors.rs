//! Error chains print each cause once: a wrapper's `Display` says what went wrong at its own
//! layer and hands the inner error out through `source()`, never both. A log line that walks the
//! chain (as `anyhow`, `tracing` and `eyre` do) then reads every message exactly once.

use std::error::Error;

use discord_gateway::codec::DecodeError;
use discord_gateway::command::EncodeError;
use discord_gateway::protocol::OpCode;
use discord_gateway::session::{HandleError, ProtocolError, SendError};

/// Every message in the chain that starts at `error`, outermost first.
fn chain(error: &(dyn Error + 'static)) -> Vec<String> {
    let mut messages = Vec::new();
    let mut next = Some(error);
    while let Some(error) = next {
        messages.push(error.to_string());
        next = error.source();
    }
    messages
}

fn assert_each_cause_once(error: &(dyn Error + 'static), layers: usize) {
    let messages = chain(error);
    assert_eq!(messages.len(), layers, "{messages:?}");
    let report = messages.join(": ");
    for inner in &messages[1..] {
        assert_eq!(
            report.matches(inner.as_str()).count(),
            1,
            "{inner:?} repeated in {report:?}"
        );
    }
    for (outer, inner) in messages.iter().zip(&messages[1..]) {
        assert!(
            !outer.contains(inner.as_str()),
            "{outer:?} repeats {inner:?}"
        );
    }
}

#[test]
fn wrapped_errors_print_their_cause_once() {
    let decode = DecodeError::MissingField { field: "op" };
    let too_long = DecodeError::TooLong {
        field: "session_id",
        limit: 64,
    };
    let cases: [(Box<dyn Error>, usize); 6] = [
        (Box::new(HandleError::Decode(decode)), 2),
        (
            Box::new(HandleError::Protocol(ProtocolError::MissingData {
                op: OpCode::Hello,
            })),
            2,
        ),
        (
            Box::new(HandleError::Protocol(ProtocolError::UnusableSessionId(
                too_long,
            ))),
            3,
        ),
        (Box::new(HandleError::EventsNotDrained), 1),
        (
            Box::new(SendError::Encode(EncodeError::TooLarge { limit: 4096 })),
            2,
        ),
        (Box::new(SendError::Reserved(OpCode::Identify)), 1),
    ];
    for (error, layers) in &cases {
        assert_each_cause_once(error.as_ref(), *layers);
    }
}
