#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| discord_gateway_websocket::fuzzing::response_head(data));
