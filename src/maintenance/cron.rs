//! A five-field cron expression (`minute hour day-of-month month day-of-week`), as Vixie cron
//! reads it: `*`, numbers, ranges `a-b`, lists `a,b`, steps `*/n` and `a-b/n`, month and day
//! names (`jan`, `sun`), day of week 0-7 (0 and 7 are Sunday). When both day fields are
//! restricted a day matching either one matches, as in cron.

use jiff::civil::{Date, Time};

/// A parsed cron expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cron {
    minutes: Vec<i8>,
    hours: Vec<i8>,
    days: Vec<i8>,
    months: Vec<i8>,
    /// 0 = Sunday .. 6 = Saturday.
    weekdays: Vec<i8>,
    days_restricted: bool,
    weekdays_restricted: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn value(s: &str, names: &[&str], offset: i8) -> Option<i8> {
    if let Some(i) = names.iter().position(|n| s.eq_ignore_ascii_case(n)) {
        return Some(i as i8 + offset);
    }
    s.parse().ok()
}

/// One field: the sorted values it allows, and whether it is restricted (not `*`).
fn field(
    text: &str,
    what: &str,
    lo: i8,
    hi: i8,
    names: &[&str],
    offset: i8,
) -> Result<(Vec<i8>, bool), String> {
    let mut out = Vec::new();
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: i8 = s
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("{what}: invalid step `{s}`"))?;
                (r, step)
            }
            None => (part, 1),
        };
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            let a = value(a, names, offset).ok_or_else(|| format!("{what}: invalid `{a}`"))?;
            let b = value(b, names, offset).ok_or_else(|| format!("{what}: invalid `{b}`"))?;
            (a, b)
        } else {
            let a =
                value(range, names, offset).ok_or_else(|| format!("{what}: invalid `{range}`"))?;
            (a, if part.contains('/') { hi } else { a })
        };
        if a < lo || b > hi || a > b {
            return Err(format!("{what}: `{part}` is outside {lo}-{hi}"));
        }
        out.extend((a..=b).step_by(step as usize));
    }
    out.sort_unstable();
    out.dedup();
    Ok((out, text != "*"))
}

impl Cron {
    /// Parses `minute hour day-of-month month day-of-week`.
    pub fn parse(text: &str) -> Result<Cron, String> {
        let f: Vec<&str> = text.split_whitespace().collect();
        let [mi, h, d, mo, wd] = f.as_slice() else {
            return Err(format!(
                "`{text}`: a cron expression has five fields (minute hour day-of-month month day-of-week), found {}",
                f.len()
            ));
        };
        let (minutes, _) = field(mi, "minute", 0, 59, &[], 0)?;
        let (hours, _) = field(h, "hour", 0, 23, &[], 0)?;
        let (days, days_restricted) = field(d, "day of month", 1, 31, &[], 0)?;
        let (months, _) = field(mo, "month", 1, 12, &MONTHS, 1)?;
        let (mut weekdays, weekdays_restricted) = field(wd, "day of week", 0, 7, &WEEKDAYS, 0)?;
        for w in &mut weekdays {
            *w %= 7;
        }
        weekdays.sort_unstable();
        weekdays.dedup();
        Ok(Cron {
            minutes,
            hours,
            days,
            months,
            weekdays,
            days_restricted,
            weekdays_restricted,
        })
    }

    /// True when the expression fires on `date`.
    pub fn matches_day(&self, date: Date) -> bool {
        if !self.months.contains(&date.month()) {
            return false;
        }
        let dom = self.days.contains(&date.day());
        let dow = self
            .weekdays
            .contains(&(date.weekday().to_sunday_zero_offset()));
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => dom || dow,
            (true, false) => dom,
            (false, true) => dow,
            (false, false) => true,
        }
    }

    /// The times of day it fires at, earliest first.
    pub fn times(&self) -> impl Iterator<Item = Time> + '_ {
        self.hours.iter().flat_map(move |h| {
            self.minutes
                .iter()
                .filter_map(move |m| Time::new(*h, *m, 0, 0).ok())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_ranges_lists_steps_and_names() {
        let c = Cron::parse("*/15 2-4 * * sun,6").unwrap();
        assert_eq!(c.minutes, [0, 15, 30, 45]);
        assert_eq!(c.hours, [2, 3, 4]);
        assert_eq!(c.weekdays, [0, 6]);
        assert!(c.matches_day(jiff::civil::date(2026, 12, 6))); // a Sunday
        assert!(!c.matches_day(jiff::civil::date(2026, 12, 7)));
        // 7 is Sunday too; months by name.
        let c = Cron::parse("0 3 * jan-mar 7").unwrap();
        assert_eq!(c.weekdays, [0]);
        assert_eq!(c.months, [1, 2, 3]);
        // Both day fields restricted: either matches (the 1st, or any Monday).
        let c = Cron::parse("0 0 1 * mon").unwrap();
        assert!(c.matches_day(jiff::civil::date(2026, 12, 1))); // a Tuesday, the 1st
        assert!(c.matches_day(jiff::civil::date(2026, 12, 7))); // a Monday
        assert!(!c.matches_day(jiff::civil::date(2026, 12, 8)));
        for (bad, why) in [
            ("0 2 * *", "five fields"),
            ("60 2 * * *", "minute: `60` is outside 0-59"),
            ("0 2 * * funday", "day of week: invalid `funday`"),
            ("*/0 2 * * *", "minute: invalid step `0`"),
        ] {
            let e = Cron::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
