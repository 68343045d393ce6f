//! Every customer's month against the month before: its usage both months (all its ports on
//! all its switches, counted once through the store's customer aggregate, plus imported
//! records), the estimates compared, the change, the status (new, churned, up, down, steady)
//! and the 95th its billing method bills.
//!
//! Comparisons use each month's *estimate*: the measured average rate over the whole month
//! (so gaps neither inflate nor deflate a customer) plus imported bytes. For the month so
//! far, the estimate projects it linearly to the month's end the same way.

use std::collections::HashMap;

use jiff::Timestamp;
use serde::Serialize;

use super::attacks::attack_spans;
use super::month::{Months, change};
use super::period::Period;
use super::series::Usage;
use crate::config::{Billing, Customer, ReportSettings, Topology};
use crate::store::{Entity, EntityKind, StoreError, UsageBook, UsageRecord};

/// A customer whose recent rate is below this fraction of last month's average has stopped
/// ("none or near none now").
pub const CHURN_FRACTION: f64 = 0.05;

/// How a customer's usage moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// No usage the month before, some now.
    New,
    /// Usage the month before, none or near none at the end of this month.
    Churned,
    /// Grew by at least `[report] up`.
    Up,
    /// Fell by at least `[report] down`.
    Down,
    /// Within the thresholds.
    Steady,
    /// No usage in either month.
    Idle,
    /// Usage the month before, but nothing was measured this month (polling gap, not churn).
    NoData,
}

impl Status {
    /// The status as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Churned => "churned",
            Status::Up => "up",
            Status::Down => "down",
            Status::Steady => "steady",
            Status::Idle => "idle",
            Status::NoData => "no_data",
        }
    }
}

/// One customer's month against the month before.
#[derive(Clone, Debug, Serialize)]
pub struct CustomerUsage {
    /// Customer id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Route of the account manager.
    pub account_manager: Option<String>,
    /// Billing method.
    pub billing: Billing,
    /// This month (so far, for the current month).
    pub this: Usage,
    /// The month before.
    pub last: Usage,
    /// This month's estimated (projected, for the current month) bytes.
    pub this_estimate: f64,
    /// Last month's estimated bytes.
    pub last_estimate: f64,
    /// Change of the estimates, as a fraction (`None` without usage last month).
    pub change: Option<f64>,
    /// The status.
    pub status: Status,
    /// The billed 95th in bit/s (`None` for `volume` or without measurements).
    pub billed_bps: Option<f64>,
}

/// The spans of the maintenance windows marked `exclude_samples` on the customer or on one
/// of its ports, within `p`: their slots are left out of the customer's 95th.
fn maintenance_spans(topology: &Topology, c: &Customer, p: Period) -> Vec<(i64, i64)> {
    if topology.maintenance.is_empty() {
        return Vec::new();
    }
    let mut labels = vec![crate::rules::Entity::customer(c).labels];
    labels.extend(
        c.ports
            .iter()
            .filter_map(|k| topology.port(k))
            .map(|port| crate::rules::Entity::port(port).labels),
    );
    crate::maintenance::excluded_spans(&topology.maintenance, &labels, p.from, p.to)
}

/// Every customer's usage in `months`, by id: the configured customers, and those named only
/// by an ifAlias pattern (by id, without an account manager) in the months they have data.
/// With `[report] exclude_attacks`, slots inside firing alerts of `spike_rules` on a customer
/// or its ports are left out of its 95th; so are slots inside maintenance windows marked
/// `exclude_samples` on it or its ports.
pub fn customers(
    book: &UsageBook,
    topology: &Topology,
    settings: &ReportSettings,
    spike_rules: &[String],
    months: &Months,
) -> Result<Vec<CustomerUsage>, StoreError> {
    let imported = imported_by_customer(book, months)?;
    let usage = |c: &Customer, p: Period| -> Result<Usage, StoreError> {
        let mut attacks = if settings.exclude_attacks {
            attack_spans(book, spike_rules, c, p.from, p.to)?
        } else {
            Vec::new()
        };
        attacks.extend(maintenance_spans(topology, c, p));
        Usage::read_excluding(book, &Entity::new(EntityKind::Customer, &c.id), p, &attacks)
    };
    // Customers named only by an ifAlias pattern have series but no [[customer]] entry.
    let unlisted: Vec<Customer> = book
        .customers()?
        .into_iter()
        .filter(|id| !topology.customers.contains_key(id))
        .map(|id| Customer {
            name: id.clone(),
            id,
            account_manager: None,
            ports: Vec::new(),
        })
        .collect();
    let listed = topology.customers.values().map(|c| (c, true));
    let mut out = Vec::new();
    for (c, configured) in listed.chain(unlisted.iter().map(|c| (c, false))) {
        let mut this = usage(c, months.this)?;
        let mut last = usage(c, months.last)?;
        if !configured && this.slots == 0 && last.slots == 0 {
            continue;
        }
        if let Some(recs) = imported.get(&c.id) {
            this.add_imported(recs);
            last.add_imported(recs);
        }
        let (this_estimate, last_estimate) = months.estimates(&this, &last);
        let status = status(&this, &last, this_estimate, last_estimate, settings);
        let billing = settings.billing_of(&c.id);
        out.push(CustomerUsage {
            id: c.id.clone(),
            name: c.name.clone(),
            account_manager: c.account_manager.clone(),
            billing,
            billed_bps: this.p95.billed(billing),
            this,
            last,
            this_estimate,
            last_estimate,
            change: change(this_estimate, last_estimate),
            status,
        });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// The imported records overlapping either month, per customer.
fn imported_by_customer(
    book: &UsageBook,
    months: &Months,
) -> Result<HashMap<String, Vec<UsageRecord>>, StoreError> {
    let ts = |s: i64| Timestamp::from_second(s).unwrap_or(Timestamp::UNIX_EPOCH);
    let (from, to) = (months.last.from, months.this.to.max(months.this.from));
    let mut imported: HashMap<String, Vec<UsageRecord>> = HashMap::new();
    for r in book.records(ts(from), ts(to))? {
        imported.entry(r.customer.clone()).or_default().push(r);
    }
    Ok(imported)
}

fn status(this: &Usage, last: &Usage, this_est: f64, last_est: f64, s: &ReportSettings) -> Status {
    match (this_est > 0.0, last_est > 0.0) {
        (false, false) => Status::Idle,
        (true, false) => Status::New,
        // Nothing measured is not nothing used.
        (false, true) if this.slots == 0 => Status::NoData,
        (false, true) => Status::Churned,
        (true, true) => {
            // Near none now: the last week's *measured* rate is a sliver of last month's
            // average (a last week without measurements says nothing).
            let before = last.average_bps.unwrap_or(0.0);
            if let Some(recent) = this.recent_bps
                && this.imported_bytes == 0
                && before > 0.0
                && recent < before * CHURN_FRACTION
            {
                return Status::Churned;
            }
            let c = (this_est - last_est) / last_est;
            if c >= s.up {
                Status::Up
            } else if c <= -s.down {
                Status::Down
            } else {
                Status::Steady
            }
        }
    }
}
