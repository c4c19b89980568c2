//! Where inflated payloads are written, and cut from as `Bytes` without a copy or an allocation.
//!
//! Each payload is inflated straight into one shared buffer and handed out as the front of it
//! ([`BytesMut::split_to`] + `freeze`), which shares the allocation instead of copying it. When
//! the room runs out the buffer starts over: if every event cut from it has been dropped by then
//! (the usual case: a bot handles an event and lets it go), `BytesMut` reclaims the same
//! allocation in place; only when events are still held does a new buffer get allocated. So a
//! steady stream costs no allocation per payload, where handing over a fresh `Vec` per payload
//! cost two (the `Vec`, and the reference count `Bytes::from(Vec)` boxes).
//!
//! The decompressors write into `&mut [u8]`, so the room is zero-filled once each time the
//! buffer starts over (about one byte of `memset` per byte of payload, less than a copy).

use bytes::{Bytes, BytesMut};

/// The smallest buffer started: an idle shard's heartbeat ACKs fit fifty times over, and it is
/// what an idle shard keeps (a busy one sizes its buffer from its payloads).
const MIN_CAPACITY: usize = 2 * 1024;
/// The largest buffer started for ordinary traffic, bounding what one held event keeps alive.
/// (A single payload larger than this still gets a buffer of its own size.)
const MAX_CAPACITY: usize = 1 << 20;
/// Payloads that fit in one buffer before it starts over, by the last payload's size.
const PAYLOADS_PER_BUFFER: usize = 4;

/// An inflate output buffer that payloads are cut from.
#[derive(Debug, Default)]
pub(crate) struct PayloadBuffer {
    /// Every byte up to `len()` is initialized: `..written` is the payload being assembled, the
    /// rest is room.
    buffer: BytesMut,
    written: usize,
    /// The size of the last finished payload, to size the next buffer.
    last: usize,
}

impl PayloadBuffer {
    /// An empty buffer; nothing is allocated until the first payload.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The bytes of the payload assembled so far (after `TooLarge`, the first bytes of the
    /// payload that was skipped).
    pub(crate) fn payload(&self) -> &[u8] {
        &self.buffer[..self.written]
    }

    /// How many bytes of the payload are assembled.
    #[cfg(any(feature = "zlib", feature = "zstd"))]
    pub(crate) fn written(&self) -> usize {
        self.written
    }

    /// Writable room after the payload, at least `at_least` bytes (its contents are whatever
    /// was there: write, then [`advance`](Self::advance) past what was written).
    pub(crate) fn room(&mut self, at_least: usize) -> &mut [u8] {
        // A new payload starts where one like the last fits, so that it rarely outgrows the
        // room halfway (which moves what is written).
        let wanted = if self.written == 0 {
            at_least.max(self.last + self.last / 2)
        } else {
            at_least
        };
        if self.buffer.len() - self.written < wanted {
            self.grow(wanted);
        }
        &mut self.buffer[self.written..]
    }

    /// Counts `n` more bytes of the room as written.
    pub(crate) fn advance(&mut self, n: usize) {
        self.written = (self.written + n).min(self.buffer.len());
    }

    /// Keeps only the first `len` bytes of the payload assembled so far.
    #[cfg(any(feature = "zlib", feature = "zstd"))]
    pub(crate) fn truncate(&mut self, len: usize) {
        self.written = self.written.min(len);
    }

    /// Drops the payload assembled so far, keeping the room.
    pub(crate) fn discard(&mut self) {
        self.written = 0;
    }

    /// Hands out the assembled payload, sharing the buffer's allocation.
    pub(crate) fn finish(&mut self) -> Bytes {
        let payload = self.buffer.split_to(self.written).freeze();
        self.last = self.written;
        self.written = 0;
        payload
    }

    fn grow(&mut self, at_least: usize) {
        let needed = self.written + at_least;
        if self.written == 0 {
            // Nothing to keep: start over. With `len` at zero, `reserve` takes the whole
            // allocation back when no payload cut from it is alive, and allocates otherwise.
            let usual = (self.last * PAYLOADS_PER_BUFFER).clamp(MIN_CAPACITY, MAX_CAPACITY);
            self.buffer.clear();
            self.buffer.reserve(needed.max(usual));
        } else {
            // A payload outgrew the room: keep what is written (which may move it), and at
            // least double, so a large payload is copied a logarithmic number of times.
            self.buffer.truncate(self.written);
            self.buffer.reserve(at_least.max(self.written));
        }
        let capacity = self.buffer.capacity();
        self.buffer.resize(capacity, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::{PayloadBuffer, MIN_CAPACITY};

    fn write(buffer: &mut PayloadBuffer, bytes: &[u8]) {
        let room = buffer.room(bytes.len());
        room[..bytes.len()].copy_from_slice(bytes);
        buffer.advance(bytes.len());
    }

    #[test]
    fn payloads_come_out_whole_and_in_order() {
        let mut buffer = PayloadBuffer::new();
        let mut held = Vec::new();
        for i in 0..200u32 {
            let payload: Vec<u8> = (0..(i * 37) % 3000).map(|j| (i + j) as u8).collect();
            // In pieces, as a decompressor writes.
            for piece in payload.chunks(700) {
                write(&mut buffer, piece);
            }
            assert_eq!(buffer.payload(), &payload[..]);
            held.push((payload, buffer.finish()));
        }
        for (expected, bytes) in &held {
            assert_eq!(&bytes[..], &expected[..]);
        }
    }

    #[test]
    fn a_payload_larger_than_the_buffer_grows_it_and_keeps_its_start() {
        let mut buffer = PayloadBuffer::new();
        let big: Vec<u8> = (0..5 * MIN_CAPACITY).map(|i| (i % 251) as u8).collect();
        for piece in big.chunks(1000) {
            write(&mut buffer, piece);
        }
        assert_eq!(&buffer.finish()[..], &big[..]);
    }

    #[test]
    fn discarded_bytes_never_show_in_the_next_payload() {
        let mut buffer = PayloadBuffer::new();
        write(&mut buffer, b"skipped");
        buffer.discard();
        write(&mut buffer, b"kept");
        assert_eq!(&buffer.finish()[..], b"kept");
    }

    #[test]
    fn a_dropped_payload_gives_its_allocation_back() {
        let mut buffer = PayloadBuffer::new();
        write(&mut buffer, &[1; 100]);
        let first = buffer.finish();
        let start = first.as_ptr();
        drop(first);
        // Payloads dropped as soon as they are cut: once the room is used up, the buffer starts
        // over in the same allocation.
        let reused = (0..100).any(|_| {
            write(&mut buffer, &[2; 300]);
            buffer.finish().as_ptr() == start
        });
        assert!(reused, "the allocation was never reclaimed");
    }

    #[test]
    fn a_held_payload_keeps_its_bytes_when_the_buffer_starts_over() {
        let mut buffer = PayloadBuffer::new();
        write(&mut buffer, b"held");
        let held = buffer.finish();
        for _ in 0..100 {
            write(&mut buffer, &[7; 300]);
            drop(buffer.finish());
        }
        assert_eq!(&held[..], b"held");
    }
}
