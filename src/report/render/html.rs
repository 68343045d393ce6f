//! The report as one HTML page that mail clients show as intended: inline styles only, no
//! scripts, no external resources; each customer's daily usage this month against the month
//! before is a small bar chart made of table cells (no images, so nothing to block).

use std::fmt::Write as _;

use super::super::build::Report;
use super::{billed, cov, pct, title};
use crate::config::units::{format_bps, format_bytes};
use crate::usage::{CustomerUsage, GroupUsage, Status};

/// Escapes text for HTML: the one escaper, in [`crate::format`].
pub use crate::format::html as esc;

const TD: &str = "padding:3px 8px;border-bottom:1px solid #ddd;text-align:right;";
const TDL: &str = "padding:3px 8px;border-bottom:1px solid #ddd;text-align:left;";
const TH: &str =
    "padding:3px 8px;border-bottom:2px solid #999;text-align:right;background:#f3f3f3;";
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
fn chart(c: &CustomerUsage) -> String {
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
        return "<span style=\"color:#888;\">no traffic measured</span>".into();
    }
    let h = 36.0;
    let mut s = String::from(
        "<table role=\"presentation\" cellpadding=\"0\" cellspacing=\"0\" \
         style=\"border-collapse:collapse;\"><tr>",
    );
    for d in 0..days {
        let bar = |b: Option<u64>, color: &str| {
            let px = b.map_or(0.0, |b| {
                (b as f64 / max as f64 * h)
                    .round()
                    .max(if b > 0 { 1.0 } else { 0.0 })
            });
            format!(
                "<td style=\"vertical-align:bottom;padding:0;width:2px;height:{h}px;\">\
                 <div style=\"width:2px;height:{px}px;background:{color};font-size:0;line-height:0;\"></div></td>"
            )
        };
        s.push_str(&bar(c.this.daily.get(d).map(|x| x.bytes), THIS_COLOR));
        s.push_str(&bar(c.last.daily.get(d).map(|x| x.bytes), LAST_COLOR));
        s.push_str("<td style=\"width:1px;padding:0;\"></td>");
    }
    s.push_str("</tr></table>");
    s
}

fn customer_table(s: &mut String, rows: &[&CustomerUsage], partial: bool) {
    let est = if partial { "Projected" } else { "This month" };
    let _ = write!(
        s,
        "<table cellpadding=\"0\" cellspacing=\"0\" style=\"border-collapse:collapse;font-size:13px;\">\
         <tr><th style=\"{TH}text-align:left;\">Customer</th><th style=\"{TH}\">Measured</th>\
         <th style=\"{TH}\">{est}</th><th style=\"{TH}\">Last month</th><th style=\"{TH}\">Change</th>\
         <th style=\"{TH}\">Billed</th><th style=\"{TH}\">Coverage</th><th style=\"{TH}\">Status</th>\
         <th style=\"{TH}text-align:left;\">Daily: <span style=\"color:{THIS_COLOR};\">this</span> / \
         <span style=\"color:#999;\">last</span></th></tr>"
    );
    for c in rows {
        let _ = write!(
            s,
            "<tr><td style=\"{TDL}\"><b>{}</b><br><span style=\"color:#777;\">{}</span></td>\
             <td style=\"{TD}\">{}</td><td style=\"{TD}\">{}</td><td style=\"{TD}\">{}</td>\
             <td style=\"{TD}\">{}</td><td style=\"{TD}\">{}<br><span style=\"color:#777;\">{}</span></td>\
             <td style=\"{TD}\">{}<br><span style=\"color:#777;\">{}/{} slots{}</span></td>\
             <td style=\"{TD}color:{};font-weight:bold;\">{}</td><td style=\"{TDL}\">{}</td></tr>",
            esc(&c.id),
            esc(&c.name),
            esc(&format_bytes(c.this.total_bytes() as f64)),
            esc(&format_bytes(c.this_estimate)),
            esc(&format_bytes(c.last_estimate)),
            esc(&pct(c.change)),
            esc(&billed(c)),
            esc(c.billing.as_str()),
            esc(&cov(&c.this)),
            c.this.slots,
            c.this.expected_slots,
            if c.this.excluded_slots > 0 {
                format!("<br>{} in attacks, not billed", c.this.excluded_slots)
            } else {
                String::new()
            },
            status_color(c.status),
            c.status.as_str(),
            chart(c)
        );
    }
    s.push_str("</table>");
}

fn list(s: &mut String, head: &str, rows: Vec<&CustomerUsage>) {
    let _ = write!(
        s,
        "<h3 style=\"font-size:15px;margin:18px 0 6px;\">{}</h3>",
        esc(head)
    );
    if rows.is_empty() {
        s.push_str("<p style=\"color:#777;margin:0;\">None.</p>");
        return;
    }
    s.push_str("<ul style=\"margin:0;padding-left:20px;\">");
    for c in rows {
        let _ = write!(
            s,
            "<li>{} ({}): {} &rarr; {} ({})</li>",
            esc(&c.id),
            esc(&c.name),
            esc(&format_bytes(c.last_estimate)),
            esc(&format_bytes(c.this_estimate)),
            esc(&pct(c.change))
        );
    }
    s.push_str("</ul>");
}

fn totals(s: &mut String, head: &str, rows: &[GroupUsage]) {
    let _ = write!(
        s,
        "<h3 style=\"font-size:15px;margin:18px 0 6px;\">{}</h3>\
         <table cellpadding=\"0\" cellspacing=\"0\" style=\"border-collapse:collapse;font-size:13px;\">\
         <tr><th style=\"{TH}text-align:left;\">Name</th><th style=\"{TH}\">This month</th>\
         <th style=\"{TH}\">Last month</th><th style=\"{TH}\">Change</th><th style=\"{TH}\">95th max</th>\
         <th style=\"{TH}\">Coverage</th></tr>",
        esc(head)
    );
    for t in rows {
        let _ = write!(
            s,
            "<tr><td style=\"{TDL}\">{}</td><td style=\"{TD}\">{}</td><td style=\"{TD}\">{}</td>\
             <td style=\"{TD}\">{}</td><td style=\"{TD}\">{}</td><td style=\"{TD}\">{}</td></tr>",
            esc(&t.name),
            esc(&format_bytes(t.this_estimate)),
            esc(&format_bytes(t.last_estimate)),
            esc(&pct(t.change)),
            esc(&t.this.p95.max_bps.map_or("no data".into(), format_bps)),
            esc(&cov(&t.this))
        );
    }
    s.push_str("</table>");
}

/// The whole report as an HTML document.
pub fn html(r: &Report) -> String {
    let t = esc(&title(r));
    let mut s = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{t}</title></head>\
         <body style=\"margin:0;padding:16px;font-family:Arial,Helvetica,sans-serif;color:#222;background:#fff;\">\
         <h2 style=\"font-size:18px;margin:0 0 6px;\">{t}</h2>\
         <p style=\"color:#555;font-size:12px;margin:0 0 12px;\">Status thresholds: up from {:+.0} %, \
         down from {:+.0} %. Coverage is the measured share of the month; missing 5-minute slots are \
         left out of the 95th percentile, never counted as zero.</p>",
        r.thresholds.0 * 100.0,
        -r.thresholds.1 * 100.0
    );
    for (am, rows) in r.by_account_manager() {
        let _ = write!(
            s,
            "<h3 style=\"font-size:15px;margin:18px 0 6px;\">Account manager: {}</h3>",
            esc(am.unwrap_or("(none)"))
        );
        customer_table(&mut s, &rows, r.partial);
    }
    list(&mut s, "Top growers", r.top_growers(5));
    list(&mut s, "Top decliners", r.top_decliners(5));
    list(&mut s, "New customers", r.with_status(Status::New));
    list(&mut s, "Churned customers", r.with_status(Status::Churned));
    if r.account_manager.is_none() {
        totals(&mut s, "Product lines", &r.product_lines);
        totals(&mut s, "Sites", &r.sites);
    }
    super::money::html(r, &mut s);
    s.push_str("</body></html>\n");
    s
}
