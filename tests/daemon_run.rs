//! `bandwatch run` end to end, as an operator runs it: a simulated fleet served over real UDP
//! SNMP by `bandwatch simulate` (another process), the daemon polling it, `/metrics` scraped
//! over HTTP, a bad reload rejected while the running config stays in force, a good reload
//! applied, SIGTERM, and the SQLite file read back with `bandwatch query`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::daemon_support;

use daemon_support::*;

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn run_polls_serves_reloads_and_stores() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bw.toml");
    let Simulated { sim, http, text } = simulate(&cfg, 2, 6, &[], "");
    std::fs::write(&cfg, &text).unwrap();

    let log = dir.path().join("run.log");
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let mut daemon = Kill(
        Command::new(BIN)
            .arg("-c")
            .arg(&cfg)
            .arg("run")
            .env("RUST_LOG", "info,bandwatch::daemon=debug")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    // Two sweeps give rates: the uplink of sim-0000 (queried from the store below) shows a
    // measured rate. Its own, not any switch's: the two switches have different phases.
    let uplink = "port=\"eth1\"";
    wait_for("measured rates on /metrics", 40, || {
        http_get(http, "/metrics").is_some_and(|(c, b)| {
            c == 200
                && b.lines().any(|l| {
                    l.starts_with("bandwatch_port_bytes_per_second{")
                        && l.contains("switch=\"sim-0000\",port=\"eth1\"")
                })
        })
    });
    let (_, body) = http_get(http, "/metrics").unwrap();
    assert!(
        body.contains("bandwatch_switch_up{switch=\"sim-0000\",site=\"sim\"} 1"),
        "{body}"
    );
    assert!(
        body.contains("bandwatch_poll_duration_seconds_count{switch=\"sim-0000\"}"),
        "{body}"
    );
    assert!(body.contains(
        "bandwatch_product_line_bytes_per_second{product_line=\"cdn\",direction=\"in\"}"
    ));
    // Ports attributed by their ifAlias (`Cust: NAME`) are exported with their customer.
    assert!(
        body.lines()
            .any(|l| l.starts_with("bandwatch_port_oper_up{")
                && l.contains("port=\"eth4\"")
                && !l.contains("customer=\"\"")),
        "{body}"
    );
    let (code, health) = http_get(http, "/healthz").unwrap();
    assert_eq!(code, 200, "{health}");
    process_metrics_match_the_system(&body, daemon.0.id(), started);
    // The whole scrape of the real daemon, every source's families, as Prometheus lints it.
    promtool_check(&body);
    let cpu = metric(&body, "process_cpu_seconds_total").unwrap();
    wait_for("the daemon's CPU time to rise as it polls", 20, || {
        http_get(http, "/metrics")
            .is_some_and(|(_, b)| metric(&b, "process_cpu_seconds_total").is_some_and(|c| c > cpu))
    });

    // Another connection (a `sqlite3` shell, an import's merge) holds the store's write lock
    // for 3.5 s, longer than a poll interval (2 s) and shorter than the store's busy timeout
    // (5 s): the writer waits for it and counts that apart from its own write time.
    let db = dir.path().join("var/bandwatch.db");
    let (_, now) = http_get(http, "/metrics").unwrap();
    let waited = metric(&now, "bandwatch_store_write_lock_wait_seconds_total").unwrap();
    let wrote = metric(&now, "bandwatch_store_write_seconds_sum").unwrap();
    let shell = rusqlite::Connection::open(&db).unwrap();
    shell.execute_batch("BEGIN IMMEDIATE").unwrap();
    let taken = Instant::now();
    std::thread::sleep(Duration::from_millis(3500));
    shell.execute_batch("COMMIT").unwrap();
    // How long the lock was really held (a loaded host wakes the sleep late).
    let held = taken.elapsed().as_secs_f64();
    drop(shell);
    wait_for("the wait for the lock on /metrics", 20, || {
        http_get(http, "/metrics").is_some_and(|(_, b)| {
            metric(&b, "bandwatch_store_write_lock_wait_seconds_total")
                .is_some_and(|w| w - waited >= 1.0)
        })
    });
    let (_, b) = http_get(http, "/metrics").unwrap();
    let waited = metric(&b, "bandwatch_store_write_lock_wait_seconds_total").unwrap() - waited;
    let wrote = metric(&b, "bandwatch_store_write_seconds_sum").unwrap() - wrote;
    // At most the hold, plus SQLite's busy-retry step and a scheduling delay.
    assert!(
        waited <= held + 0.5 && wrote < waited,
        "waited {waited} s of a {held} s hold, wrote {wrote} s"
    );

    // A broken file on SIGHUP: rejected, the daemon keeps running with the old config.
    std::fs::write(&cfg, format!("{text}\n[[switch]\n")).unwrap();
    signal(&daemon.0, "HUP");
    wait_for("the rejected reload in the log", 20, || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("reload rejected"))
    });
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("bw.toml:"),
        "the error names the file and line:\n{logged}"
    );
    // The code the start and the reload ran is given back (or the kernel says why not).
    for after in ["the start ran", "the reload ran"] {
        assert!(
            logged.contains(&format!("gave back the code pages {after}"))
                || logged.contains(&format!("give back the code pages {after}")),
            "{after}:\n{logged}"
        );
    }
    assert!(http_get(http, "/metrics").is_some_and(|(c, b)| c == 200 && b.contains(uplink)));

    // A good reload that removes sim-0001's eth2: its series vanish from /metrics.
    let removed = "[[port]]\nswitch = \"sim-0001\"\nname = \"eth2\"\nproduct_line = \"cloud\"\nrole = \"uplink\"\n";
    assert!(text.contains(removed));
    std::fs::write(&cfg, text.replace(removed, "")).unwrap();
    signal(&daemon.0, "HUP");
    wait_for("the port gone after reload", 20, || {
        http_get(http, "/metrics").is_some_and(|(_, b)| {
            !b.lines()
                .any(|l| l.contains("switch=\"sim-0001\",port=\"eth2\""))
                && b.contains(uplink)
        })
    });

    signal(&daemon.0, "TERM");
    let t = Instant::now();
    let status = loop {
        if let Some(s) = daemon.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "daemon did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "exit status {status}");
    drop(sim);

    // The stored series, read back as a user would.
    let out = Command::new(BIN)
        .arg("-c")
        .arg(&cfg)
        .args([
            "query",
            "--entity",
            "port:sim-0000/eth1",
            "--metric",
            "in_bps",
            "--from",
            "now-10m",
            "--to",
        ])
        // The current minute is the one being written: ask past its end.
        .arg((jiff::Timestamp::now() + jiff::SignedDuration::from_secs(120)).to_string())
        .args(["--format", "csv"])
        .output()
        .unwrap();
    let csv = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let known = csv
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(1).is_some_and(|v| !v.trim().is_empty()))
        .count();
    if known == 0 {
        let log = std::fs::read_to_string(dir.path().join("run.log")).unwrap_or_default();
        let raw = Command::new(BIN)
            .arg("-c")
            .arg(&cfg)
            .args([
                "query",
                "--entity",
                "port:sim-0000/eth1",
                "--metric",
                "in_bytes",
                "--from",
                "now-10m",
                "--tier",
                "raw",
                "--format",
                "csv",
            ])
            .output()
            .unwrap();
        panic!(
            "stored rates expected:\n{csv}\nraw:\n{}{}\nlog:\n{log}",
            String::from_utf8_lossy(&raw.stdout),
            String::from_utf8_lossy(&raw.stderr)
        );
    }
    assert!(Path::new(&dir.path().join("var/bandwatch.db")).exists());
}

/// The value of an unlabelled sample `name` in an exposition.
fn metric(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

/// The daemon's `process_*` families and its memory by kind say what the system says of the
/// process `pid` (read here from `/proc`, independently), and SQLite's memory is there.
fn process_metrics_match_the_system(body: &str, pid: u32, started: f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib = |key: &str| -> f64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap()
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<f64>()
            .unwrap()
            * 1024.0
    };
    let rss = metric(body, "process_resident_memory_bytes").expect("process_resident_memory_bytes");
    let sys = kib("VmRSS:");
    assert!(
        (rss - sys).abs() < 0.25 * sys,
        "resident {rss} on /metrics, {sys} in /proc/{pid}/status"
    );
    let by_kind = |kind: &str| {
        metric(
            body,
            &format!("bandwatch_resident_memory_bytes{{kind=\"{kind}\"}}"),
        )
        .unwrap_or_else(|| panic!("{kind} memory missing:\n{body}"))
    };
    let (anon, file) = (by_kind("anonymous"), by_kind("file"));
    assert!(anon > 0.0 && file > 0.0, "{anon} {file}");
    assert!(
        (anon + file - rss).abs() < 0.25 * rss,
        "anonymous {anon} + file {file} against resident {rss}"
    );
    assert!(metric(body, "process_virtual_memory_bytes").unwrap() > rss);
    let start = metric(body, "process_start_time_seconds").unwrap();
    assert!(
        start >= started - 2.0 && start <= started + 30.0,
        "started at {start}, the test launched it at {started}"
    );
    let fds = metric(body, "process_open_fds").unwrap();
    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count() as f64;
    // The store's connections, the sockets: more than the three standard streams.
    assert!(
        fds > 3.0 && (fds - open).abs() <= 4.0,
        "{fds} on /metrics, {open} in /proc"
    );
    if let Some(max) = metric(body, "process_max_fds") {
        assert!(max >= fds);
    }
    assert!(metric(body, "process_threads").unwrap() >= 2.0);
    let sqlite = metric(body, "bandwatch_store_sqlite_memory_bytes").unwrap();
    let high = metric(body, "bandwatch_store_sqlite_memory_highwater_bytes").unwrap();
    assert!(
        sqlite > 0.0 && high >= sqlite,
        "SQLite {sqlite}, high-water mark {high}"
    );
}
