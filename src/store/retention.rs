//! Retention: deletes rows older than each tier's horizon, a few series at a time in short
//! transactions between write batches, so the writer is never blocked for long.

use std::path::Path;

use rusqlite::{Connection, params};

use super::SLOT_SECS;
use super::error::{SqlContext, StoreError};
use super::schema::RECENT_CHUNK_SECS;
use crate::config::Retention;

/// Where the round-robin over series has got to.
#[derive(Debug, Default)]
pub(crate) struct RetentionCursor {
    next_series: i64,
}

impl RetentionCursor {
    /// True when the next step starts a new round over the series (the last one ended).
    pub(crate) fn at_start(&self) -> bool {
        self.next_series == 0
    }
}

/// The deletes of one tier: table, time column, and the column's unit in seconds.
const TIERS: [(&str, &str, i64); 5] = [
    ("port_sample_by_series", "ts", 1),
    ("agg_slot", "slot", SLOT_SECS),
    ("rollup_5m_by_series", "bucket", 300),
    ("rollup_1h", "bucket", 3600),
    ("rollup_1d", "bucket", 86_400),
];

fn horizon(r: &Retention, table: &str) -> Option<u64> {
    let d = match table {
        "port_sample_by_series" | "agg_slot" => r.raw,
        "rollup_5m_by_series" => r.rollup_5m,
        "rollup_1h" => r.rollup_1h,
        _ => r.rollup_1d,
    };
    d.map(|d| d.as_secs())
}

/// Deletes expired rows of up to `batch` series (one short transaction), continuing where the
/// previous call stopped. `now_s` is the newest sweep's time. Returns the rows deleted.
pub(crate) fn step(
    conn: &mut Connection,
    path: &Path,
    retention: &Retention,
    cursor: &mut RetentionCursor,
    now_s: i64,
    batch: usize,
) -> Result<u64, StoreError> {
    let tx = conn.transaction().ctx(path, "starting a retention step")?;
    let ids: Vec<i64> = tx
        .prepare_cached("SELECT id FROM series WHERE id >= ?1 ORDER BY id LIMIT ?2")
        .and_then(|mut s| {
            s.query_map(params![cursor.next_series, batch as i64], |r| r.get(0))?
                .collect()
        })
        .ctx(path, "listing series for retention")?;
    let mut deleted = 0u64;
    for (table, col, unit) in TIERS {
        let Some(keep) = horizon(retention, table) else {
            continue;
        };
        let cutoff = (now_s - keep as i64).div_euclid(unit);
        let sql = format!("DELETE FROM {table} WHERE series_id = ?1 AND {col} < ?2");
        let mut stmt = tx
            .prepare_cached(&sql)
            .ctx(path, "preparing a retention delete")?;
        for id in &ids {
            deleted += stmt
                .execute(params![id, cutoff])
                .ctx(path, "deleting expired rows")? as u64;
        }
    }
    // The recent halves, keyed by time first: one range delete each (nothing, unless the
    // retention is shorter than what they hold).
    if let Some(keep) = horizon(retention, "port_sample_by_series") {
        let chunk = (now_s - keep as i64).div_euclid(RECENT_CHUNK_SECS);
        deleted += tx
            .prepare_cached("DELETE FROM port_sample_recent WHERE chunk < ?1")
            .and_then(|mut s| s.execute([chunk]))
            .ctx(path, "deleting expired rows")? as u64;
    }
    if let Some(keep) = horizon(retention, "rollup_5m_by_series") {
        let bucket = (now_s - keep as i64).div_euclid(300);
        deleted += tx
            .prepare_cached("DELETE FROM rollup_5m_recent WHERE bucket < ?1")
            .and_then(|mut s| s.execute([bucket]))
            .ctx(path, "deleting expired rows")? as u64;
    }
    tx.commit().ctx(path, "committing a retention step")?;
    cursor.next_series = match ids.last() {
        Some(last) if ids.len() == batch => last + 1,
        _ => 0,
    };
    Ok(deleted)
}
