//! The head of a payload too large to hold: `op`, `s` and `t`, read from its first bytes by
//! the core ([`discord_gateway::codec::read_head`]) and kept once those bytes are dropped.
//!
//! The core reads JSON and ETF, keys in any order, and says when a prefix cannot tell yet
//! (`d` before the head, or the prefix cut inside the head) and when it never can (bytes that
//! are no envelope). What the buffer cannot settle is unknown: the client then resumes rather
//! than guess.

use discord_gateway::codec::{read_head, EnvelopeHead, PrefixHead};
use discord_gateway::{Encoding, EventType, OpCode};

/// The longest event name kept for [`crate::Skipped::name`] (escapes included); the longest
/// documented name is 38 bytes. A longer one is counted all the same, only not named.
pub const MAX_NAME_LEN: usize = 64;

/// `op`, `s` and `t` of a payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// The opcode.
    pub op: OpCode,
    /// The sequence number, if not null.
    pub seq: Option<u64>,
    /// The documented event `t` names, if any.
    pub kind: Option<EventType>,
    name: Option<([u8; MAX_NAME_LEN], u8)>,
}

impl Head {
    fn keep(head: &EnvelopeHead<'_>) -> Self {
        let name = head
            .name()
            .map(|name| name.raw().as_bytes())
            .filter(|raw| raw.len() <= MAX_NAME_LEN)
            .map(|raw| {
                let mut bytes = [0; MAX_NAME_LEN];
                bytes[..raw.len()].copy_from_slice(raw);
                // At most 64: checked by the filter.
                (bytes, raw.len() as u8)
            });
        Self {
            op: head.op(),
            seq: head.seq(),
            kind: head.event_type(),
            name,
        }
    }

    /// The event name as on the wire, between its quotes (escapes kept), if not null and at
    /// most [`MAX_NAME_LEN`] bytes.
    #[must_use]
    pub fn raw_name(&self) -> Option<&[u8]> {
        self.name
            .as_ref()
            .map(|(bytes, len)| &bytes[..usize::from(*len)])
    }
}

/// What a prefix says about a payload's head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadScan {
    /// All of `t`, `s` and `op` were read.
    Known(Head),
    /// The prefix ends before they are known; more bytes may settle it.
    NeedMore,
    /// `d` came before a field still missing and the prefix ends inside it. Not final: a short
    /// `d` may close within the bytes a longer prefix shows, and the head follow it.
    BehindData,
    /// The bytes are no envelope: no longer prefix can tell the head.
    Unknown,
}

/// Scans the first bytes of a payload: JSON for a text message, ETF for a binary one.
#[must_use]
pub fn scan(text: bool, prefix: &[u8]) -> HeadScan {
    let encoding = if text { Encoding::Json } else { Encoding::Etf };
    match read_head(encoding, prefix) {
        Ok(PrefixHead::Known(head)) => HeadScan::Known(Head::keep(&head)),
        Ok(PrefixHead::NeedMore) => HeadScan::NeedMore,
        Ok(PrefixHead::BehindData) => HeadScan::BehindData,
        Err(_) => HeadScan::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(text: bool, prefix: &[u8]) -> Head {
        match scan(text, prefix) {
            HeadScan::Known(head) => head,
            other => panic!("{other:?} for {prefix:?}"),
        }
    }

    #[test]
    fn discords_order_is_read_from_the_first_bytes() {
        let head = known(
            true,
            br#"{"t":"GUILD_CREATE","s":42,"op":0,"d":{"id":"1","members":["#,
        );
        assert_eq!((head.op, head.seq), (OpCode::Dispatch, Some(42)));
        assert_eq!(head.kind, Some(EventType::GuildCreate));
        assert_eq!(head.raw_name(), Some(&b"GUILD_CREATE"[..]));
    }

    /// Issue 23 found the old scanner JSON-only: a binary (ETF) message's head is read too.
    #[test]
    fn an_etf_head_is_read_from_a_binary_message() {
        // 131, map of 4: t => "GUILD_CREATE", s => 7, op => 0, d => [ ... cut.
        let etf: [u8; 45] = *b"\x83t\0\0\0\x04\
            \x77\x01tm\0\0\0\x0cGUILD_CREATE\
            \x77\x01sa\x07\
            \x77\x02opa\0\
            \x77\x01dl\0\0\x01\0";
        let head = known(false, &etf);
        assert_eq!((head.op, head.seq), (OpCode::Dispatch, Some(7)));
        assert_eq!(head.kind, Some(EventType::GuildCreate));
        assert_eq!(scan(false, &etf[..20]), HeadScan::NeedMore);
        assert_eq!(scan(true, &etf), HeadScan::Unknown, "not JSON");
    }

    #[test]
    fn data_first_heads_wait_broken_heads_are_unknown_and_cuts_ask_for_more() {
        assert_eq!(
            scan(true, br#"{"d":{"x":"#),
            HeadScan::BehindData,
            "behind the data"
        );
        let known_after_data = known(true, br#"{"d":{"x":1},"t":"A","s":3,"op":0,"#);
        assert_eq!(
            known_after_data.seq,
            Some(3),
            "a short d closed in the prefix"
        );
        assert_eq!(scan(true, br#"["t"]"#), HeadScan::Unknown);
        assert_eq!(scan(true, br#"{"t":"A","s":12"#), HeadScan::NeedMore);
        let long = [&br#"{"t":""#[..], &[b'A'; 65], br#"","s":1,"op":0,"#].concat();
        let head = known(true, &long);
        assert_eq!(
            (head.seq, head.raw_name()),
            (Some(1), None),
            "counted, not named"
        );
    }
}
