//! The gateway's vocabulary: opcodes, close codes, intents, event names, shards and snowflakes.
//!
//! Nothing here holds state; these are the types every other module speaks in.

mod close_code;
mod event;
mod event_set;
mod intents;
mod opcode;
mod shard;
mod snowflake;
mod voice;

pub use close_code::{CloseCode, Recovery};
pub use event::{EventType, ParseEventTypeError};
pub use event_set::{EventSet, EventSetIter, UnknownEventName};
pub use intents::Intents;
pub use opcode::OpCode;
pub use shard::{shard_for_guild, InvalidShard, ShardId};
pub use snowflake::{InvalidSnowflake, Snowflake, DISCORD_EPOCH_MS};
pub use voice::{VoiceCloseCode, VoiceOpCode, VoiceRecovery};
