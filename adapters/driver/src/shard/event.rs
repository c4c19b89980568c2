//! What a shard yields: dispatches it owns, lifecycle events, and the errors that end it.

use std::fmt;
use std::ops::Range;

use bytes::Bytes;
use discord_gateway::codec::etf;
use discord_gateway::protocol::{CloseCode, EventType};
use discord_gateway::session::HandleError;
use discord_gateway::Encoding;

use crate::shard::status::ConnectionError;
use crate::transport::inflate::InflateError;

/// A dispatch, holding the message it arrived in. Its `d` is never copied: [`Dispatch::data`]
/// borrows it, and [`Dispatch::deserialize`] reads it into any serde type.
#[derive(Clone, PartialEq, Eq)]
pub struct Dispatch {
    message: Bytes,
    name: Range<usize>,
    data: Option<Range<usize>>,
    seq: Option<u64>,
    kind: Option<EventType>,
    encoding: Encoding,
}

impl Dispatch {
    pub(crate) fn new(
        message: Bytes,
        name: Range<usize>,
        data: Option<Range<usize>>,
        seq: Option<u64>,
        kind: Option<EventType>,
        encoding: Encoding,
    ) -> Self {
        Self {
            message,
            name,
            data,
            seq,
            kind,
            encoding,
        }
    }

    /// The encoding of [`Dispatch::data`] (the shard's).
    #[must_use]
    pub const fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The event name (`t`) as received.
    #[must_use]
    pub fn name(&self) -> &str {
        std::str::from_utf8(&self.message[self.name.clone()]).unwrap_or_default()
    }

    /// The documented event this is, or `None` for one this library does not know yet.
    #[must_use]
    pub const fn kind(&self) -> Option<EventType> {
        self.kind
    }

    /// The sequence number.
    #[must_use]
    pub const fn seq(&self) -> Option<u64> {
        self.seq
    }

    /// The raw `d`, byte for byte as Discord sent it (`null` when absent): JSON text, or on an
    /// ETF shard the bare term (the atom `nil` when absent).
    #[must_use]
    pub fn data(&self) -> &[u8] {
        match &self.data {
            Some(range) => &self.message[range.clone()],
            None => self.encoding.null(),
        }
    }

    /// The whole payload this dispatch arrived in.
    #[must_use]
    pub fn message(&self) -> &Bytes {
        &self.message
    }

    /// Deserializes `d` into `T` (borrowing from the message where `T` allows), in either
    /// encoding: on ETF, snowflakes that arrive as integers still fill string fields and
    /// the atoms `nil`/`true`/`false` are null and booleans (see
    /// [`discord_gateway::codec::etf`]), so the same `T` serves both.
    ///
    /// **Strings: borrow with `Cow<'a, str>`, never `&'a str`.** A `&'a str` field can only
    /// point into the message when Discord's JSON string has no escape in it; a message with a
    /// quote, a backslash or a newline arrives escaped, and then `&str` fails with `invalid
    /// type: string ..., expected a borrowed string`. A `Cow<'a, str>` field with
    /// `#[serde(borrow)]` borrows when it can and owns the unescaped text when it must (a
    /// `String` always owns):
    ///
    /// ```
    /// use std::borrow::Cow;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Message<'a> {
    ///     #[serde(borrow)]
    ///     content: Cow<'a, str>,
    /// }
    ///
    /// let d = br#"{"content":"say \"hi\" \\ bye\nsee you"}"#;
    /// let message: Message<'_> = serde_json::from_slice(d)?;
    /// assert_eq!(message.content, "say \"hi\" \\ bye\nsee you");
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    ///
    /// # Errors
    /// The `serde_json` error when `d` is not UTF-8 or does not match `T` (on ETF, the ETF
    /// error's text in a `serde_json` error, so the signature is the same for both encodings).
    pub fn deserialize<'a, T: serde::Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        match self.encoding {
            // One UTF-8 check of the whole span, then the `str` reader, which does not check
            // each string again as the slice reader does.
            Encoding::Json => match core::str::from_utf8(self.data()) {
                Ok(text) => serde_json::from_str(text),
                Err(error) => Err(<serde_json::Error as serde::de::Error>::custom(error)),
            },
            Encoding::Etf => {
                etf::from_term(self.data()).map_err(<serde_json::Error as serde::de::Error>::custom)
            }
        }
    }
}

impl fmt::Debug for Dispatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dispatch")
            .field("name", &self.name())
            .field("seq", &self.seq)
            .field("data_len", &self.data().len())
            .finish()
    }
}

/// A lifecycle event of the session, exactly as the core reports it: the one list of them,
/// [`discord_gateway::session::Event`], shared with every other driver of the core.
///
/// A shard hands on [`SessionEvent::Ready`], [`SessionEvent::Resumed`],
/// [`SessionEvent::SequenceGap`], [`SessionEvent::StaleDispatch`],
/// [`SessionEvent::NotResumable`] and [`SessionEvent::Disconnected`] as
/// [`ShardEvent::Session`]; it answers [`SessionEvent::IdentifyPermitNeeded`] itself, turns
/// [`SessionEvent::Stopped`] into the end of its stream (or a [`ShardError`]), and logs
/// [`SessionEvent::ResumeUrlRefused`] as a warning (see [`ShardEvent::from_session`]).
pub use discord_gateway::session::Event as SessionEvent;

/// Something that happened on a shard: a dispatch, or a lifecycle event from the core
/// ([`ShardEvent::Session`]), or what only the driver sees (a connection opening, a message it
/// could not read).
///
/// ```
/// use discord_gateway_driver::{SessionEvent, ShardEvent};
///
/// fn describe(event: &ShardEvent) -> String {
///     match event {
///         ShardEvent::Dispatch(dispatch) => format!("dispatch {}", dispatch.name()),
///         ShardEvent::Session(SessionEvent::Ready, _) => "ready".to_owned(),
///         ShardEvent::Session(SessionEvent::Disconnected { cause, .. }, error) => {
///             match error {
///                 Some(error) => format!("disconnected: {cause}: {}", error.chain()),
///                 None => format!("disconnected: {cause}"),
///             }
///         }
///         other => format!("{other:?}"),
///     }
/// }
/// # let _ = describe;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShardEvent {
    /// A dispatch the application asked for.
    Dispatch(Dispatch),
    /// A websocket connection opened; `resume` says whether it will resume the session.
    Connected {
        /// Whether the connection resumes (otherwise it identifies).
        resume: bool,
    },
    /// A lifecycle event of the session (READY, RESUMED, a disconnect, a sequence gap...):
    /// first the core's own [`SessionEvent`], unchanged; then the transport's error behind a
    /// [`SessionEvent::Disconnected`] whose cause is `DisconnectCause::DialFailed` or
    /// `DisconnectCause::TransportLost`, down to the OS or TLS error (`None` for the other
    /// causes, which the gateway or the session decided, and for every other event). The
    /// session id READY brought is [`crate::Shard::session`]'s `session_id()`.
    Session(SessionEvent, Option<ConnectionError>),
    /// A message could not be read and was skipped; the connection carries on.
    Malformed(MessageError),
}

impl ShardEvent {
    /// What a shard hands on for the core's `event` (with `error`, the transport's error
    /// behind a disconnect): [`ShardEvent::Session`] for the events an application reads,
    /// `None` for those the shard deals with itself (an identify permit, the session stopping,
    /// a refused resume URL, and any event a later core adds, until a driver knows it).
    #[must_use]
    pub fn from_session(event: SessionEvent, error: Option<ConnectionError>) -> Option<Self> {
        match event {
            SessionEvent::Ready
            | SessionEvent::Resumed { .. }
            | SessionEvent::SequenceGap { .. }
            | SessionEvent::StaleDispatch { .. }
            | SessionEvent::NotResumable(_)
            | SessionEvent::Disconnected { .. } => {
                let error = match event {
                    SessionEvent::Disconnected { .. } => error,
                    _ => None,
                };
                Some(Self::Session(event, error))
            }
            SessionEvent::IdentifyPermitNeeded
            | SessionEvent::Stopped(_)
            | SessionEvent::ResumeUrlRefused { .. } => None,
            _ => None,
        }
    }
}

/// Why a received message was skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MessageError {
    /// The payload was malformed or broke the protocol.
    Payload(HandleError),
    /// The compressed stream could not be read (the connection is then reset).
    Inflate(InflateError),
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The cause is the source, not repeated here: error chains print it once.
        f.write_str(match self {
            Self::Payload(_) => "skipped a malformed message",
            Self::Inflate(_) => "skipped a message that could not be decompressed",
        })
    }
}

impl std::error::Error for MessageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Payload(error) => Some(error),
            Self::Inflate(error) => Some(error),
        }
    }
}

/// Why a shard stopped for good.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShardError {
    /// Discord closed with a code that reconnecting cannot fix; the message says what to change.
    Fatal(CloseCode),
    /// An uncompressed message over `max_message_size` ended the connection again and again at
    /// the same point (every resume replays it). The session was closed resumably: raise the
    /// limit with `ShardBuilder::max_message_size` and resume from `Shard::resume_state`.
    MessageTooLarge {
        /// The limit in force, in bytes.
        limit: usize,
    },
}

impl fmt::Display for ShardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fatal(code) => write!(f, "{code}"),
            Self::MessageTooLarge { limit } => write!(
                f,
                "a message over the {limit}-byte max_message_size keeps arriving; raise the limit"
            ),
        }
    }
}

impl std::error::Error for ShardError {}

/// Displays an error with every cause in its chain, `outer: inner: innermost`: each layer of
/// this library prints only its own part and leaves the cause to `source()`, so a log line that
/// wants the whole story prints this.
#[derive(Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            write!(f, ": {error}")?;
            source = error.source();
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use discord_gateway::protocol::EventType;
    use discord_gateway::Encoding;
    use serde::Deserialize;

    use super::Dispatch;

    /// A MESSAGE_CREATE dispatch whose `d` is `data`, as a binary (decompressed) message
    /// arrives: no websocket layer has checked its UTF-8.
    fn dispatch(data: &[u8]) -> Dispatch {
        let mut message = br#"{"t":"MESSAGE_CREATE","s":7,"op":0,"d":"#.to_vec();
        let start = message.len();
        message.extend_from_slice(data);
        let end = message.len();
        message.push(b'}');
        Dispatch::new(
            Bytes::from(message),
            6..20,
            Some(start..end),
            Some(7),
            Some(EventType::MessageCreate),
            Encoding::Json,
        )
    }

    #[derive(Deserialize)]
    struct Borrowed<'a> {
        id: &'a str,
        content: String,
    }

    #[test]
    fn deserialize_borrows_plain_strings_and_unescapes_the_rest() {
        let dispatch = dispatch(br#"{"id":"41771983444115456","content":"a \"quote\" \u00e9"}"#);
        let message: Borrowed<'_> = dispatch.deserialize().unwrap();
        assert_eq!(message.id, "41771983444115456");
        assert_eq!(message.content, "a \"quote\" \u{e9}");
        assert_eq!(dispatch.name(), "MESSAGE_CREATE");
    }

    #[test]
    fn deserialize_refuses_a_d_that_is_not_utf8_even_in_a_field_it_skips() {
        let dispatch = dispatch(b"{\"id\":\"1\",\"content\":\"ok\",\"nonce\":\"\xff\xfe\"}");
        let error = dispatch.deserialize::<Borrowed<'_>>().err().unwrap();
        assert!(error.to_string().contains("invalid utf-8"), "{error}");
        // A field that does not match is still serde_json's own error.
        let error = self::dispatch(br#"{"id":1,"content":"x"}"#)
            .deserialize::<Borrowed<'_>>()
            .err()
            .unwrap();
        assert!(error.is_data(), "{error}");
    }

    /// The one mapping from the core's events to a shard's: what an application reads comes
    /// through unchanged, with the transport error on a disconnect only; what the shard deals
    /// with itself does not come through.
    #[test]
    fn session_events_come_through_as_the_core_reported_them() {
        use discord_gateway::protocol::CloseCode;
        use discord_gateway::session::{
            CloseKind, DisconnectCause, Next, ProtocolError, Stop, UrlRefusal, UrlSource,
        };

        use super::{SessionEvent, ShardEvent};
        use crate::{ConnectionError, ConnectionErrorKind};

        let error = ConnectionError::new(ConnectionErrorKind::Reset, "reset by peer");
        let delivered = [
            SessionEvent::Ready,
            SessionEvent::Resumed { replayed: 3 },
            SessionEvent::SequenceGap {
                expected: 4,
                received: 6,
            },
            SessionEvent::StaleDispatch {
                last: 6,
                received: 5,
            },
            SessionEvent::NotResumable(ProtocolError::ZeroHeartbeatInterval),
        ];
        for event in delivered {
            assert_eq!(
                ShardEvent::from_session(event, Some(error.clone())),
                Some(ShardEvent::Session(event, None)),
                "{event:?}"
            );
        }
        let disconnected = SessionEvent::Disconnected {
            cause: DisconnectCause::TransportLost,
            next: Next::Resume {
                after: std::time::Duration::ZERO,
            },
        };
        assert_eq!(
            ShardEvent::from_session(disconnected, Some(error.clone())),
            Some(ShardEvent::Session(disconnected, Some(error)))
        );
        assert_eq!(
            ShardEvent::from_session(disconnected, None),
            Some(ShardEvent::Session(disconnected, None))
        );
        let handled = [
            SessionEvent::IdentifyPermitNeeded,
            SessionEvent::Stopped(Stop::Fatal(CloseCode::AuthenticationFailed)),
            SessionEvent::Stopped(Stop::Closed(CloseKind::Resumable)),
            SessionEvent::Stopped(Stop::MessageTooLarge),
            SessionEvent::ResumeUrlRefused {
                source: UrlSource::Ready,
                reason: UrlRefusal::Host,
            },
        ];
        for event in handled {
            assert_eq!(ShardEvent::from_session(event, None), None, "{event:?}");
        }
    }
}
