//! The runtime-generic async driver behind `discord-gateway-tokio` and `discord-gateway-smol`.
//!
//! It binds the sans-IO [`discord_gateway`] session to a websocket: connect, feed messages in,
//! send what the session wants sent, sleep until its deadline, reconnect. It is written once,
//! generic over a tiny [`Runtime`] trait (open a websocket, sleep until an instant), so each
//! adapter is little more than an `async-tungstenite` connect with TLS and a timer.
//!
//! It never spawns tasks: a [`Shard`] does its work while the application awaits
//! [`Shard::next_event`]. It never logs the token.

mod builder;
mod clock;
mod event;
#[doc(hidden)]
pub mod fuzzing;
mod identify;
mod inflate;
mod payloads;
mod runtime;
mod sender;
mod shard;

pub use builder::{
    ShardBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_READ_BUFFER_SIZE,
};
pub use event::{Dispatch, MessageError, ShardError, ShardEvent};
pub use identify::{IdentifyQueue, LocalIdentifyQueue, Permit, IDENTIFY_WINDOW};
pub use inflate::InflateError;
pub use runtime::{os_seed, Runtime};
pub use sender::{QueueError, ShardSender};
pub use shard::Shard;

pub use discord_gateway;

/// What an application needs from an adapter crate, re-exported by each one so that
/// `discord_gateway_tokio::*` and `discord_gateway_smol::*` name the same things.
pub mod prelude {
    pub use crate::{
        Dispatch, IdentifyQueue, MessageError, QueueError, Runtime, ShardError, ShardEvent,
        ShardSender,
    };
    pub use discord_gateway::command;
    pub use discord_gateway::protocol::{
        CloseCode, EventSet, EventType, Intents, ShardId, Snowflake,
    };
    pub use discord_gateway::session::{Compression, DisconnectCause, Next, ResumeState};
    pub use discord_gateway::Token;
}
