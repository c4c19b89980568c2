//! Saved sessions bound to the bot and the shard they belong to.
//!
//! A saved [`ResumeState`] is worth a Resume, and a Resume carries the token: whoever can
//! write a session store must not be able to make a shard resume a session it did not save.
//! So a store never holds a bare state. It holds a [`SealedSession`]: the shard (id and
//! count), the bot's id, the state, and an HMAC-SHA256 over all of them under a key derived
//! from the token. [`SessionSeal::open`] is the one check every store goes through (the
//! [`crate::ShardManager`] for any [`crate::SessionStore`], and `gateway-tail`'s session file):
//! right bot, right shard, MAC valid. A store's writer without the token can delete a session
//! but cannot forge one, nor hand a shard another bot's or another shard's session.
//!
//! Neither the token nor the key appears in a `Debug` output, an error or a log line: what
//! identifies the bot is its user id, which the token's first segment encodes (base64 of the
//! decimal id) and which Discord shows anyway.

use std::fmt;

use base64::Engine as _;
use discord_gateway::session::ResumeState;
use discord_gateway::{ShardId, Token};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The record layout; a later one can still read this one.
const VERSION: u32 = 1;
/// What the key is derived with: the key is used for nothing else.
const KEY_LABEL: &[u8] = b"discord-gateway: session store key v1";
/// What a namespace is derived with, for tokens whose first segment is not a user id.
const NAMESPACE_LABEL: &[u8] = b"discord-gateway: bot namespace v1";

/// Seals and opens saved sessions of one bot. Build it from the bot's token; it keeps a key
/// derived from the token (never the token) and the bot's id.
#[derive(Clone)]
pub struct SessionSeal {
    key: [u8; 32],
    bot: String,
}

impl fmt::Debug for SessionSeal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionSeal")
            .field("bot", &self.bot)
            .finish_non_exhaustive()
    }
}

impl SessionSeal {
    /// The seal of the bot `token` belongs to.
    #[must_use]
    pub fn new(token: &Token) -> Self {
        let key = hmac(token.as_str().as_bytes(), &[KEY_LABEL]);
        Self {
            key,
            bot: bot_id(token),
        }
    }

    /// The bot's id: its user id as the token's first segment encodes it, or, for a token not
    /// in Discord's format (a test gateway's), `t` and 16 hex digits derived from the token
    /// (which cannot be turned back into it). Stores namespace their keys with it.
    #[must_use]
    pub fn bot(&self) -> &str {
        &self.bot
    }

    /// Seals `state` as the session of `shard` of this bot.
    #[must_use]
    pub fn seal(&self, shard: ShardId, state: &ResumeState) -> SealedSession {
        let record = Record {
            version: VERSION,
            bot: self.bot.clone(),
            shard: shard.id(),
            count: shard.count(),
            mac: String::new(),
            state: state.clone(),
        };
        let mac = hex(&self.mac(&record));
        let record = Record { mac, ..record };
        // A struct of strings, numbers and a state that was itself serialized to be stored.
        let json = serde_json::to_string(&record).unwrap_or_default();
        SealedSession(json)
    }

    /// The state `sealed` holds, if it is a session of `shard` of this bot, sealed with this
    /// bot's key and unchanged since.
    ///
    /// # Errors
    /// [`RejectedSession`] says why not; it never repeats the record, the key or the token.
    pub fn open(
        &self,
        shard: ShardId,
        sealed: &SealedSession,
    ) -> Result<ResumeState, RejectedSession> {
        let record: Record = serde_json::from_str(&sealed.0)
            .map_err(|error| RejectedSession::Unreadable(error.to_string()))?;
        if record.version != VERSION {
            return Err(RejectedSession::Unreadable(format!(
                "layout version {}, this library reads {VERSION}",
                record.version
            )));
        }
        if record.bot != self.bot {
            return Err(RejectedSession::OtherBot { bot: record.bot });
        }
        if (record.shard, record.count) != (shard.id(), shard.count()) {
            return Err(RejectedSession::OtherShard {
                id: record.shard,
                count: record.count,
            });
        }
        let tag = unhex(&record.mac).ok_or(RejectedSession::Forged)?;
        let mut mac = HmacSha256::new_from_slice(&self.key).map_err(|_| RejectedSession::Forged)?;
        feed(&mut mac, &record);
        mac.verify_slice(&tag)
            .map_err(|_| RejectedSession::Forged)?;
        Ok(record.state)
    }

    fn mac(&self, record: &Record) -> [u8; 32] {
        let mut mac =
            HmacSha256::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        feed(&mut mac, record);
        mac.finalize().into_bytes().into()
    }
}

/// One saved session as a store keeps it: JSON text (an object with the shard, the bot's id,
/// the state and the MAC). Stores treat it as opaque text; only [`SessionSeal::open`] reads it.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSession(String);

impl SealedSession {
    /// A record as a store held it (read back from a file or from Redis). Nothing is checked
    /// here: [`SessionSeal::open`] does.
    #[must_use]
    pub fn from_stored(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The text to store.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text to store, by value.
    #[must_use]
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for SealedSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // It holds a session id: worth nothing without the token, but no need to print it.
        f.debug_tuple("SealedSession")
            .field(&format_args!("{} bytes", self.0.len()))
            .finish()
    }
}

/// Why a saved session was not accepted. The shard identifies instead.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectedSession {
    /// The record is not a sealed session this library can read (corrupt, truncated, a bare
    /// state from an older version, another layout).
    Unreadable(String),
    /// It belongs to another bot (a store shared by two bots, or fed one).
    OtherBot {
        /// The bot id the record names.
        bot: String,
    },
    /// It was saved for another shard (a session file reused with another `--shard`, a record
    /// copied under another key).
    OtherShard {
        /// The shard id the record names.
        id: u32,
        /// The shard count the record names.
        count: u32,
    },
    /// Its MAC does not match: it was changed, or sealed with another token.
    Forged,
}

impl fmt::Display for RejectedSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreadable(why) => write!(f, "the saved session cannot be read: {why}"),
            Self::OtherBot { bot } => {
                write!(f, "the saved session belongs to another bot (id {bot})")
            }
            Self::OtherShard { id, count } => write!(
                f,
                "the saved session belongs to shard {id}/{count}, not this one"
            ),
            Self::Forged => f.write_str(
                "the saved session's MAC does not match: it was changed, or saved with another token",
            ),
        }
    }
}

impl std::error::Error for RejectedSession {}

#[derive(Serialize, Deserialize)]
struct Record {
    version: u32,
    bot: String,
    shard: u32,
    count: u32,
    mac: String,
    state: ResumeState,
}

/// What the MAC covers: every field but the MAC, each length-prefixed, the state as this
/// library serializes it (so a record reformatted by hand still opens, a changed one does not).
fn feed(mac: &mut HmacSha256, record: &Record) {
    let state = serde_json::to_vec(&record.state).unwrap_or_default();
    let fields: [&[u8]; 5] = [
        &record.version.to_be_bytes(),
        record.bot.as_bytes(),
        &record.shard.to_be_bytes(),
        &record.count.to_be_bytes(),
        &state,
    ];
    for field in fields {
        mac.update(&(field.len() as u64).to_be_bytes());
        mac.update(field);
    }
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The user id the token's first segment encodes, or a namespace derived from the token.
fn bot_id(token: &Token) -> String {
    let first = token.as_str().split('.').next().unwrap_or_default();
    let decoded = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(first.trim_end_matches('='))
        .or_else(|_| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(first.trim_end_matches('='))
        });
    if let Ok(id) = decoded {
        if !id.is_empty() && id.len() <= 20 && id.iter().all(u8::is_ascii_digit) {
            if let Ok(id) = std::str::from_utf8(&id) {
                if id.parse::<u64>().is_ok() {
                    return id.to_owned();
                }
            }
        }
    }
    let derived = hmac(token.as_str().as_bytes(), &[NAMESPACE_LABEL]);
    format!("t{}", hex(&derived[..8]))
}

fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&text[at..at + 2], 16).ok())
        .collect()
}
