//! The PostgreSQL backend: the same store traits as SQLite, on a database shared by several
//! daemons (`[store] backend = "postgres"`). Client: the synchronous `postgres` crate (the
//! blocking face of `tokio-postgres`, same maintainers), because every store trait is
//! blocking and the writer is a thread of its own; it runs its own small runtime per
//! connection and needs no pool crate for a handful of connections.
//!
//! # Shape
//! - [`PgStore::connect`] connects, applies the versioned migrations (`schema.rs`, under a
//!   transaction-scoped advisory lock so two daemons starting together migrate once) and hands
//!   out handles: [`PgStore::writer`] (a [`SweepSink`], `writer.rs`), [`PgStore::reader`]
//!   (a [`Reader`] on a [`super::SeriesSource`], `reader.rs`) and [`PgStore::leases`] (a [`LeaseStore`],
//!   `lease.rs`), [`PgStore::alerts`] and [`PgStore::silences`] (`alerts.rs`).
//! - Port samples go into `port_sample`, partitioned by day on the start of the poll slot
//!   (`partition.rs`): retention drops whole partitions instead of deleting row by row.
//! - Idempotent per (port, poll slot): the key is `(series_id, slot_ms)`, the start of the
//!   poll slot on the switch's grid `k * interval + phase` ([`crate::poll::phase_offset`], the
//!   same in every daemon and build) that the response time falls in. Two daemons polling the
//!   same switch (an HA pair) poll on the same grid, so they store each slot once: the first
//!   writer wins, except that a known sample replaces a gap.
//! - The URL is a secret: it is never logged or put into an error. Errors name
//!   `user@host:port/dbname` only ([`Target`]).

mod aggregate;
mod alerts;
mod conn;
mod lease;
mod outbox;
mod partition;
mod reader;
mod retention;
mod schema;
mod usage;
mod writer;

use std::sync::{Arc, Mutex};

pub use conn::Target;
pub use writer::{PgWriter, PgWriterOptions};

use super::error::StoreError;
use super::handles::{Reader, UsageBook};
use super::traits::{AlertStore, LeaseStore, OutboxStore, SilenceStore};
use crate::config::{Retention, Secret, Topology};

/// A PostgreSQL store, opened once per process. Cloning shares the connection of the small
/// operations; the writer opens its own.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<conn::Shared>,
    retention: Retention,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.inner.target.to_string())
            .finish()
    }
}

impl PgStore {
    /// Connects to the database at `url` (a `postgres://` URL or a key=value string, kept
    /// secret) and brings its schema up to date. A schema written by a newer bandwatch is
    /// refused and left untouched.
    pub fn connect(url: &Secret, retention: &Retention) -> Result<PgStore, StoreError> {
        let shared = conn::Shared::open(url)?;
        {
            let mut c = shared.client()?;
            schema::migrate(&mut c, &shared.target)?;
        }
        Ok(PgStore {
            inner: Arc::new(shared),
            retention: *retention,
        })
    }

    /// The retention it applies.
    pub fn retention(&self) -> Retention {
        self.retention
    }

    /// Where it is connected (user, host, port, database; never the password).
    pub fn target(&self) -> &Target {
        &self.inner.target
    }

    /// Starts the writer thread (its own connection) with default options.
    pub fn writer(&self, topology: Arc<Topology>) -> Result<PgWriter, StoreError> {
        self.writer_with(topology, PgWriterOptions::default())
    }

    /// Starts the writer thread with `opts`.
    pub fn writer_with(
        &self,
        topology: Arc<Topology>,
        opts: PgWriterOptions,
    ) -> Result<PgWriter, StoreError> {
        PgWriter::spawn(self.inner.clone(), self.retention, topology, opts)
    }

    /// Reads series (the same handle as the SQLite store's).
    pub fn reader(&self) -> Reader {
        Reader::new(Arc::new(reader::PgReader::new(
            self.inner.clone(),
            self.retention,
        )))
    }

    /// Billing reads and usage records (the same handle as the SQLite store's).
    pub fn usage(&self) -> UsageBook {
        UsageBook::new(Arc::new(usage::PgUsage::new(
            self.inner.clone(),
            self.retention,
        )))
    }

    /// The notification outbox.
    pub fn outbox(&self) -> Arc<dyn OutboxStore> {
        Arc::new(outbox::PgOutbox::new(self.inner.clone()))
    }

    /// Alert states and history (with `commit`, the transactional outbox's first half: the
    /// notices owed go into `notify_queue` in the same transaction).
    pub fn alerts(&self) -> Arc<dyn AlertStore> {
        Arc::new(alerts::PgAlerts::new(self.inner.clone()))
    }

    /// Silences.
    pub fn silences(&self) -> Arc<dyn SilenceStore> {
        Arc::new(alerts::PgAlerts::new(self.inner.clone()))
    }

    /// Leases for work that runs in one daemon at a time.
    pub fn leases(&self) -> Arc<dyn LeaseStore> {
        Arc::new(lease::PgLeases::new(self.inner.clone()))
    }

    /// Applies `[retention]` now, measured back from the newest sample stored (the writer
    /// does it every ten minutes): drops the day partitions of raw samples no longer kept and
    /// deletes expired aggregate buckets; returns how many partitions were dropped.
    pub fn apply_retention(&self) -> Result<usize, StoreError> {
        let mut c = self.inner.client()?;
        retention::apply(&mut c, &self.inner.target, &self.retention).map(|(p, _)| p)
    }

    /// The day partitions of raw samples, oldest first (for tests and inspection).
    pub fn sample_partitions(&self) -> Result<Vec<String>, StoreError> {
        let mut c = self.inner.client()?;
        partition::list(&mut c, &self.inner.target)
    }
}

/// Keeps `Mutex` poisoning from turning into a panic: the connection is still usable.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
