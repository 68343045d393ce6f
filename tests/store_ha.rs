//! An HA pair on one store, through the store's traits on a real SQLite file: two daemons
//! (each with its own `Store` handle and writer on the file) poll the same switch and owe the
//! same notices. Each poll slot is stored once (a measured sample replaces the other's gap),
//! aggregates and sealed rollups count it once; each notice is queued and each history change
//! recorded once; a lease holder that was taken over can neither claim nor mark a message
//! sent; a group of notices becomes one message even when two dispatchers close it.

use crate::store_support;

use std::sync::Arc;
use std::time::Duration as StdDuration;

use bandwatch::config::{Retention, Topology};
use bandwatch::poll::{Quality, UnknownReason, phase_offset};
use bandwatch::store::alerts::{AlertCommit, HistoryRow, RoutedNotice};
use bandwatch::store::once::{Family, NoticeKey, Once, Step};
use bandwatch::store::outbox::NewMessage;
use bandwatch::store::{AlertStore, Store, StoreError, WriterOptions};
use jiff::Timestamp;
use rusqlite::Connection;
use store_support::*;

fn forever() -> Retention {
    Retention {
        raw: None,
        rollup_5m: None,
        rollup_1h: None,
        rollup_1d: None,
    }
}

fn open_pair(dir: &tempfile::TempDir) -> (Store, Store) {
    let path = dir.path().join("bandwatch.db");
    let a = Store::open(&path, &forever()).unwrap();
    let b = Store::open(&path, &forever()).unwrap();
    (a, b)
}

fn shared_writer(store: &Store, topo: Arc<Topology>) -> bandwatch::store::Writer {
    store
        .writer_with(
            topo,
            WriterOptions {
                shared: true,
                batch_window: StdDuration::ZERO,
                retention_every: StdDuration::ZERO,
                ..WriterOptions::default()
            },
        )
        .unwrap()
}

fn ms(t: i64) -> Timestamp {
    Timestamp::from_millisecond(t).unwrap()
}

fn sum(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get::<_, Option<i64>>(0))
        .unwrap()
        .unwrap_or(0)
}

#[test]
fn an_ha_pair_stores_each_poll_slot_once_and_aggregates_count_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let topo = topology(&[
        ("a-sw1", "p1", Some("web"), Some("acme")),
        ("a-sw1", "p2", Some("web"), None),
    ]);
    let (sa, sb) = open_pair(&dir);
    let (wa, wb) = (shared_writer(&sa, topo.clone()), shared_writer(&sb, topo));
    // The switch's poll grid, as both daemons' schedulers keep it.
    let phase = phase_offset("a-sw1", StdDuration::from_secs(60)).as_millis() as i64;
    let grid = |k: i64| (base() + 60 * k) * 1000 + phase;
    // Both poll every slot: a answers 200 ms after the slot starts, b 700 ms after. Slot 0
    // is each one's first reading (no delta); in slot 5 a times out and b answers; in slot
    // 8 b times out and a answers. Each daemon's delta is its own (after a miss it spans two
    // intervals).
    let octets = |k: i64| 6_000_000 + 1000 * k as u64;
    let mut expected_p1 = 0u64;
    for k in 0..=16 {
        let (ta, tb) = (ms(grid(k) + 200), ms(grid(k) + 700));
        let a_out = match k {
            0 => no_delta(Quality::First),
            5 => unknown(UnknownReason::Timeout),
            6 => reading(120_000, octets(5) + octets(6), 1),
            _ => reading(60_000, octets(k), 1),
        };
        let b_out = match k {
            0 => no_delta(Quality::First),
            8 => unknown(UnknownReason::Timeout),
            9 => reading(120_000, octets(8) + octets(9), 1),
            _ => reading(60_000, octets(k), 1),
        };
        if k > 0 {
            expected_p1 += octets(k);
        }
        // Who writes first alternates; each sweep is stored before the other arrives.
        let (first, second) = if k % 2 == 0 {
            ((&wa, ta, a_out), (&wb, tb, b_out))
        } else {
            ((&wb, tb, b_out), (&wa, ta, a_out))
        };
        for (w, t, out) in [first, second] {
            w.submit(sweep("a-sw1", t, vec![("p1", out.clone()), ("p2", out)]))
                .unwrap();
            w.flush().unwrap();
        }
    }

    let conn = Connection::open(sa.path()).unwrap();
    let p1 = "(SELECT id FROM series WHERE kind = 'port' AND name = 'a-sw1/p1')";
    let web = "(SELECT id FROM series WHERE kind = 'product_line' AND name = 'web')";
    let rows: Vec<(i64, Option<i64>, Option<i64>)> = conn
        .prepare(&format!(
            "SELECT ts, dt_ms, in_octets FROM port_sample WHERE series_id = {p1} ORDER BY ts"
        ))
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    // One row per slot (17), not two: slot 0 one gap; slots 5 and 8 the measured sample of
    // whichever daemon answered (the other's gap replaced or refused); slots 6 and 9 taken by
    // whichever came first: a two-interval delta over a slot already stored is refused.
    assert_eq!(rows.len(), 17, "{rows:#?}");
    assert_eq!(
        rows.iter().filter(|r| r.1.is_none()).count(),
        1,
        "{rows:#?}"
    );
    let stored: i64 = rows.iter().filter_map(|r| r.2).sum();
    assert_eq!(stored as u64, expected_p1, "{rows:#?}");
    // Each daemon polled 17 slots of 2 ports: 34 of the 68 samples were the pair's second.
    assert_eq!(
        wa.metrics().duplicate_samples_total.get() + wb.metrics().duplicate_samples_total.get(),
        34
    );

    // The product line (p1 + p2) counted each slot once: its 60 s slots and 5-minute
    // buckets hold both ports' octets once.
    let web_slots = sum(
        &conn,
        &format!("SELECT SUM(in_octets) FROM agg_slot WHERE series_id = {web}"),
    );
    assert_eq!(web_slots as u64, 2 * expected_p1);
    let web_5m = sum(
        &conn,
        &format!("SELECT SUM(in_octets) FROM rollup_5m WHERE series_id = {web}"),
    );
    assert_eq!(web_5m as u64, 2 * expected_p1);
    // Sealed buckets were added into the hour once, whichever writer sealed them.
    let sealed_5m: i64 = conn
        .query_row(
            "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'sealed_5m'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let sealed_sum = sum(
        &conn,
        &format!(
            "SELECT SUM(in_octets) FROM rollup_5m WHERE series_id = {web} AND bucket < {sealed_5m}"
        ),
    );
    let hour = sum(
        &conn,
        &format!("SELECT SUM(in_octets) FROM rollup_1h WHERE series_id = {web}"),
    );
    assert!(sealed_sum > 0, "some buckets were sealed");
    assert_eq!(hour, sealed_sum);
    drop((wa, wb));
}

/// Both daemons of an HA pair receive the same exporters' flows and hand the store the same
/// minutes of a prefix customer and product line: each (entity, minute, shard) is added once,
/// whichever writer comes first, into the 60 s slots and the 5-minute rollup; a minute of
/// another shard's exporters adds to it, and so does a slot of a daemon without a shard.
#[test]
fn an_ha_pair_adds_each_flow_minute_once() {
    use bandwatch::store::{EntityKind, FlowSlot};
    let dir = tempfile::tempdir().unwrap();
    let topo = topology(&[("a-sw1", "p1", Some("web"), Some("acme"))]);
    let (sa, sb) = open_pair(&dir);
    let (wa, wb) = (shared_writer(&sa, topo.clone()), shared_writer(&sb, topo));
    let t0 = base();
    let slot = |kind: EntityKind, name: &str, k: i64, out: u64, shard: Option<&str>| FlowSlot {
        kind,
        name: name.into(),
        slot_start: t0 + 60 * k,
        in_octets: 0,
        out_octets: out,
        in_packets: 0,
        out_packets: out / 100,
        covered_ms: 60_000,
        shard: shard.map(str::to_string),
    };
    let minute = |k: i64, shard: Option<&str>| {
        vec![
            slot(
                EntityKind::Customer,
                "tenant",
                k,
                1000 * (k as u64 + 1),
                shard,
            ),
            slot(EntityKind::ProductLine, "cloud", k, 7000, shard),
        ]
    };
    let mut want_tenant = 0u64;
    for k in 0..10 {
        want_tenant += 1000 * (k as u64 + 1);
        // Who hands the minute over first alternates.
        let (first, second) = if k % 2 == 0 { (&wa, &wb) } else { (&wb, &wa) };
        for w in [first, second] {
            w.submit_flows(minute(k, Some("a"))).unwrap();
            w.flush().unwrap();
        }
    }
    // Shard b's exporters saw the tenant too in minute 3; a daemon without a shard in 4.
    wb.submit_flows(vec![slot(
        EntityKind::Customer,
        "tenant",
        3,
        500,
        Some("b"),
    )])
    .unwrap();
    wa.submit_flows(vec![slot(EntityKind::Customer, "tenant", 4, 300, None)])
        .unwrap();
    wb.flush().unwrap();
    wa.flush().unwrap();
    want_tenant += 500 + 300;

    let conn = Connection::open(sa.path()).unwrap();
    let of = |kind: &str, name: &str, table: &str, col: &str| {
        sum(
            &conn,
            &format!(
                "SELECT CAST(SUM({col}) AS INTEGER) FROM {table} WHERE series_id = \
                 (SELECT id FROM series WHERE kind = '{kind}' AND name = '{name}')"
            ),
        ) as u64
    };
    assert_eq!(
        of("customer", "tenant", "agg_slot", "out_octets"),
        want_tenant
    );
    assert_eq!(
        of("customer", "tenant", "rollup_5m", "out_octets"),
        want_tenant
    );
    assert_eq!(
        of("customer", "tenant", "agg_slot", "out_packets"),
        want_tenant / 100,
        "ten minutes once, and the two extra slots"
    );
    assert_eq!(
        of("product_line", "cloud", "agg_slot", "out_octets"),
        70_000
    );
    assert_eq!(
        of("product_line", "cloud", "rollup_5m", "out_octets"),
        70_000
    );
    // The pair's second hand-over of each minute: two entities, ten minutes.
    assert_eq!(
        wa.metrics().duplicate_samples_total.get() + wb.metrics().duplicate_samples_total.get(),
        20
    );
    drop((wa, wb));
}

fn key(step: Step, started: i64, at: i64) -> NoticeKey {
    NoticeKey {
        rule: "spike".into(),
        entity: "port:a-sw1/p1".into(),
        family: Family::Lifecycle,
        step,
        started,
        at,
    }
}

fn change(from: &str, to: &str, ts: i64) -> HistoryRow {
    HistoryRow {
        rule: "spike".into(),
        entity: "port:a-sw1/p1".into(),
        from_state: from.into(),
        to_state: to.into(),
        ts,
        value: Some(1.0),
        message: None,
    }
}

/// One evaluation's commit as a daemon makes it: the change and a notice for `ops` and
/// `sales`.
fn commit(
    store: &dyn AlertStore,
    from: &str,
    to: &str,
    step: Step,
    started: i64,
    at: i64,
) -> (usize, usize) {
    let c = AlertCommit {
        states: Vec::new(),
        history: vec![change(from, to, at)],
        notices: ["ops", "sales"]
            .iter()
            .map(|r| RoutedNotice {
                route: r.to_string(),
                payload: format!("{{\"to\":\"{to}\",\"at\":{at}}}"),
            })
            .collect(),
    };
    let once = Once {
        keys: vec![Some(key(step, started, at)); 2],
        window_s: 10,
    };
    let o = store
        .commit_once(&c, &once, Timestamp::from_second(at).unwrap())
        .unwrap();
    (o.notices_skipped, o.history_skipped)
}

fn queued(conn: &Connection) -> Vec<(String, String)> {
    conn.prepare("SELECT route, notice FROM notify_queue ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn an_ha_pair_queues_each_notice_and_records_each_change_once() {
    let dir = tempfile::tempdir().unwrap();
    let (sa, sb) = open_pair(&dir);
    let (a, b) = (sa.alerts(), sb.alerts());
    let t = base();
    // a fires first; b, a poll later, owes the same firing.
    assert_eq!(
        commit(&*a, "pending", "firing", Step::Open, t, t + 60),
        (0, 0)
    );
    assert_eq!(
        commit(&*b, "pending", "firing", Step::Open, t + 2, t + 62),
        (2, 1)
    );
    // b resolves first this time; a's resolution is the same one.
    assert_eq!(
        commit(&*b, "firing", "inactive", Step::Close, t + 2, t + 300),
        (0, 0)
    );
    assert_eq!(
        commit(&*a, "firing", "inactive", Step::Close, t, t + 301),
        (2, 1)
    );
    // A new episode later is notified again, once.
    assert_eq!(
        commit(&*a, "pending", "firing", Step::Open, t + 900, t + 960),
        (0, 0)
    );
    assert_eq!(
        commit(&*b, "pending", "firing", Step::Open, t + 901, t + 961),
        (2, 1)
    );

    let conn = Connection::open(sa.path()).unwrap();
    let q = queued(&conn);
    let firing_at = |at: i64| format!("{{\"to\":\"firing\",\"at\":{at}}}");
    let resolved_at = |at: i64| format!("{{\"to\":\"inactive\",\"at\":{at}}}");
    let expect: Vec<(String, String)> =
        [firing_at(t + 60), resolved_at(t + 300), firing_at(t + 960)]
            .iter()
            .flat_map(|p| {
                [
                    ("ops".to_string(), p.clone()),
                    ("sales".to_string(), p.clone()),
                ]
            })
            .collect();
    assert_eq!(q, expect);
    let history: Vec<(String, i64)> = a
        .history(10)
        .unwrap()
        .into_iter()
        .map(|h| (h.to_state, h.ts))
        .collect();
    assert_eq!(
        history,
        [
            ("firing".to_string(), t + 960),
            ("inactive".to_string(), t + 300),
            ("firing".to_string(), t + 60)
        ]
    );
    // A plain commit (one daemon, no shards) is not deduplicated.
    a.commit(
        &AlertCommit {
            states: Vec::new(),
            history: vec![change("pending", "firing", t + 960)],
            notices: vec![RoutedNotice {
                route: "ops".into(),
                payload: firing_at(t + 960),
            }],
        },
        Timestamp::from_second(t + 960).unwrap(),
    )
    .unwrap();
    assert_eq!(queued(&conn).len(), 7);
}

fn message(route: &str) -> NewMessage {
    NewMessage {
        route: route.to_string(),
        envelope_from: "bandwatch@example.net".to_string(),
        envelope_to: vec!["noc@example.net".to_string()],
        subject: "s".to_string(),
        body: b"Subject: s\r\n\r\nbody\r\n".to_vec(),
        alerts: Vec::new(),
    }
}

#[test]
fn a_holder_whose_lease_was_taken_over_can_neither_claim_nor_mark_sent() {
    let dir = tempfile::tempdir().unwrap();
    let (sa, sb) = open_pair(&dir);
    let (la, lb) = (sa.leases(), sb.leases());
    let (oa, ob) = (sa.outbox(), sb.outbox());
    // Held leases last a minute (no stall of a loaded host lets them lapse); the one that
    // must lapse is renewed last for 300 ms.
    let (held, short) = (StdDuration::from_secs(60), StdDuration::from_millis(300));
    let now = Timestamp::now();
    let m1 = oa.enqueue(&message("ops"), now).unwrap();
    let m2 = oa.enqueue(&message("ops"), now).unwrap();

    let a = la.acquire("singleton", "a", held).unwrap().unwrap();
    assert!(oa.claim(m1, &a, now).unwrap());
    assert!(oa.mark_sent_claimed(m1, a.token, now).unwrap());
    // Sent is sent: nobody claims it again.
    assert!(!oa.claim(m1, &a, now).unwrap());
    // a claims m2, renews briefly, then stalls past its lease; b takes over.
    assert!(oa.claim(m2, &a, now).unwrap());
    let a = la.acquire("singleton", "a", short).unwrap().unwrap();
    std::thread::sleep(short + StdDuration::from_millis(200));
    let b = lb.acquire("singleton", "b", held).unwrap().unwrap();
    assert!(b.token > a.token);
    // a wakes up: it cannot claim with its old token...
    assert!(matches!(
        oa.claim(m2, &a, Timestamp::now()),
        Err(StoreError::LeaseLost { .. })
    ));
    // ...b claims m2 as its own, and a's mark under its old claim is refused.
    assert!(ob.claim(m2, &b, Timestamp::now()).unwrap());
    assert!(!oa.mark_sent_claimed(m2, a.token, Timestamp::now()).unwrap());
    assert!(ob.mark_sent_claimed(m2, b.token, Timestamp::now()).unwrap());
    let sent = ob
        .messages()
        .unwrap()
        .iter()
        .filter(|m| m.state == bandwatch::notify::MessageState::Sent)
        .count();
    assert_eq!(sent, 2);
}

#[test]
fn a_group_closed_by_two_dispatchers_at_once_becomes_one_message() {
    let dir = tempfile::tempdir().unwrap();
    let (sa, sb) = open_pair(&dir);
    let (oa, ob) = (sa.outbox(), sb.outbox());
    let now = Timestamp::now();
    oa.queue_notice("ops", "{\"n\":1}", now).unwrap();
    oa.queue_notice("ops", "{\"n\":2}", now).unwrap();
    // a renders the group; while it does (no lock held), b closes the same group.
    let mut inner = None;
    let got = oa
        .close_group("ops", now, &mut |notices| {
            assert_eq!(notices.len(), 2);
            inner = ob
                .close_group("ops", now, &mut |n| {
                    assert_eq!(n.len(), 2);
                    Some(message("ops"))
                })
                .unwrap();
            Some(message("ops"))
        })
        .unwrap();
    assert!(inner.is_some(), "b closed the group");
    assert_eq!(got, None, "a's message of the same notices is not stored");
    assert_eq!(oa.messages().unwrap().len(), 1);
    assert!(oa.queued_routes().unwrap().is_empty());
}
