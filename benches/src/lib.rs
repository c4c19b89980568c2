//! Shared helpers of the discord-gateway benchmarks: the corpora every contender reads, a
//! per-thread counting allocator, CPU-time and resident-memory probes, and the client runners
//! the end-to-end and memory benchmarks start in child processes.
//!
//! Nothing here is published; see `BENCHMARKS.md` at the repository root for the figures and
//! `benches/README.md` for how to run each benchmark.

pub mod alloc;
pub mod clients;
pub mod corpus;
pub mod json;
pub mod measure;
pub mod scale;
