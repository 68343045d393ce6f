//! Cost accounting over two synthetic months (August and September 2026) written through the
//! real store writer into a real SQLite file, against figures computed by hand: a customer
//! under its commit pays the commit price, one over it pays overage on the Mbit/s above the
//! commit at the 95th, a volume plan, a flat fee, a churned customer's revenue lost, a new
//! one's revenue gained, gaps left out of the billed 95th, the uplink's transit cost and its
//! allocation, margins per customer,
//! account manager and product line, and the same figures in every report format.

use crate::report_support;

use std::sync::OnceLock;

use bandwatch::config::Config;
use bandwatch::cost::Accounts;
use bandwatch::report::render::{Format, render};
use bandwatch::report::{Report, build};
use bandwatch::store::Store;
use bandwatch::usage::{Month, Status};
use jiff::Timestamp;
use report_support::{day, write_steps};

const CONFIG: &str = r#"
[daemon]
data_dir = "var"
rules_dir = "rules"

[retention]
raw = "forever"
rollup_5m = "forever"
rollup_1h = "forever"
rollup_1d = "forever"

[snmp.default]
version = "2c"
community = "${BANDWATCH_TEST_COMMUNITY:-public}"

[[site]]
name = "s"
[[site]]
name = "t"

[[switch]]
name = "sw"
site = "s"
address = "127.0.0.1:16100"
[[switch]]
name = "sw2"
site = "t"
address = "127.0.0.1:16101"

[[product_line]]
name = "web"
[[product_line]]
name = "batch"

[[price_plan]]
name = "burst"
currency = "EUR"
billing = "95th-max"
commit = "500Mbps"
commit_price = 900.0
overage_price = 2.4

[[price_plan]]
name = "bulk"
currency = "EUR"
billing = "volume"
commit = "20TB"
commit_price = 300.0
overage_price = 10.0

[[price_plan]]
name = "transit"
currency = "EUR"
billing = "95th-max"
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
account_manager = "alice"
price_plan = "burst"
ports = [{ switch = "sw", name = "w1" }]

[[customer]]
id = "over"
account_manager = "alice"
price_plan = "burst"
ports = [{ switch = "sw", name = "b1" }]

[[customer]]
id = "vol"
account_manager = "bob"
price_plan = "bulk"
ports = [{ switch = "sw", name = "v1" }]

[[customer]]
id = "flat"
account_manager = "bob"
monthly_revenue = 1200.0
ports = [{ switch = "sw", name = "f1" }]

[[customer]]
id = "gone"
account_manager = "bob"
price_plan = "burst"
ports = [{ switch = "sw", name = "g1" }]

[[customer]]
id = "fresh"
price_plan = "burst"
ports = [{ switch = "sw", name = "n1" }]

[[customer]]
id = "gappy"
price_plan = "burst"
ports = [{ switch = "sw2", name = "x1" }]

[[route]]
name = "alice"
email = ["alice@example.net"]
[[route]]
name = "bob"
email = ["bob@example.net"]
"#;

/// Octets of one day at `mbps` Mbit/s.
fn day_at(mbps: f64) -> u64 {
    (mbps * 1e6 / 8.0 * 86_400.0) as u64
}

/// Inbound traffic per port and day: constant within each month.
fn traffic(_switch: &str, port: &str, t: i64) -> Option<(u64, u64)> {
    let sep = t >= day("2026-09-01");
    let i = match port {
        "up" => day_at(1200.0),
        "w1" => day_at(300.0),
        "b1" => day_at(650.0),
        "v1" => 1_000_000_000_000, // 1 TB a day
        "f1" => day_at(10.0),
        "g1" if sep => 0,
        "g1" => day_at(700.0),
        "n1" if sep => day_at(100.0),
        "n1" => 0,
        // Half of September unmeasured; of the measured half, one day at 1 Gbit/s.
        "x1" if t >= day("2026-09-16") => return None,
        "x1" if sep && t < day("2026-09-02") => day_at(1000.0),
        "x1" => day_at(500.0),
        _ => 0,
    };
    Some((i, 0))
}

struct Setup {
    _dir: tempfile::TempDir,
    config: Config,
}

fn written() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| {
        let setup = report_support::Setup::with_config(CONFIG);
        let db = setup.db();
        let report_support::Setup { dir, config, .. } = setup;
        write_steps(&db, &config, day("2026-08-01"), day("2026-10-01"), traffic);
        Setup { _dir: dir, config }
    })
}

fn september(s: &Setup) -> Report {
    let book = Store::open_existing(
        &s.config.daemon.data_dir.join("bandwatch.db"),
        &Default::default(),
    )
    .unwrap()
    .usage();
    let now = Timestamp::from_second(day("2026-10-02")).unwrap();
    build(
        &book,
        &s.config,
        "2026-09".parse::<Month>().unwrap(),
        now,
        false,
        &[],
    )
    .unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * b.abs().max(1.0)
}

fn assert_close(what: &str, got: Option<f64>, want: f64) {
    let g = got.unwrap_or_else(|| panic!("{what}: no figure"));
    assert!(close(g, want), "{what}: got {g}, want {want}");
}

#[test]
fn plans_bill_the_hand_computed_revenue() {
    let r = september(written());
    let a: &Accounts = r.accounts.as_ref().expect("prices configured");
    let c = |id: &str| a.customer(id).unwrap();
    // Under its 500 Mbit/s commit (300 Mbit/s at the 95th): the commit price.
    assert_close("under", c("under").revenue, 900.0);
    // Over it: 650 Mbit/s at the 95th, 150 Mbit/s of overage at 2.4.
    assert_close("over", c("over").revenue, 900.0 + 150.0 * 2.4);
    assert_close("over last month", c("over").last_revenue, 1260.0);
    // Volume: 30 TB in September, 31 TB in August, 20 TB committed, 10 per TB above.
    assert_close("vol", c("vol").revenue, 300.0 + 10.0 * 10.0);
    assert_close("vol last month", c("vol").last_revenue, 300.0 + 11.0 * 10.0);
    assert_close("vol change", c("vol").change, -10.0);
    // A flat fee, whatever the usage.
    assert_close("flat", c("flat").revenue, 1200.0);
    assert_eq!(c("flat").plan, None);
    // Churned: nothing this month; the revenue lost is August's 700 Mbit/s bill.
    assert_eq!(c("gone").status, Status::Churned);
    assert_close("gone", c("gone").revenue, 0.0);
    let churned = a.churned();
    assert_eq!(churned.len(), 1);
    assert_eq!(churned[0].0.id, "gone");
    assert!(close(churned[0].1, 900.0 + 200.0 * 2.4), "{}", churned[0].1);
    // New: nothing in August, 100 Mbit/s now: the commit price gained.
    let new = a.new_customers();
    assert_eq!(new.len(), 1);
    assert_eq!(new[0].0.id, "fresh");
    assert!(close(new[0].1, 900.0));
    // Largest revenue changes first, either way.
    let top: Vec<&str> = a.top_changes(10).iter().map(|c| c.id.as_str()).collect();
    assert_eq!(top, ["gone", "gappy", "fresh", "vol"]);
}

#[test]
fn gaps_are_left_out_of_the_billed_95th() {
    let r = september(written());
    let a = r.accounts.as_ref().unwrap();
    // Measured: 1 day at 1000 Mbit/s and 14 at 500 (1/15 of the slots is above 95 %), 15
    // days unmeasured. Left out, the 95th is 1000 Mbit/s: 900 + 500 x 2.4. Counted as zeros,
    // the day at 1000 would be 1/30 of the slots and the 95th 500 Mbit/s: 900.
    let gappy = a.customer("gappy").unwrap();
    assert_close("gappy", gappy.revenue, 900.0 + 500.0 * 2.4);
    let row = r.customers.iter().find(|c| c.id == "gappy").unwrap();
    assert!(
        (row.this.coverage - 0.5).abs() < 1e-9,
        "{}",
        row.this.coverage
    );
    // Its site has no priced uplink: it carries no transit.
    assert_eq!(gappy.cost, 0.0);
}

#[test]
fn transit_is_billed_and_allocated_by_traffic_through_the_site() {
    let r = september(written());
    let a = r.accounts.as_ref().unwrap();
    // The uplink: 1200 Mbit/s at the 95th, 1 Gbit/s committed for 500, 1.0 per Mbit/s above.
    assert_eq!(a.uplinks.len(), 1);
    let up = &a.uplinks[0];
    assert_close("uplink 95th", up.billed_bps, 1200e6);
    assert!(close(up.cost, 500.0 + 200.0), "{}", up.cost);
    assert_eq!(up.unallocated_customers, 0.0);
    // Every day is alike, so every slot is a peak slot: shares are the customers' rates.
    let vol = 1e12 * 8.0 / 86_400.0 / 1e6;
    let total = 300.0 + 650.0 + vol + 10.0 + 0.0 + 100.0;
    let cost = |id: &str| a.customer(id).unwrap().cost;
    assert!(
        close(cost("under"), 700.0 * 300.0 / total),
        "{}",
        cost("under")
    );
    assert!(close(cost("over"), 700.0 * 650.0 / total));
    assert_eq!(cost("gone"), 0.0);
    let sum: f64 = a.customers.iter().map(|c| c.cost).sum();
    assert!(close(sum, 700.0), "{sum}");
    // Margin = revenue - allocated cost.
    let over = a.customer("over").unwrap();
    assert_close("over margin", over.margin, 1260.0 - 700.0 * 650.0 / total);
    // Product lines: the uplink is shared, so web and batch split it 300 : 650; each line's
    // revenue is its customers'.
    let pl = |n: &str| a.product_lines.iter().find(|g| g.name == n).unwrap();
    assert!(close(pl("web").cost, 700.0 * 300.0 / 950.0));
    assert!(close(pl("batch").cost, 700.0 * 650.0 / 950.0));
    assert!(close(pl("web").revenue, 900.0));
    assert!(close(pl("batch").margin, 1260.0 - 700.0 * 650.0 / 950.0));
    // Account managers sum their customers.
    let am = |n: &str| a.account_managers.iter().find(|g| g.name == n).unwrap();
    assert!(close(am("alice").revenue, 900.0 + 1260.0));
    assert!(close(am("alice").cost, 700.0 * 950.0 / total));
    assert!(close(am("bob").revenue, 400.0 + 1200.0 + 0.0));
    assert!(close(am("bob").last_revenue, 410.0 + 1200.0 + 1380.0));
    // Totals per currency: all revenue against all transit.
    assert_eq!(a.totals.len(), 1);
    let t = &a.totals[0];
    assert_eq!(t.currency, "EUR");
    // under, over, vol, flat, gone, fresh, gappy.
    let revenue = 900.0 + 1260.0 + 400.0 + 1200.0 + 0.0 + 900.0 + 2100.0;
    assert!(close(t.revenue, revenue), "{}", t.revenue);
    assert!(close(t.cost, 700.0));
    assert!(close(t.margin, revenue - 700.0));
}

#[test]
fn every_format_carries_the_money() {
    let r = september(written());
    let text = render(&r, Format::Text);
    let lost = text
        .split("== Churned customers: revenue lost ==")
        .nth(1)
        .unwrap();
    let first = lost.lines().nth(2).unwrap();
    assert!(
        first.starts_with("gone") && first.contains("1,380.00 EUR"),
        "{text}"
    );
    let gained = text
        .split("== New customers: revenue gained ==")
        .nth(1)
        .unwrap();
    assert!(
        gained.lines().nth(2).unwrap().contains("900.00 EUR"),
        "{text}"
    );
    assert!(text.contains("== Per account manager =="), "{text}");
    assert!(text.contains("== Transit per uplink =="), "{text}");

    let csv = render(&r, Format::Csv);
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let line = |prefix: &str| -> Vec<String> {
        let l = csv.lines().find(|l| l.starts_with(prefix)).unwrap();
        assert_eq!(l.split(',').count(), header.len(), "{l}");
        l.split(',').map(String::from).collect()
    };
    let over = line("customer,over,");
    assert_eq!(over[col("revenue")], "1260.00");
    assert_eq!(over[col("currency")], "EUR");
    let alice = line("account_manager,alice,");
    assert_eq!(alice[col("revenue_projected")], "2160.00");
    let up = line("uplink,sw/up,");
    assert_eq!(up[col("allocated_cost")], "700.00");
    assert_eq!(up[col("billed_bps")], "1200000000");
    let total = line("total,EUR,");
    assert_eq!(total[col("margin")], "6060.00");
    let web = line("product_line,web,");
    assert_eq!(web[col("revenue_projected")], "900.00");

    let json: serde_json::Value = serde_json::from_str(&render(&r, Format::Json)).unwrap();
    let gone = json["accounts"]["customers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "gone")
        .unwrap();
    assert!(close(gone["last_revenue"].as_f64().unwrap(), 1380.0));

    let html = render(&r, Format::Html);
    assert!(html.contains("Churned customers: revenue lost"));
    assert!(html.contains("1,260.00 EUR"));
    assert!(!html.contains("<script"));

    // An account manager's own report: their customers and their line only.
    let mine = r.clone().only_account_manager("alice");
    let a = mine.accounts.as_ref().unwrap();
    let ids: Vec<&str> = a.customers.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["over", "under"]);
    assert_eq!(a.account_managers.len(), 1);
    let text = render(&mine, Format::Text);
    assert!(!text.contains("Transit per uplink"), "{text}");
}

#[test]
fn the_month_so_far_is_projected_to_its_end() {
    let s = written();
    let book = Store::open_existing(
        &s.config.daemon.data_dir.join("bandwatch.db"),
        &Default::default(),
    )
    .unwrap()
    .usage();
    // 16 September: 15 days measured.
    let now = Timestamp::from_second(day("2026-09-16")).unwrap();
    let r = build(
        &book,
        &s.config,
        "2026-09".parse::<Month>().unwrap(),
        now,
        true,
        &[],
    )
    .unwrap();
    let a = r.accounts.as_ref().unwrap();
    let vol = a.customer("vol").unwrap();
    // 15 TB so far is under the 20 TB commit; at this pace the month ends at 30 TB.
    assert_close("vol so far", vol.revenue, 300.0);
    assert_close("vol projected", vol.revenue_projected, 300.0 + 10.0 * 10.0);
    // A 95th so far is the month's estimate: no change when projected.
    let over = a.customer("over").unwrap();
    assert_close("over so far", over.revenue, 1260.0);
    assert_close("over projected", over.revenue_projected, 1260.0);
    let text = render(&r, Format::Text);
    assert!(text.contains("revenue (proj.)"), "{text}");
}
