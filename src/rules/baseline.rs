//! Robust baselines, cached per series and updated one point at a time.
//!
//! - Seasonal: the median of comparable past periods: the same time-of-day slot (season 1d) or
//!   time-of-week slot (season 7d) over `history`. Each past period contributes the highest
//!   (for spikes) or lowest (for drops) mean of the slot and its two neighbours, so that poll
//!   jitter and a daily job that starts a few minutes late never look unusual. On a series
//!   sampled no faster than the slots (a 5-minute or hourly poll against 5-minute slots) a slot
//!   holds a single noisy point, not a mean, and at an hourly poll its neighbours are empty:
//!   with `season_points = n` each past period offers its n points nearest the slot, all
//!   pooled, and the baseline is their median (an hourly series is compared with three points
//!   a day, not one; the highest of three noisy points would be a biased baseline). The cache keeps one mean per slot (a rollup), not the raw
//!   points: `history / bucket` entries per series, 2 bytes each where they hold means of
//!   several points, 4 where they hold single points (`super::slots`).
//! - Recent: the median of a rolling window, kept as a sorted vector, so each point costs a
//!   binary insert and remove, never a recomputation from scratch.
//!
//! With too little history a seasonal baseline falls back conservatively, and says so: to the
//! highest (spike) or lowest (drop) value seen over the last season, so that only something
//! never seen yet can fire.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::rule::{BaselineKind, BaselineSpec};
use super::season_share::usual_range;
use super::slots::SlotRing;
use super::warming::WarmingWindow;

/// Points needed in a window before a recent (or fallback) baseline is used at all.
pub const MIN_WINDOW_POINTS: usize = 6;

/// "The usual" at one time (the median, or the rule's quantile), with how it was found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// The median (or the rule's quantile) of the comparable values.
    pub value: f64,
    /// A robust spread: the interquartile range / 1.349 (about one standard deviation for
    /// normal noise).
    pub spread: f64,
    /// How many values it was computed from.
    pub samples: usize,
    /// The lowest and highest comparable value.
    pub range: (f64, f64),
    /// Set when it is a conservative fallback: what was used instead, for the alert text.
    pub fallback: Option<String>,
    /// Set when a seasonal baseline's gate (`season_strength`) found no rhythm and pooled
    /// every slot of the history instead (or, with `rhythm_only`, pooled nothing and left the
    /// rule nothing to judge): the share of the variance the season explained (the gate's
    /// measure). A rule's `deviation_cap` applies there, below its `deviation_cap_below` if
    /// set.
    #[serde(default)]
    pub season_share: Option<f64>,
}

impl Baseline {
    /// Whether the gate found no rhythm: it pooled every slot of the history, or, with
    /// `rhythm_only`, marked the baseline as not to be judged (see `season_share`).
    pub fn pooled(&self) -> bool {
        self.season_share.is_some()
    }
}

/// The median and spread of a sorted slice. The spread is the interquartile range / 1.349;
/// when that is zero (a mostly flat or quantized series, where most values are equal) it is
/// the mean absolute deviation x 1.2533 instead, so that one small step is not "infinitely"
/// unusual.
pub(crate) fn summarize(sorted: &[f64], quantile: f64) -> Option<(f64, f64)> {
    if sorted.is_empty() {
        return None;
    }
    let q = |p: f64| {
        let pos = p * (sorted.len() - 1) as f64;
        let lo = pos.floor() as usize;
        let hi = pos.ceil() as usize;
        sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
    };
    let median = q(0.5);
    let usual = q(quantile);
    let iqr = (q(0.75) - q(0.25)) / 1.349;
    if iqr > 0.0 {
        return Some((usual, iqr));
    }
    let mean_abs = sorted.iter().map(|x| (x - median).abs()).sum::<f64>() / sorted.len() as f64;
    Some((usual, mean_abs * 1.2533))
}

/// A rolling window of known values with their times, kept sorted for O(log n) quantiles.
#[derive(Clone, Debug, Default)]
pub struct RollingWindow {
    span: i64,
    min_points: usize,
    order: VecDeque<(i64, f64)>,
    sorted: Vec<f64>,
}

impl RollingWindow {
    /// A window of `span` seconds.
    pub fn new(span: i64) -> RollingWindow {
        RollingWindow {
            span,
            ..RollingWindow::default()
        }
    }

    /// A window of `span` seconds that never forgets its latest `min_points` values, however
    /// old (a window that means "the last few points" on a series sampled more slowly than
    /// its span).
    pub fn with_floor(span: i64, min_points: usize) -> RollingWindow {
        RollingWindow {
            span,
            min_points,
            ..RollingWindow::default()
        }
    }

    /// Adds a value at time `t` (seconds) and forgets what is older than the span.
    pub fn push(&mut self, t: i64, v: f64) {
        self.order.push_back((t, v));
        let i = self.sorted.partition_point(|x| *x < v);
        self.sorted.insert(i, v);
        self.expire(t);
    }

    /// Forgets values older than `now - span` (keeping the floor of points).
    pub fn expire(&mut self, now: i64) {
        while let Some(&(t, v)) = self.order.front() {
            if t > now - self.span || self.order.len() <= self.min_points {
                break;
            }
            self.order.pop_front();
            let i = self.sorted.partition_point(|x| *x < v);
            if i < self.sorted.len() {
                self.sorted.remove(i);
            }
        }
    }

    /// Number of values in the window.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// The lowest and highest value kept.
    pub fn range(&self) -> Option<(f64, f64)> {
        Some((*self.sorted.first()?, *self.sorted.last()?))
    }

    /// Time of the oldest value kept.
    pub fn oldest(&self) -> Option<i64> {
        self.order.front().map(|(t, _)| *t)
    }

    /// The `quantile` (0.5: the median) and the spread.
    pub fn summary(&self, quantile: f64) -> Option<(f64, f64)> {
        summarize(&self.sorted, quantile)
    }
}

/// Which side of the neighbouring slots a seasonal baseline takes: the conservative one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Envelope {
    /// The highest of the neighbours (spike rules: harder to exceed).
    Upper,
    /// The lowest of the neighbours (drop rules: harder to fall below).
    Lower,
}

/// The baseline cache of one series for one rule.
#[derive(Clone, Debug)]
pub struct BaselineCache {
    spec: BaselineSpec,
    envelope: Envelope,
    ring: Option<SlotRing>,
    /// A recent baseline's window (raw points: its median is exact).
    recent: RollingWindow,
    /// A seasonal baseline's fallback while it learns its periods (per slot, not per point);
    /// released once learned.
    warming: Option<Box<WarmingWindow>>,
    first: Option<i64>,
    /// The series' usual step (seconds), once known: it says whether slots hold means or
    /// single points.
    step: i64,
    cached: Option<(i64, Option<Baseline>)>,
    strength: Option<(i64, f64)>,
}

/// The buffers a baseline sorts its comparable values in: one pair per thread (the rules
/// thread, each backtest worker), not one per series. Held per series they stayed at their
/// largest size: a day of slot means (2.3 kB) for each baseline that ever fell back, 0.9 MB
/// over a fleet's 400 uplinks.
struct Buffers {
    scratch: Vec<f64>,
    pooled: Vec<f64>,
}

thread_local! {
    static BUFFERS: std::cell::Cell<(Vec<f64>, Vec<f64>)> =
        const { std::cell::Cell::new((Vec::new(), Vec::new())) };
}

impl Buffers {
    /// The thread's buffers, empty; they go back to the thread when dropped.
    fn take() -> Buffers {
        let (mut scratch, mut pooled) = BUFFERS.take();
        scratch.clear();
        pooled.clear();
        Buffers { scratch, pooled }
    }
}

impl Drop for Buffers {
    fn drop(&mut self) {
        let kept = (
            std::mem::take(&mut self.scratch),
            std::mem::take(&mut self.pooled),
        );
        // During the thread's teardown the slot may be gone: the buffers are then dropped.
        let _ = BUFFERS.try_with(|b| b.set(kept));
    }
}

impl BaselineCache {
    /// An empty cache for a rule's baseline.
    pub fn new(spec: BaselineSpec, envelope: Envelope) -> BaselineCache {
        let (ring, warming, window) = match spec.kind {
            BaselineKind::Seasonal => {
                // The oldest slot read is `history` back, less the slots pooled around it (at
                // most an eighth of a season, see `seasonal`); a whole extra season (288 slots
                // of 4,324 for 14 days) was kept and never read.
                let reach = (spec.season / spec.bucket / 8).max(1);
                let len = spec.history / spec.bucket + reach + 4;
                let span = spec.season.min(spec.history);
                (
                    Some(SlotRing::new(spec.bucket, len as usize)),
                    Some(Box::new(WarmingWindow::new(span, spec.bucket))),
                    0,
                )
            }
            BaselineKind::Recent => (None, None, spec.history),
        };
        BaselineCache {
            spec,
            envelope,
            ring,
            recent: RollingWindow::new(window),
            warming,
            first: None,
            step: 0,
            cached: None,
            strength: None,
        }
    }

    /// Tells the cache the series' usual step between points (seconds), as the evaluator sees
    /// it; a seasonal baseline with `season_points` pools single points where the step is at
    /// least a slot.
    pub fn set_step(&mut self, step: Option<i64>) {
        let step = step.unwrap_or(0).max(0);
        if step != self.step {
            self.step = step;
            self.cached = None;
            // The gate's measure depends on the step where `strength_points` is set.
            self.strength = None;
            // Several points a slot: the slots hold means, coded in 16 bits.
            self.expect_step(step);
        }
    }

    /// Tells the cache the step its live points will come at (seconds), before history
    /// sampled more coarsely warms it: a seasonal baseline whose slots will hold several live
    /// points each codes them from the start (`super::slots`) instead of holding the history
    /// as exact single points until the first live point.
    pub fn expect_step(&mut self, step: i64) {
        if step > 0
            && step < self.spec.bucket
            && let Some(r) = &mut self.ring
        {
            r.code_means();
        }
    }

    /// Adds a known value at time `t` (seconds since the epoch).
    pub fn push(&mut self, t: i64, v: f64) {
        self.first.get_or_insert(t);
        if let Some(r) = &mut self.ring {
            r.push(t, v);
            // Once the seasonal baseline has all the periods it needs, the fallback window is
            // released: a later lack of history (a long gap) is "unknown", not a fallback.
            let learned = self.spec.season * (self.spec.min_periods as i64 + 1);
            if self.first.is_some_and(|f| t - f > learned) {
                self.warming = None;
            } else if let Some(w) = &mut self.warming {
                w.push(t, v);
            }
            return self.invalidate(t);
        }
        self.recent.push(t, v);
        self.invalidate(t);
    }

    fn invalidate(&mut self, t: i64) {
        // A cached baseline of another slot may now see this value.
        if let Some((abs, _)) = self.cached
            && abs != t.div_euclid(self.spec.bucket)
        {
            self.cached = None;
        }
    }

    /// The baseline for a point at time `t`, from values before `t` only; `None` while learning.
    pub fn at(&mut self, t: i64) -> Option<Baseline> {
        self.recent.expire(t);
        if let Some(w) = &mut self.warming {
            w.expire(t);
        }
        match self.spec.kind {
            BaselineKind::Recent => self.recent_baseline(t, self.spec.history, self.spec.quantile),
            BaselineKind::Seasonal => {
                let abs = t.div_euclid(self.spec.bucket);
                if let Some((a, b)) = &self.cached
                    && *a == abs
                {
                    return b.clone();
                }
                let b = match self.seasonal(abs) {
                    Ok(b) => Some(self.gated(abs, b)),
                    Err(seen) => {
                        let unit = if self.spec.season % (7 * 86400) == 0 {
                            "weeks"
                        } else {
                            "days"
                        };
                        let span = self.spec.season.min(self.spec.history);
                        let word = match self.envelope {
                            Envelope::Upper => "highest",
                            Envelope::Lower => "lowest",
                        };
                        let note = format!(
                            "only {seen} comparable past {unit} known, {} needed: compared with the {word} value of the last {}",
                            self.spec.min_periods,
                            crate::format::duration_secs(span)
                        );
                        // The fallback moves with every point: not cached.
                        return self.fallback_baseline(t, span, note);
                    }
                };
                self.cached = Some((abs, b.clone()));
                b
            }
        }
    }

    /// A learning seasonal baseline's fallback: the highest (spike) or lowest (drop) value of
    /// the last `span`, with the same warm-up and minimum of points as a recent baseline.
    fn fallback_baseline(&mut self, t: i64, span: i64, note: String) -> Option<Baseline> {
        let w = self.warming.as_ref()?;
        if w.len() < MIN_WINDOW_POINTS {
            return None;
        }
        let warmup = self.spec.warmup.map_or(span / 2, |w| w.min(span));
        if t - self.first? < warmup {
            return None;
        }
        let mut b = Buffers::take();
        let s = w.summary(self.envelope == Envelope::Upper, &mut b.scratch)?;
        Some(Baseline {
            value: s.value,
            spread: s.spread,
            samples: s.points,
            range: s.range,
            fallback: Some(note),
            season_share: None,
        })
    }

    fn recent_baseline(&self, t: i64, span: i64, quantile: f64) -> Option<Baseline> {
        if self.recent.len() < MIN_WINDOW_POINTS {
            return None;
        }
        // Enough of the window must have been seen (`warmup`, by default half of it), or the
        // start is not "usual" yet.
        let oldest = self.recent.oldest()?;
        let warmup = self.spec.warmup.map_or(span / 2, |w| w.min(span));
        if t - self.first.unwrap_or(oldest) < warmup {
            return None;
        }
        let (value, spread) = self.recent.summary(quantile)?;
        Some(Baseline {
            value,
            spread,
            samples: self.recent.len(),
            range: self.recent.range()?,
            fallback: None,
            season_share: None,
        })
    }

    /// The seasonal baseline `b` where the season explains at least `season_strength` of the
    /// variance of the history; else the pooled baseline of every slot of the history (the
    /// time of day does not matter on a series without a daily rhythm), with a note saying so:
    /// the rule's quantile and spread of all the slot means, as a recent baseline over the
    /// history would give, and as its range (what `unprecedented` compares with) the lowest and
    /// highest usual slot mean, past incidents left out ([`usual_range`]).
    fn gated(&mut self, abs: i64, b: Baseline) -> Baseline {
        let Some(gate) = self.spec.season_strength else {
            return b;
        };
        let per_season = (self.spec.season / self.spec.bucket).max(1);
        let period = abs.div_euclid(per_season);
        let strength = match self.strength {
            Some((p, s)) if p == period => s,
            _ => {
                let s = self.season_share(abs).unwrap_or(1.0);
                self.strength = Some((period, s));
                s
            }
        };
        if strength >= gate {
            return b;
        }
        let unit = if self.spec.season % (7 * 86400) == 0 {
            "time of week"
        } else {
            "time of day"
        };
        if self.spec.rhythm_only {
            // Nothing to pool: the rule does not judge this series (`rhythm_only`).
            return Baseline {
                fallback: Some(format!(
                    "no rhythm: the {unit} explains {:.0}% of the variance ({:.0}% needed), and this rule judges only series with one",
                    strength.max(0.0) * 100.0,
                    gate * 100.0,
                )),
                season_share: Some(strength),
                ..b
            };
        }
        let Some(ring) = self.ring.as_ref() else {
            return b;
        };
        let slots = self.spec.history / self.spec.bucket;
        let quantile = self.spec.quantile;
        // The same window moved along by a slot from the last point's: patched, not sorted
        // again (`pool`; a series polled once a slot would otherwise sort it at every point).
        let pooled = super::pool::with_sorted(
            abs - slots,
            |next| next.extend((abs - slots..abs).map(|s| ring.mean(s))),
            |sorted| {
                let (value, spread) = summarize(sorted, quantile)?;
                let range = usual_range(sorted).unwrap_or((value, value));
                Some((value, spread, range, sorted.len()))
            },
        );
        let Some((value, spread, range, samples)) = pooled else {
            return b;
        };
        Baseline {
            value,
            spread,
            samples,
            range,
            fallback: Some(format!(
                "no rhythm: the {unit} explains {:.0}% of the variance ({:.0}% needed), so every {unit} of the last {} is comparable, past incidents left out of its range",
                strength.max(0.0) * 100.0,
                gate * 100.0,
                crate::format::duration_secs(self.spec.history)
            )),
            season_share: Some(strength),
        }
    }

    /// The season-strength measure of the history before slot `abs`: the share of its
    /// variance the season explains ([`super::season_share::share`], on the slot means, or on
    /// the means of `strength_points` points where the series is polled more slowly than the
    /// slots). `None` when there are too few values to tell.
    fn season_share(&self, abs: i64) -> Option<f64> {
        let ring = self.ring.as_ref()?;
        let per_season = (self.spec.season / self.spec.bucket).max(1);
        let slots = self.spec.history / self.spec.bucket;
        let first = abs - slots;
        // Around a shift, for precision.
        let shift = (first..abs).find_map(|s| ring.mean(s))?;
        let means: Vec<Option<f64>> = (first..abs)
            .map(|s| ring.mean(s).map(|m| m - shift))
            .collect();
        let means = match self.spec.strength_points {
            Some(n) if n > 1 && self.step > self.spec.bucket => {
                let steps = i64::from((n - 1) / 2);
                let reach = (steps * self.step + self.spec.bucket / 2) / self.spec.bucket;
                super::season_share::neighbour_means(&means, reach.max(1) as usize)
            }
            _ => means,
        };
        super::season_share::share(&means, first, per_season)
    }

    /// The seasonal baseline, or how many past periods were found when too few.
    fn seasonal(&mut self, abs: i64) -> Result<Baseline, usize> {
        let Some(ring) = self.ring.as_ref() else {
            return Err(0);
        };
        let per_season = self.spec.season / self.spec.bucket;
        let periods = self.spec.history / self.spec.season;
        // `season_points`: on a series sampled no faster than the slots, a slot holds one
        // point, not a mean (at a step longer than a slot its neighbours are empty): pool the
        // season's points within (n - 1) / 2 steps either side of the slot (at most an eighth of
        // the season) in every past period and take their quantile; the highest of a few
        // single noisy points is a biased baseline, and one point a day a noisy one.
        let pooled_points = self
            .spec
            .season_points
            .filter(|_| self.step >= self.spec.bucket);
        let reach = pooled_points.map_or(1, |n| {
            let steps = i64::from(n.saturating_sub(1) / 2);
            ((steps * self.step + self.spec.bucket / 2) / self.spec.bucket)
                .clamp(0, (per_season / 8).max(1))
        });
        let mut b = Buffers::take();
        let mut seen_periods = 0;
        for k in 1..=periods {
            let base = abs - k * per_season;
            let mut pick: Option<f64> = None;
            let mut seen = false;
            for d in -reach.max(1)..=reach.max(1) {
                let Some(m) = ring.mean(base + d) else {
                    continue;
                };
                // Spread and range: the slot and its two neighbours, whatever is pooled (at an
                // hourly poll, the slot's own points: the hours around it differ by the day's
                // slope, which is no spread).
                if d.abs() <= 1 {
                    b.pooled.push(m);
                }
                if pooled_points.is_some() {
                    if d.abs() <= reach {
                        b.scratch.push(m);
                        seen = true;
                    }
                } else if d.abs() <= 1 {
                    seen = true;
                    pick = Some(match (pick, self.envelope) {
                        (None, _) => m,
                        (Some(p), Envelope::Upper) => p.max(m),
                        (Some(p), Envelope::Lower) => p.min(m),
                    });
                }
            }
            if let Some(p) = pick {
                b.scratch.push(p);
            }
            if seen {
                seen_periods += 1;
            }
        }
        if seen_periods < self.spec.min_periods {
            return Err(seen_periods);
        }
        b.scratch.sort_by(f64::total_cmp);
        let (value, _) = summarize(&b.scratch, self.spec.quantile).ok_or(0usize)?;
        // The spread comes from every slot found, not only one per period: a few values
        // underestimate it.
        b.pooled.sort_by(f64::total_cmp);
        let (_, spread) = summarize(&b.pooled, 0.5).ok_or(0usize)?;
        let range = (
            b.pooled.first().copied().unwrap_or(value),
            b.pooled.last().copied().unwrap_or(value),
        );
        Ok(Baseline {
            value,
            spread,
            samples: seen_periods,
            range,
            fallback: None,
            season_share: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_window_keeps_a_sorted_median() {
        let mut w = RollingWindow::new(10);
        for (t, v) in [(1, 5.0), (2, 1.0), (3, 9.0), (4, 3.0)] {
            w.push(t, v);
        }
        assert_eq!(w.summary(0.5).unwrap().0, 4.0);
        w.push(12, 100.0); // expires t <= 2
        assert_eq!(w.len(), 3);
        assert_eq!(w.summary(0.5).unwrap().0, 9.0);
    }

    #[test]
    fn a_quantized_series_still_has_a_spread() {
        // 0 most of the time, sometimes 1: the IQR is 0, the spread is not.
        let mut v = vec![0.0; 90];
        v.extend([1.0; 10]);
        let (median, spread) = summarize(&v, 0.5).unwrap();
        assert_eq!(median, 0.0);
        assert!((spread - 0.1 * 1.2533).abs() < 1e-9, "{spread}");
        assert_eq!(summarize(&[5.0; 8], 0.5).unwrap(), (5.0, 0.0));
    }

    #[test]
    fn seasonal_baseline_uses_the_same_time_on_past_days() {
        let spec = BaselineSpec {
            kind: BaselineKind::Seasonal,
            history: 7 * 86400,
            season: 86400,
            bucket: 300,
            min_periods: 3,
            quantile: 0.5,
            warmup: None,
            season_strength: None,
            season_points: None,
            strength_points: None,
            rhythm_only: false,
        };
        let mut c = BaselineCache::new(spec, Envelope::Upper);
        let mut low = BaselineCache::new(spec, Envelope::Lower);
        // Every day: 100 at 12:00, 10 otherwise.
        for day in 0..5 {
            for slot in 0..288 {
                let t = day * 86400 + slot * 300;
                let v = if slot == 144 { 100.0 } else { 10.0 };
                c.push(t, v);
                low.push(t, v);
            }
        }
        // One value per past day; a job that starts one slot late is still "usual".
        let noon = 5 * 86400 + 145 * 300;
        let b = c.at(noon).unwrap();
        assert!(b.fallback.is_none());
        assert_eq!(b.samples, 5);
        assert_eq!(b.value, 100.0);
        assert_eq!(low.at(noon).unwrap().value, 10.0);
        assert_eq!(c.at(5 * 86400 + 10 * 300).unwrap().value, 10.0);
        // Two days only: below min_periods, so the fallback (the highest value of the last
        // day) says so.
        let mut young = BaselineCache::new(spec, Envelope::Upper);
        for slot in 0..(2 * 288) {
            young.push(slot * 300, if slot == 500 { 40.0 } else { 10.0 });
        }
        let f = young.at(2 * 86400).unwrap();
        assert_eq!(f.value, 40.0);
        assert_eq!(
            f.fallback.as_deref().unwrap(),
            "only 2 comparable past days known, 3 needed: compared with the highest value of the last 24 h"
        );
    }

    #[test]
    fn a_window_with_a_floor_keeps_its_latest_points() {
        // 30 minutes on an hourly series: without a floor, one point; with 3, the last three.
        let mut w = RollingWindow::with_floor(1800, 3);
        for (k, v) in [10.0, 11.0, 12.0, 100.0].into_iter().enumerate() {
            w.push(k as i64 * 3600, v);
        }
        assert_eq!(w.len(), 3);
        assert_eq!(w.summary(0.5).unwrap().0, 12.0);
        // On a fast series the span still rules: 30 minutes of 5-minute points are 6.
        let mut fast = RollingWindow::with_floor(1800, 3);
        for k in 0..20 {
            fast.push(k * 300, k as f64);
        }
        assert_eq!(fast.len(), 6);
    }

    fn spec(strength: Option<f64>) -> BaselineSpec {
        BaselineSpec {
            kind: BaselineKind::Seasonal,
            history: 7 * 86400,
            season: 86400,
            bucket: 3600,
            min_periods: 3,
            quantile: 0.5,
            warmup: None,
            season_strength: strength,
            season_points: None,
            strength_points: None,
            rhythm_only: false,
        }
    }

    /// History stored at one point a slot warms a baseline whose live points will come faster:
    /// told the live step first, the slots are coded as they fill, never held exact; told a
    /// step no faster than the slots (or nothing), single points stay exact.
    #[test]
    fn a_baseline_told_its_live_step_codes_its_history_as_it_warms() {
        let hourly = |cache: &mut BaselineCache| {
            for t in (0..3 * 86400).step_by(3600) {
                cache.push(t, 100.0 + (t / 3600 % 24) as f64);
            }
        };
        let mut fast = BaselineCache::new(spec(None), Envelope::Upper);
        fast.expect_step(10);
        assert!(fast.ring.as_ref().is_some_and(|r| r.is_coded()));
        hourly(&mut fast);
        let mut slow = BaselineCache::new(spec(None), Envelope::Upper);
        slow.expect_step(3600);
        hourly(&mut slow);
        assert!(slow.ring.as_ref().is_some_and(|r| !r.is_coded()));
        // Both give the same baseline from the same history (the values have few bits).
        let t = 3 * 86400 + 5 * 3600;
        assert_eq!(
            fast.at(t).map(|b| b.value),
            slow.at(t).map(|b| b.value),
            "same history, same baseline"
        );
        assert!(fast.at(t).is_some());
    }

    /// An hourly series without a daily rhythm: a level that most hours is 10 and a fifth of
    /// the time 5, at no particular hour. A seasonal baseline sees "5 is unusual at this hour"
    /// when the past days happened to be 10 then; with the gate, every hour is comparable.
    #[test]
    fn the_season_is_used_only_where_it_explains_the_variance() {
        let noise = |k: i64| if (k * 7919) % 5 == 0 { 5.0 } else { 10.0 };
        let mut gated = BaselineCache::new(spec(Some(0.3)), Envelope::Lower);
        let mut plain = BaselineCache::new(spec(None), Envelope::Lower);
        for k in 0..(8 * 24) {
            gated.push(k * 3600, noise(k));
            plain.push(k * 3600, noise(k));
        }
        let t = 8 * 24 * 3600;
        let p = plain.at(t).unwrap();
        let g = gated.at(t).unwrap();
        assert!(p.fallback.is_none());
        assert_eq!(g.samples, 7 * 24, "every hour of the week: {g:?}");
        assert_eq!(g.range.0, 5.0);
        let note = g.fallback.unwrap();
        assert!(
            note.starts_with("no rhythm: the time of day explains"),
            "{note}"
        );
        // A real daily rhythm (night 2, day 10, a little noise) keeps the seasonal baseline.
        let mut daily = BaselineCache::new(spec(Some(0.3)), Envelope::Lower);
        for k in 0..(8 * 24) {
            let day = if (k % 24) >= 8 { 10.0 } else { 2.0 };
            daily.push(k * 3600, day + noise(k) / 10.0);
        }
        let night = daily.at(t + 3 * 3600).unwrap();
        assert!(night.fallback.is_none(), "{night:?}");
        assert!(night.value < 3.1, "{night:?}");
        // `rhythm_only`: the same rhythm-less series is not pooled but marked, with its share.
        let mut only = BaselineCache::new(
            BaselineSpec {
                rhythm_only: true,
                ..spec(Some(0.3))
            },
            Envelope::Lower,
        );
        for k in 0..(8 * 24) {
            only.push(k * 3600, noise(k));
        }
        let o = only.at(t).unwrap();
        assert!(o.pooled(), "{o:?}");
        assert_ne!(o.samples, 7 * 24, "nothing pooled: {o:?}");
        let note = o.fallback.unwrap();
        assert!(
            note.ends_with("this rule judges only series with one"),
            "{note}"
        );
    }

    /// A daily rhythm on a level that wanders from day to day (a port whose traffic grows by
    /// half in a week, then falls back): the level is taken out before the season is judged,
    /// so the rhythm is still found, and a wandering level without a rhythm is still none.
    #[test]
    fn a_wandering_level_neither_hides_a_rhythm_nor_makes_one() {
        // Day k's level: 100, 130, 160, 190, 160, 130, 100, 130 (a walk no hour explains).
        // Measured without taking the level out, the season explains 0.71 of the rhythm's
        // variance, and the flat series' -0.16.
        let levels = [100.0, 130.0, 160.0, 190.0, 160.0, 130.0, 100.0, 130.0];
        let level = |k: i64| levels[(k / 24) as usize];
        let noise = |k: i64| if (k * 7919) % 5 == 0 { 0.9 } else { 1.0 };
        let mut rhythm = BaselineCache::new(spec(Some(0.8)), Envelope::Lower);
        let mut flat = BaselineCache::new(spec(Some(0.3)), Envelope::Lower);
        for k in 0..(8 * 24) {
            let day = if (k % 24) >= 8 { 1.0 } else { 0.4 };
            rhythm.push(k * 3600, level(k) * day * noise(k));
            flat.push(k * 3600, level(k) * noise(k));
        }
        let t: i64 = 8 * 24 * 3600;
        assert!(rhythm.season_share(t.div_euclid(3600)).unwrap() > 0.8);
        let night = rhythm.at(t + 3 * 3600).unwrap();
        assert!(night.fallback.is_none(), "{night:?}");
        assert!(flat.season_share(t.div_euclid(3600)).unwrap() < 0.1);
        let f = flat.at(t + 3 * 3600).unwrap();
        assert!(f.fallback.unwrap().starts_with("no rhythm"));
    }

    /// A daily rhythm with one incident in the history (traffic at a tenth of its level for
    /// 12 hours, four days before): the incident is no evidence against the rhythm, so the
    /// seasonal baseline stays on. Counted in the variances, the incident alone made the
    /// season explain 0.69 of them (0.97 without it), under a gate of 0.7.
    #[test]
    fn a_past_incident_does_not_hide_the_rhythm() {
        let noise = |k: i64| 1.0 + 0.05 * (((k * 7919) % 11) as f64 - 5.0) / 5.0;
        let mut c = BaselineCache::new(spec(Some(0.7)), Envelope::Lower);
        let mut clean = BaselineCache::new(spec(Some(0.7)), Envelope::Lower);
        for k in 0..(8 * 24) {
            let v = if (k % 24) >= 8 { 100.0 } else { 40.0 } * noise(k);
            clean.push(k * 3600, v);
            let outage = (4 * 24 + 6..4 * 24 + 18).contains(&k);
            c.push(k * 3600, if outage { v / 10.0 } else { v });
        }
        let t: i64 = 8 * 24 * 3600;
        let share = c.season_share(t.div_euclid(3600)).unwrap();
        let without = clean.season_share(t.div_euclid(3600)).unwrap();
        assert!(share > 0.9, "{share} (without the incident {without})");
        assert!((share - without).abs() < 0.05, "{share} against {without}");
        let noon = c.at(t + 12 * 3600).unwrap();
        assert!(noon.fallback.is_none(), "{noon:?}");
    }

    /// A daily rhythm whose history holds two long drops (16 and 24 hours at a fifth of the
    /// level, like the synthetic set's `shift_down` at an hourly poll): each moved a moving
    /// average over one season for a whole day around it, and the measure fell with every
    /// drop (0.85 here); the level now leaves them out, and their hours are left out as
    /// incidents.
    #[test]
    fn long_past_drops_do_not_hide_the_rhythm() {
        let noise = |k: i64| 1.0 + 0.05 * (((k * 7919) % 11) as f64 - 5.0) / 5.0;
        let shape = |h: i64| 1.0 + 0.4 * ((h as f64 - 12.0) * std::f64::consts::PI / 12.0).cos();
        let mut c = BaselineCache::new(spec(Some(0.8)), Envelope::Lower);
        for k in 0..(8 * 24) {
            let v = 100.0 * shape(k % 24) * noise(k);
            let down = (40..56).contains(&k) || (110..134).contains(&k);
            c.push(k * 3600, if down { v / 5.0 } else { v });
        }
        let t: i64 = 8 * 24 * 3600;
        let share = c.season_share(t.div_euclid(3600)).unwrap();
        assert!(share > 0.95, "{share}");
        let noon = c.at(t + 12 * 3600).unwrap();
        assert!(noon.fallback.is_none(), "{noon:?}");
    }

    /// Without a rhythm every slot of the history is comparable, but a past outage is not the
    /// usual: the lowest value an `unprecedented` drop rule must go below is the lowest usual
    /// hour, not the outage's, so a second outage as deep as the first still counts.
    #[test]
    fn without_a_rhythm_a_past_outage_is_not_the_lowest_usual_value() {
        // 8% noise, no period: a hash of the hour.
        let noise = |k: i64| 1.0 + 0.08 * (((k * 7919 + 13) * 104_729 % 1009) as f64 / 504.0 - 1.0);
        let mut c = BaselineCache::new(spec(Some(0.3)), Envelope::Lower);
        for k in 0..(8 * 24) {
            let v = 100.0 * noise(k);
            let outage = (4 * 24 + 3..4 * 24 + 15).contains(&k);
            c.push(k * 3600, if outage { 20.0 } else { v });
        }
        let t: i64 = 8 * 24 * 3600;
        let share = c.season_share(t.div_euclid(3600)).unwrap();
        let b = c.at(t).unwrap();
        let note = b.fallback.as_deref().unwrap_or_default();
        assert!(note.starts_with("no rhythm"), "{share}: {b:?}");
        assert_eq!(b.samples, 7 * 24);
        // The lowest and highest usual hours (92 and 108 at most), not the outage's 20.
        assert!(b.range.0 > 91.9 && b.range.0 < 93.0, "{b:?}");
        assert!(b.range.1 > 107.0 && b.range.1 < 108.1, "{b:?}");
        // A quantized series (most hours on its median) keeps every value in the range.
        let mut q = BaselineCache::new(spec(Some(0.3)), Envelope::Lower);
        for k in 0..(8 * 24) {
            q.push(k * 3600, if k % 7 == 0 { 5.0 } else { 10.0 });
        }
        assert_eq!(q.at(t).unwrap().range, (5.0, 10.0));
    }

    /// On an hourly series (5-minute slots: one point a slot) `season_points = 3` pools the
    /// points one step either side of the slot, so one noisy point a day does not make the
    /// baseline.
    #[test]
    fn an_hourly_series_pools_the_neighbouring_hours() {
        let spec = BaselineSpec {
            bucket: 300,
            season_points: Some(3),
            strength_points: None,
            ..spec(None)
        };
        let mut pooled = BaselineCache::new(spec, Envelope::Upper);
        let mut single = BaselineCache::new(spec, Envelope::Upper);
        let mut plain = BaselineCache::new(
            BaselineSpec {
                season_points: None,
                strength_points: None,
                ..spec
            },
            Envelope::Upper,
        );
        for day in 0..5 {
            for hour in 0..24 {
                let t = (day * 24 + hour) * 3600;
                // Noon is 130 on three of the five days and 70 on two; the hours around it 100.
                let v = match (hour, day % 2) {
                    (12, 0) => 130.0,
                    (12, _) => 70.0,
                    _ => 100.0,
                };
                pooled.push(t, v);
                single.push(t, v);
                plain.push(t, v);
            }
        }
        pooled.set_step(Some(3600));
        single.set_step(Some(60));
        plain.set_step(Some(3600));
        let noon = (5 * 24 + 12) * 3600;
        let b = pooled.at(noon).unwrap();
        assert_eq!((b.value, b.samples, b.range), (100.0, 5, (70.0, 130.0)));
        // Read as slots of means (a 1-minute poll), each day's highest of the slot and its
        // neighbours: the slot alone, three 130s of five days.
        assert_eq!(single.at(noon).unwrap().value, 130.0);
        // Without `season_points`, the slot alone at any poll interval.
        assert_eq!(plain.at(noon).unwrap().value, 130.0);
    }

    /// `strength_points`: an hourly series (5-minute slots, one point every twelve) with a
    /// daily rhythm under loud noise. Its single points hide the rhythm from the gate's
    /// measure; the mean of seven points (three hours either side) shows it, so the seasonal
    /// baseline stays on. A series without a rhythm still scores about 0 on the means.
    #[test]
    fn an_hourly_series_measures_its_rhythm_on_the_means_of_its_points() {
        let spec = |points: Option<u32>| BaselineSpec {
            bucket: 300,
            strength_points: points,
            ..self::spec(Some(0.6))
        };
        // A uniform pseudo-random number in [-1, 1) (a fixed sequence).
        let mut seed = 12345u64;
        let mut noise = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        };
        let mut rhythm: Vec<(i64, f64)> = Vec::new();
        let mut flat: Vec<(i64, f64)> = Vec::new();
        for h in 0..(8 * 24) {
            let day = (2.0 * std::f64::consts::PI * (h % 24) as f64 / 24.0).sin();
            rhythm.push((h * 3600, 100.0 + 20.0 * day + 30.0 * noise()));
            flat.push((h * 3600, 100.0 + 30.0 * noise()));
        }
        let share = |points: Option<u32>, series: &[(i64, f64)]| {
            let mut c = BaselineCache::new(spec(points), Envelope::Lower);
            c.set_step(Some(3600));
            for &(t, v) in series {
                c.push(t, v);
            }
            let t: i64 = 8 * 86400;
            let s = c.season_share(t.div_euclid(300)).unwrap();
            (s, c.at(t).unwrap().pooled())
        };
        let (raw, raw_pooled) = share(None, &rhythm);
        let (smooth, smooth_pooled) = share(Some(7), &rhythm);
        assert!(raw < 0.6 && raw_pooled, "single points: {raw}");
        assert!(smooth >= 0.6 && !smooth_pooled, "means of 7: {smooth}");
        let (none, none_pooled) = share(Some(7), &flat);
        assert!(none < 0.3 && none_pooled, "no rhythm: {none}");
    }
}
