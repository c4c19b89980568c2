//! Snowflakes: Discord's 64-bit ids, and what their bits mean.

use core::fmt;
use core::str::FromStr;

/// Discord's epoch, the first millisecond of 2015, in Unix milliseconds.
pub const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// A Discord id (guild, channel, user, message, ...).
///
/// On the wire JSON carries snowflakes as decimal strings; this type serializes as one and accepts
/// both a string and a number when deserialized (Discord returns numbers for ids a client sent as
/// numbers, and ETF carries integers).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Snowflake(pub u64);

impl Snowflake {
    /// The id's creation time in Unix milliseconds.
    #[must_use]
    pub const fn timestamp_ms(self) -> u64 {
        (self.0 >> 22) + DISCORD_EPOCH_MS
    }

    /// Discord's internal worker id (bits 17-21).
    #[must_use]
    pub const fn worker_id(self) -> u8 {
        ((self.0 & 0x3E_0000) >> 17) as u8
    }

    /// Discord's internal process id (bits 12-16).
    #[must_use]
    pub const fn process_id(self) -> u8 {
        ((self.0 & 0x1_F000) >> 12) as u8
    }

    /// The per-process increment (bits 0-11).
    #[must_use]
    pub const fn increment(self) -> u16 {
        (self.0 & 0xFFF) as u16
    }

    /// The smallest snowflake created at `unix_ms`, for use as a pagination bound. Times before
    /// Discord's epoch give zero.
    #[must_use]
    pub const fn from_timestamp_ms(unix_ms: u64) -> Self {
        Self(unix_ms.saturating_sub(DISCORD_EPOCH_MS) << 22)
    }

    /// Parses the decimal form, as JSON carries it.
    ///
    /// # Errors
    /// [`InvalidSnowflake`] when `text` is empty, has a non-digit, or overflows 64 bits.
    pub fn parse(text: &[u8]) -> Result<Self, InvalidSnowflake> {
        if text.is_empty() || text.len() > 20 {
            return Err(InvalidSnowflake);
        }
        let mut value: u64 = 0;
        for &byte in text {
            let digit = byte.wrapping_sub(b'0');
            if digit > 9 {
                return Err(InvalidSnowflake);
            }
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(digit)))
                .ok_or(InvalidSnowflake)?;
        }
        Ok(Self(value))
    }
}

impl From<u64> for Snowflake {
    fn from(value: u64) -> Self {
        Self(value)
    }
}

impl From<Snowflake> for u64 {
    fn from(value: Snowflake) -> Self {
        value.0
    }
}

impl FromStr for Snowflake {
    type Err = InvalidSnowflake;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text.as_bytes())
    }
}

impl fmt::Display for Snowflake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A snowflake's text was not a decimal 64-bit number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidSnowflake;

impl fmt::Display for InvalidSnowflake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a snowflake must be a decimal number that fits in 64 bits")
    }
}

impl core::error::Error for InvalidSnowflake {}

impl serde::Serialize for Snowflake {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = [0u8; 20];
        let digits = crate::decimal::digits(self.0, &mut out);
        // Only ASCII digits were written.
        let text = core::str::from_utf8(digits).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(text)
    }
}

impl<'de> serde::Deserialize<'de> for Snowflake {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl serde::de::Visitor<'_> for Visitor {
            type Value = Snowflake;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a snowflake as a decimal string or an integer")
            }

            fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<Snowflake, E> {
                Ok(Snowflake(value))
            }

            fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<Snowflake, E> {
                u64::try_from(value)
                    .map(Snowflake)
                    .map_err(|_| E::custom(InvalidSnowflake))
            }

            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Snowflake, E> {
                Snowflake::parse(value.as_bytes()).map_err(E::custom)
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::Snowflake;

    #[test]
    fn the_documented_example_decodes() {
        let id: Snowflake = "175928847299117063".parse().unwrap();
        assert_eq!(id.timestamp_ms(), 1_462_015_105_796);
        assert_eq!(id.worker_id(), 1);
        assert_eq!(id.process_id(), 0);
        assert_eq!(id.increment(), 7);
    }

    #[test]
    fn a_timestamp_bound_round_trips() {
        let id = Snowflake::from_timestamp_ms(1_462_015_105_796);
        assert_eq!(id.timestamp_ms(), 1_462_015_105_796);
        assert_eq!(id.increment(), 0);
        assert_eq!(Snowflake::from_timestamp_ms(0), Snowflake(0));
    }

    #[test]
    fn malformed_text_is_rejected() {
        for bad in ["", "-1", "12a", "18446744073709551616", " 1", "1.0"] {
            assert!(bad.parse::<Snowflake>().is_err(), "{bad:?}");
        }
        assert_eq!("0".parse::<Snowflake>(), Ok(Snowflake(0)));
        assert_eq!(
            "18446744073709551615".parse::<Snowflake>(),
            Ok(Snowflake(u64::MAX))
        );
    }

    #[test]
    fn serde_takes_strings_and_numbers_and_writes_strings() {
        let id: Snowflake = serde_json::from_str("\"584799433523331074\"").unwrap();
        assert_eq!(id, Snowflake(584_799_433_523_331_074));
        let id: Snowflake = serde_json::from_str("584799433523331074").unwrap();
        assert_eq!(id, Snowflake(584_799_433_523_331_074));
        assert!(serde_json::from_str::<Snowflake>("-5").is_err());
        assert_eq!(serde_json::to_string(&Snowflake(0)).unwrap(), "\"0\"");
        assert_eq!(
            serde_json::to_string(&Snowflake(u64::MAX)).unwrap(),
            "\"18446744073709551615\""
        );
    }
}
