//! The dispatch source: sessions, their sequence numbers and their replay backlog.
//!
//! A session outlives its connections. Every event gets the session's next `s` whether or not a
//! connection is attached, and is kept (up to `backlog_size` of them) so that a Resume can replay
//! what the client missed. Sequence numbers are the session's, never a connection's.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Utf8Bytes;
use tokio::sync::mpsc::UnboundedSender;

use crate::connection::Outbound;
use crate::fault::Target;
use crate::frame;
use crate::record::ConnId;

/// The connection a session is currently delivering to.
#[derive(Debug)]
pub(crate) struct Attachment {
    pub(crate) conn: ConnId,
    pub(crate) tx: UnboundedSender<Outbound>,
}

#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) shard: [u32; 2],
    pub(crate) intents: u64,
    seq: u64,
    backlog: VecDeque<(u64, Utf8Bytes)>,
    /// Every `s` up to and including this one can no longer be replayed.
    lost_through: u64,
    pub(crate) attached: Option<Attachment>,
    detached_at: Option<Instant>,
}

impl Session {
    /// Assigns the next `s` to `(t, d)`, keeps it for replay if `keep`, and hands it to the
    /// attached connection. Returns the frame.
    fn emit(&mut self, t: &str, d: &str, keep: bool, cap: usize) -> Utf8Bytes {
        self.seq += 1;
        let text = Utf8Bytes::from(frame::dispatch(t, self.seq, d));
        if keep {
            if cap == 0 {
                self.lost_through = self.seq;
            } else {
                if self.backlog.len() >= cap {
                    if let Some((lost, _)) = self.backlog.pop_front() {
                        self.lost_through = lost;
                    }
                }
                self.backlog.push_back((self.seq, text.clone()));
            }
        }
        if let Some(a) = &self.attached {
            // A closed channel means the connection is ending; the event stays in the backlog.
            let _ = a.tx.send(Outbound::Payload {
                text: text.clone(),
                seq: Some(self.seq),
            });
        }
        text
    }

    fn routed(&self, guild_id: Option<u64>) -> bool {
        let [id, count] = self.shard;
        match guild_id {
            Some(g) => (g >> 22) % u64::from(count.max(1)) == u64::from(id),
            // Events without a guild (DMs, entitlements, ...) go to shard 0 only.
            None => id == 0,
        }
    }
}

/// How a Resume ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ResumeOutcome {
    /// Replayed this many dispatches, then RESUMED.
    Resumed { replayed: usize, shard: [u32; 2] },
    /// Unknown, expired or too-old session: op 9 `false`.
    Invalid,
    /// `seq` ahead of anything the session sent: close 4007.
    InvalidSeq,
}

/// Every live session of the sim.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    map: HashMap<String, Session>,
    backlog_size: usize,
    timeout: Duration,
}

impl Sessions {
    pub(crate) fn new(backlog_size: usize, timeout: Duration) -> Self {
        Self {
            map: HashMap::new(),
            backlog_size,
            timeout,
        }
    }

    /// Starts a session attached to `conn`; READY is sent (with `s` 1, not kept for replay),
    /// then each `(t, d)` of `then` (kept).
    pub(crate) fn start(
        &mut self,
        id: String,
        shard: [u32; 2],
        intents: u64,
        attach: Attachment,
        ready: &str,
        then: &[(&str, &str)],
    ) {
        let mut session = Session {
            shard,
            intents,
            seq: 0,
            backlog: VecDeque::new(),
            lost_through: 1,
            attached: Some(attach),
            detached_at: None,
        };
        session.emit("READY", ready, false, self.backlog_size);
        for (t, d) in then {
            session.emit(t, d, true, self.backlog_size);
        }
        self.map.insert(id, session);
    }

    /// Resumes `session_id` from `seq` onto `attach`.
    pub(crate) fn resume(
        &mut self,
        session_id: &str,
        seq: u64,
        attach: Attachment,
        now: Instant,
    ) -> ResumeOutcome {
        self.expire(now);
        let Some(session) = self.map.get_mut(session_id) else {
            return ResumeOutcome::Invalid;
        };
        if seq > session.seq {
            // Discord closes with 4007, after which the session needs a new Identify.
            self.map.remove(session_id);
            return ResumeOutcome::InvalidSeq;
        }
        if seq < session.lost_through {
            // Events the client never saw have left the backlog: the session cannot continue.
            self.map.remove(session_id);
            return ResumeOutcome::Invalid;
        }
        if let Some(old) = session.attached.take() {
            let _ = old.tx.send(Outbound::Superseded);
        }
        let mut replayed = 0;
        for (s, text) in session.backlog.iter().filter(|(s, _)| *s > seq) {
            let _ = attach.tx.send(Outbound::Payload {
                text: text.clone(),
                seq: Some(*s),
            });
            replayed += 1;
        }
        session.attached = Some(attach);
        session.detached_at = None;
        session.emit(
            "RESUMED",
            crate::fixtures::resumed(),
            false,
            self.backlog_size,
        );
        ResumeOutcome::Resumed {
            replayed,
            shard: session.shard,
        }
    }

    /// The connection `conn` no longer delivers `session_id` (it ended); the session waits for a
    /// Resume until it times out.
    pub(crate) fn detach(&mut self, session_id: &str, conn: ConnId, now: Instant) {
        if let Some(s) = self.map.get_mut(session_id) {
            if s.attached.as_ref().is_some_and(|a| a.conn == conn) {
                s.attached = None;
                s.detached_at = Some(now);
            }
        }
    }

    /// Ends a session for good (op 9 `false`, client close 1000/1001, fatal close codes).
    pub(crate) fn invalidate(&mut self, session_id: &str) {
        self.map.remove(session_id);
    }

    /// Drops sessions that waited longer than the timeout for a Resume.
    pub(crate) fn expire(&mut self, now: Instant) {
        let timeout = self.timeout;
        self.map.retain(|_, s| {
            s.detached_at
                .is_none_or(|t| now.saturating_duration_since(t) < timeout)
        });
    }

    /// Number of live sessions.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Emits `(t, d)` on one session (kept for replay). Returns the frame.
    pub(crate) fn emit_on(&mut self, id: &str, t: &str, d: &str) -> Option<Utf8Bytes> {
        let cap = self.backlog_size;
        self.map.get_mut(id).map(|s| s.emit(t, d, true, cap))
    }

    /// Dispatches `(t, d)` to the sessions `target` selects. With `filter`, sessions whose
    /// intents exclude the event are skipped, as Discord does. Returns how many got it.
    pub(crate) fn dispatch(
        &mut self,
        target: &Target,
        t: &str,
        d: &str,
        guild_id: Option<u64>,
        filter: bool,
    ) -> usize {
        let cap = self.backlog_size;
        let needed = if filter {
            required_intents(t, guild_id.is_some())
        } else {
            None
        };
        let mut reached = 0;
        for s in self.map.values_mut() {
            let selected = match target {
                Target::Routed => s.routed(guild_id),
                Target::All => true,
                Target::Shard(id) => s.shard[0] == *id,
                Target::Connection(c) => s.attached.as_ref().is_some_and(|a| a.conn == *c),
                Target::NextConnection => false,
            };
            if !selected || needed.is_some_and(|mask| s.intents & mask == 0) {
                continue;
            }
            s.emit(t, d, true, cap);
            reached += 1;
        }
        reached
    }
}

/// The intents of which at least one must be set to receive `t` (None: always delivered).
/// Covers the events the sim generates and the common ones tests dispatch (§8 of the reference).
pub(crate) fn required_intents(t: &str, in_guild: bool) -> Option<u64> {
    const GUILDS: u64 = 1;
    const GUILD_MEMBERS: u64 = 1 << 1;
    const GUILD_MODERATION: u64 = 1 << 2;
    const GUILD_VOICE_STATES: u64 = 1 << 7;
    const GUILD_PRESENCES: u64 = 1 << 8;
    const GUILD_MESSAGES: u64 = 1 << 9;
    const GUILD_MESSAGE_REACTIONS: u64 = 1 << 10;
    const GUILD_MESSAGE_TYPING: u64 = 1 << 11;
    const DIRECT_MESSAGES: u64 = 1 << 12;
    const DIRECT_MESSAGE_REACTIONS: u64 = 1 << 13;
    const DIRECT_MESSAGE_TYPING: u64 = 1 << 14;
    let pick = |guild: u64, dm: u64| if in_guild { guild } else { dm };
    Some(match t {
        "GUILD_CREATE"
        | "GUILD_UPDATE"
        | "GUILD_DELETE"
        | "GUILD_ROLE_CREATE"
        | "GUILD_ROLE_UPDATE"
        | "GUILD_ROLE_DELETE"
        | "CHANNEL_CREATE"
        | "CHANNEL_UPDATE"
        | "CHANNEL_DELETE"
        | "THREAD_CREATE"
        | "THREAD_UPDATE"
        | "THREAD_DELETE"
        | "THREAD_LIST_SYNC"
        | "THREAD_MEMBER_UPDATE"
        | "STAGE_INSTANCE_CREATE"
        | "STAGE_INSTANCE_UPDATE"
        | "STAGE_INSTANCE_DELETE" => GUILDS,
        "GUILD_MEMBER_ADD" | "GUILD_MEMBER_REMOVE" => GUILD_MEMBERS,
        "GUILD_BAN_ADD" | "GUILD_BAN_REMOVE" | "GUILD_AUDIT_LOG_ENTRY_CREATE" => GUILD_MODERATION,
        "VOICE_STATE_UPDATE" => GUILD_VOICE_STATES,
        "PRESENCE_UPDATE" => GUILD_PRESENCES,
        "MESSAGE_CREATE" | "MESSAGE_UPDATE" | "MESSAGE_DELETE" => {
            pick(GUILD_MESSAGES, DIRECT_MESSAGES)
        }
        "MESSAGE_DELETE_BULK" => GUILD_MESSAGES,
        "MESSAGE_REACTION_ADD"
        | "MESSAGE_REACTION_REMOVE"
        | "MESSAGE_REACTION_REMOVE_ALL"
        | "MESSAGE_REACTION_REMOVE_EMOJI" => {
            pick(GUILD_MESSAGE_REACTIONS, DIRECT_MESSAGE_REACTIONS)
        }
        "TYPING_START" => pick(GUILD_MESSAGE_TYPING, DIRECT_MESSAGE_TYPING),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc::unbounded_channel;

    fn attach(conn: ConnId) -> (Attachment, tokio::sync::mpsc::UnboundedReceiver<Outbound>) {
        let (tx, rx) = unbounded_channel();
        (Attachment { conn, tx }, rx)
    }

    fn seqs(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Outbound>) -> Vec<u64> {
        let mut out = Vec::new();
        while let Ok(o) = rx.try_recv() {
            if let Outbound::Payload { seq: Some(s), .. } = o {
                out.push(s);
            }
        }
        out
    }

    #[test]
    fn sequence_survives_connections_and_backlog_replays() {
        let now = Instant::now();
        let mut s = Sessions::new(3, Duration::from_secs(60));
        let (a, mut rx) = attach(0);
        s.start("s1".into(), [0, 1], 1 << 9, a, "{}", &[]);
        assert_eq!(seqs(&mut rx), vec![1]);
        s.detach("s1", 0, now);
        for _ in 0..3 {
            s.dispatch(&Target::Routed, "MESSAGE_CREATE", "{}", Some(5 << 22), true);
        }
        let (b, mut rx2) = attach(1);
        assert_eq!(
            s.resume("s1", 1, b, now),
            ResumeOutcome::Resumed {
                replayed: 3,
                shard: [0, 1]
            }
        );
        // Replayed 2..=4, then RESUMED took 5.
        assert_eq!(seqs(&mut rx2), vec![2, 3, 4, 5]);
        let (c, _rx3) = attach(2);
        assert_eq!(s.resume("s1", 9, c, now), ResumeOutcome::InvalidSeq);
        let (c, _rx3) = attach(2);
        assert_eq!(s.resume("nope", 1, c, now), ResumeOutcome::Invalid);
    }

    #[test]
    fn too_old_resume_is_invalid_and_timeouts_expire() {
        let now = Instant::now();
        let mut s = Sessions::new(2, Duration::from_secs(1));
        let (a, _rx) = attach(0);
        s.start("s1".into(), [0, 1], u64::MAX, a, "{}", &[]);
        for _ in 0..3 {
            s.dispatch(&Target::All, "X", "{}", None, true);
        }
        let (b, _rx) = attach(1);
        assert_eq!(s.resume("s1", 1, b, now), ResumeOutcome::Invalid);
        assert_eq!(s.len(), 0);

        let (a, _rx) = attach(0);
        s.start("s2".into(), [0, 1], 0, a, "{}", &[]);
        s.detach("s2", 0, now);
        s.expire(now + Duration::from_secs(2));
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn routing_and_intents() {
        let mut s = Sessions::new(10, Duration::from_secs(60));
        let (a, mut rx0) = attach(0);
        let (b, mut rx1) = attach(1);
        s.start("a".into(), [0, 2], 1 << 9, a, "{}", &[]);
        s.start("b".into(), [1, 2], 0, b, "{}", &[]);
        seqs(&mut rx0);
        seqs(&mut rx1);
        // Guild with (id >> 22) odd goes to shard 1, which lacks GUILD_MESSAGES.
        assert_eq!(
            s.dispatch(&Target::Routed, "MESSAGE_CREATE", "{}", Some(3 << 22), true),
            0
        );
        assert_eq!(
            s.dispatch(&Target::Routed, "MESSAGE_CREATE", "{}", Some(2 << 22), true),
            1
        );
        assert_eq!(
            s.dispatch(&Target::Routed, "USER_UPDATE", "{}", None, true),
            1
        );
        assert_eq!(seqs(&mut rx0), vec![2, 3]);
        assert_eq!(
            s.dispatch(&Target::Shard(1), "INTERACTION_CREATE", "{}", None, true),
            1
        );
        assert_eq!(seqs(&mut rx1), vec![2]);
    }
}
