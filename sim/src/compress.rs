//! Transport compression, one context per connection (protocol reference §11).
//!
//! - zlib-stream: one deflate stream for the connection's life, every payload ends with a sync
//!   flush (`00 00 ff ff`); a payload may be split over several websocket messages, and clients
//!   must buffer until the suffix.
//! - zstd-stream: one zstd frame for the connection's life; each payload is flushed so that one
//!   websocket message decodes to exactly one payload.

use std::io;

use async_tungstenite::tungstenite::{Bytes, Message, Utf8Bytes};
use flate2::{Compress, Compression, FlushCompress};
use zstd::stream::raw::{Encoder, InBuffer, Operation, OutBuffer};

/// The `compress=` query values the sim understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    None,
    ZlibStream,
    ZstdStream,
}

impl Mode {
    /// Parses the `compress` query value; `None` means the value is not supported.
    pub(crate) fn from_query(value: Option<&str>) -> Option<Self> {
        match value {
            None | Some("") => Some(Self::None),
            Some("zlib-stream") => Some(Self::ZlibStream),
            Some("zstd-stream") => Some(Self::ZstdStream),
            Some(_) => None,
        }
    }
}

/// A connection's compression context.
pub(crate) enum Compressor {
    None,
    Zlib {
        ctx: Box<Compress>,
        split: Option<usize>,
    },
    Zstd(Box<Encoder<'static>>),
}

const SYNC_FLUSH_SUFFIX: [u8; 4] = [0, 0, 0xff, 0xff];

impl Compressor {
    pub(crate) fn new(mode: Mode, zlib_split: Option<usize>) -> io::Result<Self> {
        Ok(match mode {
            Mode::None => Self::None,
            Mode::ZlibStream => Self::Zlib {
                ctx: Box::new(Compress::new(Compression::default(), true)),
                split: zlib_split.filter(|n| *n > 0),
            },
            Mode::ZstdStream => Self::Zstd(Box::new(Encoder::new(3)?)),
        })
    }

    /// Turns one ETF payload into the websocket message(s) that carry it: binary frames, whole
    /// when uncompressed.
    pub(crate) fn encode_binary(&mut self, bytes: Vec<u8>) -> io::Result<Vec<Message>> {
        match self {
            Self::None => Ok(vec![Message::Binary(Bytes::from(bytes))]),
            Self::Zlib { ctx, split } => {
                let out = zlib_sync(ctx, &bytes)?;
                Ok(split_messages(out, *split))
            }
            Self::Zstd(enc) => Ok(vec![Message::Binary(Bytes::from(zstd_flush(enc, &bytes)?))]),
        }
    }

    /// Turns one payload into the websocket message(s) that carry it.
    pub(crate) fn encode(&mut self, text: Utf8Bytes) -> io::Result<Vec<Message>> {
        match self {
            Self::None => Ok(vec![Message::Text(text)]),
            Self::Zlib { ctx, split } => {
                let out = zlib_sync(ctx, text.as_bytes())?;
                Ok(split_messages(out, *split))
            }
            Self::Zstd(enc) => Ok(vec![Message::Binary(Bytes::from(zstd_flush(
                enc,
                text.as_bytes(),
            )?))]),
        }
    }
}

fn zlib_sync(ctx: &mut Compress, input: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() / 3 + 64);
    let start = ctx.total_in();
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.capacity().max(256));
        }
        let consumed = usize::try_from(ctx.total_in() - start).unwrap_or(input.len());
        ctx.compress_vec(&input[consumed..], &mut out, FlushCompress::Sync)
            .map_err(io::Error::other)?;
        let consumed = usize::try_from(ctx.total_in() - start).unwrap_or(input.len());
        // The sync flush is complete once all input is in and deflate left output space unused.
        if consumed == input.len() && out.len() < out.capacity() {
            break;
        }
    }
    Ok(out)
}

/// Splits a flushed zlib payload into messages of about `split` bytes.
///
/// Clients detect the end of a payload per message ("shorter than 4 bytes or not ending in
/// `00 00 ff ff`: keep buffering") or on their whole buffer, so the last message must hold the
/// complete suffix and no earlier message (nor the buffer up to it) may end with it.
fn split_messages(out: Vec<u8>, split: Option<usize>) -> Vec<Message> {
    let Some(size) = split.filter(|s| out.len() > *s) else {
        return vec![Message::Binary(Bytes::from(out))];
    };
    let size = size.max(4);
    let bytes = Bytes::from(out);
    let len = bytes.len();
    let looks_complete = |start: usize, end: usize| {
        bytes[start..end].ends_with(&SYNC_FLUSH_SUFFIX)
            || bytes[..end].ends_with(&SYNC_FLUSH_SUFFIX)
    };
    let mut messages = Vec::new();
    let mut start = 0;
    while start < len {
        let mut end = (start + size).min(len);
        if end < len && len - end < 4 {
            end = len - 4;
        }
        if end <= start {
            end = len;
        }
        while end < len && looks_complete(start, end) {
            end += 1;
        }
        if end < len && len - end < 4 {
            end = len;
        }
        messages.push(Message::Binary(bytes.slice(start..end)));
        start = end;
    }
    messages
}

fn zstd_flush(enc: &mut Encoder<'static>, input: &[u8]) -> io::Result<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(input.len() / 3 + 64);
    let mut src = InBuffer::around(input);
    while src.pos() < input.len() {
        if out.len() == out.capacity() {
            out.reserve(out.capacity().max(256));
        }
        let pos = out.len();
        let mut dst = OutBuffer::around_pos(&mut out, pos);
        enc.run(&mut src, &mut dst)?;
    }
    loop {
        if out.len() == out.capacity() {
            out.reserve(out.capacity().max(256));
        }
        let pos = out.len();
        let mut dst = OutBuffer::around_pos(&mut out, pos);
        // Flush, not end: the frame stays open for the connection's next payload.
        if enc.flush(&mut dst)? == 0 {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Decompress, FlushDecompress};

    fn bytes(m: &Message) -> Vec<u8> {
        match m {
            Message::Binary(b) => b.to_vec(),
            other => panic!("expected binary, got {other:?}"),
        }
    }

    #[test]
    fn zlib_stream_round_trips_with_shared_context_and_splits() {
        let mut c = Compressor::new(Mode::ZlibStream, Some(7)).unwrap();
        let mut d = Decompress::new(true);
        for payload in ["{\"op\":10}", &"x".repeat(5000), "{\"op\":11}"] {
            let msgs = c.encode(Utf8Bytes::from(payload.to_owned())).unwrap();
            let mut buf = Vec::new();
            for (i, m) in msgs.iter().enumerate() {
                let b = bytes(m);
                let last = i == msgs.len() - 1;
                assert!(b.len() <= 11);
                assert_eq!(b.ends_with(&SYNC_FLUSH_SUFFIX), last);
                buf.extend(b);
                assert_eq!(buf.ends_with(&SYNC_FLUSH_SUFFIX), last);
            }
            assert!(
                payload.len() < 100 || msgs.len() > 1,
                "big payloads are split"
            );
            let mut out = Vec::with_capacity(payload.len() + 16);
            d.decompress_vec(&buf, &mut out, FlushDecompress::Sync)
                .unwrap();
            assert_eq!(out, payload.as_bytes());
        }
    }

    #[test]
    fn zstd_stream_one_message_per_payload() {
        let mut c = Compressor::new(Mode::ZstdStream, None).unwrap();
        let mut dec = zstd::stream::raw::Decoder::new().unwrap();
        for payload in ["{\"op\":10}", &"y".repeat(100_000)] {
            let msgs = c.encode(Utf8Bytes::from(payload.to_owned())).unwrap();
            assert_eq!(msgs.len(), 1);
            let input = bytes(&msgs[0]);
            let mut src = InBuffer::around(&input);
            let mut out: Vec<u8> = Vec::with_capacity(payload.len() + 1024);
            while src.pos() < input.len() {
                let pos = out.len();
                let mut dst = OutBuffer::around_pos(&mut out, pos);
                dec.run(&mut src, &mut dst).unwrap();
            }
            assert_eq!(out, payload.as_bytes());
        }
    }
}
