//! Backtest over stored history: `bandwatch backtest --from T --to T` reads the port samples
//! of the SQLite store back into the [`Sweep`]s the poller once produced and replays them,
//! with the store's aggregate slots, through [`LiveRules`]: the very code the daemon runs,
//! with a simulated clock (the samples' own times) instead of the wall clock.
//!
//! Gaps stay gaps: a stored timeout or reset is replayed as the unknown it was, so a rule
//! sees exactly what it would have seen live, and alerts that span missing data are flagged.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;

use super::backtest::{Recorder, Report};
use super::live::{LiveRules, StoreHistory};
use super::rule::Rule;
use super::state_store::MemoryStateStore;
use crate::config::Topology;
use crate::poll::{
    Delta, OperStatus, PortOutcome, PortReading, PortResult, Quality, Sweep, SweepStatus,
    UnknownReason,
};
use crate::store::{self, Reader, StoreError, StoredSample, flag};

/// Port samples are read and replayed this much simulated time at once (bounded memory).
const CHUNK_SECS: i64 = 6 * 3600;
/// `absent` rules see the clock this often (the daemon: every few seconds).
const TICK_SECS: i64 = 60;
/// Aggregate slots are fed this often (each entity's slots in order; entities are independent).
const AGGREGATE_SECS: i64 = 900;

/// The poller's outcome for a stored sample.
fn outcome(s: &StoredSample) -> PortOutcome {
    let quality = match s.flag {
        flag::OK => Some(Quality::Ok),
        flag::WRAPPED => Some(Quality::Wrapped),
        flag::GAP_SPANNED => Some(Quality::Gap),
        flag::FIRST => Some(Quality::First),
        flag::RESET => Some(Quality::Reset),
        flag::BOGUS => Some(Quality::Bogus),
        _ => None,
    };
    let delta = match (s.dt_ms, s.in_octets, s.out_octets) {
        (Some(dt_ms), Some(in_octets), Some(out_octets)) if dt_ms > 0 => Some(Delta {
            dt_ms,
            in_octets,
            out_octets,
            in_packets: s.in_packets,
            out_packets: s.out_packets,
        }),
        _ => None,
    };
    match (quality, s.oper) {
        (Some(q), Some(oper)) => {
            let has = q.has_delta() && delta.is_some();
            PortOutcome::Reading(PortReading {
                if_index: 0,
                oper_status: OperStatus::from_mib(oper),
                speed_bps: s.speed_bps.unwrap_or(0),
                quality: if has || !q.has_delta() {
                    q
                } else {
                    Quality::Bogus
                },
                delta: if has { delta } else { None },
            })
        }
        (q, _) => PortOutcome::Unknown(match (q, s.flag) {
            (Some(Quality::Reset), _) => UnknownReason::Reset,
            (Some(Quality::Bogus), _) => UnknownReason::Bogus,
            (Some(_), _) => UnknownReason::First,
            (None, flag::AGENT_ERROR) => UnknownReason::AgentError,
            (None, flag::PORT_MISSING) => UnknownReason::PortMissing,
            (None, _) => UnknownReason::Timeout,
        }),
    }
}

/// Rebuilds the sweeps of `[from, to)` from the stored samples of the topology's ports,
/// in time order.
fn sweeps(
    reader: &Reader,
    topology: &Topology,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<Sweep>, StoreError> {
    let mut by_time: BTreeMap<(Timestamp, String), Vec<(PortResult, i64)>> = BTreeMap::new();
    for sw in &topology.switches {
        for p in &sw.ports {
            let e = store::Entity::port(&sw.name, &p.name);
            let samples = match reader.port_samples(&e, from, to) {
                Ok(s) => s,
                // A configured port the store has never seen has no history.
                Err(StoreError::UnknownSeries { .. }) => continue,
                Err(e) => return Err(e),
            };
            for s in samples {
                by_time.entry((s.time, sw.name.clone())).or_default().push((
                    PortResult {
                        port: p.name.clone(),
                        outcome: outcome(&s),
                    },
                    s.flag,
                ));
            }
        }
    }
    Ok(by_time
        .into_iter()
        .map(|((time, switch), ports)| {
            // The switch's own answer is not stored: every port timed out means it did.
            let status = if ports.iter().all(|(_, f)| *f == flag::TIMEOUT) {
                SweepStatus::Timeout
            } else if ports.iter().all(|(_, f)| *f == flag::AGENT_ERROR) {
                SweepStatus::Error("agent error (stored)".into())
            } else {
                SweepStatus::Ok
            };
            Sweep {
                switch: crate::intern::intern(&switch),
                time,
                status,
                sys_uptime: None,
                ports: ports.into_iter().map(|(p, _)| p).collect(),
            }
        })
        .collect())
}

/// Replays the stored history of `[from, to)` through the daemon's rule engine and reports
/// every alert onset. Baselines are warmed from the rollups before `from`, as after a
/// daemon start; alert states start empty (nothing is read from or written to the store).
pub fn replay_store(
    rules: Vec<Rule>,
    topology: &Topology,
    reader: &Reader,
    from: Timestamp,
    to: Timestamp,
) -> Result<Report, StoreError> {
    let history = StoreHistory::new(reader.clone());
    let mut recorder = Recorder::new(&rules);
    let mut live = LiveRules::new(
        rules,
        &Arc::new(topology.clone()),
        Box::new(MemoryStateStore::new()),
        Box::new(history),
    );
    let (from_s, to_s) = (from.as_second(), to.as_second());
    let ts = |s: i64| Timestamp::from_second(s).unwrap_or(from);
    // Aggregates start at `from` (the first call also feeds a few slots before it).
    let mut agg_until = from_s;
    recorder.record(&live.on_aggregates(reader, from));
    let mut tick_at = from_s + TICK_SECS;
    let mut last: Option<Timestamp> = None;
    let mut points = 0usize;
    let mut series = std::collections::BTreeSet::new();
    let mut chunk = from_s;
    while chunk < to_s {
        let end = (chunk + CHUNK_SECS).min(to_s);
        for sweep in sweeps(reader, topology, ts(chunk), ts(end))? {
            let t = sweep.time.as_second();
            // Ticks strictly before the sweep: a tick at its time would take its place.
            while tick_at < t {
                if tick_at - agg_until >= AGGREGATE_SECS {
                    recorder.record(&live.on_aggregates(reader, ts(tick_at)));
                    agg_until = tick_at;
                }
                recorder.record(&live.tick(ts(tick_at)));
                tick_at += TICK_SECS;
            }
            points += sweep.ports.len();
            for p in &sweep.ports {
                series.insert((sweep.switch.clone(), p.port.clone()));
            }
            recorder.record(&live.on_sweep(&sweep));
            last = Some(sweep.time);
        }
        chunk = end;
    }
    recorder.record(&live.on_aggregates(reader, to));
    recorder.record(&live.tick(to));
    recorder.report.series = series.len();
    recorder.report.points = points;
    Ok(recorder.finish(live.engine(), last.map(|l| l.max(to)).or(Some(to))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(flag: i64, dt: Option<u64>, oper: Option<i64>) -> StoredSample {
        StoredSample {
            time: Timestamp::UNIX_EPOCH,
            dt_ms: dt,
            in_octets: dt.map(|_| 100),
            out_octets: dt.map(|_| 50),
            in_packets: None,
            out_packets: None,
            oper,
            flag,
            speed_bps: Some(1_000_000_000),
        }
    }

    #[test]
    fn stored_flags_become_the_outcomes_the_poller_produced() {
        match outcome(&sample(flag::OK, Some(60_000), Some(1))) {
            PortOutcome::Reading(r) => {
                assert_eq!(r.quality, Quality::Ok);
                assert_eq!(r.delta.unwrap().in_octets, 100);
                assert_eq!(r.oper_status, OperStatus::Up);
                assert_eq!(r.speed_bps, 1_000_000_000);
            }
            o => panic!("{o:?}"),
        }
        match outcome(&sample(flag::RESET, None, Some(1))) {
            PortOutcome::Reading(r) => {
                assert_eq!(r.quality, Quality::Reset);
                assert!(r.delta.is_none());
            }
            o => panic!("{o:?}"),
        }
        assert_eq!(
            outcome(&sample(flag::TIMEOUT, None, None)),
            PortOutcome::Unknown(UnknownReason::Timeout)
        );
        assert_eq!(
            outcome(&sample(flag::PORT_MISSING, None, None)),
            PortOutcome::Unknown(UnknownReason::PortMissing)
        );
        // A "normal" flag without a delta is never read as zero traffic.
        assert!(outcome(&sample(flag::OK, None, Some(1))).delta().is_none());
    }
}
