//! A `#![no_std]`, allocation-free, sans-IO Discord gateway client core.
//!
//! This crate parses gateway payloads without copying, encodes commands into caller buffers, and
//! runs the session state machine (Hello, heartbeats, Identify/Resume, Reconnect, Invalid Session,
//! close codes, rate limits). It never performs I/O, never reads a clock and never draws entropy:
//! the caller hands it whole websocket messages, the current time and seeds, and drains what it
//! wants sent, when it wants to be woken, and what happened.
//!
//! The central types are re-exported here; [`session`] documents the order a driver calls them in.
//!
//! ```
//! use discord_gateway::{Config, Event, EventSet, EventType, Instant, Message, Session, Token};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let token = Token::new("Bot MTA4NTk4NzY1NDMyMTAxMjM0NQ.GxYzAb.example")?;
//! let events = EventSet::EMPTY.with(EventType::MessageCreate);
//! let mut session = Session::new(Config::builder(token).events(events).build()?);
//!
//! let now = Instant::ZERO;
//! let connect = session.poll_connect(now).expect("a new session dials at once");
//! assert_eq!(connect.url.to_string(), "wss://gateway.discord.gg/?v=10&encoding=json");
//! session.handle_open(now);
//! let hello = br#"{"op":10,"d":{"heartbeat_interval":41250}}"#;
//! session.handle_message(now, Message::Text(hello))?;
//! assert_eq!(session.poll_event(), Some(Event::IdentifyPermitNeeded));
//! # Ok(())
//! # }
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod codec;
pub mod command;
mod decimal;
#[doc(hidden)]
pub mod fuzzing;
pub mod protocol;
pub mod session;
pub mod time;
pub mod token;

pub use codec::Encoding;
pub use command::{encode, encode_into, Command, Encode, EncodeError, Identify, MAX_PAYLOAD_LEN};
pub use protocol::{CloseCode, EventSet, EventType, Intents, OpCode, Recovery, ShardId, Snowflake};
pub use session::{CloseKind, Config, Event, Message, Session, Transmit};
pub use time::Instant;
pub use token::Token;
