//! Baselines warmed from a real SQLite store after a start: the 5-minute step that is still
//! being filled is not read as history, so the first live points are evaluated (a spike right
//! after a start fires) instead of being taken for out-of-order ones; and aggregate rules join
//! the 5-minute history to the live 60 s slots without a hole, so a start fires no churn
//! alert for steady customers while a real drop still fires.

use crate::store_support;

use bandwatch::config::Retention;
use bandwatch::rules::live::{LiveRules, StoreHistory};
use bandwatch::rules::{Engine, Entity, History, MemoryStateStore, Metric, Point};
use bandwatch::store::Store;
use jiff::Timestamp;
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

/// A SQLite store in `dir` that keeps every tier forever (the tests write weeks in the past).
fn store_keeping_everything(dir: &std::path::Path) -> Store {
    let retention = Retention {
        raw: None,
        rollup_5m: None,
        rollup_1h: None,
        rollup_1d: None,
    };
    Store::open(&dir.join("bandwatch.db"), &retention).unwrap()
}

/// The rules of one rule file's text, which must load clean.
fn load_rules(text: &str, topo: &bandwatch::config::Topology) -> Vec<bandwatch::rules::Rule> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.toml"), text).unwrap();
    let (rules, diags) = bandwatch::rules::file::load_dir(dir.path(), topo);
    assert!(diags.0.is_empty(), "{diags}");
    rules.rules
}

#[test]
fn history_ends_at_the_last_complete_step_and_a_spike_after_a_restart_fires() {
    let dir = tempfile::tempdir().unwrap();
    let topo = topology(&[("a-sw1", "p1", None, None)]);
    let store = store_keeping_everything(dir.path());
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

    let history = StoreHistory::new(store.reader());
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
    let rules = load_rules(RULE, &topo);
    let mut engine = Engine::new(
        rules,
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

const CHURN: &str = r#"
[[rule]]
name = "customer-churn-risk"
kind = "drop"
scope = "customer"
metric = "usage_bytes"
window = "1m"
recent = "1m"
reference = "30m"
max_drop = 0.4
min_coverage = 0.5
severity = "warning"
notify = []
"#;

#[test]
fn a_start_over_five_minute_history_fires_no_churn_and_a_real_drop_fires_within_two_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let topo = topology(&[("a-sw1", "p1", None, Some("acme"))]);
    let store = store_keeping_everything(dir.path());
    let writer = store.writer(topo.clone()).unwrap();
    // A day of history one sweep every 5 minutes (like the demo's backfill), ending 140 s
    // into a 5-minute step; then live sweeps every 10 s: 10 steady minutes, 3 minutes at 30%,
    // then steady again for 10 minutes.
    let start = base();
    let live = start + 86_400 + 140;
    let rate = 12_500_000u64; // bytes per second each way: 100 Mbit/s
    writer
        .submit(sweep(
            "a-sw1",
            at(start + 140),
            vec![("p1", no_delta(bandwatch::poll::Quality::First))],
        ))
        .unwrap();
    let mut t = start + 140;
    while t < live {
        t += 300;
        writer
            .submit(sweep(
                "a-sw1",
                at(t),
                vec![("p1", reading(300_000, rate * 300, rate * 300))],
            ))
            .unwrap();
    }
    let drop_at = t + 600;
    let recover_at = drop_at + 180;
    let end = recover_at + 600;
    while t < end {
        t += 10;
        let r = if t > drop_at && t <= recover_at {
            rate * 3
        } else {
            rate * 10
        };
        writer
            .submit(sweep("a-sw1", at(t), vec![("p1", reading(10_000, r, r))]))
            .unwrap();
    }
    writer.flush().unwrap();
    drop(writer);

    let rules = load_rules(CHURN, &topo);
    let history = StoreHistory::new(store.reader());
    let reader = store.reader();
    let mut rules = LiveRules::new(
        rules,
        &topo,
        Box::new(MemoryStateStore::default()),
        Box::new(history),
    );
    // The daemon's cycle: every 5 s, the slots complete 19 s ago.
    let mut fired = None;
    let mut explanation = None;
    let mut now = live + 20;
    while now < end - 60 {
        let out = rules.on_aggregates(&reader, at(now - 19));
        if explanation.is_none() {
            explanation = out.events.first().map(|e| e.explanation.clone());
        }
        for tr in &out.transitions {
            assert!(
                now > drop_at,
                "a churn transition before the drop, {} s after the start: {tr:?}",
                now - live
            );
            if fired.is_none() && format!("{:?}", tr.change) == "Fired" {
                fired = Some(now);
            }
        }
        now += 5;
    }
    let fired = fired.expect("the 3-minute drop to 30% never fired the churn rule");
    let text = explanation.expect("no notice for the churn alert");
    assert!(
        text.starts_with("mean per-minute usage ") && text.contains("% below the "),
        "{text}"
    );
    assert!(
        fired - drop_at <= 120 + 19,
        "churn fired {} s after the drop",
        fired - drop_at
    );
}

/// A history that counts the points it hands out, over the store's.
struct Counted {
    inner: StoreHistory,
    points: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl History for Counted {
    fn points(&self, e: &Entity, m: Metric, from: Timestamp, to: Timestamp) -> Vec<Point> {
        let v = self.inner.points(e, m, from, to);
        self.points
            .fetch_add(v.len(), std::sync::atomic::Ordering::Relaxed);
        v
    }

    fn points_every(
        &self,
        e: &Entity,
        m: Metric,
        from: Timestamp,
        to: Timestamp,
        step: i64,
    ) -> Vec<Point> {
        let v = self.inner.points_every(e, m, from, to, step);
        self.points
            .fetch_add(v.len(), std::sync::atomic::Ordering::Relaxed);
        v
    }
}

const DAILY_CHURN: &str = r#"
[[rule]]
name = "customer-churn-risk"
kind = "drop"
scope = "customer"
metric = "usage_bytes"
window = "1d"
recent = "1d"
reference = "7d"
max_drop = 0.4
min_coverage = 0.9
severity = "warning"
notify = []
"#;

/// A churn rule over days, started in the middle of a day: it warms from the store's daily
/// totals and today's 5-minute steps (a few dozen rows, not eight days of 5-minute ones), the
/// restart day is totalled whole (its history and its live minutes join without a hole or an
/// overlap), a day the port partly did not answer is estimated once from what was measured,
/// and a day at 30 % fires when it closes, against exactly the mean of the seven days before
/// it.
#[test]
fn a_daily_churn_rule_warms_from_daily_totals_and_judges_the_restart_day_whole() {
    let dir = tempfile::tempdir().unwrap();
    let topo = topology(&[("a-sw1", "p1", None, Some("acme"))]);
    let store = store_keeping_everything(dir.path());
    let writer = store.writer(topo.clone()).unwrap();
    // Each day its own rate (so a day left out or miscounted moves the reference): 12 days of
    // 5-minute sweeps, a restart at 10:00 on day 12, live minutes to 00:10 after day 14; day
    // 14 at 30 %.
    let start = base() - 13 * 86_400;
    let day_rate = |day: i64| -> u64 { 10_000_000 + 1_000_000 * (day.rem_euclid(5) as u64) };
    let restart = start + 12 * 86_400 + 10 * 3600;
    let end = start + 15 * 86_400 + 600;
    writer
        .submit(sweep(
            "a-sw1",
            at(start),
            vec![("p1", no_delta(bandwatch::poll::Quality::First))],
        ))
        .unwrap();
    let mut t = start;
    while t < end {
        let step = if t < restart { 300 } else { 60 };
        t += step;
        let day = (t - 1 - start).div_euclid(86_400);
        let rate = if day == 14 {
            day_rate(day) * 3 / 10
        } else {
            day_rate(day)
        };
        let octets = rate * step as u64;
        // Day 8 (warmed from its daily total) from 12:00 to 13:15 the port does not answer:
        // that day is known for 95 % of its time, and its total is the estimate of the whole
        // day, scaled up by that coverage once.
        let of_day = (t - 1 - start).rem_euclid(86_400);
        let outcome = if day == 8 && (12 * 3600..12 * 3600 + 75 * 60).contains(&of_day) {
            unknown(bandwatch::poll::UnknownReason::Timeout)
        } else {
            reading(step as u64 * 1000, octets, octets)
        };
        writer
            .submit(sweep("a-sw1", at(t), vec![("p1", outcome)]))
            .unwrap();
    }
    writer.flush().unwrap();
    drop(writer);

    let rules = load_rules(DAILY_CHURN, &topo);
    let read = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let history = Counted {
        inner: StoreHistory::new(store.reader()),
        points: read.clone(),
    };
    let reader = store.reader();
    let mut rules = LiveRules::new(
        rules,
        &topo,
        Box::new(MemoryStateStore::default()),
        Box::new(history),
    );
    // The daemon's cycle, once a minute: the slots complete 19 s ago.
    let day14_end = start + 15 * 86_400;
    let mut fired = None;
    let mut now = restart + 20;
    while now < end {
        let out = rules.on_aggregates(&reader, at(now - 19));
        for tr in &out.transitions {
            assert!(
                now >= day14_end,
                "a churn transition {} h after the restart, before day 14 closed: {tr:?}",
                (now - restart) / 3600
            );
        }
        if fired.is_none()
            && let Some(e) = out.events.first()
        {
            fired = Some((now, e.value, e.baseline));
        }
        now += 60;
    }
    // Warm-up: 8 daily totals (the window before the reference too) and the 120 5-minute
    // steps of the restart day before 10:00; eight days of 5-minute steps would be 2,304.
    let n = read.load(std::sync::atomic::Ordering::Relaxed);
    assert!(n <= 140, "{n} points read to warm a daily churn rule");
    let (when, value, baseline) = fired.expect("day 14 at 30 % never fired the churn rule");
    assert!(
        when - day14_end <= 120,
        "fired {} s after day 14 closed",
        when - day14_end
    );
    // Both directions, a whole day each.
    let total = |day: i64| 2.0 * day_rate(day) as f64 * 86_400.0;
    let reference = (7..14).map(total).sum::<f64>() / 7.0;
    let recent = 0.3 * total(14);
    let baseline = baseline.expect("a churn notice carries its reference");
    assert!(
        (baseline / reference - 1.0).abs() < 0.002,
        "reference {baseline} against {reference}"
    );
    assert!(
        (value / recent - 1.0).abs() < 0.002,
        "recent {value} against {recent}"
    );
}
