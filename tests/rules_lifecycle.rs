//! The alert lifecycle through the engine: `for`, `clear_for`, repeat, flap damping, gaps
//! that neither fire nor resolve, silences that never swallow a resolved notice, routes
//! expanded from the topology, and the explanation text.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bandwatch::config::{self, SourceFile, Topology};
use bandwatch::rules::file::parse_source;
use bandwatch::rules::{
    Change, Engine, Entity, MemoryStateStore, Metric, NoHistory, NoticeKind, Outcome, Point, Rule,
    Silence,
};
use jiff::Timestamp;

fn topology() -> Topology {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    config::load(&root.join("config/bandwatch.toml"))
        .unwrap()
        .config
        .topology
}

fn rules(text: &str, topo: &Topology) -> Vec<Rule> {
    let src = SourceFile {
        path: PathBuf::from("test.toml"),
        text: text.into(),
    };
    let (rules, diags) = parse_source(&src, topo, &mut HashMap::new());
    assert!(diags.0.is_empty(), "{diags}");
    rules
}

const T0: i64 = 1_767_571_200;

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).unwrap()
}

const THRESHOLD: &str = r#"
[[rule]]
name = "saturated"
kind = "threshold"
scope = "series"
metric = "value"
above = 90
for = "3m"
clear_for = "5m"
repeat = "1h"
severity = "critical"
notify = ["ops"]
"#;

/// Feeds one value per minute from `start`; returns every outcome merged and the next time.
fn feed(e: &mut Engine, ent: &Entity, start: i64, values: &[Option<f64>]) -> (Outcome, i64) {
    let mut all = Outcome::default();
    let mut t = start;
    for v in values {
        let p = match v {
            Some(v) => Point::known(ts(t), *v),
            None => Point::unknown(ts(t)),
        };
        let o = e.observe(ent, Metric::Value, p);
        all.transitions.extend(o.transitions);
        all.events.extend(o.events);
        t += 60;
    }
    (all, t)
}

fn changes(o: &Outcome) -> Vec<Change> {
    o.transitions.iter().map(|t| t.change).collect()
}

fn kinds(o: &Outcome) -> Vec<NoticeKind> {
    o.events.iter().map(|e| e.kind).collect()
}

fn engine(r: Vec<Rule>, topo: Topology) -> Engine {
    Engine::new(
        r,
        topo,
        Box::new(MemoryStateStore::new()),
        Box::new(NoHistory),
    )
}

#[test]
fn for_and_clear_for_give_hysteresis() {
    let topo = topology();
    let mut e = engine(rules(THRESHOLD, &topo), topo);
    let ent = Entity::series("link");
    // Two minutes above: pending, then cancelled; nothing notified.
    let (o, t) = feed(&mut e, &ent, T0, &[Some(95.0), Some(95.0), Some(50.0)]);
    assert_eq!(changes(&o), [Change::Pending, Change::Cancelled]);
    assert!(o.events.is_empty());
    // Four minutes above: fires at the fourth point (3 minutes after the first).
    let (o, t) = feed(&mut e, &ent, t, &[Some(95.0); 4]);
    assert_eq!(changes(&o), [Change::Pending, Change::Fired]);
    assert_eq!(o.transitions[1].at, ts(t - 60));
    assert_eq!(kinds(&o), [NoticeKind::Firing]);
    let ev = &o.events[0];
    assert_eq!(ev.routes, ["ops"]);
    assert_eq!(ev.explanation, "95, above 90, for 3 min");
    // Dips shorter than clear_for do not resolve.
    let (o, t) = feed(&mut e, &ent, t, &[Some(50.0), Some(50.0), Some(95.0)]);
    assert!(o.transitions.is_empty() && o.events.is_empty());
    // A gap neither resolves nor counts towards clear_for.
    let (o, t) = feed(
        &mut e,
        &ent,
        t,
        &[Some(50.0), Some(50.0), None, None, Some(50.0)],
    );
    assert!(o.transitions.is_empty(), "{o:?}");
    // Five minutes below: resolved, with its notice.
    let (o, _) = feed(&mut e, &ent, t, &[Some(50.0); 6]);
    assert_eq!(changes(&o), [Change::Resolved]);
    assert_eq!(kinds(&o), [NoticeKind::Resolved]);
    assert!(
        o.events[0].explanation.starts_with("resolved after"),
        "{}",
        o.events[0].explanation
    );
}

#[test]
fn repeat_renotifies_while_firing() {
    let topo = topology();
    let mut e = engine(rules(THRESHOLD, &topo), topo);
    let ent = Entity::series("link");
    let (o, _) = feed(&mut e, &ent, T0, &vec![Some(99.0); 3 + 150]);
    // Fired at minute 3, repeated at 63 and 123.
    assert_eq!(
        kinds(&o),
        [NoticeKind::Firing, NoticeKind::Repeat, NoticeKind::Repeat]
    );
    assert!(
        o.events[1]
            .explanation
            .starts_with("still firing: 99, above 90")
    );
    assert_eq!(o.events[1].at, ts(T0 + 63 * 60));
}

#[test]
fn repeats_back_off_up_to_repeat_max() {
    let topo = topology();
    let text = THRESHOLD.replace(
        "repeat = \"1h\"",
        "repeat = \"1h\"\nrepeat_backoff = 2.0\nrepeat_max = \"6h\"",
    );
    let mut e = engine(rules(&text, &topo), topo);
    let ent = Entity::series("link");
    // Firing for a day (one point a minute, fired at minute 3).
    let (o, _) = feed(&mut e, &ent, T0, &vec![Some(99.0); 3 + 24 * 60]);
    let at: Vec<i64> = o
        .events
        .iter()
        .map(|ev| (ev.at.as_second() - T0) / 60)
        .collect();
    // Fired at minute 3; repeats 1 h, 2 h, 4 h, then 6 h (the cap), 6 h apart: minutes
    // 63, 183, 423, 783, 1143 (the next, 1503, is after the day).
    assert_eq!(kinds(&o)[0], NoticeKind::Firing);
    assert_eq!(at, [3, 63, 183, 423, 783, 1143]);
    // A new firing starts the intervals over.
    let (o, t) = feed(&mut e, &ent, T0 + (3 + 24 * 60) * 60, &[Some(10.0); 6]);
    assert_eq!(kinds(&o), [NoticeKind::Resolved]);
    let (o, _) = feed(&mut e, &ent, t, &vec![Some(99.0); 3 + 61]);
    assert_eq!(kinds(&o), [NoticeKind::Firing, NoticeKind::Repeat]);
}

#[test]
fn a_flap_rule_is_flapping_instead_of_held_firing() {
    let topo = topology();
    let r = rules(
        r#"
[[rule]]
name = "flappy"
kind = "threshold"
scope = "series"
metric = "value"
above = 90
notify = ["ops"]
flap = { changes = 4, within = "30m", clear_for = "10m" }
"#,
        &topo,
    );
    let mut e = engine(r, topo);
    let ent = Entity::series("link");
    // Up and down every two minutes for an hour: fired at minute 0, resolved at 2 (the first
    // change), fired at 4, resolved at 6, and the fourth change (minute 8) makes it flapping.
    let pattern: Vec<Option<f64>> = (0..60)
        .map(|i| Some(if (i / 2) % 2 == 0 { 95.0 } else { 10.0 }))
        .collect();
    let (o, t) = feed(&mut e, &ent, T0, &pattern);
    assert_eq!(
        kinds(&o),
        [
            NoticeKind::Firing,
            NoticeKind::Resolved,
            NoticeKind::Firing,
            NoticeKind::Resolved,
            NoticeKind::Flapping
        ]
    );
    assert_eq!(o.events[4].at, ts(T0 + 8 * 60));
    // The lifecycle goes on underneath: every onset is recorded.
    let fired = changes(&o).iter().filter(|c| **c == Change::Fired).count();
    assert_eq!(fired, 15);
    // Ten quiet minutes after the last change (minute 58): stable again, and clear.
    let (o, _) = feed(&mut e, &ent, t, &vec![Some(10.0); 15]);
    assert_eq!(kinds(&o), [NoticeKind::Stable]);
    assert_eq!(o.events[0].at, ts(T0 + 68 * 60));
    assert!(
        o.events[0].explanation.ends_with("now clear"),
        "{}",
        o.events[0].explanation
    );
}

#[test]
fn flapping_alerts_are_held_firing() {
    let topo = topology();
    let r = rules(
        r#"
[[rule]]
name = "flappy"
kind = "threshold"
scope = "series"
metric = "value"
above = 90
notify = ["ops"]
"#,
        &topo,
    );
    let mut e = engine(r, topo);
    let ent = Entity::series("link");
    // Up and down every two minutes for an hour.
    let pattern: Vec<Option<f64>> = (0..60)
        .map(|i| Some(if (i / 2) % 2 == 0 { 95.0 } else { 10.0 }))
        .collect();
    let (o, t) = feed(&mut e, &ent, T0, &pattern);
    let fired = o
        .transitions
        .iter()
        .filter(|t| t.change == Change::Fired)
        .count();
    let resolved = o
        .transitions
        .iter()
        .filter(|t| t.change == Change::Resolved)
        .count();
    // Two full cycles, then the third onset makes it flapping: held firing.
    assert_eq!((fired, resolved), (3, 2));
    // Quiet for a whole hour: it finally resolves.
    let (o, _) = feed(&mut e, &ent, t, &vec![Some(10.0); 61]);
    assert_eq!(changes(&o), [Change::Resolved]);
}

#[test]
fn silences_suppress_new_notices_but_never_a_resolved_one() {
    let topo = topology();
    let mut e = engine(rules(THRESHOLD, &topo), topo);
    let a = Entity::series("a");
    let b = Entity::series("b");
    let silence = |series: &str, until: i64| Silence {
        id: 1,
        rule: Some("saturated".into()),
        matchers: [("series".to_string(), series.to_string())].into(),
        until: ts(until),
        reason: "maintenance".into(),
    };
    // `a` fires and is notified; then a silence covers it: the resolved notice still goes out.
    let (o, t) = feed(&mut e, &a, T0, &[Some(95.0); 4]);
    assert_eq!(kinds(&o), [NoticeKind::Firing]);
    e.set_silences(vec![silence("a", T0 + 86400)]);
    let (o, _) = feed(&mut e, &a, t, &[Some(50.0); 6]);
    assert_eq!(kinds(&o), [NoticeKind::Resolved]);
    // `b` fires under a silence: no firing notice, and so no resolved notice either.
    e.set_silences(vec![silence("b", T0 + 3600)]);
    let (o, t) = feed(&mut e, &b, T0, &[Some(95.0); 10]);
    assert_eq!(changes(&o), [Change::Pending, Change::Fired]);
    assert!(o.events.is_empty());
    // It is still firing when the silence ends: now it is notified.
    let (o, _) = feed(&mut e, &b, T0 + 3600, &[Some(95.0); 2]);
    assert_eq!(kinds(&o), [NoticeKind::Firing]);
    let _ = t;
    // And a silence that resolves before it ends sends nothing at all.
    let c = Entity::series("c");
    e.set_silences(vec![silence("c", T0 + 86400)]);
    let (o1, t) = feed(&mut e, &c, T0, &[Some(95.0); 5]);
    let (o2, _) = feed(&mut e, &c, t, &[Some(50.0); 6]);
    assert!(o1.events.is_empty() && o2.events.is_empty());
    assert_eq!(changes(&o2), [Change::Resolved]);
}

#[test]
fn owners_and_account_managers_come_from_the_topology() {
    let topo = topology();
    let r = rules(
        r#"
[[rule]]
name = "hot-port"
kind = "threshold"
scope = "port"
metric = "utilization"
above = "90%"
notify = ["ops", "owners", "account_manager"]
"#,
        &topo,
    );
    let uplink = topo
        .ports()
        .find(|p| p.labels.product_line.as_deref() == Some("cdn"))
        .unwrap()
        .clone();
    let cust = topo.customers.get("acme").unwrap().clone();
    let mut e = engine(r, topo.clone());
    let o = e.observe(
        &Entity::port(&uplink),
        Metric::Utilization,
        Point::known(ts(T0), 0.95),
    );
    assert_eq!(o.events.len(), 1);
    assert_eq!(o.events[0].routes, ["ops", "ops-cdn"]);
    assert_eq!(
        o.events[0].explanation,
        "95% utilization, above 90%, for 0 s"
    );
    assert_eq!(
        o.events[0].labels.get("role").map(String::as_str),
        Some("uplink")
    );

    let r = rules(
        r#"
[[rule]]
name = "customer-quiet"
kind = "threshold"
scope = "customer"
metric = "total_bps"
below = "1Mbps"
notify = ["account_manager", "sales"]
"#,
        &topo,
    );
    let mut e = engine(r, topo);
    let o = e.observe(
        &Entity::customer(&cust),
        Metric::TotalBps,
        Point::known(ts(T0), 2e5),
    );
    assert_eq!(o.events[0].routes, ["sales-east", "sales"]);
    assert_eq!(
        o.events[0].explanation,
        "200 kbit/s total, below 1 Mbit/s, for 0 s"
    );
}

#[test]
fn spike_explanations_read_like_the_issue() {
    let topo = topology();
    let r = rules(
        r#"
[[rule]]
name = "uplink-attack"
kind = "spike"
scope = "port"
match = { role = "uplink" }
metric = "in_bps"
baseline = "seasonal"
history = "28d"
season = "7d"
factor = 3.0
min_delta = "200Mbps"
for = "3m"
notify = ["ops", "owners"]
"#,
        &topo,
    );
    let uplink = topo
        .ports()
        .find(|p| p.labels.role.as_deref() == Some("uplink"))
        .unwrap()
        .clone();
    let ent = Entity::port(&uplink);
    let mut e = Engine::new(
        r,
        topo,
        Box::new(MemoryStateStore::new()),
        Box::new(NoHistory),
    );
    // Three weeks of a steady 820 Mbit/s, then 4.2 Gbit/s on a Tuesday at 14:02.
    let attack = T0 + 3 * 7 * 86400 + 86400 + 14 * 3600 + 120;
    let mut notice = None;
    let mut t = T0;
    while t <= attack + 180 {
        let v = if t >= attack { 4.2e9 } else { 820e6 };
        let o = e.observe(&ent, Metric::InBps, Point::known(ts(t), v));
        if let Some(ev) = o.events.into_iter().next() {
            notice = Some(ev);
        }
        t += 60;
    }
    let n = notice.expect("fired");
    assert_eq!(
        n.explanation,
        "4.2 Gbit/s in, 5.1x the usual 820 Mbit/s for Tuesday 14:05, for 3 min"
    );
    assert_eq!(n.routes, ["ops", "ops-cdn"]);
    // The slots of a series polled faster than they are long keep 11 significant bits of
    // their means (0.05 % at worst): the explanation's 820 Mbit/s above, to the bit below.
    let b = n.baseline.expect("a baseline");
    assert!((b - 820e6).abs() <= 820e6 / 2048.0, "{b}");
    assert_eq!(n.started_at, ts(attack));
}

#[test]
fn a_switch_that_goes_quiet_fires_absent_on_the_clock_and_resolves_on_data() {
    let topo = topology();
    let r = rules(
        r#"
[[rule]]
name = "switch-unreachable"
kind = "absent"
scope = "switch"
for = "3m"
notify = ["ops"]
"#,
        &topo,
    );
    let sw = Entity::switch(&topo.switches[0]);
    let mut e = engine(r, topo);
    // Ten minutes of good polls every 30 s.
    let mut t = T0;
    while t < T0 + 600 {
        let o = e.observe(&sw, Metric::InBps, Point::known(ts(t), 1e6));
        assert!(o.events.is_empty());
        t += 30;
    }
    let last = t - 30;
    // Then nothing at all: only the clock moves.
    let mut fired_at = None;
    let mut firing = Vec::new();
    while t < T0 + 1200 {
        let o = e.tick(ts(t));
        if o.transitions.iter().any(|x| x.change == Change::Fired) {
            fired_at.get_or_insert(t);
        }
        firing.extend(o.events);
        t += 30;
    }
    assert_eq!(fired_at, Some(last + 180));
    assert_eq!(firing.len(), 1);
    assert_eq!(firing[0].explanation, "no successful sample for 3 min");
    assert_eq!(firing[0].routes, ["ops"]);
    // An unknown sample (timeout) keeps it firing; a good one resolves it.
    let o = e.observe(&sw, Metric::InBps, Point::unknown(ts(t)));
    assert!(o.events.is_empty());
    let o = e.observe(&sw, Metric::InBps, Point::known(ts(t + 30), 1e6));
    assert_eq!(kinds(&o), [NoticeKind::Resolved]);
    assert!(o.events[0].explanation.starts_with("samples arrive again"));
}

#[test]
fn absent_does_not_fire_right_after_a_restart() {
    let topo = topology();
    let r = rules(
        "[[rule]]\nname = \"gone\"\nkind = \"absent\"\nscope = \"switch\"\nfor = \"3m\"\nnotify = [\"ops\"]\n",
        &topo,
    );
    let sw = Entity::switch(&topo.switches[0]);
    let mut e = engine(r, topo);
    // The first sweeps after a start time out: it takes `for` of them to fire.
    let (o, _) = {
        let mut all = Outcome::default();
        for k in 0..6 {
            let o = e.observe(&sw, Metric::InBps, Point::unknown(ts(T0 + 30 * k)));
            all.transitions.extend(o.transitions);
        }
        (all, ())
    };
    assert!(o.transitions.is_empty());
    let o = e.observe(&sw, Metric::InBps, Point::unknown(ts(T0 + 180)));
    assert_eq!(changes(&o), [Change::Pending, Change::Fired]);
}

#[test]
fn port_down_fires_only_for_ports_that_were_up() {
    let topo = topology();
    let r = rules(
        r#"
[[rule]]
name = "uplink-down"
kind = "port_down"
scope = "port"
match = { role = "uplink" }
for = "30s"
notify = ["ops", "owners"]
"#,
        &topo,
    );
    let uplinks: Vec<Entity> = topo
        .ports()
        .filter(|p| p.labels.role.as_deref() == Some("uplink"))
        .map(Entity::port)
        .collect();
    let (a, b) = (uplinks[0].clone(), uplinks[1].clone());
    let mut e = engine(r, topo);
    let status = |e: &mut Engine, ent: &Entity, t: i64, s: f64| {
        e.observe(ent, Metric::OperStatus, Point::known(ts(t), s))
    };
    // `a` is up, then down for a minute: fires after 30 s.
    status(&mut e, &a, T0, 1.0);
    assert!(status(&mut e, &a, T0 + 30, 2.0).events.is_empty());
    let o = status(&mut e, &a, T0 + 60, 2.0);
    assert_eq!(kinds(&o), [NoticeKind::Firing]);
    assert_eq!(o.events[0].explanation, "port down (it was up), for 30 s");
    let o = status(&mut e, &a, T0 + 90, 1.0);
    assert_eq!(kinds(&o), [NoticeKind::Resolved]);
    // `b` was never seen up (unused port): down is its normal state.
    for k in 0..5 {
        assert!(status(&mut e, &b, T0 + 30 * k, 2.0).transitions.is_empty());
    }
}

#[test]
fn gaps_pause_clear_for_without_starting_it_over() {
    let topo = topology();
    let mut e = engine(rules(THRESHOLD, &topo), topo);
    let ent = Entity::series("link");
    let (o, t) = feed(&mut e, &ent, T0, &[Some(95.0); 4]);
    assert_eq!(changes(&o), [Change::Pending, Change::Fired]);
    // A long gap alone resolves nothing.
    let (o, t) = feed(&mut e, &ent, t, &[None; 30]);
    assert!(o.transitions.is_empty(), "{o:?}");
    // Irregular data: two known minutes below, one unknown, again and again. The unknown
    // minutes do not count, but they do not start clear_for (5 minutes) over either.
    let pattern = [Some(50.0), Some(50.0), None];
    let (o, t) = feed(&mut e, &ent, t, &pattern.repeat(2));
    assert!(o.transitions.is_empty(), "4 known minutes below: {o:?}");
    let (o, t) = feed(&mut e, &ent, t, &pattern);
    assert_eq!(changes(&o), [Change::Resolved]);
    // Known minutes 0, 1, (gap), 3, 4, (gap), 6, 7: resolved at the 5th known minute
    // after the first one, 7 minutes after it.
    assert_eq!(o.transitions[0].at, ts(t - 2 * 60));
    // A point above the threshold during the clearing starts it over.
    let (o, t) = feed(&mut e, &ent, t, &[Some(95.0); 4]);
    assert_eq!(changes(&o), [Change::Pending, Change::Fired]);
    let (o, _) = feed(
        &mut e,
        &ent,
        t,
        &[
            Some(50.0),
            None,
            Some(50.0),
            Some(95.0),
            Some(50.0),
            Some(50.0),
            None,
            Some(50.0),
        ],
    );
    assert!(o.transitions.is_empty(), "{o:?}");
}

#[test]
fn an_inhibited_rule_does_not_fire_while_its_inhibitor_fires() {
    let topo = topology();
    // `high`: above 80 for 5 minutes, unless `saturated` (above 90 for 3 minutes) fires.
    let text = format!(
        "{THRESHOLD}\n[[rule]]\nname = \"high\"\nkind = \"threshold\"\nscope = \"series\"\nmetric = \"value\"\nabove = 80\nfor = \"5m\"\nclear_for = \"5m\"\ninhibited_by = [\"saturated\"]\nnotify = [\"ops\"]\n"
    );
    let mut e = engine(rules(&text, &topo), topo);
    let ent = Entity::series("link");
    let fired_rules = |o: &Outcome| -> Vec<String> {
        o.transitions
            .iter()
            .filter(|t| t.change == Change::Fired)
            .map(|t| t.rule.clone())
            .collect()
    };
    // 95 for 20 minutes: `saturated` fires; `high` holds too, but is inhibited.
    let (o, t) = feed(&mut e, &ent, T0, &[Some(95.0); 20]);
    assert_eq!(fired_rules(&o), ["saturated"]);
    assert_eq!(o.events.len(), 1, "one incident, one notice");
    // Back to normal: `saturated` resolves.
    let (o, t) = feed(&mut e, &ent, t, &[Some(50.0); 7]);
    assert_eq!(changes(&o), [Change::Resolved]);
    // 85 for 6 minutes: only `high` holds, and nothing inhibits it now.
    let (o, _) = feed(&mut e, &ent, t, &[Some(85.0); 6]);
    assert_eq!(fired_rules(&o), ["high"]);
}
