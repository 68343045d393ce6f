//! `bandwatch run` with prices, as an operator runs it: the daemon (a separate process) serves
//! month-to-date revenue and transit cost on `/metrics` from the SQLite file it finds in its
//! data folder (written beforehand through the real store writer), and serves new prices
//! right after a reload.

use crate::daemon_support;
use crate::report_support;

use std::process::{Command, Stdio};

use bandwatch::config;
use bandwatch::usage::Month;
use daemon_support::*;

fn config_text(http: u16, udp: u16) -> String {
    format!(
        r#"
[daemon]
listen = "127.0.0.1:{http}"
data_dir = "var"
rules_dir = "rules"

[retention]
raw = "forever"
rollup_5m = "forever"

[snmp.default]
version = "2c"
community = "${{BANDWATCH_TEST_COMMUNITY:-public}}"
timeout = "200ms"
retries = 0

[[site]]
name = "s"

[[switch]]
name = "sw"
site = "s"
address = "127.0.0.1:{udp}"

[[product_line]]
name = "web"

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
transit = {{ price_plan = "transit" }}

[[port]]
switch = "sw"
name = "w1"
product_line = "web"

[[customer]]
id = "acme"
price_plan = "burst"
ports = [{{ switch = "sw", name = "c1" }}]
"#
    )
}

#[test]
fn the_daemon_serves_month_to_date_money() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    let http = free_tcp_port();
    // Nothing answers SNMP there: the daemon polls in vain, the stored month still counts.
    let udp = free_udp_base(1);
    let cfg = dir.path().join("bandwatch.toml");
    std::fs::write(&cfg, config_text(http, udp)).unwrap();
    let config = config::load(&cfg).unwrap().config;
    std::fs::create_dir_all(&config.daemon.data_dir).unwrap();
    // The last hour of this month (less in its first hour), every 5 minutes.
    let now = jiff::Timestamp::now().as_second().div_euclid(300) * 300;
    let from = (now - 3600).max(Month::of(jiff::Timestamp::now()).start());
    let written = now > from;
    report_support::write_every(
        &config.daemon.data_dir.join("bandwatch.db"),
        &config,
        from,
        now,
        300,
        |_, port, _| {
            let mbps = match port {
                "up" => 400,
                "w1" => 300,
                "c1" => 100,
                _ => 0,
            };
            Some((mbps * 1_000_000 / 8 * 300, 0))
        },
    );

    let daemon = Kill(
        Command::new(BIN)
            .arg("-c")
            .arg(&cfg)
            .arg("run")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("/metrics", 40, || {
        http_get(http, "/metrics").is_some_and(|(c, _)| c == 200)
    });
    let (_, body) = http_get(http, "/metrics").unwrap();
    assert!(
        body.contains("# TYPE bandwatch_customer_revenue_month gauge"),
        "{body}"
    );
    assert!(body.contains("# TYPE bandwatch_product_line_cost_month gauge"));
    if !written {
        eprintln!("skipping the figures: this month is less than 5 minutes old, nothing written");
        return;
    }
    // Under its commit, acme owes the commit price; the uplink (under its commit) costs the
    // commit price, all of it carried by the one product line measured at the site.
    assert!(
        body.contains("bandwatch_customer_revenue_month{customer=\"acme\",currency=\"EUR\"} 900"),
        "{body}"
    );
    assert!(
        body.contains(
            "bandwatch_product_line_cost_month{product_line=\"web\",currency=\"EUR\"} 500"
        ),
        "{body}"
    );

    // A new price, and SIGHUP: the figures follow at once, not after the next refresh.
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replacen("commit_price = 900.0", "commit_price = 1000.0", 1),
    )
    .unwrap();
    let hup = Command::new("kill")
        .arg("-HUP")
        .arg(daemon.0.id().to_string())
        .status()
        .unwrap();
    assert!(hup.success());
    wait_for("the new price on /metrics after the reload", 30, || {
        http_get(http, "/metrics").is_some_and(|(_, b)| {
            b.contains("bandwatch_customer_revenue_month{customer=\"acme\",currency=\"EUR\"} 1000")
        })
    });
}
