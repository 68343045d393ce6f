//! Alerts end to end through the real binaries: `bandwatch simulate` serves a fleet over UDP
//! SNMP with a scripted outage, `bandwatch run` polls it, the rules fire and resolve, the
//! emails land in the file outbox, `/api/v1/alerts` and `/metrics` show the alert, and a
//! restart in the middle of a firing alert sends no second notice.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::daemon_support;

use daemon_support::*;

/// The body of a GET, or `None` while nothing answers.
fn http_body(port: u16, path: &str) -> Option<String> {
    http_get(port, path).map(|(_, b)| b)
}

/// Every .eml in the outbox, as text.
fn mails(outbox: &Path) -> Vec<String> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(outbox)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect()
}

fn subjects(outbox: &Path) -> Vec<String> {
    mails(outbox)
        .iter()
        .filter_map(|m| {
            m.lines()
                .find(|l| l.starts_with("Subject:"))
                .map(str::to_string)
        })
        .collect()
}

fn stop(mut d: Kill) {
    let ok = Command::new("kill")
        .arg("-TERM")
        .arg(d.0.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
    let t = Instant::now();
    while d.0.try_wait().unwrap().is_none() {
        assert!(t.elapsed() < Duration::from_secs(15), "daemon did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
}

const RULES: &str = r#"
[[rule]]
name = "switch-unreachable"
description = "No successful SNMP poll of a switch"
kind = "absent"
scope = "switch"
for = "4s"
clear_for = "2s"
severity = "critical"
notify = ["ops"]

[[rule]]
name = "uplink-busy"
description = "Uplink above 1 Mbit/s (always true on the simulator: a steady firing alert)"
kind = "threshold"
scope = "port"
match = { role = "uplink", switch = "sim-0000", port = "eth1" }
metric = "in_bps"
above = "1Mbps"
for = "2s"
clear_for = "10s"
severity = "warning"
notify = ["ops"]
"#;

const SCENARIO: &str = r#"
time_scale = 1.0
[traffic]
speed = "1Gbps"
base = "100Mbps"
daily = 0.0
weekly = 0.0
noise = 0.0

[[event]]
at = "8s"
kind = "unreachable"
duration = "12s"
switches = ["sim-0001"]
"#;

struct Setup {
    dir: tempfile::TempDir,
    _sim: Kill,
    cfg: PathBuf,
    http: u16,
    outbox: PathBuf,
    log: PathBuf,
}

/// A simulated fleet of 2 switches x 4 ports with `scenario`, and a config polling it every
/// 2 s with `rules`, an `ops` route, and mail written to files.
fn setup(rules: &str, scenario: &str) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bw.toml");
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/test.toml"), rules).unwrap();
    std::fs::write(dir.path().join("scenario.toml"), scenario).unwrap();
    let scenario_path = dir.path().join("scenario.toml");
    let Simulated { sim, http, text } = simulate(
        &cfg,
        2,
        4,
        &["--scenario".as_ref(), scenario_path.as_os_str()],
        "rules_dir = \"rules\"\n",
    );
    let mut text = text;
    text.push_str(
        "\n[[route]]\nname = \"ops\"\nemail = [\"noc@example.net\"]\n\n\
         [email]\ntransport = \"file\"\nfrom = \"bandwatch <bandwatch@example.net>\"\ngroup_wait = \"1s\"\n",
    );
    std::fs::write(&cfg, &text).unwrap();
    let outbox = dir.path().join("var/outbox");
    let log = dir.path().join("run.log");
    Setup {
        _sim: sim,
        cfg,
        http,
        outbox,
        log,
        dir,
    }
}

#[test]
fn outage_fires_and_resolves_by_email_and_restart_does_not_renotify() {
    let Setup {
        cfg,
        http,
        outbox,
        log,
        _sim,
        dir: _dir,
    } = setup(RULES, SCENARIO);
    let daemon = spawn_run_appending(&cfg, &log);
    // The steady threshold alert fires and is mailed once.
    wait_for("the uplink-busy email", 40, || {
        subjects(&outbox)
            .iter()
            .any(|s| s.contains("[FIRING warning] uplink-busy"))
    });
    let api = http_body(http, "/api/v1/alerts").unwrap();
    let v: serde_json::Value = serde_json::from_str(&api).unwrap();
    let active = v["active"].as_array().unwrap();
    assert!(
        active.iter().any(|a| a["rule"] == "uplink-busy"
            && a["state"] == "firing"
            && a["entity"] == "port:sim-0000/eth1"),
        "{api}"
    );
    let metrics = http_body(http, "/metrics").unwrap();
    assert!(
        metrics.contains(
            "bandwatch_alerts{rule=\"uplink-busy\",severity=\"warning\",scope=\"port\",entity=\"port:sim-0000/eth1\",state=\"firing\"} 1"
        ),
        "{metrics}"
    );

    // The switch outage: a firing email for sim-0001, then its resolved notice.
    wait_for("the switch-unreachable email", 40, || {
        subjects(&outbox)
            .iter()
            .any(|s| s.contains("FIRING critical] switch-unreachable") && s.contains("sim-0001"))
    });
    wait_for("the switch-unreachable resolved email", 40, || {
        subjects(&outbox)
            .iter()
            .any(|s| s.contains("RESOLVED") && s.contains("switch-unreachable"))
    });
    let all = mails(&outbox).join("\n");
    assert!(all.contains("To: noc@example.net"), "routed to ops");
    // No port-level drop for the unreachable switch's ports: only the switch alert speaks.
    assert!(
        !subjects(&outbox)
            .iter()
            .any(|s| s.contains("sim-0001") && !s.contains("switch-unreachable"))
    );
    let history = http_body(http, "/api/v1/alerts").unwrap();
    assert!(
        history.contains("\"to_state\":\"firing\"") && history.contains("switch-unreachable"),
        "{history}"
    );

    // Restart while uplink-busy fires: no second firing notice.
    stop(daemon);
    let before = subjects(&outbox)
        .iter()
        .filter(|s| s.contains("FIRING warning] uplink-busy"))
        .count();
    assert_eq!(before, 1, "{:?}", subjects(&outbox));
    let daemon = spawn_run_appending(&cfg, &log);
    wait_for("the alert firing again after the restart", 30, || {
        http_body(http, "/api/v1/alerts")
            .is_some_and(|b| b.contains("\"state\":\"firing\"") && b.contains("uplink-busy"))
    });
    std::thread::sleep(Duration::from_secs(4));
    stop(daemon);
    let after = subjects(&outbox)
        .iter()
        .filter(|s| s.contains("uplink-busy") && s.contains("FIRING"))
        .count();
    assert_eq!(
        after,
        1,
        "a restart must not notify a firing alert again: {:?}",
        subjects(&outbox)
    );
}

const SILENCE_RULES: &str = r#"
[[rule]]
name = "eth1-busy"
kind = "threshold"
scope = "port"
match = { switch = "sim-0000", port = "eth1" }
metric = "in_bps"
above = "1Mbps"
for = "2s"
notify = ["ops"]

[[rule]]
name = "eth2-busy"
kind = "threshold"
scope = "port"
match = { switch = "sim-0000", port = "eth2" }
metric = "in_bps"
above = "1Mbps"
for = "8s"
notify = ["ops"]
"#;

const STEADY: &str =
    "time_scale = 1.0\n[traffic]\nbase = \"100Mbps\"\ndaily = 0.0\nweekly = 0.0\nnoise = 0.0\n";

#[test]
fn a_silence_added_while_running_holds_back_new_notices() {
    let Setup {
        cfg,
        http,
        outbox,
        log,
        _sim,
        dir: _dir,
    } = setup(SILENCE_RULES, STEADY);
    let daemon = spawn_run_appending(&cfg, &log);
    // Added after the daemon started: it must be picked up without a restart.
    let silence = |args: &[&str]| {
        let out = Command::new(BIN)
            .arg("-c")
            .arg(&cfg)
            .arg("silence")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let added = silence(&[
        "add",
        "--rule",
        "eth2-busy",
        "--match",
        "port=eth2",
        "--for",
        "1h",
        "--reason",
        "planned work",
    ]);
    assert!(added.starts_with("silence 1 added"), "{added}");
    assert!(silence(&["list"]).contains("planned work"));
    wait_for("the unsilenced alert's email", 40, || {
        subjects(&outbox).iter().any(|s| s.contains("eth1-busy"))
    });
    wait_for("the silenced alert firing", 40, || {
        http_body(http, "/api/v1/alerts")
            .is_some_and(|b| b.contains("eth2-busy") && b.contains("\"state\":\"firing\""))
    });
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !subjects(&outbox).iter().any(|s| s.contains("eth2-busy")),
        "a silenced alert must not be mailed: {:?}",
        subjects(&outbox)
    );
    assert!(silence(&["remove", "1"]).contains("silence 1 removed"));
    assert!(!silence(&["list"]).contains("planned work"));
    stop(daemon);
}
