//! Saved sessions are bound to the bot and the shard: a store can be fed neither a forged
//! session, nor another bot's, nor another shard's, and nothing it says repeats the token.

use discord_gateway_driver::discord_gateway::session::ResumeState;
use discord_gateway_driver::discord_gateway::{ShardId, Token};
use discord_gateway_driver::{RejectedSession, SealedSession, SessionSeal};

/// A token in Discord's format: base64 of the user id, then two more segments.
const BOT_A: &str = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.secretpartofthetokenAAAAAAAAAAAAAAAAAAAA";
/// The same user id as [`BOT_A`], another secret (the token was reset).
const BOT_A_RESET: &str =
    "MTIzNDU2Nzg5MDEyMzQ1Njc4.GfGhIj.anothersecretpartBBBBBBBBBBBBBBBBBBBBBBBB";
/// Another bot.
const BOT_B: &str = "OTg3NjU0MzIxMDk4NzY1NDMy.GkLmNo.thirdsecretpartCCCCCCCCCCCCCCCCCCCCCCCCCC";

fn seal(token: &str) -> SessionSeal {
    SessionSeal::new(&Token::new(token).unwrap())
}

fn shard(id: u32, count: u32) -> ShardId {
    ShardId::new(id, count).unwrap()
}

fn state(session: &str, seq: u64) -> ResumeState {
    ResumeState {
        session_id: session.try_into().unwrap(),
        resume_gateway_url: "wss://gateway-us-east1-b.discord.gg".try_into().unwrap(),
        seq,
    }
}

#[test]
fn the_bot_id_is_the_user_id_the_token_encodes() {
    assert_eq!(seal(BOT_A).bot(), "123456789012345678");
    assert_eq!(seal(BOT_B).bot(), "987654321098765432");
    // A token not in Discord's format (a test gateway's) gets a namespace derived from it,
    // stable, distinct per token, and not the token.
    let odd = seal("sim-token");
    assert!(
        odd.bot().starts_with('t') && odd.bot().len() == 17,
        "{}",
        odd.bot()
    );
    assert_eq!(odd.bot(), seal("sim-token").bot());
    assert_ne!(odd.bot(), seal("other-token").bot());
    assert!(!odd.bot().contains("sim-token"));
}

#[test]
fn a_sealed_session_opens_for_its_bot_and_shard_and_survives_reformatting() {
    let seal = seal(BOT_A);
    let sealed = seal.seal(shard(3, 16), &state("abc", 42));
    assert_eq!(seal.open(shard(3, 16), &sealed), Ok(state("abc", 42)));
    // Stored pretty-printed (a file) and read back: still the same record.
    let value: serde_json::Value = serde_json::from_str(sealed.as_str()).unwrap();
    let pretty = SealedSession::from_stored(serde_json::to_string_pretty(&value).unwrap());
    assert_eq!(seal.open(shard(3, 16), &pretty), Ok(state("abc", 42)));
}

#[test]
fn another_shard_s_session_is_refused() {
    let seal = seal(BOT_A);
    let sealed = seal.seal(shard(1, 2), &state("abc", 42));
    assert_eq!(
        seal.open(shard(0, 2), &sealed),
        Err(RejectedSession::OtherShard { id: 1, count: 2 })
    );
    assert_eq!(
        seal.open(shard(1, 4), &sealed),
        Err(RejectedSession::OtherShard { id: 1, count: 2 })
    );
}

#[test]
fn another_bot_s_session_is_refused() {
    let sealed = seal(BOT_B).seal(shard(0, 1), &state("abc", 42));
    let refused = seal(BOT_A).open(shard(0, 1), &sealed).unwrap_err();
    assert_eq!(
        refused,
        RejectedSession::OtherBot {
            bot: "987654321098765432".into()
        }
    );
}

/// Edits a field of the stored record as a store's writer without the token could.
fn tamper(sealed: &SealedSession, edit: impl FnOnce(&mut serde_json::Value)) -> SealedSession {
    let mut value: serde_json::Value = serde_json::from_str(sealed.as_str()).unwrap();
    edit(&mut value);
    SealedSession::from_stored(value.to_string())
}

#[test]
fn a_changed_or_relabelled_session_is_refused_as_forged() {
    let seal = seal(BOT_A);
    let sealed = seal.seal(shard(0, 2), &state("abc", 42));
    let planted = tamper(&sealed, |record| {
        record["state"]["resume_gateway_url"] = "ws://attacker.example".into();
    });
    assert_eq!(
        seal.open(shard(0, 2), &planted),
        Err(RejectedSession::Forged)
    );
    let seq = tamper(&sealed, |record| record["state"]["seq"] = 1.into());
    assert_eq!(seal.open(shard(0, 2), &seq), Err(RejectedSession::Forged));
    // Relabelled as shard 1's: the label is under the MAC too.
    let moved = tamper(&sealed, |record| record["shard"] = 1.into());
    assert_eq!(seal.open(shard(1, 2), &moved), Err(RejectedSession::Forged));
    let no_mac = tamper(&sealed, |record| record["mac"] = "".into());
    assert_eq!(
        seal.open(shard(0, 2), &no_mac),
        Err(RejectedSession::Forged)
    );
    // Sealed with another token of the same user id (reset, or guessed id): forged too.
    let other_key = self::seal(BOT_A_RESET).seal(shard(0, 2), &state("abc", 42));
    assert_eq!(
        seal.open(shard(0, 2), &other_key),
        Err(RejectedSession::Forged)
    );
}

#[test]
fn an_unreadable_or_bare_record_is_refused() {
    let seal = seal(BOT_A);
    for text in [
        "",
        "not json",
        "{\"version\":1",
        // A bare state, as stores held before they were sealed.
        r#"{"session_id":"abc","resume_gateway_url":"wss://x","seq":1}"#,
    ] {
        let refused = seal
            .open(shard(0, 1), &SealedSession::from_stored(text))
            .unwrap_err();
        assert!(
            matches!(refused, RejectedSession::Unreadable(_)),
            "{text}: {refused:?}"
        );
    }
}

#[test]
fn neither_the_token_nor_the_key_is_ever_shown() {
    let seal = seal(BOT_A);
    let sealed = seal.seal(shard(0, 1), &state("abc", 42));
    let secret = BOT_A.split('.').nth(2).unwrap();
    let mut shown = vec![
        format!("{seal:?}"),
        format!("{sealed:?}"),
        sealed.as_str().to_owned(),
    ];
    for refused in [
        self::seal(BOT_B).open(shard(0, 1), &sealed).unwrap_err(),
        seal.open(shard(0, 2), &sealed).unwrap_err(),
        seal.open(shard(0, 1), &SealedSession::from_stored("x"))
            .unwrap_err(),
    ] {
        shown.push(refused.to_string());
        shown.push(format!("{refused:?}"));
    }
    for text in shown {
        assert!(!text.contains(secret), "{text}");
        assert!(!text.contains(BOT_A), "{text}");
    }
}
