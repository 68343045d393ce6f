//! The metric families of `/metrics`. Names and labels are a contract for the Grafana
//! dashboard in `dist/grafana/`: rename nothing. Labels absent on a port are empty strings.
//!
//! Aggregates: a product line or customer is the sum of its declared ports; a site is the sum
//! of its ports with role `uplink` (all its ports when it has none), so customer ports behind
//! an uplink are not counted twice (pitfall 19).

use super::exposition::{Exposition, MetricType, labels};
use super::live::PortState;
use super::live::{Snapshot, qualities};
use crate::config::{PortKey, PortLabels, Topology};

/// A stage's self-metrics, written into the same exposition (poller, store, outbox, alerts).
pub trait MetricsSource: Send + Sync {
    /// Appends whole families.
    fn write(&self, out: &mut Exposition);
}

/// Renders the whole exposition.
pub fn render(snap: &Snapshot, sources: &[std::sync::Arc<dyn MetricsSource>]) -> String {
    let t = &snap.topology;
    let mut e = Exposition::with_capacity(256 + t.port_count() * 1200);
    // Configured ports, then ports attributed by ifAlias patterns; each port's state is
    // looked up and its three label sets rendered once, then written into every family.
    let configured = t.ports().map(|p| &p.labels);
    let rows: Vec<PortRow<'_>> = configured
        .chain(snap.attributed.iter())
        .filter_map(|l| {
            let key = PortKey {
                switch: l.switch.clone(),
                port: l.port.clone(),
            };
            let st = snap.ports.get(&key)?;
            Some(PortRow {
                st,
                in_l: labels(&port_labels(l, Some("in"))),
                out_l: labels(&port_labels(l, Some("out"))),
                plain: labels(&port_labels(l, None)),
            })
        })
        .collect();
    let pairs: [(&str, MetricType, &str, PortValue); 3] = [
        (
            "bandwatch_port_octets_total",
            MetricType::Counter,
            "Known octets through the port since bandwatch started, wrap- and reset-corrected.",
            |st| {
                (
                    Some(st.in_octets_total as f64),
                    Some(st.out_octets_total as f64),
                )
            },
        ),
        (
            "bandwatch_port_bits_per_second",
            MetricType::Gauge,
            "Last measured rate of the port; absent while the last interval is unknown.",
            |st| (st.in_bps, st.out_bps),
        ),
        (
            "bandwatch_port_packets_per_second",
            MetricType::Gauge,
            "Last measured unicast packet rate of the port; absent while unknown.",
            |st| (st.in_pps, st.out_pps),
        ),
    ];
    for (name, kind, help, get) in pairs {
        e.family(name, kind, help);
        for r in &rows {
            let (i, o) = get(r.st);
            if let Some(v) = i {
                e.sample_rendered(name, &r.in_l, v);
            }
            if let Some(v) = o {
                e.sample_rendered(name, &r.out_l, v);
            }
        }
    }
    e.family(
        "bandwatch_port_oper_up",
        MetricType::Gauge,
        "1 when ifOperStatus is up, 0 otherwise.",
    );
    for r in &rows {
        if let Some(up) = r.st.oper_up {
            e.sample_rendered(
                "bandwatch_port_oper_up",
                &r.plain,
                if up { 1.0 } else { 0.0 },
            );
        }
    }
    e.family(
        "bandwatch_port_speed_bits_per_second",
        MetricType::Gauge,
        "Interface speed (ifHighSpeed) in bits per second.",
    );
    for r in &rows {
        if let Some(sp) = r.st.speed_bps {
            e.sample_rendered("bandwatch_port_speed_bits_per_second", &r.plain, sp as f64);
        }
    }

    let lines: Vec<(&str, Vec<PortKey>)> = t
        .product_lines
        .values()
        .map(|pl| (pl.name.as_str(), pl.ports.clone()))
        .collect();
    aggregate_family(&mut e, snap, "product_line", "product line", &lines);
    let sites: Vec<(&str, Vec<PortKey>)> = t
        .sites
        .keys()
        .map(|s| (s.as_str(), site_ports(t, s)))
        .collect();
    aggregate_family(&mut e, snap, "site", "site (its uplinks)", &sites);
    let customers: Vec<(&str, Vec<PortKey>)> = t
        .customers
        .values()
        .map(|c| (c.id.as_str(), c.ports.clone()))
        .collect();
    aggregate_family(&mut e, snap, "customer", "customer", &customers);

    e.family(
        "bandwatch_switch_up",
        MetricType::Gauge,
        "1 when the switch answered its last poll.",
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
        "Unix time of the switch's last answered poll.",
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
        "Port readings by quality flag.",
    );
    for q in qualities() {
        let n = snap.samples_by_quality.get(q).copied().unwrap_or(0);
        e.sample("bandwatch_samples_total", &[("quality", q)], n as f64);
    }
    for s in sources {
        s.write(&mut e);
    }
    e.family(
        "bandwatch_build_info",
        MetricType::Gauge,
        "Always 1; the version is in the label.",
    );
    e.sample(
        "bandwatch_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    e.finish()
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

fn aggregate_family(
    e: &mut Exposition,
    snap: &Snapshot,
    label: &str,
    what: &str,
    groups: &[(&str, Vec<PortKey>)],
) {
    let name = format!("bandwatch_{label}_bits_per_second");
    e.family(
        &name,
        MetricType::Gauge,
        &format!("Sum of the known rates of the {what}'s ports."),
    );
    let aggs: Vec<_> = groups
        .iter()
        .map(|(n, m)| (*n, snap.aggregate(m.iter())))
        .collect();
    for (n, a) in &aggs {
        if a.coverage > 0.0 {
            e.sample(&name, &[(label, n), ("direction", "in")], a.in_bps);
            e.sample(&name, &[(label, n), ("direction", "out")], a.out_bps);
        }
    }
    let cov = format!("bandwatch_{label}_coverage_ratio");
    e.family(
        &cov,
        MetricType::Gauge,
        &format!("Fraction of the {what}'s ports whose last interval is known."),
    );
    for (n, a) in &aggs {
        e.sample(&cov, &[(label, n)], a.coverage);
    }
}

fn port_labels<'a>(l: &'a PortLabels, direction: Option<&'a str>) -> Vec<(&'static str, &'a str)> {
    let mut v = vec![
        ("site", l.site.as_str()),
        ("switch", l.switch.as_str()),
        ("port", l.port.as_str()),
    ];
    if let Some(d) = direction {
        v.push(("direction", d));
    }
    v.push(("product_line", l.product_line.as_deref().unwrap_or("")));
    v.push(("customer", l.customer.as_deref().unwrap_or("")));
    v.push(("role", l.role.as_deref().unwrap_or("")));
    v
}

/// One port's state and its label sets, rendered once per scrape.
struct PortRow<'a> {
    st: &'a PortState,
    in_l: String,
    out_l: String,
    plain: String,
}

/// Reads the (in, out) values of one port family from a port's state.
type PortValue = fn(&PortState) -> (Option<f64>, Option<f64>);
