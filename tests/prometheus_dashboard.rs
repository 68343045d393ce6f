//! The files of `dist/` proven against a real Prometheus (Debian's `prometheus`; required in
//! CI, skipped with a reason elsewhere): `bandwatch run` polls a simulated fleet (an uplink
//! down, a firing alert mailed into the file outbox), Prometheus scrapes it every second with
//! `dist/prometheus/bandwatch.rules.yml` loaded, and every panel query of
//! `dist/grafana/bandwatch.json` (variables substituted by their "All" value) returns data
//! through Prometheus's HTTP API, as do the dashboard's variable queries and the recording
//! rules. `promtool check metrics` on the live scrape reports nothing, and
//! `promtool test rules` runs the rules' unit tests (`dist/prometheus/bandwatch.rules.test.yml`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::daemon_support;

use daemon_support::*;

const RULES: &str = r#"
[[rule]]
name = "uplink-busy"
description = "Always true on the simulator: a firing alert for the dashboard's alert panels"
kind = "threshold"
scope = "port"
match = { role = "uplink", switch = "sim-0000", port = "eth1" }
metric = "in_bps"
above = "1Mbps"
for = "2s"
severity = "warning"
notify = ["ops"]
"#;

/// Steady traffic, and the `cloud` uplink of sim-0001 down from the start.
const SCENARIO: &str = "time_scale = 1.0\n[traffic]\nbase = \"100Mbps\"\nnoise = 0.1\n\
    [[event]]\nat = \"0s\"\nkind = \"port_down\"\nswitches = [\"sim-0001\"]\nports = [\"eth2\"]\n";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The path of `tool` on PATH; `None` (and a printed reason) outside CI when it is missing.
fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|f| f.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").is_err(),
            "CI must have {name} (Debian package prometheus)"
        );
        eprintln!("skipping: {name} not installed (Debian package prometheus)");
    }
    found
}

/// Percent-encodes a query string value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A GET of Prometheus's API, parsed as JSON; `None` while it does not answer.
fn api(port: u16, path_and_query: &str) -> Option<serde_json::Value> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path_and_query} HTTP/1.0\r\nHost: localhost\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let (_, body) = buf.split_once("\r\n\r\n")?;
    serde_json::from_str(body).ok()
}

/// An instant query: the result vector (empty when no series), or the API's error.
fn query(port: u16, promql: &str) -> Result<Vec<serde_json::Value>, String> {
    let v = api(port, &format!("/api/v1/query?query={}", encode(promql)))
        .ok_or_else(|| "no answer".to_string())?;
    if v["status"] != "success" {
        return Err(v.to_string());
    }
    Ok(v["data"]["result"].as_array().cloned().unwrap_or_default())
}

/// A panel's title and one of its expressions.
type Titled = (String, String);
/// A `label_values(METRIC, LABEL)` query as (metric, label).
type LabelValues = (String, String);

/// The dashboard's queries: (panel title, expression with variables substituted), and the
/// variables' `label_values(METRIC, LABEL)` queries as (metric, label).
fn dashboard_queries() -> (Vec<Titled>, Vec<LabelValues>) {
    let text = std::fs::read_to_string(root().join("dist/grafana/bandwatch.json")).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut values = Vec::new();
    let mut label_queries = Vec::new();
    let re = regex::Regex::new(r"^label_values\((\w+),\s*(\w+)\)$").unwrap();
    for var in dash["templating"]["list"].as_array().unwrap() {
        if var["type"] != "query" {
            continue;
        }
        let name = var["name"].as_str().unwrap().to_string();
        let all = var["allValue"].as_str().unwrap_or(".*").to_string();
        values.push((format!("${name}"), all));
        let q = var["query"]["query"].as_str().unwrap();
        let c = re
            .captures(q)
            .unwrap_or_else(|| panic!("variable {name}: unexpected query {q}"));
        label_queries.push((c[1].to_string(), c[2].to_string()));
    }
    // Longest names first, so `$site` does not eat the start of a longer name.
    values.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    let mut panels = Vec::new();
    for panel in dash["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().into_iter().flatten() {
            let mut expr = t["expr"].as_str().unwrap().to_string();
            for (name, value) in &values {
                expr = expr.replace(name, value);
            }
            expr = expr.replace("$__rate_interval", "1m");
            assert!(!expr.contains('$'), "unsubstituted variable in {expr}");
            panels.push((panel["title"].as_str().unwrap().to_string(), expr));
        }
    }
    (panels, label_queries)
}

/// Starts Prometheus scraping `127.0.0.1:target` every second with the dist rules loaded.
fn start_prometheus(prometheus: &Path, dir: &Path, target: u16) -> (Kill, u16) {
    let port = free_tcp_port();
    let rules = root().join("dist/prometheus/bandwatch.rules.yml");
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: bandwatch\n    scrape_timeout: 1s\n    \
             static_configs:\n      - targets: [\"127.0.0.1:{target}\"]\n",
            rules.display()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let child = Command::new(prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--storage.tsdb.retention.time=1h")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    (Kill(child), port)
}

#[test]
fn every_dashboard_panel_returns_data_from_a_real_prometheus() {
    let (Some(prometheus), Some(promtool)) = (tool("prometheus"), tool("promtool")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bw.toml");
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/test.toml"), RULES).unwrap();
    let scenario = dir.path().join("scenario.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let Simulated {
        sim: _sim,
        http,
        text,
    } = simulate(
        &cfg,
        2,
        8,
        &["--scenario".as_ref(), scenario.as_os_str()],
        "rules_dir = \"rules\"\n",
    );
    let tail = "\n[[route]]\nname = \"ops\"\nemail = [\"noc@example.net\"]\n\n\
         [email]\ntransport = \"file\"\nfrom = \"bandwatch <bandwatch@example.net>\"\n\
         group_wait = \"1s\"\n";
    std::fs::write(&cfg, format!("{text}{tail}")).unwrap();
    let _daemon = spawn_run(&cfg, &dir.path().join("run.log"));
    // The daemon has measured rates, the alert fired and its email went out.
    wait_for(
        "rates, a firing alert and a notification on /metrics",
        60,
        || {
            http_get(http, "/metrics").is_some_and(|(_, b)| {
            b.contains("bandwatch_port_bytes_per_second{")
                && b.lines().any(|l| {
                    l.starts_with("bandwatch_alerts{") && l.contains("firing") && l.ends_with(" 1")
                })
                && b.contains("bandwatch_notifications_total{")
                && b.contains("bandwatch_port_oper_up{site=\"sim\",switch=\"sim-0001\",port=\"eth2\",product_line=\"cloud\",customer=\"\",role=\"uplink\"} 0")
        })
        },
    );

    // A live scrape, every stage's families present: promtool finds nothing at all.
    let (_, body) = http_get(http, "/metrics").unwrap();
    let mut child = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let findings = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && findings.trim().is_empty(),
        "promtool check metrics on a live scrape:\n{findings}"
    );

    let (_prom, port) = start_prometheus(&prometheus, dir.path(), http);
    let prom_log = dir.path().join("prometheus.log");
    let log_of = || std::fs::read_to_string(&prom_log).unwrap_or_default();
    // Three scrapes at least (rate() needs two points), all successful. Prometheus asks for
    // OpenMetrics first: a body it could not parse would leave the target down.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let scrapes = query(port, "count_over_time(up{job=\"bandwatch\"}[5m])")
            .ok()
            .and_then(|r| r.first().cloned())
            .and_then(|s| s["value"][1].as_str()?.parse::<f64>().ok())
            .unwrap_or(0.0);
        let targets = api(port, "/api/v1/targets").unwrap_or_default();
        let t = &targets["data"]["activeTargets"][0];
        let last = format!("{scrapes} scrapes, target {t}");
        if scrapes >= 3.0 && t["health"] == "up" {
            assert_eq!(t["lastError"], "", "{t}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Prometheus did not scrape bandwatch: {last}\n{}",
            log_of()
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // Every panel's query returns data.
    let (panels, variables) = dashboard_queries();
    assert!(panels.len() >= 18, "{panels:?}");
    let mut empty = Vec::new();
    // Recording rules are evaluated every second: give the first evaluation after the
    // scrapes a moment, and every query a few tries.
    for (title, expr) in &panels {
        let mut result = Err("not run".to_string());
        for _ in 0..10 {
            result = query(port, expr);
            if result.as_ref().is_ok_and(|r| !r.is_empty()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        match result {
            Ok(r) if !r.is_empty() => {}
            other => empty.push(format!("{title}: {expr} -> {other:?}")),
        }
    }
    assert!(
        empty.is_empty(),
        "panels without data:\n{}",
        empty.join("\n")
    );
    // The variables list values.
    for (metric, label) in &variables {
        let v = api(
            port,
            &format!("/api/v1/label/{label}/values?{}", encode_match(metric)),
        )
        .unwrap();
        let values = v["data"].as_array().cloned().unwrap_or_default();
        assert!(!values.is_empty(), "label_values({metric}, {label}): {v}");
    }
    // The recording rules produce series, and the down uplink is (at least) pending.
    for (what, expr) in [
        ("recording rule", "bandwatch:port_bytes:rate5m"),
        (
            "recording rule",
            "bandwatch:product_line_bytes_per_second:sum",
        ),
        ("recording rule", "bandwatch:port_utilization:ratio"),
        (
            "alert",
            "ALERTS{alertname=\"BandwatchUplinkDown\",switch=\"sim-0001\",port=\"eth2\"}",
        ),
    ] {
        let mut got = Vec::new();
        for _ in 0..20 {
            got = query(port, expr).unwrap_or_default();
            if !got.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        assert!(!got.is_empty(), "{what} {expr}: no data\n{}", log_of());
    }
    // The byte counter as Prometheus stored it grows at the simulated rate, in bytes: the
    // simulator's 100 Mbit/s base is 12.5 MB/s, give or take shape, noise and spread (in
    // bits it would be eight times that).
    let samples = query(
        port,
        "bandwatch_port_bytes_total{switch=\"sim-0000\",port=\"eth1\",direction=\"in\"}[5m]",
    )
    .unwrap();
    let values = samples[0]["values"].as_array().unwrap();
    let point = |v: &serde_json::Value| -> (f64, f64) {
        (
            v[0].as_f64().unwrap(),
            v[1].as_str().unwrap().parse().unwrap(),
        )
    };
    let ((t0, v0), (t1, v1)) = (point(&values[0]), point(&values[values.len() - 1]));
    assert!(t1 > t0, "{values:?}");
    let rate = (v1 - v0) / (t1 - t0);
    assert!((3e6..4e7).contains(&rate), "sim-0000 eth1 grew {rate} B/s");
}

fn encode_match(metric: &str) -> String {
    format!("match[]={}", encode(metric))
}

#[test]
fn promtool_unit_tests_of_the_rules_pass() {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let tests = root().join("dist/prometheus/bandwatch.rules.test.yml");
    let out = Command::new(promtool)
        .args(["test", "rules"])
        .arg(&tests)
        .current_dir(root().join("dist/prometheus"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("SUCCESS"), "{text}");
}
