//! Prometheus text exposition (format 0.0.4, what `promtool check metrics` and every
//! Prometheus accept), written by hand: one pass over a snapshot, no per-scrape registry.
//!
//! Label values are escaped as the format requires; families are written whole, each with
//! its `# HELP` and `# TYPE` lines, in a stable order so scrapes diff cleanly.

use std::fmt::Write as _;

/// Metric type of a family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricType {
    /// Monotonic counter (name ends in `_total`).
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Buckets, sum and count.
    Histogram,
}

impl MetricType {
    fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
        }
    }
}

/// Builds one exposition body.
#[derive(Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// An empty body with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Exposition {
            out: String::with_capacity(capacity),
        }
    }

    /// Starts a family: its `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &str, kind: MetricType, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
    }

    /// One sample line. Non-finite values are written as Prometheus spells them.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(k);
                self.out.push_str("=\"");
                escape_label_into(&mut self.out, v);
                self.out.push('"');
            }
            self.out.push('}');
        }
        self.out.push(' ');
        write_value(&mut self.out, value);
        self.out.push('\n');
    }

    /// One sample line whose label set was rendered once with [`labels`] (hot paths: the
    /// same port labels appear in several families).
    pub fn sample_rendered(&mut self, name: &str, rendered: &str, value: f64) {
        self.out.push_str(name);
        self.out.push_str(rendered);
        self.out.push(' ');
        write_value(&mut self.out, value);
        self.out.push('\n');
    }

    /// A histogram's samples from cumulative bucket counts (`le` upper bounds, ascending),
    /// the sum and the count.
    pub fn histogram(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        buckets: &[(f64, u64)],
        sum: f64,
        count: u64,
    ) {
        let bucket = format!("{name}_bucket");
        let les: Vec<String> = buckets
            .iter()
            .map(|(le, _)| format_le(*le))
            .chain(["+Inf".to_string()])
            .collect();
        let counts = buckets.iter().map(|(_, c)| *c).chain([count]);
        for (le, c) in les.iter().zip(counts) {
            let mut with_le: Vec<(&str, &str)> = labels.to_vec();
            with_le.push(("le", le));
            self.sample(&bucket, &with_le, c as f64);
        }
        self.sample(&format!("{name}_sum"), labels, sum);
        self.sample(&format!("{name}_count"), labels, count as f64);
    }

    /// The finished body.
    pub fn finish(self) -> String {
        self.out
    }
}

/// A label set rendered as `{k="v",...}` with values escaped, for [`Exposition::sample_rendered`].
pub fn labels(labels: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(128);
    out.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        escape_label_into(&mut out, v);
        out.push('"');
    }
    out.push('}');
    out
}

fn format_le(le: f64) -> String {
    let s = format!("{le}");
    if s.contains('.') || s.contains('e') {
        s
    } else {
        format!("{s}.0")
    }
}

fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v == f64::INFINITY {
        out.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

fn escape_label_into(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(h: &str) -> String {
    h.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_values_formatted() {
        let mut e = Exposition::default();
        e.family("x_total", MetricType::Counter, "A counter.");
        e.sample("x_total", &[("port", "xe-0/0/1 \"a\"\\b\nc")], 12.0);
        e.sample("x_total", &[], 0.5);
        let s = e.finish();
        assert!(s.contains("# TYPE x_total counter\n"));
        assert!(
            s.contains("x_total{port=\"xe-0/0/1 \\\"a\\\"\\\\b\\nc\"} 12\n"),
            "{s}"
        );
        assert!(s.contains("x_total 0.5\n"));
    }

    #[test]
    fn histogram_has_inf_sum_count() {
        let mut e = Exposition::default();
        e.family("d_seconds", MetricType::Histogram, "Durations.");
        e.histogram(
            "d_seconds",
            &[("switch", "a")],
            &[(0.1, 1), (1.0, 3)],
            1.7,
            4,
        );
        let s = e.finish();
        assert!(
            s.contains("d_seconds_bucket{switch=\"a\",le=\"0.1\"} 1\n"),
            "{s}"
        );
        assert!(
            s.contains("d_seconds_bucket{switch=\"a\",le=\"1.0\"} 3\n"),
            "{s}"
        );
        assert!(
            s.contains("d_seconds_bucket{switch=\"a\",le=\"+Inf\"} 4\n"),
            "{s}"
        );
        assert!(s.contains("d_seconds_count{switch=\"a\"} 4\n"), "{s}");
    }
}
