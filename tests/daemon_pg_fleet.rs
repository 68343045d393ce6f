//! Several daemons give what one daemon gives: three `bandwatch run` on one PostgreSQL
//! database (shard `a` polled by the HA pair a1 + a2, shard `b` by b) and one `bandwatch run`
//! polling everything into a database of its own, all four polling the same simulator
//! (two switches, one per shard) with the same traffic script. The product lines `cdn` (the
//! eth1 uplinks of both switches) and `cloud` (the eth2 uplinks) span both shards. In both
//! set-ups: the same 5-minute slots of every aggregate and port, the same 60 s slots of
//! `cdn`, the same alerts at a real SMTP server (each once, the product line's only when
//! both shards' traffic is added), and the same monthly report for the product lines and
//! the site.
//!
//! Timing: the script is silent but for one 5-minute slot that every daemon measured in
//! full (traffic from its 20th to its 260th second, a spike on both eth1 inside it), so the
//! slot's bytes are the same whenever each daemon started or stopped; the edges of the run
//! are slots of zero traffic. What may differ is which of the pair's daemons stored a
//! poll slot: their counters were read milliseconds apart, hence the 1 % margin.

use crate::daemon_support;
use crate::notify_support;
use crate::pg_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use daemon_support::{
    PG_STORE, for_daemon, free_tcp_port, lease_held, metric, simulate, smtp_ops, spawn_run_env,
    wait_for, with_shards,
};
use notify_support::{Mode, Sink, alerts_told, told};

/// An attack on a port (500 Mbit/s: only the spiked eth1 uplinks), and one on the product
/// line `cdn` above 1.2 Gbit/s: its two uplinks carry 800 Mbit/s each in the spike, so it
/// fires only when both shards' traffic is added up.
const RULES: &str = r#"
[[rule]]
name = "port-attack"
kind = "threshold"
scope = "port"
metric = "in_bps"
above = "500Mbps"
for = "10s"
clear_for = "10s"
severity = "critical"
notify = ["ops"]

[[rule]]
name = "cdn-attack"
kind = "threshold"
scope = "product_line"
match = { product_line = "cdn" }
metric = "in_bps"
above = "1.2Gbps"
for = "0s"
clear_for = "0s"
severity = "critical"
notify = ["ops"]
"#;

/// The traffic script, in seconds since the simulator's start (`t0`, unix seconds): 100
/// Mbit/s a port, steady, only within `[slot + 20, slot + 260)` of the 5-minute slot
/// starting at `slot`; eth1 of both switches eight times that for 150 s from `slot + 60`.
fn scenario(t0: i64, slot: i64) -> String {
    let at = |t: i64| t - t0;
    format!(
        r#"time_scale = 1.0
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
duration = "{}s"

[[event]]
at = "{}s"
kind = "spike"
factor = 8.0
duration = "150s"
ports = ["eth1"]

[[event]]
at = "{}s"
kind = "drop"
percent = 0.0
"#,
        at(slot + 20),
        at(slot + 60),
        at(slot + 260)
    )
}

fn env(url: &str) -> [(&'static str, &str); 1] {
    [("BANDWATCH_PG_URL", url)]
}

/// Each series' in and out octets and covered milliseconds in the 5-minute slot starting at
/// `slot`: the aggregates' rollups, and the ports' raw samples that end in it.
fn five_minutes(c: &mut postgres::Client, slot: i64) -> BTreeMap<String, (f64, f64, f64)> {
    let mut out = BTreeMap::new();
    let rows = c
        .query(
            "SELECT s.kind || ':' || s.name, r.in_octets::float8, r.out_octets::float8, \
             r.covered_ms FROM rollup_5m r JOIN series s ON s.id = r.series_id \
             WHERE r.bucket = $1",
            &[&(slot / 300)],
        )
        .unwrap();
    for r in rows {
        out.insert(r.get(0), (r.get(1), r.get(2), r.get(3)));
    }
    let rows = c
        .query(
            "SELECT 'port:' || s.name, SUM(p.in_octets)::float8, SUM(p.out_octets)::float8, \
             SUM(p.dt_ms)::float8 FROM port_sample p JOIN series s ON s.id = p.series_id \
             WHERE p.ts > $1 AND p.ts <= $2 AND p.dt_ms IS NOT NULL GROUP BY s.name",
            &[&slot, &(slot + 300)],
        )
        .unwrap();
    for r in rows {
        out.insert(r.get(0), (r.get(1), r.get(2), r.get(3)));
    }
    out
}

/// `cdn`'s in and out octets per 60 s slot of the 5-minute slot starting at `slot`.
fn cdn_minutes(c: &mut postgres::Client, slot: i64) -> Vec<(i64, f64, f64)> {
    c.query(
        "SELECT a.bucket * 60, a.in_octets::float8, a.out_octets::float8 FROM agg_slot a \
         JOIN series s ON s.id = a.series_id \
         WHERE s.kind = 'product_line' AND s.name = 'cdn' AND a.bucket >= $1 AND a.bucket < $2 \
         ORDER BY a.bucket",
        &[&(slot / 60), &(slot / 60 + 5)],
    )
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

/// Within 1 % of each other (and 1 kB, for values near zero).
fn near(a: f64, b: f64) -> bool {
    (a - b).abs() <= 0.01 * a.abs().max(b.abs()) + 1000.0
}

/// The monthly report of `month` as JSON, read by `bandwatch report` from `cfg`'s store.
fn report(cfg: &Path, url: &str, month: &str) -> serde_json::Value {
    let out = std::process::Command::new(daemon_support::BIN)
        .arg("-c")
        .arg(cfg)
        .args(["report", "--month", month, "--format", "json"])
        .envs(env(url))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// This month's figures of each product line and site that can differ with who measured:
/// name -> [in octets, out octets, 95th in, 95th out, 95th max].
fn groups(r: &serde_json::Value) -> BTreeMap<String, Vec<f64>> {
    let mut out = BTreeMap::new();
    for kind in ["product_lines", "sites"] {
        for g in r[kind].as_array().unwrap() {
            let this = &g["this"];
            let f = |v: &serde_json::Value| v.as_f64().unwrap_or(-1.0);
            out.insert(
                format!("{kind}:{}", g["name"].as_str().unwrap()),
                vec![
                    f(&this["in_octets"]),
                    f(&this["out_octets"]),
                    f(&this["p95"]["in_bps"]),
                    f(&this["p95"]["out_bps"]),
                    f(&this["p95"]["max_bps"]),
                ],
            );
        }
    }
    out
}

#[test]
fn three_daemons_on_shards_match_one_daemon_polling_everything() {
    let Some(pg) = pg_support::shared() else {
        return;
    };
    let (url_fleet, url_one) = (pg.database(), pg.database());
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/attack.toml"), RULES).unwrap();

    // The slot with traffic: the first 5-minute slot starting a minute from now or later,
    // so that every daemon measures it whole.
    let t0 = jiff::Timestamp::now().as_second();
    let slot = (t0 + 60 + 299) / 300 * 300;
    let script = dir.path().join("scenario.toml");
    std::fs::write(&script, scenario(t0, slot)).unwrap();
    let sim = simulate(
        &dir.path().join("sim.toml"),
        2,
        4,
        &["--scenario".as_ref(), script.as_os_str()],
        "rules_dir = \"rules\"\n",
    );
    // Polls every 5 s (the simulator's config says 2 s): four daemons on two cores.
    let text = sim
        .text
        .replacen("interval = \"2s\"", "interval = \"5s\"", 1);
    assert!(text.contains("interval = \"5s\""), "{text}");
    let (smtp_fleet, smtp_one) = (Sink::start(Mode::Accept), Sink::start(Mode::Accept));
    let fleet = with_shards(&text, &[("sim-0000", "a"), ("sim-0001", "b")])
        + PG_STORE
        + &smtp_ops(smtp_fleet.port);
    let one = text.clone() + PG_STORE + &smtp_ops(smtp_one.port);

    let write = |name: &str, text: String| {
        let cfg = dir.path().join(format!("{name}.toml"));
        std::fs::write(&cfg, text).unwrap();
        cfg
    };
    let http = [sim.http, free_tcp_port(), free_tcp_port(), free_tcp_port()];
    let cfgs = [
        write("a1", for_daemon(&fleet, Some("a"), sim.http, http[0])),
        write("a2", for_daemon(&fleet, Some("a"), sim.http, http[1])),
        write("b", for_daemon(&fleet, Some("b"), sim.http, http[2])),
        write("one", for_daemon(&one, None, sim.http, http[3])),
    ];
    let urls = [&url_fleet, &url_fleet, &url_fleet, &url_one];
    let log = |i: usize| dir.path().join(format!("{i}.log"));
    // a1 first: it creates the shared schema and takes the lease.
    let mut daemons = vec![spawn_run_env(&cfgs[0], &log(0), &env(urls[0].expose()))];
    wait_for("a1 to hold the lease", 60, || {
        lease_held(http[0]) == Some(1.0)
    });
    for (i, (cfg, url)) in cfgs.iter().zip(urls).enumerate().skip(1) {
        daemons.push(spawn_run_env(cfg, &log(i), &env(url.expose())));
    }
    for (i, h) in http.iter().enumerate() {
        wait_for(&format!("daemon {i} measuring"), 60, || {
            metric(*h, "bandwatch_store_sweeps_written_total ").is_some_and(|n| n >= 3.0)
        });
    }
    assert!(
        jiff::Timestamp::now().as_second() < slot,
        "the daemons took over a minute to start: the slot at {slot} is not measured whole"
    );

    // Each alert fired and resolved at both SMTP servers.
    let expected: BTreeMap<(String, String), usize> = [
        ("port-attack", "sim-0000 eth1"),
        ("port-attack", "sim-0001 eth1"),
        ("cdn-attack", "product line cdn"),
    ]
    .iter()
    .map(|(r, p)| ((r.to_string(), p.to_string()), 1))
    .collect();
    let done = |sink: &Sink| {
        let got = sink.received();
        ["FIRING", "RESOLVED"]
            .iter()
            .all(|k| expected.keys().all(|a| told(&got, k).contains_key(a)))
    };
    let wait_secs = (slot + 420 - jiff::Timestamp::now().as_second()).max(60) as u64;
    wait_for("every alert fired and resolved in both", wait_secs, || {
        done(&smtp_fleet) && done(&smtp_one)
    });
    // The slot closed and written by every daemon; time for a late duplicate, if one were owed.
    wait_for("the slot to be closed", 120, || {
        jiff::Timestamp::now().as_second() > slot + 300 + 20
    });
    std::thread::sleep(Duration::from_secs(6));

    // The same alerts, each told once as FIRING and once as RESOLVED.
    for kind in ["FIRING", "RESOLVED"] {
        let (f, o) = (
            told(&smtp_fleet.received(), kind),
            told(&smtp_one.received(), kind),
        );
        assert_eq!(
            f,
            expected,
            "{kind}: {:#?}",
            alerts_told(&smtp_fleet.received())
        );
        assert_eq!(
            o,
            expected,
            "{kind}: {:#?}",
            alerts_told(&smtp_one.received())
        );
    }

    // The same series: every aggregate's and port's 5-minute slot, cdn's 60 s slots.
    let (mut cf, mut co) = (pg.client(&url_fleet), pg.client(&url_one));
    let (sf, so) = (five_minutes(&mut cf, slot), five_minutes(&mut co, slot));
    assert_eq!(
        sf.keys().collect::<Vec<_>>(),
        so.keys().collect::<Vec<_>>(),
        "the same series"
    );
    let cdn = sf["product_line:cdn"];
    // 240 s at 200 Mbit/s and 150 s at 1.4 Gbit/s more.
    let bytes = (240.0 * 200e6 + 150.0 * 1.4e9) / 8.0;
    assert!(
        (cdn.0 - bytes).abs() < 0.02 * bytes,
        "cdn: {cdn:?}, {bytes}"
    );
    for (name, f) in &sf {
        let o = so[name];
        assert!(
            near(f.0, o.0) && near(f.1, o.1) && near(f.2, o.2),
            "{name}: fleet {f:?}, one daemon {o:?}"
        );
    }
    let (mf, mo) = (cdn_minutes(&mut cf, slot), cdn_minutes(&mut co, slot));
    assert_eq!(mf.len(), 5, "{mf:?}");
    assert_eq!(mf.len(), mo.len(), "{mf:?}\n{mo:?}");
    for (f, o) in mf.iter().zip(&mo) {
        assert!(
            f.0 == o.0 && near(f.1, o.1) && near(f.2, o.2),
            "cdn's 60 s slots: fleet {mf:?}, one daemon {mo:?}"
        );
    }
    // Each poll slot of the pair's switch stored once (a2 met slots a1 had stored).
    assert!(metric(http[1], "bandwatch_store_duplicate_samples_total ").unwrap_or(0.0) > 0.0);
    drop(daemons);

    // The same monthly report for the product lines and the site.
    let month = jiff::Timestamp::from_second(slot)
        .unwrap()
        .strftime("%Y-%m")
        .to_string();
    let (rf, ro) = (
        groups(&report(&cfgs[0], url_fleet.expose(), &month)),
        groups(&report(&cfgs[3], url_one.expose(), &month)),
    );
    assert_eq!(
        rf.keys().collect::<Vec<_>>(),
        vec!["product_lines:cdn", "product_lines:cloud", "sites:sim"]
    );
    assert_eq!(rf.keys().collect::<Vec<_>>(), ro.keys().collect::<Vec<_>>());
    for (name, f) in &rf {
        let o = &ro[name];
        assert!(
            f.iter().zip(o).all(|(x, y)| *x > 0.0 && near(*x, *y)),
            "{name} (in, out, 95th in, out, max): fleet {f:?}, one daemon {o:?}"
        );
    }
    // The 95th of cdn is the slot with traffic: its bytes over 300 s.
    let p95 = rf["product_lines:cdn"][2];
    assert!(
        (p95 - cdn.0 * 8.0 / 300.0).abs() < 0.01 * p95,
        "{p95} {cdn:?}"
    );
}
