//! The head of a payload too large to hold: `t`, `s` and `op`, read from its first bytes.
//!
//! Discord writes every payload as `{"t":…,"s":…,"op":…,"d":…}`, so the first few dozen bytes
//! of even a 20 MB GUILD_CREATE say what it is and which sequence number it takes. This scanner
//! reads only those: object keys in any order, scalar values, and it stops at `d`. Whenever the
//! prefix does not settle all three fields (a key order Discord does not use, a nested value
//! before them, a name too long to keep) it answers [`HeadScan::Unknown`] instead of guessing.

/// The longest event name kept (escapes included); the longest documented name is 38 bytes.
pub const MAX_NAME_LEN: usize = 64;

/// `t`, `s` and `op` of a payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// The opcode.
    pub op: u64,
    /// The sequence number, if not null.
    pub seq: Option<u64>,
    name: Option<([u8; MAX_NAME_LEN], u8)>,
}

impl Head {
    /// The event name as on the wire, between its quotes (escapes kept), if not null.
    #[must_use]
    pub fn raw_name(&self) -> Option<&[u8]> {
        self.name
            .as_ref()
            .map(|(bytes, len)| &bytes[..usize::from(*len)])
    }
}

/// What a prefix says about a payload's head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadScan {
    /// All of `t`, `s` and `op` were read.
    Known(Head),
    /// The prefix ends before they are known; more bytes may settle it.
    NeedMore,
    /// The head cannot be known from a prefix.
    Unknown,
}

#[derive(Default)]
struct Fields {
    op: Option<u64>,
    seq: Option<Option<u64>>,
    name: Option<Option<([u8; MAX_NAME_LEN], u8)>>,
}

/// A bytes-consumed-or-not result for one token.
enum Step<T> {
    Done(T),
    NeedMore,
    Unknown,
}

macro_rules! step {
    ($e:expr) => {
        match $e {
            Step::Done(value) => value,
            Step::NeedMore => return HeadScan::NeedMore,
            Step::Unknown => return HeadScan::Unknown,
        }
    };
}

/// Scans the first bytes of a payload.
#[must_use]
pub fn scan(prefix: &[u8]) -> HeadScan {
    let mut at = 0;
    let mut fields = Fields::default();
    step!(expect(prefix, &mut at, b'{'));
    loop {
        if let Fields {
            op: Some(op),
            seq: Some(seq),
            name: Some(name),
        } = fields
        {
            return HeadScan::Known(Head { op, seq, name });
        }
        let key = step!(string(prefix, &mut at));
        step!(expect(prefix, &mut at, b':'));
        skip_whitespace(prefix, &mut at);
        match key {
            b"op" => fields.op = Some(step!(number(prefix, &mut at))),
            b"s" => fields.seq = Some(step!(null_or(prefix, &mut at, number))),
            b"t" => {
                let name = step!(null_or(prefix, &mut at, string));
                fields.name = Some(match name {
                    None => None,
                    Some(raw) if raw.len() <= MAX_NAME_LEN => {
                        let mut bytes = [0; MAX_NAME_LEN];
                        bytes[..raw.len()].copy_from_slice(raw);
                        // At most 64: checked by the guard.
                        Some((bytes, raw.len() as u8))
                    }
                    Some(_) => return HeadScan::Unknown,
                });
            }
            // `d` before the head is settled: what follows is the data we cannot hold.
            b"d" => return HeadScan::Unknown,
            _ => step!(scalar(prefix, &mut at)),
        }
        skip_whitespace(prefix, &mut at);
        match prefix.get(at) {
            None => return HeadScan::NeedMore,
            Some(b',') => at += 1,
            // The object ended without all three, or something that is not JSON.
            Some(_) => return HeadScan::Unknown,
        }
    }
}

fn skip_whitespace(bytes: &[u8], at: &mut usize) {
    while matches!(bytes.get(*at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        *at += 1;
    }
}

fn expect(bytes: &[u8], at: &mut usize, byte: u8) -> Step<()> {
    skip_whitespace(bytes, at);
    match bytes.get(*at) {
        None => Step::NeedMore,
        Some(&found) if found == byte => {
            *at += 1;
            Step::Done(())
        }
        Some(_) => Step::Unknown,
    }
}

/// A string's raw content (escapes kept).
fn string<'a>(bytes: &'a [u8], at: &mut usize) -> Step<&'a [u8]> {
    skip_whitespace(bytes, at);
    match bytes.get(*at) {
        None => return Step::NeedMore,
        Some(b'"') => {}
        Some(_) => return Step::Unknown,
    }
    let start = *at + 1;
    let mut i = start;
    loop {
        match bytes.get(i) {
            None => return Step::NeedMore,
            Some(b'"') => break,
            Some(b'\\') => i += 2,
            Some(&byte) if byte < 0x20 => return Step::Unknown,
            Some(_) => i += 1,
        }
    }
    *at = i + 1;
    Step::Done(&bytes[start..i])
}

/// A non-negative integer without fraction or exponent, as `op` and `s` are.
fn number(bytes: &[u8], at: &mut usize) -> Step<u64> {
    let start = *at;
    let mut value: u64 = 0;
    while let Some(&digit @ b'0'..=b'9') = bytes.get(*at) {
        let Some(next) = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(digit - b'0')))
        else {
            return Step::Unknown;
        };
        value = next;
        *at += 1;
    }
    match bytes.get(*at) {
        // The number may go on in the next bytes.
        None => Step::NeedMore,
        Some(_) if *at == start => Step::Unknown,
        Some(b'.' | b'e' | b'E') => Step::Unknown,
        // A leading zero is only a number on its own.
        Some(_) if bytes[start] == b'0' && *at - start > 1 => Step::Unknown,
        Some(_) => Step::Done(value),
    }
}

fn null_or<'a, T>(
    bytes: &'a [u8],
    at: &mut usize,
    value: fn(&'a [u8], &mut usize) -> Step<T>,
) -> Step<Option<T>> {
    match literal(bytes, at, b"null") {
        Step::Done(()) => Step::Done(None),
        Step::NeedMore => Step::NeedMore,
        Step::Unknown => match value(bytes, at) {
            Step::Done(v) => Step::Done(Some(v)),
            Step::NeedMore => Step::NeedMore,
            Step::Unknown => Step::Unknown,
        },
    }
}

fn literal(bytes: &[u8], at: &mut usize, word: &[u8]) -> Step<()> {
    let rest = &bytes[(*at).min(bytes.len())..];
    if rest.starts_with(word) {
        *at += word.len();
        Step::Done(())
    } else if word.starts_with(rest) {
        Step::NeedMore
    } else {
        Step::Unknown
    }
}

/// Any other key's value, when it is a scalar; a nested value is not followed.
fn scalar(bytes: &[u8], at: &mut usize) -> Step<()> {
    match bytes.get(*at) {
        None => Step::NeedMore,
        Some(b'"') => match string(bytes, at) {
            Step::Done(_) => Step::Done(()),
            Step::NeedMore => Step::NeedMore,
            Step::Unknown => Step::Unknown,
        },
        Some(b'n') => literal(bytes, at, b"null"),
        Some(b't') => literal(bytes, at, b"true"),
        Some(b'f') => literal(bytes, at, b"false"),
        Some(b'-' | b'0'..=b'9') => {
            while matches!(
                bytes.get(*at),
                Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
            ) {
                *at += 1;
            }
            if *at == bytes.len() {
                Step::NeedMore
            } else {
                Step::Done(())
            }
        }
        Some(_) => Step::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(prefix: &[u8]) -> Head {
        match scan(prefix) {
            HeadScan::Known(head) => head,
            other => panic!("{other:?} for {:?}", core::str::from_utf8(prefix)),
        }
    }

    #[test]
    fn discords_order_is_read_from_the_first_bytes() {
        let head = known(br#"{"t":"GUILD_CREATE","s":42,"op":0,"d":{"id":"1","members":["#);
        assert_eq!(head.op, 0);
        assert_eq!(head.seq, Some(42));
        assert_eq!(head.raw_name(), Some(&b"GUILD_CREATE"[..]));
    }

    #[test]
    fn any_order_of_the_three_works_before_d() {
        let head = known(br#"{ "op" : 0 , "s":7, "t":"X\"Y", "d":"#);
        assert_eq!((head.op, head.seq), (0, Some(7)));
        assert_eq!(head.raw_name(), Some(&br#"X\"Y"#[..]));
        let head = known(br#"{"t":null,"s":null,"op":11,"d":null}"#);
        assert_eq!((head.op, head.seq, head.raw_name()), (11, None, None));
    }

    #[test]
    fn every_cut_of_a_head_asks_for_more_and_never_guesses() {
        let full = br#"{"t":"MESSAGE_CREATE","s":1234,"op":0,"d":{}}"#;
        let end_of_head = full.iter().position(|&b| b == b'd').unwrap();
        for cut in 0..end_of_head - 2 {
            assert_eq!(scan(&full[..cut]), HeadScan::NeedMore, "cut at {cut}");
        }
        // `"s":1234` cut after `12` could be 12 or 1234: never taken as 12.
        let cut = br#"{"t":"MESSAGE_CREATE","s":12"#;
        assert_eq!(scan(cut), HeadScan::NeedMore);
    }

    #[test]
    fn data_first_or_nested_values_make_the_head_unknown() {
        assert_eq!(
            scan(br#"{"d":{"x":1},"t":"A","s":1,"op":0}"#),
            HeadScan::Unknown
        );
        assert_eq!(
            scan(br#"{"t":"A","x":[1],"s":1,"op":0}"#),
            HeadScan::Unknown
        );
        assert_eq!(scan(br#"{"t":"A","op":0}"#), HeadScan::Unknown);
        assert_eq!(scan(br#"{"t":"A","s":-1,"op":0,"d":1}"#), HeadScan::Unknown);
        assert_eq!(
            scan(br#"{"t":"A","s":1.5,"op":0,"d":1}"#),
            HeadScan::Unknown
        );
        assert_eq!(scan(br#"["t"]"#), HeadScan::Unknown);
        let long = [&br#"{"t":""#[..], &[b'A'; 65], br#"","s":1,"op":0"#].concat();
        assert_eq!(scan(&long), HeadScan::Unknown);
    }

    #[test]
    fn scalar_keys_before_the_head_are_stepped_over() {
        let head = known(br#"{"v":true,"n":null,"x":-1.5e3,"y":"z","t":"A","s":3,"op":0,"d":1}"#);
        assert_eq!((head.op, head.seq), (0, Some(3)));
    }
}
