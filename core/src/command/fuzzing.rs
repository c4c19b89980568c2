//! Entry point for the command fuzz target; not part of the API (see `crate::fuzzing`).
//!
//! Without `std` this checks that encoding never panics, never exceeds the limit, refuses
//! exactly the commands Discord would refuse, and only ever produces one well-formed JSON value
//! (with the codec's strict validator). With the `fuzzing` feature it also parses the output
//! back with `serde_json` and compares it, field by field, with the command it came from.

use super::{
    encode_into, Activity, ActivityType, ChannelInfoField, ConnectionProperties, Encode,
    EncodeError, Heartbeat, Identify, MemberSelector, RawCommand, RequestChannelInfo,
    RequestGuildMembers, RequestSoundboardSounds, Resume, Status, UpdatePresence, UpdateVoiceState,
    LARGE_THRESHOLD_RANGE, MAX_NONCE_LEN, MAX_PAYLOAD_LEN, MAX_USER_IDS,
};
use crate::codec::validate_value;
use crate::fuzzing::Input;
use crate::protocol::{Intents, OpCode, ShardId, Snowflake};
use crate::token::Token;

/// Builds a command from arbitrary bytes and encodes it into buffers of several sizes.
///
/// # Panics
/// When encoding breaks one of its promises: a payload over `MAX_PAYLOAD_LEN`, a refusal of a
/// valid command or acceptance of an invalid one, output that is not one JSON value, a `needed`
/// size that does not work, different bytes for the same command, or (with the `fuzzing`
/// feature) output that does not parse back to the same command.
pub fn encode_round_trip(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let mut input = Input::new(rest);
    match selector % 9 {
        0 => {
            let op = OpCode::from_u8(input.byte());
            check(&Case::Raw(RawCommand::new(op, input.rest())));
        }
        1 => {
            let long = input.bool();
            let (a, b, c) = if long {
                (input.long_text(), input.long_text(), input.long_text())
            } else {
                (input.text(), input.text(), input.text())
            };
            let kind = activity_type(input.byte());
            let activities = [
                Activity::new(kind, a).with_state(b),
                Activity::new(ActivityType::Streaming, c).with_url(b),
                Activity::custom(c),
            ];
            let status = status(input.byte());
            let count = usize::from(input.byte() % 4);
            check(&Case::Presence(UpdatePresence {
                since: input.u64_if(),
                activities: &activities[..count],
                status,
                afk: input.bool(),
            }));
        }
        2 => {
            let guild_id = Snowflake(input.u64());
            let limit = input.u16();
            let prefix = input.text();
            let nonce = input.text();
            let mut ids = [Snowflake(0); MAX_USER_IDS + 2];
            for id in &mut ids {
                *id = Snowflake(input.u64());
            }
            let count = usize::from(input.byte()) % (ids.len() + 1);
            let selector = if input.bool() {
                MemberSelector::Query { prefix, limit }
            } else {
                MemberSelector::UserIds(&ids[..count])
            };
            check(&Case::Members(RequestGuildMembers {
                guild_id,
                selector,
                presences: input.bool(),
                nonce: input.bool().then_some(nonce),
            }));
        }
        3 => check(&Case::Heartbeat(Heartbeat {
            seq: input.u64_if(),
        })),
        4 => check(&Case::Voice(UpdateVoiceState {
            guild_id: Snowflake(input.u64()),
            channel_id: input.u64_if().map(Snowflake),
            self_mute: input.bool(),
            self_deaf: input.bool(),
        })),
        5 => {
            let all = [ChannelInfoField::Status, ChannelInfoField::VoiceStartTime];
            let count = usize::from(input.byte() % 3);
            check(&Case::ChannelInfo(RequestChannelInfo {
                guild_id: Snowflake(input.u64()),
                fields: &all[..count],
            }));
        }
        6 => {
            let token = token(input.text());
            let (os, browser, device) = (input.text(), input.text(), input.text());
            let name = input.long_text();
            let activities = [Activity::new(activity_type(input.byte()), name)];
            let presence = UpdatePresence::new(status(input.byte()), &activities);
            let shard = ShardId::new(input.u32(), input.u32()).ok();
            check(&Case::Identify(Identify {
                token: &token,
                properties: ConnectionProperties::new(os, browser, device),
                compress: input.bool(),
                large_threshold: input.bool().then(|| input.byte()),
                shard,
                presence: input.bool().then_some(presence),
                intents: Intents::from_bits_retain(input.u64()),
            }));
        }
        7 => {
            let token = token(input.text());
            check(&Case::Resume(Resume {
                token: &token,
                session_id: input.long_text(),
                seq: input.u64(),
            }));
        }
        _ => {
            let ids = [Snowflake(input.u64()), Snowflake(input.u64())];
            let count = usize::from(input.byte() % 3);
            check(&Case::Soundboard(RequestSoundboardSounds {
                guild_ids: &ids[..count],
            }));
        }
    }
}

/// One command of any kind, so the checks can be written once.
#[derive(Debug)]
enum Case<'a> {
    Raw(RawCommand<'a>),
    Presence(UpdatePresence<'a>),
    Members(RequestGuildMembers<'a>),
    Heartbeat(Heartbeat),
    Voice(UpdateVoiceState),
    ChannelInfo(RequestChannelInfo<'a>),
    Identify(Identify<'a>),
    Resume(Resume<'a>),
    Soundboard(RequestSoundboardSounds<'a>),
}

impl Case<'_> {
    fn encode(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        fn go(cmd: &impl Encode, buf: &mut [u8]) -> Result<usize, EncodeError> {
            encode_into(cmd, buf)
        }
        match self {
            Self::Raw(cmd) => go(cmd, buf),
            Self::Presence(cmd) => go(cmd, buf),
            Self::Members(cmd) => go(cmd, buf),
            Self::Heartbeat(cmd) => go(cmd, buf),
            Self::Voice(cmd) => go(cmd, buf),
            Self::ChannelInfo(cmd) => go(cmd, buf),
            Self::Identify(cmd) => go(cmd, buf),
            Self::Resume(cmd) => go(cmd, buf),
            Self::Soundboard(cmd) => go(cmd, buf),
        }
    }

    /// Whether Discord would take this command, by the rules of protocol reference §10, read
    /// independently of the validators.
    fn valid(&self) -> bool {
        match self {
            Self::Raw(cmd) => cmd.op.is_sendable() && validate_value(cmd.data).is_ok(),
            Self::Members(cmd) => {
                let ids_ok = match cmd.selector {
                    MemberSelector::UserIds(ids) => (1..=MAX_USER_IDS).contains(&ids.len()),
                    MemberSelector::Query { .. } => true,
                };
                ids_ok && cmd.nonce.is_none_or(|nonce| nonce.len() <= MAX_NONCE_LEN)
            }
            Self::ChannelInfo(cmd) => !cmd.fields.is_empty(),
            Self::Soundboard(cmd) => !cmd.guild_ids.is_empty(),
            Self::Identify(cmd) => cmd
                .large_threshold
                .is_none_or(|threshold| LARGE_THRESHOLD_RANGE.contains(&threshold)),
            Self::Resume(cmd) => !cmd.session_id.is_empty(),
            Self::Presence(_) | Self::Heartbeat(_) | Self::Voice(_) => true,
        }
    }
}

/// Encodes into a full buffer, a short one and an exact one, and checks the results agree.
fn check(case: &Case<'_>) {
    let mut full = [0u8; MAX_PAYLOAD_LEN];
    let len = match case.encode(&mut full) {
        Ok(len) => len,
        Err(EncodeError::InvalidField { .. }) => {
            assert!(!case.valid(), "a valid command was refused: {case:?}");
            return;
        }
        Err(EncodeError::TooLarge { .. }) => {
            assert!(
                case.valid(),
                "an invalid command was measured instead of refused"
            );
            #[cfg(feature = "fuzzing")]
            round_trip::too_large(case);
            return;
        }
        Err(other) => panic!("a full buffer failed with {other:?}"),
    };
    assert!(case.valid(), "an invalid command was encoded: {case:?}");
    assert!(len <= MAX_PAYLOAD_LEN);
    let payload = &full[..len];
    assert_eq!(
        validate_value(payload),
        Ok(()),
        "output is not one JSON value"
    );
    assert!(payload.starts_with(b"{\"op\":"));
    #[cfg(feature = "fuzzing")]
    round_trip::same(case, payload);

    let mut short = [0u8; MAX_PAYLOAD_LEN];
    match case.encode(&mut short[..len / 2]) {
        Err(EncodeError::BufferTooSmall { needed }) => assert_eq!(needed, len),
        Ok(_) => panic!("a payload fit in half its length"),
        Err(other) => panic!("a short buffer failed with {other:?}"),
    }
    let mut exact = [0u8; MAX_PAYLOAD_LEN];
    assert_eq!(case.encode(&mut exact[..len]), Ok(len));
    assert_eq!(
        exact[..len],
        *payload,
        "the same command encoded differently"
    );
}

/// The output read back with `serde_json` and compared with the command it came from.
#[cfg(feature = "fuzzing")]
mod round_trip {
    extern crate std;

    use std::string::ToString;
    use std::vec::Vec;

    use serde_json::{json, Value};

    use super::{Case, MemberSelector, RawCommand, UpdatePresence, MAX_PAYLOAD_LEN};
    use crate::protocol::Snowflake;

    /// Checks that `payload` reads as `case`.
    pub(super) fn same(case: &Case<'_>, payload: &[u8]) {
        if let Case::Raw(cmd) = case {
            // `d` goes out byte for byte, escapes and whitespace included.
            assert_eq!(
                payload,
                raw_envelope(cmd).as_slice(),
                "a raw command was rewritten"
            );
        }
        let parsed: Value = match serde_json::from_slice(payload) {
            Ok(parsed) => parsed,
            Err(_) if reserved_key(payload) => return,
            Err(error) => panic!("serde_json cannot read the output: {error}"),
        };
        assert_eq!(
            parsed,
            expected(case),
            "the output reads as another command"
        );
    }

    /// Checks that a refusal for size was deserved: the same command, written by `serde_json`
    /// (or, for a raw command, with its `d` verbatim), is over the limit too.
    pub(super) fn too_large(case: &Case<'_>) {
        if let Case::Raw(cmd) = case {
            let len = raw_envelope(cmd).len();
            assert!(len > MAX_PAYLOAD_LEN, "refused as too large at {len} bytes");
            return;
        }
        let len = serde_json::to_vec(&expected(case)).map_or(0, |bytes| bytes.len());
        assert!(len > MAX_PAYLOAD_LEN, "refused as too large at {len} bytes");
    }

    /// Whether `serde_json` could not build a `Value` only because of a key it reserves for
    /// itself: with its `raw_value` feature (on in this workspace) an object keyed
    /// `$serde_json::private::RawValue` (escaped or not) is read as a raw-value token. Such JSON
    /// is valid and rightly accepted by the validator, and `serde_json` reads it fine when it
    /// builds nothing (`IgnoredAny`), which is how the case is told apart: only the comparison
    /// is skipped.
    fn reserved_key(json: &[u8]) -> bool {
        serde_json::from_slice::<serde::de::IgnoredAny>(json).is_ok()
    }

    /// The payload a raw command stands for: its `d` inside the envelope, untouched.
    fn raw_envelope(cmd: &RawCommand<'_>) -> Vec<u8> {
        let mut out = std::format!("{{\"op\":{},\"d\":", cmd.op.to_u8()).into_bytes();
        out.extend_from_slice(cmd.data);
        out.push(b'}');
        out
    }

    /// The payload a command stands for, built from its fields by hand.
    fn expected(case: &Case<'_>) -> Value {
        let (op, d) = match case {
            Case::Raw(cmd) => {
                let d = serde_json::from_slice(cmd.data).unwrap_or_else(|error| {
                    panic!("the validator took a `d` serde_json refuses: {error}")
                });
                (cmd.op.to_u8(), d)
            }
            Case::Presence(presence) => (3, self::presence(presence)),
            Case::Members(cmd) => {
                let mut d = json!({
                    "guild_id": id(cmd.guild_id),
                    "presences": cmd.presences,
                });
                match cmd.selector {
                    MemberSelector::Query { prefix, limit } => {
                        d["query"] = json!(prefix);
                        d["limit"] = json!(limit);
                    }
                    MemberSelector::UserIds(ids) => d["user_ids"] = ids_of(ids),
                }
                if let Some(nonce) = cmd.nonce {
                    d["nonce"] = json!(nonce);
                }
                (8, d)
            }
            Case::Heartbeat(cmd) => (1, json!(cmd.seq)),
            Case::Voice(cmd) => (
                4,
                json!({
                    "guild_id": id(cmd.guild_id),
                    "channel_id": cmd.channel_id.map(id),
                    "self_mute": cmd.self_mute,
                    "self_deaf": cmd.self_deaf,
                }),
            ),
            Case::ChannelInfo(cmd) => {
                let fields: Vec<&str> = cmd.fields.iter().map(|field| field.as_str()).collect();
                (43, json!({"guild_id": id(cmd.guild_id), "fields": fields}))
            }
            Case::Identify(cmd) => {
                let mut d = json!({
                    "token": cmd.token.as_str(),
                    "properties": {
                        "os": cmd.properties.os,
                        "browser": cmd.properties.browser,
                        "device": cmd.properties.device,
                    },
                    "compress": cmd.compress,
                    "intents": cmd.intents.bits(),
                });
                if let Some(threshold) = cmd.large_threshold {
                    d["large_threshold"] = json!(threshold);
                }
                if let Some(shard) = cmd.shard {
                    d["shard"] = json!([shard.id(), shard.count()]);
                }
                if let Some(presence) = &cmd.presence {
                    d["presence"] = self::presence(presence);
                }
                (2, d)
            }
            Case::Resume(cmd) => (
                6,
                json!({"token": cmd.token.as_str(), "session_id": cmd.session_id, "seq": cmd.seq}),
            ),
            Case::Soundboard(cmd) => (31, json!({"guild_ids": ids_of(cmd.guild_ids)})),
        };
        json!({"op": op, "d": d})
    }

    fn presence(presence: &UpdatePresence<'_>) -> Value {
        let activities: Vec<Value> = presence
            .activities
            .iter()
            .map(|activity| {
                let mut value = json!({"name": activity.name, "type": activity.kind.to_u8()});
                if let Some(state) = activity.state {
                    value["state"] = json!(state);
                }
                if let Some(url) = activity.url {
                    value["url"] = json!(url);
                }
                value
            })
            .collect();
        json!({
            "since": presence.since,
            "activities": activities,
            "status": presence.status.as_str(),
            "afk": presence.afk,
        })
    }

    /// Snowflakes travel as strings.
    fn id(snowflake: Snowflake) -> Value {
        Value::String(snowflake.0.to_string())
    }

    fn ids_of(ids: &[Snowflake]) -> Value {
        Value::Array(ids.iter().copied().map(id).collect())
    }
}

fn token(text: &str) -> Token {
    Token::new(text).unwrap_or_else(|_| Token::new("fuzzing-token").unwrap())
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
