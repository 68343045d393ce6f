//! The store: everything bandwatch measures, in one SQLite file (`<data_dir>/bandwatch.db`).
//! It never mistakes a gap for zero, never loses a committed sweep to a crash, and stays
//! small.
//!
//! # Shape
//! - [`Store::open`] creates or migrates the file (versioned migrations through
//!   `PRAGMA user_version`) and refuses, without touching it, a file written by a newer
//!   bandwatch; [`Store::open_existing`] opens it read-only. A process opens its store once
//!   and hands out what each stage needs; no module outside `store/` opens the file or
//!   writes SQL.
//! - The stages see the store through the traits of [`traits`], which name operations, not
//!   SQL: [`SweepSink`] (the writer), [`SeriesSource`] (behind the [`Reader`] handle),
//!   [`UsageStore`] (behind [`UsageBook`]), [`AlertStore`], [`SilenceStore`] and
//!   [`OutboxStore`], [`LeaseStore`], and [`FlowSink`] (customer and product line traffic measured by flows, through the
//!   writer). SQLite is the embedded implementation; a second backend (a shared
//!   PostgreSQL) implements the same traits.
//! - Connections: the writer thread's own, one read-write connection for the small writes of
//!   the other stages, and a pool of at most four read-only ones (`db.rs`).
//! - [`Writer`]: one dedicated thread fed by a bounded channel ([`Writer::submit`] never waits
//!   on the disk; a full channel spills into a counted, logged overflow queue). Each batch of
//!   sweeps (one sweep, or up to 512 queued ones under load) is one transaction, written in
//!   (series, time) order with multi-row statements so neighbouring rows share B-tree pages.
//!   WAL, `synchronous=NORMAL`, cached prepared statements, checkpoints every 16k pages. A
//!   failed write is logged with the file, counted in [`WriterMetrics`] and retried with
//!   backoff on a fresh connection (in-memory state is rebuilt from the file); the writer
//!   never exits on its own. Only at shutdown does it give up on what it cannot write, and it
//!   logs and counts that. [`Writer::update_topology`] applies a reloaded topology in order
//!   with the sweeps; [`Writer::flush`] waits until everything submitted is committed;
//!   [`Writer::sealed`] says up to when the aggregate slots are complete ([`sealed`]).
//!
//! # Tables (see `schema.rs`)
//! - `series`: one row per entity (port `SWITCH/PORT`, product line, site, switch, customer)
//!   with its labels, the port's coverage weight and the capacity (speed or summed speeds).
//! - `port_sample` (a view over `port_sample_by_series`, `WITHOUT ROWID`, key
//!   `(series_id, ts)`, and `port_sample_recent`, key `(ts / 5, series_id, ts)`, where a
//!   sweep's rows wait side by side until they move, every five minutes of sweep time, see
//!   `schema::MIGRATION_8`): one row per port per sweep: the
//!   response time in unix seconds, measured `dt_ms`, octets and packets in and out,
//!   ifOperStatus and a quality [`flag`]. A gap is a row whose `dt_ms` and octets are NULL and
//!   whose flag says why (timeout, reset, first, ...); it is never a row of zeros.
//! - `port_speed`: a port's speed, written only when it changes (keeps samples small).
//! - `agg_slot`: product lines, sites, switches and customers in fixed 60 s slots aligned to
//!   the epoch.
//! - `rollup_5m` (a view over `rollup_5m_by_series` and `rollup_5m_recent`, which holds the
//!   open buckets keyed by bucket first until they are sealed), `rollup_1h`, `rollup_1d`:
//!   per series and bucket: octets in and out,
//!   uncovered milliseconds, and the peak in/out rate in kbit/s. Packets are kept at raw
//!   resolution only (samples and slots), which keeps a rollup row near 33 bytes; packet
//!   rates older than the raw retention are refused with a reason, never shown as 0.
//! - `alert_state`, `alert_history`, `silence`: the rules stage's ([`AlertStore`],
//!   [`SilenceStore`]); `notify_queue`, `notify_outbox`, `notify_delivered`: the outbox
//!   ([`OutboxStore`], migration 3); `usage_record`: imported usage ([`UsageStore`]).
//! - `lease`: one row per lease (holder, fencing token, expiry) for work done by one daemon
//!   at a time ([`LeaseStore`], migration 5, see [`lease`]).
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
//! The 5-minute rollup is written with every sweep for aggregates and at least once a minute
//! of sweep time for ports (UPSERT adding into the open bucket in `rollup_5m_recent`; a
//! port's sums wait in the writer's memory in between and are counted again from the raw
//! samples when the writer opens, see `ingest::open`; moved into `rollup_5m_by_series` when
//! sealed) and is exact: it is the basis of 95th-percentile billing. When a 5-minute bucket can no longer
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
mod checkpoint;
mod db;
pub mod entity;
pub mod error;
pub mod flag;
pub mod flows;
mod handles;

mod ingest;
pub mod lease;
pub mod metrics;
pub mod once;
pub mod outbox;
pub mod postgres;
pub mod reader;
mod recent;
mod retention;
mod schema;
pub mod sealed;
mod split;
pub mod traits;
pub mod usage;
pub mod usage_import;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use entity::{Entity, EntityKind, Metric, Tier};
pub use error::StoreError;
pub use flows::FlowSlot;
pub use handles::{Reader, UsageBook};
pub use lease::Lease;
pub use metrics::WriterMetrics;
pub use outbox::OUTBOX_SCHEMA;
pub use reader::{Point, RangeQuery, SeriesData, StoredSample};
pub use schema::{SCHEMA_VERSION, configure_sqlite};
pub use traits::{
    AlertStore, FlowSink, LeaseStore, OutboxStore, SeriesSource, SilenceStore, StoreWriter,
    SweepSink, UsageStore,
};
pub use usage::{Bucket5m, UsageOverlap, UsageRecord, UsageWrite};
pub use usage_import::{UsageConflict, UsageConflicts, UsageImport};
pub use writer::{Writer, WriterOptions};

use crate::config::{Config, Retention, StoreBackend, Topology};

/// Length of an aggregate slot in seconds.
pub const SLOT_SECS: i64 = 60;

/// The database file's name inside `data_dir`.
pub const DB_FILE: &str = "bandwatch.db";

/// The database file of a data directory.
pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DB_FILE)
}

/// The store, opened once per process: it owns the connections (SQLite, see `db.rs`: one
/// read-write connection for small writes, a pool of at most four read-only ones, and the
/// writer thread's own; or a shared PostgreSQL, see [`postgres`]) and hands out what each
/// stage needs, as handles on the traits in [`traits`]. Cloning it shares the connections.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    retention: Retention,
}

#[derive(Clone)]
enum Backend {
    Sqlite(Arc<db::Db>),
    /// With where it is connected, as a "path" for messages (never the password).
    Postgres(postgres::PgStore, Arc<PathBuf>),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.backend {
            Backend::Sqlite(db) => f
                .debug_struct("Store")
                .field("path", &db.path())
                .field("writable", &db.writable())
                .finish(),
            Backend::Postgres(pg, _) => f.debug_struct("Store").field("postgres", pg).finish(),
        }
    }
}

/// How the daemon's sweep writer runs ([`Store::sink_with`]).
#[derive(Clone, Debug, Default)]
pub struct SinkOptions {
    /// Other daemons write the same store (`[daemon] shard`; SQLite then claims poll slots,
    /// see [`WriterOptions::shared`]; PostgreSQL's writes are always idempotent per slot).
    pub shared: bool,
    /// The singleton lease of a daemon sharing the store: retention runs only while it is
    /// held. `None` runs retention always.
    pub lease: Option<tokio::sync::watch::Receiver<Option<Lease>>>,
    /// PostgreSQL: samples held in memory while the database cannot be written
    /// (`[store] max_queued_samples`); `None` keeps [`postgres::PgWriterOptions`]' default.
    pub max_queued_samples: Option<usize>,
}

impl Store {
    /// Opens (creating if needed) and migrates the database at `path`, for reading and
    /// writing. A database written by a newer bandwatch is refused and left untouched.
    pub fn open(path: &Path, retention: &Retention) -> Result<Store, StoreError> {
        Ok(Store {
            backend: Backend::Sqlite(Arc::new(db::Db::open_write(path)?)),
            retention: *retention,
        })
    }

    /// Opens `<data_dir>/bandwatch.db` (creating the folder if needed): what `bandwatch run`
    /// does with `[daemon] data_dir` and `[retention]`.
    pub fn open_in(data_dir: &Path, retention: &Retention) -> Result<Store, StoreError> {
        Store::open(&db_path(data_dir), retention)
    }

    /// Opens an existing database for reading only: never creates or migrates it (reports,
    /// queries and backtests). Writing through it fails with [`StoreError::ReadOnly`].
    pub fn open_existing(path: &Path, retention: &Retention) -> Result<Store, StoreError> {
        Ok(Store {
            backend: Backend::Sqlite(Arc::new(db::Db::open_read(path)?)),
            retention: *retention,
        })
    }

    /// Opens `<data_dir>/bandwatch.db` read-only (see [`Store::open_existing`]).
    pub fn open_existing_in(data_dir: &Path, retention: &Retention) -> Result<Store, StoreError> {
        Store::open_existing(&db_path(data_dir), retention)
    }

    /// The store of a configuration, for reading and writing: `[store] backend` (SQLite in
    /// `data_dir`, or PostgreSQL at `url`), with `[retention]`.
    pub fn open_config(config: &Config) -> Result<Store, StoreError> {
        match &config.store.backend {
            StoreBackend::Sqlite => Store::open_in(&config.daemon.data_dir, &config.retention),
            StoreBackend::Postgres { url } => Ok(Store::postgres(postgres::PgStore::connect(
                url,
                &config.retention,
            )?)),
        }
    }

    /// The store of a configuration, for reading: SQLite's file opened read-only (never
    /// created); PostgreSQL connected as for writing (its schema kept up to date).
    pub fn open_existing_config(config: &Config) -> Result<Store, StoreError> {
        match &config.store.backend {
            StoreBackend::Sqlite => {
                Store::open_existing_in(&config.daemon.data_dir, &config.retention)
            }
            StoreBackend::Postgres { .. } => Store::open_config(config),
        }
    }

    /// A store on a connected PostgreSQL.
    pub fn postgres(pg: postgres::PgStore) -> Store {
        let name = Arc::new(PathBuf::from(pg.target().to_string()));
        let retention = pg.retention();
        Store {
            backend: Backend::Postgres(pg, name),
            retention,
        }
    }

    /// For a long-running daemon: SQLite's memory (page caches, sorts) held to a small soft
    /// limit for the whole process (see `schema::limit_daemon_heap`); nothing for
    /// PostgreSQL, whose memory is the server's.
    pub fn limit_memory(&self) {
        if let Backend::Sqlite(_) = self.backend {
            schema::limit_daemon_heap();
        }
    }

    /// SQLite's memory in this process (bytes now, and the high-water mark since the
    /// start), for `/metrics`; `None` on PostgreSQL, whose memory is the server's.
    pub fn sqlite_memory(&self) -> Option<(u64, u64)> {
        match self.backend {
            Backend::Sqlite(_) => Some(schema::sqlite_memory()),
            Backend::Postgres(..) => None,
        }
    }

    /// The database file (for PostgreSQL: `postgresql user@host:port/dbname`).
    pub fn path(&self) -> &Path {
        match &self.backend {
            Backend::Sqlite(db) => db.path(),
            Backend::Postgres(_, name) => name,
        }
    }

    /// The connections open now (the writer thread's not counted): for tests and logs.
    pub fn connections(&self) -> usize {
        match &self.backend {
            Backend::Sqlite(db) => db.connections(),
            Backend::Postgres(..) => 1,
        }
    }

    fn sqlite(&self) -> Result<&Arc<db::Db>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => Ok(db),
            Backend::Postgres(..) => Err(StoreError::InvalidQuery(format!(
                "{}: the SQLite writer is not available on PostgreSQL (use Store::sink)",
                self.path().display()
            ))),
        }
    }

    /// Starts the SQLite writer thread with default options.
    pub fn writer(&self, topology: Arc<Topology>) -> Result<Writer, StoreError> {
        self.writer_with(topology, WriterOptions::default())
    }

    /// Starts the SQLite writer thread (its own connection). Fails on a read-only store and
    /// on PostgreSQL (see [`Store::sink`]).
    pub fn writer_with(
        &self,
        topology: Arc<Topology>,
        opts: WriterOptions,
    ) -> Result<Writer, StoreError> {
        let db = self.sqlite()?;
        if !db.writable() {
            return Err(StoreError::ReadOnly {
                path: self.path().to_path_buf(),
            });
        }
        Writer::spawn(self.path().to_path_buf(), self.retention, topology, opts)
    }

    /// Starts the writer of either backend: what the daemon runs. `shared`: other daemons
    /// write the same store (`[daemon] shard`; SQLite then claims poll slots, see
    /// [`WriterOptions::shared`]; PostgreSQL's writes are always idempotent per slot).
    pub fn sink(
        &self,
        topology: Arc<Topology>,
        shared: bool,
    ) -> Result<Arc<dyn StoreWriter>, StoreError> {
        self.sink_with(
            topology,
            SinkOptions {
                shared,
                ..Default::default()
            },
        )
    }

    /// [`Store::sink`] as the daemon runs it (see [`SinkOptions`]): under the singleton lease,
    /// retention runs only while it is held, on either backend.
    pub fn sink_with(
        &self,
        topology: Arc<Topology>,
        opts: SinkOptions,
    ) -> Result<Arc<dyn StoreWriter>, StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(Arc::new(self.writer_with(
                topology,
                WriterOptions {
                    shared: opts.shared,
                    lease: opts.lease,
                    ..Default::default()
                },
            )?)),
            Backend::Postgres(pg, _) => {
                let mut o = postgres::PgWriterOptions {
                    lease: opts.lease,
                    ..Default::default()
                };
                if let Some(n) = opts.max_queued_samples {
                    o.max_queued_rows = n;
                }
                Ok(Arc::new(pg.writer_with(topology, o)?))
            }
        }
    }

    /// Reads series (through the store's read pool).
    pub fn reader(&self) -> Reader {
        match &self.backend {
            Backend::Sqlite(db) => Reader::new(Arc::new(reader::SqliteReader::new(
                db.clone(),
                self.retention,
            ))),
            Backend::Postgres(pg, _) => pg.reader(),
        }
    }

    /// Billing reads and usage records.
    pub fn usage(&self) -> UsageBook {
        match &self.backend {
            Backend::Sqlite(db) => UsageBook::new(Arc::new(usage::SqliteUsage::new(db.clone()))),
            Backend::Postgres(pg, _) => pg.usage(),
        }
    }

    /// Alert states and history.
    pub fn alerts(&self) -> Arc<dyn AlertStore> {
        match &self.backend {
            Backend::Sqlite(db) => Arc::new(alerts::SqliteAlerts::new(db.clone())),
            Backend::Postgres(pg, _) => pg.alerts(),
        }
    }

    /// Silences.
    pub fn silences(&self) -> Arc<dyn SilenceStore> {
        match &self.backend {
            Backend::Sqlite(db) => Arc::new(alerts::SqliteAlerts::new(db.clone())),
            Backend::Postgres(pg, _) => pg.silences(),
        }
    }

    /// The notification outbox.
    pub fn outbox(&self) -> Arc<dyn OutboxStore> {
        match &self.backend {
            Backend::Sqlite(db) => Arc::new(outbox::SqliteOutbox::new(db.clone())),
            Backend::Postgres(pg, _) => pg.outbox(),
        }
    }

    /// Leases for work that runs in one daemon at a time.
    pub fn leases(&self) -> Arc<dyn LeaseStore> {
        match &self.backend {
            Backend::Sqlite(db) => Arc::new(lease::SqliteLeases::new(db.clone())),
            Backend::Postgres(pg, _) => pg.leases(),
        }
    }
}
