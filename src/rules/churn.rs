//! Churn-style drops: totals per window (a day, usually), compared as "the mean of the last
//! `recent` windows" against "the mean of the `reference` windows before them". A window with
//! less known data than `min_coverage` is left out, never read as low usage.

use std::collections::VecDeque;

use super::rule::Churn;

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

    /// Adds one interval ending at `t` lasting `dt` seconds; `value` is `None` when unknown.
    /// Returns the reading of each window this point closes (usually none or one).
    pub fn push(
        &mut self,
        t: i64,
        dt: i64,
        value: Option<f64>,
        coverage: f64,
    ) -> Vec<ChurnReading> {
        let mut out = Vec::new();
        // An interval belongs to the window its start falls in.
        let w = (t - dt.max(1)).div_euclid(self.spec.window);
        match self.window {
            None => self.window = Some(w),
            Some(cur) if w > cur => {
                self.close(cur, &mut out);
                // Windows with no point at all are unknown, not zero.
                for empty in (cur + 1)..w {
                    self.close(empty, &mut out);
                }
                self.window = Some(w);
            }
            _ => {}
        }
        if let Some(v) = value {
            let c = coverage.clamp(0.0, 1.0);
            if c > 0.0 {
                self.sum += v / c;
                self.known_secs += dt as f64 * c;
            }
        }
        out
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
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (r, f) = (mean(&recent), mean(&reference));
        Some(ChurnReading {
            at: (last + 1) * self.spec.window,
            recent: r,
            reference: f,
            dropped: f > 0.0 && r < (1.0 - self.spec.max_drop) * f,
            left_out: (rmiss, fmiss),
        })
    }
}
