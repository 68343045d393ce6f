//! `bandwatch query` as a user runs it: a real config file, a database written by the store,
//! and the binary's output in table, CSV and JSON, with gaps shown empty, never 0.

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

[[product_line]]
name = "cdn"

[[port]]
switch = "core-1"
name = "Ethernet1/1"
product_line = "cdn"

[[port]]
switch = "core-1"
name = "Ethernet1/2"
product_line = "cdn"
"#;

fn query(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bandwatch"))
        .arg("query")
        .arg("-c")
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn query_prints_series_with_gaps_empty_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bandwatch.toml");
    std::fs::write(&config, CONFIG).unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    let (ok, _, err) = query(&config, &["--entity", "product_line:cdn"]);
    assert!(!ok);
    assert!(err.contains("bandwatch.db"), "{err}");

    let loaded = bandwatch::config::load(&config).unwrap();
    let cfg = loaded.config;
    std::fs::create_dir_all(&cfg.daemon.data_dir).unwrap();
    let store = Store::open(
        &bandwatch::store::db_path(&cfg.daemon.data_dir),
        &cfg.retention,
    )
    .unwrap();
    let w = store.writer(Arc::new(cfg.topology.clone())).unwrap();
    let b = base();
    for m in 1..=4 {
        let s = if m == 3 {
            timeout_sweep("core-1", at(b + 60 * m), &["Ethernet1/1", "Ethernet1/2"])
        } else {
            sweep(
                "core-1",
                at(b + 60 * m),
                vec![
                    ("Ethernet1/1", reading(60_000, 7_500_000, 0)),
                    ("Ethernet1/2", reading(60_000, 7_500_000, 0)),
                ],
            )
        };
        w.submit(s).unwrap();
    }
    w.shutdown();
    let from = at(b).to_string();
    let to = at(b + 240).to_string();
    let common = ["--from", from.as_str(), "--to", to.as_str(), "--step", "1m"];

    let (ok, out, err) = query(
        &config,
        &[
            &["--entity", "product_line:cdn", "--format", "csv"],
            &common[..],
        ]
        .concat(),
    );
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "time,in_bps,coverage");
    assert_eq!(lines.len(), 5);
    assert!(lines[1].ends_with(",2000000,1.0000"), "{}", lines[1]);
    // The minute the switch timed out is empty, not 0.
    assert_eq!(lines[3], format!("{},,0.0000", at(b + 120)));

    // A port name with slashes: split at the first slash only.
    let (ok, out, err) = query(
        &config,
        &[
            &[
                "--entity",
                "port:core-1/Ethernet1/2",
                "--metric",
                "in_bytes",
                "--format",
                "json",
            ],
            &common[..],
        ]
        .concat(),
    );
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["entity"], "port:core-1/Ethernet1/2");
    assert_eq!(v["tier"], "raw");
    let pts = v["points"].as_array().unwrap();
    assert_eq!(pts.len(), 4);
    assert_eq!(pts[0]["value"], 7_500_000.0);
    assert!(pts[2]["value"].is_null());

    let (ok, out, err) = query(
        &config,
        &[
            &["--entity", "switch:core-1", "--format", "table"],
            &common[..],
        ]
        .concat(),
    );
    assert!(ok, "{err}");
    assert!(out.contains("2 Mbit/s"), "{out}");
    let gap_line = out
        .lines()
        .find(|l| l.starts_with(&at(b + 120).to_string()))
        .unwrap();
    assert!(
        !gap_line.contains("bit/s") && !gap_line.contains(" 0 "),
        "{gap_line}"
    );

    let (ok, _, err) = query(&config, &["--entity", "product_line:nope"]);
    assert!(!ok);
    assert!(
        err.contains("product_line:nope") && err.contains("product_line:cdn"),
        "{err}"
    );
    let (ok, _, err) = query(&config, &["--entity", "port:core-1", "--metric", "in_bps"]);
    assert!(!ok);
    assert!(err.contains("SWITCH/PORT"), "{err}");
}
