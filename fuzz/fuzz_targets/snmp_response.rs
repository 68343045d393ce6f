//! Arbitrary bytes as SNMP responses: decode, then drive the switch poller with them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let sweeps = bandwatch::poll::replay::replay(data);
    assert_eq!(sweeps.len(), 3);
});
