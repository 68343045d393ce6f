//! Transit allocation per 5-minute slot, on two days of hourly traffic written through the
//! real store writer into a real SQLite file: one 95th-billed uplink carries two product lines
//! with the same daily volume whose peaks are at different hours. The line busy at the
//! uplink's peak carries more (by volume alone they would split it evenly), and a polling gap
//! of one line during the peak is left out of the split rather than read as zero.

use crate::report_support;

use bandwatch::config::Config;
use bandwatch::cost::allocate;
use bandwatch::store::UsageBook;
use bandwatch::usage::Period;
use report_support::{Setup, day, hour_at, write_every};

const CONFIG: &str = r#"
[daemon]
data_dir = "var"
rules_dir = "rules"

[retention]
raw = "forever"
rollup_5m = "forever"

[snmp.default]
version = "2c"
community = "${BANDWATCH_TEST_COMMUNITY:-public}"

[[site]]
name = "s"

[[switch]]
name = "sw"
site = "s"
address = "127.0.0.1:16100"

[[product_line]]
name = "evening"
[[product_line]]
name = "night"

[[price_plan]]
name = "transit"
currency = "EUR"
billing = "95th-max"
overage_price = 1.0              # per Mbit/s at the 95th, nothing committed

[[port]]
switch = "sw"
name = "up"
role = "uplink"
transit = { price_plan = "transit" }

[[port]]
switch = "sw"
name = "a"
product_line = "evening"

[[port]]
switch = "sw"
name = "b"
product_line = "night"

[[customer]]
id = "ca"
ports = [{ switch = "sw", name = "a" }]
[[customer]]
id = "cb"
ports = [{ switch = "sw", name = "b" }]
"#;

/// `evening`: 100 Mbit/s 18:00-21:00, else 20; `night`: 68 Mbit/s 02:00-07:00, else 20 (both
/// 720 Mbit/s-hours a day); the uplink carries both. With `gap`, `night` is not measured
/// 19:00-20:00 on the second day.
fn traffic(gap: bool) -> impl Fn(&str, &str, i64) -> Option<(u64, u64)> {
    move |_sw, port, t| {
        let h = (t % 86_400) / 3600;
        let a = if (18..21).contains(&h) { 100 } else { 20 };
        let b = if (2..7).contains(&h) { 68 } else { 20 };
        let second_day_19h = t == day("2026-09-02") + 19 * 3600;
        match port {
            "a" => Some((hour_at(a), 0)),
            "b" if gap && second_day_19h => None,
            "b" => Some((hour_at(b), 0)),
            "up" => Some((hour_at(a + b), 0)),
            _ => Some((0, 0)),
        }
    }
}

fn setup(gap: bool) -> (tempfile::TempDir, Config, UsageBook) {
    let setup = Setup::with_config(CONFIG);
    let db = setup.db();
    let Setup { dir, config, .. } = setup;
    write_every(
        &db,
        &config,
        day("2026-09-01"),
        day("2026-09-03"),
        3600,
        traffic(gap),
    );
    let book = bandwatch::store::Store::open_existing(&db, &Default::default())
        .unwrap()
        .usage();
    (dir, config, book)
}

fn two_days() -> Period {
    Period {
        from: day("2026-09-01"),
        to: day("2026-09-03"),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * b.abs().max(1.0)
}

#[test]
fn the_line_busy_at_the_uplinks_peak_carries_more() {
    let (_d, config, book) = setup(false);
    let p = two_days();
    let a = allocate(&book, &config.topology, p, p.secs()).unwrap();
    let up = &a.uplinks[0];
    // 6 of 48 hours at 120 Mbit/s (12.5 % of the slots): the 95th is 120 Mbit/s.
    assert!(close(up.billed_bps.unwrap(), 120e6), "{:?}", up.billed_bps);
    assert!(close(up.cost, 120.0), "{}", up.cost);
    // The cost sits on the 72 slots at 120 Mbit/s, each split 100 : 20.
    assert_eq!(up.cost_slots, 72);
    let line = |n: &str| a.product_lines[n].cost;
    assert!(close(line("evening"), 100.0), "{}", line("evening"));
    assert!(close(line("night"), 20.0), "{}", line("night"));
    // The same for the customers on those ports; nothing is left unallocated.
    assert!(close(a.customers["ca"].cost, 100.0));
    assert!(close(a.customers["cb"].cost, 20.0));
    assert_eq!(up.unallocated_customers, 0.0);
    assert_eq!(up.unallocated_product_lines, 0.0);
    assert_eq!(up.gap_slots, 0);
}

#[test]
fn a_gap_during_the_peak_is_left_out_not_read_as_zero() {
    let (_d, config, book) = setup(true);
    let p = two_days();
    let a = allocate(&book, &config.topology, p, p.secs()).unwrap();
    let up = &a.uplinks[0];
    assert!(close(up.cost, 120.0), "{}", up.cost);
    // The hour without `night` (12 peak slots) cannot be split; the other 60 peak slots carry
    // the cost, split 100 : 20 as before. Read as zero, `evening` would carry 103.33.
    assert_eq!(up.gap_slots, 12);
    assert!(
        close(a.product_lines["evening"].cost, 100.0),
        "{}",
        a.product_lines["evening"].cost
    );
    assert!(close(a.product_lines["night"].cost, 20.0));
    assert!(close(a.customers["ca"].cost, 100.0));
}
