//! What an async runtime has to provide: a websocket connection, a timer and a clock.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::transport::{ConnectOptions, Transport, TransportError};

/// What the driver needs from an async runtime. Each adapter implements this in a few lines (a
/// TCP connect handed to `websocket::connect`, and the runtime's sleep); everything else, the loop,
/// decompression, reconnects, commands, is shared.
///
/// Every deadline the driver keeps is read from [`Runtime::now`] and waited for with
/// [`Runtime::sleep_until`], so a runtime with a manual clock (see the `testing` feature) drives
/// a shard through 41-second heartbeats, zombies and backoff in microseconds.
pub trait Runtime: Clone + Send + Sync + 'static {
    /// An open websocket.
    type Socket: Transport;

    /// Opens a websocket as `options` say (`ws://` or `wss://`, TLS as the adapter configures
    /// it). The limits in `options` are protocol decisions, made once by the driver for every
    /// runtime.
    fn connect(
        &self,
        options: ConnectOptions,
    ) -> impl Future<Output = Result<Self::Socket, TransportError>> + Send + 'static;

    /// Completes at `deadline` (at once if it has passed).
    fn sleep_until(&self, deadline: Instant) -> impl Future<Output = ()> + Send + 'static;

    /// A timer at `deadline` that a shard keeps for its whole life and moves with
    /// [`Timer::reset`], as quinn's `AsyncTimer` is: a new deadline costs no allocation.
    ///
    /// The default makes a new [`Runtime::sleep_until`] at each reset; runtimes whose sleeps
    /// can be moved (tokio's `Sleep`, async-io's `Timer`) override it.
    fn timer(&self, deadline: Instant) -> Pin<Box<dyn Timer>> {
        Box::pin(SleepTimer {
            sleep: Box::pin(self.sleep_until(deadline)),
            runtime: self.clone(),
        })
    }

    /// The current time on this runtime's clock.
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A timer that can be moved to another deadline: what [`Runtime::timer`] makes.
pub trait Timer: Send {
    /// Moves the deadline, earlier or later; the next poll waits for the new one.
    fn reset(self: Pin<&mut Self>, deadline: Instant);

    /// Ready once the deadline has passed; otherwise the task is woken when it does.
    fn poll_expired(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()>;
}

/// The default [`Runtime::timer`]: a new sleep at each reset.
struct SleepTimer<R> {
    runtime: R,
    sleep: Sleep,
}

// Nothing is pinned through it: the sleep is boxed.
impl<R> Unpin for SleepTimer<R> {}

impl<R: Runtime> Timer for SleepTimer<R> {
    fn reset(self: Pin<&mut Self>, deadline: Instant) {
        let this = self.get_mut();
        this.sleep = Box::pin(this.runtime.sleep_until(deadline));
    }

    fn poll_expired(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().sleep.as_mut().poll(cx)
    }
}

/// A runtime's sleep, boxed so a shard or a permit can keep it between polls.
pub(crate) type Sleep = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// A seed for the session's jitter from the operating system's randomness, without a dependency:
/// std seeds every `RandomState` from the OS.
#[must_use]
pub fn os_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x5eed);
    hasher.finish()
}
