//! The collector's counters, read by `/metrics` at scrape time.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::usage::FlowUsage;
use crate::http::MetricsSource;
use crate::http::exposition::{Exposition, MetricType};
use crate::http::metrics::AggregateReading;

/// Counters of the flow collector (monotonic).
#[derive(Debug, Default)]
pub struct FlowMetrics {
    /// Datagrams decoded.
    pub datagrams_ok: AtomicU64,
    /// Datagrams from an address that is no configured exporter (dropped, never decoded).
    pub datagrams_unknown_exporter: AtomicU64,
    /// Truncated or inconsistent datagrams (dropped).
    pub datagrams_malformed: AtomicU64,
    /// Datagrams of another format or version (sFlow, NetFlow v5, garbage).
    pub datagrams_unsupported: AtomicU64,
    /// Records attributed to a customer.
    pub records_attributed: AtomicU64,
    /// Records whose addresses are in no customer prefix.
    pub records_unattributed: AtomicU64,
    /// Records dropped for an absurd sampling rate.
    pub records_absurd_sampling: AtomicU64,
    /// Records without addresses or byte counts (options, odd templates).
    pub records_skipped: AtomicU64,
    /// Data sets skipped because their template is not known (yet).
    pub unknown_template_sets: AtomicU64,
    /// Customer slots handed to the store.
    pub slots_written: AtomicU64,
    /// Hand-overs to the store that failed.
    pub store_errors: AtomicU64,
    /// What flows measured per customer and product line known by prefixes.
    pub usage: FlowUsage,
}

impl FlowMetrics {
    /// Reads a counter.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Relaxed)
    }

    /// Adds to a counter.
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Relaxed);
    }
}

impl MetricsSource for FlowMetrics {
    fn aggregates(&self) -> Vec<AggregateReading> {
        self.usage.readings()
    }

    fn write(&self, e: &mut Exposition) {
        self.usage.write(e);
        let g = FlowMetrics::get;
        e.family(
            "bandwatch_flow_datagrams_total",
            MetricType::Counter,
            "Flow datagrams received, by result (only ok ones are decoded into records).",
        );
        for (result, c) in [
            ("ok", &self.datagrams_ok),
            ("unknown_exporter", &self.datagrams_unknown_exporter),
            ("malformed", &self.datagrams_malformed),
            ("unsupported", &self.datagrams_unsupported),
        ] {
            e.sample(
                "bandwatch_flow_datagrams_total",
                &[("result", result)],
                g(c) as f64,
            );
        }
        e.family(
            "bandwatch_flow_records_total",
            MetricType::Counter,
            "Flow records decoded, by what became of them.",
        );
        for (result, c) in [
            ("attributed", &self.records_attributed),
            ("unattributed", &self.records_unattributed),
            ("absurd_sampling", &self.records_absurd_sampling),
            ("skipped", &self.records_skipped),
        ] {
            e.sample(
                "bandwatch_flow_records_total",
                &[("result", result)],
                g(c) as f64,
            );
        }
        for (name, help, c) in [
            (
                "bandwatch_flow_unknown_template_sets_total",
                "Flow data sets skipped because their template was not (yet) received.",
                &self.unknown_template_sets,
            ),
            (
                "bandwatch_flow_slots_written_total",
                "Per-customer minutes measured by flows handed to the store.",
                &self.slots_written,
            ),
            (
                "bandwatch_flow_store_errors_total",
                "Hand-overs of flow minutes to the store that failed.",
                &self.store_errors,
            ),
        ] {
            e.family(name, MetricType::Counter, help);
            e.sample(name, &[], g(c) as f64);
        }
    }
}
