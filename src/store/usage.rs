//! Billing reads and imported usage: the exact 5-minute rollup rows of one series (the basis
//! of 95th-percentile billing, gaps left out rather than zero-filled), and the `usage_record`
//! table that `bandwatch import` and `POST /api/v1/usage` fill.
//!
//! A usage record is keyed by (customer, start, end, source): writing the same key again
//! replaces its bytes, so an import can be re-run without doubling anything. A record whose
//! period overlaps another record of the same customer and source without being the same
//! period is refused, because it would count the overlap twice.

use std::sync::Arc;

use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::db::Db;
use super::entity::Entity;
use super::error::{SqlContext, StoreError};
use super::traits::UsageStore;
use super::usage_import::{StagedImport, UsageImport};

/// Length of a billing slot (the 5-minute rollup bucket) in seconds.
pub const SLOT_5M_SECS: i64 = 300;

/// One stored 5-minute bucket of a series.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Bucket5m {
    /// Start of the bucket, unix seconds.
    pub start: i64,
    /// Octets received in the bucket (measured, not scaled).
    pub in_octets: i64,
    /// Octets sent in the bucket (measured, not scaled).
    pub out_octets: i64,
    /// Milliseconds of the bucket that were measured (weighted for aggregates), 0..=300000.
    pub covered_ms: i64,
}

/// One imported usage record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UsageRecord {
    /// Customer id.
    pub customer: String,
    /// Start of the period (inclusive).
    pub start: Timestamp,
    /// End of the period (exclusive).
    pub end: Timestamp,
    /// Bytes used in the period.
    pub bytes: u64,
    /// Where the figure comes from (`cdn`, `api`, ...; empty when not given).
    pub source: String,
}

/// What writing a batch of usage records did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UsageWrite {
    /// Records whose key was new.
    pub inserted: usize,
    /// Records that replaced a stored record with the same key and different bytes.
    pub replaced: usize,
    /// Records identical to what was stored.
    pub unchanged: usize,
}

/// A record of the batch that overlaps a stored record of the same customer and source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageOverlap {
    /// Index of the offending record in the batch.
    pub index: usize,
    /// The stored record it overlaps.
    pub existing: UsageRecord,
}

/// The SQLite implementation of [`UsageStore`].
pub(crate) struct SqliteUsage {
    db: Arc<Db>,
}

impl SqliteUsage {
    /// The billing tables of `db`.
    pub(crate) fn new(db: Arc<Db>) -> SqliteUsage {
        SqliteUsage { db }
    }
}

impl UsageStore for SqliteUsage {
    fn customers(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.db.read()?;
        let mut stmt = conn
            .prepare_cached("SELECT name FROM series WHERE kind = 'customer' ORDER BY name")
            .ctx(self.db.path(), "listing customers")?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .ctx(self.db.path(), "listing customers")?;
        rows.collect::<Result<Vec<_>, _>>()
            .ctx(self.db.path(), "listing customers")
    }
    fn buckets_5m(
        &self,
        entity: &Entity,
        from: i64,
        to: i64,
    ) -> Result<Option<Vec<Bucket5m>>, StoreError> {
        let conn = self.db.read()?;
        let path = self.db.path();
        let id: Option<i64> = conn
            .prepare_cached("SELECT id FROM series WHERE kind = ?1 AND name = ?2")
            .and_then(|mut s| {
                s.query_row(params![entity.kind.as_str(), entity.name], |r| r.get(0))
                    .optional()
            })
            .ctx(path, "looking up a series")?;
        let Some(id) = id else {
            return Ok(None);
        };
        let lo = from.div_euclid(SLOT_5M_SECS);
        let hi = (to + SLOT_5M_SECS - 1).div_euclid(SLOT_5M_SECS);
        let mut st = conn
            .prepare_cached(
                "SELECT bucket, in_octets, out_octets, missing_ms FROM rollup_5m_by_series \
                 WHERE series_id = ?1 AND bucket >= ?2 AND bucket < ?3 ORDER BY bucket",
            )
            .ctx(path, "preparing a 5-minute read")?;
        let rows = st
            .query_map(params![id, lo, hi], |r| {
                let missing: i64 = r.get(3)?;
                Ok(Bucket5m {
                    start: r.get::<_, i64>(0)? * SLOT_5M_SECS,
                    in_octets: r.get(1)?,
                    out_octets: r.get(2)?,
                    covered_ms: (SLOT_5M_SECS * 1000 - missing).clamp(0, SLOT_5M_SECS * 1000),
                })
            })
            .ctx(path, "reading 5-minute buckets")?;
        let mut all = Vec::new();
        for row in rows {
            all.push(row.ctx(path, "reading 5-minute buckets")?);
        }
        // The buckets not sealed yet (a bucket in both halves, possible only in a database
        // written before they were split, is added up).
        let len = SLOT_5M_SECS * 1000;
        for (b, i, o, missing) in super::recent::buckets_5m(&conn, path, id, lo, hi)? {
            let covered = (len - missing).clamp(0, len);
            match all.iter_mut().find(|x| x.start == b * SLOT_5M_SECS) {
                Some(x) => {
                    x.in_octets += i;
                    x.out_octets += o;
                    x.covered_ms = (x.covered_ms + covered).min(len);
                }
                None => all.push(Bucket5m {
                    start: b * SLOT_5M_SECS,
                    in_octets: i,
                    out_octets: o,
                    covered_ms: covered,
                }),
            }
        }
        all.retain(|b| b.covered_ms > 0);
        all.sort_by_key(|b| b.start);
        Ok(Some(all))
    }

    fn records(&self, from: Timestamp, to: Timestamp) -> Result<Vec<UsageRecord>, StoreError> {
        let conn = self.db.read()?;
        let path = self.db.path();
        let mut st = conn
            .prepare_cached(
                "SELECT customer, start, end, bytes, source FROM usage_record \
                 WHERE start < ?2 AND end > ?1 ORDER BY customer, start, source",
            )
            .ctx(path, "preparing a usage read")?;
        let rows = st
            .query_map(params![from.as_second(), to.as_second()], record_of)
            .ctx(path, "reading usage records")?;
        rows.collect::<Result<Vec<_>, _>>()
            .ctx(path, "reading usage records")
    }

    fn write(
        &self,
        records: &[UsageRecord],
        now: Timestamp,
    ) -> Result<Result<UsageWrite, UsageOverlap>, StoreError> {
        let mut import = self.import()?;
        for (index, r) in records.iter().enumerate() {
            import.add(r, index as u64)?;
        }
        match import.finish(now)? {
            Ok(done) => Ok(Ok(done)),
            Err(c) => match c.first.into_iter().next() {
                Some(c) => Ok(Err(UsageOverlap {
                    index: c.line as usize,
                    existing: c.other,
                })),
                // Conflicts always list their first one.
                None => Ok(Ok(UsageWrite::default())),
            },
        }
    }

    fn import(&self) -> Result<Box<dyn UsageImport + '_>, StoreError> {
        if !self.db.writable() {
            return Err(StoreError::ReadOnly {
                path: self.db.path().to_path_buf(),
            });
        }
        Ok(Box::new(StagedImport::open(self.db.path())?))
    }

    fn firing_spans(
        &self,
        rules: &[String],
        entity: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        let conn = self.db.read()?;
        let path = self.db.path();
        let mut st = conn
            .prepare_cached(
                "SELECT rule, to_state, ts FROM alert_history WHERE entity = ?1 AND ts < ?2 \
                 ORDER BY rule, ts, id",
            )
            .ctx(path, "preparing an alert history read")?;
        let rows = st
            .query_map(params![entity, to], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .ctx(path, "reading the alert history")?;
        let mut history = Vec::new();
        for row in rows {
            let (rule, state, ts) = row.ctx(path, "reading the alert history")?;
            if rules.contains(&rule) {
                history.push((rule, state, ts));
            }
        }
        Ok(firing_spans_of(history, from, to))
    }
}

/// The spans `[start, end)` within `[from, to)` in which an alert was firing, from its
/// history rows `(rule, to_state, ts)` ordered by rule and time: a span opens on `firing`
/// and closes on the next other state (or at `to` while still firing). Both stores read
/// their rows and call this, so they answer the same.
pub(crate) fn firing_spans_of(
    history: impl IntoIterator<Item = (String, String, i64)>,
    from: i64,
    to: i64,
) -> Vec<(i64, i64)> {
    let mut spans = Vec::new();
    let mut open: Option<(String, i64)> = None;
    let mut close = |start: i64, end: i64| {
        let (s, e) = (start.max(from), end.min(to));
        if e > s {
            spans.push((s, e));
        }
    };
    for (rule, state, ts) in history {
        if let Some((r, start)) = &open
            && *r != rule
        {
            close(*start, to);
            open = None;
        }
        match (state.as_str(), &open) {
            ("firing", None) => open = Some((rule, ts)),
            ("firing", Some(_)) => {}
            (_, Some((_, start))) => {
                close(*start, ts);
                open = None;
            }
            (_, None) => {}
        }
    }
    if let Some((_, start)) = open {
        close(start, to);
    }
    spans.sort_unstable();
    spans
}

fn record_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<UsageRecord> {
    let ts = |v: i64| Timestamp::from_second(v).unwrap_or(Timestamp::UNIX_EPOCH);
    Ok(UsageRecord {
        customer: r.get(0)?,
        start: ts(r.get(1)?),
        end: ts(r.get(2)?),
        bytes: r.get::<_, i64>(3)?.max(0) as u64,
        source: r.get(4)?,
    })
}
