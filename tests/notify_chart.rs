//! The chart of an alert's email shows exactly the series the rule judged, with the envelope
//! it compared the value against: for every default rule (`alert-rules/`) that reads a stored
//! quantity, the chart built by notify's enrich stage from a real SQLite store is compared
//! with the store's own in/out series combined here independently: in + out for
//! `total_bps`, daily in + out bytes over the churn windows for `usage_bytes`.

use std::collections::BTreeMap;
use std::path::Path;

use bandwatch::config::Retention;
use bandwatch::notify::enrich::chart;
use bandwatch::rules::event::{AlertEvent, NoticeKind};
use bandwatch::rules::rule::{Condition, Kind, Metric, Rule, Scope, Severity};
use bandwatch::store::{self, Entity as StoreEntity, EntityKind, RangeQuery, Store};
use jiff::Timestamp;

use crate::store_support;

use store_support::*;

const DAY: i64 = 86_400;
const STEP: i64 = 300;

fn at(s: i64) -> Timestamp {
    Timestamp::from_second(s).unwrap()
}

/// The default rules, validated against the example configuration they ship with.
fn default_rules() -> Vec<Rule> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = bandwatch::config::load(&root.join("config/bandwatch.toml"))
        .unwrap()
        .config;
    let (files, diags) =
        bandwatch::rules::file::load_dir(&root.join("alert-rules"), &config.topology);
    assert!(!diags.has_errors(), "{diags}");
    files.rules
}

/// The store's own series of one quantity (no rules code involved).
fn stored(
    store: &Store,
    entity: &StoreEntity,
    m: store::Metric,
    from: i64,
    to: i64,
    step: i64,
) -> Vec<(Timestamp, Option<f64>)> {
    let q = RangeQuery::new(entity.clone(), m, at(from), at(to)).step(step);
    store
        .reader()
        .range(&q)
        .unwrap()
        .points
        .into_iter()
        .map(|p| (p.time, p.value))
        .collect()
}

fn sum(
    a: Vec<(Timestamp, Option<f64>)>,
    b: Vec<(Timestamp, Option<f64>)>,
) -> Vec<(Timestamp, Option<f64>)> {
    a.into_iter()
        .zip(b)
        .map(|((t, x), (u, y))| {
            assert_eq!(t, u);
            (t, x.zip(y).map(|(x, y)| x + y))
        })
        .collect()
}

#[test]
fn every_default_rule_charts_the_series_it_judged_with_its_envelope() {
    let dir = tempfile::tempdir().unwrap();
    let topo = topology(&[
        ("a-sw1", "eth1", Some("cdn"), Some("acme")),
        ("a-sw1", "eth2", Some("cdn"), Some("acme")),
    ]);
    let retention = Retention {
        raw: None,
        rollup_5m: None,
        rollup_1h: None,
        rollup_1d: None,
    };
    let store = Store::open(&dir.path().join("bandwatch.db"), &retention).unwrap();
    let writer = store.writer(topo.clone()).unwrap();
    // 40 days every 5 minutes; in and out differ and vary, so that a chart of `in` alone, of
    // `out` alone, or of another day's data cannot pass for the sum.
    let end = (Timestamp::now().as_second() / DAY) * DAY - DAY + 17 * 3600 + 120;
    let start = end - 40 * DAY;
    let mut t = start;
    while t <= end {
        let wave = ((t / STEP) % 97) as u64;
        writer
            .submit(sweep(
                "a-sw1",
                at(t),
                vec![
                    (
                        "eth1",
                        reading(300_000, 3_000_000_000 + wave * 7_000_000, 400_000_000),
                    ),
                    (
                        "eth2",
                        reading(300_000, 1_000_000_000, 900_000_000 + wave * 1_000_000),
                    ),
                ],
            ))
            .unwrap();
        t += STEP;
    }
    writer.flush().unwrap();
    drop(writer);

    let reader = store.reader();
    let mut checked = Vec::new();
    for rule in default_rules() {
        if matches!(rule.kind, Kind::Absent | Kind::PortDown) {
            continue; // no stored quantity: checked below
        }
        let (entity, labels) = match rule.scope {
            Scope::Port => (
                "port:a-sw1/eth1",
                [("switch", "a-sw1"), ("port", "eth1"), ("site", "a")].as_slice(),
            ),
            Scope::ProductLine => ("product_line:cdn", [("product_line", "cdn")].as_slice()),
            Scope::Customer => ("customer:acme", [("customer", "acme")].as_slice()),
            Scope::Site => ("site:a", [("site", "a")].as_slice()),
            Scope::Switch | Scope::Series => continue,
        };
        let ev = AlertEvent {
            kind: NoticeKind::Firing,
            rule: rule.name.clone(),
            entity: entity.to_string(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            severity: Severity::Warning,
            routes: vec!["ops".into()],
            value: 5e6,
            baseline: Some(1e6),
            limit: Some(3e6),
            started_at: at(end - 600),
            at: at(end),
            explanation: String::new(),
        };
        let points = chart(&*reader, &rule, &ev);

        // The store's series of the quantity the rule judges, combined here.
        let (kind, name) = entity.split_once(':').unwrap();
        let kind = match kind {
            "port" => EntityKind::Port,
            "product_line" => EntityKind::ProductLine,
            "customer" => EntityKind::Customer,
            _ => EntityKind::Site,
        };
        let se = StoreEntity::new(kind, name.to_string());
        let (span, step) = match &rule.condition {
            Condition::Churn(c) => (c.window * (c.recent + c.reference) as i64, c.window),
            _ => (6 * 3600, 60),
        };
        let to = (end / step + 1) * step;
        let from = to - span;
        let expected = match rule.metric {
            Metric::TotalBps => sum(
                stored(&store, &se, store::Metric::InBps, from, to, step),
                stored(&store, &se, store::Metric::OutBps, from, to, step),
            ),
            Metric::UsageBytes => sum(
                stored(&store, &se, store::Metric::InBytes, from, to, step),
                stored(&store, &se, store::Metric::OutBytes, from, to, step),
            ),
            Metric::InBps => stored(&store, &se, store::Metric::InBps, from, to, step),
            Metric::OutBps => stored(&store, &se, store::Metric::OutBps, from, to, step),
            Metric::Utilization => stored(&store, &se, store::Metric::Utilization, from, to, step),
            other => panic!("rule {} reads {other:?}: add it to this test", rule.name),
        };
        let got: Vec<(Timestamp, Option<f64>)> = points.iter().map(|p| (p.at, p.value)).collect();
        assert_eq!(got, expected, "rule {}", rule.name);
        let known = got.iter().filter(|(_, v)| v.is_some()).count();
        assert!(known >= 5, "rule {}: only {known} known points", rule.name);
        // The envelope (baseline to limit) where the rule compared: a churn rule's recent
        // windows; other rules' steps since the condition began to hold (start less `for`).
        let compared_from = match &rule.condition {
            Condition::Churn(c) => points[points.len() - c.recent].at.as_second(),
            _ => ev.started_at.as_second() - rule.for_secs,
        };
        for (i, p) in points.iter().enumerate() {
            let compared = i == points.len() - 1 || p.at.as_second() + step > compared_from;
            let want = compared.then_some((1e6, 3e6));
            assert_eq!(p.band, want, "rule {} at {}", rule.name, p.at);
        }
        let banded = points.iter().filter(|p| p.band.is_some()).count();
        assert!(
            banded >= 1 && banded < points.len(),
            "rule {}: the chart shows history before the compared steps ({banded} of {})",
            rule.name,
            points.len()
        );
        checked.push(rule.name.clone());
    }
    // An absent rule (switch-unreachable) charts the switch's in + out traffic, no envelope.
    let rule = default_rules()
        .into_iter()
        .find(|r| r.name == "switch-unreachable")
        .unwrap();
    let ev = AlertEvent {
        kind: NoticeKind::Firing,
        rule: rule.name.clone(),
        entity: "switch:a-sw1".into(),
        labels: [("switch".to_string(), "a-sw1".to_string())].into(),
        severity: Severity::Critical,
        routes: vec!["ops".into()],
        value: 300.0,
        baseline: None,
        limit: Some(180.0),
        started_at: at(end - 600),
        at: at(end),
        explanation: String::new(),
    };
    let points = chart(&*reader, &rule, &ev);
    let se = StoreEntity::new(EntityKind::Switch, "a-sw1".to_string());
    let to = (end / 60 + 1) * 60;
    let expected = sum(
        stored(&store, &se, store::Metric::InBps, to - 6 * 3600, to, 60),
        stored(&store, &se, store::Metric::OutBps, to - 6 * 3600, to, 60),
    );
    let got: Vec<(Timestamp, Option<f64>)> = points.iter().map(|p| (p.at, p.value)).collect();
    assert_eq!(got, expected);
    assert!(got.iter().filter(|(_, v)| v.is_some()).count() >= 5);
    assert!(points.iter().all(|p| p.band.is_none()));
    for name in [
        "uplink-attack",
        "product-line-attack",
        "product-line-collapse",
        "customer-surge",
        "customer-churn-risk",
        "port-saturated",
    ] {
        assert!(
            checked.iter().any(|c| c == name),
            "{name} not checked: {checked:?}"
        );
    }
}
