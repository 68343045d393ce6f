//! Prometheus remote write into a real VictoriaMetrics (Debian package `victoria-metrics`,
//! required under `CI=true`, skipped with a reason elsewhere). `bandwatch run` polls a
//! simulated fleet and writes to a VictoriaMetrics this test starts on a free port in a
//! temporary folder:
//! - the series arrive under `/metrics`'s names and labels (empty labels left out, as a
//!   scrape stores them) plus the external labels, with the switches' values;
//! - VictoriaMetrics is stopped for `BW_RW_OUTAGE_SECS` (default 8) seconds while the
//!   daemon keeps polling, then started again on the same data folder: the queue drains,
//!   nothing is dropped or refused, every series has points inside the outage, and the
//!   points VictoriaMetrics holds are exactly the samples bandwatch counted as sent.

use crate::daemon_support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use daemon_support::{BIN, Kill, free_tcp_port, http_get, simulate, wait_for};

/// The path of `victoria-metrics` on PATH; `None` (and a printed reason) outside CI.
fn victoria_metrics() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("victoria-metrics"))
            .find(|f| f.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").is_err(),
            "CI must have victoria-metrics (Debian package victoria-metrics)"
        );
        eprintln!("skipping: victoria-metrics not installed (Debian package victoria-metrics)");
    }
    found
}

fn start_vm(bin: &Path, data: &Path, port: u16, log: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(bin)
        .arg(format!("-storageDataPath={}", data.display()))
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        // Answer queries up to now (the default hides the last 30 s) and without caching.
        .arg("-search.latencyOffset=0s")
        .arg("-search.disableCache")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// Stops VictoriaMetrics gracefully (SIGTERM: it writes what it holds in memory).
fn stop_vm(mut vm: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &vm.id().to_string()])
        .status();
    let _ = vm.wait();
}

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

/// A GET of VictoriaMetrics: the body, `None` while it does not answer 200.
fn vm_get(port: u16, path_and_query: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    write!(
        s,
        "GET {path_and_query} HTTP/1.0\r\nHost: localhost\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.0 200")
        .then(|| body.to_string())
        .or_else(|| head.starts_with("HTTP/1.1 200").then(|| body.to_string()))
}

type Labels = BTreeMap<String, String>;

/// `/api/v1/series` of a selector: each series' labels (with `__name__`).
fn series(port: u16, selector: &str) -> Vec<Labels> {
    let body = vm_get(
        port,
        &format!("/api/v1/series?match[]={}&start=0", encode(selector)),
    )
    .unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    v["data"]
        .as_array()
        .map(|a| a.iter().map(to_labels).collect())
        .unwrap_or_default()
}

fn to_labels(v: &serde_json::Value) -> Labels {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// `/api/v1/export` of a selector: each series' labels and raw sample timestamps (ms).
fn export(port: u16, selector: &str) -> Vec<(Labels, Vec<i64>, Vec<f64>)> {
    let body = vm_get(
        port,
        &format!("/api/v1/export?match[]={}", encode(selector)),
    )
    .unwrap_or_default();
    body.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| {
            let ts = v["timestamps"]
                .as_array()
                .map(|a| a.iter().filter_map(|t| t.as_i64()).collect())
                .unwrap_or_default();
            let vals = v["values"]
                .as_array()
                .map(|a| a.iter().filter_map(|t| t.as_f64()).collect())
                .unwrap_or_default();
            (to_labels(&v["metric"]), ts, vals)
        })
        .collect()
}

/// The samples of `name` in a text exposition: labels (empty ones left out) and value.
fn scraped(text: &str, name: &str) -> Vec<(Labels, f64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let Some(rest) = rest.strip_prefix('{') else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let mut l = Labels::new();
        l.insert("__name__".into(), name.into());
        for pair in labels.split("\",") {
            if let Some((k, v)) = pair.split_once("=\"") {
                let v = v.trim_end_matches('"');
                if !v.is_empty() {
                    l.insert(k.to_string(), v.to_string());
                }
            }
        }
        out.push((l, value.trim().parse().unwrap_or(f64::NAN)));
    }
    out
}

/// One value of the daemon's `/metrics` (a sample with labels `{remote="vm"}`).
fn own_metric(http: u16, name: &str) -> Option<f64> {
    let (_, body) = http_get(http, "/metrics")?;
    let prefix = format!("{name}{{remote=\"vm\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn remote_write_reaches_victoria_metrics_and_survives_its_outage() {
    let Some(bin) = victoria_metrics() else {
        return;
    };
    let outage: u64 = std::env::var("BW_RW_OUTAGE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let dir = tempfile::tempdir().unwrap();
    let vm_data = dir.path().join("vm");
    let vm_log = dir.path().join("vm.log");
    let vm_port = free_tcp_port();
    let vm = start_vm(&bin, &vm_data, vm_port, &vm_log);
    wait_for("VictoriaMetrics to answer /health", 60, || {
        vm_get(vm_port, "/health").is_some()
    });

    let cfg = dir.path().join("bandwatch.toml");
    let sim = simulate(&cfg, 2, 4, &[], "");
    let url = format!("http://127.0.0.1:{vm_port}/api/v1/write");
    let remote = |url: &str| {
        format!(
            "\n[[remote_write]]\nname = \"vm\"\nurl = \"{url}\"\ninterval = \"1s\"\n\
             headers = {{ X-Scope-OrgID = \"${{BW_TEST_RW_TENANT}}\" }}\n\
             external_labels = {{ cluster = \"test\", replica = \"a\" }}\n\
             queue = {{ max_samples = 100000, max_samples_per_send = 25, min_backoff = \"100ms\", max_backoff = \"1s\" }}\n"
        )
    };
    std::fs::write(&cfg, format!("{}{}", sim.text, remote(&url))).unwrap();
    let log = dir.path().join("bandwatch.log");
    // The tenant header's value comes from the daemon's environment, as a secret would.
    let daemon = Kill(
        Command::new(BIN)
            .arg("-c")
            .arg(&cfg)
            .arg("run")
            .env("BW_TEST_RW_TENANT", "tenant-secret-1234")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let http = sim.http;

    // The series arrive with /metrics's names and labels plus the external labels.
    wait_for("port series in VictoriaMetrics", 90, || {
        series(vm_port, "bandwatch_port_bytes_total").len() == 2 * 4 * 2
            && !series(vm_port, "bandwatch_product_line_bytes_per_second").is_empty()
    });
    let (_, body) = http_get(http, "/metrics").unwrap();
    for family in [
        "bandwatch_port_bytes_total",
        "bandwatch_port_oper_up",
        "bandwatch_switch_up",
        "bandwatch_product_line_coverage_ratio",
    ] {
        let want: BTreeSet<Labels> = scraped(&body, family)
            .into_iter()
            .map(|(mut l, _)| {
                l.insert("cluster".into(), "test".into());
                l.insert("replica".into(), "a".into());
                l
            })
            .collect();
        assert!(!want.is_empty(), "{family} missing from /metrics:\n{body}");
        wait_for(&format!("{family} series in VictoriaMetrics"), 30, || {
            let got: BTreeSet<Labels> = series(vm_port, family).into_iter().collect();
            got == want
        });
    }
    // Values: every switch answers, every port counter has counted bytes.
    let up = export(vm_port, "bandwatch_switch_up");
    assert_eq!(up.len(), 2, "{up:?}");
    for (l, _, vals) in &up {
        assert_eq!(vals.last(), Some(&1.0), "{l:?}");
    }
    wait_for("counted bytes on every port", 30, || {
        export(vm_port, "bandwatch_port_bytes_total")
            .iter()
            .all(|(_, _, v)| v.last().is_some_and(|x| *x > 0.0))
    });
    // The secret header is never logged.
    assert!(
        !std::fs::read_to_string(&log)
            .unwrap()
            .contains("tenant-secret-1234")
    );

    // The outage: the daemon keeps polling and queues.
    stop_vm(vm);
    let down = now_ms();
    let retries_before = own_metric(http, "bandwatch_remote_write_retries_total").unwrap_or(0.0);
    wait_for("the daemon to notice the outage", 30, || {
        own_metric(http, "bandwatch_remote_write_retries_total").unwrap_or(0.0) > retries_before
    });
    std::thread::sleep(Duration::from_secs(outage));
    let queued = own_metric(http, "bandwatch_remote_write_queue_samples").unwrap();
    assert!(queued > 0.0, "nothing queued during the outage");
    let up_at = now_ms();
    let vm = Kill(start_vm(&bin, &vm_data, vm_port, &vm_log));
    wait_for("VictoriaMetrics back", 60, || {
        vm_get(vm_port, "/health").is_some()
    });
    wait_for("the queue to drain", 90, || {
        own_metric(http, "bandwatch_remote_write_queue_samples") == Some(0.0)
    });

    // Freeze what counts as sent: point the queue at a closed port (same name, so the
    // counters are kept) and wait until the reload is in force.
    let closed = free_tcp_port();
    let dead = format!("http://127.0.0.1:{closed}/api/v1/write");
    std::fs::write(&cfg, format!("{}{}", sim.text, remote(&dead))).unwrap();
    let retries = own_metric(http, "bandwatch_remote_write_retries_total").unwrap();
    let _ = Command::new("kill")
        .args(["-HUP", &daemon.0.id().to_string()])
        .status();
    wait_for("sends to fail after the reload", 60, || {
        own_metric(http, "bandwatch_remote_write_retries_total").unwrap_or(0.0) > retries
    });
    let sent = own_metric(http, "bandwatch_remote_write_samples_sent_total").unwrap();
    assert_eq!(
        own_metric(http, "bandwatch_remote_write_samples_dropped_total"),
        Some(0.0)
    );
    assert_eq!(
        own_metric(http, "bandwatch_remote_write_samples_failed_total"),
        Some(0.0)
    );

    // Every sample sent is in VictoriaMetrics, and the outage is covered.
    let all = export(vm_port, "{cluster=\"test\",replica=\"a\"}");
    let points: usize = all.iter().map(|(_, ts, _)| ts.len()).sum();
    eprintln!(
        "{points} points in VictoriaMetrics, {sent} samples sent, {queued} queued during the {outage} s outage"
    );
    assert_eq!(
        points as f64, sent,
        "points in VictoriaMetrics vs samples sent"
    );
    let ports = export(vm_port, "bandwatch_port_bytes_total");
    assert_eq!(ports.len(), 16);
    let min_inside = (outage as usize / 2).max(1);
    for (l, ts, _) in &ports {
        let inside = ts.iter().filter(|t| **t > down && **t < up_at).count();
        assert!(
            inside >= min_inside,
            "{l:?}: {inside} points inside the {outage} s outage"
        );
        // One point per collection: no timestamp twice.
        let distinct: BTreeSet<&i64> = ts.iter().collect();
        assert_eq!(distinct.len(), ts.len(), "{l:?}");
    }
    drop(vm);
}
