//! Reading series back: a range at a step with the tier picked by span, step and retention,
//! the latest point, the same window over past days (seasonal baselines), and every entity of
//! a kind. Readers have their own read-only connections; under WAL they never block the
//! writer and the writer never blocks them.
//!
//! Every point carries its **coverage**: the fraction of the step that was measured (for
//! aggregates, weighted by the member ports' usual traffic). A step with no data is `None`,
//! never 0. By default values are *estimates*: rates divide by the covered time and byte
//! counts are scaled up by the coverage, so a half-answered sweep does not read as a 50 %
//! drop; [`RangeQuery::measured`] returns the unscaled sums instead (for billing), and
//! [`RangeQuery::min_coverage`] turns thinly covered steps into gaps.

use std::path::Path;
use std::sync::Arc;

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::db::Db;
use super::entity::{Entity, EntityKind, Metric, Tier};
use super::error::{SqlContext, StoreError};
use super::recent;
use super::split::{share, split};
use super::traits::SeriesSource;
use crate::config::Retention;

/// At most this many points per query.
pub(crate) const MAX_POINTS: i64 = 200_000;
/// Raw port samples are read up to this far past the range's end (their interval may
/// reach back into it).
pub(crate) const RAW_LOOKAHEAD_S: i64 = 900;

/// What to read.
#[derive(Clone, Debug)]
pub struct RangeQuery {
    /// The series' entity.
    pub entity: Entity,
    /// The quantity.
    pub metric: Metric,
    /// Start (inclusive; rounded down to the step).
    pub from: Timestamp,
    /// End (exclusive).
    pub to: Timestamp,
    /// Step in seconds; `None` picks one giving at most ~1500 points.
    pub step_secs: Option<i64>,
    /// Force a tier; `None` picks the coarsest that fits the step and still holds `from`.
    pub tier: Option<Tier>,
    /// Steps covered less than this (0..=1) are gaps.
    pub min_coverage: f64,
    /// Scale values by coverage (estimate) rather than return measured sums.
    pub scale: bool,
}

impl RangeQuery {
    /// A query with the defaults: automatic step and tier, any coverage, estimated values.
    pub fn new(entity: Entity, metric: Metric, from: Timestamp, to: Timestamp) -> Self {
        RangeQuery {
            entity,
            metric,
            from,
            to,
            step_secs: None,
            tier: None,
            min_coverage: 0.0,
            scale: true,
        }
    }
    /// Sets the step in seconds.
    pub fn step(mut self, secs: i64) -> Self {
        self.step_secs = Some(secs);
        self
    }
    /// Forces a tier.
    pub fn tier(mut self, tier: Tier) -> Self {
        self.tier = Some(tier);
        self
    }
    /// Treats steps with less coverage as gaps.
    pub fn min_coverage(mut self, c: f64) -> Self {
        self.min_coverage = c;
        self
    }
    /// Returns measured sums, not coverage-scaled estimates.
    pub fn measured(mut self) -> Self {
        self.scale = false;
        self
    }
}

/// One step of a series.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point {
    /// Start of the step.
    pub time: Timestamp,
    /// The value, `None` for a gap (never 0 for unknown).
    pub value: Option<f64>,
    /// Fraction of the step that was measured, 0..=1.
    pub coverage: f64,
}

/// A range read back.
#[derive(Clone, Debug, Serialize)]
pub struct SeriesData {
    /// The entity.
    pub entity: Entity,
    /// The quantity.
    pub metric: Metric,
    /// The tier the points come from.
    pub tier: Tier,
    /// Step in seconds.
    pub step_secs: i64,
    /// One point per step, gaps included.
    pub points: Vec<Point>,
}

/// One stored port sample (a `port_sample` row), as [`Reader::port_samples`] returns it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoredSample {
    /// When the response arrived (unix seconds precision).
    pub time: Timestamp,
    /// Measured interval in milliseconds; `None` for a gap.
    pub dt_ms: Option<u64>,
    /// Octets received in the interval.
    pub in_octets: Option<u64>,
    /// Octets sent in the interval.
    pub out_octets: Option<u64>,
    /// Packets received, when the device has the counter.
    pub in_packets: Option<u64>,
    /// Packets sent, when the device has the counter.
    pub out_packets: Option<u64>,
    /// ifOperStatus (the MIB's integer), when read.
    pub oper: Option<i64>,
    /// Quality flag (see [`super::flag`]).
    pub flag: i64,
    /// The port's speed at that time, bits per second, when known.
    pub speed_bps: Option<u64>,
}

/// Sums over one output step.
/// Sums of one step: what a point is computed from.
#[derive(Default, Clone, Copy)]
pub(crate) struct Sums {
    pub(crate) in_octets: f64,
    pub(crate) out_octets: f64,
    pub(crate) in_packets: f64,
    pub(crate) out_packets: f64,
    pub(crate) covered_ms: f64,
}

/// The steps of one range query, filled piece by piece: each stored interval is split over
/// the steps it overlaps, in proportion to time.
pub(crate) struct Grid {
    /// First step's start, unix seconds.
    pub(crate) g0: i64,
    step: i64,
    sums: Vec<Sums>,
}

impl Grid {
    /// The steps of `[from, to)` at `step` seconds (aligned to the epoch); refuses more
    /// than [`MAX_POINTS`].
    pub(crate) fn new(q: &RangeQuery, step: i64) -> Result<Grid, StoreError> {
        let g0 = q.from.as_second().div_euclid(step) * step;
        let end = q.to.as_second();
        let n = (end - g0 + step - 1) / step;
        if n > MAX_POINTS {
            return Err(StoreError::InvalidQuery(format!(
                "{n} points asked for; use a larger step (at most {MAX_POINTS} points)"
            )));
        }
        Ok(Grid {
            g0,
            step,
            sums: vec![Sums::default(); n.max(0) as usize],
        })
    }

    /// Adds `[start_ms, start_ms + len_ms)` with its octets and packets in and out and its
    /// covered milliseconds.
    pub(crate) fn add(&mut self, start_ms: i64, len_ms: i64, io: [i64; 4], covered_ms: f64) {
        let n = self.sums.len() as i64;
        let rel = start_ms - self.g0 * 1000;
        let mut before = 0;
        for (i, ov) in split(rel, rel + len_ms, self.step * 1000) {
            if i < 0 || i >= n {
                before += ov;
                continue;
            }
            let sh = |v: i64| share(v.max(0) as u64, before, ov, len_ms) as f64;
            let slot = &mut self.sums[i as usize];
            slot.in_octets += sh(io[0]);
            slot.out_octets += sh(io[1]);
            slot.in_packets += sh(io[2]);
            slot.out_packets += sh(io[3]);
            slot.covered_ms += covered_ms * ov as f64 / len_ms as f64;
            before += ov;
        }
    }

    /// The sums of each step, with its start (unix seconds).
    pub(crate) fn steps(&self) -> impl Iterator<Item = (i64, &Sums)> {
        self.sums
            .iter()
            .enumerate()
            .map(|(i, s)| (self.g0 + i as i64 * self.step, s))
    }

    /// The series: one point per step.
    pub(crate) fn data(&self, q: &RangeQuery, tier: Tier, capacity: Option<i64>) -> SeriesData {
        let points = self
            .steps()
            .map(|(t, sm)| {
                let time = Timestamp::from_second(t).unwrap_or(q.from);
                point(sm, q, self.step, capacity, time)
            })
            .collect();
        SeriesData {
            entity: q.entity.clone(),
            metric: q.metric,
            tier,
            step_secs: self.step,
            points,
        }
    }
}

/// Picks tier and step for a query (see [`SeriesSource::range`]): the coarsest tier whose
/// buckets divide the step and whose retention (measured back from `newest`, unix seconds)
/// still holds `from`; packet rates only from raw samples and slots.
pub(crate) fn plan(
    q: &RangeQuery,
    is_port: bool,
    retention: &Retention,
    newest: impl FnOnce() -> Result<Option<i64>, StoreError>,
) -> Result<(Tier, i64), StoreError> {
    let from_s = q.from.as_second();
    let span = q.to.as_second() - from_s;
    if span <= 0 {
        return Err(StoreError::InvalidQuery(format!(
            "the range is empty: --from {} is not before --to {}",
            q.from, q.to
        )));
    }
    let step = match q.step_secs {
        Some(s) if s <= 0 => {
            return Err(StoreError::InvalidQuery("the step must be positive".into()));
        }
        Some(s) => s,
        None => [60, 300, 3600, 86_400]
            .into_iter()
            .find(|s| span / s <= 1500)
            .unwrap_or(86_400),
    };
    let packets = matches!(q.metric, Metric::InPps | Metric::OutPps);
    let fits = |t: Tier| match t {
        Tier::Raw => is_port || step % t.bucket_secs() == 0,
        // Rollups keep no packets.
        _ => !packets && step % t.bucket_secs() == 0,
    };
    if let Some(t) = q.tier {
        if !fits(t) {
            return Err(StoreError::InvalidQuery(format!(
                "step {step}s is not a multiple of the {} tier's {}s buckets",
                t.as_str(),
                t.bucket_secs()
            )));
        }
        return Ok((t, step));
    }
    let newest = newest()?;
    let holds = |tier: Tier| {
        let keep = match tier {
            Tier::Raw => retention.raw,
            Tier::M5 => retention.rollup_5m,
            Tier::H1 => retention.rollup_1h,
            Tier::D1 => retention.rollup_1d,
        };
        match (keep, newest) {
            (Some(k), Some(now)) => from_s >= now - k.as_secs() as i64,
            _ => true,
        }
    };
    let tiers = [Tier::D1, Tier::H1, Tier::M5, Tier::Raw];
    if let Some(t) = tiers.into_iter().find(|t| fits(*t) && holds(*t)) {
        return Ok((t, step));
    }
    if packets {
        return Err(StoreError::InvalidQuery(format!(
            "packet rates are kept at raw resolution only (raw retention {}); ask for a \
             later --from, or for a byte metric",
            retention
                .raw
                .map(|d| d.to_string())
                .unwrap_or_else(|| "forever".into())
        )));
    }
    // No tier at this step still holds `from`: use the finest that does, at its bucket.
    let t = tiers
        .into_iter()
        .rev()
        .find(|t| holds(*t))
        .unwrap_or(Tier::D1);
    let b = t.bucket_secs();
    Ok((t, step.div_euclid(b).max(1) * b))
}

struct SeriesRow {
    id: i64,
    capacity_bps: Option<i64>,
}

/// The SQLite implementation of [`SeriesSource`]: reads through the store's pool of
/// read-only connections.
pub(crate) struct SqliteReader {
    db: Arc<Db>,
    retention: Retention,
}

impl SqliteReader {
    /// Reads `db` with `retention` (which tiers still hold a time).
    pub(crate) fn new(db: Arc<Db>, retention: Retention) -> SqliteReader {
        SqliteReader { db, retention }
    }

    fn path(&self) -> &Path {
        self.db.path()
    }

    fn series(&self, conn: &Connection, e: &Entity) -> Result<SeriesRow, StoreError> {
        conn.prepare_cached("SELECT id, capacity_bps FROM series WHERE kind = ?1 AND name = ?2")
            .and_then(|mut s| {
                s.query_row(params![e.kind.as_str(), e.name], |r| {
                    Ok(SeriesRow {
                        id: r.get(0)?,
                        capacity_bps: r.get(1)?,
                    })
                })
                .optional()
            })
            .ctx(self.path(), "looking up a series")?
            .ok_or_else(|| StoreError::UnknownSeries {
                path: self.path().to_path_buf(),
                entity: e.to_string(),
            })
    }

    fn newest_in(&self, conn: &Connection) -> Result<Option<Timestamp>, StoreError> {
        let v: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'newest_ms'", [], |r| {
                r.get(0)
            })
            .optional()
            .ctx(self.path(), "reading the newest sweep time")?;
        Ok(v.and_then(|s| s.parse::<i64>().ok())
            .and_then(|ms| Timestamp::from_millisecond(ms).ok()))
    }

    /// Picks tier and step for a query.
    fn plan(
        &self,
        conn: &Connection,
        q: &RangeQuery,
        is_port: bool,
    ) -> Result<(Tier, i64), StoreError> {
        plan(q, is_port, &self.retention, || {
            Ok(self.newest_in(conn)?.map(|t| t.as_second()))
        })
    }

    /// A range of one series at a step.
    fn range_in(&self, conn: &Connection, q: &RangeQuery) -> Result<SeriesData, StoreError> {
        let s = self.series(conn, &q.entity)?;
        let is_port = q.entity.kind == EntityKind::Port;
        let (tier, step) = self.plan(conn, q, is_port)?;
        let mut grid = Grid::new(q, step)?;
        let g0 = grid.g0;
        let end = q.to.as_second();
        let mut add = |start_ms: i64, len_ms: i64, io: [i64; 4], covered_ms: f64| {
            grid.add(start_ms, len_ms, io, covered_ms)
        };
        let path = self.path();
        match (tier, is_port) {
            (Tier::Raw, true) => {
                let mut st = conn
                    .prepare_cached(
                        "SELECT ts, dt_ms, in_octets, out_octets, coalesce(in_packets, 0), \
                         coalesce(out_packets, 0) FROM port_sample_by_series WHERE series_id = ?1 \
                         AND ts > ?2 AND ts <= ?3 AND dt_ms IS NOT NULL",
                    )
                    .ctx(path, "preparing a raw read")?;
                let rows = st
                    .query_map(params![s.id, g0, end + RAW_LOOKAHEAD_S], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            [r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?],
                        ))
                    })
                    .ctx(path, "reading raw samples")?;
                for row in rows {
                    let (ts, dt, io) = row.ctx(path, "reading raw samples")?;
                    if dt > 0 {
                        add(ts * 1000 - dt, dt, io, dt as f64);
                    }
                }
                for r in recent::samples(conn, path, s.id, g0, end + RAW_LOOKAHEAD_S)? {
                    let (Some(dt), Some(i), Some(o)) = (r.dt_ms, r.in_octets, r.out_octets) else {
                        continue;
                    };
                    let io = [i, o, r.in_packets.unwrap_or(0), r.out_packets.unwrap_or(0)];
                    if dt > 0 {
                        add(r.ts * 1000 - dt, dt, io, dt as f64);
                    }
                }
            }
            _ => {
                let (table, col, unit) = match tier {
                    Tier::Raw => ("agg_slot", "slot", tier.bucket_secs()),
                    t => (
                        t.rollup_table().unwrap_or("rollup_5m"),
                        "bucket",
                        t.bucket_secs(),
                    ),
                };
                // Rollups keep no packets: pps is read from raw samples and slots only.
                let packets = if tier == Tier::Raw {
                    "in_packets, out_packets"
                } else {
                    "0, 0"
                };
                let sql = format!(
                    "SELECT {col}, in_octets, out_octets, {packets}, missing_ms \
                     FROM {table} WHERE series_id = ?1 AND {col} >= ?2 AND {col} < ?3"
                );
                let mut st = conn
                    .prepare_cached(&sql)
                    .ctx(path, "preparing a rollup read")?;
                let lo = g0.div_euclid(unit);
                let hi = (end + unit - 1).div_euclid(unit);
                let rows = st
                    .query_map(params![s.id, lo, hi], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?],
                            r.get::<_, i64>(5)?,
                        ))
                    })
                    .ctx(path, "reading rollups")?;
                let len_ms = unit * 1000;
                for row in rows {
                    let (b, io, missing) = row.ctx(path, "reading rollups")?;
                    add(b * len_ms, len_ms, io, (len_ms - missing).max(0) as f64);
                }
                if tier == Tier::M5 {
                    // The buckets not sealed yet.
                    for (b, i, o, missing) in recent::buckets_5m(conn, path, s.id, lo, hi)? {
                        add(
                            b * len_ms,
                            len_ms,
                            [i, o, 0, 0],
                            (len_ms - missing).max(0) as f64,
                        );
                    }
                }
            }
        }
        Ok(grid.data(q, tier, s.capacity_bps))
    }
}

impl SeriesSource for SqliteReader {
    fn range(&self, q: &RangeQuery) -> Result<SeriesData, StoreError> {
        self.range_in(&*self.db.read()?, q)
    }

    fn newest(&self) -> Result<Option<Timestamp>, StoreError> {
        self.newest_in(&*self.db.read()?)
    }

    fn last_answer(
        &self,
        switch: &str,
        before: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
        // Per port, the newest answered sample (the primary key walks back from `before`).
        let conn = self.db.read()?;
        let path = self.path();
        let skip = [super::flag::TIMEOUT, super::flag::AGENT_ERROR];
        let ts: Option<i64> = conn
            .query_row(
                "SELECT MAX((SELECT MAX(ts) FROM port_sample_by_series p \
                   WHERE p.series_id = s.id AND p.ts < ?2 AND p.flag NOT IN (?3, ?4))) \
                 FROM series s WHERE s.kind = 'port' AND s.switch = ?1",
                params![switch, before.as_second(), skip[0], skip[1]],
                |r| r.get(0),
            )
            .ctx(path, "reading a switch's last answer")?;
        let ids: Vec<i64> = conn
            .prepare_cached("SELECT id FROM series WHERE kind = 'port' AND switch = ?1")
            .and_then(|mut s| s.query_map([switch], |r| r.get(0))?.collect())
            .ctx(path, "reading a switch's last answer")?;
        let mut newest = ts;
        for id in ids {
            if let Some(r) = recent::newest_sample(&conn, path, id, before.as_second(), &skip)? {
                newest = newest.max(Some(r.ts));
            }
        }
        Ok(newest.and_then(|t| Timestamp::from_second(t).ok()))
    }

    fn entities(&self, kind: EntityKind) -> Result<Vec<Entity>, StoreError> {
        self.db
            .read()?
            .prepare_cached("SELECT name FROM series WHERE kind = ?1 ORDER BY name")
            .and_then(|mut s| {
                s.query_map([kind.as_str()], |r| {
                    Ok(Entity::new(kind, r.get::<_, String>(0)?))
                })?
                .collect()
            })
            .ctx(self.path(), "listing series")
    }

    fn ports_where(&self, label: &str, value: &str) -> Result<Vec<Entity>, StoreError> {
        let col = match label {
            "site" | "switch" | "product_line" | "customer" | "role" => label,
            other => {
                return Err(StoreError::InvalidQuery(format!(
                    "unknown label `{other}` (labels: site, switch, product_line, customer, role)"
                )));
            }
        };
        let sql =
            format!("SELECT name FROM series WHERE kind = 'port' AND {col} = ?1 ORDER BY name");
        self.db
            .read()?
            .prepare_cached(&sql)
            .and_then(|mut s| {
                s.query_map([value], |r| {
                    Ok(Entity::new(EntityKind::Port, r.get::<_, String>(0)?))
                })?
                .collect()
            })
            .ctx(self.path(), "listing ports by label")
    }

    fn port_samples(
        &self,
        entity: &Entity,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<StoredSample>, StoreError> {
        let conn = self.db.read()?;
        let s = self.series(&conn, entity)?;
        let u = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok());
        let path = self.path();
        let mut out: Vec<StoredSample> = conn
            .prepare_cached(
                "SELECT ts, dt_ms, in_octets, out_octets, in_packets, out_packets, oper, flag, \
                 (SELECT speed_bps FROM port_speed p WHERE p.series_id = s.series_id \
                 AND p.ts <= s.ts ORDER BY p.ts DESC LIMIT 1) \
                 FROM port_sample_by_series s WHERE series_id = ?1 AND ts >= ?2 AND ts < ?3 \
                 ORDER BY ts",
            )
            .and_then(|mut st| {
                st.query_map(params![s.id, from.as_second(), to.as_second()], |r| {
                    Ok(StoredSample {
                        time: Timestamp::from_second(r.get(0)?).unwrap_or(Timestamp::UNIX_EPOCH),
                        dt_ms: u(r.get(1)?),
                        in_octets: u(r.get(2)?),
                        out_octets: u(r.get(3)?),
                        in_packets: u(r.get(4)?),
                        out_packets: u(r.get(5)?),
                        oper: r.get(6)?,
                        flag: r.get(7)?,
                        speed_bps: u(r.get(8)?),
                    })
                })?
                .collect()
            })
            .ctx(path, "reading port samples")?;
        let recent = recent::samples(&conn, path, s.id, from.as_second() - 1, to.as_second() - 1)?;
        if recent.is_empty() {
            return Ok(out);
        }
        let mut speed = conn
            .prepare_cached(
                "SELECT speed_bps FROM port_speed WHERE series_id = ?1 AND ts <= ?2 \
                 ORDER BY ts DESC LIMIT 1",
            )
            .ctx(path, "reading port samples")?;
        for r in recent {
            let speed_bps: Option<i64> = speed
                .query_row(params![s.id, r.ts], |row| row.get(0))
                .optional()
                .ctx(path, "reading port samples")?;
            out.push(StoredSample {
                time: Timestamp::from_second(r.ts).unwrap_or(Timestamp::UNIX_EPOCH),
                dt_ms: u(r.dt_ms),
                in_octets: u(r.in_octets),
                out_octets: u(r.out_octets),
                in_packets: u(r.in_packets),
                out_packets: u(r.out_packets),
                oper: r.oper,
                flag: r.flag,
                speed_bps: u(speed_bps),
            });
        }
        // Moved rows are older than every recent one; sorted anyway, stably.
        out.sort_by_key(|x| x.time);
        Ok(out)
    }

    fn latest(
        &self,
        entity: &Entity,
        metric: Metric,
        min_coverage: f64,
    ) -> Result<Option<Point>, StoreError> {
        let conn = self.db.read()?;
        let s = self.series(&conn, entity)?;
        let path = self.path();
        let q = RangeQuery::new(
            entity.clone(),
            metric,
            Timestamp::UNIX_EPOCH,
            Timestamp::UNIX_EPOCH,
        )
        .min_coverage(min_coverage);
        if entity.kind == EntityKind::Port {
            let newest = recent::newest_sample(&conn, path, s.id, i64::MAX, &[])?.map(|r| {
                let io = [r.in_octets, r.out_octets, r.in_packets, r.out_packets];
                (r.ts, r.dt_ms, io)
            });
            let moved: Option<(i64, Option<i64>, [Option<i64>; 4])> = conn
                .prepare_cached(
                    "SELECT ts, dt_ms, in_octets, out_octets, in_packets, out_packets \
                     FROM port_sample_by_series WHERE series_id = ?1 ORDER BY ts DESC LIMIT 1",
                )
                .and_then(|mut st| {
                    st.query_row([s.id], |r| {
                        Ok((
                            r.get(0)?,
                            r.get(1)?,
                            [r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?],
                        ))
                    })
                    .optional()
                })
                .ctx(path, "reading the latest sample")?;
            // Recent rows are newer, except a late sample's.
            let row = match (newest, moved) {
                (Some(r), Some(m)) => Some(if m.0 > r.0 { m } else { r }),
                (r, m) => r.or(m),
            };
            let Some((ts, dt, io)) = row else {
                return Ok(None);
            };
            let time = Timestamp::from_second(ts).unwrap_or(Timestamp::UNIX_EPOCH);
            let Some(dt) = dt.filter(|d| *d > 0) else {
                return Ok(Some(Point {
                    time,
                    value: None,
                    coverage: 0.0,
                }));
            };
            let f = |v: Option<i64>| v.unwrap_or(0).max(0) as f64;
            let sums = Sums {
                in_octets: f(io[0]),
                out_octets: f(io[1]),
                in_packets: f(io[2]),
                out_packets: f(io[3]),
                covered_ms: dt as f64,
            };
            // The sample's own interval is the step.
            let step_ms = dt as f64;
            return Ok(Some(point_over(&sums, &q, step_ms, s.capacity_bps, time)));
        }
        let rows: Vec<(i64, [i64; 4], i64)> = conn
            .prepare_cached(
                "SELECT slot, in_octets, out_octets, in_packets, out_packets, missing_ms                  FROM agg_slot WHERE series_id = ?1 ORDER BY slot DESC LIMIT 15",
            )
            .and_then(|mut st| {
                st.query_map([s.id], |r| {
                    Ok((r.get(0)?, [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?], r.get(5)?))
                })?
                .collect()
            })
            .ctx(path, "reading the latest slots")?;
        let slot_ms = (super::SLOT_SECS * 1000) as f64;
        for (slot, io, missing) in rows {
            let sums = Sums {
                in_octets: io[0] as f64,
                out_octets: io[1] as f64,
                in_packets: io[2] as f64,
                out_packets: io[3] as f64,
                covered_ms: slot_ms - missing as f64,
            };
            let time =
                Timestamp::from_second(slot * super::SLOT_SECS).unwrap_or(Timestamp::UNIX_EPOCH);
            let p = point_over(&sums, &q, slot_ms, s.capacity_bps, time);
            if p.value.is_some() {
                return Ok(Some(p));
            }
        }
        Ok(None)
    }
}

fn point(s: &Sums, q: &RangeQuery, step_s: i64, capacity: Option<i64>, time: Timestamp) -> Point {
    point_over(s, q, (step_s * 1000) as f64, capacity, time)
}

/// The value of one step from its sums: coverage, then the metric, estimated or measured.
pub(crate) fn point_over(
    s: &Sums,
    q: &RangeQuery,
    step_ms: f64,
    capacity: Option<i64>,
    time: Timestamp,
) -> Point {
    let coverage = (s.covered_ms / step_ms).clamp(0.0, 1.0);
    if s.covered_ms <= 0.0 || coverage < q.min_coverage {
        return Point {
            time,
            value: None,
            coverage,
        };
    }
    // Seconds to divide by: the covered time for an estimate, the whole step when measured.
    let secs = if q.scale { s.covered_ms } else { step_ms } / 1000.0;
    let total = |v: f64| if q.scale { v / coverage } else { v };
    let value = match q.metric {
        Metric::InBps => Some(s.in_octets * 8.0 / secs),
        Metric::OutBps => Some(s.out_octets * 8.0 / secs),
        Metric::InPps => Some(s.in_packets / secs),
        Metric::OutPps => Some(s.out_packets / secs),
        Metric::InBytes => Some(total(s.in_octets)),
        Metric::OutBytes => Some(total(s.out_octets)),
        Metric::Utilization => capacity
            .filter(|c| *c > 0)
            .map(|c| s.in_octets.max(s.out_octets) * 8.0 / secs / c as f64),
    };
    Point {
        time,
        value,
        coverage,
    }
}
