//! Building the monthly report: every customer's usage this month and last with its change
//! and status, groupings by account manager, product-line and site totals (all from
//! [`crate::usage`]), and the month's money from [`crate::cost`] when prices are configured.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;

use crate::config::Config;
use crate::cost::Accounts;
use crate::rules::rule::Rule;
use crate::store::{EntityKind, StoreError, UsageBook};
use crate::usage::attacks::spike_rules;
use crate::usage::{CustomerUsage, GroupUsage, Month, Months, Period, Status};

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
    pub customers: Vec<CustomerUsage>,
    /// Product lines, by name.
    pub product_lines: Vec<GroupUsage>,
    /// Sites, by name.
    pub sites: Vec<GroupUsage>,
    /// Only this account manager's customers, when asked for.
    pub account_manager: Option<String>,
    /// Revenue, allocated transit cost and margin, when prices are configured.
    pub accounts: Option<Accounts>,
}

/// Reads everything the report needs for `month` from the store. With `current`, the
/// period ends at `now` (rounded down to 5 minutes) and figures are projected. `rules` are
/// the rules in force: with `[report] exclude_attacks`, slots inside firing alerts of their
/// spike rules on a customer or its ports are left out of its 95th.
pub fn build(
    book: &UsageBook,
    config: &Config,
    month: Month,
    now: Timestamp,
    current: bool,
    rules: &[Rule],
) -> Result<Report, StoreError> {
    let months = Months::new(month, now, current);
    let topology = &config.topology;
    let spikes = spike_rules(rules);
    let customers = crate::usage::customers(book, topology, &config.report, &spikes, &months)?;
    let product_lines = crate::usage::groups(
        book,
        EntityKind::ProductLine,
        topology.product_lines.keys(),
        &months,
    )?;
    let sites = crate::usage::groups(book, EntityKind::Site, topology.sites.keys(), &months)?;
    let accounts = if topology.pricing.is_empty() {
        None
    } else {
        Some(Accounts::compute(book, topology, &months, &customers)?)
    };
    Ok(Report {
        month,
        previous: months.previous,
        generated: now,
        partial: current,
        period: months.this,
        thresholds: (config.report.up, config.report.down),
        customers,
        product_lines,
        sites,
        account_manager: None,
        accounts,
    })
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
    pub fn by_account_manager(&self) -> Vec<(Option<&str>, Vec<&CustomerUsage>)> {
        let mut m: BTreeMap<(bool, Option<&str>), Vec<&CustomerUsage>> = BTreeMap::new();
        for c in &self.customers {
            let am = c.account_manager.as_deref();
            m.entry((am.is_none(), am)).or_default().push(c);
        }
        m.into_iter().map(|((_, am), v)| (am, v)).collect()
    }

    /// Customers with the given status.
    pub fn with_status(&self, status: Status) -> Vec<&CustomerUsage> {
        self.customers
            .iter()
            .filter(|c| c.status == status)
            .collect()
    }

    /// Up to `n` customers with the largest growth (positive changes only).
    pub fn top_growers(&self, n: usize) -> Vec<&CustomerUsage> {
        let mut v: Vec<&CustomerUsage> = self
            .customers
            .iter()
            .filter(|c| c.change.is_some_and(|x| x > 0.0) && c.status != Status::Churned)
            .collect();
        v.sort_by(|a, b| b.change.unwrap_or(0.0).total_cmp(&a.change.unwrap_or(0.0)));
        v.truncate(n);
        v
    }

    /// Up to `n` customers with the largest fall (negative changes only).
    pub fn top_decliners(&self, n: usize) -> Vec<&CustomerUsage> {
        let mut v: Vec<&CustomerUsage> = self
            .customers
            .iter()
            .filter(|c| c.change.is_some_and(|x| x < 0.0))
            .collect();
        v.sort_by(|a, b| a.change.unwrap_or(0.0).total_cmp(&b.change.unwrap_or(0.0)));
        v.truncate(n);
        v
    }
}
