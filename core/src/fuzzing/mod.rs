//! Entry points for the fuzz targets in `fuzz/`; not part of the API, and hidden from the docs.
//!
//! Each target in `fuzz/fuzz_targets/` is one line calling a function here, so the checks live
//! next to the code they check, build with the crate, and can be run from a unit test.
//!
//! - `envelope`: the scan's own promises on arbitrary bytes (no `std` needed).
//! - `command_round_trip`: arbitrary commands encode within 4096 bytes or are refused, and
//!   (with the `fuzzing` feature) parse back with `serde_json` to the same command.
//! - `envelope_differential` (feature `fuzzing`): the scan agrees with `serde_json`.
//! - `etf` (feature `fuzzing`): the ETF reader, deserializer, JSON view and envelope scan agree
//!   on arbitrary bytes (the fuzz target adds a differential check against `eetf`).
//! - `session_transcript` (feature `fuzzing`): arbitrary transcripts through the session
//!   state machine, with its invariants checked after every step.
//!
//! The `fuzzing` feature brings in `std` and `serde_json`; it is never on by default.

#[cfg(feature = "fuzzing")]
mod differential;
mod envelope;
#[cfg(feature = "fuzzing")]
mod etf;
mod input;
mod prefix_head;
#[cfg(feature = "fuzzing")]
mod transcript;

pub use crate::command::fuzzing::encode_round_trip as command_round_trip;
#[cfg(feature = "fuzzing")]
pub use differential::envelope_differential;
pub use envelope::envelope;
#[cfg(feature = "fuzzing")]
pub use etf::etf;
pub(crate) use input::Input;
pub use prefix_head::prefix_head;
#[cfg(feature = "fuzzing")]
pub use transcript::session_transcript;

#[cfg(test)]
mod tests {
    extern crate std;

    use std::vec::Vec;

    /// Deterministic pseudo-random inputs of every length up to `max`, so a failure reproduces.
    fn spread(count: usize, max: usize) -> impl Iterator<Item = Vec<u8>> {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..count).map(move |round| {
            (0..round % max)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state.to_le_bytes()[0]
                })
                .collect()
        })
    }

    #[test]
    fn the_envelope_target_holds_on_random_bytes_and_near_misses() {
        for data in spread(3000, 200) {
            super::envelope(&data);
            super::prefix_head(&data);
        }
        for data in [
            &b""[..],
            b"{}",
            br#"{"op":0,"t":"X","s":1}"#,
            br#"{"t":"X","s":1,"op":0,"d":{"#,
            br#"{"t":"\u0052EADY","op":0,"d":null}"#,
        ] {
            super::envelope(data);
            super::prefix_head(data);
        }
    }

    #[cfg(feature = "fuzzing")]
    #[test]
    fn every_checked_in_seed_passes_its_target() {
        let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds");
        type Target = fn(&[u8]);
        let targets: [(&str, Target); 6] = [
            ("envelope", super::envelope),
            ("prefix_head", super::prefix_head),
            ("etf", super::etf),
            ("envelope_differential", super::envelope_differential),
            ("command_round_trip", super::command_round_trip),
            ("session_transcript", super::session_transcript),
        ];
        for (target, run) in targets {
            let mut count = 0;
            for entry in std::fs::read_dir(seeds.join(target)).unwrap() {
                run(&std::fs::read(entry.unwrap().path()).unwrap());
                count += 1;
            }
            assert!(count > 0, "no seeds for {target}");
        }
    }

    #[cfg(feature = "fuzzing")]
    #[test]
    fn random_transcripts_and_envelopes_hold_every_invariant() {
        for mut data in spread(2000, 300) {
            super::session_transcript(&data);
            super::envelope_differential(&data);
            // As ETF: arbitrary bytes after the version byte.
            if let Some(first) = data.first_mut() {
                *first = 131;
            }
            super::etf(&data);
        }
    }
}
