//! What the Redis tests share: a real redis-server per test, and a tokio runtime to run on.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::print_stderr)]

pub mod server;

#[allow(unused_imports)]
pub use server::{Persistence, RedisServer};

/// Runs `future` on a current-thread tokio runtime with timers.
pub fn run<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(future)
}
