//! The PostgreSQL sweep writer: one thread with its own connection, fed through a bounded
//! in-memory queue, so [`PgWriter::submit`] never waits on the network.
//!
//! - Each batch (the queued sweeps, up to [`PgWriterOptions::batch_rows`] samples) is one
//!   transaction: a binary COPY when none of its keys is stored yet, else one statement over
//!   arrays (`INSERT .. SELECT FROM unnest(..) ON CONFLICT`) that decides per key; the
//!   aggregates of what it stored (`aggregate.rs`) and the newest time. Idempotent per
//!   (port, poll slot), so a retried batch or a second daemon's copy of the same slot
//!   stores nothing twice (see `mod.rs`).
//! - A lost connection (PostgreSQL restarted, the network gone) is retried with backoff on a
//!   fresh connection; the batch in hand and everything submitted meanwhile stay queued, so
//!   nothing accepted is lost. The queue is bounded ([`PgWriterOptions::max_queued_rows`]):
//!   beyond it the oldest queued samples are turned into gaps flagged `store_unavailable`
//!   (unknown, never zero, and the reason is stored), and only if even the gaps exceed four
//!   times the bound are the oldest dropped, counted and logged.
//! - At shutdown the writer makes one last attempt and then says what it could not write.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use jiff::Timestamp;
use postgres::Client;
use tokio::sync::watch;

use super::super::entity::EntityKind;
use super::super::error::StoreError;
use super::super::flag;
use super::super::flows::FlowSlot;
use super::super::metrics::{Counter, WriterMetrics};
use super::super::sealed::SealTracker;
use super::super::traits::{FlowSink, StoreWriter, SweepSink};
use super::aggregate::{self, AggBatch, Members, Piece, Sums};
use super::conn::{Shared, pg_err};
use super::lock;
use super::partition::{Partitions, day_of};
use crate::config::{Retention, Topology};
use crate::poll::{PortOutcome, Sweep, phase_offset};

/// How the PostgreSQL writer batches and buffers.
#[derive(Clone, Debug)]
pub struct PgWriterOptions {
    /// Most samples written in one transaction.
    pub batch_rows: usize,
    /// Samples held in memory while the database cannot be written; beyond it the oldest
    /// become gaps (`store_unavailable`).
    pub max_queued_rows: usize,
    /// The longest wait between reconnection attempts.
    pub max_backoff: Duration,
    /// How often retention runs (the first time after a minute, or this if shorter).
    pub retention_every: Duration,
    /// The singleton lease of a daemon sharing the store: retention runs only while it is
    /// held (one daemon deletes what expired, not each). `None` runs retention always.
    pub lease: Option<watch::Receiver<Option<crate::store::Lease>>>,
}

impl Default for PgWriterOptions {
    fn default() -> Self {
        PgWriterOptions {
            batch_rows: 100_000,
            max_queued_rows: 2_000_000,
            max_backoff: Duration::from_secs(5),
            retention_every: Duration::from_secs(600),
            lease: None,
        }
    }
}

/// What the writer did, for `/metrics`, logs and tests.
#[derive(Debug, Default)]
pub struct PgWriterStats {
    /// Samples (gaps included) sent in committed batches.
    pub rows_written: AtomicU64,
    /// Failed write attempts (each retried).
    pub write_failures: AtomicU64,
    /// Connections opened after a failure.
    pub reconnects: AtomicU64,
    /// Samples turned into `store_unavailable` gaps because the queue was full.
    pub rows_gapped: AtomicU64,
    /// Samples dropped outright (the queue full of gaps, or given up at shutdown).
    pub rows_lost: AtomicU64,
    /// Batches whose COPY met a stored key and went through the upsert instead.
    pub copy_conflicts: AtomicU64,
}

/// One port sample as written.
#[derive(Clone, Debug)]
struct Row {
    port: String,
    slot_ms: i64,
    ts: i64,
    /// The response time in ms (`ts` is in seconds, as stored): the end of the sample's
    /// interval when it is split over aggregate buckets.
    end_ms: i64,
    dt_ms: Option<i64>,
    in_octets: Option<i64>,
    out_octets: Option<i64>,
    in_packets: Option<i64>,
    out_packets: Option<i64>,
    oper: Option<i16>,
    flag: i16,
    speed_bps: Option<i64>,
}

impl Row {
    fn is_gap(&self) -> bool {
        self.dt_ms.is_none()
    }

    /// The same slot, unknown because the store could not take it.
    fn make_gap(&mut self) {
        self.dt_ms = None;
        self.in_octets = None;
        self.out_octets = None;
        self.in_packets = None;
        self.out_packets = None;
        self.flag = flag::STORE_UNAVAILABLE as i16;
    }
}

/// A sweep as queued: the switch and its rows.
struct Pending {
    switch: String,
    /// The sweep's time, unix milliseconds.
    time_ms: i64,
    rows: Vec<Row>,
    /// Every row is a gap already (nothing more to degrade).
    degraded: bool,
}

enum Item {
    Sweep(Pending),
    Topology(Arc<Topology>),
    Flows(Vec<FlowSlot>),
}

#[derive(Default)]
struct State {
    queue: VecDeque<Item>,
    /// Rows of queued sweeps that still carry data.
    data_rows: usize,
    /// Rows of queued sweeps that are gaps.
    gap_rows: usize,
    submitted: u64,
    done: u64,
    stop: bool,
    stopped: bool,
}

struct Inner {
    state: Mutex<State>,
    moved: Condvar,
    topology: Mutex<Arc<Topology>>,
    opts: PgWriterOptions,
    stats: Arc<PgWriterStats>,
    metrics: Arc<WriterMetrics>,
}

/// The PostgreSQL implementation of [`SweepSink`].
pub struct PgWriter {
    inner: Arc<Inner>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    sealed: watch::Receiver<Option<Timestamp>>,
}

fn u(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The start of the poll slot (unix ms) that a response at `t` belongs to: the scheduler's
/// grid `k * interval + phase` of the switch.
fn slot_of(t: Timestamp, interval: Duration, phase: Duration) -> i64 {
    let i = i64::try_from(interval.as_millis()).unwrap_or(60_000).max(1);
    let p = i64::try_from(phase.as_millis()).unwrap_or(0) % i;
    (t.as_millisecond() - p).div_euclid(i) * i + p
}

fn rows_of(sweep: &Sweep, topology: &Topology) -> Vec<Row> {
    let interval = topology
        .switch(&sweep.switch)
        .map_or(Duration::from_secs(60), |s| s.interval.0);
    let slot_ms = slot_of(sweep.time, interval, phase_offset(&sweep.switch, interval));
    let ts = sweep.time.as_second();
    sweep
        .ports
        .iter()
        .map(|p| {
            let mut row = Row {
                port: p.port.to_string(),
                slot_ms,
                ts,
                end_ms: sweep.time.as_millisecond(),
                dt_ms: None,
                in_octets: None,
                out_octets: None,
                in_packets: None,
                out_packets: None,
                oper: None,
                flag: 0,
                speed_bps: None,
            };
            match &p.outcome {
                PortOutcome::Reading(r) => {
                    row.oper = Some(i16::from(r.oper_status.to_mib()));
                    row.flag = flag::of_quality(r.quality) as i16;
                    row.speed_bps = Some(u(r.speed_bps));
                    if let Some(d) = r.delta.as_ref().filter(|_| r.quality.has_delta()) {
                        row.dt_ms = Some(u(d.dt_ms));
                        row.in_octets = Some(u(d.in_octets));
                        row.out_octets = Some(u(d.out_octets));
                        row.in_packets = d.in_packets.map(u);
                        row.out_packets = d.out_packets.map(u);
                    }
                }
                PortOutcome::Unknown(reason) => row.flag = flag::of_unknown(*reason) as i16,
            }
            row
        })
        .collect()
}

impl PgWriter {
    pub(crate) fn spawn(
        shared: Arc<Shared>,
        retention: Retention,
        topology: Arc<Topology>,
        opts: PgWriterOptions,
    ) -> Result<PgWriter, StoreError> {
        let client = shared.connect()?;
        let inner = Arc::new(Inner {
            state: Mutex::new(State::default()),
            moved: Condvar::new(),
            topology: Mutex::new(topology.clone()),
            opts,
            stats: Arc::new(PgWriterStats::default()),
            metrics: Arc::new(WriterMetrics::default()),
        });
        lock(&inner.state)
            .queue
            .push_back(Item::Topology(topology.clone()));
        let (seal, sealed) = SealTracker::new(&topology);
        // Not at once: a daemon that restarts often still applies it, a minute in.
        let first_retention = inner.opts.retention_every.min(Duration::from_secs(60));
        let worker = Worker {
            inner: inner.clone(),
            shared: shared.clone(),
            client: Some(client),
            series: SeriesIds::default(),
            members: Members::default(),
            partitions: Partitions::default(),
            topology: None,
            flows: Vec::new(),
            seal,
            newest_ms: 0,
            retention,
            retention_due: Some(std::time::Instant::now() + first_retention),
            upsert_only: 0,
        };
        let thread = std::thread::Builder::new()
            .name("bandwatch-pg-writer".into())
            .spawn(move || worker.run())
            .map_err(|source| StoreError::Io {
                path: "bandwatch-pg-writer".into(),
                context: "starting the PostgreSQL writer thread",
                source,
            })?;
        Ok(PgWriter {
            inner,
            shared,
            thread: Some(thread),
            sealed,
        })
    }

    /// Queues a sweep; never waits on the database.
    pub fn submit(&self, sweep: Sweep) -> Result<(), StoreError> {
        let rows = rows_of(&sweep, &lock(&self.inner.topology));
        let mut st = lock(&self.inner.state);
        if st.stop {
            return Err(self.gone());
        }
        st.data_rows += rows.len();
        st.submitted += 1;
        self.inner.metrics.queue_depth.inc();
        st.queue.push_back(Item::Sweep(Pending {
            time_ms: sweep.time.as_millisecond(),
            switch: sweep.switch.to_string(),
            rows,
            degraded: false,
        }));
        self.bound(&mut st);
        drop(st);
        self.inner.moved.notify_all();
        Ok(())
    }

    /// Keeps the queue within its bound: the oldest data become gaps, and the oldest gaps go.
    fn bound(&self, st: &mut State) {
        let max = self.inner.opts.max_queued_rows;
        let stats = &self.inner.stats;
        let mut i = 0;
        while st.data_rows > max && i < st.queue.len() {
            if let Some(Item::Sweep(p)) = st.queue.get_mut(i)
                && !p.degraded
            {
                let n = p.rows.iter().filter(|r| !r.is_gap()).count();
                p.rows.iter_mut().for_each(Row::make_gap);
                p.degraded = true;
                let len = p.rows.len();
                st.data_rows -= len;
                st.gap_rows += len;
                stats.rows_gapped.fetch_add(n as u64, Ordering::Relaxed);
                if stats.rows_gapped.load(Ordering::Relaxed) == n as u64 {
                    tracing::warn!(
                        database = %self.shared.target, max_queued_rows = max,
                        "PostgreSQL writer queue is full; the oldest queued samples are kept as \
                         gaps (store_unavailable)"
                    );
                }
            }
            i += 1;
        }
        while st.gap_rows > max.saturating_mul(4) {
            let pos = st
                .queue
                .iter()
                .position(|it| matches!(it, Item::Sweep(p) if p.degraded));
            let Some(pos) = pos else { break };
            if let Some(Item::Sweep(p)) = st.queue.remove(pos) {
                st.gap_rows -= p.rows.len();
                st.done += 1;
                stats
                    .rows_lost
                    .fetch_add(p.rows.len() as u64, Ordering::Relaxed);
                tracing::error!(
                    database = %self.shared.target, switch = %p.switch, ports = p.rows.len(),
                    "PostgreSQL writer queue overflowed; a sweep's gaps were dropped"
                );
            }
        }
    }

    /// Applies a reloaded topology, in order with the sweeps.
    pub fn update_topology(&self, topology: Arc<Topology>) -> Result<(), StoreError> {
        *lock(&self.inner.topology) = topology.clone();
        let mut st = lock(&self.inner.state);
        if st.stop {
            return Err(self.gone());
        }
        st.queue.push_back(Item::Topology(topology));
        drop(st);
        self.inner.moved.notify_all();
        Ok(())
    }

    /// Waits until every sweep submitted before is committed (or given up at shutdown).
    pub fn flush(&self) -> Result<(), StoreError> {
        let mut st = lock(&self.inner.state);
        let target = st.submitted;
        while st.done < target && !st.stopped {
            st = self.inner.moved.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        if st.done < target {
            return Err(self.gone());
        }
        Ok(())
    }

    /// What the writer did so far.
    pub fn stats(&self) -> Arc<PgWriterStats> {
        self.inner.stats.clone()
    }

    /// The writer's health for `/metrics` and `/healthz` (the same families as SQLite's).
    pub fn metrics(&self) -> Arc<WriterMetrics> {
        self.inner.metrics.clone()
    }

    /// Queues customer and product line slots measured by flows, in order with the sweeps.
    pub fn submit_flows(&self, slots: Vec<FlowSlot>) -> Result<(), StoreError> {
        if slots.is_empty() {
            return Ok(());
        }
        let mut st = lock(&self.inner.state);
        if st.stop {
            return Err(self.gone());
        }
        st.queue.push_back(Item::Flows(slots));
        drop(st);
        self.inner.moved.notify_all();
        Ok(())
    }

    /// Stops the thread after one last attempt at what is queued.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        lock(&self.inner.state).stop = true;
        self.inner.moved.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    fn gone(&self) -> StoreError {
        StoreError::WriterGone {
            path: self.shared.target.to_string().into(),
        }
    }
}

impl Drop for PgWriter {
    fn drop(&mut self) {
        self.stop();
    }
}

impl SweepSink for PgWriter {
    fn submit(&self, sweep: Sweep) -> Result<(), StoreError> {
        PgWriter::submit(self, sweep)
    }
    fn update_topology(&self, topology: Arc<Topology>) -> Result<(), StoreError> {
        PgWriter::update_topology(self, topology)
    }
    fn flush(&self) -> Result<(), StoreError> {
        PgWriter::flush(self)
    }
    fn sealed(&self) -> watch::Receiver<Option<Timestamp>> {
        self.sealed.clone()
    }
}

impl FlowSink for PgWriter {
    fn submit_flows(&self, slots: Vec<FlowSlot>) -> Result<(), StoreError> {
        PgWriter::submit_flows(self, slots)
    }
}

impl StoreWriter for PgWriter {
    fn metrics(&self) -> Arc<WriterMetrics> {
        PgWriter::metrics(self)
    }
}

/// The writer thread's state.
struct Worker {
    inner: Arc<Inner>,
    shared: Arc<Shared>,
    client: Option<Client>,
    /// Series id by switch and port.
    series: SeriesIds,
    /// The aggregates of each configured port.
    members: Members,
    partitions: Partitions,
    /// A topology to apply before the next batch.
    topology: Option<Arc<Topology>>,
    /// Flow slots to write with the next batch.
    flows: Vec<FlowSlot>,
    /// Publishes "sealed up to T" after each commit.
    seal: SealTracker,
    /// The newest sweep time this writer stored (unix ms).
    newest_ms: i64,
    retention: Retention,
    /// When retention runs next.
    retention_due: Option<std::time::Instant>,
    /// Batches still to write by upsert (not COPY) after a conflict.
    upsert_only: u32,
}

impl Worker {
    fn run(mut self) {
        while let Some(batch) = self.next_batch() {
            let n = batch.len();
            let stopping = self.write_until_done(&batch);
            if !stopping {
                for p in &batch {
                    self.seal.stored_at(&p.switch, p.time_ms);
                }
                self.seal.publish(self.newest_ms);
                self.retain();
            }
            self.inner.metrics.queue_depth.sub(n as u64);
            let mut st = lock(&self.inner.state);
            st.done += n as u64;
            if stopping {
                let lost = batch.iter().map(|p| p.rows.len()).sum::<usize>();
                self.inner
                    .stats
                    .rows_lost
                    .fetch_add(lost as u64, Ordering::Relaxed);
            }
            drop(st);
            self.inner.moved.notify_all();
        }
        let mut st = lock(&self.inner.state);
        st.stopped = true;
        drop(st);
        self.inner.moved.notify_all();
    }

    /// The next sweeps to write (topology changes taken in order on the way); `None` when
    /// stopping with nothing queued.
    fn next_batch(&mut self) -> Option<Vec<Pending>> {
        let mut st = lock(&self.inner.state);
        loop {
            let mut batch = Vec::new();
            let mut rows = 0;
            while let Some(item) = st.queue.front() {
                match item {
                    Item::Topology(_) | Item::Flows(_) if !batch.is_empty() => break,
                    Item::Sweep(p)
                        if !batch.is_empty()
                            && rows + p.rows.len() > self.inner.opts.batch_rows =>
                    {
                        break;
                    }
                    _ => {}
                }
                match st.queue.pop_front() {
                    Some(Item::Topology(t)) => self.topology = Some(t),
                    Some(Item::Flows(f)) => self.flows.extend(f),
                    Some(Item::Sweep(p)) => {
                        rows += p.rows.len();
                        if p.degraded {
                            st.gap_rows -= p.rows.len();
                        } else {
                            st.data_rows -= p.rows.len();
                        }
                        batch.push(p);
                    }
                    None => break,
                }
            }
            if !batch.is_empty() || self.topology.is_some() || !self.flows.is_empty() {
                return Some(batch);
            }
            if st.stop {
                return None;
            }
            st = self.inner.moved.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Writes `batch` (and a pending topology), retrying on fresh connections until it is
    /// committed. Returns true when it gave up because the writer is stopping.
    fn write_until_done(&mut self, batch: &[Pending]) -> bool {
        let mut backoff = Duration::from_millis(100);
        let mut failures = 0u32;
        loop {
            let started = std::time::Instant::now();
            match self.write(batch) {
                Ok(()) => {
                    let m = &self.inner.metrics;
                    m.failing.set(0);
                    m.transactions_total.inc();
                    m.sweeps_written_total.add(batch.len() as u64);
                    m.write_micros_total
                        .add(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
                    if failures > 0 {
                        tracing::info!(database = %self.shared.target, failures,
                            "PostgreSQL writes resumed; nothing queued was lost");
                    }
                    return false;
                }
                Err(e) => {
                    failures += 1;
                    let m = &self.inner.metrics;
                    m.write_errors_total.inc();
                    m.failing.set(1);
                    m.set_last_error(Some(e.to_string()));
                    self.inner
                        .stats
                        .write_failures
                        .fetch_add(1, Ordering::Relaxed);
                    if failures == 1 || failures.is_power_of_two() {
                        tracing::warn!(error = %e, failures,
                            "PostgreSQL write failed; sweeps stay queued and are retried");
                    }
                    self.client = None;
                    // Partitions may have been dropped meanwhile (retention elsewhere).
                    self.partitions.forget();
                    if lock(&self.inner.state).stop && failures > 1 {
                        let sweeps = batch.len() + lock(&self.inner.state).queue.len();
                        tracing::error!(database = %self.shared.target, sweeps,
                            "stopping with sweeps the database could not take; they are lost");
                        return true;
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(self.inner.opts.max_backoff);
                }
            }
        }
    }

    fn write(&mut self, batch: &[Pending]) -> Result<(), StoreError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = Some(self.shared.connect()?);
            self.inner.stats.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        let Some(client) = self.client.as_mut() else {
            unreachable!("connected above")
        };
        let target = &self.shared.target;
        if let Some(t) = self.topology.clone() {
            self.members = apply_topology(client, target, &t, &mut self.series)?;
            self.seal.set_topology(&t);
            self.topology = None;
        }
        if batch.is_empty() && self.flows.is_empty() {
            return Ok(());
        }
        // Series of ports the topology does not list (alias-attributed, or newer).
        let missing: Vec<(&str, &str)> = batch
            .iter()
            .flat_map(|p| {
                p.rows
                    .iter()
                    .map(move |r| (p.switch.as_str(), r.port.as_str()))
            })
            .filter(|(sw, port)| self.series.get(sw, port).is_none())
            .collect();
        if !missing.is_empty() {
            let topology = lock(&self.inner.topology).clone();
            adhoc_series(client, target, &topology, &missing, &mut self.series)?;
        }
        let mut rows: Vec<(i64, &Row)> =
            Vec::with_capacity(batch.iter().map(|p| p.rows.len()).sum());
        for p in batch {
            for r in &p.rows {
                if let Some(id) = self.series.get(&p.switch, &r.port) {
                    rows.push((id, r));
                }
            }
        }
        // One row per key in one statement (a known sample before a gap of the same slot),
        // in key order so neighbouring rows share index pages.
        rows.sort_by_key(|(id, r)| (*id, r.slot_ms, r.is_gap()));
        rows.dedup_by_key(|(id, r)| (*id, r.slot_ms));
        let mut days: Vec<i64> = rows.iter().map(|(_, r)| day_of(r.slot_ms)).collect();
        days.sort_unstable();
        days.dedup();
        self.partitions.ensure(client, target, days)?;
        let batch_newest = batch.iter().map(|p| p.time_ms).max().unwrap_or(0);
        let e = |c| pg_err(target, c);
        let mut tx = client.transaction().map_err(e("starting a sample batch"))?;
        // The fast path: a binary COPY straight into the table, when no key of the batch is
        // stored yet (one daemon, no retry). A key another writer (or an earlier attempt)
        // stored makes it fail as a whole; then the batch goes through the upsert, which
        // decides per key, and the next batches too for a while (an HA pair conflicts often).
        let stored = if self.upsert_only == 0 {
            match copy_rows(&mut tx, &rows) {
                Ok(()) => (0..rows.len()).collect(),
                Err(err) if err.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION) => {
                    self.upsert_only = UPSERT_AFTER_CONFLICT;
                    self.inner
                        .stats
                        .copy_conflicts
                        .fetch_add(1, Ordering::Relaxed);
                    insert_rows(&mut tx, target, &rows)?
                }
                Err(err) => return Err(e("copying port samples")(err)),
            }
        } else {
            self.upsert_only -= 1;
            insert_rows(&mut tx, target, &rows)?
        };
        // What it did not store, another writer (the HA pair's other daemon) or an earlier
        // attempt had: counted once the transaction commits.
        let duplicates = rows.len().saturating_sub(stored.len());
        // Only what this transaction stored adds into the aggregates (see `aggregate.rs`).
        let mut aggs = AggBatch::default();
        for i in stored {
            let Some((id, r)) = rows.get(i) else { continue };
            let members = self.members.of(*id);
            let (Some(dt), Some(ino), Some(outo)) = (r.dt_ms, r.in_octets, r.out_octets) else {
                continue;
            };
            if members.is_empty() || dt <= 0 {
                continue;
            }
            let end_ms = r.end_ms;
            let piece = Piece {
                start_ms: end_ms - dt,
                end_ms,
                in_octets: ino.max(0) as u64,
                out_octets: outo.max(0) as u64,
                in_packets: r.in_packets.unwrap_or(0).max(0) as u64,
                out_packets: r.out_packets.unwrap_or(0).max(0) as u64,
            };
            for (agg, frac) in members {
                aggs.add(*agg, *frac, &piece);
            }
        }
        let flows_newest = flow_slots(
            &mut tx,
            target,
            &self.flows,
            &mut aggs,
            &self.inner.metrics.duplicate_samples_total,
        )?;
        if !aggs.is_empty() {
            aggs.write(&mut tx, target)?;
        }
        let newest = batch_newest.max(flows_newest);
        // A daemon sharing the store records how far each switch it polls is stored, and
        // the lease holder reads every switch's, so that it judges a slot across shards as
        // soon as every shard has written it rather than after the slot grace.
        let mut progress = Vec::new();
        if let Some(lease) = &self.inner.opts.lease {
            let mut stored: Vec<(String, i64)> = batch
                .iter()
                .map(|p| (format!("{SWITCH_STORED}{}", p.switch), p.time_ms))
                .collect();
            // In key order (two daemons of an HA pair lock the same rows in the same order).
            stored.sort();
            stored.dedup_by(|later, kept| {
                let same = later.0 == kept.0;
                if same {
                    kept.1 = kept.1.max(later.1);
                }
                same
            });
            let (keys, times): (Vec<String>, Vec<i64>) = stored.into_iter().unzip();
            tx.execute(
                "INSERT INTO meta(key, value) SELECT * FROM unnest($1::text[], $2::bigint[]) \
                 ON CONFLICT (key) DO UPDATE SET value = GREATEST(meta.value, EXCLUDED.value)",
                &[&keys, &times],
            )
            .map_err(e("recording how far each switch is stored"))?;
            if lease.borrow().is_some() {
                progress = tx
                    .query(
                        "SELECT substr(key, $1), value FROM meta WHERE starts_with(key, $2)",
                        &[&(SWITCH_STORED.len() as i32 + 1), &SWITCH_STORED],
                    )
                    .map_err(e("reading how far each switch is stored"))?
                    .iter()
                    .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
                    .collect();
            }
        }
        tx.execute(
            "INSERT INTO meta(key, value) VALUES ('newest_ms', $1) \
             ON CONFLICT (key) DO UPDATE SET value = GREATEST(meta.value, EXCLUDED.value)",
            &[&newest],
        )
        .map_err(e("recording the newest sample time"))?;
        tx.commit().map_err(e("committing port samples"))?;
        for (switch, t_ms) in progress {
            self.seal.stored_at(&switch, t_ms);
        }
        // Flow minutes take part in the seal mark once handed over (see `store::sealed`).
        if let Some(until) = self.flows.iter().map(|s| s.slot_start + 60).max() {
            self.seal.flows_stored(until.saturating_mul(1000));
        }
        self.flows.clear();
        self.newest_ms = self.newest_ms.max(newest);
        let m = &self.inner.metrics;
        m.port_samples_written_total.add(rows.len() as u64);
        m.duplicate_samples_total.add(duplicates as u64);
        self.inner
            .stats
            .rows_written
            .fetch_add(rows.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Drops expired day partitions and deletes expired aggregate buckets, every
    /// [`PgWriterOptions::retention_every`], in the holder of the singleton lease only when
    /// the store is shared (both are idempotent, but one daemon doing it is enough). A
    /// failure is logged and tried again next time.
    fn retain(&mut self) {
        let now = std::time::Instant::now();
        if self.retention_due.is_some_and(|d| now < d) {
            return;
        }
        if let Some(l) = &self.inner.opts.lease
            && l.borrow().is_none()
        {
            // Another daemon holds the lease: it deletes what expired.
            return;
        }
        self.retention_due = Some(now + self.inner.opts.retention_every);
        let Some(client) = self.client.as_mut() else {
            return;
        };
        match super::retention::apply(client, &self.shared.target, &self.retention) {
            Ok((partitions, rows)) => {
                if partitions > 0 {
                    self.partitions.forget();
                }
                self.inner.metrics.retention_rows_deleted_total.add(rows);
            }
            Err(e) => tracing::warn!(error = %e, "PostgreSQL retention failed; tried again later"),
        }
    }
}

/// The `meta` key prefix of a switch's newest stored sweep (unix ms), written by the daemons
/// sharing the store and read by the lease holder for its seal mark.
const SWITCH_STORED: &str = "switch_stored_ms:";

/// Batches written by upsert after a COPY met a stored key, before COPY is tried again.
const UPSERT_AFTER_CONFLICT: u32 = 16;

/// Copies the rows into `port_sample` (binary COPY, in a savepoint, so a failure leaves the
/// transaction usable): every row is new, or nothing is written.
fn copy_rows(
    tx: &mut postgres::Transaction<'_>,
    rows: &[(i64, &Row)],
) -> Result<(), postgres::Error> {
    use postgres::binary_copy::BinaryCopyInWriter;
    use postgres::types::Type;
    let mut sp = tx.savepoint("copy_samples")?;
    {
        let sink = sp.copy_in(
            "COPY port_sample (series_id, slot_ms, ts, dt_ms, in_octets, out_octets, \
             in_packets, out_packets, oper, flag, speed_bps) FROM STDIN (FORMAT binary)",
        )?;
        let types = [
            Type::INT8,
            Type::INT8,
            Type::INT8,
            Type::INT8,
            Type::INT8,
            Type::INT8,
            Type::INT8,
            Type::INT8,
            Type::INT2,
            Type::INT2,
            Type::INT8,
        ];
        let mut w = BinaryCopyInWriter::new(sink, &types);
        for (id, r) in rows {
            w.write(&[
                id,
                &r.slot_ms,
                &r.ts,
                &r.dt_ms,
                &r.in_octets,
                &r.out_octets,
                &r.in_packets,
                &r.out_packets,
                &r.oper,
                &r.flag,
                &r.speed_bps,
            ])?;
        }
        w.finish()?;
    }
    sp.commit()
}

/// Writes the rows (in one statement over arrays); returns the indexes of the rows this
/// statement stored: new slots, and gaps replaced by a reading. A slot another writer stored
/// first is not among them.
fn insert_rows(
    tx: &mut postgres::Transaction<'_>,
    target: &super::Target,
    rows: &[(i64, &Row)],
) -> Result<Vec<usize>, StoreError> {
    let e = |c| pg_err(target, c);
    let col = |f: &dyn Fn(&Row) -> Option<i64>| rows.iter().map(|(_, r)| f(r)).collect::<Vec<_>>();
    let ids: Vec<i64> = rows.iter().map(|(id, _)| *id).collect();
    let slots: Vec<i64> = rows.iter().map(|(_, r)| r.slot_ms).collect();
    let ts: Vec<i64> = rows.iter().map(|(_, r)| r.ts).collect();
    let dt = col(&|r| r.dt_ms);
    let ino = col(&|r| r.in_octets);
    let outo = col(&|r| r.out_octets);
    let inp = col(&|r| r.in_packets);
    let outp = col(&|r| r.out_packets);
    let oper: Vec<Option<i16>> = rows.iter().map(|(_, r)| r.oper).collect();
    let flags: Vec<i16> = rows.iter().map(|(_, r)| r.flag).collect();
    let speed = col(&|r| r.speed_bps);
    let idx: Vec<i32> = (0..rows.len() as i32).collect();
    let stored = tx
        .query(
            "WITH input AS (SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], \
               $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], \
               $9::smallint[], $10::smallint[], $11::bigint[], $12::int[]) \
               AS t(series_id, slot_ms, ts, dt_ms, in_octets, out_octets, in_packets, \
               out_packets, oper, flag, speed_bps, i)), \
             stored AS (INSERT INTO port_sample AS s (series_id, slot_ms, ts, dt_ms, \
               in_octets, out_octets, in_packets, out_packets, oper, flag, speed_bps) \
             SELECT series_id, slot_ms, ts, dt_ms, in_octets, out_octets, in_packets, \
               out_packets, oper, flag, speed_bps FROM input \
             ON CONFLICT (series_id, slot_ms) DO UPDATE SET ts = EXCLUDED.ts, dt_ms = EXCLUDED.dt_ms, \
               in_octets = EXCLUDED.in_octets, out_octets = EXCLUDED.out_octets, \
               in_packets = EXCLUDED.in_packets, out_packets = EXCLUDED.out_packets, \
               oper = EXCLUDED.oper, flag = EXCLUDED.flag, speed_bps = EXCLUDED.speed_bps \
             WHERE s.dt_ms IS NULL AND EXCLUDED.dt_ms IS NOT NULL \
             RETURNING series_id, slot_ms, dt_ms) \
             SELECT i.i FROM stored s JOIN input i USING (series_id, slot_ms) \
             WHERE s.dt_ms IS NOT NULL",
            &[
                &ids, &slots, &ts, &dt, &ino, &outo, &inp, &outp, &oper, &flags, &speed, &idx,
            ],
        )
        .map_err(e("writing port samples"))?;
    stored
        .iter()
        .map(|r| r.try_get::<_, i32>(0).map(|i| i as usize))
        .collect::<Result<_, _>>()
        .map_err(e("reading stored samples"))
}

/// How long flow minute claims are kept (seconds): a daemon hands a minute over within
/// seconds of its end, so an hour is plenty.
const KEEP_FLOW_CLAIMS_S: i64 = 3600;

/// Adds flow-measured customer and product line slots into `aggs` (creating their series
/// as needed); returns the newest time they reach (the end of their newest slot, never past
/// now).
fn flow_slots(
    tx: &mut postgres::Transaction<'_>,
    target: &super::Target,
    slots: &[FlowSlot],
    aggs: &mut AggBatch,
    duplicates: &Counter,
) -> Result<i64, StoreError> {
    if slots.is_empty() {
        return Ok(0);
    }
    let now = Timestamp::now();
    let mut ids: HashMap<(EntityKind, String), i64> = HashMap::new();
    // The entity's own label column holds its name, as for port aggregates.
    for (kind, sql) in [
        (
            EntityKind::Customer,
            "INSERT INTO series (kind, name, customer, created) \
             SELECT 'customer', n, n, $2 FROM unnest($1::text[]) AS t(n) \
             ON CONFLICT (kind, name) DO UPDATE SET customer = EXCLUDED.customer \
             RETURNING id, name",
        ),
        (
            EntityKind::ProductLine,
            "INSERT INTO series (kind, name, product_line, created) \
             SELECT 'product_line', n, n, $2 FROM unnest($1::text[]) AS t(n) \
             ON CONFLICT (kind, name) DO UPDATE SET product_line = EXCLUDED.product_line \
             RETURNING id, name",
        ),
    ] {
        let mut names: Vec<&str> = slots
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.name.as_str())
            .collect();
        if names.is_empty() {
            continue;
        }
        names.sort_unstable();
        names.dedup();
        let rows = tx
            .query(sql, &[&names, &now.as_second()])
            .map_err(pg_err(target, "writing flow-measured series"))?;
        for r in rows {
            let e = pg_err(target, "reading flow-measured series");
            ids.insert((kind, r.try_get(1).map_err(&e)?), r.try_get(0).map_err(&e)?);
        }
    }
    // Slots with a shard are added only when their (series, minute, shard) was not stored
    // yet: the other daemon of an HA pair measured the same minute.
    let claims: Vec<(i64, i64, &str)> = slots
        .iter()
        .filter_map(|s| {
            let id = ids.get(&(s.kind, s.name.clone()))?;
            Some((*id, s.slot_start, s.shard.as_deref()?))
        })
        .collect();
    let mut fresh: HashSet<(i64, i64, String)> = HashSet::new();
    if !claims.is_empty() {
        let oldest = claims.iter().map(|c| c.1).min().unwrap_or(0);
        tx.execute(
            "DELETE FROM flow_claim WHERE slot < $1",
            &[&(oldest - KEEP_FLOW_CLAIMS_S)],
        )
        .map_err(pg_err(target, "deleting old flow minute claims"))?;
        let (a, b, c): (Vec<i64>, Vec<i64>, Vec<&str>) = claims.iter().fold(
            (Vec::new(), Vec::new(), Vec::new()),
            |(mut a, mut b, mut c), x| {
                a.push(x.0);
                b.push(x.1);
                c.push(x.2);
                (a, b, c)
            },
        );
        let rows = tx
            .query(
                "INSERT INTO flow_claim (series_id, slot, shard) \
                 SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[]) \
                 ON CONFLICT DO NOTHING RETURNING series_id, slot, shard",
                &[&a, &b, &c],
            )
            .map_err(pg_err(target, "claiming flow minutes"))?;
        for r in rows {
            let e = pg_err(target, "reading flow minute claims");
            fresh.insert((
                r.try_get(0).map_err(&e)?,
                r.try_get(1).map_err(&e)?,
                r.try_get(2).map_err(&e)?,
            ));
        }
    }
    let mut newest = 0;
    for s in slots {
        let Some(id) = ids.get(&(s.kind, s.name.clone())) else {
            continue;
        };
        if let Some(shard) = &s.shard
            && !fresh.contains(&(*id, s.slot_start, shard.clone()))
        {
            duplicates.inc();
            continue;
        }
        let sums = Sums {
            in_octets: u(s.in_octets),
            out_octets: u(s.out_octets),
            in_packets: u(s.in_packets),
            out_packets: u(s.out_packets),
            covered_ms: f64::from(s.covered_ms),
        };
        aggs.add_slot(*id, s.slot_start, &sums);
        newest = newest.max((s.slot_start + super::super::SLOT_SECS) * 1000);
    }
    Ok(newest.min(now.as_millisecond()))
}

/// Creates or relabels the series of every configured port.
fn apply_topology(
    client: &mut Client,
    target: &super::Target,
    topology: &Topology,
    series: &mut SeriesIds,
) -> Result<Members, StoreError> {
    let ports: Vec<_> = topology
        .switches
        .iter()
        .flat_map(|s| s.ports.iter())
        .collect();
    let names: Vec<String> = ports.iter().map(|p| p.key().to_string()).collect();
    let l = |f: &dyn Fn(&crate::config::PortLabels) -> Option<String>| {
        ports.iter().map(|p| f(&p.labels)).collect::<Vec<_>>()
    };
    let site = l(&|l| Some(l.site.to_string()));
    let switch = l(&|l| Some(l.switch.to_string()));
    let port = l(&|l| Some(l.port.to_string()));
    let pl = l(&|l| l.product_line.as_deref().map(str::to_string));
    let cust = l(&|l| l.customer.as_deref().map(str::to_string));
    let role = l(&|l| l.role.as_deref().map(str::to_string));
    let now = Timestamp::now().as_second();
    let mut tx = client
        .transaction()
        .map_err(pg_err(target, "starting a topology update"))?;
    let rows = tx
        .query(
            "INSERT INTO series (kind, name, site, switch, port, product_line, customer, role, created) \
             SELECT 'port', n, si, sw, po, pl, cu, ro, $7 FROM unnest($1::text[], $2::text[], \
               $3::text[], $4::text[], $5::text[], $6::text[], $8::text[]) AS t(n, si, sw, po, pl, cu, ro) \
             ON CONFLICT (kind, name) DO UPDATE SET site = EXCLUDED.site, switch = EXCLUDED.switch, \
               port = EXCLUDED.port, product_line = EXCLUDED.product_line, \
               customer = EXCLUDED.customer, role = EXCLUDED.role \
             RETURNING id, name",
            &[&names, &site, &switch, &port, &pl, &cust, &now, &role],
        )
        .map_err(pg_err(target, "writing port series"))?;
    remember(rows, target, series)?;
    let members = aggregate::apply(&mut tx, target, topology, &|k| {
        series.get(&k.switch, &k.port)
    })?;
    tx.commit()
        .map_err(pg_err(target, "committing a topology update"))?;
    Ok(members)
}

/// Creates the series of ports that no topology listed (labelled with their switch and its
/// site only).
fn adhoc_series(
    client: &mut Client,
    target: &super::Target,
    topology: &Topology,
    ports: &[(&str, &str)],
    series: &mut SeriesIds,
) -> Result<(), StoreError> {
    let mut names: Vec<String> = ports.iter().map(|(s, p)| format!("{s}/{p}")).collect();
    let mut seen = std::collections::HashSet::new();
    let keep: Vec<bool> = names.iter().map(|n| seen.insert(n.clone())).collect();
    let mut k = keep.iter();
    names.retain(|_| *k.next().unwrap_or(&false));
    let mut k = keep.iter();
    let kept: Vec<&(&str, &str)> = ports
        .iter()
        .filter(|_| *k.next().unwrap_or(&false))
        .collect();
    let sw: Vec<&str> = kept.iter().map(|(s, _)| *s).collect();
    let po: Vec<&str> = kept.iter().map(|(_, p)| *p).collect();
    let site: Vec<Option<&str>> = kept
        .iter()
        .map(|(s, _)| topology.switch(s).map(|s| s.site.as_str()))
        .collect();
    let now = Timestamp::now().as_second();
    let rows = client
        .query(
            "INSERT INTO series (kind, name, switch, port, site, created) \
             SELECT 'port', n, sw, po, si, $4 FROM unnest($1::text[], $2::text[], $3::text[], $5::text[]) \
               AS t(n, sw, po, si) \
             ON CONFLICT (kind, name) DO UPDATE SET kind = EXCLUDED.kind \
             RETURNING id, name",
            &[&names, &sw, &po, &now, &site],
        )
        .map_err(pg_err(target, "writing port series"))?;
    remember(rows, target, series)
}

fn remember(
    rows: Vec<postgres::Row>,
    target: &super::Target,
    series: &mut SeriesIds,
) -> Result<(), StoreError> {
    let e = pg_err(target, "reading port series");
    for r in rows {
        let name: String = r.try_get(1).map_err(&e)?;
        let id: i64 = r.try_get(0).map_err(&e)?;
        if let Some((sw, port)) = name.split_once('/') {
            series
                .0
                .entry(sw.to_string())
                .or_default()
                .insert(port.to_string(), id);
        }
    }
    Ok(())
}

/// Series ids of ports by switch and port, looked up without building a name.
#[derive(Default)]
struct SeriesIds(HashMap<String, HashMap<String, i64>>);

impl SeriesIds {
    fn get(&self, switch: &str, port: &str) -> Option<i64> {
        self.0.get(switch)?.get(port).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_the_switch_grid() {
        let t = |ms| Timestamp::from_millisecond(ms).unwrap();
        let i = Duration::from_secs(60);
        let p = Duration::from_millis(15_250);
        // Responses a little after the grid instant belong to that slot...
        assert_eq!(slot_of(t(15_250), i, p), 15_250);
        assert_eq!(slot_of(t(15_250 + 900), i, p), 15_250);
        assert_eq!(slot_of(t(75_250 + 59_000), i, p), 75_250);
        // ...and the next poll's response to the next one.
        assert_eq!(slot_of(t(75_250 + 60_000), i, p), 135_250);
        assert_eq!(slot_of(t(10_000), i, p), -44_750);
    }
}
