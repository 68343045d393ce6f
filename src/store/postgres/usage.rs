//! Billing reads and imported usage on PostgreSQL, with SQLite's semantics
//! (`store::usage`): 5-minute buckets of a series (an aggregate's from `rollup_5m`, a port's
//! from its raw samples), usage records keyed by (customer, start, end, source) where the
//! same key replaces and an overlapping different period is refused, and the spans in which
//! alerts were firing.

use std::sync::Arc;

use jiff::Timestamp;

use super::super::entity::{Entity, EntityKind, Metric, Tier};
use super::super::error::StoreError;
use super::super::reader::{Grid, RangeQuery};
use super::super::traits::UsageStore;
use super::super::usage::{Bucket5m, SLOT_5M_SECS, UsageOverlap, UsageRecord, UsageWrite};
use super::conn::{Shared, pg_err};
use super::reader::PgReader;
use crate::config::Retention;

/// The PostgreSQL implementation of [`UsageStore`].
pub(crate) struct PgUsage {
    shared: Arc<Shared>,
    reader: PgReader,
}

impl PgUsage {
    /// The billing tables of the shared database.
    pub(crate) fn new(shared: Arc<Shared>, retention: Retention) -> PgUsage {
        PgUsage {
            reader: PgReader::new(shared.clone(), retention),
            shared,
        }
    }
}

fn ts(v: i64) -> Timestamp {
    Timestamp::from_second(v).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn record_of(r: &postgres::Row) -> Result<UsageRecord, postgres::Error> {
    Ok(UsageRecord {
        customer: r.try_get(0)?,
        start: ts(r.try_get(1)?),
        end: ts(r.try_get(2)?),
        bytes: r.try_get::<_, i64>(3)?.max(0) as u64,
        source: r.try_get(4)?,
    })
}

impl UsageStore for PgUsage {
    fn customers(&self) -> Result<Vec<String>, StoreError> {
        self.shared.with("listing customers", |c| {
            c.query(
                "SELECT name FROM series WHERE kind = 'customer' ORDER BY name",
                &[],
            )?
            .iter()
            .map(|r| r.try_get(0))
            .collect()
        })
    }

    fn buckets_5m(
        &self,
        entity: &Entity,
        from: i64,
        to: i64,
    ) -> Result<Option<Vec<Bucket5m>>, StoreError> {
        let Some(id) = self.reader.id_opt(entity)? else {
            return Ok(None);
        };
        let from_t = ts(from.div_euclid(SLOT_5M_SECS) * SLOT_5M_SECS);
        let to_t = ts((to + SLOT_5M_SECS - 1).div_euclid(SLOT_5M_SECS) * SLOT_5M_SECS);
        if to_t <= from_t {
            return Ok(Some(Vec::new()));
        }
        let q = RangeQuery::new(entity.clone(), Metric::InBytes, from_t, to_t);
        let mut grid = Grid::new(&q, SLOT_5M_SECS)?;
        let (lo, hi) = (from_t.as_second(), to_t.as_second());
        if entity.kind == EntityKind::Port {
            self.reader.raw_into(id, lo, hi, &mut grid)?;
        } else {
            self.reader.buckets_into(id, Tier::M5, lo, hi, &mut grid)?;
        }
        Ok(Some(
            grid.steps()
                .filter(|(_, s)| s.covered_ms >= 0.5)
                .map(|(start, s)| Bucket5m {
                    start,
                    in_octets: s.in_octets.round() as i64,
                    out_octets: s.out_octets.round() as i64,
                    covered_ms: (s.covered_ms.round() as i64).clamp(0, SLOT_5M_SECS * 1000),
                })
                .collect(),
        ))
    }

    fn records(&self, from: Timestamp, to: Timestamp) -> Result<Vec<UsageRecord>, StoreError> {
        self.shared.with("reading usage records", |c| {
            c.query(
                "SELECT customer, start_s, end_s, bytes, source FROM usage_record \
                 WHERE start_s < $2 AND end_s > $1 ORDER BY customer, start_s, source",
                &[&from.as_second(), &to.as_second()],
            )?
            .iter()
            .map(record_of)
            .collect()
        })
    }

    fn write(
        &self,
        records: &[UsageRecord],
        now: Timestamp,
    ) -> Result<Result<UsageWrite, UsageOverlap>, StoreError> {
        let target = &self.shared.target;
        let e = |c| pg_err(target, c);
        let mut client = self.shared.client()?;
        let mut tx = client.transaction().map_err(e("starting a usage import"))?;
        // One import at a time, so two cannot each miss the other's overlapping record.
        tx.batch_execute("LOCK TABLE usage_record IN SHARE ROW EXCLUSIVE MODE")
            .map_err(e("locking the usage records"))?;
        let mut done = UsageWrite::default();
        for (index, r) in records.iter().enumerate() {
            let (start, end) = (r.start.as_second(), r.end.as_second());
            let bytes = i64::try_from(r.bytes).unwrap_or(i64::MAX);
            let overlap = tx
                .query_opt(
                    "SELECT customer, start_s, end_s, bytes, source FROM usage_record \
                     WHERE customer = $1 AND source = $2 AND start_s < $4 AND end_s > $3 \
                     AND NOT (start_s = $3 AND end_s = $4) ORDER BY start_s LIMIT 1",
                    &[&r.customer, &r.source, &start, &end],
                )
                .map_err(e("checking usage records for overlaps"))?;
            if let Some(row) = overlap {
                let existing = record_of(&row).map_err(e("reading a usage record"))?;
                // Dropping the transaction rolls it back: none of the batch is written.
                return Ok(Err(UsageOverlap { index, existing }));
            }
            let before: Option<i64> = tx
                .query_opt(
                    "SELECT bytes FROM usage_record WHERE customer = $1 AND source = $2 \
                     AND start_s = $3 AND end_s = $4",
                    &[&r.customer, &r.source, &start, &end],
                )
                .map_err(e("reading a usage record"))?
                .map(|row| row.try_get(0))
                .transpose()
                .map_err(e("reading a usage record"))?;
            match before {
                Some(b) if b == bytes => done.unchanged += 1,
                Some(_) => done.replaced += 1,
                None => done.inserted += 1,
            }
            if before != Some(bytes) {
                tx.execute(
                    "INSERT INTO usage_record (customer, start_s, end_s, bytes, source, written) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (customer, source, start_s, end_s) \
                     DO UPDATE SET bytes = EXCLUDED.bytes, written = EXCLUDED.written",
                    &[&r.customer, &start, &end, &bytes, &r.source, &now.as_second()],
                )
                .map_err(e("writing a usage record"))?;
            }
        }
        tx.commit().map_err(e("committing usage records"))?;
        Ok(Ok(done))
    }

    fn firing_spans(
        &self,
        rules: &[String],
        entity: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        let rows = self.shared.with("reading the alert history", |c| {
            c.query(
                "SELECT rule, to_state, ts FROM alert_history WHERE entity = $1 AND ts < $2 \
                 AND rule = ANY($3) ORDER BY rule, ts, id",
                &[&entity, &to, &rules],
            )
        })?;
        let e = pg_err(&self.shared.target, "reading the alert history");
        let mut history = Vec::with_capacity(rows.len());
        for r in rows {
            history.push((
                r.try_get::<_, String>(0).map_err(&e)?,
                r.try_get::<_, String>(1).map_err(&e)?,
                r.try_get::<_, i64>(2).map_err(&e)?,
            ));
        }
        Ok(crate::store::usage::firing_spans_of(history, from, to))
    }
}
