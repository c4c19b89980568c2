//! A Discord bot on a Nucleo-F429ZI: DHCP and DNS over the board's Ethernet (embassy-net), TCP,
//! TLS 1.3 with the server certificate verified against a root compiled in (embedded-tls), the
//! websocket upgrade, Identify and the session (discord-gateway-embedded's async loop). It logs
//! each MESSAGE_CREATE's author and content through defmt, read into a struct that borrows them
//! from the receive buffer (no allocator anywhere).
//!
//! Configuration is compiled in (README.md): `DISCORD_TOKEN` (a placeholder that Discord refuses
//! when unset, with a build warning), `DISCORD_INTENTS` (extra intents as a number, default
//! MESSAGE_CONTENT), and the trust anchor `ca/gts-root-r4.der`.
//!
//! Every buffer is a static (`static_cell`; the buffers are `ConstStaticCell`s, zeroed at reset, so
//! none is ever built on the stack and moved); the sizes below say why they are what they are, and
//! BENCHMARKS.md ("Embedded") adds them up with the measured stack.
#![no_std]
#![no_main]

use core::cell::RefCell;
use core::ops::ControlFlow;

use defmt::{info, unwrap, warn};
use discord_gateway_embedded::tls::{ReadDeadline, RecordGate};
use discord_gateway_embedded::{embedded_io, embedded_io_async};
use discord_gateway_embedded::{
    Buffers, BuildError, Client, Config, Connector, Entropy, EventSet, EventType, GatewayUrl,
    Instant, Intents, Received, Timer, Token, SEND_BUFFER_LEN,
};
use embassy_executor::Spawner;
use embassy_net::dns::DnsQueryType;
use embassy_net::tcp::TcpSocket;
use embassy_net::{Stack, StackResources};
use embassy_stm32::eth::{Ethernet, GenericPhy, PacketQueue, Sma};
use embassy_stm32::peripherals::{ETH, ETH_SMA, RNG};
use embassy_stm32::rng::Rng;
use embassy_stm32::time::Hertz;
use embassy_stm32::{bind_interrupts, eth, rng};
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::blocking_mutex::Mutex;
use embedded_tls::pki::CertVerifier;
use embedded_tls::{
    Aes128GcmSha256, Certificate, CryptoProvider, NoClock, TlsConfig, TlsConnection, TlsContext,
    TlsError, TlsVerifier,
};
use static_cell::{ConstStaticCell, StaticCell};
use {defmt_rtt as _, panic_probe as _};

/// The bot's token, from `DISCORD_TOKEN` at build time. The placeholder lets CI build the
/// wiring; Discord answers it with close code 4004 (authentication failed) and the session stops.
const TOKEN: &str = match option_env!("DISCORD_TOKEN") {
    Some(token) => token,
    None => "placeholder-token-set-DISCORD_TOKEN-at-build-time",
};

/// Intents on top of those MESSAGE_CREATE needs (GUILD_MESSAGES, DIRECT_MESSAGES), from
/// `DISCORD_INTENTS` (a decimal number) at build time; MESSAGE_CONTENT (1 << 15, privileged:
/// turn it on in the developer portal) by default, without which `content` is empty.
const EXTRA_INTENTS: Intents = match option_env!("DISCORD_INTENTS") {
    Some(bits) => Intents::from_bits_truncate(parse_u64(bits)),
    None => Intents::MESSAGE_CONTENT,
};

/// The root the gateway's certificate chain is verified against (DER): GTS Root R4, the root of
/// Google Trust Services' ECDSA chain that Cloudflare serves `gateway.discord.gg` with. README.md
/// says how to check which root the gateway uses today and how to swap it.
const TRUST_ANCHOR: &[u8] = include_bytes!("../ca/gts-root-r4.der");

/// The client's receive buffer: a whole message is reassembled here and handed over in place.
/// 16 KiB holds READY for about 300 guilds and any MESSAGE_CREATE up to Discord's 4,000
/// characters with its author, member and mentions; a larger dispatch (a big GUILD_CREATE) is
/// skipped with its sequence number kept, never a crash.
const RX_LEN: usize = 16 * 1024;
/// TLS record read buffer: a whole record body must fit, TLS 1.3's largest: 16 KiB of plaintext
/// plus 256 bytes of expansion (AEAD tag, content type, padding; RFC 8446, 5.2). embedded-tls reads
/// the 5-byte record header apart from it. The server may send
/// full records: embedded-tls's only way to ask for smaller ones is the max_fragment_length
/// extension, which servers commonly ignore.
const TLS_READ_LEN: usize = 16_640;
/// TLS record write buffer. The bot's frames are small (heartbeats: ~30 bytes, Identify and
/// Resume: ~400; the largest command Discord accepts is 4,096 bytes of payload) and embedded-tls
/// splits a write larger than the buffer into several records, so 1 KiB holds the ClientHello
/// (~300 bytes) and every frame but a rare large presence update, which goes out in 4 records.
const TLS_WRITE_LEN: usize = 1024;
/// The TCP socket's receive window: what the network stack may hold before TLS reads it. A
/// record larger than the window still arrives, in window-sized pieces.
const TCP_RX_LEN: usize = 4096;
/// The TCP socket's send buffer: one TLS record of `TLS_WRITE_LEN` plus its overhead, twice.
const TCP_TX_LEN: usize = 2048;
/// The certificate chain embedded-tls keeps between the Certificate and CertificateVerify
/// messages: the leaf and intermediate of an ECDSA chain are about 1 KB each.
const CERT_CHAIN_LEN: usize = 4096;
/// Ethernet DMA descriptors and their 1,536-byte packet buffers: 4 to send and 4 to receive,
/// as embassy's examples use; one TLS record arrives as about 12 full-size segments, which the
/// TCP window (not these) buffers.
const ETH_TX_PACKETS: usize = 4;
const ETH_RX_PACKETS: usize = 4;
/// Sockets of the network stack: DHCP, DNS, and the gateway's TCP connection.
const NET_SOCKETS: usize = 3;

bind_interrupts!(struct Irqs {
    ETH => eth::InterruptHandler;
    HASH_RNG => rng::InterruptHandler<RNG>;
});

type Device = Ethernet<'static, ETH, GenericPhy<Sma<'static, ETH_SMA>>>;
type Verifier = CertVerifier<'static, Aes128GcmSha256, NoClock, CERT_CHAIN_LEN>;

/// The hardware RNG, shared by the TLS handshakes (key shares, client random) and the websocket
/// masks.
type SharedRng = Mutex<CriticalSectionRawMutex, RefCell<Rng<'static, RNG>>>;

static PACKETS: ConstStaticCell<PacketQueue<ETH_TX_PACKETS, ETH_RX_PACKETS>> =
    ConstStaticCell::new(PacketQueue::new());
static NET_RESOURCES: ConstStaticCell<StackResources<NET_SOCKETS>> =
    ConstStaticCell::new(StackResources::new());
static RNG_CELL: StaticCell<SharedRng> = StaticCell::new();
static RX: ConstStaticCell<[u8; RX_LEN]> = ConstStaticCell::new([0; RX_LEN]);
static TX: ConstStaticCell<[u8; SEND_BUFFER_LEN]> = ConstStaticCell::new([0; SEND_BUFFER_LEN]);
static TLS_READ: ConstStaticCell<[u8; TLS_READ_LEN]> = ConstStaticCell::new([0; TLS_READ_LEN]);
static TLS_WRITE: ConstStaticCell<[u8; TLS_WRITE_LEN]> = ConstStaticCell::new([0; TLS_WRITE_LEN]);
static TCP_RX: ConstStaticCell<[u8; TCP_RX_LEN]> = ConstStaticCell::new([0; TCP_RX_LEN]);
static TCP_TX: ConstStaticCell<[u8; TCP_TX_LEN]> = ConstStaticCell::new([0; TCP_TX_LEN]);
static VERIFIER: StaticCell<Verifier> = StaticCell::new();
static CLIENT: StaticCell<Result<Client<'static, MaskEntropy>, BuildError>> = StaticCell::new();

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    let p = embassy_stm32::init(clocks());

    let rng = RNG_CELL.init(Mutex::new(RefCell::new(Rng::new(p.RNG, Irqs))));
    let seed = rng.lock(|rng| rand_core::RngCore::next_u64(&mut *rng.borrow_mut()));

    // The Nucleo-F429ZI's LAN8742A over RMII. A locally administered MAC address: the board has
    // none of its own; give each board on a network another.
    let mac = [0x02, 0x00, 0x00, 0xD1, 0x5C, 0x0D];
    let device = Ethernet::new(
        PACKETS.take(),
        p.ETH,
        Irqs,
        p.PA1,  // REF_CLK
        p.PA7,  // CRS_DV
        p.PC4,  // RXD0
        p.PC5,  // RXD1
        p.PG13, // TXD0
        p.PB13, // TXD1
        p.PG11, // TX_EN
        mac,
        p.ETH_SMA,
        p.PA2, // MDIO
        p.PC1, // MDC
    );
    let config = embassy_net::Config::dhcpv4(Default::default());
    let (stack, runner) = embassy_net::new(device, config, NET_RESOURCES.take(), seed);
    spawner.spawn(unwrap!(net_task(runner)));

    info!("waiting for DHCP");
    stack.wait_config_up().await;
    info!(
        "network up: {}",
        stack.config_v4().map(|config| config.address)
    );

    spawner.spawn(unwrap!(bot(stack, rng)));
}

/// 168 MHz from the ST-LINK's 8 MHz clock (HSE bypass), and the 48 MHz the RNG needs from PLLQ.
fn clocks() -> embassy_stm32::Config {
    use embassy_stm32::rcc::{
        AHBPrescaler, APBPrescaler, Hse, HseMode, Pll, PllMul, PllPDiv, PllPreDiv, PllQDiv,
        PllSource, Sysclk,
    };
    let mut config = embassy_stm32::Config::default();
    config.rcc.hse = Some(Hse {
        freq: Hertz(8_000_000),
        mode: HseMode::Bypass,
    });
    config.rcc.pll_src = PllSource::HSE;
    config.rcc.pll = Some(Pll {
        prediv: PllPreDiv::DIV4,
        mul: PllMul::MUL168,
        divp: Some(PllPDiv::DIV2),
        divq: Some(PllQDiv::DIV7),
        divr: None,
    });
    config.rcc.ahb_pre = AHBPrescaler::DIV1;
    config.rcc.apb1_pre = APBPrescaler::DIV4;
    config.rcc.apb2_pre = APBPrescaler::DIV2;
    config.rcc.sys = Sysclk::PLL1_P;
    config
}

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, Device>) -> ! {
    runner.run().await
}

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
    username: &'a str,
}

#[embassy_executor::task]
async fn bot(stack: Stack<'static>, rng: &'static SharedRng) {
    let (client, mut gateway) = setup(stack, rng);
    let stopped = client
        .run(&mut gateway, &mut EmbassyTimer, |context, received| {
            match received {
                // Only MESSAGE_CREATE is asked for (`events` in `setup`).
                Received::Dispatch(dispatch) => match dispatch.deserialize::<Message<'_>>() {
                    Ok(message) => info!(
                        "{=str} ({=str}): {=str}",
                        message.author.username, message.author.id, message.content
                    ),
                    // A string with escapes (a quote, a backslash, a newline) anywhere in `d`
                    // cannot be borrowed: reported, not read. `deserialize_unescaped` with a
                    // scratch buffer and `heapless::String` fields reads those, for more RAM.
                    Err(error) => warn!("MESSAGE_CREATE not read: {}", defmt::Debug2Format(&error)),
                },
                Received::Event(event) => info!("session: {}", defmt::Debug2Format(&event)),
                Received::Skipped(skipped) => {
                    info!("skipped: {}", defmt::Debug2Format(&skipped))
                }
                Received::Refused(error) => warn!("refused: {}", defmt::Debug2Format(&error)),
                _ => {}
            }
            if let Some(error) = context.dial_error() {
                warn!("dial failed: {}", defmt::Debug2Format(&error));
            }
            ControlFlow::<()>::Continue(())
        })
        .await;
    // Only a stopped session (a bad token, disallowed intents) ends the loop.
    warn!("session stopped: {}", defmt::Debug2Format(&stopped));
}

/// The client and the connector, built in their statics. Not inlined into the task: its
/// temporaries (the configuration, the client before it is moved in place) would otherwise
/// stay in the task's frame under the whole session, TLS handshakes included.
#[inline(never)]
fn setup(
    stack: Stack<'static>,
    rng: &'static SharedRng,
) -> (&'static mut Client<'static, MaskEntropy>, Gateway) {
    let token = match Token::new(TOKEN) {
        Ok(token) => token,
        Err(error) => defmt::panic!(
            "DISCORD_TOKEN is not a token: {}",
            defmt::Debug2Format(&error)
        ),
    };
    let config = Config::builder(token)
        .events(EventSet::EMPTY.with(EventType::MessageCreate))
        .intents(EXTRA_INTENTS)
        .seed(rng.lock(|rng| rand_core::RngCore::next_u64(&mut *rng.borrow_mut())))
        .build();
    let config = match config {
        Ok(config) => config,
        Err(error) => defmt::panic!("configuration: {}", defmt::Debug2Format(&error)),
    };
    // Built in place in its static, off the stack.
    let client = CLIENT.init_with(|| {
        let buffers = Buffers {
            rx: RX.take(),
            tx: TX.take(),
        };
        Client::new(config, buffers, MaskEntropy(rng))
    });
    let client = match client {
        Ok(client) => client,
        Err(error) => defmt::panic!("client: {}", defmt::Debug2Format(error)),
    };
    let gateway = Gateway {
        stack,
        rng,
        tcp_rx: TCP_RX.take(),
        tcp_tx: TCP_TX.take(),
        tls_read: TLS_READ.take(),
        tls_write: TLS_WRITE.take(),
        verifier: VERIFIER.init_with(|| CertVerifier::new(Certificate::X509(TRUST_ANCHOR))),
        deadline: ReadDeadline::new(),
    };

    (client, gateway)
}

/// The websocket masks, from the hardware RNG.
struct MaskEntropy(&'static SharedRng);

impl Entropy for MaskEntropy {
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0
            .lock(|rng| rand_core::RngCore::fill_bytes(&mut *rng.borrow_mut(), dest));
    }
}

/// The hardware RNG as embedded-tls's `CryptoRngCore`, borrowed for one handshake.
struct TlsRng(&'static SharedRng);

impl rand_core::RngCore for TlsRng {
    fn next_u32(&mut self) -> u32 {
        self.0.lock(|rng| rng.borrow_mut().next_u32())
    }
    fn next_u64(&mut self) -> u64 {
        self.0.lock(|rng| rng.borrow_mut().next_u64())
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.lock(|rng| rng.borrow_mut().fill_bytes(dest));
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.lock(|rng| rng.borrow_mut().try_fill_bytes(dest))
    }
}

impl rand_core::CryptoRng for TlsRng {}

/// embedded-tls's crypto provider: the hardware RNG, and the verifier that checks the chain
/// against [`TRUST_ANCHOR`] and the name against the gateway's host.
struct Provider<'a> {
    rng: &'static SharedRng,
    verifier: &'a mut Verifier,
}

impl CryptoProvider for Provider<'_> {
    type CipherSuite = Aes128GcmSha256;
    type Signature = &'static [u8];

    fn rng(&mut self) -> impl embedded_tls::CryptoRngCore {
        TlsRng(self.rng)
    }

    fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Aes128GcmSha256>, TlsError> {
        Ok(&mut *self.verifier)
    }
}

/// Why a connection could not be opened; the handler sees it through `Context::dial_error`.
#[derive(Debug)]
#[allow(dead_code)] // Read through Debug only.
enum DialError {
    Dns(embassy_net::dns::Error),
    NoAddress,
    Tcp(embassy_net::tcp::ConnectError),
    Tls(TlsError),
}

/// DNS → TCP → TLS. The socket and the TLS connection borrow the buffers kept here, so one
/// connection is open at a time (the loop drops it before it dials again).
struct Gateway {
    stack: Stack<'static>,
    rng: &'static SharedRng,
    tcp_rx: &'static mut [u8; TCP_RX_LEN],
    tcp_tx: &'static mut [u8; TCP_TX_LEN],
    tls_read: &'static mut [u8; TLS_READ_LEN],
    tls_write: &'static mut [u8; TLS_WRITE_LEN],
    verifier: &'static mut Verifier,
    /// The loop's read deadline, which the record gate under the TLS connection follows.
    deadline: ReadDeadline,
}

/// An open gateway connection: TLS over a record gate over the TCP socket. embedded-tls loses
/// a record's header when a read is dropped, so reads are never raced here: the gate ends one
/// at the loop's deadline only between two TLS records (`discord_gateway_embedded::tls`).
struct GatewaySocket<'a> {
    tls: TlsConnection<'a, RecordGate<'a, TcpSocket<'a>, EmbassyTimer>, Aes128GcmSha256>,
    deadline: &'a ReadDeadline,
}

impl embedded_io_async::ErrorType for GatewaySocket<'_> {
    type Error = TlsError;
}

impl embedded_io_async::Read for GatewaySocket<'_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, TlsError> {
        self.tls.read(buf).await
    }
}

impl embedded_io_async::Write for GatewaySocket<'_> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, TlsError> {
        self.tls.write(buf).await
    }

    async fn flush(&mut self) -> Result<(), TlsError> {
        self.tls.flush().await
    }
}

impl Connector for Gateway {
    type Socket<'a> = GatewaySocket<'a>;
    type Error = DialError;

    async fn connect<'a>(&'a mut self, url: &GatewayUrl) -> Result<Self::Socket<'a>, DialError> {
        let addresses = self
            .stack
            .dns_query(url.host(), DnsQueryType::A)
            .await
            .map_err(DialError::Dns)?;
        let address = *addresses.first().ok_or(DialError::NoAddress)?;

        let mut tcp = TcpSocket::new(self.stack, &mut self.tcp_rx[..], &mut self.tcp_tx[..]);
        // A peer that vanishes (a pulled cable) ends the socket instead of leaving it open.
        tcp.set_timeout(Some(embassy_time::Duration::from_secs(90)));
        tcp.connect((address, url.port()))
            .await
            .map_err(DialError::Tcp)?;

        self.deadline.set(None);
        let gate = RecordGate::new(tcp, EmbassyTimer, &self.deadline);
        let mut tls = TlsConnection::new(gate, &mut self.tls_read[..], &mut self.tls_write[..]);
        // The server name goes out as SNI and is what the certificate must name.
        let config = TlsConfig::new().with_server_name(url.host());
        let provider = Provider {
            rng: self.rng,
            verifier: &mut *self.verifier,
        };
        tls.open(TlsContext::new(&config, provider))
            .await
            .map_err(DialError::Tls)?;
        Ok(GatewaySocket {
            tls,
            deadline: &self.deadline,
        })
    }

    async fn read_until<'s, T: Timer>(
        socket: &mut GatewaySocket<'s>,
        buf: &mut [u8],
        until: Option<Instant>,
        _timer: &mut T,
    ) -> Result<Option<usize>, embedded_io::ErrorKind>
    where
        Self: 's,
    {
        socket.deadline.set(until);
        let read = socket.tls.read(buf).await;
        socket.deadline.set(None);
        match read {
            Ok(n) => Ok(Some(n)),
            // The gate ended the read between two records: nothing was lost.
            Err(TlsError::Io(embedded_io::ErrorKind::TimedOut)) => Ok(None),
            Err(error) => Err(embedded_io::Error::kind(&error)),
        }
    }
}

/// embassy-time as the client's clock.
#[derive(Clone, Copy)]
struct EmbassyTimer;

impl Timer for EmbassyTimer {
    fn now(&mut self) -> Instant {
        Instant::from_millis(embassy_time::Instant::now().as_millis())
    }

    async fn sleep_until(&mut self, at: Instant) {
        embassy_time::Timer::at(embassy_time::Instant::from_millis(at.as_millis())).await;
    }
}

/// `DISCORD_INTENTS` as a number, at compile time: anything but decimal digits is a compile
/// error that names the variable.
const fn parse_u64(text: &str) -> u64 {
    let bytes = text.as_bytes();
    assert!(
        !bytes.is_empty(),
        "DISCORD_INTENTS must be a decimal number (the intents' bits)"
    );
    let mut value: u64 = 0;
    let mut i = 0;
    while i < bytes.len() {
        let digit = bytes[i];
        assert!(
            digit.is_ascii_digit(),
            "DISCORD_INTENTS must be a decimal number (the intents' bits)"
        );
        value = match value.checked_mul(10) {
            Some(v) => match v.checked_add((digit - b'0') as u64) {
                Some(v) => v,
                None => panic!("DISCORD_INTENTS does not fit in 64 bits"),
            },
            None => panic!("DISCORD_INTENTS does not fit in 64 bits"),
        };
        i += 1;
    }
    value
}
