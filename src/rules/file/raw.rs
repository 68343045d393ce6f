//! `[[rule]]` as written in a rule file: the serde schema, with source spans for messages.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::config::units::Duration;

/// A number, or a string with a unit (`"200Mbps"`, `"10GB"`).
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RawAmount {
    Number(f64),
    Text(String),
}

/// `[[rule]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    pub(super) name: Spanned<String>,
    pub(super) description: Option<String>,
    pub(super) kind: Spanned<String>,
    pub(super) scope: Spanned<String>,
    #[serde(rename = "match")]
    pub(super) matchers: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    pub(super) metric: Option<Spanned<String>>,
    pub(super) baseline: Option<Spanned<String>>,
    pub(super) history: Option<Spanned<Duration>>,
    pub(super) season: Option<Spanned<Duration>>,
    pub(super) bucket: Option<Spanned<Duration>>,
    pub(super) min_periods: Option<Spanned<i64>>,
    pub(super) quantile: Option<Spanned<f64>>,
    pub(super) factor: Option<Spanned<f64>>,
    pub(super) min_delta: Option<Spanned<RawAmount>>,
    pub(super) deviation: Option<Spanned<f64>>,
    pub(super) deviation_cap: Option<Spanned<f64>>,
    pub(super) deviation_cap_below: Option<Spanned<f64>>,
    pub(super) unprecedented: Option<Spanned<bool>>,
    pub(super) clip_excursions: Option<Spanned<bool>>,
    pub(super) rhythm_only: Option<Spanned<bool>>,
    pub(super) smooth: Option<Spanned<Duration>>,
    pub(super) smooth_points: Option<Spanned<i64>>,
    pub(super) season_strength: Option<Spanned<f64>>,
    pub(super) season_points: Option<Spanned<i64>>,
    pub(super) strength_points: Option<Spanned<i64>>,
    pub(super) level_points: Option<Spanned<i64>>,
    pub(super) burst_factor: Option<Spanned<f64>>,
    pub(super) warmup: Option<Spanned<Duration>>,
    pub(super) after_gap: Option<Spanned<String>>,
    pub(super) compare: Option<Spanned<String>>,
    #[serde(rename = "for")]
    pub(super) for_: Option<Spanned<Duration>>,
    pub(super) for_points: Option<Spanned<i64>>,
    pub(super) clear_for: Option<Spanned<Duration>>,
    pub(super) severity: Option<Spanned<String>>,
    pub(super) notify: Option<Vec<Spanned<String>>>,
    pub(super) repeat: Option<Spanned<Duration>>,
    pub(super) repeat_backoff: Option<Spanned<f64>>,
    pub(super) repeat_max: Option<Spanned<Duration>>,
    /// `false`, or `{ changes = 6, within = "1h", clear_for = "30m" }` (read in `flap.rs`).
    pub(super) flap: Option<Spanned<toml::Value>>,
    pub(super) maintenance_samples: Option<Spanned<String>>,
    pub(super) inhibited_by: Option<Vec<Spanned<String>>>,
    pub(super) window: Option<Spanned<Duration>>,
    pub(super) recent: Option<Spanned<Duration>>,
    pub(super) reference: Option<Spanned<Duration>>,
    pub(super) max_drop: Option<Spanned<f64>>,
    pub(super) statistic: Option<Spanned<String>>,
    pub(super) min_coverage: Option<Spanned<f64>>,
    pub(super) above: Option<Spanned<RawAmount>>,
    pub(super) below: Option<Spanned<RawAmount>>,
    pub(super) min_revenue_at_risk: Option<Spanned<f64>>,
}
