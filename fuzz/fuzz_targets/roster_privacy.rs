//! See `cordial::fuzzing::roster_privacy` for what this target checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cordial::fuzzing::roster_privacy(data));
