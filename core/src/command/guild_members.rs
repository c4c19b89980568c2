//! Request Guild Members (op 8, protocol reference §10.4).

use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::{sealed, Command, EncodeError};
use crate::protocol::{OpCode, Snowflake};

/// The most user ids one request may name.
pub const MAX_USER_IDS: usize = 100;

/// The longest nonce Discord echoes, in bytes; it silently drops longer ones, which would leave
/// the caller waiting for chunks it cannot match.
pub const MAX_NONCE_LEN: usize = 32;

/// Asks for members of one guild; they arrive as `GUILD_MEMBERS_CHUNK` dispatches.
///
/// Asking for every member (`MemberSelector::ALL`) needs the `GUILD_MEMBERS` intent and is limited
/// to once per guild per 30 s; Discord answers a faster repeat with a `RATE_LIMITED` dispatch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestGuildMembers<'a> {
    /// The guild whose members are wanted.
    pub guild_id: Snowflake,
    /// Which members: by name prefix, or by id.
    pub selector: MemberSelector<'a>,
    /// Whether to include presences (needs the `GUILD_PRESENCES` intent, else Discord sends none).
    pub presences: bool,
    /// Echoed in the chunks (and in `RATE_LIMITED`), to match replies to requests; at most
    /// [`MAX_NONCE_LEN`] bytes. Omitted when `None`.
    pub nonce: Option<&'a str>,
}

impl<'a> RequestGuildMembers<'a> {
    /// A request for the members `selector` picks, without presences or nonce.
    #[must_use]
    pub const fn new(guild_id: Snowflake, selector: MemberSelector<'a>) -> Self {
        Self {
            guild_id,
            selector,
            presences: false,
            nonce: None,
        }
    }
}

/// Which members to request: Discord wants exactly one of `query` and `user_ids`, so the two are
/// alternatives here rather than two optional fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberSelector<'a> {
    /// Members whose username starts with `prefix` (`query`), at most `limit` of them. An empty
    /// prefix with limit 0 means every member.
    Query {
        /// The username prefix; empty matches everyone.
        prefix: &'a str,
        /// The most members to return; 0 with an empty prefix means no limit.
        limit: u16,
    },
    /// The members with these ids (`user_ids`): between 1 and [`MAX_USER_IDS`] of them.
    UserIds(&'a [Snowflake]),
}

impl MemberSelector<'_> {
    /// Every member of the guild: an empty query with no limit.
    pub const ALL: Self = Self::Query {
        prefix: "",
        limit: 0,
    };
}

impl sealed::Typed for RequestGuildMembers<'_> {}

impl Command for RequestGuildMembers<'_> {
    const OPCODE: OpCode = OpCode::RequestGuildMembers;

    fn validate(&self) -> Result<(), EncodeError> {
        if let MemberSelector::UserIds(ids) = self.selector {
            if ids.is_empty() {
                return Err(EncodeError::invalid("user_ids", "must not be empty"));
            }
            if ids.len() > MAX_USER_IDS {
                return Err(EncodeError::invalid("user_ids", "holds more than 100 ids"));
            }
        }
        if self.nonce.is_some_and(|nonce| nonce.len() > MAX_NONCE_LEN) {
            return Err(EncodeError::invalid("nonce", "is longer than 32 bytes"));
        }
        Ok(())
    }
}

impl Serialize for RequestGuildMembers<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let selector_fields = match self.selector {
            MemberSelector::Query { .. } => 2,
            MemberSelector::UserIds(_) => 1,
        };
        let len = 2 + selector_fields + usize::from(self.nonce.is_some());
        let mut d = serializer.serialize_struct("RequestGuildMembers", len)?;
        d.serialize_field("guild_id", &self.guild_id)?;
        match self.selector {
            MemberSelector::Query { prefix, limit } => {
                d.serialize_field("query", prefix)?;
                d.serialize_field("limit", &limit)?;
            }
            MemberSelector::UserIds(ids) => d.serialize_field("user_ids", ids)?,
        }
        d.serialize_field("presences", &self.presences)?;
        if let Some(nonce) = self.nonce {
            d.serialize_field("nonce", nonce)?;
        }
        d.end()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use serde_json::json;

    use super::{MemberSelector, RequestGuildMembers, MAX_USER_IDS};
    use crate::command::testing::{assert_matches_fixture, fixture, round_trip};
    use crate::command::{encode_into, EncodeError, MAX_PAYLOAD_LEN};
    use crate::protocol::{OpCode, Snowflake};

    const GUILD: Snowflake = Snowflake(584_799_433_523_331_074);

    #[test]
    fn the_fixture_encodes_identically() {
        let request = RequestGuildMembers {
            presences: false,
            nonce: Some("req-7f3c"),
            ..RequestGuildMembers::new(
                GUILD,
                MemberSelector::Query {
                    prefix: "fer",
                    limit: 25,
                },
            )
        };
        assert_matches_fixture(&request, fixture!("send_request_guild_members.json"));
    }

    #[test]
    fn all_members_is_an_empty_query_without_limit() {
        let d = round_trip(
            &RequestGuildMembers::new(GUILD, MemberSelector::ALL),
            OpCode::RequestGuildMembers,
        );
        assert_eq!(
            d,
            json!({"guild_id": "584799433523331074", "query": "", "limit": 0, "presences": false})
        );
    }

    #[test]
    fn user_ids_are_sent_as_strings_without_a_query() {
        let ids = [Snowflake(1), Snowflake(u64::MAX)];
        let request = RequestGuildMembers {
            presences: true,
            nonce: Some(""),
            ..RequestGuildMembers::new(GUILD, MemberSelector::UserIds(&ids))
        };
        let d = round_trip(&request, OpCode::RequestGuildMembers);
        assert_eq!(
            d,
            json!({
                "guild_id": "584799433523331074",
                "user_ids": ["1", "18446744073709551615"],
                "presences": true,
                "nonce": "",
            })
        );
    }

    #[test]
    fn a_hundred_user_ids_are_allowed_but_not_more() {
        let ids: Vec<Snowflake> = (0..=MAX_USER_IDS as u64).map(Snowflake).collect();
        let mut buf = [0u8; MAX_PAYLOAD_LEN];
        let hundred = RequestGuildMembers::new(GUILD, MemberSelector::UserIds(&ids[..100]));
        let d = round_trip(&hundred, OpCode::RequestGuildMembers);
        assert_eq!(d["user_ids"].as_array().map(Vec::len), Some(100));
        let too_many = RequestGuildMembers::new(GUILD, MemberSelector::UserIds(&ids));
        assert_eq!(
            encode_into(&too_many, &mut buf),
            Err(EncodeError::InvalidField {
                field: "user_ids",
                reason: "holds more than 100 ids",
            })
        );
        let none = RequestGuildMembers::new(GUILD, MemberSelector::UserIds(&[]));
        assert_eq!(
            encode_into(&none, &mut buf),
            Err(EncodeError::InvalidField {
                field: "user_ids",
                reason: "must not be empty",
            })
        );
    }

    #[test]
    fn a_nonce_over_32_bytes_is_refused() {
        let mut buf = [0u8; MAX_PAYLOAD_LEN];
        let fits = "n".repeat(32);
        let request = RequestGuildMembers {
            nonce: Some(&fits),
            ..RequestGuildMembers::new(GUILD, MemberSelector::ALL)
        };
        assert!(encode_into(&request, &mut buf).is_ok());
        // 31 bytes of ASCII and a two-byte character: 33 bytes in 32 characters.
        let too_long = "n".repeat(31) + "é";
        let request = RequestGuildMembers {
            nonce: Some(&too_long),
            ..request
        };
        assert_eq!(
            encode_into(&request, &mut buf),
            Err(EncodeError::InvalidField {
                field: "nonce",
                reason: "is longer than 32 bytes",
            })
        );
    }
}
