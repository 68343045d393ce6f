//! The PostgreSQL store driven through the same traits as SQLite, with the same sweeps and
//! the same calls, answering as SQLite does: aggregate ranges and rollups, the latest point,
//! 5-minute billing buckets, usage records, firing spans and the outbox. Where the two
//! differ by design (an aggregate's coverage weighs ports equally on PostgreSQL), the test
//! says so. Also: an HA pair writing overlapping polls adds each sample once into the
//! aggregates and queues each alert's notice once, and two dispatchers closing one group
//! make one message.

use crate::pg_support;
use crate::store_support;

use std::sync::Arc;
use std::time::Duration;

use bandwatch::config::{Retention, Topology};
use bandwatch::poll::phase_offset;
use bandwatch::store::alerts::{AlertCommit, HistoryRow, RoutedNotice};
use bandwatch::store::once::{Family, NoticeKey, Once, Step};
use bandwatch::store::outbox::{Delivery, NewMessage, QueuedNotice};
use bandwatch::store::postgres::PgStore;
use bandwatch::store::{
    Entity, EntityKind, LeaseStore, Metric, OutboxStore, RangeQuery, SeriesData, Store, StoreError,
    Tier, UsageRecord,
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

/// Poll `k` of `switch` on its 60 s grid: every port answers, with octets that vary by
/// port and poll.
fn poll(switch: &str, k: i64) -> bandwatch::poll::Sweep {
    let phase = phase_offset(switch, Duration::from_secs(60)).as_millis() as i64;
    let t = Timestamp::from_millisecond((base() + k * 60) * 1000 + phase + 350).unwrap();
    let ports = PORTS
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let v = 1_000_000 + (k as u64 % 7) * 250_000 + i as u64 * 10_000;
            (*p, reading(60_000, v, v / 3))
        })
        .collect();
    sweep(switch, t, ports)
}

fn pg(url: &bandwatch::config::Secret) -> Store {
    Store::postgres(PgStore::connect(url, &Retention::default()).unwrap())
}

/// Writes polls `ks` of both switches through the store's own writer.
fn write(store: &Store, ks: std::ops::Range<i64>) {
    let w = store.sink(fleet(), false).unwrap();
    for k in ks {
        w.submit(poll("a-sw1", k)).unwrap();
        w.submit(poll("b-sw2", k)).unwrap();
    }
    w.flush().unwrap();
}

fn range(store: &Store, entity: &Entity, metric: Metric, step: i64, tier: Tier) -> SeriesData {
    let q = RangeQuery::new(
        entity.clone(),
        metric,
        at(base() - 300),
        at(base() + 40 * 60),
    )
    .step(step)
    .tier(tier)
    .measured();
    store.reader().range(&q).unwrap()
}

fn total(d: &SeriesData) -> f64 {
    d.points.iter().filter_map(|p| p.value).sum()
}

#[test]
fn aggregates_ranges_and_billing_read_back_as_from_sqlite() {
    let Some(server) = pg_support::shared() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lite = Store::open(&dir.path().join("bandwatch.db"), &Retention::default()).unwrap();
    let pgs = pg(&server.database());
    write(&lite, 0..30);
    write(&pgs, 0..30);

    for kind in [
        EntityKind::ProductLine,
        EntityKind::Site,
        EntityKind::Customer,
    ] {
        assert_eq!(
            pgs.reader().entities(kind).unwrap(),
            lite.reader().entities(kind).unwrap(),
            "{kind:?}"
        );
    }
    let entities = [
        Entity::new(EntityKind::ProductLine, "web"),
        Entity::new(EntityKind::Site, "a"),
        Entity::new(EntityKind::Switch, "b-sw2"),
        Entity::new(EntityKind::Customer, "acme"),
        Entity::port("a-sw1", "xe-0/0/2"),
    ];
    for e in &entities {
        for (step, tier) in [(60, Tier::Raw), (300, Tier::M5), (3600, Tier::M5)] {
            for metric in [Metric::InBytes, Metric::OutBytes, Metric::InBps] {
                let (p, l) = (
                    range(&pgs, e, metric, step, tier),
                    range(&lite, e, metric, step, tier),
                );
                assert_eq!(p.points.len(), l.points.len());
                assert_eq!(p.step_secs, l.step_secs);
                for (a, b) in p.points.iter().zip(&l.points) {
                    assert_eq!(a.time, b.time);
                    assert_eq!(
                        a.value.is_some(),
                        b.value.is_some(),
                        "{e} {step} {a:?} {b:?}"
                    );
                    let (x, y) = (a.value.unwrap_or(0.0), b.value.unwrap_or(0.0));
                    // A port's rollups on SQLite split its samples at the response's
                    // millisecond; PostgreSQL reads a port's raw samples, whose time is
                    // stored in seconds (as SQLite's raw tier does): a 5-minute step may
                    // differ by under one second of a sample at each end (samples carry at
                    // most 3 MB a minute here).
                    let slack = if e.kind == EntityKind::Port && tier != Tier::Raw {
                        let second = 3e6 / 60.0;
                        2.0 * second
                            * if metric == Metric::InBps {
                                8.0 / step as f64
                            } else {
                                1.0
                            }
                    } else {
                        1e-6 * y.abs().max(1.0)
                    };
                    assert!((x - y).abs() <= slack, "{e} {step}: {x} {y}");
                    // Full coverage reads the same; partial coverage is weighed differently.
                    if b.coverage > 0.999_999 {
                        assert!(a.coverage > 0.999_999, "{e} {step} {a:?}");
                    }
                }
            }
        }
        // Latest point with full coverage.
        let (p, l) = (
            pgs.reader().latest(e, Metric::InBps, 0.999).unwrap(),
            lite.reader().latest(e, Metric::InBps, 0.999).unwrap(),
        );
        let (p, l) = (p.unwrap(), l.unwrap());
        assert_eq!(p.time, l.time, "{e}");
        let (x, y) = (p.value.unwrap(), l.value.unwrap());
        assert!((x - y).abs() <= 1e-6 * y, "{e}: {x} {y}");
    }
    // A product line's bytes are the sum of its three ports': nothing lost, nothing twice.
    let web = total(&range(
        &pgs,
        &Entity::new(EntityKind::ProductLine, "web"),
        Metric::InBytes,
        300,
        Tier::M5,
    ));
    let ports: f64 = [
        ("a-sw1", "xe-0/0/1"),
        ("a-sw1", "xe-0/0/2"),
        ("b-sw2", "xe-0/0/1"),
    ]
    .iter()
    .map(|(s, p)| {
        total(&range(
            &pgs,
            &Entity::port(s, p),
            Metric::InBytes,
            300,
            Tier::Raw,
        ))
    })
    .sum();
    assert!(web > 0.0 && (web - ports).abs() < 1.0, "{web} {ports}");

    // Billing: the same 5-minute buckets, customers and capacity.
    let (pu, lu) = (pgs.usage(), lite.usage());
    assert_eq!(pu.customers().unwrap(), lu.customers().unwrap());
    for e in [
        Entity::new(EntityKind::Customer, "acme"),
        Entity::port("a-sw1", "xe-0/0/3"),
    ] {
        let (a, b) = (
            pu.buckets_5m(&e, base(), base() + 3600).unwrap().unwrap(),
            lu.buckets_5m(&e, base(), base() + 3600).unwrap().unwrap(),
        );
        assert_eq!(a.len(), b.len(), "{e}");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.start, y.start);
            // A port's bucket may differ by under a second of a sample (see above).
            let slack = if e.kind == EntityKind::Port {
                100_000
            } else {
                0
            };
            assert!((x.in_octets - y.in_octets).abs() <= slack, "{x:?} {y:?}");
            assert!((x.out_octets - y.out_octets).abs() <= slack, "{x:?} {y:?}");
            assert!(
                (x.covered_ms - y.covered_ms).abs() <= 1 + slack / 100,
                "{x:?} {y:?}"
            );
        }
    }
    assert_eq!(
        pu.buckets_5m(&Entity::new(EntityKind::Customer, "nobody"), 0, 1)
            .unwrap(),
        None
    );
    let util = |s: &Store| {
        s.reader()
            .latest(
                &Entity::new(EntityKind::Site, "a"),
                Metric::Utilization,
                0.999,
            )
            .unwrap()
            .and_then(|p| p.value)
            .unwrap()
    };
    assert!((util(&pgs) - util(&lite)).abs() < 1e-9);

    // Usage records: inserted, unchanged, replaced, and an overlap refused with nothing
    // of its batch written, as on SQLite.
    let rec = |c: &str, from: i64, to: i64, bytes: u64| UsageRecord {
        customer: c.to_string(),
        start: at(base() + from),
        end: at(base() + to),
        bytes,
        source: "cdn".to_string(),
    };
    let batches = [
        vec![rec("acme", 0, 86_400, 10), rec("zeta", 0, 86_400, 5)],
        vec![rec("acme", 0, 86_400, 10), rec("zeta", 0, 86_400, 6)],
        vec![rec("acme", 86_400, 172_800, 1), rec("acme", 3600, 7200, 2)],
    ];
    for batch in &batches {
        let now = at(base());
        let (a, b) = (pu.write(batch, now).unwrap(), lu.write(batch, now).unwrap());
        match (a, b) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            // SQLite's staged import names the stored record without its bytes.
            (Err(a), Err(b)) => assert_eq!(
                (
                    a.index,
                    &a.existing.customer,
                    a.existing.start,
                    a.existing.end
                ),
                (
                    b.index,
                    &b.existing.customer,
                    b.existing.start,
                    b.existing.end
                )
            ),
            other => panic!("{other:?}"),
        }
    }
    let (from, to) = (at(base() - 86_400), at(base() + 10 * 86_400));
    assert_eq!(pu.records(from, to).unwrap(), lu.records(from, to).unwrap());
    assert_eq!(
        pu.records(from, to).unwrap().len(),
        2,
        "the refused batch wrote nothing"
    );

    // Firing spans from the alert history.
    let h = |rule: &str, to: &str, ts: i64| HistoryRow {
        rule: rule.to_string(),
        entity: "customer:acme".to_string(),
        from_state: "x".to_string(),
        to_state: to.to_string(),
        ts: base() + ts,
        value: None,
        message: None,
    };
    for s in [&pgs, &lite] {
        let a = s.alerts();
        for row in [
            h("spike", "firing", 100),
            h("spike", "resolved", 400),
            h("other", "firing", 500),
            h("spike", "firing", 900),
        ] {
            a.record(&row).unwrap();
        }
    }
    let rules = vec!["spike".to_string()];
    let spans = |s: &Store| {
        s.usage()
            .firing_spans(&rules, "customer:acme", base(), base() + 1000)
            .unwrap()
    };
    assert_eq!(spans(&pgs), spans(&lite));
    assert_eq!(
        spans(&pgs),
        [(base() + 100, base() + 400), (base() + 900, base() + 1000)]
    );
}

#[test]
fn an_ha_pair_adds_each_sample_once_into_the_aggregates() {
    let Some(server) = pg_support::shared() else {
        return;
    };
    let url = server.database();
    let dir = tempfile::tempdir().unwrap();
    let lite = Store::open(&dir.path().join("bandwatch.db"), &Retention::default()).unwrap();
    write(&lite, 0..20);
    // Two daemons on one database, polling the same switches: 0..12 and 8..20 overlap.
    let (a, b) = (pg(&url), pg(&url));
    let (wa, wb) = (
        a.sink(fleet(), true).unwrap(),
        b.sink(fleet(), true).unwrap(),
    );
    for k in 0..20 {
        for sw in ["a-sw1", "b-sw2"] {
            if k < 12 {
                wa.submit(poll(sw, k)).unwrap();
            }
            if k >= 8 {
                wb.submit(poll(sw, k)).unwrap();
            }
        }
    }
    wa.flush().unwrap();
    wb.flush().unwrap();
    for e in [
        Entity::new(EntityKind::ProductLine, "web"),
        Entity::new(EntityKind::Site, "b"),
        Entity::new(EntityKind::Customer, "acme"),
    ] {
        for (step, tier) in [(60, Tier::Raw), (300, Tier::M5), (3600, Tier::H1)] {
            let want = total(&range(&lite, &e, Metric::InBytes, 300, Tier::M5));
            let got = total(&range(&a, &e, Metric::InBytes, step, tier));
            assert!(
                want > 0.0 && (got - want).abs() < 1.0,
                "{e} {step}: {got} {want}"
            );
        }
    }
}

fn message(alerts: Vec<(Delivery, String, String)>) -> NewMessage {
    NewMessage {
        route: "ops".to_string(),
        envelope_from: "bandwatch@example.net".to_string(),
        envelope_to: vec!["noc@example.net".to_string()],
        subject: "s".to_string(),
        body: b"Subject: s\r\n\r\nbody\r\n".to_vec(),
        alerts,
    }
}

/// The same outbox calls on any backend; what they answered, as text.
fn outbox_script(o: &dyn OutboxStore, leases: &dyn LeaseStore) -> Vec<String> {
    let t = |s: i64| at(base() + s);
    let mut log = Vec::new();
    o.queue_notice("ops", "n1", t(0)).unwrap();
    o.queue_notice("ops", "n2", t(1)).unwrap();
    o.queue_notice("sales", "n3", t(2)).unwrap();
    log.push(format!("{:?}", o.queued_routes().unwrap()));
    let mut seen = Vec::new();
    let id = o
        .close_group("ops", t(5), &mut |q: &[QueuedNotice]| {
            seen = q.iter().map(|n| n.payload.clone()).collect();
            Some(message(vec![(
                Delivery::Firing,
                "spike".into(),
                "port:a/b".into(),
            )]))
        })
        .unwrap()
        .unwrap();
    log.push(format!("{seen:?} {:?}", o.queued_routes().unwrap()));
    log.push(format!(
        "{:?}",
        o.close_group("ops", t(6), &mut |_| None).unwrap()
    ));
    let id2 = o
        .enqueue(
            &message(vec![(
                Delivery::Resolved,
                "spike".into(),
                "port:a/c".into(),
            )]),
            t(7),
        )
        .unwrap();
    log.push(format!(
        "due {:?} next {:?} pending {}",
        o.due(t(10), 10)
            .unwrap()
            .iter()
            .map(|m| (m.id == id, m.attempts))
            .collect::<Vec<_>>(),
        o.next_due().unwrap(),
        o.pending_count().unwrap()
    ));
    let lease = leases
        .acquire("singleton", "d1", Duration::from_secs(30))
        .unwrap()
        .unwrap();
    log.push(format!("claim {:?}", o.claim(id, &lease, t(11)).unwrap()));
    o.mark_retry(id, "421 busy", t(60)).unwrap();
    log.push(format!(
        "due after retry {} next {:?}",
        o.due(t(12), 10).unwrap().len(),
        o.next_due().unwrap()
    ));
    log.push(format!("retry_now {}", o.retry_now(t(13)).unwrap()));
    log.push(format!(
        "sent {} again {}",
        o.mark_sent(id, t(14)).unwrap(),
        o.mark_sent(id, t(15)).unwrap()
    ));
    log.push(format!(
        "owed {} {:?}",
        o.resolution_owed("spike", "port:a/b").unwrap(),
        o.resolutions_owed().unwrap()
    ));
    o.mark_failed(id2, "550 no such user").unwrap();
    log.push(format!(
        "failed {} pending {}",
        o.failed_count().unwrap(),
        o.pending_count().unwrap()
    ));
    log.push(format!("requeued {}", o.requeue_failed(t(20)).unwrap()));
    log.push(format!(
        "claim sent {}",
        o.claim(id, &lease, t(21)).unwrap()
    ));
    log.push(format!(
        "messages {:?}",
        o.messages()
            .unwrap()
            .iter()
            .map(|m| (m.state, m.attempts, m.last_error.clone(), m.subject.clone()))
            .collect::<Vec<_>>()
    ));
    log.push(format!("pruned {}", o.prune_sent(t(100)).unwrap()));
    log.push(format!("left {}", o.messages().unwrap().len()));
    log
}

#[test]
fn the_outbox_answers_as_on_sqlite_and_two_dispatchers_make_one_message() {
    let Some(server) = pg_support::shared() else {
        return;
    };
    let url = server.database();
    let dir = tempfile::tempdir().unwrap();
    let lite = Store::open(&dir.path().join("bandwatch.db"), &Retention::default()).unwrap();
    let (a, b) = (pg(&url), pg(&url));
    let want = outbox_script(&*lite.outbox(), &*lite.leases());
    assert_eq!(outbox_script(&*a.outbox(), &*a.leases()), want);

    // A claim under a lease that was taken over is refused (fencing).
    let (oa, ob) = (a.outbox(), b.outbox());
    let id = oa.enqueue(&message(Vec::new()), at(base())).unwrap();
    let stale = a.leases().holder("singleton").unwrap().unwrap();
    assert!(a.leases().release(&stale).unwrap());
    let next = b
        .leases()
        .acquire("singleton", "d2", Duration::from_secs(30))
        .unwrap()
        .unwrap();
    assert!(matches!(
        oa.claim(id, &stale, at(base())),
        Err(StoreError::LeaseLost { .. })
    ));
    assert!(ob.claim(id, &next, at(base())).unwrap());

    // Two dispatchers close one group at once (b while a renders): one message.
    oa.queue_notice("noc", "x", at(base())).unwrap();
    let before = oa.messages().unwrap().len();
    let mut inner = None;
    let outer = oa
        .close_group("noc", at(base()), &mut |_| {
            inner = ob
                .close_group("noc", at(base()), &mut |_| Some(message(Vec::new())))
                .unwrap();
            Some(message(Vec::new()))
        })
        .unwrap();
    assert!(inner.is_some());
    assert_eq!(outer, None, "the notices were in b's message already");
    assert_eq!(oa.messages().unwrap().len(), before + 1);
}

/// One evaluation's commit by one daemon of an HA pair: a change of `spike` on one port and
/// its notice for `ops` and `sales`; what the store left out (notices, history rows).
fn commit_once(
    store: &dyn bandwatch::store::AlertStore,
    to: &str,
    step: Step,
    started: i64,
    at: i64,
) -> (usize, usize) {
    let c = AlertCommit {
        states: Vec::new(),
        history: vec![HistoryRow {
            rule: "spike".into(),
            entity: "port:a-sw1/p1".into(),
            from_state: "x".into(),
            to_state: to.into(),
            ts: at,
            value: None,
            message: None,
        }],
        notices: ["ops", "sales"]
            .iter()
            .map(|r| RoutedNotice {
                route: r.to_string(),
                payload: format!("{to}@{at}"),
            })
            .collect(),
    };
    let key = NoticeKey {
        rule: "spike".into(),
        entity: "port:a-sw1/p1".into(),
        family: Family::Lifecycle,
        step,
        started,
        at,
    };
    let once = Once {
        keys: vec![Some(key); 2],
        window_s: 10,
    };
    let o = store.commit_once(&c, &once, at_ms(at)).unwrap();
    (o.notices_skipped, o.history_skipped)
}

fn at_ms(s: i64) -> Timestamp {
    Timestamp::from_second(s).unwrap()
}

/// The HA pair's two daemons commit the same alert changes: each notice queued and each
/// change recorded once, as on SQLite (`tests/store_ha.rs`).
#[test]
fn an_ha_pair_queues_each_notice_once_as_on_sqlite() {
    let Some(server) = pg_support::shared() else {
        return;
    };
    let url = server.database();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bandwatch.db");
    let lite = (
        Store::open(&path, &Retention::default()).unwrap(),
        Store::open(&path, &Retention::default()).unwrap(),
    );
    let pgs = (pg(&url), pg(&url));
    let t = base();
    let script = |a: &Store, b: &Store| {
        let (a, b) = (a.alerts(), b.alerts());
        vec![
            commit_once(&*a, "firing", Step::Open, t, t + 60),
            commit_once(&*b, "firing", Step::Open, t + 2, t + 62),
            commit_once(&*b, "inactive", Step::Close, t + 2, t + 300),
            commit_once(&*a, "inactive", Step::Close, t, t + 301),
            commit_once(&*a, "firing", Step::Open, t + 900, t + 960),
            commit_once(&*b, "firing", Step::Open, t + 901, t + 961),
        ]
    };
    let want = script(&lite.0, &lite.1);
    assert_eq!(want[1], (2, 1), "the second daemon's firing is left out");
    assert_eq!(script(&pgs.0, &pgs.1), want);
    let history = |s: &Store| -> Vec<(String, i64)> {
        s.alerts()
            .history(10)
            .unwrap()
            .into_iter()
            .map(|h| (h.to_state, h.ts))
            .collect()
    };
    assert_eq!(history(&pgs.0), history(&lite.0));
    let routes = |s: &Store| s.outbox().queued_routes().unwrap();
    assert_eq!(routes(&pgs.0).len(), 2);
    let mut queued = Vec::new();
    pgs.0
        .outbox()
        .close_group("ops", at_ms(t + 1000), &mut |q| {
            queued = q.iter().map(|n| n.payload.clone()).collect();
            None
        })
        .unwrap();
    assert_eq!(
        queued,
        [
            format!("firing@{}", t + 60),
            format!("inactive@{}", t + 300),
            format!("firing@{}", t + 960)
        ]
    );
}
