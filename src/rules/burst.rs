//! How far a series' own normal bursts reach (`burst_factor`): a spike rule's factor is raised,
//! on each series, to `burst_factor` times the height its ordinary bursts reach over the
//! baseline, so that a 3x excursion on a series whose bursts usually reach 2x (two bursts that
//! overlap, say) is not an anomaly, while on a steady series the rule's own `factor` decides.
//!
//! The height is a quantile of the ratio of the series' points judged normal to their baseline
//! (divided the other way for a drop), each taken as the lowest of a run of the rule's
//! confirmation (`for_points`): the rule fires on a run of that many points, so a run is what
//! its bursts are measured in. The quantile is the one exceeded [`BURSTS_PER_DAY`] times a day
//! at the series' poll interval (at most [`BURST_MAX_QUANTILE`]), so the factor is raised by
//! how often, in time, the bursts would fire. Points beyond the rule's own `factor` are not
//! bursts: an attack that the raised factor let pass must not raise it further. The ratios are kept as a histogram of 2% wide
//! bins whose weights fade with the rule's `history` (a point `history` old weighs 1/e of a new
//! one): memory is the same few hundred bytes per series whatever the poll interval, and each
//! point costs one bin update.

use super::condition::Verdict;

/// How often a day the series' normal runs reach "how high its bursts reach": the height is
/// the quantile of the runs' ratios that this many runs a day exceed (at a 1-minute poll, 1,440
/// runs a day, 3 a day is the 0.998 quantile; at a 5-minute one the 0.99 quantile; at an hourly
/// one the 0.875 quantile), so that the factor is raised by what would fire about as often, in
/// time, whatever the poll interval: an hourly series, which sees 24 runs a day, is hardly
/// raised at all.
pub const BURSTS_PER_DAY: f64 = 3.0;

/// The highest quantile taken (0.9995: at a 10 s poll, about four runs a day): chosen with
/// the default attack rules' `burst_factor` on 20 synthetic seeds, among 0.998, 0.999 and
/// 0.9995 (`benches/synthetic/JOURNAL.md`); a higher one raised the factor of bursty 10 s
/// series beyond their 3x attacks of two samples (20 s), which no rule can tell from their
/// bursts.
pub const BURST_MAX_QUANTILE: f64 = 0.9995;

/// Points learnt before the bursts raise the factor at all (until then, `factor` alone).
pub const BURST_MIN_POINTS: u64 = 200;

/// The longest run measured (a confirmation of more points is measured over this many).
const MAX_RUN: usize = 16;

/// Bins of the histogram: bin 0 holds ratios below 1, bin k ratios from 1.02^(k-1) to 1.02^k;
/// the last one everything above (about 12.6x).
const BINS: usize = 128;

/// The ratio of one bin to the next.
const BIN_STEP: f64 = 1.02;

/// Weights are rescaled once the newest one reaches e^this (so they never overflow).
const RESCALE_EXP: f64 = 40.0;

/// The runs of normal points of one series against their baselines, fading with time.
#[derive(Clone, Debug)]
pub struct Bursts {
    /// Fading time constant, seconds (the rule's `history`).
    tau: f64,
    /// Points in a run (the rule's `for_points`, at least 1, at most [`MAX_RUN`]).
    run: usize,
    /// The latest ratios of the current run of normal points, as a ring.
    recent: [f32; MAX_RUN],
    len: usize,
    next: usize,
    /// Weighted count per bin, relative to `origin`.
    bins: Box<[f64; BINS]>,
    total: f64,
    /// Time the weights are relative to, seconds.
    origin: Option<i64>,
    /// Runs learnt so far.
    learnt: u64,
}

impl Bursts {
    /// Bursts measured in runs of `run` points, fading over `history` seconds.
    pub fn new(run: usize, history: i64) -> Bursts {
        Bursts {
            tau: history.max(1) as f64,
            run: run.clamp(1, MAX_RUN),
            recent: [0.0; MAX_RUN],
            len: 0,
            next: 0,
            bins: Box::new([0.0; BINS]),
            total: 0.0,
            origin: None,
            learnt: 0,
        }
    }

    /// The factor to judge with at a poll interval of `step` seconds: `factor`, raised to
    /// `burst_factor` times how high the normal runs reach once [`BURST_MIN_POINTS`] are known.
    pub fn factor(&self, factor: f64, burst_factor: f64, step: i64) -> f64 {
        match self.height(step) {
            Some(h) => factor.max(burst_factor * h),
            None => factor,
        }
    }

    /// How high the runs reach at a poll interval of `step` seconds: the quantile of their
    /// ratios that [`BURSTS_PER_DAY`] runs a day exceed (the upper edge of its bin), once
    /// enough are known.
    pub fn height(&self, step: i64) -> Option<f64> {
        if self.learnt < BURST_MIN_POINTS || self.total <= 0.0 || step <= 0 {
            return None;
        }
        let quantile =
            (1.0 - BURSTS_PER_DAY * step as f64 / 86400.0).clamp(0.5, BURST_MAX_QUANTILE);
        let want = quantile * self.total;
        let mut seen = 0.0;
        for (k, w) in self.bins.iter().enumerate() {
            seen += w;
            if seen >= want {
                return Some(BIN_STEP.powi(k as i32));
            }
        }
        Some(BIN_STEP.powi(BINS as i32 - 1))
    }

    /// Learns the point judged `verdict` at `t` (seconds): `ratio` is its value over its
    /// baseline (a spike) or its baseline over its value (a drop). A point the condition held
    /// on, or could not be judged, ends the run of normal points, and so does one beyond the
    /// rule's own `factor` that the raised factor let pass: an ordinary burst stays within the
    /// rule's factor, and an attack the raised factor missed must not raise it further.
    pub fn learn(&mut self, t: i64, verdict: &Verdict, ratio: Option<f64>, factor: f64) {
        let Some(r) = ratio.filter(|r| !r.is_nan() && *r >= 0.0 && *r <= factor) else {
            self.len = 0;
            return;
        };
        if !matches!(verdict, Verdict::False(_)) {
            self.len = 0;
            return;
        }
        self.recent[self.next] = r.min(f64::from(f32::MAX)) as f32;
        self.next = (self.next + 1) % self.run;
        self.len = (self.len + 1).min(self.run);
        if self.len < self.run {
            return;
        }
        let lowest = self.recent[..self.run]
            .iter()
            .fold(f32::INFINITY, |m, &x| m.min(x));
        self.add(t, f64::from(lowest));
    }

    /// Forgets the current run (a gap).
    pub fn break_run(&mut self) {
        self.len = 0;
    }

    fn add(&mut self, t: i64, ratio: f64) {
        let origin = *self.origin.get_or_insert(t);
        let mut e = (t - origin) as f64 / self.tau;
        if e > RESCALE_EXP {
            let fade = (-e).exp();
            for w in self.bins.iter_mut() {
                *w *= fade;
            }
            self.total *= fade;
            self.origin = Some(t);
            e = 0.0;
        }
        let w = e.exp();
        self.bins[bin(ratio)] += w;
        self.total += w;
        self.learnt += 1;
    }
}

/// The bin of a ratio.
fn bin(ratio: f64) -> usize {
    if ratio.is_nan() || ratio < 1.0 {
        return 0;
    }
    if !ratio.is_finite() {
        return BINS - 1;
    }
    (1 + (ratio.ln() / BIN_STEP.ln()).floor() as usize).min(BINS - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::condition::Reading;

    const NORMAL: Verdict = Verdict::False(Reading {
        value: 0.0,
        baseline: None,
        note: None,
        limit: None,
    });

    /// A steady series leaves the factor alone; one whose runs of two points reach 2x on 5% of
    /// the runs raises it to `burst_factor` times that at a 1-minute poll (where 5% is 72 runs
    /// a day), not at an hourly one (where 5% is about one run a day).
    #[test]
    fn the_factor_follows_the_series_own_bursts_per_day() {
        let mut steady = Bursts::new(2, 14 * 86400);
        let mut bursty = Bursts::new(2, 14 * 86400);
        for k in 0..1000_i64 {
            let t = k * 60;
            steady.learn(t, &NORMAL, Some(if k % 2 == 0 { 1.1 } else { 0.9 }), 2.7);
            // Every 20th point starts a burst of two points at 2x: 5% of the runs.
            let r = if k % 20 < 2 { 2.0 } else { 1.0 };
            bursty.learn(t, &NORMAL, Some(r), 2.7);
        }
        assert!(
            steady.height(60).is_some_and(|h| h < 1.03),
            "{:?}",
            steady.height(60)
        );
        assert_eq!(steady.factor(2.7, 1.5, 60), 2.7);
        let h = bursty.height(60).unwrap_or(0.0);
        assert!((2.0..2.05).contains(&h), "{h}");
        assert!((bursty.factor(2.7, 1.5, 60) - 1.5 * h).abs() < 1e-9);
        assert_eq!(bursty.factor(2.7, 1.5, 3600), 2.7);
    }

    /// A single high point is not a run of two: only the lowest of each run counts.
    #[test]
    fn single_points_are_not_runs() {
        let mut b = Bursts::new(2, 86400);
        for k in 0..1000_i64 {
            // Every 5th point alone at 2x: 20% of the points, but no run of two above 1.
            let r = if k % 5 == 0 { 2.0 } else { 1.0 };
            b.learn(k * 10, &NORMAL, Some(r), 2.7);
        }
        assert!(
            b.height(10).is_some_and(|h| h <= 1.02),
            "{:?}",
            b.height(10)
        );
    }

    /// Anomalies (the condition held), unknown points and points beyond the rule's own factor
    /// (which the raised factor let pass) are not bursts, and break a run.
    #[test]
    fn anomalies_and_points_beyond_the_factor_are_not_learnt() {
        let anomaly = Verdict::True(Reading::default());
        let mut b = Bursts::new(2, 86400);
        for k in 0..1000_i64 {
            let (v, r) = match k % 10 {
                0..3 => (&anomaly, 5.0),
                3..6 => (&NORMAL, 3.0),
                _ => (&NORMAL, 1.0),
            };
            b.learn(k * 10, v, Some(r), 2.7);
            if k % 10 == 8 {
                b.learn(k * 10 + 5, &Verdict::Unknown("gap".into()), None, 2.7);
            }
        }
        assert!(
            b.height(10).is_some_and(|h| h <= 1.02),
            "{:?}",
            b.height(10)
        );
    }

    /// Nothing is raised before [`BURST_MIN_POINTS`] runs are known, and old bursts fade: after
    /// many `history`s of steady points, the bursts of long ago no longer count.
    #[test]
    fn it_waits_for_enough_runs_and_forgets_old_bursts() {
        let mut b = Bursts::new(1, 600);
        for k in 0..(BURST_MIN_POINTS as i64 - 1) {
            b.learn(k, &NORMAL, Some(3.0), 5.0);
        }
        assert_eq!(b.height(60), None);
        assert_eq!(b.factor(2.0, 1.5, 60), 2.0);
        b.learn(BURST_MIN_POINTS as i64, &NORMAL, Some(3.0), 5.0);
        assert!(b.factor(2.0, 1.5, 60) > 4.4);
        // A day of steady points, one a minute (144 histories: the weights rescale on the way).
        for k in 0..1440_i64 {
            b.learn(1000 + k * 60, &NORMAL, Some(0.95), 5.0);
        }
        assert!(b.height(60).is_some_and(|h| h <= 1.0), "{:?}", b.height(60));
        assert_eq!(b.factor(2.0, 1.5, 60), 2.0);
    }

    #[test]
    fn bins_are_two_percent_wide() {
        assert_eq!(bin(0.5), 0);
        assert_eq!(bin(f64::NAN), 0);
        assert_eq!(bin(1.0), 1);
        assert_eq!(bin(1.019), 1);
        assert_eq!(bin(1.021), 2);
        assert_eq!(bin(f64::INFINITY), BINS - 1);
        assert_eq!(bin(1e9), BINS - 1);
    }
}
