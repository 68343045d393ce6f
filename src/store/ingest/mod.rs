//! What the writer does with a batch of sweeps, in one transaction: raw port samples (gaps
//! with their reason), speed changes, 60 s aggregate slots with coverage, 5-minute rollups,
//! and sealing (5-minute buckets that can no longer change are added into the 1-hour and
//! 1-day rollups, aggregate slot peaks become the 5-minute maxima, port weights are updated).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, Transaction, params, params_from_iter};

mod flows;
mod open;
mod seal;
mod shared;
mod topology;
mod warm;

use super::SLOT_SECS;
use super::buckets::{
    self, Acc, Coarse, INSERT_SAMPLE, INSERT_SAMPLE_BY_SERIES, ONE_ROW, ONE_ROW_BY_SERIES,
    ROWS_PER_INSERT, SampleRow, Table, insert_rows, stream_buckets, write_5m, write_buckets,
};
use super::error::{SqlContext, StoreError};
use super::flag;
use super::metrics::WriterMetrics;
use super::schema;
use super::split::{share, split};
use crate::config::{PortKey, Topology};
use crate::hash::FastMap;
use crate::poll::{PortOutcome, PortResult, Sweep};

const SLOT_MS: i64 = SLOT_SECS * 1000;
const M5_MS: i64 = 300_000;
/// How often the samples gathered in `port_sample_recent` move into `port_sample_by_series`
/// (newest sweep time, ms): each port's page is then written once for the sweeps of this
/// span (30 at a 10 s interval) instead of once per sweep.
const MOVE_SAMPLES_MS: i64 = 300_000;
/// A batch with this many sweeps of one switch (a backlog after an outage, a backfill) is
/// written straight into the series-first tables: sorted by (series, time), its rows already
/// share each port's pages.
const DIRECT_SWEEPS_PER_SWITCH: u32 = 4;
/// The newest seconds stay in `port_sample_recent` when the rest moves.
const RECENT_KEEP_SECS: i64 = 10;
/// Smoothing of a port's usual traffic (its coverage weight), per sealed 5-minute bucket.
const WEIGHT_ALPHA: f64 = 0.3;

/// Creates a series or refreshes its labels; returns its id, weight and capacity.
const UPSERT_SERIES: &str = "INSERT INTO series(kind, name, site, switch, port, product_line, \
     customer, role, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
     ON CONFLICT(kind, name) DO UPDATE SET site = excluded.site, switch = excluded.switch, \
     port = excluded.port, product_line = excluded.product_line, \
     customer = excluded.customer, role = excluded.role RETURNING id, weight, capacity_bps";

/// One port known to the writer.
struct PortState {
    series_id: i64,
    /// 1 + the port's usual octets per second (in + out): its share of an aggregate's coverage.
    weight: f64,
    /// Indexes into `Ingest::aggs` of the aggregates the port belongs to.
    members: Vec<usize>,
    /// Last speed written, to store speeds only when they change.
    speed_bps: Option<u64>,
    /// Newest sample second written by this writer: a newer sample cannot collide with a
    /// stored one and goes into a multi-row INSERT; others are checked one by one.
    last_ts: Option<i64>,
    /// The port's open 5-minute sums not written yet (see [`open`]).
    open: open::OpenDelta,
}

/// The ports known to the writer, found by switch and port name without allocating.
#[derive(Default)]
struct PortMap {
    states: Vec<PortState>,
    index: FastMap<Arc<str>, SwitchPorts>,
}

/// One switch's ports in a [`PortMap`].
#[derive(Default)]
struct SwitchPorts {
    by_name: FastMap<Arc<str>, usize>,
    /// The ports of the switch's last sweep that found them all, in its order, with their
    /// indexes: a switch's sweeps list the same ports in the same order (the same shared
    /// names), so the next sweep is matched name by name, mostly by pointer, instead of
    /// hashing each name and chasing its key.
    last: Vec<(Arc<str>, usize)>,
}

impl SwitchPorts {
    /// True when `ports` are, in order, the ports of the last sweep that found them all.
    fn same_as_last(&self, ports: &[PortResult]) -> bool {
        self.last.len() == ports.len()
            && ports
                .iter()
                .zip(&self.last)
                .all(|(p, (name, _))| Arc::ptr_eq(&p.port, name) || p.port == *name)
    }

    /// Remembers the order of a sweep whose ports were all found.
    fn remember(&mut self, ports: &[PortResult], found: &[Option<usize>]) {
        self.last.clear();
        for (p, i) in ports.iter().zip(found) {
            let Some(i) = *i else {
                self.last = Vec::new();
                return;
            };
            self.last.push((Arc::clone(&p.port), i));
        }
        self.last.shrink_to_fit();
    }
}

impl PortMap {
    fn insert(&mut self, key: PortKey, state: PortState) {
        let sw = self.index.entry(key.switch).or_default();
        match sw.by_name.get(&key.port) {
            Some(&i) => self.states[i] = state,
            None => {
                sw.by_name.insert(key.port, self.states.len());
                self.states.push(state);
            }
        }
    }
    fn idx(&self, switch: &str, port: &str) -> Option<usize> {
        self.index.get(switch)?.by_name.get(port).copied()
    }
    /// The index of each port of a sweep of `switch` (`None` for a port the map lacks) into
    /// `out`: one switch look-up per sweep, and the ports matched against the switch's last
    /// sweep before any is hashed.
    fn resolve(&mut self, switch: &str, ports: &[PortResult], out: &mut Vec<Option<usize>>) {
        out.clear();
        let Some(sw) = self.index.get_mut(switch) else {
            out.resize(ports.len(), None);
            return;
        };
        if sw.same_as_last(ports) {
            out.extend(sw.last.iter().map(|&(_, i)| Some(i)));
            return;
        }
        out.extend(ports.iter().map(|p| sw.by_name.get(&*p.port).copied()));
        sw.remember(ports, out);
    }
    fn values(&self) -> impl Iterator<Item = &PortState> {
        self.states.iter()
    }
}

/// One aggregate (product line, site, switch, customer) known to the writer.
struct AggState {
    series_id: i64,
    /// Series ids of its member ports.
    ports: Vec<i64>,
    /// Sum of the member ports' weights.
    total_weight: f64,
    /// Sum of the member ports' speeds, as last written.
    capacity_bps: Option<u64>,
}

/// The writer's connection and what it keeps in memory between batches.
pub(crate) struct Ingest {
    path: PathBuf,
    /// Taken out while a batch is written, so the transaction and the state can be borrowed
    /// together.
    conn: Option<Connection>,
    topology: Arc<Topology>,
    ports: PortMap,
    aggs: Vec<AggState>,
    /// How long after a bucket's end samples may still arrive for it.
    grace_ms: i64,
    /// Newest sweep time written (ms); the store's notion of "now" for sealing and retention.
    newest_ms: i64,
    /// The newest stored second when the store was opened (its `newest_ms` mark, written in
    /// the transaction of every batch), `None` if the store has no mark: every sample stored
    /// is at or before it.
    stored_newest_s: Option<i64>,
    /// Slots below this index are sealed (their peak went into the 5-minute maxima).
    sealed_slot: Option<i64>,
    /// 5-minute buckets below this index are sealed (added into 1 h and 1 d).
    sealed_5m: Option<i64>,
    /// Other daemons write this store too: samples claim their poll slots ([`shared`]).
    shared: bool,
    /// The poll grids of the topology's switches, while shared.
    grids: FastMap<String, shared::Grid>,
    /// When old slot claims were last deleted (newest sweep time, ms).
    claims_pruned_ms: i64,
    /// When recent samples last moved into the series' pages (newest sweep time, ms).
    moved_ms: i64,
    /// Some port holds open 5-minute sums not written yet ([`open`]).
    open_held: bool,
    /// When the held open sums were last written (newest sweep time, ms).
    open_flushed_ms: i64,
    /// The pages of the first seal being read ahead after a start ([`warm`]): until it is
    /// done, the 5-minute seal and the move of recent samples wait.
    warming: Option<warm::Warming>,
    /// How long the last write transaction waited for the write lock (another connection
    /// held it), and then held it: the writer's log tells the two apart.
    last_tx: TxTimes,
}

/// How long a write transaction waited for the store's write lock, and how long it held it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct TxTimes {
    /// From `BEGIN IMMEDIATE` to the lock (another writer's transaction, an import's merge).
    pub(crate) waited: std::time::Duration,
    /// From the lock to the end of the commit (or of the failure).
    pub(crate) held: std::time::Duration,
}

fn ts_ms(t: jiff::Timestamp) -> i64 {
    t.as_millisecond()
}

impl Ingest {
    /// Opens the writer's connection and loads its state (series, weights, seal marks).
    /// `shared`: other daemons write the same store (see [`shared`]). A writer of its own
    /// counts the ports' open 5-minute buckets again from their samples (see [`open`]).
    pub(crate) fn open(
        path: &Path,
        topology: Arc<Topology>,
        grace_ms: i64,
        max_pages: Option<u32>,
        shared: bool,
    ) -> Result<Ingest, StoreError> {
        let conn = schema::open_for_write(path)?;
        if let Some(n) = max_pages {
            conn.pragma_update(None, "max_page_count", n)
                .ctx(path, "setting the page limit")?;
        }
        let mut ing = Ingest {
            path: path.to_path_buf(),
            conn: Some(conn),
            topology: Arc::new(Topology::default()),
            ports: PortMap::default(),
            aggs: Vec::new(),
            grace_ms,
            newest_ms: 0,
            stored_newest_s: None,
            sealed_slot: None,
            sealed_5m: None,
            shared: false,
            grids: FastMap::default(),
            claims_pruned_ms: 0,
            moved_ms: 0,
            open_held: false,
            open_flushed_ms: 0,
            warming: None,
            last_tx: TxTimes::default(),
        };
        ing.load_meta()?;
        ing.apply_topology(topology)?;
        ing.set_shared(shared);
        if !shared {
            ing.recount_open()?;
        }
        Ok(ing)
    }

    /// Starts reading the pages the first 5-minute seal and sample move will write into the
    /// OS cache on a thread of its own ([`warm`]); they wait for it, at most `wait`.
    pub(crate) fn start_warming(&mut self, wait: std::time::Duration) {
        let series = self
            .ports
            .states
            .iter()
            .map(|p| p.series_id)
            .chain(self.aggs.iter().map(|a| a.series_id))
            .collect();
        self.warming = Some(warm::Warming::start(&self.path, series, wait));
    }

    /// Whether the pages of the first seal are still being read ahead, and the seal waits.
    pub(crate) fn reading_ahead(&self) -> bool {
        self.warming
            .as_ref()
            .is_some_and(|w| !w.done() && !w.expired())
    }

    /// Whether the 5-minute seal and the sample move may run: no warming, or it is done, or
    /// it took longer than they wait.
    fn warm(&mut self) -> bool {
        let Some(w) = &self.warming else {
            return true;
        };
        if w.done() {
            self.warming = None;
            return true;
        }
        if w.expired() {
            tracing::warn!(
                file = %self.path.display(),
                "the store's pages are still being read ahead; sealing without waiting longer"
            );
            self.warming = None;
            return true;
        }
        false
    }

    /// Changes the grace period (the topology's longest poll interval changed).
    pub(crate) fn set_grace_ms(&mut self, grace_ms: i64) {
        self.grace_ms = grace_ms;
    }

    /// The newest sweep time written, in ms since the epoch (0 before the first).
    pub(crate) fn newest_ms(&self) -> i64 {
        self.newest_ms
    }

    /// The connection (for retention between batches).
    pub(crate) fn conn(&mut self) -> Option<&mut Connection> {
        self.conn.as_mut()
    }

    fn take_conn(&mut self) -> Result<Connection, StoreError> {
        self.conn.take().ok_or_else(|| StoreError::WriterGone {
            path: self.path.clone(),
        })
    }

    fn load_meta(&mut self) -> Result<(), StoreError> {
        let path = self.path.clone();
        let get = |conn: &Connection, key: &str| -> Result<Option<i64>, StoreError> {
            let v: Option<String> = conn
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()
                .ctx(&path, "reading the store's state")?;
            Ok(v.and_then(|s| s.parse().ok()))
        };
        let conn = self.take_conn()?;
        let res = (|| {
            self.sealed_slot = get(&conn, "sealed_slot")?;
            self.sealed_5m = get(&conn, "sealed_5m")?;
            let newest = get(&conn, "newest_ms")?;
            self.stored_newest_s = newest.map(|ms| ms.div_euclid(1000));
            self.newest_ms = newest.unwrap_or(0);
            self.moved_ms = self.newest_ms;
            self.open_flushed_ms = self.newest_ms;
            Ok(())
        })();
        self.conn = Some(conn);
        res
    }

    /// Writes a batch of sweeps, the aggregates and rollups they feed, and any sealing that
    /// became due, in one transaction; with `flush_open`, also the open 5-minute sums held
    /// in memory (a flush or shutdown follows). On error nothing of the batch is written and
    /// the caller must reopen (in-memory state may be ahead of the file).
    pub(crate) fn write_batch(
        &mut self,
        sweeps: &[Arc<Sweep>],
        metrics: &WriterMetrics,
        flush_open: bool,
    ) -> Result<usize, StoreError> {
        let (written, release) =
            self.with_write_tx("starting a write", "committing a write", |me, tx, path| {
                me.write_batch_in(tx, path, sweeps, metrics, flush_open)
            })?;
        if release {
            // A 5-minute seal and the move are the daemon's largest passing allocations
            // (statements' and the sort's buffers, the page cache's churn); what they leave
            // free goes back to the system (see `crate::mem`).
            crate::mem::release_free();
        }
        Ok(written)
    }

    /// Runs `f` in a write transaction on the writer's connection and commits it; the
    /// connection is put back whether or not it succeeded (on error nothing of `f` is
    /// written). IMMEDIATE: the write lock is taken (waiting out another writer, such as an
    /// import's merge) before anything is read, so a commit by another connection between a
    /// read and the first write cannot fail it with "database is locked". `begin` and
    /// `commit` say what was being done, for the error.
    pub(super) fn with_write_tx<T>(
        &mut self,
        begin: &'static str,
        commit: &'static str,
        f: impl FnOnce(&mut Self, &Transaction<'_>, &Path) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let path = self.path.clone();
        let mut conn = self.take_conn()?;
        let asked = std::time::Instant::now();
        let mut locked = None;
        let res = (|| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .ctx(&path, begin)?;
            locked = Some(std::time::Instant::now());
            let out = f(self, &tx, &path)?;
            tx.commit().ctx(&path, commit)?;
            Ok(out)
        })();
        self.last_tx = match locked {
            Some(at) => TxTimes {
                waited: at - asked,
                held: at.elapsed(),
            },
            None => TxTimes {
                waited: asked.elapsed(),
                held: std::time::Duration::ZERO,
            },
        };
        self.conn = Some(conn);
        res
    }

    /// How long the last write transaction waited for the write lock and held it.
    pub(crate) fn last_tx(&self) -> TxTimes {
        self.last_tx
    }

    /// The body of [`Ingest::write_batch`] in its transaction: the rows written, and whether
    /// it sealed a 5-minute bucket or moved samples.
    fn write_batch_in(
        &mut self,
        tx: &Transaction<'_>,
        path: &Path,
        sweeps: &[Arc<Sweep>],
        metrics: &WriterMetrics,
        flush_open: bool,
    ) -> Result<(usize, bool), StoreError> {
        let path = path.to_path_buf();
        if self.shared {
            self.shared_begin(tx)?;
        }
        // Bucket sums of the batch (written sorted by key, like the samples below).
        let mut slots: FastMap<(i64, i64), Acc> = FastMap::default();
        let mut m5: FastMap<(i64, i64), Acc> = FastMap::default();
        // A port's own 5-minute pieces arrive in key order (the work is sorted): runs are
        // merged here without hashing.
        let mut port_m5: Vec<((i64, i64), Acc)> = Vec::new();
        // A port's open bucket is summed in memory ([`open`]) unless other daemons add into
        // the same rows; what a sample for another bucket pushes out is written here.
        let hold = !self.shared;
        let sealed_5m_now = self.sealed_5m.unwrap_or(i64::MIN);
        let mut evicted: Vec<(i64, i64, Acc)> = Vec::new();
        let mut held_any = false;
        let mut ps: Vec<(i64, i64, Acc)> = Vec::with_capacity(4);
        let mut p5: Vec<(i64, i64, Acc)> = Vec::with_capacity(4);
        let mut written = 0usize;
        let mut min_start_ms = i64::MAX;
        // Series ids first (creating unlisted ports), then the samples in (series, time)
        // order: neighbouring rows share B-tree pages, which makes large batches cheap.
        let mut work: Vec<(i64, i64, usize, usize, usize)> = Vec::new();
        let mut found: Vec<Option<usize>> = Vec::new();
        for (si, sweep) in sweeps.iter().enumerate() {
            self.ports.resolve(&sweep.switch, &sweep.ports, &mut found);
            for ((pi, pr), known) in sweep.ports.iter().enumerate().zip(&found) {
                let idx = match *known {
                    Some(i) => i,
                    None => {
                        self.adhoc_port(tx, &sweep.switch, &pr.port)?;
                        match self.ports.idx(&sweep.switch, &pr.port) {
                            Some(i) => i,
                            None => continue,
                        }
                    }
                };
                let sid = self.ports.states[idx].series_id;
                work.push((sid, sweep.time.as_millisecond(), si, pi, idx));
            }
            self.newest_ms = self.newest_ms.max(ts_ms(sweep.time));
        }
        work.sort_unstable();
        let mut per_switch: FastMap<&str, u32> = FastMap::default();
        for s in sweeps {
            *per_switch.entry(&*s.switch).or_default() += 1;
        }
        let direct = per_switch.values().any(|&n| n >= DIRECT_SWEEPS_PER_SWITCH);
        let mut pending: Vec<SampleRow> = Vec::with_capacity(ROWS_PER_INSERT);
        for (_, _, si, pi, idx) in work {
            let sweep = &sweeps[si];
            let pr = &sweep.ports[pi];
            let end_ms = ts_ms(sweep.time);
            let ts = sweep.time.as_second();
            {
                let Some(port) = self.ports.states.get_mut(idx) else {
                    continue;
                };
                let sid = port.series_id;
                let (delta, oper, fl, speed) = match &pr.outcome {
                    PortOutcome::Reading(r) => (
                        r.delta.filter(|_| r.quality.has_delta()),
                        Some(r.oper_status.to_mib() as i64),
                        flag::of_quality(r.quality),
                        Some(r.speed_bps),
                    ),
                    PortOutcome::Unknown(reason) => (None, None, flag::of_unknown(*reason), None),
                };
                let row: SampleRow = [
                    Some(ts.div_euclid(schema::RECENT_CHUNK_SECS)),
                    Some(sid),
                    Some(ts),
                    delta.map(|d| d.dt_ms as i64),
                    delta.map(|d| d.in_octets as i64),
                    delta.map(|d| d.out_octets as i64),
                    delta.and_then(|d| d.in_packets).map(|v| v as i64),
                    delta.and_then(|d| d.out_packets).map(|v| v as i64),
                    oper,
                    Some(fl),
                ];
                let grid = self.grids.get(&*sweep.switch).copied();
                if let Some(grid) = grid {
                    // Another daemon may have stored this poll slot (an HA pair).
                    let dt_ms = delta.map(|d| d.dt_ms as i64);
                    if shared::claim(tx, &path, sid, grid, end_ms, dt_ms, ts)?
                        == shared::Claim::Duplicate
                    {
                        metrics.duplicate_samples_total.inc();
                        tracing::debug!(
                            switch = %sweep.switch, port = %pr.port, ts,
                            "poll slot already stored by another daemon; sample skipped"
                        );
                        continue;
                    }
                }
                if port.last_ts.is_none() {
                    // First sight of this port in this process: what the store holds from
                    // this second on (a backfill into a filled store, a clock stepped back)
                    // makes those seconds not fresh, so each is checked before it is written.
                    // A sweep newer than the store's newest mark (a restart, the usual case)
                    // needs no look-up: on a 28-day store with cold pages, 9,600 of them held
                    // the first batch's write lock for over a minute while sweeps queued.
                    port.last_ts = match self.stored_newest_s {
                        Some(newest) if ts > newest => Some(newest),
                        _ => newest_from(tx, &path, sid, ts)?,
                    };
                }
                let fresh = grid.is_none() && port.last_ts.is_some_and(|last| ts > last);
                port.last_ts = Some(port.last_ts.map_or(ts, |last| last.max(ts)));
                if fresh {
                    pending.push(row);
                    if pending.len() == ROWS_PER_INSERT {
                        insert_rows(tx, &path, &mut pending, direct)?;
                    }
                } else {
                    insert_rows(tx, &path, &mut pending, direct)?;
                    // Stored already, either in the series' pages or still recent.
                    let stored = tx
                        .prepare_cached(
                            "SELECT 1 FROM port_sample_by_series WHERE series_id = ?1 AND ts = ?2 \
                             UNION ALL SELECT 1 FROM port_sample_recent \
                             WHERE chunk = ?3 AND series_id = ?1 AND ts = ?2",
                        )
                        .and_then(|mut s| {
                            s.exists(params![sid, ts, ts.div_euclid(schema::RECENT_CHUNK_SECS)])
                        })
                        .ctx(&path, "writing a port sample")?;
                    let inserted = match (stored, direct) {
                        (true, _) => 0,
                        (false, false) => tx
                            .prepare_cached(&format!("INSERT OR IGNORE {INSERT_SAMPLE} {ONE_ROW}"))
                            .and_then(|mut s| s.execute(params_from_iter(row.iter())))
                            .ctx(&path, "writing a port sample")?,
                        (false, true) => tx
                            .prepare_cached(&format!(
                                "INSERT OR IGNORE {INSERT_SAMPLE_BY_SERIES} {ONE_ROW_BY_SERIES}"
                            ))
                            .and_then(|mut s| s.execute(params_from_iter(&row[1..])))
                            .ctx(&path, "writing a port sample")?,
                    };
                    if inserted == 0 {
                        metrics.duplicate_samples_total.inc();
                        tracing::warn!(
                            file = %path.display(), switch = %sweep.switch, port = %pr.port, ts,
                            "a sample for this port and second is already stored; ignored"
                        );
                        continue;
                    }
                }
                written += 1;
                if let Some(speed) = speed
                    && port.speed_bps != Some(speed)
                {
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO port_speed(series_id, ts, speed_bps) \
                         VALUES (?1, ?2, ?3)",
                    )
                    .and_then(|mut s| s.execute(params![sid, ts, speed as i64]))
                    .ctx(&path, "writing a port speed")?;
                    tx.prepare_cached("UPDATE series SET capacity_bps = ?2 WHERE id = ?1")
                        .and_then(|mut s| s.execute(params![sid, speed as i64]))
                        .ctx(&path, "writing a port speed")?;
                    port.speed_bps = Some(speed);
                }
                let Some(d) = delta else { continue };
                let dt = d.dt_ms as i64;
                if dt <= 0 {
                    continue;
                }
                let start_ms = end_ms - dt;
                min_start_ms = min_start_ms.min(start_ms).min(ts * 1000 - dt);
                // The port's own buckets, split on the second the sample is stored with.
                open::port_pieces(ts, dt, d.in_octets, d.out_octets, |b, a| {
                    if hold && b >= sealed_5m_now {
                        held_any = true;
                        if let Some((old, sums)) = port.open.add(b, &a) {
                            evicted.push((sid, old, sums));
                        }
                        return;
                    }
                    match port_m5.last_mut() {
                        Some((k, acc)) if *k == (sid, b) => acc.add(&a),
                        _ => port_m5.push(((sid, b), a)),
                    }
                });
                if port.members.is_empty() {
                    continue;
                }
                let kbps = |o: u64| (o as u128 * 8 / d.dt_ms as u128) as u64; // bits/ms = kbit/s
                let (in_p, out_p) = (d.in_packets.unwrap_or(0), d.out_packets.unwrap_or(0));
                let pieces = |len_ms: i64, out: &mut Vec<(i64, i64, Acc)>| {
                    out.clear();
                    let mut before = 0;
                    out.extend(split(start_ms, end_ms, len_ms).map(|(b, ov)| {
                        let a = Acc {
                            in_octets: share(d.in_octets, before, ov, dt),
                            out_octets: share(d.out_octets, before, ov, dt),
                            in_packets: share(in_p, before, ov, dt),
                            out_packets: share(out_p, before, ov, dt),
                            covered_ms: ov as f64,
                            max_in_kbps: kbps(d.in_octets),
                            max_out_kbps: kbps(d.out_octets),
                        };
                        before += ov;
                        (b, ov, a)
                    }));
                };
                pieces(M5_MS, &mut p5);
                pieces(SLOT_MS, &mut ps);
                for &ai in &port.members {
                    let agg = &self.aggs[ai];
                    if agg.total_weight <= 0.0 {
                        continue;
                    }
                    let frac = port.weight / agg.total_weight;
                    for (s, ov, a) in &ps {
                        let mut a = *a;
                        a.covered_ms = *ov as f64 * frac;
                        a.max_in_kbps = 0;
                        a.max_out_kbps = 0;
                        slots.entry((agg.series_id, *s)).or_default().add(&a);
                    }
                    for (b, ov, a) in &p5 {
                        let mut a = *a;
                        a.covered_ms = *ov as f64 * frac;
                        a.max_in_kbps = 0;
                        a.max_out_kbps = 0;
                        m5.entry((agg.series_id, *b)).or_default().add(&a);
                    }
                }
            }
        }
        insert_rows(tx, &path, &mut pending, direct)?;
        if self.sealed_slot.is_none() && min_start_ms != i64::MAX {
            self.sealed_slot = Some(min_start_ms.div_euclid(SLOT_MS));
            self.sealed_5m = Some(min_start_ms.div_euclid(M5_MS));
        }
        write_buckets(tx, &path, Table::Slot, &slots)?;
        let sealed_5m = self.sealed_5m.unwrap_or(i64::MIN);
        let mut coarse = Coarse::default();
        // A port's pieces came in time order, so this is nearly sorted already; a reading
        // that spans a gap may reach back into buckets before its predecessor's.
        port_m5.sort_unstable_by_key(|(k, _)| *k);
        port_m5.dedup_by(|(k, a), (kept, sum)| {
            let same = k == kept;
            if same {
                sum.add(a);
            }
            same
        });
        // Late: a bucket already sealed goes straight into 1 h and 1 d. The ports' buckets
        // (one entry each) and the aggregates' are of different series.
        let buckets = m5.iter().chain(port_m5.iter().map(|(k, a)| (k, a)));
        let late = write_5m(tx, &path, buckets, sealed_5m, &mut coarse, direct)?;
        metrics.late_samples_total.add(late);
        coarse.write(tx, &path)?;
        evicted.sort_unstable_by_key(|(sid, b, _)| (*b, *sid));
        stream_buckets(tx, &path, Table::Recent5m, evicted.into_iter())?;
        self.open_held |= held_any;
        let sealed_before = self.sealed_5m;
        self.seal(tx)?;
        let sealed = self.sealed_5m != sealed_before;
        if hold && (flush_open || self.newest_ms - self.open_flushed_ms >= open::OPEN_FLUSH_MS) {
            self.flush_open(tx, &path)?;
        }
        // Every few minutes, the samples written since the last move go into the series'
        // own pages (see `schema::MIGRATION_8`).
        let moved = self.newest_ms - self.moved_ms >= MOVE_SAMPLES_MS && self.warm();
        if moved {
            let chunk = (self.newest_ms.div_euclid(1000) - RECENT_KEEP_SECS)
                .div_euclid(schema::RECENT_CHUNK_SECS);
            buckets::move_samples(tx, &path, chunk)?;
            self.moved_ms = self.newest_ms;
        }
        tx.prepare_cached("INSERT OR REPLACE INTO meta(key, value) VALUES ('newest_ms', ?1)")
            .and_then(|mut s| s.execute([self.newest_ms.to_string()]))
            .ctx(&path, "writing the store's state")?;
        // What this batch stored is at or before the mark too (a port seen again after a
        // reload rebuilt its state). A store opened without a mark keeps looking up.
        if let Some(n) = &mut self.stored_newest_s {
            *n = (*n).max(self.newest_ms.div_euclid(1000));
        }
        Ok((written, moved || sealed))
    }
}

/// The newest second stored for series `sid` in either half of the samples, looking in the
/// recent half only from `ts`'s chunk on (an index seek and a short range, whatever the
/// history); `None` when neither holds anything.
fn newest_from(
    tx: &rusqlite::Transaction<'_>,
    path: &std::path::Path,
    sid: i64,
    ts: i64,
) -> Result<Option<i64>, StoreError> {
    tx.prepare_cached(
        "SELECT max(t) FROM (SELECT max(ts) AS t FROM port_sample_by_series WHERE series_id = ?1 \
         UNION ALL SELECT max(ts) FROM port_sample_recent WHERE chunk >= ?2 AND series_id = ?1)",
    )
    .and_then(|mut s| {
        s.query_row(
            params![sid, ts.div_euclid(schema::RECENT_CHUNK_SECS)],
            |r| r.get::<_, Option<i64>>(0),
        )
    })
    .ctx(path, "reading a port's newest sample")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_write_tells_the_wait_for_the_lock_from_the_time_it_held_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bandwatch.db");
        let mut ing = Ingest::open(&path, Arc::new(Topology::default()), 0, None, false).unwrap();
        let write = |ing: &mut Ingest| {
            ing.with_write_tx("starting", "committing", |_, tx, path| {
                tx.execute(
                    "INSERT OR REPLACE INTO meta(key, value) VALUES ('test', '1')",
                    [],
                )
                .ctx(path, "writing")?;
                Ok(())
            })
            .unwrap()
        };
        write(&mut ing);
        assert!(ing.last_tx().waited < Duration::from_millis(500));

        // Another connection (an import's merge, a sqlite3 shell) holds the write lock for
        // 1.5 s; the write waits for it, then holds the lock for a moment only.
        let other = rusqlite::Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let holder = std::thread::spawn(move || {
            tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(1500));
            other.execute_batch("COMMIT").unwrap();
        });
        rx.recv().unwrap();
        let t0 = Instant::now();
        write(&mut ing);
        let took = t0.elapsed();
        holder.join().unwrap();
        let t = ing.last_tx();
        assert!(took >= Duration::from_millis(1400), "{took:?}");
        assert!(t.waited >= Duration::from_millis(1300), "{t:?}");
        assert!(t.held < Duration::from_millis(1000), "{t:?}");
        assert!(
            t.waited + t.held <= took + Duration::from_millis(5),
            "{t:?} {took:?}"
        );
    }
}
