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

/// Reads one counter of a switch's metrics.
type SwitchCounter = fn(&SwitchMetrics) -> u64;

/// The poller's per-switch metrics.
pub struct PollSource(pub Arc<PollMetrics>);

impl MetricsSource for PollSource {
    fn write(&self, e: &mut Exposition) {
        let get = SwitchMetrics::get;
        let switches = self.0.switches();
        e.family(
            "bandwatch_poll_duration_seconds",
            MetricType::Histogram,
            "Duration of one sweep of one switch (all its requests).",
        );
        for (name, m) in &switches {
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
        for (name, m) in &switches {
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
        for (name, m) in &switches {
            let v = get(&m.last_start_lateness_us) as f64 / 1e6;
            e.sample(
                "bandwatch_poll_start_lateness_seconds",
                &[("switch", name)],
                v,
            );
        }
        e.family(
            "bandwatch_unknown_intervals_total",
            MetricType::Counter,
            "Port intervals stored as unknown (a gap, never zero), by reason.",
        );
        for (name, m) in &switches {
            for r in crate::poll::metrics::UNKNOWN_REASONS {
                e.sample(
                    "bandwatch_unknown_intervals_total",
                    &[("switch", name), ("reason", r.as_str())],
                    m.unknown_intervals(r) as f64,
                );
            }
        }
        let per_switch: [(&str, &str, SwitchCounter); 2] = [
            (
                "bandwatch_poll_discoveries_total",
                "Walks of ifName/ifDescr/ifAlias (start, resets, missing ports, rediscover).",
                |m| SwitchMetrics::get(&m.discoveries),
            ),
            (
                "bandwatch_poll_reboots_total",
                "Reboots the poller saw: sysUpTime fell between two sweeps (not its own wrap).",
                |m| SwitchMetrics::get(&m.reboots),
            ),
        ];
        for (family, help, value) in per_switch {
            e.family(family, MetricType::Counter, help);
            for (name, m) in &switches {
                e.sample(family, &[("switch", name)], value(m) as f64);
            }
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
            "Time store write transactions held the write lock (SQLite; the whole write on PostgreSQL).",
        );
        e.histogram(
            "bandwatch_store_write_seconds",
            &[],
            &[],
            m.write_seconds_total(),
            m.transactions_total.get(),
        );
        e.family(
            "bandwatch_store_write_lock_wait_seconds_total",
            MetricType::Counter,
            "Time store writes waited for the SQLite write lock another connection held (an import, a shell); 0 on PostgreSQL.",
        );
        e.sample(
            "bandwatch_store_write_lock_wait_seconds_total",
            &[],
            m.lock_wait_seconds_total(),
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
            (
                "bandwatch_store_duplicate_samples_total",
                "Samples not stored because the store had one for the same port and poll slot (the other daemon of an HA pair polled it) or second, or a flow minute of the same customer or product line from the other daemon of the pair.",
                m.duplicate_samples_total.get(),
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
        e.family(
            "bandwatch_outbox_failed",
            MetricType::Gauge,
            "Messages the mail server refused for good (a refused login, a rejected recipient), kept until a reload, a restart or `bandwatch outbox retry`: notification is failing while not 0.",
        );
        e.sample("bandwatch_outbox_failed", &[], self.0.failed() as f64);
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
        let commit = self.0.commit();
        e.family(
            "bandwatch_alert_commit_failures_total",
            MetricType::Counter,
            "Failed writes of alert changes (states, history and owed notices, one transaction each); retried in order.",
        );
        e.sample(
            "bandwatch_alert_commit_failures_total",
            &[],
            commit.failures as f64,
        );
        e.family(
            "bandwatch_alert_changes_unsaved",
            MetricType::Gauge,
            "Alert changes waiting to be written because the store refused them (a full disk): nothing of them is notified before it is stored.",
        );
        e.sample(
            "bandwatch_alert_changes_unsaved",
            &[],
            commit.unsaved as f64,
        );
    }
}

/// Month-to-date money, when prices are configured: each customer's revenue and each product
/// line's allocated transit cost so far this month. Computing it reads the month's 5-minute
/// buckets, so it is cached and refreshed in the background every [`CostSource::REFRESH`]
/// (the first scrape computes it).
pub struct CostSource {
    book: crate::store::UsageBook,
    runtime: crate::runtime::RuntimeHandle,
    now: fn() -> jiff::Timestamp,
    cache: Arc<std::sync::Mutex<CostCache>>,
}

#[derive(Default)]
struct CostCache {
    at: Option<std::time::Instant>,
    /// The configuration the figures were computed under (a reload computes them again).
    under: Option<Arc<crate::config::Config>>,
    refreshing: bool,
    accounts: Option<crate::cost::Accounts>,
}

impl CostSource {
    /// How long computed figures are served before they are computed again.
    pub const REFRESH: std::time::Duration = std::time::Duration::from_secs(300);

    /// The money of the store's usage `book` under the prices of the model in force.
    pub fn new(
        book: crate::store::UsageBook,
        runtime: crate::runtime::RuntimeHandle,
    ) -> CostSource {
        CostSource::with_clock(book, runtime, jiff::Timestamp::now)
    }

    /// [`CostSource::new`] with another clock (tests: a month that is already written).
    pub fn with_clock(
        book: crate::store::UsageBook,
        runtime: crate::runtime::RuntimeHandle,
        now: fn() -> jiff::Timestamp,
    ) -> CostSource {
        CostSource {
            book,
            runtime,
            now,
            cache: Arc::default(),
        }
    }

    fn compute(
        book: &crate::store::UsageBook,
        runtime: &crate::runtime::Runtime,
        now: jiff::Timestamp,
    ) -> Option<crate::cost::Accounts> {
        match crate::cost::month_to_date(book, &runtime.config, now, &runtime.rules) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("month-to-date money for /metrics: {e}");
                None
            }
        }
    }
}

impl MetricsSource for CostSource {
    fn write(&self, e: &mut Exposition) {
        let runtime = self.runtime.get();
        let config = runtime.config.clone();
        if config.topology.pricing.is_empty() {
            return;
        }
        let accounts = {
            let mut g = self
                .cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let reloaded = g.under.as_ref().is_some_and(|u| !Arc::ptr_eq(u, &config));
            match g.at {
                // The first scrape, or new prices after a reload: computed at once, not
                // after the next refresh.
                _ if g.at.is_none() || reloaded => {
                    g.accounts = Self::compute(&self.book, &runtime, (self.now)());
                    g.at = Some(std::time::Instant::now());
                    g.under = Some(config.clone());
                }
                Some(at) if at.elapsed() >= Self::REFRESH && !g.refreshing => {
                    g.refreshing = true;
                    let (book, runtime, now, cache) = (
                        self.book.clone(),
                        runtime.clone(),
                        self.now,
                        self.cache.clone(),
                    );
                    let spawned = std::thread::Builder::new()
                        .name("bandwatch-cost".into())
                        .spawn(move || {
                            let a = Self::compute(&book, &runtime, now());
                            let mut g = cache
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner);
                            g.accounts = a;
                            g.at = Some(std::time::Instant::now());
                            g.under = Some(runtime.config.clone());
                            g.refreshing = false;
                        });
                    if let Err(err) = spawned {
                        tracing::warn!("cannot refresh the money metrics: {err}");
                        g.refreshing = false;
                    }
                }
                _ => {}
            }
            g.accounts.clone()
        };
        e.family(
            "bandwatch_customer_revenue_month",
            MetricType::Gauge,
            "Revenue of the customer this month so far, from its price plan and measured usage.",
        );
        for c in accounts.iter().flat_map(|a| a.customers.iter()) {
            if let Some(v) = c.revenue {
                e.sample(
                    "bandwatch_customer_revenue_month",
                    &[("customer", &c.id), ("currency", &c.currency)],
                    v,
                );
            }
        }
        e.family(
            "bandwatch_product_line_cost_month",
            MetricType::Gauge,
            "Transit cost allocated to the product line this month so far.",
        );
        for (pl, s) in accounts
            .iter()
            .flat_map(|a| a.product_line_cost_to_date.iter())
        {
            e.sample(
                "bandwatch_product_line_cost_month",
                &[("product_line", pl), ("currency", &s.currency)],
                s.cost,
            );
        }
    }
}

/// The outcome of the last configuration reload (Prometheus's metric names).
pub struct ReloadSource(pub Arc<crate::runtime::ReloadStatus>);

impl MetricsSource for ReloadSource {
    fn write(&self, e: &mut Exposition) {
        e.family(
            "bandwatch_config_last_reload_successful",
            MetricType::Gauge,
            "Whether the last configuration reload attempt was successful.",
        );
        let ok = if self.0.last_ok() { 1.0 } else { 0.0 };
        e.sample("bandwatch_config_last_reload_successful", &[], ok);
        e.family(
            "bandwatch_config_last_reload_success_timestamp_seconds",
            MetricType::Gauge,
            "Timestamp of the last successful configuration reload (or of the start).",
        );
        e.sample(
            "bandwatch_config_last_reload_success_timestamp_seconds",
            &[],
            self.0.last_success() as f64,
        );
        e.family(
            "bandwatch_config_reloads_total",
            MetricType::Counter,
            "Configuration reloads by result (SIGHUP, POST /-/reload).",
        );
        let (ok, failed) = self.0.counts();
        for (result, v) in [("success", ok), ("failure", failed)] {
            e.sample(
                "bandwatch_config_reloads_total",
                &[("result", result)],
                v as f64,
            );
        }
    }
}

/// The process's own cost as the system counts it (CPU, memory, file descriptors), under the
/// standard `process_*` names every Prometheus client library uses, and SQLite's share of the
/// memory: read at scrape time.
pub struct ProcessSource {
    /// SQLite's memory (now, high-water mark), bytes; `None` where the store is PostgreSQL.
    pub sqlite_memory: Box<dyn Fn() -> Option<(u64, u64)> + Send + Sync>,
}

impl MetricsSource for ProcessSource {
    fn write(&self, e: &mut Exposition) {
        let p = crate::process::sample();
        let gauges: [(&str, MetricType, &str, Option<f64>); 7] = [
            (
                "process_cpu_seconds_total",
                MetricType::Counter,
                "Total user and system CPU time spent in seconds.",
                p.cpu_seconds,
            ),
            (
                "process_resident_memory_bytes",
                MetricType::Gauge,
                "Resident memory size in bytes.",
                p.resident_bytes.map(|v| v as f64),
            ),
            (
                "process_virtual_memory_bytes",
                MetricType::Gauge,
                "Virtual memory size in bytes.",
                p.virtual_bytes.map(|v| v as f64),
            ),
            (
                "process_start_time_seconds",
                MetricType::Gauge,
                "Start time of the process since unix epoch in seconds.",
                p.start_time_seconds,
            ),
            (
                "process_open_fds",
                MetricType::Gauge,
                "Number of open file descriptors.",
                p.open_fds.map(|v| v as f64),
            ),
            (
                "process_max_fds",
                MetricType::Gauge,
                "Maximum number of open file descriptors.",
                p.max_fds.map(|v| v as f64),
            ),
            (
                "process_threads",
                MetricType::Gauge,
                "Number of OS threads in the process.",
                p.threads.map(|v| v as f64),
            ),
        ];
        for (name, kind, help, v) in gauges {
            if let Some(v) = v {
                e.family(name, kind, help);
                e.sample(name, &[], v);
            }
        }
        if let (Some(anon), Some(file)) = (p.resident_anon_bytes, p.resident_file_bytes) {
            e.family(
                "bandwatch_resident_memory_bytes",
                MetricType::Gauge,
                "Resident memory by kind: anonymous (heap, stacks: what bandwatch holds) and file (code mapped from the executable and libraries).",
            );
            for (kind, v) in [("anonymous", anon), ("file", file)] {
                e.sample(
                    "bandwatch_resident_memory_bytes",
                    &[("kind", kind)],
                    v as f64,
                );
            }
        }
        if let Some((used, high)) = (self.sqlite_memory)() {
            e.family(
                "bandwatch_store_sqlite_memory_bytes",
                MetricType::Gauge,
                "SQLite's memory in this process (page caches, statements, sorts), held near a 4 MiB soft limit in the daemon.",
            );
            e.sample("bandwatch_store_sqlite_memory_bytes", &[], used as f64);
            e.family(
                "bandwatch_store_sqlite_memory_highwater_bytes",
                MetricType::Gauge,
                "The most SQLite's memory in this process has been since the start.",
            );
            e.sample(
                "bandwatch_store_sqlite_memory_highwater_bytes",
                &[],
                high as f64,
            );
        }
    }
}
