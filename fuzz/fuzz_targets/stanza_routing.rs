//! See `cordial::fuzzing::stanza_routing` for what this target checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cordial::fuzzing::stanza_routing(data));
