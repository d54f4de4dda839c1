//! See `cordial::fuzzing::privacy_edits` for what this target checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cordial::fuzzing::privacy_edits(data));
