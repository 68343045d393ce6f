//! The metric families of `/metrics`. Names and labels are a contract for the Grafana
//! dashboard and the Prometheus rules in `dist/`: rename nothing without them (and the
//! README's list of renamed metrics). Labels absent on a port are empty strings.
//!
//! Names follow the Prometheus conventions, checked by `promtool check metrics` with no
//! finding accepted: data in bytes (the base unit; `8 *` in a query gives bits), counters
//! end in `_total` (`_bytes_total`, `_packets_total`), rates in `_bytes_per_second`,
//! fractions in `_ratio`, times in `_seconds`. Every `# HELP` says what and in which unit.
//!
//! Aggregates: a product line or customer is the sum of its declared ports; a site is the sum
//! of its ports with role `uplink` (all its ports when it has none), so customer ports behind
//! an uplink are not counted twice (pitfall 19).

use super::exposition::{Exposition, Format, MetricType, render_labels_split};
use super::live::PortState;
use super::live::{Aggregate, Snapshot, qualities};
use crate::config::{PortKey, PortLabels, Topology};
use crate::store::EntityKind;
use std::collections::HashMap;

/// A stage's self-metrics, written into the same exposition (poller, store, outbox, alerts).
pub trait MetricsSource: Send + Sync {
    /// Appends whole families.
    fn write(&self, out: &mut Exposition);

    /// Readings of customers and product lines this source measures instead of ports (the
    /// flow collector: those known by address prefixes), written into the aggregate
    /// families beside the port ones. None by default.
    fn aggregates(&self) -> Vec<AggregateReading> {
        Vec::new()
    }
}

/// The last reading of a customer or product line measured by something other than its
/// ports (flows, for one known by address prefixes).
#[derive(Clone, Debug, PartialEq)]
pub struct AggregateReading {
    /// [`EntityKind::Customer`] or [`EntityKind::ProductLine`].
    pub kind: EntityKind,
    /// The customer id or product line name.
    pub name: String,
    /// Bytes per second (in, out) of its last interval; `None` while it is unknown.
    pub rates: Option<(f64, f64)>,
    /// Coverage (0 to 1) of that interval; 0 while it is unknown.
    pub coverage: f64,
}

/// Bytes of exposition text handed to the HTTP body at a time.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// Chunks rendered ahead of the client: with the one being written, a scrape holds at most
/// about `(QUEUED_CHUNKS + 1) * CHUNK_BYTES` of body text, whatever the fleet's size.
const QUEUED_CHUNKS: usize = 2;

/// How long the renderer waits for a client to take a chunk before it gives up on the scrape
/// (a stalled client would otherwise keep a blocking thread and a snapshot).
const STALL: std::time::Duration = std::time::Duration::from_secs(60);

/// `GET /metrics`: the exposition in the format the scraper's `Accept` header asks for
/// (OpenMetrics 1.0.0 or the text format 0.0.4), rendered off the async workers and streamed
/// in chunks of [`CHUNK_BYTES`] as the client reads them, so a scrape holds a bounded buffer
/// and not the whole body. The bytes are those of [`render_as`]. When the client goes away
/// the renderer stops; when the renderer fails or gives up mid-body, the body ends in an
/// error (the connection is cut) so that no truncated exposition passes for a whole one.
pub async fn handler(
    axum::extract::State(st): axum::extract::State<super::AppState>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse;
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept);
    let (tx, rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(QUEUED_CHUNKS);
    let rt = tokio::runtime::Handle::current();
    let renderer = tokio::task::spawn_blocking(move || {
        let send = move |chunk: bytes::Bytes| {
            matches!(
                rt.block_on(tokio::time::timeout(STALL, tx.send(chunk))),
                Ok(Ok(()))
            )
        };
        stream_as(
            &st.live.snapshot(),
            &st.sources,
            format,
            CHUNK_BYTES,
            Box::new(send),
        )
    });
    let body = ChunkBody {
        rx,
        renderer: Some(renderer),
    };
    (
        [(header::CONTENT_TYPE, format.content_type())],
        axum::body::Body::new(body),
    )
        .into_response()
}

/// The body of a streamed scrape: the renderer's chunks as they come, then its outcome.
struct ChunkBody {
    rx: tokio::sync::mpsc::Receiver<bytes::Bytes>,
    /// The renderer, until it has told how it ended.
    renderer: Option<tokio::task::JoinHandle<bool>>,
}

impl hyper::body::Body for ChunkBody {
    type Data = bytes::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, std::io::Error>>> {
        use std::task::Poll;
        if let Some(chunk) = std::task::ready!(self.rx.poll_recv(cx)) {
            return Poll::Ready(Some(Ok(hyper::body::Frame::data(chunk))));
        }
        // Every sender is gone: the renderer has returned (or failed); the body is whole
        // only when it says every chunk went out.
        let Some(renderer) = self.renderer.as_mut() else {
            return Poll::Ready(None);
        };
        let outcome = std::task::ready!(std::pin::Pin::new(renderer).poll(cx));
        self.renderer = None;
        match outcome {
            Ok(true) => Poll::Ready(None),
            Ok(false) => {
                tracing::warn!(
                    "/metrics: the client took no chunk for {STALL:?}; the scrape is cut short"
                );
                Poll::Ready(Some(Err(std::io::Error::other("scrape stalled"))))
            }
            Err(e) => {
                tracing::error!("/metrics: rendering failed mid-body: {e}");
                Poll::Ready(Some(Err(std::io::Error::other(format!(
                    "rendering metrics failed: {e}"
                )))))
            }
        }
    }
}

/// Renders the whole exposition in the text format 0.0.4.
pub fn render(snap: &Snapshot, sources: &[std::sync::Arc<dyn MetricsSource>]) -> String {
    render_as(snap, sources, Format::Text)
}

/// Renders the whole exposition in `format`.
pub fn render_as(
    snap: &Snapshot,
    sources: &[std::sync::Arc<dyn MetricsSource>],
    format: Format,
) -> String {
    let mut e = Exposition::new(format, 256 + snap.topology.port_count() * 1400);
    write_all(&mut e, snap, sources);
    e.finish()
}

/// Renders the exposition in `format` as [`render_as`] does, byte for byte, but hands it to
/// `sink` in chunks of about `chunk` bytes instead of keeping it whole. Stops as soon as the
/// sink refuses a chunk; `true` when every chunk was taken.
pub fn stream_as(
    snap: &Snapshot,
    sources: &[std::sync::Arc<dyn MetricsSource>],
    format: Format,
    chunk: usize,
    sink: super::exposition::ChunkSink,
) -> bool {
    let mut e = Exposition::streaming(format, chunk, sink);
    write_all(&mut e, snap, sources);
    let whole = e.end_stream();
    if !whole {
        tracing::debug!(
            "/metrics: the client went away (or stopped reading) before the end of the body"
        );
    }
    whole
}

/// Writes every family of `/metrics` into `e`: the one collection behind the scrape and
/// remote write (an [`Exposition::capturing`] keeps them as values).
pub fn write_all(
    e: &mut Exposition,
    snap: &Snapshot,
    sources: &[std::sync::Arc<dyn MetricsSource>],
) {
    let t = &snap.topology;
    // Configured ports, then ports attributed by ifAlias patterns; each port's state is
    // looked up and its label set rendered once, into one buffer for all ports, then written
    // into every family (with `direction` spliced in where the family has one).
    let configured = t.ports().map(|p| &p.labels);
    let mut rendered = String::with_capacity(t.port_count() * 96);
    let rows: Vec<PortRow<'_>> = configured
        .chain(snap.attributed.iter())
        .filter_map(|l| {
            let key = PortKey {
                switch: l.switch.clone(),
                port: l.port.clone(),
            };
            let st = snap.ports.get(&key)?;
            let start = rendered.len();
            let at = render_labels_split(&mut rendered, &port_head(l), &port_tail(l));
            Some(PortRow {
                st,
                start,
                at,
                end: rendered.len(),
            })
        })
        .collect();
    let pairs: [(&str, MetricType, &str, PortValue); 4] = [
        (
            "bandwatch_port_bytes_total",
            MetricType::Counter,
            "Bytes through the port in known intervals since bandwatch started (wrap- and \
             reset-corrected ifHCIn/OutOctets), by direction.",
            |st| {
                (
                    Some(st.in_octets_total as f64),
                    Some(st.out_octets_total as f64),
                )
            },
        ),
        (
            "bandwatch_port_packets_total",
            MetricType::Counter,
            "Unicast packets through the port in known intervals since bandwatch started \
             (ifHCIn/OutUcastPkts), by direction.",
            |st| {
                (
                    st.in_packets_total.map(|v| v as f64),
                    st.out_packets_total.map(|v| v as f64),
                )
            },
        ),
        (
            "bandwatch_port_bytes_per_second",
            MetricType::Gauge,
            "Last measured rate of the port in bytes per second (times 8 for bit/s), by \
             direction; absent while the last interval is unknown.",
            |st| (st.in_bps.map(bytes), st.out_bps.map(bytes)),
        ),
        (
            "bandwatch_port_packets_per_second",
            MetricType::Gauge,
            "Last measured unicast packet rate of the port in packets per second, by \
             direction; absent while unknown.",
            |st| (st.in_pps, st.out_pps),
        ),
    ];
    for (name, kind, help, get) in pairs {
        if e.stopped() {
            return;
        }
        e.family(name, kind, help);
        for r in &rows {
            let (i, o) = get(r.st);
            let (labels, at) = r.labels(&rendered);
            if let Some(v) = i {
                e.sample_spliced(name, labels, at, DIRECTION_IN, v);
            }
            if let Some(v) = o {
                e.sample_spliced(name, labels, at, DIRECTION_OUT, v);
            }
        }
    }
    e.family(
        "bandwatch_port_oper_up",
        MetricType::Gauge,
        "1 when the port's ifOperStatus is up, 0 otherwise; absent while unknown.",
    );
    for r in &rows {
        if let Some(up) = r.st.oper_up {
            e.sample_rendered(
                "bandwatch_port_oper_up",
                r.labels(&rendered).0,
                if up { 1.0 } else { 0.0 },
            );
        }
    }
    e.family(
        "bandwatch_port_speed_bytes_per_second",
        MetricType::Gauge,
        "Interface speed (ifHighSpeed) in bytes per second (times 8 for bit/s).",
    );
    for r in &rows {
        if let Some(sp) = r.st.speed_bps {
            e.sample_rendered(
                "bandwatch_port_speed_bytes_per_second",
                r.labels(&rendered).0,
                bytes(sp as f64),
            );
        }
    }

    drop(rows);
    drop(rendered);
    if e.stopped() {
        return;
    }

    super::maintenance::write_metrics(e, t, jiff::Timestamp::now());

    let readings: Vec<AggregateReading> = sources.iter().flat_map(|s| s.aggregates()).collect();
    let measured = |kind: EntityKind| -> HashMap<&str, &AggregateReading> {
        readings
            .iter()
            .filter(|r| r.kind == kind)
            .map(|r| (r.name.as_str(), r))
            .collect()
    };
    let lines: Vec<(&str, Vec<PortKey>)> = t
        .product_lines
        .values()
        .map(|pl| (pl.name.as_str(), pl.ports.clone()))
        .collect();
    let by_flows = measured(EntityKind::ProductLine);
    aggregate_family(e, snap, "product_line", "product line", &lines, &by_flows);
    let sites: Vec<(&str, Vec<PortKey>)> = t
        .sites
        .keys()
        .map(|s| (s.as_str(), site_ports(t, s)))
        .collect();
    aggregate_family(
        e,
        snap,
        "site",
        "site (its uplinks)",
        &sites,
        &HashMap::new(),
    );
    let customers: Vec<(&str, Vec<PortKey>)> = t
        .customers
        .values()
        .map(|c| (c.id.as_str(), c.ports.clone()))
        .collect();
    let by_flows = measured(EntityKind::Customer);
    aggregate_family(e, snap, "customer", "customer", &customers, &by_flows);

    e.family(
        "bandwatch_switch_up",
        MetricType::Gauge,
        "1 when the switch answered its last poll, 0 otherwise.",
    );
    for sw in &t.switches {
        if let Some(st) = snap.switches.get(&sw.name) {
            e.sample(
                "bandwatch_switch_up",
                &[("switch", &sw.name), ("site", &sw.site)],
                if st.up { 1.0 } else { 0.0 },
            );
        }
    }
    e.family(
        "bandwatch_switch_last_success_timestamp_seconds",
        MetricType::Gauge,
        "Time of the switch's last answered poll, in seconds since the Unix epoch.",
    );
    for sw in &t.switches {
        if let Some(ts) = snap.switches.get(&sw.name).and_then(|s| s.last_success) {
            e.sample(
                "bandwatch_switch_last_success_timestamp_seconds",
                &[("switch", &sw.name), ("site", &sw.site)],
                ts,
            );
        }
    }
    e.family(
        "bandwatch_samples_total",
        MetricType::Counter,
        "Port readings since bandwatch started, by quality flag (ok, first, wrapped, reset, bogus).",
    );
    for q in qualities() {
        let n = snap.samples_by_quality.get(q).copied().unwrap_or(0);
        e.sample("bandwatch_samples_total", &[("quality", q)], n as f64);
    }
    for s in sources {
        s.write(e);
    }
    e.family(
        "bandwatch_build_info",
        MetricType::Gauge,
        "Always 1; the version and the git revision it was built from are in the labels.",
    );
    e.sample(
        "bandwatch_build_info",
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("revision", crate::version::REVISION),
        ],
        1.0,
    );
}

/// A site's traffic ports: its uplinks, or every port of its switches when it has none.
pub fn site_ports(t: &Topology, site: &str) -> Vec<PortKey> {
    let all: Vec<&crate::config::Port> = t
        .switches
        .iter()
        .filter(|s| s.site == site)
        .flat_map(|s| s.ports.iter())
        .collect();
    let uplinks: Vec<&crate::config::Port> = all
        .iter()
        .copied()
        .filter(|p| p.labels.role.as_deref() == Some("uplink"))
        .collect();
    let chosen = if uplinks.is_empty() { all } else { uplinks };
    chosen.into_iter().map(|p| p.key()).collect()
}

/// One aggregate family and its coverage: the sum of each group's ports, or for a group
/// without ports that another source measures (`by_flows`: a customer or product line known
/// by prefixes), that source's last reading.
fn aggregate_family(
    e: &mut Exposition,
    snap: &Snapshot,
    label: &str,
    what: &str,
    groups: &[(&str, Vec<PortKey>)],
    by_flows: &HashMap<&str, &AggregateReading>,
) {
    let name = format!("bandwatch_{label}_bytes_per_second");
    // Customers and product lines may be known by prefixes (sites never are).
    let prefixed = label != "site";
    let flows_too = if prefixed {
        " (of one known by address prefixes, its last minute measured by flows)"
    } else {
        ""
    };
    e.family(
        &name,
        MetricType::Gauge,
        &format!(
            "Sum of the known rates of the {what}'s ports{flows_too} in bytes per second \
             (times 8 for bit/s), by direction; absent while none is known."
        ),
    );
    let aggs: Vec<_> = groups
        .iter()
        .map(|(n, m)| match by_flows.get(n) {
            Some(r) if m.is_empty() => {
                let (i, o) = r.rates.unwrap_or_default();
                let coverage = if r.rates.is_some() { r.coverage } else { 0.0 };
                (
                    *n,
                    Aggregate {
                        in_bps: i * 8.0,
                        out_bps: o * 8.0,
                        coverage,
                    },
                )
            }
            _ => (*n, snap.aggregate(m.iter())),
        })
        .collect();
    for (n, a) in &aggs {
        if a.coverage > 0.0 {
            e.sample(&name, &[(label, n), ("direction", "in")], bytes(a.in_bps));
            e.sample(&name, &[(label, n), ("direction", "out")], bytes(a.out_bps));
        }
    }
    let cov = format!("bandwatch_{label}_coverage_ratio");
    e.family(
        &cov,
        MetricType::Gauge,
        &format!(
            "Fraction (0 to 1) of the {what}'s ports whose last interval is known{}.",
            if prefixed {
                " (of one known by address prefixes: the share of its last flow minute that \
                 the configured exporters covered, 0 while that minute is unknown)"
            } else {
                ""
            }
        ),
    );
    for (n, a) in &aggs {
        e.sample(&cov, &[(label, n)], a.coverage);
    }
}

/// A port's labels before `direction` (in the families that have one).
fn port_head(l: &PortLabels) -> [(&'static str, &str); 3] {
    [
        ("site", &*l.site),
        ("switch", &*l.switch),
        ("port", &*l.port),
    ]
}

/// A port's labels after `direction`.
fn port_tail(l: &PortLabels) -> [(&'static str, &str); 3] {
    [
        ("product_line", l.product_line.as_deref().unwrap_or("")),
        ("customer", l.customer.as_deref().unwrap_or("")),
        ("role", l.role.as_deref().unwrap_or("")),
    ]
}

/// The `direction` label as spliced into a port's label set.
const DIRECTION_IN: &str = ",direction=\"in\"";
const DIRECTION_OUT: &str = ",direction=\"out\"";

/// Bytes per second from bits per second (the live view and the rules work in bit/s).
fn bytes(bits_per_second: f64) -> f64 {
    bits_per_second / 8.0
}

/// One port's state and where its label set is in the scrape's buffer of rendered labels.
struct PortRow<'a> {
    st: &'a PortState,
    /// `rendered[start..end]` is the label set without `direction`.
    start: usize,
    /// Where `direction` goes, an offset into `rendered`.
    at: usize,
    end: usize,
}

impl PortRow<'_> {
    /// The label set without `direction`, and the offset in it where `direction` goes.
    fn labels<'r>(&self, rendered: &'r str) -> (&'r str, usize) {
        (&rendered[self.start..self.end], self.at - self.start)
    }
}

/// Reads the (in, out) values of one port family from a port's state.
type PortValue = fn(&PortState) -> (Option<f64>, Option<f64>);
