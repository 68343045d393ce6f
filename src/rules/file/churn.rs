//! Churn drops (`window`, `recent`, `reference`, `max_drop`, `statistic`) and
//! `min_revenue_at_risk`.

use super::*;

impl Validator<'_, '_, '_> {
    /// `min_revenue_at_risk`: an amount of money, on a churn rule that watches customers.
    pub(super) fn min_revenue_at_risk(&mut self, r: &RawRule, scope: Scope) -> Option<f64> {
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

    pub(super) fn churn(&mut self, r: &RawRule) -> Option<Churn> {
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
        let statistic = match r.statistic.as_ref() {
            None => Some(ChurnStatistic::Mean),
            Some(v) => match v.get_ref().as_str() {
                "mean" => Some(ChurnStatistic::Mean),
                "median" => Some(ChurnStatistic::Median),
                _ => {
                    self.err(v, "statistic", "must be \"mean\" or \"median\"");
                    None
                }
            },
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
            statistic: statistic?,
        })
    }
}
