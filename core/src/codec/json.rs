//! A small JSON reader over a byte slice: exactly what the envelope scan and the control payloads
//! need, and nothing that allocates.
//!
//! Two speeds on purpose. Values the core interprets (top-level keys, `op`, `s`, `t`, the strings
//! of Hello and READY) are read strictly: full escape, control-character and UTF-8 checks.
//! Values the core only delimits (`d`, unknown keys) are skipped structurally: strings are jumped
//! over with `memchr`, brackets must balance and nest within [`MAX_DEPTH`], and whoever
//! deserializes the span later validates its contents. That split is what lets an unwanted or
//! passed-through event cost a fraction of a full parse.
//!
//! Bytes the crate sends verbatim (a raw command's `d`) get the third treatment,
//! [`validate_value`]: every string, number, literal and separator checked, with the same strict
//! string reading and the same depth bound, so there is one JSON grammar in the crate.

use core::ops::Range;

use super::DecodeError;

/// The deepest nesting of arrays and objects accepted in one message, counting every open array
/// and object (the envelope object is level 1, so `d` may nest 127 more levels).
///
/// This is one level more than `serde_json`'s own recursion limit (it refuses the 128th level),
/// so anything `serde_json` reads, the scan reads too.
pub const MAX_DEPTH: usize = 128;

/// A JSON string as it appears on the wire, between its quotes, not yet unescaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawStr<'a> {
    /// The bytes between the quotes, escapes intact.
    pub(crate) raw: &'a [u8],
    /// Where the opening quote is in the message.
    pub(crate) offset: usize,
    /// Whether `raw` contains a backslash.
    pub(crate) escaped: bool,
}

impl<'a> RawStr<'a> {
    /// Whether this string, unescaped, equals `expected`.
    pub(crate) fn equals(&self, expected: &str) -> bool {
        if !self.escaped {
            return self.raw == expected.as_bytes();
        }
        let mut rest = expected.as_bytes();
        let mut matches = true;
        let walked = unescape(self.raw, self.offset, |piece: &str| {
            if matches {
                match rest.strip_prefix(piece.as_bytes()) {
                    Some(tail) => rest = tail,
                    None => matches = false,
                }
            }
        });
        walked.is_ok() && matches && rest.is_empty()
    }

    /// Hands the unescaped string to `sink`, piece by piece.
    ///
    /// # Errors
    /// [`DecodeError::InvalidEscape`] or [`DecodeError::InvalidUtf8`] for a string that did not
    /// come through [`Reader::read_str`].
    pub(crate) fn for_each_piece(&self, sink: impl FnMut(&str)) -> Result<(), DecodeError> {
        unescape(self.raw, self.offset, sink)
    }

    /// The unescaped string, written into `out`.
    ///
    /// # Errors
    /// [`DecodeError::TooLong`] naming `field` when it does not fit.
    pub(crate) fn unescape_into<const N: usize>(
        &self,
        field: &'static str,
        out: &mut heapless::String<N>,
    ) -> Result<(), DecodeError> {
        out.clear();
        let mut overflow = false;
        unescape(self.raw, self.offset, |piece: &str| {
            if !overflow && out.push_str(piece).is_err() {
                overflow = true;
            }
        })?;
        if overflow {
            return Err(DecodeError::TooLong { field, limit: N });
        }
        Ok(())
    }
}

/// Walks `raw` (string contents, escapes intact), handing unescaped pieces to `sink`.
///
/// The string was already validated by [`Reader::read_str`], but this re-checks what it relies
/// on so it can never panic on input that did not come through there.
fn unescape(raw: &[u8], offset: usize, mut sink: impl FnMut(&str)) -> Result<(), DecodeError> {
    let mut at = 0;
    while at < raw.len() {
        let next_escape = memchr::memchr(b'\\', &raw[at..]).map_or(raw.len(), |i| at + i);
        if next_escape > at {
            let piece = core::str::from_utf8(&raw[at..next_escape])
                .map_err(|_| DecodeError::InvalidUtf8 { offset })?;
            sink(piece);
        }
        if next_escape == raw.len() {
            break;
        }
        let (ch, len) = decode_escape(raw, next_escape, offset)?;
        let mut utf8 = [0u8; 4];
        sink(ch.encode_utf8(&mut utf8));
        at = next_escape + len;
    }
    Ok(())
}

/// Decodes the escape starting at `raw[at]` (a backslash): the character and the escape's length.
///
/// `raw` may run to the end of the message (while a string is being read); an escape that the
/// end cuts short is [`DecodeError::UnexpectedEnd`], not an invalid one, so that every prefix of a
/// valid message reads as incomplete.
fn decode_escape(raw: &[u8], at: usize, offset: usize) -> Result<(char, usize), DecodeError> {
    let invalid = DecodeError::InvalidEscape {
        offset: offset + 1 + at,
    };
    let error = |cut: Cut| match cut {
        Cut::End => DecodeError::UnexpectedEnd,
        Cut::Invalid => invalid,
    };
    let ch = match raw.get(at + 1) {
        Some(b'"') => '"',
        Some(b'\\') => '\\',
        Some(b'/') => '/',
        Some(b'b') => '\u{8}',
        Some(b'f') => '\u{c}',
        Some(b'n') => '\n',
        Some(b'r') => '\r',
        Some(b't') => '\t',
        Some(b'u') => {
            let high = hex4(raw, at + 2).map_err(error)?;
            if !(0xD800..0xE000).contains(&high) {
                return char::from_u32(u32::from(high))
                    .map(|c| (c, 6))
                    .ok_or(invalid);
            }
            // A surrogate must be a high one followed by an escaped low one.
            if high >= 0xDC00 {
                return Err(invalid);
            }
            for (i, wanted) in [b'\\', b'u'].into_iter().enumerate() {
                match raw.get(at + 6 + i) {
                    None => return Err(DecodeError::UnexpectedEnd),
                    Some(&byte) if byte == wanted => {}
                    Some(_) => return Err(invalid),
                }
            }
            let low = hex4(raw, at + 8).map_err(error)?;
            if !(0xDC00..0xE000).contains(&low) {
                return Err(invalid);
            }
            let code = 0x1_0000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
            return char::from_u32(code).map(|c| (c, 12)).ok_or(invalid);
        }
        Some(_) => return Err(invalid),
        None => return Err(DecodeError::UnexpectedEnd),
    };
    Ok((ch, 2))
}

/// Why four hex digits could not be read.
#[derive(Clone, Copy)]
enum Cut {
    /// The input ended first (after hex digits only).
    End,
    /// A byte that is not a hex digit.
    Invalid,
}

/// The four hex digits at `raw[from..]`.
fn hex4(raw: &[u8], from: usize) -> Result<u16, Cut> {
    let mut value: u16 = 0;
    for at in from..from + 4 {
        let digit = *raw.get(at).ok_or(Cut::End)?;
        let nibble = match digit {
            b'0'..=b'9' => digit - b'0',
            b'a'..=b'f' => digit - b'a' + 10,
            b'A'..=b'F' => digit - b'A' + 10,
            _ => return Err(Cut::Invalid),
        };
        value = (value << 4) | u16::from(nibble);
    }
    Ok(value)
}

/// The kinds of JSON value, as told by their first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
}

/// A cursor over one message.
#[derive(Clone, Debug)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// How many objects walked with [`Reader::begin_object`] are open.
    depth: usize,
}

impl<'a> Reader<'a> {
    pub(crate) const fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            pos: 0,
            depth: 0,
        }
    }

    pub(crate) fn skip_whitespace(&mut self) {
        while let Some(&byte) = self.bytes.get(self.pos) {
            if !matches!(byte, b' ' | b'\n' | b'\r' | b'\t') {
                break;
            }
            self.pos += 1;
        }
    }

    /// The next non-whitespace byte, without consuming it.
    pub(crate) fn peek(&mut self) -> Result<u8, DecodeError> {
        self.skip_whitespace();
        self.bytes
            .get(self.pos)
            .copied()
            .ok_or(DecodeError::UnexpectedEnd)
    }

    /// The kind of the next value.
    pub(crate) fn peek_kind(&mut self) -> Result<Kind, DecodeError> {
        Ok(match self.peek()? {
            b'{' => Kind::Object,
            b'[' => Kind::Array,
            b'"' => Kind::String,
            b'-' | b'0'..=b'9' => Kind::Number,
            b't' | b'f' => Kind::Bool,
            b'n' => Kind::Null,
            _ => return Err(self.unexpected("a JSON value")),
        })
    }

    fn unexpected(&self, expected: &'static str) -> DecodeError {
        if self.pos >= self.bytes.len() {
            DecodeError::UnexpectedEnd
        } else {
            DecodeError::UnexpectedByte {
                offset: self.pos,
                expected,
            }
        }
    }

    fn expect(&mut self, byte: u8, expected: &'static str) -> Result<(), DecodeError> {
        if self.peek()? != byte {
            return Err(self.unexpected(expected));
        }
        self.pos += 1;
        Ok(())
    }

    /// Consumes `{`, starting an object walk with [`Reader::next_key`]. The object counts
    /// towards [`MAX_DEPTH`] for every value skipped inside it.
    pub(crate) fn begin_object(&mut self) -> Result<(), DecodeError> {
        self.expect(b'{', "`{`")?;
        if self.depth == MAX_DEPTH {
            return Err(DecodeError::TooDeep { limit: MAX_DEPTH });
        }
        self.depth += 1;
        Ok(())
    }

    /// The next key of the object being walked and consumes its `:`; `None` after the closing `}`.
    /// `first` says whether no key has been read yet (so no comma is due).
    pub(crate) fn next_key(&mut self, first: bool) -> Result<Option<RawStr<'a>>, DecodeError> {
        match self.peek()? {
            b'}' => {
                self.pos += 1;
                self.depth = self.depth.saturating_sub(1);
                return Ok(None);
            }
            b',' if !first => {
                self.pos += 1;
                self.skip_whitespace();
            }
            _ if !first => return Err(self.unexpected("`,` or `}`")),
            _ => {}
        }
        if self.peek()? != b'"' {
            return Err(self.unexpected("a string key"));
        }
        let key = self.read_str()?;
        core::str::from_utf8(key.raw)
            .map_err(|_| DecodeError::InvalidUtf8 { offset: key.offset })?;
        self.expect(b':', "`:`")?;
        Ok(Some(key))
    }

    /// Consumes `[`, starting an array walk with [`Reader::next_element`].
    pub(crate) fn begin_array(&mut self) -> Result<(), DecodeError> {
        self.expect(b'[', "`[`")
    }

    /// Whether another element follows in the array being walked (consuming its comma), or
    /// `false` after the closing `]`. `first` says whether no element has been read yet.
    pub(crate) fn next_element(&mut self, first: bool) -> Result<bool, DecodeError> {
        match self.peek()? {
            b']' => {
                self.pos += 1;
                Ok(false)
            }
            b',' if !first => {
                self.pos += 1;
                self.skip_whitespace();
                Ok(true)
            }
            _ if !first => Err(self.unexpected("`,` or `]`")),
            _ => Ok(true),
        }
    }

    /// Reads a number per the JSON grammar and returns its text.
    pub(crate) fn read_number(&mut self) -> Result<&'a [u8], DecodeError> {
        self.peek()?;
        let span = self.scan_number()?;
        Ok(&self.bytes[span])
    }

    /// Reads a string strictly: escapes, control characters (UTF-8 is checked by callers that
    /// interpret the string).
    pub(crate) fn read_str(&mut self) -> Result<RawStr<'a>, DecodeError> {
        self.expect(b'"', "a string")?;
        let offset = self.pos - 1;
        let start = self.pos;
        let mut escaped = false;
        loop {
            let Some(&byte) = self.bytes.get(self.pos) else {
                return Err(DecodeError::UnexpectedEnd);
            };
            match byte {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    let (_, len) = decode_escape(&self.bytes[start..], self.pos - start, offset)?;
                    self.pos += len;
                }
                0..=0x1F => return Err(DecodeError::ControlCharacter { offset: self.pos }),
                _ => self.pos += 1,
            }
        }
        let raw = &self.bytes[start..self.pos];
        self.pos += 1;
        Ok(RawStr {
            raw,
            offset,
            escaped,
        })
    }

    /// Reads a non-negative integer that fits in a `u64`.
    ///
    /// A sign, a fraction or an exponent makes it [`DecodeError::InvalidNumber`], `-0` included:
    /// `serde_json` reads `-0` as the float `-0.0`, which no integer field accepts, and the
    /// fields read here must mean the same to the scan as to the application's deserializer.
    pub(crate) fn read_u64(&mut self) -> Result<u64, DecodeError> {
        self.peek()?;
        let offset = self.pos;
        let span = self.scan_number()?;
        let digits = &self.bytes[span];
        let invalid = DecodeError::InvalidNumber { offset };
        if digits.iter().any(|b| !b.is_ascii_digit()) {
            return Err(invalid);
        }
        let mut value: u64 = 0;
        for &digit in digits {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(digit - b'0')))
                .ok_or(invalid)?;
        }
        Ok(value)
    }

    /// Reads `true` or `false`.
    pub(crate) fn read_bool(&mut self) -> Result<bool, DecodeError> {
        match self.peek()? {
            b't' => self.literal(b"true").map(|()| true),
            b'f' => self.literal(b"false").map(|()| false),
            _ => Err(self.unexpected("`true` or `false`")),
        }
    }

    /// Reads `null`.
    pub(crate) fn read_null(&mut self) -> Result<(), DecodeError> {
        self.peek()?;
        self.literal(b"null")
    }

    fn literal(&mut self, word: &'static [u8]) -> Result<(), DecodeError> {
        let end = self.pos + word.len();
        match self.bytes.get(self.pos..end) {
            Some(found) if found == word => {
                self.pos = end;
                Ok(())
            }
            Some(_) => Err(self.unexpected("`true`, `false` or `null`")),
            None if self.bytes[self.pos..] == word[..self.bytes.len() - self.pos] => {
                Err(DecodeError::UnexpectedEnd)
            }
            None => Err(self.unexpected("`true`, `false` or `null`")),
        }
    }

    /// Consumes a number per the JSON grammar and returns its span.
    fn scan_number(&mut self) -> Result<Range<usize>, DecodeError> {
        let start = self.pos;
        let invalid = DecodeError::InvalidNumber { offset: start };
        let bytes = self.bytes;
        let mut at = start;
        if bytes.get(at) == Some(&b'-') {
            at += 1;
        }
        match bytes.get(at) {
            Some(b'0') => at += 1,
            Some(b'1'..=b'9') => at = digits_end(bytes, at),
            Some(_) => return Err(invalid),
            None => return Err(DecodeError::UnexpectedEnd),
        }
        if bytes.get(at) == Some(&b'.') {
            let fraction = at + 1;
            at = digits_end(bytes, fraction);
            if at == fraction {
                return Err(if at == bytes.len() {
                    DecodeError::UnexpectedEnd
                } else {
                    invalid
                });
            }
        }
        if matches!(bytes.get(at), Some(b'e' | b'E')) {
            at += 1;
            if matches!(bytes.get(at), Some(b'+' | b'-')) {
                at += 1;
            }
            let exponent = at;
            at = digits_end(bytes, exponent);
            if at == exponent {
                return Err(if at == bytes.len() {
                    DecodeError::UnexpectedEnd
                } else {
                    invalid
                });
            }
        }
        self.pos = at;
        Ok(start..at)
    }

    /// Skips one value of any kind and returns its span. Numbers and literals are checked
    /// against the grammar; strings and containers are only delimited (see the module docs).
    pub(crate) fn skip_value(&mut self) -> Result<Range<usize>, DecodeError> {
        let start = self.pos_after_whitespace()?;
        match self.peek_kind()? {
            Kind::Object | Kind::Array => self.skip_container()?,
            Kind::String => self.skip_string()?,
            Kind::Number => {
                self.scan_number()?;
            }
            Kind::Bool => {
                self.read_bool()?;
            }
            Kind::Null => self.read_null()?,
        }
        Ok(start..self.pos)
    }

    fn pos_after_whitespace(&mut self) -> Result<usize, DecodeError> {
        self.peek()?;
        Ok(self.pos)
    }

    /// Jumps over a string starting at the current `"`.
    fn skip_string(&mut self) -> Result<(), DecodeError> {
        self.pos = string_end(self.bytes, self.pos + 1)?;
        Ok(())
    }

    /// Skips an object or array starting at the current bracket, checking that brackets pair up
    /// and that, with the objects being walked around it, they nest within [`MAX_DEPTH`].
    fn skip_container(&mut self) -> Result<(), DecodeError> {
        let room = MAX_DEPTH.saturating_sub(self.depth);
        self.pos = super::scan::container_end(self.bytes, self.pos, room)?;
        Ok(())
    }

    /// Reads one value strictly and completely: every string's escapes and control characters,
    /// every number against the grammar, every literal, comma and colon. Nesting counts towards
    /// [`MAX_DEPTH`] like [`Reader::skip_value`]'s. Never recurses.
    fn check_value(&mut self) -> Result<(), DecodeError> {
        // One bit per open level, as in `skip_container`.
        let mut objects: u128 = 0;
        let mut depth: usize = 0;
        let room = MAX_DEPTH.saturating_sub(self.depth);
        loop {
            // A value is due here.
            match self.peek_kind()? {
                kind @ (Kind::Object | Kind::Array) => {
                    if depth == room {
                        return Err(DecodeError::TooDeep { limit: MAX_DEPTH });
                    }
                    self.pos += 1;
                    let object = kind == Kind::Object;
                    let close = if object { b'}' } else { b']' };
                    if self.peek()? == close {
                        self.pos += 1;
                    } else {
                        objects = (objects << 1) | u128::from(object);
                        depth += 1;
                        if object {
                            self.member_key()?;
                        }
                        continue;
                    }
                }
                Kind::String => {
                    self.read_str()?;
                }
                Kind::Number => {
                    let span = self.scan_number()?;
                    // Parsers that read numbers as doubles (serde_json, and so Discord's)
                    // refuse what overflows one; the grammar alone allows it.
                    let text = core::str::from_utf8(&self.bytes[span.clone()]).unwrap_or("x");
                    if !text.parse::<f64>().is_ok_and(f64::is_finite) {
                        return Err(DecodeError::InvalidNumber { offset: span.start });
                    }
                }
                Kind::Bool => {
                    self.read_bool()?;
                }
                Kind::Null => self.read_null()?,
            }
            // A value ended: close containers until one continues after a comma.
            loop {
                if depth == 0 {
                    return Ok(());
                }
                let object = objects & 1 == 1;
                match self.peek()? {
                    b',' => {
                        self.pos += 1;
                        if object {
                            self.member_key()?;
                        }
                        break;
                    }
                    b'}' if object => {}
                    b']' if !object => {}
                    _ => {
                        return Err(self.unexpected(if object {
                            "`,` or `}`"
                        } else {
                            "`,` or `]`"
                        }))
                    }
                }
                self.pos += 1;
                objects >>= 1;
                depth -= 1;
            }
        }
    }

    /// A member's key and its colon, read strictly.
    fn member_key(&mut self) -> Result<(), DecodeError> {
        if self.peek()? != b'"' {
            return Err(self.unexpected("a string key"));
        }
        self.read_str()?;
        self.expect(b':', "`:`")
    }

    /// Checks that only whitespace remains.
    pub(crate) fn finish(&mut self) -> Result<(), DecodeError> {
        self.skip_whitespace();
        if self.pos < self.bytes.len() {
            return Err(DecodeError::TrailingBytes { offset: self.pos });
        }
        Ok(())
    }
}

/// Checks strictly that `bytes` are exactly one JSON value (RFC 8259) in UTF-8, optionally
/// surrounded by whitespace, nesting at most [`MAX_DEPTH`] levels.
///
/// Unlike the envelope scan, nothing is taken on trust: this is for bytes about to go on the wire
/// verbatim (a raw command's `d`), where anything Discord's parser chokes on gets the connection
/// closed. It never recurses, so hostile nesting cannot exhaust a small stack.
///
/// # Errors
/// The first problem found: [`DecodeError::InvalidUtf8`] (at the first invalid byte; the whole
/// text is checked before anything else), [`DecodeError::UnexpectedEnd`] (for empty input too),
/// [`DecodeError::UnexpectedByte`], [`DecodeError::InvalidNumber`],
/// [`DecodeError::InvalidEscape`], [`DecodeError::ControlCharacter`],
/// [`DecodeError::TooDeep`] or [`DecodeError::TrailingBytes`].
pub(crate) fn validate_value(bytes: &[u8]) -> Result<(), DecodeError> {
    // With the whole text known to be UTF-8, strings need no further UTF-8 checks: every byte of
    // a multi-byte character is >= 0x80 and means nothing to JSON.
    core::str::from_utf8(bytes).map_err(|error| DecodeError::InvalidUtf8 {
        offset: error.valid_up_to(),
    })?;
    let mut reader = Reader::new(bytes);
    reader.check_value()?;
    reader.finish()
}

/// The offset just past the closing quote of the string whose contents start at `from`.
fn string_end(bytes: &[u8], mut from: usize) -> Result<usize, DecodeError> {
    loop {
        let rest = bytes.get(from..).ok_or(DecodeError::UnexpectedEnd)?;
        match memchr::memchr2(b'"', b'\\', rest) {
            Some(i) if rest[i] == b'"' => return Ok(from + i + 1),
            // An escape: whatever follows the backslash cannot end the string.
            Some(i) => from += i + 2,
            None => return Err(DecodeError::UnexpectedEnd),
        }
    }
}

fn digits_end(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).is_some_and(u8::is_ascii_digit) {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::string::{String, ToString};

    use super::{validate_value, DecodeError, Reader, MAX_DEPTH};

    fn skip(json: &str) -> Result<core::ops::Range<usize>, DecodeError> {
        let mut reader = Reader::new(json.as_bytes());
        let span = reader.skip_value()?;
        reader.finish()?;
        Ok(span)
    }

    #[test]
    fn skips_every_kind_of_value() {
        for json in [
            "null",
            "true",
            "false",
            "0",
            "-0",
            "12.5e-3",
            "\"a\\\"b\"",
            "[]",
            "{}",
            "[1,[2,{\"a\":\"]\"}]]",
            " {\"x\": \"}\\\\\"} ",
        ] {
            let span = skip(json).unwrap_or_else(|e| panic!("{json}: {e}"));
            assert_eq!(json[span].trim(), json.trim());
        }
    }

    #[test]
    fn refuses_broken_values() {
        assert_eq!(skip("[1,2"), Err(DecodeError::UnexpectedEnd));
        assert_eq!(skip("\"abc"), Err(DecodeError::UnexpectedEnd));
        assert_eq!(skip("\"abc\\"), Err(DecodeError::UnexpectedEnd));
        assert!(matches!(
            skip("[1}"),
            Err(DecodeError::UnexpectedByte { offset: 2, .. })
        ));
        assert!(matches!(skip("nul"), Err(DecodeError::UnexpectedEnd)));
        assert!(matches!(
            skip("nulx"),
            Err(DecodeError::UnexpectedByte { .. })
        ));
        assert!(matches!(
            skip("01"),
            Err(DecodeError::TrailingBytes { offset: 1 })
        ));
        assert!(matches!(skip("1."), Err(DecodeError::UnexpectedEnd)));
        assert!(matches!(skip("-"), Err(DecodeError::UnexpectedEnd)));
        assert!(matches!(
            skip("1e+x"),
            Err(DecodeError::InvalidNumber { .. })
        ));
    }

    #[test]
    fn nesting_is_bounded() {
        let mut deep = [b'['; MAX_DEPTH + 1];
        let ok = core::str::from_utf8(&deep[..MAX_DEPTH]).unwrap();
        assert_eq!(skip(ok), Err(DecodeError::UnexpectedEnd));
        deep[MAX_DEPTH] = b'[';
        let too_deep = core::str::from_utf8(&deep).unwrap();
        assert_eq!(
            skip(too_deep),
            Err(DecodeError::TooDeep { limit: MAX_DEPTH })
        );
    }

    #[test]
    fn strict_strings_check_escapes_and_controls() {
        let mut reader = Reader::new(b"\"a\\u00e9\\ud83d\\ude00\"");
        let s = reader.read_str().unwrap();
        assert!(s.escaped);
        assert!(s.equals("a\u{e9}\u{1F600}"));
        let mut out = heapless::String::<16>::new();
        s.unescape_into("t", &mut out).unwrap();
        assert_eq!(out.as_str(), "a\u{e9}\u{1F600}");

        for bad in [
            "\"\\ud83d\"",
            "\"\\udc00\\ud83d\"",
            "\"\\x\"",
            "\"\\u12g4\"",
        ] {
            assert!(
                matches!(
                    Reader::new(bad.as_bytes()).read_str(),
                    Err(DecodeError::InvalidEscape { .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            Reader::new(b"\"a\nb\"").read_str(),
            Err(DecodeError::ControlCharacter { offset: 2 })
        ));
        let mut tiny = heapless::String::<2>::new();
        assert_eq!(
            Reader::new(b"\"abc\"")
                .read_str()
                .unwrap()
                .unescape_into("t", &mut tiny),
            Err(DecodeError::TooLong {
                field: "t",
                limit: 2
            })
        );
    }

    #[test]
    fn a_cut_escape_is_an_unexpected_end() {
        for cut in [
            "\"\\",
            "\"\\u",
            "\"\\u00",
            "\"\\ud83d",
            "\"\\ud83d\\",
            "\"\\ud83d\\u",
            "\"\\ud83d\\ude0",
        ] {
            assert_eq!(
                Reader::new(cut.as_bytes()).read_str(),
                Err(DecodeError::UnexpectedEnd),
                "{cut}"
            );
        }
        // Cut after something already wrong: the wrong thing is reported.
        for bad in ["\"\\u0g", "\"\\ud83dx", "\"\\ud83d\\x", "\"\\ude00"] {
            assert!(
                matches!(
                    Reader::new(bad.as_bytes()).read_str(),
                    Err(DecodeError::InvalidEscape { offset: 1 })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn objects_being_walked_count_towards_the_depth() {
        let inner = String::from("[").repeat(MAX_DEPTH - 1) + &"]".repeat(MAX_DEPTH - 1);
        let fits = String::from("{\"a\":") + &inner + "}";
        let mut reader = Reader::new(fits.as_bytes());
        reader.begin_object().unwrap();
        reader.next_key(true).unwrap().unwrap();
        reader.skip_value().unwrap();
        assert_eq!(reader.next_key(false), Ok(None));
        reader.finish().unwrap();

        let too_deep = String::from("{\"a\":[") + &inner + "]}";
        let mut reader = Reader::new(too_deep.as_bytes());
        reader.begin_object().unwrap();
        reader.next_key(true).unwrap().unwrap();
        assert_eq!(
            reader.skip_value(),
            Err(DecodeError::TooDeep { limit: MAX_DEPTH })
        );
    }

    #[test]
    fn validation_accepts_every_kind_of_value() {
        for good in [
            "null",
            "true",
            "false",
            "0",
            "-0",
            "251",
            "-12.5e+3",
            "1E9",
            "0.25",
            r#""""#,
            r#""a \"quoted\" \\ \/ \b\f\n\r\t \u00e9 \uD83D\uDE00 ✓ \u0000""#,
            "[]",
            "{}",
            "[ ]",
            "{ }",
            " [1, [2, {}], {\"a\": [null]}] ",
            "\n{\"op\":1,\"d\":{\"guild_ids\":[\"1\",\"2\"]}}\r\n",
            "{\"\":{\"\":[]}}",
            "\"\u{7f}\"",
        ] {
            assert_eq!(validate_value(good.as_bytes()), Ok(()), "{good}");
        }
    }

    #[test]
    fn validation_refuses_malformed_text() {
        use DecodeError::{InvalidNumber, TrailingBytes, UnexpectedEnd};
        let byte = |offset, expected| DecodeError::UnexpectedByte { offset, expected };
        for (bad, expected) in [
            ("", UnexpectedEnd),
            ("  \n", UnexpectedEnd),
            ("nul", UnexpectedEnd),
            ("tru", UnexpectedEnd),
            ("-", UnexpectedEnd),
            ("1.", UnexpectedEnd),
            ("1e", UnexpectedEnd),
            ("[1", UnexpectedEnd),
            ("{", UnexpectedEnd),
            ("\"open", UnexpectedEnd),
            ("{\"a\":1", UnexpectedEnd),
            ("-x", InvalidNumber { offset: 0 }),
            ("1.x", InvalidNumber { offset: 0 }),
            ("1e+x", InvalidNumber { offset: 0 }),
            ("[1.]", InvalidNumber { offset: 1 }),
            ("[01]", byte(2, "`,` or `]`")),
            (".5", byte(0, "a JSON value")),
            ("+1", byte(0, "a JSON value")),
            ("NaN", byte(0, "a JSON value")),
            ("'x'", byte(0, "a JSON value")),
            ("]", byte(0, "a JSON value")),
            ("[1,]", byte(3, "a JSON value")),
            ("[,1]", byte(1, "a JSON value")),
            ("[1 2]", byte(3, "`,` or `]`")),
            ("[}", byte(1, "a JSON value")),
            ("{]", byte(1, "a string key")),
            ("{\"a\"}", byte(4, "`:`")),
            ("{\"a\":}", byte(5, "a JSON value")),
            ("{\"a\":1,}", byte(7, "a string key")),
            ("{\"a\":1 \"b\":2}", byte(7, "`,` or `}`")),
            ("{\"a\":1]", byte(6, "`,` or `}`")),
            ("{a:1}", byte(1, "a string key")),
            ("{1:2}", byte(1, "a string key")),
            ("[tru]", byte(1, "`true`, `false` or `null`")),
            ("1 2", TrailingBytes { offset: 2 }),
            ("{}{}", TrailingBytes { offset: 2 }),
            ("null,", TrailingBytes { offset: 4 }),
            // A leading zero ends the number; what follows is a second value.
            ("01", TrailingBytes { offset: 1 }),
            ("nulls", TrailingBytes { offset: 4 }),
        ] {
            assert_eq!(validate_value(bad.as_bytes()), Err(expected), "{bad:?}");
        }
    }

    #[test]
    fn validation_checks_strings_strictly() {
        use DecodeError::{ControlCharacter, InvalidEscape, InvalidUtf8};
        for (bad, expected) in [
            ("\"tab\tinside\"", ControlCharacter { offset: 4 }),
            ("[\"nul\0inside\"]", ControlCharacter { offset: 5 }),
            ("{\"k\u{1f}\":1}", ControlCharacter { offset: 3 }),
            (r#""\x41""#, InvalidEscape { offset: 1 }),
            (r#""\u12""#, InvalidEscape { offset: 1 }),
            (r#""\uZZZZ""#, InvalidEscape { offset: 1 }),
            (r#""\uD83D""#, InvalidEscape { offset: 1 }),
            (r#""\uD83D\u0041""#, InvalidEscape { offset: 1 }),
            (r#""\uDE00""#, InvalidEscape { offset: 1 }),
            (r#"{"\uDE00":1}"#, InvalidEscape { offset: 2 }),
        ] {
            assert_eq!(validate_value(bad.as_bytes()), Err(expected), "{bad:?}");
        }
        for (bad, offset) in [
            (&b"\"\xff\""[..], 1),
            (b"[\"ok\", \"\xC0\x80\"]", 8),
            (b"{\"\xED\xA0\x80\":1}", 2),
            (b"\xff", 0),
            (b"\"\xE2\x82", 1),
        ] {
            assert_eq!(validate_value(bad), Err(InvalidUtf8 { offset }), "{bad:?}");
        }
    }

    #[test]
    fn validation_bounds_nesting_without_recursion() {
        let deepest = String::from("[").repeat(MAX_DEPTH) + "1" + &"]".repeat(MAX_DEPTH);
        assert_eq!(validate_value(deepest.as_bytes()), Ok(()));
        let deepest =
            String::from("{\"a\":").repeat(MAX_DEPTH - 1) + "[]" + &"}".repeat(MAX_DEPTH - 1);
        assert_eq!(validate_value(deepest.as_bytes()), Ok(()));
        let too_deep = Err(DecodeError::TooDeep { limit: MAX_DEPTH });
        let empty = String::from("[").repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(validate_value(empty.as_bytes()), too_deep);
        let full = String::from("[").repeat(MAX_DEPTH + 1) + "1" + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(validate_value(full.as_bytes()), too_deep);
        let hostile = String::from("[").repeat(100_000);
        assert_eq!(validate_value(hostile.as_bytes()), too_deep);
        let hostile = String::from("{\"a\":").repeat(100_000);
        assert_eq!(validate_value(hostile.as_bytes()), too_deep);
    }

    /// The validator agrees with `serde_json` on a few payloads and on every one-byte edit of
    /// them.
    #[test]
    fn validation_agrees_with_serde_json() {
        use std::vec::Vec;
        let examples = [
            include_str!("../../../fixtures/payload-examples/hello.json"),
            include_str!("../../../fixtures/payload-examples/rate_limited.json"),
            include_str!("../../../fixtures/payload-examples/send_identify.json"),
            r#"{"op":3,"d":{"since":-1.5e+3,"activities":[{"name":"\u00e9\ud83d\ude00 \"q\" \\ \/ \b\f\n\r\t","type":0,"flags":[true,false,null,0.25,-0,1E9]}],"status":"✓","x":{"":[[],{}]}}}"#,
        ];
        let agree = |bytes: &[u8]| {
            let serde = match serde_json::from_slice::<serde_json::Value>(bytes) {
                Ok(_) => true,
                // JSON's grammar has no range; serde_json refuses what overflows an f64
                // (`8e53856`). The validator checks the grammar only, as it always has.
                Err(error) if error.to_string().starts_with("number out of range") => return,
                Err(_) => false,
            };
            assert_eq!(
                validate_value(bytes).is_ok(),
                serde,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        };
        for example in examples {
            agree(example.as_bytes());
            let bytes = example.as_bytes();
            for at in 0..bytes.len() {
                let mut edited: Vec<u8> = bytes.to_vec();
                edited.remove(at);
                agree(&edited);
                for replacement in [
                    b'"', b'\\', b',', b':', b'}', b']', b'0', b'-', b'e', b'x', 1, 0xFF,
                ] {
                    let mut edited: Vec<u8> = bytes.to_vec();
                    edited[at] = replacement;
                    agree(&edited);
                }
            }
        }
    }

    #[test]
    fn validation_pairs_objects_and_arrays() {
        let mixed = r#"{"a":[{"b":[1,{"c":{}}]},[]],"d":{"e":[[{"f":null}]]}}"#;
        assert_eq!(validate_value(mixed.as_bytes()), Ok(()));
        let crossed = r#"{"a":[{"b":[1,{"c":{}}]},[]},"d":1]"#;
        assert_eq!(
            validate_value(crossed.as_bytes()),
            Err(DecodeError::UnexpectedByte {
                offset: 27,
                expected: "`,` or `]`"
            })
        );
    }

    #[test]
    fn integers_are_read_exactly() {
        let read = |json: &str| Reader::new(json.as_bytes()).read_u64();
        assert_eq!(read("0"), Ok(0));
        // serde_json reads `-0` as a float, so no integer field takes it.
        assert_eq!(read("-0"), Err(DecodeError::InvalidNumber { offset: 0 }));
        assert_eq!(read("18446744073709551615"), Ok(u64::MAX));
        assert!(read("18446744073709551616").is_err());
        assert!(read("-1").is_err());
        assert!(read("1.0").is_err());
        assert!(read("1e2").is_err());
    }
}
