//! `bandwatch_remote_write_*`: per receiver (label `remote`, the queue's name) the samples
//! sent, refused by the receiver (4xx), dropped by the queue's bound, the requests tried
//! again, and what is queued. Counters live here, outside the workers, so a reload that
//! restarts a receiver's worker keeps them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::http::MetricsSource;
use crate::http::exposition::{Exposition, MetricType};

/// One receiver's counters.
#[derive(Debug, Default)]
pub struct TargetMetrics {
    /// Samples the receiver accepted.
    pub sent: AtomicU64,
    /// Samples the receiver refused for good (4xx but 429).
    pub refused: AtomicU64,
    /// Samples dropped by the queue's bound (or lost to an unreadable segment).
    pub dropped: AtomicU64,
    /// Requests tried again (5xx, 429, no connection, timeout).
    pub retries: AtomicU64,
    /// Samples queued now.
    pub queued: AtomicU64,
    /// The queue's bound.
    pub max_samples: AtomicU64,
    /// Unix seconds of the last accepted request (0 before).
    pub last_success: AtomicU64,
}

impl TargetMetrics {
    /// Adds to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Every receiver's counters, by name; also the [`MetricsSource`] of `/metrics`.
#[derive(Debug, Default)]
pub struct RemoteWriteMetrics {
    targets: Mutex<BTreeMap<String, Arc<TargetMetrics>>>,
}

impl RemoteWriteMetrics {
    /// The counters of receiver `name` (created at first use, kept across reloads).
    pub fn target(&self, name: &str) -> Arc<TargetMetrics> {
        self.targets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(name.to_string())
            .or_default()
            .clone()
    }

    /// Forgets the receivers not in `keep` (removed by a reload).
    pub fn retain(&self, keep: &[&str]) {
        self.targets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|k, _| keep.contains(&k.as_str()));
    }

    fn snapshot(&self) -> Vec<(String, Arc<TargetMetrics>)> {
        self.targets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

/// A family: its name, type, help, and how to read it from a receiver's counters.
type Family = (
    &'static str,
    MetricType,
    &'static str,
    fn(&TargetMetrics) -> u64,
);

impl MetricsSource for RemoteWriteMetrics {
    fn write(&self, e: &mut Exposition) {
        let targets = self.snapshot();
        let families: [Family; 7] = [
            (
                "bandwatch_remote_write_samples_sent_total",
                MetricType::Counter,
                "Samples the remote write receiver accepted.",
                |t| t.sent.load(Ordering::Relaxed),
            ),
            (
                "bandwatch_remote_write_samples_failed_total",
                MetricType::Counter,
                "Samples the remote write receiver refused for good (an HTTP 4xx other than 429); not sent again.",
                |t| t.refused.load(Ordering::Relaxed),
            ),
            (
                "bandwatch_remote_write_samples_dropped_total",
                MetricType::Counter,
                "Samples dropped from the remote write queue, oldest first, to stay within queue.max_samples while the receiver was away.",
                |t| t.dropped.load(Ordering::Relaxed),
            ),
            (
                "bandwatch_remote_write_retries_total",
                MetricType::Counter,
                "Remote write requests tried again after an HTTP 5xx or 429, no connection or a timeout.",
                |t| t.retries.load(Ordering::Relaxed),
            ),
            (
                "bandwatch_remote_write_queue_samples",
                MetricType::Gauge,
                "Samples waiting in the remote write queue (on disk).",
                |t| t.queued.load(Ordering::Relaxed),
            ),
            (
                "bandwatch_remote_write_queue_max_samples",
                MetricType::Gauge,
                "The remote write queue's bound in samples (queue.max_samples).",
                |t| t.max_samples.load(Ordering::Relaxed),
            ),
            (
                "bandwatch_remote_write_last_success_timestamp_seconds",
                MetricType::Gauge,
                "Time of the last request the remote write receiver accepted, in seconds since the Unix epoch (0 before the first).",
                |t| t.last_success.load(Ordering::Relaxed),
            ),
        ];
        if targets.is_empty() {
            return;
        }
        for (name, kind, help, get) in families {
            e.family(name, kind, help);
            for (remote, t) in &targets {
                e.sample(name, &[("remote", remote)], get(t) as f64);
            }
        }
    }
}
