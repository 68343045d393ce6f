//! Per-customer, per-minute sums of attributed flow records, with coverage.
//!
//! A record counts in the minute it *arrived* in (the collector's clock): exporters' own
//! timestamps drift and a long flow's bytes are reported at its active timeout, so
//! exporters should use an active timeout of 60 s or less (pitfalls: inflated or late rates
//! with long timeouts). A record whose source is a customer's address counts as that
//! customer's `in` (sent by the customer, like a customer port's ifInOctets); one whose
//! destination is, as its `out`.
//!
//! A customer with ports is measured by its ports: flows attribute its addresses (the
//! metrics, the attack evidence) but add nothing to its usage, so no byte counts twice.
//!
//! Coverage of a minute: the share of it during which the collector ran, times the share of
//! the configured exporters that sent at least one decodable datagram in it. A minute in
//! which no exporter sent anything writes nothing (a gap, unknown), never a zero.

use std::collections::{BTreeMap, HashMap};

use super::FlowRecord;
use super::table::FlowModel;
use crate::store::FlowSlot;

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
    customers: HashMap<String, Sums>,
    /// Exporter indexes (of the model in force when they sent) seen in this minute.
    seen: Vec<bool>,
}

/// What a record was attributed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attribution {
    /// Its source or destination (or both) is a customer's.
    Customer,
    /// Neither address is in a customer prefix.
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

    /// Adds one record received at `now_ms` to the customers its addresses belong to.
    pub fn add(&mut self, now_ms: i64, model: &FlowModel, r: &FlowRecord) -> Attribution {
        let from = model.customer_of(r.src);
        let to = model.customer_of(r.dst);
        if from.is_none() && to.is_none() {
            return Attribution::None;
        }
        let m = self.minute(now_ms);
        for (idx, sent) in [(from, true), (to, false)] {
            let Some(name) = idx
                .filter(|i| model.measured(*i))
                .and_then(|i| model.customers().get(i as usize))
            else {
                continue;
            };
            if !m.customers.contains_key(name.as_str()) {
                m.customers.insert(name.clone(), Sums::default());
            }
            let Some(s) = m.customers.get_mut(name.as_str()) else {
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
    /// minutes when `all`, the current one covered up to `now_ms`): one per customer of the
    /// model with prefixes (zero when it had no traffic in a covered minute) and per
    /// customer seen in the minute.
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
                m.customers.entry(c.clone()).or_default();
            }
            let mut rows: Vec<(String, Sums)> = m.customers.into_iter().collect();
            rows.sort_by(|a, b| a.0.cmp(&b.0));
            for (customer, s) in rows {
                out.push(FlowSlot {
                    customer,
                    slot_start: slot * 60,
                    in_octets: s.in_octets,
                    out_octets: s.out_octets,
                    in_packets: s.in_packets,
                    out_packets: s.out_packets,
                    covered_ms: covered,
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
        let by = |c: &str, s: i64| slots.iter().find(|x| x.customer == c && x.slot_start == s);
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
        let m = model(1).with_port_customers(&topo);
        let t0 = 1_700_000_040_000;
        let mut a = Minutes::new(t0 - 60_000);
        a.seen(t0, 0);
        assert_eq!(
            a.add(t0, &m, &rec("203.0.113.5", "198.51.100.9", 1000)),
            Attribution::Customer
        );
        let slots = a.take_due(t0 + 120_000, 1000, &m, false);
        assert!(slots.iter().all(|s| s.customer == "acme"), "{slots:?}");
        assert_eq!(slots.len(), 1);
    }
}
