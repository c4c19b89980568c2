//! Transport decompression: one context per connection, bounded output.

use std::fmt;

use discord_gateway::session::Compression;

use crate::shard::payloads::PayloadBuffer;

/// Why a compressed message could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InflateError {
    /// The message would inflate past the configured limit (a decompression bomb, or a limit
    /// set too low for this bot's guilds).
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The compressed stream is corrupt.
    Corrupt(String),
    /// The server sent compressed data this build cannot read (its feature is off).
    Unsupported(Compression),
}

impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { limit } => write!(f, "a message inflates past the {limit}-byte limit"),
            Self::Corrupt(why) => write!(f, "corrupt compressed stream: {why}"),
            Self::Unsupported(compression) => {
                write!(f, "{compression:?} support is not compiled in")
            }
        }
    }
}

impl std::error::Error for InflateError {}

/// How many first bytes of a payload over the limit are kept, for the core to read its head
/// from (`discord_gateway::codec::read_head`): Discord writes `t`, `s` and `op` in the first
/// few dozen.
pub(crate) const HEAD_PREFIX_LEN: usize = 4096;

/// The zlib-stream flush marker that ends every payload.
#[cfg(feature = "zlib")]
const ZLIB_SUFFIX: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// A connection's decompression context.
pub(crate) enum Inflater {
    /// No transport compression: binary messages are passed through.
    None,
    #[cfg(feature = "zlib")]
    Zlib(Box<ZlibStream>),
    #[cfg(feature = "zstd")]
    Zstd(Box<zstd::stream::raw::Decoder<'static>>),
}

/// A zlib-stream connection: one inflate context, and the payload being assembled.
#[cfg(feature = "zlib")]
pub(crate) struct ZlibStream {
    context: flate2::Decompress,
    /// Compressed bytes of a payload split across several messages.
    pending: Vec<u8>,
    /// An oversized payload is being skipped: its bytes go through the context (which must
    /// see every byte of the stream to stay in sync) and its output is thrown away.
    skipping: bool,
    /// The last bytes of the stream, to see a flush marker split across messages while skipping.
    tail: [u8; 3],
}

impl fmt::Debug for Inflater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "Inflater::None",
            #[cfg(feature = "zlib")]
            Self::Zlib(_) => "Inflater::Zlib",
            #[cfg(feature = "zstd")]
            Self::Zstd(_) => "Inflater::Zstd",
        })
    }
}

impl Inflater {
    /// A fresh context for a new connection.
    pub(crate) fn new(compression: Compression) -> Result<Self, InflateError> {
        match compression {
            #[cfg(feature = "zlib")]
            Compression::ZlibStream => Ok(Self::Zlib(Box::new(ZlibStream {
                context: flate2::Decompress::new(true),
                pending: Vec::new(),
                skipping: false,
                tail: [0xAA; 3],
            }))),
            #[cfg(feature = "zstd")]
            Compression::ZstdStream => zstd::stream::raw::Decoder::new()
                .map(|decoder| Self::Zstd(Box::new(decoder)))
                .map_err(|error| InflateError::Corrupt(error.to_string())),
            Compression::None => Ok(Self::None),
            #[allow(unreachable_patterns)]
            other => Err(InflateError::Unsupported(other)),
        }
    }

    /// Feeds one binary message. Returns `Ok(true)` when `out` holds a whole payload (take it
    /// with [`PayloadBuffer::finish`]), `Ok(false)` when more messages are needed (zlib-stream
    /// payloads may span several).
    ///
    /// A payload that inflates past `limit` is skipped whole: `TooLarge` is returned once, when
    /// it ends, with its first bytes (up to [`HEAD_PREFIX_LEN`], and `limit`) left in `out` for
    /// the head to be read from; the context stays in step with the stream, so the connection
    /// carries on. `Corrupt` means the stream cannot be read any further.
    pub(crate) fn push(
        &mut self,
        input: &[u8],
        out: &mut PayloadBuffer,
        limit: usize,
    ) -> Result<bool, InflateError> {
        match self {
            Self::None => {
                out.discard();
                if input.len() > limit {
                    let keep = &input[..HEAD_PREFIX_LEN.min(limit)];
                    out.room(keep.len())[..keep.len()].copy_from_slice(keep);
                    out.advance(keep.len());
                    return Err(InflateError::TooLarge { limit });
                }
                out.room(input.len())[..input.len()].copy_from_slice(input);
                out.advance(input.len());
                Ok(true)
            }
            #[cfg(feature = "zlib")]
            Self::Zlib(stream) => stream.push(input, out, limit),
            #[cfg(feature = "zstd")]
            Self::Zstd(decoder) => {
                out.discard();
                inflate_zstd(decoder, input, out, limit).map(|()| true)
            }
        }
    }
}

#[cfg(feature = "zlib")]
impl ZlibStream {
    fn push(
        &mut self,
        input: &[u8],
        out: &mut PayloadBuffer,
        limit: usize,
    ) -> Result<bool, InflateError> {
        let ends_payload = self.ends_payload(input);
        self.remember_tail(input);
        if !self.skipping {
            // While skipping, `out` holds the first bytes of the skipped payload.
            out.discard();
        }
        if self.skipping {
            discard_zlib(&mut self.context, input, out, limit)?;
            if ends_payload {
                self.skipping = false;
                return Err(InflateError::TooLarge { limit });
            }
            return Ok(false);
        }
        // The common case, a whole payload in one message, inflates without a copy.
        if self.pending.is_empty() && ends_payload {
            return inflate_zlib(&mut self.context, input, out, limit).map(|()| true);
        }
        if self.pending.len() + input.len() > limit {
            // Compressed, it is already over the limit: skip it, still feeding the context.
            let pending = std::mem::take(&mut self.pending);
            discard_zlib(&mut self.context, &pending, out, limit)?;
            discard_zlib(&mut self.context, input, out, limit)?;
            if ends_payload {
                return Err(InflateError::TooLarge { limit });
            }
            self.skipping = true;
            return Ok(false);
        }
        self.pending.extend_from_slice(input);
        if !ends_payload {
            return Ok(false);
        }
        let pending = std::mem::take(&mut self.pending);
        let result = inflate_zlib(&mut self.context, &pending, out, limit);
        // Keep the allocation for the next split payload.
        self.pending = pending;
        self.pending.clear();
        result.map(|()| true)
    }

    /// Whether the stream, once `input` is appended, ends with the sync-flush marker (which may
    /// be split across messages).
    fn ends_payload(&self, input: &[u8]) -> bool {
        // An empty message adds nothing to the stream, so it cannot end a payload (and the
        // marker cannot be taken from the tail alone: it already ended the last one).
        if input.is_empty() {
            return false;
        }
        if input.len() >= ZLIB_SUFFIX.len() {
            return input.ends_with(&ZLIB_SUFFIX);
        }
        let mut last = [0u8; 4];
        let from_tail = ZLIB_SUFFIX.len() - input.len();
        last[..from_tail].copy_from_slice(&self.tail[self.tail.len() - from_tail..]);
        last[from_tail..].copy_from_slice(input);
        last == ZLIB_SUFFIX
    }

    fn remember_tail(&mut self, input: &[u8]) {
        let keep = input.len().min(self.tail.len());
        self.tail.rotate_left(keep);
        let at = self.tail.len() - keep;
        self.tail[at..].copy_from_slice(&input[input.len() - keep..]);
    }
}

/// Feeds `input` through the context and throws the output away (part of a skipped payload),
/// but for the payload's first bytes (up to [`HEAD_PREFIX_LEN`], and never more than `limit`,
/// what `out` may ever hold), which stay in `out`.
#[cfg(feature = "zlib")]
fn discard_zlib(
    context: &mut flate2::Decompress,
    input: &[u8],
    out: &mut PayloadBuffer,
    limit: usize,
) -> Result<(), InflateError> {
    match inflate_zlib(context, input, out, HEAD_PREFIX_LEN.min(limit)) {
        Ok(()) | Err(InflateError::TooLarge { .. }) => Ok(()),
        Err(error) => Err(error),
    }
}

/// Inflates `input` into `out`, up to `limit` bytes. Past the limit the rest is still inflated
/// (so the context stays in step with the stream) but thrown away, but for the first
/// [`HEAD_PREFIX_LEN`] bytes, and `TooLarge` is returned.
#[cfg(feature = "zlib")]
fn inflate_zlib(
    context: &mut flate2::Decompress,
    mut input: &[u8],
    out: &mut PayloadBuffer,
    limit: usize,
) -> Result<(), InflateError> {
    use flate2::{FlushDecompress, Status};
    let mut overflowed = false;
    loop {
        let (window, consumed, produced, status) = {
            let window = output_window(out, overflowed, limit, 1024);
            let (in_before, out_before) = (context.total_in(), context.total_out());
            let status = context
                .decompress(input, window, FlushDecompress::Sync)
                .map_err(|error| InflateError::Corrupt(error.to_string()))?;
            let consumed = usize::try_from(context.total_in() - in_before).unwrap_or(input.len());
            input = &input[consumed.min(input.len())..];
            let produced = usize::try_from(context.total_out() - out_before).unwrap_or(usize::MAX);
            (window.len(), consumed, produced, status)
        };
        overflowed = keep_output(out, overflowed, limit, produced);
        // All input taken and room left over: the sync flush has been fully written out.
        let had_room = produced < window;
        if status == Status::StreamEnd || (input.is_empty() && had_room) {
            break;
        }
        if consumed == 0 && produced == 0 && had_room {
            return Err(InflateError::Corrupt("the zlib stream stalled".to_owned()));
        }
    }
    if overflowed {
        return Err(InflateError::TooLarge { limit });
    }
    Ok(())
}

#[cfg(feature = "zstd")]
fn inflate_zstd(
    decoder: &mut zstd::stream::raw::Decoder<'static>,
    input: &[u8],
    out: &mut PayloadBuffer,
    limit: usize,
) -> Result<(), InflateError> {
    use zstd::stream::raw::{InBuffer, Operation, OutBuffer};
    let mut source = InBuffer::around(input);
    let mut overflowed = false;
    // Keep going until the input is used up and a pass leaves room in the output: the frame
    // stays open for the whole connection, so the return value is no end-of-payload marker.
    loop {
        let (window, produced) = {
            let window = output_window(out, overflowed, limit, 1024);
            let len = window.len();
            let mut sink = OutBuffer::around(window);
            decoder
                .run(&mut source, &mut sink)
                .map_err(|error| InflateError::Corrupt(error.to_string()))?;
            (len, sink.pos())
        };
        overflowed = keep_output(out, overflowed, limit, produced);
        if source.pos() == input.len() && produced < window {
            break;
        }
    }
    if overflowed {
        return Err(InflateError::TooLarge { limit });
    }
    Ok(())
}

/// Where a decompressor writes next: the room after the payload, cut to one byte past `limit`
/// so that going over is seen; once over, any room (its output is thrown away).
#[cfg(any(feature = "zlib", feature = "zstd"))]
fn output_window(
    out: &mut PayloadBuffer,
    overflowed: bool,
    limit: usize,
    step: usize,
) -> &mut [u8] {
    if overflowed {
        return out.room(step);
    }
    // Not over: `written <= limit`, so the window is at least one byte.
    let allowed = limit + 1 - out.written();
    let room = out.room(step.min(allowed));
    let len = room.len().min(allowed);
    &mut room[..len]
}

/// Counts `produced` bytes as payload unless the limit has been passed; returns whether it has.
#[cfg(any(feature = "zlib", feature = "zstd"))]
fn keep_output(out: &mut PayloadBuffer, overflowed: bool, limit: usize, produced: usize) -> bool {
    if overflowed {
        return true;
    }
    out.advance(produced);
    if out.written() > limit {
        // The first bytes stay, for the head to be read from.
        out.truncate(HEAD_PREFIX_LEN.min(limit));
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::{InflateError, Inflater};
    use crate::shard::payloads::PayloadBuffer;
    use discord_gateway::session::Compression;

    #[cfg(feature = "zlib")]
    fn zlib_messages(payloads: &[&[u8]]) -> Vec<Vec<u8>> {
        use flate2::{Compress, Compression as Level, FlushCompress};
        let mut compress = Compress::new(Level::default(), true);
        payloads
            .iter()
            .map(|payload| {
                let mut out = Vec::with_capacity(payload.len() + 1024);
                compress
                    .compress_vec(payload, &mut out, FlushCompress::Sync)
                    .unwrap();
                out
            })
            .collect()
    }

    /// Bytes that do not compress, so the compressed payload itself outgrows the limit.
    fn noise(len: usize) -> Vec<u8> {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect()
    }

    #[cfg(feature = "zlib")]
    #[test]
    fn an_oversized_zlib_payload_is_skipped_and_the_stream_goes_on() {
        // Compressible (skipped when inflated) and incompressible (skipped while assembling).
        for big in [vec![b'x'; 100_000], noise(5_000)] {
            skips_one_oversized_payload(&big);
        }
    }

    #[cfg(feature = "zlib")]
    fn skips_one_oversized_payload(big: &[u8]) {
        let messages = zlib_messages(&[b"first", big, b"after"]);
        for split in [usize::MAX, 7, 3] {
            let mut inflater = Inflater::new(Compression::ZlibStream).unwrap();
            let mut out = PayloadBuffer::new();
            let mut results = Vec::new();
            for message in &messages {
                for piece in message.chunks(split.min(message.len())) {
                    match inflater.push(piece, &mut out, 1_000) {
                        Ok(true) => results.push(Ok(out.finish().to_vec())),
                        Ok(false) => {}
                        Err(error) => results.push(Err(error)),
                    }
                }
            }
            assert_eq!(
                results,
                [
                    Ok(b"first".to_vec()),
                    Err(InflateError::TooLarge { limit: 1_000 }),
                    Ok(b"after".to_vec())
                ],
                "split {split}"
            );
        }
    }

    #[cfg(feature = "zlib")]
    #[test]
    fn an_empty_zlib_message_is_no_payload_and_breaks_nothing() {
        // Found by the zlib_stream fuzz target: an empty binary message underflowed the
        // split-marker check (4 - 0 bytes wanted from a 3-byte tail) and panicked.
        let messages = zlib_messages(&[b"first", b"second"]);
        let mut inflater = Inflater::new(Compression::ZlibStream).unwrap();
        let mut out = PayloadBuffer::new();
        assert_eq!(inflater.push(&[], &mut out, 1_000), Ok(false));
        assert_eq!(inflater.push(&messages[0], &mut out, 1_000), Ok(true));
        assert_eq!(out.payload(), b"first");
        assert_eq!(inflater.push(&[], &mut out, 1_000), Ok(false));
        let (head, marker_end) = messages[1].split_at(messages[1].len() - 1);
        assert_eq!(inflater.push(head, &mut out, 1_000), Ok(false));
        assert_eq!(inflater.push(&[], &mut out, 1_000), Ok(false));
        assert_eq!(inflater.push(marker_end, &mut out, 1_000), Ok(true));
        assert_eq!(out.payload(), b"second");
    }

    #[cfg(feature = "zlib")]
    #[test]
    fn a_payload_just_under_the_limit_inflates_without_a_panic() {
        for size in [4_095usize, 4_096, 4_097, 10_000] {
            let payload = vec![b'y'; size];
            let messages = zlib_messages(&[&payload]);
            let mut inflater = Inflater::new(Compression::ZlibStream).unwrap();
            let mut out = PayloadBuffer::new();
            let result = inflater.push(&messages[0], &mut out, 4_096 + 10);
            if size <= 4_106 {
                assert_eq!(result, Ok(true), "{size}");
                assert_eq!(out.payload(), payload);
            } else {
                assert_eq!(result, Err(InflateError::TooLarge { limit: 4_106 }));
            }
        }
    }

    #[cfg(feature = "zstd")]
    #[test]
    fn an_oversized_zstd_payload_is_skipped_and_the_stream_goes_on() {
        use zstd::stream::raw::{Encoder, InBuffer, Operation, OutBuffer};
        let mut encoder = Encoder::new(3).unwrap();
        let big = vec![b'z'; 200_000];
        let mut messages = Vec::new();
        for payload in [b"first".as_slice(), &big, b"after"] {
            let mut message = Vec::new();
            let mut input = InBuffer::around(payload);
            let mut buf = vec![0u8; 1 << 18];
            loop {
                let mut output = OutBuffer::around(&mut buf[..]);
                encoder.run(&mut input, &mut output).unwrap();
                let n = output.pos();
                message.extend_from_slice(&buf[..n]);
                if input.pos() == payload.len() {
                    break;
                }
            }
            let mut output = OutBuffer::around(&mut buf[..]);
            encoder.flush(&mut output).unwrap();
            let n = output.pos();
            message.extend_from_slice(&buf[..n]);
            messages.push(message);
        }
        let mut inflater = Inflater::new(Compression::ZstdStream).unwrap();
        let mut out = PayloadBuffer::new();
        assert_eq!(inflater.push(&messages[0], &mut out, 1_000), Ok(true));
        assert_eq!(out.payload(), b"first");
        assert_eq!(
            inflater.push(&messages[1], &mut out, 1_000),
            Err(InflateError::TooLarge { limit: 1_000 })
        );
        assert_eq!(inflater.push(&messages[2], &mut out, 1_000), Ok(true));
        assert_eq!(out.payload(), b"after");
    }

    #[cfg(feature = "zlib")]
    #[test]
    fn a_payload_skipped_while_compressed_never_keeps_more_than_the_limit() {
        // Found by the zlib_stream fuzz target: a payload over a 1-byte limit while still
        // compressed and split across messages kept its first 4,096 inflated bytes, more than
        // the limit the output may ever hold.
        let payload = br#"{"t":"MESSAGE_CREATE","s":7,"op":0,"d":{"content":"hello"}}"#.repeat(100);
        let messages = zlib_messages(&[&payload, b"after"]);
        for limit in [1usize, 64, 1_000] {
            let mut inflater = Inflater::new(Compression::ZlibStream).unwrap();
            let mut out = PayloadBuffer::new();
            let (head, tail) = messages[0].split_at(messages[0].len() / 2);
            let first = inflater.push(head, &mut out, limit);
            assert!(
                out.written() <= limit,
                "limit {limit}: {} kept",
                out.written()
            );
            let second = inflater.push(tail, &mut out, limit);
            assert_eq!(
                (first, second),
                (Ok(false), Err(InflateError::TooLarge { limit })),
                "limit {limit}"
            );
            assert!(
                out.written() <= limit,
                "limit {limit}: {} kept",
                out.written()
            );
            assert_eq!(out.payload(), &payload[..limit], "the first bytes stay");
            let after = inflater.push(&messages[1], &mut out, limit);
            if limit >= 5 {
                assert_eq!(after, Ok(true));
                assert_eq!(out.payload(), b"after");
            }
        }
    }
}
