//! A socket read buffer that exists only while bytes are in flight.
//!
//! tungstenite zero-fills its whole read buffer before every read, so every byte of it is
//! resident for as long as the connection lives, and a gateway bot holds one connection per
//! shard, nearly all of them idle. The adapters therefore give tungstenite a small buffer
//! ([`WEBSOCKET_READ_BUFFER`]) and put this one under it: it reads the socket in large chunks
//! (one syscall for many small websocket reads, as a large tungstenite buffer would), hands
//! the bytes up as they are asked for, and is given back the moment it is drained and the
//! socket has nothing more, so an idle shard holds no read buffer at all.
//!
//! [`ReadAhead`] is the buffer logic, independent of any IO trait; [`ReadAheadStream`] wraps a
//! `futures-io` stream with it: `websocket::connect` puts it under every adapter's websocket
//! (tokio's TCP seen through async-tungstenite's `TokioAdapter`).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

/// The read buffer handed to tungstenite itself when a [`ReadAhead`] sits under it: about one
/// small event, so an idle connection keeps only this much of tungstenite's zero-filled buffer.
pub const WEBSOCKET_READ_BUFFER: usize = 1024;

/// Bytes read from a socket ahead of the reader above it.
///
/// After a quiet spell the socket is read straight into the caller's buffer: a heartbeat ACK
/// or a lone event fits there, and no buffer is allocated for it. Only when such a read fills
/// the caller's buffer (more is waiting: a burst, a large message) does it switch to reading
/// `size` bytes at a time into its own buffer, until the socket goes quiet again.
#[derive(Debug)]
pub struct ReadAhead {
    /// Present only while it holds bytes or the socket keeps delivering.
    buf: Option<Box<[u8]>>,
    /// The unread bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// How much to read from the socket at once while bytes keep coming.
    size: usize,
    /// Whether the last read found more than the caller could take.
    streaming: bool,
}

impl ReadAhead {
    /// A buffer that reads `size` bytes from the socket at a time (at least 1). Nothing is
    /// allocated until a read finds more bytes waiting than the caller asked for.
    #[must_use]
    pub fn new(size: usize) -> Self {
        Self {
            buf: None,
            start: 0,
            end: 0,
            size: size.max(1),
            streaming: false,
        }
    }

    /// Bytes held and not yet handed up.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Whether the buffer is allocated now.
    #[must_use]
    pub fn is_allocated(&self) -> bool {
        self.buf.is_some()
    }

    /// Fills `dst`, from what is buffered or else with one read of the socket through `read`.
    ///
    /// When `read` has nothing (`Pending`) and nothing is buffered, the buffer is freed.
    pub fn poll_read_with(
        &mut self,
        dst: &mut [u8],
        mut read: impl FnMut(&mut [u8]) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        if self.buffered() > 0 || dst.is_empty() {
            return Poll::Ready(Ok(self.copy_to(dst)));
        }
        if !self.streaming || dst.len() >= self.size {
            // Quiet, or a caller's buffer as large as ours: nothing gained by copying.
            let polled = read(dst);
            match polled {
                Poll::Ready(Ok(n)) => self.streaming = n == dst.len(),
                Poll::Pending => self.quiet(),
                Poll::Ready(Err(_)) => {}
            }
            return polled;
        }
        let size = self.size;
        let buf = self
            .buf
            .get_or_insert_with(|| vec![0; size].into_boxed_slice());
        match read(buf) {
            Poll::Ready(Ok(n)) => {
                self.start = 0;
                self.end = n.min(size);
                Poll::Ready(Ok(self.copy_to(dst)))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => {
                self.quiet();
                Poll::Pending
            }
        }
    }

    /// The socket has nothing: give the buffer back until a burst comes.
    fn quiet(&mut self) {
        self.buf = None;
        self.streaming = false;
    }

    fn copy_to(&mut self, dst: &mut [u8]) -> usize {
        let Some(buf) = &self.buf else {
            return 0;
        };
        let n = dst.len().min(self.end - self.start);
        dst[..n].copy_from_slice(&buf[self.start..self.start + n]);
        self.start += n;
        n
    }
}

/// A `futures-io` stream whose reads go through a [`ReadAhead`]; writes pass straight through.
#[derive(Debug)]
pub(crate) struct ReadAheadStream<S> {
    inner: S,
    ahead: ReadAhead,
}

impl<S> ReadAheadStream<S> {
    /// Wraps `inner`, reading it `size` bytes at a time.
    pub(crate) fn new(inner: S, size: usize) -> Self {
        Self {
            inner,
            ahead: ReadAhead::new(size),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadAheadStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        dst: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let inner = &mut this.inner;
        this.ahead
            .poll_read_with(dst, |space| Pin::new(&mut *inner).poll_read(cx, space))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ReadAheadStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::io;
    use std::task::Poll;

    use super::ReadAhead;

    /// A socket that delivers the given chunks one read at a time, then has nothing.
    struct Chunks {
        chunks: VecDeque<Vec<u8>>,
        reads: usize,
    }

    impl Chunks {
        fn new(chunks: &[&[u8]]) -> Self {
            Self {
                chunks: chunks.iter().map(|chunk| chunk.to_vec()).collect(),
                reads: 0,
            }
        }

        fn read(&mut self, space: &mut [u8]) -> Poll<io::Result<usize>> {
            self.reads += 1;
            let Some(chunk) = self.chunks.front_mut() else {
                return Poll::Pending;
            };
            let n = chunk.len().min(space.len());
            space[..n].copy_from_slice(&chunk[..n]);
            chunk.drain(..n);
            if chunk.is_empty() {
                self.chunks.pop_front();
            }
            Poll::Ready(Ok(n))
        }
    }

    fn read_all(ahead: &mut ReadAhead, socket: &mut Chunks, step: usize) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let mut dst = vec![0u8; step];
            match ahead.poll_read_with(&mut dst, |space| socket.read(space)) {
                Poll::Ready(Ok(n)) => out.extend_from_slice(&dst[..n]),
                Poll::Ready(Err(error)) => panic!("{error}"),
                Poll::Pending => return out,
            }
        }
    }

    #[test]
    fn a_burst_is_read_in_large_chunks_and_a_quiet_socket_holds_no_buffer() {
        let data: Vec<u8> = (0..=255).cycle().take(10_000).collect();
        let mut socket = Chunks::new(&[&data]);
        let mut ahead = ReadAhead::new(4096);
        assert_eq!(read_all(&mut ahead, &mut socket, 100), data);
        // The first read went straight into the caller's 100 bytes and filled them; then
        // 4096 + 4096 + 1708 through the buffer; then nothing.
        assert_eq!(socket.reads, 5);
        assert!(!ahead.is_allocated(), "a quiet reader holds no buffer");

        // A lone small message after the pause is read straight through.
        let mut socket = Chunks::new(&[&data[..60]]);
        assert_eq!(read_all(&mut ahead, &mut socket, 100), &data[..60]);
        assert_eq!(socket.reads, 2);
        assert!(!ahead.is_allocated());
    }

    #[test]
    fn bytes_cross_refills_in_order() {
        let a: Vec<u8> = (0..100).collect();
        let b: Vec<u8> = (100..250).collect();
        let mut socket = Chunks::new(&[&a, &b]);
        let mut ahead = ReadAhead::new(64);
        let got = read_all(&mut ahead, &mut socket, 7);
        assert_eq!(got, [a, b].concat());
    }

    #[test]
    fn large_reads_bypass_the_buffer() {
        let data = vec![7u8; 500];
        let mut socket = Chunks::new(&[&data]);
        let mut ahead = ReadAhead::new(128);
        let mut dst = vec![0u8; 256];
        let polled = ahead.poll_read_with(&mut dst, |space| socket.read(space));
        assert!(matches!(polled, Poll::Ready(Ok(256))));
        assert!(!ahead.is_allocated());
        assert_eq!(read_all(&mut ahead, &mut socket, 256).len(), 244);
    }

    #[test]
    fn a_buffer_with_unread_bytes_is_kept_and_errors_pass_through() {
        let mut ahead = ReadAhead::new(16);
        let mut socket = Chunks::new(&[b"0123456789"]);
        let mut dst = [0u8; 4];
        // Straight into `dst`, which it fills: more is probably waiting.
        assert!(matches!(
            ahead.poll_read_with(&mut dst, |space| socket.read(space)),
            Poll::Ready(Ok(4))
        ));
        assert_eq!(ahead.buffered(), 0);
        // So the next read goes through the buffer and brings the other six.
        assert!(matches!(
            ahead.poll_read_with(&mut dst, |space| socket.read(space)),
            Poll::Ready(Ok(4))
        ));
        assert_eq!(&dst, b"4567");
        assert_eq!(ahead.buffered(), 2);
        // The socket would fail, but buffered bytes come first.
        let mut rest = [0u8; 8];
        let polled =
            ahead.poll_read_with(&mut rest, |_| Poll::Ready(Err(io::Error::other("reset"))));
        assert!(matches!(polled, Poll::Ready(Ok(2))));
        assert_eq!(&rest[..2], b"89");
        let polled =
            ahead.poll_read_with(&mut rest, |_| Poll::Ready(Err(io::Error::other("reset"))));
        assert!(matches!(polled, Poll::Ready(Err(_))));
        // End of stream reads as 0.
        assert!(matches!(
            ahead.poll_read_with(&mut rest, |_| Poll::Ready(Ok(0))),
            Poll::Ready(Ok(0))
        ));
    }
}
