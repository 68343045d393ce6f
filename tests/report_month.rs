//! The monthly report on synthetic months written through the real store writer into a real
//! SQLite file, against answers computed by hand: a customer new in the middle of the month,
//! one churned on day 10, one growing, one steady with gaps (excluded, coverage reported),
//! one on two switches (both counted, once).

use crate::report_support;

use std::process::Command;
use std::sync::OnceLock;

use bandwatch::config::Billing;
use bandwatch::report::{Report, build};
use bandwatch::store::Store;
use bandwatch::usage::{Month, Status};
use jiff::Timestamp;
use report_support::*;

const OCT_HOURS: u64 = 31 * 24;
const SEP_HOURS: u64 = 30 * 24;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * b.abs().max(1.0)
}

/// The two synthetic months, written once for all tests of this file (writing them is the
/// slow part; the tests only read).
fn written() -> &'static Setup {
    static SHARED: OnceLock<Setup> = OnceLock::new();
    SHARED.get_or_init(|| {
        let s = Setup::new();
        write_steps(
            &s.db(),
            &s.config,
            day("2026-09-01"),
            day("2026-11-01"),
            months,
        );
        s
    })
}

fn october(s: &Setup) -> Report {
    let book = Store::open_existing(&s.db(), &Default::default())
        .unwrap()
        .usage();
    let now = Timestamp::from_second(day("2026-11-02")).unwrap();
    build(
        &book,
        &s.config,
        "2026-10".parse::<Month>().unwrap(),
        now,
        false,
        &[],
    )
    .unwrap()
}

fn row<'a>(r: &'a Report, id: &str) -> &'a bandwatch::usage::CustomerUsage {
    r.customers.iter().find(|c| c.id == id).unwrap()
}

#[test]
fn synthetic_months_give_the_hand_computed_figures() {
    let started = std::time::Instant::now();
    let s = written();
    let r = october(s);
    eprintln!("written and built in {:?}", started.elapsed());

    // New in the middle of the month: 16 days at 1 Mbit/s in, nothing in September.
    let fresh = row(&r, "fresh");
    assert_eq!(fresh.this.in_octets, 16 * 24 * hour_at(1));
    assert_eq!(fresh.last.total_bytes(), 0);
    assert_eq!(fresh.status, Status::New);
    assert_eq!(fresh.change, None);

    // Churned on day 10: 9 days of usage, then zeros (measured, so covered).
    let gone = row(&r, "gone");
    assert_eq!(gone.this.in_octets, 9 * 24 * hour_at(2));
    assert_eq!(gone.last.in_octets, SEP_HOURS * hour_at(2));
    assert!(close(gone.this.coverage, 1.0), "{}", gone.this.coverage);
    assert_eq!(gone.status, Status::Churned);

    // Growing: 10 -> 15 Mbit/s in (5 -> 7.5 out) over 30 -> 31 days: +55 %.
    let grow = row(&r, "grow");
    let sep = SEP_HOURS * (hour_at(10) + hour_at(5));
    let oct = OCT_HOURS * (hour_at(15) + hour_at(15) / 2);
    assert_eq!(grow.last.total_bytes(), sep);
    assert_eq!(grow.this.total_bytes(), oct);
    assert!(close(grow.change.unwrap(), oct as f64 / sep as f64 - 1.0));
    assert!(close(grow.change.unwrap(), 0.55));
    assert_eq!(grow.status, Status::Up);
    assert_eq!(grow.billing, Billing::Max95);
    assert!(
        close(grow.billed_bps.unwrap(), 15e6),
        "{:?}",
        grow.billed_bps
    );

    // Steady with gaps: 3 days unanswered are left out (never zero): 8064 of 8928 slots,
    // coverage 28/31; the estimate extends the measured rate over the month: +3.3 %, steady.
    let gappy = row(&r, "gappy");
    assert_eq!(gappy.this.slots, 28 * 288);
    assert_eq!(gappy.this.expected_slots, 8928);
    assert!(close(gappy.this.coverage, 28.0 / 31.0));
    assert_eq!(gappy.this.total_bytes(), 28 * 24 * hour_at(4));
    assert!(close(gappy.this_estimate, (OCT_HOURS * hour_at(4)) as f64));
    assert!(close(gappy.change.unwrap(), 31.0 / 30.0 - 1.0));
    assert_eq!(gappy.status, Status::Steady);
    // The gap days show as uncovered days, not as zero-usage days that were measured.
    assert_eq!(gappy.this.daily[5].coverage, 0.0);
    assert_eq!(gappy.this.daily[5].bytes, 0);
    assert!(close(gappy.this.daily[3].coverage, 1.0));
    assert!(close(gappy.this.daily[7].coverage, 1.0));
    assert_eq!(gappy.this.daily[7].bytes, 24 * hour_at(4));
    // 95th unchanged by the gaps: 4 Mbit/s.
    assert!(close(gappy.this.p95.in_bps.unwrap(), 4e6));
    assert_eq!(gappy.billing, Billing::Volume);
    assert_eq!(gappy.billed_bps, None);

    // Two switches: both ports counted, once.
    let two = row(&r, "two");
    assert_eq!(two.this.in_octets, 2 * OCT_HOURS * hour_at(3));
    assert_eq!(two.this.out_octets, 2 * OCT_HOURS * hour_at(3));
    assert!(close(two.this.coverage, 1.0));
    assert!(close(two.this.p95.max_bps.unwrap(), 6e6));
    assert!(
        close(two.billed_bps.unwrap(), 12e6),
        "95th-sum: {:?}",
        two.billed_bps
    );
    assert_eq!(two.status, Status::Steady);

    // Product line: grow's port and both of two's ports.
    let transit = r
        .product_lines
        .iter()
        .find(|p| p.name == "transit")
        .unwrap();
    assert_eq!(
        transit.this.in_octets,
        OCT_HOURS * (hour_at(15) + 2 * hour_at(3))
    );
    // Sites: b holds only two's second port.
    let b = r.sites.iter().find(|p| p.name == "b").unwrap();
    assert_eq!(b.this.in_octets, OCT_HOURS * hour_at(3));
    assert_eq!(b.last.in_octets, SEP_HOURS * hour_at(3));

    // Lists and groups.
    let ids = |v: Vec<&bandwatch::usage::CustomerUsage>| -> Vec<String> {
        v.into_iter().map(|c| c.id.clone()).collect()
    };
    assert_eq!(ids(r.with_status(Status::New)), ["fresh"]);
    assert_eq!(ids(r.with_status(Status::Churned)), ["gone"]);
    assert_eq!(ids(r.top_growers(5))[0], "grow");
    assert_eq!(ids(r.top_decliners(5))[0], "gone");
    let groups: Vec<(Option<String>, Vec<String>)> = r
        .by_account_manager()
        .into_iter()
        .map(|(am, v)| (am.map(str::to_string), ids(v)))
        .collect();
    assert_eq!(
        groups,
        [
            (
                Some("alice".to_string()),
                vec!["fresh".to_string(), "gone".to_string()]
            ),
            (
                Some("bob".to_string()),
                vec!["gappy".to_string(), "grow".to_string()]
            ),
            (None, vec!["two".to_string()]),
        ]
    );
}

fn bandwatch(s: &Setup, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bandwatch"))
        .arg("-c")
        .arg(&s.config_path)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_command_prints_every_format_and_one_account_managers_customers() {
    let s = written();

    let (ok, text, err) = bandwatch(s, &["report", "--month", "2026-10"]);
    assert!(ok, "{err}");
    assert!(text.contains("bandwatch usage report 2026-10 (compared with 2026-09)"));
    assert!(text.contains("== Account manager: alice =="), "{text}");
    // Coverage next to the figures: gappy's month is 28/31 measured, 8064 of 8928 slots.
    let gappy = text.lines().find(|l| l.starts_with("gappy ")).unwrap();
    assert!(
        gappy.contains("90.3 %") && gappy.contains("8064/8928"),
        "{gappy}"
    );
    assert!(
        gappy.contains("volume") && gappy.contains("steady"),
        "{gappy}"
    );
    let churned = text.split("== Churned customers ==").nth(1).unwrap();
    assert!(churned.trim_start().starts_with("gone"), "{text}");

    let (ok, csv, err) = bandwatch(s, &["report", "--month", "2026-10", "--format", "csv"]);
    assert!(ok, "{err}");
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let line = csv
        .lines()
        .find(|l| l.starts_with("customer,gappy,"))
        .unwrap();
    let f: Vec<&str> = line.split(',').collect();
    assert_eq!(f[col("status")], "steady");
    assert_eq!(f[col("billing")], "volume");
    assert_eq!(f[col("this_slots")], "8064");
    assert_eq!(f[col("this_coverage")], format!("{:.4}", 28.0 / 31.0));
    assert_eq!(f[col("this_bytes")], (28 * 24 * hour_at(4)).to_string());
    assert_eq!(csv.lines().filter(|l| l.starts_with("site,")).count(), 2);

    let (ok, json, err) = bandwatch(s, &["report", "--month", "2026-10", "--format", "json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let two = v["customers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "two")
        .unwrap();
    assert_eq!(two["billing"], "95th-sum");
    assert!(close(two["billed_bps"].as_f64().unwrap(), 12e6));

    let (ok, mine, err) = bandwatch(
        s,
        &[
            "report",
            "--month",
            "2026-10",
            "--format",
            "csv",
            "--account-manager",
            "bob",
        ],
    );
    assert!(ok, "{err}");
    let names: Vec<&str> = mine
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(names, ["gappy", "grow"]);

    let (ok, _, err) = bandwatch(
        s,
        &["report", "--month", "2026-10", "--account-manager", "carol"],
    );
    assert!(!ok);
    assert!(err.contains("`carol` is not a configured route"), "{err}");
    let (ok, _, err) = bandwatch(s, &["report", "--month", "2026-13"]);
    assert!(!ok);
    assert!(err.contains("not a month like `2026-10`"), "{err}");
}

#[test]
fn the_current_month_is_projected_linearly_to_its_end() {
    // The store holds all of October; the month so far ends at now, 16 October 00:00.
    let s = written();
    let book = Store::open_existing(&s.db(), &Default::default())
        .unwrap()
        .usage();
    let now = Timestamp::from_second(day("2026-10-16")).unwrap();
    let r = build(&book, &s.config, Month::of(now), now, true, &[]).unwrap();
    assert!(r.partial);
    assert_eq!(r.month.to_string(), "2026-10");
    let grow = row(&r, "grow");
    // 15 days measured, projected to 31.
    assert_eq!(
        grow.this.total_bytes(),
        15 * 24 * (hour_at(15) + hour_at(15) / 2)
    );
    assert!(close(
        grow.this_estimate,
        (OCT_HOURS * (hour_at(15) + hour_at(15) / 2)) as f64
    ));
    assert_eq!(grow.status, Status::Up);
    // fresh starts on the 16th: nothing yet.
    assert_eq!(row(&r, "fresh").status, Status::Idle);

    // The same through the command line.
    let (ok, text, err) = bandwatch(
        s,
        &[
            "report",
            "--month",
            "current",
            "--now",
            "2026-10-16T00:00:00Z",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        text.contains("month so far to 2026-10-16T00:00:00Z, projected"),
        "{text}"
    );
}

#[test]
fn a_customer_named_only_by_an_ifalias_is_reported_by_id_for_the_months_it_has_data() {
    let s = Setup::new();
    // What the daemon's store sees once the poller attributed `Cust: hooli` on sw-a p9 and
    // `Cust: idle` on sw-b p9: the configured topology plus those ports.
    let alias = |switch: &str, customer: &str| bandwatch::config::PortLabels {
        site: "".into(),
        switch: switch.into(),
        port: "p9".into(),
        product_line: None,
        customer: Some(customer.into()),
        role: Some("customer".into()),
    };
    let mut effective = s.config.clone();
    effective.topology = s
        .config
        .topology
        .with_attributed(&[alias("sw-a", "hooli"), alias("sw-b", "idle")]);
    write_steps(
        &s.db(),
        &effective,
        day("2026-09-01"),
        day("2026-11-01"),
        |switch, port, t| match (switch, port) {
            ("sw-a", "p9") if t >= day("2026-10-01") => Some((hour_at(10) * 24, 0)),
            ("sw-a", "p9") => Some((0, 0)),
            // Measured, but nothing on it in either month.
            ("sw-b", "p9") => Some((0, 0)),
            _ => Some((hour_at(1) * 24, hour_at(1) * 24)),
        },
    );
    // The report is built from the configuration file, which lists neither customer.
    assert!(!s.config.topology.customers.contains_key("hooli"));
    let r = october(&s);
    let hooli = row(&r, "hooli");
    assert_eq!(hooli.name, "hooli");
    assert_eq!(hooli.account_manager, None);
    assert_eq!(hooli.this.in_octets, hour_at(10) * 24 * 31);
    assert_eq!(hooli.status, Status::New);
    let ids: Vec<&str> = r.customers.iter().map(|c| c.id.as_str()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "customers are listed by id");
    // A customer with measured zeros is listed (it is measured); one without any series is not.
    assert!(ids.contains(&"idle"));
    assert!(!ids.contains(&"nobody"));
}
