//! The response-handling path on mutated bytes (what the cargo-fuzz target in `fuzz/` does
//! at scale): a valid discovery answer and valid GET answers first, then thousands of
//! deterministic mutations of them. Nothing may panic, and the unmutated input must give
//! real readings, so the path is really exercised.

use crate::common;
use common::*;

use bandwatch::poll::replay::replay;
use bandwatch::poll::{PortOutcome, Quality, SweepStatus};

const IFX: [u32; 10] = [1, 3, 6, 1, 2, 1, 31, 1, 1, 1];
const IFT: [u32; 9] = [1, 3, 6, 1, 2, 1, 2, 2, 1];

fn at(base: &[u32], rest: &[u32]) -> Vec<u32> {
    [base, rest].concat()
}

fn seed() -> Vec<u8> {
    // Discovery: one GETBULK answer with two rows of ifName, ifDescr, ifAlias, then the end.
    let mut walk = Vec::new();
    for i in 1..=2u32 {
        let name = format!("eth{i}");
        walk.push((at(&IFX, &[1, i]), tlv(0x04, name.as_bytes())));
        walk.push((at(&IFT, &[2, i]), tlv(0x04, name.as_bytes())));
        walk.push((at(&IFX, &[18, i]), tlv(0x04, b"")));
    }
    for _ in 0..3 {
        walk.push((vec![1, 3, 6, 1, 2, 1, 99], vec![0x82, 0x00]));
    }
    let mut data = response(1, 0, &walk);
    // Three sweeps: sysUpTime, then 7 columns for ifIndex 1 and 2.
    for sweep in 1..=3u64 {
        let mut vbs = vec![(vec![1, 3, 6, 1, 2, 1, 1, 3, 0], uint(0x43, 1000 + sweep))];
        for i in 1..=2u32 {
            vbs.push((at(&IFX, &[6, i]), uint(0x46, 1_000 * sweep)));
            vbs.push((at(&IFX, &[10, i]), uint(0x46, 500 * sweep)));
            vbs.push((at(&IFX, &[7, i]), uint(0x46, sweep)));
            vbs.push((at(&IFX, &[11, i]), uint(0x46, sweep)));
            vbs.push((at(&IFX, &[15, i]), uint(0x42, 100_000)));
            vbs.push((at(&IFT, &[8, i]), int(1)));
            vbs.push((at(&IFX, &[19, i]), uint(0x43, 0)));
        }
        data.extend_from_slice(&[0xff, 0x00, 0xff]);
        data.extend(response(1 + sweep as i64, 0, &vbs));
    }
    data
}

#[test]
fn unmutated_input_gives_readings() {
    let sweeps = replay(&seed());
    assert_eq!(sweeps.len(), 3);
    assert!(
        sweeps.iter().all(|s| s.status == SweepStatus::Ok),
        "{sweeps:?}"
    );
    let PortOutcome::Reading(r) = &sweeps[0].ports[1].outcome else {
        panic!("{sweeps:?}")
    };
    assert_eq!((r.if_index, r.quality), (2, Quality::First));
    // Later sweeps have readings too (quality depends on the sub-millisecond timing here).
    assert!(matches!(
        sweeps[2].ports[0].outcome,
        PortOutcome::Reading(_)
    ));
}

#[test]
fn mutated_input_never_panics() {
    let seed = seed();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut not_ok = 0;
    for _ in 0..1500 {
        let mut data = seed.clone();
        for _ in 0..1 + rnd() % 6 {
            let i = (rnd() as usize) % data.len();
            match rnd() % 4 {
                0 => data[i] = rnd() as u8,
                1 => data[i] ^= 0x80,
                2 => data.truncate(i.max(1)),
                _ => data.insert(i, rnd() as u8),
            }
        }
        let sweeps = replay(&data);
        assert_eq!(sweeps.len(), 3);
        not_ok += sweeps
            .iter()
            .filter(|s| s.status != SweepStatus::Ok)
            .count();
        for s in &sweeps {
            // Every configured port is accounted for, whatever arrived.
            assert_eq!(s.ports.len(), 2);
        }
    }
    assert!(not_ok > 100, "mutations should break many sweeps: {not_ok}");
}
