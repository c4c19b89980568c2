//! Transport decompression: one context per connection, bounded output.

use std::fmt;

use discord_gateway::session::Compression;

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

/// The zlib-stream flush marker that ends every payload.
#[cfg(feature = "zlib")]
const ZLIB_SUFFIX: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// A connection's decompression context.
pub(crate) enum Inflater {
    /// No transport compression: binary messages are passed through.
    None,
    #[cfg(feature = "zlib")]
    Zlib {
        context: Box<flate2::Decompress>,
        /// Compressed bytes of a payload split across several messages.
        pending: Vec<u8>,
    },
    #[cfg(feature = "zstd")]
    Zstd(Box<zstd::stream::raw::Decoder<'static>>),
}

impl fmt::Debug for Inflater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "Inflater::None",
            #[cfg(feature = "zlib")]
            Self::Zlib { .. } => "Inflater::Zlib",
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
            Compression::ZlibStream => Ok(Self::Zlib {
                context: Box::new(flate2::Decompress::new(true)),
                pending: Vec::new(),
            }),
            #[cfg(feature = "zstd")]
            Compression::ZstdStream => zstd::stream::raw::Decoder::new()
                .map(|decoder| Self::Zstd(Box::new(decoder)))
                .map_err(|error| InflateError::Corrupt(error.to_string())),
            Compression::None => Ok(Self::None),
            #[allow(unreachable_patterns)]
            other => Err(InflateError::Unsupported(other)),
        }
    }

    /// Feeds one binary message. Returns `Ok(true)` when `out` holds a whole payload, `Ok(false)`
    /// when more messages are needed (zlib-stream payloads may span several).
    pub(crate) fn push(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<bool, InflateError> {
        out.clear();
        match self {
            Self::None => {
                if input.len() > limit {
                    return Err(InflateError::TooLarge { limit });
                }
                out.extend_from_slice(input);
                Ok(true)
            }
            #[cfg(feature = "zlib")]
            Self::Zlib { context, pending } => {
                // The common case, a whole payload in one message, inflates without a copy.
                if pending.is_empty() && input.ends_with(&ZLIB_SUFFIX) {
                    return inflate_zlib(context, input, out, limit).map(|()| true);
                }
                if pending.len() + input.len() > limit {
                    pending.clear();
                    return Err(InflateError::TooLarge { limit });
                }
                pending.extend_from_slice(input);
                // Checked on the whole buffer, so a suffix split across messages is still seen.
                if !pending.ends_with(&ZLIB_SUFFIX) {
                    return Ok(false);
                }
                let result = inflate_zlib(context, pending, out, limit);
                pending.clear();
                result.map(|()| true)
            }
            #[cfg(feature = "zstd")]
            Self::Zstd(decoder) => inflate_zstd(decoder, input, out, limit).map(|()| true),
        }
    }
}

#[cfg(feature = "zlib")]
fn inflate_zlib(
    context: &mut flate2::Decompress,
    mut input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), InflateError> {
    use flate2::{FlushDecompress, Status};
    loop {
        if out.len() == out.capacity() {
            if out.len() >= limit {
                return Err(InflateError::TooLarge { limit });
            }
            let grow = out
                .capacity()
                .max(input.len() * 4)
                .clamp(4096, limit - out.len());
            out.reserve_exact(grow);
        }
        let (in_before, out_before) = (context.total_in(), out.len());
        let status = context
            .decompress_vec(input, out, FlushDecompress::Sync)
            .map_err(|error| InflateError::Corrupt(error.to_string()))?;
        let consumed = usize::try_from(context.total_in() - in_before).unwrap_or(input.len());
        input = &input[consumed.min(input.len())..];
        if status == Status::StreamEnd {
            return Ok(());
        }
        // All input taken and room left over: the sync flush has been fully written out.
        if input.is_empty() && out.len() < out.capacity() {
            return Ok(());
        }
        if consumed == 0 && out.len() == out_before && out.len() < out.capacity() {
            return Err(InflateError::Corrupt("the zlib stream stalled".to_owned()));
        }
    }
}

#[cfg(feature = "zstd")]
fn inflate_zstd(
    decoder: &mut zstd::stream::raw::Decoder<'static>,
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), InflateError> {
    use zstd::stream::raw::{InBuffer, Operation, OutBuffer};
    let mut source = InBuffer::around(input);
    let mut chunk = [0u8; 16 * 1024];
    // Keep going until the input is used up and a pass produces nothing more: the frame stays
    // open for the whole connection, so the return value is not an end-of-payload marker.
    loop {
        let mut sink = OutBuffer::around(&mut chunk[..]);
        decoder
            .run(&mut source, &mut sink)
            .map_err(|error| InflateError::Corrupt(error.to_string()))?;
        let produced = sink.pos();
        if out.len() + produced > limit {
            return Err(InflateError::TooLarge { limit });
        }
        out.extend_from_slice(&chunk[..produced]);
        if source.pos() == input.len() && produced < chunk.len() {
            return Ok(());
        }
    }
}
