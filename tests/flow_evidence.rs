//! Attack evidence reaches the alert's notice: flows a real UDP collector received from a
//! switch are summarised and classified, and the firing notice of a spike on that switch's
//! port (enriched as the rules thread does it) carries "likely NTP reflection toward ...
//! (customer)" in its text and HTML, and so does a spike on a customer known only by its
//! prefixes; a resolved notice and a non-spike rule carry nothing.

use crate::flow_support;

use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bandwatch::config::{self, SourceFile};
use bandwatch::flow::collector::ModelSource;
use bandwatch::flow::evidence::FlowEvidence;
use bandwatch::flow::{Collector, Evidence, FlowMetrics, FlowModel};
use bandwatch::notify::render::{Envelope, html_body, text_body};
use bandwatch::notify::{Enricher, NoticeKind, Severity};
use bandwatch::rules::event::AlertEvent;
use bandwatch::rules::file::parse_source;
use bandwatch::store::{FlowSink, FlowSlot, Store, StoreError};
use flow_support::*;

struct Discard;
impl FlowSink for Discard {
    fn submit_flows(&self, _: Vec<FlowSlot>) -> Result<(), StoreError> {
        Ok(())
    }
}

const CONFIG: &str = r#"
[snmp.default]
version = "2c"
community = "${BANDWATCH_FLOW_TEST_COMMUNITY:-public}"

[[route]]
name = "ops"
email = ["ops@example.net"]

[[site]]
name = "dc1"

[[switch]]
name = "edge-1"
site = "dc1"
address = "127.0.0.1:161"

[[port]]
switch = "edge-1"
name = "xe-0/0/1"
role = "uplink"

[[customer]]
id = "acme"
prefixes = ["203.0.113.0/24"]

[flow]
listen = ["127.0.0.1:0"]

[[flow.exporter]]
switch = "edge-1"
"#;

const RULES: &str = r#"
[[rule]]
name = "uplink-attack"
kind = "spike"
scope = "port"
match = { role = "uplink" }
metric = "in_bps"
baseline = "seasonal"
history = "14d"
season = "1d"
factor = 3.0
min_delta = "200Mbps"
for = "1m"
severity = "critical"
notify = ["ops"]

[[rule]]
name = "customer-surge"
kind = "spike"
scope = "customer"
metric = "total_bps"
baseline = "seasonal"
history = "14d"
season = "1d"
factor = 5.0
min_delta = "100Mbps"
for = "3m"
severity = "warning"
notify = ["ops"]

[[rule]]
name = "uplink-busy"
kind = "threshold"
scope = "port"
metric = "utilization"
above = 0.9
severity = "warning"
notify = ["ops"]
"#;

const FIELDS: &[Field] = &[(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (1, 8), (2, 8)];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spike_notice_names_the_attack_and_its_target() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bandwatch.toml");
    std::fs::write(&path, CONFIG).unwrap();
    let c = config::load(&path)
        .map_err(|d| d.to_string())
        .unwrap()
        .config;
    let rules_path = dir.path().join("traffic.toml");
    std::fs::write(&rules_path, RULES).unwrap();
    let (rules, diags) = parse_source(
        &SourceFile::read(&rules_path).unwrap(),
        &c.topology,
        &mut HashMap::new(),
    );
    assert!(!diags.has_errors(), "{diags}");

    let model = Arc::new(FlowModel::new(&c.flow));
    let m2 = model.clone();
    let models: ModelSource = Arc::new(move || m2.clone());
    let evidence = Arc::new(Evidence::new());
    let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let col = Collector::start(
        &[listen],
        models.clone(),
        Arc::new(Discard),
        evidence.clone(),
    )
    .await
    .unwrap();
    let to = col.local_addrs()[0];
    let metrics = col.metrics();
    tokio::task::spawn_blocking(move || {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        // 3,000 reflectors answering from port 123 toward one customer address, and some
        // ordinary web traffic toward others.
        for batch in 0..30u64 {
            let recs: Vec<Vec<u64>> = (0..100u64)
                .map(|i| {
                    let src = u64::from(u32::from_be_bytes([100, 64, batch as u8, i as u8]));
                    vec![src, v4("203.0.113.7"), 123, 40000, 17, 468 * 50, 50]
                })
                .collect();
            s.send_to(&ipfix(1, 256, FIELDS, batch == 0, &recs), to)
                .unwrap();
        }
        let web: Vec<Vec<u64>> = (0..50u64)
            .map(|i| {
                vec![
                    v4("192.0.2.9"),
                    v4("198.51.100.1") + i,
                    443,
                    50000,
                    6,
                    90_000,
                    100,
                ]
            })
            .collect();
        s.send_to(&ipfix(1, 256, FIELDS, false, &web), to).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while FlowMetrics::get(&metrics.datagrams_ok) < 31 {
            assert!(Instant::now() < deadline, "datagrams: {metrics:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .unwrap();
    col.stop().await;

    let store = Store::open(&dir.path().join("bandwatch.db"), &c.retention).unwrap();
    let mut enrich = Enricher::new(
        store.reader(),
        None,
        &rules,
        &std::sync::Arc::new(c.topology.clone()),
    )
    .with_flows(Some(FlowEvidence {
        evidence,
        model: models,
    }));
    let now = jiff::Timestamp::now();
    let event = |rule: &str, kind: NoticeKind| AlertEvent {
        kind,
        rule: rule.into(),
        entity: "port:edge-1/xe-0/0/1".into(),
        labels: BTreeMap::from([
            ("switch".to_string(), "edge-1".to_string()),
            ("port".to_string(), "xe-0/0/1".to_string()),
        ]),
        severity: Severity::Critical,
        routes: vec!["ops".into()],
        value: 4.2e9,
        baseline: Some(8.0e8),
        limit: Some(2.4e9),
        started_at: now,
        at: now,
        explanation: "4.2 Gbit/s in".into(),
    };
    let n = enrich
        .notice(event("uplink-attack", NoticeKind::Firing), None)
        .unwrap();
    let line = n.evidence.clone().expect("the spike carries evidence");
    assert!(
        line.starts_with("Flows: likely NTP reflection toward 203.0.113.7 (acme): "),
        "{line}"
    );
    assert!(line.contains("468-byte packets"), "{line}");
    let sources: String = line
        .split("~")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect();
    let sources: f64 = sources.parse().unwrap();
    assert!(
        (2400.0..3600.0).contains(&sources),
        "about 3,000 sources: {line}"
    );
    let env = Envelope {
        from: "bandwatch <bw@example.net>",
        route: "ops",
        to: &["ops@example.net".to_string()],
        public_url: None,
    };
    let notices = vec![n];
    assert!(text_body(&env, &notices).contains(&line));
    assert!(
        html_body(&env, &notices, &[None]).contains("likely NTP reflection toward 203.0.113.7")
    );

    // A customer known by prefixes only: the traffic toward its addresses on every exporter.
    let mut surge = event("customer-surge", NoticeKind::Firing);
    surge.entity = "customer:acme".into();
    surge.labels = BTreeMap::from([("customer".to_string(), "acme".to_string())]);
    let n = enrich.notice(surge, None).unwrap();
    let line = n.evidence.expect("the customer's spike carries evidence");
    assert!(
        line.starts_with("Flows: likely NTP reflection toward 203.0.113.7 (acme): ")
            && line.contains("100% of the traffic"),
        "{line}"
    );

    let resolved = enrich
        .notice(event("uplink-attack", NoticeKind::Resolved), None)
        .unwrap();
    assert_eq!(resolved.evidence, None);
    let busy = enrich
        .notice(event("uplink-busy", NoticeKind::Firing), None)
        .unwrap();
    assert_eq!(busy.evidence, None, "only spikes carry evidence");
}
