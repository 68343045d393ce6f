//! Arbitrary bytes as a configuration file and as a rule file: `bandwatch check` must report,
//! never panic. The same path runs under `cargo test --test integration config_check::` with deterministic
//! mutations of the shipped configuration and rule files.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    bandwatch::config::check_text(std::path::Path::new("/nonexistent"), &text, &text);
});
