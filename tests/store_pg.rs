//! The PostgreSQL backend against a real PostgreSQL (see `pg_support`): raw samples read back
//! exactly as from SQLite for the same sweeps, two daemons writing the same slots store each
//! once (and add their flow minutes once), a PostgreSQL restarted under load loses nothing
//! the writer accepted (samples beyond the queue's bound become gaps flagged
//! `store_unavailable`, never zeros), and retention drops whole day partitions, in the holder
//! of the singleton lease only. Alert states, history and silences read back as from SQLite,
//! and an alert commit queues its notices in the same transaction or writes nothing.

use crate::pg_support;
use crate::store_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use bandwatch::config::{Retention, Topology};
use bandwatch::poll::{Quality, UnknownReason, phase_offset};
use bandwatch::store::alerts::{AlertCommit, AlertRow, HistoryRow, RoutedNotice, SilenceRow};
use bandwatch::store::postgres::{PgStore, PgWriterOptions};
use bandwatch::store::{
    AlertStore, Entity, EntityKind, SeriesSource, SilenceStore, Store, StoreError, StoredSample,
    SweepSink, flag,
};
use jiff::Timestamp;
use store_support::*;

const PORTS: [&str; 4] = ["xe-0/0/1", "xe-0/0/2", "xe-0/0/3", "xe-0/0/4"];

fn fleet() -> Arc<Topology> {
    topology(&[
        ("a-sw1", "xe-0/0/1", Some("web"), Some("acme")),
        ("a-sw1", "xe-0/0/2", Some("web"), None),
        ("a-sw1", "xe-0/0/3", None, Some("zeta")),
        ("a-sw1", "xe-0/0/4", None, None),
        ("b-sw2", "xe-0/0/1", Some("web"), None),
        ("b-sw2", "xe-0/0/2", None, None),
        ("b-sw2", "xe-0/0/3", None, None),
        ("b-sw2", "xe-0/0/4", None, None),
    ])
}

/// The response time of poll `k` of `switch` on its grid (60 s), `delay_ms` after the grid.
fn poll_time(switch: &str, k: i64, delay_ms: i64) -> Timestamp {
    let phase = phase_offset(switch, Duration::from_secs(60)).as_millis() as i64;
    Timestamp::from_millisecond((base() + k * 60) * 1000 + phase + delay_ms).unwrap()
}

/// Poll `k` of `switch`: readings whose octets say which writer and poll they come from.
fn poll(switch: &str, k: i64, delay_ms: i64, writer: u64) -> bandwatch::poll::Sweep {
    let ports = PORTS
        .iter()
        .enumerate()
        .map(|(i, p)| {
            (
                *p,
                reading(
                    60_000,
                    writer * 1_000_000 + k as u64 * 1000 + i as u64,
                    7 + k as u64,
                ),
            )
        })
        .collect();
    sweep(switch, poll_time(switch, k, delay_ms), ports)
}

fn samples(src: &dyn SeriesSource, switch: &str, port: &str) -> Vec<StoredSample> {
    src.port_samples(
        &Entity::port(switch, port),
        Timestamp::from_second(base() - 86_400).unwrap(),
        Timestamp::from_second(base() + 3 * 86_400).unwrap(),
    )
    .unwrap()
}

fn pg_store(url: &bandwatch::config::Secret) -> PgStore {
    PgStore::connect(url, &Retention::default()).unwrap()
}

#[test]
fn raw_samples_read_back_as_from_sqlite() {
    let Some(pg) = pg_support::shared() else {
        return;
    };
    let url = pg.database();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open(&dir.path().join("bandwatch.db"), &Retention::default()).unwrap();
    let pgs = pg_store(&url);
    let sinks: Vec<Box<dyn SweepSink>> = vec![
        Box::new(sqlite.writer(fleet()).unwrap()),
        Box::new(pgs.writer(fleet()).unwrap()),
    ];
    for sink in &sinks {
        for k in 0..6 {
            sink.submit(poll("a-sw1", k, 400, 1)).unwrap();
        }
        // A timeout, a first reading, a reset and a port the topology does not list.
        sink.submit(timeout_sweep("b-sw2", poll_time("b-sw2", 0, 300), &PORTS))
            .unwrap();
        sink.submit(sweep(
            "b-sw2",
            poll_time("b-sw2", 1, 300),
            vec![
                ("xe-0/0/1", no_delta(Quality::First)),
                ("xe-0/0/2", reading(60_000, 5, 6)),
                ("xe-0/0/3", unknown(UnknownReason::Reset)),
                ("ae7", reading(60_000, 9, 9)),
            ],
        ))
        .unwrap();
        sink.flush().unwrap();
    }
    let lite = sqlite.reader();
    let pgr = pgs.reader();
    for sw in ["a-sw1", "b-sw2"] {
        for p in PORTS.iter().chain(&["ae7"]) {
            let (from, to) = (at(base() - 86_400), at(base() + 3 * 86_400));
            let e = Entity::port(sw, p);
            match lite.port_samples(&e, from, to) {
                Ok(want) => assert_eq!(pgr.port_samples(&e, from, to).unwrap(), want, "{sw}/{p}"),
                Err(_) => assert!(matches!(
                    pgr.port_samples(&e, from, to),
                    Err(StoreError::UnknownSeries { .. })
                )),
            }
        }
        assert_eq!(
            samples(&*pgr, "b-sw2", "ae7").len(),
            1,
            "a port no topology lists"
        );
    }
    assert_eq!(samples(&*pgr, "a-sw1", "xe-0/0/1").len(), 6);
    assert_eq!(samples(&*pgr, "b-sw2", "xe-0/0/1")[0].flag, flag::TIMEOUT);
    assert_eq!(
        pgr.entities(EntityKind::Port).unwrap(),
        lite.entities(EntityKind::Port).unwrap()
    );
    for (label, value) in [("product_line", "web"), ("customer", "acme"), ("site", "b")] {
        assert_eq!(
            pgr.ports_where(label, value).unwrap(),
            lite.ports_where(label, value).unwrap(),
            "{label}={value}"
        );
    }
    assert_eq!(pgr.newest().unwrap(), lite.newest().unwrap());
    let later = Timestamp::from_second(base() + 86_400).unwrap();
    assert_eq!(
        pgr.last_answer("b-sw2", later).unwrap(),
        lite.last_answer("b-sw2", later).unwrap()
    );
    assert!(pgr.ports_where("colour", "red").is_err());
}

#[test]
fn two_daemons_writing_the_same_slots_store_each_once() {
    let Some(pg) = pg_support::shared() else {
        return;
    };
    let url = pg.database();
    let (a, b) = (pg_store(&url), pg_store(&url));
    let (wa, wb) = (a.writer(fleet()).unwrap(), b.writer(fleet()).unwrap());
    let stats = [wa.stats(), wb.stats()];
    let metrics = [wa.metrics(), wb.metrics()];
    // An HA pair: both poll a-sw1 on its grid, their answers a few hundred ms apart; b
    // also has slot 10, which a missed (a timeout in a's sweep: a gap that b's reading
    // replaces), and a misses nothing else.
    let ta = std::thread::spawn(move || {
        for k in 0..10 {
            wa.submit(poll("a-sw1", k, 200, 1)).unwrap();
        }
        wa.submit(timeout_sweep("a-sw1", poll_time("a-sw1", 10, 200), &PORTS))
            .unwrap();
        wa.flush().unwrap();
    });
    let tb = std::thread::spawn(move || {
        for k in (0..11).rev() {
            wb.submit(poll("a-sw1", k, 900, 2)).unwrap();
        }
        wb.flush().unwrap();
    });
    ta.join().unwrap();
    tb.join().unwrap();
    let mut c = pg.client(&url);
    let rows: i64 = c
        .query_one("SELECT count(*) FROM port_sample", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 11 * PORTS.len() as i64, "one row per port and slot");
    // The second writer's COPY met the first's keys and fell back to the per-key upsert.
    let conflicts: u64 = stats
        .iter()
        .map(|s| s.copy_conflicts.load(Ordering::Relaxed))
        .sum();
    assert!(conflicts >= 1, "{conflicts}");
    // 88 samples submitted for 44 port slots: the second copy of each is counted, but for
    // slot 10's four, when a's gaps were stored first and b's readings replaced them.
    let dups: u64 = metrics
        .iter()
        .map(|m| m.duplicate_samples_total.get())
        .sum();
    assert!(dups == 40 || dups == 44, "{dups}");
    let reader = a.reader();
    for p in PORTS {
        let s = samples(&*reader, "a-sw1", p);
        assert_eq!(s.len(), 11, "{p}");
        for (k, sample) in s.iter().enumerate() {
            // Each slot holds one writer's sample whole, never a sum of both.
            let v = sample
                .in_octets
                .expect("no gap left: b's reading replaced a's timeout");
            let (writer, rest) = (v / 1_000_000, v % 1_000_000);
            assert!(writer == 1 || writer == 2, "{p} slot {k}: {v}");
            assert_eq!(rest / 1000, k as u64, "{p} slot {k}: {v}");
        }
        assert_eq!(
            s[10].in_octets.unwrap() / 1_000_000,
            2,
            "the known sample wins"
        );
    }
}

/// An HA pair handing the store the same flow minutes of a prefix customer: each (series,
/// minute, shard) is added once into the 60 s slots and the 5-minute rollup, whichever
/// writer comes first; another shard's minute adds.
#[test]
fn two_daemons_handing_over_the_same_flow_minutes_add_each_once() {
    use bandwatch::store::FlowSlot;
    let Some(pg) = pg_support::shared() else {
        return;
    };
    let url = pg.database();
    let (a, b) = (pg_store(&url), pg_store(&url));
    let (wa, wb) = (a.writer(fleet()).unwrap(), b.writer(fleet()).unwrap());
    let t0 = base();
    let slot = |k: i64, out: u64, shard: &str| FlowSlot {
        kind: EntityKind::Customer,
        name: "tenant".into(),
        slot_start: t0 + 60 * k,
        in_octets: 0,
        out_octets: out,
        in_packets: 0,
        out_packets: 1,
        covered_ms: 60_000,
        shard: Some(shard.into()),
    };
    let mut want = 0i64;
    for k in 0..6 {
        want += 1000 * (k + 1);
        for w in [&wa, &wb] {
            w.submit_flows(vec![slot(k, 1000 * (k as u64 + 1), "a")])
                .unwrap();
        }
    }
    wb.submit_flows(vec![slot(2, 500, "b")]).unwrap();
    want += 500;
    // (`flush` waits for sweeps only; a shutdown writes everything queued.)
    wa.shutdown();
    wb.shutdown();
    let mut c = pg.client(&url);
    for table in ["agg_slot", "rollup_5m"] {
        let got: Option<i64> = c
            .query_one(
                &format!(
                    "SELECT SUM(out_octets)::bigint FROM {table} WHERE series_id = \
                     (SELECT id FROM series WHERE kind = 'customer' AND name = 'tenant')"
                ),
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(got, Some(want), "{table}");
    }
}

#[test]
fn a_restart_under_load_loses_nothing_accepted_and_records_overflow_as_gaps() {
    let Some(pg) = pg_support::Pg::start() else {
        return;
    };
    let url = pg.database();
    let store = pg_store(&url);
    let opts = PgWriterOptions {
        max_backoff: Duration::from_millis(200),
        ..PgWriterOptions::default()
    };
    let writer = Arc::new(store.writer_with(fleet(), opts).unwrap());
    // A poller submitting sweeps as fast as it can while PostgreSQL stops and starts.
    let stop = Arc::new(AtomicBool::new(false));
    let submitted = Arc::new(AtomicI64::new(0));
    let poller = {
        let (w, stop, submitted) = (writer.clone(), stop.clone(), submitted.clone());
        std::thread::spawn(move || {
            let mut k = 0;
            while !stop.load(Ordering::Relaxed) || k < 40 {
                w.submit(poll("a-sw1", k, 300, 1)).unwrap();
                k += 1;
                submitted.store(k, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    while submitted.load(Ordering::Relaxed) < 20 {
        std::thread::sleep(Duration::from_millis(5));
    }
    pg.stop();
    let during = submitted.load(Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(600));
    pg.restart();
    stop.store(true, Ordering::Relaxed);
    poller.join().unwrap();
    writer.flush().unwrap();
    let n = submitted.load(Ordering::Relaxed);
    assert!(
        n > during,
        "sweeps were submitted while PostgreSQL was down"
    );
    let stats = writer.stats();
    assert!(stats.write_failures.load(Ordering::Relaxed) >= 1);
    assert!(stats.reconnects.load(Ordering::Relaxed) >= 1);
    let reader = store.reader();
    for p in PORTS {
        let s = samples(&*reader, "a-sw1", p);
        assert_eq!(s.len() as i64, n, "{p}: every accepted sweep is stored");
        assert!(
            s.iter().all(|x| x.in_octets.is_some()),
            "{p}: nothing became a gap"
        );
    }

    // A writer whose queue holds 3 sweeps' samples (and that writes one sweep per batch, so
    // at most sweep 1 is in its hands when it finds PostgreSQL gone), fed 10 sweeps while
    // PostgreSQL is down: the oldest become gaps that say why, the newest keep their data,
    // none is zero.
    let small = store
        .writer_with(
            fleet(),
            PgWriterOptions {
                max_queued_rows: 3 * PORTS.len(),
                batch_rows: PORTS.len(),
                max_backoff: Duration::from_millis(200),
                ..PgWriterOptions::default()
            },
        )
        .unwrap();
    small.submit(poll("b-sw2", 0, 300, 1)).unwrap();
    small.flush().unwrap();
    pg.stop();
    for k in 1..11 {
        small.submit(poll("b-sw2", k, 300, 1)).unwrap();
    }
    pg.restart();
    small.flush().unwrap();
    assert!(small.stats().rows_gapped.load(Ordering::Relaxed) >= 6 * PORTS.len() as u64);
    assert_eq!(small.stats().rows_lost.load(Ordering::Relaxed), 0);
    for p in PORTS {
        let s = samples(&*reader, "b-sw2", p);
        assert_eq!(s.len(), 11, "{p}: a row for every slot");
        assert!(s[0].in_octets.is_some(), "written before the stop");
        for x in &s[1..11] {
            if x.in_octets.is_none() {
                assert_eq!(flag::name(x.flag), "store_unavailable");
                assert_eq!(x.dt_ms, None);
            }
        }
        assert!(
            s[8..11].iter().all(|x| x.in_octets.is_some()),
            "the newest kept"
        );
        assert!(
            s[2..8].iter().all(|x| x.flag == flag::STORE_UNAVAILABLE),
            "the oldest queued gapped"
        );
    }
}

#[test]
fn retention_drops_whole_day_partitions() {
    let Some(pg) = pg_support::shared() else {
        return;
    };
    let url = pg.database();
    let retention = Retention {
        raw: Some(bandwatch::config::Duration::from_secs(86_400)),
        ..Retention::default()
    };
    let store = PgStore::connect(&url, &retention).unwrap();
    let w = store.writer(fleet()).unwrap();
    for day in 0..3 {
        w.submit(poll("a-sw1", day * 1440 + 600, 300, 1)).unwrap();
    }
    w.flush().unwrap();
    assert_eq!(store.sample_partitions().unwrap().len(), 3);
    assert_eq!(store.apply_retention().unwrap(), 1);
    assert_eq!(store.sample_partitions().unwrap().len(), 2);
    let s = samples(&*store.reader(), "a-sw1", "xe-0/0/1");
    assert_eq!(
        s.len(),
        2,
        "the oldest day went, the last day of retention stays"
    );
    // Writing into a dropped day again recreates its partition (a late sample).
    assert_eq!(store.apply_retention().unwrap(), 0);
}

/// On a shared store retention runs in the holder of the singleton lease only (as SQLite's,
/// see `WriterOptions::lease`): a writer following the lease deletes nothing while another
/// daemon holds it, although retention is due after every batch, and applies it as soon as
/// its daemon takes the lease over.
#[test]
fn retention_runs_only_in_the_lease_holder() {
    let Some(pg) = pg_support::shared() else {
        return;
    };
    let url = pg.database();
    let retention = Retention {
        raw: Some(bandwatch::config::Duration::from_secs(86_400)),
        ..Retention::default()
    };
    let store = PgStore::connect(&url, &retention).unwrap();
    let leases = store.leases();
    let ttl = Duration::from_secs(60);
    let other = leases
        .acquire("singleton", "daemon-b", ttl)
        .unwrap()
        .expect("daemon-b takes the free lease");
    let (lease, following) = tokio::sync::watch::channel(None);
    let opts = PgWriterOptions {
        retention_every: Duration::ZERO,
        lease: Some(following),
        ..PgWriterOptions::default()
    };
    let w = store.writer_with(fleet(), opts).unwrap();
    for day in 0..3 {
        w.submit(poll("a-sw1", day * 1440 + 600, 300, 1)).unwrap();
        w.flush().unwrap();
    }
    assert_eq!(
        store.sample_partitions().unwrap().len(),
        3,
        "daemon-b holds the lease: this writer deletes nothing"
    );

    // daemon-b goes; this writer's daemon takes the lease and its next batch applies it.
    assert!(leases.release(&other).unwrap());
    let mine = leases
        .acquire("singleton", "daemon-a", ttl)
        .unwrap()
        .expect("daemon-a takes the released lease");
    lease.send_replace(Some(mine));
    w.submit(poll("a-sw1", 2 * 1440 + 601, 300, 1)).unwrap();
    w.flush().unwrap();
    assert_eq!(
        store.sample_partitions().unwrap().len(),
        2,
        "the holder dropped the expired day"
    );
    assert_eq!(samples(&*store.reader(), "a-sw1", "xe-0/0/1").len(), 3);
}

/// The lease holder's seal mark follows the other shards from the store: daemon A (the
/// holder) stores switch a-sw1, daemon B (shard b) stores b-sw2. Until B has stored anything
/// A's mark stays the slot grace (the interval, the timeouts and 5 s) behind A's newest
/// sweep; once B has stored b-sw2 as far as A has a-sw1, A's next batch moves its mark to
/// the slot both have reached.
#[test]
fn the_holders_seal_mark_follows_the_other_shards_progress_in_the_store() {
    let Some(pg) = pg_support::shared() else {
        return;
    };
    let url = pg.database();
    let store = pg_store(&url);
    let leases = store.leases();
    let held = leases
        .acquire("singleton", "daemon-a", Duration::from_secs(60))
        .unwrap();
    let following = |lease| PgWriterOptions {
        lease: Some(tokio::sync::watch::channel(lease).1),
        ..PgWriterOptions::default()
    };
    let a = store.writer_with(fleet(), following(held)).unwrap();
    let b = store.writer_with(fleet(), following(None)).unwrap();
    let mark = || a.sealed().borrow().map(|t| t.as_second());
    let minute = |t: Timestamp| t.as_second().div_euclid(60) * 60;
    let grace = bandwatch::store::sealed::slot_grace(&fleet());
    for k in 0..5 {
        a.submit(poll("a-sw1", k, 300, 1)).unwrap();
    }
    a.flush().unwrap();
    let newest = poll_time("a-sw1", 4, 300);
    assert_eq!(
        mark(),
        Some(minute(newest - jiff::SignedDuration::from_secs(grace))),
        "b-sw2 unknown: the grace holds the mark back"
    );
    for k in 0..6 {
        b.submit(poll("b-sw2", k, 300, 2)).unwrap();
    }
    b.flush().unwrap();
    a.submit(poll("a-sw1", 5, 300, 1)).unwrap();
    a.flush().unwrap();
    let both = poll_time("a-sw1", 5, 300).min(poll_time("b-sw2", 5, 300));
    assert_eq!(mark(), Some(minute(both)), "every switch is in up to there");
    assert!(
        minute(both) > minute(poll_time("a-sw1", 5, 300) - jiff::SignedDuration::from_secs(grace))
    );
}

/// `[store]` in a configuration file: the backends, the URL as a secret that no message
/// shows, not even the daemon's when it cannot connect.
#[test]
fn the_store_section_is_checked_and_the_url_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "postgresql://bw:s3cr3t-pw@db.example.net/bandwatch";
    std::fs::write(dir.path().join("pg-url"), format!("{secret}\n")).unwrap();
    let load = |store: &str| {
        let path = dir.path().join("bandwatch.toml");
        std::fs::write(&path, format!("[daemon]\ndata_dir = \"var\"\n\n{store}\n")).unwrap();
        bandwatch::config::load(&path)
    };
    use bandwatch::config::StoreBackend;
    assert_eq!(load("").unwrap().config.store.backend, StoreBackend::Sqlite);
    let pg = load("[store]\nbackend = \"postgres\"\nurl = \"file:pg-url\"").unwrap();
    assert_eq!(
        pg.config.store.backend,
        StoreBackend::Postgres {
            url: bandwatch::config::Secret::new(secret)
        }
    );
    assert!(!format!("{:?}", pg.config).contains("s3cr3t"));
    let queued =
        load("[store]\nbackend = \"postgres\"\nurl = \"file:pg-url\"\nmax_queued_samples = 500")
            .unwrap();
    assert_eq!(queued.config.store.max_queued_samples, Some(500));
    for (store, key, says) in [
        (
            "[store]\nbackend = \"mysql\"",
            "store.backend",
            "unknown backend `mysql`",
        ),
        (
            "[store]\nbackend = \"postgres\"",
            "store.url",
            "needs `url`",
        ),
        (
            "[store]\nbackend = \"postgres\"\nurl = \"postgresql://bw:s3cr3t-pw@db/bw\"",
            "store.url",
            "${ENV_VAR}",
        ),
        (
            "[store]\nbackend = \"postgres\"\nurl = \"file:pg-url\"\nmax_queued_samples = 0",
            "store.max_queued_samples",
            "at least 1",
        ),
    ] {
        let err = load(store).unwrap_err().to_string();
        assert!(err.contains(key) && err.contains(says), "{store}: {err}");
        assert!(
            err.contains("bandwatch.toml:"),
            "names the file and line: {err}"
        );
        assert!(!err.contains("s3cr3t"), "the URL is never shown: {err}");
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let err = rt
        .block_on(bandwatch::daemon::Daemon::start(
            pg.config,
            bandwatch::daemon::Options::new(dir.path().join("bandwatch.toml")),
        ))
        .err()
        .expect("no PostgreSQL answers at db.example.net")
        .to_string();
    assert!(err.contains("postgresql bw@db.example.net"), "{err}");
    assert!(!err.contains("s3cr3t"), "{err}");
}

fn alert(rule: &str, entity: &str, state: &str, since: i64) -> AlertRow {
    AlertRow {
        rule: rule.into(),
        entity: entity.into(),
        state: state.into(),
        since,
        last_eval: since + 60,
        last_notified: (state == "firing").then_some(since),
        value: Some(4.2e9),
        labels: Some(r#"{"site":"a"}"#.into()),
        data: Some(r#"{"peak":5}"#.into()),
    }
}

fn change(rule: &str, entity: &str, from: &str, to: &str, ts: i64) -> HistoryRow {
    HistoryRow {
        rule: rule.into(),
        entity: entity.into(),
        from_state: from.into(),
        to_state: to.into(),
        ts,
        value: Some(1.5),
        message: Some(format!("{from} -> {to}")),
    }
}

/// The same alert and silence operations on one backend; returns what it reads back.
fn alert_story(
    alerts: &dyn AlertStore,
    silences: &dyn SilenceStore,
) -> (
    Vec<AlertRow>,
    Vec<HistoryRow>,
    Vec<SilenceRow>,
    Option<AlertRow>,
) {
    let now = at(base());
    let commit = AlertCommit {
        states: vec![
            alert("spike", "port:a-sw1/xe-0/0/1", "pending", 100),
            alert("spike", "port:a-sw1/xe-0/0/1", "firing", 160),
            alert("drop", "product_line:web", "pending", 120),
            alert("down", "port:b-sw2/xe-0/0/2", "resolved", 90),
        ],
        history: vec![
            change("spike", "port:a-sw1/xe-0/0/1", "inactive", "pending", 100),
            change("spike", "port:a-sw1/xe-0/0/1", "pending", "firing", 160),
        ],
        notices: vec![RoutedNotice {
            route: "ops".into(),
            payload: "{\"n\":1}".into(),
        }],
    };
    alerts.commit(&commit, now).unwrap();
    // One bad row refuses the whole commit: no state, history or notice of it is kept.
    let bad = AlertCommit {
        states: vec![
            alert("drop", "product_line:web", "firing", 200),
            alert("x", "site:a", "bogus-state", 200),
        ],
        history: vec![change("drop", "product_line:web", "pending", "firing", 200)],
        notices: vec![RoutedNotice {
            route: "sales".into(),
            payload: "{}".into(),
        }],
    };
    assert!(alerts.commit(&bad, now).is_err());
    alerts
        .save(&alert("absent", "switch:b-sw2", "pending", 300))
        .unwrap();
    alerts
        .record(&change(
            "absent",
            "switch:b-sw2",
            "inactive",
            "pending",
            300,
        ))
        .unwrap();
    let mut matchers = std::collections::BTreeMap::new();
    matchers.insert("customer".to_string(), "acme".to_string());
    let s = |ends| SilenceRow {
        id: 0,
        rule: Some("churn".into()),
        matchers: matchers.clone(),
        starts: 1000,
        ends,
        reason: "maintenance (by noc)".into(),
    };
    let a = silences.add_silence(&s(2000)).unwrap();
    let b = silences.add_silence(&s(5000)).unwrap();
    assert!(silences.remove_silence(a).unwrap());
    assert!(!silences.remove_silence(a).unwrap());
    assert_eq!(silences.silences(None).unwrap().len(), 1);
    let mut kept = silences.silences(Some(1500)).unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].id, b);
    kept[0].id = 0;
    (
        alerts.active().unwrap(),
        alerts.history(10).unwrap(),
        kept,
        alerts.load("spike", "port:a-sw1/xe-0/0/1").unwrap(),
    )
}

#[test]
fn alert_state_history_and_silences_read_back_as_from_sqlite() {
    let Some(pg) = pg_support::shared() else {
        return;
    };
    let url = pg.database();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open(&dir.path().join("bandwatch.db"), &Retention::default()).unwrap();
    let pgs = pg_store(&url);
    let want = alert_story(&*sqlite.alerts(), &*sqlite.silences());
    let got = alert_story(&*pgs.alerts(), &*pgs.silences());
    assert_eq!(got, want);
    assert_eq!(got.0.len(), 3, "pending and firing only: {:?}", got.0);
    assert_eq!(
        got.3.as_ref().map(|a| a.state.as_str()),
        Some("firing"),
        "the later row wins"
    );
    assert_eq!(got.1.len(), 3);
    // The notice owed by the commit is queued with it, the refused commit's is not.
    let queued: Vec<(String, String)> = pg
        .client(&url)
        .query("SELECT route, notice FROM notify_queue ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(queued, vec![("ops".to_string(), "{\"n\":1}".to_string())]);
    let routes = sqlite.outbox().queued_routes().unwrap();
    assert_eq!(routes.len(), 1);
    assert_eq!(routes[0].0, "ops");
}
