//! The fallback window of a seasonal baseline that is still learning its periods: the
//! highest (spike) or lowest (drop) value of the last season, kept per slot instead of per
//! point, so that its memory is the season's slot count (288 for a day of 5-minute slots)
//! whatever the poll interval: a day of 10-second polls was 8,640 raw points per series and
//! rule, and grew for the whole first day.
//!
//! Each slot keeps its extremes (the fallback's value and range are exact), its point count,
//! mean and the sum of squared deviations (Welford), so that the spread is the slots' robust
//! spread combined with the noise inside them (law of total variance). With one point per
//! slot (a 5-minute series in 5-minute slots) it is exactly the robust spread of the points.

use std::collections::VecDeque;

use super::baseline::summarize;

/// One slot of the window (48 bytes; its slot number is kept once, for the newest).
#[derive(Clone, Copy, Debug)]
struct Slot {
    /// Time of the newest point in the slot: the slot leaves the window with it.
    newest: i64,
    count: u32,
    mean: f64,
    /// Sum of squared deviations from the mean (Welford).
    m2: f64,
    min: f64,
    max: f64,
}

/// Per-slot summaries of the last `span` seconds.
#[derive(Clone, Debug)]
pub(crate) struct WarmingWindow {
    span: i64,
    bucket: i64,
    slots: VecDeque<Slot>,
    /// Slot number of the newest slot (the one points still arrive in).
    newest_abs: i64,
    points: usize,
}

/// What the fallback is computed from: the extremes, the spread and how many points.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct WarmingSummary {
    /// Highest or lowest value, by the rule's side.
    pub value: f64,
    /// Robust spread of the slot means combined with the noise inside the slots.
    pub spread: f64,
    /// Points in the window.
    pub points: usize,
    /// Lowest and highest value.
    pub range: (f64, f64),
}

impl WarmingWindow {
    /// A window of `span` seconds in slots of `bucket` seconds.
    pub(crate) fn new(span: i64, bucket: i64) -> WarmingWindow {
        WarmingWindow {
            span,
            bucket: bucket.max(1),
            slots: VecDeque::new(),
            newest_abs: i64::MIN,
            points: 0,
        }
    }

    /// Points in the window.
    pub(crate) fn len(&self) -> usize {
        self.points
    }

    /// Adds a value at time `t` (seconds); points arrive in time order.
    pub(crate) fn push(&mut self, t: i64, v: f64) {
        let abs = t.div_euclid(self.bucket);
        match self.slots.back_mut() {
            Some(s) if self.newest_abs == abs => {
                s.count += 1;
                let d = v - s.mean;
                s.mean += d / s.count as f64;
                s.m2 += d * (v - s.mean);
                s.min = s.min.min(v);
                s.max = s.max.max(v);
                s.newest = s.newest.max(t);
            }
            _ => {
                // The window holds at most a season's slots: grown in steps up to that, never
                // doubled past it (288 five-minute slots, not 512, for every series that is
                // still learning its day).
                let most = (self.span / self.bucket) as usize + 2;
                let len = self.slots.len();
                if len == self.slots.capacity() && len < most {
                    self.slots.reserve_exact(len.max(8).min(most - len));
                }
                self.newest_abs = abs;
                self.slots.push_back(Slot {
                    newest: t,
                    count: 1,
                    mean: v,
                    m2: 0.0,
                    min: v,
                    max: v,
                });
            }
        }
        self.points += 1;
        self.expire(t);
    }

    /// Forgets slots whose newest point is at or before `now - span`.
    pub(crate) fn expire(&mut self, now: i64) {
        while let Some(s) = self.slots.front() {
            if s.newest > now - self.span {
                break;
            }
            self.points -= s.count as usize;
            self.slots.pop_front();
        }
    }

    /// The extremes and spread of the window; `upper` picks the highest value, else the
    /// lowest. `scratch` is reused between calls.
    pub(crate) fn summary(&self, upper: bool, scratch: &mut Vec<f64>) -> Option<WarmingSummary> {
        let lo = self.slots.iter().map(|s| s.min).reduce(f64::min)?;
        let hi = self.slots.iter().map(|s| s.max).reduce(f64::max)?;
        scratch.clear();
        scratch.extend(self.slots.iter().map(|s| s.mean));
        scratch.sort_by(f64::total_cmp);
        let (_, between) = summarize(scratch, 0.5)?;
        let within = self.slots.iter().map(|s| s.m2).sum::<f64>() / self.points.max(1) as f64;
        Some(WarmingSummary {
            value: if upper { hi } else { lo },
            spread: (between * between + within).sqrt(),
            points: self.points,
            range: (lo, hi),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_point_per_slot_is_exactly_the_points_summary() {
        let mut w = WarmingWindow::new(3600, 300);
        let values = [5.0, 1.0, 9.0, 3.0, 7.0, 2.0, 8.0];
        for (i, v) in values.iter().enumerate() {
            w.push(i as i64 * 300, *v);
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let (_, spread) = summarize(&sorted, 0.5).unwrap();
        let s = w.summary(true, &mut Vec::new()).unwrap();
        assert_eq!(s.value, 9.0);
        assert_eq!(s.range, (1.0, 9.0));
        assert_eq!(s.points, 7);
        assert!(
            (s.spread - spread).abs() < 1e-12,
            "{} vs {spread}",
            s.spread
        );
        assert_eq!(w.summary(false, &mut Vec::new()).unwrap().value, 1.0);
    }

    #[test]
    fn many_points_per_slot_keep_extremes_and_forget_by_time() {
        // 10-second points, 5-minute slots, a 1-hour window: 360 points in 12 or 13 slots.
        let mut w = WarmingWindow::new(3600, 300);
        for i in 0..720 {
            let v = if i == 400 {
                50.0
            } else {
                10.0 + (i % 3) as f64
            };
            w.push(i * 10, v);
        }
        assert!(w.slots.len() <= 13, "{}", w.slots.len());
        assert!(w.slots.capacity() <= 14, "{}", w.slots.capacity());
        assert!(w.len() <= 390 && w.len() >= 360, "{}", w.len());
        let s = w.summary(true, &mut Vec::new()).unwrap();
        // The 50 at t=4000 is still in the window that ends at t=7190.
        assert_eq!(s.value, 50.0);
        assert_eq!(s.range.0, 10.0);
        // The noise inside the slots (10, 11, 12) counts: about one standard deviation of it.
        assert!(s.spread > 0.5 && s.spread < 3.0, "{}", s.spread);
        // An hour later, the 50 is gone.
        for i in 720..1100 {
            w.push(i * 10, 10.0);
        }
        assert_eq!(w.summary(true, &mut Vec::new()).unwrap().value, 10.0);
    }
}
