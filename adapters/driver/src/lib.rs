//! The runtime-generic async driver behind `discord-gateway-tokio` and `discord-gateway-smol`.
//!
//! It binds the sans-IO [`discord_gateway`] session to a websocket: connect, feed messages in,
//! send what the session wants sent, sleep until its deadline, reconnect. It is written once,
//! generic over a small [`Runtime`] trait (open a websocket, sleep until an instant, tell the
//! time), so each adapter is little more than an `async-tungstenite` connect with TLS and a
//! timer. The runtime's frames, errors and connect options are the driver's own types
//! ([`Frame`], [`TransportError`], [`ConnectOptions`]): no websocket library's types are part
//! of the contract.
//!
//! A [`Shard`] is a [`futures_util::Stream`] of events, driven by its `poll_next` alone. It
//! never spawns tasks: it does its work while the application polls it. It never logs the token.
//!
//! With the `testing` feature, `testing::TestRuntime` runs shards over in-memory sockets on a
//! manual clock, so tests go through minutes of heartbeats and backoff in microseconds.

mod builder;
mod clock;
#[cfg(feature = "discovery")]
pub mod discovery;
mod event;
mod file_store;
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "async-tungstenite")]
mod handshake;
mod identify;
mod inflate;
mod link;
mod manager;
mod payloads;
#[cfg(feature = "async-tungstenite")]
mod read_ahead;
mod runtime;
mod sender;
mod shard;
mod shard_range;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod transport;
#[cfg(feature = "async-tungstenite")]
pub mod websocket;

pub use builder::{
    BuildError, ShardBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_READ_BUFFER_SIZE,
};
pub use event::{Dispatch, ErrorChain, MessageError, ShardError, ShardEvent};
pub use file_store::FileSessionStore;
pub use identify::{IdentifyQueue, LocalIdentifyQueue, Permit, SessionStartLimit, IDENTIFY_WINDOW};
pub use inflate::InflateError;
pub use manager::{ManagedEvent, ManagerBuilder, ShardManager, ShardStopped, StartError};
pub use runtime::{os_seed, Runtime};
pub use sender::{QueueError, ShardSender};
pub use shard::Shard;
pub use shard_range::{InvalidRange, ShardRange};
pub use store::{SessionStore, StoreError, StoreFuture};
pub use transport::{BoxedTransport, ConnectOptions, Frame, Transport, TransportError, USER_AGENT};

pub use discord_gateway;
pub use discord_gateway::session::CloseKind;

/// What an application needs from an adapter crate, re-exported by each one so that
/// `discord_gateway_tokio::*` and `discord_gateway_smol::*` name the same things.
pub mod prelude {
    pub use crate::{
        BuildError, CloseKind, Dispatch, ErrorChain, FileSessionStore, IdentifyQueue, InvalidRange,
        ManagedEvent, MessageError, QueueError, Runtime, SessionStartLimit, SessionStore,
        ShardError, ShardEvent, ShardRange, ShardSender, ShardStopped, StartError,
    };
    pub use discord_gateway::command;
    pub use discord_gateway::protocol::{
        CloseCode, EventSet, EventType, Intents, ShardId, Snowflake,
    };
    pub use discord_gateway::session::{Compression, DisconnectCause, Next, ResumeState};
    pub use discord_gateway::Token;
    pub use futures_util::StreamExt;
}
