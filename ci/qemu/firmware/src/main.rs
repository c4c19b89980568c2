//! The embedded client on a Cortex-M4, unchanged, over an in-memory `embedded-io-async`
//! transport replaying a session recorded from the sim (`recording/`, made by
//! `cargo run -p discord-gateway-embedded --example record`): upgrade, Hello, Identify, READY,
//! a GUILD_CREATE larger than the receive buffer, 1,000+ dispatches, op 7, Resume, replay.
//!
//! Every event the client hands over is compared with `session.expect`, every message it sends
//! with the recording (by the replay transport). The handler reads each MESSAGE_CREATE's
//! `content` and `author.id` into a struct that borrows them (`DispatchRef::deserialize`, no
//! allocator) and compares them with `messages.expect`. It prints its figures over semihosting and
//! exits 0 only when everything matched; a mismatch or a panic exits non-zero.
#![no_std]
#![no_main]

use core::fmt::Write as _;
use core::ops::ControlFlow;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use discord_gateway::session::Config;
use discord_gateway::Instant;
use discord_gateway_embedded::replay::firmware_session::{self, RX_LEN, SEED};
use discord_gateway_embedded::replay::{summarize, Replay, SeededEntropy, VirtualTimer};
use discord_gateway_embedded::{Buffers, BuildError, Client, Received, SEND_BUFFER_LEN};
use panic_semihosting as _;
use static_cell::StaticCell;

mod stack;

const RECORDING: &[u8] = include_bytes!("../recording/session.rec");
const EXPECTED: &str = include_str!("../recording/session.expect");
/// `author.id content` for each MESSAGE_CREATE, as serde_json reads it on the host
/// (`adapters/embedded/tests/recorded.rs` checks it).
const MESSAGES: &str = include_str!("../recording/messages.expect");

/// What the bot reads from a MESSAGE_CREATE, borrowed from the receive buffer.
#[derive(serde::Deserialize)]
struct Message<'a> {
    content: &'a str,
    #[serde(borrow)]
    author: Author<'a>,
}

#[derive(serde::Deserialize)]
struct Author<'a> {
    id: &'a str,
}
/// QEMU's SysTick on this board counts at 25 MHz; with `-icount shift=0` one instruction takes
/// 1 ns, so a tick is 40 instructions.
const INSTRUCTIONS_PER_TICK: u64 = 40;
/// The recorded MESSAGE_CREATEs whose cost is measured (the recorder's 1.3 KB ones).
const MEASURED_LEN: core::ops::Range<usize> = 1_200..1_400;

static RX: StaticCell<[u8; RX_LEN]> = StaticCell::new();
static TX: StaticCell<[u8; SEND_BUFFER_LEN]> = StaticCell::new();
static CLIENT: StaticCell<Result<Client<'static, SeededEntropy>, BuildError>> = StaticCell::new();
static REPLAY: StaticCell<Replay<'static>> = StaticCell::new();

#[entry]
fn main() -> ! {
    let code = match run() {
        Ok(()) => debug::EXIT_SUCCESS,
        Err(()) => debug::EXIT_FAILURE,
    };
    debug::exit(code);
    loop {
        cortex_m::asm::bkpt();
    }
}

/// Counts SysTick ticks across its 24-bit wraps (it is read far more often than it wraps).
struct Ticks {
    last: u32,
    total: u64,
}

impl Ticks {
    fn start(syst: &mut SYST) -> Self {
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(0x00FF_FFFF);
        syst.clear_current();
        syst.enable_counter();
        Self {
            last: SYST::get_current(),
            total: 0,
        }
    }

    fn now(&mut self) -> u64 {
        let current = SYST::get_current();
        // A down-counter: what went by since the last read, modulo the 24-bit reload.
        let elapsed = self.last.wrapping_sub(current) & 0x00FF_FFFF;
        self.last = current;
        self.total += u64::from(elapsed);
        self.total
    }
}

fn run() -> Result<(), ()> {
    let mut peripherals = cortex_m::Peripherals::take().ok_or(())?;
    let mut ticks = Ticks::start(&mut peripherals.SYST);

    let config = firmware_session::config().ok_or(())?;
    // The client, its receive buffer and the replay live in statics, built in place: the stack
    // then holds only what handling a message needs, not 19 KB of state.
    let buffers = Buffers {
        rx: RX.init_with(|| [0u8; RX_LEN]),
        tx: TX.init_with(|| [0u8; SEND_BUFFER_LEN]),
    };
    let client = CLIENT
        .init_with(|| Client::new(config, buffers, SeededEntropy::new(SEED)))
        .as_mut()
        .map_err(|_| ())?;
    let replay = REPLAY.init_with(|| Replay::new(RECORDING));
    let construction_stack = stack::peak_usage();
    let mut timer = VirtualTimer::new(Instant::from_millis(1));

    let mut expected = EXPECTED.lines();
    let mut handed = 0u32;
    let mut dispatches = 0u32;
    let mut skipped = 0u32;
    let mut wrong: Option<u32> = None;
    let mut measured = heapless::Vec::<u64, 32>::new();
    let mut typed_reads = heapless::Vec::<u64, 32>::new();
    let mut messages = MESSAGES.lines();
    let mut messages_read = 0u32;
    let start = ticks.now();
    let mut left_handler = start;
    let result = embassy_futures::block_on(client.run(replay, &mut timer, |_, received| {
        let entered = ticks.now();
        let mut line = heapless::String::<128>::new();
        let _ = summarize(&received, &mut line);
        if expected.next() != Some(line.as_str()) && wrong.is_none() {
            wrong = Some(handed);
            hprintln!("event {} differs: the client handed over {}", handed, line);
        }
        handed += 1;
        match &received {
            Received::Dispatch(dispatch) => {
                dispatches += 1;
                if dispatch.name().map(|name| name.raw()) == Some("MESSAGE_CREATE") {
                    let before = ticks.now();
                    let typed = dispatch.deserialize::<Message<'_>>();
                    let took = ticks.now() - before;
                    let expected = messages.next().and_then(|line| line.split_once(' '));
                    match typed {
                        Ok(message) if expected == Some((message.author.id, message.content)) => {
                            messages_read += 1;
                        }
                        Ok(message) => {
                            if wrong.is_none() {
                                wrong = Some(handed);
                                hprintln!(
                                    "message {} read as {} {:?}, expected {:?}",
                                    messages_read,
                                    message.author.id,
                                    message.content,
                                    expected
                                );
                            }
                        }
                        Err(error) => {
                            if wrong.is_none() {
                                wrong = Some(handed);
                                hprintln!("message {} not read: {}", messages_read, error);
                            }
                        }
                    }
                    if MEASURED_LEN.contains(&dispatch.message().len()) {
                        let _ = typed_reads.push(took);
                    }
                }
                if MEASURED_LEN.contains(&dispatch.message().len()) {
                    let _ = measured.push(entered - left_handler);
                }
            }
            Received::Skipped(_) => skipped += 1,
            _ => {}
        }
        let done = expected.clone().next().is_none() || wrong.is_some();
        left_handler = ticks.now();
        if done {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }));
    let total = ticks.now() - start;

    let mut ok = true;
    if let Err(error) = result {
        hprintln!("the client stopped: {}", error);
        ok = false;
    }
    if let Some(mismatch) = replay.mismatch() {
        hprintln!(
            "the client's messages departed from the recording: {}",
            mismatch
        );
        ok = false;
    }
    if wrong.is_some() || expected.next().is_some() || !replay.finished() {
        hprintln!("the replay did not end where the recording does");
        ok = false;
    }
    if messages.next().is_some() || messages_read == 0 {
        hprintln!("only {} MESSAGE_CREATEs were read", messages_read);
        ok = false;
    }
    if dispatches < 1_000 || skipped == 0 || measured.is_empty() {
        hprintln!("too few dispatches ({}) or no skipped event", dispatches);
        ok = false;
    }

    measured.sort_unstable();
    let median = measured.get(measured.len() / 2).copied().unwrap_or(0);
    let fastest = measured.first().copied().unwrap_or(0);
    typed_reads.sort_unstable();
    let typed_median = typed_reads.get(typed_reads.len() / 2).copied().unwrap_or(0);
    let mut report = heapless::String::<768>::new();
    let _ = write!(
        report,
        "replayed {} bytes: {} events, {} dispatches, {} skipped, {} client messages checked\n\
         instructions: {} in all; per 1.3 KB MESSAGE_CREATE (n={}) median {}, fastest {}; \
         its typed read (content, author.id) median {} more; {} MESSAGE_CREATEs read and checked\n\
         RAM: Client {} B (of which Session {} B, its Config {} B), buffers lent: receive {} B, send {} B; Replay {} B\n\
         stack: peak {} B of the painted stack ({} B by the time the client was built)",
        replay.server_bytes(),
        handed,
        dispatches,
        skipped,
        replay.frames_checked(),
        total * INSTRUCTIONS_PER_TICK,
        measured.len(),
        median * INSTRUCTIONS_PER_TICK,
        fastest * INSTRUCTIONS_PER_TICK,
        typed_median * INSTRUCTIONS_PER_TICK,
        messages_read,
        core::mem::size_of_val(client),
        core::mem::size_of::<discord_gateway::session::Session>(),
        core::mem::size_of::<Config>(),
        RX_LEN,
        SEND_BUFFER_LEN,
        core::mem::size_of_val(replay),
        stack::peak_usage(),
        construction_stack,
    );
    hprintln!("{}", report.as_str());
    if ok {
        hprintln!("firmware: all events and sent bytes match the recording");
        Ok(())
    } else {
        Err(())
    }
}
