//! Durations and times for people: `45 s`, `3 min`, `1 h 12 min`, `26 h`, `9 days 5 h`;
//! `2026-11-27 23:05 UTC`.

use jiff::Timestamp;

/// A duration in its two largest units: seconds below a minute, minutes below an hour,
/// hours (and minutes) below two days, days (and hours) from two days on.
pub fn duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    let (days, hours, mins) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    if s < 60 {
        format!("{s} s")
    } else if s < 3600 {
        format!("{mins} min")
    } else if s < 2 * 86_400 {
        let h = s / 3600;
        if mins == 0 {
            format!("{h} h")
        } else {
            format!("{h} h {mins} min")
        }
    } else if hours == 0 {
        format!("{days} days")
    } else {
        format!("{days} days {hours} h")
    }
}

/// [`duration`] of a number of seconds (negative counts as zero).
pub fn duration_secs(secs: i64) -> String {
    duration(std::time::Duration::from_secs(secs.max(0) as u64))
}

/// A time in UTC to the minute: `2026-11-27 23:05 UTC`.
pub fn minute_utc(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_largest_units() {
        assert_eq!(duration_secs(-5), "0 s");
        assert_eq!(duration_secs(45), "45 s");
        assert_eq!(duration_secs(180), "3 min");
        assert_eq!(duration_secs(5400), "1 h 30 min");
        assert_eq!(duration_secs(5 * 3600), "5 h");
        assert_eq!(duration_secs(86_400), "24 h");
        assert_eq!(duration_secs(26 * 3600 + 60), "26 h 1 min");
        assert_eq!(duration_secs(2 * 86_400 + 3 * 3600 + 5), "2 days 3 h");
        assert_eq!(duration_secs(14 * 86_400), "14 days");
    }

    #[test]
    fn times_to_the_minute() {
        let t: Timestamp = "2026-11-27T23:05:59Z".parse().unwrap();
        assert_eq!(minute_utc(t), "2026-11-27 23:05 UTC");
    }
}
