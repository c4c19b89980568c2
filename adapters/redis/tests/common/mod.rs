//! What the Redis tests share: a real redis-server per test, and a tokio runtime to run on.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::print_stderr)]

pub mod server;
pub mod shards;

#[allow(unused_imports)]
pub use server::{Persistence, RedisServer};

/// A limit of 1,000 session starts a day with `remaining` left until a reset an hour away.
pub fn day_limit(remaining: u32, max_concurrency: u32) -> discord_gateway_tokio::SessionStartLimit {
    discord_gateway_tokio::SessionStartLimit {
        total: 1000,
        remaining,
        reset_after: std::time::Duration::from_secs(3600),
        max_concurrency,
    }
}

/// The bot token of the Redis tests (the sim's, in `shards`).
pub fn token() -> discord_gateway_tokio::Token {
    discord_gateway_tokio::Token::new(shards::TOKEN).unwrap()
}

/// The key `rest` under the default prefix of [`token`]'s bot: `{discord-gateway:BOT}:rest`.
pub fn key(rest: &str) -> String {
    let bot = discord_gateway_tokio::SessionSeal::new(&token())
        .bot()
        .to_owned();
    format!("{{discord-gateway:{bot}}}:{rest}")
}

/// Runs `future` on a current-thread tokio runtime with timers.
pub fn run<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(future)
}

/// Log lines written while the returned guard lives on this thread, for tests that check what
/// the crate said.
pub fn capture_logs() -> (tracing::subscriber::DefaultGuard, Logs) {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    (tracing::subscriber::set_default(subscriber), logs)
}

#[derive(Clone, Default)]
pub struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Logs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
