//! Reload as an operator does it: `bandwatch run` polls a fleet served over real UDP SNMP by
//! `bandwatch simulate`, with a steady firing alert mailed into the file outbox, and gets
//! SIGHUP (and `POST /-/reload`) with (a) an unchanged configuration, (b) one switch added,
//! (c) one rule changed, (d) a broken rule file, (e) an `[email]` pointing at an SMTP server
//! that does not answer.
//!
//! After (a)-(c) no port of an unchanged switch records an unknown interval (the poller kept
//! its counter state: `bandwatch_unknown_intervals_total{reason="first"}` does not move) and
//! the firing alert of the unchanged rule is neither notified again nor forgotten. After (d)
//! and (e) the running model stays in force, `bandwatch_config_last_reload_successful` is 0,
//! and mail keeps flowing through the running (file) transport.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::daemon_support;

use daemon_support::*;

const RULES: &str = r#"
[[rule]]
name = "uplink-busy"
description = "Always true on the simulator: a steady firing alert, repeated every 4 s"
kind = "threshold"
scope = "port"
match = { role = "uplink", switch = "sim-0000", port = "eth1" }
metric = "in_bps"
above = "1Mbps"
for = "2s"
clear_for = "10s"
repeat = "4s"
severity = "warning"
notify = ["ops"]

[[rule]]
name = "cloud-busy"
kind = "threshold"
scope = "port"
match = { switch = "sim-0000", port = "eth2" }
metric = "in_bps"
above = "1Mbps"
for = "2s"
severity = "info"
notify = ["cloud"]
"#;

const SCENARIO: &str =
    "time_scale = 1.0\n[traffic]\nbase = \"100Mbps\"\ndaily = 0.0\nweekly = 0.0\nnoise = 0.0\n";

fn subjects(outbox: &Path) -> Vec<String> {
    eml_subjects(outbox)
}

fn count(outbox: &Path, what: &[&str]) -> usize {
    subjects(outbox)
        .iter()
        .filter(|s| what.iter().all(|w| s.contains(w)))
        .count()
}

/// The value of one sample of `/metrics` (`name{labels}` as written), if exported.
fn metric(http: u16, series: &str) -> Option<f64> {
    let (_, body) = http_get(http, "/metrics")?;
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

/// Sum of `bandwatch_unknown_intervals_total{switch=SWITCH,reason="first"}`.
fn firsts(http: u16, switch: &str) -> f64 {
    metric(
        http,
        &format!("bandwatch_unknown_intervals_total{{switch=\"{switch}\",reason=\"first\"}}"),
    )
    .unwrap_or_else(|| panic!("no first-interval counter for {switch}"))
}

fn hup(pid: u32) {
    let ok = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Lines of the log that say how a reload ended, in order.
fn reload_outcomes(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("configuration reloaded") || l.contains("reload rejected"))
        .map(str::to_string)
        .collect()
}

/// Sends SIGHUP and waits for the reload's outcome in the log; returns its line.
fn reload(pid: u32, log: &Path) -> String {
    let before = reload_outcomes(log).len();
    hup(pid);
    let mut line = String::new();
    wait_for("the reload's outcome in the log", 30, || {
        let all = reload_outcomes(log);
        match all.get(before) {
            Some(l) => {
                line = l.clone();
                true
            }
            None => false,
        }
    });
    line
}

/// POST with a bearer token over HTTP/1.0: (status, body).
fn http_post(port: u16, path: &str, token: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.0\r\nAuthorization: Bearer {token}\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let (head, body) = buf.split_once("\r\n\r\n").unwrap();
    (
        head.split_whitespace().nth(1).unwrap().parse().unwrap(),
        body.to_string(),
    )
}

#[test]
fn reload_applies_only_what_changed_and_a_bad_reload_keeps_the_running_model() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bw.toml");
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/test.toml"), RULES).unwrap();
    let scenario = dir.path().join("scenario.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    // Three simulated switches; the configuration starts with the first two.
    let Simulated {
        sim: _sim,
        http,
        text,
    } = simulate(
        &cfg,
        3,
        4,
        &["--scenario".as_ref(), scenario.as_os_str()],
        "rules_dir = \"rules\"\n",
    );
    let third = text
        .find("[[switch]]\nname = \"sim-0002\"")
        .expect("the simulator wrote sim-0002");
    let (two, with_third) = (text[..third].to_string(), text.clone());
    // One route per rule: each email carries one notice, so subjects can be counted.
    let tail = "\n[[route]]\nname = \"ops\"\nemail = [\"noc@example.net\"]\n\n\
         [[route]]\nname = \"cloud\"\nemail = [\"cloud@example.net\"]\n\n\
         [api]\ntoken = \"${BW_RELOAD_TOKEN:-reload-secret}\"\n\n\
         [email]\ntransport = \"file\"\nfrom = \"bandwatch <bandwatch@example.net>\"\ngroup_wait = \"1s\"\n";
    std::fs::write(&cfg, format!("{two}{tail}")).unwrap();
    let outbox = dir.path().join("var/outbox");
    let log = dir.path().join("run.log");
    let daemon = spawn_run(&cfg, &log);
    let pid = daemon.0.id();
    wait_for("the uplink-busy firing email", 40, || {
        count(&outbox, &["FIRING warning] uplink-busy"]) == 1
    });
    // Both switches answered and computed rates: their first intervals are behind them.
    wait_for("rates of both switches", 30, || {
        http_get(http, "/metrics").is_some_and(|(_, b)| {
            ["sim-0000", "sim-0001"].iter().all(|s| {
                b.lines().any(|l| {
                    l.starts_with("bandwatch_port_bytes_per_second{")
                        && l.contains(&format!("switch=\"{s}\",port=\"eth1\""))
                })
            })
        })
    });
    let first0 = firsts(http, "sim-0000");
    let first1 = firsts(http, "sim-0001");
    assert!(first0 >= 1.0, "the start's first intervals are counted");
    assert_eq!(
        metric(http, "bandwatch_config_last_reload_successful"),
        Some(1.0)
    );

    // (a) The same files.
    let out = reload(pid, &log);
    assert!(out.contains("nothing changed"), "{out}");

    // (b) One switch added: polled from now on, the others untouched.
    std::fs::write(&cfg, format!("{with_third}{tail}")).unwrap();
    let out = reload(pid, &log);
    assert!(
        out.contains("switches: 1 added, 0 removed, 0 changed, 2 unchanged"),
        "{out}"
    );
    wait_for("rates of the added switch", 30, || {
        http_get(http, "/metrics").is_some_and(|(_, b)| {
            b.lines().any(|l| {
                l.starts_with("bandwatch_port_bytes_per_second{")
                    && l.contains("switch=\"sim-0002\",port=\"eth1\"")
            })
        })
    });

    // (c) One rule changed (the other one keeps its firing alert), over HTTP this time.
    std::fs::write(
        dir.path().join("rules/test.toml"),
        RULES.replace("severity = \"info\"", "severity = \"warning\""),
    )
    .unwrap();
    let (code, body) = http_post(http, "/-/reload", "wrong");
    assert_eq!(code, 401, "{body}");
    let (code, body) = http_post(http, "/-/reload", "reload-secret");
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains("rules: 0 added, 0 removed, 1 changed, 1 unchanged"),
        "{body}"
    );

    // Several sweeps later: no unchanged switch started over, the alert still fires, and
    // it was never notified as new again.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        firsts(http, "sim-0000"),
        first0,
        "sim-0000 lost its counter state"
    );
    assert_eq!(
        firsts(http, "sim-0001"),
        first1,
        "sim-0001 lost its counter state"
    );
    let alerts = http_get(http, "/api/v1/alerts").unwrap().1;
    assert!(
        alerts.contains("\"rule\":\"uplink-busy\"") && alerts.contains("\"state\":\"firing\""),
        "{alerts}"
    );
    assert_eq!(
        count(&outbox, &["FIRING warning] uplink-busy"]),
        1,
        "{:?}",
        subjects(&outbox)
    );
    // The changed rule starts afresh in memory, but its persisted state says it was
    // notified: no second firing notice for it either.
    assert_eq!(
        count(&outbox, &["FIRING", "cloud-busy"]),
        1,
        "{:?}",
        subjects(&outbox)
    );
    assert_eq!(
        metric(http, "bandwatch_config_last_reload_successful"),
        Some(1.0)
    );

    // (d) A broken rule file: rejected with its file and line; the running model stays.
    std::fs::write(
        dir.path().join("rules/broken.toml"),
        "[[rule]]\nname = \"half\"\nkind = \"spike\"\n",
    )
    .unwrap();
    let out = reload(pid, &log);
    assert!(out.contains("reload rejected"), "{out}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("broken.toml:"), "{logged}");
    assert_eq!(
        metric(http, "bandwatch_config_last_reload_successful"),
        Some(0.0)
    );
    let (code, body) = http_post(http, "/-/reload", "reload-secret");
    assert_eq!(code, 500, "{body}");
    assert!(body.contains("broken.toml"), "{body}");
    std::fs::remove_file(dir.path().join("rules/broken.toml")).unwrap();

    // (e) [email] pointing at an SMTP server that does not answer: rejected, and the
    // running file transport keeps delivering (the alert's repeats).
    let closed = free_tcp_port();
    let smtp_tail = tail.replace(
        "transport = \"file\"",
        &format!("transport = \"smtp\"\nserver = \"127.0.0.1:{closed}\"\nsecurity = \"none\""),
    );
    std::fs::write(&cfg, format!("{with_third}{smtp_tail}")).unwrap();
    let out = reload(pid, &log);
    assert!(out.contains("reload rejected"), "{out}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains(&format!("127.0.0.1:{closed}")), "{logged}");
    assert_eq!(
        metric(http, "bandwatch_config_last_reload_successful"),
        Some(0.0)
    );
    let repeats = count(&outbox, &["REPEAT", "uplink-busy"]);
    wait_for("a repeat mailed through the running transport", 30, || {
        count(&outbox, &["REPEAT", "uplink-busy"]) > repeats
    });
    // The added switch is still polled (the model in force is (c)'s).
    assert!(
        metric(
            http,
            "bandwatch_unknown_intervals_total{switch=\"sim-0002\",reason=\"first\"}"
        )
        .is_some()
    );

    // Back to a good file: the reload succeeds and the metric says so.
    std::fs::write(&cfg, format!("{with_third}{tail}")).unwrap();
    let out = reload(pid, &log);
    assert!(out.contains("configuration reloaded"), "{out}");
    assert_eq!(
        metric(http, "bandwatch_config_last_reload_successful"),
        Some(1.0)
    );
    assert_eq!(firsts(http, "sim-0000"), first0);
    assert_eq!(count(&outbox, &["FIRING warning] uplink-busy"]), 1);
}

/// SIGTERM while a reload waits on an SMTP server that accepts connections but never greets:
/// the daemon stops (abandoning the reload) instead of waiting for the check to time out.
#[test]
fn a_stop_during_a_slow_reload_is_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bw.toml");
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    let Simulated {
        sim: _sim,
        http,
        text,
    } = simulate(&cfg, 1, 2, &[], "rules_dir = \"rules\"\n");
    let email = "\n[[route]]\nname = \"ops\"\nemail = [\"noc@example.net\"]\n\n\
         [email]\ntransport = \"file\"\nfrom = \"bandwatch <bandwatch@example.net>\"\n";
    std::fs::write(&cfg, format!("{text}{email}")).unwrap();
    let log = dir.path().join("run.log");
    let mut daemon = spawn_run(&cfg, &log);
    let pid = daemon.0.id();
    wait_for("the daemon serving /metrics", 30, || {
        http_get(http, "/metrics").is_some_and(|(c, _)| c == 200)
    });
    // A server that completes TCP handshakes (the kernel's backlog) and never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let smtp = email.replace(
        "transport = \"file\"",
        &format!("transport = \"smtp\"\nserver = \"127.0.0.1:{port}\"\nsecurity = \"none\""),
    );
    std::fs::write(&cfg, format!("{text}{smtp}")).unwrap();
    hup(pid);
    wait_for("the reload to start", 20, || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("SIGHUP: reloading"))
    });
    std::thread::sleep(Duration::from_millis(500));
    let ok = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    // The check alone would wait 30 s for a greeting: well before that, the daemon is gone.
    wait_for("the daemon to stop during the reload", 15, || {
        daemon.0.try_wait().unwrap().is_some()
    });
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("reload is abandoned"), "{logged}");
    assert!(logged.contains("bandwatch stopped"), "{logged}");
    drop(silent);
}
