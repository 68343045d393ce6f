//! Reading the rule files of `rules_dir`: every `*.toml` file, each with `[[rule]]` tables,
//! parsed and validated into [`Rule`]s. Every problem is reported like a configuration error
//! (`FILE:LINE:COL: KEY: message`), all of them at once, not only the first.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::Deserialize;
use toml::Spanned;

use super::rule::{
    BaselineKind, BaselineSpec, Churn, Condition, Kind, Margin, Matcher, Metric, Rule, Scope,
    Severity,
};
use crate::config::document::Document;
use crate::config::units::{BitRate, ByteSize, Duration};
use crate::config::{Diagnostic, Diagnostics, Severity as DiagSeverity, SourceFile, Topology};

/// Route names with a meaning of their own: the product line's owners, the customer's
/// account manager.
pub const SPECIAL_ROUTES: [&str; 2] = ["owners", "account_manager"];

/// Defaults of optional rule keys, in one place.
pub mod defaults {
    /// Seasonal history.
    pub const SEASONAL_HISTORY: i64 = 14 * 86400;
    /// Recent window.
    pub const RECENT_HISTORY: i64 = 3600;
    /// Season.
    pub const SEASON: i64 = 86400;
    /// Width of a time-of-day slot.
    pub const BUCKET: i64 = 300;
    /// Past periods needed for a seasonal baseline.
    pub const MIN_PERIODS: usize = 3;
    /// Coverage below which an aggregate point is unknown.
    pub const MIN_COVERAGE: f64 = 0.9;
}

/// What a spike or drop rule with `smooth` compares (`compare`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compare {
    /// The median of the last `smooth` against past points.
    Level,
    /// The spread of the last `smooth` against past spreads.
    Spread,
    /// The median of the last `smooth` against past medians of `smooth`.
    Smoothed,
}

/// Every rule of a rules folder.
#[derive(Clone, Debug, Default)]
pub struct RuleFiles {
    /// The files read, sorted by name.
    pub files: Vec<PathBuf>,
    /// The valid rules, file by file.
    pub rules: Vec<Rule>,
}

/// A number, or a string with a unit (`"200Mbps"`, `"10GB"`).
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum RawAmount {
    Number(f64),
    Text(String),
}

/// `[[rule]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Spanned<String>,
    description: Option<String>,
    kind: Spanned<String>,
    scope: Spanned<String>,
    #[serde(rename = "match")]
    matchers: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    metric: Option<Spanned<String>>,
    baseline: Option<Spanned<String>>,
    history: Option<Spanned<Duration>>,
    season: Option<Spanned<Duration>>,
    bucket: Option<Spanned<Duration>>,
    min_periods: Option<Spanned<i64>>,
    quantile: Option<Spanned<f64>>,
    factor: Option<Spanned<f64>>,
    min_delta: Option<Spanned<RawAmount>>,
    deviation: Option<Spanned<f64>>,
    unprecedented: Option<Spanned<bool>>,
    smooth: Option<Spanned<Duration>>,
    warmup: Option<Spanned<Duration>>,
    after_gap: Option<Spanned<String>>,
    compare: Option<Spanned<String>>,
    #[serde(rename = "for")]
    for_: Option<Spanned<Duration>>,
    clear_for: Option<Spanned<Duration>>,
    severity: Option<Spanned<String>>,
    notify: Option<Vec<Spanned<String>>>,
    repeat: Option<Spanned<Duration>>,
    inhibited_by: Option<Vec<Spanned<String>>>,
    window: Option<Spanned<Duration>>,
    recent: Option<Spanned<Duration>>,
    reference: Option<Spanned<Duration>>,
    max_drop: Option<Spanned<f64>>,
    min_coverage: Option<Spanned<f64>>,
    above: Option<Spanned<RawAmount>>,
    below: Option<Spanned<RawAmount>>,
    min_revenue_at_risk: Option<Spanned<f64>>,
}

/// Reads and validates every `*.toml` file of `dir`, checking route names against `topology`.
/// A missing folder is a warning, not an error: a daemon without rules still polls and stores.
pub fn load_dir(dir: &Path, topology: &Topology) -> (RuleFiles, Diagnostics) {
    let mut diags = Diagnostics::default();
    let mut out = RuleFiles::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            diags.0.push(Diagnostic {
                severity: DiagSeverity::Warning,
                file: dir.to_path_buf(),
                line: 1,
                col: 1,
                key: "daemon.rules_dir".into(),
                message: format!("cannot read the rules folder ({e}): no rules will be evaluated"),
            });
            return (out, diags);
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    files.sort();
    let mut seen: HashMap<String, (PathBuf, usize)> = HashMap::new();
    for path in files {
        let src = match SourceFile::read(&path) {
            Ok(s) => s,
            Err(d) => {
                diags.0.push(d);
                continue;
            }
        };
        let (rules, d) = parse_source(&src, topology, &mut seen);
        diags.extend(d);
        out.rules.extend(rules);
        out.files.push(path);
    }
    (out, diags)
}

/// Parses and validates one rule file. `seen` holds the rule names of earlier files (names are
/// unique across the folder).
pub fn parse_source(
    src: &SourceFile,
    topology: &Topology,
    seen: &mut HashMap<String, (PathBuf, usize)>,
) -> (Vec<Rule>, Diagnostics) {
    let mut doc = match Document::parse(src) {
        Ok(d) => d,
        Err(d) => return (Vec::new(), d),
    };
    doc.deny_unknown_keys(&["rule"]);
    let mut rules = Vec::new();
    let mut pending = Vec::new();
    for el in doc.array_of_tables::<RawRule>("rule") {
        let key = format!("rule[{}]", el.index);
        let mut v = Validator {
            doc: &mut doc,
            key: key.clone(),
            topology,
            ok: true,
        };
        let inhibitors = el.value.inhibited_by.clone().unwrap_or_default();
        let rule = v.rule(el.value, &src.path);
        let Some(rule) = rule else { continue };
        pending.push((key.clone(), rule.name.clone(), inhibitors));
        if let Some((f, l)) = seen.get(&rule.name) {
            let msg = format!(
                "duplicate rule `{}`; it is first defined at {}:{l}",
                rule.name,
                f.display()
            );
            doc.error(Some(el.span.clone()), &format!("{key}.name"), msg);
            continue;
        }
        seen.insert(rule.name.clone(), (src.path.clone(), rule.line));
        rules.push(rule);
    }
    // `inhibited_by` names rules of this file or of an earlier one (files are read by name).
    for (key, name, inhibitors) in pending {
        for n in inhibitors {
            let msg = if n.get_ref() == &name {
                Some(format!("a rule cannot inhibit itself (`{name}`)"))
            } else if !seen.contains_key(n.get_ref()) {
                Some(format!(
                    "unknown rule `{}`: name a rule of this file or of a file read before it",
                    n.get_ref()
                ))
            } else {
                None
            };
            if let Some(msg) = msg {
                doc.error(Some(n.span()), &format!("{key}.inhibited_by"), msg);
                rules.retain(|r| r.name != name);
            }
        }
    }
    (rules, std::mem::take(&mut doc.diags))
}

struct Validator<'d, 'a, 't> {
    doc: &'d mut Document<'a>,
    key: String,
    topology: &'t Topology,
    ok: bool,
}

impl Validator<'_, '_, '_> {
    fn err<T>(&mut self, spanned: &Spanned<T>, field: &str, msg: impl Into<String>) {
        let key = format!("{}.{field}", self.key);
        self.doc.error(Some(spanned.span()), &key, msg);
        self.ok = false;
    }

    fn warn<T>(&mut self, spanned: &Spanned<T>, field: &str, msg: impl Into<String>) {
        let key = format!("{}.{field}", self.key);
        self.doc.warning(Some(spanned.span()), &key, msg);
    }

    fn pick<T: Copy>(
        &mut self,
        s: &Spanned<String>,
        field: &str,
        all: &[(&'static str, T)],
    ) -> Option<T> {
        if let Some((_, v)) = all.iter().find(|(n, _)| *n == s.get_ref()) {
            return Some(*v);
        }
        let names: Vec<&str> = all.iter().map(|(n, _)| *n).collect();
        self.err(
            s,
            field,
            format!(
                "unknown {field} `{}`, expected one of {}",
                s.get_ref(),
                names.join(", ")
            ),
        );
        None
    }

    fn secs(d: &Spanned<Duration>) -> i64 {
        d.get_ref().as_secs() as i64
    }

    fn positive(&mut self, d: &Option<Spanned<Duration>>, field: &str) -> Option<i64> {
        let d = d.as_ref()?;
        if Self::secs(d) == 0 {
            self.err(d, field, "must be longer than zero");
            return None;
        }
        Some(Self::secs(d))
    }

    /// A bit rate, byte size or plain number, as the metric wants it.
    fn amount(&mut self, a: &Spanned<RawAmount>, field: &str, metric: Metric) -> Option<f64> {
        let v = match (a.get_ref(), metric) {
            (RawAmount::Text(s), m) if m.is_bit_rate() => match s.parse::<BitRate>() {
                Ok(r) => r.bps() as f64,
                Err(e) => {
                    self.err(a, field, e);
                    return None;
                }
            },
            (RawAmount::Text(s), Metric::UsageBytes) => match s.parse::<ByteSize>() {
                Ok(r) => r.bytes() as f64,
                Err(e) => {
                    self.err(a, field, e);
                    return None;
                }
            },
            (RawAmount::Text(s), Metric::Utilization) => {
                match s.trim().strip_suffix('%').map(|n| n.trim().parse::<f64>()) {
                    Some(Ok(p)) => p / 100.0,
                    _ => {
                        self.err(
                            a,
                            field,
                            format!("invalid utilization `{s}`; write a fraction like 0.9 or a percentage like \"90%\""),
                        );
                        return None;
                    }
                }
            }
            (RawAmount::Text(s), m) => {
                self.err(
                    a,
                    field,
                    format!("`{s}` is text; metric `{}` takes a plain number", m.name()),
                );
                return None;
            }
            (RawAmount::Number(n), m) if m.is_bit_rate() && *n != 0.0 => {
                self.err(
                    a,
                    field,
                    format!(
                        "a bare number is ambiguous for metric `{}`; write a bit rate like \"200Mbps\"",
                        m.name()
                    ),
                );
                return None;
            }
            (RawAmount::Number(n), _) => *n,
        };
        if !v.is_finite() || v < 0.0 {
            self.err(a, field, "must be a finite number, zero or more");
            return None;
        }
        Some(v)
    }

    fn rule(&mut self, r: RawRule, file: &Path) -> Option<Rule> {
        let name = r.name.get_ref().trim().to_string();
        if name.is_empty() {
            self.err(&r.name, "name", "must not be empty");
        }
        let line = self.doc.src.line_col(r.name.span().start).0;
        let kind = self.pick(&r.kind, "kind", &Kind::ALL);
        let scope = self.pick(&r.scope, "scope", &Scope::ALL);
        let metric = match &r.metric {
            Some(m) => self.pick(m, "metric", &Metric::ALL),
            None => None,
        };
        let (Some(kind), Some(scope)) = (kind, scope) else {
            return None;
        };
        let matchers = self.matchers(&r, scope);
        let notify = self.notify(&r, scope);
        let metric = self.metric(&r, kind, scope, metric)?;

        // Keys that only make sense for some kinds.
        let is_churn = kind == Kind::Drop && r.window.is_some();
        let margin_kind = matches!(kind, Kind::Spike | Kind::Drop) && !is_churn;
        let only = |ok: bool, present: bool| present && !ok;
        macro_rules! not_for {
            ($field:ident, $ok:expr, $why:expr) => {
                if let Some(f) = &r.$field {
                    if only($ok, true) {
                        self.err(
                            f,
                            stringify!($field),
                            format!("`{}` does not apply {}", stringify!($field), $why),
                        );
                    }
                }
            };
        }
        let why_margin = "here: it is for spike and drop rules (without `window`)";
        not_for!(baseline, margin_kind, why_margin);
        not_for!(history, margin_kind, why_margin);
        not_for!(season, margin_kind, why_margin);
        not_for!(bucket, margin_kind, why_margin);
        not_for!(min_periods, margin_kind, why_margin);
        not_for!(quantile, margin_kind, why_margin);
        not_for!(factor, margin_kind, why_margin);
        not_for!(min_delta, margin_kind, why_margin);
        not_for!(deviation, margin_kind, why_margin);
        not_for!(unprecedented, margin_kind, why_margin);
        not_for!(smooth, margin_kind, why_margin);
        not_for!(warmup, margin_kind, why_margin);
        not_for!(after_gap, margin_kind, why_margin);
        not_for!(compare, margin_kind, why_margin);
        let why_churn = "here: it is for churn-style drop rules (with `window`)";
        not_for!(recent, is_churn, why_churn);
        not_for!(reference, is_churn, why_churn);
        not_for!(max_drop, is_churn, why_churn);
        not_for!(min_revenue_at_risk, is_churn, why_churn);
        let min_revenue_at_risk = self.min_revenue_at_risk(&r, scope);
        let why_thr = "here: it is for threshold rules";
        not_for!(above, kind == Kind::Threshold, why_thr);
        not_for!(below, kind == Kind::Threshold, why_thr);
        if let Some(w) = &r.window
            && kind != Kind::Drop
        {
            self.err(
                w,
                "window",
                "`window` does not apply here: it is for churn-style drop rules",
            );
        }

        let condition = match kind {
            Kind::Spike | Kind::Drop if !is_churn => {
                let m = self.margin(&r, metric)?;
                if kind == Kind::Spike {
                    Condition::Spike(m)
                } else {
                    Condition::Drop(m)
                }
            }
            Kind::Spike | Kind::Drop => Condition::Churn(self.churn(&r)?),
            Kind::Threshold => {
                let above = match &r.above {
                    Some(a) => Some(self.amount(a, "above", metric)?),
                    None => None,
                };
                let below = match &r.below {
                    Some(a) => Some(self.amount(a, "below", metric)?),
                    None => None,
                };
                if above.is_none() && below.is_none() {
                    self.err(
                        &r.kind,
                        "above",
                        "a threshold rule needs `above`, `below` or both",
                    );
                }
                if let (Some(a), Some(b), Some(sa)) = (above, below, &r.above)
                    && b >= a
                {
                    self.err(
                        sa,
                        "above",
                        "`below` must be lower than `above`, or the rule is always true",
                    );
                }
                Condition::Threshold { above, below }
            }
            Kind::Absent => Condition::Absent,
            Kind::PortDown => Condition::PortDown,
        };

        let for_secs = r.for_.as_ref().map(Self::secs).unwrap_or(0);
        if kind == Kind::Absent && for_secs == 0 {
            let msg = "an absent rule needs `for` (how long without a successful sample), like \"3m\"; without it every restart fires";
            match &r.for_ {
                Some(f) => self.err(f, "for", msg),
                None => self.err(&r.kind, "for", msg),
            }
        }
        let clear_for_secs = r.clear_for.as_ref().map(Self::secs).unwrap_or(0);
        let repeat_secs = self.positive(&r.repeat, "repeat");
        let severity = match &r.severity {
            Some(s) => self.pick(
                s,
                "severity",
                &[
                    ("info", Severity::Info),
                    ("warning", Severity::Warning),
                    ("critical", Severity::Critical),
                ],
            ),
            None => Some(Severity::Warning),
        };
        let min_coverage = match &r.min_coverage {
            Some(c) => {
                let v = *c.get_ref();
                if !(v > 0.0 && v <= 1.0) {
                    self.err(
                        c,
                        "min_coverage",
                        "must be a fraction above 0 and at most 1",
                    );
                }
                v
            }
            None => defaults::MIN_COVERAGE,
        };
        if !self.ok {
            return None;
        }
        Some(Rule {
            name,
            description: r.description.clone(),
            kind,
            scope,
            matchers,
            metric,
            condition,
            for_secs,
            clear_for_secs,
            severity: severity?,
            notify,
            repeat_secs,
            inhibited_by: r
                .inhibited_by
                .iter()
                .flatten()
                .map(|n| n.get_ref().clone())
                .collect(),
            min_coverage,
            min_revenue_at_risk,
            file: file.to_path_buf(),
            line,
        })
    }

    fn matchers(&mut self, r: &RawRule, scope: Scope) -> Vec<Matcher> {
        let mut out = Vec::new();
        let Some(m) = &r.matchers else {
            return out;
        };
        for (k, v) in m {
            let field = format!("match.{}", k.get_ref());
            if !scope.labels().contains(&k.get_ref().as_str()) {
                self.err(
                    k,
                    &field,
                    format!(
                        "a {} has no label `{}`; it has {}",
                        scope.name(),
                        k.get_ref(),
                        scope.labels().join(", ")
                    ),
                );
                continue;
            }
            if let Some(re) = v.get_ref().strip_prefix('~') {
                match Regex::new(&format!("^(?:{re})$")) {
                    Ok(rx) => out.push(Matcher::Regex(k.get_ref().clone(), rx)),
                    Err(e) => {
                        let first = e.to_string();
                        let last = first.lines().last().unwrap_or("").trim().to_string();
                        self.err(v, &field, format!("invalid regex `{re}`: {last}"));
                    }
                }
            } else {
                out.push(Matcher::Equals(k.get_ref().clone(), v.get_ref().clone()));
            }
        }
        out
    }

    fn metric(
        &mut self,
        r: &RawRule,
        kind: Kind,
        scope: Scope,
        metric: Option<Metric>,
    ) -> Option<Metric> {
        let needs = matches!(kind, Kind::Spike | Kind::Drop | Kind::Threshold);
        let Some(ms) = &r.metric else {
            if needs {
                self.err(
                    &r.kind,
                    "metric",
                    format!("a {} rule needs a `metric`", kind.name()),
                );
                return None;
            }
            return Some(if kind == Kind::PortDown {
                Metric::OperStatus
            } else {
                Metric::Value
            });
        };
        let m = metric?;
        if !needs {
            self.err(
                ms,
                "metric",
                format!(
                    "`metric` does not apply to a {} rule; it watches whether samples arrive{}",
                    kind.name(),
                    if kind == Kind::PortDown {
                        " (ifOperStatus)"
                    } else {
                        ""
                    }
                ),
            );
            return None;
        }
        if kind == Kind::PortDown && scope != Scope::Port {
            self.err(
                &r.scope,
                "scope",
                "a port_down rule watches ports: `scope = \"port\"`",
            );
        }
        if (m == Metric::Value) != (scope == Scope::Series) {
            self.err(
                ms,
                "metric",
                "metric `value` belongs to imported series: use it with `scope = \"series\"`, and only it",
            );
            return None;
        }
        let churn = kind == Kind::Drop && r.window.is_some();
        if churn && !matches!(m, Metric::UsageBytes | Metric::Value) {
            self.err(
                ms,
                "metric",
                "a churn drop (with `window`) compares totals: use `usage_bytes` (or `value`)",
            );
            return None;
        }
        if m == Metric::Utilization && kind != Kind::Threshold {
            self.err(
                ms,
                "metric",
                "`utilization` is bounded by the port speed: use it with a threshold rule",
            );
            return None;
        }
        if m == Metric::UsageBytes && kind == Kind::Spike {
            self.err(
                ms,
                "metric",
                "a spike is a rate: use `in_bps`, `out_bps` or `total_bps`",
            );
            return None;
        }
        Some(m)
    }

    fn margin(&mut self, r: &RawRule, metric: Metric) -> Option<Margin> {
        let kind = match &r.baseline {
            Some(b) => self.pick(
                b,
                "baseline",
                &[
                    ("seasonal", BaselineKind::Seasonal),
                    ("recent", BaselineKind::Recent),
                ],
            )?,
            None => BaselineKind::Seasonal,
        };
        let history = self.positive(&r.history, "history").unwrap_or(match kind {
            BaselineKind::Seasonal => defaults::SEASONAL_HISTORY,
            BaselineKind::Recent => defaults::RECENT_HISTORY,
        });
        let season = self
            .positive(&r.season, "season")
            .unwrap_or(defaults::SEASON);
        if let (Some(s), BaselineKind::Recent) = (&r.season, kind) {
            self.err(s, "season", "`season` is for `baseline = \"seasonal\"`");
        }
        let bucket = self
            .positive(&r.bucket, "bucket")
            .unwrap_or(defaults::BUCKET);
        if kind == BaselineKind::Seasonal {
            if season < 3600 || season % 3600 != 0 {
                if let Some(s) = &r.season {
                    self.err(
                        s,
                        "season",
                        "a season is whole hours, usually \"1d\" or \"7d\"",
                    );
                }
            } else if season % bucket != 0
                && let Some(b) = &r.bucket
            {
                self.err(b, "bucket", "the season must be a whole number of buckets");
            }
            if history < season
                && let Some(h) = &r.history
            {
                {
                    self.err(
                        h,
                        "history",
                        "a seasonal baseline needs a history of at least one season; \"14d\" for a daily season, \"28d\" for a weekly one",
                    );
                }
            }
        }
        let min_periods = match &r.min_periods {
            Some(p) if *p.get_ref() < 1 => {
                self.err(p, "min_periods", "must be at least 1");
                1
            }
            Some(p) => *p.get_ref() as usize,
            None => defaults::MIN_PERIODS,
        };
        let quantile = match &r.quantile {
            Some(q) if !(*q.get_ref() > 0.0 && *q.get_ref() < 1.0) => {
                self.err(
                    q,
                    "quantile",
                    "must be a fraction between 0 and 1, like 0.5 (the median)",
                );
                0.5
            }
            Some(q) => *q.get_ref(),
            None => 0.5,
        };
        let factor = match &r.factor {
            Some(f) if f.get_ref().is_nan() || *f.get_ref() <= 1.0 || !f.get_ref().is_finite() => {
                self.err(
                    f,
                    "factor",
                    format!(
                        "must be above 1 (it multiplies or divides the baseline), got {}",
                        f.get_ref()
                    ),
                );
                return None;
            }
            Some(f) => *f.get_ref(),
            None => {
                self.err(
                    &r.kind,
                    "factor",
                    "a spike or drop rule needs `factor` (above 1), like 3.0",
                );
                return None;
            }
        };
        let min_delta = match &r.min_delta {
            Some(a) => self.amount(a, "min_delta", metric)?,
            None => {
                let example = if metric.is_bit_rate() {
                    "\"200Mbps\""
                } else {
                    "a number"
                };
                self.err(
                    &r.kind,
                    "min_delta",
                    format!("a spike or drop rule needs `min_delta` (the absolute margin), like {example}; without it a quiet port going from 1 to 5 kbit/s fires"),
                );
                return None;
            }
        };
        let deviation = match &r.deviation {
            Some(d) if d.get_ref().is_nan() || *d.get_ref() <= 0.0 || !d.get_ref().is_finite() => {
                self.err(d, "deviation", "must be above 0");
                None
            }
            Some(d) => Some(*d.get_ref()),
            None => None,
        };
        if history > 400 * 86400
            && let Some(h) = &r.history
        {
            self.warn(
                h,
                "history",
                "more than 400 days of history is rarely kept at full resolution",
            );
        }
        let warmup = self.positive(&r.warmup, "warmup");
        let evaluate_after_gap = match &r.after_gap {
            Some(a) => {
                let evaluate = self.pick(a, "after_gap", &[("skip", false), ("evaluate", true)])?;
                if evaluate && metric != Metric::Value {
                    self.err(
                        a,
                        "after_gap",
                        "\"evaluate\" is only for metric \"value\" (imported readings): a rate measured across a gap spans a counter reset or a burst",
                    );
                    return None;
                }
                evaluate
            }
            None => false,
        };
        let (spread, smoothed_baseline) = match &r.compare {
            Some(c) => {
                let how = self.pick(
                    c,
                    "compare",
                    &[
                        ("level", Compare::Level),
                        ("spread", Compare::Spread),
                        ("smoothed", Compare::Smoothed),
                    ],
                )?;
                if how != Compare::Level && r.smooth.is_none() {
                    let what = if how == Compare::Spread {
                        "\"spread\" needs `smooth`: the window whose spread is compared, like \"6h\""
                    } else {
                        "\"smoothed\" needs `smooth`: the window whose median is compared with the past medians, like \"30m\""
                    };
                    self.err(c, "compare", what);
                    return None;
                }
                (how == Compare::Spread, how == Compare::Smoothed)
            }
            None => (false, false),
        };
        Some(Margin {
            baseline: BaselineSpec {
                kind,
                history,
                season,
                bucket,
                min_periods,
                quantile,
                warmup,
            },
            factor,
            min_delta,
            deviation,
            unprecedented: r.unprecedented.as_ref().is_some_and(|u| *u.get_ref()),
            smooth: self.positive(&r.smooth, "smooth"),
            evaluate_after_gap,
            spread,
            smoothed_baseline,
        })
    }

    /// `min_revenue_at_risk`: an amount of money, on a churn rule that watches customers.
    fn min_revenue_at_risk(&mut self, r: &RawRule, scope: Scope) -> Option<f64> {
        let m = r.min_revenue_at_risk.as_ref()?;
        let v = *m.get_ref();
        if !(v.is_finite() && v >= 0.0) {
            self.err(
                m,
                "min_revenue_at_risk",
                "must be an amount of money, zero or more, like 100.0",
            );
            return None;
        }
        if !matches!(scope, Scope::Customer | Scope::Port) {
            self.err(
                m,
                "min_revenue_at_risk",
                "revenue is a customer's: use it with scope customer (or port)",
            );
            return None;
        }
        Some(v)
    }

    fn churn(&mut self, r: &RawRule) -> Option<Churn> {
        let window = self.positive(&r.window, "window")?;
        let count = |d: &Option<Spanned<Duration>>, field: &str, this: &mut Self| {
            let Some(s) = d else {
                this.err(
                    &r.kind,
                    field,
                    format!("a churn drop (with `window`) needs `{field}`, like \"7d\""),
                );
                return None;
            };
            let secs = Self::secs(s);
            if secs == 0 || secs % window != 0 {
                this.err(s, field, "must be a whole number of windows, at least one");
                return None;
            }
            Some((secs / window) as usize)
        };
        let recent = count(&r.recent, "recent", self);
        let reference = count(&r.reference, "reference", self);
        let max_drop = match &r.max_drop {
            Some(d) if !(*d.get_ref() > 0.0 && *d.get_ref() < 1.0) => {
                self.err(
                    d,
                    "max_drop",
                    "must be a fraction between 0 and 1, like 0.4",
                );
                None
            }
            Some(d) => Some(*d.get_ref()),
            None => {
                self.err(
                    &r.kind,
                    "max_drop",
                    "a churn drop (with `window`) needs `max_drop`, like 0.4",
                );
                None
            }
        };
        let min_coverage = r
            .min_coverage
            .as_ref()
            .map(|c| *c.get_ref())
            .unwrap_or(defaults::MIN_COVERAGE);
        Some(Churn {
            window,
            recent: recent?,
            reference: reference?,
            max_drop: max_drop?,
            min_coverage,
        })
    }

    fn notify(&mut self, r: &RawRule, scope: Scope) -> Vec<String> {
        let mut out = Vec::new();
        let Some(list) = &r.notify else {
            self.warn(
                &r.name,
                "notify",
                "no `notify`: this rule's alerts are recorded but nobody is told",
            );
            return out;
        };
        for (i, n) in list.iter().enumerate() {
            let field = format!("notify[{i}]");
            let name = n.get_ref().as_str();
            match name {
                "owners" if !matches!(scope, Scope::Port | Scope::ProductLine) => {
                    self.err(
                        n,
                        &field,
                        "`owners` are a product line's: use it with scope port or product_line",
                    );
                }
                "account_manager" if !matches!(scope, Scope::Port | Scope::Customer) => {
                    self.err(
                        n,
                        &field,
                        "`account_manager` is a customer's: use it with scope port or customer",
                    );
                }
                _ if SPECIAL_ROUTES.contains(&name) => {}
                _ if !self.topology.routes.contains_key(name) => {
                    let known: Vec<&str> = self
                        .topology
                        .routes
                        .keys()
                        .map(String::as_str)
                        .chain(SPECIAL_ROUTES)
                        .collect();
                    self.err(
                        n,
                        &field,
                        format!("unknown route `{name}`; known: {}", known.join(", ")),
                    );
                }
                _ => {}
            }
            if !out.iter().any(|x| x == name) {
                out.push(name.to_string());
            }
        }
        out
    }
}
