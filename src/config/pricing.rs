//! Prices: `[[price_plan]]` tables, what each customer pays (`price_plan` or a flat
//! `monthly_revenue` on `[[customer]]`) and what each uplink costs (`transit = { price_plan =
//! ... }` on `[[port]]`), validated like every other key.
//!
//! Money is only ever added up within one currency: a customer's margin subtracts the transit
//! cost of the sites it uses, an account manager sums its customers, a product line sums the
//! customers and transit of its sites. `check` rejects any such sum that would mix currencies.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use serde::Serialize;
use toml::Spanned;

use super::model::Billing;
use super::raw::{RawCustomer, RawPricePlan, RawTransit};
use super::topology::{PortKey, Topology};
use super::units::{BitRate, ByteSize};

/// What a plan commits to: a rate at the 95th (95th plans) or a volume (volume plans).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Commit {
    /// Committed rate of a 95th plan.
    Rate(BitRate),
    /// Committed bytes of a volume plan.
    Volume(ByteSize),
}

/// `[[price_plan]]`: a monthly commit price plus an overage price per Mbit/s (at the 95th)
/// or per TB (volume) above the commit. The same shape prices customers and transit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PricePlan {
    /// Unique name.
    pub name: String,
    /// ISO 4217 code, like `EUR`.
    pub currency: String,
    /// How usage is measured for the bill.
    pub billing: Billing,
    /// Committed rate or volume, paid whatever the use.
    pub commit: Commit,
    /// Price of the commit, per month.
    pub commit_price: f64,
    /// Price per Mbit/s above the commit at the 95th, or per TB above the commit (volume).
    pub overage_price: f64,
}

/// How a customer pays.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Revenue {
    /// By a price plan (its name) on its measured usage.
    Plan(String),
    /// A flat fee per month.
    Flat {
        /// The fee.
        amount: f64,
        /// Its currency.
        currency: String,
    },
}

/// Every price of the configuration: plans, customers' revenue, uplinks' transit plans.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Pricing {
    /// Plans by name.
    pub plans: BTreeMap<String, PricePlan>,
    /// How each priced customer pays, by customer id.
    pub customers: BTreeMap<String, Revenue>,
    /// Transit plan name of each priced uplink.
    pub transit: BTreeMap<PortKey, String>,
}

impl Pricing {
    /// True when nothing is priced (the report and metrics then show no money).
    pub fn is_empty(&self) -> bool {
        self.customers.is_empty() && self.transit.is_empty()
    }

    /// The plan a customer pays by, if it has one.
    pub fn customer_plan(&self, customer: &str) -> Option<&PricePlan> {
        match self.customers.get(customer)? {
            Revenue::Plan(p) => self.plans.get(p),
            Revenue::Flat { .. } => None,
        }
    }

    /// The currency of a customer's revenue.
    pub fn customer_currency(&self, customer: &str) -> Option<&str> {
        match self.customers.get(customer)? {
            Revenue::Plan(p) => self.plans.get(p).map(|p| p.currency.as_str()),
            Revenue::Flat { currency, .. } => Some(currency),
        }
    }

    /// The transit plan of an uplink, if it has one.
    pub fn transit_plan(&self, port: &PortKey) -> Option<&PricePlan> {
        self.plans.get(self.transit.get(port)?)
    }
}

/// Where a priced reference was written, for the mixed-currency check.
pub(super) struct MoneyRef {
    currency: String,
    span: Range<usize>,
    key: String,
    what: String,
}

/// Spans kept while building, for the currency check at the end.
#[derive(Default)]
pub(super) struct PricingSpans {
    customers: HashMap<String, MoneyRef>,
    transit: Vec<(PortKey, MoneyRef)>,
}

fn valid_currency(c: &str) -> bool {
    c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase())
}

impl super::build::Builder<'_, '_> {
    /// A `billing` method of `{key}.billing`; an unknown one is an error listing the methods.
    pub(super) fn billing(&mut self, b: &Spanned<String>, key: &str) -> Option<Billing> {
        let m = Billing::parse(b.get_ref());
        if m.is_none() {
            let msg = format!(
                "unknown billing method `{}`; the methods are `95th-max` (the default), \
                 `95th-in`, `95th-out`, `95th-sum` and `volume`",
                b.get_ref()
            );
            self.doc
                .error(Some(b.span()), &format!("{key}.billing"), msg);
        }
        m
    }

    /// Reads every `[[price_plan]]` into `topo.pricing.plans`.
    pub(super) fn price_plans(&mut self, topo: &mut Topology) {
        let raws: Vec<super::document::Element<RawPricePlan>> =
            self.doc.array_of_tables("price_plan");
        let mut seen = HashMap::new();
        for el in raws {
            let key = format!("price_plan[{}]", el.index);
            let raw = el.value;
            let mut ok = self.unique(&mut seen, "price plan", &raw.name, &format!("{key}.name"));
            let currency = raw.currency.get_ref().trim().to_string();
            if !valid_currency(&currency) {
                let msg = format!(
                    "`{}` is not a currency code: write three capital letters (ISO 4217), \
                     like `EUR` or `USD`",
                    raw.currency.get_ref()
                );
                self.doc
                    .error(Some(raw.currency.span()), &format!("{key}.currency"), msg);
                ok = false;
            }
            let billing = match &raw.billing {
                None => Billing::default(),
                Some(b) => self.billing(b, &key).unwrap_or_else(|| {
                    ok = false;
                    Billing::default()
                }),
            };
            let commit = match (&raw.commit, billing) {
                (None, Billing::Volume) => Some(Commit::Volume(ByteSize(0))),
                (None, _) => Some(Commit::Rate(BitRate(0))),
                (Some(c), Billing::Volume) => match c.get_ref().parse::<ByteSize>() {
                    Ok(v) => Some(Commit::Volume(v)),
                    Err(e) => {
                        let msg = format!("a volume plan commits bytes: {e}");
                        self.doc
                            .error(Some(c.span()), &format!("{key}.commit"), msg);
                        None
                    }
                },
                (Some(c), _) => match c.get_ref().parse::<BitRate>() {
                    Ok(v) => Some(Commit::Rate(v)),
                    Err(e) => {
                        let msg = format!(
                            "a {} plan commits a rate at the 95th: {e}",
                            billing.as_str()
                        );
                        self.doc
                            .error(Some(c.span()), &format!("{key}.commit"), msg);
                        None
                    }
                },
            };
            let mut price = |v: &Option<Spanned<f64>>, field: &str| -> Option<f64> {
                match v {
                    None => Some(0.0),
                    Some(p) if p.get_ref().is_finite() && *p.get_ref() >= 0.0 => Some(*p.get_ref()),
                    Some(p) => {
                        self.doc.error(
                            Some(p.span()),
                            &format!("{key}.{field}"),
                            "must be an amount of money, zero or more, like 900.0",
                        );
                        None
                    }
                }
            };
            let commit_price = price(&raw.commit_price, "commit_price");
            let overage_price = price(&raw.overage_price, "overage_price");
            let (Some(commit), Some(commit_price), Some(overage_price), true) =
                (commit, commit_price, overage_price, ok)
            else {
                continue;
            };
            let name = raw.name.into_inner();
            topo.pricing.plans.insert(
                name.clone(),
                PricePlan {
                    name,
                    currency,
                    billing,
                    commit,
                    commit_price,
                    overage_price,
                },
            );
        }
    }

    /// A reference to a plan; false (and an error) when it names none.
    fn plan_ref(&mut self, topo: &Topology, r: &Spanned<String>, key: &str) -> bool {
        if topo.pricing.plans.contains_key(r.get_ref()) {
            return true;
        }
        let names = super::build::values::known(topo.pricing.plans.keys());
        self.unknown_ref("price_plan", "price plan", r, key, names);
        false
    }

    /// `transit = { price_plan = ... }` of one port.
    pub(super) fn port_transit(
        &mut self,
        topo: &mut Topology,
        port: &PortKey,
        t: &Spanned<RawTransit>,
        key: &str,
    ) {
        let r = &t.get_ref().price_plan;
        let key = format!("{key}.transit.price_plan");
        if !self.plan_ref(topo, r, &key) {
            return;
        }
        let role = topo.port(port).and_then(|p| p.labels.role.clone());
        if role.as_deref() != Some("uplink") {
            let msg = format!(
                "transit is what an uplink costs, but this port's role is {}: its cost will be                  allocated to the customers and product lines of site ports like an uplink's",
                role.map_or("not set".to_string(), |r| format!("`{r}`"))
            );
            self.doc.warning(Some(t.span()), &key, msg);
        }
        let currency = topo.pricing.plans[r.get_ref()].currency.clone();
        topo.pricing
            .transit
            .insert(port.clone(), r.get_ref().clone());
        self.pricing_spans.transit.push((
            port.clone(),
            MoneyRef {
                currency,
                span: r.span(),
                key,
                what: format!("transit plan `{}` of uplink {port}", r.get_ref()),
            },
        ));
    }

    /// `price_plan`, `monthly_revenue` and `currency` of one customer; the customer's billing
    /// method follows its plan. False when something is wrong (reported).
    pub(super) fn customer_price(
        &mut self,
        topo: &mut Topology,
        raw: &RawCustomer,
        key: &str,
        billing: &mut BTreeMap<String, Billing>,
    ) -> bool {
        let id = raw.id.get_ref();
        match (&raw.price_plan, &raw.monthly_revenue) {
            (Some(_), Some(m)) => {
                self.doc.error(
                    Some(m.span()),
                    &format!("{key}.monthly_revenue"),
                    "a customer pays by `price_plan` or by a flat `monthly_revenue`, not both",
                );
                false
            }
            (Some(p), None) => {
                let k = format!("{key}.price_plan");
                if !self.plan_ref(topo, p, &k) {
                    return false;
                }
                if let Some(c) = &raw.currency {
                    self.doc.error(
                        Some(c.span()),
                        &format!("{key}.currency"),
                        "`currency` goes with `monthly_revenue`; a price plan has its own",
                    );
                    return false;
                }
                let plan = &topo.pricing.plans[p.get_ref()];
                match (&raw.billing, billing.get(id)) {
                    (Some(b), Some(m)) if *m != plan.billing => {
                        let msg = format!(
                            "billing `{}` contradicts price plan `{}`, which bills `{}`: \
                             remove `billing` (the plan decides)",
                            m.as_str(),
                            plan.name,
                            plan.billing.as_str()
                        );
                        self.doc
                            .error(Some(b.span()), &format!("{key}.billing"), msg);
                        return false;
                    }
                    _ => {
                        billing.insert(id.clone(), plan.billing);
                    }
                }
                let currency = plan.currency.clone();
                self.pricing_spans.customers.insert(
                    id.clone(),
                    MoneyRef {
                        currency,
                        span: p.span(),
                        key: k,
                        what: format!("price plan `{}` of customer `{id}`", p.get_ref()),
                    },
                );
                topo.pricing
                    .customers
                    .insert(id.clone(), Revenue::Plan(p.get_ref().clone()));
                true
            }
            (None, Some(m)) => {
                let k = format!("{key}.monthly_revenue");
                let amount = *m.get_ref();
                if !(amount.is_finite() && amount >= 0.0) {
                    self.doc.error(
                        Some(m.span()),
                        &k,
                        "must be an amount of money, zero or more, like 1200.0",
                    );
                    return false;
                }
                let currency = match &raw.currency {
                    Some(c) if valid_currency(c.get_ref()) => c.get_ref().clone(),
                    Some(c) => {
                        let msg = format!(
                            "`{}` is not a currency code: write three capital letters \
                             (ISO 4217), like `EUR`",
                            c.get_ref()
                        );
                        self.doc
                            .error(Some(c.span()), &format!("{key}.currency"), msg);
                        return false;
                    }
                    None => {
                        let mut all: Vec<&str> = topo
                            .pricing
                            .plans
                            .values()
                            .map(|p| p.currency.as_str())
                            .collect();
                        all.sort_unstable();
                        all.dedup();
                        match all.as_slice() {
                            [one] => one.to_string(),
                            _ => {
                                self.doc.error(
                                    Some(m.span()),
                                    &format!("{key}.currency"),
                                    "a flat `monthly_revenue` needs `currency` (like \"EUR\") \
                                     when the price plans do not all share one",
                                );
                                return false;
                            }
                        }
                    }
                };
                self.pricing_spans.customers.insert(
                    id.clone(),
                    MoneyRef {
                        currency: currency.clone(),
                        span: m.span(),
                        key: k,
                        what: format!("flat fee of customer `{id}`"),
                    },
                );
                topo.pricing
                    .customers
                    .insert(id.clone(), Revenue::Flat { amount, currency });
                true
            }
            (None, None) => {
                if let Some(c) = &raw.currency {
                    self.doc.error(
                        Some(c.span()),
                        &format!("{key}.currency"),
                        "`currency` goes with `monthly_revenue`",
                    );
                    return false;
                }
                true
            }
        }
    }

    /// Rejects every sum of money that would mix currencies: the transit of a site with the
    /// customers and product lines using it, an account manager's customers, a product
    /// line's customers and transit. Errors point at the reference whose currency differs
    /// from the first one of its group.
    pub(super) fn check_currencies(&mut self, topo: &Topology) {
        let spans = std::mem::take(&mut self.pricing_spans);
        // Nodes: customers (by id) then transit references, in that order.
        let mut nodes: Vec<&MoneyRef> = Vec::new();
        let mut customer_node: HashMap<&str, usize> = HashMap::new();
        for (id, r) in &spans.customers {
            customer_node.insert(id.as_str(), nodes.len());
            nodes.push(r);
        }
        // Transit per site (all of it reaches the site's customers), and per product line:
        // its own uplinks, and the shared (unlabelled) ones of a site.
        let mut transit_at: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut shared_at: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut transit_of_line: HashMap<&str, Vec<usize>> = HashMap::new();
        for (pk, r) in &spans.transit {
            let i = nodes.len();
            nodes.push(r);
            if let Some(p) = topo.port(pk) {
                let site = &*p.labels.site;
                transit_at.entry(site).or_default().push(i);
                match &p.labels.product_line {
                    Some(pl) => transit_of_line.entry(&**pl).or_default().push(i),
                    None => shared_at.entry(site).or_default().push(i),
                }
            }
        }
        let mut groups: Vec<Vec<usize>> = Vec::new();
        // A site with priced customers: its transit (allocated to them) and those customers.
        for site in topo.sites.keys() {
            let mut g = Vec::new();
            for c in topo.customers.values() {
                let here = c.ports.iter().any(|pk| {
                    topo.port(pk).is_some_and(|p| {
                        *p.labels.site == **site && !topo.pricing.transit.contains_key(pk)
                    })
                });
                if here && let Some(&i) = customer_node.get(c.id.as_str()) {
                    g.push(i);
                }
            }
            if !g.is_empty() {
                g.extend(transit_at.get(site.as_str()).into_iter().flatten());
                groups.push(g);
            }
        }
        // An account manager: its customers.
        let mut by_am: HashMap<&str, Vec<usize>> = HashMap::new();
        for c in topo.customers.values() {
            if let (Some(am), Some(&i)) = (&c.account_manager, customer_node.get(c.id.as_str())) {
                by_am.entry(am.as_str()).or_default().push(i);
            }
        }
        groups.extend(by_am.into_values());
        // A product line: its own uplinks, the shared transit of the sites of its other ports,
        // and the customers whose ports are in it.
        for pl in topo.product_lines.values() {
            let mut g = transit_of_line
                .get(pl.name.as_str())
                .cloned()
                .unwrap_or_default();
            for pk in &pl.ports {
                if topo.pricing.transit.contains_key(pk) {
                    continue;
                }
                if let Some(p) = topo.port(pk) {
                    g.extend(shared_at.get(&*p.labels.site).into_iter().flatten());
                    if let Some(&i) = p
                        .labels
                        .customer
                        .as_deref()
                        .and_then(|c| customer_node.get(c))
                    {
                        g.push(i);
                    }
                }
            }
            groups.push(g);
        }
        // Union-find over the groups.
        let mut parent: Vec<usize> = (0..nodes.len()).collect();
        fn find(p: &mut [usize], mut i: usize) -> usize {
            while p[i] != i {
                p[i] = p[p[i]];
                i = p[i];
            }
            i
        }
        for g in &groups {
            for w in g.windows(2) {
                let (a, b) = (find(&mut parent, w[0]), find(&mut parent, w[1]));
                if a != b {
                    parent[a] = b;
                }
            }
        }
        // In each component, the reference written first sets the currency.
        let mut first: HashMap<usize, usize> = HashMap::new();
        for i in 0..nodes.len() {
            let root = find(&mut parent, i);
            let f = first.entry(root).or_insert(i);
            if nodes[i].span.start < nodes[*f].span.start {
                *f = i;
            }
        }
        for i in 0..nodes.len() {
            let root = find(&mut parent, i);
            let f = nodes[first[&root]];
            let n = nodes[i];
            if n.currency != f.currency {
                let msg = format!(
                    "{} is in {}, but it is summed with amounts in {} ({}, at {}): a customer's \
                     margin, an account manager's and a product line's totals and a site's \
                     transit must each be in one currency",
                    n.what,
                    n.currency,
                    f.currency,
                    f.what,
                    self.at(&f.span)
                );
                self.doc.error(Some(n.span.clone()), &n.key, msg);
            }
        }
    }
}
