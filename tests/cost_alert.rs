//! Money on alerts. A churn warning on a priced customer whose revenue at risk is below the
//! rule's `min_revenue_at_risk` is recorded but not sent, while one above it is sent with the
//! revenue at risk in its email: driven through the daemon's rules thread (real SQLite file,
//! written by the real store writer) and the notify stage's file transport. And a spike on a
//! 95th-billed uplink (or of a 95th-billed customer) says what it would add to this month's
//! bill if it lasted past the 95th window.

use crate::report_support;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use bandwatch::config::{Config, SourceFile};
use bandwatch::cost::alert_money;
use bandwatch::daemon::Alerting;
use bandwatch::notify::{Notice, Notifier, SenderOptions};
use bandwatch::rules::file::parse_source;
use bandwatch::rules::rule::Rule;
use bandwatch::rules::view::AlertsView;
use bandwatch::store::Store;
use bandwatch::usage::Month;
use jiff::Timestamp;
use report_support::{Setup, day, write_every, write_steps};

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

[email]
transport = "file"
from = "bandwatch <bandwatch@example.net>"
group_wait = "1s"

[[site]]
name = "s"

[[switch]]
name = "sw"
site = "s"
address = "127.0.0.1:16100"
interval = "10s"

[[price_plan]]
name = "tiny"
currency = "EUR"
overage_price = 1.0              # per Mbit/s at the 95th

[[price_plan]]
name = "large"
currency = "EUR"
overage_price = 10.0

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

[[customer]]
id = "small"
price_plan = "tiny"
ports = [{ switch = "sw", name = "p-small" }]

[[customer]]
id = "big"
price_plan = "large"
ports = [{ switch = "sw", name = "p-big" }]

[[customer]]
id = "over"
price_plan = "burst"
ports = [{ switch = "sw", name = "p-over" }]

[[route]]
name = "sales"
email = ["sales@example.net"]
"#;

/// Churn in minutes instead of weeks, so that the rules thread sees it within a minute.
const RULES: &str = r#"
[[rule]]
name = "churn-fast"
kind = "drop"
scope = "customer"
metric = "usage_bytes"
window = "5m"
recent = "10m"
reference = "20m"
max_drop = 0.4
min_coverage = 0.5
min_revenue_at_risk = 100.0
notify = ["sales"]

[[rule]]
name = "uplink-attack"
kind = "spike"
scope = "port"
metric = "in_bps"
factor = 3.0
min_delta = "200Mbps"
notify = ["sales"]

[[rule]]
name = "customer-surge"
kind = "spike"
scope = "customer"
metric = "in_bps"
factor = 3.0
min_delta = "200Mbps"
notify = ["sales"]
"#;

fn setup() -> (tempfile::TempDir, Config, Vec<Rule>) {
    let Setup { dir, config, .. } = Setup::with_config(CONFIG);
    let src = SourceFile {
        path: dir.path().join("rules/money.toml"),
        text: RULES.into(),
    };
    let (rules, diags) = parse_source(&src, &config.topology, &mut HashMap::new());
    assert!(!diags.has_errors(), "{diags}");
    (dir, config, rules)
}

fn mbps_for(mbps: u64, secs: i64) -> u64 {
    mbps * 1_000_000 / 8 * secs as u64
}

#[test]
fn a_churn_warning_below_min_revenue_at_risk_is_not_sent() {
    let (dir, config, rules) = setup();
    let db = config.daemon.data_dir.join("bandwatch.db");
    // Last month: `small` at 50 Mbit/s bills 50 EUR, `big` at 500 Mbit/s bills 5,000 EUR.
    let prev = Month::of(Timestamp::now()).prev();
    write_steps(&db, &config, prev.start(), prev.end(), |_, port, _| {
        Some(match port {
            "p-small" => (mbps_for(50, 86_400), 0),
            "p-big" => (mbps_for(500, 86_400), 0),
            _ => (0, 0),
        })
    });
    // The last 40 minutes: both at 100 Mbit/s, then nothing from about 15 minutes ago (on a
    // 5-minute boundary) and on into the next minutes, which the rules thread reads as they
    // pass. Whenever its first cycle falls, its first churn reading (the window that closes
    // after the history it warms from) sees the fall.
    let now = Timestamp::now().as_second().div_euclid(60) * 60;
    let drop_at = (now - 900).div_euclid(300) * 300;
    write_every(&db, &config, now - 2400, now + 300, 60, |_, port, t| {
        let rate = if t < drop_at { 100 } else { 0 };
        Some(match port {
            "p-small" | "p-big" => (mbps_for(rate, 60), 0),
            _ => (0, 0),
        })
    });

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let view = AlertsView::default();
    // The store as the daemon holds it: its writer says which slots are sealed (here: all
    // that were written, less the grace for switches that stay silent).
    let store = Store::open(&db, &config.retention).unwrap();
    let writer = store
        .writer(std::sync::Arc::new(config.topology.clone()))
        .unwrap();
    let alerting = Alerting::start(
        rules,
        std::sync::Arc::new(config.topology.clone()),
        &store,
        writer.sealed(),
        tx,
        true,
        view.clone(),
    )
    .unwrap();
    // Both customers' usage fell: both alerts fire (the status page shows both) ...
    let t = Instant::now();
    let firing = |who: &str| {
        view.active()
            .iter()
            .any(|a| a.entity == format!("customer:{who}") && a.state == "firing")
    };
    while !(firing("small") && firing("big")) {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "both churn alerts should fire: {:?}",
            view.active()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Notices are queued in the outbox with the state change, before the status view
    // changes: only `big`'s was.
    alerting.stop();
    let mut routes = Vec::new();
    while let Ok(r) = rx.try_recv() {
        routes.push(r);
    }
    let outbox = bandwatch::notify::Outbox::new(store.outbox());
    let mut notices: Vec<Notice> = Vec::new();
    for route in &routes {
        outbox
            .close_group(route, Timestamp::now(), |queued| {
                notices.extend(queued.iter().cloned());
                None
            })
            .unwrap();
    }
    let entities: Vec<&str> = notices.iter().map(|n| n.entity.as_str()).collect();
    assert_eq!(entities, ["customer:big"], "{notices:#?}");
    let big = notices.remove(0);
    // Last month 5,000 EUR; the usage of the last hour (100 Mbit/s at its 95th) would bill
    // 1,000 EUR: 4,000 EUR at risk.
    let money = big.money.clone().expect("a money line");
    assert!(
        money.starts_with("Revenue at risk: 4,000.00 EUR a month (last month billed 5,000.00 EUR"),
        "{money}"
    );

    // Through the notify stage: the email says it.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let outbox = config.daemon.data_dir.join("outbox");
    rt.block_on(async {
        let n = Notifier::from_config(&config, store.outbox(), SenderOptions::default())
            .unwrap()
            .unwrap();
        n.send(big).await.unwrap();
        let t = Instant::now();
        loop {
            let eml: Vec<_> = std::fs::read_dir(&outbox)
                .map(|rd| rd.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            if let Some(f) = eml
                .iter()
                .find(|p| p.extension().is_some_and(|e| e == "eml"))
            {
                let text = std::fs::read_to_string(f).unwrap();
                assert!(text.contains("Revenue at risk: 4,000.00 EUR"), "{text}");
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(20), "no email written");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        n.stop().await;
    });
    drop(dir);
}

#[test]
fn a_spike_says_what_it_would_add_to_this_months_bill() {
    let (_dir, config, rules) = setup();
    let db = config.daemon.data_dir.join("bandwatch.db");
    // The first half of September: the uplink at 800 Mbit/s, `over` at 650 Mbit/s.
    write_steps(
        &db,
        &config,
        day("2026-09-01"),
        day("2026-09-16"),
        |_, port, _| {
            Some(match port {
                "up" => (mbps_for(800, 86_400), 0),
                "p-over" => (mbps_for(650, 86_400), 0),
                _ => (0, 0),
            })
        },
    );
    let book = Store::open_existing(&db, &Default::default())
        .unwrap()
        .usage();
    let rule = |n: &str| rules.iter().find(|r| r.name == n).unwrap();
    let at = Timestamp::from_second(day("2026-09-16")).unwrap();
    let labels = BTreeMap::new();
    // 3 Gbit/s in on the uplink: the 95th would rise from 800 Mbit/s (under the 1 Gbit/s
    // commit, 500 EUR) to 3 Gbit/s (500 + 2000 x 1.0): +2,000 EUR.
    let note = alert_money(
        &book,
        &config.topology,
        rule("uplink-attack"),
        "port:sw/up",
        &labels,
        3e9,
        at,
    )
    .unwrap()
    .unwrap();
    assert!(
        note.line.contains("from 800 Mbit/s to 3 Gbit/s"),
        "{}",
        note.line
    );
    assert!(
        note.line
            .contains("+2,000.00 EUR on this month's transit bill of uplink sw/up"),
        "{}",
        note.line
    );
    assert!(note.line.contains("36 h"), "{}", note.line);
    assert_eq!(note.revenue_at_risk, None);
    // A spike that stays under the billed 95th adds nothing.
    let note = alert_money(
        &book,
        &config.topology,
        rule("uplink-attack"),
        "port:sw/up",
        &labels,
        6e8,
        at,
    )
    .unwrap()
    .unwrap();
    assert!(note.line.contains("would not change"), "{}", note.line);
    // A customer surge: 650 -> 1000 Mbit/s at 2.4 per Mbit/s above 500: +840 EUR revenue.
    let note = alert_money(
        &book,
        &config.topology,
        rule("customer-surge"),
        "customer:over",
        &labels,
        1e9,
        at,
    )
    .unwrap()
    .unwrap();
    assert!(
        note.line.contains("+840.00 EUR on customer over's revenue"),
        "{}",
        note.line
    );
    // An unpriced port says nothing.
    assert_eq!(
        alert_money(
            &book,
            &config.topology,
            rule("uplink-attack"),
            "port:sw/p-small",
            &labels,
            3e9,
            at
        )
        .unwrap(),
        None
    );
}
