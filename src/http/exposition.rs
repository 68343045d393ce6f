//! Prometheus exposition, written by hand: one pass over a snapshot, no per-scrape registry.
//! Two formats from the same calls: the text format 0.0.4 (what `promtool check metrics` and
//! every Prometheus accept) and OpenMetrics 1.0.0, chosen by the scraper's `Accept` header
//! ([`Format::negotiate`]). In OpenMetrics a counter family is named without its `_total`
//! suffix (its samples keep it), `# HELP` escapes double quotes, and the body ends in `# EOF`.
//!
//! Label values are escaped as the format requires; families are written whole, each with
//! its `# HELP` and `# TYPE` lines, in a stable order so scrapes diff cleanly.
//!
//! A body is built whole in a `String` ([`Exposition::new`]), handed to a sink as samples
//! ([`Exposition::capturing`], remote write), or streamed: [`Exposition::streaming`] hands
//! the text on in chunks of about a set size, so a scrape of a large fleet holds one chunk,
//! not the whole body. The bytes are the same either way; only where they go differs.

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

/// The exposition format of one body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    #[default]
    Text,
    /// OpenMetrics text 1.0.0.
    OpenMetrics,
}

impl Format {
    /// The format a scraper asked for in its `Accept` header: OpenMetrics when it lists
    /// `application/openmetrics-text` with a quality above zero and at least that of
    /// `text/plain`, the text format otherwise (also without a header).
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text;
        };
        let (mut om, mut text) = (0.0f64, 0.0f64);
        for part in accept.split(',') {
            let mut fields = part.split(';').map(str::trim);
            let media = fields.next().unwrap_or_default().to_ascii_lowercase();
            let q = fields
                .filter_map(|f| f.strip_prefix("q="))
                .find_map(|q| q.parse::<f64>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "application/openmetrics-text" => om = om.max(q),
                "text/plain" | "*/*" => text = text.max(q),
                _ => {}
            }
        }
        if om > 0.0 && om >= text {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }

    /// The `Content-Type` of a body in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Builds one exposition body.
#[derive(Default)]
pub struct Exposition {
    out: String,
    format: Format,
    /// Set when the samples go to a sink instead of the text (remote write).
    capture: Option<Capture>,
    /// A label set rendered by [`Exposition::sample`] for the sink.
    scratch: String,
    /// Set when the text goes out in chunks instead of being kept whole.
    stream: Option<Stream>,
    /// The stream's reader went away: nothing more is written.
    stopped: bool,
}

/// Receives each chunk of a streamed exposition, in order; returns `false` when the chunk
/// could not be delivered (the reader went away), and the exposition then writes nothing more.
pub type ChunkSink = Box<dyn FnMut(bytes::Bytes) -> bool + Send>;

/// Where a streaming exposition's chunks go, and how large they get.
struct Stream {
    sink: ChunkSink,
    /// A chunk is handed on once the text reaches this many bytes.
    chunk: usize,
}

/// Room kept in a chunk's buffer beyond its size, so the line that crosses it rarely
/// makes the buffer grow.
const CHUNK_SLACK: usize = 4096;

/// Receives each kept sample of a capturing exposition: its name, its label set rendered as
/// [`labels`] renders it (`{k="v",...}`, escaped; [`parse_rendered`] reads it back) and value.
pub type SampleSink = Box<dyn FnMut(&str, &str, f64) + Send>;

/// Which samples a capturing exposition keeps, and where they go.
struct Capture {
    keep: Box<dyn Fn(&str) -> bool + Send>,
    sink: SampleSink,
}

impl Exposition {
    /// An empty text-format body with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Exposition::new(Format::Text, capacity)
    }

    /// An empty body in `format` with room for `capacity` bytes.
    pub fn new(format: Format, capacity: usize) -> Self {
        Exposition {
            out: String::with_capacity(capacity),
            format,
            capture: None,
            scratch: String::new(),
            stream: None,
            stopped: false,
        }
    }

    /// A body in `format` handed to `sink` in chunks of about `chunk` bytes (a chunk ends
    /// with the line that reaches that size), the last one at [`Exposition::end_stream`].
    /// When the sink refuses a chunk the exposition stops: later writes do nothing, and
    /// [`Exposition::stopped`] tells a long writer to give up early.
    pub fn streaming(format: Format, chunk: usize, sink: ChunkSink) -> Self {
        let chunk = chunk.max(1);
        Exposition {
            out: String::with_capacity(chunk + CHUNK_SLACK),
            format,
            capture: None,
            scratch: String::new(),
            stream: Some(Stream { sink, chunk }),
            stopped: false,
        }
    }

    /// Whether a streaming exposition's reader went away (nothing more is written).
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Hands the text written so far to the stream's sink once it reaches a chunk.
    #[inline]
    fn written(&mut self) {
        if let Some(s) = &self.stream
            && self.out.len() >= s.chunk
        {
            self.flush(false);
        }
    }

    /// Sends the text written so far as one chunk, if there is any.
    fn flush(&mut self, last: bool) {
        let Some(s) = &mut self.stream else {
            return;
        };
        if self.stopped || self.out.is_empty() {
            return;
        }
        let next = if last {
            String::new()
        } else {
            String::with_capacity(s.chunk + CHUNK_SLACK)
        };
        let chunk = std::mem::replace(&mut self.out, next);
        if !(s.sink)(bytes::Bytes::from(chunk.into_bytes())) {
            self.stopped = true;
            self.out = String::new();
        }
    }

    /// An exposition that writes no text but hands the samples whose name `keep` accepts to
    /// `sink`: remote write exports the very families `/metrics` writes, from the same code.
    /// Label sets already rendered for the text ([`Exposition::sample_rendered`]) are passed
    /// as they are, so a consumer can key a cache on them without parsing.
    pub fn capturing(keep: impl Fn(&str) -> bool + Send + 'static, sink: SampleSink) -> Self {
        Exposition {
            out: String::new(),
            format: Format::Text,
            capture: Some(Capture {
                keep: Box::new(keep),
                sink,
            }),
            scratch: String::with_capacity(256),
            stream: None,
            stopped: false,
        }
    }

    /// Starts a family: its `# HELP` and `# TYPE` lines. `name` is the sample name (a
    /// counter's ends in `_total`); OpenMetrics names the family without that suffix.
    pub fn family(&mut self, name: &str, kind: MetricType, help: &str) {
        if self.capture.is_some() || self.stopped {
            return;
        }
        let family = match (self.format, kind) {
            (Format::OpenMetrics, MetricType::Counter) => {
                name.strip_suffix("_total").unwrap_or(name)
            }
            _ => name,
        };
        let help = escape_help(help, self.format);
        let _ = writeln!(self.out, "# HELP {family} {help}");
        let _ = writeln!(self.out, "# TYPE {family} {}", kind.as_str());
        self.written();
    }

    /// One sample line. Non-finite values are written as Prometheus spells them.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        if let Some(c) = &mut self.capture {
            if (c.keep)(name) {
                self.scratch.clear();
                render_labels_into(&mut self.scratch, labels);
                (c.sink)(name, &self.scratch, value);
            }
            return;
        }
        if self.stopped {
            return;
        }
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
        self.written();
    }

    /// One sample line whose label set was rendered once with [`labels`] (hot paths: the
    /// same port labels appear in several families).
    pub fn sample_rendered(&mut self, name: &str, rendered: &str, value: f64) {
        if let Some(c) = &mut self.capture {
            if (c.keep)(name) {
                (c.sink)(name, rendered, value);
            }
            return;
        }
        if self.stopped {
            return;
        }
        self.out.push_str(name);
        self.out.push_str(rendered);
        self.out.push(' ');
        write_value(&mut self.out, value);
        self.out.push('\n');
        self.written();
    }

    /// One sample line whose label set is `rendered` (from [`render_labels_split`]) with
    /// `extra` inserted at byte offset `at`: `extra` is one more label already rendered with
    /// its leading comma (`,direction="in"`). The label set written, or handed to a capture
    /// sink, is the one [`labels`] renders with that label in that place, so a port's labels
    /// are rendered once for the families with and without a direction.
    pub fn sample_spliced(
        &mut self,
        name: &str,
        rendered: &str,
        at: usize,
        extra: &str,
        value: f64,
    ) {
        let (head, tail) = rendered.split_at(at);
        if let Some(c) = &mut self.capture {
            if (c.keep)(name) {
                self.scratch.clear();
                self.scratch.push_str(head);
                self.scratch.push_str(extra);
                self.scratch.push_str(tail);
                (c.sink)(name, &self.scratch, value);
            }
            return;
        }
        if self.stopped {
            return;
        }
        self.out.push_str(name);
        self.out.push_str(head);
        self.out.push_str(extra);
        self.out.push_str(tail);
        self.out.push(' ');
        write_value(&mut self.out, value);
        self.out.push('\n');
        self.written();
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

    /// The finished body (OpenMetrics ends in `# EOF`). A streaming exposition sends the
    /// rest as its last chunk and returns an empty string (see [`Exposition::end_stream`]).
    pub fn finish(mut self) -> String {
        if self.format == Format::OpenMetrics {
            self.out.push_str("# EOF\n");
        }
        if self.stream.is_some() {
            self.flush(true);
            return String::new();
        }
        self.out
    }

    /// Ends a streaming exposition: `# EOF` in OpenMetrics, and the rest sent as the last
    /// chunk. `true` when the reader took every chunk, `false` when it went away first.
    pub fn end_stream(mut self) -> bool {
        if self.format == Format::OpenMetrics && !self.stopped {
            self.out.push_str("# EOF\n");
        }
        self.flush(true);
        !self.stopped
    }
}

/// A label set rendered as `{k="v",...}` with values escaped, for [`Exposition::sample_rendered`].
pub fn labels(labels: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(128);
    render_labels_into(&mut out, labels);
    out
}

/// Appends the label set of `head` then `tail` to `out`, as [`labels`] renders it, and
/// returns the offset in `out` between the two, where [`Exposition::sample_spliced`] inserts
/// a label. `head` must not be empty (the inserted label starts with a comma).
pub fn render_labels_split(
    out: &mut String,
    head: &[(&str, &str)],
    tail: &[(&str, &str)],
) -> usize {
    render_labels_into(out, head);
    out.pop();
    let at = out.len();
    for (k, v) in tail {
        out.push(',');
        push_label(out, k, v);
    }
    out.push('}');
    at
}

fn render_labels_into(out: &mut String, labels: &[(&str, &str)]) {
    out.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_label(out, k, v);
    }
    out.push('}');
}

/// Appends one `k="v"` pair, the value escaped.
fn push_label(out: &mut String, k: &str, v: &str) {
    out.push_str(k);
    out.push_str("=\"");
    escape_label_into(out, v);
    out.push('"');
}

/// The labels of a set rendered by [`labels`], unescaped.
pub fn parse_rendered(rendered: &str) -> Vec<(String, String)> {
    let inner = rendered
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if name.is_empty() || chars.next() != Some('"') {
            break;
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(e) => value.push(e),
                    None => {}
                },
                c => value.push(c),
            }
        }
        out.push((name, value));
        if chars.next() != Some(',') {
            break;
        }
    }
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

fn escape_help(h: &str, format: Format) -> String {
    let s = h.replace('\\', "\\\\").replace('\n', "\\n");
    match format {
        Format::Text => s,
        Format::OpenMetrics => s.replace('"', "\\\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_keeps_the_chosen_samples_with_unescaped_labels() {
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let g = got.clone();
        let mut e = Exposition::capturing(
            |n| n.starts_with("x_"),
            Box::new(move |n, l, v| {
                g.lock()
                    .unwrap()
                    .push((n.to_string(), parse_rendered(l), v))
            }),
        );
        e.family("x_total", MetricType::Counter, "A counter.");
        let tricky = "xe-0/0/1 \"a\"\\b\nc,d=e";
        e.sample_rendered("x_total", &labels(&[("port", tricky), ("k", "")]), 3.0);
        e.sample("x_total", &[("a", "b")], 1.5);
        e.sample("y_total", &[("a", "b")], 1.0);
        assert!(e.out.is_empty());
        let s = got.lock().unwrap().clone();
        assert_eq!(s.len(), 2, "{s:?}");
        assert_eq!(
            s[0].1,
            vec![
                ("port".to_string(), tricky.to_string()),
                ("k".to_string(), String::new())
            ]
        );
        assert_eq!(s[0].2, 3.0);
        assert_eq!(s[1].1, vec![("a".to_string(), "b".to_string())]);
    }

    #[test]
    fn a_spliced_label_set_is_the_one_rendered_whole() {
        let tricky = "xe-0/0/1 \"a\"\\b\nc";
        let whole = labels(&[("port", tricky), ("direction", "in"), ("role", "x,y")]);
        let mut rendered = String::from("junk");
        let at = render_labels_split(&mut rendered, &[("port", tricky)], &[("role", "x,y")]);
        let (set, at) = (&rendered[4..], at - 4);
        assert_eq!(set, labels(&[("port", tricky), ("role", "x,y")]));
        let mut e = Exposition::default();
        e.sample_spliced("x_total", set, at, ",direction=\"in\"", 2.0);
        assert_eq!(e.finish(), format!("x_total{whole} 2\n"));
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let g = got.clone();
        let mut e = Exposition::capturing(
            |_| true,
            Box::new(move |_, l, _| g.lock().unwrap().push(l.to_string())),
        );
        e.sample_spliced("x_total", set, at, ",direction=\"in\"", 2.0);
        assert_eq!(*got.lock().unwrap(), vec![whole]);
    }

    #[test]
    fn a_stream_sends_the_same_bytes_in_chunks_and_stops_when_refused() {
        let write = |e: &mut Exposition| {
            for f in 0..20 {
                let name = format!("f{f}_total");
                e.family(&name, MetricType::Counter, "A \"counter\".");
                for i in 0..50 {
                    e.sample(&name, &[("i", &i.to_string())], i as f64 * 1.5);
                }
            }
        };
        for format in [Format::Text, Format::OpenMetrics] {
            let mut whole = Exposition::new(format, 0);
            write(&mut whole);
            let whole = whole.finish();
            let chunks = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let c = chunks.clone();
            let mut e = Exposition::streaming(
                format,
                1000,
                Box::new(move |b| {
                    c.lock().unwrap().push(b);
                    true
                }),
            );
            write(&mut e);
            assert!(e.end_stream());
            let chunks = chunks.lock().unwrap();
            assert!(chunks.len() > 10, "{}", chunks.len());
            assert!(chunks.iter().all(|c| !c.is_empty() && c.len() < 1100));
            let joined: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
            assert_eq!(String::from_utf8(joined).unwrap(), whole);

            let offered = std::sync::Arc::new(std::sync::Mutex::new(0));
            let o = offered.clone();
            let mut e = Exposition::streaming(
                format,
                1000,
                Box::new(move |_| {
                    let mut n = o.lock().unwrap();
                    *n += 1;
                    *n < 2
                }),
            );
            write(&mut e);
            assert!(e.stopped());
            assert!(!e.end_stream());
            assert_eq!(
                *offered.lock().unwrap(),
                2,
                "nothing offered after the refusal"
            );
        }
    }

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
    fn openmetrics_names_counter_families_without_total_and_ends_in_eof() {
        let mut e = Exposition::new(Format::OpenMetrics, 0);
        e.family("x_bytes_total", MetricType::Counter, "Bytes \"seen\".");
        e.sample("x_bytes_total", &[("a", "b")], 3.0);
        e.family("y_ratio", MetricType::Gauge, "A ratio.");
        e.sample("y_ratio", &[], 0.5);
        let s = e.finish();
        assert_eq!(
            s,
            "# HELP x_bytes Bytes \\\"seen\\\".\n# TYPE x_bytes counter\n\
             x_bytes_total{a=\"b\"} 3\n# HELP y_ratio A ratio.\n# TYPE y_ratio gauge\n\
             y_ratio 0.5\n# EOF\n"
        );
    }

    #[test]
    fn negotiation_follows_the_accept_header() {
        // What Prometheus 2.x sends by default.
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                    version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prom)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Text);
        assert_eq!(
            Format::negotiate(Some("text/plain;q=0.9,application/openmetrics-text;q=0.5")),
            Format::Text
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=0")),
            Format::Text
        );
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
