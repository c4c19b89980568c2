//! Entry points for the decompression fuzz targets in `fuzz/`; not part of the API.
//!
//! The input is one connection's worth of binary messages: a first byte picks the output limit,
//! then each message is a two-byte little-endian length followed by that many bytes (the last
//! one takes whatever is left). Every message goes through one fresh `Inflater`, as the
//! shard's would, including after an error (the shard reports a malformed message and reads on).
#![cfg(any(feature = "zlib", feature = "zstd"))]

use discord_gateway::session::Compression;

use crate::shard::payloads::PayloadBuffer;
use crate::transport::inflate::{InflateError, Inflater};

/// Output limits small enough to be hit, and the 4096-byte boundary where the zlib buffer's
/// growth step changes.
const LIMITS: [usize; 6] = [1, 64, 1000, 4096, 10_000, 65_536];

/// Feeds arbitrary bytes to a zlib-stream context.
///
/// # Panics
/// When inflating panics, produces more than the limit, or reports a limit other than its own.
#[cfg(feature = "zlib")]
pub fn zlib_stream(data: &[u8]) {
    connection(Compression::ZlibStream, data);
}

/// Feeds arbitrary bytes to a zstd-stream context.
///
/// # Panics
/// As `zlib_stream`.
#[cfg(feature = "zstd")]
pub fn zstd_stream(data: &[u8]) {
    connection(Compression::ZstdStream, data);
}

fn connection(compression: Compression, data: &[u8]) {
    let Some((&pick, mut rest)) = data.split_first() else {
        return;
    };
    let limit = LIMITS[usize::from(pick) % LIMITS.len()];
    let mut inflater = Inflater::new(compression).expect("the feature is compiled in");
    let mut out = PayloadBuffer::new();
    while !rest.is_empty() {
        let len = match rest {
            [low, high, tail @ ..] => {
                rest = tail;
                usize::from(u16::from_le_bytes([*low, *high]))
            }
            _ => core::mem::take(&mut rest).len(),
        };
        let (message, tail) = rest.split_at(len.min(rest.len()));
        rest = tail;
        match inflater.push(message, &mut out, limit) {
            Ok(true) => {
                let payload = out.finish();
                assert!(
                    payload.len() <= limit,
                    "{} bytes out, limit {limit}",
                    payload.len()
                );
            }
            Ok(false) | Err(InflateError::Corrupt(_)) => {}
            Err(InflateError::TooLarge { limit: reported }) => assert_eq!(reported, limit),
            Err(other) => panic!("{other}"),
        }
        assert!(
            out.written() <= limit,
            "{} bytes out, limit {limit}",
            out.written()
        );
    }
}
