//! What flows measured for customers and product lines known by address prefixes, for
//! `/metrics`: bytes and packets in and out since the collector started (counters), and the
//! last minute handed to the store (its rate and coverage, merged into the aggregate families
//! beside port customers and product lines).
//!
//! A minute is *unknown* when no configured exporter sent a decodable datagram in it: the
//! collector hands the store nothing for it (a gap), and here its coverage reads 0 and its
//! rate is absent, as a port aggregate's while none of its ports is known.

use std::collections::HashMap;
use std::sync::Mutex;

use super::table::FlowModel;
use crate::http::exposition::{Exposition, MetricType};
use crate::http::metrics::AggregateReading;
use crate::store::{EntityKind, FlowSlot};

const SLOT_MS: i64 = 60_000;

/// One entity's sums since the collector started and its last minute.
#[derive(Clone, Copy, Debug, Default)]
struct Totals {
    in_octets: u64,
    out_octets: u64,
    in_packets: u64,
    out_packets: u64,
    /// Start (unix seconds) of the last minute handed over for it.
    last_slot: Option<i64>,
    /// That minute's octets in and out, and covered milliseconds.
    last: (u64, u64, u32),
}

#[derive(Debug, Default)]
struct Inner {
    totals: HashMap<(EntityKind, String), Totals>,
    /// The entities flows measure, of the model in force at the last hand-over.
    measured: Vec<(EntityKind, String)>,
    /// Start (unix seconds) of the newest minute due at the last hand-over: an entity whose
    /// last minute is older has an unknown last minute.
    due: Option<i64>,
    /// The model `measured` was read from (its address: a reload puts another in force).
    model: usize,
}

/// Flow-measured traffic per customer and product line, read at scrape time.
#[derive(Debug, Default)]
pub struct FlowUsage {
    inner: Mutex<Inner>,
}

impl FlowUsage {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes the slots of one hand-over at `now_ms` (minutes end `grace_ms` before they are
    /// due) under `model`.
    pub fn record(&self, now_ms: i64, grace_ms: i64, model: &FlowModel, slots: &[FlowSlot]) {
        let mut g = self.lock();
        let id = std::ptr::from_ref(model) as usize;
        if g.model != id || g.measured.is_empty() {
            let measured: Vec<(EntityKind, String)> = model
                .measured_customers()
                .map(|c| (EntityKind::Customer, c.to_string()))
                .chain(
                    model
                        .measured_product_lines()
                        .map(|p| (EntityKind::ProductLine, p.to_string())),
                )
                .collect();
            let keep: std::collections::HashSet<&(EntityKind, String)> = measured.iter().collect();
            g.totals.retain(|k, _| keep.contains(k));
            for k in &measured {
                if !g.totals.contains_key(k) {
                    g.totals.insert(k.clone(), Totals::default());
                }
            }
            g.measured = measured;
            g.model = id;
        }
        let due = (now_ms - grace_ms).div_euclid(SLOT_MS) - 1;
        g.due = Some(g.due.map_or(due * 60, |d| d.max(due * 60)));
        let Inner { totals, due, .. } = &mut *g;
        for s in slots {
            let Some(t) = totals.get_mut(&(s.kind, s.name.clone())) else {
                continue;
            };
            t.in_octets = t.in_octets.saturating_add(s.in_octets);
            t.out_octets = t.out_octets.saturating_add(s.out_octets);
            t.in_packets = t.in_packets.saturating_add(s.in_packets);
            t.out_packets = t.out_packets.saturating_add(s.out_packets);
            if t.last_slot.is_none_or(|l| l <= s.slot_start) {
                t.last_slot = Some(s.slot_start);
                t.last = (s.in_octets, s.out_octets, s.covered_ms);
            }
            // The minute a stop hands over early is the newest one there is.
            if due.is_none_or(|d| d < s.slot_start) {
                *due = Some(s.slot_start);
            }
        }
    }

    /// The last minute of every entity flows measure: its rate in bytes per second (absent
    /// when unknown) and its coverage (0 when unknown).
    pub fn readings(&self) -> Vec<AggregateReading> {
        let g = self.lock();
        g.measured
            .iter()
            .map(|(kind, name)| {
                let t = g.totals.get(&(*kind, name.clone())).copied();
                let known =
                    t.filter(|t| t.last_slot.is_some() && t.last_slot == g.due && t.last.2 > 0);
                AggregateReading {
                    kind: *kind,
                    name: name.clone(),
                    rates: known.map(|t| (t.last.0 as f64 / 60.0, t.last.1 as f64 / 60.0)),
                    coverage: known.map_or(0.0, |t| f64::from(t.last.2) / SLOT_MS as f64),
                }
            })
            .collect()
    }

    /// Writes the counter families (bytes and packets by direction, per customer and per
    /// product line).
    pub fn write(&self, e: &mut Exposition) {
        let g = self.lock();
        for (kind, label, what) in [
            (EntityKind::Customer, "customer", "customer"),
            (EntityKind::ProductLine, "product_line", "product line"),
        ] {
            let rows: Vec<(&str, Totals)> = g
                .measured
                .iter()
                .filter(|(k, _)| *k == kind)
                .map(|(k, n)| {
                    let t = g.totals.get(&(*k, n.clone())).copied().unwrap_or_default();
                    (n.as_str(), t)
                })
                .collect();
            let families: [(String, String, TotalsValue); 2] = [
                (
                    format!("bandwatch_{label}_flow_bytes_total"),
                    format!(
                        "Bytes of the {what} known by address prefixes, measured by flows \
                         (sampling applied) in the minutes handed to the store since bandwatch \
                         started, by direction (in: sent by its addresses, out: sent to them)."
                    ),
                    |t| (t.in_octets, t.out_octets),
                ),
                (
                    format!("bandwatch_{label}_flow_packets_total"),
                    format!(
                        "Packets of the {what} known by address prefixes, measured by flows \
                         (sampling applied) since bandwatch started, by direction."
                    ),
                    |t| (t.in_packets, t.out_packets),
                ),
            ];
            for (name, help, get) in families {
                e.family(&name, MetricType::Counter, &help);
                for (n, t) in &rows {
                    let (i, o) = get(t);
                    e.sample(&name, &[(label, n), ("direction", "in")], i as f64);
                    e.sample(&name, &[(label, n), ("direction", "out")], o as f64);
                }
            }
        }
    }
}

/// Reads the (in, out) values of one counter family.
type TotalsValue = fn(&Totals) -> (u64, u64);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CustomerPrefix, FlowExporter, FlowSettings};

    fn model() -> FlowModel {
        FlowModel::new(&FlowSettings {
            listen: vec![],
            exporters: vec![FlowExporter {
                switch: "sw0".into(),
                address: "10.0.0.1".parse().unwrap(),
                sampling: 1,
            }],
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

    fn slot(name: &str, start: i64, out: u64, covered: u32) -> FlowSlot {
        FlowSlot {
            kind: EntityKind::Customer,
            name: name.into(),
            slot_start: start,
            in_octets: 0,
            out_octets: out,
            in_packets: 0,
            out_packets: out / 100,
            covered_ms: covered,
            shard: None,
        }
    }

    /// Counters add every minute; the last minute gives the rate and coverage, and a minute
    /// that came due without slots (no exporter sent) reads unknown.
    #[test]
    fn totals_last_minute_and_unknown() {
        let u = FlowUsage::default();
        let m = model();
        let before = u.readings();
        assert!(
            before
                .iter()
                .all(|r| r.rates.is_none() && r.coverage == 0.0),
            "unknown before the first minute: {before:?}"
        );
        let t0 = 1_700_000_040; // a minute's start
        let now = |s: i64| (s + 60) * 1000 + 2500;
        u.record(now(t0), 2000, &m, &[slot("acme", t0, 6000, 60_000)]);
        u.record(
            now(t0 + 60),
            2000,
            &m,
            &[slot("acme", t0 + 60, 1200, 30_000)],
        );
        let r = u.readings();
        let acme = r.iter().find(|r| r.name == "acme").unwrap();
        assert_eq!(acme.rates, Some((0.0, 20.0)));
        assert_eq!(acme.coverage, 0.5);
        let globex = r.iter().find(|r| r.name == "globex").unwrap();
        assert_eq!((globex.rates, globex.coverage), (None, 0.0));
        // The next minute is due and nothing came: unknown.
        u.record(now(t0 + 120), 2000, &m, &[]);
        let acme = u.readings().into_iter().find(|r| r.name == "acme").unwrap();
        assert_eq!((acme.rates, acme.coverage), (None, 0.0));
        let mut e = Exposition::new(crate::http::exposition::Format::Text, 1024);
        u.write(&mut e);
        let text = e.finish();
        assert!(
            text.contains(
                "bandwatch_customer_flow_bytes_total{customer=\"acme\",direction=\"out\"} 7200\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "bandwatch_customer_flow_packets_total{customer=\"globex\",direction=\"in\"} 0\n"
            ),
            "{text}"
        );
        assert!(text.contains("# TYPE bandwatch_product_line_flow_bytes_total counter"));
    }
}
