//! A `#![no_std]`, allocation-free, sans-IO Discord gateway client core.
//!
//! This crate parses gateway payloads without copying, encodes commands into caller buffers, and
//! runs the session state machine (Hello, heartbeats, Identify/Resume, Reconnect, Invalid Session,
//! close codes, rate limits). It never performs I/O, never reads a clock and never draws entropy:
//! the caller hands it whole websocket messages, the current time and seeds, and drains what it
//! wants sent, when it wants to be woken, and what happened.
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod codec;
pub mod command;
#[doc(hidden)]
pub mod fuzzing;
pub mod protocol;
pub mod session;
pub mod time;
pub mod token;

pub use command::{encode, encode_into, Command, Encode, EncodeError, Identify, MAX_PAYLOAD_LEN};
pub use protocol::{CloseCode, Intents, OpCode, Recovery, ShardId, Snowflake};
pub use time::Instant;
pub use token::Token;
