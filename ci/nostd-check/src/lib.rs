//! Proof that the `discord-gateway` core needs neither std nor an allocator.
//!
//! This crate is `#![no_std]`, brings no allocator and defines its own `#[panic_handler]`. If
//! anything in its dependency graph (the core, serde, heapless, bitflags,
//! embedded-io, memchr, and safe_arch on x86) linked std, std's `panic_impl` lang item would
//! clash with the handler below and the build would fail with E0152. If anything needed an allocator, there is none to link.
//!
//! It is also a check of behaviour: [`run`] drives one whole Hello → Identify → READY →
//! heartbeat exchange with every buffer on the stack, and returns [`OK`] or the number of the step
//! that went wrong. The release build (`cargo build --release`) is the link proof; `cargo test`
//! runs the same function with std, where the panic handler is compiled out.
#![no_std]

use core::fmt::{self, Write as _};

use discord_gateway::session::{Config, Event, Message, SendBuffer, Session, State, Transmit};
use discord_gateway::{Instant, Token};

/// Everything went as expected.
pub const OK: u32 = 0;
/// The token or the configuration was refused.
pub const ERR_CONFIG: u32 = 1;
/// A new session did not ask to connect at once, asked to resume, or named the wrong URL.
pub const ERR_CONNECT: u32 = 2;
/// After the socket opened, the session was not waiting for Hello (or wanted to send already).
pub const ERR_OPEN: u32 = 3;
/// Hello was refused, or produced a dispatch.
pub const ERR_HELLO: u32 = 4;
/// Hello did not ask for an identify permit (or something was sent before the permit).
pub const ERR_PERMIT_NEEDED: u32 = 5;
/// The identify permit was not used.
pub const ERR_PERMIT: u32 = 6;
/// Nothing (or not a text frame) was sent after the permit.
pub const ERR_IDENTIFY_MISSING: u32 = 7;
/// What was sent after the permit is not an op 2 Identify carrying the token.
pub const ERR_IDENTIFY_BYTES: u32 = 8;
/// READY was refused, or was not handed back as a dispatch.
pub const ERR_READY: u32 = 9;
/// READY did not produce [`Event::Ready`], an active session, the session id and sequence 1.
pub const ERR_READY_EVENT: u32 = 10;
/// The active session named no deadline, or wanted to send before it.
pub const ERR_TIMEOUT: u32 = 11;
/// No heartbeat was sent once its deadline passed.
pub const ERR_HEARTBEAT_MISSING: u32 = 12;
/// The heartbeat is not `{"op":1,"d":1}`.
pub const ERR_HEARTBEAT_BYTES: u32 = 13;
/// The heartbeat ACK was refused or measured no latency.
pub const ERR_ACK: u32 = 14;
/// `discord-gateway-websocket` wrote a wrong upgrade request, refused RFC 6455's sample answer,
/// or misread a frame header.
pub const ERR_WEBSOCKET: u32 = 15;

const TOKEN: &str = "MTA4NTk4NzY1NDMyMTAxMjM0NQ.GxYzAb.not-a-real-token-0123456789abcdefghij";
const SESSION_ID: &str = "nostd-session-1";
const HELLO: &[u8] =
    br#"{"t":null,"s":null,"op":10,"d":{"heartbeat_interval":41250,"_trace":["gateway-prd"]}}"#;
const READY: &[u8] = br#"{"t":"READY","s":1,"op":0,"d":{"v":10,"user":{"id":"1","username":"bot"},"guilds":[],"session_id":"nostd-session-1","resume_gateway_url":"wss://gateway-us-east1-d.discord.gg","shard":[0,1],"application":{"id":"1","flags":0}}}"#;
const ACK: &[u8] = br#"{"t":null,"s":null,"op":11,"d":null}"#;
const EXPECTED_URL: &str = "wss://gateway.discord.gg/?v=10&encoding=json";

/// Drives one Hello → Identify → READY → heartbeat exchange on a virtual clock, with fixed
/// buffers on the stack and no allocator. Returns [`OK`] or the `ERR_*` code of the failed step.
#[must_use]
pub fn run() -> u32 {
    match scenario() {
        Ok(()) => OK,
        Err(code) => code,
    }
}

/// The same as [`run`], for C callers (and to give the static library a symbol to export).
#[no_mangle]
pub extern "C" fn discord_gateway_nostd_check() -> u32 {
    run()
}

fn check(condition: bool, code: u32) -> Result<(), u32> {
    if condition {
        Ok(())
    } else {
        Err(code)
    }
}

fn scenario() -> Result<(), u32> {
    let mut now = Instant::from_millis(1_000);
    let mut buf: SendBuffer = [0; 4096];

    let token = Token::new(TOKEN).map_err(|_| ERR_CONFIG)?;
    let config = Config::builder(token)
        .seed(42)
        .build()
        .map_err(|_| ERR_CONFIG)?;
    let mut session = Session::new(config);

    // A new session asks to connect at once, to the default gateway, to identify.
    {
        let connect = session.poll_connect(now).ok_or(ERR_CONNECT)?;
        check(!connect.resume, ERR_CONNECT)?;
        let mut url = FixedStr::<128>::new();
        write!(url, "{}", connect.url).map_err(|_| ERR_CONNECT)?;
        check(url.as_bytes() == EXPECTED_URL.as_bytes(), ERR_CONNECT)?;
    }
    session.handle_open(now);
    check(session.state() == State::AwaitingHello, ERR_OPEN)?;
    check(session.poll_transmit(now, &mut buf).is_none(), ERR_OPEN)?;

    // Hello: the session asks for an identify permit and sends nothing before it has one.
    now = Instant::from_millis(1_050);
    let dispatch = session
        .handle_message(now, Message::Text(HELLO))
        .map_err(|_| ERR_HELLO)?;
    check(dispatch.is_none(), ERR_HELLO)?;
    check(
        session.poll_event() == Some(Event::IdentifyPermitNeeded),
        ERR_PERMIT_NEEDED,
    )?;
    check(session.poll_event().is_none(), ERR_PERMIT_NEEDED)?;
    check(
        session.poll_transmit(now, &mut buf).is_none(),
        ERR_PERMIT_NEEDED,
    )?;
    check(session.state() == State::AwaitingPermit, ERR_PERMIT_NEEDED)?;

    // The permit: Identify goes out, once.
    check(session.handle_identify_permit(now), ERR_PERMIT)?;
    match session.poll_transmit(now, &mut buf) {
        Some(Transmit::Text(payload)) => {
            check(payload.starts_with(br#"{"op":2,"d":{"#), ERR_IDENTIFY_BYTES)?;
            check(contains(payload, TOKEN.as_bytes()), ERR_IDENTIFY_BYTES)?;
            check(payload.ends_with(b"}}"), ERR_IDENTIFY_BYTES)?;
        }
        Some(Transmit::Close(_) | Transmit::Binary(_)) | None => return Err(ERR_IDENTIFY_MISSING),
    }
    check(
        session.poll_transmit(now, &mut buf).is_none(),
        ERR_IDENTIFY_MISSING,
    )?;
    check(session.state() == State::Identifying, ERR_IDENTIFY_MISSING)?;

    // READY: handed back as a dispatch, borrowed from the message, and the session is live.
    now = Instant::from_millis(1_200);
    let dispatch = session
        .handle_message(now, Message::Text(READY))
        .map_err(|_| ERR_READY)?
        .ok_or(ERR_READY)?;
    check(dispatch.seq() == Some(1), ERR_READY)?;
    let mut ready = false;
    while let Some(event) = session.poll_event() {
        ready |= event == Event::Ready;
    }
    check(ready, ERR_READY_EVENT)?;
    check(session.state() == State::Active, ERR_READY_EVENT)?;
    check(session.session_id() == Some(SESSION_ID), ERR_READY_EVENT)?;
    check(session.seq() == Some(1), ERR_READY_EVENT)?;

    // Time passes on the virtual clock up to the first heartbeat (jittered into the interval).
    let due = session.poll_timeout().ok_or(ERR_TIMEOUT)?;
    check(due > now, ERR_TIMEOUT)?;
    check(due <= Instant::from_millis(1_050 + 41_250), ERR_TIMEOUT)?;
    check(session.poll_transmit(now, &mut buf).is_none(), ERR_TIMEOUT)?;
    now = due;
    session.handle_timeout(now);
    match session.poll_transmit(now, &mut buf) {
        Some(Transmit::Text(payload)) => {
            check(payload == br#"{"op":1,"d":1}"#, ERR_HEARTBEAT_BYTES)?;
        }
        Some(Transmit::Close(_) | Transmit::Binary(_)) | None => return Err(ERR_HEARTBEAT_MISSING),
    }
    check(
        session.poll_transmit(now, &mut buf).is_none(),
        ERR_HEARTBEAT_MISSING,
    )?;

    // The ACK closes the round trip; the session stays live.
    now = Instant::from_millis(due.as_millis() + 40);
    let dispatch = session
        .handle_message(now, Message::Text(ACK))
        .map_err(|_| ERR_ACK)?;
    check(dispatch.is_none(), ERR_ACK)?;
    check(
        session.latency() == Some(core::time::Duration::from_millis(40)),
        ERR_ACK,
    )?;
    check(session.poll_event().is_none(), ERR_ACK)?;
    check(session.state() == State::Active, ERR_ACK)?;
    websocket()
}

/// The websocket layer without std: the upgrade request, the check of RFC 6455's sample answer
/// (with a frame behind it) and that frame's header.
fn websocket() -> Result<(), u32> {
    use discord_gateway_websocket::{check_response, Header, Key, Opcode, Request};

    let key = Key::new(*b"the sample nonce");
    let mut out = [0; 256];
    let len = Request::new("gateway.discord.gg", "/?v=10&encoding=json", &key)
        .write(&mut out)
        .map_err(|_| ERR_WEBSOCKET)?;
    check(
        out[..len]
            .starts_with(b"GET /?v=10&encoding=json HTTP/1.1\r\nHost: gateway.discord.gg\r\n")
            && contains(
                &out[..len],
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
            ),
        ERR_WEBSOCKET,
    )?;
    let answer: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x02hi";
    let head = check_response(answer, &key)
        .ok()
        .flatten()
        .ok_or(ERR_WEBSOCKET)?;
    let (header, header_len) = Header::parse(&answer[head..])
        .ok()
        .flatten()
        .ok_or(ERR_WEBSOCKET)?;
    check(
        header.opcode == Opcode::Text && header.fin && header.len == 2 && header_len == 2,
        ERR_WEBSOCKET,
    )
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// A string of at most `N` bytes on the stack, to format the connect URL into.
struct FixedStr<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> FixedStr<N> {
    const fn new() -> Self {
        Self {
            bytes: [0; N],
            len: 0,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl<const N: usize> fmt::Write for FixedStr<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        self.bytes
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// No unwinding and nowhere to print: a panic parks the caller. Compiled out under `cargo test`,
/// where std provides the handler.
#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::println;

    use discord_gateway::session::{Config, Session};

    use super::{discord_gateway_nostd_check, run, OK};

    #[test]
    fn the_whole_exchange_runs_without_std() {
        assert_eq!(run(), OK);
        assert_eq!(discord_gateway_nostd_check(), OK);
    }

    #[test]
    fn sizes() {
        let session = core::mem::size_of::<Session>();
        let config = core::mem::size_of::<Config>();
        println!("size_of::<Session>() = {session} bytes");
        println!("size_of::<Config>() = {config} bytes");
        println!(
            "size_of::<Session>() - size_of::<Config>() = {} bytes",
            session - config
        );
        assert!(config < session);
    }
}
