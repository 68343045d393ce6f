//! Maintenance windows (`[[maintenance]]` in the configuration): planned work during which
//! the alerts of the entities it matches are still evaluated and recorded, marked
//! `(maintenance)`, but nobody is told. An alert still firing when the window closes is
//! notified then; a resolved notice follows only a firing that was notified ("suppress
//! creation, never resolution", like a silence). Samples measured inside a window marked
//! `samples = "exclude"` can be left out of baselines, churn references and the 95th.
//!
//! The rule engine asks [`Window::covers`] next to the silences; `check`, the status page and
//! `/api/v1/maintenance` list [`Window::upcoming`]; `/metrics` exports whether each is open.

pub mod cron;
pub mod schedule;

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;

use crate::rules::LabelSet;
use crate::rules::rule::Matcher;
pub use schedule::{Occurrence, Recurrence, Schedule};

/// One maintenance window, as the configuration built it.
#[derive(Clone, Debug)]
pub struct Window {
    /// Unique name.
    pub name: String,
    /// Why, for people (the status page, the API, the alert history).
    pub reason: Option<String>,
    /// Label matchers (site, switch, port, product_line, customer), all of which must hold
    /// on an entity; none: every entity.
    pub matchers: Vec<Matcher>,
    /// The rules it mutes; `None`: all.
    pub alerts: Option<Vec<String>>,
    /// When it is open.
    pub schedule: Schedule,
    /// Its time zone's name (`Europe/Berlin`, `UTC`), for people.
    pub time_zone: String,
    /// Whether samples measured while it is open are left out of baselines, churn
    /// references and the 95th percentile.
    pub exclude_samples: bool,
    /// How the schedule was written (`every sunday 02:00 for 2 h`), for people.
    pub written: String,
    /// Where it is defined: the configuration file's line of its `name`, and its index
    /// among the `[[maintenance]]` tables (for messages).
    pub line: usize,
    /// Its index among the `[[maintenance]]` tables.
    pub index: usize,
}

/// Two windows are the same when they are written the same (a reload keeps nothing of a
/// window but compares them to say whether anything changed).
impl PartialEq for Window {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.reason == other.reason
            && self.matchers == other.matchers
            && self.alerts == other.alerts
            && self.time_zone == other.time_zone
            && self.exclude_samples == other.exclude_samples
            && self.written == other.written
    }
}

impl Window {
    /// True when the window's matchers hold on an entity with these labels (a label the
    /// entity does not have never matches: a window on a port does not cover its switch).
    pub fn matches(&self, labels: &impl LabelSet) -> bool {
        self.matchers.iter().all(|m| m.matches(labels))
    }

    /// True when the window mutes alerts of `rule` on an entity with `labels` at `t`.
    pub fn covers(&self, rule: &str, labels: &impl LabelSet, t: Timestamp) -> bool {
        self.alerts
            .as_ref()
            .is_none_or(|a| a.iter().any(|r| r == rule))
            && self.matches(labels)
            && self.schedule.open_at(t).is_some()
    }

    /// True while it is open.
    pub fn open_at(&self, t: Timestamp) -> bool {
        self.schedule.open_at(t).is_some()
    }

    /// The occurrence open at `now` (if any) and the next ones, `n` in all.
    pub fn upcoming(&self, now: Timestamp, n: usize) -> Vec<Occurrence> {
        self.schedule.upcoming(now, n)
    }

    /// What the API and the status page show of it at `now`.
    pub fn view(&self, now: Timestamp) -> WindowView {
        let next = self.upcoming(now, 3);
        WindowView {
            name: self.name.clone(),
            reason: self.reason.clone(),
            schedule: self.written.clone(),
            time_zone: self.time_zone.clone(),
            alerts: self.alerts.clone(),
            matchers: self
                .matchers
                .iter()
                .map(|m| match m {
                    Matcher::Equals(k, v) => (k.clone(), v.clone()),
                    Matcher::Regex(k, r) => {
                        let re = r.as_str();
                        let inner = re
                            .strip_prefix("^(?:")
                            .and_then(|s| s.strip_suffix(")$"))
                            .unwrap_or(re);
                        (k.clone(), format!("~{inner}"))
                    }
                })
                .collect(),
            open: next.first().is_some_and(|o| o.contains(now)),
            exclude_samples: self.exclude_samples,
            next: next
                .iter()
                .map(|o| (o.start.to_string(), o.end.to_string()))
                .collect(),
        }
    }
}

/// A window as `/api/v1/maintenance` and the status page show it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WindowView {
    /// Name.
    pub name: String,
    /// Why.
    pub reason: Option<String>,
    /// The schedule as written.
    pub schedule: String,
    /// Time zone of the schedule.
    pub time_zone: String,
    /// Muted rules; `null`: all.
    pub alerts: Option<Vec<String>>,
    /// Label matchers as written.
    pub matchers: BTreeMap<String, String>,
    /// Open now.
    pub open: bool,
    /// Whether samples inside it are left out of baselines and the 95th.
    pub exclude_samples: bool,
    /// The open occurrence (if any) and the next ones, up to three: (start, end), RFC 3339.
    pub next: Vec<(String, String)>,
}

/// The first window of `windows` that mutes `rule` on `labels` at `t`.
pub fn covering<'a>(
    windows: &'a [Window],
    rule: &str,
    labels: &impl LabelSet,
    t: Timestamp,
) -> Option<&'a Window> {
    windows.iter().find(|w| w.covers(rule, labels, t))
}

/// Warnings for the rule names of windows' `alerts` that no loaded rule has (a typo would
/// mute nothing): `(line, key, message)`.
pub fn unknown_rules<'a>(
    windows: &[Window],
    rules: impl Iterator<Item = &'a str> + Clone,
) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    for w in windows {
        for name in w.alerts.iter().flatten() {
            if !rules.clone().any(|r| r == name) {
                out.push((
                    w.line,
                    format!("maintenance[{}].alerts", w.index),
                    format!(
                        "window `{}` mutes `{name}`, but no rule has that name: it mutes nothing for it",
                        w.name
                    ),
                ));
            }
        }
    }
    out
}

/// The spans `[start, end)` (unix seconds) within `[from, to)` of the windows marked
/// `exclude_samples` that match any of `labels` (an entity and, for a customer, its ports):
/// slots overlapping them are left out of a 95th percentile.
pub fn excluded_spans(
    windows: &[Window],
    labels: &[impl LabelSet],
    from: i64,
    to: i64,
) -> Vec<(i64, i64)> {
    let (Ok(f), Ok(t)) = (Timestamp::from_second(from), Timestamp::from_second(to)) else {
        return Vec::new();
    };
    let mut out: Vec<(i64, i64)> = windows
        .iter()
        .filter(|w| w.exclude_samples && labels.iter().any(|l| w.matches(l)))
        .flat_map(|w| w.schedule.between(f, t))
        .map(|o| (o.start.as_second(), o.end.as_second()))
        .collect();
    out.sort_unstable();
    out
}
