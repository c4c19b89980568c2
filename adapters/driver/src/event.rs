//! What a shard yields: dispatches it owns, lifecycle events, and the errors that end it.

use std::fmt;
use std::ops::Range;

use bytes::Bytes;
use discord_gateway::codec::etf;
use discord_gateway::protocol::{CloseCode, EventType};
use discord_gateway::session::{DisconnectCause, HandleError, Next, ProtocolError};
use discord_gateway::Encoding;

use crate::inflate::InflateError;

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

/// Something that happened on a shard.
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
    /// A new session is ready.
    Ready {
        /// Discord's id for the session.
        session_id: String,
    },
    /// The session was resumed after `replayed` missed dispatches were replayed.
    Resumed {
        /// How many dispatches were replayed.
        replayed: u64,
    },
    /// The connection ended; `next` says what the shard does about it.
    Disconnected {
        /// Why it ended.
        cause: DisconnectCause,
        /// What comes next.
        next: Next,
    },
    /// Dispatches were skipped in the sequence (the session carries on).
    SequenceGap {
        /// The sequence number that was due.
        expected: u64,
        /// The one that arrived.
        received: u64,
    },
    /// A repeated dispatch was dropped.
    StaleDispatch {
        /// The last sequence number seen.
        last: u64,
        /// The repeated one.
        received: u64,
    },
    /// A message could not be read and was skipped; the connection carries on.
    Malformed(MessageError),
    /// READY named a session that cannot be resumed (its id was missing or unusable): the
    /// session is live, but the next connection identifies instead of resuming.
    NotResumable(ProtocolError),
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
}
