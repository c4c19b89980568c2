//! The exact bytes of every command kind on an ETF connection, term by term as erlpack (the ETF
//! library Discord publishes, which Discord-compatible servers decode with) writes them: atoms
//! as `SMALL_ATOM_EXT` (erlpack's decoder refuses `SMALL_ATOM_UTF8_EXT`), integers in the
//! smallest of `SMALL_INTEGER_EXT`/`INTEGER_EXT`/`SMALL_BIG_EXT`, floats as `NEW_FLOAT_EXT`,
//! strings and keys as `BINARY_EXT`, the empty list as `NIL_EXT` (protocol reference §11.4).
//! These are written out here by hand, not read back through our own reader.

use discord_gateway::command::{
    encode_etf_into, Activity, ActivityType, ChannelInfoField, ConnectionProperties, Encode,
    Heartbeat, Identify, MemberSelector, RawCommand, RequestChannelInfo, RequestGuildMembers,
    RequestSoundboardSounds, Resume, Status, UpdatePresence, UpdateVoiceState, MAX_PAYLOAD_LEN,
};
use discord_gateway::protocol::{Intents, OpCode, ShardId, Snowflake};
use discord_gateway::{Encoding, Token};

// ---- erlpack's terms, one helper per tag ---------------------------------------------------

fn map(arity: u32) -> Vec<u8> {
    [&[116][..], &arity.to_be_bytes()].concat()
}

fn list(len: u32) -> Vec<u8> {
    [&[108][..], &len.to_be_bytes()].concat()
}

/// `NIL_EXT`: the empty list, and the tail of every proper list.
fn empty() -> Vec<u8> {
    vec![106]
}

fn bin(text: &str) -> Vec<u8> {
    [
        &[109][..],
        &(text.len() as u32).to_be_bytes(),
        text.as_bytes(),
    ]
    .concat()
}

/// `SMALL_ATOM_EXT` (tag 115), as erlpack writes `nil`, `true` and `false`.
fn atom(name: &str) -> Vec<u8> {
    [&[115, name.len() as u8][..], name.as_bytes()].concat()
}

fn small(value: u8) -> Vec<u8> {
    vec![97, value]
}

fn int(value: i32) -> Vec<u8> {
    [&[98][..], &value.to_be_bytes()].concat()
}

fn big(negative: bool, magnitude: u64) -> Vec<u8> {
    let len = 8 - (magnitude.leading_zeros() / 8) as usize;
    [
        &[110, len as u8, u8::from(negative)][..],
        &magnitude.to_le_bytes()[..len],
    ]
    .concat()
}

fn float(value: f64) -> Vec<u8> {
    [&[70][..], &value.to_be_bytes()].concat()
}

/// A whole message: the version byte, then the terms in order.
fn message(terms: &[Vec<u8>]) -> Vec<u8> {
    [vec![131], terms.concat()].concat()
}

/// `{"op": op, "d": d}`, the envelope every command goes out in.
fn envelope(op: u8, d: &[Vec<u8>]) -> Vec<u8> {
    message(&[map(2), bin("op"), small(op), bin("d"), d.concat()])
}

#[track_caller]
fn bytes_of(command: &impl Encode) -> Vec<u8> {
    let mut buf = [0u8; MAX_PAYLOAD_LEN];
    let len = encode_etf_into(command, &mut buf).unwrap();
    buf[..len].to_vec()
}

#[test]
fn atoms_are_small_atom_ext_as_erlpack_writes_them() {
    assert_eq!(Encoding::Etf.null(), atom("nil"));
    assert_eq!(
        bytes_of(&Heartbeat { seq: None }),
        [131, 116, 0, 0, 0, 2, 109, 0, 0, 0, 2, b'o', b'p', 97, 1, 109, 0, 0, 0, 1, b'd']
            .iter()
            .chain(&[115, 3, b'n', b'i', b'l'])
            .copied()
            .collect::<Vec<u8>>()
    );
}

#[test]
fn heartbeats_and_resume() {
    assert_eq!(
        bytes_of(&Heartbeat { seq: Some(251) }),
        envelope(1, &[small(251)])
    );
    assert_eq!(
        bytes_of(&Heartbeat { seq: Some(256) }),
        envelope(1, &[int(256)])
    );
    assert_eq!(
        bytes_of(&Heartbeat {
            seq: Some(5_000_000_000)
        }),
        envelope(1, &[big(false, 5_000_000_000)])
    );
    let token = Token::new("Bot abc.def.ghi").unwrap();
    assert_eq!(
        bytes_of(&Resume {
            token: &token,
            session_id: "abc",
            seq: 70_000,
        }),
        envelope(
            6,
            &[
                map(3),
                bin("token"),
                bin("abc.def.ghi"),
                bin("session_id"),
                bin("abc"),
                bin("seq"),
                int(70_000),
            ]
        )
    );
}

#[test]
fn identify_plain_and_with_every_option() {
    let token = Token::new("Bot abc.def.ghi").unwrap();
    let properties = ConnectionProperties::new("linux", "lib", "lib");
    let mut identify = Identify::new(
        &token,
        Intents::GUILDS | Intents::MESSAGE_CONTENT,
        properties,
    );
    let head = [
        bin("token"),
        bin("abc.def.ghi"),
        bin("properties"),
        map(3),
        bin("os"),
        bin("linux"),
        bin("browser"),
        bin("lib"),
        bin("device"),
        bin("lib"),
        bin("compress"),
        atom("false"),
    ];
    assert_eq!(
        bytes_of(&identify),
        envelope(
            2,
            &[&[map(4)][..], &head, &[bin("intents"), int(32_769)]].concat()
        )
    );

    let activities = [Activity::new(ActivityType::Custom, "x").with_state("é")];
    identify.shard = Some(ShardId::new(3, 16).unwrap());
    identify.large_threshold = Some(250);
    identify.presence = Some(UpdatePresence::new(Status::DoNotDisturb, &activities));
    assert_eq!(
        bytes_of(&identify),
        envelope(
            2,
            &[
                &[map(7)][..],
                &head,
                &[
                    bin("large_threshold"),
                    small(250),
                    bin("shard"),
                    list(2),
                    small(3),
                    small(16),
                    empty(),
                    bin("presence"),
                    map(4),
                    bin("since"),
                    atom("nil"),
                    bin("activities"),
                    list(1),
                    map(3),
                    bin("name"),
                    bin("x"),
                    bin("type"),
                    small(4),
                    bin("state"),
                    bin("é"),
                    empty(),
                    bin("status"),
                    bin("dnd"),
                    bin("afk"),
                    atom("false"),
                    bin("intents"),
                    int(32_769),
                ],
            ]
            .concat()
        )
    );
}

#[test]
fn presence_with_no_activities_is_an_empty_list() {
    assert_eq!(
        bytes_of(&UpdatePresence::new(Status::Online, &[])),
        envelope(
            3,
            &[
                map(4),
                bin("since"),
                atom("nil"),
                bin("activities"),
                empty(),
                bin("status"),
                bin("online"),
                bin("afk"),
                atom("false"),
            ]
        )
    );
}

#[test]
fn guild_requests_voice_state_and_channel_info() {
    let ids = [Snowflake(1), Snowflake(u64::MAX)];
    assert_eq!(
        bytes_of(&RequestGuildMembers::new(
            Snowflake(81_384_788_765_712_384),
            MemberSelector::UserIds(&ids),
        )),
        envelope(
            8,
            &[
                map(3),
                bin("guild_id"),
                bin("81384788765712384"),
                bin("user_ids"),
                list(2),
                bin("1"),
                bin("18446744073709551615"),
                empty(),
                bin("presences"),
                atom("false"),
            ]
        )
    );
    assert_eq!(
        bytes_of(&RequestGuildMembers::new(
            Snowflake(1),
            MemberSelector::Query {
                prefix: "",
                limit: 0,
            },
        )),
        envelope(
            8,
            &[
                map(4),
                bin("guild_id"),
                bin("1"),
                bin("query"),
                bin(""),
                bin("limit"),
                small(0),
                bin("presences"),
                atom("false"),
            ]
        )
    );
    assert_eq!(
        bytes_of(&UpdateVoiceState {
            guild_id: Snowflake(41_771_983_423_143_937),
            channel_id: None,
            self_mute: false,
            self_deaf: true,
        }),
        envelope(
            4,
            &[
                map(4),
                bin("guild_id"),
                bin("41771983423143937"),
                bin("channel_id"),
                atom("nil"),
                bin("self_mute"),
                atom("false"),
                bin("self_deaf"),
                atom("true"),
            ]
        )
    );
    assert_eq!(
        bytes_of(&RequestSoundboardSounds { guild_ids: &ids }),
        envelope(
            31,
            &[
                map(1),
                bin("guild_ids"),
                list(2),
                bin("1"),
                bin("18446744073709551615"),
                empty(),
            ]
        )
    );
    assert_eq!(
        bytes_of(&RequestChannelInfo {
            guild_id: Snowflake(9),
            fields: &[ChannelInfoField::Status, ChannelInfoField::VoiceStartTime],
        }),
        envelope(
            43,
            &[
                map(2),
                bin("guild_id"),
                bin("9"),
                bin("fields"),
                list(2),
                bin("status"),
                bin("voice_start_time"),
                empty(),
            ]
        )
    );
}

#[test]
fn raw_commands_carry_every_json_kind_as_erlpack_would() {
    let raw = RawCommand::new(
        OpCode::PresenceUpdate,
        br#"{"a":null,"b":true,"c":false,"n":[0,255,256,-1,2147483647,2147483648,-2147483649,18446744073709551615],"f":1.5,"s":"x\u00e9\n","e":{},"l":[]}"#,
    );
    assert_eq!(
        bytes_of(&raw),
        envelope(
            3,
            &[
                map(8),
                bin("a"),
                atom("nil"),
                bin("b"),
                atom("true"),
                bin("c"),
                atom("false"),
                bin("n"),
                list(8),
                small(0),
                small(255),
                int(256),
                int(-1),
                int(i32::MAX),
                big(false, 2_147_483_648),
                big(true, 2_147_483_649),
                big(false, u64::MAX),
                empty(),
                bin("f"),
                float(1.5),
                bin("s"),
                bin("x\u{e9}\n"),
                bin("e"),
                map(0),
                bin("l"),
                empty(),
            ]
        )
    );
    assert_eq!(
        bytes_of(&RawCommand::new(OpCode::Heartbeat, b"null")),
        envelope(1, &[atom("nil")])
    );
}
