//! "Sealed up to T" on a real SQLite file: the writer moves the mark only once every switch
//! has a committed sweep past a slot's end, the slot is then complete in the database, and a
//! switch that falls silent holds the mark back by no more than the grace.

use crate::store_support;

use bandwatch::config::Retention;
use bandwatch::store::sealed::slot_grace;
use bandwatch::store::{Entity, EntityKind, Metric, RangeQuery, Store};
use store_support::*;

#[test]
fn the_writer_seals_a_slot_once_every_switch_has_swept_past_it() {
    let dir = tempfile::tempdir().unwrap();
    let topo = topology(&[
        ("a-sw1", "xe-0/0/1", Some("cdn"), None),
        ("b-sw1", "xe-0/0/1", Some("cdn"), None),
    ]);
    let store = Store::open(&dir.path().join("bandwatch.db"), &Retention::default()).unwrap();
    let w = store.writer(topo.clone()).unwrap();
    let mut sealed = w.sealed();
    assert_eq!(*sealed.borrow_and_update(), None, "nothing stored yet");
    let b = base();
    let one =
        |sw: &str, t: i64| sweep(sw, at(t), vec![("xe-0/0/1", reading(60_000, 6_000_000, 0))]);

    // Both switches past b + 60, only a-sw1 past b + 120: slots up to b + 60 are complete.
    w.submit(one("a-sw1", b + 60)).unwrap();
    w.submit(one("b-sw1", b + 61)).unwrap();
    w.submit(one("a-sw1", b + 120)).unwrap();
    w.flush().unwrap();
    assert!(sealed.has_changed().unwrap());
    assert_eq!(
        sealed.borrow_and_update().map(|t| t.as_second()),
        Some(b + 60)
    );

    // b-sw1 answers past b + 120: the slot [b + 60, b + 120) is sealed, and it is in the
    // file, whole, when the mark says so.
    w.submit(one("b-sw1", b + 121)).unwrap();
    w.flush().unwrap();
    assert!(sealed.has_changed().unwrap());
    let mark = sealed.borrow_and_update().map(|t| t.as_second());
    assert_eq!(mark, Some(b + 120));
    let q = RangeQuery::new(
        Entity::new(EntityKind::ProductLine, "cdn"),
        Metric::InBps,
        at(b + 60),
        at(b + 120),
    )
    .step(60);
    let points = store.reader().range(&q).unwrap().points;
    assert_eq!(points.len(), 1);
    assert_eq!(points[0].coverage, 1.0, "{points:?}");
    // Two ports at 6,000,000 octets a minute each.
    assert_eq!(points[0].value, Some(2.0 * 6_000_000.0 * 8.0 / 60.0));

    // b-sw1 falls silent: a-sw1's sweeps move the mark on, a grace behind them.
    for i in 3..=10 {
        w.submit(one("a-sw1", b + 60 * i)).unwrap();
    }
    w.flush().unwrap();
    let grace = slot_grace(&topo);
    let want = (b + 600 - grace).div_euclid(60) * 60;
    assert!(want > b + 120);
    assert_eq!(
        sealed.borrow_and_update().map(|t| t.as_second()),
        Some(want)
    );
    w.shutdown();

    // A writer started on the file publishes at once, from the newest stored sweep.
    let w = store.writer(topo).unwrap();
    assert_eq!(w.sealed().borrow().map(|t| t.as_second()), Some(want));
}
