//! The report as text (terminal and plain-text mail), CSV (one line per customer, product
//! line and site; with prices also per account manager, priced uplink and currency total,
//! with the money columns at the end), JSON (everything, for programs) and HTML (see
//! [`html`]). The money sections are in [`money`].

pub mod html;
pub mod money;

use std::fmt::Write as _;

use super::build::Report;
use crate::config::Billing;
use crate::config::units::{format_bps, format_bytes};
use crate::usage::{CustomerUsage, GroupUsage, Status, Usage};

/// Output formats of `bandwatch report`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned plain text.
    Text,
    /// Comma-separated values, one line per customer, product line and site.
    Csv,
    /// The whole report as JSON.
    Json,
    /// A self-contained HTML page safe for mail clients (inline styles, no scripts).
    Html,
}

/// Renders the report.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Text => text(report),
        Format::Csv => csv(report),
        Format::Json => serde_json::to_string_pretty(report).unwrap_or_else(|e| {
            // Serializing plain data cannot fail; keep a valid document anyway.
            format!("{{\"error\": \"{e}\"}}")
        }),
        Format::Html => html::html(report),
    }
}

/// `+12.5 %`, or `n/a` without a base (in [`crate::format`]).
pub use crate::format::percent_change as pct;

/// Coverage as a percentage.
pub fn cov(u: &Usage) -> String {
    format!("{:.1} %", u.coverage * 100.0)
}

/// The billed figure of a customer: the 95th rate, or the volume.
pub fn billed(c: &CustomerUsage) -> String {
    match (c.billing, c.billed_bps) {
        (Billing::Volume, _) => format_bytes(c.this.total_bytes() as f64),
        (_, Some(bps)) => format_bps(bps),
        (_, None) => "no data".into(),
    }
}

/// The title line.
pub fn title(r: &Report) -> String {
    let mut t = format!(
        "bandwatch usage report {} (compared with {})",
        r.month, r.previous
    );
    if r.partial {
        let _ = write!(
            t,
            ", month so far to {}, projected to month end",
            jiff::Timestamp::from_second(r.period.to).unwrap_or(r.generated)
        );
    }
    if let Some(am) = &r.account_manager {
        let _ = write!(t, ", customers of {am}");
    }
    t
}

fn text(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}", title(r));
    let _ = writeln!(
        s,
        "Status thresholds: up from {:+.0} %, down from {:+.0} %. Coverage = measured share \
         of the month; missing 5-minute slots are left out of the 95th, never counted as zero.\n",
        r.thresholds.0 * 100.0,
        -r.thresholds.1 * 100.0
    );
    let this_label = if r.partial { "projected" } else { "estimate" };
    for (am, rows) in r.by_account_manager() {
        let _ = writeln!(s, "== Account manager: {} ==", am.unwrap_or("(none)"));
        let _ = writeln!(
            s,
            "{:<20} {:>12} {:>8} {:>12} {:>12} {:>8} {:>9} {:>22} {:>11} {:<8}",
            "customer",
            "measured",
            "coverage",
            this_label,
            "last month",
            "coverage",
            "change",
            "billed (method)",
            "slots",
            "status"
        );
        for c in rows {
            let _ = writeln!(
                s,
                "{:<20} {:>12} {:>8} {:>12} {:>12} {:>8} {:>9} {:>22} {:>11} {:<8}",
                c.id,
                format_bytes(c.this.total_bytes() as f64),
                cov(&c.this),
                format_bytes(c.this_estimate),
                format_bytes(c.last_estimate),
                cov(&c.last),
                pct(c.change),
                format!("{} {}", billed(c), c.billing.as_str()),
                format!("{}/{}", c.this.slots, c.this.expected_slots),
                c.status.as_str()
            );
            if c.this.excluded_slots > 0 {
                let _ = writeln!(
                    s,
                    "{:<20} {} slots inside attacks left out of the 95th",
                    "", c.this.excluded_slots
                );
            }
            if c.this.imported_bytes > 0 {
                let _ = writeln!(
                    s,
                    "{:<20} including {} imported",
                    "",
                    format_bytes(c.this.imported_bytes as f64)
                );
            }
        }
        s.push('\n');
    }
    let list = |s: &mut String, head: &str, rows: Vec<&CustomerUsage>| {
        let _ = writeln!(s, "== {head} ==");
        if rows.is_empty() {
            let _ = writeln!(s, "(none)");
        }
        for c in rows {
            let _ = writeln!(
                s,
                "{:<20} {:>12} -> {:>12} {:>9}",
                c.id,
                format_bytes(c.last_estimate),
                format_bytes(c.this_estimate),
                pct(c.change)
            );
        }
        s.push('\n');
    };
    list(&mut s, "Top growers", r.top_growers(5));
    list(&mut s, "Top decliners", r.top_decliners(5));
    list(&mut s, "New customers", r.with_status(Status::New));
    list(&mut s, "Churned customers", r.with_status(Status::Churned));
    let totals = |s: &mut String, head: &str, rows: &[GroupUsage]| {
        let _ = writeln!(s, "== {head} ==");
        let _ = writeln!(
            s,
            "{:<20} {:>12} {:>12} {:>9} {:>14} {:>9}",
            "name", this_label, "last month", "change", "95th max", "coverage"
        );
        for t in rows {
            let _ = writeln!(
                s,
                "{:<20} {:>12} {:>12} {:>9} {:>14} {:>9}",
                t.name,
                format_bytes(t.this_estimate),
                format_bytes(t.last_estimate),
                pct(t.change),
                t.this.p95.max_bps.map_or("no data".into(), format_bps),
                cov(&t.this)
            );
        }
        s.push('\n');
    };
    if r.account_manager.is_none() {
        totals(&mut s, "Product lines", &r.product_lines);
        totals(&mut s, "Sites", &r.sites);
    }
    money::text(r, &mut s);
    s
}

fn opt(v: Option<f64>) -> String {
    v.map_or(String::new(), |x| format!("{x:.0}"))
}

/// The usage columns of the CSV, before the money ones ([`money::CSV_COLUMNS`]).
const USAGE_COLUMNS: [&str; 23] = [
    "kind",
    "name",
    "account_manager",
    "status",
    "billing",
    "this_bytes",
    "this_in_octets",
    "this_out_octets",
    "this_imported_bytes",
    "this_estimate_bytes",
    "this_coverage",
    "this_slots",
    "this_expected_slots",
    "last_bytes",
    "last_estimate_bytes",
    "last_coverage",
    "change_pct",
    "billed_bps",
    "p95_in_bps",
    "p95_out_bps",
    "p95_sum_bps",
    "p95_max_bps",
    "excluded_slots",
];

/// One line of usage: the 23 usage columns of a customer or group.
struct UsageLine<'a> {
    kind: &'a str,
    name: &'a str,
    account_manager: &'a str,
    status: &'a str,
    billing: &'a str,
    this: &'a Usage,
    last: &'a Usage,
    estimates: (f64, f64),
    change: Option<f64>,
    billed: Option<f64>,
}

impl UsageLine<'_> {
    fn cells(&self, money: Vec<String>) -> Vec<String> {
        let (this, last) = (self.this, self.last);
        let mut row = vec![
            self.kind.to_string(),
            self.name.to_string(),
            self.account_manager.to_string(),
            self.status.to_string(),
            self.billing.to_string(),
            this.total_bytes().to_string(),
            this.in_octets.to_string(),
            this.out_octets.to_string(),
            this.imported_bytes.to_string(),
            format!("{:.0}", self.estimates.0),
            format!("{:.4}", this.coverage),
            this.slots.to_string(),
            this.expected_slots.to_string(),
            last.total_bytes().to_string(),
            format!("{:.0}", self.estimates.1),
            format!("{:.4}", last.coverage),
            self.change
                .map_or(String::new(), |c| format!("{:.2}", c * 100.0)),
            opt(self.billed),
            opt(this.p95.in_bps),
            opt(this.p95.out_bps),
            opt(this.p95.sum_bps),
            opt(this.p95.max_bps),
            this.excluded_slots.to_string(),
        ];
        row.extend(money);
        row
    }
}

/// A line with only a kind, a name and the money columns.
fn money_only(kind: &str, name: &str, money: Vec<String>) -> Vec<String> {
    let mut row = vec![kind.to_string(), name.to_string()];
    row.resize(USAGE_COLUMNS.len(), String::new());
    row.extend(money);
    row
}

fn csv(r: &Report) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    rows.push(
        USAGE_COLUMNS
            .iter()
            .chain(money::CSV_COLUMNS.iter())
            .map(|c| c.to_string())
            .collect(),
    );
    for c in &r.customers {
        let line = UsageLine {
            kind: "customer",
            name: &c.id,
            account_manager: c.account_manager.as_deref().unwrap_or(""),
            status: c.status.as_str(),
            billing: c.billing.as_str(),
            this: &c.this,
            last: &c.last,
            estimates: (c.this_estimate, c.last_estimate),
            change: c.change,
            billed: c.billed_bps,
        };
        rows.push(line.cells(money::csv_customer(r, &c.id)));
    }
    if r.account_manager.is_none() {
        for (kind, groups) in [("product_line", &r.product_lines), ("site", &r.sites)] {
            for t in groups.iter() {
                let line = UsageLine {
                    kind,
                    name: &t.name,
                    account_manager: "",
                    status: "",
                    billing: "",
                    this: &t.this,
                    last: &t.last,
                    estimates: (t.this_estimate, t.last_estimate),
                    change: t.change,
                    billed: t.this.p95.max_bps,
                };
                let money = r
                    .accounts
                    .as_ref()
                    .filter(|_| kind == "product_line")
                    .and_then(|a| a.product_lines.iter().find(|g| g.name == t.name))
                    .map_or_else(money::csv_empty, money::csv_group);
                rows.push(line.cells(money));
            }
        }
    }
    if let (Some(a), None) = (&r.accounts, &r.account_manager) {
        // One line per account manager, priced uplink and currency total; usage columns empty.
        for g in &a.account_managers {
            rows.push(money_only("account_manager", &g.name, money::csv_group(g)));
        }
        for u in &a.uplinks {
            // billing, this_bytes and billed_bps of the usage columns; currency and cost.
            let mut row = money_only("uplink", &u.port.to_string(), money::csv_empty());
            row[4] = u.billing.as_str().to_string();
            row[5] = u.bytes.to_string();
            row[17] = opt(u.billed_bps);
            let m = USAGE_COLUMNS.len();
            row[m] = u.currency.clone();
            row[m + 5] = format!("{:.2}", u.cost);
            row[m + 6] = format!("{:.2}", u.cost_projected);
            rows.push(row);
        }
        for g in &a.totals {
            rows.push(money_only("total", &g.name, money::csv_group(g)));
        }
    }
    crate::format::csv::write(&rows)
}
