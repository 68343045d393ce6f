//! Maintenance windows end to end through the real binaries: `bandwatch simulate` serves three
//! switches that each go unreachable (a reboot), `bandwatch run` polls them with a
//! `switch-unreachable` rule and two `[[maintenance]]` windows. The reboot inside a weekly
//! window sends no mail but is recorded, marked `(maintenance)`; the same reboot outside any
//! window alerts; a window that closes while its switch is still unreachable notifies then
//! (and the resolution follows that notified firing). `/api/v1/maintenance`, the status page
//! and `bandwatch_maintenance_active{name}` show the windows. (Daylight saving time is tested
//! on the schedule itself, `maintenance::schedule`: a simulator runs in real time.)

use std::path::Path;

use crate::daemon_support;

use daemon_support::*;

const RULES: &str = r#"
[[rule]]
name = "switch-unreachable"
kind = "absent"
scope = "switch"
for = "4s"
clear_for = "2s"
severity = "critical"
notify = ["ops"]
"#;

// All three switches reboot 8 s after the simulator starts: sim-0000 and sim-0001 for 10 s,
// sim-0002 for 50 s (past the end of its window).
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
duration = "10s"
switches = ["sim-0000", "sim-0001"]

[[event]]
at = "8s"
kind = "unreachable"
duration = "50s"
switches = ["sim-0002"]
"#;

fn history(http: u16) -> Vec<serde_json::Value> {
    http_get(http, "/api/v1/alerts")
        .and_then(|(_, b)| serde_json::from_str::<serde_json::Value>(&b).ok())
        .and_then(|v| v["recent"].as_array().cloned())
        .unwrap_or_default()
}

fn changed(rows: &[serde_json::Value], switch: &str, to: &str) -> Option<serde_json::Value> {
    rows.iter()
        .find(|r| r["entity"] == format!("switch:{switch}") && r["to_state"] == to)
        .cloned()
}

#[test]
fn reboots_inside_windows_are_recorded_not_mailed_and_a_window_closing_on_a_firing_alert_notifies()
{
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bw.toml");
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/test.toml"), RULES).unwrap();
    let scenario = dir.path().join("scenario.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let started = jiff::Timestamp::now();
    let Simulated {
        sim: _sim,
        http,
        mut text,
    } = simulate(
        &cfg,
        3,
        2,
        &["--scenario".as_ref(), scenario.as_os_str()],
        "rules_dir = \"rules\"\n",
    );
    // A weekly window open now (this weekday, this minute, in Berlin time, for an hour) on
    // sim-0000; a one-off window on sim-0002 that closes 32 s after the simulator started,
    // while that switch is still down (and well after sim-0001's mails, so that no two
    // notices share a message).
    let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let local = started.to_zoned(berlin);
    let every = local.strftime("%A %H:%M").to_string().to_lowercase();
    let until = (started + jiff::SignedDuration::from_secs(32)).to_string();
    text.push_str(&format!(
        r#"
[[route]]
name = "ops"
email = ["noc@example.net"]

[[maintenance]]
name = "weekly-reboots"
reason = "firmware"
match = {{ switch = "sim-0000" }}
every = "{every}"
duration = "1h"
time_zone = "Europe/Berlin"
alerts = ["switch-unreachable"]

[[maintenance]]
name = "short-work"
match = {{ switch = "sim-0002" }}
from = "2020-01-01T00:00:00Z"
until = "{until}"

[email]
transport = "file"
from = "bandwatch <bandwatch@example.net>"
group_wait = "1s"
"#
    ));
    std::fs::write(&cfg, &text).unwrap();

    // `check` lists the windows with their next occurrences.
    let check = std::process::Command::new(BIN)
        .arg("-c")
        .arg(&cfg)
        .arg("check")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{out}");
    assert!(
        out.contains(&format!(
            "weekly-reboots   every {every} for 1 h (Europe/Berlin)"
        )),
        "{out}"
    );

    let outbox = dir.path().join("var/outbox");
    let _daemon = spawn_run(&cfg, &dir.path().join("run.log"));
    wait_for("the API", 30, || {
        http_get(http, "/api/v1/maintenance").is_some()
    });
    let (_, body) = http_get(http, "/api/v1/maintenance").unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let weekly = v["windows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "weekly-reboots")
        .cloned()
        .unwrap();
    assert_eq!(weekly["open"], true, "{body}");
    assert_eq!(weekly["next"].as_array().unwrap().len(), 3, "{body}");
    let (_, metrics) = http_get(http, "/metrics").unwrap();
    assert!(
        metrics.contains("bandwatch_maintenance_active{name=\"weekly-reboots\"} 1"),
        "{metrics}"
    );
    let (_, page) = http_get(http, "/").unwrap();
    assert!(page.contains("Maintenance windows") && page.contains("weekly-reboots"));

    // sim-0001 (no window) alerts and resolves by mail.
    let subjects_of = |sw: &str| -> Vec<String> {
        eml_subjects(Path::new(&outbox))
            .into_iter()
            .filter(|s| s.contains(sw))
            .collect()
    };
    wait_for("sim-0001's resolved mail", 60, || {
        subjects_of("sim-0001")
            .iter()
            .any(|s| s.contains("RESOLVED"))
    });
    // sim-0000 rebooted inside its weekly window: fired and resolved, both recorded and
    // marked, and no mail.
    wait_for("sim-0000's recorded resolution", 30, || {
        changed(&history(http), "sim-0000", "inactive").is_some()
    });
    let rows = history(http);
    let fired = changed(&rows, "sim-0000", "firing").unwrap();
    assert_eq!(fired["message"], "(maintenance) weekly-reboots", "{fired}");
    assert_eq!(subjects_of("sim-0000"), Vec::<String>::new());

    // sim-0002 fired inside its window (recorded, marked) and was still down when the window
    // closed: notified then, and its resolution follows.
    wait_for("sim-0002's resolved mail", 90, || {
        subjects_of("sim-0002")
            .iter()
            .any(|s| s.contains("RESOLVED"))
    });
    let rows = history(http);
    let fired = changed(&rows, "sim-0002", "firing").unwrap();
    assert_eq!(fired["message"], "(maintenance) short-work", "{fired}");
    // (The outbox's file names do not sort by time: count, not order.)
    let mails = subjects_of("sim-0002");
    assert_eq!(mails.len(), 2, "{mails:?}");
    let firing = mails
        .iter()
        .filter(|m| m.contains("[FIRING critical] switch-unreachable"))
        .count();
    let resolved = mails
        .iter()
        .filter(|m| m.contains("[RESOLVED critical]"))
        .count();
    assert_eq!((firing, resolved), (1, 1), "{mails:?}");
}
