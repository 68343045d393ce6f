//! Nothing lost, nothing invented, when things break around an alert's transition: the
//! state change and the notices it owes are written in one transaction, so a full disk or a
//! crash leaves all of them or none. Real SQLite files; the rules thread as the daemon runs
//! it; the store's write refused the way a full disk refuses it (ENOSPC).

mod store_support;

use std::collections::HashMap;
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
        &config.topology,
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
        &config.topology,
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
