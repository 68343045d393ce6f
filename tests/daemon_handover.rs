//! Handover during an attack, as a user would run it: three `bandwatch run` on one store
//! (one SQLite file; again on one PostgreSQL database) and a simulated fleet of two switches: daemons a1 and a2 are an HA pair
//! on shard `a` (switch sim-0000), daemon b polls shard `b` (sim-0001). Mail goes to a real
//! SMTP server (mailin-embedded in this process). Traffic spikes on five ports in two waves;
//! the lease holder a1 is killed with SIGKILL while the first wave fires, after its firing
//! messages were accepted and marked sent. Another daemon takes the lease over; the first
//! wave's resolutions and the second wave's firings and resolutions come from it. Every
//! alert reaches the server exactly once as FIRING and once as RESOLVED, although a1 and a2
//! both evaluated the shard's ports; the pair stored each poll slot once, so no 5-minute
//! slot of the 95th counts a poll twice.

use crate::daemon_support;
use crate::notify_support;
use crate::pg_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use daemon_support::{
    Kill, PG_STORE, for_daemon, free_tcp_port, http_get, lease_held, metric, simulate, smtp_ops,
    spawn_run_env, wait_for, with_shards,
};
use notify_support::{Mode, Sink, alerts_told};

const RULES: &str = r#"
[[rule]]
name = "port-attack"
description = "Inbound traffic above 300 Mbit/s on a port"
kind = "threshold"
scope = "port"
metric = "in_bps"
above = "300Mbps"
for = "4s"
clear_for = "4s"
severity = "critical"
notify = ["ops"]
"#;

/// Base traffic far below the threshold; two waves of spikes eight times over it. The first
/// starts as the daemons do and lasts two minutes, so that the kill comes while it fires even
/// on a loaded machine (three debug-built daemons starting on two busy cores); the second
/// starts after the takeover.
const SCENARIO: &str = r#"
time_scale = 1.0
[traffic]
speed = "10Gbps"
base = "50Mbps"
daily = 0.0
weekly = 0.0
noise = 0.0
spread = 0.0

[[event]]
at = "5s"
kind = "spike"
factor = 8.0
duration = "120s"
switches = ["sim-0000"]
ports = ["eth1", "eth2"]

[[event]]
at = "5s"
kind = "spike"
factor = 8.0
duration = "120s"
switches = ["sim-0001"]
ports = ["eth1"]

[[event]]
at = "135s"
kind = "spike"
factor = 8.0
duration = "20s"
switches = ["sim-0000"]
ports = ["eth3"]

[[event]]
at = "135s"
kind = "spike"
factor = 8.0
duration = "20s"
switches = ["sim-0001"]
ports = ["eth2"]
"#;

fn held(http: u16) -> bool {
    lease_held(http) == Some(1.0)
}

fn sent(http: u16) -> f64 {
    metric(
        http,
        "bandwatch_notifications_total{route=\"ops\",result=\"sent\"} ",
    )
    .unwrap_or(0.0)
}

/// How many times each alert ("switch port") was told as `kind`.
fn told(sink: &Sink, kind: &str) -> BTreeMap<String, usize> {
    notify_support::told(&sink.received(), kind)
        .into_iter()
        .map(|((_, place), n)| (place, n))
        .collect()
}

fn start(dir: &Path, name: &str, text: &str, env: &[(&str, &str)]) -> Kill {
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(&cfg, text).unwrap();
    spawn_run_env(&cfg, &dir.join(format!("{name}.log")), env)
}

/// One at a time: each runs three daemons against the clock of an attack.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn the_lease_holder_killed_during_an_attack_every_alert_is_mailed_once_and_resolved_once() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    handover(None);
}

/// The same on one PostgreSQL.
#[test]
fn the_lease_holder_killed_on_postgres_every_alert_is_mailed_once_and_resolved_once() {
    let Some(pg) = pg_support::shared() else {
        return;
    };
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    handover(Some((pg, pg.database())));
}

/// Runs the handover on a shared SQLite file (`None`) or on a PostgreSQL database.
fn handover(pg: Option<(&pg_support::Pg, bandwatch::config::Secret)>) {
    let url = pg.as_ref().map(|(_, url)| url.expose().to_string());
    let env: Vec<(&str, &str)> = url
        .iter()
        .map(|u| ("BANDWATCH_PG_URL", u.as_str()))
        .collect();
    let sink = Sink::start(Mode::Accept);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/attack.toml"), RULES).unwrap();
    let scenario = dir.path().join("scenario.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let sim = simulate(
        &dir.path().join("sim.toml"),
        2,
        4,
        &["--scenario".as_ref(), scenario.as_os_str()],
        "rules_dir = \"rules\"\n",
    );
    let mut text =
        with_shards(&sim.text, &[("sim-0000", "a"), ("sim-0001", "b")]) + &smtp_ops(sink.port);
    if pg.is_some() {
        text.push_str(PG_STORE);
    }
    let config = |shard: &str, http: u16| for_daemon(&text, Some(shard), sim.http, http);
    let (http_a1, http_a2, http_b) = (sim.http, free_tcp_port(), free_tcp_port());

    // a1 first: it creates the store and takes the lease; then its pair and shard b.
    let mut a1 = Some(start(dir.path(), "a1", &config("a", http_a1), &env));
    wait_for("a1 to hold the lease", 60, || held(http_a1));
    let _a2 = start(dir.path(), "a2", &config("a", http_a2), &env);
    let _b = start(dir.path(), "b", &config("b", http_b), &env);
    for http in [http_a2, http_b] {
        wait_for("the other daemons polling", 60, || {
            http_get(http, "/metrics").is_some_and(|(_, b)| b.contains("bandwatch_switch_up{"))
        });
    }

    // The first wave fires: a1 mails it (its pair's identical notices are not queued).
    let first_wave = ["sim-0000 eth1", "sim-0000 eth2", "sim-0001 eth1"];
    wait_for("the first wave's firing messages", 90, || {
        let f = told(&sink, "FIRING");
        first_wave.iter().all(|p| f.contains_key(*p))
    });
    // Every message the server took was marked sent by a1 before it dies (a kill between
    // the server's acceptance and the mark is the one window where a message goes twice).
    wait_for("a1 to mark what it sent", 30, || {
        sent(http_a1) as usize == sink.received().len()
    });
    assert!(
        told(&sink, "RESOLVED").is_empty(),
        "the kill must come while the first wave fires: {:?}",
        alerts_told(&sink.received())
    );
    // Which of the pair stores a poll slot first is a race each slot: read a1's count of
    // slots it found stored by a2 while it still answers.
    let dups_a1 = metric(http_a1, "bandwatch_store_duplicate_samples_total ").unwrap_or(0.0);
    drop(a1.take()); // SIGKILL: no release, the lease has to expire.
    let killed = std::time::Instant::now();

    wait_for("a2 or b to take the lease over", 60, || {
        held(http_a2) || held(http_b)
    });
    // A figure for the record (poll interval 2 s, lease time to live 3 s), not a check.
    eprintln!("lease taken over {:?} after the kill", killed.elapsed());
    let all = [
        "sim-0000 eth1",
        "sim-0000 eth2",
        "sim-0001 eth1",
        "sim-0000 eth3",
        "sim-0001 eth2",
    ];
    wait_for("every alert fired and resolved", 240, || {
        let (f, r) = (told(&sink, "FIRING"), told(&sink, "RESOLVED"));
        all.iter().all(|p| f.contains_key(*p) && r.contains_key(*p))
    });
    // Time for a late duplicate to arrive, if one were owed.
    std::thread::sleep(Duration::from_secs(6));

    let got = alerts_told(&sink.received());
    for kind in ["FIRING", "RESOLVED"] {
        let counts = told(&sink, kind);
        let expect: BTreeMap<String, usize> = all.iter().map(|p| (p.to_string(), 1)).collect();
        assert_eq!(counts, expect, "{kind}: {got:#?}");
    }
    assert!(
        got.iter().all(|(_, rule, _)| rule == "port-attack"),
        "{got:?}"
    );

    // The HA pair: each found poll slots the other had stored (while both ran; which one
    // stores a slot first is a race), and the shared store has one sample per poll slot of
    // sim-0000's ports, not two.
    let dups = metric(http_a2, "bandwatch_store_duplicate_samples_total ").unwrap_or(0.0);
    assert!(
        dups_a1 + dups > 0.0,
        "neither of the pair met a slot the other had stored"
    );
    let sql = "SELECT COUNT(*), MIN(ts), MAX(ts) FROM port_sample WHERE series_id = \
               (SELECT id FROM series WHERE kind = 'port' AND name = 'sim-0000/eth1')";
    let (rows, first, last): (i64, i64, i64) = match &pg {
        Some((pg, url)) => {
            let r = pg.client(url).query_one(sql, &[]).unwrap();
            (r.get(0), r.get(1), r.get(2))
        }
        None => rusqlite::Connection::open_with_flags(
            dir.path().join("var/bandwatch.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap()
        .query_row(sql, [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap(),
    };
    // Polled every 2 s by two daemons for most of the run: at most one row per slot.
    assert!(
        rows <= (last - first) / 2 + 2,
        "{rows} samples in {} s of 2 s slots",
        last - first
    );
}
