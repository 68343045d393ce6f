//! Churn-style drops: totals per window (a day, usually), compared as "the mean of the last
//! `recent` windows" against "the mean of the `reference` windows before them". A window with
//! less known data than `min_coverage` is left out, never read as low usage.

use std::collections::VecDeque;

use super::rule::{Churn, ChurnStatistic};

/// The outcome of one closed window.
#[derive(Clone, Debug, PartialEq)]
pub struct ChurnReading {
    /// End of the window that just closed (seconds).
    pub at: i64,
    /// Mean total of the recent windows.
    pub recent: f64,
    /// Mean total of the reference windows.
    pub reference: f64,
    /// True when recent < (1 - max_drop) x reference.
    pub dropped: bool,
    /// Windows left out for low coverage (recent, reference).
    pub left_out: (usize, usize),
}

/// The running totals of one series.
#[derive(Clone, Debug)]
pub struct ChurnTotals {
    spec: Churn,
    window: Option<i64>,
    sum: f64,
    known_secs: f64,
    /// Closed windows, oldest first: (index, scaled total or None when coverage was too low).
    closed: VecDeque<(i64, Option<f64>)>,
}

impl ChurnTotals {
    /// Empty totals.
    pub fn new(spec: Churn) -> ChurnTotals {
        ChurnTotals {
            spec,
            window: None,
            sum: 0.0,
            known_secs: 0.0,
            closed: VecDeque::new(),
        }
    }

    /// Adds one interval ending at `t` lasting `dt` seconds; `value` is `None` when unknown,
    /// else the interval's estimate (its measured sum scaled up by `coverage`, the share of it
    /// that was measured), as the store's range queries read it.
    /// An interval longer than a window (5-minute history feeding 1-minute windows) is shared
    /// between the windows it overlaps, in proportion to the overlap. Returns the reading of
    /// each window this point closes (usually none or one).
    pub fn push(
        &mut self,
        t: i64,
        dt: i64,
        value: Option<f64>,
        coverage: f64,
    ) -> Vec<ChurnReading> {
        let mut out = Vec::new();
        let width = self.spec.window.max(1);
        let dt = dt.max(1);
        let start = t - dt;
        for w in start.div_euclid(width)..=(t - 1).div_euclid(width) {
            self.advance_to(w, &mut out);
            let secs = (t.min((w + 1) * width) - start.max(w * width)) as f64;
            if let Some(v) = value {
                let c = coverage.clamp(0.0, 1.0);
                if c > 0.0 {
                    // `v` estimates the whole interval (the store scales a step's measured sum
                    // up by its coverage): what was measured of it is `v x c`. The window adds
                    // what was measured and scales it up once, by its own coverage, at close.
                    self.sum += v * secs / dt as f64 * c;
                    self.known_secs += secs * c;
                }
            }
        }
        // A point that ends a window closes it now, not when the next point comes.
        if t.rem_euclid(width) == 0 {
            self.advance_to(t.div_euclid(width), &mut out);
        }
        out
    }

    /// Makes `w` the open window, closing the one before it and any window with no point at
    /// all (unknown, not zero).
    fn advance_to(&mut self, w: i64, out: &mut Vec<ChurnReading>) {
        match self.window {
            None => self.window = Some(w),
            Some(cur) if w > cur => {
                self.close(cur, out);
                for empty in (cur + 1)..w {
                    self.close(empty, out);
                }
                self.window = Some(w);
            }
            _ => {}
        }
    }

    fn close(&mut self, w: i64, out: &mut Vec<ChurnReading>) {
        let coverage = self.known_secs / self.spec.window as f64;
        let total = (coverage >= self.spec.min_coverage && coverage > 0.0)
            .then(|| self.sum / coverage.min(1.0));
        self.sum = 0.0;
        self.known_secs = 0.0;
        self.closed.push_back((w, total));
        let keep = self.spec.recent + self.spec.reference;
        while self.closed.len() > keep {
            self.closed.pop_front();
        }
        if let Some(r) = self.evaluate(w) {
            out.push(r);
        }
    }

    fn evaluate(&self, last: i64) -> Option<ChurnReading> {
        let n = self.spec.recent as i64;
        let m = self.spec.reference as i64;
        let get = |lo: i64, hi: i64| -> (Vec<f64>, usize) {
            let mut vals = Vec::new();
            let mut missing = 0;
            for w in lo..=hi {
                match self.closed.iter().find(|(i, _)| *i == w) {
                    Some((_, Some(v))) => vals.push(*v),
                    _ => missing += 1,
                }
            }
            (vals, missing)
        };
        let (recent, rmiss) = get(last - n + 1, last);
        let (reference, fmiss) = get(last - n - m + 1, last - n);
        // Half of each side must be known, or there is nothing to compare.
        if recent.len() * 2 < n as usize || reference.len() * 2 < m as usize {
            return None;
        }
        let summary = |mut v: Vec<f64>| match self.spec.statistic {
            ChurnStatistic::Mean => v.iter().sum::<f64>() / v.len() as f64,
            ChurnStatistic::Median => {
                v.sort_by(f64::total_cmp);
                let k = v.len();
                (v[(k - 1) / 2] + v[k / 2]) / 2.0
            }
        };
        let (r, f) = (summary(recent), summary(reference));
        Some(ChurnReading {
            at: (last + 1) * self.spec.window,
            recent: r,
            reference: f,
            dropped: f > 0.0 && r < (1.0 - self.spec.max_drop) * f,
            left_out: (rmiss, fmiss),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(window: i64, recent: usize, reference: usize) -> Churn {
        Churn {
            window,
            recent,
            reference,
            max_drop: 0.4,
            min_coverage: 0.5,
            statistic: ChurnStatistic::Mean,
        }
    }

    /// Daily totals: 28 days at 100 of which 10 at 300 (a surge), then 7 days of which
    /// `outage` at 0 and the rest at `after`; the reading of the last day.
    fn last_reading(statistic: ChurnStatistic, outage: usize, after: f64) -> ChurnReading {
        let mut c = ChurnTotals::new(Churn {
            statistic,
            ..spec(86_400, 7, 28)
        });
        let mut out = Vec::new();
        for day in 0..35usize {
            let v = match day {
                5..=14 => 300.0,
                0..=27 => 100.0,
                _ if day < 28 + outage => 0.0,
                _ => after,
            };
            out.extend(c.push((day as i64 + 1) * 86_400, 86_400, Some(v), 1.0));
        }
        out.pop().expect("the 35th day closes a window")
    }

    #[test]
    fn the_median_of_the_days_holds_through_an_outage_and_after_a_surge() {
        // Back to the usual 100 a day after a surge, with two days of outage: the mean reads
        // 71 against 171 (58% down), the median 100 against 100.
        let mean = last_reading(ChurnStatistic::Mean, 2, 100.0);
        assert!(mean.dropped, "{mean:?}");
        let median = last_reading(ChurnStatistic::Median, 2, 100.0);
        assert!(!median.dropped, "{median:?}");
        assert_eq!((median.recent, median.reference), (100.0, 100.0));
        // A customer really gone to 30 a day is a churn either way.
        for statistic in [ChurnStatistic::Mean, ChurnStatistic::Median] {
            let r = last_reading(statistic, 0, 30.0);
            assert!(r.dropped, "{statistic:?} {r:?}");
        }
    }

    #[test]
    fn intervals_longer_than_a_window_are_shared_between_the_windows_they_cover() {
        // 1-minute windows fed 5-minute totals (history from rollups), then 1-minute totals.
        let mut c = ChurnTotals::new(spec(60, 1, 30));
        let mut last = Vec::new();
        let mut t = 0;
        while t < 3600 {
            t += 300;
            last = c.push(t, 300, Some(3000.0), 1.0);
        }
        let r = last
            .last()
            .expect("5-minute points close known 1-minute windows");
        assert_eq!(r.left_out, (0, 0), "{r:?}");
        assert!(
            (r.recent - 600.0).abs() < 1e-6 && (r.reference - 600.0).abs() < 1e-6,
            "{r:?}"
        );
        assert!(!r.dropped);
        // Then the customer falls to 30%: the first low minute fires as soon as it ends.
        let r = c.push(t + 60, 60, Some(180.0), 1.0);
        let r = r.last().expect("a point that ends a window closes it");
        assert!(r.dropped && (r.recent - 180.0).abs() < 1e-6, "{r:?}");
    }

    /// The store's points are estimates (a step's measured sum scaled up by its coverage, as
    /// every range query reads them): a day of hourly points at 95 % coverage, each estimating
    /// 100 bytes, totals 2,400, the same as a fully covered day, and a day under
    /// `min_coverage` is left out, not read as low.
    #[test]
    fn partly_covered_windows_total_what_their_estimates_say() {
        let mut c = ChurnTotals::new(spec(86_400, 1, 2));
        let mut out = Vec::new();
        for h in 1..=(3 * 24) {
            out.extend(c.push(h * 3600, 3600, Some(100.0), 0.95));
        }
        let r = out.last().expect("three days closed");
        assert!(
            (r.recent - 2400.0).abs() < 1e-6 && (r.reference - 2400.0).abs() < 1e-6,
            "{r:?}"
        );
        // A fourth day at 40 % coverage (under the spec's 0.5): left out, so there is no
        // reading of it at all rather than a low one.
        let mut out = Vec::new();
        for h in (3 * 24 + 1)..=(4 * 24) {
            out.extend(c.push(h * 3600, 3600, Some(100.0), 0.4));
        }
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn daily_windows_fed_five_minute_points_are_unchanged() {
        let mut c = ChurnTotals::new(spec(86_400, 1, 2));
        let mut out = Vec::new();
        for k in 1..=(3 * 288) {
            out.extend(c.push(k * 300, 300, Some(1.0), 1.0));
        }
        // Three days closed; the third compared with the two before it.
        let r = out.last().unwrap();
        assert_eq!(r.at, 3 * 86_400);
        assert!((r.recent - 288.0).abs() < 1e-6 && (r.reference - 288.0).abs() < 1e-6);
    }
}
