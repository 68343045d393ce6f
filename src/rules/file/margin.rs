//! Spike and drop margins: the baseline a rule compares against, its relative and absolute
//! margins (`factor`, `min_delta`, `deviation`, `quantile`), smoothing and what it compares,
//! and amounts written with units (`"200Mbps"`, `"10GB"`).

use super::*;

/// The most points (`smooth_points`) or slots (`level_points`) a rule may keep per series (each
/// costs memory in every series).
const MAX_SMOOTH_POINTS: i64 = 10_000;

/// The most points `season_points` may pool from each past season (a window around the slot,
/// not a memory: the slots are kept anyway).
const MAX_SEASON_POINTS: i64 = 25;

/// The highest `burst_factor`: beyond it a rule would hardly ever fire on a bursty series.
const MAX_BURST_FACTOR: f64 = 10.0;
/// The highest `deviation_cap`: beyond it the cap would hardly ever bind.
const MAX_DEVIATION_CAP: f64 = 100.0;

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

impl Validator<'_, '_, '_> {
    /// A bit rate, byte size or plain number, as the metric wants it.
    pub(super) fn amount(
        &mut self,
        a: &Spanned<RawAmount>,
        field: &str,
        metric: Metric,
    ) -> Option<f64> {
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

    pub(super) fn margin(&mut self, r: &RawRule, metric: Metric) -> Option<Margin> {
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
        let deviation_cap = match &r.deviation_cap {
            Some(c) if deviation.is_none() || r.season_strength.is_none() => {
                self.err(
                    c,
                    "deviation_cap",
                    "`deviation_cap` caps the margin of `deviation` where `season_strength` finds no rhythm: it needs both",
                );
                None
            }
            Some(c) if !(*c.get_ref() > 1.0 && *c.get_ref() <= MAX_DEVIATION_CAP) => {
                self.err(
                    c,
                    "deviation_cap",
                    format!(
                        "must be a ratio above 1 and at most {MAX_DEVIATION_CAP} (a value beyond it times the baseline is far enough whatever the spread), like 2, got {}",
                        c.get_ref()
                    ),
                );
                None
            }
            Some(c) => Some(*c.get_ref()),
            None => None,
        };
        let gate = r.season_strength.as_ref().map(|g| *g.get_ref());
        let deviation_cap_below = match &r.deviation_cap_below {
            Some(c) if r.deviation_cap.is_none() => {
                self.err(
                    c,
                    "deviation_cap_below",
                    "`deviation_cap_below` says where `deviation_cap` applies: it needs it",
                );
                None
            }
            // The cap was refused, and its error says why: one error, not a second one here.
            Some(_) if deviation_cap.is_none() => None,
            Some(c) if !(*c.get_ref() > 0.0 && gate.is_some_and(|g| *c.get_ref() <= g)) => {
                self.err(
                    c,
                    "deviation_cap_below",
                    format!(
                        "must be a share of the variance above 0 and at most `season_strength` ({}), like 0.3, got {}",
                        gate.unwrap_or(0.0),
                        c.get_ref()
                    ),
                );
                None
            }
            Some(c) => Some(*c.get_ref()),
            None => None,
        };
        let rhythm_only = match &r.rhythm_only {
            Some(o) if *o.get_ref() && gate.is_none() => {
                self.err(
                    o,
                    "rhythm_only",
                    "`rhythm_only` keeps the rule to series whose rhythm `season_strength` finds: it needs it",
                );
                false
            }
            Some(o) => *o.get_ref(),
            None => false,
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
                if how != Compare::Level && r.smooth.is_none() && r.smooth_points.is_none() {
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
        let smooth_points = match &r.smooth_points {
            Some(p) if !(1..=MAX_SMOOTH_POINTS).contains(p.get_ref()) => {
                self.err(
                    p,
                    "smooth_points",
                    format!(
                        "must be a whole number of points from 1 to {MAX_SMOOTH_POINTS}, like 3, got {}",
                        p.get_ref()
                    ),
                );
                None
            }
            Some(p) => Some(*p.get_ref() as usize),
            None => None,
        };
        let season_strength = match &r.season_strength {
            Some(g) if kind != BaselineKind::Seasonal => {
                self.err(
                    g,
                    "season_strength",
                    "`season_strength` is for `baseline = \"seasonal\"` (it says when the season is used)",
                );
                None
            }
            Some(g) if !(*g.get_ref() >= 0.0 && *g.get_ref() < 1.0) => {
                self.err(
                    g,
                    "season_strength",
                    format!(
                        "must be a share of the variance from 0 to below 1, like 0.3, got {}",
                        g.get_ref()
                    ),
                );
                None
            }
            Some(g) => Some(*g.get_ref()),
            None => None,
        };
        let season_points = match &r.season_points {
            Some(p) if kind != BaselineKind::Seasonal => {
                self.err(
                    p,
                    "season_points",
                    "`season_points` is for `baseline = \"seasonal\"` (the points each past season offers)",
                );
                None
            }
            Some(p) if !(1..=MAX_SEASON_POINTS).contains(p.get_ref()) || p.get_ref() % 2 == 0 => {
                self.err(
                    p,
                    "season_points",
                    format!(
                        "must be an odd number of points from 1 to {MAX_SEASON_POINTS} (the slot's and as many on each side), like 3, got {}",
                        p.get_ref()
                    ),
                );
                None
            }
            Some(p) => Some(*p.get_ref() as u32),
            None => None,
        };
        let strength_points = match &r.strength_points {
            Some(p) if r.season_strength.is_none() => {
                self.err(
                    p,
                    "strength_points",
                    "`strength_points` is for the gate's measure: it needs `season_strength`",
                );
                None
            }
            Some(p) if !(1..=MAX_SEASON_POINTS).contains(p.get_ref()) || p.get_ref() % 2 == 0 => {
                self.err(
                    p,
                    "strength_points",
                    format!(
                        "must be an odd number of points from 1 to {MAX_SEASON_POINTS} (each point's and as many on each side), like 7, got {}",
                        p.get_ref()
                    ),
                );
                None
            }
            Some(p) => Some(*p.get_ref() as u32),
            None => None,
        };
        let level_points = match &r.level_points {
            Some(p) if kind != BaselineKind::Seasonal => {
                self.err(
                    p,
                    "level_points",
                    "`level_points` is for `baseline = \"seasonal\"` (it scales the season to the current level)",
                );
                None
            }
            Some(p) if spread => {
                self.err(
                    p,
                    "level_points",
                    "`level_points` does not apply with `compare = \"spread\"`",
                );
                None
            }
            Some(p) if !(1..=MAX_SMOOTH_POINTS).contains(p.get_ref()) => {
                self.err(
                    p,
                    "level_points",
                    format!(
                        "must be a whole number of slots from 1 to {MAX_SMOOTH_POINTS}, like 12, got {}",
                        p.get_ref()
                    ),
                );
                None
            }
            Some(p) => Some(*p.get_ref() as usize),
            None => None,
        };
        let burst_factor = match &r.burst_factor {
            Some(b) if spread => {
                self.err(
                    b,
                    "burst_factor",
                    "`burst_factor` does not apply with `compare = \"spread\"`",
                );
                None
            }
            Some(b) if !(*b.get_ref() >= 1.0 && *b.get_ref() <= MAX_BURST_FACTOR) => {
                self.err(
                    b,
                    "burst_factor",
                    format!(
                        "must be a number from 1 to {MAX_BURST_FACTOR} (it multiplies how high the series' own bursts reach), like 1.5, got {}",
                        b.get_ref()
                    ),
                );
                None
            }
            Some(b) => Some(*b.get_ref()),
            None => None,
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
                season_strength,
                season_points,
                strength_points,
                rhythm_only,
            },
            factor,
            min_delta,
            deviation,
            deviation_cap,
            deviation_cap_below,
            unprecedented: r.unprecedented.as_ref().is_some_and(|u| *u.get_ref()),
            clip_excursions: r.clip_excursions.as_ref().is_some_and(|u| *u.get_ref()),
            smooth: self.positive(&r.smooth, "smooth"),
            smooth_points,
            evaluate_after_gap,
            spread,
            smoothed_baseline,
            level_points,
            burst_factor,
        })
    }
}
