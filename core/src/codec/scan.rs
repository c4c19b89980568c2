//! Delimiting a skipped object or array 64 bytes at a time.
//!
//! The structural skip ([`super::json`]'s `skip_container`) only needs three things from the
//! bytes: where strings are (brackets inside them do not count), where brackets are, and whether
//! they pair up. This module finds all three for a 64-byte block at once, as bitmasks built with
//! plain 64-bit arithmetic (no `unsafe`, no SIMD intrinsics, so it runs the same everywhere):
//!
//! 1. each 8-byte word is compared against `"` and the brackets (and `\`, in the rare blocks
//!    that have one) with the exact zero-byte trick, and the per-byte flags are packed into one
//!    bit per byte;
//! 2. a block without backslashes (the common case) has only real quotes, so the bytes inside
//!    strings are the prefix XOR of the quote bits; a block with backslashes walks its quotes and
//!    backslashes in order instead (a backslash escapes the next byte inside a string and means
//!    nothing outside one, exactly as the byte-by-byte skip read it);
//! 3. the brackets outside strings are visited one by one to check pairing and depth.
//!
//! The result, and every error with its offset, is the same as the byte-by-byte loop it replaces.

use super::{DecodeError, MAX_DEPTH};

const BLOCK: usize = 64;
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// `0x80` in every byte of `x` that is zero, `0` elsewhere (exact: no borrow between bytes).
#[inline(always)]
const fn zero_bytes(x: u64) -> u64 {
    !(((x & !HIGH).wrapping_add(!HIGH)) | x) & HIGH
}

/// One bit per byte (bit `i` for byte `i`) from [`zero_bytes`] flags.
#[inline(always)]
const fn pack(flags: u64) -> u64 {
    (flags >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56
}

/// Bit `i` set when an odd number of bits `0..=i` of `x` are set.
#[inline(always)]
const fn prefix_xor(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
}

/// The quote and bracket-candidate bits of one block, and its backslash bits when
/// `backslashes` says it may hold one (a block before the next backslash does not).
#[inline(always)]
fn classify(block: &[u8; BLOCK], backslashes: bool) -> (u64, u64, u64) {
    let (mut quotes, mut slashes, mut brackets) = (0, 0, 0);
    for word in 0..BLOCK / 8 {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(&block[word * 8..word * 8 + 8]);
        let x = u64::from_le_bytes(raw);
        // With 0x20 set, `{` and `[` are 0x7B and `}` and `]` are 0x7D; ignoring bits 1 and 2
        // of the difference from 0x7B also lets `y`, `Y` and DEL through, one compare instead
        // of two. Those only ever sit inside strings in JSON, and the bracket loop skips any
        // that do not.
        let folded = (x | (ONES * 0x20)) ^ (ONES * 0x7B);
        let bracket = zero_bytes(folded & (ONES * 0xF9));
        let quote = zero_bytes(x ^ (ONES * u64::from(b'"')));
        let shift = 8 * word;
        quotes |= pack(quote) << shift;
        brackets |= pack(bracket) << shift;
        if backslashes {
            slashes |= pack(zero_bytes(x ^ (ONES * u64::from(b'\\')))) << shift;
        }
    }
    (quotes, slashes, brackets)
}

/// The offset of the first backslash at or after `from`, or `usize::MAX`.
fn next_backslash(bytes: &[u8], from: usize) -> usize {
    bytes
        .get(from..)
        .and_then(|rest| memchr::memchr(b'\\', rest))
        .map_or(usize::MAX, |i| from + i)
}

/// Where strings are, carried from block to block.
#[derive(Clone, Copy, Default)]
struct Strings {
    /// The block starts inside a string.
    inside: bool,
    /// The block's first byte is escaped (the previous block ended on an escaping backslash).
    escaped: bool,
}

impl Strings {
    /// The bits of bytes inside strings (from an opening quote up to, not including, its
    /// closing quote), updating the carry for the next block.
    #[inline(always)]
    fn mask(&mut self, quotes: u64, backslashes: u64) -> u64 {
        let real = if backslashes == 0 && !self.escaped {
            quotes
        } else {
            self.walk(quotes, backslashes)
        };
        let carry = if self.inside { u64::MAX } else { 0 };
        let inside = prefix_xor(real) ^ carry;
        self.inside = inside >> 63 == 1;
        inside
    }

    /// The quotes that open or close a string, found by walking quotes and backslashes in
    /// order. Sets `escaped` for the next block.
    #[cold]
    fn walk(&mut self, quotes: u64, backslashes: u64) -> u64 {
        let mut real = 0;
        let mut inside = self.inside;
        // The index of the byte the last escaping backslash escapes (64: the next block's first).
        let mut escaped_at = if self.escaped { Some(0) } else { None };
        let mut events = quotes | backslashes;
        while events != 0 {
            let at = events.trailing_zeros();
            events &= events - 1;
            if let Some(escaped) = escaped_at {
                if escaped == at {
                    escaped_at = None;
                    continue;
                }
                if escaped < at {
                    escaped_at = None;
                }
            }
            let bit = 1u64 << at;
            if quotes & bit != 0 {
                real |= bit;
                inside = !inside;
            } else if inside {
                escaped_at = Some(at + 1);
            }
        }
        self.escaped = escaped_at == Some(64);
        real
    }
}

/// The offset just past the object or array that opens at `bytes[start]`, checking that its
/// brackets pair up and nest at most `room` levels deep.
///
/// # Errors
/// [`DecodeError::UnexpectedByte`] at a closing bracket of the wrong kind,
/// [`DecodeError::TooDeep`] past `room` levels, [`DecodeError::UnexpectedEnd`] when the bytes
/// end first.
pub(super) fn container_end(bytes: &[u8], start: usize, room: usize) -> Result<usize, DecodeError> {
    // One bit per open level, 1 for an object; at most `MAX_DEPTH` (128) levels fit.
    let mut kinds: u128 = 0;
    let mut depth: usize = 0;
    let mut strings = Strings::default();
    let mut at = start;
    let mut padded = [b' '; BLOCK];
    // Backslashes are rare in gateway traffic: find them with memchr, and only classify them in
    // the blocks that have one.
    let mut backslash = next_backslash(bytes, start);
    while at < bytes.len() {
        let block: &[u8; BLOCK] = match bytes.get(at..at + BLOCK) {
            Some(full) => full.try_into().unwrap_or(&padded),
            None => {
                // The tail, padded with spaces (which mean nothing to the scan).
                let tail = &bytes[at..];
                padded[..tail.len()].copy_from_slice(tail);
                &padded
            }
        };
        let may_escape = backslash < at + BLOCK;
        let (quotes, backslashes, brackets) = classify(block, may_escape);
        if may_escape {
            backslash = next_backslash(bytes, at + BLOCK);
        }
        let mut structural = brackets & !strings.mask(quotes, backslashes);
        while structural != 0 {
            let i = structural.trailing_zeros() as usize;
            structural &= structural - 1;
            let byte = block[i];
            if !matches!(byte, b'{' | b'}' | b'[' | b']') {
                continue;
            }
            // `{` and `[` have 0x02 set, `}` and `]` do not; `{` and `}` have 0x20 set.
            let object = byte & 0x20 != 0;
            if byte & 0x02 != 0 {
                if depth == room {
                    return Err(DecodeError::TooDeep { limit: MAX_DEPTH });
                }
                kinds = (kinds << 1) | u128::from(object);
                depth += 1;
            } else {
                let open_object = kinds & 1 == 1;
                if depth == 0 || open_object != object {
                    return Err(DecodeError::UnexpectedByte {
                        offset: at + i,
                        expected: if open_object { "`}`" } else { "`]`" },
                    });
                }
                kinds >>= 1;
                depth -= 1;
                if depth == 0 {
                    return Ok(at + i + 1);
                }
            }
        }
        at += BLOCK;
    }
    Err(DecodeError::UnexpectedEnd)
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::format;
    use std::string::String;
    use std::vec::Vec;

    use super::container_end;
    use crate::codec::{DecodeError, MAX_DEPTH};

    /// The byte-by-byte skip this module replaces, kept as the reference.
    fn reference(bytes: &[u8], start: usize, room: usize) -> Result<usize, DecodeError> {
        let mut kinds: u128 = 0;
        let mut depth: usize = 0;
        let mut at = start;
        while at < bytes.len() {
            match bytes[at] {
                b'"' => {
                    let mut from = at + 1;
                    loop {
                        let rest = bytes.get(from..).ok_or(DecodeError::UnexpectedEnd)?;
                        match rest.iter().position(|&b| b == b'"' || b == b'\\') {
                            Some(i) if rest[i] == b'"' => {
                                at = from + i + 1;
                                break;
                            }
                            Some(i) => from += i + 2,
                            None => return Err(DecodeError::UnexpectedEnd),
                        }
                    }
                    continue;
                }
                open @ (b'{' | b'[') => {
                    if depth == room {
                        return Err(DecodeError::TooDeep { limit: MAX_DEPTH });
                    }
                    kinds = (kinds << 1) | u128::from(open == b'{');
                    depth += 1;
                }
                close @ (b'}' | b']') => {
                    let is_object = kinds & 1 == 1;
                    if is_object != (close == b'}') {
                        return Err(DecodeError::UnexpectedByte {
                            offset: at,
                            expected: if is_object { "`}`" } else { "`]`" },
                        });
                    }
                    kinds >>= 1;
                    depth -= 1;
                    if depth == 0 {
                        return Ok(at + 1);
                    }
                }
                _ => {}
            }
            at += 1;
        }
        Err(DecodeError::UnexpectedEnd)
    }

    fn agree(text: &[u8]) {
        for start in 0..text.len() {
            if matches!(text[start], b'{' | b'[') {
                for room in [1, 2, 3, MAX_DEPTH] {
                    assert_eq!(
                        container_end(text, start, room),
                        reference(text, start, room),
                        "{:?} from {start}, room {room}",
                        String::from_utf8_lossy(text)
                    );
                }
            }
        }
    }

    #[test]
    fn agrees_with_the_byte_by_byte_skip_on_hand_made_cases() {
        let cases: [&[u8]; 14] = [
            br#"{}"#,
            br#"[]"#,
            br#"{"a":[1,{"b":"}]"}],"c":"\"{"}"#,
            br#"{"a":"\\"}"#,
            br#"{"a":"\\\"}"}"#,
            br#"[{"k":"v\\\\"},"]"]"#,
            br#"{"a":[}"#,
            br#"[{]"#,
            br#"{"a":"unterminated}"#,
            br#"{"a":"ends in a backslash\"#,
            br#"{\"a":1}"#,
            br#"[\"]"]"#,
            br#"{"a":1}}"#,
            b"{\"\xe2\x80\xa8\":[[[[]]]]}",
        ];
        for case in cases {
            agree(case);
        }
    }

    #[test]
    fn agrees_across_block_boundaries() {
        // Put every interesting byte on every position around the 64-byte boundaries.
        let pieces: [&[u8]; 9] = [b"\"", b"\\", b"{", b"}", b"[", b"]", b"x", b"\\\\", b"y"];
        for pad in 0..70 {
            for a in pieces {
                for b in pieces {
                    let mut text = Vec::from(&b"{\"k\":\""[..]);
                    text.extend(core::iter::repeat_n(b'a', pad));
                    text.extend_from_slice(a);
                    text.extend_from_slice(b);
                    text.extend_from_slice(b"\",\"z\":[{}]}");
                    agree(&text);
                }
            }
        }
    }

    #[test]
    fn agrees_on_generated_documents() {
        // A small deterministic generator of JSON-ish byte soup with long and short strings.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"{}[]\"\\:,abyY 0";
        for _ in 0..3000 {
            let len = usize::try_from(next() % 300).unwrap_or(0);
            let mut text = Vec::from(&b"{"[..]);
            for _ in 0..len {
                let pick = usize::try_from(next() % alphabet.len() as u64).unwrap_or(0);
                text.push(alphabet[pick]);
            }
            agree(&text);
        }
    }

    #[test]
    fn depth_limits_match() {
        for depth in [1, 63, 64, 65, 127, 128, 129] {
            let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            agree(text.as_bytes());
        }
    }
}
