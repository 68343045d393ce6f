//! The month's money: each customer's revenue from its plan (or flat fee) and measured usage,
//! this month and last, the transit cost allocated to it and its margin; the same summed per
//! account manager and per product line; totals per currency. Built from the customers'
//! usage of [`crate::usage`] (gaps left out, imports counted), the same the report prints,
//! and [`super::allocate`](mod@super::allocate).
//!
//! A month in which a customer used nothing at all bills nothing (it was not, or no longer,
//! a customer); a month in which nothing was measured is unknown (`None`), never zero.
//! For the month so far, revenue and cost are what the month would bill if it closed now,
//! and the projection carries volume to the month's end (a 95th so far is the estimate of
//! the month's 95th).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;

use super::allocate::{UplinkCost, allocate};
use super::bill::bill_usage;
use crate::config::{Config, Revenue, Topology};
use crate::rules::rule::Rule;
use crate::store::{StoreError, UsageBook};
use crate::usage::{CustomerUsage, Month, Months, Status, Usage};

/// One customer's money.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CustomerMoney {
    /// Customer id.
    pub id: String,
    /// Route of the account manager.
    pub account_manager: Option<String>,
    /// Currency of everything below.
    pub currency: String,
    /// Price plan name, or `None` for a flat fee.
    pub plan: Option<String>,
    /// The usage status (new, churned, ...).
    pub status: Status,
    /// Revenue of the month (so far); `None` when nothing was measured.
    pub revenue: Option<f64>,
    /// Revenue projected to the month's end (equal to `revenue` for a whole month).
    pub revenue_projected: Option<f64>,
    /// Revenue of the month before.
    pub last_revenue: Option<f64>,
    /// `revenue_projected - last_revenue`, when both are known.
    pub change: Option<f64>,
    /// Transit cost allocated to the customer.
    pub cost: f64,
    /// Allocated cost projected to the month's end.
    pub cost_projected: f64,
    /// Projected revenue minus projected allocated cost.
    pub margin: Option<f64>,
}

/// The money of a group: an account manager's customers, a product line, or a currency's
/// total.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GroupMoney {
    /// Account manager route, product line name, or the currency for totals.
    pub name: String,
    /// Currency.
    pub currency: String,
    /// Revenue (projected for the month so far).
    pub revenue: f64,
    /// Revenue of the month before.
    pub last_revenue: f64,
    /// Transit cost (allocated, projected for the month so far).
    pub cost: f64,
    /// Revenue minus cost.
    pub margin: f64,
}

/// The month's money, for the report and `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Accounts {
    /// Priced customers, by id.
    pub customers: Vec<CustomerMoney>,
    /// Per account manager (`(none)` for customers without one).
    pub account_managers: Vec<GroupMoney>,
    /// Per product line.
    pub product_lines: Vec<GroupMoney>,
    /// Every priced uplink's transit cost.
    pub uplinks: Vec<UplinkCost>,
    /// Totals per currency: all revenue, all transit cost (allocated or not), the margin.
    pub totals: Vec<GroupMoney>,
    /// Transit cost allocated to each product line over the period itself (the month so
    /// far, not projected), for `/metrics`.
    pub product_line_cost_to_date: BTreeMap<String, crate::cost::allocate::Share>,
}

/// What a customer's usage of one month bills: `None` when nothing was measured or imported,
/// 0 when it used nothing, else its plan's bill (on `volume_bytes` for volume plans) or its
/// flat fee.
pub fn month_revenue(
    topology: &Topology,
    customer: &str,
    usage: &Usage,
    volume_bytes: f64,
) -> Option<f64> {
    let pricing = &topology.pricing;
    let how = pricing.customers.get(customer)?;
    if usage.slots == 0 && usage.imported_bytes == 0 {
        return None;
    }
    if usage.total_bytes() == 0 {
        return Some(0.0);
    }
    Some(match how {
        Revenue::Plan(p) => bill_usage(pricing.plans.get(p)?, usage, volume_bytes),
        Revenue::Flat { amount, .. } => *amount,
    })
}

impl Accounts {
    /// The money of `months`: revenue from the customers' usage, transit cost read and
    /// allocated from the store.
    pub fn compute(
        book: &UsageBook,
        topology: &Topology,
        months: &Months,
        usage: &[CustomerUsage],
    ) -> Result<Accounts, StoreError> {
        let alloc = allocate(book, topology, months.this, months.month.secs())?;
        let pricing = &topology.pricing;
        let mut customers = Vec::new();
        for row in usage {
            let Some(currency) = pricing.customer_currency(&row.id) else {
                continue;
            };
            let revenue =
                month_revenue(topology, &row.id, &row.this, row.this.total_bytes() as f64);
            let revenue_projected = if months.partial {
                month_revenue(topology, &row.id, &row.this, row.this_estimate)
            } else {
                revenue
            };
            let last_revenue =
                month_revenue(topology, &row.id, &row.last, row.last.total_bytes() as f64);
            let share = alloc.customers.get(&row.id);
            let cost = share.map_or(0.0, |s| s.cost);
            let cost_projected = share.map_or(0.0, |s| s.cost_projected);
            customers.push(CustomerMoney {
                id: row.id.clone(),
                account_manager: row.account_manager.clone(),
                currency: currency.to_string(),
                plan: pricing.customer_plan(&row.id).map(|p| p.name.clone()),
                status: row.status,
                revenue,
                revenue_projected,
                last_revenue,
                change: revenue_projected.zip(last_revenue).map(|(a, b)| a - b),
                cost,
                cost_projected,
                margin: revenue_projected.map(|r| r - cost_projected),
            });
        }
        // Account managers.
        let mut ams: BTreeMap<(bool, String), GroupMoney> = BTreeMap::new();
        for c in &customers {
            let name = c.account_manager.clone().unwrap_or_else(|| "(none)".into());
            let g = ams
                .entry((c.account_manager.is_none(), name.clone()))
                .or_insert_with(|| group(&name, &c.currency));
            g.revenue += c.revenue_projected.unwrap_or(0.0);
            g.last_revenue += c.last_revenue.unwrap_or(0.0);
            g.cost += c.cost_projected;
        }
        // Product lines: the customers whose ports are in the line (split evenly over its
        // lines when a customer's ports are in several), and the transit allocated to it.
        let mut lines: BTreeMap<String, GroupMoney> = BTreeMap::new();
        for c in &customers {
            let Some(cust) = topology.customers.get(&c.id) else {
                continue;
            };
            let its: Vec<&str> = topology
                .product_lines
                .values()
                .filter(|pl| cust.ports.iter().any(|pk| pl.ports.contains(pk)))
                .map(|pl| pl.name.as_str())
                .collect();
            let n = its.len() as f64;
            for pl in its {
                let g = lines
                    .entry(pl.to_string())
                    .or_insert_with(|| group(pl, &c.currency));
                g.revenue += c.revenue_projected.unwrap_or(0.0) / n;
                g.last_revenue += c.last_revenue.unwrap_or(0.0) / n;
            }
        }
        for (pl, s) in &alloc.product_lines {
            let g = lines
                .entry(pl.clone())
                .or_insert_with(|| group(pl, &s.currency));
            g.cost += s.cost_projected;
        }
        // Totals per currency.
        let mut totals: BTreeMap<String, GroupMoney> = BTreeMap::new();
        for c in &customers {
            let g = totals
                .entry(c.currency.clone())
                .or_insert_with(|| group(&c.currency, &c.currency));
            g.revenue += c.revenue_projected.unwrap_or(0.0);
            g.last_revenue += c.last_revenue.unwrap_or(0.0);
        }
        for u in &alloc.uplinks {
            let g = totals
                .entry(u.currency.clone())
                .or_insert_with(|| group(&u.currency, &u.currency));
            g.cost += u.cost_projected;
        }
        let finish = |mut g: GroupMoney| {
            g.margin = g.revenue - g.cost;
            g
        };
        Ok(Accounts {
            customers,
            account_managers: ams.into_values().map(finish).collect(),
            product_lines: lines.into_values().map(finish).collect(),
            uplinks: alloc.uplinks,
            totals: totals.into_values().map(finish).collect(),
            product_line_cost_to_date: alloc.product_lines,
        })
    }

    /// A customer's money.
    pub fn customer(&self, id: &str) -> Option<&CustomerMoney> {
        self.customers.iter().find(|c| c.id == id)
    }

    /// Up to `n` customers with the largest revenue change either way, largest first.
    pub fn top_changes(&self, n: usize) -> Vec<&CustomerMoney> {
        let mut v: Vec<&CustomerMoney> = self
            .customers
            .iter()
            .filter(|c| c.change.is_some_and(|x| x != 0.0))
            .collect();
        v.sort_by(|a, b| {
            let (x, y) = (a.change.unwrap_or(0.0).abs(), b.change.unwrap_or(0.0).abs());
            y.total_cmp(&x).then_with(|| a.id.cmp(&b.id))
        });
        v.truncate(n);
        v
    }

    /// Churned customers with the revenue lost (last month's revenue), largest first.
    pub fn churned(&self) -> Vec<(&CustomerMoney, f64)> {
        self.with_status(Status::Churned, |c| c.last_revenue)
    }

    /// New customers with the revenue gained (this month's, projected), largest first.
    pub fn new_customers(&self) -> Vec<(&CustomerMoney, f64)> {
        self.with_status(Status::New, |c| c.revenue_projected)
    }

    /// The customers with `status` and their `amount` (0 when unknown), largest first.
    fn with_status(
        &self,
        status: Status,
        amount: impl Fn(&CustomerMoney) -> Option<f64>,
    ) -> Vec<(&CustomerMoney, f64)> {
        let mut v: Vec<(&CustomerMoney, f64)> = self
            .customers
            .iter()
            .filter(|c| c.status == status)
            .map(|c| (c, amount(c).unwrap_or(0.0)))
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.id.cmp(&b.0.id)));
        v
    }

    /// Only one account manager's customers and group (their own report).
    pub fn only_account_manager(&mut self, route: &str) {
        self.customers
            .retain(|c| c.account_manager.as_deref() == Some(route));
        self.account_managers.retain(|g| g.name == route);
        self.product_lines.clear();
        self.uplinks.clear();
        self.totals.clear();
        self.product_line_cost_to_date.clear();
    }
}

fn group(name: &str, currency: &str) -> GroupMoney {
    GroupMoney {
        name: name.to_string(),
        currency: currency.to_string(),
        revenue: 0.0,
        last_revenue: 0.0,
        cost: 0.0,
        margin: 0.0,
    }
}

/// The money of the month so far at `now` (what `/metrics` exports), from the customers'
/// usage of the current month, as the report computes it (`rules` are the rules in force,
/// whose spike rules `[report] exclude_attacks` leaves out of the 95th). `None` when nothing
/// is priced.
pub fn month_to_date(
    book: &UsageBook,
    config: &Config,
    now: Timestamp,
    rules: &[Rule],
) -> Result<Option<Accounts>, StoreError> {
    let topology = &config.topology;
    if topology.pricing.is_empty() {
        return Ok(None);
    }
    let spikes = crate::usage::attacks::spike_rules(rules);
    let months = Months::new(Month::of(now), now, true);
    let usage = crate::usage::customers(book, topology, &config.report, &spikes, &months)?;
    Accounts::compute(book, topology, &months, &usage).map(Some)
}
