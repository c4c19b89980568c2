//! RFC 6455 §5 framing, as a client: reading the server's frame headers, writing the client's,
//! masking, and close frame payloads.

use core::fmt;

/// The longest frame header: 2 bytes, an 8-byte extended length and a 4-byte mask key.
pub const MAX_HEADER_LEN: usize = 14;
/// The longest payload of a control frame (§5.5).
pub const MAX_CONTROL_LEN: usize = 125;

/// A frame's opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    /// The next fragment of a message.
    Continuation,
    /// The first frame of a text message.
    Text,
    /// The first frame of a binary message.
    Binary,
    /// A close frame.
    Close,
    /// A ping.
    Ping,
    /// A pong.
    Pong,
}

impl Opcode {
    /// The opcode of these four bits, if RFC 6455 defines it.
    pub const fn from_bits(bits: u8) -> Option<Self> {
        Some(match bits {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            _ => return None,
        })
    }

    /// The opcode's four bits.
    pub const fn bits(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    /// Close, ping and pong: never fragmented, at most 125 bytes, allowed between fragments.
    pub const fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }
}

/// A parsed frame header from the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The last frame of its message.
    pub fin: bool,
    /// What the frame carries.
    pub opcode: Opcode,
    /// The payload length.
    pub len: u64,
}

impl Header {
    /// Reads a server frame header from the front of `bytes`: `Ok(None)` when more bytes are
    /// needed, otherwise the header and how many bytes it took.
    pub fn parse(bytes: &[u8]) -> Result<Option<(Self, usize)>, FrameError> {
        let [b0, b1, rest @ ..] = bytes else {
            return Ok(None);
        };
        // No extension was negotiated, so no reserved bit may be set (§5.2).
        if b0 & 0x70 != 0 {
            return Err(FrameError::ReservedBits);
        }
        let opcode = Opcode::from_bits(b0 & 0x0F).ok_or(FrameError::UnknownOpcode(b0 & 0x0F))?;
        if b1 & 0x80 != 0 {
            // A server must not mask (§5.1).
            return Err(FrameError::MaskedByServer);
        }
        let fin = b0 & 0x80 != 0;
        let (len, header_len) = match b1 & 0x7F {
            126 => {
                let Some(ext) = rest.get(..2) else {
                    return Ok(None);
                };
                (u64::from(u16::from_be_bytes([ext[0], ext[1]])), 4)
            }
            127 => {
                let Some(ext) = rest.get(..8) else {
                    return Ok(None);
                };
                let mut raw = [0; 8];
                raw.copy_from_slice(ext);
                let len = u64::from_be_bytes(raw);
                if len >> 63 != 0 {
                    return Err(FrameError::LengthOverflow);
                }
                (len, 10)
            }
            short => (u64::from(short), 2),
        };
        if opcode.is_control() {
            if !fin {
                return Err(FrameError::FragmentedControl);
            }
            if len > MAX_CONTROL_LEN as u64 {
                return Err(FrameError::ControlTooLong);
            }
        }
        Ok(Some((Self { fin, opcode, len }, header_len)))
    }
}

/// Writes a masked client frame header for a whole (unfragmented) message into the end of
/// `out`, and returns where it starts, so that it sits right before a payload that follows.
pub fn write_client_header(
    opcode: Opcode,
    len: usize,
    mask: [u8; 4],
    out: &mut [u8; MAX_HEADER_LEN],
) -> usize {
    let mut header = [0u8; MAX_HEADER_LEN];
    header[0] = 0x80 | opcode.bits();
    let mut n = 2;
    if len < 126 {
        // Fits in seven bits: checked just above.
        header[1] = 0x80 | len as u8;
    } else if let Ok(short) = u16::try_from(len) {
        header[1] = 0x80 | 126;
        header[2..4].copy_from_slice(&short.to_be_bytes());
        n = 4;
    } else {
        header[1] = 0x80 | 127;
        header[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        n = 10;
    }
    header[n..n + 4].copy_from_slice(&mask);
    n += 4;
    let start = MAX_HEADER_LEN - n;
    out[start..].copy_from_slice(&header[..n]);
    start
}

/// XORs `payload` with the mask key (§5.3); the same call unmasks.
pub fn apply_mask(payload: &mut [u8], mask: [u8; 4]) {
    for (byte, key) in payload.iter_mut().zip(mask.iter().cycle()) {
        *byte ^= key;
    }
}

/// The close code of an endpoint that saw the other break the protocol (§7.4.1).
pub const PROTOCOL_ERROR: u16 = 1002;

/// A close frame's payload (§5.5.1): no code, or a code and a UTF-8 reason. Returns the code.
///
/// # Errors
/// [`FrameError::BadClosePayload`] for a one-byte payload or a reason that is not UTF-8.
pub fn parse_close(payload: &[u8]) -> Result<Option<u16>, FrameError> {
    match payload {
        [] => Ok(None),
        [_] => Err(FrameError::BadClosePayload),
        [hi, lo, reason @ ..] => {
            if core::str::from_utf8(reason).is_err() {
                return Err(FrameError::BadClosePayload);
            }
            Ok(Some(u16::from_be_bytes([*hi, *lo])))
        }
    }
}

/// The server broke the framing rules (RFC 6455 §5); the connection is closed with
/// [`PROTOCOL_ERROR`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// A reserved bit was set, but no extension was negotiated.
    ReservedBits,
    /// An opcode RFC 6455 does not define.
    UnknownOpcode(u8),
    /// The server masked a frame.
    MaskedByServer,
    /// A 64-bit length with its top bit set.
    LengthOverflow,
    /// A close, ping or pong split into fragments.
    FragmentedControl,
    /// A control frame over 125 bytes.
    ControlTooLong,
    /// A continuation frame with no message to continue.
    UnexpectedContinuation,
    /// A new message began before the last one's final fragment.
    ExpectedContinuation,
    /// A close frame with a one-byte payload or a reason that is not UTF-8.
    BadClosePayload,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ReservedBits => f.write_str("a frame set a reserved bit"),
            Self::UnknownOpcode(op) => write!(f, "a frame has the undefined opcode {op:#x}"),
            Self::MaskedByServer => f.write_str("the server masked a frame"),
            Self::LengthOverflow => f.write_str("a frame length has its top bit set"),
            Self::FragmentedControl => f.write_str("a control frame was fragmented"),
            Self::ControlTooLong => f.write_str("a control frame is longer than 125 bytes"),
            Self::UnexpectedContinuation => f.write_str("a continuation frame continues nothing"),
            Self::ExpectedContinuation => {
                f.write_str("a new message began before the last one ended")
            }
            Self::BadClosePayload => f.write_str("a close frame's payload is malformed"),
        }
    }
}

impl core::error::Error for FrameError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_medium_and_long_lengths_round_trip_through_a_server_view() {
        for len in [0usize, 1, 125, 126, 65_535, 65_536, 1 << 20] {
            let mut out = [0; MAX_HEADER_LEN];
            let start = write_client_header(Opcode::Text, len, [1, 2, 3, 4], &mut out);
            let mut unmasked = [0; MAX_HEADER_LEN];
            let header = &out[start..];
            unmasked[..header.len()].copy_from_slice(header);
            // What a server sees, minus the mask bit and key, is what a client reads.
            unmasked[1] &= 0x7F;
            let parsed = Header::parse(&unmasked[..header.len() - 4])
                .unwrap()
                .unwrap();
            assert_eq!(parsed.0.len, len as u64);
            assert_eq!(parsed.0.opcode, Opcode::Text);
            assert!(parsed.0.fin);
            assert_eq!(parsed.1, header.len() - 4);
            assert_eq!(&header[header.len() - 4..], &[1, 2, 3, 4]);
        }
    }

    #[test]
    fn incomplete_headers_ask_for_more() {
        assert_eq!(Header::parse(&[0x81]), Ok(None));
        assert_eq!(Header::parse(&[0x81, 126, 0]), Ok(None));
        assert_eq!(Header::parse(&[0x81, 127, 0, 0, 0]), Ok(None));
    }

    #[test]
    fn what_a_server_must_not_send_is_refused() {
        assert_eq!(Header::parse(&[0xC1, 0]), Err(FrameError::ReservedBits));
        assert_eq!(Header::parse(&[0x83, 0]), Err(FrameError::UnknownOpcode(3)));
        assert_eq!(
            Header::parse(&[0x81, 0x80]),
            Err(FrameError::MaskedByServer)
        );
        assert_eq!(
            Header::parse(&[0x09, 0]),
            Err(FrameError::FragmentedControl)
        );
        assert_eq!(
            Header::parse(&[0x89, 126, 0, 126]),
            Err(FrameError::ControlTooLong)
        );
        let huge = [0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(Header::parse(&huge), Err(FrameError::LengthOverflow));
    }

    #[test]
    fn masking_twice_gives_back_the_payload() {
        let mut payload = *b"hello, gateway";
        apply_mask(&mut payload, [0xde, 0xad, 0xbe, 0xef]);
        assert_ne!(&payload, b"hello, gateway");
        apply_mask(&mut payload, [0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(&payload, b"hello, gateway");
    }

    #[test]
    fn close_payloads_give_their_code_or_are_refused() {
        assert_eq!(parse_close(&[]), Ok(None));
        assert_eq!(parse_close(&[0x0f, 0xa0]), Ok(Some(4000)));
        assert_eq!(parse_close(&[0x03, 0xe8, b'b', b'y', b'e']), Ok(Some(1000)));
        assert_eq!(parse_close(&[0x03]), Err(FrameError::BadClosePayload));
        assert_eq!(
            parse_close(&[0x03, 0xe8, 0xff]),
            Err(FrameError::BadClosePayload)
        );
    }

    #[test]
    fn every_defined_opcode_round_trips_through_its_bits() {
        for bits in 0..16u8 {
            match Opcode::from_bits(bits) {
                Some(opcode) => assert_eq!(opcode.bits(), bits),
                None => assert!(matches!(bits, 3..=7 | 0xB..=0xF)),
            }
        }
    }
}
