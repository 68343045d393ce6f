//! Self-metrics of the other stages, written into `/metrics`: the poller's per-switch
//! counters, the store writer's health, and the notify stage's deliveries. Each adapter reads
//! the stage's atomics at scrape time; no stage knows about Prometheus.

use std::sync::Arc;

use super::exposition::{Exposition, MetricType};
use super::metrics::MetricsSource;
use crate::notify::NotifyMetrics;
use crate::poll::{PollMetrics, SwitchMetrics};
use crate::rules::view::AlertsView;
use crate::store::WriterMetrics;

/// The poller's per-switch metrics.
pub struct PollSource(pub Arc<PollMetrics>);

impl MetricsSource for PollSource {
    fn write(&self, e: &mut Exposition) {
        let get = SwitchMetrics::get;
        e.family(
            "bandwatch_poll_duration_seconds",
            MetricType::Histogram,
            "Duration of one sweep of one switch (all its requests).",
        );
        for (name, m) in &self.0.switches {
            let buckets = m.duration_buckets();
            let sum = get(&m.total_duration_us) as f64 / 1e6;
            e.histogram(
                "bandwatch_poll_duration_seconds",
                &[("switch", name)],
                &buckets,
                sum,
                get(&m.sweeps),
            );
        }
        e.family(
            "bandwatch_snmp_requests_total",
            MetricType::Counter,
            "SNMP requests by result.",
        );
        for (name, m) in &self.0.switches {
            let (req, to, err) = (get(&m.requests), get(&m.timeouts), get(&m.errors));
            let ok = req.saturating_sub(to).saturating_sub(err);
            for (result, v) in [("ok", ok), ("timeout", to), ("error", err)] {
                e.sample(
                    "bandwatch_snmp_requests_total",
                    &[("switch", name), ("result", result)],
                    v as f64,
                );
            }
        }
        e.family(
            "bandwatch_poll_start_lateness_seconds",
            MetricType::Gauge,
            "How late the switch's last sweep started after its scheduled instant.",
        );
        for (name, m) in &self.0.switches {
            let v = get(&m.last_start_lateness_us) as f64 / 1e6;
            e.sample(
                "bandwatch_poll_start_lateness_seconds",
                &[("switch", name)],
                v,
            );
        }
        e.family(
            "bandwatch_poll_discoveries_total",
            MetricType::Counter,
            "Walks of ifName/ifDescr/ifAlias (start, resets, missing ports, rediscover).",
        );
        for (name, m) in &self.0.switches {
            e.sample(
                "bandwatch_poll_discoveries_total",
                &[("switch", name)],
                get(&m.discoveries) as f64,
            );
        }
    }
}

/// The store writer's health.
pub struct StoreSource(pub Arc<WriterMetrics>);

impl MetricsSource for StoreSource {
    fn write(&self, e: &mut Exposition) {
        let m = &self.0;
        e.family(
            "bandwatch_store_write_seconds",
            MetricType::Histogram,
            "Time spent in store write transactions.",
        );
        e.histogram(
            "bandwatch_store_write_seconds",
            &[],
            &[],
            m.write_seconds_total(),
            m.transactions_total.get(),
        );
        e.family(
            "bandwatch_store_queue_depth",
            MetricType::Gauge,
            "Sweeps waiting to be written.",
        );
        e.sample(
            "bandwatch_store_queue_depth",
            &[],
            m.queue_depth.get() as f64,
        );
        let counters = [
            (
                "bandwatch_store_queue_full_total",
                "Times a sweep found the writer's channel full (it waited, nothing dropped).",
                m.queue_full_total.get(),
            ),
            (
                "bandwatch_store_sweeps_written_total",
                "Sweeps written.",
                m.sweeps_written_total.get(),
            ),
            (
                "bandwatch_store_write_errors_total",
                "Failed write attempts (each is retried).",
                m.write_errors_total.get(),
            ),
            (
                "bandwatch_store_late_samples_total",
                "Samples that arrived after their 5-minute bucket was sealed.",
                m.late_samples_total.get(),
            ),
        ];
        for (name, help, v) in counters {
            e.family(name, MetricType::Counter, help);
            e.sample(name, &[], v as f64);
        }
        e.family(
            "bandwatch_store_failing",
            MetricType::Gauge,
            "1 while the store cannot write (it keeps retrying).",
        );
        e.sample("bandwatch_store_failing", &[], m.failing.get() as f64);
    }
}

/// The notify stage's deliveries and outbox.
pub struct NotifySource(pub Arc<NotifyMetrics>);

impl MetricsSource for NotifySource {
    fn write(&self, e: &mut Exposition) {
        e.family(
            "bandwatch_notifications_total",
            MetricType::Counter,
            "Email messages by route and result.",
        );
        for (route, result, n) in self.0.snapshot() {
            e.sample(
                "bandwatch_notifications_total",
                &[("route", &route), ("result", result)],
                n as f64,
            );
        }
        e.family(
            "bandwatch_outbox_pending",
            MetricType::Gauge,
            "Messages waiting in the outbox.",
        );
        e.sample("bandwatch_outbox_pending", &[], self.0.pending() as f64);
    }
}

/// Pending and firing alerts, like Prometheus's own `ALERTS`.
pub struct AlertSource(pub AlertsView);

impl MetricsSource for AlertSource {
    fn write(&self, e: &mut Exposition) {
        e.family(
            "bandwatch_alerts",
            MetricType::Gauge,
            "1 for every pending or firing alert.",
        );
        for a in self.0.active() {
            let labels = [
                ("rule", a.rule.as_str()),
                ("severity", &a.severity),
                ("scope", &a.scope),
                ("entity", &a.entity),
                ("state", &a.state),
            ];
            e.sample("bandwatch_alerts", &labels, 1.0);
        }
    }
}
