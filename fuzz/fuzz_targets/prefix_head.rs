#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| discord_gateway::fuzzing::prefix_head(data));
