//! What the writer does with a batch of sweeps, in one transaction: raw port samples (gaps
//! with their reason), speed changes, 60 s aggregate slots with coverage, 5-minute rollups,
//! and sealing (5-minute buckets that can no longer change are added into the 1-hour and
//! 1-day rollups, aggregate slot peaks become the 5-minute maxima, port weights are updated).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, Transaction, params, params_from_iter};

use super::SLOT_SECS;
use super::entity::{EntityKind, Tier};
use super::error::{SqlContext, StoreError};
use super::flag;
use super::hash::FastMap;
use super::metrics::WriterMetrics;
use super::schema;
use super::split::{share, split};
use crate::config::{PortKey, Topology};
use crate::poll::{PortOutcome, Sweep};

const SLOT_MS: i64 = SLOT_SECS * 1000;
const M5_MS: i64 = 300_000;
/// Smoothing of a port's usual traffic (its coverage weight), per sealed 5-minute bucket.
const WEIGHT_ALPHA: f64 = 0.3;
/// Coverage counts as complete when less than 1/1000 of the bucket is missing (clock jitter
/// between `dt` and response times).
const TOLERANCE_DIVISOR: i64 = 1000;

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
}

/// The ports known to the writer, found by switch and port name without allocating.
#[derive(Default)]
struct PortMap {
    states: Vec<PortState>,
    index: FastMap<String, FastMap<String, usize>>,
}

impl PortMap {
    fn insert(&mut self, key: PortKey, state: PortState) {
        let ports = self.index.entry(key.switch).or_default();
        match ports.get(&key.port) {
            Some(&i) => self.states[i] = state,
            None => {
                ports.insert(key.port, self.states.len());
                self.states.push(state);
            }
        }
    }
    fn idx(&self, switch: &str, port: &str) -> Option<usize> {
        self.index.get(switch)?.get(port).copied()
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

/// Sums for one bucket of one series, built up over a batch and written with one UPSERT.
#[derive(Default, Clone, Copy)]
struct Acc {
    in_octets: u64,
    out_octets: u64,
    in_packets: u64,
    out_packets: u64,
    covered_ms: f64,
    max_in_kbps: u64,
    max_out_kbps: u64,
}

impl Acc {
    fn add(&mut self, o: &Acc) {
        self.in_octets += o.in_octets;
        self.out_octets += o.out_octets;
        self.in_packets += o.in_packets;
        self.out_packets += o.out_packets;
        self.covered_ms += o.covered_ms;
        self.max_in_kbps = self.max_in_kbps.max(o.max_in_kbps);
        self.max_out_kbps = self.max_out_kbps.max(o.max_out_kbps);
    }
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
    /// Slots below this index are sealed (their peak went into the 5-minute maxima).
    sealed_slot: Option<i64>,
    /// 5-minute buckets below this index are sealed (added into 1 h and 1 d).
    sealed_5m: Option<i64>,
}

fn ts_ms(t: jiff::Timestamp) -> i64 {
    t.as_millisecond()
}

impl Ingest {
    /// Opens the writer's connection and loads its state (series, weights, seal marks).
    pub(crate) fn open(
        path: &Path,
        topology: Arc<Topology>,
        grace_ms: i64,
        max_pages: Option<u32>,
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
            sealed_slot: None,
            sealed_5m: None,
        };
        ing.load_meta()?;
        ing.apply_topology(topology)?;
        Ok(ing)
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
            self.newest_ms = get(&conn, "newest_ms")?.unwrap_or(0);
            Ok(())
        })();
        self.conn = Some(conn);
        res
    }

    /// Creates or relabels the series of every port and aggregate in the topology and
    /// rebuilds memberships. Series of entities no longer configured are kept (history).
    pub(crate) fn apply_topology(&mut self, topology: Arc<Topology>) -> Result<(), StoreError> {
        let mut conn = self.take_conn()?;
        let res = self.apply_topology_in(&mut conn, topology);
        self.conn = Some(conn);
        res
    }

    fn apply_topology_in(
        &mut self,
        conn: &mut Connection,
        topology: Arc<Topology>,
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let tx = conn
            .transaction()
            .ctx(&path, "starting a topology update")?;
        let now = jiff::Timestamp::now().as_second();
        let mut ports = PortMap::default();
        let mut aggs: Vec<AggState> = Vec::new();
        let mut agg_index: HashMap<(EntityKind, String), usize> = HashMap::new();
        {
            let mut upsert = tx
                .prepare(UPSERT_SERIES)
                .ctx(&path, "preparing the series upsert")?;
            let mut port_upsert = tx
                .prepare(UPSERT_SERIES)
                .ctx(&path, "preparing the series upsert")?;
            let mut agg = |kind: EntityKind,
                           name: &str,
                           site: Option<&str>,
                           product_line: Option<&str>,
                           customer: Option<&str>|
             -> Result<usize, StoreError> {
                if let Some(i) = agg_index.get(&(kind, name.to_string())) {
                    return Ok(*i);
                }
                let switch = (kind == EntityKind::Switch).then_some(name);
                let (id, _w, cap): (i64, f64, Option<i64>) = upsert
                    .query_row(
                        params![
                            kind.as_str(),
                            name,
                            site,
                            switch,
                            None::<&str>,
                            product_line,
                            customer,
                            None::<&str>,
                            now
                        ],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .ctx(&path, "writing an aggregate series")?;
                aggs.push(AggState {
                    series_id: id,
                    ports: Vec::new(),
                    total_weight: 0.0,
                    capacity_bps: cap.map(|c| c.max(0) as u64),
                });
                agg_index.insert((kind, name.to_string()), aggs.len() - 1);
                Ok(aggs.len() - 1)
            };
            for site in topology.sites.values() {
                agg(EntityKind::Site, &site.name, Some(&site.name), None, None)?;
            }
            for pl in topology.product_lines.values() {
                agg(
                    EntityKind::ProductLine,
                    &pl.name,
                    None,
                    Some(&pl.name),
                    None,
                )?;
            }
            for c in topology.customers.values() {
                agg(EntityKind::Customer, &c.id, None, None, Some(&c.id))?;
            }
            let mut pl_of: HashMap<&PortKey, Vec<&str>> = HashMap::new();
            for pl in topology.product_lines.values() {
                for k in &pl.ports {
                    pl_of.entry(k).or_default().push(&pl.name);
                }
            }
            let mut cust_of: HashMap<&PortKey, Vec<&str>> = HashMap::new();
            for c in topology.customers.values() {
                for k in &c.ports {
                    cust_of.entry(k).or_default().push(&c.id);
                }
            }
            for sw in &topology.switches {
                let sw_i = agg(EntityKind::Switch, &sw.name, Some(&sw.site), None, None)?;
                let site_i = agg(EntityKind::Site, &sw.site, Some(&sw.site), None, None)?;
                for p in &sw.ports {
                    let key = p.key();
                    let l = &p.labels;
                    let (id, weight, cap): (i64, f64, Option<i64>) = port_upsert
                        .query_row(
                            params![
                                EntityKind::Port.as_str(),
                                key.to_string(),
                                l.site,
                                l.switch,
                                l.port,
                                l.product_line,
                                l.customer,
                                l.role,
                                now
                            ],
                            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                        )
                        .ctx(&path, "writing a port series")?;
                    let mut members = vec![sw_i, site_i];
                    let mut pls: Vec<&str> = pl_of.get(&key).cloned().unwrap_or_default();
                    pls.extend(l.product_line.as_deref());
                    for name in pls {
                        let i = agg(EntityKind::ProductLine, name, None, Some(name), None)?;
                        if !members.contains(&i) {
                            members.push(i);
                        }
                    }
                    let mut cs: Vec<&str> = cust_of.get(&key).cloned().unwrap_or_default();
                    cs.extend(l.customer.as_deref());
                    for name in cs {
                        let i = agg(EntityKind::Customer, name, None, None, Some(name))?;
                        if !members.contains(&i) {
                            members.push(i);
                        }
                    }
                    ports.insert(
                        key,
                        PortState {
                            series_id: id,
                            weight: if weight.is_finite() && weight >= 1.0 {
                                weight
                            } else {
                                1.0
                            },
                            members,
                            speed_bps: cap.map(|c| c.max(0) as u64),
                            last_ts: None,
                        },
                    );
                }
            }
        }
        tx.commit().ctx(&path, "committing a topology update")?;
        self.topology = topology;
        self.ports = ports;
        self.aggs = aggs;
        self.recompute_totals();
        Ok(())
    }

    fn recompute_totals(&mut self) {
        for a in &mut self.aggs {
            a.ports.clear();
            a.total_weight = 0.0;
        }
        for p in self.ports.values() {
            for &i in &p.members {
                self.aggs[i].ports.push(p.series_id);
                self.aggs[i].total_weight += p.weight;
            }
        }
    }

    /// A port of a sweep that the topology does not list (found by an alias pattern, or
    /// configured after the topology was loaded): stored as a port series of its own,
    /// member of no aggregate.
    fn adhoc_port(
        &mut self,
        tx: &Transaction<'_>,
        switch: &str,
        port: &str,
    ) -> Result<(), StoreError> {
        let key = PortKey {
            switch: switch.to_string(),
            port: port.to_string(),
        };
        let site = self.topology.switch(switch).map(|s| s.site.clone());
        let (id, weight, cap): (i64, f64, Option<i64>) = tx
            .prepare_cached(
                "INSERT INTO series(kind, name, site, switch, port, created) \
                 VALUES ('port', ?1, ?2, ?3, ?4, ?5) ON CONFLICT(kind, name) DO UPDATE SET \
                 switch = excluded.switch RETURNING id, weight, capacity_bps",
            )
            .and_then(|mut s| {
                s.query_row(
                    params![
                        key.to_string(),
                        site,
                        switch,
                        port,
                        jiff::Timestamp::now().as_second()
                    ],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
            })
            .ctx(&self.path, "writing a port series")?;
        self.ports.insert(
            key,
            PortState {
                series_id: id,
                weight: weight.max(1.0),
                members: Vec::new(),
                speed_bps: cap.map(|c| c.max(0) as u64),
                last_ts: None,
            },
        );
        Ok(())
    }

    /// Writes a batch of sweeps, the aggregates and rollups they feed, and any sealing that
    /// became due, in one transaction. On error nothing of the batch is written and the
    /// caller must reopen (in-memory state may be ahead of the file).
    pub(crate) fn write_batch(
        &mut self,
        sweeps: &[Sweep],
        metrics: &WriterMetrics,
    ) -> Result<usize, StoreError> {
        let mut conn = self.take_conn()?;
        let res = self.write_batch_in(&mut conn, sweeps, metrics);
        self.conn = Some(conn);
        res
    }

    fn write_batch_in(
        &mut self,
        conn: &mut Connection,
        sweeps: &[Sweep],
        metrics: &WriterMetrics,
    ) -> Result<usize, StoreError> {
        let path = self.path.clone();
        let tx = conn.transaction().ctx(&path, "starting a write")?;
        // Bucket sums of the batch (written sorted by key, like the samples below).
        let mut slots: FastMap<(i64, i64), Acc> = FastMap::default();
        let mut m5: FastMap<(i64, i64), Acc> = FastMap::default();
        // A port's own 5-minute pieces arrive in key order (the work is sorted): runs are
        // merged here without hashing.
        let mut port_m5: Vec<((i64, i64), Acc)> = Vec::new();
        let mut ps: Vec<(i64, i64, Acc)> = Vec::with_capacity(4);
        let mut p5: Vec<(i64, i64, Acc)> = Vec::with_capacity(4);
        let mut written = 0usize;
        let mut min_start_ms = i64::MAX;
        // Series ids first (creating unlisted ports), then the samples in (series, time)
        // order: neighbouring rows share B-tree pages, which makes large batches cheap.
        let mut work: Vec<(i64, i64, usize, usize, usize)> = Vec::new();
        for (si, sweep) in sweeps.iter().enumerate() {
            for (pi, pr) in sweep.ports.iter().enumerate() {
                let idx = match self.ports.idx(&sweep.switch, &pr.port) {
                    Some(i) => i,
                    None => {
                        self.adhoc_port(&tx, &sweep.switch, &pr.port)?;
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
                let fresh = port.last_ts.is_some_and(|last| ts > last);
                port.last_ts = Some(port.last_ts.map_or(ts, |last| last.max(ts)));
                if fresh {
                    pending.push(row);
                    if pending.len() == ROWS_PER_INSERT {
                        insert_rows(&tx, &path, &mut pending)?;
                    }
                } else {
                    insert_rows(&tx, &path, &mut pending)?;
                    let inserted = tx
                        .prepare_cached(&format!("INSERT OR IGNORE {INSERT_SAMPLE} {ONE_ROW}"))
                        .and_then(|mut s| s.execute(params_from_iter(row.iter())))
                        .ctx(&path, "writing a port sample")?;
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
                min_start_ms = min_start_ms.min(start_ms);
                let kbps = |o: u64| (o as u128 * 8 / d.dt_ms as u128) as u64; // bits/ms = kbit/s
                let (in_p, out_p) = (d.in_packets.unwrap_or(0), d.out_packets.unwrap_or(0));
                let pieces = |len_ms: i64, out: &mut Vec<(i64, i64, Acc)>| {
                    out.clear();
                    let mut before = 0;
                    out.extend(split(start_ms, end_ms, len_ms).into_iter().map(|(b, ov)| {
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
                for (b, _, a) in &p5 {
                    match port_m5.last_mut() {
                        Some((k, acc)) if *k == (sid, *b) => acc.add(a),
                        _ => port_m5.push(((sid, *b), *a)),
                    }
                }
                if port.members.is_empty() {
                    continue;
                }
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
        insert_rows(&tx, &path, &mut pending)?;
        if self.sealed_slot.is_none() && min_start_ms != i64::MAX {
            self.sealed_slot = Some(min_start_ms.div_euclid(SLOT_MS));
            self.sealed_5m = Some(min_start_ms.div_euclid(M5_MS));
        }
        write_buckets(&tx, &path, Table::Slot, &slots)?;
        for (k, a) in port_m5 {
            m5.entry(k).or_default().add(&a);
        }
        write_buckets(&tx, &path, Table::Rollup(Tier::M5), &m5)?;
        let sealed_5m = self.sealed_5m.unwrap_or(i64::MIN);
        let mut coarse = Coarse::default();
        for ((sid, b), a) in &m5 {
            if *b < sealed_5m {
                // Late: its bucket is already sealed, so it goes straight into 1 h and 1 d.
                metrics.late_samples_total.inc();
                coarse.add(*sid, *b, a);
            }
        }
        coarse.write(&tx, &path)?;
        self.seal(&tx)?;
        tx.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES ('newest_ms', ?1)",
            [self.newest_ms.to_string()],
        )
        .ctx(&path, "writing the store's state")?;
        tx.commit().ctx(&path, "committing a write")?;
        Ok(written)
    }

    /// Seals slots and 5-minute buckets that ended more than the grace period before the
    /// newest sweep.
    fn seal(&mut self, tx: &Transaction<'_>) -> Result<(), StoreError> {
        let path = self.path.clone();
        let mark = self.newest_ms - self.grace_ms;
        let (Some(from_slot), Some(from_5m)) = (self.sealed_slot, self.sealed_5m) else {
            return Ok(());
        };
        let to_slot = mark.div_euclid(SLOT_MS);
        let to_5m = mark.div_euclid(M5_MS);
        if to_slot > from_slot {
            // An aggregate's 5-minute peak is its highest 60 s slot rate (estimated over the
            // covered part of the slot).
            let mut read = tx
                .prepare_cached(
                    "SELECT slot, in_octets, out_octets, missing_ms FROM agg_slot \
                     WHERE series_id = ?1 AND slot >= ?2 AND slot < ?3",
                )
                .ctx(&path, "preparing the slot seal")?;
            let mut upd = tx
                .prepare_cached(
                    "UPDATE rollup_5m SET max_in_kbps = max(max_in_kbps, ?3), \
                     max_out_kbps = max(max_out_kbps, ?4) WHERE series_id = ?1 AND bucket = ?2",
                )
                .ctx(&path, "preparing the slot seal")?;
            for a in &self.aggs {
                let rows: Vec<(i64, i64, i64, i64)> = read
                    .query_map(params![a.series_id, from_slot, to_slot], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })
                    .and_then(|it| it.collect())
                    .ctx(&path, "reading slots to seal")?;
                for (slot, i, o, missing) in rows {
                    let covered = SLOT_MS - missing;
                    if covered <= 0 {
                        continue;
                    }
                    let kb = |x: i64| (x as i128 * 8 / covered as i128) as i64;
                    upd.execute(params![a.series_id, slot * SLOT_MS / M5_MS, kb(i), kb(o)])
                        .ctx(&path, "sealing a slot")?;
                }
            }
            self.sealed_slot = Some(to_slot);
            tx.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('sealed_slot', ?1)",
                [to_slot.to_string()],
            )
            .ctx(&path, "writing the store's state")?;
        }
        if to_5m > from_5m {
            let mut read = tx
                .prepare_cached(
                    "SELECT bucket, in_octets, out_octets, 0, 0, missing_ms, \
                     max_in_kbps, max_out_kbps FROM rollup_5m \
                     WHERE series_id = ?1 AND bucket >= ?2 AND bucket < ?3",
                )
                .ctx(&path, "preparing the 5-minute seal")?;
            let mut coarse = Coarse::default();
            let mut seal_series = |sid: i64| -> Result<Option<f64>, StoreError> {
                let rows: Vec<(i64, Acc)> = read
                    .query_map(params![sid, from_5m, to_5m], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            Acc {
                                in_octets: r.get::<_, i64>(1)? as u64,
                                out_octets: r.get::<_, i64>(2)? as u64,
                                in_packets: r.get::<_, i64>(3)? as u64,
                                out_packets: r.get::<_, i64>(4)? as u64,
                                covered_ms: (M5_MS - r.get::<_, i64>(5)?) as f64,
                                max_in_kbps: r.get::<_, i64>(6)? as u64,
                                max_out_kbps: r.get::<_, i64>(7)? as u64,
                            },
                        ))
                    })
                    .and_then(|it| it.collect())
                    .ctx(&path, "reading 5-minute buckets to seal")?;
                let mut last_rate = None;
                for (b, a) in rows {
                    coarse.add(sid, b, &a);
                    if a.covered_ms > 0.0 {
                        last_rate =
                            Some((a.in_octets + a.out_octets) as f64 / (a.covered_ms / 1000.0));
                    }
                }
                Ok(last_rate)
            };
            let mut new_weights: Vec<(usize, f64)> = Vec::new();
            for (i, p) in self.ports.states.iter().enumerate() {
                if let Some(rate) = seal_series(p.series_id)? {
                    let w = 1.0 + (1.0 - WEIGHT_ALPHA) * (p.weight - 1.0) + WEIGHT_ALPHA * rate;
                    new_weights.push((i, w));
                }
            }
            for a in &self.aggs {
                seal_series(a.series_id)?;
            }
            coarse.write(tx, &path)?;
            let mut upd_w = tx
                .prepare_cached("UPDATE series SET weight = ?2 WHERE id = ?1")
                .ctx(&path, "preparing a weight update")?;
            for (i, w) in new_weights {
                if let Some(p) = self.ports.states.get_mut(i) {
                    if (w - p.weight).abs() > 0.05 * p.weight {
                        upd_w
                            .execute(params![p.series_id, w])
                            .ctx(&path, "writing a port weight")?;
                    }
                    p.weight = w;
                }
            }
            self.recompute_totals();
            // An aggregate's capacity: the sum of its member ports' speeds.
            let speeds: HashMap<i64, u64> = self
                .ports
                .values()
                .filter_map(|p| p.speed_bps.map(|s| (p.series_id, s)))
                .collect();
            let mut upd_c = tx
                .prepare_cached("UPDATE series SET capacity_bps = ?2 WHERE id = ?1")
                .ctx(&path, "preparing a capacity update")?;
            for a in &mut self.aggs {
                let cap: u64 = a.ports.iter().filter_map(|s| speeds.get(s)).sum();
                let cap = (cap > 0).then_some(cap);
                if cap != a.capacity_bps {
                    upd_c
                        .execute(params![a.series_id, cap.map(|c| c as i64)])
                        .ctx(&path, "writing an aggregate capacity")?;
                    a.capacity_bps = cap;
                }
            }
            self.sealed_5m = Some(to_5m);
            tx.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('sealed_5m', ?1)",
                [to_5m.to_string()],
            )
            .ctx(&path, "writing the store's state")?;
        }
        Ok(())
    }
}

/// One `port_sample` row's values, in column order.
type SampleRow = [Option<i64>; 9];

/// Rows per multi-row INSERT (9 parameters each).
const ROWS_PER_INSERT: usize = 64;
const INSERT_SAMPLE: &str = "INTO port_sample(series_id, ts, dt_ms, in_octets, out_octets, \
     in_packets, out_packets, oper, flag) VALUES";
const ONE_ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// Writes the pending sample rows: full chunks with one statement, the rest one by one.
fn insert_rows(
    tx: &Transaction<'_>,
    path: &Path,
    rows: &mut Vec<SampleRow>,
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    if rows.len() == ROWS_PER_INSERT {
        let sql = format!(
            "INSERT {INSERT_SAMPLE} {}",
            vec![ONE_ROW; ROWS_PER_INSERT].join(", ")
        );
        tx.prepare_cached(&sql)
            .and_then(|mut s| s.execute(params_from_iter(rows.iter().flatten())))
            .ctx(path, "writing port samples")?;
    } else {
        let mut s = tx
            .prepare_cached(&format!("INSERT {INSERT_SAMPLE} {ONE_ROW}"))
            .ctx(path, "writing port samples")?;
        for row in rows.iter() {
            s.execute(params_from_iter(row.iter()))
                .ctx(path, "writing port samples")?;
        }
    }
    rows.clear();
    Ok(())
}

/// 5-minute bucket sums on their way into the 1-hour and 1-day rollups, merged per bucket.
#[derive(Default)]
struct Coarse {
    h1: BTreeMap<(i64, i64), Acc>,
    d1: BTreeMap<(i64, i64), Acc>,
}

impl Coarse {
    fn add(&mut self, sid: i64, bucket_5m: i64, a: &Acc) {
        let start_ms = bucket_5m * M5_MS;
        let h = start_ms.div_euclid(Tier::H1.bucket_secs() * 1000);
        let d = start_ms.div_euclid(Tier::D1.bucket_secs() * 1000);
        self.h1.entry((sid, h)).or_default().add(a);
        self.d1.entry((sid, d)).or_default().add(a);
    }

    fn write(&self, tx: &Transaction<'_>, path: &Path) -> Result<(), StoreError> {
        write_buckets(tx, path, Table::Rollup(Tier::H1), &self.h1)?;
        write_buckets(tx, path, Table::Rollup(Tier::D1), &self.d1)
    }
}

/// A table of buckets: the aggregates' 60 s slots, or a rollup tier.
#[derive(Clone, Copy)]
enum Table {
    Slot,
    Rollup(Tier),
}

/// Bucket rows per multi-row UPSERT (7 parameters each).
const BUCKETS_PER_UPSERT: usize = 64;

impl Table {
    fn len_ms(self) -> i64 {
        match self {
            Table::Slot => SLOT_MS,
            Table::Rollup(t) => t.bucket_secs() * 1000,
        }
    }

    /// The UPSERT adding `rows` bucket rows into the table. `missing_ms` of a new row is the
    /// bucket minus the covered time; on conflict the covered time (bucket length minus the
    /// new row's missing_ms) is subtracted, and less than 1/1000 of the bucket counts as 0.
    fn sql(self, rows: usize) -> String {
        let len = self.len_ms();
        let tol = len / TOLERANCE_DIVISOR;
        let values = vec!["(?, ?, ?, ?, ?, ?, ?)"; rows].join(", ");
        let missing = format!(
            "missing_ms = CASE WHEN missing_ms - ({len} - excluded.missing_ms) <= {tol} THEN 0 \
             ELSE missing_ms - ({len} - excluded.missing_ms) END"
        );
        match self {
            Table::Slot => format!(
                "INSERT INTO agg_slot(series_id, slot, in_octets, out_octets, in_packets, \
                 out_packets, missing_ms) VALUES {values} ON CONFLICT DO UPDATE SET \
                 in_octets = in_octets + excluded.in_octets, \
                 out_octets = out_octets + excluded.out_octets, \
                 in_packets = in_packets + excluded.in_packets, \
                 out_packets = out_packets + excluded.out_packets, {missing}"
            ),
            Table::Rollup(t) => format!(
                "INSERT INTO {}(series_id, bucket, in_octets, out_octets, missing_ms, \
                 max_in_kbps, max_out_kbps) VALUES {values} ON CONFLICT DO UPDATE SET \
                 in_octets = in_octets + excluded.in_octets, \
                 out_octets = out_octets + excluded.out_octets, {missing}, \
                 max_in_kbps = max(max_in_kbps, excluded.max_in_kbps), \
                 max_out_kbps = max(max_out_kbps, excluded.max_out_kbps)",
                t.rollup_table().unwrap_or("rollup_5m")
            ),
        }
    }

    fn row(self, sid: i64, bucket: i64, a: &Acc) -> [i64; 7] {
        let len = self.len_ms();
        let missing = (len - a.covered_ms.round() as i64).max(0);
        let missing = if missing <= len / TOLERANCE_DIVISOR {
            0
        } else {
            missing
        };
        match self {
            Table::Slot => [
                sid,
                bucket,
                a.in_octets as i64,
                a.out_octets as i64,
                a.in_packets as i64,
                a.out_packets as i64,
                missing,
            ],
            Table::Rollup(_) => [
                sid,
                bucket,
                a.in_octets as i64,
                a.out_octets as i64,
                missing,
                a.max_in_kbps as i64,
                a.max_out_kbps as i64,
            ],
        }
    }
}

/// Adds bucket sums into a table (creating rows), in key order, many rows per statement.
fn write_buckets<'a>(
    tx: &Transaction<'_>,
    path: &Path,
    table: Table,
    buckets: impl IntoIterator<Item = (&'a (i64, i64), &'a Acc)>,
) -> Result<(), StoreError> {
    let mut rows: Vec<[i64; 7]> = buckets
        .into_iter()
        .map(|((sid, b), a)| table.row(*sid, *b, a))
        .collect();
    rows.sort_unstable_by_key(|r| (r[0], r[1]));
    let mut chunks = rows.chunks_exact(BUCKETS_PER_UPSERT);
    if rows.len() >= BUCKETS_PER_UPSERT {
        let mut st = tx
            .prepare_cached(&table.sql(BUCKETS_PER_UPSERT))
            .ctx(path, "preparing a bucket upsert")?;
        for chunk in chunks.by_ref() {
            st.execute(params_from_iter(chunk.iter().flatten()))
                .ctx(path, "writing buckets")?;
        }
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut st = tx
            .prepare_cached(&table.sql(1))
            .ctx(path, "preparing a bucket upsert")?;
        for row in rest {
            st.execute(params_from_iter(row.iter()))
                .ctx(path, "writing buckets")?;
        }
    }
    Ok(())
}
