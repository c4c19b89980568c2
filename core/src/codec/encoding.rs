//! The two encodings the gateway speaks, chosen per connection with the URL's `encoding`.

use super::etf;

/// How payloads are encoded on a connection (protocol reference §1.3, §11).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// JSON text: payloads in text frames (or compressed binary frames), commands in text frames.
    #[default]
    Json,
    /// Erlang's external term format: every payload and command is a binary frame.
    Etf,
}

impl Encoding {
    /// The value of the URL's `encoding` parameter.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Etf => "etf",
        }
    }

    /// The encoding named by an `encoding` parameter value, if it is one of the two.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "json" => Some(Self::Json),
            "etf" => Some(Self::Etf),
            _ => None,
        }
    }

    /// Whether commands go out in binary frames (otherwise text frames).
    #[must_use]
    pub const fn is_binary(self) -> bool {
        matches!(self, Self::Etf)
    }

    /// The encoded null value, for a `d` that was absent: `null` or the bare atom `nil`.
    #[must_use]
    pub const fn null(self) -> &'static [u8] {
        match self {
            Self::Json => b"null",
            Self::Etf => etf::NIL_TERM,
        }
    }
}
