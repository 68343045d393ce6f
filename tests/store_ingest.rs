//! The store end to end on a real SQLite file: sweeps in through the writer thread, series
//! out through the reader; gaps, exact 5-minute splits, coverage of aggregates, rollups,
//! retention, tier choice, seasonal windows, topology reload.

use crate::store_support;

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use bandwatch::config::{Duration, Retention, Topology};
use bandwatch::poll::Quality;
use bandwatch::store::{
    Entity, EntityKind, Metric, RangeQuery, Store, Tier, Writer, WriterOptions,
};
use rusqlite::Connection;
use store_support::*;

fn open(dir: &tempfile::TempDir, topo: Arc<Topology>, retention: Retention) -> (Store, Writer) {
    let store = Store::open(&dir.path().join("bandwatch.db"), &retention).unwrap();
    let writer = store
        .writer_with(
            topo,
            WriterOptions {
                retention_every: StdDuration::ZERO,
                ..WriterOptions::default()
            },
        )
        .unwrap();
    (store, writer)
}

fn forever() -> Retention {
    Retention {
        raw: None,
        rollup_5m: None,
        rollup_1h: None,
        rollup_1d: None,
    }
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-9)
}

#[test]
fn gaps_are_stored_with_their_reason_and_read_as_none_never_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (store, w) = open(&dir, topology(&[("a-sw1", "p1", None, None)]), forever());
    let b = base();
    w.submit(sweep(
        "a-sw1",
        at(b + 60),
        vec![("p1", no_delta(Quality::First))],
    ))
    .unwrap();
    w.submit(sweep(
        "a-sw1",
        at(b + 120),
        vec![("p1", reading(60_000, 6_000_000, 1))],
    ))
    .unwrap();
    w.submit(timeout_sweep("a-sw1", at(b + 180), &["p1"]))
        .unwrap();
    w.submit(sweep(
        "a-sw1",
        at(b + 240),
        vec![("p1", no_delta(Quality::Reset))],
    ))
    .unwrap();
    w.submit(sweep(
        "a-sw1",
        at(b + 300),
        vec![("p1", reading(60_000, 3_000_000, 1))],
    ))
    .unwrap();
    w.flush().unwrap();

    let conn = Connection::open(store.path()).unwrap();
    let rows: Vec<(i64, Option<i64>, i64)> = conn
        .prepare("SELECT ts, in_octets, flag FROM port_sample ORDER BY ts")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        vec![
            (b + 60, None, bandwatch::store::flag::FIRST),
            (b + 120, Some(6_000_000), bandwatch::store::flag::OK),
            (b + 180, None, bandwatch::store::flag::TIMEOUT),
            (b + 240, None, bandwatch::store::flag::RESET),
            (b + 300, Some(3_000_000), bandwatch::store::flag::OK),
        ]
    );

    let r = store.reader();
    let q = RangeQuery::new(
        Entity::port("a-sw1", "p1"),
        Metric::InBps,
        at(b + 60),
        at(b + 300),
    )
    .step(60);
    let s = r.range(&q).unwrap();
    assert_eq!(s.tier, Tier::Raw);
    let vals: Vec<Option<f64>> = s.points.iter().map(|p| p.value).collect();
    assert_eq!(vals, vec![Some(800_000.0), None, None, Some(400_000.0)]);
    assert_eq!(s.points[1].coverage, 0.0);
}

#[test]
fn five_minute_buckets_split_a_sample_at_the_boundary_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (store, w) = open(&dir, topology(&[("a-sw1", "p1", None, None)]), forever());
    let b = base();
    // 60 s ending 20 s into the second bucket: 40 s before the boundary, 20 s after.
    w.submit(sweep(
        "a-sw1",
        at(b + 320),
        vec![("p1", reading(60_000, 6_000, 600))],
    ))
    .unwrap();
    w.flush().unwrap();
    let r = store.reader();
    let q = RangeQuery::new(
        Entity::port("a-sw1", "p1"),
        Metric::InBytes,
        at(b),
        at(b + 600),
    )
    .step(300)
    .tier(Tier::M5)
    .measured();
    let s = r.range(&q).unwrap();
    let v: Vec<Option<f64>> = s.points.iter().map(|p| p.value).collect();
    assert_eq!(v, vec![Some(4_000.0), Some(2_000.0)]);
    assert!(close(s.points[0].coverage, 40.0 / 300.0, 1e-9));
    assert!(close(s.points[1].coverage, 20.0 / 300.0, 1e-9));
    // The rate over the covered part of each bucket is the sample's rate.
    let q = q.clone();
    let rate = r
        .range(&RangeQuery {
            metric: Metric::InBps,
            scale: true,
            ..q
        })
        .unwrap();
    assert!(close(rate.points[0].value.unwrap(), 800.0, 1e-9));
    assert!(close(rate.points[1].value.unwrap(), 800.0, 1e-9));
}

/// Two switches polled 30 s apart, one product line across both.
fn two_switch_line(
    w: &Writer,
    b: i64,
    minutes: std::ops::Range<i64>,
    b_timeout_at: Option<i64>,
    bytes: (u64, u64),
) {
    for m in minutes {
        w.submit(sweep(
            "a-sw1",
            at(b + 60 * m),
            vec![("p1", reading(60_000, bytes.0, 0))],
        ))
        .unwrap();
        if Some(m) == b_timeout_at {
            w.submit(timeout_sweep("b-sw1", at(b + 60 * m + 30), &["p1"]))
                .unwrap();
        } else {
            w.submit(sweep(
                "b-sw1",
                at(b + 60 * m + 30),
                vec![("p1", reading(60_000, bytes.1, 0))],
            ))
            .unwrap();
        }
    }
}

#[test]
fn a_half_answered_interval_is_not_read_as_a_drop() {
    let dir = tempfile::tempdir().unwrap();
    let topo = topology(&[
        ("a-sw1", "p1", Some("cdn"), None),
        ("b-sw1", "p1", Some("cdn"), None),
    ]);
    let (store, w) = open(&dir, topo, forever());
    let b = base();
    // 6 MB per minute on each port: 800 kbit/s each, 1.6 Mbit/s for the line.
    two_switch_line(&w, b, 1..12, Some(6), (6_000_000, 6_000_000));
    w.flush().unwrap();
    let r = store.reader();
    let cdn = Entity::new(EntityKind::ProductLine, "cdn");
    let q = RangeQuery::new(cdn.clone(), Metric::InBps, at(b + 120), at(b + 600)).step(60);
    let s = r.range(&q).unwrap();
    assert_eq!(s.tier, Tier::Raw);
    // b-sw1's sample ending at 6:30 is missing: it covered 5:30..6:30.
    let by_min = |m: i64| {
        s.points
            .iter()
            .find(|p| p.time.as_second() == b + 60 * m)
            .unwrap()
            .clone()
    };
    assert!(close(by_min(3).coverage, 1.0, 1e-6), "{:?}", by_min(3));
    assert!(close(by_min(3).value.unwrap(), 1_600_000.0, 1e-6));
    for m in [5, 6] {
        let p = by_min(m);
        assert!(close(p.coverage, 0.75, 1e-3), "minute {m}: {p:?}");
        // The estimate stays at the line's rate: no 25 % (let alone 50 %) drop.
        assert!(
            close(p.value.unwrap(), 1_600_000.0, 1e-3),
            "minute {m}: {p:?}"
        );
    }
    // Measured (unscaled) shows what was actually counted.
    let measured = r.range(&q.clone().measured()).unwrap();
    let m5 = measured
        .points
        .iter()
        .find(|p| p.time.as_second() == b + 300)
        .unwrap();
    assert!(close(m5.value.unwrap(), 1_200_000.0, 1e-3), "{m5:?}");
    // A reader that wants full coverage gets a gap instead.
    let strict = r.range(&q.clone().min_coverage(0.9)).unwrap();
    assert!(
        strict
            .points
            .iter()
            .any(|p| p.time.as_second() == b + 300 && p.value.is_none())
    );
}

#[test]
fn coverage_is_weighted_by_usual_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let topo = topology(&[
        ("a-sw1", "p1", Some("cdn"), None),
        ("b-sw1", "p1", Some("cdn"), None),
    ]);
    let (store, w) = open(&dir, topo, forever());
    let b = base();
    // a-sw1/p1 carries 100x the traffic of b-sw1/p1. 40 minutes to learn the weights.
    // (Flushed in between, as sweeps arrive over time: weights are learned per batch.)
    two_switch_line(&w, b, 1..40, None, (60_000_000, 600_000));
    w.flush().unwrap();
    two_switch_line(&w, b, 40..46, Some(42), (60_000_000, 600_000));
    w.flush().unwrap();
    let r = store.reader();
    let cdn = Entity::new(EntityKind::ProductLine, "cdn");
    let q = RangeQuery::new(cdn, Metric::InBps, at(b + 60 * 41), at(b + 60 * 43)).step(60);
    let s = r.range(&q).unwrap();
    let p = &s.points[0];
    // The quiet port's half minute is missing: about 0.5 * 1/101 of the line's weight.
    assert!(p.coverage > 0.99 && p.coverage < 0.999, "{p:?}");
    assert!(close(p.value.unwrap(), 8_080_000.0, 0.01), "{p:?}");
}

#[test]
fn hourly_and_daily_rollups_add_up_to_the_five_minute_buckets() {
    let dir = tempfile::tempdir().unwrap();
    let topo = topology(&[("a-sw1", "p1", Some("cdn"), Some("acme"))]);
    let (store, w) = open(&dir, topo, forever());
    let b = base();
    let mut total = 0u64;
    let mut peak_first_hour = 0u64;
    for m in 1..=180 {
        let bytes = 1_000_000 + (m as u64 * 7919) % 500_000;
        if m <= 60 {
            peak_first_hour = peak_first_hour.max(bytes);
        }
        total += bytes;
        w.submit(sweep(
            "a-sw1",
            at(b + 60 * m),
            vec![("p1", reading(60_000, bytes, 5))],
        ))
        .unwrap();
    }
    w.flush().unwrap();
    let conn = Connection::open(store.path()).unwrap();
    let port_id: i64 = conn
        .query_row("SELECT id FROM series WHERE kind='port'", [], |r| r.get(0))
        .unwrap();
    let sum = |sql: &str| -> i64 { conn.query_row(sql, [port_id], |r| r.get(0)).unwrap() };
    assert_eq!(
        sum("SELECT sum(in_octets) FROM rollup_5m WHERE series_id=?1") as u64,
        total
    );
    // Hours 0 and 1 are sealed (the newest sweep is at 3:00, grace 2 min).
    let h = b / 3600;
    let five_in_first_two_hours: i64 = conn
        .query_row(
            "SELECT sum(in_octets) FROM rollup_5m WHERE series_id=?1 AND bucket >= ?2 AND bucket < ?3",
            [port_id, h * 12, (h + 2) * 12],
            |r| r.get(0),
        )
        .unwrap();
    let hourly: i64 = conn
        .query_row(
            "SELECT sum(in_octets) FROM rollup_1h WHERE series_id=?1 AND bucket < ?2",
            [port_id, h + 2],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(hourly, five_in_first_two_hours);
    let (missing, max_kbps): (i64, i64) = conn
        .query_row(
            "SELECT missing_ms, max_in_kbps FROM rollup_1h WHERE series_id=?1 AND bucket=?2",
            [port_id, h],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(missing, 0, "a fully polled hour is fully covered");
    assert_eq!(max_kbps as u64, peak_first_hour * 8 / 60_000);
    let daily: i64 = sum("SELECT sum(in_octets) FROM rollup_1d WHERE series_id=?1");
    assert!(daily > 0 && daily as u64 <= total);
    assert_eq!(
        daily,
        sum("SELECT sum(in_octets) FROM rollup_1h WHERE series_id=?1")
    );
    // The customer and product line aggregates carry the same bytes.
    for kind in ["product_line", "customer"] {
        let agg: i64 = conn
            .query_row(
                "SELECT sum(r.in_octets) FROM rollup_5m r JOIN series s ON s.id = r.series_id \
                 WHERE s.kind = ?1",
                [kind],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(agg as u64, total, "{kind}");
    }
    // Through the reader, hourly steps come from the 1 h tier, fully covered.
    let r = store.reader();
    let q = RangeQuery::new(
        Entity::new(EntityKind::Customer, "acme"),
        Metric::InBytes,
        at(b),
        at(b + 7200),
    )
    .step(3600);
    let s = r.range(&q).unwrap();
    assert_eq!(s.tier, Tier::H1);
    assert_eq!(s.points.len(), 2);
    assert!(s.points.iter().all(|p| close(p.coverage, 1.0, 1e-9)));
    let sum_read: f64 = s.points.iter().map(|p| p.value.unwrap()).sum();
    assert!(close(sum_read, five_in_first_two_hours as f64, 1e-9));
}

#[test]
fn the_tier_follows_step_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    let retention = Retention {
        raw: Some(Duration::from_secs(3600)),
        rollup_5m: None,
        rollup_1h: None,
        rollup_1d: None,
    };
    let (store, w) = open(&dir, topology(&[("a-sw1", "p1", None, None)]), retention);
    let b = base();
    for m in 1..=240 {
        w.submit(sweep(
            "a-sw1",
            at(b + 60 * m),
            vec![("p1", reading(60_000, 600_000, 0))],
        ))
        .unwrap();
    }
    w.flush().unwrap();
    let r = store.reader();
    let e = Entity::port("a-sw1", "p1");
    let recent = |step| {
        r.range(
            &RangeQuery::new(
                e.clone(),
                Metric::InBps,
                at(b + 3 * 3600 + 600),
                at(b + 4 * 3600),
            )
            .step(step),
        )
        .unwrap()
        .tier
    };
    assert_eq!(recent(60), Tier::Raw);
    assert_eq!(recent(300), Tier::M5);
    assert_eq!(recent(3600), Tier::H1);
    assert_eq!(recent(86_400), Tier::D1);
    // Raw no longer holds a range three hours back: 60 s steps come from 5-minute buckets.
    let old = r
        .range(&RangeQuery::new(e.clone(), Metric::InBps, at(b), at(b + 3600)).step(60))
        .unwrap();
    assert_eq!(old.tier, Tier::M5);
    assert_eq!(old.step_secs, 300);
    assert!(old.points.iter().skip(1).all(|p| p.value.is_some()));
    // Packet rates live at raw resolution only: recent ones come from raw samples, older
    // ones are refused with a reason rather than shown as zero.
    let pps = r
        .range(
            &RangeQuery::new(
                e.clone(),
                Metric::InPps,
                at(b + 3 * 3600 + 600),
                at(b + 4 * 3600),
            )
            .step(300),
        )
        .unwrap();
    assert_eq!(pps.tier, Tier::Raw);
    assert!(pps.points.iter().all(|p| p.value == Some(10.0)), "{pps:?}");
    let err = r
        .range(&RangeQuery::new(e.clone(), Metric::InPps, at(b), at(b + 3600)).step(300))
        .unwrap_err();
    assert!(err.to_string().contains("raw resolution"), "{err}");
    // And retention really deleted the old raw rows.
    let deadline = Instant::now() + StdDuration::from_secs(10);
    let conn = Connection::open(store.path()).unwrap();
    loop {
        let oldest: i64 = conn
            .query_row("SELECT min(ts) FROM port_sample", [], |r| r.get(0))
            .unwrap();
        if oldest >= b + 3 * 3600 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "raw rows older than 1 h remain: {oldest}"
        );
        w.flush().unwrap();
        std::thread::sleep(StdDuration::from_millis(50));
    }
    assert!(w.metrics().retention_rows_deleted_total.get() >= 170);
}

#[test]
fn seasonal_windows_and_latest_points() {
    let dir = tempfile::tempdir().unwrap();
    let topo = topology(&[
        ("a-sw1", "p1", Some("cdn"), None),
        ("b-sw1", "p1", Some("cdn"), None),
    ]);
    let (store, w) = open(&dir, topo, forever());
    let b = base();
    // Ten minutes at noon on three days; day d carries d MB per minute per port.
    for d in 0..3 {
        let day = b + d * 86_400 + 12 * 3600;
        let bytes = (d as u64 + 1) * 1_000_000;
        two_switch_line(&w, day, 0..10, None, (bytes, bytes));
    }
    w.flush().unwrap();
    let r = store.reader();
    let cdn = Entity::new(EntityKind::ProductLine, "cdn");
    let today = b + 2 * 86_400 + 12 * 3600;
    let q = RangeQuery::new(cdn.clone(), Metric::InBps, at(today + 120), at(today + 420)).step(300);
    let now = r.range(&q).unwrap();
    let past = r.seasonal(&q, 2).unwrap();
    assert_eq!(past.len(), 2);
    let rate = |s: &bandwatch::store::SeriesData| s.points[0].value.unwrap();
    // 2 ports x d MB/min = d * 266,666 bit/s.
    assert!(close(rate(&now), 3.0 * 2.0 * 8e6 / 60.0, 1e-3));
    assert!(close(rate(&past[0]), 2.0 * 2.0 * 8e6 / 60.0, 1e-3));
    assert!(close(rate(&past[1]), 2.0 * 8e6 / 60.0, 1e-3));

    let lp = r
        .latest(&Entity::port("b-sw1", "p1"), Metric::InBps, 0.0)
        .unwrap()
        .unwrap();
    assert_eq!(lp.time.as_second(), today + 9 * 60 + 30);
    assert!(close(lp.value.unwrap(), 3e6 * 8.0 / 60.0, 1e-9));
    // The trailing slot is still filling (b-sw1's next sweep is missing): with a coverage
    // threshold the latest settled slot comes back.
    let la = r.latest(&cdn, Metric::InBps, 0.99).unwrap().unwrap();
    assert!(la.coverage >= 0.99);
    assert!(close(la.value.unwrap(), 2.0 * 3e6 * 8.0 / 60.0, 1e-3));
    let loose = r.latest(&cdn, Metric::InBps, 0.0).unwrap().unwrap();
    assert!(loose.time > la.time && loose.coverage < 0.99);
    assert_eq!(
        r.entities(EntityKind::Site).unwrap(),
        vec![
            Entity::new(EntityKind::Site, "a"),
            Entity::new(EntityKind::Site, "b")
        ]
    );
    let all = r
        .by_kind(EntityKind::Switch, &q.clone().tier(Tier::M5))
        .unwrap();
    assert_eq!(all.len(), 2);
}

#[test]
fn topology_reload_and_unlisted_ports_and_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let (store, w) = open(
        &dir,
        topology(&[("a-sw1", "p1", Some("cdn"), None)]),
        forever(),
    );
    let b = base();
    w.submit(sweep(
        "a-sw1",
        at(b + 60),
        vec![("p1", reading(60_000, 1000, 0))],
    ))
    .unwrap();
    // The same sweep again: ignored, counted, not added twice.
    w.submit(sweep(
        "a-sw1",
        at(b + 60),
        vec![("p1", reading(60_000, 1000, 0))],
    ))
    .unwrap();
    w.update_topology(topology(&[
        ("a-sw1", "p1", Some("cdn"), None),
        ("a-sw1", "p2", Some("cdn"), None),
    ]))
    .unwrap();
    w.submit(sweep(
        "a-sw1",
        at(b + 120),
        vec![
            ("p1", reading(60_000, 1000, 0)),
            ("p2", reading(60_000, 3000, 0)),
            ("p9", reading(60_000, 50_000, 0)),
        ],
    ))
    .unwrap();
    w.flush().unwrap();
    let m = w.metrics();
    assert_eq!(m.duplicate_samples_total.get(), 1);
    assert_eq!(m.sweeps_written_total.get(), 3);
    assert_eq!(m.queue_depth.get(), 0);
    let r = store.reader();
    let q = RangeQuery::new(
        Entity::new(EntityKind::ProductLine, "cdn"),
        Metric::InBytes,
        at(b),
        at(b + 120),
    )
    .step(60)
    .measured();
    let v: Vec<Option<f64>> = r
        .range(&q)
        .unwrap()
        .points
        .iter()
        .map(|p| p.value)
        .collect();
    // p9 is not in the topology: stored as a port, not part of cdn.
    assert_eq!(v, vec![Some(1000.0), Some(4000.0)]);
    assert_eq!(
        r.ports_where("product_line", "cdn").unwrap(),
        vec![Entity::port("a-sw1", "p1"), Entity::port("a-sw1", "p2")]
    );
    assert_eq!(r.ports_where("switch", "a-sw1").unwrap().len(), 3);
    assert!(r.ports_where("colour", "red").is_err());
    let p9 = r
        .latest(&Entity::port("a-sw1", "p9"), Metric::InBytes, 0.0)
        .unwrap()
        .unwrap();
    assert_eq!(p9.value, Some(50_000.0));
}

#[test]
fn sweeps_arriving_within_the_batch_window_share_one_transaction_and_a_flush_ends_the_wait() {
    let dir = tempfile::tempdir().unwrap();
    let topo = topology(&[
        ("a-sw1", "p1", None, None),
        ("a-sw2", "p1", None, None),
        ("a-sw3", "p1", None, None),
    ]);
    let store = Store::open(&dir.path().join("bandwatch.db"), &forever()).unwrap();
    let w = store
        .writer_with(
            topo,
            WriterOptions {
                retention_every: StdDuration::ZERO,
                batch_window: StdDuration::from_secs(5),
                ..WriterOptions::default()
            },
        )
        .unwrap();
    let b = base();
    // Sweeps of a fleet arrive spread over the interval, not all at once.
    for (i, sw) in ["a-sw1", "a-sw2", "a-sw3"].iter().enumerate() {
        w.submit(sweep(
            sw,
            at(b + 60 + i as i64),
            vec![("p1", no_delta(Quality::First))],
        ))
        .unwrap();
        std::thread::sleep(StdDuration::from_millis(100));
    }
    // The flush is answered once the gathered sweeps are written, without waiting out the
    // window.
    w.flush().unwrap();
    let m = w.metrics();
    assert_eq!(m.sweeps_written_total.get(), 3);
    assert_eq!(
        m.transactions_total.get(),
        1,
        "three sweeps 100 ms apart inside a 5 s window are one transaction"
    );
    let conn = Connection::open(store.path()).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM port_sample", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 3);
}

/// Sweeps written one commit at a time go into the time-first halves and move into the
/// series-first ones (samples every five minutes of sweep time, 5-minute buckets when sealed);
/// a batch of many sweeps per switch goes straight into the series-first ones. Whichever half
/// holds a row, the reader, the views and the sums see every sample once.
#[test]
fn samples_move_from_the_recent_half_and_are_read_once_wherever_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let topo = topology(&[
        ("a-sw1", "p1", Some("cdn"), None),
        ("a-sw1", "p2", Some("cdn"), None),
    ]);
    let (store, w) = open(&dir, topo, forever());
    let b = base();
    let mut total = 0u64;
    // 15 minutes, one commit per sweep: the recent path.
    for m in 1..=15 {
        let bytes = 1_000_000 + m as u64 * 1_000;
        total += 2 * bytes;
        let ports = vec![
            ("p1", reading(60_000, bytes, 1)),
            ("p2", reading(60_000, bytes, 1)),
        ];
        w.submit(sweep("a-sw1", at(b + 60 * m), ports)).unwrap();
        w.flush().unwrap();
    }
    let conn = Connection::open(store.path()).unwrap();
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    let moved = count("SELECT count(*) FROM port_sample_by_series");
    let recent = count("SELECT count(*) FROM port_sample_recent");
    assert!(moved > 0 && recent > 0, "moved {moved}, recent {recent}");
    assert_eq!(moved + recent, 30);
    assert_eq!(count("SELECT count(*) FROM port_sample"), 30);
    // Open buckets wait in the recent half; sealed ones are in the series' pages.
    assert!(count("SELECT count(*) FROM rollup_5m_by_series") > 0);
    assert!(count("SELECT count(*) FROM rollup_5m_recent") > 0);
    let sealed: i64 = conn
        .query_row("SELECT value FROM meta WHERE key = 'sealed_5m'", [], |r| {
            r.get::<_, String>(0)
        })
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        count(&format!(
            "SELECT count(*) FROM rollup_5m_recent WHERE bucket < {sealed}"
        )),
        0
    );
    let r = store.reader();
    let p1 = Entity::port("a-sw1", "p1");
    let samples = r.port_samples(&p1, at(b), at(b + 3600)).unwrap();
    let times: Vec<i64> = samples.iter().map(|s| s.time.as_second()).collect();
    assert_eq!(times, (1..=15).map(|m| b + 60 * m).collect::<Vec<_>>());
    assert!(samples.iter().all(|s| s.speed_bps == Some(1_000_000_000)));
    let latest = r.latest(&p1, Metric::InBps, 0.0).unwrap().unwrap();
    assert_eq!(latest.time, at(b + 900));
    // Raw steps and 5-minute steps (sealed buckets and open ones) each add up to the total.
    let sum = |e: Entity, step: i64| -> f64 {
        let q = RangeQuery::new(e, Metric::InBytes, at(b), at(b + 1200))
            .step(step)
            .measured();
        r.range(&q)
            .unwrap()
            .points
            .iter()
            .filter_map(|p| p.value)
            .sum()
    };
    let ports = sum(p1.clone(), 60) + sum(Entity::port("a-sw1", "p2"), 60);
    assert_eq!(ports as u64, total);
    let ports_5m = sum(p1, 300) + sum(Entity::port("a-sw1", "p2"), 300);
    assert_eq!(ports_5m as u64, total);
    let line = sum(Entity::new(EntityKind::ProductLine, "cdn"), 300);
    assert!(close(line, total as f64, 1e-9), "{line} vs {total}");

    // Ten sweeps in one batch: straight into the series-first tables.
    let before = count("SELECT count(*) FROM port_sample_recent");
    for m in 16..=25 {
        let bytes = 2_000_000;
        total += 2 * bytes;
        let ports = vec![
            ("p1", reading(60_000, bytes, 1)),
            ("p2", reading(60_000, bytes, 1)),
        ];
        w.submit(sweep("a-sw1", at(b + 60 * m), ports)).unwrap();
    }
    w.flush().unwrap();
    assert!(count("SELECT count(*) FROM port_sample_recent") <= before);
    assert_eq!(count("SELECT count(*) FROM port_sample"), 50);
    let all = |e: Entity| -> f64 {
        let q = RangeQuery::new(e, Metric::InBytes, at(b), at(b + 1800))
            .step(300)
            .measured();
        r.range(&q)
            .unwrap()
            .points
            .iter()
            .filter_map(|p| p.value)
            .sum()
    };
    let ports_5m = all(Entity::port("a-sw1", "p1")) + all(Entity::port("a-sw1", "p2"));
    assert_eq!(ports_5m as u64, total);
    // The same sweep again is a duplicate wherever the first copy is.
    w.submit(sweep(
        "a-sw1",
        at(b + 60),
        vec![("p1", reading(60_000, 5, 1))],
    ))
    .unwrap();
    w.submit(sweep(
        "a-sw1",
        at(b + 60 * 25),
        vec![("p1", reading(60_000, 5, 1))],
    ))
    .unwrap();
    w.flush().unwrap();
    assert_eq!(count("SELECT count(*) FROM port_sample"), 50);
    assert_eq!(w.metrics().duplicate_samples_total.get(), 2);
}

#[test]
fn a_restart_writes_newer_sweeps_at_once_and_still_finds_a_stepped_back_clocks_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let topo = || {
        topology(&[
            ("a-sw1", "p1", Some("cdn"), None),
            ("a-sw1", "p2", Some("cdn"), None),
        ])
    };
    let b = base();
    {
        let (_store, w) = open(&dir, topo(), forever());
        w.submit(sweep(
            "a-sw1",
            at(b + 60),
            vec![("p1", reading(60_000, 1000, 0))],
        ))
        .unwrap();
        w.shutdown();
    }
    // Restarted: the store's newest mark is b + 60. A sweep at that second again (a clock
    // stepped back) is a first sight of p1 at or before the mark: looked up, found, skipped.
    // The sweep after it is newer than anything stored: p1 and p2 (never stored) are
    // written without a look-up.
    let (store, w) = open(&dir, topo(), forever());
    w.submit(sweep(
        "a-sw1",
        at(b + 60),
        vec![("p1", reading(60_000, 1000, 0))],
    ))
    .unwrap();
    w.submit(sweep(
        "a-sw1",
        at(b + 120),
        vec![
            ("p1", reading(60_000, 2000, 0)),
            ("p2", reading(60_000, 3000, 0)),
        ],
    ))
    .unwrap();
    w.flush().unwrap();
    assert_eq!(w.metrics().duplicate_samples_total.get(), 1);
    let r = store.reader();
    let series = |port: &str| -> Vec<Option<f64>> {
        let q = RangeQuery::new(
            Entity::port("a-sw1", port),
            Metric::InBytes,
            at(b),
            at(b + 120),
        )
        .step(60)
        .measured();
        r.range(&q)
            .unwrap()
            .points
            .iter()
            .map(|p| p.value)
            .collect()
    };
    assert_eq!(series("p1"), vec![Some(1000.0), Some(2000.0)]);
    assert_eq!(series("p2"), vec![None, Some(3000.0)]);
}

#[test]
fn a_restart_reads_the_seals_pages_ahead_and_then_seals_everything_that_came_due() {
    let dir = tempfile::tempdir().unwrap();
    let topo = || topology(&[("a-sw1", "p1", Some("cdn"), None)]);
    let b = base();
    let writer = |store: &Store| {
        store
            .writer_with(
                topo(),
                WriterOptions {
                    retention_every: StdDuration::ZERO,
                    // Read ahead on any store, however small.
                    warm_min_bytes: 0,
                    ..WriterOptions::default()
                },
            )
            .unwrap()
    };
    let store = Store::open(&dir.path().join("bandwatch.db"), &forever()).unwrap();
    let mut total = 0u64;
    let w = writer(&store);
    for m in 1..=60 {
        total += 1_000 + m;
        w.submit(sweep(
            "a-sw1",
            at(b + 60 * m as i64),
            vec![("p1", reading(60_000, 1_000 + m, 0))],
        ))
        .unwrap();
    }
    w.shutdown();
    // Restarted: the reader goes through the store's pages while sweeps come in; the
    // 5-minute seal and the move follow once it is done.
    let w = writer(&store);
    for m in 61..=180 {
        total += 1_000 + m;
        w.submit(sweep(
            "a-sw1",
            at(b + 60 * m as i64),
            vec![("p1", reading(60_000, 1_000 + m, 0))],
        ))
        .unwrap();
    }
    w.flush().unwrap();
    let conn = Connection::open(store.path()).unwrap();
    let port: i64 = conn
        .query_row("SELECT id FROM series WHERE kind='port'", [], |r| r.get(0))
        .unwrap();
    let sum = |sql: &str| -> i64 { conn.query_row(sql, [port], |r| r.get(0)).unwrap() };
    // The seal and the move wait for the reader's pass, which runs beside the writes: on a
    // busy machine it may end after the last sweep was committed. Wait for the hourly rollup
    // to hold every sealed bucket and the samples to have moved (at most a minute), then
    // check everything.
    let sealed_before_mark = || -> i64 {
        conn.query_row(
            "SELECT sum(in_octets) FROM rollup_5m WHERE series_id=?1 AND bucket < ?2",
            [port, b / 300 + 35],
            |r| r.get(0),
        )
        .unwrap()
    };
    let deadline = std::time::Instant::now() + StdDuration::from_secs(60);
    while (sum("SELECT coalesce(sum(in_octets), 0) FROM rollup_1h WHERE series_id=?1")
        != sealed_before_mark()
        || sum("SELECT count(*) FROM port_sample_by_series WHERE series_id=?1") < 170)
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(StdDuration::from_millis(50));
    }
    assert_eq!(
        sum("SELECT sum(in_octets) FROM rollup_5m WHERE series_id=?1") as u64,
        total
    );
    // Every 5-minute bucket before the mark (3:00 less the 2-minute grace: 35 buckets) is
    // in the hourly and daily rollups, whichever run wrote it.
    let sealed = sealed_before_mark();
    assert!(sealed > 0);
    assert_eq!(
        sum("SELECT sum(in_octets) FROM rollup_1h WHERE series_id=?1"),
        sealed
    );
    assert_eq!(
        sum("SELECT sum(in_octets) FROM rollup_1d WHERE series_id=?1"),
        sum("SELECT sum(in_octets) FROM rollup_1h WHERE series_id=?1")
    );
    // The samples moved into the series' own pages.
    assert!(sum("SELECT count(*) FROM port_sample_by_series WHERE series_id=?1") >= 170);
}
