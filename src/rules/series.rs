//! One mapping from a rule's metric to stored series, used wherever a rule's series is read
//! back from the store: the baselines warmed after a start and the aggregate slots the
//! evaluator is fed ([`super::live`]), the backtest over stored history
//! ([`super::stored`]), and the chart of an alert's email (notify's enrich stage), so that
//! the chart shows exactly the quantity the rule judged.

use jiff::Timestamp;

use super::point::Entity;
use super::rule::{Condition, Metric, Rule, Scope};
use crate::store::{self, EntityKind, RangeQuery, SeriesSource};

/// One row of a series read back: step start, value (`None` for a gap), coverage.
pub type Row = (Timestamp, Option<f64>, f64);

/// The store entity of a rules entity (imported series have none).
pub fn store_entity(e: &Entity) -> Option<store::Entity> {
    let kind = match e.scope {
        Scope::Port => EntityKind::Port,
        Scope::ProductLine => EntityKind::ProductLine,
        Scope::Site => EntityKind::Site,
        Scope::Switch => EntityKind::Switch,
        Scope::Customer => EntityKind::Customer,
        Scope::Series => return None,
    };
    Some(store::Entity::new(kind, e.name.clone()))
}

/// Reads one rules metric from the store as (step start, value, coverage) rows: the one
/// mapping from a rule's metric to stored series. `total_bps` is in + out bits per second,
/// `usage_bytes` in + out bytes per step; a step is known only where both are. `None` when
/// the store has no such quantity (pps beyond raw, status).
pub fn read(
    reader: &dyn SeriesSource,
    entity: &store::Entity,
    metric: Metric,
    from: Timestamp,
    to: Timestamp,
    step: i64,
) -> Option<Vec<Row>> {
    let one = |m: store::Metric| -> Option<Vec<store::Point>> {
        let q = RangeQuery::new(entity.clone(), m, from, to).step(step);
        reader.range(&q).ok().map(|d| d.points)
    };
    let pair = |a: store::Metric, b: store::Metric| -> Option<Vec<(Timestamp, Option<f64>, f64)>> {
        let (x, y) = (one(a)?, one(b)?);
        Some(
            x.into_iter()
                .zip(y)
                .map(|(p, q)| {
                    let v = match (p.value, q.value) {
                        (Some(a), Some(b)) => Some(a + b),
                        _ => None,
                    };
                    (p.time, v, p.coverage.min(q.coverage))
                })
                .collect(),
        )
    };
    let single = |m: store::Metric| {
        one(m).map(|v| {
            v.into_iter()
                .map(|p| (p.time, p.value, p.coverage))
                .collect()
        })
    };
    match metric {
        Metric::InBps => single(store::Metric::InBps),
        Metric::OutBps => single(store::Metric::OutBps),
        Metric::TotalBps => pair(store::Metric::InBps, store::Metric::OutBps),
        Metric::InPps => single(store::Metric::InPps),
        Metric::OutPps => single(store::Metric::OutPps),
        Metric::Utilization => single(store::Metric::Utilization),
        Metric::UsageBytes => pair(store::Metric::InBytes, store::Metric::OutBytes),
        Metric::Value | Metric::OperStatus => None,
    }
}

/// The window and step of the series a rule judges, for its alert's chart: a churn rule's
/// windows (its recent and reference totals, one point per window); otherwise the last
/// six hours at the store's 60 s slots.
pub fn chart_window(rule: &Rule) -> (i64, i64) {
    match &rule.condition {
        Condition::Churn(c) => (c.window * (c.recent + c.reference) as i64, c.window),
        _ => (6 * 3600, store::SLOT_SECS),
    }
}

/// The series `rule` judged on `entity` up to `at`, over [`chart_window`]; `None` when the
/// store has no such series (imported series, status, pps beyond raw).
pub fn judged(
    source: &dyn SeriesSource,
    rule: &Rule,
    entity: &Entity,
    at: Timestamp,
) -> Option<Vec<Row>> {
    let se = store_entity(entity)?;
    let (span, step) = chart_window(rule);
    // Whole steps: the last one is the step that holds `at`.
    let to_s = (at.as_second().div_euclid(step) + 1) * step;
    let to = Timestamp::from_second(to_s).ok()?;
    let from = Timestamp::from_second(to_s - span).ok()?;
    read(source, &se, rule.metric, from, to, step)
}
