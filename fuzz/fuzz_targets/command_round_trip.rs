#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| discord_gateway::fuzzing::command_round_trip(data));
