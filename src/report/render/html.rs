//! The report as one HTML page that mail clients show as intended: inline styles only, no
//! scripts, no external resources; each customer's daily usage this month against the month
//! before is a small bar chart made of table cells (no images, so nothing to block). Built
//! with `maud`, which escapes every value (customer names may come from ifAlias text).

use maud::{DOCTYPE, Markup, html};

use super::super::build::Report;
use super::{billed, cov, pct, title};
use crate::config::units::{format_bps, format_bytes};
use crate::usage::{CustomerUsage, GroupUsage, Status};

/// Cell styles shared with the money sections.
pub(super) const TD: &str = "padding:3px 8px;border-bottom:1px solid #ddd;text-align:right;";
pub(super) const TDL: &str = "padding:3px 8px;border-bottom:1px solid #ddd;text-align:left;";
pub(super) const TH: &str =
    "padding:3px 8px;border-bottom:2px solid #999;text-align:right;background:#f3f3f3;";
/// A section heading's style.
pub(super) const H3: &str = "font-size:15px;margin:18px 0 6px;";
/// A table's attributes' style.
pub(super) const TABLE: &str = "border-collapse:collapse;font-size:13px;";
const THIS_COLOR: &str = "#2b6cb0";
const LAST_COLOR: &str = "#c0c0c0";

fn status_color(s: Status) -> &'static str {
    match s {
        Status::New => "#2f855a",
        Status::Churned => "#c53030",
        Status::Up => "#2b6cb0",
        Status::Down => "#c05621",
        Status::Steady | Status::Idle | Status::NoData => "#555555",
    }
}

/// A chart of daily bytes: per day a pair of bars (this month, last month), as table cells.
fn chart(c: &CustomerUsage) -> Markup {
    let days = c.this.daily.len().max(c.last.daily.len());
    let max = c
        .this
        .daily
        .iter()
        .chain(c.last.daily.iter())
        .map(|d| d.bytes)
        .max()
        .unwrap_or(0);
    if max == 0 {
        return html! { span style="color:#888;" { "no traffic measured" } };
    }
    let h = 36.0;
    let bar = |b: Option<u64>, color: &str| {
        let px = b.map_or(0.0, |b| {
            (b as f64 / max as f64 * h)
                .round()
                .max(if b > 0 { 1.0 } else { 0.0 })
        });
        html! {
            td style=(format!("vertical-align:bottom;padding:0;width:2px;height:{h}px;")) {
                div style=(format!(
                    "width:2px;height:{px}px;background:{color};font-size:0;line-height:0;"
                )) {}
            }
        }
    };
    html! {
        table role="presentation" cellpadding="0" cellspacing="0" style="border-collapse:collapse;" {
            tr {
                @for d in 0..days {
                    (bar(c.this.daily.get(d).map(|x| x.bytes), THIS_COLOR))
                    (bar(c.last.daily.get(d).map(|x| x.bytes), LAST_COLOR))
                    td style="width:1px;padding:0;" {}
                }
            }
        }
    }
}

fn customer_table(rows: &[&CustomerUsage], partial: bool) -> Markup {
    let est = if partial { "Projected" } else { "This month" };
    let left = format!("{TH}text-align:left;");
    html! {
        table cellpadding="0" cellspacing="0" style=(TABLE) {
            tr {
                th style=(left) { "Customer" }
                th style=(TH) { "Measured" }
                th style=(TH) { (est) }
                th style=(TH) { "Last month" }
                th style=(TH) { "Change" }
                th style=(TH) { "Billed" }
                th style=(TH) { "Coverage" }
                th style=(TH) { "Status" }
                th style=(left) {
                    "Daily: " span style=(format!("color:{THIS_COLOR};")) { "this" } " / "
                    span style="color:#999;" { "last" }
                }
            }
            @for c in rows {
                tr {
                    td style=(TDL) { b { (c.id) } br; span style="color:#777;" { (c.name) } }
                    td style=(TD) { (format_bytes(c.this.total_bytes() as f64)) }
                    td style=(TD) { (format_bytes(c.this_estimate)) }
                    td style=(TD) { (format_bytes(c.last_estimate)) }
                    td style=(TD) { (pct(c.change)) }
                    td style=(TD) { (billed(c)) br; span style="color:#777;" { (c.billing.as_str()) } }
                    td style=(TD) {
                        (cov(&c.this)) br;
                        span style="color:#777;" {
                            (c.this.slots) "/" (c.this.expected_slots) " slots"
                            @if c.this.excluded_slots > 0 {
                                br; (c.this.excluded_slots) " in attacks, not billed"
                            }
                        }
                    }
                    td style=(format!("{TD}color:{};font-weight:bold;", status_color(c.status))) {
                        (c.status.as_str())
                    }
                    td style=(TDL) { (chart(c)) }
                }
            }
        }
    }
}

fn list(head: &str, rows: Vec<&CustomerUsage>) -> Markup {
    html! {
        h3 style=(H3) { (head) }
        @if rows.is_empty() {
            p style="color:#777;margin:0;" { "None." }
        } @else {
            ul style="margin:0;padding-left:20px;" {
                @for c in rows {
                    li {
                        (c.id) " (" (c.name) "): " (format_bytes(c.last_estimate)) " → "
                        (format_bytes(c.this_estimate)) " (" (pct(c.change)) ")"
                    }
                }
            }
        }
    }
}

fn totals(head: &str, rows: &[GroupUsage]) -> Markup {
    html! {
        h3 style=(H3) { (head) }
        table cellpadding="0" cellspacing="0" style=(TABLE) {
            tr {
                th style=(format!("{TH}text-align:left;")) { "Name" }
                th style=(TH) { "This month" }
                th style=(TH) { "Last month" }
                th style=(TH) { "Change" }
                th style=(TH) { "95th max" }
                th style=(TH) { "Coverage" }
            }
            @for t in rows {
                tr {
                    td style=(TDL) { (t.name) }
                    td style=(TD) { (format_bytes(t.this_estimate)) }
                    td style=(TD) { (format_bytes(t.last_estimate)) }
                    td style=(TD) { (pct(t.change)) }
                    td style=(TD) { (t.this.p95.max_bps.map_or("no data".into(), format_bps)) }
                    td style=(TD) { (cov(&t.this)) }
                }
            }
        }
    }
}

/// The whole report as an HTML document.
pub fn html(r: &Report) -> String {
    let t = title(r);
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width";
                title { (t) }
            }
            body style="margin:0;padding:16px;font-family:Arial,Helvetica,sans-serif;color:#222;background:#fff;" {
                h2 style="font-size:18px;margin:0 0 6px;" { (t) }
                p style="color:#555;font-size:12px;margin:0 0 12px;" {
                    (format!(
                        "Status thresholds: up from {:+.0} %, down from {:+.0} %.",
                        r.thresholds.0 * 100.0,
                        -r.thresholds.1 * 100.0
                    ))
                    " Coverage is the measured share of the month; missing 5-minute slots are \
                     left out of the 95th percentile, never counted as zero."
                }
                @for (am, rows) in r.by_account_manager() {
                    h3 style=(H3) { "Account manager: " (am.unwrap_or("(none)")) }
                    (customer_table(&rows, r.partial))
                }
                (list("Top growers", r.top_growers(5)))
                (list("Top decliners", r.top_decliners(5)))
                (list("New customers", r.with_status(Status::New)))
                (list("Churned customers", r.with_status(Status::Churned)))
                @if r.account_manager.is_none() {
                    (totals("Product lines", &r.product_lines))
                    (totals("Sites", &r.sites))
                }
                (super::money::html(r))
            }
        }
    };
    let mut s = page.into_string();
    s.push('\n');
    s
}
