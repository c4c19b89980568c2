//! The tail loop, once for every runtime.

use std::future::Future;
use std::io::{self, Write};
use std::pin::{pin, Pin};
use std::time::{Duration, Instant};

use discord_gateway::protocol::CloseCode;
use discord_gateway_driver::discovery::DiscoveryError;
use discord_gateway_driver::{
    CloseKind, ErrorChain, Runtime, Shard, ShardError, ShardEvent, ShardStopped, StartError,
    StoreError,
};
use discord_gateway_redis::WriterGone;
use futures_util::future::{select, Either};

use crate::redis_setup::RedisSetupError;
use crate::session_file;

/// Why the tail stopped without an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Finish {
    /// `--max-events` dispatches were printed.
    MaxEvents,
    /// Ctrl-C, or the demo script ended.
    Stopped,
    /// The shard stopped by itself.
    ShardClosed,
}

/// What ends a tail run badly.
#[derive(Debug)]
pub(crate) enum TailError {
    /// Discord closed with a code that reconnecting cannot fix.
    Fatal(CloseCode),
    /// Writing to stdout or the session file failed.
    Io(io::Error),
    /// `GET /gateway/bot` failed (with --shards).
    Discovery(DiscoveryError),
    /// The shards could not be started (with --shards).
    Start(StartError),
    /// The sessions could not be saved (with --shards and --session-store).
    Store(StoreError),
    /// One of the shards stopped for good (with --shards).
    ShardStopped(ShardStopped),
    /// A Redis a flag names did not answer at startup.
    Redis(RedisSetupError),
    /// The --redis-stream writer stopped before everything was written.
    Stream(WriterGone),
}

impl std::fmt::Display for TailError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fatal(code) => write!(f, "{code}"),
            Self::Io(error) => write!(f, "output failed: {error}"),
            Self::Discovery(error) => write!(f, "{}", ErrorChain(error)),
            Self::Start(error) => write!(f, "{}", ErrorChain(error)),
            Self::Store(error) => write!(f, "{}", ErrorChain(error)),
            Self::ShardStopped(error) => write!(f, "{}", ErrorChain(error)),
            Self::Redis(error) => write!(f, "{}", ErrorChain(error)),
            Self::Stream(error) => write!(f, "--redis-stream: {error}"),
        }
    }
}

impl From<RedisSetupError> for TailError {
    fn from(error: RedisSetupError) -> Self {
        Self::Redis(error)
    }
}

impl From<io::Error> for TailError {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

/// How long the tail keeps printing after it is asked to stop, for events already on their way.
const DRAIN: Duration = Duration::from_millis(750);

/// The stop signal of a tail loop: once it fires, the loop keeps taking events for [`DRAIN`]
/// (those already on their way), then ends. Both loops (one shard, `--shards`) wait through it.
pub(crate) struct StopThenDrain<'a, R, F> {
    signal: Pin<&'a mut F>,
    draining_until: Option<Instant>,
    runtime: R,
}

impl<'a, R: Runtime + Default, F: Future<Output = ()>> StopThenDrain<'a, R, F> {
    pub(crate) fn new(signal: Pin<&'a mut F>) -> Self {
        Self {
            signal,
            draining_until: None,
            runtime: R::default(),
        }
    }

    /// What `next` yields, or `None` once the signal fired and the drain time is over.
    /// `next` must be cancel-safe (as `next_event` is): it is dropped at the drain's end.
    pub(crate) async fn next<T>(&mut self, next: impl Future<Output = T>) -> Option<T> {
        let mut next = pin!(next);
        let until = match self.draining_until {
            Some(until) => until,
            None => match select(next.as_mut(), self.signal.as_mut()).await {
                Either::Left((item, _)) => return Some(item),
                Either::Right(((), _)) => *self.draining_until.insert(self.runtime.now() + DRAIN),
            },
        };
        match select(next, pin!(self.runtime.sleep_until(until))).await {
            Either::Left((item, _)) => Some(item),
            Either::Right(((), _)) => None,
        }
    }
}

/// Prints every dispatch of `shard` until it stops, `max_events` were printed, or `stop`
/// completes; then closes the shard (resumably when there is a session file) and saves the
/// session.
pub(crate) async fn run<R: Runtime + Default>(
    mut shard: Shard<R>,
    max_events: Option<u64>,
    session_file: Option<session_file::SessionFile>,
    stop: impl Future<Output = ()>,
) -> Result<Finish, TailError> {
    let shard_id = shard.id().id();
    let mut out = io::BufWriter::new(io::stdout());
    let mut printed = 0u64;
    let stop = pin!(stop);
    let mut stop = StopThenDrain::<R, _>::new(stop);
    let finish = loop {
        if max_events.is_some_and(|max| printed >= max) {
            break Finish::MaxEvents;
        }
        let Some(event) = stop.next(shard.next_event()).await else {
            break Finish::Stopped;
        };
        match event {
            Some(Ok(ShardEvent::Dispatch(dispatch))) => {
                crate::ndjson::write_line(&mut out, shard_id, &dispatch)?;
                out.flush()?;
                printed += 1;
            }
            Some(Ok(ShardEvent::Malformed(error))) => {
                tracing::warn!(error = %ErrorChain(&error), "skipped a message");
            }
            Some(Ok(_)) => {}
            Some(Err(ShardError::Fatal(code))) => return Err(TailError::Fatal(code)),
            Some(Err(other)) => {
                tracing::error!(%other, "shard stopped");
                break Finish::ShardClosed;
            }
            None => break Finish::ShardClosed,
        }
    };
    out.flush()?;
    // With a session file the session is kept alive for the next run to resume.
    let kind = match session_file {
        Some(_) => CloseKind::Resumable,
        None => CloseKind::EndSession,
    };
    shard.close(kind).await;
    // Dispatches that were still due when the shard closed are part of its session: print
    // them (up to --max-events) before saving it, as --shards does.
    let mut unprinted = Unprinted::default();
    while let Some(event) = shard.next_event().await {
        if let Ok(ShardEvent::Dispatch(dispatch)) = event {
            if max_events.is_none_or(|max| printed < max) {
                crate::ndjson::write_line(&mut out, shard_id, &dispatch)?;
                printed += 1;
            } else {
                unprinted.note(dispatch.seq());
            }
        }
    }
    out.flush()?;
    if let Some(file) = &session_file {
        let mut state = shard.resume_state();
        if let (Some(state), Some(seq)) = (state.as_mut(), unprinted.resume_from()) {
            state.seq = state.seq.min(seq);
        }
        file.save(shard.id(), state.as_ref())?;
    }
    Ok(finish)
}

/// The dispatches of one shard that arrived after `--max-events` was reached and were not
/// printed. The session is saved as of the one before the first of them, so the next run
/// resumes there and Discord replays them, instead of a saved `seq` covering events nobody saw.
#[derive(Debug, Default)]
pub(crate) struct Unprinted {
    first: Option<u64>,
}

impl Unprinted {
    /// A dispatch with sequence number `seq` was not printed.
    pub(crate) fn note(&mut self, seq: Option<u64>) {
        if let Some(seq) = seq {
            self.first = Some(self.first.map_or(seq, |first| first.min(seq)));
        }
    }

    /// The sequence number to save the session at, when something was not printed.
    pub(crate) fn resume_from(&self) -> Option<u64> {
        self.first.map(|first| first.saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::Unprinted;

    #[test]
    fn the_session_resumes_before_the_first_unprinted_dispatch() {
        let mut unprinted = Unprinted::default();
        assert_eq!(
            unprinted.resume_from(),
            None,
            "nothing dropped: saved as it is"
        );
        unprinted.note(None);
        assert_eq!(
            unprinted.resume_from(),
            None,
            "no sequence number: nothing to rewind"
        );
        for seq in [9, 7, 8] {
            unprinted.note(Some(seq));
        }
        assert_eq!(unprinted.resume_from(), Some(6));
    }
}
