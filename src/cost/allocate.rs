//! Transit cost of every priced uplink over a period, and its allocation to customers and to
//! product lines in proportion to their traffic through the uplink's site in each 5-minute
//! slot.
//!
//! Which slots carry the cost depends on how the uplink is billed:
//! - a 95th-billed uplink's bill is set by its busiest slots, so its cost is spread evenly
//!   over the slots at or above its billed 95th (the top 5 % and the 95th slot itself): a
//!   customer busy at the uplink's peak carries more of it than one busy at night;
//! - a volume-billed uplink's cost is spread over every slot in proportion to its bytes.
//!
//! In each such slot a consumer's share is its rate (in + out of its ports at the site,
//! octets over the measured time) over the sum of all consumers' rates. Gaps are excluded, as
//! in the report: a slot in which a consumer with data in the period was not measured cannot
//! be split, so it is left out and the other slots carry the cost. An uplink that belongs to
//! a product line (its `product_line` label) is that line's own: its whole cost is the line's.
//! Cost that cannot be split at all (no consumer measured) stays unallocated and is shown.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::bill::{bill_usage, bill_volume};
use crate::config::{Billing, PortKey, PricePlan, Topology};
use crate::report::{Period, Usage};
use crate::store::{Bucket5m, Entity, StoreError, UsageBook};

/// The transit cost of one priced uplink.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UplinkCost {
    /// The uplink.
    pub port: PortKey,
    /// Its site.
    pub site: String,
    /// Its transit plan.
    pub plan: String,
    /// The plan's currency.
    pub currency: String,
    /// How the plan bills.
    pub billing: Billing,
    /// The billed 95th (bit/s) of the period; `None` for volume plans or without data.
    pub billed_bps: Option<f64>,
    /// Bytes in + out measured.
    pub bytes: u64,
    /// Measured share of the period.
    pub coverage: f64,
    /// The bill for the period (month so far for the current month).
    pub cost: f64,
    /// The bill projected to the month's end (equal to `cost` for a whole month).
    pub cost_projected: f64,
    /// Slots that carry the cost (the peak slots of a 95th plan, every measured slot of a
    /// volume plan).
    pub cost_slots: usize,
    /// Of those, the slots left out of the customers' split because a customer was not
    /// measured in them.
    pub gap_slots: usize,
    /// Share of the cost no customer carries (nothing measured to split it by).
    pub unallocated_customers: f64,
    /// Share of the cost no product line carries.
    pub unallocated_product_lines: f64,
}

/// The cost one customer or product line carries.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Share {
    /// Currency of the cost.
    pub currency: String,
    /// Allocated cost of the period.
    pub cost: f64,
    /// Allocated cost projected to the month's end.
    pub cost_projected: f64,
}

/// Every priced uplink's cost and who carries it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Allocation {
    /// Priced uplinks, by switch and port.
    pub uplinks: Vec<UplinkCost>,
    /// Allocated cost per customer id.
    pub customers: BTreeMap<String, Share>,
    /// Allocated cost per product line.
    pub product_lines: BTreeMap<String, Share>,
}

/// Rates (bit/s, in + out) of one port per slot start.
type Rates = HashMap<i64, f64>;

fn slot_rate(b: &Bucket5m, what: Direction) -> f64 {
    let secs = b.covered_ms as f64 / 1000.0;
    let (i, o) = (b.in_octets.max(0) as f64, b.out_octets.max(0) as f64);
    let octets = match what {
        Direction::In => i,
        Direction::Out => o,
        Direction::Both => i + o,
    };
    octets * 8.0 / secs
}

#[derive(Clone, Copy)]
enum Direction {
    In,
    Out,
    Both,
}

struct Reader<'a> {
    book: &'a UsageBook,
    period: Period,
    ports: HashMap<PortKey, Rates>,
}

impl Reader<'_> {
    fn buckets(&self, p: &PortKey) -> Result<Vec<Bucket5m>, StoreError> {
        Ok(self
            .book
            .buckets_5m(
                &Entity::port(&p.switch, &p.port),
                self.period.from,
                self.period.to,
            )?
            .unwrap_or_default()
            .into_iter()
            .filter(|b| b.start >= self.period.from && b.start < self.period.to)
            .collect())
    }

    fn rates(&mut self, p: &PortKey) -> Result<(), StoreError> {
        if !self.ports.contains_key(p) {
            let r = self
                .buckets(p)?
                .iter()
                .map(|b| (b.start, slot_rate(b, Direction::Both)))
                .collect();
            self.ports.insert(p.clone(), r);
        }
        Ok(())
    }
}

/// One consumer at a site: a name and its ports there.
struct Consumer {
    name: String,
    ports: Vec<PortKey>,
}

/// Splits weighted slots among consumers; returns each consumer's fraction of the cost and
/// the number of weighted slots left out for gaps.
fn split(
    reader: &mut Reader<'_>,
    consumers: &[Consumer],
    weights: &[(i64, f64)],
) -> Result<(Vec<(String, f64)>, usize), StoreError> {
    // Consumers with any data in the period take part; the others are not there.
    for p in consumers.iter().flat_map(|c| c.ports.iter()) {
        reader.rates(p)?;
    }
    let mut present: Vec<(&Consumer, Vec<&Rates>)> = Vec::new();
    for c in consumers {
        let rs: Vec<&Rates> = c.ports.iter().map(|p| &reader.ports[p]).collect();
        if rs.iter().any(|r| !r.is_empty()) {
            present.push((c, rs));
        }
    }
    let mut acc = vec![0f64; present.len()];
    let (mut wsum, mut gaps) = (0f64, 0usize);
    let mut rates = vec![0f64; present.len()];
    for &(slot, w) in weights {
        let mut usable = !present.is_empty();
        let mut total = 0.0;
        for (i, (_, rs)) in present.iter().enumerate() {
            let measured: Vec<f64> = rs.iter().filter_map(|r| r.get(&slot).copied()).collect();
            if measured.is_empty() {
                usable = false;
                break;
            }
            rates[i] = measured.iter().sum();
            total += rates[i];
        }
        if !usable || total <= 0.0 {
            gaps += usize::from(!present.is_empty());
            continue;
        }
        for i in 0..present.len() {
            acc[i] += w * rates[i] / total;
        }
        wsum += w;
    }
    if wsum <= 0.0 {
        return Ok((Vec::new(), gaps));
    }
    Ok((
        present
            .iter()
            .zip(acc)
            .map(|((c, _), a)| (c.name.clone(), a / wsum))
            .collect(),
        gaps,
    ))
}

/// The cost-carrying slots of an uplink and their weights.
fn weights(plan: &PricePlan, buckets: &[Bucket5m], usage: &Usage) -> Vec<(i64, f64)> {
    let measured = buckets.iter().filter(|b| b.covered_ms > 0);
    if plan.billing == Billing::Volume {
        return measured
            .map(|b| (b.start, (b.in_octets.max(0) + b.out_octets.max(0)) as f64))
            .filter(|(_, w)| *w > 0.0)
            .collect();
    }
    let Some(billed) = usage.p95.billed(plan.billing) else {
        return Vec::new();
    };
    let dir = match plan.billing {
        Billing::In95 => Direction::In,
        Billing::Out95 => Direction::Out,
        Billing::Sum95 => Direction::Both,
        _ if usage.p95.in_bps >= usage.p95.out_bps => Direction::In,
        _ => Direction::Out,
    };
    let eps = billed.abs() * 1e-9;
    measured
        .filter(|b| slot_rate(b, dir) >= billed - eps)
        .map(|b| (b.start, 1.0))
        .collect()
}

/// Transit cost of every priced uplink over `period` and its allocation. `month_secs` is the
/// length of the whole month, for the projection of volume plans when `period` is the month
/// so far.
pub fn allocate(
    book: &UsageBook,
    topology: &Topology,
    period: Period,
    month_secs: i64,
) -> Result<Allocation, StoreError> {
    let pricing = &topology.pricing;
    let mut reader = Reader {
        book,
        period,
        ports: HashMap::new(),
    };
    let mut out = Allocation::default();
    let at_site = |site: &str, ports: &[PortKey]| -> Vec<PortKey> {
        ports
            .iter()
            .filter(|pk| {
                !pricing.transit.contains_key(*pk)
                    && topology.port(pk).is_some_and(|p| p.labels.site == site)
            })
            .cloned()
            .collect()
    };
    for (pk, plan_name) in &pricing.transit {
        let (Some(port), Some(plan)) = (topology.port(pk), pricing.plans.get(plan_name)) else {
            continue;
        };
        let site = port.labels.site.clone();
        let buckets = reader.buckets(pk)?;
        let usage = Usage::from_buckets(&buckets, period);
        let cost = bill_usage(plan, &usage, usage.measured_bytes() as f64);
        let cost_projected = if plan.billing == Billing::Volume && period.secs() < month_secs {
            bill_volume(plan, usage.estimated_bytes(month_secs))
        } else {
            cost
        };
        let w = weights(plan, &buckets, &usage);
        let customers: Vec<Consumer> = topology
            .customers
            .values()
            .map(|c| Consumer {
                name: c.id.clone(),
                ports: at_site(&site, &c.ports),
            })
            .filter(|c| !c.ports.is_empty())
            .collect();
        let (by_customer, gap_slots) = split(&mut reader, &customers, &w)?;
        let by_line = match &port.labels.product_line {
            Some(pl) => vec![(pl.clone(), 1.0)],
            None => {
                let lines: Vec<Consumer> = topology
                    .product_lines
                    .values()
                    .map(|pl| Consumer {
                        name: pl.name.clone(),
                        ports: at_site(&site, &pl.ports),
                    })
                    .filter(|c| !c.ports.is_empty())
                    .collect();
                split(&mut reader, &lines, &w)?.0
            }
        };
        let add = |m: &mut BTreeMap<String, Share>, shares: &[(String, f64)]| -> f64 {
            let mut total = 0.0;
            for (name, f) in shares {
                let s = m.entry(name.clone()).or_insert_with(|| Share {
                    currency: plan.currency.clone(),
                    ..Share::default()
                });
                s.cost += f * cost;
                s.cost_projected += f * cost_projected;
                total += f;
            }
            (1.0 - total).clamp(0.0, 1.0)
        };
        let unallocated_customers = add(&mut out.customers, &by_customer);
        let unallocated_product_lines = add(&mut out.product_lines, &by_line);
        out.uplinks.push(UplinkCost {
            port: pk.clone(),
            site,
            plan: plan.name.clone(),
            currency: plan.currency.clone(),
            billing: plan.billing,
            billed_bps: usage.p95.billed(plan.billing),
            bytes: usage.measured_bytes(),
            coverage: usage.coverage,
            cost,
            cost_projected,
            cost_slots: w.len(),
            gap_slots,
            unallocated_customers,
            unallocated_product_lines,
        });
    }
    Ok(out)
}
