//! `bandwatch run` on PostgreSQL, end to end: the binary with `[store] backend = "postgres"`
//! and `url = "${BANDWATCH_PG_URL}"` against a test-started PostgreSQL, polling the
//! simulator over UDP. Its series reach `/metrics` and the store (read back by `bandwatch
//! query`), an alert reaches a real SMTP conversation through the outbox, and the monthly
//! report computes its 95th percentiles from the PostgreSQL data. Then two daemons, two
//! shards, one PostgreSQL: only the lease holder sends mail, and each alert is mailed once.
//! And PostgreSQL restarted under the daemon: nothing lost.

use crate::daemon_support;
use crate::notify_support;
use crate::pg_support;
use crate::store_support;

use std::path::Path;
use std::process::Command;

use daemon_support::{
    Kill, PG_STORE, for_daemon, free_tcp_port, http_get, lease_held as held, metric, simulate,
    smtp_ops, spawn_run_env, wait_for, with_shards,
};
use notify_support::{Mode, Sink};

const BIN: &str = env!("CARGO_BIN_EXE_bandwatch");

/// Fires on every simulated switch's uplink `eth1` (the simulator's base traffic is 100
/// Mbit/s): a steady firing alert per switch.
const RULES: &str = r#"
[[rule]]
name = "uplink-busy"
description = "Uplink above 1 Mbit/s"
kind = "threshold"
scope = "port"
match = { role = "uplink", port = "eth1" }
metric = "in_bps"
above = "1Mbps"
for = "2s"
clear_for = "30s"
severity = "warning"
notify = ["ops"]
"#;

/// The simulator's configuration with rules, the PostgreSQL store (its URL from the
/// environment, as a secret) and mail to `smtp`.
fn config(dir: &Path, text: &str, smtp: u16) -> String {
    std::fs::create_dir_all(dir.join("rules")).unwrap();
    std::fs::write(dir.join("rules/test.toml"), RULES).unwrap();
    format!("{text}{PG_STORE}{}", smtp_ops(smtp))
}

/// `bandwatch -c CFG ARGS...` with the database URL in the environment.
fn bandwatch(cfg: &Path, url: &str) -> Command {
    let mut c = Command::new(BIN);
    c.arg("-c").arg(cfg).env("BANDWATCH_PG_URL", url);
    c
}

fn run(cfg: &Path, url: &str, log: &Path) -> Kill {
    spawn_run_env(cfg, log, &[("BANDWATCH_PG_URL", url)])
}

/// The text of each message the SMTP server received about `uplink-busy` (every one is a
/// firing notice: the alerts keep firing during the tests).
fn firing(sink: &Sink) -> Vec<String> {
    sink.received()
        .iter()
        .map(|m| notify_support::Part::parse(&m.data))
        .map(|p| {
            format!(
                "{}\n{}",
                p.header("Subject").unwrap_or_default(),
                text_of(&p)
            )
        })
        .filter(|t| t.contains("uplink-busy"))
        .collect()
}

fn text_of(p: &notify_support::Part) -> String {
    p.find("text/plain").map(|t| t.text()).unwrap_or_default()
}

/// Every `p95` object's `max_bps` in a JSON report.
fn p95s(v: &serde_json::Value, out: &mut Vec<f64>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                if k == "p95"
                    && let Some(b) = x.get("max_bps").and_then(|b| b.as_f64())
                {
                    out.push(b);
                }
                p95s(x, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| p95s(x, out)),
        _ => {}
    }
}

#[test]
fn run_on_postgres_serves_series_mails_alerts_and_reports() {
    let Some(pg) = pg_support::shared() else {
        return;
    };
    let url = pg.database();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bw.toml");
    let sim = simulate(&cfg, 2, 4, &[], "rules_dir = \"rules\"\n");
    let smtp = Sink::start(Mode::Accept);
    std::fs::write(&cfg, config(dir.path(), &sim.text, smtp.port)).unwrap();
    let log = dir.path().join("run.log");
    let daemon = run(&cfg, url.expose(), &log);
    let logged = || std::fs::read_to_string(&log).unwrap_or_default();

    // Polled, written to PostgreSQL, and the alert mailed through the outbox.
    wait_for("sweeps written to PostgreSQL", 60, || {
        metric(sim.http, "bandwatch_store_sweeps_written_total ").is_some_and(|n| n >= 4.0)
    });
    wait_for("the uplink-busy emails", 60, || {
        let f = firing(&smtp);
        f.iter().any(|s| s.contains("sim-0000")) && f.iter().any(|s| s.contains("sim-0001"))
    });
    let (_, metrics) = http_get(sim.http, "/metrics").unwrap();
    assert!(
        metrics.contains("bandwatch_store_failing 0"),
        "{metrics}\n{}",
        logged()
    );
    assert!(metrics.contains("switch=\"sim-0001\""), "{metrics}");
    assert!(
        !logged().contains(url.expose()),
        "the URL is a secret: {}",
        logged()
    );
    let mut c = pg.client(&url);
    let mut count = |sql: &str| -> i64 { c.query_one(sql, &[]).unwrap().get(0) };
    assert!(count("SELECT COUNT(*) FROM port_sample WHERE dt_ms IS NOT NULL") > 0);
    assert!(count("SELECT COUNT(*) FROM rollup_5m") > 0);
    assert_eq!(
        count("SELECT COUNT(*) FROM notify_outbox WHERE state = 'sent'"),
        smtp.received().len() as i64
    );

    // The product line's series, read back from PostgreSQL by another process.
    wait_for("a product-line series in the store", 30, || {
        let out = bandwatch(&cfg, url.expose())
            .args(["query", "--entity", "product_line:cdn", "--from", "now-3m"])
            .args(["--step", "10s", "--format", "csv"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        out.status.success()
            && text
                .lines()
                .skip(1)
                .filter_map(|l| l.split(',').nth(1)?.parse::<f64>().ok())
                .any(|v| v > 1e6)
    });

    drop(daemon);

    // The monthly report: 95th percentiles from PostgreSQL's buckets. The daemon has run for
    // seconds, so two hours of last month are written through the store's writer, the same
    // sweeps into SQLite, and the report of that month must read the same from both.
    let topo_cfg = dir.path().join("topology.toml");
    std::fs::write(&topo_cfg, &sim.text).unwrap();
    let topology = std::sync::Arc::new(bandwatch::config::load(&topo_cfg).unwrap().config.topology);
    let day = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::UTC)
        .date()
        .first_of_month()
        .checked_sub(jiff::Span::new().days(10))
        .unwrap();
    let t0 = day
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp()
        .as_second();
    let lite =
        bandwatch::store::Store::open_in(&dir.path().join("var"), &Default::default()).unwrap();
    let pgs = bandwatch::store::Store::postgres(
        bandwatch::store::postgres::PgStore::connect(&url, &Default::default()).unwrap(),
    );
    for store in [&lite, &pgs] {
        let w = store.sink(topology.clone(), false).unwrap();
        for k in 0..120i64 {
            // 10 to 50 Mbit/s on the cdn uplink, with a 5-minute burst at 400 Mbit/s.
            let mbps = if (60..65).contains(&k) {
                400
            } else {
                10 + (k * 7) % 41
            } as u64;
            let octets = mbps * 1_000_000 / 8 * 60;
            w.submit(store_support::sweep(
                "sim-0000",
                store_support::at(t0 + 60 * (k + 1)),
                vec![("eth1", store_support::reading(60_000, octets, octets / 4))],
            ))
            .unwrap();
        }
        w.flush().unwrap();
    }
    let month = day.strftime("%Y-%m").to_string();
    let report = |cfg: &Path| -> serde_json::Value {
        let out = bandwatch(cfg, url.expose())
            .args(["report", "--month", &month, "--format", "json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let (on_pg, on_lite) = (report(&cfg), report(&topo_cfg));
    let mut p95 = Vec::new();
    p95s(&on_pg["product_lines"], &mut p95);
    assert!(
        p95.iter().any(|b| *b > 40e6),
        "95th from PostgreSQL: {p95:?}\n{on_pg}"
    );
    assert_eq!(on_pg["product_lines"], on_lite["product_lines"]);
    assert_eq!(on_pg["sites"], on_lite["sites"]);
}

#[test]
fn two_shards_on_postgres_mail_from_the_lease_holder_only() {
    let Some(pg) = pg_support::shared() else {
        return;
    };
    let url = pg.database();
    let dir = tempfile::tempdir().unwrap();
    let sim = simulate(
        &dir.path().join("sim.toml"),
        2,
        4,
        &[],
        "rules_dir = \"rules\"\n",
    );
    let smtp = Sink::start(Mode::Accept);
    let sharded = with_shards(&sim.text, &[("sim-0001", "a"), ("sim-0000", "b")]);
    let (http_a, http_b) = (sim.http, free_tcp_port());
    let text_a = for_daemon(&sharded, Some("a"), sim.http, http_a);
    let text_b = for_daemon(&sharded, Some("b"), sim.http, http_b);
    let mut daemons = Vec::new();
    for (name, text) in [("a", &text_a), ("b", &text_b)] {
        let cfg = dir.path().join(format!("{name}.toml"));
        std::fs::write(&cfg, config(dir.path(), text, smtp.port)).unwrap();
        daemons.push(run(
            &cfg,
            url.expose(),
            &dir.path().join(format!("{name}.log")),
        ));
    }
    wait_for(
        "one lease holder",
        60,
        || matches!((held(http_a), held(http_b)), (Some(x), Some(y)) if x + y == 1.0),
    );
    // Each daemon's rules fire for the uplink of the switch it polls; the holder mails both.
    wait_for("both alerts mailed", 60, || {
        let f = firing(&smtp);
        f.iter().any(|s| s.contains("sim-0000")) && f.iter().any(|s| s.contains("sim-0001"))
    });
    std::thread::sleep(std::time::Duration::from_secs(4));
    let sent = |http| {
        let (_, body) = http_get(http, "/metrics").unwrap();
        body.lines()
            .filter(|l| l.starts_with("bandwatch_notifications_total{") && l.contains("sent"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let (holder, other) = if held(http_a) == Some(1.0) {
        (http_a, http_b)
    } else {
        (http_b, http_a)
    };
    assert!(sent(holder) >= 1.0);
    assert_eq!(sent(other), 0.0, "only the lease holder sends");
    // Each alert once: its entity in exactly one FIRING message.
    let f = firing(&smtp);
    for sw in ["sim-0000", "sim-0001"] {
        assert_eq!(f.iter().filter(|s| s.contains(sw)).count(), 1, "{f:?}");
    }
    assert_eq!(smtp.received().len() as f64, sent(holder));
}

fn rfc3339(unix: i64) -> String {
    jiff::Timestamp::from_second(unix).unwrap().to_string()
}

/// Steady traffic for the restart test: every port 100 Mbit/s, nothing random; the uplinks
/// of the product line `cloud` (eth2) silent from the start.
const STEADY: &str = r#"
time_scale = 1.0
[traffic]
speed = "10Gbps"
base = "100Mbps"
daily = 0.0
weekly = 0.0
noise = 0.0
jitter = 0.0
bursts_per_day = 0.0
spread = 0.0

[[event]]
at = "0s"
kind = "drop"
percent = 0.0
ports = ["eth2"]
"#;

/// A product line's drop, judged on the store's 60 s slots: `cdn` (eth1 of both switches)
/// carries 200 Mbit/s, so one 2 s sample of a slot read as zero would take the slot to
/// 193 Mbit/s and fire it; `cloud` carries nothing and fires (the control).
const DROP_RULE: &str = r#"
[[rule]]
name = "line-drop"
kind = "threshold"
scope = "product_line"
metric = "in_bps"
below = "195Mbps"
for = "0s"
severity = "warning"
notify = ["ops"]
"#;

/// PostgreSQL restarted under a running daemon, for longer than its writer's queue holds
/// (`[store] max_queued_samples = 40`, 10 s of polls): the daemon says the store is failing,
/// keeps what it polls meanwhile, reconnects when the server is back and writes it; nothing
/// written before is lost, the samples beyond the queue's bound are stored as gaps with
/// their reason (`store_unavailable`), the product line's series shows the gap as missing
/// coverage, not as less traffic, and its drop rule does not fire.
#[test]
fn a_postgres_restart_under_the_daemon_loses_nothing_and_fires_no_false_drop() {
    let Some(pg) = pg_support::Pg::start() else {
        return;
    };
    let url = pg.database();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bw.toml");
    let scenario = dir.path().join("steady.toml");
    std::fs::write(&scenario, STEADY).unwrap();
    let sim = simulate(
        &cfg,
        2,
        4,
        &["--scenario".as_ref(), scenario.as_os_str()],
        "rules_dir = \"rules\"\n",
    );
    let smtp = Sink::start(Mode::Accept);
    let text = config(dir.path(), &sim.text, smtp.port)
        .replace("[store]\n", "[store]\nmax_queued_samples = 40\n");
    std::fs::write(&cfg, text).unwrap();
    std::fs::write(dir.path().join("rules/drop.toml"), DROP_RULE).unwrap();
    let log = dir.path().join("run.log");
    let _daemon = run(&cfg, url.expose(), &log);
    let logged = || std::fs::read_to_string(&log).unwrap_or_default();
    let written = || metric(sim.http, "bandwatch_store_sweeps_written_total ").unwrap_or(0.0);
    let failing = || metric(sim.http, "bandwatch_store_failing ");
    let drops = |line: &str| {
        notify_support::told(&smtp.received(), "FIRING")
            .get(&("line-drop".to_string(), format!("product line {line}")))
            .copied()
            .unwrap_or(0)
    };
    // The control: the silent product line's drop fires (the rule judges the store's slots).
    wait_for("the drop of `cloud` mailed", 120, || drops("cloud") == 1);
    let count = |sql: &str| -> i64 { pg.client(&url).query_one(sql, &[]).unwrap().get(0) };
    let before = count("SELECT COUNT(*) FROM port_sample");
    let last_before = count("SELECT MAX(ts) FROM port_sample");
    let stopped = jiff::Timestamp::now().as_second();
    pg.stop();
    wait_for("the writer to notice", 30, || failing() == Some(1.0));
    wait_for("/healthz to say the store cannot be written", 20, || {
        http_get(sim.http, "/healthz").is_some_and(|(code, body)| {
            code == 503 && body.contains("store_writer") && body.contains("postgresql postgres@")
        })
    });
    wait_for("the writer's queue to overflow into gaps", 60, || {
        logged().contains("the oldest queued samples are kept as gaps")
    });
    std::thread::sleep(std::time::Duration::from_secs(4));
    let restarted = jiff::Timestamp::now().as_second();
    pg.restart();
    let resumed_from = written();
    wait_for("writes to resume", 60, || {
        failing() == Some(0.0) && written() > resumed_from
    });
    // The store is back once the writer has reconnected (a loaded host starts the server and
    // the writer's retry comes after a back-off): polls until then may still overflow.
    let resumed = jiff::Timestamp::now().as_second();

    // Nothing written before the outage was lost.
    assert_eq!(
        count(&format!(
            "SELECT COUNT(*) FROM port_sample WHERE ts <= {last_before}"
        )),
        before
    );
    // The polls of the outage: the newest kept with their data, the oldest gaps that say
    // why; none is a zero.
    let during = |cond: &str| {
        count(&format!(
            "SELECT COUNT(*) FROM port_sample WHERE ts > {last_before} AND ts <= {restarted} \
             AND {cond}"
        ))
    };
    assert!(
        during("dt_ms IS NOT NULL") > 0,
        "samples of the outage kept"
    );
    let gaps = during(&format!(
        "flag = {}",
        bandwatch::store::flag::STORE_UNAVAILABLE
    ));
    assert!(gaps > 0, "the samples beyond the queue's bound are gaps");
    assert_eq!(
        gaps,
        during(&format!(
            "flag = {} AND dt_ms IS NULL AND in_octets IS NULL",
            bandwatch::store::flag::STORE_UNAVAILABLE
        )),
        "a gap carries no counts"
    );
    assert_eq!(
        count(&format!(
            "SELECT COUNT(*) FROM port_sample WHERE flag = {} AND (ts <= {last_before} OR \
             ts > {resumed})",
            bandwatch::store::flag::STORE_UNAVAILABLE
        )),
        0,
        "gaps only where the store was down"
    );

    // The product line's series over the outage, as a user reads it: a slot with less
    // coverage, never less traffic.
    let slot = |t: i64| t.div_euclid(60) * 60;
    let (from, to) = (slot(stopped) - 60, slot(restarted) + 60);
    wait_for("the slots of the outage to be complete", 150, || {
        jiff::Timestamp::now().as_second() > to + 20
    });
    let out = bandwatch(&cfg, url.expose())
        .args(["query", "--entity", "product_line:cdn", "--format", "csv"])
        .args([
            "--step",
            "60s",
            "--from",
            &rfc3339(from),
            "--to",
            &rfc3339(to),
        ])
        .output()
        .unwrap();
    let csv = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{csv}");
    let rows: Vec<(f64, f64)> = csv
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some((f.get(1)?.parse().ok()?, f.get(2)?.parse().ok()?))
        })
        .collect();
    assert!(
        rows.iter().any(|(_, coverage)| *coverage < 0.99),
        "the gap shows as missing coverage: {csv}"
    );
    assert!(
        rows.iter().all(|(bps, _)| (*bps - 200e6).abs() < 2e6),
        "every slot at 200 Mbit/s over what was measured: {csv}"
    );

    // No false drop: the rule judged the slots of the outage (the seal mark has passed
    // them) and neither fired nor mailed it.
    std::thread::sleep(std::time::Duration::from_secs(10));
    assert_eq!(
        count(
            "SELECT COUNT(*) FROM alert_history WHERE rule = 'line-drop' \
             AND entity = 'product_line:cdn'"
        ),
        0,
        "no drop of cdn, not even pending"
    );
    assert_eq!(
        drops("cdn"),
        0,
        "{:?}",
        notify_support::alerts_told(&smtp.received())
    );
    assert_eq!(drops("cloud"), 1);
    let logged = logged();
    assert!(logged.contains("PostgreSQL write failed"), "{logged}");
    assert!(!logged.contains(url.expose()), "{logged}");
}
