//! The live view behind `/metrics`: the latest measured state of every configured port and
//! the aggregates built from it, updated from each [`Sweep`] as it passes.
//!
//! Octet counters here are sums of *known* deltas (wrap- and reset-corrected by the poller),
//! so Prometheus's `rate()` over them is right across device reboots. A port whose last
//! interval is unknown has no rate sample at all (never a zero): Prometheus sees the series
//! go stale, exactly as it should.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::config::{PortKey, PortLabels, Topology};
use crate::hash::FastMap;
use crate::poll::attributed::AttributedPorts;
use crate::poll::{OperStatus, PortOutcome, Quality, Sweep, SweepStatus};

/// The latest state of one port.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PortState {
    /// Sum of known inbound octets since the daemon started.
    pub in_octets_total: u64,
    /// Sum of known outbound octets since the daemon started.
    pub out_octets_total: u64,
    /// Sum of known inbound unicast packets since the daemon started; `None` until a
    /// switch reports packet counters for the port.
    pub in_packets_total: Option<u64>,
    /// Sum of known outbound unicast packets; `None` until reported.
    pub out_packets_total: Option<u64>,
    /// Last measured inbound rate, `None` when the last interval is unknown.
    pub in_bps: Option<f64>,
    /// Last measured outbound rate.
    pub out_bps: Option<f64>,
    /// Last measured inbound unicast packets per second.
    pub in_pps: Option<f64>,
    /// Last measured outbound unicast packets per second.
    pub out_pps: Option<f64>,
    /// ifOperStatus is up; `None` until read.
    pub oper_up: Option<bool>,
    /// Interface speed in bit/s; `None` until read.
    pub speed_bps: Option<u64>,
}

/// A port's state as the view keeps it: [`PortState`] without its `Option`s' padding (80
/// bytes instead of 136). Unknown rates are NaN, unread packet totals and status are flags.
#[derive(Clone, Debug, Default)]
struct Cell {
    in_octets_total: u64,
    out_octets_total: u64,
    in_packets_total: u64,
    out_packets_total: u64,
    /// In, out bit/s, in, out packets/s; NaN when unknown.
    rates: [f64; 4],
    speed_bps: u64,
    flags: u8,
}

const IN_PACKETS: u8 = 1;
const OUT_PACKETS: u8 = 2;
const OPER_KNOWN: u8 = 4;
const OPER_UP: u8 = 8;
const SPEED_KNOWN: u8 = 16;

impl Cell {
    fn new() -> Cell {
        Cell {
            rates: [f64::NAN; 4],
            ..Cell::default()
        }
    }

    fn flag(&self, f: u8) -> bool {
        self.flags & f != 0
    }

    fn set(&mut self, f: u8, on: bool) {
        if on {
            self.flags |= f;
        } else {
            self.flags &= !f;
        }
    }

    fn clear_rates(&mut self) {
        self.rates = [f64::NAN; 4];
    }

    fn add_packets(&mut self, which: u8, delta: Option<u64>) {
        if let Some(d) = delta {
            let known = self.flag(which);
            let total = if which == IN_PACKETS {
                &mut self.in_packets_total
            } else {
                &mut self.out_packets_total
            };
            *total = if known { total.saturating_add(d) } else { d };
            self.set(which, true);
        }
    }

    fn state(&self) -> PortState {
        let rate = |i: usize| Some(self.rates[i]).filter(|r| !r.is_nan());
        PortState {
            in_octets_total: self.in_octets_total,
            out_octets_total: self.out_octets_total,
            in_packets_total: self.flag(IN_PACKETS).then_some(self.in_packets_total),
            out_packets_total: self.flag(OUT_PACKETS).then_some(self.out_packets_total),
            in_bps: rate(0),
            out_bps: rate(1),
            in_pps: rate(2),
            out_pps: rate(3),
            oper_up: self.flag(OPER_KNOWN).then_some(self.flag(OPER_UP)),
            speed_bps: self.flag(SPEED_KNOWN).then_some(self.speed_bps),
        }
    }
}

/// The latest state of one switch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SwitchState {
    /// The last sweep got an answer.
    pub up: bool,
    /// Unix seconds of the last answered sweep.
    pub last_success: Option<f64>,
}

#[derive(Default)]
struct Inner {
    topology: Arc<Topology>,
    attributed: Option<Arc<AttributedPorts>>,
    last_sweep: Option<std::time::Instant>,
    /// Per switch, its ports in the order its sweeps list them (config order), so a sweep's
    /// n-th port is found at n without hashing; kept compact ([`Cell`]) because a fleet has
    /// one per port.
    ports: FastMap<Arc<str>, Vec<(Arc<str>, Cell)>>,
    switches: HashMap<Arc<str>, SwitchState>,
    samples_by_quality: HashMap<&'static str, u64>,
}

/// A consistent copy of the live state, taken under the lock and rendered outside it.
#[derive(Clone, Default)]
pub struct Snapshot {
    /// The topology the state belongs to.
    pub topology: Arc<Topology>,
    /// Port states by key.
    pub ports: HashMap<PortKey, PortState>,
    /// Switch states by name.
    pub switches: HashMap<String, SwitchState>,
    /// Port readings counted by quality flag since start.
    pub samples_by_quality: HashMap<&'static str, u64>,
    /// Ports attributed by ifAlias patterns that the topology does not list.
    pub attributed: Vec<PortLabels>,
}

/// Shared live state, cheap to clone.
#[derive(Clone, Default)]
pub struct LiveView {
    inner: Arc<Mutex<Inner>>,
}

impl LiveView {
    /// A view over a topology.
    pub fn new(topology: Arc<Topology>) -> Self {
        let v = LiveView::default();
        v.set_topology(topology);
        v
    }

    /// Replaces the topology (on reload): ports no longer configured vanish from `/metrics`.
    pub fn set_topology(&self, topology: Arc<Topology>) {
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        g.ports.retain(|switch, ports| {
            ports.retain(|(port, _)| {
                let key = PortKey {
                    switch: Arc::clone(switch),
                    port: Arc::clone(port),
                };
                topology.port(&key).is_some()
            });
            !ports.is_empty()
        });
        g.switches.retain(|k, _| topology.switch(k).is_some());
        g.topology = topology;
    }

    /// Where the poller publishes ports found by ifAlias patterns, so they are exported too.
    pub fn set_attributed(&self, attributed: Arc<AttributedPorts>) {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .attributed = Some(attributed);
    }

    /// Folds one sweep into the view.
    pub fn apply(&self, sweep: &Sweep) {
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        g.last_sweep = Some(std::time::Instant::now());
        let answered = sweep.status == SweepStatus::Ok;
        let sw = g.switches.entry(sweep.switch.clone()).or_default();
        sw.up = answered;
        if answered {
            sw.last_success = Some(sweep.time.as_millisecond() as f64 / 1000.0);
        }
        // Readings counted per quality over the sweep, then added once per quality.
        let mut by_quality: Vec<(&'static str, u64)> = Vec::new();
        let g = &mut *g;
        if !g.ports.contains_key(&*sweep.switch) {
            g.ports
                .insert(sweep.switch.clone(), Vec::with_capacity(sweep.ports.len()));
        }
        let Some(ports) = g.ports.get_mut(&*sweep.switch) else {
            return;
        };
        for (i, pr) in sweep.ports.iter().enumerate() {
            if let PortOutcome::Reading(r) = &pr.outcome {
                let q = r.quality.as_str();
                match by_quality.iter_mut().find(|(k, _)| *k == q) {
                    Some((_, n)) => *n += 1,
                    None => by_quality.push((q, 1)),
                }
            }
            let st = cell(ports, i, &pr.port);
            match &pr.outcome {
                PortOutcome::Reading(r) => {
                    st.set(OPER_KNOWN, true);
                    st.set(OPER_UP, r.oper_status == OperStatus::Up);
                    st.set(SPEED_KNOWN, true);
                    st.speed_bps = r.speed_bps;
                    match (&r.delta, r.quality) {
                        (Some(d), q) if q.has_delta() => {
                            st.in_octets_total = st.in_octets_total.saturating_add(d.in_octets);
                            st.out_octets_total = st.out_octets_total.saturating_add(d.out_octets);
                            st.add_packets(IN_PACKETS, d.in_packets);
                            st.add_packets(OUT_PACKETS, d.out_packets);
                            let secs = d.dt_secs().max(1e-3);
                            st.rates = [
                                d.in_bps(),
                                d.out_bps(),
                                d.in_packets.map_or(f64::NAN, |p| p as f64 / secs),
                                d.out_packets.map_or(f64::NAN, |p| p as f64 / secs),
                            ];
                        }
                        _ => st.clear_rates(),
                    }
                }
                PortOutcome::Unknown(_) => {
                    // Unknown: no rate, and the oper status is not known either.
                    st.clear_rates();
                    st.set(OPER_KNOWN, false);
                }
            }
        }
        for (q, n) in by_quality {
            *g.samples_by_quality.entry(q).or_default() += n;
        }
    }

    /// How long ago the last sweep (answered or not) passed; `None` before the first.
    pub fn since_last_sweep(&self) -> Option<std::time::Duration> {
        let g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        g.last_sweep.map(|t| t.elapsed())
    }

    /// A copy of the state for rendering.
    pub fn snapshot(&self) -> Snapshot {
        let g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let attributed = g
            .attributed
            .as_ref()
            .map(|a| {
                a.all()
                    .into_iter()
                    .filter(|l| {
                        g.topology
                            .port(&PortKey {
                                switch: l.switch.clone(),
                                port: l.port.clone(),
                            })
                            .is_none()
                    })
                    .collect()
            })
            .unwrap_or_default();
        Snapshot {
            topology: g.topology.clone(),
            ports: g
                .ports
                .iter()
                .flat_map(|(switch, ports)| {
                    ports.iter().map(move |(port, st)| {
                        let key = PortKey {
                            switch: Arc::clone(switch),
                            port: Arc::clone(port),
                        };
                        (key, st.state())
                    })
                })
                .collect(),
            switches: g
                .switches
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            samples_by_quality: g.samples_by_quality.clone(),
            attributed,
        }
    }
}

/// The cell of `port`, expected at `i` (a sweep lists a switch's ports in the same order
/// every time); looked for, or added, when the ports changed.
fn cell<'a>(ports: &'a mut Vec<(Arc<str>, Cell)>, i: usize, port: &Arc<str>) -> &'a mut Cell {
    let at = match ports.get(i) {
        Some((name, _)) if Arc::ptr_eq(name, port) || name == port => i,
        _ => match ports.iter().position(|(name, _)| name == port) {
            Some(j) => j,
            None => {
                ports.push((Arc::clone(port), Cell::new()));
                ports.len() - 1
            }
        },
    };
    &mut ports[at].1
}

/// The sum of member ports' known rates and the fraction of members that were known.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Aggregate {
    /// Sum of known inbound rates.
    pub in_bps: f64,
    /// Sum of known outbound rates.
    pub out_bps: f64,
    /// Known members / all members (0 when there are none).
    pub coverage: f64,
}

impl Snapshot {
    /// Aggregates over a set of ports.
    pub fn aggregate<'a>(&self, members: impl Iterator<Item = &'a PortKey>) -> Aggregate {
        let (mut n, mut known, mut agg) = (0usize, 0usize, Aggregate::default());
        for k in members {
            n += 1;
            if let Some(st) = self.ports.get(k)
                && let (Some(i), Some(o)) = (st.in_bps, st.out_bps)
            {
                known += 1;
                agg.in_bps += i;
                agg.out_bps += o;
            }
        }
        agg.coverage = if n == 0 { 0.0 } else { known as f64 / n as f64 };
        agg
    }
}

/// Every quality flag, for exporting zero counts too.
pub fn qualities() -> impl Iterator<Item = &'static str> {
    Quality::ALL.iter().map(|q| q.as_str())
}
