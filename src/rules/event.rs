//! What the rules stage hands on: transitions for the alert history, and notices (firing,
//! repeat, resolved) for the notify stage, with routes expanded and a one-line explanation
//! a person can act on: "4.2 Gbit/s in, 5.1x the usual 820 Mbit/s for Tuesday 14:05, for 3 min".

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use super::condition::Reading;
use super::lifecycle::Change;
use super::point::Entity;
use super::rule::{BaselineKind, ChurnStatistic, Condition, Rule, Severity};
use crate::config::Topology;
use crate::format::duration_secs;

/// One change of one alert, for the alert history table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertTransition {
    /// Rule name.
    pub rule: String,
    /// Entity id.
    pub entity: String,
    /// What changed.
    pub change: Change,
    /// When.
    pub at: Timestamp,
    /// Value and baseline at that time.
    pub reading: Reading,
    /// When the condition started to hold.
    pub started_at: Option<Timestamp>,
    /// The most extreme reading while firing (for resolved transitions and backtests).
    pub peak: Option<Reading>,
    /// Unknown points seen while the alert was pending or firing.
    pub gap_points: u32,
}

/// Which notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// An alert started firing (or its silence ended while it fires).
    Firing,
    /// Still firing, `repeat` after the last notice.
    Repeat,
    /// It resolved (always sent when its firing was notified, silenced or not).
    Resolved,
    /// Its condition changes too often (a rule's `flap`): no more firing, repeat or resolved
    /// notices until it is stable.
    Flapping,
    /// It flapped and has been stable for the flap's `clear_for`.
    Stable,
}

impl NoticeKind {
    /// The word used in subjects and the outbox: `FIRING`, `REPEAT`, `RESOLVED`.
    pub fn word(self) -> &'static str {
        match self {
            NoticeKind::Firing => "FIRING",
            NoticeKind::Repeat => "REPEAT",
            NoticeKind::Resolved => "RESOLVED",
            NoticeKind::Flapping => "FLAPPING",
            NoticeKind::Stable => "STABLE",
        }
    }

    /// True for the notices that close an incident for people (resolved, stable again).
    pub fn closes(self) -> bool {
        matches!(self, NoticeKind::Resolved | NoticeKind::Stable)
    }
}

/// A notice for the notify stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    /// Firing, repeat or resolved.
    pub kind: NoticeKind,
    /// Rule name.
    pub rule: String,
    /// Entity id (`port:bj1-core-a/xe-0/0/1`).
    pub entity: String,
    /// The entity's labels.
    pub labels: BTreeMap<String, String>,
    /// Severity of the rule.
    pub severity: Severity,
    /// Route names, `owners` and `account_manager` expanded.
    pub routes: Vec<String>,
    /// Value now.
    pub value: f64,
    /// Baseline now, if the rule has one.
    pub baseline: Option<f64>,
    /// Where the condition holds from (see [`crate::rules::Reading::limit`]).
    #[serde(default)]
    pub limit: Option<f64>,
    /// When the condition started to hold.
    pub started_at: Timestamp,
    /// When this notice was made.
    pub at: Timestamp,
    /// One line for people.
    pub explanation: String,
}

impl AlertEvent {
    /// The envelope the value was compared against, (low, high): between the baseline and
    /// the limit where the condition starts to hold (a spike fires above it, a drop or churn
    /// below it); a threshold alone is a line. `None` when the rule has neither.
    pub fn envelope(&self) -> Option<(f64, f64)> {
        match (self.baseline, self.limit) {
            (Some(b), Some(l)) => Some((b.min(l), b.max(l))),
            (None, Some(l)) => Some((l, l)),
            (Some(b), None) => Some((b, b)),
            (None, None) => None,
        }
    }
}

/// The rule's routes with `owners` (the entity's product line's owners) and `account_manager`
/// (the entity's customer's) expanded; duplicates removed, order kept.
pub fn expand_routes(rule: &Rule, entity: &Entity, topology: &Topology) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |r: &str| {
        if !out.iter().any(|x| x == r) {
            out.push(r.to_string());
        }
    };
    for n in &rule.notify {
        match n.as_str() {
            "owners" => {
                if let Some(pl) = entity
                    .labels
                    .get("product_line")
                    .and_then(|p| topology.product_lines.get(p))
                {
                    pl.owners.iter().for_each(|o| add(o));
                }
            }
            "account_manager" => {
                if let Some(am) = entity
                    .labels
                    .get("customer")
                    .and_then(|c| topology.customers.get(c))
                    .and_then(|c| c.account_manager.as_deref())
                {
                    add(am);
                }
            }
            other => add(other),
        }
    }
    out
}

/// The adjective of a churn window: `daily`, `hourly`, `weekly`, `per-minute`, `per-5 min`.
fn per_window(secs: i64) -> String {
    match secs {
        60 => "per-minute".into(),
        3600 => "hourly".into(),
        86_400 => "daily".into(),
        604_800 => "weekly".into(),
        s => format!("per-{}", duration_secs(s)),
    }
}

/// The one-line explanation of an alert at `now`.
pub fn explain(rule: &Rule, r: &Reading, started_at: Timestamp, now: Timestamp) -> String {
    let m = rule.metric;
    let dir = match m.direction() {
        "" => String::new(),
        d => format!(" {d}"),
    };
    let value = m.format(r.value);
    let lasting = duration_secs(now.as_second() - started_at.as_second());
    let mut s = match &rule.condition {
        Condition::Spike(g) | Condition::Drop(g) => {
            let b = r.baseline.unwrap_or(0.0);
            let when = match g.baseline.kind {
                BaselineKind::Seasonal => {
                    let z = now.to_zoned(TimeZone::UTC);
                    if g.baseline.season % (7 * 86400) == 0 {
                        format!("for {}", z.strftime("%A %H:%M"))
                    } else {
                        format!("at {} on past days", z.strftime("%H:%M"))
                    }
                }
                BaselineKind::Recent => {
                    format!("of the last {}", duration_secs(g.baseline.history))
                }
            };
            let rel = if matches!(rule.condition, Condition::Spike(_)) {
                if b > 0.0 {
                    format!("{:.1}x", r.value / b)
                } else {
                    "far above".to_string()
                }
            } else if b > 0.0 {
                format!("{:.0}% below", (1.0 - r.value / b) * 100.0)
            } else {
                "below".to_string()
            };
            format!(
                "{value}{dir}, {rel} the usual {} {when}, for {lasting}",
                m.format(b)
            )
        }
        Condition::Churn(c) => {
            let f = r.baseline.unwrap_or(0.0);
            let pct = if f > 0.0 {
                (1.0 - r.value / f) * 100.0
            } else {
                0.0
            };
            let statistic = match c.statistic {
                ChurnStatistic::Mean => "mean",
                ChurnStatistic::Median => "median",
            };
            format!(
                "{statistic} {}{dir} {value} over the last {}, {pct:.0}% below the {} of the {} before",
                per_window(c.window),
                duration_secs(c.window * c.recent as i64),
                m.format(f),
                duration_secs(c.window * c.reference as i64)
            )
        }
        Condition::Threshold { above, below } => {
            let limit = match (above, below) {
                (Some(a), _) if r.value > *a => format!("above {}", m.format(*a)),
                (_, Some(b)) => format!("below {}", m.format(*b)),
                (Some(a), None) => format!("near {}", m.format(*a)),
                (None, None) => String::new(),
            };
            format!("{value}{dir}, {limit}, for {lasting}")
        }
        Condition::Absent => format!("no successful sample for {}", duration_secs(r.value as i64)),
        Condition::PortDown => format!("port down (it was up), for {lasting}"),
    };
    if let Some(n) = &r.note {
        s.push_str(&format!(" ({n})"));
    }
    s
}

/// The one-line explanation of a flapping alert: how often it changed, within what.
pub fn explain_flapping(changes: usize, within: i64, clear_for: i64) -> String {
    format!(
        "flapping: its condition changed {changes} times within {}; no more notices until it has been stable for {}",
        duration_secs(within),
        duration_secs(clear_for)
    )
}

/// The one-line explanation of an alert stable again after flapping, with where it is now
/// (`now firing: ...` or `now clear`).
pub fn explain_stable(
    clear_for: i64,
    flapped_since: Timestamp,
    now_firing: Option<String>,
) -> String {
    let state = match now_firing {
        Some(s) => format!("now firing: {s}"),
        None => "now clear".to_string(),
    };
    format!(
        "stable again: no change for {} after flapping since {}; {state}",
        duration_secs(clear_for),
        flapped_since.strftime("%Y-%m-%d %H:%M UTC")
    )
}

/// The one-line explanation of a resolved alert: how long it lasted and where it is now.
pub fn explain_resolved(rule: &Rule, r: &Reading, started_at: Timestamp, now: Timestamp) -> String {
    let lasted = duration_secs(now.as_second() - started_at.as_second());
    let m = rule.metric;
    match (&rule.condition, r.baseline) {
        (Condition::Absent, _) => format!("samples arrive again, after {lasted}"),
        (Condition::PortDown, _) => format!("port up again, after {lasted}"),
        (_, Some(b)) => format!(
            "resolved after {lasted}: now {}, the usual is {}",
            m.format(r.value),
            m.format(b)
        ),
        (_, None) => format!("resolved after {lasted}: now {}", m.format(r.value)),
    }
}
