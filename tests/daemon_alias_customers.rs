//! Customers found only by an ifAlias convention (`Cust: NAME`, no `[[customer]]` entry) are
//! customers like the configured ones: `bandwatch run` polls a simulated switch over real UDP
//! SNMP, learns the attribution at discovery, the store keeps the customer's own usage
//! series, read back with `bandwatch query` from the SQLite file, and `/metrics` exports it.

use std::process::{Command, Stdio};

use crate::daemon_support;

use daemon_support::*;

/// Rows of `bandwatch query ... --format csv` with a value.
fn known_rows(cfg: &std::path::Path, entity: &str) -> (usize, String) {
    let out = Command::new(BIN)
        .arg("-c")
        .arg(cfg)
        .args([
            "query", "--entity", entity, "--metric", "in_bytes", "--from", "now-10m", "--step",
            "60s", "--to",
        ])
        // The current minute is the one being written: ask past its end.
        .arg((jiff::Timestamp::now() + jiff::SignedDuration::from_secs(120)).to_string())
        .args(["--format", "csv"])
        .output()
        .unwrap();
    let csv = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let known = csv
        .lines()
        .skip(1)
        .filter(|l| {
            l.split(',')
                .nth(1)
                .is_some_and(|v| v.trim().parse::<f64>().is_ok_and(|v| v > 0.0))
        })
        .count();
    (known, csv)
}

#[test]
fn a_customer_named_only_by_an_alias_gets_its_own_usage_series() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bw.toml");
    let Simulated {
        sim: _sim,
        http,
        text,
    } = simulate(&cfg, 1, 8, &[], "");
    // Ports 4 and 8 carry `Cust: c0-4` and `Cust: c0-8`; neither is a [[customer]].
    assert!(!text.contains("[[customer]]") && !text.contains("c0-4"));
    std::fs::write(&cfg, &text).unwrap();

    let log = dir.path().join("run.log");
    let _daemon = Kill(
        Command::new(BIN)
            .arg("-c")
            .arg(&cfg)
            .arg("run")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_for("the attributed ports joining their aggregates", 60, || {
        std::fs::read_to_string(&log)
            .is_ok_and(|l| l.contains("ports attributed by ifAlias patterns joined"))
    });
    // The customer's series fills from the sweeps after that: a complete minute of it.
    let mut last = (0, String::new());
    let mut have = false;
    for _ in 0..60 {
        last = known_rows(&cfg, "customer:c0-4");
        if last.0 > 0 {
            have = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
    assert!(
        have,
        "usage of the alias-only customer c0-4 expected:\n{}\nlog:\n{}",
        last.1,
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    // Grafana sees the customer too.
    wait_for("the alias-only customer on /metrics", 30, || {
        http_get(http, "/metrics").is_some_and(|(c, b)| {
            c == 200
                && b.lines()
                    .any(|l| l.starts_with("bandwatch_customer_bytes_per_second{customer=\"c0-4\""))
        })
    });
    // Each customer is its own series: c0-8 has its own, and a name nobody uses has none.
    assert!(known_rows(&cfg, "customer:c0-8").0 > 0);
    assert_eq!(known_rows(&cfg, "customer:c0-5").0, 0);
}
