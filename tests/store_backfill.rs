//! `bandwatch backfill` as a benchmark or a trial runs it: a configuration whose ports the
//! simulator does not name (the rig's `swp1..swpN`), a new SQLite store filled with days of
//! modelled traffic, read back with `bandwatch query`; a store that exists is refused without
//! `--force`, and a PostgreSQL store is refused.

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_bandwatch");

fn config(store: &str) -> String {
    let mut c = format!(
        "[daemon]\ndata_dir = \"data\"\nrules_dir = \"rules\"\n\n{store}\
         [snmp.default]\nversion = \"2c\"\ncommunity = \"${{BW_TEST_COMMUNITY:-public}}\"\n\n\
         [[site]]\nname = \"a\"\n\n[[product_line]]\nname = \"cdn\"\n\n"
    );
    for (n, sw) in ["core-1", "core-2"].iter().enumerate() {
        c += &format!(
            "[[switch]]\nname = \"{sw}\"\nsite = \"a\"\naddress = \"127.0.0.1:{}\"\n\n",
            1161 + n
        );
        for p in 1..=3 {
            c += &format!(
                "[[port]]\nswitch = \"{sw}\"\nname = \"swp{p}\"\nproduct_line = \"cdn\"\n\n"
            );
        }
    }
    c
}

fn bandwatch(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
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

/// Hourly `in_bps` of `entity` over the last `days`, from `bandwatch query --format csv`:
/// `None` where the store has no value.
fn hourly(config: &Path, entity: &str, days: u32) -> Vec<Option<f64>> {
    let from = format!("now-{days}d");
    let (ok, out, err) = bandwatch(
        config,
        &[
            "query", "--entity", entity, "--metric", "in_bps", "--from", &from, "--to", "now",
            "--step", "1h", "--format", "csv",
        ],
    );
    assert!(ok, "{err}");
    out.lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).and_then(|v| v.parse().ok()))
        .collect()
}

#[test]
fn backfill_fills_every_configured_port_with_days_of_rhythmic_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bandwatch.toml");
    std::fs::write(&cfg, config("")).unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();

    let (ok, out, err) = bandwatch(&cfg, &["backfill", "--days", "3", "--step", "5m"]);
    assert!(ok, "{err}");
    // 3 days of 5-minute sweeps and the first one, for each of the 2 switches, 3 ports each.
    let sweeps = (3 * 288 + 1) * 2;
    assert!(
        out.contains(&format!(
            "backfilled {sweeps} sweeps ({} port readings",
            sweeps * 3
        )),
        "{out}"
    );

    for entity in [
        "port:core-1/swp1",
        "port:core-1/swp3",
        "port:core-2/swp2",
        "product_line:cdn",
    ] {
        let h = hourly(&cfg, entity, 3);
        assert!(h.len() >= 70, "{entity}: {} hourly points", h.len());
        // Every hour but the one still open has traffic: no gap, no zero.
        let known: Vec<f64> = h.iter().flatten().copied().collect();
        assert!(known.len() >= h.len() - 2, "{entity}: gaps in {h:?}");
        assert!(known.iter().all(|v| *v > 0.0), "{entity}: {known:?}");
        // The daily rhythm: the busiest hour well above the quietest.
        let max = known.iter().copied().fold(f64::MIN, f64::max);
        let min = known.iter().copied().fold(f64::MAX, f64::min);
        assert!(max > 1.3 * min, "{entity}: flat traffic {min} .. {max}");
    }
    // The product line is its six ports: more than any one of them.
    let line: f64 = hourly(&cfg, "product_line:cdn", 1).iter().flatten().sum();
    let port: f64 = hourly(&cfg, "port:core-1/swp1", 1).iter().flatten().sum();
    assert!(line > 3.0 * port, "line {line} vs one port {port}");

    // A store that exists is refused, naming it, unless --force.
    let (ok, _, err) = bandwatch(&cfg, &["backfill", "--days", "1"]);
    assert!(!ok);
    assert!(
        err.contains("bandwatch.db") && err.contains("--force"),
        "{err}"
    );
    let (ok, out, err) = bandwatch(&cfg, &["backfill", "--days", "1", "--force"]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("backfilled {} sweeps", (288 + 1) * 2)),
        "{out}"
    );
    // A history that ends at a given time, the same on every run (a benchmark's).
    let (ok, out, err) = bandwatch(
        &cfg,
        &[
            "backfill",
            "--days",
            "1",
            "--end",
            "2026-11-01T00:00:00Z",
            "--force",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("2026-10-31 00:00 .. 2026-11-01 00:00"),
        "{out}"
    );
    let (ok, _, err) = bandwatch(
        &cfg,
        &[
            "backfill",
            "--days",
            "1",
            "--end",
            "2999-01-01T00:00:00Z",
            "--force",
        ],
    );
    assert!(!ok);
    assert!(
        err.contains("--end") && err.contains("in the future"),
        "{err}"
    );
}

#[test]
fn backfill_refuses_postgres_and_a_bad_step_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    let cfg = dir.path().join("bandwatch.toml");
    std::fs::write(
        &cfg,
        config("[store]\nbackend = \"postgres\"\nurl = \"${BW_TEST_PG_URL:-postgresql://bw@127.0.0.1:1/bw}\"\n\n"),
    )
    .unwrap();
    let (ok, _, err) = bandwatch(&cfg, &["backfill", "--days", "1"]);
    assert!(!ok);
    assert!(
        err.contains("PostgreSQL") && err.contains("SQLite store only"),
        "{err}"
    );
    assert!(!dir.path().join("data").exists());

    std::fs::write(&cfg, config("")).unwrap();
    let (ok, _, err) = bandwatch(&cfg, &["backfill", "--step", "0s"]);
    assert!(!ok);
    assert!(
        err.contains("--step") && err.contains("at least 1s"),
        "{err}"
    );
    assert!(!dir.path().join("data").exists());
}

/// A trial of the shipped rules on a scenario: two switches of three uplinks polled every 5
/// minutes, one product line per switch, but for a third line of one port alone.
fn trial_config() -> String {
    let mut c = String::from(
        "[daemon]\ndata_dir = \"data\"\nrules_dir = \"rules\"\ninterval = \"5m\"\n\n\
         [snmp.default]\nversion = \"2c\"\ncommunity = \"${BW_TEST_COMMUNITY:-public}\"\n\n\
         [[site]]\nname = \"a\"\n\n[[product_line]]\nname = \"cdn\"\n\n\
         [[product_line]]\nname = \"web\"\n\n[[product_line]]\nname = \"video\"\n\n\
         [[route]]\nname = \"ops\"\nemail = [\"noc@example.net\"]\n\n",
    );
    for (n, (sw, line)) in [("core-1", "cdn"), ("core-2", "web")].iter().enumerate() {
        c += &format!(
            "[[switch]]\nname = \"{sw}\"\nsite = \"a\"\naddress = \"127.0.0.1:{}\"\n\n",
            1161 + n
        );
        for p in 1..=3 {
            let line = if *sw == "core-2" && p == 2 {
                "video"
            } else {
                line
            };
            c += &format!(
                "[[port]]\nswitch = \"{sw}\"\nname = \"swp{p}\"\nrole = \"uplink\"\nproduct_line = \"{line}\"\n\n"
            );
        }
    }
    c
}

/// An attack on one uplink, an outage of the video line, and two events the history cannot
/// hold (an agent's reboot; a spike after its end).
const SCENARIO: &str = r#"
[traffic]
speed = "10Gbps"
base = "1Gbps"
daily = 0.3
weekly = 0.1

[[event]]
at = "15d 3h"
kind = "spike"
factor = 5.0
duration = "30m"
switches = ["core-1"]
ports = ["swp1"]

[[event]]
at = "15d 14h"
kind = "drop"
percent = 10.0
duration = "2h"
switches = ["core-2"]
ports = ["swp2"]

[[event]]
at = "2d"
kind = "reboot"
switches = ["core-2"]

[[event]]
at = "40d"
kind = "spike"
factor = 5.0
duration = "30m"
"#;

#[test]
fn backfill_plays_a_scenarios_events_and_the_shipped_rules_find_them() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bandwatch.toml");
    std::fs::write(&cfg, trial_config()).unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("alert-rules/traffic.toml");
    std::fs::copy(shipped, rules.join("traffic.toml")).unwrap();
    let scenario = dir.path().join("attack.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();

    let scenario_arg = scenario.to_str().unwrap();
    let before = jiff::Timestamp::now().as_second();
    let (ok, out, err) = bandwatch(
        &cfg,
        &[
            "backfill",
            "--days",
            "16",
            "--step",
            "5m",
            "--scenario",
            scenario_arg,
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("backfilled"), "{out}");
    // What the history cannot hold is said, naming the file and the event.
    assert!(
        err.contains("attack.toml: event[2] (reboot) is not in the history")
            && err.contains("event[3] (spike) is not in the history: it starts after"),
        "{err}"
    );
    assert!(
        !err.contains("event[0]") && !err.contains("event[1]"),
        "{err}"
    );

    // The first sweep is 16 days before the backfill's "now", a moment after `before`.
    let start = before - 16 * 86_400;
    let attack = start + (15 * 24 + 3) * 3600;
    let outage = start + (15 * 24 + 14) * 3600;

    let from = jiff::Timestamp::from_second(start + 14 * 86_400)
        .unwrap()
        .to_string();
    let (ok, csv, err) = bandwatch(
        &cfg,
        &[
            "backtest", "--from", &from, "--to", "now", "--format", "csv",
        ],
    );
    assert!(ok, "{err}");
    let alerts: Vec<(String, i64, String)> = csv
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let t = f.get(1)?.parse::<jiff::Timestamp>().ok()?.as_second();
            Some((f[0].to_string(), t, f.get(3)?.to_string()))
        })
        .collect();
    let on = |series: &str, rule: &str| -> Vec<i64> {
        alerts
            .iter()
            .filter(|(s, _, r)| s == series && r == rule)
            .map(|(_, t, _)| *t)
            .collect()
    };
    // The attack, on its uplink, on the second 5-minute sample. Its product line, three
    // ports, rises to about (5 + 1 + 1) / 3 = 2.3x: under `product-line-attack`'s 2.7x.
    let fired = on("port:core-1/swp1", "uplink-attack");
    assert_eq!(fired.len(), 1, "{csv}");
    assert!((600..=630).contains(&(fired[0] - attack)), "{csv}");
    // The outage of the line's only port, on its product line after three polls: the 14 of
    // its 60 s slots that three 5-minute polls cover, less the one their phase leaves partial.
    let fired = on("product_line:video", "product-line-collapse");
    assert_eq!(fired.len(), 1, "{csv}");
    assert!((720..=960).contains(&(fired[0] - outage)), "{csv}");
    // Nothing else in two days of judged traffic with a daily rhythm.
    assert_eq!(alerts.len(), 2, "{csv}");
}
