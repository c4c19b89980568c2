//! Support for the programs in this package: `gateway-tail` and the example bots.
//!
//! The library itself is empty; it exists so the README's examples, which use every crate of
//! the workspace, are compiled and run as doctests here.

/// The README's examples, compiled and run as doctests so the README stays true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
