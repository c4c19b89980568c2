//! Unsigned integers as decimal digits, two at a time: the one formatter behind snowflakes,
//! opcodes and every integer a command carries.

/// `00` to `99`, two ASCII digits each.
static DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// The decimal digits of `value` (no sign, no leading zeros), written at the end of `out`.
pub(crate) fn digits(mut value: u64, out: &mut [u8; 20]) -> &[u8] {
    let mut at = out.len();
    while value >= 100 {
        let pair = (value % 100) as usize * 2;
        value /= 100;
        at -= 2;
        out[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if value >= 10 {
        let pair = value as usize * 2;
        at -= 2;
        out[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        at -= 1;
        out[at] = b'0' + value as u8;
    }
    &out[at..]
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::string::ToString;

    use super::digits;

    #[test]
    fn every_width_matches_the_standard_formatter() {
        let mut value = 1u64;
        let mut samples = std::vec![0, 9, 10, 99, 100, 101, 999, 1000, u64::MAX, u64::MAX - 1];
        for _ in 0..20 {
            samples.extend([value - 1, value, value + 1]);
            value = value.saturating_mul(10);
        }
        for sample in samples {
            let mut out = [0u8; 20];
            assert_eq!(digits(sample, &mut out), sample.to_string().as_bytes());
        }
    }
}
