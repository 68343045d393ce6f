//! Per-customer and per-product-line, per-minute sums of attributed flow records, with
//! coverage.
//!
//! A record counts in the minute it *arrived* in (the collector's clock): exporters' own
//! timestamps drift and a long flow's bytes are reported at its active timeout, so
//! exporters should use an active timeout of 60 s or less (pitfalls: inflated or late rates
//! with long timeouts). A record whose source is a customer's address counts as that
//! customer's `in` (sent by the customer, like a customer port's ifInOctets); one whose
//! destination is, as its `out`. Product lines likewise, by their own prefixes (a record
//! may count for a customer and for a product line, as a port's bytes do).
//!
//! A customer or product line with ports is measured by its ports: flows attribute its
//! addresses (the metrics, the attack evidence) but add nothing to its usage, so no byte
//! counts twice.
//!
//! Coverage of a minute: the share of it during which the collector ran, times the share of
//! the configured exporters that sent at least one decodable datagram in it. A minute in
//! which no exporter sent anything writes nothing (a gap, unknown), never a zero.

use std::collections::{BTreeMap, HashMap};

use super::FlowRecord;
use super::table::FlowModel;
use crate::store::{EntityKind, FlowSlot};

const SLOT_MS: i64 = 60_000;

#[derive(Clone, Copy, Debug, Default)]
struct Sums {
    in_octets: u64,
    out_octets: u64,
    in_packets: u64,
    out_packets: u64,
}

#[derive(Debug, Default)]
struct Minute {
    /// By customer id.
    customers: HashMap<String, Sums>,
    /// By product line name.
    lines: HashMap<String, Sums>,
    /// Exporter indexes (of the model in force when they sent) seen in this minute.
    seen: Vec<bool>,
}

impl Minute {
    /// The sums of `(kind, name)`, created at zero (allocating its name only then).
    fn sums(&mut self, kind: EntityKind, name: &str) -> Option<&mut Sums> {
        let map = if kind == EntityKind::ProductLine {
            &mut self.lines
        } else {
            &mut self.customers
        };
        if !map.contains_key(name) {
            map.insert(name.to_string(), Sums::default());
        }
        map.get_mut(name)
    }
}

/// What a record was attributed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attribution {
    /// Its source or destination (or both) is a customer's or a product line's.
    Customer,
    /// Neither address is in a customer or product line prefix.
    None,
}

/// The open minutes of the collector.
#[derive(Debug)]
pub struct Minutes {
    started_ms: i64,
    open: BTreeMap<i64, Minute>,
}

impl Minutes {
    /// Minutes of a collector started at `now_ms` (its first minute is partly covered).
    pub fn new(now_ms: i64) -> Minutes {
        Minutes {
            started_ms: now_ms,
            open: BTreeMap::new(),
        }
    }

    fn minute(&mut self, now_ms: i64) -> &mut Minute {
        self.open.entry(now_ms.div_euclid(SLOT_MS)).or_default()
    }

    /// Records that exporter `index` sent a decodable datagram at `now_ms`.
    pub fn seen(&mut self, now_ms: i64, index: usize) {
        let m = self.minute(now_ms);
        if m.seen.len() <= index {
            m.seen.resize(index + 1, false);
        }
        m.seen[index] = true;
    }

    /// Adds one record received at `now_ms` to the customers and product lines its
    /// addresses belong to.
    pub fn add(&mut self, now_ms: i64, model: &FlowModel, r: &FlowRecord) -> Attribution {
        let from = model.customer_of(r.src);
        let to = model.customer_of(r.dst);
        let (line_from, line_to) = if model.product_lines().is_empty() {
            (None, None)
        } else {
            (model.product_line_of(r.src), model.product_line_of(r.dst))
        };
        if from.is_none() && to.is_none() && line_from.is_none() && line_to.is_none() {
            return Attribution::None;
        }
        let m = self.minute(now_ms);
        let customer = |i: u32| {
            model
                .measured(i)
                .then(|| model.customers().get(i as usize))
                .flatten()
                .map(|n| (EntityKind::Customer, n))
        };
        let line = |i: u32| {
            model
                .product_line_measured(i)
                .then(|| model.product_lines().get(i as usize))
                .flatten()
                .map(|n| (EntityKind::ProductLine, n))
        };
        for (owner, sent) in [
            (from.and_then(customer), true),
            (to.and_then(customer), false),
            (line_from.and_then(line), true),
            (line_to.and_then(line), false),
        ] {
            let Some((kind, name)) = owner else {
                continue;
            };
            let Some(s) = m.sums(kind, name) else {
                continue;
            };
            if sent {
                s.in_octets = s.in_octets.saturating_add(r.bytes);
                s.in_packets = s.in_packets.saturating_add(r.packets);
            } else {
                s.out_octets = s.out_octets.saturating_add(r.bytes);
                s.out_packets = s.out_packets.saturating_add(r.packets);
            }
        }
        Attribution::Customer
    }

    /// The slots of every minute that ended more than `grace_ms` before `now_ms` (all
    /// minutes when `all`, the current one covered up to `now_ms`): one per customer and
    /// product line that flows measure (zero when it had no traffic in a covered minute).
    pub fn take_due(
        &mut self,
        now_ms: i64,
        grace_ms: i64,
        model: &FlowModel,
        all: bool,
    ) -> Vec<FlowSlot> {
        let mut out = Vec::new();
        let due: Vec<i64> = self
            .open
            .keys()
            .copied()
            .filter(|s| all || (s + 1) * SLOT_MS + grace_ms <= now_ms)
            .collect();
        let expected = model.exporter_names().len();
        for slot in due {
            let Some(mut m) = self.open.remove(&slot) else {
                continue;
            };
            let start = slot * SLOT_MS;
            let end = (start + SLOT_MS).min(now_ms.max(start));
            let ran = (end - start.max(self.started_ms)).clamp(0, SLOT_MS);
            let seen = m.seen.iter().take(expected.max(1)).filter(|s| **s).count();
            let share = if expected == 0 {
                0.0
            } else {
                seen as f64 / expected as f64
            };
            let covered = (ran as f64 * share).round() as u32;
            if covered == 0 {
                continue;
            }
            for c in model.measured_customers() {
                m.sums(EntityKind::Customer, c);
            }
            for p in model.measured_product_lines() {
                m.sums(EntityKind::ProductLine, p);
            }
            let customers = m
                .customers
                .into_iter()
                .map(|(n, s)| ((EntityKind::Customer, n), s));
            let lines = m
                .lines
                .into_iter()
                .map(|(n, s)| ((EntityKind::ProductLine, n), s));
            let mut rows: Vec<((EntityKind, String), Sums)> = customers.chain(lines).collect();
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            for ((kind, name), s) in rows {
                out.push(FlowSlot {
                    kind,
                    name,
                    slot_start: slot * 60,
                    in_octets: s.in_octets,
                    out_octets: s.out_octets,
                    in_packets: s.in_packets,
                    out_packets: s.out_packets,
                    covered_ms: covered,
                    shard: None,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CustomerPrefix, FlowExporter, FlowSettings};

    fn model(exporters: usize) -> FlowModel {
        FlowModel::new(&FlowSettings {
            listen: vec![],
            exporters: (0..exporters)
                .map(|i| FlowExporter {
                    switch: format!("sw{i}"),
                    address: format!("10.0.0.{}", i + 1).parse().unwrap(),
                    sampling: 1,
                })
                .collect(),
            prefixes: vec![
                CustomerPrefix {
                    prefix: "203.0.113.0/24".parse().unwrap(),
                    customer: "acme".into(),
                },
                CustomerPrefix {
                    prefix: "198.51.100.0/24".parse().unwrap(),
                    customer: "globex".into(),
                },
            ],
            product_line_prefixes: vec![],
        })
    }

    fn rec(src: &str, dst: &str, bytes: u64) -> FlowRecord {
        FlowRecord {
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            bytes,
            packets: 1,
            ..FlowRecord::default()
        }
    }

    #[test]
    fn directions_coverage_and_gaps() {
        let m = model(2);
        let t0 = 1_700_000_080_000; // 40 s into a minute: the first minute is 1/3 covered
        let mut a = Minutes::new(t0);
        a.seen(t0, 0);
        assert_eq!(
            a.add(t0, &m, &rec("203.0.113.5", "198.51.100.9", 1000)),
            Attribution::Customer
        );
        assert_eq!(
            a.add(t0, &m, &rec("192.0.2.1", "192.0.2.2", 5)),
            Attribution::None
        );
        assert!(
            a.take_due(t0 + 5000, 1000, &m, false).is_empty(),
            "nothing is due yet"
        );
        // Next minute: both exporters, acme receives.
        let t1 = t0 + 30_000;
        a.seen(t1, 0);
        a.seen(t1, 1);
        a.add(t1, &m, &rec("192.0.2.1", "203.0.113.5", 700));
        // The minute after that: nothing at all (a gap).
        let t3 = t0 + 200_000;
        let slots = a.take_due(t3, 1000, &m, false);
        let by = |c: &str, s: i64| slots.iter().find(|x| x.name == c && x.slot_start == s);
        let m0 = (t0 / 60_000) * 60;
        let acme0 = by("acme", m0).unwrap();
        assert_eq!((acme0.in_octets, acme0.out_octets), (1000, 0));
        // 20 of 60 s ran, 1 of 2 exporters sent: 10 s covered.
        assert_eq!(acme0.covered_ms, 10_000);
        let globex0 = by("globex", m0).unwrap();
        assert_eq!((globex0.in_octets, globex0.out_octets), (0, 1000));
        let acme1 = by("acme", m0 + 60).unwrap();
        assert_eq!((acme1.out_octets, acme1.covered_ms), (700, 60_000));
        let globex1 = by("globex", m0 + 60).unwrap();
        assert_eq!(
            (globex1.in_octets, globex1.out_octets),
            (0, 0),
            "known zero"
        );
        assert_eq!(slots.len(), 4, "the silent minute is a gap: {slots:?}");
    }

    /// A product line known by a prefix that holds a customer's: a record counts for both
    /// (two dimensions, like a port's labels), each in its own slot; a product line with
    /// ports is measured by them.
    #[test]
    fn product_lines_by_prefix_beside_customers() {
        use crate::config::{PortKey, ProductLine, ProductLinePrefix, Topology};
        let mut settings = FlowSettings {
            listen: vec![],
            exporters: vec![FlowExporter {
                switch: "sw0".into(),
                address: "10.0.0.1".parse().unwrap(),
                sampling: 1,
            }],
            prefixes: vec![CustomerPrefix {
                prefix: "203.0.113.0/24".parse().unwrap(),
                customer: "acme".into(),
            }],
            product_line_prefixes: vec![],
        };
        for (p, l) in [
            ("203.0.112.0/22", "cloud"),
            ("2001:db8::/32", "cloud"),
            ("198.51.100.0/24", "cdn"),
        ] {
            settings.product_line_prefixes.push(ProductLinePrefix {
                prefix: p.parse().unwrap(),
                product_line: l.into(),
            });
        }
        let mut topo = Topology::default();
        topo.product_lines.insert(
            "cdn".into(),
            ProductLine {
                name: "cdn".into(),
                owners: vec![],
                ports: vec![PortKey {
                    switch: "sw0".into(),
                    port: "eth1".into(),
                }],
                description: None,
            },
        );
        let m = FlowModel::new(&settings).with_ports(&topo);
        let t0 = 1_700_000_040_000;
        let mut a = Minutes::new(t0 - 60_000);
        a.seen(t0, 0);
        // acme (and cloud) receive 1000; cloud sends 300 from outside acme; cdn (ports) 50.
        a.add(t0, &m, &rec("192.0.2.1", "203.0.113.5", 1000));
        a.add(t0, &m, &rec("2001:db8:7::1", "192.0.2.1", 300));
        assert_eq!(
            a.add(t0, &m, &rec("198.51.100.9", "192.0.2.1", 50)),
            Attribution::Customer
        );
        let slots = a.take_due(t0 + 120_000, 1000, &m, false);
        let get = |k: EntityKind, n: &str| {
            slots
                .iter()
                .find(|s| s.kind == k && s.name == n)
                .map(|s| (s.in_octets, s.out_octets))
        };
        assert_eq!(get(EntityKind::Customer, "acme"), Some((0, 1000)));
        assert_eq!(get(EntityKind::ProductLine, "cloud"), Some((300, 1000)));
        assert_eq!(
            get(EntityKind::ProductLine, "cdn"),
            None,
            "measured by its port"
        );
        assert_eq!(slots.len(), 2, "{slots:?}");
    }

    #[test]
    fn a_customer_with_ports_is_not_measured_by_flows() {
        use crate::config::{Customer, PortKey, Topology};
        let mut topo = Topology::default();
        topo.customers.insert(
            "globex".into(),
            Customer {
                id: "globex".into(),
                name: "Globex".into(),
                account_manager: None,
                ports: vec![PortKey {
                    switch: "sw0".into(),
                    port: "eth1".into(),
                }],
            },
        );
        let m = model(1).with_ports(&topo);
        let t0 = 1_700_000_040_000;
        let mut a = Minutes::new(t0 - 60_000);
        a.seen(t0, 0);
        assert_eq!(
            a.add(t0, &m, &rec("203.0.113.5", "198.51.100.9", 1000)),
            Attribution::Customer
        );
        let slots = a.take_due(t0 + 120_000, 1000, &m, false);
        assert!(slots.iter().all(|s| s.name == "acme"), "{slots:?}");
        assert_eq!(slots.len(), 1);
    }
}
