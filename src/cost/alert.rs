//! The money line of an alert, computed when the alert becomes a notice:
//! - a churn warning on a priced customer says the revenue at risk: last month's revenue
//!   minus what the customer's current usage (the rule's `recent` windows, at least the last
//!   hour) would bill over a month; a rule's `min_revenue_at_risk` keeps immaterial ones from being sent;
//! - a spike on a 95th-billed uplink says what it would add to this month's transit bill if
//!   it lasted past the 95th window (the slots the 95th forgives, 36 h of a 30-day month),
//!   when the billed 95th would rise to the spike's rate; a surge of a 95th-billed customer
//!   says the same of its revenue.
//!
//! Usage comes from the store's 5-minute buckets, gaps left out as in the report.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::accounts::month_revenue;
use super::bill::{bill_rate, bill_volume, format_money};
use crate::config::{Billing, PricePlan, Revenue, Topology};
use crate::format::duration_secs as human_duration;
use crate::rules::rule::{Condition, Metric, Rule};
use crate::store::{Entity, EntityKind, StoreError, UsageBook};
use crate::usage::{Month, Period, Usage, rank_95};

/// The money an alert is about.
#[derive(Clone, Debug, PartialEq)]
pub struct MoneyNote {
    /// One line for the notice.
    pub line: String,
    /// Revenue at risk per month (churn warnings on priced customers only).
    pub revenue_at_risk: Option<f64>,
}

/// A customer's usage over `period`, imported records included.
fn customer_usage(book: &UsageBook, id: &str, period: Period) -> Result<Usage, StoreError> {
    let mut u = Usage::read(book, &Entity::new(EntityKind::Customer, id), period)?;
    u.read_imported(book, id)?;
    Ok(u)
}

/// The customer an alert is about: the entity itself or its `customer` label.
fn customer_of<'a>(entity: &'a str, labels: &'a BTreeMap<String, String>) -> Option<&'a str> {
    entity
        .strip_prefix("customer:")
        .or_else(|| labels.get("customer").map(String::as_str))
}

/// The money line of an alert of `rule` on `entity` with value `value` at `at`, if it is
/// about money at all (a churn of a priced customer, a spike of a priced uplink or customer).
pub fn alert_money(
    book: &UsageBook,
    topology: &Topology,
    rule: &Rule,
    entity: &str,
    labels: &BTreeMap<String, String>,
    value: f64,
    at: Timestamp,
) -> Result<Option<MoneyNote>, StoreError> {
    if topology.pricing.is_empty() {
        return Ok(None);
    }
    match &rule.condition {
        Condition::Churn(c) => {
            let Some(id) = customer_of(entity, labels) else {
                return Ok(None);
            };
            // A 95th over fewer than a dozen slots means nothing: at least the last hour.
            let recent = (c.window * c.recent as i64).max(3600);
            churn_money(book, topology, id, at, recent)
        }
        Condition::Spike(_) => spike_money(book, topology, rule.metric, entity, value, at),
        _ => Ok(None),
    }
}

fn churn_money(
    book: &UsageBook,
    topology: &Topology,
    id: &str,
    at: Timestamp,
    recent_secs: i64,
) -> Result<Option<MoneyNote>, StoreError> {
    let pricing = &topology.pricing;
    let (Some(how), Some(currency)) = (pricing.customers.get(id), pricing.customer_currency(id))
    else {
        return Ok(None);
    };
    let month = Month::of(at);
    let last_u = customer_usage(book, id, month.prev().period())?;
    let Some(last) = month_revenue(topology, id, &last_u, last_u.total_bytes() as f64) else {
        return Ok(None);
    };
    let recent_u = customer_usage(book, id, Period::recent(at, recent_secs))?;
    if recent_u.slots == 0 && recent_u.imported_bytes == 0 {
        return Ok(None);
    }
    let (current, plan_name) = match how {
        Revenue::Flat { amount, .. } => (*amount, "a flat fee".to_string()),
        Revenue::Plan(p) => {
            let Some(plan) = pricing.plans.get(p) else {
                return Ok(None);
            };
            let bill = match plan.billing {
                Billing::Volume => bill_volume(plan, recent_u.estimated_bytes(month.secs())),
                m => bill_rate(plan, recent_u.p95.billed(m)),
            };
            (bill, format!("plan {}", plan.name))
        }
    };
    let at_risk = (last - current).max(0.0);
    let line = format!(
        "Revenue at risk: {} a month (last month billed {}; the usage of the last {} would bill {}, {plan_name})",
        format_money(at_risk, currency),
        format_money(last, currency),
        human_duration(recent_secs),
        format_money(current, currency),
    );
    Ok(Some(MoneyNote {
        line,
        revenue_at_risk: Some(at_risk),
    }))
}

/// Whether a spike of `metric` moves what `billing` bills, and so can be compared.
fn billed_direction(metric: Metric, billing: Billing) -> bool {
    matches!(
        (metric, billing),
        (Metric::InBps, Billing::In95 | Billing::Max95)
            | (Metric::OutBps, Billing::Out95 | Billing::Max95)
            | (Metric::TotalBps, Billing::Sum95)
    )
}

fn spike_money(
    book: &UsageBook,
    topology: &Topology,
    metric: Metric,
    entity: &str,
    value: f64,
    at: Timestamp,
) -> Result<Option<MoneyNote>, StoreError> {
    let pricing = &topology.pricing;
    // A priced uplink (transit cost) or a priced customer (revenue).
    let (e, plan, what): (Entity, &PricePlan, String) =
        if let Some(name) = entity.strip_prefix("port:") {
            let Some(pk) = pricing.transit.keys().find(|k| k.to_string() == name) else {
                return Ok(None);
            };
            let Some(plan) = pricing.transit_plan(pk) else {
                return Ok(None);
            };
            (
                Entity::port(&pk.switch, &pk.port),
                plan,
                format!("this month's transit bill of uplink {pk}"),
            )
        } else if let Some(id) = entity.strip_prefix("customer:") {
            let Some(plan) = pricing.customer_plan(id) else {
                return Ok(None);
            };
            (
                Entity::new(EntityKind::Customer, id),
                plan,
                format!("customer {id}'s revenue this month"),
            )
        } else {
            return Ok(None);
        };
    if plan.billing == Billing::Volume {
        return Ok(None);
    }
    let cur = &plan.currency;
    if !billed_direction(metric, plan.billing) {
        return Ok(Some(MoneyNote {
            line: format!(
                "Plan {} bills {}: this {} spike does not change {what}.",
                plan.name,
                plan.billing.as_str(),
                metric.direction()
            ),
            revenue_at_risk: None,
        }));
    }
    let month = Month::of(at);
    let u = Usage::read(book, &e, month.so_far(at))?;
    let billed = u.p95.billed(plan.billing);
    let before = bill_rate(plan, billed);
    let after = bill_rate(plan, Some(billed.map_or(value, |b| b.max(value))));
    let slots = (month.secs() / 300) as usize;
    let forgiven = slots - rank_95(slots);
    let window = human_duration(forgiven as i64 * 300);
    let fmt = |b: Option<f64>| b.map_or("nothing".to_string(), crate::config::units::format_bps);
    let line = if after > before {
        format!(
            "If it lasted past the 95th window ({window} of this month), the billed 95th would rise from {} to {}: +{} on {what} (plan {}).",
            fmt(billed),
            fmt(Some(value)),
            format_money(after - before, cur),
            plan.name
        )
    } else {
        format!(
            "Even if it lasted past the 95th window ({window} of this month), it would not change {what}: the billed 95th is {} (plan {}, commit included).",
            fmt(billed.map(|b| b.max(value))),
            plan.name
        )
    };
    Ok(Some(MoneyNote {
        line,
        revenue_at_risk: None,
    }))
}
