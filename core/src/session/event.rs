//! What the session tells its driver: lifecycle events, dispatches, and what to send.

use core::fmt;
use core::ops::Range;
use core::time::Duration;

use crate::codec::{Data, Encoding, Envelope, EventName};
use crate::protocol::{CloseCode, EventType, Recovery};

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectCause {
    /// The server closed the connection with this code (1005, "no status received", when the
    /// close frame carried none).
    ServerClosed(CloseCode),
    /// The transport ended without a close frame.
    TransportLost,
    /// Dialing the gateway failed.
    DialFailed,
    /// The server asked for a reconnect (op 7).
    Reconnect,
    /// The server invalidated the session (op 9); `resumable` is its `d`.
    InvalidSession {
        /// Whether Discord said the session may be resumed.
        resumable: bool,
    },
    /// No heartbeat ACK arrived between two heartbeats.
    Zombie,
    /// No Hello arrived within the configured time after the socket opened.
    HelloTimeout,
    /// No READY arrived within the configured time after Identify, or no RESUMED after
    /// Resume (and its last replayed dispatch): see
    /// [`crate::session::ConfigBuilder::handshake_timeout`].
    HandshakeTimeout,
    /// The transport ended the connection because a message was over its size limit;
    /// `attempt` counts the connections lost this way at the same sequence number. A resume
    /// replays the message, so after [`MESSAGE_TOO_LARGE_ATTEMPTS`] the session stops
    /// (still resumable, by a process that accepts larger messages).
    MessageTooLarge {
        /// How many connections in a row ended this way at the current sequence number.
        attempt: u32,
    },
    /// READY was too large to take: its first bytes named it, but without its data there is no
    /// session id to resume with, and identifying again brings the same READY back. The
    /// session stops ([`Stop::ReadyTooLarge`]) and ends the session Discord started (close
    /// 1000).
    ReadyTooLarge,
}

/// How many connections a message over the transport's size limit may end at one sequence
/// number before the session stops with [`Stop::MessageTooLarge`].
pub const MESSAGE_TOO_LARGE_ATTEMPTS: u32 = 3;

impl DisconnectCause {
    /// What a client does after this disconnect: the one decision table (protocol reference
    /// §5.8), with close codes deferring to [`CloseCode::recovery`].
    #[must_use]
    pub const fn recovery(self) -> Recovery {
        match self {
            Self::ServerClosed(code) => code.recovery(),
            Self::InvalidSession { resumable: false } => Recovery::Reidentify,
            Self::TransportLost
            | Self::DialFailed
            | Self::Reconnect
            | Self::InvalidSession { resumable: true }
            | Self::Zombie
            | Self::HelloTimeout
            | Self::HandshakeTimeout => Recovery::Resume,
            Self::MessageTooLarge { attempt } if attempt < MESSAGE_TOO_LARGE_ATTEMPTS => {
                Recovery::Resume
            }
            Self::MessageTooLarge { .. } | Self::ReadyTooLarge => Recovery::Fatal,
        }
    }
}

impl fmt::Display for DisconnectCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ServerClosed(code) => write!(f, "the gateway closed the connection: {code}"),
            Self::TransportLost => f.write_str("the connection dropped"),
            Self::DialFailed => f.write_str("could not connect to the gateway"),
            Self::Reconnect => f.write_str("the gateway asked for a reconnect"),
            Self::InvalidSession { resumable: true } => {
                f.write_str("the gateway invalidated the connection (resumable)")
            }
            Self::InvalidSession { resumable: false } => {
                f.write_str("the gateway invalidated the session")
            }
            Self::Zombie => f.write_str("no heartbeat acknowledgement: the connection is a zombie"),
            Self::HelloTimeout => f.write_str("the gateway sent no Hello"),
            Self::HandshakeTimeout => f.write_str(
                "the gateway did not answer Identify with READY or Resume with RESUMED in time",
            ),
            Self::MessageTooLarge { attempt } => write!(
                f,
                "a message was over the size limit (connection {attempt} lost to it at this point)"
            ),
            Self::ReadyTooLarge => f.write_str("READY was over the size limit"),
        }
    }
}

/// What the session does after a disconnect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Next {
    /// Reconnect after `after` and resume the session.
    Resume {
        /// How long the session waits before it asks for the connection.
        after: Duration,
    },
    /// Reconnect after `after` and identify a new session.
    Identify {
        /// How long the session waits before it asks for the connection.
        after: Duration,
    },
    /// Nothing: the session has stopped (see [`Event::Stopped`]).
    Stop,
}

/// How the application closes a session ([`crate::session::Session::close`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseKind {
    /// Close with a code that keeps the session alive on Discord's side for a few minutes, so
    /// an exported [`crate::session::ResumeState`] can resume it (a restart, a deploy).
    Resumable,
    /// Close with 1000 and forget the session: the bot goes offline on Discord's side.
    EndSession,
}

/// Why a session stopped for good.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stop {
    /// The server closed with a code that reconnecting cannot fix.
    Fatal(CloseCode),
    /// The application closed the session, keeping it for a resume or ending it.
    Closed(CloseKind),
    /// A message over the transport's size limit ended [`MESSAGE_TOO_LARGE_ATTEMPTS`]
    /// connections at the same sequence number: resuming would replay it again. The session is
    /// kept, so [`crate::session::Session::resume_state`] can resume it with a larger limit.
    MessageTooLarge,
    /// READY was over the size limit ([`DisconnectCause::ReadyTooLarge`]): there is no session
    /// to resume, and identifying again would bring the same READY. Accept larger messages
    /// (READY grows with the number of guilds) and start again.
    ReadyTooLarge,
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fatal(code) => write!(f, "stopped: {code}"),
            Self::Closed(CloseKind::Resumable) => {
                f.write_str("closed; the session can be resumed")
            }
            Self::Closed(CloseKind::EndSession) => f.write_str("closed; the session ended"),
            Self::MessageTooLarge => f.write_str(
                "stopped: a message over the size limit keeps coming back; the session can be resumed",
            ),
            Self::ReadyTooLarge => f.write_str(
                "stopped: READY is over the size limit; accept larger messages and start again",
            ),
        }
    }
}

/// A lifecycle event, drained with [`crate::session::Session::poll_event`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Hello arrived and the session needs to identify: acquire an identify permit (one per
    /// `max_concurrency` bucket per 5 s) and hand it in with
    /// [`crate::session::Session::handle_identify_permit`] as soon as you have it.
    IdentifyPermitNeeded,
    /// A new session is ready (READY was received). The connection is live even when READY's
    /// session id was unusable; [`Event::NotResumable`] follows then.
    Ready,
    /// READY named no session id that Resume could carry, so this session cannot be resumed:
    /// [`crate::session::Session::resume_state`] is `None` and the next connection identifies.
    /// The current connection stays live.
    NotResumable(crate::session::ProtocolError),
    /// The session was resumed; `replayed` dispatches were replayed before RESUMED.
    Resumed {
        /// How many dispatches came between Resume and RESUMED.
        replayed: u64,
    },
    /// A dispatch skipped sequence numbers (delivered anyway).
    SequenceGap {
        /// The number that was due.
        expected: u64,
        /// The number that arrived.
        received: u64,
    },
    /// A dispatch repeated a sequence number already seen; it was not delivered again.
    StaleDispatch {
        /// The last sequence number seen.
        last: u64,
        /// The number that arrived.
        received: u64,
    },
    /// The connection ended; `next` says what the session does about it.
    Disconnected {
        /// Why.
        cause: DisconnectCause,
        /// What happens next.
        next: Next,
    },
    /// The session stopped for good.
    Stopped(Stop),
    /// A resume URL was dropped because the configured gateway does not vouch for it
    /// ([`crate::session::vouches_for`]): the session resumes at the configured gateway
    /// instead, with the same session id and sequence. A stored one means someone who can
    /// write the session store may be trying to get the token sent elsewhere; drivers report
    /// it as a warning.
    ResumeUrlRefused {
        /// Where the URL came from.
        source: UrlSource,
        /// Which part of the rule it failed.
        reason: crate::session::UrlRefusal,
    },
}

/// Where a resume URL came from ([`Event::ResumeUrlRefused`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UrlSource {
    /// READY's `resume_gateway_url`.
    Ready,
    /// A saved [`crate::session::ResumeState`] handed to
    /// [`crate::session::Session::restore`].
    Stored,
}

impl fmt::Display for UrlSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ready => "READY's resume_gateway_url",
            Self::Stored => "the saved session's resume URL",
        })
    }
}

/// A dispatch (op 0) the application wanted, borrowed from the message it arrived in (hence
/// `Ref`: nothing is copied; a driver that must keep it copies what it needs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DispatchRef<'m> {
    envelope: Envelope<'m>,
}

impl<'m> DispatchRef<'m> {
    /// Wraps an envelope that has an event name.
    pub(crate) const fn new(envelope: Envelope<'m>) -> Self {
        Self { envelope }
    }

    /// The sequence number, if the payload had one.
    #[must_use]
    pub const fn seq(&self) -> Option<u64> {
        self.envelope.seq()
    }

    /// The documented event this is, or `None` for an event this crate does not know.
    #[must_use]
    pub fn kind(&self) -> Option<EventType> {
        self.envelope.event_type()
    }

    /// The event name as received, when the payload had one (every real dispatch does).
    #[must_use]
    pub fn name(&self) -> Option<&EventName<'m>> {
        self.envelope.name()
    }

    /// The bytes of `d` exactly as received (`null` when the payload had no `d`). On an ETF
    /// connection this is the bare term (the atom `nil` when there was no `d`), for
    /// [`crate::codec::etf::from_term`].
    #[must_use]
    pub fn data(&self) -> &'m [u8] {
        self.envelope
            .data()
            .unwrap_or(self.envelope.encoding().null())
    }

    /// The encoding of [`DispatchRef::data`].
    #[must_use]
    pub const fn encoding(&self) -> Encoding {
        self.envelope.encoding()
    }

    /// Where `d` is in the message, when it was present.
    #[must_use]
    pub fn data_range(&self) -> Option<Range<usize>> {
        match self.envelope.data_span() {
            Data::Present(range) => Some(range.clone()),
            Data::Absent | Data::Skipped => None,
        }
    }

    /// The whole message.
    #[must_use]
    pub const fn message(&self) -> &'m [u8] {
        self.envelope.message()
    }

    /// The scanned envelope.
    #[must_use]
    pub const fn envelope(&self) -> &Envelope<'m> {
        &self.envelope
    }
}

#[cfg(test)]
mod tests {
    use super::{DisconnectCause, MESSAGE_TOO_LARGE_ATTEMPTS};
    use crate::protocol::{CloseCode, Recovery};

    /// The recovery table row by row (protocol reference §5.8); close codes have their own
    /// table in `CloseCode::recovery`.
    #[test]
    fn every_cause_recovers_as_the_protocol_says() {
        let rows = [
            (
                DisconnectCause::ServerClosed(CloseCode::Other(1005)),
                Recovery::Resume,
            ),
            (
                DisconnectCause::ServerClosed(CloseCode::InvalidSeq),
                Recovery::Reidentify,
            ),
            (
                DisconnectCause::ServerClosed(CloseCode::AuthenticationFailed),
                Recovery::Fatal,
            ),
            (DisconnectCause::TransportLost, Recovery::Resume),
            (DisconnectCause::DialFailed, Recovery::Resume),
            (DisconnectCause::Reconnect, Recovery::Resume),
            (
                DisconnectCause::InvalidSession { resumable: true },
                Recovery::Resume,
            ),
            (
                DisconnectCause::InvalidSession { resumable: false },
                Recovery::Reidentify,
            ),
            (DisconnectCause::Zombie, Recovery::Resume),
            (DisconnectCause::HelloTimeout, Recovery::Resume),
            (DisconnectCause::HandshakeTimeout, Recovery::Resume),
            (
                DisconnectCause::MessageTooLarge { attempt: 1 },
                Recovery::Resume,
            ),
            (
                DisconnectCause::MessageTooLarge { attempt: 2 },
                Recovery::Resume,
            ),
            (
                DisconnectCause::MessageTooLarge { attempt: 3 },
                Recovery::Fatal,
            ),
            (
                DisconnectCause::MessageTooLarge { attempt: u32::MAX },
                Recovery::Fatal,
            ),
        ];
        assert_eq!(MESSAGE_TOO_LARGE_ATTEMPTS, 3);
        for (cause, recovery) in rows {
            assert_eq!(cause.recovery(), recovery, "{cause:?}");
        }
    }
}
