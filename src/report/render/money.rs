//! The money sections of the report, when prices are configured: revenue, allocated transit
//! cost and margin per customer, per account manager and per product line; the transit of
//! each priced uplink; the largest revenue changes; churned customers with the revenue lost
//! and new ones with the revenue gained; totals per currency. Text and HTML here; the CSV
//! and JSON carry the same figures (the money columns, and the `accounts` field).

use std::fmt::Write as _;

use maud::{Markup, html};

use super::html::{H3, TABLE, TD, TDL, TH};
use crate::config::units::format_bps;
use crate::cost::{Accounts, CustomerMoney, GroupMoney, format_money};
use crate::report::Report;

/// How many customers the "largest revenue changes" list shows.
pub const TOP_CHANGES: usize = 10;

fn money(v: Option<f64>, currency: &str) -> String {
    v.map_or("no data".into(), |v| format_money(v, currency))
}

fn signed(v: Option<f64>, currency: &str) -> String {
    match v {
        Some(x) if x > 0.0 => format!("+{}", format_money(x, currency)),
        Some(x) => format_money(x, currency),
        None => "n/a".into(),
    }
}

/// The revenue label: projected for the month so far.
fn revenue_label(r: &Report) -> &'static str {
    if r.partial {
        "revenue (proj.)"
    } else {
        "revenue"
    }
}

/// Rows of one table: a header and cells, shared by text and HTML.
struct Table {
    head: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

fn customers(r: &Report, a: &Accounts) -> Table {
    Table {
        head: vec![
            "customer",
            "plan",
            revenue_label(r),
            "last month",
            "change",
            "allocated cost",
            "margin",
        ],
        rows: a
            .customers
            .iter()
            .map(|c| {
                vec![
                    c.id.clone(),
                    c.plan.clone().unwrap_or_else(|| "flat fee".into()),
                    money(c.revenue_projected, &c.currency),
                    money(c.last_revenue, &c.currency),
                    signed(c.change, &c.currency),
                    format_money(c.cost_projected, &c.currency),
                    money(c.margin, &c.currency),
                ]
            })
            .collect(),
    }
}

fn groups(first: &'static str, r: &Report, gs: &[GroupMoney]) -> Table {
    Table {
        head: vec![
            first,
            revenue_label(r),
            "last month",
            "transit cost",
            "margin",
        ],
        rows: gs
            .iter()
            .map(|g| {
                vec![
                    g.name.clone(),
                    format_money(g.revenue, &g.currency),
                    format_money(g.last_revenue, &g.currency),
                    format_money(g.cost, &g.currency),
                    format_money(g.margin, &g.currency),
                ]
            })
            .collect(),
    }
}

fn uplinks(r: &Report, a: &Accounts) -> Table {
    Table {
        head: vec![
            "uplink",
            "site",
            "plan",
            "billed",
            if r.partial { "cost (proj.)" } else { "cost" },
            "unallocated",
        ],
        rows: a
            .uplinks
            .iter()
            .map(|u| {
                vec![
                    u.port.to_string(),
                    u.site.clone(),
                    format!("{} ({})", u.plan, u.billing.as_str()),
                    match u.billed_bps {
                        Some(b) => format_bps(b),
                        None if u.billing == crate::config::Billing::Volume => {
                            crate::config::units::format_bytes(u.bytes as f64)
                        }
                        None => "no data".into(),
                    },
                    format_money(u.cost_projected, &u.currency),
                    format!("{:.0} %", u.unallocated_customers * 100.0),
                ]
            })
            .collect(),
    }
}

fn changes(a: &Accounts) -> Table {
    let row = |c: &CustomerMoney| {
        vec![
            c.id.clone(),
            money(c.last_revenue, &c.currency),
            money(c.revenue_projected, &c.currency),
            signed(c.change, &c.currency),
        ]
    };
    Table {
        head: vec!["customer", "last month", "this month", "change"],
        rows: a.top_changes(TOP_CHANGES).into_iter().map(row).collect(),
    }
}

fn lost_gained(head: &'static str, list: Vec<(&CustomerMoney, f64)>) -> Table {
    Table {
        head: vec!["customer", head],
        rows: list
            .into_iter()
            .map(|(c, v)| vec![c.id.clone(), format_money(v, &c.currency)])
            .collect(),
    }
}

/// Every money table with its title, in report order (account-manager reports get their
/// customers and their own line only).
fn tables(r: &Report, a: &Accounts) -> Vec<(&'static str, Table)> {
    let mut v = vec![
        (
            "Revenue, allocated transit cost and margin per customer",
            customers(r, a),
        ),
        (
            "Per account manager",
            groups("account manager", r, &a.account_managers),
        ),
        ("Largest revenue changes", changes(a)),
        (
            "Churned customers: revenue lost",
            lost_gained("revenue lost", a.churned()),
        ),
        (
            "New customers: revenue gained",
            lost_gained("revenue gained", a.new_customers()),
        ),
    ];
    if r.account_manager.is_none() {
        v.push((
            "Per product line",
            groups("product line", r, &a.product_lines),
        ));
        v.push(("Transit per uplink", uplinks(r, a)));
        v.push(("Totals per currency", groups("currency", r, &a.totals)));
    }
    v
}

/// The money sections as text.
pub fn text(r: &Report, s: &mut String) {
    let Some(a) = &r.accounts else { return };
    let _ = writeln!(
        s,
        "Money: revenue from each customer's plan and measured usage; transit cost of each \
         priced uplink allocated by traffic through its site in each 5-minute slot (95th-billed \
         uplinks: the slots at or above their 95th). Margin = revenue - allocated cost.\n"
    );
    for (title, t) in tables(r, a) {
        let _ = writeln!(s, "== {title} ==");
        if t.rows.is_empty() {
            let _ = writeln!(s, "(none)\n");
            continue;
        }
        let widths: Vec<usize> = (0..t.head.len())
            .map(|i| {
                t.rows
                    .iter()
                    .map(|r| r[i].chars().count())
                    .chain([t.head[i].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: Vec<&str>| {
            cells
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if i == 0 {
                        format!("{c:<w$}", w = widths[i])
                    } else {
                        format!("{c:>w$}", w = widths[i])
                    }
                })
                .collect::<Vec<_>>()
                .join("  ")
        };
        let _ = writeln!(s, "{}", line(t.head.clone()));
        for row in &t.rows {
            let _ = writeln!(s, "{}", line(row.iter().map(String::as_str).collect()));
        }
        s.push('\n');
    }
}

/// The money sections as e-mail-safe HTML (escaped by `maud`).
pub fn html(r: &Report) -> Markup {
    let Some(a) = &r.accounts else {
        return html! {};
    };
    html! {
        h3 style="font-size:16px;margin:22px 0 4px;" { "Money" }
        p style="color:#555;font-size:12px;margin:0 0 8px;" {
            "Revenue from each customer's plan and measured usage; transit cost of each priced \
             uplink allocated by traffic through its site in each 5-minute slot (95th-billed \
             uplinks: the slots at or above their 95th). Margin = revenue - allocated cost."
        }
        @for (title, t) in tables(r, a) {
            h3 style=(H3) { (title) }
            @if t.rows.is_empty() {
                p style="color:#777;margin:0;" { "None." }
            } @else {
                table cellpadding="0" cellspacing="0" style=(TABLE) {
                    tr {
                        @for (i, h) in t.head.iter().enumerate() {
                            th style=(if i == 0 { format!("{TH}text-align:left;") } else { TH.to_string() }) { (h) }
                        }
                    }
                    @for row in &t.rows {
                        tr {
                            @for (i, c) in row.iter().enumerate() {
                                td style=(format!(
                                    "{}{}",
                                    if i == 0 { TDL } else { TD },
                                    if c.starts_with('-') { "color:#c53030;" } else { "" }
                                )) { (c) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The money columns of the CSV header.
pub const CSV_COLUMNS: [&str; 8] = [
    "currency",
    "revenue",
    "revenue_projected",
    "last_revenue",
    "revenue_change",
    "allocated_cost",
    "allocated_cost_projected",
    "margin",
];

fn num(v: Option<f64>) -> String {
    v.map_or(String::new(), |x| format!("{x:.2}"))
}

/// Empty money cells (no price).
pub fn csv_empty() -> Vec<String> {
    vec![String::new(); CSV_COLUMNS.len()]
}

/// The money cells of a customer's CSV line (empty without a price).
pub fn csv_customer(r: &Report, id: &str) -> Vec<String> {
    match r.accounts.as_ref().and_then(|a| a.customer(id)) {
        Some(c) => vec![
            c.currency.clone(),
            num(c.revenue),
            num(c.revenue_projected),
            num(c.last_revenue),
            num(c.change),
            format!("{:.2}", c.cost),
            format!("{:.2}", c.cost_projected),
            num(c.margin),
        ],
        None => csv_empty(),
    }
}

/// The money cells of a group's CSV line (revenue and cost as projected).
pub fn csv_group(g: &GroupMoney) -> Vec<String> {
    vec![
        g.currency.clone(),
        String::new(),
        format!("{:.2}", g.revenue),
        format!("{:.2}", g.last_revenue),
        format!("{:.2}", g.revenue - g.last_revenue),
        String::new(),
        format!("{:.2}", g.cost),
        format!("{:.2}", g.margin),
    ]
}
