//! Reading TLS without ever cutting a record in half: transports to put *under* a TLS
//! connection (embedded-tls's `TlsConnection`) so that a read can end at a deadline without
//! losing a byte.
//!
//! embedded-tls (every release, 0.19.0 included) reads a record's 5-byte header into a local
//! of its read, then the record's body: a read dropped or failed in the middle of a record
//! loses what it had taken from the socket, and the stream is desynchronized for good (the
//! next record is decrypted from the wrong offset: "InvalidRecord", a MAC error). The client
//! must still stop reading when a heartbeat is due. The gates here let it, at the one place
//! where stopping is safe: they follow the TLS record framing of the bytes they hand up (a
//! header says how long its record is), and
//!
//! - **between records**, with nothing of the next record taken yet, a read ends at the
//!   deadline with [`ErrorKind::TimedOut`]; the TLS layer's read fails before it has consumed
//!   anything, and the next read starts cleanly with the next record;
//! - **inside a record**, the rest of the record is already on its way, so the read waits for
//!   it past the deadline, as long as bytes keep coming; a peer that sends nothing for
//!   [`MID_RECORD_TIMEOUT`] in the middle of a record gets [`ErrorKind::ConnectionAborted`]:
//!   the connection is dropped and the session resumes on a new one (a cut record is never
//!   read on).
//!
//! The socket under the gate must have cancel-safe reads (embassy-net's `TcpSocket`, tokio's
//! `TcpStream`): the async gate races them against the timer between records.
//!
//! # Wiring
//!
//! The async loop reads through [`Connector::read_until`](crate::Connector::read_until): a TLS
//! connector stores the loop's deadline in a [`ReadDeadline`] it shares with a [`RecordGate`]
//! under its `TlsConnection`, reads without racing anything, and takes `TimedOut` as "nothing
//! before the deadline" (the crate docs, "Wiring it on a board", show it whole). The blocking
//! loop sets timeouts on its socket ([`TimeoutSocket`]); a TLS socket forwards them to a
//! [`Timeouts`] it shares with a [`BlockingRecordGate`] under its TLS connection.

use core::cell::Cell;
use core::time::Duration;

use discord_gateway::Instant;
use embassy_futures::select::{select, Either};
use embedded_io::{Error as _, ErrorKind};

use crate::asynch::Timer;
use crate::blocking::TimeoutSocket;

/// How long a gate waits for more of a record it has begun to hand up, once a read deadline
/// is set, before it gives up on the connection ([`ErrorKind::ConnectionAborted`]).
pub const MID_RECORD_TIMEOUT: Duration = crate::client::WRITE_TIMEOUT;

/// The length of a TLS record header: type, version, length.
const HEADER_LEN: usize = 5;

/// Where the bytes handed up so far stand in the TLS record framing.
#[derive(Debug, Default, Clone, Copy)]
struct Framing {
    header: [u8; HEADER_LEN],
    /// Bytes of the current header seen.
    have: usize,
    /// Bytes of the current record's body still to come.
    left: usize,
}

impl Framing {
    /// Nothing of a record handed up but not the whole of it.
    fn at_boundary(&self) -> bool {
        self.have == 0 && self.left == 0
    }

    fn advance(&mut self, mut bytes: &[u8]) {
        while let Some((&first, rest)) = bytes.split_first() {
            if self.left > 0 {
                let taken = self.left.min(bytes.len());
                self.left -= taken;
                bytes = bytes.get(taken..).unwrap_or_default();
                continue;
            }
            if let Some(slot) = self.header.get_mut(self.have) {
                *slot = first;
            }
            self.have += 1;
            bytes = rest;
            if self.have == HEADER_LEN {
                self.have = 0;
                self.left = usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
            }
        }
    }
}

/// The read deadline a TLS [`Connector`](crate::Connector) shares with the [`RecordGate`]
/// under its connection: set it before each read, clear it after.
#[derive(Debug, Default)]
pub struct ReadDeadline(Cell<Option<Instant>>);

impl ReadDeadline {
    /// No deadline.
    #[must_use]
    pub const fn new() -> Self {
        Self(Cell::new(None))
    }

    /// Reads between records end at `at` (`None`: they wait).
    pub fn set(&self, at: Option<Instant>) {
        self.0.set(at);
    }

    /// The deadline set.
    #[must_use]
    pub fn get(&self) -> Option<Instant> {
        self.0.get()
    }
}

/// An async transport for under a TLS connection whose reads end at the [`ReadDeadline`]
/// only between records (see the [module docs](self)).
#[derive(Debug)]
pub struct RecordGate<'d, S, T> {
    inner: S,
    timer: T,
    deadline: &'d ReadDeadline,
    framing: Framing,
}

impl<'d, S, T> RecordGate<'d, S, T> {
    /// Gates `inner` (a socket with cancel-safe reads), with `timer` for the deadline.
    pub const fn new(inner: S, timer: T, deadline: &'d ReadDeadline) -> Self {
        Self {
            inner,
            timer,
            deadline,
            framing: Framing {
                header: [0; HEADER_LEN],
                have: 0,
                left: 0,
            },
        }
    }

    /// The socket under the gate.
    pub fn inner_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S, T> embedded_io_async::ErrorType for RecordGate<'_, S, T> {
    type Error = ErrorKind;
}

impl<S: embedded_io_async::Read, T: Timer> embedded_io_async::Read for RecordGate<'_, S, T> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        if buf.is_empty() {
            return Ok(0);
        }
        let read = match self.deadline.get() {
            None => self.inner.read(buf).await.map_err(|e| e.kind()),
            Some(at) => {
                let boundary = self.framing.at_boundary();
                let until = if boundary {
                    at
                } else {
                    self.timer.now() + MID_RECORD_TIMEOUT
                };
                // The inner read is cancel-safe: dropping it loses nothing.
                match select(self.inner.read(buf), self.timer.sleep_until(until)).await {
                    Either::First(read) => read.map_err(|e| e.kind()),
                    Either::Second(()) if boundary => Err(ErrorKind::TimedOut),
                    Either::Second(()) => Err(ErrorKind::ConnectionAborted),
                }
            }
        };
        let n = read?;
        self.framing.advance(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

impl<S: embedded_io_async::Write, T> embedded_io_async::Write for RecordGate<'_, S, T> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        self.inner.write(buf).await.map_err(|e| e.kind())
    }

    async fn flush(&mut self) -> Result<(), ErrorKind> {
        self.inner.flush().await.map_err(|e| e.kind())
    }
}

/// The read and write timeouts a blocking TLS socket shares with the [`BlockingRecordGate`]
/// under its connection: its [`TimeoutSocket`] methods set them.
#[derive(Debug, Default)]
pub struct Timeouts {
    read: Cell<Option<Duration>>,
    write: Cell<Option<Duration>>,
}

impl Timeouts {
    /// No timeouts.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            read: Cell::new(None),
            write: Cell::new(None),
        }
    }

    /// Reads between records give up after `timeout` (`None`: they wait).
    pub fn set_read(&self, timeout: Option<Duration>) {
        self.read.set(timeout);
    }

    /// Each write gives up after `timeout` (`None`: it waits).
    pub fn set_write(&self, timeout: Option<Duration>) {
        self.write.set(timeout);
    }
}

/// A blocking transport for under a TLS connection whose reads time out only between
/// records (see the [module docs](self)).
#[derive(Debug)]
pub struct BlockingRecordGate<'d, S> {
    inner: S,
    timeouts: &'d Timeouts,
    framing: Framing,
}

impl<'d, S> BlockingRecordGate<'d, S> {
    /// Gates `inner`, whose timeouts follow `timeouts`.
    pub const fn new(inner: S, timeouts: &'d Timeouts) -> Self {
        Self {
            inner,
            timeouts,
            framing: Framing {
                header: [0; HEADER_LEN],
                have: 0,
                left: 0,
            },
        }
    }

    /// The socket under the gate.
    pub fn inner_mut(&mut self) -> &mut S {
        &mut self.inner
    }
}

impl<S> embedded_io::ErrorType for BlockingRecordGate<'_, S> {
    type Error = ErrorKind;
}

impl<S: TimeoutSocket> embedded_io::Read for BlockingRecordGate<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        if buf.is_empty() {
            return Ok(0);
        }
        let boundary = self.framing.at_boundary();
        let timeout = match self.timeouts.read.get() {
            Some(_) if !boundary => Some(MID_RECORD_TIMEOUT),
            timeout => timeout,
        };
        self.inner.set_read_timeout(timeout).map_err(|e| e.kind())?;
        let n = match self.inner.read(buf) {
            Ok(n) => n,
            Err(error) if boundary || error.kind() == ErrorKind::Interrupted => {
                return Err(error.kind())
            }
            // A record cut in the middle cannot be read on: the connection is over.
            Err(_) => return Err(ErrorKind::ConnectionAborted),
        };
        self.framing.advance(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

impl<S: TimeoutSocket> embedded_io::Write for BlockingRecordGate<'_, S> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        self.inner
            .set_write_timeout(self.timeouts.write.get())
            .map_err(|e| e.kind())?;
        self.inner.write(buf).map_err(|e| e.kind())
    }

    fn flush(&mut self) -> Result<(), ErrorKind> {
        self.inner.flush().map_err(|e| e.kind())
    }
}

#[cfg(test)]
mod tests {
    use super::Framing;

    #[test]
    fn the_framing_follows_records_split_anywhere() {
        // Two records: 3 bytes of body, then 0, then 2; fed one byte at a time and whole.
        let stream = [
            23, 3, 3, 0, 3, 1, 2, 3, 23, 3, 3, 0, 0, 23, 3, 3, 0, 2, 9, 9,
        ];
        let boundaries_after = [8, 13, 20];
        let mut framing = Framing::default();
        for (i, byte) in stream.iter().enumerate() {
            framing.advance(core::slice::from_ref(byte));
            assert_eq!(
                framing.at_boundary(),
                boundaries_after.contains(&(i + 1)),
                "after byte {}",
                i + 1
            );
        }
        let mut whole = Framing::default();
        whole.advance(&stream[..10]);
        assert!(!whole.at_boundary());
        whole.advance(&stream[10..]);
        assert!(whole.at_boundary());
    }
}
