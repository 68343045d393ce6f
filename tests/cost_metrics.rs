//! `bandwatch_customer_revenue_month` and `bandwatch_product_line_cost_month` over a real HTTP
//! scrape of `/metrics`, from half a month written through the real store writer into a real
//! SQLite file: month-to-date revenue of each priced customer and transit cost allocated to
//! each product line, with their currency, checked with a Prometheus text parser.

use crate::daemon_support;
use crate::report_support;

use std::sync::Arc;

use bandwatch::http::metrics::MetricsSource;
use bandwatch::http::sources::CostSource;
use bandwatch::http::{AppState, Health, LiveView, bind, serve};
use daemon_support::http_get;
use report_support::{Setup, day, write_steps};

const CONFIG: &str = r#"
[daemon]
data_dir = "var"
rules_dir = "rules"

[retention]
raw = "forever"
rollup_5m = "forever"

[snmp.default]
version = "2c"
community = "${BANDWATCH_TEST_COMMUNITY:-public}"

[[site]]
name = "s"

[[switch]]
name = "sw"
site = "s"
address = "127.0.0.1:16100"

[[product_line]]
name = "web"
[[product_line]]
name = "batch"

[[price_plan]]
name = "burst"
currency = "EUR"
commit = "500Mbps"
commit_price = 900.0
overage_price = 2.4

[[price_plan]]
name = "transit"
currency = "EUR"
commit = "1Gbps"
commit_price = 500.0
overage_price = 1.0

[[port]]
switch = "sw"
name = "up"
role = "uplink"
transit = { price_plan = "transit" }
[[port]]
switch = "sw"
name = "w1"
product_line = "web"
[[port]]
switch = "sw"
name = "b1"
product_line = "batch"

[[customer]]
id = "under"
price_plan = "burst"
ports = [{ switch = "sw", name = "w1" }]
[[customer]]
id = "over"
price_plan = "burst"
ports = [{ switch = "sw", name = "b1" }]
[[customer]]
id = "unpriced"
ports = [{ switch = "sw", name = "u1" }]
"#;

fn day_at(mbps: u64) -> u64 {
    mbps * 1_000_000 / 8 * 86_400
}

fn traffic(_sw: &str, port: &str, _t: i64) -> Option<(u64, u64)> {
    Some(match port {
        "up" => (day_at(1200), 0),
        "w1" => (day_at(300), 0),
        "b1" => (day_at(650), 0),
        "u1" => (day_at(50), 0),
        _ => (0, 0),
    })
}

/// The scrape's clock: the middle of September 2026, whose first half is written.
fn mid_september() -> jiff::Timestamp {
    jiff::Timestamp::from_second(day("2026-09-16")).unwrap()
}

fn value(body: &str, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let lines = body.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text");
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Gauge(v) => v,
            _ => f64::NAN,
        })
}

#[test]
fn scrape_exports_month_to_date_revenue_and_product_line_cost() {
    let setup = Setup::with_config(CONFIG);
    let db = setup.db();
    let Setup {
        dir: _dir, config, ..
    } = setup;
    write_steps(&db, &config, day("2026-09-01"), day("2026-09-16"), traffic);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = bandwatch::store::Store::open(&db, &config.retention).unwrap();
    let sources: Vec<Arc<dyn MetricsSource>> = vec![Arc::new(CostSource::with_clock(
        store.usage(),
        bandwatch::runtime::RuntimeHandle::of_config(config.clone()),
        mid_september,
    ))];
    let state = AppState {
        live: LiveView::new(Arc::new(config.topology.clone())),
        sources: Arc::new(sources),
        health: Health::default(),
        alerts: Default::default(),
        store: Some(bandwatch::http::StoreView::of(&store)),
        runtime: None,
        reload: None,
        usage: None,
    };
    let listener = rt.block_on(bind("127.0.0.1:0".parse().unwrap())).unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(serve(listener, state, std::future::pending()));

    let (code, body) = http_get(addr.port(), "/metrics").expect("no answer from /metrics");
    assert_eq!(code, 200);
    let revenue = |c: &str| {
        value(
            &body,
            "bandwatch_customer_revenue_month",
            &[("customer", c), ("currency", "EUR")],
        )
    };
    // Month to date: what the first half of September bills. Under the 500 Mbit/s commit:
    // the commit price; 650 Mbit/s at the 95th: 150 Mbit/s of overage at 2.4.
    assert_eq!(revenue("under"), Some(900.0), "{body}");
    let over = revenue("over").unwrap();
    assert!((over - 1260.0).abs() < 1e-6, "{over}");
    // No price, no revenue series (never a zero).
    assert_eq!(revenue("unpriced"), None);
    // The uplink: 1200 Mbit/s at the 95th = 500 + 200 x 1.0; the product lines share it by
    // their traffic through the site, 300 : 650.
    let cost = |pl: &str| {
        value(
            &body,
            "bandwatch_product_line_cost_month",
            &[("product_line", pl), ("currency", "EUR")],
        )
        .unwrap()
    };
    assert!((cost("web") - 700.0 * 300.0 / 950.0).abs() < 1e-6, "{body}");
    assert!(
        (cost("batch") - 700.0 * 650.0 / 950.0).abs() < 1e-6,
        "{body}"
    );
    assert!(body.contains("# TYPE bandwatch_customer_revenue_month gauge"));
}
