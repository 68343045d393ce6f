//! Baselines warmed from a real SQLite store after a restart: the 5-minute step that is still
//! being filled when the daemon starts is not read as history, so the first live points are
//! evaluated (a spike right after a start fires) instead of being taken for out-of-order ones.

#[path = "store_support/mod.rs"]
mod store_support;

use bandwatch::config::Retention;
use bandwatch::rules::live::StoreHistory;
use bandwatch::rules::{Engine, Entity, History, MemoryStateStore, Metric, Point};
use bandwatch::store::Store;
use store_support::*;

const RULE: &str = r#"
[[rule]]
name = "uplink-attack"
kind = "spike"
scope = "port"
metric = "in_bps"
baseline = "seasonal"
history = "2d"
season = "1d"
factor = 3.0
min_delta = "50Mbps"
for = "0s"
severity = "critical"
notify = []
"#;

#[test]
fn history_ends_at_the_last_complete_step_and_a_spike_after_a_restart_fires() {
    let dir = tempfile::tempdir().unwrap();
    let topo = topology(&[("a-sw1", "p1", None, None)]);
    let retention = Retention {
        raw: None,
        rollup_5m: None,
        rollup_1h: None,
        rollup_1d: None,
    };
    let store = Store::open(&dir.path().join("bandwatch.db"), &retention).unwrap();
    let writer = store.writer(topo.clone()).unwrap();
    // Two days of 100 Mbit/s, one sweep a minute, ending 2 minutes into a 5-minute step.
    let start = base() - 86_400;
    let restart = start + 2 * 86_400 + 120;
    writer
        .submit(sweep(
            "a-sw1",
            at(start),
            vec![("p1", no_delta(bandwatch::poll::Quality::First))],
        ))
        .unwrap();
    let mut t = start + 60;
    while t <= restart {
        writer
            .submit(sweep(
                "a-sw1",
                at(t),
                vec![("p1", reading(60_000, 750_000_000, 1))],
            ))
            .unwrap();
        t += 60;
    }
    writer.flush().unwrap();
    drop(writer);

    let history = StoreHistory::new(store.reader().unwrap());
    let port = Entity::port(&topo.switches[0].ports[0]);
    let now = at(restart);
    let past = history.points(&port, Metric::InBps, at(restart - 2 * 86_400), now);
    assert!(past.len() > 500, "only {} history points", past.len());
    assert!(
        past.iter().all(|p| p.time <= now),
        "a history point after the restart time: {:?}",
        past.last()
    );

    // The engine after the restart: the very next points are evaluated against the warmed
    // baseline, and a x8 spike fires at once.
    let dir_rules = tempfile::tempdir().unwrap();
    std::fs::write(dir_rules.path().join("r.toml"), RULE).unwrap();
    let (rules, diags) = bandwatch::rules::file::load_dir(dir_rules.path(), &topo);
    assert!(diags.0.is_empty(), "{diags}");
    let mut engine = Engine::new(
        rules.rules,
        (*topo).clone(),
        Box::new(MemoryStateStore::default()),
        Box::new(history),
    );
    let quiet = engine.observe(&port, Metric::InBps, Point::known(at(restart + 10), 100e6));
    assert!(quiet.transitions.is_empty(), "{quiet:?}");
    let spike = engine.observe(&port, Metric::InBps, Point::known(at(restart + 20), 800e6));
    assert!(
        spike.transitions.iter().any(|t| t.rule == "uplink-attack"),
        "no alert for a x8 spike right after a restart: {spike:?}"
    );
}
