//! The peak stack, read back from the pattern cortex-m-rt's `paint-stack` wrote at reset.
#![allow(unsafe_code)] // Reading the painted stack is reading memory no Rust value owns.

/// What `paint-stack` fills the stack with.
const PAINT: u32 = 0xCCCC_CCCC;

extern "C" {
    // Bounds of the stack, from cortex-m-rt's link.x: it grows down from `_stack_start`
    // towards `_stack_end`.
    static _stack_start: u32;
    static _stack_end: u32;
}

/// Bytes of stack that were ever written since reset.
pub fn peak_usage() -> usize {
    let top = core::ptr::addr_of!(_stack_start) as usize;
    let bottom = core::ptr::addr_of!(_stack_end) as usize;
    let mut at = bottom;
    while at < top {
        // SAFETY: `at` is word-aligned and between the stack's bounds, which is RAM; the words
        // below the stack pointer are not in use by anything.
        let word = unsafe { core::ptr::read_volatile(at as *const u32) };
        if word != PAINT {
            break;
        }
        at += 4;
    }
    top - at
}
