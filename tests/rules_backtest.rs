//! `bandwatch backtest --input FILE.csv` run as a user would: a CSV with a spike, a data gap
//! and a quiet series, replayed through the real binary, in every output format.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

fn write_fixture(dir: &Path) -> std::path::PathBuf {
    let rules = dir.join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(
        rules.join("r.toml"),
        r#"
# Spikes above the last hour's median.
[[rule]]
name = "jump"
kind = "spike"
scope = "series"
metric = "value"
baseline = "recent"
history = "1h"
factor = 3.0
min_delta = 10
for = "10m"
clear_for = "15m"
notify = []
"#,
    )
    .unwrap();
    let mut csv = String::from("series,timestamp,value\n");
    let t0: i64 = 1_767_571_200; // 2026-01-05T00:00:00Z
    for i in 0..(24 * 12) {
        let t = jiff::Timestamp::from_second(t0 + i * 300).unwrap();
        // `web`: 100, with a 50-minute burst to 800 from 10:00.
        let v = if (120..130).contains(&i) {
            800.0
        } else {
            100.0
        };
        writeln!(csv, "web,{t},{v}").unwrap();
        // `db`: 100 with a 2-hour hole at 06:00 and a value of 900 right after it.
        if !(72..96).contains(&i) {
            let v = if i == 96 { 900.0 } else { 100.0 };
            writeln!(csv, "db,{t},{v}").unwrap();
        }
    }
    let input = dir.join("in.csv");
    std::fs::write(&input, csv).unwrap();
    input
}

fn backtest(dir: &Path, format: &str) -> (String, String, Option<i32>) {
    let out = Command::new(env!("CARGO_BIN_EXE_bandwatch"))
        .current_dir(dir)
        .args(["-c", "none.toml", "backtest", "--rules", "rules", "--input"])
        .arg(dir.join("in.csv"))
        .args(["--format", format])
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

#[test]
fn backtest_reports_onsets_and_a_summary_per_rule() {
    let dir = tempfile::tempdir().unwrap();
    write_fixture(dir.path());

    let (csv, stderr, code) = backtest(dir.path(), "csv");
    assert_eq!(code, Some(0), "{stderr}");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "series,timestamp,kind,rule,resolved_at,peak,baseline,during_gap"
    );
    // One onset: the burst on `web`, after `for` (10 minutes); the jump after db's gap is not a
    // spike. A recent baseline adapts to a long burst: from 10:30 the hour's median is the burst,
    // so it resolves 15 minutes (clear_for) later.
    assert_eq!(lines.len(), 2, "{csv}");
    assert_eq!(
        lines[1],
        "web,2026-01-05T10:10:00Z,spike,jump,2026-01-05T10:45:00Z,800,100,false"
    );
    assert!(
        stderr.contains("jump") && stderr.contains("2 series, 576 points"),
        "{stderr}"
    );

    let (table, _, code) = backtest(dir.path(), "table");
    assert_eq!(code, Some(0));
    assert!(table.contains("2026-01-05T10:10:00Z"));
    let summary = table.lines().find(|l| l.starts_with("jump")).unwrap();
    let cols: Vec<&str> = summary.split_whitespace().collect();
    // 1 alert, 35 minutes firing, none during a gap.
    assert_eq!(cols, ["jump", "1", "0.6", "0"]);

    let (json, _, code) = backtest(dir.path(), "json");
    assert_eq!(code, Some(0));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["alerts"][0]["series"], "web");
    assert_eq!(v["alerts"][0]["peak"], 800.0);
    assert_eq!(v["summary"][0]["alerts"], 1);
}

#[test]
fn an_alert_held_across_a_gap_is_counted_as_during_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    write_fixture(dir.path());
    // Make `db` burst before its hole: the alert is firing while data is missing.
    let text = std::fs::read_to_string(dir.path().join("in.csv")).unwrap();
    let mut out = String::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split(',').collect();
        if f[0] == "db" && ("2026-01-05T05:40:00Z".."2026-01-05T06:00:00Z").contains(&f[1]) {
            writeln!(out, "db,{},700", f[1]).unwrap();
        } else {
            writeln!(out, "{l}").unwrap();
        }
    }
    std::fs::write(dir.path().join("in.csv"), out).unwrap();
    let (csv, stderr, code) = backtest(dir.path(), "csv");
    assert_eq!(code, Some(0), "{stderr}");
    let db: Vec<&str> = csv.lines().filter(|l| l.starts_with("db,")).collect();
    assert_eq!(db.len(), 1, "{csv}");
    assert!(db[0].ends_with(",true"), "{}", db[0]);
}

#[test]
fn stored_history_and_bad_input_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    write_fixture(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_bandwatch"))
        .current_dir(dir.path())
        .args([
            "-c",
            "none.toml",
            "backtest",
            "--rules",
            "rules",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-02",
        ])
        .output()
        .unwrap();
    // Stored history needs the configuration (topology and data_dir): a missing one is named.
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("none.toml"), "{stderr}");

    std::fs::write(
        dir.path().join("in.csv"),
        "series,timestamp,value\nweb,yesterday,3\n",
    )
    .unwrap();
    let (_, stderr, code) = backtest(dir.path(), "csv");
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("line 2: invalid timestamp `yesterday`"),
        "{stderr}"
    );
}
