//! The first stage of notify: enrich. It turns the rules stage's [`AlertEvent`] into the
//! [`Notice`] the later stages queue, group, deduplicate and send, adding what a person needs
//! to act on it:
//!
//! - the chart: exactly the series the rule judged ([`crate::rules::series::judged`]: in + out
//!   for `total_bps`, one total per churn window for `usage_bytes`), with the envelope the
//!   value was compared against (baseline to limit, [`AlertEvent::envelope`]);
//! - the money line (revenue at risk of a churn warning, what a spike adds to a transit bill)
//!   when prices are configured, and the money gate: a churn warning whose revenue at risk is
//!   below the rule's `min_revenue_at_risk` is held back, and so is its resolution;
//! - the words of the metric (`silent_seconds` for absent rules, `oper_status` for port down).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use tracing::{info, warn};

use super::format::{OPER_STATUS, SILENT_SECONDS};
use super::notice::{ChartPoint, Notice};
use crate::config::Topology;
use crate::rules::event::AlertEvent;
use crate::rules::point::Entity;
use crate::rules::rule::{Kind, Rule, Scope};
use crate::store::{Reader, SeriesSource, UsageBook};

/// The enrich stage: the rules and topology in force, where series and usage are read.
pub struct Enricher {
    series: Reader,
    book: Option<UsageBook>,
    topology: Arc<Topology>,
    rules: BTreeMap<String, Rule>,
    /// Alerts not notified for their revenue at risk (so that their resolution is not either).
    suppressed: HashSet<(String, String)>,
    /// Recent flows, for the evidence line of spikes (`[flow]` configured).
    flows: Option<crate::flow::evidence::FlowEvidence>,
    /// The evidence line of each firing spike alert (rule, entity), as its last firing or
    /// repeat notice carried it: (full, without customer names), for the status page and
    /// `/api/v1/alerts`.
    evidence: HashMap<(String, String), (String, String)>,
}

impl Enricher {
    /// A stage reading series from `series` and usage (for money) from `book`.
    pub fn new(
        series: Reader,
        book: Option<UsageBook>,
        rules: &[Rule],
        topology: &Arc<Topology>,
    ) -> Self {
        Enricher {
            series,
            book,
            topology: topology.clone(),
            rules: rules.iter().map(|r| (r.name.clone(), r.clone())).collect(),
            suppressed: HashSet::new(),
            flows: None,
            evidence: HashMap::new(),
        }
    }

    /// Adds the flow evidence line to the firing and repeat notices of spike rules.
    pub fn with_flows(mut self, flows: Option<crate::flow::evidence::FlowEvidence>) -> Self {
        self.flows = flows;
        self
    }

    /// The evidence line of the firing alert of `rule` on `entity`, as its last notice
    /// carried it: (full, without customer names).
    pub fn evidence_of(&self, rule: &str, entity: &str) -> Option<&(String, String)> {
        self.evidence.get(&(rule.to_string(), entity.to_string()))
    }

    /// Puts new rules and topology (prices, routes) in force; held-back alerts stay held back.
    pub fn update(&mut self, rules: &[Rule], topology: &Arc<Topology>) {
        self.rules = rules.iter().map(|r| (r.name.clone(), r.clone())).collect();
        self.topology = topology.clone();
    }

    /// The notice of `ev` (with the peak while it fired, for a resolved one), or `None` when
    /// the money gate holds it back.
    pub fn notice(&mut self, ev: AlertEvent, peak: Option<f64>) -> Option<Notice> {
        let rule = self.rules.get(&ev.rule).cloned();
        let (money, send) = self.judge_money(rule.as_ref(), &ev);
        if !send {
            return None;
        }
        let metric = match rule.as_ref().map(|r| (r.kind, r.metric)) {
            Some((Kind::Absent, _)) => SILENT_SECONDS.to_string(),
            Some((Kind::PortDown, _)) => OPER_STATUS.to_string(),
            Some((_, m)) => m.name().to_string(),
            None => "value".to_string(),
        };
        let chart = rule
            .as_ref()
            .map(|r| chart(&*self.series, r, &ev))
            .unwrap_or_default();
        let key = (ev.rule.clone(), ev.entity.clone());
        let lines = match (&self.flows, rule.as_ref().map(|r| r.kind)) {
            (Some(f), Some(Kind::Spike)) if !ev.kind.closes() => {
                f.lines(&ev.entity, &self.topology, ev.at.as_millisecond())
            }
            _ => None,
        };
        if ev.kind.closes() {
            self.evidence.remove(&key);
        } else if let Some(l) = &lines {
            self.evidence.insert(key, l.clone());
        }
        let evidence = lines.map(|(full, _)| full);
        Some(Notice {
            event: ev,
            metric,
            peak,
            money,
            chart,
            evidence,
        })
    }

    /// The money line of a notice, and whether the notice is to be sent: a firing or repeat
    /// churn notice whose revenue at risk is below the rule's `min_revenue_at_risk` is not
    /// (nor, later, its resolution).
    fn judge_money(&mut self, rule: Option<&Rule>, ev: &AlertEvent) -> (Option<String>, bool) {
        let key = (ev.rule.clone(), ev.entity.clone());
        let Some(rule) = rule else {
            return (None, true);
        };
        if ev.kind.closes() {
            if self.suppressed.remove(&key) {
                info!(rule = %ev.rule, entity = %ev.entity, "resolved, not notified: its firing was below min_revenue_at_risk");
                return (None, false);
            }
            return (None, true);
        }
        let Some(book) = self
            .book
            .as_ref()
            .filter(|_| !self.topology.pricing.is_empty())
        else {
            return (None, true);
        };
        let note = crate::cost::alert_money(
            book,
            &self.topology,
            rule,
            &ev.entity,
            &ev.labels,
            ev.value,
            ev.at,
        )
        .unwrap_or_else(|e| {
            warn!("money of {} {}: {e}", ev.rule, ev.entity);
            None
        });
        if let (Some(min), Some(risk)) = (
            rule.min_revenue_at_risk,
            note.as_ref().and_then(|n| n.revenue_at_risk),
        ) && risk < min
        {
            info!(rule = %ev.rule, entity = %ev.entity, revenue_at_risk = risk, min_revenue_at_risk = min, "churn warning not notified: revenue at risk below the rule's minimum");
            self.suppressed.insert(key);
            return (None, false);
        }
        self.suppressed.remove(&key);
        (note.map(|n| n.line), true)
    }
}

/// The chart of an alert: the series `rule` judged on the event's entity up to the event
/// (gaps stay gaps), with the envelope the value was compared against on the points where
/// the rule compared it: a churn rule's recent windows (against the reference windows before
/// them), other rules' points since the condition began to hold (the alert's start less the
/// rule's `for`). An absent or port-down rule judges no stored quantity: its chart is the
/// entity's in + out traffic ([`chart_metric`]), where the silence shows as the gap at the end.
pub fn chart(series: &dyn SeriesSource, rule: &Rule, ev: &AlertEvent) -> Vec<ChartPoint> {
    let Some(entity) = entity_of(&ev.entity, &ev.labels) else {
        return Vec::new();
    };
    if matches!(rule.kind, Kind::Absent | Kind::PortDown) {
        let Some(se) = crate::rules::series::store_entity(&entity) else {
            return Vec::new();
        };
        let step = crate::store::SLOT_SECS;
        let to_s = (ev.at.as_second().div_euclid(step) + 1) * step;
        let (Ok(from), Ok(to)) = (
            jiff::Timestamp::from_second(to_s - 6 * 3600),
            jiff::Timestamp::from_second(to_s),
        ) else {
            return Vec::new();
        };
        let rows = crate::rules::series::read(
            series,
            &se,
            crate::rules::rule::Metric::TotalBps,
            from,
            to,
            step,
        );
        return rows
            .unwrap_or_default()
            .into_iter()
            .map(|(at, value, _)| ChartPoint {
                at,
                value,
                band: None,
            })
            .collect();
    }
    let envelope = ev.envelope();
    let Some(rows) = crate::rules::series::judged(series, rule, &entity, ev.at) else {
        return Vec::new();
    };
    let compared_from = match &rule.condition {
        crate::rules::rule::Condition::Churn(c) => rows
            .len()
            .checked_sub(c.recent)
            .and_then(|i| rows.get(i))
            .map(|r| r.0.as_second()),
        _ => Some(ev.started_at.as_second() - rule.for_secs),
    }
    .unwrap_or(i64::MIN);
    let last = rows.len().saturating_sub(1);
    rows.into_iter()
        .enumerate()
        .map(|(i, (at, value, _))| {
            // The step holding the condition's start is compared too, and always the last.
            let compared = i == last || at.as_second() + step_of(rule) > compared_from;
            ChartPoint {
                at,
                value,
                band: envelope.filter(|_| compared),
            }
        })
        .collect()
}

/// The step of the series a rule judges ([`crate::rules::series::chart_window`]).
fn step_of(rule: &Rule) -> i64 {
    crate::rules::series::chart_window(rule).1
}

/// The metric a notice's chart is drawn in: the notice's own, except for absent and
/// port-down rules, whose chart is the entity's in + out traffic ([`chart`]).
pub fn chart_metric(metric: &str) -> &str {
    if metric == SILENT_SECONDS || metric == OPER_STATUS {
        "total_bps"
    } else {
        metric
    }
}

/// The rules entity named by an event (`scope:name`), with the event's labels.
fn entity_of(id: &str, labels: &BTreeMap<String, String>) -> Option<Entity> {
    let (scope, name) = id.split_once(':')?;
    let scope = Scope::ALL.iter().find(|(n, _)| *n == scope)?.1;
    Some(Entity {
        scope,
        name: name.to_string(),
        labels: labels.into(),
    })
}
