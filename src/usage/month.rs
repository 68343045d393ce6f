//! Calendar months in UTC (`2026-10`), the unit of the report and of billing, and the pair
//! every monthly figure compares: the month accounted for (whole, or so far) and the whole
//! month before it.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Serialize;

use super::period::{Period, slot_start};
use super::series::Usage;

/// One calendar month, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Month {
    /// Year.
    pub year: i16,
    /// Month 1..=12.
    pub month: i8,
}

impl Month {
    /// A month; `None` outside 1..=12 or jiff's years.
    pub fn new(year: i16, month: i8) -> Option<Month> {
        Date::new(year, month, 1)
            .ok()
            .map(|_| Month { year, month })
    }

    /// The month holding `t` (UTC).
    pub fn of(t: Timestamp) -> Month {
        let d = t.to_zoned(TimeZone::UTC).date();
        Month {
            year: d.year(),
            month: d.month(),
        }
    }

    /// The month before.
    pub fn prev(self) -> Month {
        if self.month == 1 {
            Month {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Month {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    /// The month after.
    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// Unix seconds of the first instant (UTC).
    pub fn start(self) -> i64 {
        Date::new(self.year, self.month, 1)
            .ok()
            .and_then(|d| d.to_zoned(TimeZone::UTC).ok())
            .map(|z| z.timestamp().as_second())
            .unwrap_or(0)
    }

    /// Unix seconds of the first instant of the next month.
    pub fn end(self) -> i64 {
        self.next().start()
    }

    /// Length in seconds.
    pub fn secs(self) -> i64 {
        self.end() - self.start()
    }

    /// The whole month as a period.
    pub fn period(self) -> Period {
        Period {
            from: self.start(),
            to: self.end(),
        }
    }

    /// The month up to the start of the 5-minute slot holding `now` (the slot still being
    /// measured is left out), within the month's bounds.
    pub fn so_far(self, now: Timestamp) -> Period {
        Period {
            from: self.start(),
            to: slot_start(now).clamp(self.start(), self.end()),
        }
    }
}

/// The month accounted for and the month it is compared with, as the periods measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Months {
    /// The month accounted for.
    pub month: Month,
    /// The month before, compared with.
    pub previous: Month,
    /// What is measured of `month`: all of it, or the month so far.
    pub this: Period,
    /// The whole month before.
    pub last: Period,
    /// True for the month so far (figures are projected to the month's end).
    pub partial: bool,
}

impl Months {
    /// `month` against the month before; with `current`, `month` so far at `now`.
    pub fn new(month: Month, now: Timestamp, current: bool) -> Months {
        let previous = month.prev();
        Months {
            month,
            previous,
            this: if current {
                month.so_far(now)
            } else {
                month.period()
            },
            last: previous.period(),
            partial: current,
        }
    }

    /// The estimated bytes of `this` month and of the `last`: each month's measured average
    /// rate over the whole month plus imported bytes (a projection for the month so far).
    pub fn estimates(&self, this: &Usage, last: &Usage) -> (f64, f64) {
        (
            this.estimated_bytes(self.month.secs()),
            last.estimated_bytes(self.previous.secs()),
        )
    }
}

/// The change from `last` to `this` as a fraction; `None` without anything `last`.
pub fn change(this: f64, last: f64) -> Option<f64> {
    (last > 0.0).then(|| (this - last) / last)
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for Month {
    type Err = String;
    fn from_str(s: &str) -> Result<Month, String> {
        let bad = || format!("`{s}` is not a month like `2026-10` (or `current`)");
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let y: i16 = y.parse().map_err(|_| bad())?;
        let m: i8 = m.parse().map_err(|_| bad())?;
        Month::new(y, m).ok_or_else(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_and_span_their_days() {
        let m: Month = "2026-10".parse().unwrap();
        assert_eq!(m.secs(), 31 * 86_400);
        assert_eq!(m.prev().to_string(), "2026-09");
        assert_eq!(m.prev().secs(), 30 * 86_400);
        assert_eq!(
            "2027-01".parse::<Month>().unwrap().prev().to_string(),
            "2026-12"
        );
        assert!("2026-13".parse::<Month>().is_err());
        assert!("26-10".parse::<Month>().is_err());
        assert_eq!(Month::of(Timestamp::from_second(m.start()).unwrap()), m);
    }

    #[test]
    fn the_month_so_far_stops_at_the_slot_being_measured() {
        let m: Month = "2026-10".parse().unwrap();
        let at = |s: i64| Timestamp::from_second(s).unwrap();
        let now = at(m.start() + 86_400 + 299);
        assert_eq!(m.so_far(now).to, m.start() + 86_400);
        // Before the month: empty; after it: the whole month.
        assert_eq!(m.so_far(at(m.start() - 600)).secs(), 0);
        assert_eq!(m.so_far(at(m.end() + 600)), m.period());
        let ms = Months::new(m, now, true);
        assert!(ms.partial);
        assert_eq!(ms.last, m.prev().period());
        assert_eq!(Months::new(m, now, false).this, m.period());
    }
}
