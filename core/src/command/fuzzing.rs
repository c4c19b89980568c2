//! Entry points for the fuzz targets; not part of the API.
//!
//! `serde_json` is not available without `std`, so these cannot parse the output back; they
//! check instead that encoding never panics, never exceeds the limit, and only ever produces one
//! well-formed JSON value (with the codec's strict validator).

use super::{
    encode_into, Activity, ActivityType, ChannelInfoField, Encode, EncodeError, Heartbeat,
    MemberSelector, RawCommand, RequestChannelInfo, RequestGuildMembers, Status, UpdatePresence,
    UpdateVoiceState, MAX_PAYLOAD_LEN,
};
use crate::codec::validate_value;
use crate::protocol::{OpCode, Snowflake};

/// Builds a command from arbitrary bytes and encodes it into buffers of several sizes.
///
/// # Panics
/// When encoding breaks one of its promises: a payload over [`MAX_PAYLOAD_LEN`], output that is not
/// one JSON value, a `needed` size that does not work, or different bytes for the same command.
pub fn encode_round_trip(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let mut input = Input(rest);
    match selector % 6 {
        0 => check(&RawCommand::new(OpCode::from_u8(input.byte()), input.0)),
        1 => {
            let (a, b, c) = (input.text(), input.text(), input.text());
            let kind = activity_type(input.byte());
            let activities = [
                Activity::new(kind, a).with_state(b),
                Activity::new(ActivityType::Streaming, c).with_url(b),
            ];
            let status = status(input.byte());
            let count = usize::from(input.byte() % 3);
            check(&UpdatePresence {
                since: input.u64_if(),
                activities: &activities[..count],
                status,
                afk: input.byte() & 1 == 1,
            });
        }
        2 => {
            let guild_id = Snowflake(input.u64());
            let limit = u16::from_le_bytes([input.byte(), input.byte()]);
            let prefix = input.text();
            let nonce = input.text();
            let ids = [Snowflake(input.u64()), Snowflake(input.u64())];
            let selector = match input.byte() % 3 {
                0 => MemberSelector::Query { prefix, limit },
                1 => MemberSelector::UserIds(&ids),
                _ => MemberSelector::UserIds(&[]),
            };
            check(&RequestGuildMembers {
                guild_id,
                selector,
                presences: input.byte() & 1 == 1,
                nonce: (input.byte() & 1 == 1).then_some(nonce),
            });
        }
        3 => check(&Heartbeat {
            seq: input.u64_if(),
        }),
        4 => check(&UpdateVoiceState {
            guild_id: Snowflake(input.u64()),
            channel_id: input.u64_if().map(Snowflake),
            self_mute: input.byte() & 1 == 1,
            self_deaf: input.byte() & 2 == 2,
        }),
        _ => {
            let all = [ChannelInfoField::Status, ChannelInfoField::VoiceStartTime];
            let count = usize::from(input.byte() % 3);
            check(&RequestChannelInfo {
                guild_id: Snowflake(input.u64()),
                fields: &all[..count],
            });
        }
    }
}

/// Encodes `cmd` into a full buffer and a short one and checks the results agree.
fn check(cmd: &impl Encode) {
    let mut full = [0u8; MAX_PAYLOAD_LEN];
    let len = match encode_into(cmd, &mut full) {
        Ok(len) => len,
        Err(EncodeError::InvalidField { .. } | EncodeError::TooLarge { .. }) => return,
        Err(other) => panic!("a full buffer failed with {other:?}"),
    };
    assert!(len <= MAX_PAYLOAD_LEN);
    assert_eq!(
        validate_value(&full[..len]),
        Ok(()),
        "output is not one JSON value"
    );
    assert!(full.starts_with(b"{\"op\":"));

    let mut short = [0u8; MAX_PAYLOAD_LEN];
    let short = &mut short[..len / 2];
    match encode_into(cmd, short) {
        Err(EncodeError::BufferTooSmall { needed }) => assert_eq!(needed, len),
        Ok(_) => panic!("a payload fit in half its length"),
        Err(other) => panic!("a short buffer failed with {other:?}"),
    }
    let mut exact = [0u8; MAX_PAYLOAD_LEN];
    assert_eq!(encode_into(cmd, &mut exact[..len]), Ok(len));
    assert_eq!(
        exact[..len],
        full[..len],
        "the same command encoded differently"
    );
}

fn activity_type(byte: u8) -> ActivityType {
    match byte % 6 {
        0 => ActivityType::Playing,
        1 => ActivityType::Streaming,
        2 => ActivityType::Listening,
        3 => ActivityType::Watching,
        4 => ActivityType::Custom,
        _ => ActivityType::Competing,
    }
}

fn status(byte: u8) -> Status {
    match byte % 5 {
        0 => Status::Online,
        1 => Status::DoNotDisturb,
        2 => Status::Idle,
        3 => Status::Invisible,
        _ => Status::Offline,
    }
}

/// Arbitrary bytes consumed front to back; exhausted input reads as zeros and empty strings.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> u8 {
        let Some((&byte, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        byte
    }

    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(core::array::from_fn(|_| self.byte()))
    }

    fn u64_if(&mut self) -> Option<u64> {
        (self.byte() & 1 == 1).then(|| self.u64())
    }

    /// A string of up to 255 bytes: the longest valid UTF-8 prefix of the announced length.
    fn text(&mut self) -> &'a str {
        let wanted = usize::from(self.byte()).min(self.0.len());
        let (bytes, rest) = self.0.split_at(wanted);
        self.0 = rest;
        match core::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(error) => core::str::from_utf8(&bytes[..error.valid_up_to()]).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::encode_round_trip;

    #[test]
    fn a_spread_of_inputs_keeps_every_promise() {
        let mut state: u32 = 0x9E37_79B9;
        let mut data = [0u8; 700];
        for round in 0..3000 {
            for byte in &mut data {
                // xorshift: deterministic, so a failure reproduces.
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                *byte = state.to_le_bytes()[0];
            }
            let len = round % data.len();
            encode_round_trip(&data[..len]);
        }
        encode_round_trip(&[]);
        encode_round_trip(&[0, 1, b'"', b'x', b'"']);
        encode_round_trip(&[0, 2, b'{', b'}']);
    }
}
