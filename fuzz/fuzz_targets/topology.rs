//! The topology parser and validator on any text: an error or a topology, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        // Certificate paths resolve under a directory that does not exist: a located error.
        let _ = ferry_config::parse("fuzz.toml", text, std::path::Path::new("/nonexistent"));
    }
});
