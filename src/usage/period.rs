//! Spans of time usage is measured over: a half-open period in unix seconds, its days, and
//! the 5-minute billing slot a moment falls in.

use jiff::Timestamp;
use serde::Serialize;

use crate::store::usage::SLOT_5M_SECS;

/// Seconds in a day.
pub const DAY_SECS: i64 = 86_400;

/// A half-open span of time in unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Period {
    /// Start (inclusive).
    pub from: i64,
    /// End (exclusive).
    pub to: i64,
}

impl Period {
    /// Length in seconds (0 for an empty period).
    pub fn secs(&self) -> i64 {
        (self.to - self.from).max(0)
    }

    /// Number of whole or partial days.
    pub fn days(&self) -> usize {
        ((self.secs() + DAY_SECS - 1) / DAY_SECS) as usize
    }

    /// The stretch of `secs` seconds that ends where the slot holding `at` starts: the
    /// complete recent slots (the slot still being measured is left out).
    pub fn recent(at: Timestamp, secs: i64) -> Period {
        let to = slot_start(at);
        Period {
            from: to - secs,
            to,
        }
    }
}

/// The start (unix seconds) of the 5-minute billing slot holding `t`.
pub fn slot_start(t: Timestamp) -> i64 {
    t.as_second().div_euclid(SLOT_5M_SECS) * SLOT_5M_SECS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_count_partial_days_and_recent_slots_end_at_the_slot_start() {
        assert_eq!(
            Period {
                from: 0,
                to: DAY_SECS + 1
            }
            .days(),
            2
        );
        assert_eq!(Period { from: 10, to: 5 }.secs(), 0);
        let at = Timestamp::from_second(1_000_299).unwrap();
        assert_eq!(slot_start(at), 1_000_200);
        assert_eq!(
            Period::recent(at, 3600),
            Period {
                from: 1_000_200 - 3600,
                to: 1_000_200
            }
        );
    }
}
