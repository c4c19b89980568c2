//! The driver's [`ReadAhead`] under tokio's IO traits: the socket is read in large chunks into
//! a buffer that is freed whenever the socket goes quiet, so tungstenite's own (zero-filled,
//! always resident) read buffer can stay small.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use discord_gateway_driver::websocket::ReadAhead;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A tokio stream whose reads go through a [`ReadAhead`]; writes pass straight through.
#[derive(Debug)]
pub(crate) struct ReadAheadStream<S> {
    inner: S,
    ahead: ReadAhead,
}

impl<S> ReadAheadStream<S> {
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
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let inner = &mut this.inner;
        let dst = buf.initialize_unfilled();
        let polled = this.ahead.poll_read_with(dst, |space| {
            let mut space = ReadBuf::new(space);
            match Pin::new(&mut *inner).poll_read(cx, &mut space) {
                Poll::Ready(Ok(())) => Poll::Ready(Ok(space.filled().len())),
                Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
                Poll::Pending => Poll::Pending,
            }
        });
        match polled {
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => Poll::Pending,
        }
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

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
