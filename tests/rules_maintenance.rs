//! Maintenance windows in the rule engine, on a simulated clock: alerts inside a window are
//! evaluated and recorded (marked) but not notified; one still firing when the window closes
//! is notified then; a resolution follows only a notified firing; and a churn rule's reference
//! leaves out the samples of a window marked `exclude_samples` (figures computed by hand).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bandwatch::config::{self, SourceFile, Topology};
use bandwatch::rules::file::parse_source;
use bandwatch::rules::{
    Change, Engine, Entity, MemoryStateStore, Metric, NoHistory, NoticeKind, Outcome, Point, Rule,
};
use jiff::Timestamp;

/// 2026-01-05 00:00 UTC, a Monday (a day boundary).
const T0: i64 = 1_767_571_200;
const DAY: i64 = 86_400;

fn ts(secs: i64) -> Timestamp {
    Timestamp::from_second(secs).unwrap()
}

/// The example configuration with `windows` appended.
fn topology(windows: &str) -> Topology {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/bandwatch.toml");
    let text = std::fs::read_to_string(&path).unwrap() + windows;
    config::load_source(&SourceFile {
        path,
        text: text.into(),
    })
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

fn engine(rules: Vec<Rule>, topo: Topology) -> Engine {
    Engine::new(
        rules,
        topo,
        Box::new(MemoryStateStore::new()),
        Box::new(NoHistory),
    )
}

fn at(s: i64) -> String {
    ts(s).to_string()
}

const UTILIZATION: &str = r#"
[[rule]]
name = "customer-busy"
kind = "threshold"
scope = "customer"
metric = "in_bps"
above = "1Gbps"
for = "2m"
clear_for = "2m"
notify = ["account_manager"]
"#;

#[test]
fn alerts_inside_a_window_are_recorded_not_notified_and_speak_when_it_closes() {
    // acme: a window over the first hour; globex: one over the first 30 minutes.
    let topo = topology(&format!(
        r#"
[[maintenance]]
name = "acme-migration"
reason = "moving acme to new ports"
match = {{ customer = "acme" }}
from = "{}"
until = "{}"

[[maintenance]]
name = "globex-work"
match = {{ customer = "~glob.*" }}
alerts = ["customer-busy"]
from = "{}"
until = "{}"
"#,
        at(T0),
        at(T0 + 3600),
        at(T0),
        at(T0 + 1800),
    ));
    let mut e = engine(rules(UTILIZATION, &topo), topo.clone());
    let acme = Entity::customer(&topo.customers["acme"]);
    let globex = Entity::customer(&topo.customers["globex"]);
    let mut feed = |ent: &Entity, from_min: i64, to_min: i64, bps: f64| {
        let mut o = Outcome::default();
        for m in from_min..to_min {
            let out = e.observe(ent, Metric::InBps, Point::known(ts(T0 + m * 60), bps));
            o.transitions.extend(out.transitions);
            o.events.extend(out.events);
        }
        o
    };
    // acme is busy for 20 minutes inside its window, then quiet: fired and resolved,
    // recorded with the window's mark, and nobody told (nor of the resolution).
    let o = feed(&acme, 0, 20, 2e9);
    let o2 = feed(&acme, 20, 30, 1e8);
    let changes: Vec<Change> = o
        .transitions
        .iter()
        .chain(&o2.transitions)
        .map(|t| t.change)
        .collect();
    assert_eq!(changes, [Change::Pending, Change::Fired, Change::Resolved]);
    assert!(
        o.transitions
            .iter()
            .all(|t| t.reading.note.as_deref() == Some("(maintenance) acme-migration"))
    );
    assert!(o.events.is_empty() && o2.events.is_empty());
    // globex is busy from minute 20 and still at minute 30, when its window closes: it is
    // notified at its first evaluation after the close, and its resolution follows.
    let o = feed(&globex, 20, 30, 2e9);
    assert!(o.events.is_empty(), "{:?}", o.events);
    let o = feed(&globex, 30, 40, 2e9);
    let kinds: Vec<(NoticeKind, i64)> = o
        .events
        .iter()
        .map(|e| (e.kind, (e.at.as_second() - T0) / 60))
        .collect();
    assert_eq!(kinds, [(NoticeKind::Firing, 30)]);
    assert_eq!(o.events[0].routes, ["sales-east"]);
    let o = feed(&globex, 40, 45, 1e8);
    let kinds: Vec<NoticeKind> = o.events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [NoticeKind::Resolved]);
    // After its window, acme alerts as usual.
    let o = feed(&acme, 70, 75, 2e9);
    let kinds: Vec<NoticeKind> = o.events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [NoticeKind::Firing]);
}

const CHURN: &str = r#"
[[rule]]
name = "churn"
kind = "drop"
scope = "customer"
metric = "usage_bytes"
window = "1d"
recent = "1d"
reference = "3d"
max_drop = 0.4
min_coverage = 0.5
notify = ["account_manager"]
"#;

/// Hourly usage of acme for five days: 100 bytes an hour, except 0 in the first twelve hours
/// of day 1 (an outage during planned work) and 50 an hour on day 4. Returns the churn
/// notices.
fn churn_notices(rule: &str) -> Vec<bandwatch::rules::AlertEvent> {
    let topo = topology(&format!(
        r#"
[[maintenance]]
name = "acme-move"
match = {{ customer = "acme" }}
from = "{}"
until = "{}"
exclude_samples = true
"#,
        at(T0 + DAY + 1800),
        at(T0 + DAY + 12 * 3600 + 1800),
    ));
    let mut e = engine(rules(rule, &topo), topo.clone());
    let acme = Entity::customer(&topo.customers["acme"]);
    let mut events = Vec::new();
    for h in 1..=(5 * 24) {
        let t = T0 + h * 3600;
        // The hour this point measured, from T0.
        let start = (h - 1) * 3600;
        let v = if (DAY..DAY + 12 * 3600).contains(&start) {
            0.0
        } else if start >= 4 * DAY {
            50.0
        } else {
            100.0
        };
        let o = e.observe(&acme, Metric::UsageBytes, Point::known(ts(t), v));
        events.extend(o.events);
    }
    events
}

#[test]
fn a_churn_reference_leaves_out_samples_of_a_window_marked_so() {
    // By hand. Day 0: the first point only starts the cadence, so 23 known hours of 100,
    // scaled to the day: 2400. Days 2 and 3: 2400. Day 1: twelve hours of 0 inside the window
    // and twelve of 100. Day 4 (recent): 24 x 50 = 1200.
    // Marked samples left out: day 1 is 12 known hours of 100 (coverage 0.5), scaled 2400;
    // the reference (days 1-3) is 2400, the limit 0.6 x 2400 = 1440, and 1200 is below it.
    let ev = churn_notices(CHURN);
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].kind, NoticeKind::Firing);
    assert_eq!(ev[0].at, ts(T0 + 5 * DAY));
    assert_eq!(ev[0].value, 1200.0);
    assert_eq!(ev[0].baseline, Some(2400.0));
    assert_eq!(ev[0].limit, Some(1440.0));
    // Counted (`maintenance_samples = "include"`): day 1 is 1200, the reference
    // (1200 + 2400 + 2400) / 3 = 2000, the limit 1200, and 1200 is not below it.
    let include = CHURN.replace(
        "max_drop = 0.4",
        "max_drop = 0.4\nmaintenance_samples = \"include\"",
    );
    assert_eq!(churn_notices(&include), Vec::new());
}
