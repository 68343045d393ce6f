//! The compiled rule: what a rule file says once it has been parsed and validated. The
//! evaluator only ever sees these; the raw TOML shape lives in [`super::file`].

use std::fmt;
use std::path::PathBuf;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::labels::LabelSet;

/// What a rule looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Far above the baseline (attack, surge).
    Spike,
    /// Far below the baseline (outage), or a churn-style fall of daily totals.
    Drop,
    /// Above or below a fixed value.
    Threshold,
    /// No successful sample for a while (switch unreachable).
    Absent,
    /// ifOperStatus went down on a port that was up.
    PortDown,
}

impl Kind {
    /// Every kind with its name in rule files.
    pub const ALL: [(&'static str, Kind); 5] = [
        ("spike", Kind::Spike),
        ("drop", Kind::Drop),
        ("threshold", Kind::Threshold),
        ("absent", Kind::Absent),
        ("port_down", Kind::PortDown),
    ];

    /// The name used in rule files.
    pub fn name(self) -> &'static str {
        Kind::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }
}

/// What kind of entity a rule watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// One port of one switch.
    Port,
    /// The sum of a product line's ports.
    ProductLine,
    /// The sum of a site's ports.
    Site,
    /// One switch (its ports, or its reachability).
    Switch,
    /// The sum of a customer's ports and imported usage.
    Customer,
    /// An imported series (`series:NAME`), e.g. from `bandwatch backtest --input`.
    Series,
}

impl Scope {
    /// Every scope with its name in rule files.
    pub const ALL: [(&'static str, Scope); 6] = [
        ("port", Scope::Port),
        ("product_line", Scope::ProductLine),
        ("site", Scope::Site),
        ("switch", Scope::Switch),
        ("customer", Scope::Customer),
        ("series", Scope::Series),
    ];

    /// The name used in rule files and entity ids.
    pub fn name(self) -> &'static str {
        Scope::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }

    /// The labels an entity of this scope carries, which `match` may test.
    pub fn labels(self) -> &'static [&'static str] {
        match self {
            Scope::Port => &["site", "switch", "port", "product_line", "customer", "role"],
            Scope::ProductLine => &["product_line"],
            Scope::Site => &["site"],
            Scope::Switch => &["switch", "site"],
            Scope::Customer => &["customer"],
            Scope::Series => &["series"],
        }
    }
}

/// A measured quantity of an entity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Inbound bits per second.
    InBps,
    /// Outbound bits per second.
    OutBps,
    /// In + out bits per second.
    TotalBps,
    /// Inbound packets per second.
    InPps,
    /// Outbound packets per second.
    OutPps,
    /// max(in, out) / speed, a fraction.
    Utilization,
    /// Bytes transferred in the interval (usage, billing, churn).
    UsageBytes,
    /// A plain number of an imported series.
    Value,
    /// ifOperStatus (1 up, 2 down, ...), read by `port_down`.
    OperStatus,
}

impl Metric {
    /// Every metric a rule file may name.
    pub const ALL: [(&'static str, Metric); 8] = [
        ("in_bps", Metric::InBps),
        ("out_bps", Metric::OutBps),
        ("total_bps", Metric::TotalBps),
        ("in_pps", Metric::InPps),
        ("out_pps", Metric::OutPps),
        ("utilization", Metric::Utilization),
        ("usage_bytes", Metric::UsageBytes),
        ("value", Metric::Value),
    ];

    /// The name used in rule files.
    pub fn name(self) -> &'static str {
        if self == Metric::OperStatus {
            return "oper_status";
        }
        Metric::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }

    /// True for bit rates (written like `200Mbps` in rule files, printed with `format_bps`).
    pub fn is_bit_rate(self) -> bool {
        matches!(self, Metric::InBps | Metric::OutBps | Metric::TotalBps)
    }

    /// A short word for explanations: "in", "out", "total", ...
    pub fn direction(self) -> &'static str {
        match self {
            Metric::InBps | Metric::InPps => "in",
            Metric::OutBps | Metric::OutPps => "out",
            Metric::TotalBps => "total",
            Metric::Utilization => "utilization",
            Metric::UsageBytes => "usage",
            Metric::Value => "",
            Metric::OperStatus => "status",
        }
    }

    /// A value of this metric for people: `4.2 Gbit/s`, `93%`, `1.2 TB`, `17.5`.
    pub fn format(self, v: f64) -> String {
        use crate::format::{format_bps, format_bytes, significant};
        match self {
            Metric::InBps | Metric::OutBps | Metric::TotalBps => format_bps(v),
            Metric::InPps | Metric::OutPps => format!("{} pps", significant(v)),
            Metric::Utilization => format!("{:.0}%", v * 100.0),
            Metric::UsageBytes => format_bytes(v),
            Metric::Value | Metric::OperStatus => significant(v),
        }
    }
}

/// How bad an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// For the record.
    Info,
    /// Someone should look today.
    Warning,
    /// Someone should look now.
    Critical,
}

impl Severity {
    /// The lowercase word: `info`, `warning`, `critical`.
    pub fn word(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// One `match` entry: a label equal to a value, or matching a regex (`"~REGEX"`, whole value).
#[derive(Clone, Debug)]
pub enum Matcher {
    /// `label = "value"`.
    Equals(String, String),
    /// `label = "~regex"`, anchored at both ends.
    Regex(String, Regex),
}

/// Two matchers are the same when they are written the same.
impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Matcher::Equals(a, x), Matcher::Equals(b, y)) => a == b && x == y,
            (Matcher::Regex(a, x), Matcher::Regex(b, y)) => a == b && x.as_str() == y.as_str(),
            _ => false,
        }
    }
}

impl Matcher {
    /// True when the labels satisfy this matcher (a missing label never matches).
    pub fn matches(&self, labels: &impl LabelSet) -> bool {
        match self {
            Matcher::Equals(k, v) => labels.label(k).is_some_and(|x| x == v),
            Matcher::Regex(k, re) => labels.label(k).is_some_and(|x| re.is_match(x)),
        }
    }
}

/// Where a baseline comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaselineKind {
    /// The same time of day (season 1d) or of week (season 7d) over the past `history`.
    Seasonal,
    /// The last `history`, a rolling window.
    Recent,
}

/// How a spike or drop rule computes "the usual".
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BaselineSpec {
    /// Seasonal or recent.
    pub kind: BaselineKind,
    /// How far back comparable values are taken, in seconds.
    pub history: i64,
    /// The season (seasonal only), in seconds: 86400 or 604800 usually.
    pub season: i64,
    /// Width of a time-of-day slot (seasonal only), in seconds.
    pub bucket: i64,
    /// Fewest past periods (seasonal) needed before the seasonal baseline is trusted.
    pub min_periods: usize,
    /// Which quantile of the comparable values is "the usual": 0.5 (the median) by default;
    /// a high one (0.99) for spiky series, where only the unprecedented is unusual.
    pub quantile: f64,
    /// How much of a recent (or fallback) window must have been seen before it is used, in
    /// seconds; `None`: half the window.
    pub warmup: Option<i64>,
    /// Seasonal only: the share of the variance (0..1) the season must explain, once the
    /// series' level (a moving median over one season of the slots less their time of day's
    /// median, past incidents left out) and past incidents (slot means far from their time of
    /// day's median) are taken out, before the seasonal baseline is used
    /// (`season_strength`); where it explains less (a series without that rhythm), every slot
    /// of the history is comparable, as for a recent baseline, and `unprecedented` compares
    /// with the lowest and highest usual slot (past incidents left out).
    /// `None`: always seasonal.
    #[serde(default)]
    pub season_strength: Option<f64>,
    /// Seasonal only (`season_points`, an odd number): on a series polled no faster than the
    /// slots (a slot then holds one point, not a mean), each past season offers its this many
    /// points nearest the slot's time (the slot's and as many on each side, one poll interval
    /// apart), all pooled, and the baseline is their quantile: an hourly series is compared
    /// with three points a day, not one. `None`: each past season offers the highest (spike) or
    /// lowest (drop) of the slot and its two neighbours, whatever the poll interval.
    #[serde(default)]
    pub season_points: Option<u32>,
    /// Seasonal with `season_strength` only (`strength_points`, an odd number): on a series
    /// polled more slowly than the slots (an hourly poll against 5-minute slots: one point
    /// every twelve slots), the gate's measure is taken on the mean of each point and its
    /// (n - 1) / 2 neighbours either side, not on the single points. One point an hour carries
    /// all of its noise, which a 5-minute series' rhythm is not measured against; the drops
    /// the rule is for last hours, and over hours the noise averages out while the rhythm
    /// does not. `None`: the points as they are.
    #[serde(default)]
    pub strength_points: Option<u32>,
    /// Seasonal with `season_strength` only (`rhythm_only`): where the gate finds no rhythm,
    /// the baseline is not pooled at all and the rule's condition does not hold. For a rule
    /// whose margin only means something against the same time of day (twice the usual
    /// night): on a series without that rhythm a ratio to the pooled median would fire on
    /// every busy hour, and the other rules judge it. Nothing is pooled, so the rule costs a
    /// seasonal baseline and the gate's measure, not a sorted window of the whole history.
    #[serde(default)]
    pub rhythm_only: bool,
}

/// The margins of a spike or drop: relative AND absolute, plus an optional robust spread.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Margin {
    /// The baseline.
    pub baseline: BaselineSpec,
    /// Spike: value > factor x baseline; drop: value < baseline / factor. Always > 1.
    pub factor: f64,
    /// And |value - baseline| >= min_delta (bit/s, bytes, or a plain number).
    pub min_delta: f64,
    /// Optional: and |value - baseline| >= deviation x the baseline's robust spread.
    pub deviation: Option<f64>,
    /// Optional (`deviation_cap`, a ratio above 1; seasonal baselines with `season_strength`):
    /// where the gate finds no rhythm and every slot of the history is pooled, the margin of
    /// `deviation` never asks for more than a value beyond this ratio of the baseline (below
    /// baseline / it for a drop, above baseline x it for a spike). On a rhythm-less series
    /// whose single points are noisy against its level (8-10% on a week of 5-minute or hourly
    /// points), 10 spreads are 80-100% of the level, so no drop to 40% is ever 10 spreads
    /// down; a drop below half the level is far whatever the spread. `factor` and
    /// `unprecedented` still apply, and a seasonal baseline keeps its spreads. `None`: no cap.
    #[serde(default)]
    pub deviation_cap: Option<f64>,
    /// Optional (`deviation_cap_below`, a share of the variance, at most `season_strength`):
    /// `deviation_cap` applies only where the gate's measure is below this, on series with no
    /// rhythm at all; between it and `season_strength` the pooled baseline keeps its full
    /// `deviation` margin (a series with a weak rhythm, whose quiet hours pooled with its busy
    /// ones would make a capped margin fire every night). `None`: wherever the gate pools.
    #[serde(default)]
    pub deviation_cap_below: Option<f64>,
    /// Optional: and beyond every comparable past value (above the highest for a spike, below
    /// the lowest for a drop), so that a level the series has had before never fires.
    pub unprecedented: bool,
    /// Optional (`clip_excursions`): the points the condition holds on are learnt clipped at
    /// `factor` times the limit the excursion's first point crossed (divided, for a drop), as
    /// `unprecedented` learns them, without asking for a value beyond every past one. A high
    /// quantile of an hourly history (0.999 of three weeks is its highest point) is then not
    /// raised by one attack for the whole history, so the next, smaller one still fires.
    #[serde(default)]
    pub clip_excursions: bool,
    /// Optional: compare the median of the points of the last `smooth` seconds instead of the
    /// latest point, for level shifts rather than single outliers.
    pub smooth: Option<i64>,
    /// Optional (`smooth_points`): the window of `smooth` always keeps at least this many of
    /// the latest points, however long ago they came, so that a series sampled every hour is
    /// not judged on one point by a 30-minute window; alone, the window is the last this many
    /// points.
    #[serde(default)]
    pub smooth_points: Option<usize>,
    /// `after_gap = "evaluate"` (metric `value` only): the first point after a gap may fire a
    /// spike. Imported readings are levels, not counter deltas, so a gap says nothing about
    /// the point after it; irregularly sampled series would otherwise never fire on a third
    /// of their points. For the same reason the median of `smooth` keeps the points before a
    /// gap instead of starting over from the one point after it.
    pub evaluate_after_gap: bool,
    /// `compare = "spread"`: compare the robust spread of the points of the last `smooth`
    /// with the past spreads (volatility), instead of their median with past values.
    pub spread: bool,
    /// `compare = "smoothed"` (needs `smooth`): the baseline is learnt from the medians of
    /// `smooth` (one per point), not from the raw points, so a level is compared with the
    /// past levels of the same span: a series that sits at a known level for hours (a
    /// bimodal or bursty one) does not look new, while one outlier cannot move either side.
    pub smoothed_baseline: bool,
    /// Optional (`level_points`, seasonal baselines): the seasonal baseline is scaled by the
    /// series' current level, the median ratio of value to seasonal baseline over the last
    /// this many slots (of the baseline's `bucket`) with points the condition did not hold on,
    /// so that a day when the whole series runs 15% below its past weeks is judged against 85%
    /// of them: the season gives the shape, the recent slots the level.
    #[serde(default)]
    pub level_points: Option<usize>,
    /// Optional (`burst_factor`): on each series the factor is raised to this times how high
    /// the series' own normal runs of `for_points` points reach over their baseline (the
    /// height they exceed about three times a day, fading over `history`, see
    /// [`super::burst`]), so a series whose ordinary bursts reach 2x needs more than 2x this
    /// before it fires; a steady one keeps `factor`.
    #[serde(default)]
    pub burst_factor: Option<f64>,
}

/// A churn-style drop over totals per window (days, usually).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Churn {
    /// Length of one total, seconds (1d).
    pub window: i64,
    /// How many windows form "recent" (7).
    pub recent: usize,
    /// How many windows before them form the reference (28).
    pub reference: usize,
    /// Fires when recent < (1 - max_drop) x reference.
    pub max_drop: f64,
    /// Windows with less known data than this fraction are left out.
    pub min_coverage: f64,
    /// How the recent windows and the reference windows are each summed up (`statistic`).
    #[serde(default)]
    pub statistic: ChurnStatistic,
}

/// How a churn rule sums up the totals of its recent windows and of its reference windows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChurnStatistic {
    /// Their mean: every day's usage counts, an outage of a few days too.
    #[default]
    Mean,
    /// Their median: a few days of an outage, or a surge shorter than half the reference,
    /// moves neither side; a fall that lasts more than half the recent windows does.
    Median,
}

/// What must hold for a rule to be "true" at a point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Condition {
    /// Far above the baseline.
    Spike(Margin),
    /// Far below the baseline.
    Drop(Margin),
    /// Daily totals falling away from their own past.
    Churn(Churn),
    /// Above and/or below fixed values.
    Threshold {
        /// Fires above this.
        above: Option<f64>,
        /// Fires below this.
        below: Option<f64>,
    },
    /// No successful sample for the rule's `for`.
    Absent,
    /// Port went down after having been up.
    PortDown,
}

/// Flap detection of a rule (`flap = { changes = 6, within = "1h", clear_for = "30m" }`): an
/// alert whose condition changed `changes` times within `within` is flapping: one notice says
/// so, no firing or resolved notices follow, and one more says when its condition has not
/// changed for `clear_for`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flap {
    /// Changes of the condition (true to false or back) that make it flapping.
    pub changes: usize,
    /// Within this many seconds.
    pub within: i64,
    /// Stable (no change) this many seconds ends the flapping.
    pub clear_for: i64,
}

/// How repeat notices of a firing alert space out: the first after `every`, each next one
/// `backoff` times later than the one before, never more than `max` apart.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Repeat {
    /// Seconds from the firing notice to the first repeat (`repeat`).
    pub every: i64,
    /// Growth of the interval after each repeat (`repeat_backoff`, at least 1; 1 = fixed).
    pub backoff: f64,
    /// The longest interval, seconds (`repeat_max`); `None`: unbounded.
    pub max: Option<i64>,
}

impl Repeat {
    /// Seconds from the last notice to the next repeat, after `sent` repeats already went out.
    pub fn interval(&self, sent: u32) -> i64 {
        let grown = self.every as f64 * self.backoff.powi(sent.min(64) as i32);
        let cap = self.max.map_or(i64::MAX as f64, |m| m as f64);
        grown.min(cap).max(1.0) as i64
    }
}

/// A validated rule, ready for the evaluator.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Unique name.
    pub name: String,
    /// What it is for, for people.
    pub description: Option<String>,
    /// Spike, drop, ...
    pub kind: Kind,
    /// Which entities.
    pub scope: Scope,
    /// Which of them (all matchers must hold).
    pub matchers: Vec<Matcher>,
    /// The metric (`OperStatus` for port_down, `Value` when irrelevant for absent).
    pub metric: Metric,
    /// The condition with its parameters.
    pub condition: Condition,
    /// Must hold this long before firing, seconds.
    pub for_secs: i64,
    /// And on at least this many consecutive evaluated points (`for_points`; 0: no count),
    /// so that a confirmation means the same number of samples whatever the poll interval.
    pub for_points: u32,
    /// Must be false this long before resolving, seconds.
    pub clear_for_secs: i64,
    /// Severity of its alerts.
    pub severity: Severity,
    /// Route names, with the special `owners` and `account_manager`.
    pub notify: Vec<String>,
    /// Re-notify while firing: interval, backoff and cap.
    pub repeat: Option<Repeat>,
    /// Flap detection (`None`: the built-in damping only, see [`super::lifecycle`]).
    pub flap: Option<Flap>,
    /// Samples inside maintenance windows marked `exclude_samples` are judged but not learnt
    /// by the baseline or the churn totals (`maintenance_samples = "exclude"`, the default).
    pub exclude_maintenance_samples: bool,
    /// Rules that, while firing on an entity, keep this one from firing on it (one incident,
    /// one alert). Its baseline still learns.
    pub inhibited_by: Vec<String>,
    /// Points (aggregates) with less coverage than this are not evaluated.
    pub min_coverage: f64,
    /// Churn drops only: a firing alert on a priced customer whose revenue at risk (last
    /// month's revenue minus what its current usage would bill) is below this is recorded but
    /// not notified, nor its resolution. An unpriced customer's is notified (its revenue is
    /// unknown, so it cannot be called immaterial).
    pub min_revenue_at_risk: Option<f64>,
    /// File it came from.
    pub file: PathBuf,
    /// Line of the rule's table.
    pub line: usize,
}

impl Rule {
    /// True when `other` evaluates exactly like this rule: everything but where it is
    /// written (file and line). A reload keeps the alert states and baselines of a rule
    /// whose definition did not change.
    pub fn same_definition(&self, other: &Rule) -> bool {
        let Rule {
            name,
            description,
            kind,
            scope,
            matchers,
            metric,
            condition,
            for_secs,
            for_points,
            clear_for_secs,
            severity,
            notify,
            repeat,
            flap,
            exclude_maintenance_samples,
            inhibited_by,
            min_coverage,
            min_revenue_at_risk,
            file: _,
            line: _,
        } = self;
        *name == other.name
            && *description == other.description
            && *kind == other.kind
            && *scope == other.scope
            && *matchers == other.matchers
            && *metric == other.metric
            && *condition == other.condition
            && *for_secs == other.for_secs
            && *for_points == other.for_points
            && *clear_for_secs == other.clear_for_secs
            && *severity == other.severity
            && *notify == other.notify
            && *repeat == other.repeat
            && *flap == other.flap
            && *exclude_maintenance_samples == other.exclude_maintenance_samples
            && *inhibited_by == other.inhibited_by
            && *min_coverage == other.min_coverage
            && *min_revenue_at_risk == other.min_revenue_at_risk
    }

    /// True when this rule watches `scope` entities with these labels.
    pub fn applies_to(&self, scope: Scope, labels: &impl LabelSet) -> bool {
        self.scope == scope && self.matchers.iter().all(|m| m.matches(labels))
    }
}
