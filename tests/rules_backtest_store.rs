//! `bandwatch backtest --from --to` as a user runs it: a real config file, a SQLite store
//! written through the store's writer with known history (a spike on one port, a quiet port,
//! a switch that stops answering for a while), and the binary's onset rows and summary.

use crate::store_support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use bandwatch::store::Store;
use store_support::*;

const CONFIG: &str = r#"
[daemon]
data_dir = "data"
rules_dir = "rules"

[retention]
raw = "forever"
rollup_5m = "forever"
rollup_1h = "forever"
rollup_1d = "forever"

[snmp.default]
version = "2c"
community = "${BW_TEST_COMMUNITY:-public}"

[[site]]
name = "a"

[[switch]]
name = "core-1"
site = "a"
address = "127.0.0.1:1161"

[[switch]]
name = "edge-1"
site = "a"
address = "127.0.0.1:1162"

[[product_line]]
name = "cdn"

[[port]]
switch = "core-1"
name = "Ethernet1/1"
product_line = "cdn"
role = "uplink"

[[port]]
switch = "core-1"
name = "Ethernet1/2"
role = "uplink"

[[port]]
switch = "edge-1"
name = "Ethernet1/1"
role = "uplink"
"#;

const RULES: &str = r#"
# Inbound traffic far above the last hour's median, for two minutes.
[[rule]]
name = "uplink-spike"
kind = "spike"
scope = "port"
match = { role = "uplink" }
metric = "in_bps"
baseline = "recent"
history = "1h"
factor = 3.0
min_delta = "100Mbps"
for = "2m"
clear_for = "5m"
notify = []

# The product line's total, from the store's 60 s aggregate slots.
[[rule]]
name = "cdn-spike"
kind = "spike"
scope = "product_line"
metric = "in_bps"
baseline = "recent"
history = "1h"
factor = 3.0
min_delta = "100Mbps"
for = "2m"
clear_for = "5m"
notify = []

[[rule]]
name = "switch-unreachable"
kind = "absent"
scope = "switch"
for = "3m"
clear_for = "2m"
notify = []
"#;

/// Octets in 60 s at `mbps`.
fn octets(mbps: u64) -> u64 {
    mbps * 1_000_000 / 8 * 60
}

/// Writes 3 hours of history at 60 s: core-1 Ethernet1/1 at 100 Mbit/s with a 10-minute
/// burst to 1 Gbit/s at 2h; core-1 Ethernet1/2 quiet at 200 Mbit/s; edge-1 at 300 Mbit/s with
/// a burst to 950 Mbit/s from 1h25, and not answering from 1h30 to 1h45.
fn write_history(dir: &Path) -> (std::path::PathBuf, i64) {
    let config = dir.join("bandwatch.toml");
    std::fs::write(&config, CONFIG).unwrap();
    std::fs::create_dir(dir.join("rules")).unwrap();
    std::fs::write(dir.join("rules/r.toml"), RULES).unwrap();
    let cfg = bandwatch::config::load(&config).unwrap().config;
    std::fs::create_dir_all(&cfg.daemon.data_dir).unwrap();
    let store = Store::open(
        &bandwatch::store::db_path(&cfg.daemon.data_dir),
        &cfg.retention,
    )
    .unwrap();
    let w = store.writer(Arc::new(cfg.topology.clone())).unwrap();
    let b = base();
    for m in 1..=180 {
        let burst = (120..130).contains(&m);
        w.submit(sweep(
            "core-1",
            at(b + 60 * m),
            vec![
                (
                    "Ethernet1/1",
                    reading(60_000, octets(if burst { 1000 } else { 100 }), 0),
                ),
                ("Ethernet1/2", reading(60_000, octets(200), 0)),
            ],
        ))
        .unwrap();
        let edge = if (90..105).contains(&m) {
            timeout_sweep("edge-1", at(b + 60 * m + 20), &["Ethernet1/1"])
        } else {
            sweep(
                "edge-1",
                at(b + 60 * m + 20),
                vec![(
                    "Ethernet1/1",
                    reading(60_000, octets(if m >= 85 { 950 } else { 300 }), 0),
                )],
            )
        };
        w.submit(edge).unwrap();
    }
    w.shutdown();
    (config, b)
}

fn backtest(config: &Path, args: &[&str]) -> (String, String, Option<i32>) {
    let out = Command::new(env!("CARGO_BIN_EXE_bandwatch"))
        .arg("-c")
        .arg(config)
        .arg("backtest")
        .args(args)
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

#[test]
fn stored_history_replays_through_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let (config, b) = write_history(dir.path());
    let from = at(b).to_string();
    let to = at(b + 3 * 3600 + 120).to_string();

    let (csv, stderr, code) = backtest(&config, &["--from", &from, "--to", &to, "--format", "csv"]);
    assert_eq!(code, Some(0), "{stderr}");
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let find = |series: &str, rule: &str| -> Vec<&Vec<&str>> {
        rows.iter()
            .filter(|r| r[0] == series && r[3] == rule)
            .collect()
    };
    // The burst fires once, on its port, after `for` (2 minutes: the third burst sample).
    let spike = find("port:core-1/Ethernet1/1", "uplink-spike");
    assert_eq!(spike.len(), 1, "{csv}");
    assert_eq!(spike[0][1], at(b + 60 * 122).to_string(), "{csv}");
    assert_eq!(spike[0][2], "spike");
    assert_eq!(spike[0][5], "1000000000", "peak: {csv}");
    assert_eq!(spike[0][6], "100000000", "baseline: {csv}");
    assert_eq!(spike[0][7], "false");
    // And on the product line, from the aggregate slots.
    let line = find("product_line:cdn", "cdn-spike");
    assert_eq!(line.len(), 1, "{csv}");
    let fired = line[0][1].parse::<jiff::Timestamp>().unwrap();
    assert!(
        fired >= at(b + 60 * 121) && fired <= at(b + 60 * 125),
        "{csv}"
    );
    // The switch that stopped answering: absent for 3 minutes, resolved when it answered.
    let gone = find("switch:edge-1", "switch-unreachable");
    assert_eq!(gone.len(), 1, "{csv}");
    let fired = gone[0][1].parse::<jiff::Timestamp>().unwrap();
    assert!(
        fired >= at(b + 60 * 92 + 20) && fired <= at(b + 60 * 94 + 20),
        "{csv}"
    );
    assert_eq!(gone[0][4], at(b + 60 * 107 + 20).to_string(), "{csv}");
    // edge-1's burst fired before the switch went quiet; the data gap during the alert is
    // reported, and the gap neither resolved it nor fired it a second time.
    let burst = find("port:edge-1/Ethernet1/1", "uplink-spike");
    assert_eq!(burst.len(), 1, "{csv}");
    assert_eq!(burst[0][1], at(b + 60 * 87 + 20).to_string(), "{csv}");
    assert_eq!(burst[0][7], "true", "during_gap: {csv}");
    // Quiet data fires nothing: not the quiet port, not core-1 itself.
    assert!(
        rows.iter()
            .all(|r| r[0] != "port:core-1/Ethernet1/2" && r[0] != "switch:core-1"),
        "{csv}"
    );
    assert_eq!(rows.len(), 4, "{csv}");
    assert!(
        stderr.contains("switch-unreachable"),
        "summary on stderr: {stderr}"
    );

    // The table shows the same onsets, the gap marked, and the summary.
    let (table, stderr, code) = backtest(&config, &["--from", &from, "--to", &to]);
    assert_eq!(code, Some(0), "{stderr}");
    let gap_line = table
        .lines()
        .find(|l| l.starts_with("port:edge-1/Ethernet1/1"))
        .unwrap();
    assert!(gap_line.ends_with("(data gap)"), "{table}");
    let summary = table
        .lines()
        .find(|l| l.starts_with("uplink-spike"))
        .unwrap();
    let cols: Vec<&str> = summary.split_whitespace().collect();
    assert_eq!(cols[1], "2", "alerts: {table}");
    assert_eq!(cols[3], "1", "during gaps: {table}");

    // JSON carries the same rows.
    let (json, stderr, code) =
        backtest(&config, &["--from", &from, "--to", &to, "--format", "json"]);
    assert_eq!(code, Some(0), "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["alerts"].as_array().unwrap().len(), 4);
}

#[test]
fn a_quiet_range_fires_nothing_and_bad_ranges_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (config, b) = write_history(dir.path());
    // The first 80 minutes: nothing happened.
    let (csv, stderr, code) = backtest(
        &config,
        &[
            "--from",
            &at(b).to_string(),
            "--to",
            &at(b + 80 * 60).to_string(),
            "--format",
            "csv",
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(csv.lines().count(), 1, "only the header: {csv}");
    assert!(stderr.contains("uplink-spike"), "{stderr}");

    let (_, stderr, code) = backtest(
        &config,
        &[
            "--from",
            &at(b + 60).to_string(),
            "--to",
            &at(b).to_string(),
        ],
    );
    assert_eq!(code, Some(1));
    assert!(stderr.contains("not before"), "{stderr}");
    let (_, stderr, code) = backtest(&config, &["--from", "yesterday-ish", "--to", "now"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("--from"), "{stderr}");
    // Neither stored history nor a CSV: nothing to replay.
    let (_, stderr, code) = backtest(&config, &[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--from"), "{stderr}");
}
