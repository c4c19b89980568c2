//! The bot token, kept out of logs.
//!
//! A token is the one secret a gateway client holds: anyone who has it controls the bot, and a
//! token that leaks into a log line or a panic message is as good as published. [`Token`] therefore
//! never shows its text through [`Debug`](core::fmt::Debug) or [`Display`](core::fmt::Display),
//! and [`InvalidToken`] never echoes what it was given. The only way to read it back is
//! [`Token::as_str`] (and serialization, which is how Identify and Resume carry it).

use core::fmt;
use core::str::FromStr;

/// The longest token [`Token::new`] accepts, in bytes. Discord's bot tokens are about 72 bytes,
/// but Discord-compatible gateways issue JWT-style tokens of about 400. The token is kept inline
/// (every session holds one, without an allocator), so the bound is what those need with room
/// to spare, well inside what Identify allows: even a token of this length made entirely of
/// characters JSON escapes, beside the largest properties, leaves Identify under 4096 bytes.
pub const MAX_TOKEN_LEN: usize = 512;

/// A bot token, as Identify and Resume send it.
///
/// Built with [`Token::new`], which normalises what users tend to paste. Formatting shows
/// `Token(<redacted>)` (`Debug`) or `<redacted>` (`Display`), never the token itself; it serializes
/// as a plain JSON string.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(heapless::String<MAX_TOKEN_LEN>);

impl Token {
    /// Checks and stores a bot token.
    ///
    /// Surrounding whitespace and a leading `Bot ` (in any case) are removed: users paste the HTTP
    /// `Authorization` header form, while the gateway wants the bare token.
    ///
    /// # Errors
    /// [`InvalidToken`] when nothing is left, the token is longer than [`MAX_TOKEN_LEN`], or it
    /// holds a byte that is not printable ASCII (spaces included): no real token does, so such a
    /// value is a pasting mistake that Discord would answer with close code 4004.
    pub fn new(token: &str) -> Result<Self, InvalidToken> {
        let mut token = token.trim_start();
        if let Some(prefix) = token.get(..4) {
            if prefix.eq_ignore_ascii_case("bot ") {
                token = &token[4..];
            }
        }
        let token = token.trim();
        if token.is_empty() {
            return Err(InvalidToken::Empty);
        }
        if let Some(offset) = token.bytes().position(|byte| !byte.is_ascii_graphic()) {
            return Err(InvalidToken::ForbiddenCharacter { offset });
        }
        heapless::String::try_from(token)
            .map(Self)
            .map_err(|_| InvalidToken::TooLong { len: token.len() })
    }

    /// The token's text, for the few places that must send it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl FromStr for Token {
    type Err = InvalidToken;

    fn from_str(token: &str) -> Result<Self, Self::Err> {
        Self::new(token)
    }
}

impl TryFrom<&str> for Token {
    type Error = InvalidToken;

    fn try_from(token: &str) -> Result<Self, Self::Error> {
        Self::new(token)
    }
}

impl serde::Serialize for Token {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Why a token was refused. Carries positions and lengths only, never the token's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidToken {
    /// Nothing was left after trimming whitespace and the `Bot ` prefix.
    Empty,
    /// The token is longer than [`MAX_TOKEN_LEN`].
    TooLong {
        /// The token's length in bytes, after trimming.
        len: usize,
    },
    /// The token holds a space, a control character or a non-ASCII character.
    ForbiddenCharacter {
        /// Byte offset of the character in the trimmed token.
        offset: usize,
    },
}

impl fmt::Display for InvalidToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Empty => f.write_str("the bot token is empty"),
            Self::TooLong { len } => write!(
                f,
                "the bot token is {len} bytes long, more than the {MAX_TOKEN_LEN} accepted"
            ),
            Self::ForbiddenCharacter { offset } => write!(
                f,
                "the bot token has a character that is not printable ASCII at byte {offset}"
            ),
        }
    }
}

impl core::error::Error for InvalidToken {}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::format;
    use std::string::ToString;

    use super::{InvalidToken, Token, MAX_TOKEN_LEN};

    const SECRET: &str = "MTA4NTk4NzY1NDMyMTAxMjM0NQ.GxYzAb.not-a-real-token-0123456789abcdefghij";

    #[test]
    fn a_pasted_authorization_header_becomes_the_bare_token() {
        for pasted in [
            SECRET,
            "Bot MTA4NTk4NzY1NDMyMTAxMjM0NQ.GxYzAb.not-a-real-token-0123456789abcdefghij",
            "  bot   MTA4NTk4NzY1NDMyMTAxMjM0NQ.GxYzAb.not-a-real-token-0123456789abcdefghij\n",
            "\tBOT MTA4NTk4NzY1NDMyMTAxMjM0NQ.GxYzAb.not-a-real-token-0123456789abcdefghij ",
        ] {
            assert_eq!(Token::new(pasted).unwrap().as_str(), SECRET, "{pasted:?}");
        }
    }

    #[test]
    fn a_token_that_merely_starts_with_bot_is_kept_whole() {
        assert_eq!(Token::new("Bottle.x.y").unwrap().as_str(), "Bottle.x.y");
    }

    #[test]
    fn empty_tokens_are_refused() {
        for empty in ["", "   ", "Bot ", "Bot    ", "\n\t"] {
            assert_eq!(Token::new(empty), Err(InvalidToken::Empty), "{empty:?}");
        }
    }

    #[test]
    fn jwt_style_tokens_of_discord_compatible_gateways_are_accepted() {
        let jwt = format!(
            "eyJhbGciOiJIUzI1NiJ9.{}.{}",
            "e".repeat(340),
            "s".repeat(43)
        );
        assert!(jwt.len() > 400);
        let token = Token::new(&format!("Bot {jwt}")).unwrap();
        assert_eq!(token.as_str(), jwt);
        assert_eq!(format!("{token:?}"), "Token(<redacted>)");
        assert_eq!(format!("{token}"), "<redacted>");
    }

    #[test]
    fn overlong_tokens_are_refused() {
        let longest = "a".repeat(MAX_TOKEN_LEN);
        assert!(Token::new(&longest).is_ok());
        let too_long = "a".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(
            Token::new(&too_long),
            Err(InvalidToken::TooLong {
                len: MAX_TOKEN_LEN + 1
            })
        );
    }

    #[test]
    fn tokens_with_spaces_controls_or_non_ascii_are_refused() {
        for (bad, offset) in [
            ("abc def", 3),
            ("abc\0def", 3),
            ("ab\u{7f}", 2),
            ("tökén", 1),
        ] {
            assert_eq!(
                Token::new(bad),
                Err(InvalidToken::ForbiddenCharacter { offset }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn formatting_never_shows_the_token() {
        let token = Token::new(SECRET).unwrap();
        let debug = format!("{token:?}");
        let display = format!("{token}");
        assert_eq!(debug, "Token(<redacted>)");
        assert_eq!(display, "<redacted>");
        assert!(!format!("{token:#?}").contains("GxYzAb"));
    }

    #[test]
    fn errors_never_echo_the_token() {
        let candidates = [
            format!("{SECRET} trailing-garbage"),
            format!("{SECRET}{}", "x".repeat(MAX_TOKEN_LEN)),
            format!("{SECRET}\u{7}"),
        ];
        for candidate in &candidates {
            let error = Token::new(candidate).unwrap_err();
            for text in [format!("{error:?}"), error.to_string()] {
                assert!(!text.contains("GxYzAb"), "{text}");
                assert!(!text.contains("trailing-garbage"), "{text}");
            }
        }
    }

    #[test]
    fn it_serializes_as_a_plain_string() {
        let token = Token::new(SECRET).unwrap();
        assert_eq!(
            serde_json::to_string(&token).unwrap(),
            format!("\"{SECRET}\"")
        );
    }

    #[test]
    fn it_parses_from_str() {
        let token: Token = "Bot abc".parse().unwrap();
        assert_eq!(token.as_str(), "abc");
        assert_eq!(Token::try_from("abc"), Ok(token));
    }
}
