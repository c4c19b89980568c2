//! A loopback Discord gateway server for testing gateway clients.
//!
//! `discord-gateway-sim` serves the gateway at `ws://127.0.0.1:PORT` ([`SimHandle::url`]) and
//! `GET /api/v10/gateway/bot` on the same port, and behaves like the Discord gateway as the
//! protocol reference describes it: Hello, heartbeats and ACKs, Identify and READY with a
//! `resume_gateway_url`, sessions whose sequence numbers and replay backlog outlive connections,
//! Resume/RESUMED, the rate limits and their close codes, zlib-stream and zstd-stream transport
//! compression. On top of that it injects faults on request (op 7, op 9, close codes, TCP drops,
//! zombie connections, malformed frames, delays, huge events, bursts, seeded chaos), records
//! everything clients send, and counts what happened.
//!
//! It shares only the opcode, close-code and intent enums with `discord-gateway`; none of the
//! client's session logic, so a bug there cannot hide a bug here.
//!
//! ```no_run
//! # async fn demo() -> Result<(), discord_gateway_sim::SimError> {
//! use std::time::Duration;
//! use discord_gateway_sim::{Fault, Sim};
//!
//! let sim = Sim::builder()
//!     .heartbeat_interval(Duration::from_millis(200))
//!     .token("test-token")
//!     .start()
//!     .await?;
//! // A client that adds the query itself (discord-gateway's `gateway_url`, as Discord's own
//! // URL is given) takes `sim.url()` as it is, and refuses a URL with a query in it; a bare
//! // websocket client connects to the URL with the query appended.
//! let gateway_url = sim.url();
//! let websocket_url = format!("{}/?v=10&encoding=json", sim.url());
//! // ... connect a client to one of them ...
//! sim.wait_for(|c| c.readies >= 1, Duration::from_secs(5)).await?;
//! sim.message_create("hello");
//! sim.fault(Fault::Reconnect);
//! sim.wait_for(|c| c.resumed >= 1, Duration::from_secs(5)).await?;
//! # Ok(()) }
//! ```
//!
//! `wss://`: [`SimBuilder::tls`] with a [`TestCa`] (a CA and a server certificate for
//! `localhost` and `127.0.0.1`, made at run time with rcgen) serves TLS on the same port; a
//! client that trusts [`TestCa::ca_der`] gets a session, one that does not is refused before the
//! websocket ([`Counters::tls_handshake_failures`]). Each connection records the TLS version
//! its handshake negotiated ([`ConnectionRecord::tls_version`]); [`TestCa::ca_pem`] is the CA as
//! a file holds it, and [`TestCa::generate_for`] signs a certificate for other names (a client
//! dialling `127.0.0.1` must then refuse it).
//!
//! Threading: [`SimBuilder::start`] spawns a dedicated thread running the sim's own tokio
//! runtime. Handle methods are synchronous and never block, or return runtime-agnostic futures,
//! so the sim is usable from tokio, smol or plain threads alike.

mod block_on;
mod compress;
mod config;
mod connection;
mod error;
pub mod etf;
mod fault;
mod fixtures;
mod frame;
mod http;
mod limits;
mod record;
mod rng;
mod script;
mod server;
mod session;
mod sim;
mod state;
mod stream;
mod tls;

pub use config::{SimBuilder, SimConfig};
pub use error::SimError;
pub use fault::{ChaosConfig, ChaosEvent, Fault, Target};
pub use fixtures::DEFAULT_CHANNEL_ID;
pub use record::{ClientPayload, ConnId, ConnectionRecord, Counters, Endpoint};
pub use script::{Script, ScriptHandle};
pub use sim::{Sim, SimHandle};
pub use tls::TestCa;
