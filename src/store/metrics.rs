//! The writer's health, as atomics that the HTTP stage reads without locking: queue depth,
//! a full queue, write time, errors, and what the last error said.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    /// Subtracts `n`, stopping at zero.
    pub fn sub(&self, n: u64) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(n))
            });
    }
    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// What the store writer exposes for `/metrics` and `/healthz`.
#[derive(Debug, Default)]
pub struct WriterMetrics {
    /// Sweeps submitted and not yet written (channel plus overflow).
    pub queue_depth: Gauge,
    /// Times a sweep found the channel full (it then waits in the overflow queue).
    pub queue_full_total: Counter,
    /// Sweeps written.
    pub sweeps_written_total: Counter,
    /// Port samples (readings and gaps) written.
    pub port_samples_written_total: Counter,
    /// Transactions committed (one per sweep, or per batch under load).
    pub transactions_total: Counter,
    /// Failed write attempts (each is retried).
    pub write_errors_total: Counter,
    /// Microseconds successful write transactions held the store's write lock (SQLite; on
    /// PostgreSQL, the whole write).
    pub write_micros_total: Counter,
    /// Microseconds SQLite writes waited for the write lock while another connection held it
    /// (an import's merge, a `sqlite3` shell): kept apart from the write time, so that a slow
    /// disk and a busy neighbour read differently on a dashboard.
    pub lock_wait_micros_total: Counter,
    /// Samples that arrived after their 5-minute bucket was sealed.
    pub late_samples_total: Counter,
    /// Samples ignored because one for the same port and second was already stored, or, in
    /// a store other daemons write (an HA pair), one for the same port and poll slot, or a
    /// flow minute for the same customer or product line and shard.
    pub duplicate_samples_total: Counter,
    /// Sweeps given up at shutdown because the database could not be written (logged).
    pub abandoned_sweeps_total: Counter,
    /// Rows deleted by retention.
    pub retention_rows_deleted_total: Counter,
    /// 1 while the writer cannot write (it keeps retrying), else 0.
    pub failing: Gauge,
    last_error: Mutex<Option<String>>,
}

impl WriterMetrics {
    /// Seconds spent in successful write transactions.
    pub fn write_seconds_total(&self) -> f64 {
        self.write_micros_total.get() as f64 / 1e6
    }
    /// Seconds writes waited for the write lock.
    pub fn lock_wait_seconds_total(&self) -> f64 {
        self.lock_wait_micros_total.get() as f64 / 1e6
    }
    /// Adds one SQLite write transaction's wait for the lock and the time it held it.
    pub(crate) fn tx_times(&self, t: super::ingest::TxTimes) {
        let micros = |d: std::time::Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.write_micros_total.add(micros(t.held));
        self.lock_wait_micros_total.add(micros(t.waited));
    }
    /// The last write error, as logged (names the file).
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|g| g.clone())
    }
    pub(crate) fn set_last_error(&self, e: Option<String>) {
        if let Ok(mut g) = self.last_error.lock() {
            *g = e;
        }
    }
}
