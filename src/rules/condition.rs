//! Evaluating one rule's condition on one series, point by point: true, false, or unknown.
//! Unknown (a gap, low coverage, no baseline yet, the first point after a gap for a spike)
//! is its own answer: it never fires a drop and never resolves an alert by itself.

use std::borrow::Cow;

use jiff::Timestamp;

use serde::{Deserialize, Serialize};

use super::baseline::{Baseline, BaselineCache, Envelope, MIN_WINDOW_POINTS, RollingWindow};
use super::burst::Bursts;
use super::churn::ChurnTotals;
use super::level::Level;
use super::point::Point;
use super::rule::{Condition, Margin, Rule};

/// A step this many times the usual step is a gap.
pub const GAP_STEPS: f64 = 2.5;

/// The answer of a condition at one point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Verdict {
    /// The condition holds.
    True(Reading),
    /// It does not.
    False(Reading),
    /// It cannot be told (gap, coverage, learning, after a gap for a spike); the reason (a
    /// constant text in the common cases: a fleet's ports are unknown or learning every sweep,
    /// and a reason allocated per point was a heap block per port and sweep).
    Unknown(Cow<'static, str>),
}

/// What was compared.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// The value (for churn: the recent mean total).
    pub value: f64,
    /// The baseline or reference, if the rule has one.
    pub baseline: Option<f64>,
    /// A caveat for the alert text (fallback baseline, left-out days).
    pub note: Option<String>,
    /// Where the condition starts to hold: the value beyond which a spike fires (every margin
    /// of the rule applied to this baseline), below which a drop or churn fires, a threshold,
    /// an absent rule's `for`. With `baseline` it is the envelope the value was compared
    /// against, drawn in the alert's chart.
    #[serde(default)]
    pub limit: Option<f64>,
}

/// How many consecutive points confirm a rule of `for_points` on a series whose points are
/// the store's 60 s slots of polls `poll_secs` apart (an aggregate of ports polled once a minute
/// or more slowly; 0 for any other series): the slots `for_points` polls cover, less one, since
/// the slots do not line up with the polls and the first holds the run only in part (at least
/// 1; 0 stays 0). 2 polls of 5 minutes are 9 slots, 2 polls of a minute 1, 3 polls of 5
/// minutes 14; elsewhere `for_points` itself.
pub fn confirm_points(for_points: u32, poll_secs: u32) -> u32 {
    let slot = crate::store::SLOT_SECS as u64;
    if for_points == 0 || u64::from(poll_secs) < slot {
        return for_points;
    }
    let slots = (u64::from(for_points) * u64::from(poll_secs)).div_ceil(slot);
    u32::try_from(slots.saturating_sub(1).max(1)).unwrap_or(u32::MAX)
}

/// The evaluation state of one rule on one series (its baseline cache and a few facts).
#[derive(Clone, Debug)]
pub struct SeriesEval {
    // Boxed: most series are judged by rules without a baseline (thresholds, port status),
    // and an engine keeps one of these per rule and series.
    baseline: Option<Box<Learning>>,
    smooth: Option<Box<RollingWindow>>,
    level: Option<Box<Level>>,
    bursts: Option<Box<Bursts>>,
    churn: Option<Box<ChurnTotals>>,
    last_time: Option<i64>,
    cadence: Cadence,
    gap_pending: bool,
    first_time: Option<i64>,
    last_known: Option<i64>,
    seen_up: bool,
    /// Seconds between the polls behind this series' points where they are coarser than the
    /// points (an aggregate's slots of ports polled once a minute or more slowly; else 0):
    /// `for_points`, `burst_factor` and the seasonal baseline count in them.
    poll_secs: u32,
}

/// What a spike or drop rule learns of one series: its baseline, the resolution its values
/// come in, and the excursion in progress. Boxed in [`SeriesEval`] as one: most series are
/// judged by rules without a baseline, and an engine keeps a state per rule and series (the
/// resolution and excursion inline cost 40 bytes of each, 0.5 MB over the rig's 9,600 ports).
#[derive(Clone, Debug)]
struct Learning {
    cache: BaselineCache,
    resolution: Resolution,
    excursion: Excursion,
}

impl Learning {
    fn new(cache: BaselineCache) -> Box<Learning> {
        Box::new(Learning {
            cache,
            resolution: Resolution::new(),
            excursion: Excursion::default(),
        })
    }
}

/// How many recent intervals the usual step is the median of.
const CADENCE_INTERVALS: usize = 15;

/// The usual interval between points: the median of the last few intervals. One short
/// interval (a retried poll that landed late, then one on time; a duplicate-ish timestamp in an
/// import) must not become "the step", or every normal interval after it would look like a
/// gap, and a spike rule, which never fires on the first point after a gap, would go blind.
#[derive(Clone, Copy, Debug, Default)]
struct Cadence {
    /// The last intervals, seconds, as a ring (inline: an engine keeps one per rule and
    /// series, so no heap block each).
    recent: [i32; CADENCE_INTERVALS],
    len: u8,
    next: u8,
}

impl Cadence {
    fn learn(&mut self, dt: i64) {
        self.recent[usize::from(self.next)] = dt.clamp(0, i64::from(i32::MAX)) as i32;
        self.next = ((usize::from(self.next) + 1) % CADENCE_INTERVALS) as u8;
        self.len = (usize::from(self.len) + 1).min(CADENCE_INTERVALS) as u8;
    }

    /// The lower median of the recent intervals; `None` before the second point.
    fn step(&self) -> Option<i64> {
        let n = usize::from(self.len);
        let mut v = self.recent;
        let v = &mut v[..n];
        v.sort_unstable();
        v.get(n.saturating_sub(1) / 2).map(|&d| i64::from(d))
    }
}

/// The resolution of the values a baseline learns: the smallest step seen between two
/// consecutive different values (1 for counts, 0.5 for medians of counts). A spread is never
/// taken below it, so that on quantized data a one-step move is not "infinitely many
/// spreads" away when every comparable value happened to be equal.
#[derive(Clone, Copy, Debug)]
struct Resolution {
    last: Option<f64>,
    step: f64,
}

impl Resolution {
    fn new() -> Resolution {
        Resolution {
            last: None,
            step: f64::INFINITY,
        }
    }

    fn learn(&mut self, v: f64) {
        if let Some(l) = self.last {
            let d = (v - l).abs();
            if d > 0.0 && d < self.step {
                self.step = d;
            }
        }
        self.last = Some(v);
    }

    /// The baseline with its spread raised to the resolution, once one is known.
    fn floor(&self, b: Baseline) -> Baseline {
        if self.step.is_finite() && b.spread < self.step {
            Baseline {
                spread: self.step,
                ..b
            }
        } else {
            b
        }
    }
}

impl SeriesEval {
    /// Consecutive points that confirm `rule` on this series ([`confirm_points`]).
    pub fn confirm_points(&self, rule: &Rule) -> u32 {
        confirm_points(rule.for_points, self.poll_secs)
    }

    /// Sets the interval of the polls behind the points again (a reload may change it; learnt
    /// bursts keep their run length).
    pub fn set_poll_secs(&mut self, poll_secs: u32) {
        self.poll_secs = poll_secs;
    }

    /// A fresh state for `rule` on a series whose points stand for polls `poll_secs` apart
    /// where those are coarser (an aggregate's slots; else 0).
    pub fn new(rule: &Rule, poll_secs: u32) -> SeriesEval {
        let (baseline, churn) = match &rule.condition {
            Condition::Spike(m) => (
                Some(Learning::new(BaselineCache::new(
                    m.baseline,
                    Envelope::Upper,
                ))),
                None,
            ),
            Condition::Drop(m) => (
                Some(Learning::new(BaselineCache::new(
                    m.baseline,
                    Envelope::Lower,
                ))),
                None,
            ),
            Condition::Churn(c) => (None, Some(Box::new(ChurnTotals::new(*c)))),
            _ => (None, None),
        };
        let smooth = match &rule.condition {
            Condition::Spike(m) | Condition::Drop(m) => smoothing(m).map(Box::new),
            _ => None,
        };
        SeriesEval {
            baseline,
            smooth,
            level: match &rule.condition {
                Condition::Spike(m) | Condition::Drop(m) => m
                    .level_points
                    .map(|n| Box::new(Level::new(n, m.baseline.bucket))),
                _ => None,
            },
            bursts: match &rule.condition {
                Condition::Spike(m) | Condition::Drop(m) if m.burst_factor.is_some() => {
                    Some(Box::new(Bursts::new(
                        confirm_points(rule.for_points, poll_secs) as usize,
                        m.baseline.history,
                    )))
                }
                _ => None,
            },
            churn,
            last_time: None,
            cadence: Cadence::default(),
            gap_pending: false,
            first_time: None,
            last_known: None,
            seen_up: false,
            poll_secs,
        }
    }

    /// Time (seconds) of the latest point seen.
    pub fn last_time(&self) -> Option<i64> {
        self.last_time
    }

    /// The usual step between points, as seen so far.
    pub fn step(&self) -> Option<i64> {
        self.cadence.step()
    }

    /// The step the series is judged at: between its points, or between the polls behind
    /// them where those are coarser (an aggregate's slots of 5-minute ports are judged as a
    /// 5-minute series: its baseline pools each past day's points around the time of day as a
    /// port's does, and its bursts are counted per poll).
    fn judged_step(&self) -> Option<i64> {
        let poll = i64::from(self.poll_secs);
        self.cadence.step().map(|s| s.max(poll))
    }

    /// Feeds a past point (history after a restart) without evaluating it; `learn` as in
    /// [`SeriesEval::observe_as`].
    /// The step (seconds) the series' live points will come at, told before history warms
    /// it (see [`BaselineCache::expect_step`]).
    pub fn expect_step(&mut self, step: i64) {
        if let Some(b) = &mut self.baseline {
            b.cache.expect_step(step);
        }
    }

    pub fn warm(&mut self, rule: &Rule, p: &Point, learn: bool) {
        let _ = self.observe_as(rule, p, learn);
    }

    /// For an `absent` rule: the series last answered at `t` (read from the store after a
    /// start), so its silence counts from there rather than from the first point seen.
    pub fn silent_since(&mut self, t: Timestamp) {
        let t = t.as_second();
        if self.last_known.is_none_or(|k| k < t) {
            self.last_known = Some(t);
        }
    }

    /// Evaluates the condition at `p` and then learns from it. `None` when the rule does not
    /// evaluate at this point at all (a churn rule between window ends).
    pub fn observe(&mut self, rule: &Rule, p: &Point) -> Option<Verdict> {
        self.observe_as(rule, p, true)
    }

    /// [`SeriesEval::observe`]; with `learn` false the point is judged but left out of what
    /// later points are compared with: a spike's or drop's baseline does not learn it, and a
    /// churn rule's totals count it as unmeasured time (a sample inside a maintenance window
    /// marked `exclude_samples`).
    pub fn observe_as(&mut self, rule: &Rule, p: &Point, learn: bool) -> Option<Verdict> {
        let t = p.time.as_second();
        let dt = self.last_time.map(|l| t - l);
        if dt.is_some_and(|d| d <= 0) {
            // Out of order or duplicate: the past is not rewritten.
            return None;
        }
        let gap = match (dt, self.cadence.step()) {
            (Some(d), Some(s)) => d as f64 > GAP_STEPS * s as f64,
            _ => false,
        };
        if let Some(dt) = dt {
            self.cadence.learn(dt);
        }
        self.last_time = Some(t);
        self.first_time.get_or_insert(t);
        let usable = p
            .value
            .filter(|v| v.is_finite() && p.coverage >= rule.min_coverage);
        let after_gap = p.after_gap_or_reset || gap || self.gap_pending;
        self.gap_pending = usable.is_none();

        match &rule.condition {
            Condition::Churn(c) => {
                let max_drop = c.max_drop;
                let churn = self.churn.as_mut()?;
                let step = self.cadence.step().unwrap_or(0);
                let d = match dt {
                    Some(d) if d <= (GAP_STEPS * step as f64) as i64 => d,
                    _ => step,
                };
                if d == 0 {
                    return None;
                }
                let value = p.value.filter(|v| v.is_finite() && learn);
                let coverage = if learn { p.coverage } else { 0.0 };
                let readings = churn.push(t, d, value, coverage);
                let r = readings.last()?;
                let mut note = None;
                if r.left_out != (0, 0) {
                    note = Some(format!(
                        "{} recent and {} reference windows left out for missing data",
                        r.left_out.0, r.left_out.1
                    ));
                }
                let reading = Reading {
                    value: r.recent,
                    baseline: Some(r.reference),
                    note,
                    limit: Some(r.reference * (1.0 - max_drop)),
                };
                Some(if r.dropped {
                    Verdict::True(reading)
                } else {
                    Verdict::False(reading)
                })
            }
            Condition::Absent => {
                if usable.is_some() {
                    self.last_known = Some(t);
                    return Some(Verdict::False(Reading::default()));
                }
                let since = self.last_known.or(self.first_time).unwrap_or(t);
                let silent = (t - since) as f64;
                let reading = Reading {
                    value: silent,
                    baseline: None,
                    note: None,
                    limit: Some(rule.for_secs as f64),
                };
                Some(if t - since >= rule.for_secs {
                    Verdict::True(reading)
                } else {
                    Verdict::False(reading)
                })
            }
            Condition::PortDown => {
                let Some(v) = p.value else {
                    return Some(Verdict::Unknown("status unknown".into()));
                };
                let reading = Reading {
                    value: v,
                    baseline: None,
                    note: None,
                    limit: None,
                };
                // ifOperStatus: 1 up, 2 down, 7 lowerLayerDown.
                let down = v == 2.0 || v == 7.0;
                if v == 1.0 {
                    self.seen_up = true;
                }
                Some(if down && self.seen_up {
                    Verdict::True(reading)
                } else {
                    Verdict::False(reading)
                })
            }
            Condition::Threshold { above, below } => {
                let Some(v) = usable else {
                    return Some(Verdict::Unknown(unknown_reason(p, rule)));
                };
                let hit = above.is_some_and(|a| v > a) || below.is_some_and(|b| v < b);
                // The bound the value is beyond, else the nearer one.
                let limit = match (above, below) {
                    (Some(a), Some(b)) if v < *b || (v - b).abs() < (v - a).abs() => Some(*b),
                    (Some(a), _) => Some(*a),
                    (None, b) => *b,
                };
                let reading = Reading {
                    value: v,
                    baseline: None,
                    note: None,
                    limit,
                };
                Some(if hit {
                    Verdict::True(reading)
                } else {
                    Verdict::False(reading)
                })
            }
            Condition::Spike(m) | Condition::Drop(m) => {
                let spike = matches!(rule.condition, Condition::Spike(_));
                let judged_step = self.judged_step();
                let Learning {
                    cache,
                    resolution,
                    excursion,
                } = &mut **self.baseline.as_mut()?;
                let Some(v) = usable else {
                    return Some(Verdict::Unknown(unknown_reason(p, rule)));
                };
                // `compare = "spread"`: the spread of the last `smooth` against the past
                // spreads (a series that starts to swing), not a level against past levels.
                if m.spread {
                    let w = self.smooth.as_mut()?;
                    if after_gap {
                        **w = smoothing(m).unwrap_or_default();
                    }
                    w.push(t, v);
                    if w.len() < MIN_WINDOW_POINTS {
                        return Some(Verdict::Unknown("learning: too few recent points".into()));
                    }
                    let sp = w.summary(0.5).map_or(0.0, |s| s.1);
                    cache.set_step(judged_step);
                    let verdict = match cache.at(t).map(|b| resolution.floor(b)) {
                        Some(b) => margin_verdict(m, m.factor, &b, sp, spike),
                        None => Verdict::Unknown("learning: not enough history yet".into()),
                    };
                    if learn {
                        let kept = excursion.remember(m, &verdict, sp, spike);
                        cache.push(t, kept);
                        resolution.learn(sp);
                    }
                    return Some(verdict);
                }
                cache.set_step(judged_step);
                let b = cache.at(t).map(|b| resolution.floor(b));
                // `level_points`: the season's shape at the series' current level.
                let seasonal = b.as_ref().map(|b| b.value);
                let b = match &mut self.level {
                    Some(l) => {
                        l.advance(t);
                        b.map(|b| l.scale(b))
                    }
                    None => b,
                };
                let raw = v;
                // With `smooth`, the median of the last few points is compared, not the point.
                let v = match &mut self.smooth {
                    Some(w) => {
                        // Counter rates start over after a gap; readings (levels) keep the
                        // points of the last `smooth` before it, or the one point after a
                        // gap would be "the median".
                        if after_gap && !m.evaluate_after_gap {
                            **w = smoothing(m).unwrap_or_default();
                        }
                        w.push(t, v);
                        w.summary(0.5).map_or(v, |s| s.0)
                    }
                    None => v,
                };
                // `compare = "smoothed"`: the baseline learns the medians, like with like.
                let learnt = if m.smoothed_baseline { v } else { raw };
                // `burst_factor`: the factor raised to how high this series' bursts reach.
                let factor = match (&self.bursts, m.burst_factor) {
                    // Runs a day counted in polls, where the points are an aggregate's
                    // slots of slower polls.
                    (Some(bu), Some(k)) => bu.factor(m.factor, k, judged_step.unwrap_or(0)),
                    _ => m.factor,
                };
                let usual = b.as_ref().map(|b| b.value);
                let verdict = match b {
                    None => Verdict::Unknown("learning: not enough history yet".into()),
                    Some(_) if spike && after_gap && !m.evaluate_after_gap => {
                        Verdict::Unknown("first point after a gap or reset: not a spike".into())
                    }
                    Some(b) => margin_verdict(m, factor, &b, v, spike),
                };
                if let Some(bu) = &mut self.bursts {
                    if after_gap {
                        bu.break_run();
                    }
                    if learn {
                        let ratio = usual.and_then(|u| match spike {
                            true if u > 0.0 => Some(v / u),
                            false if v > 0.0 => Some(u / v),
                            _ => None,
                        });
                        bu.learn(t, &verdict, ratio, m.factor);
                    }
                }
                if learn {
                    let kept = excursion.remember(m, &verdict, learnt, spike);
                    cache.push(t, kept);
                    resolution.learn(learnt);
                    if let (Some(l), Some(s)) = (&mut self.level, seasonal) {
                        l.learn(t, &verdict, v, s);
                    }
                }
                Some(verdict)
            }
        }
    }
}

/// What the baseline of an `unprecedented` rule learns from the points its condition holds
/// on. An anomaly is not the usual: learnt as it is, one 10x attack becomes the highest value
/// of the history, and `unprecedented` (above everything of the history) then hides every
/// smaller attack for the whole history. So the points of one excursion (consecutive points
/// the condition holds on) are learnt clipped at the rule's `factor` times the limit the
/// first of them crossed (divided, for a drop): one excursion moves the envelope by at most
/// one factor, whatever its height and length, while a series whose tail really grows (a
/// new peak a little above the last) still learns it. `clip_excursions` learns them so
/// without `unprecedented`: a high quantile of a short history (0.999 of three weeks of hourly
/// points is their highest) is moved by one attack as much as the highest value is. Other
/// rules learn every value as it is (their medians are not moved by one attack).
#[derive(Clone, Copy, Debug, Default)]
struct Excursion {
    /// The limit crossed at the first point of the current excursion.
    limit: Option<f64>,
}

impl Excursion {
    /// The value the baseline learns of a point judged `verdict`.
    fn remember(&mut self, m: &Margin, verdict: &Verdict, value: f64, spike: bool) -> f64 {
        let limit = match verdict {
            Verdict::True(Reading {
                limit: Some(limit), ..
            }) if m.unprecedented || m.clip_excursions => *self.limit.get_or_insert(*limit),
            Verdict::True(_) => return value,
            // An unknown point neither ends an excursion nor is part of it.
            Verdict::Unknown(_) => return value,
            Verdict::False(_) => {
                self.limit = None;
                return value;
            }
        };
        if spike {
            value.min(limit * m.factor)
        } else {
            value.max(limit / m.factor)
        }
    }
}

/// The window of `smooth` (seconds) with its floor of `smooth_points` (the latest points kept
/// however old); `None` when the rule compares single points.
fn smoothing(m: &Margin) -> Option<RollingWindow> {
    if m.smooth.is_none() && m.smooth_points.is_none() {
        return None;
    }
    Some(RollingWindow::with_floor(
        m.smooth.unwrap_or(0),
        m.smooth_points.unwrap_or(0),
    ))
}

fn unknown_reason(p: &Point, rule: &Rule) -> Cow<'static, str> {
    match p.value {
        None => "no data".into(),
        Some(_) if p.coverage < rule.min_coverage => format!(
            "coverage {:.0}% below {:.0}%",
            p.coverage * 100.0,
            rule.min_coverage * 100.0
        )
        .into(),
        Some(_) => "not a number".into(),
    }
}

/// The robust margin of `deviation` spreads; where the gate found no rhythm (a pooled
/// baseline whose measure is below `deviation_cap_below`, when set), capped (`deviation_cap`)
/// at what takes a value beyond that ratio of a positive
/// baseline: a spike above `cap` x baseline, a drop below baseline / `cap`, is far enough
/// whatever the spread.
fn robust_margin(m: &Margin, deviation: f64, b: &Baseline, spike: bool) -> f64 {
    let margin = deviation * b.spread;
    match m.deviation_cap {
        Some(cap)
            if b.value > 0.0
                && b.season_share
                    .is_some_and(|s| m.deviation_cap_below.is_none_or(|below| s < below)) =>
        {
            let ratio = if spike {
                (cap - 1.0) * b.value
            } else {
                b.value - b.value / cap
            };
            margin.min(ratio)
        }
        _ => margin,
    }
}

/// Spike: v > factor x b and v - b >= min_delta (and >= deviation x spread); drop: mirrored.
/// `factor` is the rule's, or higher where the series' own bursts raise it (`burst_factor`).
fn margin_verdict(m: &Margin, factor: f64, b: &Baseline, v: f64, spike: bool) -> Verdict {
    let delta = if spike { v - b.value } else { b.value - v };
    let relative = if spike {
        v > factor * b.value
    } else {
        v < b.value / factor
    };
    let robust_margin = m.deviation.map(|d| robust_margin(m, d, b, spike));
    let robust = robust_margin.is_none_or(|r| delta >= r);
    let novel = !m.unprecedented || if spike { v > b.range.1 } else { v < b.range.0 };
    let hit = relative && delta >= m.min_delta && robust && novel && delta > 0.0;
    // The value from which every margin holds: the envelope the value was compared against.
    let margin = m.min_delta.max(robust_margin.unwrap_or(0.0));
    let limit = if spike {
        let mut l = (factor * b.value).max(b.value + margin);
        if m.unprecedented {
            l = l.max(b.range.1);
        }
        l
    } else {
        let mut l = (b.value / factor).min(b.value - margin);
        if m.unprecedented {
            l = l.min(b.range.0);
        }
        l
    };
    let note = match &b.fallback {
        Some(f) => Some(f.clone()),
        None if factor > m.factor => Some(format!(
            "factor raised from {:.2} to {factor:.2}x by this series' own bursts",
            m.factor
        )),
        None => None,
    };
    if m.baseline.rhythm_only && b.pooled() {
        // No rhythm to compare with: this rule has nothing to say here; others judge.
        return Verdict::False(Reading {
            value: v,
            baseline: None,
            note,
            limit: None,
        });
    }
    let reading = Reading {
        value: v,
        baseline: Some(b.value),
        note,
        limit: Some(limit),
    };
    if hit {
        Verdict::True(reading)
    } else {
        Verdict::False(reading)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::rule::{BaselineKind, BaselineSpec};

    #[test]
    fn for_points_on_an_aggregate_of_slow_polls_counts_the_slots_of_that_many_polls() {
        // Elsewhere (a port, a series, an aggregate of ports polled faster than the slots).
        assert_eq!(confirm_points(2, 0), 2);
        assert_eq!(confirm_points(2, 30), 2);
        // The slots n polls cover, less the one the polls' phase leaves partial.
        assert_eq!(confirm_points(2, 60), 1);
        assert_eq!(confirm_points(3, 60), 2);
        assert_eq!(confirm_points(2, 300), 9);
        assert_eq!(confirm_points(3, 300), 14);
        assert_eq!(confirm_points(1, 300), 4);
        assert_eq!(confirm_points(2, 90), 2);
        assert_eq!(confirm_points(2, 3600), 119);
        // No count stays no count.
        assert_eq!(confirm_points(0, 300), 0);
    }

    fn margin(factor: f64, min_delta: f64, deviation: Option<f64>, unprecedented: bool) -> Margin {
        Margin {
            baseline: BaselineSpec {
                kind: BaselineKind::Recent,
                history: 3600,
                season: 86400,
                bucket: 300,
                min_periods: 3,
                quantile: 0.5,
                warmup: None,
                season_strength: None,
                season_points: None,
                strength_points: None,
                rhythm_only: false,
            },
            factor,
            min_delta,
            deviation,
            unprecedented,
            clip_excursions: false,
            smooth: None,
            smooth_points: None,
            evaluate_after_gap: false,
            spread: false,
            smoothed_baseline: false,
            level_points: None,
            burst_factor: None,
            deviation_cap: None,
            deviation_cap_below: None,
        }
    }

    fn baseline(value: f64, spread: f64, range: (f64, f64)) -> Baseline {
        Baseline {
            value,
            spread,
            samples: 10,
            range,
            fallback: None,
            season_share: None,
        }
    }

    fn limit(v: &Verdict) -> Option<f64> {
        match v {
            Verdict::True(r) | Verdict::False(r) => r.limit,
            Verdict::Unknown(_) => None,
        }
    }

    /// The limit is where the verdict turns: just beyond it the condition holds, short of it
    /// it does not, whichever margin is the binding one.
    #[test]
    fn the_limit_is_where_every_margin_holds() {
        let cases = [
            // factor binds: 3 x 100 = 300 > 100 + 50
            (
                margin(3.0, 50.0, None, false),
                baseline(100.0, 5.0, (80.0, 120.0)),
                300.0,
            ),
            // min_delta binds: 100 + 500 > 3 x 100
            (
                margin(3.0, 500.0, None, false),
                baseline(100.0, 5.0, (80.0, 120.0)),
                600.0,
            ),
            // deviation binds: 100 + 10 x 40 = 500
            (
                margin(2.0, 10.0, Some(10.0), false),
                baseline(100.0, 40.0, (80.0, 120.0)),
                500.0,
            ),
            // unprecedented binds: the highest past value, 900
            (
                margin(2.0, 10.0, None, true),
                baseline(100.0, 5.0, (80.0, 900.0)),
                900.0,
            ),
        ];
        for (m, b, want) in cases {
            let short = margin_verdict(&m, m.factor, &b, want - 1.0, true);
            assert_eq!(limit(&short), Some(want));
            assert!(
                matches!(short, Verdict::False(_)),
                "{m:?} short of the limit"
            );
            assert!(matches!(
                margin_verdict(&m, m.factor, &b, want + 1.0, true),
                Verdict::True(_)
            ));
        }
        // A drop mirrors it: 100 / 4 = 25 < 100 - 50.
        let m = margin(4.0, 50.0, None, false);
        let b = baseline(100.0, 5.0, (80.0, 120.0));
        assert_eq!(
            limit(&margin_verdict(&m, m.factor, &b, 25.0, false)),
            Some(25.0)
        );
        assert!(matches!(
            margin_verdict(&m, m.factor, &b, 24.0, false),
            Verdict::True(_)
        ));
        assert!(matches!(
            margin_verdict(&m, m.factor, &b, 26.0, false),
            Verdict::False(_)
        ));
    }

    /// `deviation_cap`: a drop to 40% of a level whose spread is 9% of it is 6.7 spreads down,
    /// short of 10; with a cap of 2 anything below half the pooled baseline (the gate found
    /// no rhythm) is far enough, while the factor and `unprecedented` still bind where they
    /// are the stricter, and a seasonal baseline keeps its spreads.
    #[test]
    fn the_cap_lets_a_far_drop_pass_whatever_the_spread() {
        let pooled = |b: Baseline| Baseline {
            season_share: Some(0.0),
            ..b
        };
        let b = pooled(baseline(100.0, 9.0, (70.0, 130.0)));
        let plain = margin(1.2, 0.0, Some(10.0), true);
        assert!(matches!(
            margin_verdict(&plain, plain.factor, &b, 40.0, false),
            Verdict::False(_)
        ));
        let capped = Margin {
            deviation_cap: Some(2.0),
            deviation_cap_below: None,
            ..plain
        };
        // The limit is where the cap and the range meet: below 50 (and below 70).
        let drop = margin_verdict(&capped, capped.factor, &b, 40.0, false);
        assert!(matches!(drop, Verdict::True(_)), "{drop:?}");
        assert_eq!(limit(&drop), Some(50.0));
        assert!(matches!(
            margin_verdict(&capped, capped.factor, &b, 51.0, false),
            Verdict::False(_)
        ));
        // Where the spread is narrow, the spreads bind as before: 100 - 10 x 2 = 80, and the
        // factor (100 / 1.2 = 83.3) and the range (70) ask for less than the cap.
        let narrow = pooled(baseline(100.0, 2.0, (90.0, 110.0)));
        assert_eq!(
            limit(&margin_verdict(
                &capped,
                capped.factor,
                &narrow,
                85.0,
                false
            )),
            Some(80.0)
        );
        // A spike mirrors it: with a cap of 2, above 200 is far enough (10 x 30 would be 400).
        let wide = pooled(baseline(100.0, 30.0, (50.0, 150.0)));
        let spike = Margin {
            unprecedented: false,
            ..capped
        };
        assert!(matches!(
            margin_verdict(&spike, spike.factor, &wide, 210.0, true),
            Verdict::True(_)
        ));
        assert!(matches!(
            margin_verdict(&plain, plain.factor, &wide, 210.0, true),
            Verdict::False(_)
        ));
        // Where the season is used (not pooled), the spreads decide as without the cap.
        let seasonal = Baseline {
            season_share: None,
            ..b
        };
        assert!(matches!(
            margin_verdict(&capped, capped.factor, &seasonal, 40.0, false),
            Verdict::False(_)
        ));
    }

    /// `deviation_cap_below`: the cap applies where the gate's measure found no rhythm at all
    /// (below the threshold), not where a weak rhythm was pooled (at or above it), and not
    /// where the gate did not pool.
    #[test]
    fn the_cap_applies_only_below_its_share() {
        let base = baseline(100.0, 9.0, (70.0, 130.0));
        let at = |share: Option<f64>| Baseline {
            season_share: share,
            ..base.clone()
        };
        let capped = Margin {
            deviation_cap: Some(2.0),
            deviation_cap_below: Some(0.3),
            ..margin(1.2, 0.0, Some(10.0), true)
        };
        let verdict = |b: &Baseline| margin_verdict(&capped, capped.factor, b, 40.0, false);
        assert!(matches!(verdict(&at(Some(0.1))), Verdict::True(_)));
        assert!(matches!(verdict(&at(Some(0.3))), Verdict::False(_)));
        assert!(matches!(verdict(&at(Some(0.6))), Verdict::False(_)));
        assert!(matches!(verdict(&at(None)), Verdict::False(_)));
        // Without the key, wherever the gate pooled.
        let anywhere = Margin {
            deviation_cap_below: None,
            ..capped
        };
        assert!(matches!(
            margin_verdict(&anywhere, anywhere.factor, &at(Some(0.6)), 40.0, false),
            Verdict::True(_)
        ));
    }

    /// `rhythm_only`: where the gate pooled (no rhythm), the condition does not hold however
    /// far the value is, and the reading says why; where the season was used, the margins
    /// judge as usual.
    #[test]
    fn rhythm_only_holds_nothing_where_the_gate_pooled() {
        let mut m = margin(2.0, 0.0, None, false);
        m.baseline.rhythm_only = true;
        let seasonal = baseline(100.0, 5.0, (80.0, 120.0));
        let pooled = Baseline {
            season_share: Some(0.2),
            fallback: Some("no rhythm".into()),
            ..seasonal.clone()
        };
        assert!(matches!(
            margin_verdict(&m, m.factor, &seasonal, 1000.0, true),
            Verdict::True(_)
        ));
        match margin_verdict(&m, m.factor, &pooled, 1000.0, true) {
            Verdict::False(r) => {
                assert_eq!(r.note.as_deref(), Some("no rhythm"));
                assert_eq!(r.limit, None);
            }
            v => panic!("{v:?}"),
        }
        // Without the key, the pooled baseline judges.
        let mut anywhere = m;
        anywhere.baseline.rhythm_only = false;
        assert!(matches!(
            margin_verdict(&anywhere, anywhere.factor, &pooled, 1000.0, true),
            Verdict::True(_)
        ));
    }
}
