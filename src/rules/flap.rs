//! Flap detection (a rule's `flap`): an alert whose condition changes `changes` times within
//! `within` is *flapping*. It then says so once (a `FLAPPING` notice with the count and the
//! window), sends no firing, repeat or resolved notices while it flaps, and says once more
//! when its condition has not changed for `clear_for` (`STABLE`). The alert's own lifecycle
//! keeps running underneath (its transitions are recorded); only what people are told changes.
//! Nagios and Zabbix call this flap detection; the count is of condition changes, as theirs.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::condition::Verdict;
use super::rule::Flap;

/// The flap detection state of one alert (persisted with it).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FlapState {
    /// The last known condition (true: it held). Unknown points leave it as it was.
    pub last: Option<bool>,
    /// When the condition changed, within the rule's `within`.
    pub changes: Vec<Timestamp>,
    /// When it last changed.
    pub last_change: Option<Timestamp>,
    /// Since when the alert is flapping; `None` while it is not.
    pub since: Option<Timestamp>,
    /// Changes counted when it started flapping (for its notice).
    pub count: usize,
    /// Whether the flapping notice went out (it was not silenced).
    pub notified: bool,
}

/// What one step of flap detection did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlapChange {
    /// It started flapping.
    Started,
    /// It flapped and has been stable for `clear_for`.
    Stable,
}

impl FlapState {
    /// True while the alert is flapping.
    pub fn flapping(&self) -> bool {
        self.since.is_some()
    }

    /// Counts a change of the condition at `now` and says whether flapping starts or ends.
    /// Unknown verdicts count nothing and end nothing (a gap is not stability).
    pub fn step(&mut self, verdict: &Verdict, now: Timestamp, spec: &Flap) -> Option<FlapChange> {
        let holds = match verdict {
            Verdict::True(_) => true,
            Verdict::False(_) => false,
            Verdict::Unknown(_) => return None,
        };
        if self.last.is_some_and(|prev| prev != holds) {
            self.changes.push(now);
            self.last_change = Some(now);
        }
        self.last = Some(holds);
        let from = now.as_second() - spec.within;
        self.changes.retain(|t| t.as_second() > from);
        match self.since {
            None if self.changes.len() >= spec.changes => {
                self.since = Some(now);
                self.count = self.changes.len();
                Some(FlapChange::Started)
            }
            None => None,
            Some(since) => {
                self.count = self.count.max(self.changes.len());
                let calm_from = self.last_change.unwrap_or(since).max(since);
                if now.as_second() - calm_from.as_second() >= spec.clear_for {
                    self.since = None;
                    self.changes.clear();
                    self.count = 0;
                    Some(FlapChange::Stable)
                } else {
                    None
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::condition::Reading;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_767_571_200 + s).unwrap()
    }

    #[test]
    fn six_changes_within_the_window_start_it_and_calm_ends_it() {
        let spec = Flap {
            changes: 6,
            within: 3600,
            clear_for: 600,
        };
        let mut f = FlapState::default();
        let v = |b: bool| {
            if b {
                Verdict::True(Reading::default())
            } else {
                Verdict::False(Reading::default())
            }
        };
        let mut seen = Vec::new();
        // Down and up every minute: the first point sets the condition, then one change a
        // minute; the sixth change (minute 6) starts it.
        for m in 0..20 {
            if let Some(c) = f.step(&v(m % 2 == 1), at(m * 60), &spec) {
                seen.push((m, c, f.count));
            }
        }
        assert_eq!(seen, [(6, FlapChange::Started, 6)]);
        // While it flaps, the count is the most changes seen within the window.
        assert_eq!(f.count, 19);
        // A gap is not calm: unknown points end nothing.
        assert_eq!(
            f.step(&Verdict::Unknown("gap".into()), at(40 * 60), &spec),
            None
        );
        // The last change was at minute 19; ten minutes later it is stable.
        assert_eq!(f.step(&v(true), at(28 * 60), &spec), None);
        assert_eq!(
            f.step(&v(true), at(29 * 60), &spec),
            Some(FlapChange::Stable)
        );
        assert!(!f.flapping());
        // Changes spread wider than the window never start it.
        let mut slow = FlapState::default();
        for h in 0..24 {
            assert_eq!(slow.step(&v(h % 2 == 1), at(h * 900), &spec), None);
        }
    }
}
