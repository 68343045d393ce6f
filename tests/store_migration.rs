//! A database written by the previous release (0.1.0: schema version 2, the outbox tables
//! created by the notify stage itself, an unused `outbox` table from migration 1) opens with
//! this build and migrates in place, keeping its queued mail, its delivery record, its alert
//! states, history, silences, usage records and samples. And one store serves many readers
//! on a handful of connections.
//!
//! `tests/fixtures/release-0.1.0.db` was written by the 0.1.0 code paths (`Store::open` and
//! its writer, `AlertTable`, `UsageBook::open_write`, `notify::Outbox::open`); see
//! `tests/fixtures/README.md` for what it holds.

use crate::store_support;

use bandwatch::config::Retention;
use bandwatch::notify::{MessageState, Outbox};
use bandwatch::store::{Entity, EntityKind, Metric, RangeQuery, SCHEMA_VERSION, Store};
use store_support::at;

/// The fixture's round time (2026-11-30T00:00:00Z): its sweeps start one minute later.
const BASE: i64 = 1_795_996_800;
const ALERT: (&str, &str) = ("uplink-attack", "port:a-sw1/xe-0/0/1");

fn fixture_copy() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bandwatch.db");
    let src =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/release-0.1.0.db");
    std::fs::copy(&src, &db).unwrap();
    (dir, db)
}

fn user_version(db: &std::path::Path) -> i64 {
    rusqlite::Connection::open(db)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

fn tables(db: &std::path::Path) -> Vec<String> {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut st = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap();
    st.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn a_database_of_the_previous_release_migrates_in_place_with_its_mail_and_alerts() {
    let (_dir, db) = fixture_copy();
    assert_eq!(user_version(&db), 2, "the fixture is a version 2 database");
    assert!(tables(&db).contains(&"outbox".to_string()));

    let store = Store::open(&db, &Retention::default()).unwrap();
    assert_eq!(user_version(&db), SCHEMA_VERSION);
    let t = tables(&db);
    for want in [
        "notify_queue",
        "notify_outbox",
        "notify_delivered",
        "alert_state",
    ] {
        assert!(t.contains(&want.to_string()), "{want} missing: {t:?}");
    }
    assert!(
        !t.contains(&"outbox".to_string()),
        "the unused outbox table of version 1 is gone: {t:?}"
    );

    // The mail: one delivered message, one waiting, and one notice still in its group.
    let outbox = Outbox::new(store.outbox());
    let messages = outbox.messages().unwrap();
    let states: Vec<(&str, MessageState)> = messages
        .iter()
        .map(|m| (m.subject.as_str(), m.state))
        .collect();
    assert_eq!(
        states,
        [
            ("[FIRING] delivered", MessageState::Sent),
            ("[RESOLVED] queued", MessageState::Pending)
        ]
    );
    assert_eq!(outbox.pending_count().unwrap(), 1);
    let now = at(BASE + 1800);
    let due = outbox.due(now, 10).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].envelope_to, ["noc@example.net"]);
    assert_eq!(due[0].body, b"Subject: [RESOLVED] queued\r\n\r\nbody\r\n");
    assert!(outbox.resolution_owed(ALERT.0, ALERT.1).unwrap());
    let queued = outbox.queued_routes().unwrap();
    assert_eq!(queued, [("ops".to_string(), at(BASE + 1800))]);
    // The queued notice reads back as the notice it was, and closing its group makes a
    // message of it.
    let mut seen = Vec::new();
    let id = outbox
        .close_group("ops", now, |notices| {
            seen = notices
                .iter()
                .map(|n| (n.rule.clone(), n.entity.clone()))
                .collect();
            None
        })
        .unwrap();
    assert_eq!(id, None);
    assert_eq!(seen, [(ALERT.0.to_string(), ALERT.1.to_string())]);
    // Delivering the waiting resolution settles what was owed.
    assert!(outbox.mark_sent(due[0].id, now).unwrap());
    assert!(!outbox.resolution_owed(ALERT.0, ALERT.1).unwrap());

    // Alert state, history and silences.
    let alerts = store.alerts();
    let row = alerts
        .load(ALERT.0, ALERT.1)
        .unwrap()
        .expect("the firing alert");
    assert_eq!(row.state, "firing");
    assert_eq!(row.since, BASE + 600);
    assert_eq!(row.data.as_deref(), Some("{\"fixture\":true}"));
    assert_eq!(alerts.active().unwrap().len(), 1);
    let history = alerts.history(10).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].to_state, "firing");
    let silences = store.silences().silences(Some(BASE)).unwrap();
    assert_eq!(silences.len(), 1);
    assert_eq!(silences[0].reason, "fixture silence");
    assert_eq!(
        silences[0].matchers.get("customer").map(String::as_str),
        Some("acme")
    );

    // Usage records and samples.
    let usage = store.usage();
    let records = usage.records(at(BASE), at(BASE + 86_400)).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].bytes, 123_456_789);
    assert_eq!(usage.customers().unwrap(), ["acme"]);
    let port = Entity::new(EntityKind::Port, "a-sw1/xe-0/0/2");
    let q = RangeQuery::new(port, Metric::InBps, at(BASE + 60), at(BASE + 1800)).step(60);
    let points = store.reader().range(&q).unwrap().points;
    let known: Vec<f64> = points.iter().filter_map(|p| p.value).collect();
    assert!(!known.is_empty());
    // 2,000,000 octets a minute.
    assert!(
        known
            .iter()
            .all(|v| (v - 2_000_000.0 * 8.0 / 60.0).abs() < 1.0),
        "{known:?}"
    );
    drop(store);

    // Opening it again changes nothing.
    let store = Store::open(&db, &Retention::default()).unwrap();
    assert_eq!(user_version(&db), SCHEMA_VERSION);
    assert_eq!(Outbox::new(store.outbox()).messages().unwrap().len(), 2);
}

#[test]
fn a_previous_release_database_is_refused_read_only_until_migrated() {
    let (_dir, db) = fixture_copy();
    let before = std::fs::read(&db).unwrap();
    let err = Store::open_existing(&db, &Retention::default()).unwrap_err();
    assert!(err.to_string().contains("older"), "{err}");
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "read-only opens write nothing"
    );
    drop(Store::open(&db, &Retention::default()).unwrap());
    let store = Store::open_existing(&db, &Retention::default()).unwrap();
    assert_eq!(store.usage().customers().unwrap(), ["acme"]);
    // A read-only store refuses writes with a reason.
    let err = store.outbox().pending_count().unwrap_err();
    assert!(err.to_string().contains("read-only"), "{err}");
}

#[test]
fn many_readers_share_a_handful_of_connections() {
    let (_dir, db) = fixture_copy();
    let store = Store::open(&db, &Retention::default()).unwrap();
    let port = Entity::new(EntityKind::Port, "a-sw1/xe-0/0/1");
    let q = RangeQuery::new(port, Metric::InBps, at(BASE + 60), at(BASE + 1800)).step(60);
    std::thread::scope(|s| {
        for _ in 0..16 {
            let (reader, usage, q) = (store.reader(), store.usage(), q.clone());
            s.spawn(move || {
                for _ in 0..20 {
                    assert!(!reader.range(&q).unwrap().points.is_empty());
                    assert_eq!(usage.customers().unwrap(), ["acme"]);
                }
            });
        }
    });
    let n = store.connections();
    assert!(
        (1..=5).contains(&n),
        "one read-write connection and at most four readers, not one per caller: {n}"
    );
}
