//! Customers known only by address prefixes, measured by flows, are customers like port
//! customers in the monthly report (their bytes, their change and status against the month
//! before, and their money) and in the churn rule (`bandwatch backtest` over the stored
//! flow history).

use std::sync::Arc;

use bandwatch::config;
use bandwatch::report;
use bandwatch::store::{FlowSlot, Store};
use bandwatch::usage::{Month, Status};

const CONFIG: &str = r#"
[daemon]
data_dir = "var"
rules_dir = "rules"

[retention]
raw = "forever"
rollup_5m = "forever"
rollup_1h = "forever"
rollup_1d = "forever"

[[route]]
name = "sales"
email = ["sales@example.net"]

[[customer]]
id = "tenant-a"
name = "Tenant A"
account_manager = "sales"
prefixes = ["203.0.113.0/25"]
monthly_revenue = 500.0
currency = "EUR"

[[customer]]
id = "tenant-b"
name = "Tenant B"
prefixes = ["203.0.113.128/25", "2001:db8:b::/48"]

[flow]
listen = ["127.0.0.1:0"]
"#;

/// The default churn rule (alert-rules/business.toml).
const CHURN: &str = r#"
[[rule]]
name = "customer-churn-risk"
kind = "drop"
scope = "customer"
metric = "usage_bytes"
window = "1d"
recent = "7d"
reference = "28d"
max_drop = 0.4
min_coverage = 0.9
severity = "warning"
notify = ["account_manager", "sales"]
"#;

fn day(s: &str) -> i64 {
    s.parse::<jiff::civil::Date>()
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp()
        .as_second()
}

#[test]
fn a_prefix_customer_has_a_report_row_a_status_and_money() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bandwatch.toml");
    std::fs::write(&path, CONFIG).unwrap();
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/business.toml"), CHURN).unwrap();
    let config = config::load(&path).unwrap().config;
    let store = Store::open_in(&config.daemon.data_dir, &config.retention).unwrap();
    let writer = store.writer(Arc::new(config.topology.clone())).unwrap();
    let (oct, nov, dec) = (day("2026-10-01"), day("2026-11-01"), day("2026-12-01"));
    // Every minute of October and November: tenant-a halves its traffic in November,
    // tenant-b stays the same.
    let mut slots = Vec::new();
    let mut sums = [(0u64, 0u64); 2];
    for t in (oct..dec).step_by(60) {
        for (i, c) in ["tenant-a", "tenant-b"].into_iter().enumerate() {
            let (i_o, o_o) = if i == 0 && t >= nov {
                (3_000, 50_000)
            } else {
                (6_000, 100_000)
            };
            if t >= nov {
                sums[i].0 += i_o;
                sums[i].1 += o_o;
            }
            slots.push(FlowSlot {
                kind: bandwatch::store::EntityKind::Customer,
                name: c.into(),
                slot_start: t,
                in_octets: i_o,
                out_octets: o_o,
                in_packets: 10,
                out_packets: 100,
                covered_ms: 60_000,
                shard: None,
            });
        }
    }
    writer.submit_flows(slots).unwrap();
    writer.flush().unwrap();
    drop(writer);

    let month: Month = "2026-11".parse().unwrap();
    let now = jiff::Timestamp::from_second(day("2026-12-03")).unwrap();
    let r = report::build(&store.usage(), &config, month, now, false, &[]).unwrap();
    let row = |id: &str| {
        r.customers
            .iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("no report row for {id}: {:?}", r.customers))
    };
    let a = row("tenant-a");
    assert_eq!((a.this.in_octets, a.this.out_octets), sums[0]);
    assert!((a.this.coverage - 1.0).abs() < 1e-9, "{}", a.this.coverage);
    assert_eq!(a.status, Status::Down, "halved traffic: {:?}", a.change);
    assert_eq!(a.account_manager.as_deref(), Some("sales"));
    let b = row("tenant-b");
    assert_eq!((b.this.in_octets, b.this.out_octets), sums[1]);
    assert_eq!(b.status, Status::Steady);
    assert!(
        b.billed_bps.is_some_and(|bps| bps > 0.0),
        "a 95th is billed"
    );
    let accounts = r.accounts.expect("money is configured");
    assert!(
        accounts.customers.iter().any(|m| m.id == "tenant-a"),
        "tenant-a is priced: {:?}",
        accounts.customers
    );

    // The churn rule over the stored history: tenant-a (halved) warns, tenant-b does not.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bandwatch"))
        .arg("-c")
        .arg(&path)
        .args(["backtest", "--from", "2026-11-01", "--to", "2026-12-01"])
        .args(["--format", "csv"])
        .output()
        .unwrap();
    let csv = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}{csv}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert!(
        rows.iter()
            .any(|r| r[0] == "customer:tenant-a" && r[3] == "customer-churn-risk"),
        "{csv}"
    );
    assert!(rows.iter().all(|r| r[0] != "customer:tenant-b"), "{csv}");
}

/// Flow writes are timed like sweeps on `/metrics`: the time a flow write held SQLite's
/// write lock counts as write time, and the time it waited for a lock another connection
/// held (an import's merge, a `sqlite3` shell) as lock wait, not as write time.
#[test]
fn a_flow_write_tells_its_wait_for_the_lock_from_its_write_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bandwatch.toml");
    std::fs::write(&path, CONFIG).unwrap();
    let config = config::load(&path).unwrap().config;
    let store = Store::open_in(&config.daemon.data_dir, &config.retention).unwrap();
    let writer = store.writer(Arc::new(config.topology.clone())).unwrap();
    let metrics = writer.metrics();
    let slot = |t: i64| FlowSlot {
        kind: bandwatch::store::EntityKind::Customer,
        name: "tenant-a".into(),
        slot_start: t,
        in_octets: 6_000,
        out_octets: 100_000,
        in_packets: 10,
        out_packets: 100,
        covered_ms: 60_000,
        shard: None,
    };
    let start = day("2026-11-01");
    writer.submit_flows(vec![slot(start)]).unwrap();
    writer.flush().unwrap();
    let (tx0, held0, wait0) = (
        metrics.transactions_total.get(),
        metrics.write_seconds_total(),
        metrics.lock_wait_seconds_total(),
    );
    assert_eq!(tx0, 1);
    assert!(held0 > 0.0, "a flow write adds its time: {held0}");
    assert!(wait0 < 0.5, "nothing held the lock: {wait0}");

    // Another connection holds the write lock for 1.5 s while flow slots arrive.
    let other = rusqlite::Connection::open(config.daemon.data_dir.join("bandwatch.db")).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let (go, ready) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        go.send(()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1500));
        other.execute_batch("COMMIT").unwrap();
        std::time::Instant::now()
    });
    ready.recv().unwrap();
    let submitted = std::time::Instant::now();
    writer.submit_flows(vec![slot(start + 60)]).unwrap();
    writer.flush().unwrap();
    let committed = holder.join().unwrap();
    let waited = metrics.lock_wait_seconds_total() - wait0;
    let held = metrics.write_seconds_total() - held0;
    assert_eq!(metrics.transactions_total.get(), 2);
    // The wait is at most what was left of the other's hold once the slot was submitted (plus
    // SQLite's busy-retry step), and on a machine however busy far more than nothing: bounds
    // from the clocks of this run, not from a scheduling delay assumed small.
    let left = committed.saturating_duration_since(submitted).as_secs_f64();
    assert!(
        waited >= 0.5 && waited <= left + 0.5,
        "lock wait {waited} s, the other held it {left} s more"
    );
    assert!(held > 0.0 && held < 1.0, "write time {held} s");
}
