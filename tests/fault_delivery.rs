//! Nothing lost, nothing invented, when things break around an alert's transition: the
//! state change and the notices it owes are written in one transaction, so a full disk or a
//! crash leaves all of them or none. Real SQLite files; the rules thread as the daemon runs
//! it; the store's write refused the way a full disk refuses it (ENOSPC).

use crate::daemon_support;
use crate::store_support;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bandwatch::config::{Config, SourceFile};
use bandwatch::daemon::Alerting;
use bandwatch::rules::file::parse_source;
use bandwatch::rules::rule::Rule;
use bandwatch::rules::view::AlertsView;
use bandwatch::store::alerts::{AlertCommit, AlertRow, HistoryRow};
use bandwatch::store::{AlertStore, Store, StoreError};
use daemon_support::{BIN, Simulated, simulate, spawn_run_appending};
use jiff::Timestamp;
use rusqlite::Connection;
use store_support::{reading, sweep};

const CONFIG: &str = r#"
[daemon]
data_dir = "var"

[snmp.default]
version = "2c"
community = "${BANDWATCH_TEST_COMMUNITY:-public}"

[email]
transport = "file"
from = "bandwatch <bandwatch@example.net>"
group_wait = "1s"

[[site]]
name = "s"

[[switch]]
name = "sw"
site = "s"
address = "127.0.0.1:16100"
interval = "10s"

[[port]]
switch = "sw"
name = "up"
role = "uplink"

[[route]]
name = "ops"
email = ["noc@example.net"]
"#;

const RULES: &str = r#"
[[rule]]
name = "uplink-busy"
kind = "threshold"
scope = "port"
metric = "in_bps"
above = "1Mbps"
clear_for = "0s"
notify = ["ops"]
"#;

fn setup() -> (tempfile::TempDir, Config, Vec<Rule>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bandwatch.toml");
    std::fs::write(&path, CONFIG).unwrap();
    let config = bandwatch::config::load(&path).unwrap().config;
    std::fs::create_dir_all(&config.daemon.data_dir).unwrap();
    let src = SourceFile {
        path: dir.path().join("rules.toml"),
        text: RULES.into(),
    };
    let (rules, diags) = parse_source(&src, &config.topology, &mut HashMap::new());
    assert!(!diags.has_errors(), "{diags}");
    (dir, config, rules)
}

/// The store's alert table, refusing commits the way a full disk does while `full` is set.
struct DiskFull {
    inner: Arc<dyn AlertStore>,
    full: Arc<AtomicBool>,
}

impl AlertStore for DiskFull {
    fn load(&self, rule: &str, entity: &str) -> Result<Option<AlertRow>, StoreError> {
        self.inner.load(rule, entity)
    }
    fn save(&self, row: &AlertRow) -> Result<(), StoreError> {
        self.inner.save(row)
    }
    fn active(&self) -> Result<Vec<AlertRow>, StoreError> {
        self.inner.active()
    }
    fn record(&self, change: &HistoryRow) -> Result<(), StoreError> {
        self.inner.record(change)
    }
    fn commit(&self, changes: &AlertCommit, now: Timestamp) -> Result<(), StoreError> {
        if self.full.load(Ordering::SeqCst) {
            return Err(StoreError::Io {
                path: "bandwatch.db".into(),
                context: "committing alert changes",
                source: std::io::Error::from_raw_os_error(28),
            });
        }
        self.inner.commit(changes, now)
    }
    fn history(&self, limit: usize) -> Result<Vec<HistoryRow>, StoreError> {
        self.inner.history(limit)
    }
}

/// What the database holds for the alert: its stored state, its history rows, and the
/// notices queued for route `ops`.
fn stored(db: &std::path::Path) -> (Option<String>, i64, Vec<String>) {
    let c = Connection::open(db).unwrap();
    let state = c
        .query_row(
            "SELECT state FROM alert_state WHERE rule = 'uplink-busy'",
            [],
            |r| r.get(0),
        )
        .ok();
    let history: i64 = c
        .query_row(
            "SELECT count(*) FROM alert_history WHERE rule = 'uplink-busy'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let mut st = c
        .prepare("SELECT notice FROM notify_queue WHERE route = 'ops' ORDER BY id")
        .unwrap();
    let notices = st
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    (state, history, notices)
}

fn wait(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(secs), "timed out: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Two sweeps of `sw` 10 s apart ending now, the uplink at `mbps`.
fn feed(alerting: &Alerting, mbps: u64, second: i64) {
    let octets = mbps * 1_000_000 / 8 * 10;
    let t = Timestamp::from_second(second).unwrap();
    alerting.submit(Arc::new(sweep(
        "sw",
        t,
        vec![("up", reading(10_000, octets, 0))],
    )));
}

#[test]
fn a_full_disk_at_the_firing_transition_stores_nothing_until_state_and_notice_fit_together() {
    let (_dir, config, rules) = setup();
    let db = config.daemon.data_dir.join("bandwatch.db");
    let store = Store::open(&db, &config.retention).unwrap();
    let writer = store.writer(Arc::new(config.topology.clone())).unwrap();
    let full = Arc::new(AtomicBool::new(true));
    let table = Arc::new(DiskFull {
        inner: store.alerts(),
        full: Arc::clone(&full),
    });
    let (tx, mut routes) = tokio::sync::mpsc::unbounded_channel::<String>();
    let view = AlertsView::default();
    let alerting = Alerting::start_on(
        rules.clone(),
        std::sync::Arc::new(config.topology.clone()),
        &store,
        table,
        writer.sealed(),
        tx,
        true,
        view.clone(),
        None,
    )
    .unwrap();
    let now = Timestamp::now().as_second();
    feed(&alerting, 100, now - 10);
    feed(&alerting, 100, now);
    // The engine saw it fire, the store refused the write: nothing of it is stored, and
    // the failure shows.
    wait("the refused commit", 20, || view.commit().failures > 0);
    let c = view.commit();
    assert!(c.unsaved > 0, "{c:?}");
    assert!(
        c.last_error
            .as_deref()
            .is_some_and(|e| e.contains("No space left")),
        "{c:?}"
    );
    assert_eq!(
        stored(&db),
        (None, 0, vec![]),
        "a partial transition was stored"
    );
    assert!(routes.try_recv().is_err(), "notify was woken for nothing");

    // Space is back: the retry stores the state, its history and its notice together,
    // and notify is woken for the route.
    full.store(false, Ordering::SeqCst);
    wait("the retried commit", 20, || view.commit().unsaved == 0);
    let (state, history, notices) = stored(&db);
    assert_eq!(state.as_deref(), Some("firing"));
    assert_eq!(history, 2, "inactive -> pending -> firing");
    assert_eq!(notices.len(), 1, "{notices:?}");
    let n: serde_json::Value = serde_json::from_str(&notices[0]).unwrap();
    assert_eq!(n["kind"], "firing", "{n}");
    assert_eq!(n["entity"], "port:sw/up", "{n}");
    assert_eq!(routes.try_recv().ok().as_deref(), Some("ops"));
    assert!(view.commit().last_error.is_none());

    // The disk fills again; the alert resolves; the daemon stops (a crash would do the same):
    // the resolution was not stored, so the state stays `firing` with no resolved notice ...
    full.store(true, Ordering::SeqCst);
    feed(&alerting, 0, now + 10);
    wait("the refused resolution", 20, || view.commit().failures > 1);
    alerting.stop();
    let (state, history, notices) = stored(&db);
    assert_eq!(state.as_deref(), Some("firing"));
    assert_eq!((history, notices.len()), (2, 1));

    // ... and the next start, reading that state, resolves it and owes exactly one
    // resolved notice, stored with the change.
    let (tx, _routes) = tokio::sync::mpsc::unbounded_channel::<String>();
    let view = AlertsView::default();
    let alerting = Alerting::start(
        rules,
        std::sync::Arc::new(config.topology.clone()),
        &store,
        writer.sealed(),
        tx,
        true,
        view.clone(),
    )
    .unwrap();
    feed(&alerting, 0, now + 20);
    wait("the resolution after the restart", 20, || {
        stored(&db).0.as_deref() == Some("inactive")
    });
    alerting.stop();
    let (_, history, notices) = stored(&db);
    assert_eq!(history, 3, "firing -> inactive recorded once");
    let kinds: Vec<String> = notices
        .iter()
        .map(|n| serde_json::from_str::<serde_json::Value>(n).unwrap()["kind"].to_string())
        .collect();
    assert_eq!(kinds, ["\"firing\"", "\"resolved\""]);
}

/// A storm: every port of 20 switches x 24 ports fires (480 alerts), half of the switches
/// drop below the threshold twice (their alerts resolve and fire again).
const STORM_RULES: &str = r#"
[[rule]]
name = "port-busy"
kind = "threshold"
scope = "port"
metric = "in_bps"
above = "50Mbps"
for = "2s"
clear_for = "2s"
notify = ["ops"]
"#;

const STORM: &str = r#"
time_scale = 1.0
[traffic]
speed = "1Gbps"
base = "100Mbps"
daily = 0.0
weekly = 0.0
noise = 0.0
spread = 0.2

[[event]]
at = "25s"
kind = "drop"
percent = 10.0
duration = "12s"
switches = ["sim-0000", "sim-0002", "sim-0004", "sim-0006", "sim-0008", "sim-0010", "sim-0012", "sim-0014", "sim-0016", "sim-0018"]

[[event]]
at = "55s"
kind = "drop"
percent = 10.0
duration = "12s"
switches = ["sim-0000", "sim-0002", "sim-0004", "sim-0006", "sim-0008", "sim-0010", "sim-0012", "sim-0014", "sim-0016", "sim-0018"]
"#;

/// The alerts each delivered message speaks of: (kind, rule, entity) per notice, read from
/// the MIME text part the way a person's mail client shows it.
fn delivered(outbox: &Path) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for f in std::fs::read_dir(outbox).unwrap().flatten() {
        let path = f.path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        assert!(name.ends_with(".eml"), "a stray file in the outbox: {name}");
        let raw = std::fs::read(&path).unwrap();
        assert!(!raw.is_empty(), "an empty message: {name}");
        let msg = mail_parser::MessageParser::default()
            .parse(&raw)
            .unwrap_or_else(|| panic!("{name} is not a message"));
        let text = msg.body_text(0).unwrap().to_string();
        let mut lines = text.lines();
        let first = lines.next().unwrap_or_default();
        if first.contains(" alerts for ") {
            // `  FIRING   warning  port-busy            sim-0003 eth7   120 Mbit/s`
            for l in lines
                .skip_while(|l| l.trim().is_empty())
                .take_while(|l| !l.trim().is_empty())
            {
                let w: Vec<&str> = l.split_whitespace().collect();
                assert!(w.len() >= 5, "{name}: {l}");
                out.push((
                    w[0].to_string(),
                    w[2].to_string(),
                    format!("port:{}/{}", w[3], w[4]),
                ));
            }
        } else {
            // One notice: its headline, and `Alert: RULE on ENTITY`.
            let kind = first.split_whitespace().next().unwrap_or_default();
            let alert = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("Alert:"))
                .unwrap_or_else(|| panic!("{name}: no Alert line in {text}"));
            let (rule, entity) = alert.trim().split_once(" on ").unwrap();
            out.push((kind.to_string(), rule.to_string(), entity.to_string()));
        }
    }
    out
}

/// How many times each alert went to firing and back, by the store's history.
fn episodes(db: &Path) -> BTreeMap<(String, String, String), usize> {
    let c = Connection::open(db).unwrap();
    let mut st = c
        .prepare(
            "SELECT CASE WHEN to_state = 'firing' THEN 'FIRING' ELSE 'RESOLVED' END, rule, entity
             FROM alert_history
             WHERE to_state = 'firing' OR (from_state = 'firing' AND to_state = 'inactive')",
        )
        .unwrap();
    let mut out = BTreeMap::new();
    for row in st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
    {
        *out.entry(row.unwrap()).or_insert(0) += 1;
    }
    out
}

#[test]
fn kill_9_through_an_alert_storm_delivers_each_firing_and_each_resolution_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bw.toml");
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/storm.toml"), STORM_RULES).unwrap();
    let scenario = dir.path().join("storm.toml");
    std::fs::write(&scenario, STORM).unwrap();
    let Simulated {
        sim: _sim, text, ..
    } = simulate(
        &cfg,
        20,
        24,
        &["--scenario".as_ref(), scenario.as_os_str()],
        "rules_dir = \"rules\"\n",
    );
    let started = Instant::now();
    let text = text
        + "\n[[route]]\nname = \"ops\"\nemail = [\"noc@example.net\"]\n\n\
           [email]\ntransport = \"file\"\nfrom = \"bandwatch <bandwatch@example.net>\"\ngroup_wait = \"1s\"\n";
    std::fs::write(&cfg, text).unwrap();
    let (outbox, db) = (
        dir.path().join("var/outbox"),
        dir.path().join("var/bandwatch.db"),
    );
    let log = dir.path().join("run.log");

    // kill -9 at pseudo-random moments (a fixed sequence, so a failure can be replayed)
    // through the storm: at the first firing of 480 alerts, in the groups' wait, while
    // messages are written, through the drops and the returns. BANDWATCH_CRASH_RUNS sets
    // how many (the closing note's run uses 100).
    let runs: u64 = std::env::var("BANDWATCH_CRASH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(14);
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..runs {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut d = spawn_run_appending(&cfg, &log);
        std::thread::sleep(Duration::from_millis(700 + seed % 5_000));
        d.0.kill().unwrap();
        d.0.wait().unwrap();
    }
    // Then a run that is left alone until the scenario is over and everything owed is out.
    let mut d = spawn_run_appending(&cfg, &log);
    let end = Duration::from_secs(80);
    std::thread::sleep(end.saturating_sub(started.elapsed()));
    let settled = || {
        let owed: usize = episodes(&db).values().sum();
        let c = Connection::open(&db).unwrap();
        let waiting: i64 = c
            .query_row(
                "SELECT (SELECT count(*) FROM notify_queue) + \
                 (SELECT count(*) FROM notify_outbox WHERE state = 'pending')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        (waiting, owed, delivered(&outbox).len())
    };
    let t = Instant::now();
    loop {
        let (waiting, owed, sent) = settled();
        if waiting == 0 && sent >= owed {
            break;
        }
        if t.elapsed() > Duration::from_secs(60) {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            panic!("not settled: {waiting} waiting, {owed} owed, {sent} delivered; log: {tail:#?}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let ok = Command::new("kill")
        .args(["-TERM", &d.0.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    d.0.wait().unwrap();

    let owed = episodes(&db);
    let mut got: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for n in delivered(&outbox) {
        *got.entry(n).or_insert(0) += 1;
    }
    let firing: usize = owed
        .iter()
        .filter(|(k, _)| k.0 == "FIRING")
        .map(|(_, n)| n)
        .sum();
    let resolved: usize = owed
        .iter()
        .filter(|(k, _)| k.0 == "RESOLVED")
        .map(|(_, n)| n)
        .sum();
    // The storm happened: every port fired, and many of the dropped half resolved (how many
    // depends on whether a run was up through a drop: with many kills, fewer are).
    assert!(firing >= 480, "only {firing} firings");
    assert!(resolved >= 100, "only {resolved} resolutions");
    let diff: Vec<_> = owed
        .keys()
        .chain(got.keys())
        .filter(|k| owed.get(*k) != got.get(*k))
        .map(|k| (k.clone(), owed.get(k).copied(), got.get(k).copied()))
        .collect();
    assert!(
        diff.is_empty(),
        "(alert, stored episodes, delivered notices) that differ: {diff:?}"
    );
}

#[test]
fn bandwatch_outbox_lists_a_refused_message_and_retry_makes_it_due() {
    let (dir, config, _) = setup();
    let db = config.daemon.data_dir.join("bandwatch.db");
    let store = Store::open(&db, &config.retention).unwrap();
    let outbox = bandwatch::notify::Outbox::new(store.outbox());
    let message = bandwatch::notify::outbox::NewMessage {
        route: "ops".into(),
        envelope_from: "bandwatch@example.net".into(),
        envelope_to: vec!["noc@example.net".into()],
        subject: "[FIRING warning] uplink-busy: sw up".into(),
        body: b"Subject: test\r\n\r\nbody\r\n".to_vec(),
        alerts: vec![],
    };
    let id = store.outbox().enqueue(&message, Timestamp::now()).unwrap();
    store
        .outbox()
        .mark_failed(
            id,
            "smtp://mail.example.net:587: 535 5.7.8 authentication failed",
        )
        .unwrap();
    let cli = |args: &[&str]| {
        let out = Command::new(BIN)
            .arg("-c")
            .arg(dir.path().join("bandwatch.toml"))
            .arg("outbox")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let list = cli(&["list"]);
    assert!(list.contains("refused"), "{list}");
    assert!(list.contains("[FIRING warning] uplink-busy"), "{list}");
    assert!(list.contains("535 5.7.8"), "{list}");
    let retry = cli(&["retry"]);
    assert!(retry.starts_with("1 refused and 0 delayed"), "{retry}");
    let m = &outbox.messages().unwrap()[0];
    assert_eq!(m.state, bandwatch::notify::MessageState::Pending);
    assert!(cli(&["list"]).contains("pending"));
}

/// A restart does not reset the silence of a switch: `switch-unreachable` measures it from
/// the last answer recorded in the store, so a switch silent since before the start fires as
/// soon as the first poll after it fails too.
#[test]
fn a_switch_silent_since_before_a_restart_is_unreachable_at_the_first_failed_poll() {
    let (dir, config, _) = setup();
    let src = SourceFile {
        path: dir.path().join("absent.toml"),
        text: "[[rule]]\nname = \"switch-unreachable\"\nkind = \"absent\"\nscope = \"switch\"\nfor = \"60s\"\nnotify = [\"ops\"]\n".into(),
    };
    let (rules, diags) = parse_source(&src, &config.topology, &mut HashMap::new());
    assert!(!diags.has_errors(), "{diags}");
    let db = config.daemon.data_dir.join("bandwatch.db");
    let store = Store::open(&db, &config.retention).unwrap();
    let writer = store.writer(Arc::new(config.topology.clone())).unwrap();
    // The last run: answers until 100 s ago, then timeouts.
    let now = Timestamp::now().as_second();
    for t in [now - 120, now - 110, now - 100] {
        let s = sweep(
            "sw",
            store_support::at(t),
            vec![("up", reading(10_000, 1_000, 0))],
        );
        bandwatch::store::SweepSink::submit(&writer, s).unwrap();
    }
    for t in [now - 90, now - 80] {
        let s = store_support::timeout_sweep("sw", store_support::at(t), &["up"]);
        bandwatch::store::SweepSink::submit(&writer, s).unwrap();
    }
    bandwatch::store::SweepSink::flush(&writer).unwrap();

    let (tx, _routes) = tokio::sync::mpsc::unbounded_channel::<String>();
    let view = AlertsView::default();
    let alerting = Alerting::start(
        rules,
        std::sync::Arc::new(config.topology.clone()),
        &store,
        writer.sealed(),
        tx,
        true,
        view.clone(),
    )
    .unwrap();
    // The first poll of this run fails: 100 s of silence, more than `for`.
    let s = store_support::timeout_sweep("sw", store_support::at(now), &["up"]);
    alerting.submit(Arc::new(s));
    wait(
        "switch-unreachable firing at the first failed poll",
        20,
        || {
            view.active()
                .iter()
                .any(|a| a.rule == "switch-unreachable" && a.state == "firing")
        },
    );
    let a = view
        .active()
        .into_iter()
        .find(|a| a.rule == "switch-unreachable")
        .unwrap();
    assert!(a.value >= 100.0, "silent for {} s", a.value);
    alerting.stop();
}
