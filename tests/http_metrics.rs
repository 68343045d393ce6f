//! `/metrics`, `/healthz` and `/api/v1/topology` over a real HTTP connection, with the live
//! view fed by sweeps; the body is checked with a Prometheus text parser and, where installed
//! (always in CI), with Prometheus's own `promtool check metrics`, which must report nothing.
//! OpenMetrics when the scraper asks for it; `/-/healthy` and `/-/ready`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use crate::daemon_support;

use bandwatch::config::{self, SourceFile, Topology};
use bandwatch::http::{AppState, Health, LiveView, bind, serve};
use bandwatch::poll::{
    Delta, OperStatus, PortOutcome, PortReading, PortResult, Quality, Sweep, SweepStatus,
    UnknownReason,
};
use daemon_support::promtool_check;

const CONFIG: &str = r#"
[snmp.default]
version = "2c"
community = "${BW_T_COMMUNITY:-public}"

[[site]]
name = "bj-1"

[[switch]]
name = "sw1"
site = "bj-1"
address = "127.0.0.1:16100"

[[product_line]]
name = "cdn"

[[port]]
switch = "sw1"
name = "xe-0/0/1"
product_line = "cdn"
role = "uplink"

[[port]]
switch = "sw1"
name = "xe-0/0/2"
product_line = "cdn"
role = "uplink"

[[customer]]
id = "acme \"quoted\""
ports = [{ switch = "sw1", name = "ge-0/0/5" }]
"#;

fn topology(text: &str) -> Topology {
    let src = SourceFile {
        path: "test.toml".into(),
        text: text.into(),
    };
    match config::load_source(&src) {
        Ok(l) => l.config.topology,
        Err(d) => panic!("{d}"),
    }
}

fn reading(quality: Quality, in_octets: u64, out_octets: u64) -> PortOutcome {
    let delta = quality.has_delta().then_some(Delta {
        dt_ms: 10_000,
        in_octets,
        out_octets,
        in_packets: Some(1000),
        out_packets: None,
    });
    PortOutcome::Reading(PortReading {
        if_index: 3,
        oper_status: OperStatus::Up,
        speed_bps: 10_000_000_000,
        quality,
        delta,
    })
}

fn sweep(ports: Vec<(&str, PortOutcome)>) -> Sweep {
    Sweep {
        switch: "sw1".into(),
        time: jiff::Timestamp::now(),
        status: SweepStatus::Ok,
        sys_uptime: Some(1000),
        ports: ports
            .into_iter()
            .map(|(p, o)| PortResult {
                port: p.into(),
                outcome: o,
            })
            .collect(),
    }
}

fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let (code, _, body) = get_with(addr, path, &[]);
    (code, body)
}

/// A GET with extra request headers: status, response head, body.
fn get_with(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: test\r\n").unwrap();
    for (k, v) in headers {
        write!(s, "{k}: {v}\r\n").unwrap();
    }
    write!(s, "\r\n").unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let (head, body) = buf.split_once("\r\n\r\n").unwrap();
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, head.to_string(), body.to_string())
}

struct Server {
    addr: std::net::SocketAddr,
    live: LiveView,
    health: Health,
    _rt: tokio::runtime::Runtime,
}

fn start(topo: Topology) -> Server {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let live = LiveView::new(Arc::new(topo));
    let health = Health::default();
    health.set("poller", true, "running");
    let state = AppState {
        live: live.clone(),
        sources: Arc::new(Vec::new()),
        health: health.clone(),
        alerts: Default::default(),
        store: None,
        usage: None,
        runtime: None,
        reload: None,
    };
    let listener = rt.block_on(bind("127.0.0.1:0".parse().unwrap())).unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(serve(listener, state, std::future::pending()));
    Server {
        addr,
        live,
        health,
        _rt: rt,
    }
}

fn samples(body: &str) -> Vec<prometheus_parse::Sample> {
    let lines = body.lines().map(|l| Ok(l.to_string()));
    prometheus_parse::Scrape::parse(lines)
        .expect("valid Prometheus text")
        .samples
}

fn value_of(
    samples: &[prometheus_parse::Sample],
    metric: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

#[test]
fn scrape_reports_rates_unknowns_and_coverage() {
    let srv = start(topology(CONFIG));
    srv.live.apply(&sweep(vec![
        ("xe-0/0/1", reading(Quality::Ok, 12_500_000, 2_500_000)),
        ("xe-0/0/2", PortOutcome::Unknown(UnknownReason::Timeout)),
        ("ge-0/0/5", reading(Quality::First, 0, 0)),
    ]));
    let (code, body) = get(srv.addr, "/metrics");
    assert_eq!(code, 200);
    let s = samples(&body);
    // 12.5 MB in 10 s = 1.25 MB/s (10 Mbit/s), with the full contract label set (absent
    // labels are "").
    let labels = [
        ("site", "bj-1"),
        ("switch", "sw1"),
        ("port", "xe-0/0/1"),
        ("direction", "in"),
        ("product_line", "cdn"),
        ("customer", ""),
        ("role", "uplink"),
    ];
    assert_eq!(
        value_of(&s, "bandwatch_port_bytes_per_second", &labels),
        Some(1_250_000.0)
    );
    assert_eq!(
        value_of(&s, "bandwatch_port_bytes_total", &labels),
        Some(12_500_000.0)
    );
    assert_eq!(
        value_of(&s, "bandwatch_port_packets_per_second", &labels),
        Some(100.0)
    );
    assert_eq!(
        value_of(&s, "bandwatch_port_packets_total", &labels),
        Some(1000.0)
    );
    // The switch reports no outbound packet counter: no series, never a zero.
    assert_eq!(
        value_of(
            &s,
            "bandwatch_port_packets_total",
            &[("port", "xe-0/0/1"), ("direction", "out")]
        ),
        None
    );
    // 10 Gbit/s is 1.25 GB/s.
    assert_eq!(
        value_of(
            &s,
            "bandwatch_port_speed_bytes_per_second",
            &[("port", "xe-0/0/1")]
        ),
        Some(1_250_000_000.0)
    );
    // The unknown port has no rate at all, never a zero.
    assert_eq!(
        value_of(
            &s,
            "bandwatch_port_bytes_per_second",
            &[("port", "xe-0/0/2")]
        ),
        None
    );
    // The first reading of a port has no delta yet: no rate either, but its status is known.
    assert_eq!(
        value_of(
            &s,
            "bandwatch_port_bytes_per_second",
            &[("port", "ge-0/0/5")]
        ),
        None
    );
    assert_eq!(
        value_of(&s, "bandwatch_port_oper_up", &[("port", "ge-0/0/5")]),
        Some(1.0)
    );
    // The product line is half known: its sum says so through the coverage ratio.
    assert_eq!(
        value_of(
            &s,
            "bandwatch_product_line_coverage_ratio",
            &[("product_line", "cdn")]
        ),
        Some(0.5)
    );
    assert_eq!(
        value_of(
            &s,
            "bandwatch_product_line_bytes_per_second",
            &[("product_line", "cdn"), ("direction", "out")]
        ),
        Some(250_000.0)
    );
    // The site counts its uplinks only.
    assert_eq!(
        value_of(
            &s,
            "bandwatch_site_bytes_per_second",
            &[("site", "bj-1"), ("direction", "in")]
        ),
        Some(1_250_000.0)
    );
    // A label value with quotes survives escaping.
    assert!(
        body.contains("bandwatch_customer_coverage_ratio{customer=\"acme \\\"quoted\\\"\"} 0\n"),
        "{body}"
    );
    assert_eq!(
        value_of(&s, "bandwatch_samples_total", &[("quality", "ok")]),
        Some(1.0)
    );
    assert_eq!(
        value_of(
            &s,
            "bandwatch_switch_up",
            &[("switch", "sw1"), ("site", "bj-1")]
        ),
        Some(1.0)
    );
    assert!(body.contains("bandwatch_build_info{version=\""));
    assert!(body.contains(&format!("revision=\"{}\"", bandwatch::version::REVISION)));
    assert!(!body.contains("# EOF"), "the text format has no EOF marker");
    promtool_check(&body);
}

#[test]
fn openmetrics_when_the_scraper_asks_for_it() {
    let srv = start(topology(CONFIG));
    srv.live.apply(&sweep(vec![(
        "xe-0/0/1",
        reading(Quality::Ok, 12_500_000, 2_500_000),
    )]));
    // What Prometheus 2.x sends by default.
    let accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                  version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let (code, head, body) = get_with(srv.addr, "/metrics", &[("Accept", accept)]);
    assert_eq!(code, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text; version=1.0.0; charset=utf-8"),
        "{head}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    // A counter family is named without `_total`; its samples keep it.
    assert!(
        body.contains("# TYPE bandwatch_port_bytes counter\n"),
        "{body}"
    );
    assert!(
        body.contains("\nbandwatch_port_bytes_total{site=\"bj-1\""),
        "{body}"
    );
    assert!(
        !body.contains("# TYPE bandwatch_port_bytes_total"),
        "{body}"
    );
    // A gauge keeps its name.
    assert!(body.contains("# TYPE bandwatch_port_bytes_per_second gauge\n"));
    // Without the header, the text format.
    let (_, head, body) = get_with(srv.addr, "/metrics", &[]);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
        "{head}"
    );
    assert!(body.contains("# TYPE bandwatch_port_bytes_total counter\n"));
}

#[test]
fn healthy_and_ready_as_prometheus_names_them() {
    let srv = start(topology(CONFIG));
    let (code, body) = get(srv.addr, "/-/healthy");
    assert_eq!((code, body.as_str()), (200, "bandwatch is Healthy.\n"));
    let (code, body) = get(srv.addr, "/-/ready");
    assert_eq!((code, body.as_str()), (200, "bandwatch is Ready.\n"));
    srv.health.set("store_writer", false, "disk full");
    let (code, body) = get(srv.addr, "/-/ready");
    assert_eq!(code, 503);
    assert!(body.contains("store_writer: disk full"), "{body}");
    // Liveness does not depend on the parts: the process still serves.
    assert_eq!(get(srv.addr, "/-/healthy").0, 200);
    assert_eq!(get(srv.addr, "/healthz").0, 503);
}

#[test]
fn octet_counters_sum_known_deltas_across_a_reset() {
    let srv = start(topology(CONFIG));
    srv.live
        .apply(&sweep(vec![("xe-0/0/1", reading(Quality::Ok, 1000, 10))]));
    srv.live
        .apply(&sweep(vec![("xe-0/0/1", reading(Quality::Reset, 0, 0))]));
    srv.live
        .apply(&sweep(vec![("xe-0/0/1", reading(Quality::Ok, 500, 5))]));
    let (_, body) = get(srv.addr, "/metrics");
    let s = samples(&body);
    let v = value_of(
        &s,
        "bandwatch_port_bytes_total",
        &[("port", "xe-0/0/1"), ("direction", "in")],
    );
    assert_eq!(
        v,
        Some(1500.0),
        "a reset adds nothing and never goes backwards"
    );
}

#[test]
fn removed_port_vanishes_after_reload() {
    let srv = start(topology(CONFIG));
    srv.live.apply(&sweep(vec![
        ("xe-0/0/1", reading(Quality::Ok, 1000, 10)),
        ("xe-0/0/2", reading(Quality::Ok, 1000, 10)),
    ]));
    let (_, before) = get(srv.addr, "/metrics");
    assert!(before.contains("port=\"xe-0/0/2\""));
    let reduced = CONFIG.replace(
        "[[port]]\nswitch = \"sw1\"\nname = \"xe-0/0/2\"\nproduct_line = \"cdn\"\nrole = \"uplink\"\n",
        "",
    );
    assert_ne!(reduced, CONFIG);
    srv.live.set_topology(Arc::new(topology(&reduced)));
    let (_, after) = get(srv.addr, "/metrics");
    assert!(!after.contains("port=\"xe-0/0/2\""), "{after}");
    assert!(after.contains("port=\"xe-0/0/1\""));
}

#[test]
fn healthz_and_topology() {
    let srv = start(topology(CONFIG));
    let (code, body) = get(srv.addr, "/healthz");
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["parts"]["poller"]["alive"], true);
    srv.health.set("store_writer", false, "disk full");
    let (code, body) = get(srv.addr, "/healthz");
    assert_eq!(code, 503, "{body}");
    let (code, body) = get(srv.addr, "/api/v1/topology");
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["switches"][0]["name"], "sw1");
    assert_eq!(
        v["product_lines"]["cdn"]["ports"]
            .as_array()
            .map(|a| a.len()),
        Some(2)
    );
    assert!(
        !body.contains("public"),
        "no community in the topology JSON"
    );
}
