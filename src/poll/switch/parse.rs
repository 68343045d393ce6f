//! Parsing: one port's fetched values into a counter reading, and the readings of a sweep
//! into the [`Sweep`] (with the counter math and each port's state updated).

use super::fetch::Cell;
use super::*;

/// What reading one port's values gave.
pub(super) enum Parsed {
    Reading(CounterReading, u64, OperStatus),
    /// No ifHC* columns: read it again with Counter32 columns.
    NeedsFallback,
    /// The ifIndex does not exist (any more).
    Missing,
    /// Values of the wrong type.
    Invalid(String),
}

impl SwitchPoller {
    pub(super) fn parse(&self, port: &PortState, f: &Fetched) -> Parsed {
        let v = &f.values;
        if f.len as usize != COLS {
            return Parsed::Invalid(format!("{} values instead of {COLS}", f.len));
        }
        if v.iter().all(|c| c.is_exception()) {
            return Parsed::Missing;
        }
        if port.width == CounterWidth::C64 && (v[0].is_exception() || v[1].is_exception()) {
            return Parsed::NeedsFallback;
        }
        let (Some(in_octets), Some(out_octets)) = (counter(&v[0]), counter(&v[1])) else {
            return Parsed::Invalid(format!(
                "octet counters are not counters: {:?} / {:?}",
                v[0], v[1]
            ));
        };
        let speed = v[4].as_u64().unwrap_or(0);
        let speed_bps = match port.width {
            CounterWidth::C64 => speed.saturating_mul(1_000_000),
            CounterWidth::C32 => speed,
        };
        let oper = match v[5] {
            Cell::Integer(i) => OperStatus::from_mib(i),
            _ => OperStatus::Unknown,
        };
        Parsed::Reading(
            CounterReading {
                at_ms: f.at_ms,
                sys_uptime: f.uptime,
                // Agents without the column answer noSuchObject/noSuchInstance: absent.
                discontinuity: match v[DISCONTINUITY] {
                    Cell::TimeTicks(t) => Some(t),
                    _ => None,
                },
                width: port.width,
                in_octets,
                out_octets,
                in_packets: counter(&v[2]),
                out_packets: counter(&v[3]),
            },
            speed_bps,
            oper,
        )
    }

    /// Turns fetched values into the sweep, updating each port's state.
    pub(super) fn judge(&mut self, mut results: Vec<(usize, Result<Fetched, SnmpError>)>) -> Sweep {
        // In port order (each port has one result), so that the sweep's ports are built as
        // the results are read.
        results.sort_unstable_by_key(|(i, _)| *i);
        let mut ports = Vec::with_capacity(self.ports.len());
        let mut first_error: Option<SnmpError> = None;
        let mut any_ok = false;
        let mut reset = false;
        for (i, r) in results.drain(..) {
            if i >= self.ports.len() || i < ports.len() {
                // Not a port, or one already judged.
                continue;
            }
            // Ports without a result were not found.
            while ports.len() < i {
                let p = &mut self.ports[ports.len()];
                p.missed = true;
                ports.push(PortResult {
                    port: p.port.name.clone(),
                    outcome: PortOutcome::Unknown(UnknownReason::PortMissing),
                });
            }
            let outcome = match r {
                Err(e) => {
                    first_error.get_or_insert(e.clone());
                    PortOutcome::Unknown(reason_of(&e))
                }
                Ok(f) => {
                    any_ok = true;
                    self.last_uptime = Some(f.uptime);
                    match self.parse(&self.ports[i], &f) {
                        Parsed::Reading(cur, speed_bps, oper) => {
                            let port = &mut self.ports[i];
                            let cap = port.cap_bps(speed_bps);
                            let a = assess(port.prev_of(cur.width), &cur, cap, port.missed);
                            if a.quality == crate::poll::Quality::Reset {
                                reset = true;
                            }
                            if a.quality == crate::poll::Quality::Bogus {
                                warn!(switch = %self.switch.name, address = %self.switch.address,
                                    port = %port.port.name, "bogus delta (faster than the port): interval dropped");
                            }
                            if a.quality == crate::poll::Quality::Ok
                                && let Some(d) = a.delta
                                && d.dt_ms > 0
                            {
                                let bps =
                                    d.in_octets.max(d.out_octets) as f64 * 8000.0 / d.dt_ms as f64;
                                port.peak_bps = port.peak_bps.max(bps);
                            }
                            port.set_prev(cur);
                            port.speed_bps = speed_bps;
                            PortOutcome::Reading(PortReading {
                                if_index: port.if_index.unwrap_or(0),
                                oper_status: oper,
                                speed_bps,
                                quality: a.quality,
                                delta: a.delta,
                            })
                        }
                        Parsed::Missing => PortOutcome::Unknown(UnknownReason::PortMissing),
                        Parsed::NeedsFallback | Parsed::Invalid(_) => {
                            let why = match self.parse(&self.ports[i], &f) {
                                Parsed::Invalid(why) => why,
                                _ => "no octet counters".to_string(),
                            };
                            let e = SnmpError::Malformed(format!(
                                "unusable values for port {}: {why}",
                                self.ports[i].port.name
                            ));
                            self.count_error(&e);
                            first_error.get_or_insert(e);
                            PortOutcome::Unknown(UnknownReason::AgentError)
                        }
                    }
                }
            };
            let p = &mut self.ports[i];
            p.missed = !matches!(outcome, PortOutcome::Reading(_));
            ports.push(PortResult {
                port: p.port.name.clone(),
                outcome,
            });
        }
        while ports.len() < self.ports.len() {
            let p = &mut self.ports[ports.len()];
            p.missed = true;
            ports.push(PortResult {
                port: p.port.name.clone(),
                outcome: PortOutcome::Unknown(UnknownReason::PortMissing),
            });
        }
        // Learn the names again after a reset.
        if reset {
            self.need_discovery = true;
        }
        self.answered_last = any_ok && !first_error.as_ref().is_some_and(SnmpError::is_timeout);
        let status = match (&first_error, any_ok) {
            (None, _) => SweepStatus::Ok,
            (Some(e), _) if e.is_timeout() => SweepStatus::Timeout,
            (Some(e), _) => SweepStatus::Error(e.to_string()),
        };
        if let Some(e) = &first_error {
            warn!(switch = %self.switch.name, address = %self.switch.address, error = %e, "poll failed");
        }
        super::fetch::recycle_results(results);
        Sweep {
            switch: Arc::clone(&self.name),
            time: Timestamp::now(),
            status,
            sys_uptime: self.last_uptime,
            ports,
        }
    }

    /// The sweep when the switch could not be read at all.
    pub(super) fn failed(&mut self, e: SnmpError) -> Sweep {
        warn!(switch = %self.switch.name, address = %self.switch.address, error = %e, "poll failed");
        self.need_discovery = self.last_discovery.is_none() || self.need_discovery;
        self.answered_last = false;
        for p in &mut self.ports {
            p.missed = true;
        }
        failed_sweep(&self.switch, &self.ports_names(), &e)
    }
}

pub(super) fn counter(v: &Cell) -> Option<u64> {
    match *v {
        Cell::Counter64(c) => Some(c),
        Cell::Counter32(c) => Some(u64::from(c)),
        _ => None,
    }
}
