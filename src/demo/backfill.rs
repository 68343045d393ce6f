//! History for the demo: sweeps computed from the simulator's traffic model for the days
//! before the fleet started, written through the same [`Writer`] the poller feeds, so that
//! seasonal baselines and churn references exist from the first live poll.

use std::time::Instant;

use jiff::{SignedDuration, Timestamp};

use crate::config::Topology;
use crate::poll::SweepStatus;
use crate::poll::{Delta, OperStatus, PortOutcome, PortReading, PortResult, Quality, Sweep};
use crate::sim::SwitchModel;
use crate::store::{StoreError, Writer};

/// What a backfill wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct Backfill {
    /// Sweeps submitted.
    pub sweeps: usize,
    /// Port readings in them.
    pub readings: usize,
    /// First sweep time.
    pub from: Timestamp,
    /// Last sweep time.
    pub to: Timestamp,
}

/// One sweep of `switch` (its configured ports, in config order) ending at model time `t`,
/// covering `step` seconds; `first` makes it the first reading (no delta), as after a start.
/// A configured port takes the model's port of the same name, or else the one at its place in
/// the configuration (a configuration written for real switches, whose ports the simulator
/// names otherwise: `bandwatch backfill`).
fn sweep_at(
    topology: &Topology,
    switch: usize,
    model: &SwitchModel,
    time: Timestamp,
    t: f64,
    step: f64,
    first: bool,
) -> Sweep {
    let sw = &topology.switches[switch];
    let ports = sw
        .ports
        .iter()
        .enumerate()
        .map(|(j, p)| {
            let by_name = model.ports.iter().position(|m| *m.name == *p.name);
            let at = by_name.or((j < model.ports.len()).then_some(j));
            let outcome = match at {
                None => PortOutcome::Unknown(crate::poll::UnknownReason::PortMissing),
                Some(i) => {
                    let inb = model.octets_between(i, t - step, t);
                    let out = inb * model.out_ratio();
                    let delta = (!first).then(|| Delta {
                        dt_ms: (step * 1000.0) as u64,
                        in_octets: inb as u64,
                        out_octets: out as u64,
                        in_packets: Some((inb / crate::sim::traffic::PACKET_SIZE) as u64),
                        out_packets: Some((out / crate::sim::traffic::PACKET_SIZE) as u64),
                    });
                    PortOutcome::Reading(PortReading {
                        if_index: i as u32 + 1,
                        oper_status: if model.oper_up(i, t) {
                            OperStatus::Up
                        } else {
                            OperStatus::Down
                        },
                        speed_bps: model.speed_bps,
                        quality: if first { Quality::First } else { Quality::Ok },
                        delta,
                    })
                }
            };
            PortResult {
                port: p.name.clone(),
                outcome,
            }
        })
        .collect();
    Sweep {
        switch: crate::intern::intern(&sw.name),
        time,
        status: SweepStatus::Ok,
        sys_uptime: None,
        ports,
    }
}

/// Writes `days` of sweeps, one per switch every `step_secs`, ending at `end` (model time
/// 0), oldest first. `models[n]` is the traffic of `topology.switches[n]`. `progress` is
/// called with the fraction done about once a simulated day. Returns once the writer has
/// stored everything.
pub fn backfill(
    writer: &Writer,
    topology: &Topology,
    models: &[&SwitchModel],
    end: Timestamp,
    days: u32,
    step_secs: u32,
    mut progress: impl FnMut(f64),
) -> Result<Backfill, StoreError> {
    let started = Instant::now();
    let step = f64::from(step_secs.max(1));
    let steps = (i64::from(days) * 86_400) / i64::from(step_secs.max(1));
    let per_day = (86_400 / i64::from(step_secs.max(1))).max(1);
    let mut sweeps = 0usize;
    let mut readings = 0usize;
    let from = end - SignedDuration::from_secs(steps * i64::from(step_secs.max(1)));
    for k in 0..=steps {
        let back = (steps - k) * i64::from(step_secs.max(1));
        let time = end - SignedDuration::from_secs(back);
        let t = -(back as f64);
        for (n, model) in models.iter().enumerate().take(topology.switches.len()) {
            let sweep = sweep_at(topology, n, model, time, t, step, k == 0);
            readings += sweep.ports.len();
            writer.submit_wait(sweep)?;
            sweeps += 1;
        }
        if k % per_day == per_day - 1 {
            writer.flush()?;
            progress(k as f64 / steps.max(1) as f64);
        }
    }
    writer.flush()?;
    progress(1.0);
    tracing::debug!(
        sweeps,
        readings,
        secs = started.elapsed().as_secs_f64(),
        "backfill done"
    );
    Ok(Backfill {
        sweeps,
        readings,
        from,
        to: end,
    })
}
