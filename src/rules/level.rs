//! The current level of a series against its seasonal baseline (`level_points`): the season
//! says what shape a day has, the last few points say how high the series runs today. A day
//! when all of a port's traffic is 15% below its past two weeks (a holiday, a customer gone,
//! a slow drift) would otherwise need a 3x attack to be 3.5x of that day's traffic before it
//! reaches 3x of the baseline; scaled to the level, the baseline is that day's own.
//!
//! The level is the median ratio of value to seasonal baseline over the last `level_points`
//! points the condition did not hold on (an anomaly is not the level), and it corrects the
//! baseline by at most [`LEVEL_RANGE`] either way: it is for a series that runs a little above
//! or below its usual weeks, not for an outage or an attack, which must never become "the
//! level" (after an hour-long outage, normal traffic would otherwise be a spike).

use super::baseline::{Baseline, RollingWindow};
use super::condition::Verdict;

/// The most the level scales a baseline, up or down (1.25: from 80% to 125% of it).
pub const LEVEL_RANGE: f64 = 1.25;

/// The ratios of the latest points to their seasonal baselines.
#[derive(Clone, Debug)]
pub struct Level {
    points: usize,
    ratios: RollingWindow,
    /// A sequence number standing for time: the window keeps exactly the last `points`.
    seq: i64,
}

impl Level {
    /// A level over the last `points` judged points.
    pub fn new(points: usize) -> Level {
        Level {
            points,
            ratios: RollingWindow::with_floor(0, points),
            seq: 0,
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

    /// Learns a judged point: `value` against the unscaled `seasonal` baseline, when the
    /// condition did not hold on it.
    pub fn learn(&mut self, verdict: &Verdict, value: f64, seasonal: f64) {
        if !matches!(verdict, Verdict::False(_)) || seasonal <= 0.0 || !value.is_finite() {
            return;
        }
        self.seq += 1;
        self.ratios.push(self.seq, value / seasonal);
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
        }
    }

    #[test]
    fn the_level_follows_normal_points_within_its_range() {
        let normal = Verdict::False(Reading::default());
        let anomaly = Verdict::True(Reading::default());
        let mut l = Level::new(4);
        // Three points are not a level yet.
        for _ in 0..3 {
            l.learn(&normal, 85.0, 100.0);
        }
        assert_eq!(l.scale(base(100.0)).value, 100.0);
        l.learn(&normal, 86.0, 100.0);
        let b = l.scale(base(100.0));
        assert!((b.value - 85.0).abs() < 0.6, "{b:?}");
        // An attack (the condition held) is not learnt.
        for _ in 0..10 {
            l.learn(&anomaly, 1000.0, 100.0);
        }
        assert!((l.factor() - 0.855).abs() < 0.01);
        // An outage that the rule does not judge an anomaly moves the level at most 25%.
        for _ in 0..4 {
            l.learn(&normal, 0.0, 100.0);
        }
        assert_eq!(l.factor(), 0.8);
    }
}
