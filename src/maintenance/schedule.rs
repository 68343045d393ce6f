//! When a maintenance window is open: once (`from`/`until`), or again and again (`every =
//! "sunday 02:00"`, `every = "daily 02:00"` or `cron = "0 2 * * 0"`) for `duration`, at local
//! times of the window's time zone.
//!
//! Daylight saving time: an occurrence starts at the same local time on every date, whatever
//! the offset that day (02:00 in Berlin is 01:00 UTC in winter and 00:00 UTC in summer), and
//! lasts `duration` of real time. A local start that does not exist (skipped by a spring
//! change) starts at the same time after the gap (02:30 becomes 03:30); one that exists twice
//! (an autumn change) starts at the first. This is jiff's "compatible" disambiguation, which
//! RFC 5545 (iCalendar) prescribes too.

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::cron::Cron;

/// How a recurring window repeats.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recurrence {
    /// Every day at a local time.
    Daily(Time),
    /// Every week on a day at a local time.
    Weekly(Weekday, Time),
    /// At every start of a cron expression.
    Cron(Cron),
}

/// One occurrence of a window: `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Occurrence {
    /// When it opens.
    pub start: Timestamp,
    /// When it closes.
    pub end: Timestamp,
}

impl Occurrence {
    /// True when `t` is inside it.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start <= t && t < self.end
    }
}

/// When a window is open.
#[derive(Clone, Debug)]
pub enum Schedule {
    /// Once.
    Once(Occurrence),
    /// Again and again.
    Every {
        /// The local starts.
        recurrence: Recurrence,
        /// How long each lasts.
        duration: SignedDuration,
        /// Whose local time.
        tz: TimeZone,
    },
}

/// How far ahead a cron expression is searched for its next start (a `0 0 29 2 *` may wait
/// years; one that never matches, like `0 0 31 2 *`, gives up here).
const CRON_HORIZON_DAYS: i32 = 8 * 366;

/// A weekday by its English name or first three letters.
pub fn weekday(s: &str) -> Option<Weekday> {
    let s = s.to_ascii_lowercase();
    [
        ("monday", Weekday::Monday),
        ("tuesday", Weekday::Tuesday),
        ("wednesday", Weekday::Wednesday),
        ("thursday", Weekday::Thursday),
        ("friday", Weekday::Friday),
        ("saturday", Weekday::Saturday),
        ("sunday", Weekday::Sunday),
    ]
    .into_iter()
    .find(|(n, _)| *n == s || (s.len() == 3 && n.starts_with(&s)))
    .map(|(_, w)| w)
}

/// Parses `every`: `"sunday 02:00"`, `"sun 2:00"`, `"daily 02:00"`.
pub fn parse_every(s: &str) -> Result<Recurrence, String> {
    let usage = "expected `DAY HH:MM` (a weekday like `sunday 02:00`) or `daily HH:MM`";
    let mut words = s.split_whitespace();
    let (Some(day), Some(time), None) = (words.next(), words.next(), words.next()) else {
        return Err(format!("`{s}`: {usage}"));
    };
    let time = parse_time(time).ok_or_else(|| format!("`{s}`: `{time}` is not a time; {usage}"))?;
    if day.eq_ignore_ascii_case("daily") || day.eq_ignore_ascii_case("day") {
        return Ok(Recurrence::Daily(time));
    }
    weekday(day)
        .map(|w| Recurrence::Weekly(w, time))
        .ok_or_else(|| format!("`{s}`: `{day}` is not a weekday; {usage}"))
}

/// `HH:MM` (24 h).
fn parse_time(s: &str) -> Option<Time> {
    let (h, m) = s.split_once(':')?;
    if m.len() != 2 {
        return None;
    }
    Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

/// A one-off bound: an instant with its offset (`2026-12-06T02:00:00+01:00`, `...Z`), or a
/// local date and time of `tz` (`2026-12-06 02:00`, `2026-12-06T02:00`).
pub fn parse_instant(s: &str, tz: &TimeZone) -> Result<Timestamp, String> {
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(t);
    }
    let dt: DateTime = s.trim().replacen(' ', "T", 1).parse().map_err(|_| {
        format!(
            "`{s}` is not a date and time like `2026-12-06 02:00` or `2026-12-06T02:00:00+01:00`"
        )
    })?;
    tz.to_ambiguous_zoned(dt)
        .compatible()
        .map(|z| z.timestamp())
        .map_err(|e| format!("`{s}`: {e}"))
}

impl Recurrence {
    /// The first local start at or after `from`, as an instant.
    fn next_start(&self, from: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let day0 = from.to_zoned(tz.clone()).date();
        let at = |date: Date, time: Time| -> Option<Timestamp> {
            let t = tz
                .to_ambiguous_zoned(date.to_datetime(time))
                .compatible()
                .ok()?
                .timestamp();
            (t >= from).then_some(t)
        };
        // A day before `from`'s local date too: a start pushed past a gap may land after it.
        let days = match self {
            Recurrence::Daily(_) => 3,
            Recurrence::Weekly(..) => 9,
            Recurrence::Cron(_) => CRON_HORIZON_DAYS,
        };
        for off in -1..days {
            let date = day0.checked_add(jiff::Span::new().days(off)).ok()?;
            match self {
                Recurrence::Daily(time) => {
                    if let Some(t) = at(date, *time) {
                        return Some(t);
                    }
                }
                Recurrence::Weekly(w, time) => {
                    if date.weekday() == *w
                        && let Some(t) = at(date, *time)
                    {
                        return Some(t);
                    }
                }
                Recurrence::Cron(c) => {
                    if c.matches_day(date)
                        && let Some(t) = c.times().find_map(|time| at(date, time))
                    {
                        return Some(t);
                    }
                }
            }
        }
        None
    }
}

impl Schedule {
    /// The occurrence open at `t`, if any.
    pub fn open_at(&self, t: Timestamp) -> Option<Occurrence> {
        match self {
            Schedule::Once(o) => o.contains(t).then_some(*o),
            Schedule::Every {
                recurrence,
                duration,
                tz,
            } => {
                // The latest start in (t - duration, t]: search from just after t - duration.
                let from = t
                    .checked_sub(*duration)
                    .ok()?
                    .checked_add(SignedDuration::from_secs(1))
                    .ok()?;
                let start = recurrence.next_start(from, tz)?;
                let o = Occurrence {
                    start,
                    end: start.checked_add(*duration).ok()?,
                };
                o.contains(t).then_some(o)
            }
        }
    }

    /// The occurrences that overlap `[from, to)`, earliest first (of overlapping ones, those
    /// open when the one before closes: together they cover the same time).
    pub fn between(&self, from: Timestamp, to: Timestamp) -> Vec<Occurrence> {
        let mut out: Vec<Occurrence> = Vec::new();
        let mut cursor = from;
        while cursor < to {
            let Some(o) = self.upcoming(cursor, 1).into_iter().next() else {
                break;
            };
            if o.start >= to || o.end <= cursor {
                break;
            }
            out.push(o);
            cursor = o.end;
        }
        out
    }

    /// The occurrence open at `now` (if any) and the next ones, `n` in all, earliest first.
    pub fn upcoming(&self, now: Timestamp, n: usize) -> Vec<Occurrence> {
        match self {
            Schedule::Once(o) => {
                if o.end > now && n > 0 {
                    vec![*o]
                } else {
                    Vec::new()
                }
            }
            Schedule::Every {
                recurrence,
                duration,
                tz,
            } => {
                let mut out = Vec::new();
                let mut cursor = match self.open_at(now) {
                    Some(o) => o.start,
                    None => now,
                };
                while out.len() < n {
                    let Some(start) = recurrence.next_start(cursor, tz) else {
                        break;
                    };
                    let Ok(end) = start.checked_add(*duration) else {
                        break;
                    };
                    out.push(Occurrence { start, end });
                    let Ok(next) = start.checked_add(SignedDuration::from_secs(60)) else {
                        break;
                    };
                    cursor = next;
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn weekly(every: &str, hours: i64, zone: &str) -> Schedule {
        Schedule::Every {
            recurrence: parse_every(every).unwrap(),
            duration: SignedDuration::from_hours(hours),
            tz: TimeZone::get(zone).unwrap(),
        }
    }

    #[test]
    fn a_weekly_window_starts_at_the_same_local_time_across_dst_changes() {
        // Sunday 03:00 in Berlin: 02:00 UTC in winter (CET, +01), 01:00 UTC in summer (CEST).
        // Berlin springs forward on 2026-03-29 and falls back on 2026-10-25, both Sundays.
        let s = weekly("sunday 03:00", 2, "Europe/Berlin");
        let starts: Vec<String> = s
            .upcoming(utc("2026-03-20T00:00:00Z"), 3)
            .iter()
            .map(|o| o.start.to_string())
            .collect();
        assert_eq!(
            starts,
            [
                "2026-03-22T02:00:00Z",
                "2026-03-29T01:00:00Z", // the day of the change: 03:00 CEST
                "2026-04-05T01:00:00Z",
            ]
        );
        let starts: Vec<String> = s
            .upcoming(utc("2026-10-20T00:00:00Z"), 2)
            .iter()
            .map(|o| o.start.to_string())
            .collect();
        assert_eq!(starts, ["2026-10-25T02:00:00Z", "2026-11-01T02:00:00Z"]);
        // Open for two hours of real time from each start, closed around it.
        assert!(s.open_at(utc("2026-03-29T00:59:59Z")).is_none());
        assert!(s.open_at(utc("2026-03-29T01:00:00Z")).is_some());
        assert!(s.open_at(utc("2026-03-29T02:59:59Z")).is_some());
        assert!(s.open_at(utc("2026-03-29T03:00:00Z")).is_none());
    }

    #[test]
    fn a_start_in_the_spring_gap_moves_after_it_and_one_in_the_autumn_fold_takes_the_first() {
        // 02:30 does not exist in Berlin on 2026-03-29 (02:00 -> 03:00): it starts at 03:30
        // CEST (01:30 UTC). On 2026-10-25 02:30 exists twice: the first, CEST (00:30 UTC).
        let s = weekly("sun 02:30", 1, "Europe/Berlin");
        let spring = s.upcoming(utc("2026-03-28T00:00:00Z"), 1);
        assert_eq!(spring[0].start, utc("2026-03-29T01:30:00Z"));
        let autumn = s.upcoming(utc("2026-10-24T00:00:00Z"), 1);
        assert_eq!(autumn[0].start, utc("2026-10-25T00:30:00Z"));
        // New York: 02:30 daily skips on 2026-03-08.
        let d = weekly("daily 02:30", 1, "America/New_York");
        let starts: Vec<Timestamp> = d
            .upcoming(utc("2026-03-07T00:00:00Z"), 3)
            .iter()
            .map(|o| o.start)
            .collect();
        assert_eq!(
            starts,
            [
                utc("2026-03-07T07:30:00Z"), // EST, -05
                utc("2026-03-08T07:30:00Z"), // 03:30 EDT, after the gap
                utc("2026-03-09T06:30:00Z"), // EDT, -04
            ]
        );
    }

    #[test]
    fn cron_and_one_off_windows() {
        let s = Schedule::Every {
            recurrence: Recurrence::Cron(Cron::parse("0 2 1 * *").unwrap()),
            duration: SignedDuration::from_mins(90),
            tz: TimeZone::UTC,
        };
        let next = s.upcoming(utc("2026-12-03T16:00:00Z"), 3);
        let starts: Vec<String> = next.iter().map(|o| o.start.to_string()).collect();
        assert_eq!(
            starts,
            [
                "2027-01-01T02:00:00Z",
                "2027-02-01T02:00:00Z",
                "2027-03-01T02:00:00Z"
            ]
        );
        // Open now: the open occurrence comes first.
        let open = s.upcoming(utc("2027-01-01T03:00:00Z"), 2);
        assert_eq!(open[0].start, utc("2027-01-01T02:00:00Z"));
        assert_eq!(open[1].start, utc("2027-02-01T02:00:00Z"));
        // A cron expression that never fires has no occurrences (and does not loop forever).
        let never = Schedule::Every {
            recurrence: Recurrence::Cron(Cron::parse("0 0 31 2 *").unwrap()),
            duration: SignedDuration::from_mins(1),
            tz: TimeZone::UTC,
        };
        assert!(never.upcoming(utc("2026-01-01T00:00:00Z"), 3).is_empty());
        // One-off bounds: local times of the zone, or instants with an offset.
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        assert_eq!(
            parse_instant("2026-12-06 02:00", &tz).unwrap(),
            utc("2026-12-06T01:00:00Z")
        );
        assert_eq!(
            parse_instant("2026-07-06T02:00:00+02:00", &tz).unwrap(),
            utc("2026-07-06T00:00:00Z")
        );
        assert!(parse_instant("next tuesday", &tz).is_err());
        for bad in ["sunday", "funday 02:00", "sunday 25:00", "daily 2pm"] {
            assert!(parse_every(bad).is_err(), "{bad}");
        }
    }
}
