//! Realistic event bodies (`d`), built from templates copied from the protocol reference's payload
//! examples (`sim/fixtures/*.json`, key order preserved) and filled with fresh ids, timestamps and
//! the caller's values. Big GUILD_CREATEs are generated member by member.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use discord_gateway::protocol::DISCORD_EPOCH_MS;
use serde_json::value::RawValue;

use crate::frame::json_str;

/// The guild id the fixtures were written with; every generated guild replaces it.
pub(crate) const TEMPLATE_GUILD_ID: u64 = 584_799_433_523_331_074;
/// The text channel the message fixtures use by default.
pub const DEFAULT_CHANNEL_ID: u64 = 585_799_984_742_531_146;
/// A role every generated member gets (the fixture's "member" role).
const MEMBER_ROLE: &str = "588789684633731140";

/// A template split at its `@@NAME@@` placeholders, so rendering is plain concatenation.
struct Template {
    parts: Vec<Part>,
}

enum Part {
    Lit(&'static str),
    Var(&'static str),
}

impl Template {
    fn new(text: &'static str) -> Self {
        let text = text.trim_end();
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("@@") {
            let Some(len) = rest[start + 2..].find("@@") else {
                break;
            };
            parts.push(Part::Lit(&rest[..start]));
            parts.push(Part::Var(&rest[start + 2..start + 2 + len]));
            rest = &rest[start + 4 + len..];
        }
        parts.push(Part::Lit(rest));
        Self { parts }
    }

    /// Renders with `vars` (name, value); a missing variable renders empty.
    fn render(&self, vars: &[(&str, &str)]) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Var(name) => {
                    if let Some((_, v)) = vars.iter().find(|(n, _)| n == name) {
                        out.push_str(v);
                    }
                }
            }
        }
        out
    }
}

static READY: LazyLock<Template> =
    LazyLock::new(|| Template::new(include_str!("../fixtures/ready.json")));
static GUILD_CREATE: LazyLock<Template> =
    LazyLock::new(|| Template::new(include_str!("../fixtures/guild_create.json")));
static MESSAGE_CREATE: LazyLock<Template> =
    LazyLock::new(|| Template::new(include_str!("../fixtures/message_create.json")));
static TYPING_START: LazyLock<Template> =
    LazyLock::new(|| Template::new(include_str!("../fixtures/typing_start.json")));
static INTERACTION_CREATE: LazyLock<Template> =
    LazyLock::new(|| Template::new(include_str!("../fixtures/interaction_create.json")));
const PRESENCE_UPDATE: &str = include_str!("../fixtures/presence_update.json");

/// One guild member: enough to answer Request Guild Members and to build GUILD_CREATE.
#[derive(Clone, Debug)]
pub(crate) struct Member {
    pub(crate) user_id: u64,
    pub(crate) username: String,
    pub(crate) json: String,
    pub(crate) presence: Option<String>,
}

/// The 42 members (and 30 presences) of the fixture guild.
static TEMPLATE_MEMBERS: LazyLock<Vec<Member>> = LazyLock::new(|| {
    let members: Vec<Box<RawValue>> =
        serde_json::from_str(include_str!("../fixtures/guild_members.json")).unwrap_or_default();
    let presences: Vec<Box<RawValue>> =
        serde_json::from_str(include_str!("../fixtures/guild_presences.json")).unwrap_or_default();
    let user_id = |raw: &RawValue| -> Option<u64> {
        let v: serde_json::Value = serde_json::from_str(raw.get()).ok()?;
        v.get("user")?.get("id")?.as_str()?.parse().ok()
    };
    members
        .iter()
        .filter_map(|raw| {
            let v: serde_json::Value = serde_json::from_str(raw.get()).ok()?;
            let id = user_id(raw)?;
            let username = v.get("user")?.get("username")?.as_str()?.to_owned();
            let presence = presences
                .iter()
                .find(|p| user_id(p) == Some(id))
                .map(|p| p.get().to_owned());
            Some(Member {
                user_id: id,
                username,
                json: raw.get().to_owned(),
                presence,
            })
        })
        .collect()
});

/// A generated member (`n` makes the id and name unique).
fn generated_member(n: u64) -> Member {
    // Users "joined Discord" one millisecond apart starting 2021-01-01.
    let user_id = ((1_609_459_200_000 - DISCORD_EPOCH_MS + n) << 22) | (n & 0xFFF);
    let username = format!("member{n}");
    let json = format!(
        "{{\"user\":{{\"id\":\"{user_id}\",\"username\":\"{username}\",\"discriminator\":\"0\",\
\"global_name\":\"Member {n}\",\"avatar\":null,\"public_flags\":0,\"avatar_decoration_data\":null,\
\"primary_guild\":null}},\"nick\":null,\"avatar\":null,\"banner\":null,\"roles\":[\"{MEMBER_ROLE}\"],\
\"joined_at\":\"2025-01-01T00:00:00.000000+00:00\",\"premium_since\":null,\"deaf\":false,\
\"mute\":false,\"flags\":0,\"pending\":false,\"communication_disabled_until\":null}}"
    );
    // A third of generated members are online, like a busy community guild.
    let presence = n.is_multiple_of(3).then(|| {
        format!(
            "{{\"user\":{{\"id\":\"{user_id}\"}},\"status\":\"online\",\"client_status\":\
{{\"desktop\":\"online\"}},\"activities\":[],\"broadcast\":null}}"
        )
    });
    Member {
        user_id,
        username,
        json,
        presence,
    }
}

/// `count` members: the fixture's first, then generated ones.
pub(crate) fn members(count: usize) -> Vec<Member> {
    let base = &*TEMPLATE_MEMBERS;
    let mut out: Vec<Member> = base.iter().take(count).cloned().collect();
    let mut n = 0;
    while out.len() < count {
        out.push(generated_member(n));
        n += 1;
    }
    out
}

/// The id of the `index`-th guild: the fixture's id first, then ids one millisecond apart so
/// `(id >> 22) % num_shards` spreads guilds round-robin over shards.
pub(crate) fn guild_id(index: u32) -> u64 {
    if index == 0 {
        TEMPLATE_GUILD_ID
    } else {
        (((TEMPLATE_GUILD_ID >> 22) + u64::from(index)) << 22) | u64::from(index & 0xFFF)
    }
}

/// A fresh snowflake for "now" (unique within the process).
pub(crate) fn snowflake_now() -> u64 {
    static INCREMENT: AtomicU64 = AtomicU64::new(0);
    let ms = unix_ms().saturating_sub(DISCORD_EPOCH_MS);
    (ms << 22) | (INCREMENT.fetch_add(1, Ordering::Relaxed) & 0xFFF)
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// ISO 8601 with microseconds and `+00:00`, as Discord writes message timestamps.
pub(crate) fn iso8601(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (Howard Hinnant's algorithm), valid for any date after 1970.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}000+00:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        unix_ms % 1000
    )
}

fn with_guild(text: String, guild_id: u64) -> String {
    if guild_id == TEMPLATE_GUILD_ID {
        text
    } else {
        text.replace(&TEMPLATE_GUILD_ID.to_string(), &guild_id.to_string())
    }
}

/// READY's `d`.
pub(crate) fn ready(
    version: u8,
    session_id: &str,
    resume_url: &str,
    guild_ids: &[u64],
    shard: Option<[u32; 2]>,
) -> String {
    let guilds = format!(
        "[{}]",
        guild_ids
            .iter()
            .map(|id| format!("{{\"id\":\"{id}\",\"unavailable\":true}}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let shard_field = shard.map_or_else(String::new, |[id, n]| format!("\"shard\":[{id},{n}],"));
    READY.render(&[
        ("V", &version.to_string()),
        ("GUILDS", &guilds),
        ("SESSION_ID", session_id),
        ("RESUME_URL", resume_url),
        ("SHARD_FIELD", &shard_field),
    ])
}

/// RESUMED's `d` (undocumented; Discord sends only `_trace`).
pub(crate) fn resumed() -> &'static str {
    r#"{"_trace":["[\"gateway-sim\",{\"micros\":812,\"calls\":[\"discord-sessions-sim\",{\"micros\":640}]}]"]}"#
}

/// Hello's `d`.
pub(crate) fn hello(interval_ms: u128) -> String {
    format!(
        r#"{{"heartbeat_interval":{interval_ms},"_trace":["[\"gateway-sim\",{{\"micros\":0.0}}]"]}}"#
    )
}

/// GUILD_CREATE's `d` for `guild_id` with these members.
pub(crate) fn guild_create(guild_id: u64, members: &[Member]) -> String {
    let mut member_list = String::with_capacity(members.len() * 480 + 2);
    let mut presence_list = String::with_capacity(members.len() * 120 + 2);
    member_list.push('[');
    presence_list.push('[');
    for m in members {
        if member_list.len() > 1 {
            member_list.push(',');
        }
        member_list.push_str(&m.json);
        if let Some(p) = &m.presence {
            if presence_list.len() > 1 {
                presence_list.push(',');
            }
            presence_list.push_str(p);
        }
    }
    member_list.push(']');
    presence_list.push(']');
    let count = members.len().to_string();
    let large = if members.len() > 250 { "true" } else { "false" };
    let text = GUILD_CREATE.render(&[
        ("MEMBERS", &member_list),
        ("PRESENCES", &presence_list),
        ("MEMBER_COUNT", &count),
        ("LARGE", large),
    ]);
    with_guild(text, guild_id)
}

/// A GUILD_CREATE `d` of at least `bytes` bytes (members are added until it is that big).
pub(crate) fn guild_create_sized(guild_id: u64, bytes: usize) -> String {
    // Measure what 300 generated members add, then size the guild from that average.
    let base = guild_create(guild_id, &members(42)).len();
    let sample = guild_create(guild_id, &members(342)).len();
    let per_member = (sample - base) / 300;
    let extra = bytes.saturating_sub(base).div_ceil(per_member.max(1)) + 1;
    guild_create(guild_id, &members(42 + extra))
}

/// MESSAGE_CREATE's `d` (a reply with a mention, an embed and an attachment, as in the payload
/// examples) with fresh id and timestamp.
pub(crate) fn message_create(guild_id: u64, channel_id: u64, content: &str) -> String {
    let id = snowflake_now();
    let text = MESSAGE_CREATE.render(&[
        ("ID", &id.to_string()),
        ("CONTENT", &json_str(content)),
        ("TIMESTAMP", &iso8601(unix_ms())),
        ("CHANNEL_ID", &channel_id.to_string()),
    ]);
    with_guild(text, guild_id)
}

/// TYPING_START's `d` (timestamp in unix seconds).
pub(crate) fn typing_start(guild_id: u64, channel_id: u64) -> String {
    let text = TYPING_START.render(&[
        ("TIMESTAMP_S", &(unix_ms() / 1000).to_string()),
        ("CHANNEL_ID", &channel_id.to_string()),
    ]);
    with_guild(text, guild_id)
}

/// PRESENCE_UPDATE's `d` (partial user, custom status + rich presence).
pub(crate) fn presence_update(guild_id: u64) -> String {
    with_guild(PRESENCE_UPDATE.trim_end().to_owned(), guild_id)
}

/// INTERACTION_CREATE's `d` (a slash command with sub-command options) with a fresh id.
pub(crate) fn interaction_create(guild_id: u64) -> String {
    let text = INTERACTION_CREATE.render(&[("ID", &snowflake_now().to_string())]);
    with_guild(text, guild_id)
}

/// GUILD_MEMBERS_CHUNK's `d`.
pub(crate) fn members_chunk(
    guild_id: u64,
    members: &[&Member],
    chunk: (usize, usize),
    not_found: &[String],
    nonce: Option<&str>,
    presences: bool,
) -> String {
    let mut out = format!("{{\"guild_id\":\"{guild_id}\",\"members\":[");
    for (i, m) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&m.json);
    }
    out.push_str(&format!(
        "],\"chunk_index\":{},\"chunk_count\":{}",
        chunk.0, chunk.1
    ));
    if !not_found.is_empty() {
        let ids: Vec<String> = not_found.iter().map(|id| json_str(id)).collect();
        out.push_str(&format!(",\"not_found\":[{}]", ids.join(",")));
    }
    if let Some(nonce) = nonce {
        out.push_str(",\"nonce\":");
        out.push_str(&json_str(nonce));
    }
    if presences {
        let list: Vec<&str> = members
            .iter()
            .filter_map(|m| m.presence.as_deref())
            .collect();
        out.push_str(&format!(",\"presences\":[{}]", list.join(",")));
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> serde_json::Value {
        serde_json::from_str(s).expect("fixture renders valid JSON")
    }

    #[test]
    fn templates_render_valid_json() {
        let r = parse(&ready(10, "abc", "ws://x/resume", &[1, 2], Some([0, 2])));
        assert_eq!(r["session_id"], "abc");
        assert_eq!(r["shard"], serde_json::json!([0, 2]));
        assert_eq!(r["guilds"].as_array().map(Vec::len), Some(2));
        assert!(parse(&ready(10, "abc", "u", &[], None))
            .get("shard")
            .is_none());
        let m = parse(&message_create(guild_id(3), 7, "hi \"there\""));
        assert_eq!(m["content"], "hi \"there\"");
        assert_eq!(m["guild_id"], guild_id(3).to_string());
        assert_eq!(m["channel_id"], "7");
        parse(&typing_start(guild_id(0), 7));
        parse(&presence_update(guild_id(1)));
        parse(&interaction_create(guild_id(1)));
        parse(resumed());
        parse(&hello(41250));
    }

    #[test]
    fn guild_create_has_requested_members() {
        let g = parse(&guild_create(guild_id(2), &members(100)));
        assert_eq!(g["members"].as_array().map(Vec::len), Some(100));
        assert_eq!(g["member_count"], 100);
        assert_eq!(g["id"], guild_id(2).to_string());
        let big = guild_create_sized(guild_id(0), 3_000_000);
        assert!(big.len() >= 3_000_000);
        assert!(big.len() < 3_100_000);
        parse(&big);
    }

    #[test]
    fn timestamps_are_iso8601() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000000+00:00");
        assert_eq!(
            iso8601(1_462_015_105_796),
            "2016-04-30T11:18:25.796000+00:00"
        );
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000000+00:00");
    }

    #[test]
    fn chunks_carry_nonce_and_not_found() {
        let ms = members(3);
        let refs: Vec<&Member> = ms.iter().collect();
        let c = parse(&members_chunk(
            1,
            &refs,
            (0, 1),
            &["5".to_owned()],
            Some("n"),
            true,
        ));
        assert_eq!(c["members"].as_array().map(Vec::len), Some(3));
        assert_eq!(c["nonce"], "n");
        assert_eq!(c["not_found"], serde_json::json!(["5"]));
    }
}
