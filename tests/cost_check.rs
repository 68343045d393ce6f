//! `bandwatch check` on price plans, driven as a user runs it (the real binary on files in a
//! temporary folder): unknown plan references, wrong units, bad amounts and currencies, and
//! money in different currencies that the report would add up. Each error names the file,
//! line and key.

use std::path::PathBuf;
use std::process::Command;

const BASE: &str = r#"
[daemon]
data_dir = "var"
rules_dir = "rules"

[snmp.default]
version = "2c"
community = "${BW_T_COMMUNITY:-public}"

[[site]]
name = "bj-1"
[[site]]
name = "sh-1"

[[switch]]
name = "bj-core"
site = "bj-1"
address = "127.0.0.1:16100"
[[switch]]
name = "sh-core"
site = "sh-1"
address = "127.0.0.1:16101"

[[price_plan]]
name = "burst-1g"
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
commit_price = 300
overage_price = 10.0

[[price_plan]]
name = "transit-eu"
currency = "EUR"
commit = "1Gbps"
commit_price = 1500.0
overage_price = 0.6

[[price_plan]]
name = "transit-us"
currency = "USD"
commit = "1Gbps"
commit_price = 1500.0
overage_price = 0.6

[[price_plan]]
name = "burst-us"
currency = "USD"
commit = "100Mbps"
commit_price = 300.0

[[port]]
switch = "bj-core"
name = "xe-0/0/1"
role = "uplink"
transit = { price_plan = "transit-eu" }

[[port]]
switch = "sh-core"
name = "xe-0/0/1"
role = "uplink"
transit = { price_plan = "transit-us" }

[[customer]]
id = "acme"
account_manager = "east"
price_plan = "burst-1g"
ports = [{ switch = "bj-core", name = "ge-0/0/1" }]

[[customer]]
id = "globex"
account_manager = "east"
monthly_revenue = 1200.0
currency = "EUR"
ports = [{ switch = "bj-core", name = "ge-0/0/2" }]

[[customer]]
id = "hooli"
account_manager = "west"
price_plan = "burst-us"
ports = [{ switch = "sh-core", name = "ge-0/0/3" }]

[[route]]
name = "east"
email = ["east@example.net"]
[[route]]
name = "west"
email = ["west@example.net"]
"#;

struct Run {
    ok: bool,
    stderr: String,
    file: PathBuf,
    text: String,
    _dir: tempfile::TempDir,
}

fn check(text: &str) -> Run {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    let file = dir.path().join("bandwatch.toml");
    std::fs::write(&file, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bandwatch"))
        .arg("check")
        .arg("-c")
        .arg(&file)
        .output()
        .unwrap();
    Run {
        ok: out.status.success(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        file,
        text: text.to_string(),
        _dir: dir,
    }
}

fn mutate(from: &str, to: &str) -> String {
    assert_eq!(BASE.matches(from).count(), 1, "ambiguous mutation {from:?}");
    BASE.replacen(from, to, 1)
}

impl Run {
    /// Asserts a `FILE:LINE:COL: KEY: ...message...` error on the line holding `needle`.
    fn error(&self, needle: &str, key: &str, message: &str) {
        assert!(!self.ok, "check passed:\n{}", self.stderr);
        let hits: Vec<usize> = self
            .text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains(needle))
            .map(|(i, _)| i + 1)
            .collect();
        assert_eq!(hits.len(), 1, "needle {needle:?} on lines {hits:?}");
        let prefix = format!("{}:{}:", self.file.display(), hits[0]);
        assert!(
            self.stderr.lines().any(|l| l.starts_with(&prefix)
                && l.contains(&format!(": {key}: "))
                && l.contains(message)),
            "expected `{prefix}COL: {key}: ...{message}...` in:\n{}",
            self.stderr
        );
    }
}

#[test]
fn the_priced_base_passes() {
    let r = check(BASE);
    assert!(r.ok, "{}", r.stderr);
}

#[test]
fn unknown_plan_references_are_errors_with_line_and_key() {
    let r = check(&mutate(
        r#"price_plan = "burst-1g""#,
        r#"price_plan = "burst-10g""#,
    ));
    r.error(
        "burst-10g",
        "customer[0].price_plan",
        "unknown price plan `burst-10g`",
    );
    let r = check(&mutate(
        r#"transit = { price_plan = "transit-eu" }"#,
        r#"transit = { price_plan = "transit-xx" }"#,
    ));
    r.error(
        "transit-xx",
        "port[0].transit.price_plan",
        "unknown price plan `transit-xx`",
    );
}

#[test]
fn units_follow_the_billing_method() {
    // A 95th plan commits a rate; a volume plan commits bytes.
    let r = check(&mutate(r#"commit = "500Mbps""#, r#"commit = "500GB""#));
    r.error(
        r#"commit = "500GB""#,
        "price_plan[0].commit",
        "commits a rate",
    );
    let r = check(&mutate(r#"commit = "20TB""#, r#"commit = "20Gbps""#));
    r.error(
        r#"commit = "20Gbps""#,
        "price_plan[1].commit",
        "a volume plan commits bytes",
    );
    let r = check(&mutate("overage_price = 2.4", "overage_price = -2.4"));
    r.error(
        "overage_price = -2.4",
        "price_plan[0].overage_price",
        "zero or more",
    );
    let r = check(&mutate(r#"billing = "95th-max""#, r#"billing = "95th""#));
    r.error(
        r#"billing = "95th""#,
        "price_plan[0].billing",
        "unknown billing method",
    );
    let r = check(&mutate(
        "name = \"transit-us\"\ncurrency = \"USD\"",
        "name = \"transit-us\"\ncurrency = \"dollars\"",
    ));
    r.error(
        r#"currency = "dollars""#,
        "price_plan[3].currency",
        "not a currency code",
    );
}

#[test]
fn a_customer_pays_by_plan_or_flat_fee_not_both() {
    let r = check(&mutate(
        "monthly_revenue = 1200.0\ncurrency = \"EUR\"",
        "monthly_revenue = 1200.0\ncurrency = \"EUR\"\nprice_plan = \"bulk\"",
    ));
    r.error(
        "monthly_revenue = 1200.0",
        "customer[1].monthly_revenue",
        "not both",
    );
}

#[test]
fn mixed_currencies_are_rejected_where_they_would_be_summed() {
    // hooli pays in USD at sh-1, whose transit is in USD: fine (the base passes). Moving its
    // port to bj-1 puts its USD revenue against bj-1's EUR transit (its margin would mix).
    let r = check(&mutate(
        r#"ports = [{ switch = "sh-core", name = "ge-0/0/3" }]"#,
        r#"ports = [{ switch = "bj-core", name = "ge-0/0/3" }]"#,
    ));
    r.error(
        r#"price_plan = "burst-us""#,
        "customer[2].price_plan",
        "is in USD, but it is summed with amounts in EUR",
    );
    // Same account manager as EUR customers: the manager's total would mix.
    let r = check(&mutate(
        "account_manager = \"west\"",
        "account_manager = \"east\"",
    ));
    r.error(
        r#"price_plan = "burst-us""#,
        "customer[2].price_plan",
        "summed with amounts in EUR",
    );
    // A flat fee in another currency at an EUR site.
    let r = check(&mutate(
        r#"currency = "EUR"
ports"#,
        r#"currency = "GBP"
ports"#,
    ));
    r.error(
        "monthly_revenue = 1200.0",
        "customer[1].monthly_revenue",
        "flat fee of customer `globex` is in GBP, but it is summed with amounts in EUR",
    );
}

#[test]
fn min_revenue_at_risk_is_checked_in_the_rule_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    let file = dir.path().join("bandwatch.toml");
    std::fs::write(&file, BASE).unwrap();
    let rules = dir.path().join("rules/business.toml");
    let text = r#"
[[rule]]
name = "churn"
kind = "drop"
scope = "customer"
metric = "usage_bytes"
window = "1d"
recent = "7d"
reference = "28d"
max_drop = 0.4
min_revenue_at_risk = -5.0
notify = ["east"]

[[rule]]
name = "surge"
kind = "spike"
scope = "customer"
metric = "in_bps"
factor = 3.0
min_delta = "100Mbps"
min_revenue_at_risk = 100.0
notify = ["east"]
"#;
    std::fs::write(&rules, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bandwatch"))
        .arg("check")
        .arg("-c")
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let at = |needle: &str| {
        let line = text.lines().position(|l| l.contains(needle)).unwrap() + 1;
        format!("{}:{line}:", rules.display())
    };
    let has = |prefix: String, key: &str, msg: &str| {
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with(&prefix) && l.contains(key) && l.contains(msg)),
            "expected {prefix} {key} {msg} in:\n{stderr}"
        );
    };
    has(
        at("min_revenue_at_risk = -5.0"),
        "rule[0].min_revenue_at_risk",
        "zero or more",
    );
    has(
        at("min_revenue_at_risk = 100.0"),
        "rule[1].min_revenue_at_risk",
        "churn-style drop rules",
    );
    // Valid on a churn rule.
    std::fs::write(
        &rules,
        text.replace("-5.0", "250.0")
            .split("[[rule]]\nname = \"surge\"")
            .next()
            .unwrap(),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bandwatch"))
        .arg("check")
        .arg("-c")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn transit_on_a_port_that_is_not_an_uplink_is_a_warning() {
    let r = check(&mutate(
        "name = \"xe-0/0/1\"\nrole = \"uplink\"\ntransit = { price_plan = \"transit-us\" }",
        "name = \"xe-0/0/1\"\nrole = \"peering\"\ntransit = { price_plan = \"transit-us\" }",
    ));
    assert!(r.ok, "{}", r.stderr);
    let line = r
        .text
        .lines()
        .position(|l| l.contains("role = \"peering\""))
        .unwrap()
        + 2;
    let prefix = format!("{}:{line}:", r.file.display());
    assert!(
        r.stderr.lines().any(|l| l.starts_with(&prefix)
            && l.contains("port[1].transit.price_plan: warning:")
            && l.contains("role is `peering`")),
        "{}",
        r.stderr
    );
}
