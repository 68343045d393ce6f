//! The input of the notify stage: one alert event (firing, repeat or resolved) as the rules
//! stage emits it, with everything needed to write a message a tired person can act on.
//!
//! The kind and severity are the rules stage's own ([`NoticeKind`], [`Severity`]); the rest
//! is what notify adds to the rules' event (chart, money, the metric's words).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// What happened to the alert, and how urgent it is: the rules stage's own types (one
/// `Severity`, one kind of notice across rules and notify).
pub use crate::rules::event::NoticeKind;
pub use crate::rules::rule::Severity;

use crate::rules::event::AlertEvent;

/// One point of a chart: when, the measured value (`None` for a gap, never 0) and the usual
/// range (low, high) at that time when a baseline is known.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChartPoint {
    /// Time of the point.
    pub at: Timestamp,
    /// Measured value, in the notice's metric; `None` where nothing was measured.
    pub value: Option<f64>,
    /// The baseline band (low, high) at this time, when known.
    pub band: Option<(f64, f64)>,
}

/// One alert event for the notify stage: the rules stage's [`AlertEvent`] (reachable as
/// `notice.rule`, `notice.value`, ... through `Deref`) plus what the enrich stage added.
/// Stored in the outbox as one flat JSON object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// The event as the rules stage emitted it.
    #[serde(flatten)]
    pub event: AlertEvent,
    /// What `value` measures, for formatting: `in_bps`, `out_bps`, `usage_bytes`,
    /// `utilization` (a fraction, 0.87 = 87 %), or anything else (shown as a plain number).
    pub metric: String,
    /// The highest value while firing (for resolved notices).
    pub peak: Option<f64>,
    /// The money the alert is about, one line, when prices are configured: the revenue at
    /// risk of a churn warning, what a spike would add to a transit bill or to revenue.
    #[serde(default)]
    pub money: Option<String>,
    /// The series the rule judged, with its envelope, for an inline chart; empty for none.
    pub chart: Vec<ChartPoint>,
    /// What flows say the traffic of a spike is (class, target, rate, share, sources,
    /// packet size), one line, when flows from its switches exist.
    #[serde(default)]
    pub evidence: Option<String>,
}

impl std::ops::Deref for Notice {
    type Target = AlertEvent;
    fn deref(&self) -> &AlertEvent {
        &self.event
    }
}

impl std::ops::DerefMut for Notice {
    fn deref_mut(&mut self) -> &mut AlertEvent {
        &mut self.event
    }
}

impl Notice {
    /// How long the alert has been firing (or lasted, for resolved notices).
    pub fn duration(&self) -> std::time::Duration {
        let secs = self.at.as_second() - self.started_at.as_second();
        std::time::Duration::from_secs(secs.max(0) as u64)
    }

    /// The switch part of a `port:SWITCH/PORT` entity or the `switch` label.
    pub fn switch(&self) -> Option<&str> {
        self.labels.get("switch").map(String::as_str).or_else(|| {
            self.entity
                .strip_prefix("port:")
                .and_then(|r| r.split_once('/'))
                .map(|(s, _)| s)
        })
    }

    /// The port part of a `port:SWITCH/PORT` entity or the `port` label.
    pub fn port(&self) -> Option<&str> {
        self.labels.get("port").map(String::as_str).or_else(|| {
            self.entity
                .strip_prefix("port:")
                .and_then(|r| r.split_once('/'))
                .map(|(_, p)| p)
        })
    }
}
