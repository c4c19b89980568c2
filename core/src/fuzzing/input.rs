//! Arbitrary bytes read as a stream of choices.

/// Fuzzer bytes consumed front to back. Exhausted input reads as zeros and empty slices, so every
/// byte string is a complete program for whoever reads it: nothing here ever fails.
///
/// Hand-rolled rather than `arbitrary`: the grammars that read it are small, they lean on
/// choices relative to earlier state (the next sequence number, the last one, a gap) that a
/// derived `Arbitrary` could not express, and the core keeps its dependency list short.
#[derive(Clone, Debug)]
pub(crate) struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    pub(crate) const fn new(data: &'a [u8]) -> Self {
        Self(data)
    }

    /// Whether every byte has been read.
    #[cfg_attr(not(feature = "fuzzing"), allow(dead_code))]
    pub(crate) const fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn byte(&mut self) -> u8 {
        let Some((&byte, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        byte
    }

    pub(crate) fn bool(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    pub(crate) fn u32(&mut self) -> u32 {
        u32::from_le_bytes(core::array::from_fn(|_| self.byte()))
    }

    pub(crate) fn u64(&mut self) -> u64 {
        u64::from_le_bytes(core::array::from_fn(|_| self.byte()))
    }

    /// `Some(u64)` or `None`, one flag byte deciding.
    pub(crate) fn u64_if(&mut self) -> Option<u64> {
        self.bool().then(|| self.u64())
    }

    /// One of `choices`, picked by the next byte.
    #[cfg_attr(not(feature = "fuzzing"), allow(dead_code))]
    pub(crate) fn pick<T: Copy>(&mut self, choices: &[T]) -> T {
        choices[usize::from(self.byte()) % choices.len()]
    }

    /// Up to `len` raw bytes (fewer when the input runs out).
    pub(crate) fn bytes(&mut self, len: usize) -> &'a [u8] {
        let (taken, rest) = self.0.split_at(len.min(self.0.len()));
        self.0 = rest;
        taken
    }

    /// A string of up to 255 bytes: the longest valid UTF-8 prefix of the announced length.
    pub(crate) fn text(&mut self) -> &'a str {
        let len = usize::from(self.byte());
        utf8_prefix(self.bytes(len))
    }

    /// A string of up to 65,535 bytes, so that payloads can outgrow every limit.
    pub(crate) fn long_text(&mut self) -> &'a str {
        let len = usize::from(self.u16());
        utf8_prefix(self.bytes(len))
    }

    /// Everything not read yet.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.0)
    }
}

fn utf8_prefix(bytes: &[u8]) -> &str {
    match core::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => core::str::from_utf8(&bytes[..error.valid_up_to()]).unwrap_or_default(),
    }
}
