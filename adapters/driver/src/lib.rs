//! The runtime-generic async driver behind `discord-gateway-tokio` and `discord-gateway-smol`.
//!
//! It binds the sans-IO [`discord_gateway`] session to a websocket: connect, feed messages in,
//! send what the session wants sent, sleep until its deadline, reconnect. It is written once,
//! generic over a small [`Runtime`] trait (open a websocket, sleep until an instant, tell the
//! time), so each adapter is little more than a TCP connect (handed to `websocket::connect`)
//! and a timer. The runtime's frames, errors and connect options are the driver's own types
//! ([`Frame`], [`TransportError`], [`ConnectOptions`]): no websocket library's types are part
//! of the contract.
//!
//! A [`Shard`] is a [`futures_util::Stream`] of events, driven by its `poll_next` alone. It
//! never spawns tasks: it does its work while the application polls it. It never logs the token.
//!
//! With the `testing` feature, `testing::TestRuntime` runs shards over in-memory sockets on a
//! manual clock, so tests go through minutes of heartbeats and backoff in microseconds.

mod fleet;
#[doc(hidden)]
pub mod fuzzing;
pub mod metrics;
mod runtime;
mod shard;
#[cfg(feature = "testing")]
pub mod testing;
mod transport;

#[cfg(feature = "discovery")]
pub use fleet::discovery;
#[cfg(feature = "async-tungstenite")]
pub use transport::websocket;

pub use fleet::file_store::FileSessionStore;
pub use fleet::identify::{
    Answer, GrantSource, IdentifyQueue, LocalIdentifyQueue, Permit, QueueStatus, SessionStartLimit,
    WaiterLine, IDENTIFY_WINDOW,
};
pub use fleet::manager::{
    ManagedEvent, ManagerBuilder, ShardManager, ShardStopped, StartError, SuspendedSessions,
};
pub use fleet::seal::{RejectedSession, SealedSession, SessionSeal};
pub use fleet::shard_range::{InvalidRange, ShardRange};
pub use fleet::store::{Claim, SessionStore, StoreError, StoreFuture};
pub use runtime::{os_seed, Runtime, Timer};
pub use shard::builder::{
    BuildError, ShardBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_READ_BUFFER_SIZE,
};
pub use shard::event::{Dispatch, ErrorChain, MessageError, SessionEvent, ShardError, ShardEvent};
pub use shard::sender::{QueueError, ShardSender};
pub use shard::status::{ConnectionError, ConnectionErrorKind, Disconnect, Progress, ShardStatus};
pub use shard::Shard;
pub use transport::inflate::InflateError;
pub use transport::{BoxedTransport, ConnectOptions, Frame, Transport, TransportError, USER_AGENT};
pub use transport::{Trust, TrustError};

pub use discord_gateway;
pub use discord_gateway::session::CloseKind;

/// What an application needs from an adapter crate, re-exported by each one so that
/// `discord_gateway_tokio::*` and `discord_gateway_smol::*` name the same things.
pub mod prelude {
    pub use crate::{
        BuildError, Claim, CloseKind, ConnectionError, ConnectionErrorKind, Disconnect, Dispatch,
        ErrorChain, FileSessionStore, IdentifyQueue, InvalidRange, ManagedEvent, MessageError,
        Progress, QueueError, QueueStatus, Runtime, SealedSession, SessionEvent, SessionSeal,
        SessionStartLimit, SessionStore, ShardError, ShardEvent, ShardRange, ShardSender,
        ShardStatus, ShardStopped, StartError, Trust, TrustError,
    };
    pub use discord_gateway::command;
    pub use discord_gateway::protocol::{
        CloseCode, EventSet, EventType, Intents, ShardId, Snowflake,
    };
    pub use discord_gateway::session::{
        Backoff, Compression, ConfigBuilder, DisconnectCause, Next, ResumeState,
    };
    pub use discord_gateway::Token;
    pub use futures_util::StreamExt;
}
