//! The per-rule checks: name, kind, scope, matchers, metric and lifecycle keys, turning one
//! `[[rule]]` into a [`Rule`] or into messages naming file, line and key.

use super::*;

/// Validates the rules of one file, collecting diagnostics in its document.
pub(super) struct Validator<'d, 'a, 't> {
    pub(super) doc: &'d mut Document<'a>,
    pub(super) key: String,
    pub(super) topology: &'t Topology,
    pub(super) ok: bool,
}

impl Validator<'_, '_, '_> {
    pub(super) fn err<T>(&mut self, spanned: &Spanned<T>, field: &str, msg: impl Into<String>) {
        let key = format!("{}.{field}", self.key);
        self.doc.error(Some(spanned.span()), &key, msg);
        self.ok = false;
    }

    pub(super) fn warn<T>(&mut self, spanned: &Spanned<T>, field: &str, msg: impl Into<String>) {
        let key = format!("{}.{field}", self.key);
        self.doc.warning(Some(spanned.span()), &key, msg);
    }

    pub(super) fn pick<T: Copy>(
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

    pub(super) fn secs(d: &Spanned<Duration>) -> i64 {
        d.get_ref().as_secs() as i64
    }

    pub(super) fn positive(&mut self, d: &Option<Spanned<Duration>>, field: &str) -> Option<i64> {
        let d = d.as_ref()?;
        if Self::secs(d) == 0 {
            self.err(d, field, "must be longer than zero");
            return None;
        }
        Some(Self::secs(d))
    }

    pub(super) fn rule(&mut self, r: RawRule, file: &Path) -> Option<Rule> {
        let name = r.name.get_ref().trim().to_string();
        if name.is_empty() {
            self.err(&r.name, "name", "must not be empty");
        }
        let line = self.doc.line_col(r.name.span().start).0;
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
        not_for!(deviation_cap, margin_kind, why_margin);
        not_for!(deviation_cap_below, margin_kind, why_margin);
        not_for!(unprecedented, margin_kind, why_margin);
        not_for!(clip_excursions, margin_kind, why_margin);
        not_for!(rhythm_only, margin_kind, why_margin);
        not_for!(smooth, margin_kind, why_margin);
        not_for!(smooth_points, margin_kind, why_margin);
        not_for!(season_strength, margin_kind, why_margin);
        not_for!(season_points, margin_kind, why_margin);
        not_for!(strength_points, margin_kind, why_margin);
        not_for!(level_points, margin_kind, why_margin);
        not_for!(burst_factor, margin_kind, why_margin);
        not_for!(warmup, margin_kind, why_margin);
        not_for!(after_gap, margin_kind, why_margin);
        not_for!(compare, margin_kind, why_margin);
        let why_churn = "here: it is for churn-style drop rules (with `window`)";
        not_for!(recent, is_churn, why_churn);
        not_for!(reference, is_churn, why_churn);
        not_for!(max_drop, is_churn, why_churn);
        not_for!(statistic, is_churn, why_churn);
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
        let for_points = self.for_points(&r, kind);
        let clear_for_secs = r.clear_for.as_ref().map(Self::secs).unwrap_or(0);
        let repeat = self.repeat(&r);
        let flap = self.flap(&r, kind);
        not_for!(
            maintenance_samples,
            matches!(kind, Kind::Spike | Kind::Drop),
            "here: it is for spike and drop rules (their baselines and churn totals)"
        );
        let exclude_maintenance_samples = match &r.maintenance_samples {
            Some(m) => self
                .pick(
                    m,
                    "maintenance_samples",
                    &[("exclude", true), ("include", false)],
                )
                .unwrap_or(true),
            None => true,
        };
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
            for_points,
            clear_for_secs,
            severity: severity?,
            notify,
            repeat,
            flap,
            exclude_maintenance_samples,
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

    pub(super) fn matchers(&mut self, r: &RawRule, scope: Scope) -> Vec<Matcher> {
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

    pub(super) fn metric(
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
}
