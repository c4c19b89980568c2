//! The gateway's vocabulary: opcodes, close codes, intents, event names, shards and snowflakes.
//!
//! Nothing here holds state; these are the types every other module speaks in.

mod close_code;
mod intents;
mod opcode;

pub use close_code::{CloseCode, Recovery};
pub use intents::Intents;
pub use opcode::OpCode;
