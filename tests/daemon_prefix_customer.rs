//! A customer known only by its address prefix, end to end through `bandwatch run`: real
//! IPFIX datagrams over UDP from the switch's address are attributed to it by longest-prefix
//! match and stored in the SQLite file; when its traffic falls, the churn rule fires and its
//! account manager gets the warning (with the revenue at risk) at a real SMTP server; and
//! `bandwatch report --month current` has its row, with exactly the bytes sent, and prices
//! it by its plan, like any customer. A second prefix customer, steady, gets no warning; a
//! product line known by a prefix that holds both has their bytes in its report row.
//!
//! The history the churn rule compares with (last month, for the money; the last 40
//! minutes, for the reference) is written into the file before the daemon starts, through
//! the store's writer as the collector would have; the fall itself comes only by UDP.

use std::net::UdpSocket;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::daemon_support;
use crate::flow_support;
use crate::notify_support;

use bandwatch::store::{FlowSlot, Store};
use daemon_support::{BIN, Simulated, free_udp_base, http_get, simulate, spawn_run, wait_for};
use flow_support::{Field, ipfix, v4};
use notify_support::{Mode, Part, Sink};

const FIELDS: &[Field] = &[(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (1, 8), (2, 8)];

/// Bytes a minute each customer received before: 6 MB (800 kbit/s).
const USUAL: u64 = 6_000_000;

/// Churn in minutes instead of days (the demo's windows): the last minute against the
/// 30 before it.
const RULES: &str = r#"
[[rule]]
name = "customer-churn-risk"
kind = "drop"
scope = "customer"
metric = "usage_bytes"
window = "1m"
recent = "1m"
reference = "30m"
max_drop = 0.4
min_coverage = 0.5
severity = "warning"
notify = ["account_manager"]
"#;

fn metric(http: u16, line: &str) -> Option<f64> {
    let (_, body) = http_get(http, "/metrics")?;
    body.lines()
        .find_map(|l| l.strip_prefix(line)?.trim().parse().ok())
}

/// Every decoded text of the messages the sink received, with their recipients.
fn mails(sink: &Sink) -> Vec<(Vec<String>, String)> {
    sink.received()
        .iter()
        .map(|m| {
            let p = Part::parse(&m.data);
            let subject = p.header("subject").unwrap_or_default();
            let text = p.find("text/plain").map(Part::text).unwrap_or_default();
            (m.to.clone(), format!("{subject}\n{text}"))
        })
        .collect()
}

#[test]
fn a_prefix_only_customer_is_reported_warned_of_churn_and_priced() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bw.toml");
    let Simulated {
        sim: _sim,
        http,
        text,
    } = simulate(&cfg, 1, 2, &[], "rules_dir = \"rules\"\n");
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/business.toml"), RULES).unwrap();
    let smtp = Sink::start(Mode::Accept);
    let udp = free_udp_base(1);
    let extra = format!(
        r#"
[retention]
raw = "forever"
rollup_5m = "forever"
rollup_1h = "forever"
rollup_1d = "forever"

[email]
transport = "smtp"
server = "127.0.0.1:{port}"
security = "none"
from = "bandwatch <bandwatch@example.net>"
group_wait = "1s"

[[route]]
name = "am-tenants"
email = ["am@example.net"]

[[price_plan]]
name = "per-mbit"
currency = "EUR"
overage_price = 10.0             # per Mbit/s at the 95th

# A product line known by its addresses: both tenants' (a customer's prefix may lie inside a
# product line's).
[[product_line]]
name = "tenant-cloud"
owners = ["am-tenants"]
prefixes = ["203.0.113.0/24", "2001:db8::/32"]

[[customer]]
id = "tenant-a"
name = "Tenant A"
account_manager = "am-tenants"
prefixes = ["203.0.113.0/25"]
price_plan = "per-mbit"

[[customer]]
id = "tenant-b"
name = "Tenant B"
account_manager = "am-tenants"
prefixes = ["203.0.113.128/25", "2001:db8:b::/48"]
price_plan = "per-mbit"

[flow]
listen = ["127.0.0.1:{udp}"]

[[flow.exporter]]
switch = "sim-0000"
"#,
        port = smtp.port
    );
    std::fs::write(&cfg, format!("{text}{extra}")).unwrap();
    let loaded = bandwatch::config::load(&cfg).unwrap();
    assert!(
        !loaded.warnings.to_string().contains("prefixes"),
        "prefix customers need no warning: {}",
        loaded.warnings
    );
    let config = loaded.config;

    // The history: every minute of last month and of the last 40 minutes, both customers
    // at the usual rate, written as the collector writes minutes.
    let now = jiff::Timestamp::now().as_second();
    let this_minute = now.div_euclid(60) * 60;
    let month = bandwatch::usage::Month::of(jiff::Timestamp::now());
    let prev = month.prev();
    let (month_start, prev_start) = (month.start(), prev.start());
    let mut seeded_in_month = [0u64; 2];
    let mut slots = Vec::new();
    // (Early in a month the last 40 minutes reach into last month: each minute once.)
    let minutes = (prev_start..prev.end())
        .step_by(60)
        .chain((this_minute - 40 * 60..this_minute).step_by(60));
    let mut seen = std::collections::HashSet::new();
    for t in minutes {
        if !seen.insert(t) {
            continue;
        }
        for (i, c) in ["tenant-a", "tenant-b"].into_iter().enumerate() {
            if t >= month_start {
                seeded_in_month[i] += USUAL;
            }
            slots.push(FlowSlot {
                kind: bandwatch::store::EntityKind::Customer,
                name: c.into(),
                slot_start: t,
                in_octets: 0,
                out_octets: USUAL,
                in_packets: 0,
                out_packets: USUAL / 1000,
                covered_ms: 60_000,
                shard: None,
            });
        }
    }
    {
        let store = Store::open_in(&config.daemon.data_dir, &config.retention).unwrap();
        let writer = store.writer(Arc::new(config.topology.clone())).unwrap();
        writer.submit_flows(slots).unwrap();
        writer.flush().unwrap();
    }

    let log = dir.path().join("run.log");
    let mut daemon = spawn_run(&cfg, &log);
    let ok = "bandwatch_flow_datagrams_total{result=\"ok\"}";
    wait_for("the flow collector", 30, || metric(http, ok).is_some());

    // Live: tenant-b as usual, tenant-a at a twentieth, every 5 s, until its warning comes.
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rec =
        |dst: &str, bytes: u64| vec![v4("192.0.2.1"), v4(dst), 443, 40000, 6, bytes, bytes / 1000];
    let per_tick = |usual: u64| usual / 12;
    let mut sent = [0u64; 2];
    let mut datagrams = 0u64;
    let mut first = true;
    let started = Instant::now();
    let (warning, last_send) = loop {
        let a = per_tick(USUAL) / 20;
        let b = per_tick(USUAL);
        let d = ipfix(
            1,
            256,
            FIELDS,
            first,
            &[rec("203.0.113.7", a), rec("203.0.113.200", b)],
        );
        first = false;
        s.send_to(&d, ("127.0.0.1", udp)).unwrap();
        let at = jiff::Timestamp::now().as_second();
        if at >= month_start {
            sent[0] += a;
            sent[1] += b;
        }
        datagrams += 1;
        let m = mails(&smtp);
        if let Some(w) = m.iter().find(|(_, t)| t.contains("customer-churn-risk")) {
            break (w.clone(), at);
        }
        assert!(
            started.elapsed() < Duration::from_secs(200),
            "no churn warning for tenant-a; mails: {m:#?}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_secs(5));
    };
    let (to, body) = warning;
    assert_eq!(to, ["am@example.net"], "to its account manager: {body}");
    assert!(
        body.contains("FIRING") && (body.contains("Tenant A") || body.contains("tenant-a")),
        "{body}"
    );
    assert!(
        !body.contains("tenant-b") && !body.contains("Tenant B"),
        "{body}"
    );
    assert!(body.contains("Revenue at risk:"), "priced: {body}");
    // /api/v1/alerts has it firing on the customer; nothing on tenant-b.
    let (_, alerts) = http_get(http, "/api/v1/alerts").unwrap();
    let v: serde_json::Value = serde_json::from_str(&alerts).unwrap();
    let active = v["active"].as_array().unwrap();
    assert!(
        active
            .iter()
            .any(|a| a["entity"] == "customer:tenant-a" && a["state"] == "firing"),
        "{alerts}"
    );
    assert!(
        active.iter().all(|a| a["entity"] != "customer:tenant-b"),
        "{alerts}"
    );

    // Every datagram decoded; the stop hands the open minute to the store.
    wait_for("every datagram decoded", 30, || {
        metric(http, ok) == Some(datagrams as f64)
    });
    let pid = daemon.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert!(daemon.0.wait().unwrap().success());

    // The month so far, up to the end of the 5-minute bucket of the last datagram (the
    // report reads whole 5-minute buckets).
    let report_now = jiff::Timestamp::from_second((last_send.div_euclid(300) + 1) * 300).unwrap();
    let out = Command::new(BIN)
        .arg("-c")
        .arg(&cfg)
        .args(["report", "--month", "current", "--format", "json", "--now"])
        .arg(report_now.to_string())
        .output()
        .unwrap();
    let json = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{json}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_str(&json).unwrap();
    let row = |id: &str| {
        r["customers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no report row for {id}: {json}"))
            .clone()
    };
    // The product line by prefix has its row too: what both tenants received live (its
    // history was not seeded).
    let line = r["product_lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "tenant-cloud")
        .unwrap_or_else(|| panic!("no product line row: {json}"))
        .clone();
    assert_eq!(
        line["this"]["out_octets"].as_u64(),
        Some(sent[0] + sent[1]),
        "{line}"
    );
    for (i, id) in ["tenant-a", "tenant-b"].into_iter().enumerate() {
        let c = row(id);
        assert_eq!(
            c["this"]["out_octets"].as_u64(),
            Some(seeded_in_month[i] + sent[i]),
            "{id}: the seeded history and exactly the bytes sent over UDP: {c}"
        );
        assert_eq!(c["account_manager"], "am-tenants", "{c}");
        let money = r["accounts"]["customers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .unwrap_or_else(|| panic!("{id} is not priced: {json}"))
            .clone();
        assert_eq!(money["plan"], "per-mbit", "{money}");
        assert!(
            money["revenue"].as_f64().is_some_and(|v| v > 0.0),
            "{id} has revenue by its plan: {money}"
        );
        assert!(
            money["last_revenue"].as_f64().is_some_and(|v| v > 0.0),
            "{money}"
        );
    }
}
