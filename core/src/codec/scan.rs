//! Delimiting a skipped object or array 64 bytes at a time.
//!
//! The structural skip ([`super::json`]'s `skip_container`) only needs three things from the
//! bytes: where strings are (brackets inside them do not count), where brackets are, and whether
//! they pair up. This module finds all three for a 64-byte block at once, as bitmasks:
//!
//! 1. the block is classified into one bit per byte for `"`, for the brackets and for `\`
//!    ([`classify`]): with SSE2 compares and `movemask` on x86 and x86-64 (through `safe_arch`'s
//!    safe wrappers, so this crate keeps `forbid(unsafe_code)`), and with 64-bit SWAR arithmetic
//!    everywhere else;
//! 2. a block without backslashes (the common case) has only real quotes, so the bytes inside
//!    strings are the prefix XOR of the quote bits; a block with backslashes walks its quotes and
//!    backslashes in order instead (a backslash escapes the next byte inside a string and means
//!    nothing outside one, exactly as the byte-by-byte skip read it);
//! 3. the brackets outside strings are visited one by one to check pairing and depth.
//!
//! The result, and every error with its offset, is the same as the byte-by-byte loop it replaces.

use super::{DecodeError, MAX_DEPTH};

const BLOCK: usize = 64;

/// One block's classification: bit `i` stands for byte `i`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Masks {
    quotes: u64,
    /// Backslashes; only filled in when the classifier was told the block may hold one.
    backslashes: u64,
    /// Every bracket, plus possibly other bytes that only occur inside strings (the SWAR
    /// classifier lets `y`, `Y` and DEL through); the bracket loop skips those.
    brackets: u64,
}

/// How a block becomes [`Masks`]; one implementation per instruction set.
trait Classifier {
    /// `classify` always fills in backslashes, so the caller need not find them first.
    const FINDS_BACKSLASHES: bool;
    /// `Masks::brackets` holds brackets and nothing else.
    const EXACT_BRACKETS: bool;
    /// The block's masks; backslashes are only needed when `may_escape`.
    fn classify(block: &[u8; BLOCK], may_escape: bool) -> Masks;
}

/// SSE2 is part of x86-64 and of every x86 target Rust builds with it on.
#[cfg(all(
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "sse2"
))]
#[cfg_attr(target_feature = "avx2", allow(dead_code))]
mod sse2 {
    use safe_arch::{
        bitor_m128i, cmp_eq_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i,
        set_splat_i8_m128i,
    };

    use super::{Classifier, Masks, BLOCK};

    /// 16 bytes per compare, exact.
    pub(super) struct Sse2;

    impl Classifier for Sse2 {
        // Backslash bits cost one compare per 16 bytes here, cheaper than finding them first.
        const FINDS_BACKSLASHES: bool = true;
        const EXACT_BRACKETS: bool = true;

        #[inline(always)]
        fn classify(block: &[u8; BLOCK], _may_escape: bool) -> Masks {
            // Setting 0x20 folds `[` onto `{` (0x7B) and `]` onto `}` (0x7D); no other byte
            // folds onto either.
            let quote = set_splat_i8_m128i(b'"' as i8);
            let backslash = set_splat_i8_m128i(b'\\' as i8);
            let fold = set_splat_i8_m128i(0x20);
            let open = set_splat_i8_m128i(b'{' as i8);
            let close = set_splat_i8_m128i(b'}' as i8);
            let mut masks = Masks {
                quotes: 0,
                backslashes: 0,
                brackets: 0,
            };
            for (lane, chunk) in block.chunks_exact(16).enumerate() {
                let Ok(chunk) = <&[u8; 16]>::try_from(chunk) else {
                    continue;
                };
                let bytes = load_unaligned_m128i(chunk);
                let folded = bitor_m128i(bytes, fold);
                let brackets = bitor_m128i(
                    cmp_eq_mask_i8_m128i(folded, open),
                    cmp_eq_mask_i8_m128i(folded, close),
                );
                let bits = |mask| u64::from(move_mask_i8_m128i(mask) as u16) << (16 * lane);
                masks.quotes |= bits(cmp_eq_mask_i8_m128i(bytes, quote));
                masks.backslashes |= bits(cmp_eq_mask_i8_m128i(bytes, backslash));
                masks.brackets |= bits(brackets);
            }
            masks
        }
    }
}

/// AVX2, when the build enables it (`-C target-cpu=native` on a machine that has it, or
/// `-C target-feature=+avx2`): the SSE2 classification 32 bytes per compare.
#[cfg(all(
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "avx2"
))]
mod avx2 {
    use safe_arch::{
        bitor_m256i, cmp_eq_mask_i8_m256i, m256i, move_mask_i8_m256i, set_splat_i8_m256i,
    };

    use super::{Classifier, Masks, BLOCK};

    /// 32 bytes per compare, exact.
    pub(super) struct Avx2;

    impl Classifier for Avx2 {
        const FINDS_BACKSLASHES: bool = true;
        const EXACT_BRACKETS: bool = true;

        #[inline(always)]
        fn classify(block: &[u8; BLOCK], _may_escape: bool) -> Masks {
            // The same fold as SSE2's: 0x20 maps `[` onto `{` and `]` onto `}`, nothing else.
            let quote = set_splat_i8_m256i(b'"' as i8);
            let backslash = set_splat_i8_m256i(b'\\' as i8);
            let fold = set_splat_i8_m256i(0x20);
            let open = set_splat_i8_m256i(b'{' as i8);
            let close = set_splat_i8_m256i(b'}' as i8);
            let mut masks = Masks {
                quotes: 0,
                backslashes: 0,
                brackets: 0,
            };
            for (lane, chunk) in block.chunks_exact(32).enumerate() {
                let Ok(chunk) = <[u8; 32]>::try_from(chunk) else {
                    continue;
                };
                let bytes = m256i::from(chunk);
                let folded = bitor_m256i(bytes, fold);
                let brackets = bitor_m256i(
                    cmp_eq_mask_i8_m256i(folded, open),
                    cmp_eq_mask_i8_m256i(folded, close),
                );
                let bits = |mask| u64::from(move_mask_i8_m256i(mask) as u32) << (32 * lane);
                masks.quotes |= bits(cmp_eq_mask_i8_m256i(bytes, quote));
                masks.backslashes |= bits(cmp_eq_mask_i8_m256i(bytes, backslash));
                masks.brackets |= bits(brackets);
            }
            masks
        }
    }
}

/// Plain 64-bit arithmetic, on any target.
#[cfg_attr(
    all(
        any(target_arch = "x86", target_arch = "x86_64"),
        target_feature = "sse2"
    ),
    allow(dead_code)
)]
mod swar {
    use super::{Classifier, Masks, BLOCK};

    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;

    /// Eight bytes per compare, with false bracket candidates.
    pub(super) struct Swar;

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

    impl Classifier for Swar {
        // Backslashes are rare in gateway traffic: the caller finds them with `memchr` and only
        // asks for their bits in the blocks that have one.
        const FINDS_BACKSLASHES: bool = false;
        const EXACT_BRACKETS: bool = false;

        #[inline(always)]
        fn classify(block: &[u8; BLOCK], may_escape: bool) -> Masks {
            let mut masks = Masks {
                quotes: 0,
                backslashes: 0,
                brackets: 0,
            };
            for word in 0..BLOCK / 8 {
                let mut raw = [0u8; 8];
                raw.copy_from_slice(&block[word * 8..word * 8 + 8]);
                let x = u64::from_le_bytes(raw);
                // With 0x20 set, `{` and `[` are 0x7B and `}` and `]` are 0x7D; ignoring bits 1
                // and 2 of the difference from 0x7B also lets `y`, `Y` and DEL through, one
                // compare instead of two. Those only ever sit inside strings in JSON, and the
                // bracket loop skips any that do not.
                let folded = (x | (ONES * 0x20)) ^ (ONES * 0x7B);
                let bracket = zero_bytes(folded & (ONES * 0xF9));
                let quote = zero_bytes(x ^ (ONES * u64::from(b'"')));
                let shift = 8 * word;
                masks.quotes |= pack(quote) << shift;
                masks.brackets |= pack(bracket) << shift;
                if may_escape {
                    let backslash = zero_bytes(x ^ (ONES * u64::from(b'\\')));
                    masks.backslashes |= pack(backslash) << shift;
                }
            }
            masks
        }
    }
}

/// The classifier this target runs: the widest the build may use.
#[cfg(all(
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "avx2"
))]
type Native = avx2::Avx2;
#[cfg(all(
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "sse2",
    not(target_feature = "avx2")
))]
type Native = sse2::Sse2;
#[cfg(not(all(
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "sse2"
)))]
type Native = swar::Swar;

/// The quotes of a block that no backslash escapes, reading every backslash as an escape, and
/// whether the next block's first byte is escaped. `escaped` says this block's first byte is.
///
/// A run of backslashes escapes the byte after it when the run is odd, and the parity of a run
/// is the parity of where it ends minus where it starts. Adding a run's lowest bit to the run
/// carries through it and lands on the byte after it, so one addition per start parity finds
/// every run's end at once; the carry out of the top bit is a run that reaches the next block.
#[inline(always)]
const fn unescaped(quotes: u64, backslashes: u64, escaped: bool) -> (u64, bool) {
    const EVEN: u64 = 0x5555_5555_5555_5555;
    let first = escaped as u64;
    // An escaped backslash escapes nothing.
    let escaping = backslashes & !first;
    let starts = escaping & !(escaping << 1);
    let (even_ends, _) = escaping.overflowing_add(starts & EVEN);
    let (odd_ends, odd_out) = escaping.overflowing_add(starts & !EVEN);
    // Odd length: an even start ends on an odd bit, an odd start on an even one (64 included).
    let after_odd_runs = ((even_ends & !EVEN) | (odd_ends & EVEN)) & !escaping;
    (quotes & !(after_odd_runs | first), odd_out)
}

/// Bit `i` set when an odd number of bits `0..=i` of `x` are set.
#[cfg(not(all(target_arch = "x86_64", target_feature = "pclmulqdq")))]
#[inline(always)]
const fn prefix_xor(x: u64) -> u64 {
    prefix_xor_shifts(x)
}

/// Bit `i` set when an odd number of bits `0..=i` of `x` are set: a carry-less multiply by
/// all ones, one instruction where the shifts take twelve.
#[cfg(all(target_arch = "x86_64", target_feature = "pclmulqdq"))]
#[inline(always)]
fn prefix_xor(x: u64) -> u64 {
    use safe_arch::{m128i, mul_i64_carryless_m128i};
    let product = mul_i64_carryless_m128i::<0>(m128i::from(x as u128), m128i::from(u128::MAX));
    u128::from(product) as u64
}

/// [`prefix_xor`] by shifts, on any target.
#[inline(always)]
#[cfg_attr(
    all(target_arch = "x86_64", target_feature = "pclmulqdq", not(test)),
    allow(dead_code)
)]
const fn prefix_xor_shifts(mut x: u64) -> u64 {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    x
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
        let inside = if backslashes == 0 && !self.escaped {
            self.inside_given(quotes)
        } else {
            // Read every backslash as an escape, which is right as long as all of them turn out
            // to be inside strings (always, in valid JSON). A backslash outside a string means
            // nothing to the byte-by-byte reading, so such a block is walked instead.
            let (real, escaped) = unescaped(quotes, backslashes, self.escaped);
            let inside = self.inside_given(real);
            if backslashes & !inside == 0 {
                self.escaped = escaped;
                inside
            } else {
                let real = self.walk(quotes, backslashes);
                self.inside_given(real)
            }
        };
        self.inside = inside >> 63 == 1;
        inside
    }

    /// The bits inside strings given the block's real (unescaped) quotes.
    #[inline(always)]
    fn inside_given(&self, real: u64) -> u64 {
        let carry = if self.inside { u64::MAX } else { 0 };
        prefix_xor(real) ^ carry
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
    delimit::<Native>(bytes, start, room)
}

/// [`container_end`] with the classifier as a parameter, so the tests can run both on one target.
#[inline(always)]
fn delimit<C: Classifier>(bytes: &[u8], start: usize, room: usize) -> Result<usize, DecodeError> {
    // One bit per open level, 1 for an object; at most `MAX_DEPTH` (128) levels fit.
    let mut kinds: u128 = 0;
    let mut depth: usize = 0;
    let mut strings = Strings::default();
    let mut at = start;
    let mut padded = [b' '; BLOCK];
    // Where the next backslash is, for a classifier that wants to be told (see `swar`).
    let mut backslash = if C::FINDS_BACKSLASHES {
        0
    } else {
        next_backslash(bytes, start)
    };
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
        let masks = C::classify(block, may_escape);
        if may_escape && !C::FINDS_BACKSLASHES {
            backslash = next_backslash(bytes, at + BLOCK);
        }
        let mut structural = masks.brackets & !strings.mask(masks.quotes, masks.backslashes);
        while structural != 0 {
            let i = structural.trailing_zeros() as usize;
            structural &= structural - 1;
            let byte = block[i];
            if !C::EXACT_BRACKETS && !matches!(byte, b'{' | b'}' | b'[' | b']') {
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

    use super::{container_end, delimit, swar};
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

    /// A deterministic xorshift64 generator for the generated cases.
    pub(super) fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    fn agree(text: &[u8]) {
        for start in 0..text.len() {
            if matches!(text[start], b'{' | b'[') {
                for room in [1, 2, 3, MAX_DEPTH] {
                    let expected = reference(text, start, room);
                    let context = || {
                        format!(
                            "{:?} from {start}, room {room}",
                            String::from_utf8_lossy(text)
                        )
                    };
                    assert_eq!(container_end(text, start, room), expected, "{}", context());
                    let portable = delimit::<swar::Swar>(text, start, room);
                    assert_eq!(portable, expected, "portable: {}", context());
                    #[cfg(all(
                        any(target_arch = "x86", target_arch = "x86_64"),
                        target_feature = "sse2"
                    ))]
                    assert_eq!(
                        delimit::<super::sse2::Sse2>(text, start, room),
                        expected,
                        "sse2: {}",
                        context()
                    );
                }
            }
        }
    }

    #[test]
    fn prefix_xor_agrees_with_the_shifts() {
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        for round in 0..100_000u64 {
            let x = match round {
                0 => 0,
                1 => u64::MAX,
                2 => 1 << 63,
                _ => next(),
            };
            assert_eq!(super::prefix_xor(x), super::prefix_xor_shifts(x), "{x:#x}");
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
        // JSON-ish byte soup with long and short strings.
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
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
    fn agrees_on_valid_documents_full_of_escapes() {
        // Valid JSON, so every backslash is inside a string and blocks take the arithmetic path:
        // runs of 1-5 backslashes before quotes and letters, landing on every block offset.
        let mut next = xorshift(0x0123_4567_89ab_cdef);
        for _ in 0..2000 {
            let mut text = Vec::from(&b"{\"k\":["[..]);
            for item in 0..(next() % 12) {
                if item > 0 {
                    text.push(b',');
                }
                text.push(b'"');
                for _ in 0..(next() % 40) {
                    match next() % 6 {
                        0 => text.extend_from_slice(br#"\""#),
                        1 => text.extend_from_slice(br"\\"),
                        2 => text.extend_from_slice(br#"\\\""#),
                        3 => text.extend_from_slice(br"\u00e9"),
                        4 => text.extend_from_slice(b"{]"),
                        _ => text.extend(core::iter::repeat_n(b'a', (next() % 70) as usize)),
                    }
                }
                text.push(b'"');
            }
            text.extend_from_slice(b"]}");
            assert!(serde_json::from_slice::<serde_json::Value>(&text).is_ok());
            agree(&text);
        }
    }

    /// Which quotes survive, byte by byte, when every backslash escapes.
    fn unescaped_by_hand(quotes: u64, backslashes: u64, escaped: bool) -> (u64, bool) {
        let mut escaping_next = escaped;
        let mut real = 0;
        for i in 0..64 {
            let bit = 1u64 << i;
            if escaping_next {
                escaping_next = false;
            } else if backslashes & bit != 0 {
                escaping_next = true;
            } else {
                real |= quotes & bit;
            }
        }
        (real, escaping_next)
    }

    #[test]
    fn unescaped_matches_reading_byte_by_byte() {
        let mut next = xorshift(0xdead_beef_cafe_f00d);
        for round in 0..50_000 {
            let state = next();
            let backslashes = if round % 3 == 0 {
                state
            } else {
                state & (state >> 1)
            };
            let quotes = state.rotate_left(17) & !backslashes;
            for escaped in [false, true] {
                assert_eq!(
                    super::unescaped(quotes, backslashes, escaped),
                    unescaped_by_hand(quotes, backslashes, escaped),
                    "{backslashes:064b} {quotes:064b} {escaped}"
                );
            }
        }
        for backslashes in [0, u64::MAX, u64::MAX << 1, u64::MAX >> 1, 1 << 63, 3 << 62] {
            for escaped in [false, true] {
                assert_eq!(
                    super::unescaped(!backslashes, backslashes, escaped),
                    unescaped_by_hand(!backslashes, backslashes, escaped)
                );
            }
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

/// The SSE2 classifier must see exactly what the portable one sees (less its false bracket
/// candidates), since only one of them runs on any given target.
#[cfg(all(
    test,
    any(target_arch = "x86", target_arch = "x86_64"),
    target_feature = "sse2"
))]
mod classifiers_agree {
    use super::{sse2::Sse2, swar::Swar, tests::xorshift, Classifier, BLOCK};

    fn exact_brackets(block: &[u8; BLOCK]) -> u64 {
        block
            .iter()
            .enumerate()
            .filter(|(_, byte)| matches!(byte, b'{' | b'}' | b'[' | b']'))
            .fold(0, |bits, (i, _)| bits | 1 << i)
    }

    #[test]
    fn on_every_byte_value_in_every_position() {
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        for round in 0..20_000 {
            let mut block = [0u8; BLOCK];
            for (i, byte) in block.iter_mut().enumerate() {
                let state = next();
                // Half the rounds use only structural bytes and their near neighbours.
                *byte = if round % 2 == 0 {
                    (state >> 24) as u8
                } else {
                    b"\"\\{}[]yY\x7f\x5c\x22 a"[(state >> 40) as usize % 13]
                };
                if round == 0 {
                    *byte = u8::try_from((i * 4) % 256).unwrap_or(0);
                }
            }
            let fast = Sse2::classify(&block, true);
            let portable = Swar::classify(&block, true);
            #[cfg(target_feature = "avx2")]
            assert_eq!(super::avx2::Avx2::classify(&block, true), fast, "{block:?}");
            assert_eq!(fast.quotes, portable.quotes, "{block:?}");
            assert_eq!(fast.backslashes, portable.backslashes, "{block:?}");
            assert_eq!(fast.brackets, exact_brackets(&block), "{block:?}");
            assert_eq!(portable.brackets & exact_brackets(&block), fast.brackets);
        }
    }
}
