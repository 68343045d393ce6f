//! The 95th percentile of each billing method against values computed by hand, on a small
//! case written through the real store: 20 five-minute slots of a customer on two switches.

mod report_support;

use bandwatch::config::Billing;
use bandwatch::store::{Entity, EntityKind, Store};
use bandwatch::usage::{Period, Usage};
use report_support::*;

/// Octets in five minutes at `mbps` Mbit/s.
fn five_min(mbps: u64) -> u64 {
    mbps * 1_000_000 / 8 * 300
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * b.abs().max(1.0)
}

#[test]
fn each_method_matches_the_hand_computed_95th() {
    let s = Setup::new();
    let from = day("2026-08-03");
    // Customer `two`: sw-a/p5 and sw-b/p1. In slot k (0..20), in Mbit/s:
    //   sw-a/p5 in k+1, out 2(20-k); sw-b/p1 in 30 in slot 0 only, out 1.
    // Customer in:  31, 2, 3, ..., 20        -> sorted 2..20, 31: 19th (ceil 0.95*20) = 20
    // Customer out: 41, 39, ..., 3           -> sorted 3..41 odd:  19th = 39
    // in + out:     72, 41, 40, ..., 23      -> sorted 23..41, 72: 19th = 41
    write_every(
        &s.db(),
        &s.config,
        from,
        from + 20 * 300,
        300,
        |sw, port, t| {
            let k = ((t - from) / 300) as u64;
            Some(match (sw, port) {
                ("sw-a", "p5") => (five_min(k + 1), five_min(2 * (20 - k))),
                ("sw-b", "p1") => (if k == 0 { five_min(30) } else { 0 }, five_min(1)),
                _ => (0, 0),
            })
        },
    );
    let book = Store::open_existing(&s.db(), &Default::default())
        .unwrap()
        .usage();
    let period = Period {
        from,
        to: from + 20 * 300,
    };
    let buckets = book
        .buckets_5m(
            &Entity::new(EntityKind::Customer, "two"),
            period.from,
            period.to,
        )
        .unwrap()
        .unwrap();
    let u = Usage::from_buckets(&buckets, period);
    assert_eq!(u.slots, 20);
    assert!(close(u.coverage, 1.0), "{}", u.coverage);
    let p = u.p95;
    assert!(close(p.billed(Billing::In95).unwrap(), 20e6), "{p:?}");
    assert!(close(p.billed(Billing::Out95).unwrap(), 39e6), "{p:?}");
    assert!(close(p.billed(Billing::Max95).unwrap(), 39e6), "{p:?}");
    assert!(close(p.billed(Billing::Sum95).unwrap(), 41e6), "{p:?}");
    assert_eq!(p.billed(Billing::Volume), None);
    // Volume: every octet of both ports, in and out.
    let in_total: u64 = (0..20).map(|k| five_min(k + 1)).sum::<u64>() + five_min(30);
    let out_total: u64 = (0..20).map(|k| five_min(2 * (20 - k)) + five_min(1)).sum();
    assert_eq!(u.in_octets, in_total);
    assert_eq!(u.out_octets, out_total);
    assert_eq!(u.total_bytes(), in_total + out_total);

    // A gap is left out, not counted as zero: without slot 0 (the in peak) the 19 slots'
    // in rates are 2..20, whose 95th (ceil 18.05 = 19th) is 20; a zero would give 19.
    let without_first: Vec<_> = buckets.iter().copied().skip(1).collect();
    let g = Usage::from_buckets(&without_first, period);
    assert_eq!(g.slots, 19);
    assert!(close(g.p95.in_bps.unwrap(), 20e6), "{:?}", g.p95);
    assert!(close(g.coverage, 19.0 / 20.0));
}
