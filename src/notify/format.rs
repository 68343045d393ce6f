//! Words and numbers of alerts for people: values by metric (`4.2 Gbit/s in`, `silent for 45 s`,
//! `down`), directions, ratios to the usual; durations, times and HTML escaping come from
//! [`crate::format`].

pub use crate::format::{duration, minute_utc as time};
use crate::format::{format_bps, format_bytes, significant};

/// Metric name of an absent rule's value: seconds without a successful poll.
pub const SILENT_SECONDS: &str = "silent_seconds";
/// Metric name of a port-down rule's value: the IF-MIB ifOperStatus code.
pub const OPER_STATUS: &str = "oper_status";

/// A value of `metric` without direction: `4.2 Gbit/s`, `830 GB`, `87%`, `12.5`,
/// `silent for 45 s`, `down`.
pub fn quantity(metric: &str, value: f64) -> String {
    if !value.is_finite() {
        return "n/a".to_string();
    }
    if metric == SILENT_SECONDS {
        format!(
            "silent for {}",
            duration(std::time::Duration::from_secs_f64(value.max(0.0)))
        )
    } else if metric == OPER_STATUS {
        // IF-MIB ifOperStatus.
        match value as i64 {
            1 => "up".into(),
            2 => "down".into(),
            3 => "testing".into(),
            5 => "dormant".into(),
            6 => "notPresent".into(),
            7 => "lowerLayerDown".into(),
            n => format!("status {n}"),
        }
    } else if metric.ends_with("bps") {
        format_bps(value)
    } else if metric.ends_with("bytes") {
        format_bytes(value)
    } else if metric == "utilization" {
        format!("{}%", significant(value * 100.0))
    } else {
        significant(value)
    }
}

/// A value of `metric` with its direction when the metric has one: `4.2 Gbit/s in`.
pub fn value(metric: &str, value: f64) -> String {
    let q = quantity(metric, value);
    match direction(metric) {
        Some(d) => format!("{q} {d}"),
        None => q,
    }
}

/// `in` or `out` for directional metrics (`in_bps`, `out_bytes`).
pub fn direction(metric: &str) -> Option<&'static str> {
    if metric.starts_with("in_") {
        Some("in")
    } else if metric.starts_with("out_") {
        Some("out")
    } else {
        None
    }
}

/// How many times the usual value: `5.1x`, or `None` without a usable baseline.
pub fn ratio(value: f64, baseline: Option<f64>) -> Option<String> {
    let b = baseline?;
    if b <= 0.0 || !b.is_finite() || !value.is_finite() {
        return None;
    }
    let r = value / b;
    Some(if r >= 10.0 {
        format!("{r:.0}x")
    } else if r >= 0.1 {
        format!("{r:.1}x")
    } else {
        format!("{r:.2}x")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_by_metric() {
        assert_eq!(value("in_bps", 4.2e9), "4.2 Gbit/s in");
        assert_eq!(value("out_bps", 8.2e8), "820 Mbit/s out");
        assert_eq!(value("usage_bytes", 8.3e11), "830 GB");
        assert_eq!(value("utilization", 0.87), "87%");
        assert_eq!(value("value", 12.5), "12.5");
        assert_eq!(value("in_bps", f64::NAN), "n/a in");
        assert_eq!(value(SILENT_SECONDS, 92.0), "silent for 1 min");
        assert_eq!(value(SILENT_SECONDS, 32.4), "silent for 32 s");
        assert_eq!(value(OPER_STATUS, 2.0), "down");
        assert_eq!(value(OPER_STATUS, 7.0), "lowerLayerDown");
    }

    #[test]
    fn ratios() {
        assert_eq!(ratio(4.2e9, Some(8.2e8)).as_deref(), Some("5.1x"));
        assert_eq!(ratio(1.0, Some(0.0)), None);
        assert_eq!(ratio(1.0, None), None);
    }
}
