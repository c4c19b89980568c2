//! Identify (op 2, protocol reference §5.3): starts a new session.

use core::ops::RangeInclusive;

use serde::{Serialize, Serializer};

use super::{sealed, Command, EncodeError, UpdatePresence};
use crate::protocol::{Intents, OpCode, ShardId};
use crate::token::Token;

/// The `large_threshold` values Discord accepts.
pub const LARGE_THRESHOLD_RANGE: RangeInclusive<u8> = 50..=250;

/// Starts a new session. Counts against the daily session-start budget (normally 1000), so it is
/// sent only when a session cannot be resumed.
///
/// `Debug` shows the token as `<redacted>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Identify<'a> {
    /// The bot token.
    pub token: &'a Token,
    /// Describes the client to Discord.
    pub properties: ConnectionProperties<'a>,
    /// Whether Discord should zlib-compress some payloads (not with transport compression).
    pub compress: bool,
    /// The member count above which Discord sends only online members of a guild, within
    /// [`LARGE_THRESHOLD_RANGE`]; omitted when `None` (Discord's default is 50).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub large_threshold: Option<u8>,
    /// Which shard this session is, sent as `[id, count]`; omitted when `None` (unsharded).
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "shard_pair")]
    pub shard: Option<ShardId>,
    /// The presence to start with; omitted when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub presence: Option<UpdatePresence<'a>>,
    /// The events the session subscribes to, sent as the bitfield's number.
    #[serde(serialize_with = "intent_bits")]
    pub intents: Intents,
}

impl<'a> Identify<'a> {
    /// An Identify with the required fields and every optional one left to Discord's default.
    #[must_use]
    pub const fn new(
        token: &'a Token,
        intents: Intents,
        properties: ConnectionProperties<'a>,
    ) -> Self {
        Self {
            token,
            properties,
            compress: false,
            large_threshold: None,
            shard: None,
            presence: None,
            intents,
        }
    }
}

impl sealed::Typed for Identify<'_> {}

impl Command for Identify<'_> {
    const OPCODE: OpCode = OpCode::Identify;

    fn validate(&self) -> Result<(), EncodeError> {
        if let Some(threshold) = self.large_threshold {
            if !LARGE_THRESHOLD_RANGE.contains(&threshold) {
                return Err(EncodeError::invalid(
                    "large_threshold",
                    "must be between 50 and 250",
                ));
            }
        }
        match &self.presence {
            Some(presence) => presence.validate(),
            None => Ok(()),
        }
    }
}

/// The client description in Identify's `properties`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ConnectionProperties<'a> {
    /// The operating system, e.g. `"linux"`.
    pub os: &'a str,
    /// The library's name.
    pub browser: &'a str,
    /// The library's name again (Discord asks for it in both places).
    pub device: &'a str,
}

impl<'a> ConnectionProperties<'a> {
    /// Properties with the given operating system, browser and device.
    #[must_use]
    pub const fn new(os: &'a str, browser: &'a str, device: &'a str) -> Self {
        Self {
            os,
            browser,
            device,
        }
    }
}

// serde's `serialize_with` hands over a reference to the field.
#[allow(clippy::ref_option, clippy::trivially_copy_pass_by_ref)]
fn shard_pair<S: Serializer>(shard: &Option<ShardId>, serializer: S) -> Result<S::Ok, S::Error> {
    match shard {
        Some(shard) => (shard.id(), shard.count()).serialize(serializer),
        None => serializer.serialize_none(),
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn intent_bits<S: Serializer>(intents: &Intents, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(intents.bits())
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::format;

    use serde_json::json;

    use super::{ConnectionProperties, Identify};
    use crate::command::testing::{assert_matches_fixture, fixture, round_trip};
    use crate::command::{
        encode_into, Activity, Command, EncodeError, Status, UpdatePresence, MAX_PAYLOAD_LEN,
    };
    use crate::protocol::{Intents, OpCode, ShardId};
    use crate::token::Token;

    const SECRET: &str = "MTA4NTk4NzY1NDMyMTAxMjM0NQ.GxYzAb.not-a-real-token-0123456789abcdefghij";
    const PROPERTIES: ConnectionProperties<'static> =
        ConnectionProperties::new("linux", "ferris-gateway", "ferris-gateway");

    #[test]
    fn the_fixture_encodes_identically() {
        let token = Token::new(SECRET).unwrap();
        let activities = [Activity::custom("connecting…")];
        let identify = Identify {
            large_threshold: Some(250),
            shard: Some(ShardId::ONE),
            presence: Some(UpdatePresence::new(Status::Online, &activities)),
            ..Identify::new(&token, Intents::from_bits_retain(38403), PROPERTIES)
        };
        assert_matches_fixture(&identify, fixture!("send_identify.json"));
    }

    #[test]
    fn optional_fields_are_omitted_when_unset() {
        let token = Token::new(SECRET).unwrap();
        let intents = Intents::GUILDS | Intents::GUILD_MESSAGES;
        let d = round_trip(
            &Identify::new(&token, intents, PROPERTIES),
            OpCode::Identify,
        );
        assert_eq!(
            d,
            json!({
                "token": SECRET,
                "properties": {"os": "linux", "browser": "ferris-gateway", "device": "ferris-gateway"},
                "compress": false,
                "intents": 513,
            })
        );
    }

    #[test]
    fn shards_are_sent_as_a_pair() {
        let token = Token::new(SECRET).unwrap();
        let identify = Identify {
            shard: Some(ShardId::new(7, 16).unwrap()),
            compress: true,
            ..Identify::new(&token, Intents::empty(), PROPERTIES)
        };
        let d = round_trip(&identify, OpCode::Identify);
        assert_eq!(d["shard"], json!([7, 16]));
        assert_eq!(d["compress"], json!(true));
        assert_eq!(d["intents"], json!(0));
    }

    #[test]
    fn large_threshold_outside_50_to_250_is_refused() {
        let token = Token::new(SECRET).unwrap();
        for (threshold, ok) in [
            (49, false),
            (50, true),
            (250, true),
            (251, false),
            (0, false),
        ] {
            let identify = Identify {
                large_threshold: Some(threshold),
                ..Identify::new(&token, Intents::GUILDS, PROPERTIES)
            };
            let mut buf = [0u8; MAX_PAYLOAD_LEN];
            let result = encode_into(&identify, &mut buf);
            if ok {
                assert!(result.is_ok(), "{threshold}");
            } else {
                assert_eq!(
                    result,
                    Err(EncodeError::InvalidField {
                        field: "large_threshold",
                        reason: "must be between 50 and 250",
                    })
                );
                assert_eq!(identify.validate(), result.map(drop));
            }
        }
    }

    #[test]
    fn formatting_an_identify_never_shows_the_token() {
        let token = Token::new(SECRET).unwrap();
        let identify = Identify::new(&token, Intents::GUILDS, PROPERTIES);
        for text in [format!("{identify:?}"), format!("{identify:#?}")] {
            assert!(!text.contains("GxYzAb"), "{text}");
            assert!(text.contains("<redacted>"), "{text}");
        }
    }
}
