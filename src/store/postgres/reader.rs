//! Reading series back from PostgreSQL, with SQLite's answers (`store::reader`: the same
//! planning, splitting and points). Ports are read from their raw samples at any step (they
//! have no rollups here, so a port's history is the raw retention); aggregates from their
//! 60 s slots or the coarsest rollup that fits the step and still holds the range.

use std::sync::Arc;

use jiff::Timestamp;

use super::super::entity::Tier;
use super::super::entity::{Entity, EntityKind, Metric};
use super::super::error::StoreError;
use super::super::flag;
use super::super::reader::{
    Grid, Point, RAW_LOOKAHEAD_S, RangeQuery, SeriesData, StoredSample, Sums, plan, point_over,
};
use super::super::traits::SeriesSource;
use super::aggregate::TABLES;
use super::conn::Shared;
use crate::config::Retention;

/// The PostgreSQL implementation of [`SeriesSource`].
pub(crate) struct PgReader {
    shared: Arc<Shared>,
    retention: Retention,
}

impl PgReader {
    /// Reads through the store's shared connection.
    pub(crate) fn new(shared: Arc<Shared>, retention: Retention) -> PgReader {
        PgReader { shared, retention }
    }

    /// The series id of `entity`.
    pub(crate) fn id(&self, entity: &Entity) -> Result<i64, StoreError> {
        self.id_opt(entity)?
            .ok_or_else(|| StoreError::UnknownSeries {
                path: self.shared.target.to_string().into(),
                entity: entity.to_string(),
            })
    }

    /// The series id of `entity`, if stored.
    pub(crate) fn id_opt(&self, entity: &Entity) -> Result<Option<i64>, StoreError> {
        self.shared.with("looking up a series", |c| {
            c.query_opt(
                "SELECT id FROM series WHERE kind = $1 AND name = $2",
                &[&entity.kind.as_str(), &entity.name],
            )?
            .map(|r| r.try_get(0))
            .transpose()
        })
    }

    /// A port's speed in its newest sample that has one, or the sum of those of an
    /// aggregate's member ports.
    fn capacity(&self, id: i64, is_port: bool) -> Result<Option<i64>, StoreError> {
        let newest_speed = "SELECT speed_bps FROM port_sample p WHERE p.series_id = {ID} \
             AND p.speed_bps IS NOT NULL ORDER BY p.slot_ms DESC LIMIT 1";
        let sql = if is_port {
            newest_speed.replace("{ID}", "$1")
        } else {
            format!(
                "SELECT SUM(x.speed)::bigint FROM series_member m, LATERAL ({}) x(speed) \
                 WHERE m.agg_id = $1",
                newest_speed.replace("{ID}", "m.port_id")
            )
        };
        self.shared.with("reading a capacity", |c| {
            Ok(c.query_opt(&sql, &[&id])?
                .map(|r| r.try_get::<_, Option<i64>>(0))
                .transpose()?
                .flatten())
        })
    }

    /// Adds a port's raw samples whose interval may reach into `[from_s, to_s)` to `grid`.
    pub(crate) fn raw_into(
        &self,
        id: i64,
        from_s: i64,
        to_s: i64,
        grid: &mut Grid,
    ) -> Result<(), StoreError> {
        let to_s = to_s + RAW_LOOKAHEAD_S;
        // The key's slot starts at most a day (the longest interval) before its response.
        let (lo, hi) = (from_s * 1000 - 86_400_000, to_s * 1000);
        let rows = self.shared.with("reading raw samples", |c| {
            c.query(
                "SELECT ts, dt_ms, in_octets, out_octets, COALESCE(in_packets, 0), \
                 COALESCE(out_packets, 0) FROM port_sample WHERE series_id = $1 \
                 AND slot_ms > $2 AND slot_ms <= $3 AND ts > $4 AND ts <= $5 \
                 AND dt_ms IS NOT NULL",
                &[&id, &lo, &hi, &from_s, &to_s],
            )
        })?;
        let e = super::conn::pg_err(&self.shared.target, "reading raw samples");
        for r in rows {
            let ts: i64 = r.try_get(0).map_err(&e)?;
            let dt: i64 = r.try_get(1).map_err(&e)?;
            let io: [i64; 4] = [
                r.try_get(2).map_err(&e)?,
                r.try_get(3).map_err(&e)?,
                r.try_get(4).map_err(&e)?,
                r.try_get(5).map_err(&e)?,
            ];
            if dt > 0 {
                grid.add(ts * 1000 - dt, dt, io, dt as f64);
            }
        }
        Ok(())
    }

    /// Adds an aggregate's buckets of `tier` overlapping `[from_s, to_s)` to `grid`.
    pub(crate) fn buckets_into(
        &self,
        id: i64,
        tier: Tier,
        from_s: i64,
        to_s: i64,
        grid: &mut Grid,
    ) -> Result<(), StoreError> {
        let (table, len_ms) = match tier {
            Tier::Raw => TABLES[0],
            Tier::M5 => TABLES[1],
            Tier::H1 => TABLES[2],
            Tier::D1 => TABLES[3],
        };
        let lo = (from_s * 1000).div_euclid(len_ms);
        let hi = (to_s * 1000 + len_ms - 1).div_euclid(len_ms);
        // Rollups keep no packets: pps is read from slots only (as on SQLite).
        let packets = if tier == Tier::Raw {
            "in_packets, out_packets"
        } else {
            "0::bigint, 0::bigint"
        };
        let sql = format!(
            "SELECT bucket, in_octets, out_octets, {packets}, covered_ms FROM {table} \
             WHERE series_id = $1 AND bucket >= $2 AND bucket < $3"
        );
        let rows = self
            .shared
            .with("reading aggregates", |c| c.query(&sql, &[&id, &lo, &hi]))?;
        let e = super::conn::pg_err(&self.shared.target, "reading aggregates");
        for r in rows {
            let b: i64 = r.try_get(0).map_err(&e)?;
            let io: [i64; 4] = [
                r.try_get(1).map_err(&e)?,
                r.try_get(2).map_err(&e)?,
                r.try_get(3).map_err(&e)?,
                r.try_get(4).map_err(&e)?,
            ];
            let covered: f64 = r.try_get(5).map_err(&e)?;
            grid.add(b * len_ms, len_ms, io, covered.clamp(0.0, len_ms as f64));
        }
        Ok(())
    }

    fn names(&self, sql: &str, arg: &str, kind: EntityKind) -> Result<Vec<Entity>, StoreError> {
        self.shared.with("listing series", |c| {
            c.query(sql, &[&arg])?
                .iter()
                .map(|r| Ok(Entity::new(kind, r.try_get::<_, String>(0)?)))
                .collect()
        })
    }
}

fn at_s(v: i64) -> Timestamp {
    Timestamp::from_second(v).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn u(v: Option<i64>) -> Option<u64> {
    v.and_then(|v| u64::try_from(v).ok())
}

impl SeriesSource for PgReader {
    fn range(&self, q: &RangeQuery) -> Result<SeriesData, StoreError> {
        let id = self.id(&q.entity)?;
        let is_port = q.entity.kind == EntityKind::Port;
        let (tier, step) = if is_port {
            // Any step from the raw samples: a port has no rollups here.
            let (_, step) = plan(&q.clone().tier(Tier::Raw), true, &self.retention, || {
                Ok(None)
            })?;
            (q.tier.unwrap_or(Tier::Raw), step)
        } else {
            plan(q, false, &self.retention, || {
                Ok(self.newest()?.map(|t| t.as_second()))
            })?
        };
        let mut grid = Grid::new(q, step)?;
        let (from_s, to_s) = (grid.g0, q.to.as_second());
        if is_port {
            self.raw_into(id, from_s, to_s, &mut grid)?;
        } else {
            self.buckets_into(id, tier, from_s, to_s, &mut grid)?;
        }
        let capacity = match q.metric {
            Metric::Utilization => self.capacity(id, is_port)?,
            _ => None,
        };
        Ok(grid.data(q, tier, capacity))
    }

    fn latest(
        &self,
        entity: &Entity,
        metric: Metric,
        min_coverage: f64,
    ) -> Result<Option<Point>, StoreError> {
        let id = self.id(entity)?;
        let is_port = entity.kind == EntityKind::Port;
        let q = RangeQuery::new(
            entity.clone(),
            metric,
            Timestamp::UNIX_EPOCH,
            Timestamp::UNIX_EPOCH,
        )
        .min_coverage(min_coverage);
        let capacity = match metric {
            Metric::Utilization => self.capacity(id, is_port)?,
            _ => None,
        };
        let f = |v: Option<i64>| v.unwrap_or(0).max(0) as f64;
        if is_port {
            let row = self.shared.with("reading the latest sample", |c| {
                c.query_opt(
                    "SELECT ts, dt_ms, in_octets, out_octets, in_packets, out_packets \
                     FROM port_sample WHERE series_id = $1 ORDER BY slot_ms DESC LIMIT 1",
                    &[&id],
                )?
                .map(|r| -> Result<_, postgres::Error> {
                    Ok((
                        r.try_get::<_, i64>(0)?,
                        r.try_get::<_, Option<i64>>(1)?,
                        [r.try_get(2)?, r.try_get(3)?, r.try_get(4)?, r.try_get(5)?],
                    ))
                })
                .transpose()
            })?;
            let Some((ts, dt, io)) = row else {
                return Ok(None);
            };
            let time = at_s(ts);
            let Some(dt) = dt.filter(|d| *d > 0) else {
                return Ok(Some(Point {
                    time,
                    value: None,
                    coverage: 0.0,
                }));
            };
            let sums = Sums {
                in_octets: f(io[0]),
                out_octets: f(io[1]),
                in_packets: f(io[2]),
                out_packets: f(io[3]),
                covered_ms: dt as f64,
            };
            return Ok(Some(point_over(&sums, &q, dt as f64, capacity, time)));
        }
        let rows = self.shared.with("reading the latest slots", |c| {
            c.query(
                "SELECT bucket, in_octets, out_octets, in_packets, out_packets, covered_ms \
                 FROM agg_slot WHERE series_id = $1 ORDER BY bucket DESC LIMIT 15",
                &[&id],
            )
        })?;
        let e = super::conn::pg_err(&self.shared.target, "reading the latest slots");
        let slot_ms = TABLES[0].1 as f64;
        for r in rows {
            let slot: i64 = r.try_get(0).map_err(&e)?;
            let sums = Sums {
                in_octets: f(r.try_get(1).map_err(&e)?),
                out_octets: f(r.try_get(2).map_err(&e)?),
                in_packets: f(r.try_get(3).map_err(&e)?),
                out_packets: f(r.try_get(4).map_err(&e)?),
                covered_ms: r.try_get::<_, f64>(5).map_err(&e)?.clamp(0.0, slot_ms),
            };
            let time =
                Timestamp::from_millisecond(slot * TABLES[0].1).unwrap_or(Timestamp::UNIX_EPOCH);
            let p = point_over(&sums, &q, slot_ms, capacity, time);
            if p.value.is_some() {
                return Ok(Some(p));
            }
        }
        Ok(None)
    }

    fn port_samples(
        &self,
        entity: &Entity,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<StoredSample>, StoreError> {
        let id = self.id(entity)?;
        // Slots start before their response: look a day back on the key, then filter on ts.
        let bounds = [
            from.as_millisecond() - 86_400_000,
            to.as_millisecond(),
            from.as_second(),
            to.as_second(),
        ];
        self.shared.with("reading port samples", |c| {
            c.query(
                "SELECT ts, dt_ms, in_octets, out_octets, in_packets, out_packets, oper, flag, speed_bps \
                 FROM port_sample WHERE series_id = $1 AND slot_ms >= $2 AND slot_ms < $3 \
                 AND ts >= $4 AND ts < $5 ORDER BY ts",
                &[&id, &bounds[0], &bounds[1], &bounds[2], &bounds[3]],
            )?
            .iter()
            .map(|r| {
                Ok(StoredSample {
                    time: at_s(r.try_get(0)?),
                    dt_ms: u(r.try_get(1)?),
                    in_octets: u(r.try_get(2)?),
                    out_octets: u(r.try_get(3)?),
                    in_packets: u(r.try_get(4)?),
                    out_packets: u(r.try_get(5)?),
                    oper: r.try_get::<_, Option<i16>>(6)?.map(i64::from),
                    flag: i64::from(r.try_get::<_, i16>(7)?),
                    speed_bps: u(r.try_get(8)?),
                })
            })
            .collect()
        })
    }

    fn entities(&self, kind: EntityKind) -> Result<Vec<Entity>, StoreError> {
        self.names(
            "SELECT name FROM series WHERE kind = $1 ORDER BY name",
            kind.as_str(),
            kind,
        )
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
            format!("SELECT name FROM series WHERE kind = 'port' AND {col} = $1 ORDER BY name");
        self.names(&sql, value, EntityKind::Port)
    }

    fn newest(&self) -> Result<Option<Timestamp>, StoreError> {
        self.shared.with("reading the newest sample time", |c| {
            c.query_opt("SELECT value FROM meta WHERE key = 'newest_ms'", &[])?
                .map(|r| {
                    r.try_get::<_, i64>(0)
                        .map(|ms| Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH))
                })
                .transpose()
        })
    }

    fn last_answer(
        &self,
        switch: &str,
        before: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
        let (ms, s) = (before.as_millisecond(), before.as_second());
        let (timeout, agent) = (flag::TIMEOUT as i16, flag::AGENT_ERROR as i16);
        self.shared.with("reading a switch's last answer", |c| {
            let row = c.query_one(
                "SELECT MAX(p.ts) FROM series s JOIN port_sample p ON p.series_id = s.id \
                 WHERE s.kind = 'port' AND s.switch = $1 AND p.slot_ms < $2 AND p.ts < $3 \
                 AND p.flag NOT IN ($4, $5)",
                &[&switch, &ms, &s, &timeout, &agent],
            )?;
            Ok(row.try_get::<_, Option<i64>>(0)?.map(at_s))
        })
    }
}
