//! The current level of a series against its seasonal baseline (`level_points`): the season
//! says what shape a day has, the last few points say how high the series runs today. A day
//! when all of a port's traffic is 15% below its past two weeks (a holiday, a customer gone,
//! a slow drift) would otherwise need a 3x attack to be 3.5x of that day's traffic before it
//! reaches 3x of the baseline; scaled to the level, the baseline is that day's own.
//!
//! The level is the median, over the last `level_points` slots of the rule's `bucket` (5
//! minutes by default) that had points the condition did not hold on, of each slot's ratio of
//! those points to their seasonal baselines (an anomaly is not the level). A slot is a window
//! in time with a floor in points: on a series polled every 10 s, 12 slots are the last hour
//! (360 points, so bursty noise does not move the level); on one polled hourly, a slot holds
//! one point and 12 slots are the last 12 points, never fewer. It corrects the baseline by at
//! most [`LEVEL_RANGE`] either way: it is for a series that runs a little above or below its
//! usual weeks, not for an outage or an attack, which must never become "the level" (after an
//! hour-long outage, normal traffic would otherwise be a spike).

use super::baseline::{Baseline, RollingWindow};
use super::condition::Verdict;

/// The most the level scales a baseline, up or down (1.25: from 80% to 125% of it).
pub const LEVEL_RANGE: f64 = 1.25;

/// The ratios of the latest slots' normal points to their seasonal baselines.
#[derive(Clone, Debug)]
pub struct Level {
    points: usize,
    /// Slot length, seconds.
    bucket: i64,
    ratios: RollingWindow,
    /// A sequence number standing for time: the window keeps exactly the last `points`.
    seq: i64,
    /// The slot being summed: its number, the sum of its normal values and of their seasonal
    /// baselines.
    open: Option<(i64, f64, f64)>,
}

impl Level {
    /// A level over the last `points` slots of `bucket` seconds with judged normal points.
    pub fn new(points: usize, bucket: i64) -> Level {
        Level {
            points,
            bucket: bucket.max(1),
            ratios: RollingWindow::with_floor(0, points),
            seq: 0,
            open: None,
        }
    }

    /// Closes the slot being summed once `t` (seconds) lies in a later one: its ratio joins
    /// the window. Called before the level is read at `t`, so a point is never scaled by its
    /// own slot's unfinished sum.
    pub fn advance(&mut self, t: i64) {
        if let Some((slot, v, s)) = self.open
            && slot != t.div_euclid(self.bucket)
        {
            self.open = None;
            if s > 0.0 {
                self.seq += 1;
                self.ratios.push(self.seq, v / s);
            }
        }
    }

    /// The current level (1 while fewer than `points` ratios are known), within
    /// [`LEVEL_RANGE`].
    pub fn factor(&self) -> f64 {
        if self.ratios.len() < self.points {
            return 1.0;
        }
        self.ratios
            .summary(0.5)
            .map_or(1.0, |(m, _)| m.clamp(1.0 / LEVEL_RANGE, LEVEL_RANGE))
    }

    /// `b` scaled to the current level.
    pub fn scale(&self, b: Baseline) -> Baseline {
        let f = self.factor();
        if f == 1.0 {
            return b;
        }
        Baseline {
            value: b.value * f,
            spread: b.spread * f,
            ..b
        }
    }

    /// Learns a point judged at `t`: `value` against the unscaled `seasonal` baseline, when
    /// the condition did not hold on it.
    pub fn learn(&mut self, t: i64, verdict: &Verdict, value: f64, seasonal: f64) {
        if !matches!(verdict, Verdict::False(_)) || seasonal <= 0.0 || !value.is_finite() {
            return;
        }
        self.advance(t);
        let slot = t.div_euclid(self.bucket);
        match &mut self.open {
            Some((s, v, b)) if *s == slot => {
                *v += value;
                *b += seasonal;
            }
            _ => self.open = Some((slot, value, seasonal)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::condition::Reading;

    fn base(v: f64) -> Baseline {
        Baseline {
            value: v,
            spread: v / 10.0,
            samples: 14,
            range: (v / 2.0, v * 2.0),
            fallback: None,
            season_share: None,
        }
    }

    #[test]
    fn the_level_follows_normal_points_within_its_range() {
        let normal = Verdict::False(Reading::default());
        let anomaly = Verdict::True(Reading::default());
        // Hourly points, 5-minute slots: one point a slot.
        let mut l = Level::new(4, 300);
        let mut t = 0;
        let mut point = |l: &mut Level, verdict: &Verdict, v: f64| {
            t += 3600;
            l.advance(t);
            l.learn(t, verdict, v, 100.0);
        };
        // Three points are not a level yet (the fourth is still its slot's open sum).
        for _ in 0..4 {
            point(&mut l, &normal, 85.0);
        }
        assert_eq!(l.scale(base(100.0)).value, 100.0);
        point(&mut l, &normal, 86.0);
        let b = l.scale(base(100.0));
        assert!((b.value - 85.0).abs() < 0.6, "{b:?}");
        // An attack (the condition held) is not learnt.
        for _ in 0..10 {
            point(&mut l, &anomaly, 1000.0);
        }
        assert!((l.factor() - 0.855).abs() < 0.01);
        // An outage that the rule does not judge an anomaly moves the level at most 25%.
        for _ in 0..5 {
            point(&mut l, &normal, 0.0);
        }
        assert_eq!(l.factor(), 0.8);
    }

    /// On a fast series a slot sums many points, so the noise of single points averages out,
    /// and `points` slots are a window in time: 12 slots of 5 minutes are the last hour of 10 s
    /// points, not the last two minutes.
    #[test]
    fn a_slot_sums_its_points() {
        let normal = Verdict::False(Reading::default());
        let mut l = Level::new(12, 300);
        // The first slot runs at twice its baseline; the next 13 alternate 0.85 and 1.05.
        for k in 0..(14 * 30) {
            let t = k * 10;
            l.advance(t);
            let v = match k {
                ..30 => 200.0,
                _ if k % 2 == 0 => 85.0,
                _ => 105.0,
            };
            l.learn(t, &normal, v, 100.0);
        }
        // Slots 2 to 13 closed (the 14th is still open): the first has left the window.
        assert_eq!(l.ratios.len(), 12);
        assert!((l.factor() - 0.95).abs() < 1e-9, "{}", l.factor());
    }
}
