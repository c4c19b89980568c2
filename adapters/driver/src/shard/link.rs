//! One connection's state, a connection being dialled, and one being closed.
//!
//! Everything here is polled, never awaited: a `Shard` keeps no future across a poll that owns
//! a message or a command, so dropping a pending `next_event()` loses nothing and sends nothing
//! twice.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::shard::payloads::PayloadBuffer;
use crate::transport::inflate::Inflater;
use crate::transport::{Frame, Transport, TransportError};

/// How long a write may wait on a stalled peer before the connection counts as lost.
pub(crate) const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection the session has left may take to finish its closing handshake.
pub(crate) const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// The connection the session is using, with what belongs to it alone.
pub(crate) struct Link<S> {
    socket: S,
    /// This connection's decompression context.
    pub(crate) inflater: Inflater,
    /// Where its inflated payloads are assembled.
    pub(crate) payloads: PayloadBuffer,
    /// A frame was handed to the socket and not yet flushed.
    unflushed: bool,
    /// When the write that is waiting on the peer must have gone through.
    write_deadline: Option<Instant>,
}

impl<S: Transport> Link<S> {
    pub(crate) fn new(socket: S, inflater: Inflater) -> Self {
        Self {
            socket,
            inflater,
            payloads: PayloadBuffer::new(),
            unflushed: false,
            write_deadline: None,
        }
    }

    /// The next frame from the peer.
    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame, TransportError>>> {
        Pin::new(&mut self.socket).poll_next(cx)
    }

    /// Ready when a frame can be handed over with [`Link::send`]. While the peer does not read,
    /// this stays pending, and the write deadline runs from `now`.
    pub(crate) fn poll_writable(
        &mut self,
        cx: &mut Context<'_>,
        now: Instant,
    ) -> Poll<Result<(), TransportError>> {
        let ready = Pin::new(&mut self.socket).poll_ready(cx);
        self.note_progress(ready.is_ready(), now);
        ready
    }

    /// Hands a frame to the socket (after [`Link::poll_writable`] was ready). From here on the
    /// frame is the socket's: it goes out with the next flush, whoever polls.
    pub(crate) fn send(&mut self, frame: Frame) -> Result<(), TransportError> {
        self.unflushed = true;
        Pin::new(&mut self.socket).start_send(frame)
    }

    /// Pushes handed-over frames onto the wire.
    pub(crate) fn poll_flush(
        &mut self,
        cx: &mut Context<'_>,
        now: Instant,
    ) -> Poll<Result<(), TransportError>> {
        if !self.unflushed {
            return Poll::Ready(Ok(()));
        }
        let flushed = Pin::new(&mut self.socket).poll_flush(cx);
        self.note_progress(flushed.is_ready(), now);
        if flushed.is_ready() {
            self.unflushed = false;
        }
        flushed
    }

    fn note_progress(&mut self, done: bool, now: Instant) {
        if done {
            self.write_deadline = None;
        } else if self.write_deadline.is_none() {
            self.write_deadline = Some(now + SEND_TIMEOUT);
        }
    }

    /// When a stalled write gives up, if one is stalled.
    pub(crate) fn write_deadline(&self) -> Option<Instant> {
        self.write_deadline
    }

    /// Sets the connection aside to finish its closing handshake, sending `close` first.
    pub(crate) fn into_closing(self, close: Option<u16>, now: Instant) -> Closing<S> {
        Closing {
            socket: self.socket,
            deadline: now + CLOSE_TIMEOUT,
            close: close.map(|code| Frame::Close(Some(code))),
            close_queued: close.is_some(),
            unflushed: self.unflushed,
        }
    }
}

/// A connection the session has left, kept until the server answers our close frame (or
/// [`CLOSE_TIMEOUT`] passes) so the close code reaches it instead of a TCP reset.
pub(crate) struct Closing<S> {
    socket: S,
    deadline: Instant,
    /// The close frame still to hand to the socket.
    close: Option<Frame>,
    /// Whether a close frame was ever queued here (one is enough).
    close_queued: bool,
    unflushed: bool,
}

impl<S: Transport> Closing<S> {
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Sends a close frame with `code` on this connection, unless one was already queued: the
    /// session's close can come after the connection was set aside for a disconnect.
    pub(crate) fn queue_close(&mut self, code: u16) {
        if !self.close_queued {
            self.close_queued = true;
            self.close = Some(Frame::Close(Some(code)));
        }
    }

    /// Sends the close frame, then reads (and drops: a resume replays it) whatever still
    /// arrives until the server ends the connection. Ready when the handshake is over, failed,
    /// or out of time.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>, now: Instant) -> Poll<()> {
        if now >= self.deadline {
            return Poll::Ready(());
        }
        let mut socket = Pin::new(&mut self.socket);
        if self.close.is_some() {
            match socket.as_mut().poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
            let frame = self.close.take().expect("checked above");
            if socket.as_mut().start_send(frame).is_err() {
                return Poll::Ready(());
            }
            self.unflushed = true;
        }
        if self.unflushed {
            match socket.as_mut().poll_flush(cx) {
                Poll::Ready(Ok(())) => self.unflushed = false,
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Pending => {}
            }
        }
        loop {
            match socket.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(_))) => {}
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// A connection being dialled.
pub(crate) struct Dial<S> {
    pub(crate) future: Pin<Box<dyn Future<Output = Result<S, TransportError>> + Send>>,
    /// When the attempt counts as failed.
    pub(crate) deadline: Instant,
    /// Whether the connection will resume the session (otherwise it identifies).
    pub(crate) resume: bool,
}
