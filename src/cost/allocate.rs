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

use std::collections::BTreeMap;

use serde::Serialize;

use super::bill::{bill_usage, bill_volume};
use crate::config::{Billing, PortKey, PricePlan, Topology};
use crate::store::usage::SLOT_5M_SECS as SLOT;
use crate::store::{Bucket5m, Entity, StoreError, UsageBook};
use crate::usage::{Period, Usage};

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

/// The period's 5-minute slots, indexed from its start.
#[derive(Clone, Copy)]
struct Slots {
    period: Period,
    n: usize,
}

impl Slots {
    fn new(period: Period) -> Slots {
        Slots {
            period,
            n: ((period.secs() + SLOT - 1) / SLOT) as usize,
        }
    }

    fn index(&self, start: i64) -> Option<usize> {
        (start >= self.period.from && start < self.period.to)
            .then(|| ((start - self.period.from) / SLOT) as usize)
            .filter(|i| *i < self.n)
    }

    fn buckets(&self, book: &UsageBook, p: &PortKey) -> Result<Vec<Bucket5m>, StoreError> {
        Ok(book
            .buckets_5m(
                &Entity::port(&p.switch, &p.port),
                self.period.from,
                self.period.to,
            )?
            .unwrap_or_default()
            .into_iter()
            .filter(|b| b.covered_ms > 0 && self.index(b.start).is_some())
            .collect())
    }
}

/// Rates kept between the two passes of a split, at most (8 bytes each: 256 MiB).
const CACHE_BUDGET: usize = 32 << 20;

/// Each consumer's fraction of an uplink's cost.
type Shares = Vec<(String, f64)>;

/// How one uplink's cost splits among the consumers of a site.
struct Split {
    shares: Shares,
    /// Weighted slots left out for gaps.
    gaps: usize,
    /// Sum of the weights of the slots that could be split.
    wsum: f64,
}

/// One consumer at a site: a name and its ports there.
struct Consumer {
    name: String,
    ports: Vec<PortKey>,
}

/// A consumer's rate (bit/s, in + out of its ports) per slot, `NaN` where none of its ports
/// was measured; false when nothing at all was measured in the period.
fn consumer_rates(
    book: &UsageBook,
    slots: Slots,
    c: &Consumer,
    rates: &mut Vec<f64>,
) -> Result<bool, StoreError> {
    rates.clear();
    rates.resize(slots.n, f64::NAN);
    let mut any = false;
    for p in &c.ports {
        for b in slots.buckets(book, p)? {
            if let Some(i) = slots.index(b.start) {
                let r = slot_rate(&b, Direction::Both);
                rates[i] = if rates[i].is_nan() { r } else { rates[i] + r };
                any = true;
            }
        }
    }
    Ok(any)
}

/// Splits each uplink's weighted slots (`weights[u][slot]`, 0 for slots that carry no cost)
/// among the consumers, in two passes over their buckets (memory stays one slot array per
/// uplink, whatever the number of consumers). Returns per uplink each consumer's fraction of
/// the cost and the number of weighted slots left out for gaps.
fn split(
    book: &UsageBook,
    slots: Slots,
    consumers: &[Consumer],
    weights: &[Vec<f64>],
) -> Result<Vec<Split>, StoreError> {
    // The slots any uplink weights: only there does a consumer's rate matter after pass 1.
    let weighted: Vec<usize> = (0..slots.n)
        .filter(|&i| weights.iter().any(|w| w[i] > 0.0))
        .collect();
    // Pass 1 keeps each consumer's rates at those slots while that stays small; past the
    // budget, pass 2 reads the buckets again instead.
    let keep = consumers.len().saturating_mul(weighted.len()) <= CACHE_BUDGET;
    let mut kept: Vec<Vec<f64>> = Vec::new();
    let mut rates = Vec::with_capacity(slots.n);
    let mut total = vec![0f64; slots.n];
    let mut measured = vec![0usize; slots.n];
    let mut present = Vec::new();
    for (ci, c) in consumers.iter().enumerate() {
        if !consumer_rates(book, slots, c, &mut rates)? {
            continue;
        }
        present.push(ci);
        for (i, r) in rates.iter().enumerate() {
            if !r.is_nan() {
                total[i] += r;
                measured[i] += 1;
            }
        }
        if keep {
            kept.push(weighted.iter().map(|&i| rates[i]).collect());
        }
    }
    // A slot can be split when every consumer with data in the period was measured in it.
    let usable: Vec<bool> = (0..slots.n)
        .map(|i| !present.is_empty() && measured[i] == present.len() && total[i] > 0.0)
        .collect();
    let mut out: Vec<Split> = weights
        .iter()
        .map(|w| {
            let gaps = if present.is_empty() {
                0
            } else {
                weighted
                    .iter()
                    .filter(|&&i| w[i] > 0.0 && !usable[i])
                    .count()
            };
            let wsum: f64 = weighted.iter().filter(|&&i| usable[i]).map(|&i| w[i]).sum();
            Split {
                shares: Vec::new(),
                gaps,
                wsum,
            }
        })
        .collect();
    let mut at = vec![0f64; weighted.len()];
    for (k, &ci) in present.iter().enumerate() {
        if keep {
            for (j, r) in kept[k].iter().enumerate() {
                at[j] = *r;
            }
        } else {
            consumer_rates(book, slots, &consumers[ci], &mut rates)?;
            for (j, &i) in weighted.iter().enumerate() {
                at[j] = rates[i];
            }
        }
        for (u, w) in weights.iter().enumerate() {
            let wsum = out[u].wsum;
            if wsum <= 0.0 {
                continue;
            }
            let acc: f64 = weighted
                .iter()
                .enumerate()
                .filter(|&(_, &i)| usable[i] && w[i] > 0.0)
                .map(|(j, &i)| w[i] * at[j] / total[i])
                .sum();
            out[u].shares.push((consumers[ci].name.clone(), acc / wsum));
        }
    }
    Ok(out)
}

/// The cost-carrying slots of an uplink and their weights, indexed by slot.
fn weights(plan: &PricePlan, slots: Slots, buckets: &[Bucket5m], usage: &Usage) -> Vec<f64> {
    let mut w = vec![0f64; slots.n];
    if plan.billing == Billing::Volume {
        for b in buckets {
            if let Some(i) = slots.index(b.start) {
                w[i] = (b.in_octets.max(0) + b.out_octets.max(0)) as f64;
            }
        }
        return w;
    }
    let Some(billed) = usage.p95.billed(plan.billing) else {
        return w;
    };
    let dir = match plan.billing {
        Billing::In95 => Direction::In,
        Billing::Out95 => Direction::Out,
        Billing::Sum95 => Direction::Both,
        _ if usage.p95.in_bps >= usage.p95.out_bps => Direction::In,
        _ => Direction::Out,
    };
    let eps = billed.abs() * 1e-9;
    for b in buckets {
        if let Some(i) = slots.index(b.start)
            && slot_rate(b, dir) >= billed - eps
        {
            w[i] = 1.0;
        }
    }
    w
}

/// One priced uplink while its site is being split.
struct Up<'a> {
    port: PortKey,
    line: Option<String>,
    plan: &'a PricePlan,
    usage: Usage,
    cost: f64,
    cost_projected: f64,
    weights: Vec<f64>,
}

/// Transit cost of every priced uplink over `period` and its allocation. `month_secs` is the
/// length of the whole month, for the projection of volume plans when `period` is the month
/// so far. Each site is split once for all its uplinks.
pub fn allocate(
    book: &UsageBook,
    topology: &Topology,
    period: Period,
    month_secs: i64,
) -> Result<Allocation, StoreError> {
    let pricing = &topology.pricing;
    let slots = Slots::new(period);
    let mut by_site: BTreeMap<&str, Vec<Up<'_>>> = BTreeMap::new();
    for (pk, plan_name) in &pricing.transit {
        let (Some(port), Some(plan)) = (topology.port(pk), pricing.plans.get(plan_name)) else {
            continue;
        };
        let buckets = slots.buckets(book, pk)?;
        let usage = Usage::from_buckets(&buckets, period);
        let cost = bill_usage(plan, &usage, usage.measured_bytes() as f64);
        let cost_projected = if plan.billing == Billing::Volume && period.secs() < month_secs {
            bill_volume(plan, usage.estimated_bytes(month_secs))
        } else {
            cost
        };
        let weights = weights(plan, slots, &buckets, &usage);
        by_site.entry(&*port.labels.site).or_default().push(Up {
            port: pk.clone(),
            line: port.labels.product_line.as_deref().map(str::to_string),
            plan,
            usage,
            cost,
            cost_projected,
            weights,
        });
    }
    let mut out = Allocation::default();
    for (site, ups) in by_site {
        let at_site = |ports: &[PortKey]| -> Vec<PortKey> {
            ports
                .iter()
                .filter(|pk| {
                    !pricing.transit.contains_key(*pk)
                        && topology.port(pk).is_some_and(|p| *p.labels.site == *site)
                })
                .cloned()
                .collect()
        };
        let customers: Vec<Consumer> = topology
            .customers
            .values()
            .map(|c| Consumer {
                name: c.id.clone(),
                ports: at_site(&c.ports),
            })
            .filter(|c| !c.ports.is_empty())
            .collect();
        let all: Vec<Vec<f64>> = ups.iter().map(|u| u.weights.clone()).collect();
        let by_customer = split(book, slots, &customers, &all)?;
        // Product lines share the uplinks that belong to none of them.
        let lines: Vec<Consumer> = topology
            .product_lines
            .values()
            .map(|pl| Consumer {
                name: pl.name.clone(),
                ports: at_site(&pl.ports),
            })
            .filter(|c| !c.ports.is_empty())
            .collect();
        let shared: Vec<usize> = (0..ups.len()).filter(|&u| ups[u].line.is_none()).collect();
        let shared_w: Vec<Vec<f64>> = shared.iter().map(|&u| ups[u].weights.clone()).collect();
        let mut by_line = split(book, slots, &lines, &shared_w)?.into_iter();
        for (u, up) in ups.iter().enumerate() {
            let line_shares = match &up.line {
                Some(pl) => vec![(pl.clone(), 1.0)],
                None => by_line.next().map(|s| s.shares).unwrap_or_default(),
            };
            let add = |m: &mut BTreeMap<String, Share>, shares: &[(String, f64)]| -> f64 {
                let mut total = 0.0;
                for (name, f) in shares {
                    let s = m.entry(name.clone()).or_insert_with(|| Share {
                        currency: up.plan.currency.clone(),
                        ..Share::default()
                    });
                    s.cost += f * up.cost;
                    s.cost_projected += f * up.cost_projected;
                    total += f;
                }
                (1.0 - total).clamp(0.0, 1.0)
            };
            let split = &by_customer[u];
            let unallocated_customers = add(&mut out.customers, &split.shares);
            let unallocated_product_lines = add(&mut out.product_lines, &line_shares);
            out.uplinks.push(UplinkCost {
                port: up.port.clone(),
                site: site.to_string(),
                plan: up.plan.name.clone(),
                currency: up.plan.currency.clone(),
                billing: up.plan.billing,
                billed_bps: up.usage.p95.billed(up.plan.billing),
                bytes: up.usage.measured_bytes(),
                coverage: up.usage.coverage,
                cost: up.cost,
                cost_projected: up.cost_projected,
                cost_slots: up.weights.iter().filter(|w| **w > 0.0).count(),
                gap_slots: split.gaps,
                unallocated_customers,
                unallocated_product_lines,
            });
        }
    }
    out.uplinks.sort_by(|a, b| a.port.cmp(&b.port));
    Ok(out)
}
