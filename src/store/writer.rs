//! The single writer: a dedicated thread fed by a bounded channel. The sweeps that arrive
//! within a short batch window are one transaction. Submitting never waits on the disk: when the channel is full the sweep
//! goes to an overflow queue, which is counted and logged; nothing is dropped. A failed
//! write (disk full, read-only file) is logged with the file, counted, and retried with
//! backoff on a fresh connection; the thread never exits on its own.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration as StdDuration, Instant};

use super::checkpoint::{CHECKPOINT_EVERY, Checkpointer};
use super::error::StoreError;
use super::flows::FlowSlot;
use super::ingest::Ingest;
use super::metrics::WriterMetrics;
use super::retention::{self, RetentionCursor};
use super::sealed::SealTracker;
use super::traits::{FlowSink, SweepSink};
use crate::config::{Retention, Topology};
use crate::poll::Sweep;
use jiff::Timestamp;
use tokio::sync::watch;

/// Tuning of the writer; the defaults suit a daemon.
#[derive(Clone, Debug)]
pub struct WriterOptions {
    /// Sweeps the channel holds before submissions overflow.
    pub channel_capacity: usize,
    /// Most sweeps written in one transaction when they queue up.
    pub max_batch_sweeps: usize,
    /// How long the writer gathers sweeps after the first one before writing them in one
    /// transaction. A fleet's sweeps arrive spread over the interval; one commit every two
    /// seconds instead of one per sweep writes each hot page to the WAL once, not once per
    /// switch (two seconds rather than one: on the rig at 200 x 48, half the commits, their
    /// pages and the aggregates' upserts of a site's row). Zero writes each sweep as soon as
    /// nothing else is queued.
    pub batch_window: StdDuration,
    /// How long after a bucket's end samples may still arrive for it; `None` derives it
    /// from the topology (longest poll interval + 60 s, at least 120 s).
    pub grace: Option<StdDuration>,
    /// Series handled per retention step (one short transaction).
    pub retention_batch: usize,
    /// Time between retention steps; a round over every series is followed by a pause of
    /// 120 times this (`RETENTION_ROUND_PAUSE`).
    pub retention_every: StdDuration,
    /// The longest wait between retries of a failed write.
    pub max_backoff: StdDuration,
    /// Limit on the database size in pages (`PRAGMA max_page_count`), `None` for none.
    pub max_pages: Option<u32>,
    /// Other daemons write the same store (`[daemon] shard`): each port's poll slot is
    /// stored once whoever polled it, and seal marks are shared (see `ingest::shared`).
    pub shared: bool,
    /// The singleton lease of a daemon sharing the store: retention runs only while it is
    /// held (one daemon deletes expired rows, not each). `None` runs retention always.
    pub lease: Option<watch::Receiver<Option<super::Lease>>>,
    /// After opening a store of at least `warm_min_bytes`, the pages the first 5-minute seal
    /// and sample move write are read into the OS cache by a background reader, and those
    /// wait for it, at most this long (zero: no reading ahead). On a store of weeks after a
    /// reboot, the seal otherwise read them one at a time holding the write lock for minutes
    /// while sweeps queued in memory.
    pub warm_wait: StdDuration,
    /// The smallest store (file bytes) read ahead; on a smaller one the seal's pages cost
    /// little however cold.
    pub warm_min_bytes: u64,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            channel_capacity: 1024,
            max_batch_sweeps: 512,
            batch_window: StdDuration::from_secs(2),
            grace: None,
            retention_batch: 200,
            retention_every: StdDuration::from_secs(5),
            max_backoff: StdDuration::from_secs(30),
            max_pages: None,
            shared: false,
            lease: None,
            warm_wait: StdDuration::from_secs(600),
            warm_min_bytes: 64 << 20,
        }
    }
}

/// The pause after a retention round over every series, in steps: at the default step of 5 s,
/// rows wait up to ten minutes past their horizon (of days) instead of each series being
/// asked again every few minutes (at 9,600 ports, a thousand index look-ups every step that
/// found nothing to delete: on the rig, a percent of the daemon's CPU).
pub(crate) const RETENTION_ROUND_PAUSE: u32 = 120;

/// Says so when a write transaction held the store's write lock longer than others wait for
/// it: their writes (alert commits, a silence, an import) failed meanwhile and are retried.
fn held_long(path: &std::path::Path, took: StdDuration, doing: &str) {
    if took >= super::schema::BUSY_TIMEOUT {
        tracing::warn!(
            file = %path.display(),
            seconds = format_args!("{:.1}", took.as_secs_f64()),
            "{doing} held the store's write lock longer than other writers wait"
        );
    }
}

/// Counts one committed write transaction's wait for the lock and the time it held it on
/// `/metrics`, and logs either when it was long.
fn record_tx(
    metrics: &WriterMetrics,
    path: &std::path::Path,
    tx: super::ingest::TxTimes,
    doing: &str,
) {
    metrics.tx_times(tx);
    waited_long(path, tx.waited, doing);
    held_long(path, tx.held, doing);
}

/// Says so when a write of sweeps waited a second or more for the store's write lock, which
/// another connection held (an import's merge, another program on the file): the sweeps
/// waited in memory meanwhile. Not counted as holding it ([`held_long`]).
fn waited_long(path: &std::path::Path, waited: StdDuration, doing: &str) {
    if waited >= StdDuration::from_secs(1) {
        tracing::info!(
            file = %path.display(),
            seconds = format_args!("{:.1}", waited.as_secs_f64()),
            "{doing} waited for the store's write lock, held by another connection"
        );
    }
}

/// A retention step should hold the write lock no longer than this: sweeps and alert commits
/// wait behind it.
const RETENTION_STEP_TARGET: StdDuration = StdDuration::from_millis(500);

/// The series of the next retention step, from the last step's: half after a step longer than
/// [`RETENTION_STEP_TARGET`] (on pages that are not in the OS cache, 200 series' deletes read
/// hundreds of pages), twice as many (up to `most`) after one under a quarter of it.
fn next_retention_batch(batch: usize, took: StdDuration, most: usize) -> usize {
    let most = most.max(1);
    if took > RETENTION_STEP_TARGET {
        (batch / 2).max(1)
    } else if took < RETENTION_STEP_TARGET / 4 {
        (batch * 2).clamp(1, most)
    } else {
        batch.clamp(1, most)
    }
}

/// Starts reading ahead the pages of the first seal of a store opened for writing, when it is
/// large enough to be worth it (see [`WriterOptions::warm_wait`]).
fn warm(ingest: &mut Ingest, path: &std::path::Path, opts: &WriterOptions) {
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if !opts.warm_wait.is_zero() && bytes >= opts.warm_min_bytes {
        ingest.start_warming(opts.warm_wait);
    }
}

enum Msg {
    Sweep(Arc<Sweep>),
    Flows(Vec<FlowSlot>),
    Topology(Arc<Topology>),
    Flush(SyncSender<()>),
    Shutdown,
}

/// Handle on the writer thread. Dropping it writes what is queued and stops the thread.
pub struct Writer {
    path: PathBuf,
    tx: SyncSender<Msg>,
    overflow: Arc<Mutex<VecDeque<Arc<Sweep>>>>,
    metrics: Arc<WriterMetrics>,
    max_pages: Arc<AtomicU32>,
    stopping: Arc<AtomicBool>,
    sealed: watch::Receiver<Option<Timestamp>>,
    /// The writer thread, woken when something must not wait out the batch window.
    waker: std::thread::Thread,
    /// The most sweeps of one transaction: a queue this deep ends the batch window early.
    max_batch: u64,
    thread: Option<JoinHandle<()>>,
    /// Checkpoints the WAL off the writer's thread (`None` if its connection did not open:
    /// the commits' own `wal_autocheckpoint` still bounds the WAL).
    checkpointer: Option<Checkpointer>,
}

fn grace_for(topology: &Topology, opts: &WriterOptions) -> i64 {
    if let Some(g) = opts.grace {
        return g.as_millis() as i64;
    }
    let longest = topology
        .switches
        .iter()
        .map(|s| s.interval.as_secs())
        .max()
        .unwrap_or(300);
    ((longest + 60).max(120) * 1000) as i64
}

impl Writer {
    /// Opens the writer's connection (migrating if needed) and starts its thread.
    pub(crate) fn spawn(
        path: PathBuf,
        retention: Retention,
        topology: Arc<Topology>,
        opts: WriterOptions,
    ) -> Result<Writer, StoreError> {
        let grace_ms = grace_for(&topology, &opts);
        let metrics = Arc::new(WriterMetrics::default());
        // A newer schema is refused; any other failure (disk full, read-only file) is
        // retried by the thread, so that polling can start regardless.
        let ingest = match Ingest::open(
            &path,
            topology.clone(),
            grace_ms,
            opts.max_pages,
            opts.shared,
        ) {
            Ok(mut i) => {
                warm(&mut i, &path, &opts);
                Some(i)
            }
            Err(e @ StoreError::TooNew { .. }) => return Err(e),
            Err(e) => {
                metrics.write_errors_total.inc();
                metrics.failing.set(1);
                tracing::error!(file = %path.display(), error = %e, "cannot open the store for writing; retrying");
                metrics.set_last_error(Some(e.to_string()));
                None
            }
        };
        let (tx, rx) = mpsc::sync_channel(opts.channel_capacity.max(1));
        let overflow = Arc::new(Mutex::new(VecDeque::new()));
        let max_pages = Arc::new(AtomicU32::new(opts.max_pages.unwrap_or(0)));
        let stopping = Arc::new(AtomicBool::new(false));
        let max_batch = opts.max_batch_sweeps.max(1) as u64;
        let (seal, sealed) = SealTracker::new(&topology);
        if let Some(i) = &ingest {
            seal.publish(i.newest_ms());
        }
        let checkpointer = match Checkpointer::start(&path, CHECKPOINT_EVERY) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoints stay with the writer's commits");
                None
            }
        };
        let opts_retention_batch = opts.retention_batch.max(1);
        let mut worker = Worker {
            seal,
            stopping: stopping.clone(),
            path: path.clone(),
            retention,
            topology,
            grace_ms,
            ingest,
            overflow: overflow.clone(),
            metrics: metrics.clone(),
            max_pages: max_pages.clone(),
            opts,
            cursor: RetentionCursor::default(),
            last_retention: Instant::now(),
            round_pause: StdDuration::ZERO,
            retention_batch: opts_retention_batch,
        };
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || worker.run(rx))
            .map_err(|e| StoreError::InvalidQuery(format!("cannot start the writer: {e}")))?;
        Ok(Writer {
            path,
            tx,
            overflow,
            metrics,
            max_pages,
            stopping,
            sealed,
            waker: thread.thread().clone(),
            max_batch,
            thread: Some(thread),
            checkpointer,
        })
    }

    /// Queues a sweep for writing without waiting on the disk. When the channel is full the
    /// sweep waits in an overflow queue (counted in `queue_full_total` and logged).
    pub fn submit(&self, sweep: Sweep) -> Result<(), StoreError> {
        self.submit_shared(Arc::new(sweep))
    }

    /// [`Writer::submit`] of a sweep shared with other stages (the rules), without a copy.
    pub fn submit_shared(&self, sweep: Arc<Sweep>) -> Result<(), StoreError> {
        match self.tx.try_send(Msg::Sweep(sweep)) {
            Ok(()) => {
                self.metrics.queue_depth.inc();
                // The thread sleeps out its batch window rather than waking for each sweep;
                // a full batch need not wait for the window's end.
                if self.metrics.queue_depth.get() >= self.max_batch {
                    self.waker.unpark();
                }
                Ok(())
            }
            Err(TrySendError::Full(Msg::Sweep(sweep))) => {
                let n = self.metrics.queue_full_total.get();
                self.metrics.queue_full_total.inc();
                if n.is_power_of_two() || n == 0 {
                    tracing::warn!(
                        file = %self.path.display(), switch = %sweep.switch, times = n + 1,
                        "store writer queue is full; sweep held in the overflow queue"
                    );
                }
                match self.overflow.lock() {
                    Ok(mut q) => q.push_back(sweep),
                    Err(p) => p.into_inner().push_back(sweep),
                }
                self.metrics.queue_depth.inc();
                self.waker.unpark();
                Ok(())
            }
            Err(_) => Err(StoreError::WriterGone {
                path: self.path.clone(),
            }),
        }
    }

    /// Queues a sweep, waiting while the channel is full: for bulk loaders (the demo's
    /// backfill, imports) that would otherwise flood the overflow queue and its warnings.
    pub fn submit_wait(&self, sweep: Sweep) -> Result<(), StoreError> {
        self.tx
            .send(Msg::Sweep(Arc::new(sweep)))
            .map_err(|_| StoreError::WriterGone {
                path: self.path.clone(),
            })?;
        self.metrics.queue_depth.inc();
        if self.metrics.queue_depth.get() >= self.max_batch {
            self.waker.unpark();
        }
        Ok(())
    }

    /// Replaces the topology (on reload): new ports and aggregates get series, memberships
    /// and coverage weights are rebuilt. Applied in order with the sweeps.
    pub fn update_topology(&self, topology: Arc<Topology>) -> Result<(), StoreError> {
        self.tx
            .send(Msg::Topology(topology))
            .map_err(|_| StoreError::WriterGone {
                path: self.path.clone(),
            })?;
        self.waker.unpark();
        Ok(())
    }

    /// Waits until everything submitted before is committed.
    pub fn flush(&self) -> Result<(), StoreError> {
        let gone = || StoreError::WriterGone {
            path: self.path.clone(),
        };
        let (tx, rx) = mpsc::sync_channel(1);
        self.tx.send(Msg::Flush(tx)).map_err(|_| gone())?;
        self.waker.unpark();
        rx.recv().map_err(|_| gone())
    }

    /// "Sealed up to T": the end of the newest 60 s aggregate slot that is complete in the
    /// database, i.e. every switch of the topology has a committed sweep at or after it (or,
    /// for a switch that sends nothing, [`super::sealed::slot_grace`] has passed since, in
    /// the time of the newest stored sweep). `None` until something is stored. It only
    /// moves forward, after the commit, so a reader woken by it sees the slots. Aggregate
    /// rules read up to it when it changes instead of on a timer.
    pub fn sealed(&self) -> watch::Receiver<Option<Timestamp>> {
        self.sealed.clone()
    }

    /// The writer's metrics.
    pub fn metrics(&self) -> Arc<WriterMetrics> {
        self.metrics.clone()
    }

    /// Changes the database size limit in pages (`None`: no limit); it takes effect when the
    /// writer next opens its connection, i.e. on the retry after a failed write.
    pub fn set_max_pages(&self, pages: Option<u32>) {
        self.max_pages.store(pages.unwrap_or(0), Ordering::Relaxed);
    }

    /// Writes what is queued and stops the thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        // A writer stuck retrying (disk full) gives up at shutdown instead of hanging it,
        // and says how many sweeps it could not write.
        self.stopping.store(true, Ordering::Relaxed);
        let _ = self.tx.send(Msg::Shutdown);
        self.waker.unpark();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.checkpointer.take();
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Worker {
    seal: SealTracker,
    stopping: Arc<AtomicBool>,
    path: PathBuf,
    retention: Retention,
    topology: Arc<Topology>,
    grace_ms: i64,
    ingest: Option<Ingest>,
    overflow: Arc<Mutex<VecDeque<Arc<Sweep>>>>,
    metrics: Arc<WriterMetrics>,
    max_pages: Arc<AtomicU32>,
    opts: WriterOptions,
    cursor: RetentionCursor,
    last_retention: Instant,
    /// How long after `last_retention` the next step waits (longer after a round's end).
    round_pause: StdDuration,
    /// Series per retention step now: halved after a step that held the write lock too long
    /// (pages not in the cache), grown back to `opts.retention_batch` after quick ones.
    retention_batch: usize,
}

impl Worker {
    fn run(&mut self, rx: mpsc::Receiver<Msg>) {
        let mut pending: Option<Msg> = None;
        loop {
            let msg = match pending.take() {
                Some(m) => Some(m),
                None => match rx.recv_timeout(StdDuration::from_millis(500)) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => Some(Msg::Shutdown),
                },
            };
            let mut batch: Vec<Arc<Sweep>> = Vec::new();
            match msg {
                Some(Msg::Sweep(s)) => {
                    batch.push(s);
                    let deadline = Instant::now() + self.opts.batch_window;
                    while batch.len() < self.opts.max_batch_sweeps {
                        match rx.try_recv() {
                            Ok(Msg::Sweep(s)) => {
                                batch.push(s);
                                continue;
                            }
                            Ok(other) => {
                                pending = Some(other);
                                break;
                            }
                            Err(TryRecvError::Disconnected) => {
                                pending = Some(Msg::Shutdown);
                                break;
                            }
                            Err(TryRecvError::Empty) => {}
                        }
                        let left = deadline.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            break;
                        }
                        // Sleep out the window instead of waking for each sweep that comes
                        // (a fleet's sweeps trickle in all through it): the submitting side
                        // wakes the thread only for what must not wait (a flush, a new
                        // topology, shutdown, a full batch, an overflowing channel).
                        std::thread::park_timeout(left);
                    }
                    // A flush, a new topology or shutdown comes next: the open 5-minute sums
                    // held in memory go in the same transaction as the sweeps.
                    let flush_open = pending.is_some();
                    self.write(batch, flush_open);
                }
                Some(Msg::Topology(t)) => {
                    self.drain_overflow();
                    self.set_topology(t);
                }
                Some(Msg::Flows(f)) => self.write_flows(&f),
                Some(Msg::Flush(done)) => {
                    self.drain_overflow();
                    self.flush_open();
                    let _ = done.send(());
                }
                Some(Msg::Shutdown) => {
                    while let Ok(m) = rx.try_recv() {
                        match m {
                            Msg::Sweep(s) => batch.push(s),
                            Msg::Flows(f) => self.write_flows(&f),
                            Msg::Topology(t) => {
                                self.write(std::mem::take(&mut batch), true);
                                self.set_topology(t);
                            }
                            Msg::Flush(done) => {
                                self.write(std::mem::take(&mut batch), true);
                                let _ = done.send(());
                            }
                            Msg::Shutdown => {}
                        }
                    }
                    self.write(batch, true);
                    self.drain_overflow();
                    self.flush_open();
                    return;
                }
                None => {}
            }
            self.drain_overflow();
            self.retention_step();
        }
    }

    fn drain_overflow(&mut self) {
        loop {
            let batch: Vec<Arc<Sweep>> = {
                let mut q = match self.overflow.lock() {
                    Ok(q) => q,
                    Err(p) => p.into_inner(),
                };
                let n = q.len().min(self.opts.max_batch_sweeps);
                q.drain(..n).collect()
            };
            if batch.is_empty() {
                return;
            }
            self.write(batch, false);
        }
    }

    /// Writes the open 5-minute sums held in memory (a flush or shutdown between batches).
    /// When that fails, the connection is dropped like after a failed batch: reopening it
    /// (before the next write) counts the open buckets again from the samples.
    fn flush_open(&mut self) {
        let Some(ingest) = self.ingest.as_mut() else {
            return;
        };
        if let Err(e) = ingest.flush_open_now() {
            self.fail(&e, "writing open 5-minute buckets");
            self.ingest = None;
        }
    }

    /// (Re)opens the connection, retrying with backoff until it works.
    fn ensure_ingest(&mut self) {
        let mut backoff = StdDuration::from_millis(100);
        while self.ingest.is_none() && !self.stopping.load(Ordering::Relaxed) {
            let pages = self.max_pages.load(Ordering::Relaxed);
            match Ingest::open(
                &self.path,
                self.topology.clone(),
                self.grace_ms,
                (pages > 0).then_some(pages),
                self.opts.shared,
            ) {
                Ok(mut i) => {
                    warm(&mut i, &self.path, &self.opts);
                    self.ingest = Some(i);
                }
                Err(e) => {
                    self.fail(&e, "reopening the database");
                    self.pause(backoff);
                    backoff = (backoff * 2).min(self.opts.max_backoff);
                }
            }
        }
    }

    fn fail(&self, e: &StoreError, doing: &str) {
        self.metrics.write_errors_total.inc();
        self.metrics.failing.set(1);
        let msg = e.to_string();
        tracing::error!(file = %self.path.display(), error = %msg, "store write failed while {doing}; retrying");
        self.metrics.set_last_error(Some(msg));
    }

    fn set_topology(&mut self, t: Arc<Topology>) {
        self.seal.set_topology(&t);
        self.topology = t.clone();
        self.grace_ms = grace_for(&t, &self.opts);
        if let Some(i) = self.ingest.as_mut() {
            i.set_grace_ms(self.grace_ms);
        }
        let mut backoff = StdDuration::from_millis(100);
        loop {
            self.ensure_ingest();
            let Some(ingest) = self.ingest.as_mut() else {
                tracing::error!(file = %self.path.display(), "shutting down before the new topology could be stored");
                return;
            };
            match ingest.apply_topology(t.clone()) {
                Ok(()) => return,
                Err(e) => {
                    self.fail(&e, "applying a new topology");
                    self.ingest = None;
                    self.pause(backoff);
                    backoff = (backoff * 2).min(self.opts.max_backoff);
                }
            }
        }
    }

    fn write(&mut self, batch: Vec<Arc<Sweep>>, flush_open: bool) {
        if batch.is_empty() {
            return;
        }
        let mut backoff = StdDuration::from_millis(100);
        loop {
            let metrics = self.metrics.clone();
            self.ensure_ingest();
            let Some(ingest) = self.ingest.as_mut() else {
                self.abandon(&batch);
                return;
            };
            match ingest.write_batch(&batch, &metrics, flush_open) {
                Ok(n) => {
                    let m = &self.metrics;
                    record_tx(m, &self.path, ingest.last_tx(), "writing sweeps");
                    m.transactions_total.inc();
                    m.sweeps_written_total.add(batch.len() as u64);
                    m.port_samples_written_total.add(n as u64);
                    self.seal.stored(&batch);
                    self.seal.publish(ingest.newest_ms());
                    m.queue_depth.sub(batch.len() as u64);
                    if m.failing.get() == 1 {
                        tracing::info!(file = %self.path.display(), "store writes work again");
                        m.failing.set(0);
                        m.set_last_error(None);
                    }
                    return;
                }
                Err(e) => {
                    self.fail(&e, "writing sweeps");
                    // The in-memory state may be ahead of the file: start again from it.
                    self.ingest = None;
                    if self.stopping.load(Ordering::Relaxed) {
                        self.abandon(&batch);
                        return;
                    }
                    self.pause(backoff);
                    backoff = (backoff * 2).min(self.opts.max_backoff);
                }
            }
        }
    }

    /// Writes flow slots, retrying like sweeps; at shutdown with the database unwritable
    /// they are given up and logged.
    fn write_flows(&mut self, slots: &[FlowSlot]) {
        if slots.is_empty() {
            return;
        }
        let mut backoff = StdDuration::from_millis(100);
        loop {
            self.ensure_ingest();
            let metrics = self.metrics.clone();
            let Some(ingest) = self.ingest.as_mut() else {
                tracing::error!(file = %self.path.display(), slots = slots.len(), "shutting down while the database cannot be written: these flow slots are not stored");
                return;
            };
            match ingest.write_flows(slots, &metrics) {
                Ok(_) => {
                    record_tx(
                        &self.metrics,
                        &self.path,
                        ingest.last_tx(),
                        "writing flow slots",
                    );
                    let until = slots.iter().map(|s| s.slot_start + 60).max().unwrap_or(0);
                    self.seal.flows_stored(until.saturating_mul(1000));
                    self.seal.publish(ingest.newest_ms());
                    self.metrics.transactions_total.inc();
                    return;
                }
                Err(e) => {
                    self.fail(&e, "writing flow slots");
                    self.ingest = None;
                    if self.stopping.load(Ordering::Relaxed) {
                        tracing::error!(file = %self.path.display(), slots = slots.len(), "shutting down while the database cannot be written: these flow slots are not stored");
                        return;
                    }
                    self.pause(backoff);
                    backoff = (backoff * 2).min(self.opts.max_backoff);
                }
            }
        }
    }

    /// Sleeps before a retry, waking early when the writer is being shut down.
    fn pause(&self, d: StdDuration) {
        let until = Instant::now() + d;
        while !self.stopping.load(Ordering::Relaxed) {
            let now = Instant::now();
            if now >= until {
                return;
            }
            std::thread::sleep((until - now).min(StdDuration::from_millis(50)));
        }
    }

    /// At shutdown with the database unwritable: the sweeps are lost, and the log says so.
    fn abandon(&self, batch: &[Arc<Sweep>]) {
        let ports: usize = batch.iter().map(|s| s.ports.len()).sum();
        self.metrics.queue_depth.sub(batch.len() as u64);
        self.metrics.abandoned_sweeps_total.add(batch.len() as u64);
        tracing::error!(
            file = %self.path.display(), sweeps = batch.len(), port_samples = ports,
            "shutting down while the database cannot be written: these sweeps are not stored"
        );
    }

    fn retention_step(&mut self) {
        if self.last_retention.elapsed() < self.opts.retention_every.max(self.round_pause) {
            return;
        }
        if let Some(l) = &self.opts.lease
            && l.borrow().is_none()
        {
            // Another daemon holds the lease: it deletes what expired.
            return;
        }
        if self.ingest.as_ref().is_some_and(Ingest::reading_ahead) {
            // Its pages are other pages than the seal's: not while those are read in.
            return;
        }
        self.last_retention = Instant::now();
        let retention = self.retention;
        let batch = self.retention_batch;
        let path = self.path.clone();
        let Some(ingest) = self.ingest.as_mut() else {
            return;
        };
        let now_s = ingest.newest_ms().div_euclid(1000);
        if now_s == 0 {
            return;
        }
        let Some(conn) = ingest.conn() else { return };
        let started = Instant::now();
        match retention::step(conn, &path, &retention, &mut self.cursor, now_s, batch) {
            Ok(n) => {
                let took = started.elapsed();
                held_long(&path, took, "deleting expired rows");
                self.retention_batch = next_retention_batch(batch, took, self.opts.retention_batch);
                self.metrics.retention_rows_deleted_total.add(n);
                self.round_pause = if self.cursor.at_start() {
                    self.opts.retention_every * RETENTION_ROUND_PAUSE
                } else {
                    StdDuration::ZERO
                };
            }
            Err(e) => {
                self.fail(&e, "deleting expired rows");
                self.ingest = None;
            }
        }
    }
}

impl Writer {
    /// Queues customer and product line slots measured by flows (see [`FlowSink`]); waits while the channel
    /// is full (the collector's flush task, never a packet path).
    pub fn submit_flows(&self, slots: Vec<FlowSlot>) -> Result<(), StoreError> {
        if slots.is_empty() {
            return Ok(());
        }
        self.tx
            .send(Msg::Flows(slots))
            .map_err(|_| StoreError::WriterGone {
                path: self.path.clone(),
            })?;
        self.waker.unpark();
        Ok(())
    }
}

impl super::traits::StoreWriter for Writer {
    fn metrics(&self) -> Arc<WriterMetrics> {
        Writer::metrics(self)
    }
}

impl FlowSink for Writer {
    fn submit_flows(&self, slots: Vec<FlowSlot>) -> Result<(), StoreError> {
        Writer::submit_flows(self, slots)
    }
}

impl SweepSink for Writer {
    fn submit(&self, sweep: Sweep) -> Result<(), StoreError> {
        Writer::submit(self, sweep)
    }
    fn submit_shared(&self, sweep: Arc<Sweep>) -> Result<(), StoreError> {
        Writer::submit_shared(self, sweep)
    }
    fn update_topology(&self, topology: Arc<Topology>) -> Result<(), StoreError> {
        Writer::update_topology(self, topology)
    }
    fn flush(&self) -> Result<(), StoreError> {
        Writer::flush(self)
    }
    fn sealed(&self) -> watch::Receiver<Option<Timestamp>> {
        Writer::sealed(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_retention_step_halves_the_next_and_quick_ones_grow_it_back() {
        let ms = StdDuration::from_millis;
        // Cold pages: 200 series took 3 s; halved down to one series, never to none.
        assert_eq!(next_retention_batch(200, ms(3_000), 200), 100);
        assert_eq!(next_retention_batch(1, ms(3_000), 200), 1);
        // Between a quarter of the target and the target: kept.
        assert_eq!(next_retention_batch(50, ms(300), 200), 50);
        // Quick: doubled, up to the configured size.
        assert_eq!(next_retention_batch(50, ms(20), 200), 100);
        assert_eq!(next_retention_batch(150, ms(20), 200), 200);
        assert_eq!(next_retention_batch(0, ms(20), 0), 1);
    }
}
