//! A strict check that bytes are exactly one JSON value (RFC 8259), for raw commands.
//!
//! Raw `d` bytes go on the wire verbatim, so anything Discord's parser would choke on must be
//! caught here: a malformed payload gets the connection closed (4002), not a helpful error. The
//! check never recurses (nesting depth is bounded by [`MAX_DEPTH`] and tracked in a bit stack), so
//! hostile input cannot exhaust a small embedded stack.

/// The deepest nesting of arrays and objects accepted. No send event comes close; the bound keeps
/// the container stack in one `u128`.
pub(crate) const MAX_DEPTH: u32 = 128;

/// Why bytes are not exactly one JSON value; each reason reads after a field name.
pub(crate) mod reason {
    pub(crate) const NOT_UTF8: &str = "is not valid UTF-8";
    pub(crate) const EMPTY: &str = "holds no JSON value";
    pub(crate) const TRAILING: &str = "has bytes after its JSON value";
    pub(crate) const MALFORMED: &str = "is not well-formed JSON";
    pub(crate) const BAD_STRING: &str =
        "has a JSON string with a raw control character, a bad escape or a lone surrogate";
    pub(crate) const TOO_DEEP: &str = "nests arrays and objects more than 128 levels deep";
}

/// Checks that `data` is one JSON value, optionally surrounded by whitespace.
pub(crate) fn check_value(data: &[u8]) -> Result<(), &'static str> {
    // UTF-8 is checked once for the whole text, so the string scanner only has to care about
    // ASCII: every byte of a multi-byte character is >= 0x80 and needs no JSON treatment.
    if core::str::from_utf8(data).is_err() {
        return Err(reason::NOT_UTF8);
    }
    let mut scanner = Scanner { data, at: 0 };
    scanner.skip_whitespace();
    if scanner.peek().is_none() {
        return Err(reason::EMPTY);
    }
    scanner.value()?;
    scanner.skip_whitespace();
    if scanner.peek().is_some() {
        return Err(reason::TRAILING);
    }
    Ok(())
}

/// A cursor over the text being checked.
struct Scanner<'a> {
    data: &'a [u8],
    at: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.data.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn expect(&mut self, wanted: u8) -> Result<(), &'static str> {
        if self.next() == Some(wanted) {
            Ok(())
        } else {
            Err(reason::MALFORMED)
        }
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// One value, nested containers included, without recursion.
    fn value(&mut self) -> Result<(), &'static str> {
        // Bit `n` of `objects` tells whether the container at depth `n + 1` is an object.
        let mut objects: u128 = 0;
        let mut depth: u32 = 0;
        loop {
            // A value is expected here.
            self.skip_whitespace();
            match self.next() {
                Some(open @ (b'{' | b'[')) => {
                    if depth == MAX_DEPTH {
                        return Err(reason::TOO_DEEP);
                    }
                    self.skip_whitespace();
                    let close = if open == b'{' { b'}' } else { b']' };
                    if self.peek() == Some(close) {
                        self.at += 1;
                    } else {
                        let is_object = open == b'{';
                        objects = (objects & !(1 << depth)) | (u128::from(is_object) << depth);
                        depth += 1;
                        if is_object {
                            self.key()?;
                        }
                        continue;
                    }
                }
                Some(b'"') => self.string()?,
                Some(b'-' | b'0'..=b'9') => {
                    self.at -= 1;
                    self.number()?;
                }
                Some(b't') => self.literal(b"rue")?,
                Some(b'f') => self.literal(b"alse")?,
                Some(b'n') => self.literal(b"ull")?,
                _ => return Err(reason::MALFORMED),
            }
            // A value ended: close containers until one continues with a comma.
            loop {
                if depth == 0 {
                    return Ok(());
                }
                let in_object = objects & (1 << (depth - 1)) != 0;
                self.skip_whitespace();
                match self.next() {
                    Some(b',') => {
                        if in_object {
                            self.key()?;
                        }
                        break;
                    }
                    Some(b'}') if in_object => depth -= 1,
                    Some(b']') if !in_object => depth -= 1,
                    _ => return Err(reason::MALFORMED),
                }
            }
        }
    }

    /// An object key and its colon.
    fn key(&mut self) -> Result<(), &'static str> {
        self.skip_whitespace();
        self.expect(b'"')?;
        self.string()?;
        self.skip_whitespace();
        self.expect(b':')
    }

    /// The rest of a string whose opening quote was consumed.
    fn string(&mut self) -> Result<(), &'static str> {
        loop {
            match self.next() {
                None => return Err(reason::MALFORMED),
                Some(b'"') => return Ok(()),
                Some(b'\\') => match self.next() {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {}
                    Some(b'u') => {
                        let unit = self.hex4()?;
                        if (0xDC00..=0xDFFF).contains(&unit) {
                            return Err(reason::BAD_STRING);
                        }
                        // A high surrogate only means something with a low one right after it;
                        // strict parsers refuse it alone.
                        if (0xD800..=0xDBFF).contains(&unit) {
                            if self.next() != Some(b'\\') || self.next() != Some(b'u') {
                                return Err(reason::BAD_STRING);
                            }
                            if !(0xDC00..=0xDFFF).contains(&self.hex4()?) {
                                return Err(reason::BAD_STRING);
                            }
                        }
                    }
                    _ => return Err(reason::BAD_STRING),
                },
                Some(0x00..=0x1F) => return Err(reason::BAD_STRING),
                Some(_) => {}
            }
        }
    }

    /// Four hex digits of a `\u` escape.
    fn hex4(&mut self) -> Result<u16, &'static str> {
        let mut unit: u16 = 0;
        for _ in 0..4 {
            let digit = match self.next() {
                Some(byte @ b'0'..=b'9') => byte - b'0',
                Some(byte @ b'a'..=b'f') => byte - b'a' + 10,
                Some(byte @ b'A'..=b'F') => byte - b'A' + 10,
                _ => return Err(reason::BAD_STRING),
            };
            unit = unit << 4 | u16::from(digit);
        }
        Ok(unit)
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    fn number(&mut self) -> Result<(), &'static str> {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.next() {
            Some(b'0') => {}
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(reason::MALFORMED),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.one_or_more_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.one_or_more_digits()?;
        }
        Ok(())
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
    }

    fn one_or_more_digits(&mut self) -> Result<(), &'static str> {
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(reason::MALFORMED);
        }
        self.digits();
        Ok(())
    }

    /// The rest of `true`, `false` or `null` after its first letter.
    fn literal(&mut self, rest: &[u8]) -> Result<(), &'static str> {
        let end = self.at + rest.len();
        if self.data.get(self.at..end) != Some(rest) {
            return Err(reason::MALFORMED);
        }
        self.at = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::string::String;

    use super::{check_value, reason, MAX_DEPTH};

    #[test]
    fn every_kind_of_value_is_accepted() {
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
            r#""a \"quoted\" \\ \/ \b\f\n\r\t \u00e9 \uD83D\uDE00 ✓""#,
            "[]",
            "{}",
            " [1, [2, {}], {\"a\": [null]}] ",
            "\n{\"op\":1,\"d\":{\"guild_ids\":[\"1\",\"2\"]}}\r\n",
        ] {
            assert_eq!(check_value(good.as_bytes()), Ok(()), "{good}");
        }
    }

    #[test]
    fn malformed_text_is_refused() {
        for bad in [
            "nul",
            "tru",
            "-",
            "1.",
            ".5",
            "1e",
            "+1",
            "[1,]",
            "[,1]",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{a:1}",
            "[1 2]",
            "[1",
            "{",
            "]",
            "\"open",
            "'x'",
            "{1:2}",
            "[}",
            "{]",
            "NaN",
        ] {
            assert_eq!(check_value(bad.as_bytes()), Err(reason::MALFORMED), "{bad}");
        }
    }

    #[test]
    fn nothing_or_more_than_one_value_is_refused() {
        assert_eq!(check_value(b""), Err(reason::EMPTY));
        assert_eq!(check_value(b"  \n"), Err(reason::EMPTY));
        assert_eq!(check_value(b"1 2"), Err(reason::TRAILING));
        assert_eq!(check_value(b"{}{}"), Err(reason::TRAILING));
        assert_eq!(check_value(b"null,"), Err(reason::TRAILING));
        // A leading zero ends the number; what follows is a second value.
        assert_eq!(check_value(b"01"), Err(reason::TRAILING));
        assert_eq!(check_value(b"nulls"), Err(reason::TRAILING));
    }

    #[test]
    fn bad_strings_are_refused() {
        for bad in [
            "\"tab\tinside\"",
            "\"nul\0inside\"",
            r#""\x41""#,
            r#""\u12""#,
            r#""\uZZZZ""#,
            r#""\uD83D""#,
            r#""\uD83D\u0041""#,
            r#""\uDE00""#,
        ] {
            assert_eq!(
                check_value(bad.as_bytes()),
                Err(reason::BAD_STRING),
                "{bad}"
            );
        }
        assert_eq!(check_value(b"\"\xff\""), Err(reason::NOT_UTF8));
    }

    #[test]
    fn nesting_is_bounded_without_recursion() {
        let depth = MAX_DEPTH as usize;
        let deepest: String = "[".repeat(depth) + "1" + &"]".repeat(depth);
        assert_eq!(check_value(deepest.as_bytes()), Ok(()));
        let deepest: String = "{\"a\":".repeat(depth - 1) + "[]" + &"}".repeat(depth - 1);
        assert_eq!(check_value(deepest.as_bytes()), Ok(()));
        let too_deep: String = "[".repeat(depth + 1) + &"]".repeat(depth + 1);
        assert_eq!(check_value(too_deep.as_bytes()), Err(reason::TOO_DEEP));
        let too_deep: String = "[".repeat(depth + 1) + "1" + &"]".repeat(depth + 1);
        assert_eq!(check_value(too_deep.as_bytes()), Err(reason::TOO_DEEP));
        let hostile = "[".repeat(100_000);
        assert_eq!(check_value(hostile.as_bytes()), Err(reason::TOO_DEEP));
    }

    #[test]
    fn objects_and_arrays_interleave_correctly() {
        let mixed = r#"{"a":[{"b":[1,{"c":{}}]},[]],"d":{"e":[[{"f":null}]]}}"#;
        assert_eq!(check_value(mixed.as_bytes()), Ok(()));
        let crossed = r#"{"a":[{"b":[1,{"c":{}}]},[]},"d":1]"#;
        assert_eq!(check_value(crossed.as_bytes()), Err(reason::MALFORMED));
    }
}
