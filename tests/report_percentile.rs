//! The 95th percentile of each billing method against values computed by hand, on a small
//! case written through the real store: 20 five-minute slots of a customer on two switches.

use crate::report_support;

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

#[test]
fn slots_inside_a_maintenance_window_marked_so_are_left_out_of_the_95th() {
    // Customer `two` over 20 slots: sw-a/p5 in 10, out 5 Mbit/s throughout; sw-b/p1 in 100,
    // out 1 Mbit/s in slots 0 and 1 (a switch reboot's burst), 0 and 1 after. A one-off window
    // on sw-b over slots 0-1 is marked `exclude_samples`; another on the customer over slots
    // 4-5 is not marked.
    let from = day("2026-08-03");
    let at = |s: i64| jiff::Timestamp::from_second(s).unwrap().to_string();
    let windows = format!(
        r#"
[[maintenance]]
name = "sw-b-reboot"
match = {{ switch = "sw-b" }}
from = "{}"
until = "{}"
exclude_samples = true

[[maintenance]]
name = "unmarked"
match = {{ customer = "two" }}
from = "{}"
until = "{}"
"#,
        at(from),
        at(from + 2 * 300),
        at(from + 4 * 300),
        at(from + 6 * 300),
    );
    let s = Setup::with_config(&format!("{CONFIG}{windows}"));
    write_every(
        &s.db(),
        &s.config,
        from,
        from + 20 * 300,
        300,
        |sw, port, t| {
            let k = ((t - from) / 300) as u64;
            Some(match (sw, port) {
                ("sw-a", "p5") => (five_min(10), five_min(5)),
                ("sw-b", "p1") => (if k < 2 { five_min(100) } else { 0 }, five_min(1)),
                _ => (0, 0),
            })
        },
    );
    let book = Store::open_existing(&s.db(), &Default::default())
        .unwrap()
        .usage();
    let month = bandwatch::usage::Month::new(2026, 8).unwrap();
    let now = jiff::Timestamp::from_second(from + 20 * 300).unwrap();
    let months = bandwatch::usage::Months::new(month, now, true);
    let usage = |config: &bandwatch::config::Config| {
        let all =
            bandwatch::usage::customers(&book, &config.topology, &config.report, &[], &months)
                .unwrap();
        all.into_iter().find(|c| c.id == "two").unwrap().this
    };
    // By hand, without the windows: in 110 x 2 and 10 x 18; the 95th is the 19th of 20
    // sorted, 110 Mbit/s; in + out: 116 x 2 and 16 x 18, 95th 116.
    let plain = Setup::with_config(CONFIG);
    let u = usage(&plain.config);
    assert_eq!((u.slots, u.excluded_slots), (20, 0));
    assert!(close(u.p95.in_bps.unwrap(), 110e6), "{:?}", u.p95);
    assert!(
        close(u.p95.billed(Billing::Sum95).unwrap(), 116e6),
        "{:?}",
        u.p95
    );
    // With them: slots 0-1 are left out (the unmarked window leaves nothing out); the 18
    // others are in 10, sum 16 Mbit/s, so both 95ths fall to those. Bytes still count.
    let u = usage(&s.config);
    assert_eq!(
        (u.slots, u.excluded_slots, u.p95.slots),
        (20, 2, 18),
        "{u:?}"
    );
    assert!(close(u.p95.in_bps.unwrap(), 10e6), "{:?}", u.p95);
    assert!(
        close(u.p95.billed(Billing::Sum95).unwrap(), 16e6),
        "{:?}",
        u.p95
    );
    assert_eq!(u.in_octets, 20 * five_min(10) + 2 * five_min(100));
}
