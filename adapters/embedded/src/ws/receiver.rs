//! Reassembling the server's messages in the caller's receive buffer, in place.
//!
//! The socket reads straight into the free end of the buffer ([`Receiver::read_space`]); frames
//! are parsed where they landed. A single-frame message (everything Discord sends in practice)
//! is handed out where its payload already lies, so nothing is copied. Only the headers of
//! continuation frames and control frames between fragments are cut out, by moving the bytes
//! behind them. A message that cannot fit is streamed through: its first bytes stay long enough
//! to read its head ([`crate::head`]), the rest is dropped as it arrives.

use core::ops::Range;

use discord_gateway_websocket::{parse_close, Header, Opcode, MAX_CONTROL_LEN, MAX_HEADER_LEN};

use super::WsError;
use crate::head::{self, Head, HeadScan};

/// What the frames parsed so far produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// A whole message lies at this range of the buffer until [`Receiver::release`].
    Message {
        /// Text (or binary, which Discord uses only for compressed transports).
        text: bool,
        /// Where it lies.
        range: Range<usize>,
    },
    /// A message larger than the buffer went by.
    Oversized {
        /// Its whole length.
        size: u64,
        /// Its head, when its first bytes settled it.
        head: Option<Head>,
    },
    /// A ping; answer with a pong carrying [`Receiver::control_payload`].
    Ping,
    /// A pong (we send no pings: ignored).
    Pong,
    /// A close frame and its code, if it had one.
    Close(Option<u16>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Frame {
    Header,
    Data { remaining: u64, fin: bool },
    Control { opcode: Opcode, len: u8 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Oversize {
    /// Still collecting the first bytes to read the head from.
    Reading,
    /// The head is settled (or cannot be); the rest is dropped.
    Dropping(Option<Head>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Assembly {
    text: bool,
    /// Where the payload collected so far lies.
    start: usize,
    end: usize,
    /// The length of every frame of the message so far.
    total: u64,
    oversize: Option<Oversize>,
}

/// The receive side of one connection. The buffer is passed to each call, so one
/// [`Receiver`] works over any caller-owned slice.
#[derive(Clone, Debug)]
pub struct Receiver {
    /// Wire bytes read but not parsed lie at `pos..filled`.
    pos: usize,
    filled: usize,
    frame: Frame,
    message: Option<Assembly>,
    /// A delivered message's range, kept until released.
    held: Option<Range<usize>>,
    control: [u8; MAX_CONTROL_LEN],
    control_len: u8,
}

impl Default for Receiver {
    fn default() -> Self {
        Self::new()
    }
}

impl Receiver {
    /// A receiver for a new connection.
    pub const fn new() -> Self {
        Self {
            pos: 0,
            filled: 0,
            frame: Frame::Header,
            message: None,
            held: None,
            control: [0; MAX_CONTROL_LEN],
            control_len: 0,
        }
    }

    /// The largest message that is delivered whole from a buffer of `capacity` bytes: room is
    /// kept for the header of the frame behind it.
    pub const fn max_message_len(capacity: usize) -> usize {
        capacity.saturating_sub(MAX_HEADER_LEN)
    }

    /// Bytes read but not yet parsed, e.g. the start of a handshake response.
    pub fn unparsed<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        &buf[self.pos..self.filled]
    }

    /// Drops `n` unparsed bytes (the handshake response, once checked).
    pub fn skip(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.filled);
    }

    /// The free end of the buffer to read into, after moving what is still needed to the front.
    /// Empty only if a delivered message was not released.
    pub fn read_space<'b>(&mut self, buf: &'b mut [u8]) -> &'b mut [u8] {
        let keep = match (&self.held, &self.message) {
            (Some(held), _) => held.start,
            (None, Some(message)) => message.start,
            (None, None) => self.pos,
        };
        if keep > 0 {
            buf.copy_within(keep..self.filled, 0);
            self.filled -= keep;
            self.pos -= keep;
            if let Some(held) = &mut self.held {
                *held = held.start - keep..held.end - keep;
            }
            if let Some(message) = &mut self.message {
                message.start -= keep;
                message.end -= keep;
            }
        }
        &mut buf[self.filled..]
    }

    /// `n` bytes were read into [`Receiver::read_space`].
    pub fn filled(&mut self, n: usize) {
        self.filled += n;
    }

    /// The message last delivered is done with; its bytes may be reused.
    pub fn release(&mut self) {
        self.held = None;
    }

    /// The payload of the last ping or close frame.
    pub fn control_payload(&self) -> &[u8] {
        &self.control[..usize::from(self.control_len)]
    }

    /// Parses what was read: the next complete thing, or `None` when more bytes are needed.
    ///
    /// # Errors
    /// A [`WsError`] when the server broke the framing rules; the connection cannot go on.
    pub fn poll(&mut self, buf: &mut [u8]) -> Result<Option<Incoming>, WsError> {
        // A message not yet released keeps its bytes from being moved by `read_space`; parsing
        // what follows it is safe either way.
        loop {
            match self.frame {
                Frame::Header => {
                    let Some((header, header_len)) = Header::parse(&buf[self.pos..self.filled])?
                    else {
                        return Ok(None);
                    };
                    self.begin_frame(buf, header, header_len)?;
                }
                Frame::Control { opcode, len } => {
                    let got = usize::from(self.control_len);
                    let take = (usize::from(len) - got).min(self.filled - self.pos);
                    self.control[got..got + take].copy_from_slice(&buf[self.pos..self.pos + take]);
                    // At most 125: `len` is.
                    self.control_len += take as u8;
                    self.cut(buf, take);
                    if self.control_len < len {
                        return Ok(None);
                    }
                    self.frame = Frame::Header;
                    return Ok(Some(match opcode {
                        Opcode::Ping => Incoming::Ping,
                        Opcode::Pong => Incoming::Pong,
                        _ => Incoming::Close(parse_close(self.control_payload())?),
                    }));
                }
                Frame::Data { remaining, fin } => {
                    let Some(message) = &mut self.message else {
                        return Err(WsError::UnexpectedContinuation);
                    };
                    let available = (self.filled - self.pos) as u64;
                    // No more than what was read, which fits in a usize.
                    let take = remaining.min(available) as usize;
                    match message.oversize {
                        Some(Oversize::Dropping(_)) => self.cut(buf, take),
                        None | Some(Oversize::Reading) => {
                            self.pos += take;
                            message.end = self.pos;
                        }
                    }
                    let remaining = remaining - take as u64;
                    self.frame = Frame::Data { remaining, fin };
                    self.settle_head(buf, remaining == 0 && fin);
                    if remaining > 0 {
                        return Ok(None);
                    }
                    self.frame = Frame::Header;
                    if fin {
                        return self.finish_message().map(Some);
                    }
                }
            }
        }
    }

    fn begin_frame(
        &mut self,
        buf: &mut [u8],
        header: Header,
        header_len: usize,
    ) -> Result<(), WsError> {
        let capacity = Receiver::max_message_len(buf.len()) as u64;
        match (header.opcode, &mut self.message) {
            (opcode @ (Opcode::Close | Opcode::Ping | Opcode::Pong), _) => {
                self.cut(buf, header_len);
                self.control_len = 0;
                // At most 125: checked by the header parser.
                self.frame = Frame::Control {
                    opcode,
                    len: header.len as u8,
                };
                return Ok(());
            }
            (Opcode::Continuation, None) => return Err(WsError::UnexpectedContinuation),
            (Opcode::Text | Opcode::Binary, Some(_)) => return Err(WsError::ExpectedContinuation),
            (Opcode::Continuation, Some(message)) => {
                message.total = message.total.saturating_add(header.len);
                self.cut(buf, header_len);
            }
            (opcode, message @ None) => {
                self.pos += header_len;
                *message = Some(Assembly {
                    text: opcode == Opcode::Text,
                    start: self.pos,
                    end: self.pos,
                    total: header.len,
                    oversize: None,
                });
            }
        }
        if let Some(message) = &mut self.message {
            if message.total > capacity && message.oversize.is_none() {
                message.oversize = Some(Oversize::Reading);
            }
        }
        self.frame = Frame::Data {
            remaining: header.len,
            fin: header.fin,
        };
        Ok(())
    }

    /// For an oversized message still collecting its first bytes: settles the head once they
    /// say enough, the buffer is full, or the message ended, and drops what was collected.
    fn settle_head(&mut self, buf: &mut [u8], message_ended: bool) {
        let Some(message) = &mut self.message else {
            return;
        };
        if message.oversize != Some(Oversize::Reading) {
            return;
        }
        let collected = message.end - message.start;
        // The head is read from at most this many first bytes, however many arrived at once,
        // so that how the bytes were cut never changes the answer.
        let window = Receiver::max_message_len(buf.len());
        let prefix = &buf[message.start..message.start + collected.min(window)];
        // Only a final answer may be taken from fewer bytes than the window: a head cut short,
        // or waiting behind a `d` that may close within the window, is settled once the window
        // is full (or the message ended), so the answer depends on the window's bytes alone.
        let head = match head::scan(message.text, prefix) {
            HeadScan::Known(head) => Some(head),
            HeadScan::Unknown => None,
            HeadScan::NeedMore | HeadScan::BehindData if message_ended || collected >= window => {
                None
            }
            HeadScan::NeedMore | HeadScan::BehindData => return,
        };
        message.oversize = Some(Oversize::Dropping(head));
        let start = message.start;
        message.end = start;
        // Nothing stays of the payload: move what was read behind it down.
        buf.copy_within(start + collected..self.filled, start);
        self.filled -= collected;
        self.pos -= collected;
    }

    fn finish_message(&mut self) -> Result<Incoming, WsError> {
        let message = self.message.take().ok_or(WsError::UnexpectedContinuation)?;
        Ok(match message.oversize {
            Some(Oversize::Dropping(head)) => Incoming::Oversized {
                size: message.total,
                head,
            },
            // Settled when the message ended: unreachable in practice, handled anyway.
            Some(Oversize::Reading) => Incoming::Oversized {
                size: message.total,
                head: None,
            },
            None => {
                let range = message.start..message.end;
                self.held = Some(range.clone());
                Incoming::Message {
                    text: message.text,
                    range,
                }
            }
        })
    }

    /// Removes `n` bytes at the parse position that belong to no message.
    fn cut(&mut self, buf: &mut [u8], n: usize) {
        if self.message.is_some() {
            // Between fragments: close the gap so the payload stays contiguous.
            buf.copy_within(self.pos + n..self.filled, self.pos);
            self.filled -= n;
        } else {
            self.pos += n;
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    use super::*;

    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = std::vec![(if fin { 0x80 } else { 0 }) | opcode];
        match payload.len() {
            len @ 0..=125 => out.push(len as u8),
            len @ 126..=65535 => {
                out.push(126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                out.push(127);
                out.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(payload);
        out
    }

    /// Feeds `wire` in chunks of `chunk` bytes and collects what comes out, copying messages.
    fn run(buf: &mut [u8], wire: &[u8], chunk: usize) -> Vec<std::string::String> {
        let mut rx = Receiver::new();
        let mut out = Vec::new();
        let mut fed = 0;
        loop {
            loop {
                match rx.poll(buf).unwrap() {
                    None => break,
                    Some(Incoming::Message { range, .. }) => {
                        out.push(std::string::String::from_utf8(buf[range].to_vec()).unwrap());
                        rx.release();
                    }
                    Some(Incoming::Oversized { size, head }) => out.push(std::format!(
                        "oversized {size} {:?}",
                        head.map(|h| (h.op.to_u8(), h.seq))
                    )),
                    Some(Incoming::Ping) => out.push(std::format!(
                        "ping {}",
                        std::str::from_utf8(rx.control_payload()).unwrap()
                    )),
                    Some(Incoming::Pong) => out.push("pong".into()),
                    Some(Incoming::Close(code)) => out.push(std::format!("close {code:?}")),
                }
            }
            if fed == wire.len() {
                return out;
            }
            let space = rx.read_space(buf);
            let n = chunk.min(space.len()).min(wire.len() - fed);
            assert!(n > 0, "no room to read");
            space[..n].copy_from_slice(&wire[fed..fed + n]);
            rx.filled(n);
            fed += n;
        }
    }

    #[test]
    fn messages_fragments_and_interleaved_controls_come_out_whole_at_every_chunking() {
        let mut wire = frame(true, 1, b"one");
        wire.extend(frame(false, 1, b"tw"));
        wire.extend(frame(false, 0, b"o-"));
        wire.extend(frame(true, 9, b"beat"));
        wire.extend(frame(true, 0, b"parts"));
        wire.extend(frame(true, 10, b""));
        wire.extend(frame(true, 8, &[0x0f, 0xa0, b'b', b'y', b'e']));
        for chunk in 1..=wire.len() {
            let mut buf = [0u8; 64];
            assert_eq!(
                run(&mut buf, &wire, chunk),
                ["one", "ping beat", "two-parts", "pong", "close Some(4000)"],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn a_message_three_times_the_buffer_is_skipped_with_its_head_and_the_next_one_arrives() {
        let mut big = std::string::String::from(r#"{"t":"GUILD_CREATE","s":5,"op":0,"d":{"x":""#);
        big.push_str(&"a".repeat(3 * 256));
        big.push_str(r#""}}"#);
        let mut wire = frame(true, 1, big.as_bytes());
        wire.extend(frame(true, 1, br#"{"t":"A","s":6,"op":0,"d":1}"#));
        for chunk in [1, 7, 100, 1000] {
            let mut buf = [0u8; 256];
            assert_eq!(
                run(&mut buf, &wire, chunk),
                [
                    std::format!("oversized {} Some((0, Some(5)))", big.len()),
                    r#"{"t":"A","s":6,"op":0,"d":1}"#.into()
                ]
            );
        }
    }

    #[test]
    fn an_oversized_message_in_fragments_whose_head_is_unreadable_says_so() {
        let body = std::format!(r#"{{"d":"{}","t":"A","s":1,"op":0}}"#, "z".repeat(300));
        let mut wire = frame(false, 1, &body.as_bytes()[..100]);
        wire.extend(frame(true, 0, &body.as_bytes()[100..]));
        let mut buf = [0u8; 128];
        assert_eq!(
            run(&mut buf, &wire, 50),
            [std::format!("oversized {} None", body.len())]
        );
    }

    /// Found by the `websocket` fuzz target: a prefix ending inside a short `d` was taken as
    /// final (head unknown) when the bytes came in small pieces, while read whole, `d` closed
    /// within the window and the head behind it was read.
    #[test]
    fn a_short_data_before_the_head_is_read_the_same_at_every_chunking() {
        let body = std::format!(
            r#"{{"d":{{"heartbeat_interval":41250}},"t":null,"s":1,"op":0}}{}"#,
            " ".repeat(200)
        );
        let wire = frame(true, 1, body.as_bytes());
        for chunk in 1..=wire.len() {
            let mut buf = [0u8; 96];
            assert_eq!(
                run(&mut buf, &wire, chunk),
                [std::format!("oversized {} Some((0, Some(1)))", body.len())],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn framing_errors_are_refused() {
        let mut buf = [0u8; 64];
        let mut rx = Receiver::new();
        let wire = frame(true, 0, b"x");
        rx.read_space(&mut buf)[..wire.len()].copy_from_slice(&wire);
        rx.filled(wire.len());
        assert_eq!(rx.poll(&mut buf), Err(WsError::UnexpectedContinuation));

        let mut rx = Receiver::new();
        let mut wire = frame(false, 1, b"x");
        wire.extend(frame(true, 1, b"y"));
        rx.read_space(&mut buf)[..wire.len()].copy_from_slice(&wire);
        rx.filled(wire.len());
        assert_eq!(rx.poll(&mut buf), Err(WsError::ExpectedContinuation));

        let mut rx = Receiver::new();
        let wire = frame(true, 8, &[0x03]);
        rx.read_space(&mut buf)[..wire.len()].copy_from_slice(&wire);
        rx.filled(wire.len());
        assert_eq!(rx.poll(&mut buf), Err(WsError::BadClosePayload));
    }
}
