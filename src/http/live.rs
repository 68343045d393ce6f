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
    /// Per switch, per port name: found without building a key (a sweep updates every port
    /// of its switch; a `PortKey` per port was two strings allocated and freed per sample).
    ports: FastMap<Arc<str>, FastMap<Arc<str>, PortState>>,
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
            ports.retain(|port, _| {
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
            g.ports.insert(sweep.switch.clone(), FastMap::default());
        }
        let Some(ports) = g.ports.get_mut(&*sweep.switch) else {
            return;
        };
        for pr in &sweep.ports {
            if let PortOutcome::Reading(r) = &pr.outcome {
                let q = r.quality.as_str();
                match by_quality.iter_mut().find(|(k, _)| *k == q) {
                    Some((_, n)) => *n += 1,
                    None => by_quality.push((q, 1)),
                }
            }
            if !ports.contains_key(&*pr.port) {
                ports.insert(pr.port.clone(), PortState::default());
            }
            let Some(st) = ports.get_mut(&*pr.port) else {
                continue;
            };
            match &pr.outcome {
                PortOutcome::Reading(r) => {
                    st.oper_up = Some(r.oper_status == OperStatus::Up);
                    st.speed_bps = Some(r.speed_bps);
                    match (&r.delta, r.quality) {
                        (Some(d), q) if q.has_delta() => {
                            st.in_octets_total = st.in_octets_total.saturating_add(d.in_octets);
                            st.out_octets_total = st.out_octets_total.saturating_add(d.out_octets);
                            add_packets(&mut st.in_packets_total, d.in_packets);
                            add_packets(&mut st.out_packets_total, d.out_packets);
                            st.in_bps = Some(d.in_bps());
                            st.out_bps = Some(d.out_bps());
                            let secs = d.dt_secs().max(1e-3);
                            st.in_pps = d.in_packets.map(|p| p as f64 / secs);
                            st.out_pps = d.out_packets.map(|p| p as f64 / secs);
                        }
                        _ => clear_rates(st),
                    }
                }
                PortOutcome::Unknown(_) => {
                    // Unknown: no rate, and the oper status is not known either.
                    clear_rates(st);
                    st.oper_up = None;
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
                        (key, st.clone())
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

fn clear_rates(st: &mut PortState) {
    st.in_bps = None;
    st.out_bps = None;
    st.in_pps = None;
    st.out_pps = None;
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

/// Adds a known packet delta to a port's packet counter (started at the first report).
fn add_packets(total: &mut Option<u64>, delta: Option<u64>) {
    if let Some(d) = delta {
        *total = Some(total.unwrap_or(0).saturating_add(d));
    }
}
