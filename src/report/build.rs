//! Building the monthly report: every customer's usage this month and last, the change, the
//! status (new, churned, up, down, steady), the billed 95th with its coverage, groupings by
//! account manager, and product-line and site totals.
//!
//! Comparisons use each month's *estimate*: the measured average rate over the whole month
//! (so gaps neither inflate nor deflate a customer) plus imported bytes. For `current`, the
//! month so far is projected linearly to the month's end the same way.

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use serde::Serialize;

use crate::config::{Billing, Config};
use crate::store::{Entity, EntityKind, StoreError, UsageBook, UsageRecord};
use crate::usage::{Month, Period, Usage};

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

/// One customer's line.
#[derive(Clone, Debug, Serialize)]
pub struct CustomerRow {
    /// Customer id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Route of the account manager.
    pub account_manager: Option<String>,
    /// Billing method.
    pub billing: Billing,
    /// This month (so far, for `current`).
    pub this: Usage,
    /// The month before.
    pub last: Usage,
    /// This month's estimated (projected, for `current`) bytes.
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

/// A product line's or site's line.
#[derive(Clone, Debug, Serialize)]
pub struct TotalRow {
    /// Name.
    pub name: String,
    /// This month.
    pub this: Usage,
    /// The month before.
    pub last: Usage,
    /// This month's estimated bytes.
    pub this_estimate: f64,
    /// Last month's estimated bytes.
    pub last_estimate: f64,
    /// Change as a fraction.
    pub change: Option<f64>,
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The month reported.
    pub month: Month,
    /// The month compared with.
    pub previous: Month,
    /// When it was built.
    pub generated: Timestamp,
    /// True for the month so far (figures projected to month end).
    pub partial: bool,
    /// The period measured this month.
    pub period: Period,
    /// `[report] up` and `down`.
    pub thresholds: (f64, f64),
    /// Every customer, by id.
    pub customers: Vec<CustomerRow>,
    /// Product lines, by name.
    pub product_lines: Vec<TotalRow>,
    /// Sites, by name.
    pub sites: Vec<TotalRow>,
    /// Only this account manager's customers, when asked for.
    pub account_manager: Option<String>,
    /// Revenue, allocated transit cost and margin, when prices are configured.
    pub accounts: Option<crate::cost::Accounts>,
}

/// Reads everything the report needs for `month` from the store. With `current`, the
/// period ends at `now` (rounded down to 5 minutes) and figures are projected. With
/// `[report] exclude_attacks`, the spike rules are read from the rules folder.
pub fn build(
    book: &UsageBook,
    config: &Config,
    month: Month,
    now: Timestamp,
    current: bool,
) -> Result<Report, StoreError> {
    let spikes = if config.report.exclude_attacks {
        crate::usage::attacks::spike_rules(config)
    } else {
        Vec::new()
    };
    build_with(book, config, month, now, current, &spikes)
}

/// [`build`] with the spike rules given: with `[report] exclude_attacks`, slots inside
/// their firing alerts on a customer or its ports are left out of its 95th.
pub fn build_with(
    book: &UsageBook,
    config: &Config,
    month: Month,
    now: Timestamp,
    current: bool,
    spike_rules: &[String],
) -> Result<Report, StoreError> {
    let prev = month.prev();
    let this_p = Period {
        from: month.start(),
        to: if current {
            (now.as_second().div_euclid(300) * 300).clamp(month.start(), month.end())
        } else {
            month.end()
        },
    };
    let last_p = Period {
        from: prev.start(),
        to: prev.end(),
    };
    let mut imported: HashMap<String, Vec<UsageRecord>> = HashMap::new();
    let from = Timestamp::from_second(last_p.from).unwrap_or(Timestamp::UNIX_EPOCH);
    let to = Timestamp::from_second(this_p.to.max(this_p.from)).unwrap_or(Timestamp::UNIX_EPOCH);
    for r in book.records(from, to)? {
        imported.entry(r.customer.clone()).or_default().push(r);
    }
    let usage = |kind: EntityKind, name: &str, p: Period| -> Result<Usage, StoreError> {
        let buckets = book
            .buckets_5m(&Entity::new(kind, name), p.from, p.to)?
            .unwrap_or_default();
        Ok(Usage::from_buckets(&buckets, p))
    };
    let settings = &config.report;
    let mut customers = Vec::new();
    let customer_usage = |c: &crate::config::Customer, p: Period| -> Result<Usage, StoreError> {
        let buckets = book
            .buckets_5m(&Entity::new(EntityKind::Customer, &c.id), p.from, p.to)?
            .unwrap_or_default();
        let attacks = if settings.exclude_attacks {
            crate::usage::attacks::attack_spans(book, spike_rules, c, p.from, p.to)?
        } else {
            Vec::new()
        };
        Ok(Usage::from_buckets_excluding(&buckets, p, &attacks))
    };
    // Customers named only by an ifAlias pattern have series but no [[customer]] entry; they
    // are reported (by id, without an account manager) for the months they have data.
    let unlisted: Vec<crate::config::Customer> = book
        .customers()?
        .into_iter()
        .filter(|id| !config.topology.customers.contains_key(id))
        .map(|id| crate::config::Customer {
            name: id.clone(),
            id,
            account_manager: None,
            ports: Vec::new(),
        })
        .collect();
    let listed = config.topology.customers.values().map(|c| (c, true));
    for (c, configured) in listed.chain(unlisted.iter().map(|c| (c, false))) {
        let mut this = customer_usage(c, this_p)?;
        let mut last = customer_usage(c, last_p)?;
        if !configured && this.slots == 0 && last.slots == 0 {
            continue;
        }
        if let Some(recs) = imported.get(&c.id) {
            this.add_imported(recs);
            last.add_imported(recs);
        }
        let this_estimate = this.estimated_bytes(month.secs());
        let last_estimate = last.estimated_bytes(prev.secs());
        let change = change(this_estimate, last_estimate);
        let status = status(&this, &last, this_estimate, last_estimate, settings);
        let billing = settings.billing_of(&c.id);
        customers.push(CustomerRow {
            id: c.id.clone(),
            name: c.name.clone(),
            account_manager: c.account_manager.clone(),
            billing,
            billed_bps: this.p95.billed(billing),
            this,
            last,
            this_estimate,
            last_estimate,
            change,
            status,
        });
    }
    customers.sort_by(|a, b| a.id.cmp(&b.id));
    let totals = |kind: EntityKind, names: Vec<&String>| -> Result<Vec<TotalRow>, StoreError> {
        names
            .into_iter()
            .map(|n| {
                let this = usage(kind, n, this_p)?;
                let last = usage(kind, n, last_p)?;
                let this_estimate = this.estimated_bytes(month.secs());
                let last_estimate = last.estimated_bytes(prev.secs());
                Ok(TotalRow {
                    name: n.clone(),
                    change: change(this_estimate, last_estimate),
                    this,
                    last,
                    this_estimate,
                    last_estimate,
                })
            })
            .collect()
    };
    let product_lines = totals(
        EntityKind::ProductLine,
        config.topology.product_lines.keys().collect(),
    )?;
    let sites = totals(EntityKind::Site, config.topology.sites.keys().collect())?;
    let mut report = Report {
        month,
        previous: prev,
        generated: now,
        partial: current,
        period: this_p,
        thresholds: (settings.up, settings.down),
        customers,
        product_lines,
        sites,
        account_manager: None,
        accounts: None,
    };
    if !config.topology.pricing.is_empty() {
        report.accounts = Some(crate::cost::Accounts::compute(
            book,
            &config.topology,
            &report,
        )?);
    }
    Ok(report)
}

fn change(this: f64, last: f64) -> Option<f64> {
    (last > 0.0).then(|| (this - last) / last)
}

fn status(
    this: &Usage,
    last: &Usage,
    this_est: f64,
    last_est: f64,
    s: &crate::config::ReportSettings,
) -> Status {
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

impl Report {
    /// Keeps only the customers of one account manager (their own report).
    pub fn only_account_manager(mut self, route: &str) -> Report {
        self.customers
            .retain(|c| c.account_manager.as_deref() == Some(route));
        self.account_manager = Some(route.to_string());
        if let Some(a) = &mut self.accounts {
            a.only_account_manager(route);
        }
        self
    }

    /// Customers grouped by account manager (`None` last: customers without one).
    pub fn by_account_manager(&self) -> Vec<(Option<&str>, Vec<&CustomerRow>)> {
        let mut m: BTreeMap<(bool, Option<&str>), Vec<&CustomerRow>> = BTreeMap::new();
        for c in &self.customers {
            let am = c.account_manager.as_deref();
            m.entry((am.is_none(), am)).or_default().push(c);
        }
        m.into_iter().map(|((_, am), v)| (am, v)).collect()
    }

    /// Customers with the given status.
    pub fn with_status(&self, status: Status) -> Vec<&CustomerRow> {
        self.customers
            .iter()
            .filter(|c| c.status == status)
            .collect()
    }

    /// Up to `n` customers with the largest growth (positive changes only).
    pub fn top_growers(&self, n: usize) -> Vec<&CustomerRow> {
        let mut v: Vec<&CustomerRow> = self
            .customers
            .iter()
            .filter(|c| c.change.is_some_and(|x| x > 0.0) && c.status != Status::Churned)
            .collect();
        v.sort_by(|a, b| b.change.unwrap_or(0.0).total_cmp(&a.change.unwrap_or(0.0)));
        v.truncate(n);
        v
    }

    /// Up to `n` customers with the largest fall (negative changes only).
    pub fn top_decliners(&self, n: usize) -> Vec<&CustomerRow> {
        let mut v: Vec<&CustomerRow> = self
            .customers
            .iter()
            .filter(|c| c.change.is_some_and(|x| x < 0.0))
            .collect();
        v.sort_by(|a, b| a.change.unwrap_or(0.0).total_cmp(&b.change.unwrap_or(0.0)));
        v.truncate(n);
        v
    }
}
