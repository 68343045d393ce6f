//! The poller's own health, per switch, in plain atomics: written by the switch's task, read
//! at any time by `/metrics` or the status page without locks.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::sweep::{Quality, UnknownReason};

/// The reasons an interval is unknown that are counted per switch.
pub const UNKNOWN_REASONS: [UnknownReason; 6] = [
    UnknownReason::Timeout,
    UnknownReason::AgentError,
    UnknownReason::PortMissing,
    UnknownReason::Reset,
    UnknownReason::Bogus,
    UnknownReason::First,
];

/// Counters and gauges of one switch's polling.
#[derive(Debug, Default)]
pub struct SwitchMetrics {
    /// Sweeps completed (whatever their outcome).
    pub sweeps: AtomicU64,
    /// Duration of the last sweep, in microseconds.
    pub last_duration_us: AtomicU64,
    /// Sum of all sweep durations, in microseconds.
    pub total_duration_us: AtomicU64,
    /// Unix time in milliseconds of the last sweep the switch answered; 0 = never.
    pub last_success_unix_ms: AtomicU64,
    /// SNMP requests sent (GET and GETBULK, each counted once, retries not included).
    pub requests: AtomicU64,
    /// Requests that got no answer within timeout and retries.
    pub timeouts: AtomicU64,
    /// Requests that failed otherwise: error status, malformed or mismatched response,
    /// authentication failure.
    pub errors: AtomicU64,
    /// Walks of the static columns (discoveries).
    pub discoveries: AtomicU64,
    /// Reboots seen (sysUpTime fell between sweeps, not by its own wrap).
    pub reboots: AtomicU64,
    /// How late the last sweep started after its scheduled instant, in microseconds.
    pub last_start_lateness_us: AtomicU64,
    /// The largest start lateness seen, in microseconds.
    pub max_start_lateness_us: AtomicU64,
    /// Scheduled sweeps skipped because the previous one was still running.
    pub skipped: AtomicU64,
    /// Port readings by quality, indexed like [`Quality::ALL`].
    samples: [AtomicU64; 6],
    /// Unknown ports by reason.
    unknowns: [AtomicU64; 6],
    /// Sweeps by duration, one count per bucket of [`DURATION_BUCKETS`] (not cumulative).
    durations: [AtomicU64; DURATION_BUCKETS.len()],
}

/// Upper bounds, in seconds, of the sweep duration histogram.
pub const DURATION_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

impl SwitchMetrics {
    /// Counts one port reading of this quality.
    pub fn count_quality(&self, q: Quality) {
        if let Some(i) = Quality::ALL.iter().position(|x| *x == q) {
            self.samples[i].fetch_add(1, Ordering::Relaxed);
        }
    }
    /// Port readings so far of this quality.
    pub fn samples(&self, q: Quality) -> u64 {
        Quality::ALL
            .iter()
            .position(|x| *x == q)
            .map_or(0, |i| self.samples[i].load(Ordering::Relaxed))
    }
    /// Counts one unknown port.
    pub fn count_unknown(&self, r: UnknownReason) {
        if let Some(i) = UNKNOWN_REASONS.iter().position(|x| *x == r) {
            self.unknowns[i].fetch_add(1, Ordering::Relaxed);
        }
    }
    /// Unknown ports so far with this reason.
    pub fn unknowns(&self, r: UnknownReason) -> u64 {
        UNKNOWN_REASONS
            .iter()
            .position(|x| *x == r)
            .map_or(0, |i| self.unknowns[i].load(Ordering::Relaxed))
    }
    /// Port intervals stored as unknown for `r`: the ports that could not be read for that
    /// reason plus the readings that carry no delta for it (`first`, `reset`, `bogus`).
    pub fn unknown_intervals(&self, r: UnknownReason) -> u64 {
        let readings = match r {
            UnknownReason::First => self.samples(Quality::First),
            UnknownReason::Reset => self.samples(Quality::Reset),
            UnknownReason::Bogus => self.samples(Quality::Bogus),
            _ => 0,
        };
        self.unknowns(r) + readings
    }

    /// Records a sweep's start lateness.
    pub fn record_lateness(&self, us: u64) {
        self.last_start_lateness_us.store(us, Ordering::Relaxed);
        self.max_start_lateness_us.fetch_max(us, Ordering::Relaxed);
    }
    /// Counts one sweep's duration into its histogram bucket.
    pub fn record_duration(&self, us: u64) {
        let secs = us as f64 / 1e6;
        if let Some(i) = DURATION_BUCKETS.iter().position(|b| secs <= *b) {
            self.durations[i].fetch_add(1, Ordering::Relaxed);
        }
    }
    /// Cumulative (upper bound, count) pairs of the duration histogram; sweeps slower than
    /// the last bound count only in `+Inf`, which is the number of sweeps.
    pub fn duration_buckets(&self) -> Vec<(f64, u64)> {
        let mut acc = 0;
        DURATION_BUCKETS
            .iter()
            .zip(&self.durations)
            .map(|(b, c)| {
                acc += c.load(Ordering::Relaxed);
                (*b, acc)
            })
            .collect()
    }
    /// Reads a counter (shorthand for `Relaxed` loads).
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Every switch's metrics, in config order. A reload adds and removes switches; a switch
/// that stays keeps its counters (they are monotonic for Prometheus).
#[derive(Debug, Default)]
pub struct PollMetrics {
    switches: std::sync::RwLock<Vec<(String, Arc<SwitchMetrics>)>>,
}

impl PollMetrics {
    /// One switch's metrics.
    pub fn switch(&self, name: &str) -> Option<Arc<SwitchMetrics>> {
        self.read()
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, m)| m.clone())
    }

    /// (switch name, its metrics) of every switch polled now, in config order.
    pub fn switches(&self) -> Vec<(String, Arc<SwitchMetrics>)> {
        self.read().clone()
    }

    /// The metrics of `name`, created (at the end) when it has none yet.
    pub fn get_or_add(&self, name: &str) -> Arc<SwitchMetrics> {
        let mut g = self
            .switches
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, m)) = g.iter().find(|(n, _)| n == name) {
            return m.clone();
        }
        let m = Arc::new(SwitchMetrics::default());
        g.push((name.to_string(), m.clone()));
        m
    }

    /// Keeps the switches of `names` only, in that order.
    pub fn retain_ordered(&self, names: &[&str]) {
        let mut g = self
            .switches
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut kept = Vec::with_capacity(names.len());
        for name in names {
            if let Some(pos) = g.iter().position(|(n, _)| n == name) {
                kept.push(g.swap_remove(pos));
            }
        }
        *g = kept;
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<(String, Arc<SwitchMetrics>)>> {
        self.switches
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_quality_and_reason() {
        let m = SwitchMetrics::default();
        m.count_quality(Quality::Wrapped);
        m.count_quality(Quality::Wrapped);
        m.count_unknown(UnknownReason::PortMissing);
        assert_eq!(m.samples(Quality::Wrapped), 2);
        assert_eq!(m.samples(Quality::Ok), 0);
        assert_eq!(m.unknowns(UnknownReason::PortMissing), 1);
        m.record_lateness(5);
        m.record_lateness(3);
        assert_eq!(SwitchMetrics::get(&m.max_start_lateness_us), 5);
        assert_eq!(SwitchMetrics::get(&m.last_start_lateness_us), 3);
        m.record_duration(3_000);
        m.record_duration(700_000);
        m.record_duration(9_000_000);
        let b = m.duration_buckets();
        assert_eq!(b[0], (0.005, 1));
        assert_eq!(b.iter().find(|(le, _)| *le == 1.0).map(|x| x.1), Some(2));
        assert_eq!(
            b.last().map(|x| x.1),
            Some(2),
            "9 s is above the last bound: only +Inf"
        );
    }
}
