//! Reading series back from PostgreSQL. Raw port samples, the stored entities, the newest
//! time and a switch's last answer are read as on SQLite; ranges and the latest point need
//! the aggregates and rollups, which this backend does not compute yet, and say so.

use std::sync::Arc;

use jiff::Timestamp;

use super::super::entity::{Entity, EntityKind, Metric};
use super::super::error::StoreError;
use super::super::flag;
use super::super::reader::{Point, RangeQuery, SeriesData, StoredSample};
use super::super::traits::SeriesSource;
use super::conn::Shared;

/// The PostgreSQL implementation of [`SeriesSource`].
pub(crate) struct PgReader {
    shared: Arc<Shared>,
}

impl PgReader {
    /// Reads through the store's shared connection.
    pub(crate) fn new(shared: Arc<Shared>) -> PgReader {
        PgReader { shared }
    }

    fn not_yet(&self, what: &str) -> StoreError {
        StoreError::InvalidQuery(format!(
            "{}: {what} needs rollups and aggregates, which the PostgreSQL backend does not \
             compute yet (raw port samples only)",
            self.shared.target
        ))
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
    fn range(&self, _q: &RangeQuery) -> Result<SeriesData, StoreError> {
        Err(self.not_yet("a range"))
    }

    fn latest(
        &self,
        _entity: &Entity,
        _metric: Metric,
        _min_coverage: f64,
    ) -> Result<Option<Point>, StoreError> {
        Err(self.not_yet("the latest point"))
    }

    fn port_samples(
        &self,
        entity: &Entity,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<StoredSample>, StoreError> {
        let id: Option<i64> = self.shared.with("reading port samples", |c| {
            c.query_opt(
                "SELECT id FROM series WHERE kind = $1 AND name = $2",
                &[&entity.kind.as_str(), &entity.name],
            )?
            .map(|r| r.try_get(0))
            .transpose()
        })?;
        let Some(id) = id else {
            return Err(StoreError::UnknownSeries {
                path: self.shared.target.to_string().into(),
                entity: format!("{}:{}", entity.kind.as_str(), entity.name),
            });
        };
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
