//! Reading the recent halves of the sample and 5-minute tables (`port_sample_recent`,
//! `rollup_5m_recent`, see `schema::MIGRATION_8`). They are keyed by time first, so one
//! series' rows are found by one key lookup per chunk or bucket they hold (a few dozen: the
//! writer moves them out every few minutes), never by scanning the other series' rows.

use std::path::Path;

use rusqlite::{Connection, params};

use super::error::{SqlContext, StoreError};
use super::schema::RECENT_CHUNK_SECS;

/// One row of `port_sample_recent`.
pub(crate) struct RecentSample {
    pub(crate) ts: i64,
    pub(crate) dt_ms: Option<i64>,
    pub(crate) in_octets: Option<i64>,
    pub(crate) out_octets: Option<i64>,
    pub(crate) in_packets: Option<i64>,
    pub(crate) out_packets: Option<i64>,
    pub(crate) oper: Option<i64>,
    pub(crate) flag: i64,
}

/// The keys `[lo, hi]` of a time-first table that hold rows, clipped to what it holds.
fn held(
    conn: &Connection,
    path: &Path,
    table: &str,
    col: &str,
    lo: i64,
    hi: i64,
) -> Result<Option<(i64, i64)>, StoreError> {
    // Two subqueries: each of min() and max() is one lookup at an end of the key; together
    // in one SELECT they would scan the table.
    let sql = format!("SELECT (SELECT min({col}) FROM {table}), (SELECT max({col}) FROM {table})");
    let (min, max): (Option<i64>, Option<i64>) = conn
        .prepare_cached(&sql)
        .and_then(|mut s| s.query_row([], |r| Ok((r.get(0)?, r.get(1)?))))
        .ctx(path, "reading recent rows")?;
    Ok(match (min, max) {
        (Some(min), Some(max)) if lo.max(min) <= hi.min(max) => Some((lo.max(min), hi.min(max))),
        _ => None,
    })
}

/// A port's recent samples with `from < ts <= to`, oldest first.
pub(crate) fn samples(
    conn: &Connection,
    path: &Path,
    series_id: i64,
    from: i64,
    to: i64,
) -> Result<Vec<RecentSample>, StoreError> {
    let mut out = Vec::new();
    let lo = (from + 1).div_euclid(RECENT_CHUNK_SECS);
    let hi = to.div_euclid(RECENT_CHUNK_SECS);
    let Some((lo, hi)) = held(conn, path, "port_sample_recent", "chunk", lo, hi)? else {
        return Ok(out);
    };
    let mut st = conn
        .prepare_cached(
            "SELECT ts, dt_ms, in_octets, out_octets, in_packets, out_packets, oper, flag \
             FROM port_sample_recent WHERE chunk = ?1 AND series_id = ?2 AND ts > ?3 \
             AND ts <= ?4 ORDER BY ts",
        )
        .ctx(path, "reading recent samples")?;
    for chunk in lo..=hi {
        let rows = st
            .query_map(params![chunk, series_id, from, to], recent_sample)
            .ctx(path, "reading recent samples")?;
        for row in rows {
            out.push(row.ctx(path, "reading recent samples")?);
        }
    }
    Ok(out)
}

/// A port's newest recent sample before `before` whose flag is not one of `skip`, walking
/// back one chunk at a time from `before`.
pub(crate) fn newest_sample(
    conn: &Connection,
    path: &Path,
    series_id: i64,
    before: i64,
    skip: &[i64],
) -> Result<Option<RecentSample>, StoreError> {
    let hi = (before - 1).div_euclid(RECENT_CHUNK_SECS);
    let Some((lo, hi)) = held(conn, path, "port_sample_recent", "chunk", i64::MIN, hi)? else {
        return Ok(None);
    };
    let mut st = conn
        .prepare_cached(
            "SELECT ts, dt_ms, in_octets, out_octets, in_packets, out_packets, oper, flag \
             FROM port_sample_recent WHERE chunk = ?1 AND series_id = ?2 AND ts < ?3 \
             ORDER BY ts DESC",
        )
        .ctx(path, "reading recent samples")?;
    for chunk in (lo..=hi).rev() {
        let rows = st
            .query_map(params![chunk, series_id, before], recent_sample)
            .ctx(path, "reading recent samples")?;
        for row in rows {
            let row = row.ctx(path, "reading recent samples")?;
            if !skip.contains(&row.flag) {
                return Ok(Some(row));
            }
        }
    }
    Ok(None)
}

/// A series' open 5-minute buckets `lo <= bucket < hi`: (bucket, in octets, out octets,
/// missing ms).
pub(crate) fn buckets_5m(
    conn: &Connection,
    path: &Path,
    series_id: i64,
    lo: i64,
    hi: i64,
) -> Result<Vec<(i64, i64, i64, i64)>, StoreError> {
    let mut out = Vec::new();
    let Some((lo, hi)) = held(conn, path, "rollup_5m_recent", "bucket", lo, hi - 1)? else {
        return Ok(out);
    };
    let mut st = conn
        .prepare_cached(
            "SELECT in_octets, out_octets, missing_ms FROM rollup_5m_recent \
             WHERE bucket = ?1 AND series_id = ?2",
        )
        .ctx(path, "reading open 5-minute buckets")?;
    for b in lo..=hi {
        let row: Option<(i64, i64, i64)> = st
            .query_row(params![b, series_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })
            .ctx(path, "reading open 5-minute buckets")?;
        if let Some((i, o, m)) = row {
            out.push((b, i, o, m));
        }
    }
    Ok(out)
}

/// A `port_sample_recent` row selected as `ts, dt_ms, in_octets, out_octets, in_packets,
/// out_packets, oper, flag`.
fn recent_sample(r: &rusqlite::Row<'_>) -> rusqlite::Result<RecentSample> {
    Ok(RecentSample {
        ts: r.get(0)?,
        dt_ms: r.get(1)?,
        in_octets: r.get(2)?,
        out_octets: r.get(3)?,
        in_packets: r.get(4)?,
        out_packets: r.get(5)?,
        oper: r.get(6)?,
        flag: r.get(7)?,
    })
}
