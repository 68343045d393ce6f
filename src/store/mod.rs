//! The store: everything bandwatch measures, in one SQLite file (`<data_dir>/bandwatch.db`).
//! It never mistakes a gap for zero, never loses a committed sweep to a crash, and stays
//! small.
//!
//! # Shape
//! - [`Store::open`] creates or migrates the file (versioned migrations through
//!   `PRAGMA user_version`) and refuses, without touching it, a file written by a newer
//!   bandwatch.
//! - [`Writer`]: one dedicated thread fed by a bounded channel ([`Writer::submit`] never waits
//!   on the disk; a full channel spills into a counted, logged overflow queue). Each batch of
//!   sweeps (one sweep, or up to 512 queued ones under load) is one transaction, written in
//!   (series, time) order with multi-row statements so neighbouring rows share B-tree pages.
//!   WAL, `synchronous=NORMAL`, cached prepared statements, checkpoints every 16k pages. A
//!   failed write is logged with the file, counted in [`WriterMetrics`] and retried with
//!   backoff on a fresh connection (in-memory state is rebuilt from the file); the writer
//!   never exits on its own. Only at shutdown does it give up on what it cannot write, and it
//!   logs and counts that. [`Writer::update_topology`] applies a reloaded topology in order
//!   with the sweeps; [`Writer::flush`] waits until everything submitted is committed.
//! - [`Reader`]: its own read-only connection; ranges, latest point, seasonal windows.
//! - [`SweepSink`] and [`SeriesSource`] are the narrow interfaces the other stages use, so a
//!   second backend can be added without touching rules or notify.
//!
//! # Tables (see `schema.rs`)
//! - `series`: one row per entity (port `SWITCH/PORT`, product line, site, switch, customer)
//!   with its labels, the port's coverage weight and the capacity (speed or summed speeds).
//! - `port_sample` (`WITHOUT ROWID`, key `(series_id, ts)`): one row per port per sweep: the
//!   response time in unix seconds, measured `dt_ms`, octets and packets in and out,
//!   ifOperStatus and a quality [`flag`]. A gap is a row whose `dt_ms` and octets are NULL and
//!   whose flag says why (timeout, reset, first, ...); it is never a row of zeros.
//! - `port_speed`: a port's speed, written only when it changes (keeps samples small).
//! - `agg_slot`: product lines, sites, switches and customers in fixed 60 s slots aligned to
//!   the epoch.
//! - `rollup_5m`, `rollup_1h`, `rollup_1d`: per series and bucket: octets in and out,
//!   uncovered milliseconds, and the peak in/out rate in kbit/s. Packets are kept at raw
//!   resolution only (samples and slots), which keeps a rollup row near 33 bytes; packet
//!   rates older than the raw retention are refused with a reason, never shown as 0.
//! - `alert_state`, `alert_history`, `silence`, `outbox`, `usage_record`: reserved for the
//!   rules, notify and import stages.
//!
//! Integers, not floats, for octets. Bucket columns hold `unix seconds / bucket length`, and
//! coverage is stored as *missing* milliseconds, so the common row (fully covered, port up,
//! quality ok) stores those columns in zero bytes.
//!
//! # Aggregates and coverage
//! Sweeps arrive per switch at different phases, but product lines, sites and customers span
//! switches. Each port sample covers `[time - dt, time]`; its octets are split by time over
//! the 60 s slots and 5-minute buckets it overlaps (cumulative rounding, so the parts add up
//! exactly). Every aggregate the port belongs to (its switch, its site, the product lines and
//! customers that list it or that its labels name) receives those octets plus covered time
//! weighted by `w_port / sum(w_members)`, where a port's weight is 1 + its usual octets per
//! second (an exponential average updated at each sealed 5-minute bucket). So coverage =
//! known weighted port-seconds / (slot length x total weight): a sweep where half the ports,
//! carrying 10 % of the usual traffic, did not answer gives coverage 0.9, and readers scale
//! or reject accordingly. Aggregates are written in the same transaction as the sweep.
//! Ports a sweep carries that the topology does not list are stored as port series but join
//! no aggregate.
//!
//! # Rollups
//! The 5-minute rollup is written with every sweep (UPSERT adding into the bucket) and is
//! exact: it is the basis of 95th-percentile billing. When a 5-minute bucket can no longer
//! receive samples (its end is more than the grace period before the newest sweep; grace =
//! longest poll interval + 60 s, at least 120 s), it is *sealed*: its sums are added into the
//! 1-hour and 1-day buckets (incrementally, never recomputed), in the same transaction that
//! moves the seal mark, so a crash neither loses nor doubles it. A sample arriving later for a
//! sealed bucket is added to all three tiers directly and counted as late. Peaks: a port's
//! peak is its highest sample rate; an aggregate's is its highest 60 s slot rate (estimated
//! over the slot's covered time), folded in when the slot is sealed.
//!
//! # Retention
//! Per tier from `[retention]` (raw samples and 60 s slots, 5m, 1h, 1d; `None` keeps forever),
//! measured back from the newest sweep written. The writer deletes expired rows between
//! batches, a few hundred series per short transaction, round robin, so it is never blocked
//! for long.
//!
//! # Reading
//! See [`reader`]: the tier is the coarsest whose buckets divide the step and whose retention
//! still holds `from`; points carry coverage; gaps are `None`.

pub mod alerts;
mod buckets;
pub mod entity;
pub mod error;
pub mod flag;
mod hash;
mod ingest;
pub mod metrics;
pub mod reader;
mod retention;
mod schema;
mod split;
pub mod usage;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use entity::{Entity, EntityKind, Metric, Tier};
pub use error::StoreError;
pub use metrics::WriterMetrics;
pub use reader::{Point, RangeQuery, Reader, SeriesData, StoredSample};
pub use schema::SCHEMA_VERSION;
pub use usage::{Bucket5m, UsageBook, UsageOverlap, UsageRecord, UsageWrite};
pub use writer::{Writer, WriterOptions};

use crate::config::{Retention, Topology};
use crate::poll::Sweep;

/// Length of an aggregate slot in seconds.
pub const SLOT_SECS: i64 = 60;

/// The database file's name inside `data_dir`.
pub const DB_FILE: &str = "bandwatch.db";

/// The database file of a data directory.
pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DB_FILE)
}

/// An opened, migrated database file; hands out the writer and readers.
#[derive(Clone, Debug)]
pub struct Store {
    path: PathBuf,
    retention: Retention,
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `path`. A database written by
    /// a newer bandwatch is refused and left untouched.
    pub fn open(path: &Path, retention: &Retention) -> Result<Store, StoreError> {
        drop(schema::open_for_write(path)?);
        Ok(Store {
            path: path.to_path_buf(),
            retention: *retention,
        })
    }

    /// Opens `<data_dir>/bandwatch.db` (creating the folder if needed): what `bandwatch run`
    /// does with `[daemon] data_dir` and `[retention]`.
    pub fn open_in(data_dir: &Path, retention: &Retention) -> Result<Store, StoreError> {
        Store::open(&db_path(data_dir), retention)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts the writer thread with default options.
    pub fn writer(&self, topology: Arc<Topology>) -> Result<Writer, StoreError> {
        self.writer_with(topology, WriterOptions::default())
    }

    /// Starts the writer thread.
    pub fn writer_with(
        &self,
        topology: Arc<Topology>,
        opts: WriterOptions,
    ) -> Result<Writer, StoreError> {
        Writer::spawn(self.path.clone(), self.retention, topology, opts)
    }

    /// A new reader with its own connection.
    pub fn reader(&self) -> Result<Reader, StoreError> {
        Reader::open(&self.path, &self.retention)
    }
}

/// Where the poller hands its sweeps: the store's write side, as the other stages see it.
pub trait SweepSink: Send + Sync {
    /// Queues a sweep for storage without waiting on the disk.
    fn submit(&self, sweep: Sweep) -> Result<(), StoreError>;
    /// Applies a reloaded topology (in order with the sweeps).
    fn update_topology(&self, topology: Arc<Topology>) -> Result<(), StoreError>;
}

impl SweepSink for Writer {
    fn submit(&self, sweep: Sweep) -> Result<(), StoreError> {
        Writer::submit(self, sweep)
    }
    fn update_topology(&self, topology: Arc<Topology>) -> Result<(), StoreError> {
        Writer::update_topology(self, topology)
    }
}

/// The store's read side, as rules, HTTP and reports see it.
pub trait SeriesSource {
    /// A range of one series at a step.
    fn range(&self, q: &RangeQuery) -> Result<SeriesData, StoreError>;
    /// The newest point with at least `min_coverage`.
    fn latest(
        &self,
        entity: &Entity,
        metric: Metric,
        min_coverage: f64,
    ) -> Result<Option<Point>, StoreError>;
    /// The same window on each of the past `days` days.
    fn seasonal(&self, q: &RangeQuery, days: u32) -> Result<Vec<SeriesData>, StoreError>;
    /// The query for every stored entity of a kind.
    fn by_kind(&self, kind: EntityKind, q: &RangeQuery) -> Result<Vec<SeriesData>, StoreError>;
    /// Every stored entity of a kind.
    fn entities(&self, kind: EntityKind) -> Result<Vec<Entity>, StoreError>;
    /// The stored ports with a label value (site, switch, product_line, customer, role).
    fn ports_where(&self, label: &str, value: &str) -> Result<Vec<Entity>, StoreError>;
}

impl SeriesSource for Reader {
    fn range(&self, q: &RangeQuery) -> Result<SeriesData, StoreError> {
        Reader::range(self, q)
    }
    fn latest(
        &self,
        entity: &Entity,
        metric: Metric,
        min_coverage: f64,
    ) -> Result<Option<Point>, StoreError> {
        Reader::latest(self, entity, metric, min_coverage)
    }
    fn seasonal(&self, q: &RangeQuery, days: u32) -> Result<Vec<SeriesData>, StoreError> {
        Reader::seasonal(self, q, days)
    }
    fn by_kind(&self, kind: EntityKind, q: &RangeQuery) -> Result<Vec<SeriesData>, StoreError> {
        Reader::by_kind(self, kind, q)
    }
    fn entities(&self, kind: EntityKind) -> Result<Vec<Entity>, StoreError> {
        Reader::entities(self, kind)
    }
    fn ports_where(&self, label: &str, value: &str) -> Result<Vec<Entity>, StoreError> {
        Reader::ports_where(self, label, value)
    }
}
