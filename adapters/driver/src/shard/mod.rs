//! One shard: the driver loop over one session ([`Shard`]), how it is built, what it yields,
//! how other tasks send through it, and what it says about itself.
//!
//! Everything here is runtime-generic and websocket-library-free: it speaks to the network
//! through [`crate::Transport`] and to time through [`crate::Runtime`].

pub(crate) mod builder;
pub(crate) mod clock;
mod engine;
pub(crate) mod event;
pub(crate) mod link;
pub(crate) mod payloads;
pub(crate) mod sender;
pub(crate) mod status;

pub(crate) use engine::Limits;
pub use engine::Shard;
