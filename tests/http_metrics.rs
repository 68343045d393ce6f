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

/// One switch with `n` ports, every tenth a customer's (whose id needs escaping), every
/// other one a product line's, so a scrape's body runs to many chunks of the stream.
fn fleet(n: usize) -> String {
    let mut t = String::from(
        "[snmp.default]\nversion = \"2c\"\ncommunity = \"${BW_T_COMMUNITY:-public}\"\n[[site]]\nname = \"bj-1\"\n\
         [[switch]]\nname = \"sw1\"\nsite = \"bj-1\"\naddress = \"127.0.0.1:16100\"\n\
         [[product_line]]\nname = \"cdn\"\n",
    );
    for p in 0..n {
        t.push_str(&format!(
            "[[port]]\nswitch = \"sw1\"\nname = \"xe-1/0/{p}\"\n"
        ));
        if p % 2 == 0 {
            t.push_str("product_line = \"cdn\"\n");
        }
    }
    for p in (0..n).step_by(10) {
        t.push_str(&format!(
            "[[customer]]\nid = \"acme \\\"{p}\\\"\"\nports = [{{ switch = \"sw1\", name = \"xe-1/0/{p}\" }}]\n"
        ));
    }
    t
}

/// A reading for every port of [`fleet`].
fn fleet_sweep(n: usize) -> Sweep {
    let names: Vec<String> = (0..n).map(|p| format!("xe-1/0/{p}")).collect();
    sweep(
        names
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let i = i as u64;
                (
                    p.as_str(),
                    reading(Quality::Ok, 1_000_003 * i, 7_000_001 * i),
                )
            })
            .collect(),
    )
}

/// A scrape through hyper's HTTP/1.1 client: the response's headers, the body and the
/// number of data frames it came in.
fn scrape_http11(
    addr: std::net::SocketAddr,
    accept: Option<&str>,
) -> (hyper::HeaderMap, String, usize) {
    use http_body_util::BodyExt as _;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut tx, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
                .await
                .unwrap();
        tokio::spawn(conn);
        let mut req = hyper::Request::get("/metrics").header("host", "test");
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        let req = req
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let resp = tx.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        let headers = resp.headers().clone();
        let mut body = resp.into_body();
        let (mut bytes, mut frames) = (Vec::new(), 0);
        while let Some(frame) = body.frame().await {
            if let Some(d) = frame.unwrap().data_ref() {
                frames += 1;
                bytes.extend_from_slice(d);
            }
        }
        (headers, String::from_utf8(bytes).unwrap(), frames)
    })
}

#[test]
fn a_large_scrape_is_streamed_with_the_bytes_of_the_whole_rendering() {
    use bandwatch::http::exposition::Format;
    use bandwatch::http::metrics::{CHUNK_BYTES, render_as};
    let n = 1200;
    let srv = start(topology(&fleet(n)));
    srv.live.apply(&fleet_sweep(n));
    let om = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
    for (accept, format) in [(None, Format::Text), (Some(om), Format::OpenMetrics)] {
        let (headers, body, frames) = scrape_http11(srv.addr, accept);
        let whole = render_as(&srv.live.snapshot(), &[], format);
        assert!(
            whole.len() > 8 * CHUNK_BYTES,
            "the body spans several chunks: {} bytes",
            whole.len()
        );
        // Streamed: chunked transfer, no length known up front.
        assert_eq!(
            headers.get("transfer-encoding").map(|v| v.as_bytes()),
            Some(&b"chunked"[..]),
            "{headers:?}"
        );
        assert!(headers.get("content-length").is_none(), "{headers:?}");
        assert!(frames > 1, "{frames} frames");
        assert_eq!(body.len(), whole.len(), "{format:?}");
        assert!(body == whole, "{format:?}: the streamed body differs");
        let s = samples(&body);
        let per_port = |m: &str| s.iter().filter(|x| x.metric == m).count();
        assert_eq!(per_port("bandwatch_port_bytes_total"), 2 * n);
        assert_eq!(per_port("bandwatch_port_oper_up"), n);
        assert_eq!(
            value_of(
                &s,
                "bandwatch_port_bytes_total",
                &[("port", "xe-1/0/10"), ("direction", "out")]
            ),
            Some(70_000_010.0)
        );
        assert!(
            body.contains(
                "bandwatch_port_bytes_total{site=\"bj-1\",switch=\"sw1\",port=\"xe-1/0/10\",\
                 direction=\"out\",product_line=\"cdn\",customer=\"acme \\\"10\\\"\",role=\"\"} \
                 70000010\n"
            ),
            "the customer's id is escaped in the port's labels"
        );
        match format {
            Format::OpenMetrics => assert!(body.ends_with("\n# EOF\n")),
            Format::Text => {
                assert!(!body.contains("# EOF"));
                promtool_check(&body);
            }
        }
    }
}

#[test]
fn a_client_that_leaves_mid_body_stops_the_stream_and_the_next_scrape_is_whole() {
    let n = 1200;
    let srv = start(topology(&fleet(n)));
    srv.live.apply(&fleet_sweep(n));
    for _ in 0..3 {
        let mut s = TcpStream::connect(srv.addr).unwrap();
        write!(s, "GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
        let mut first = [0u8; 4096];
        s.read_exact(&mut first).unwrap();
        assert!(first.starts_with(b"HTTP/1.1 200"));
        drop(s);
    }
    let (headers, body, _) = scrape_http11(srv.addr, None);
    assert!(headers.get("transfer-encoding").is_some());
    let s = samples(&body);
    assert_eq!(
        s.iter()
            .filter(|x| x.metric == "bandwatch_port_bytes_total")
            .count(),
        2 * n
    );
    assert!(body.contains("bandwatch_build_info{"), "the body is whole");
}

#[test]
fn the_renderer_stops_when_the_reader_refuses_a_chunk() {
    use bandwatch::http::exposition::Format;
    use bandwatch::http::metrics::{render_as, stream_as};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let n = 1200;
    let live = LiveView::new(Arc::new(topology(&fleet(n))));
    live.apply(&fleet_sweep(n));
    let snap = live.snapshot();
    for format in [Format::Text, Format::OpenMetrics] {
        // Whole: the chunks joined are the rendering, each about the chunk size.
        let chunks = Arc::new(std::sync::Mutex::new(Vec::new()));
        let c = chunks.clone();
        let whole = stream_as(
            &snap,
            &[],
            format,
            16 * 1024,
            Box::new(move |b| {
                c.lock().unwrap().push(b);
                true
            }),
        );
        assert!(whole);
        let chunks = chunks.lock().unwrap();
        assert!(chunks.len() > 4, "{} chunks", chunks.len());
        assert!(
            chunks
                .iter()
                .all(|b| b.len() < 16 * 1024 + 1024 && !b.is_empty())
        );
        let joined: Vec<u8> = chunks.iter().flat_map(|b| b.iter().copied()).collect();
        assert!(joined == render_as(&snap, &[], format).into_bytes());
        // Refused at the third chunk: nothing is offered after it.
        let offered = Arc::new(AtomicUsize::new(0));
        let o = offered.clone();
        let whole = stream_as(
            &snap,
            &[],
            format,
            16 * 1024,
            Box::new(move |_| o.fetch_add(1, Ordering::Relaxed) < 2),
        );
        assert!(!whole);
        assert_eq!(offered.load(Ordering::Relaxed), 3);
    }
}
