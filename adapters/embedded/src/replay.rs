//! A recorded gateway conversation as an in-memory transport, with a virtual clock: the client
//! runs unchanged against it, on a host test or on a microcontroller with no network, and every
//! message it sends is checked against what the recording says it sent.
//!
//! A recording is a sequence of records, each `[kind: u8][len: u32 little-endian][bytes]`:
//!
//! | kind | meaning |
//! |---|---|
//! | `C` | the client opens a new connection (empty) |
//! | `U` | the client sends this upgrade request |
//! | `S` | the server sends these bytes |
//! | `W` | the client sends one frame: its opcode byte, then its payload unmasked |
//! | `P` | the client sends one frame: its opcode byte, then the start of its payload |
//!
//! (`P` is for hand-written scripts that need not spell out a whole Identify.)
//! The server's bytes are handed out only up to the next thing the client must send, so the
//! replay keeps the recorded order whatever the client's timing: while it waits for the client,
//! reads do not complete and the [`VirtualTimer`] lets time jump to the client's next deadline
//! (a heartbeat, say). Masks and the websocket key come from [`Entropy`]; replaying with the
//! seed the recording was made with reproduces them, so the recorded upgrade response matches.

use core::fmt;

use discord_gateway::Instant;

use crate::client::{Entropy, Received, SEND_BUFFER_LEN};
use crate::url::GatewayUrl;
use crate::ws::{apply_mask, MAX_HEADER_LEN};

/// A new connection.
pub const RECORD_CONNECT: u8 = b'C';
/// The upgrade request.
pub const RECORD_UPGRADE: u8 = b'U';
/// Bytes from the server.
pub const RECORD_SERVER: u8 = b'S';
/// One frame from the client.
pub const RECORD_WRITE: u8 = b'W';
/// One frame from the client, of which only the start of the payload is given.
pub const RECORD_WRITE_PREFIX: u8 = b'P';

/// Where the client departed from the recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mismatch {
    /// The recording is cut short or has an unknown record kind at this offset.
    Malformed {
        /// Byte offset of the record.
        at: usize,
    },
    /// The client connected where the recording expected something else.
    UnexpectedConnect {
        /// Byte offset of the record expected instead.
        at: usize,
    },
    /// The client sent something other than what the recording says.
    Sent {
        /// Byte offset of the record it should have matched.
        at: usize,
    },
    /// The client sent a frame that is not a masked, whole client frame.
    BadFrame,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed { at } => write!(f, "the recording is malformed at byte {at}"),
            Self::UnexpectedConnect { at } => {
                write!(
                    f,
                    "the client connected where record {at} expected otherwise"
                )
            }
            Self::Sent { at } => write!(f, "the client's message differs from record {at}"),
            Self::BadFrame => f.write_str("the client sent a malformed frame"),
        }
    }
}

/// An I/O error of the replay: the client departed from the recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayError(pub Mismatch);

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl core::error::Error for ReplayError {}

impl embedded_io::Error for ReplayError {
    fn kind(&self) -> embedded_io::ErrorKind {
        embedded_io::ErrorKind::InvalidData
    }
}

/// One record: its kind, its body and the offset of the record after it.
type Record<'r> = (u8, &'r [u8], usize);

/// A recording being replayed; see the [module docs](self).
pub struct Replay<'r> {
    records: &'r [u8],
    /// Offset of the next record.
    at: usize,
    /// The rest of the `S` record being handed out.
    server: &'r [u8],
    /// Bytes the client wrote that do not yet make a whole frame.
    written: [u8; SEND_BUFFER_LEN],
    written_len: usize,
    mismatch: Option<Mismatch>,
    frames_checked: u32,
    server_bytes: u64,
}

impl<'r> Replay<'r> {
    /// A replay of `records`.
    #[must_use]
    pub const fn new(records: &'r [u8]) -> Self {
        Self {
            records,
            at: 0,
            server: &[],
            written: [0; SEND_BUFFER_LEN],
            written_len: 0,
            mismatch: None,
            frames_checked: 0,
            server_bytes: 0,
        }
    }

    /// The first departure from the recording, if any.
    #[must_use]
    pub const fn mismatch(&self) -> Option<Mismatch> {
        self.mismatch
    }

    /// Whether every record was played.
    #[must_use]
    pub fn finished(&self) -> bool {
        self.at >= self.records.len() && self.server.is_empty()
    }

    /// How many client messages (upgrade requests and frames) matched the recording.
    #[must_use]
    pub const fn frames_checked(&self) -> u32 {
        self.frames_checked
    }

    /// How many server bytes were handed to the client.
    #[must_use]
    pub const fn server_bytes(&self) -> u64 {
        self.server_bytes
    }

    /// The next record (kind, body, offset of the one after), without consuming it.
    fn peek(&self) -> Result<Option<Record<'r>>, Mismatch> {
        let records = self.records;
        let Some(rest) = records.get(self.at..) else {
            return Ok(None);
        };
        let [kind, l0, l1, l2, l3, body @ ..] = rest else {
            return if rest.is_empty() {
                Ok(None)
            } else {
                Err(Mismatch::Malformed { at: self.at })
            };
        };
        let len = u32::from_le_bytes([*l0, *l1, *l2, *l3]) as usize;
        let body = body.get(..len).ok_or(Mismatch::Malformed { at: self.at })?;
        if ![
            RECORD_CONNECT,
            RECORD_UPGRADE,
            RECORD_SERVER,
            RECORD_WRITE,
            RECORD_WRITE_PREFIX,
        ]
        .contains(kind)
        {
            return Err(Mismatch::Malformed { at: self.at });
        }
        Ok(Some((*kind, body, self.at + 5 + len)))
    }

    fn fail(&mut self, mismatch: Mismatch) -> ReplayError {
        self.mismatch.get_or_insert(mismatch);
        ReplayError(mismatch)
    }

    /// The client dials: the next record must be a connect.
    fn connect(&mut self) -> Result<(), ReplayError> {
        match self.peek() {
            Ok(Some((RECORD_CONNECT, _, next))) => {
                self.at = next;
                self.server = &[];
                self.written_len = 0;
                Ok(())
            }
            Ok(_) => Err(self.fail(Mismatch::UnexpectedConnect { at: self.at })),
            Err(mismatch) => Err(self.fail(mismatch)),
        }
    }

    /// Server bytes for the client: `Some(0)` at the end of the connection, `None` while the
    /// recording waits for the client.
    fn read(&mut self, buf: &mut [u8]) -> Result<Option<usize>, ReplayError> {
        if self.mismatch.is_some() {
            return Ok(None);
        }
        if self.server.is_empty() {
            match self.peek() {
                Ok(Some((RECORD_SERVER, body, next))) => {
                    self.at = next;
                    self.server = body;
                }
                Ok(Some((RECORD_CONNECT, ..)) | None) => return Ok(Some(0)),
                Ok(Some(_)) => return Ok(None),
                Err(mismatch) => return Err(self.fail(mismatch)),
            }
        }
        let n = buf.len().min(self.server.len());
        buf[..n].copy_from_slice(&self.server[..n]);
        self.server = &self.server[n..];
        self.server_bytes += n as u64;
        Ok(Some(n))
    }

    /// Client bytes: checked against the recording as whole messages come together.
    fn write(&mut self, bytes: &[u8]) -> Result<usize, ReplayError> {
        let end = self.written_len + bytes.len();
        let Some(room) = self.written.get_mut(self.written_len..end) else {
            return Err(self.fail(Mismatch::BadFrame));
        };
        room.copy_from_slice(bytes);
        self.written_len = end;
        while let Some(used) = self.check_written()? {
            self.written.copy_within(used..self.written_len, 0);
            self.written_len -= used;
        }
        Ok(bytes.len())
    }

    /// Checks the first whole message written, if there is one; returns its length.
    fn check_written(&mut self) -> Result<Option<usize>, ReplayError> {
        if self.written_len == 0 {
            return Ok(None);
        }
        let (kind, expected, next) = match self.peek() {
            Ok(Some(record)) => record,
            Ok(None) => return Err(self.fail(Mismatch::Sent { at: self.at })),
            Err(mismatch) => return Err(self.fail(mismatch)),
        };
        let written = &mut self.written[..self.written_len];
        let (used, matches) = match kind {
            RECORD_UPGRADE => {
                let Some(end) = written.windows(4).position(|w| w == b"\r\n\r\n") else {
                    return Ok(None);
                };
                (end + 4, &written[..end + 4] == expected)
            }
            RECORD_WRITE | RECORD_WRITE_PREFIX => match unmask_frame(written) {
                Ok(None) => return Ok(None),
                Ok(Some((opcode, payload))) => {
                    let used = payload.end;
                    let sent = &written[payload];
                    let same = expected.split_first().is_some_and(|(op, body)| {
                        *op == opcode
                            && if kind == RECORD_WRITE {
                                sent == body
                            } else {
                                sent.starts_with(body)
                            }
                    });
                    (used, same)
                }
                Err(mismatch) => return Err(self.fail(mismatch)),
            },
            _ => return Err(self.fail(Mismatch::Sent { at: self.at })),
        };
        if !matches {
            return Err(self.fail(Mismatch::Sent { at: self.at }));
        }
        self.at = next;
        self.frames_checked += 1;
        Ok(Some(used))
    }
}

/// Unmasks the first whole client frame of `bytes` in place: its opcode and where its payload
/// is, `Ok(None)` while it is incomplete. (Recorders use it to write `W` records.)
///
/// # Errors
/// [`Mismatch::BadFrame`] for a frame a client does not send (unmasked, fragmented, or longer
/// than the send buffer).
pub fn unmask_frame(bytes: &mut [u8]) -> Result<Option<(u8, core::ops::Range<usize>)>, Mismatch> {
    let [b0, b1, rest @ ..] = &*bytes else {
        return Ok(None);
    };
    if b0 & 0x80 == 0 || b1 & 0x80 == 0 {
        // Not final, or not masked: the client sends neither.
        return Err(Mismatch::BadFrame);
    }
    let (len, ext) = match b1 & 0x7F {
        126 => match rest {
            [a, b, ..] => (usize::from(u16::from_be_bytes([*a, *b])), 2),
            _ => return Ok(None),
        },
        127 => return Err(Mismatch::BadFrame),
        short => (usize::from(short), 0),
    };
    let opcode = b0 & 0x0F;
    let mask_at = 2 + ext;
    let start = mask_at + 4;
    let end = start + len;
    if bytes.len() < end || end > MAX_HEADER_LEN + SEND_BUFFER_LEN {
        return Ok(None);
    }
    let mut mask = [0; 4];
    mask.copy_from_slice(&bytes[mask_at..start]);
    apply_mask(&mut bytes[start..end], mask);
    Ok(Some((opcode, start..end)))
}

/// The socket of one replayed connection.
pub struct ReplaySocket<'a, 'r> {
    replay: &'a mut Replay<'r>,
}

impl embedded_io_async::ErrorType for ReplaySocket<'_, '_> {
    type Error = ReplayError;
}

impl embedded_io_async::Read for ReplaySocket<'_, '_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ReplayError> {
        match self.replay.read(buf)? {
            Some(n) => Ok(n),
            // The recording waits for the client: this read never completes, the timer does.
            None => core::future::pending().await,
        }
    }
}

impl embedded_io_async::Write for ReplaySocket<'_, '_> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, ReplayError> {
        self.replay.write(buf)
    }

    async fn flush(&mut self) -> Result<(), ReplayError> {
        Ok(())
    }
}

impl<'r> crate::Connector for Replay<'r> {
    type Socket<'a>
        = ReplaySocket<'a, 'r>
    where
        Self: 'a;
    type Error = ReplayError;

    async fn connect(&mut self, _url: &GatewayUrl) -> Result<ReplaySocket<'_, 'r>, ReplayError> {
        Replay::connect(self)?;
        Ok(ReplaySocket { replay: self })
    }
}

/// A clock that stands still until the client sleeps, then jumps to when it wakes: 41 s
/// heartbeats in no time, and the same run every time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VirtualTimer {
    now: Instant,
}

impl VirtualTimer {
    /// A clock at `start`.
    #[must_use]
    pub const fn new(start: Instant) -> Self {
        Self { now: start }
    }
}

impl crate::Timer for VirtualTimer {
    fn now(&mut self) -> Instant {
        self.now
    }

    async fn sleep_until(&mut self, at: Instant) {
        self.now = self.now.max(at);
    }
}

/// Deterministic entropy for replays (xorshift64*): repeatable, not secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeededEntropy(u64);

impl SeededEntropy {
    /// Entropy from `seed`.
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        Self(seed | 1)
    }
}

impl Entropy for SeededEntropy {
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for byte in dest {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            *byte = (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8;
        }
    }
}

/// One line saying what the client handed over, written the same way on a host and on a
/// device: the language a recording's expected events are written in.
///
/// # Errors
/// `out`'s own.
pub fn summarize(received: &Received<'_>, out: &mut impl fmt::Write) -> fmt::Result {
    match received {
        Received::Dispatch(dispatch) => {
            out.write_str("D ")?;
            out.write_str(dispatch.name().map_or("-", |name| name.raw()))?;
            match dispatch.seq() {
                Some(seq) => write!(out, " {seq}"),
                None => out.write_str(" -"),
            }
        }
        Received::Skipped(skipped) => match skipped.seq() {
            Some(seq) => write!(out, "S {} {seq} {}", skipped.name(), skipped.size()),
            None => write!(out, "S {} - {}", skipped.name(), skipped.size()),
        },
        Received::Event(event) => write!(out, "E {event:?}"),
        Received::Refused(error) => write!(out, "R {error:?}"),
        Received::ConnectionLost(error) => write!(out, "L {error:?}"),
    }
}

/// The parameters of the session recorded in `ci/qemu/firmware/recording`. The recorder (the
/// `record` example), the host test that replays it and the firmware all take them from here:
/// the recording holds bytes the client sent, so one differing setting is a mismatch.
pub mod firmware_session {
    use discord_gateway::session::Config;
    use discord_gateway::{Intents, Token};

    /// The sim's token for the recording.
    pub const TOKEN: &str = "sim-token-for-the-firmware";
    /// The seed of the session's jitter and of the masking entropy.
    pub const SEED: u64 = 0xF12E_3A11;
    /// The receive buffer the recording was made with.
    pub const RX_LEN: usize = 8 * 1024;
    /// The sim's fixed port while recording.
    pub const PORT: u16 = 48620;
    /// The gateway URL the client dialled.
    pub const GATEWAY_URL: &str = "ws://127.0.0.1:48620";

    /// The client's configuration; `None` only if the constants above stop being valid.
    // Inlined: the firmware measures its peak stack, and a call returning the 1.7 KB `Config`
    // by value would add a copy of it there.
    #[must_use]
    #[inline(always)]
    pub fn config() -> Option<Config> {
        Config::builder(Token::new(TOKEN).ok()?)
            .gateway_url(GATEWAY_URL)
            .intents(Intents::GUILDS | Intents::GUILD_MESSAGES | Intents::MESSAGE_CONTENT)
            .seed(SEED)
            .build()
            .ok()
    }
}
