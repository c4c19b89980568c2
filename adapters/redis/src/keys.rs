//! Key names: every key of a bot under one prefix, the prefix a hash tag.
//!
//! By default the prefix is `discord-gateway:{bot id}` (the bot's user id, from the token's
//! first segment: see [`SessionSeal::bot`]), so two bots sharing one Redis never share a key.
//! Keys are `{PREFIX}:…`: the braces make the prefix the key's hash tag, so on Redis Cluster
//! every key of one bot lives in one slot, and a script or `MULTI` over several of them (an
//! identify bucket and the budget, the sessions of many shards) is allowed.

use discord_gateway_driver::discord_gateway::Token;
use discord_gateway_driver::SessionSeal;

/// What every default prefix starts with.
pub(crate) const BASE: &str = "discord-gateway";

/// The default prefix of `token`'s bot.
pub(crate) fn bot_prefix(token: &Token) -> String {
    format!("{BASE}:{}", SessionSeal::new(token).bot())
}

/// A prefix as given: an empty one would make no hash tag, so it falls back to [`BASE`].
pub(crate) fn prefix(given: String) -> String {
    if given.is_empty() {
        BASE.to_owned()
    } else {
        given
    }
}

/// The key `rest` under `prefix`, in `prefix`'s hash slot.
pub(crate) fn key(prefix: &str, rest: std::fmt::Arguments<'_>) -> String {
    format!("{{{prefix}}}:{rest}")
}

/// The part of `key` Redis Cluster hashes: the first non-empty `{…}`, else the whole key.
pub(crate) fn hash_tag(key: &str) -> &str {
    if let Some(open) = key.find('{') {
        if let Some(len) = key[open + 1..].find('}') {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_the_prefix_as_their_hash_tag() {
        let a = key("discord-gateway:42", format_args!("session:2:0"));
        let b = key("discord-gateway:42", format_args!("identify:budget"));
        assert_eq!(a, "{discord-gateway:42}:session:2:0");
        assert_eq!(hash_tag(&a), hash_tag(&b));
        assert_eq!(hash_tag("events"), "events");
        assert_eq!(hash_tag("{bot}:events"), "bot");
        assert_eq!(hash_tag("{}events"), "{}events");
        assert_eq!(prefix(String::new()), BASE);
    }
}
