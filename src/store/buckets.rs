//! Writing bucket sums and sample rows: the per-bucket accumulator, multi-row INSERTs for
//! samples, and multi-row UPSERTs that add into 60 s slots and rollup buckets while keeping
//! coverage (as missing milliseconds) and peaks.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{Transaction, params_from_iter};

use super::entity::Tier;
use super::error::{SqlContext, StoreError};
use super::{SLOT_SECS, schema};

const SLOT_MS: i64 = SLOT_SECS * 1000;
const M5_MS: i64 = 300_000;
/// Coverage counts as complete when less than 1/1000 of the bucket is missing (clock jitter
/// between `dt` and response times).
const TOLERANCE_DIVISOR: i64 = 1000;

/// Sums for one bucket of one series, built up over a batch and written with one UPSERT.
#[derive(Default, Clone, Copy)]
pub(crate) struct Acc {
    pub(crate) in_octets: u64,
    pub(crate) out_octets: u64,
    pub(crate) in_packets: u64,
    pub(crate) out_packets: u64,
    pub(crate) covered_ms: f64,
    pub(crate) max_in_kbps: u64,
    pub(crate) max_out_kbps: u64,
}

impl Acc {
    pub(crate) fn add(&mut self, o: &Acc) {
        self.in_octets += o.in_octets;
        self.out_octets += o.out_octets;
        self.in_packets += o.in_packets;
        self.out_packets += o.out_packets;
        self.covered_ms += o.covered_ms;
        self.max_in_kbps = self.max_in_kbps.max(o.max_in_kbps);
        self.max_out_kbps = self.max_out_kbps.max(o.max_out_kbps);
    }
}

/// One `port_sample_recent` row's values, in column order (the chunk first).
pub(crate) type SampleRow = [Option<i64>; 10];

/// Rows per multi-row INSERT (10 parameters each).
pub(crate) const ROWS_PER_INSERT: usize = 64;
pub(crate) const INSERT_SAMPLE: &str = "INTO port_sample_recent(chunk, series_id, ts, dt_ms, \
     in_octets, out_octets, in_packets, out_packets, oper, flag) VALUES";
pub(crate) const ONE_ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// The same rows straight into `port_sample_by_series` (no chunk column), for a batch that
/// carries many sweeps of each switch: sorted by (series, time), its rows already share
/// each port's pages, and going through the recent table would write them twice.
pub(crate) const INSERT_SAMPLE_BY_SERIES: &str = "INTO port_sample_by_series(series_id, ts, \
     dt_ms, in_octets, out_octets, in_packets, out_packets, oper, flag) VALUES";
pub(crate) const ONE_ROW_BY_SERIES: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// Writes the pending sample rows (into `port_sample_by_series` when `direct`, else into
/// `port_sample_recent`): full chunks with one statement, the rest one by one.
pub(crate) fn insert_rows(
    tx: &Transaction<'_>,
    path: &Path,
    rows: &mut Vec<SampleRow>,
    direct: bool,
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    // The statements' texts, built once per process (see `Table::sql`).
    use std::sync::OnceLock;
    static TEXTS: [OnceLock<String>; 4] = [const { OnceLock::new() }; 4];
    let (into, one, skip) = if direct {
        (INSERT_SAMPLE_BY_SERIES, ONE_ROW_BY_SERIES, 1)
    } else {
        (INSERT_SAMPLE, ONE_ROW, 0)
    };
    let text = |full: bool| {
        TEXTS[usize::from(direct) * 2 + usize::from(full)].get_or_init(|| {
            let n = if full { ROWS_PER_INSERT } else { 1 };
            format!("INSERT {into} {}", vec![one; n].join(", "))
        })
    };
    if rows.len() == ROWS_PER_INSERT {
        tx.prepare_cached(text(true))
            .and_then(|mut s| s.execute(params_from_iter(rows.iter().flat_map(|r| &r[skip..]))))
            .ctx(path, "writing port samples")?;
    } else {
        let mut s = tx
            .prepare_cached(text(false))
            .ctx(path, "writing port samples")?;
        for row in rows.iter() {
            s.execute(params_from_iter(&row[skip..]))
                .ctx(path, "writing port samples")?;
        }
    }
    rows.clear();
    Ok(())
}

/// 5-minute bucket sums on their way into the 1-hour and 1-day rollups, merged per bucket.
#[derive(Default)]
pub(crate) struct Coarse {
    h1: BTreeMap<(i64, i64), Acc>,
    d1: BTreeMap<(i64, i64), Acc>,
}

impl Coarse {
    pub(crate) fn add(&mut self, sid: i64, bucket_5m: i64, a: &Acc) {
        let start_ms = bucket_5m * M5_MS;
        let h = start_ms.div_euclid(Tier::H1.bucket_secs() * 1000);
        let d = start_ms.div_euclid(Tier::D1.bucket_secs() * 1000);
        self.h1.entry((sid, h)).or_default().add(a);
        self.d1.entry((sid, d)).or_default().add(a);
    }

    /// Buckets held.
    pub(crate) fn len(&self) -> usize {
        self.h1.len() + self.d1.len()
    }

    /// Adds the sums held into the 1-hour and 1-day rollups (upserts that add, so a bucket
    /// may be written in several parts) and forgets them.
    pub(crate) fn write(&mut self, tx: &Transaction<'_>, path: &Path) -> Result<(), StoreError> {
        write_buckets(tx, path, Table::Rollup(Tier::H1), &self.h1)?;
        write_buckets(tx, path, Table::Rollup(Tier::D1), &self.d1)?;
        self.h1.clear();
        self.d1.clear();
        Ok(())
    }
}

/// A table of buckets: the aggregates' 60 s slots, a rollup tier (for 5 minutes, the sealed
/// buckets' table), or the open 5-minute buckets (`rollup_5m_recent`, keyed by bucket first).
#[derive(Clone, Copy)]
pub(crate) enum Table {
    Slot,
    Rollup(Tier),
    Recent5m,
}

/// Bucket rows per multi-row UPSERT (7 parameters each).
const BUCKETS_PER_UPSERT: usize = 64;

impl Table {
    fn len_ms(self) -> i64 {
        match self {
            Table::Slot => SLOT_MS,
            Table::Rollup(t) => t.bucket_secs() * 1000,
            Table::Recent5m => M5_MS,
        }
    }

    /// [`Table::build_sql`] for one row or [`BUCKETS_PER_UPSERT`] rows, built once per
    /// process: the statement cache is looked up by the text, and building a 64-row text
    /// for every statement cost more than the look-up.
    fn sql(self, rows: usize) -> std::borrow::Cow<'static, str> {
        use std::sync::OnceLock;
        static TEXTS: [OnceLock<String>; 12] = [const { OnceLock::new() }; 12];
        let table = match self {
            Table::Slot => 0,
            Table::Rollup(Tier::Raw) => 1,
            Table::Rollup(Tier::M5) => 2,
            Table::Rollup(Tier::H1) => 3,
            Table::Rollup(Tier::D1) => 4,
            Table::Recent5m => 5,
        };
        let full = rows == BUCKETS_PER_UPSERT;
        if !full && rows != 1 {
            // Not one of the two sizes the writer uses: built each time.
            return self.build_sql(rows).into();
        }
        TEXTS[table * 2 + usize::from(full)]
            .get_or_init(|| self.build_sql(rows))
            .as_str()
            .into()
    }

    /// The UPSERT adding `rows` bucket rows into the table. `missing_ms` of a new row is the
    /// bucket minus the covered time; on conflict the covered time (bucket length minus the
    /// new row's missing_ms) is subtracted, and less than 1/1000 of the bucket counts as 0.
    fn build_sql(self, rows: usize) -> String {
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
            Table::Rollup(_) | Table::Recent5m => format!(
                "INSERT INTO {}(series_id, bucket, in_octets, out_octets, missing_ms, \
                 max_in_kbps, max_out_kbps) VALUES {values} {}",
                self.rollup_name(),
                rollup_merge(len)
            ),
        }
    }

    fn rollup_name(self) -> &'static str {
        match self {
            Table::Slot => "agg_slot",
            Table::Rollup(t) => t.rollup_table().unwrap_or("rollup_5m_by_series"),
            Table::Recent5m => "rollup_5m_recent",
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
            Table::Rollup(_) | Table::Recent5m => [
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

/// Adds 5-minute bucket sums: a bucket still open (at or after `sealed_5m`) into
/// `rollup_5m_recent`, where its rows stay side by side with the other series' rows of the
/// same bucket until it is sealed (into `rollup_5m_by_series` when `direct`: a batch of many
/// sweeps per switch, whose rows already share each series' pages; the seal adds what the
/// recent table holds of the same bucket); a late one (already sealed) into
/// `rollup_5m_by_series` and, through `coarse`, into the hourly and daily tiers. Returns how
/// many were late. Each (series, bucket) comes once.
pub(crate) fn write_5m<'a>(
    tx: &Transaction<'_>,
    path: &Path,
    m5: impl IntoIterator<Item = (&'a (i64, i64), &'a Acc)>,
    sealed_5m: i64,
    coarse: &mut Coarse,
    direct: bool,
) -> Result<u64, StoreError> {
    let (late, open): (Vec<_>, Vec<_>) = m5.into_iter().partition(|((_, b), _)| *b < sealed_5m);
    let open_table = if direct {
        Table::Rollup(Tier::M5)
    } else {
        Table::Recent5m
    };
    write_buckets(tx, path, open_table, open)?;
    write_buckets(tx, path, Table::Rollup(Tier::M5), late.iter().copied())?;
    for ((sid, b), a) in &late {
        coarse.add(*sid, *b, a);
    }
    Ok(late.len() as u64)
}

/// Moves the 5-minute buckets before `to_5m` (sealed now) from `rollup_5m_recent` into
/// `rollup_5m_by_series`, in series order (each series' page is written once), adding into a
/// row already there.
pub(crate) fn move_sealed_5m(
    tx: &Transaction<'_>,
    path: &Path,
    to_5m: i64,
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO rollup_5m_by_series(series_id, bucket, in_octets, out_octets, missing_ms, \
         max_in_kbps, max_out_kbps) SELECT series_id, bucket, in_octets, out_octets, \
         missing_ms, max_in_kbps, max_out_kbps FROM rollup_5m_recent WHERE bucket < ?1 \
         ORDER BY series_id, bucket {}",
        rollup_merge(M5_MS)
    );
    with_sort_cache(tx, path, || {
        tx.prepare_cached(&sql)
            .and_then(|mut s| s.execute([to_5m]))
            .ctx(path, "moving sealed 5-minute buckets")
    })?;
    tx.prepare_cached("DELETE FROM rollup_5m_recent WHERE bucket < ?1")
        .and_then(|mut s| s.execute([to_5m]))
        .ctx(path, "moving sealed 5-minute buckets")?;
    Ok(())
}

/// Runs a writer's statement that sorts rows into series order with the smaller cache (the
/// sort's in-memory run is at most the cache's size: see `schema::MOVE_CACHE_KIB`), and
/// gives the writer its usual cache back even when the statement fails.
fn with_sort_cache<T>(
    tx: &Transaction<'_>,
    path: &Path,
    f: impl FnOnce() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    schema::set_writer_cache(tx, path, Some(schema::MOVE_CACHE_KIB))?;
    let out = f();
    schema::set_writer_cache(tx, path, None)?;
    out
}

/// Moves the samples of `port_sample_recent` chunks before `chunk` into
/// `port_sample_by_series`, in (series, time) order: each port's page is written once for all
/// the sweeps since the last move.
pub(crate) fn move_samples(
    tx: &Transaction<'_>,
    path: &Path,
    chunk: i64,
) -> Result<usize, StoreError> {
    let moved = with_sort_cache(tx, path, || {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO port_sample_by_series(series_id, ts, dt_ms, in_octets, \
             out_octets, in_packets, out_packets, oper, flag) SELECT series_id, ts, dt_ms, \
             in_octets, out_octets, in_packets, out_packets, oper, flag \
             FROM port_sample_recent WHERE chunk < ?1 ORDER BY series_id, ts",
        )
        .and_then(|mut s| s.execute([chunk]))
        .ctx(path, "moving samples")
    })?;
    tx.prepare_cached("DELETE FROM port_sample_recent WHERE chunk < ?1")
        .and_then(|mut s| s.execute([chunk]))
        .ctx(path, "moving samples")?;
    Ok(moved)
}

/// The `ON CONFLICT` clause that adds a rollup row (`excluded`) into a stored one of a bucket
/// of `len` ms: sums added, covered time subtracted from the missing time (less than 1/1000
/// of the bucket counts as 0), peaks kept.
pub(crate) fn rollup_merge(len: i64) -> String {
    let tol = len / TOLERANCE_DIVISOR;
    format!(
        "ON CONFLICT DO UPDATE SET \
         in_octets = in_octets + excluded.in_octets, \
         out_octets = out_octets + excluded.out_octets, \
         missing_ms = CASE WHEN missing_ms - ({len} - excluded.missing_ms) <= {tol} THEN 0 \
         ELSE missing_ms - ({len} - excluded.missing_ms) END, \
         max_in_kbps = max(max_in_kbps, excluded.max_in_kbps), \
         max_out_kbps = max(max_out_kbps, excluded.max_out_kbps)"
    )
}

/// Adds `(series, bucket, sums)` into a table as they come (no sorting, no list of them all:
/// for the open buckets held per port, which come nearly in key order), many rows per
/// statement.
pub(crate) fn stream_buckets(
    tx: &Transaction<'_>,
    path: &Path,
    table: Table,
    buckets: impl Iterator<Item = (i64, i64, Acc)>,
) -> Result<(), StoreError> {
    let mut chunk = [[0i64; 7]; BUCKETS_PER_UPSERT];
    let mut n = 0;
    let mut full = None;
    for (sid, b, a) in buckets {
        chunk[n] = table.row(sid, b, &a);
        n += 1;
        if n == BUCKETS_PER_UPSERT {
            if full.is_none() {
                full = Some(
                    tx.prepare_cached(&table.sql(BUCKETS_PER_UPSERT))
                        .ctx(path, "preparing a bucket upsert")?,
                );
            }
            if let Some(st) = full.as_mut() {
                st.execute(params_from_iter(chunk.iter().flatten()))
                    .ctx(path, "writing buckets")?;
            }
            n = 0;
        }
    }
    if n > 0 {
        let mut st = tx
            .prepare_cached(&table.sql(1))
            .ctx(path, "preparing a bucket upsert")?;
        for row in &chunk[..n] {
            st.execute(params_from_iter(row.iter()))
                .ctx(path, "writing buckets")?;
        }
    }
    Ok(())
}

/// Adds bucket sums into a table (creating rows), in key order, many rows per statement.
pub(crate) fn write_buckets<'a>(
    tx: &Transaction<'_>,
    path: &Path,
    table: Table,
    buckets: impl IntoIterator<Item = (&'a (i64, i64), &'a Acc)>,
) -> Result<(), StoreError> {
    let mut rows: Vec<[i64; 7]> = buckets
        .into_iter()
        .map(|((sid, b), a)| table.row(*sid, *b, a))
        .collect();
    match table {
        // Keyed by bucket first.
        Table::Recent5m => rows.sort_unstable_by_key(|r| (r[1], r[0])),
        _ => rows.sort_unstable_by_key(|r| (r[0], r[1])),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The move puts every sample older than the chunk into the series' pages, in a sort that
    /// runs with the smaller cache, and gives the writer its usual cache back.
    #[test]
    fn the_move_sorts_with_a_small_cache_and_restores_the_writers() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|source| StoreError::Io {
            path: std::env::temp_dir(),
            context: "making a temporary directory",
            source,
        })?;
        let path = dir.path().join("s.db");
        let mut conn = schema::open_for_write(&path)?;
        let cache = |c: &rusqlite::Connection| -> i64 {
            c.query_row("PRAGMA cache_size", [], |r| r.get(0))
                .unwrap_or(0)
        };
        let usual = cache(&conn);
        assert!(usual < -schema::MOVE_CACHE_KIB, "usual cache {usual}");
        let tx = conn.transaction().ctx(&path, "test")?;
        // 20,000 samples of 400 series over 50 chunks, more than a run of the sort holds,
        // written in (chunk, series) order as the writer writes them.
        for chunk in 0..50i64 {
            for sid in (0..400i64).rev() {
                tx.execute(
                    "INSERT INTO port_sample_recent(chunk, series_id, ts, dt_ms, in_octets, \
                     out_octets, in_packets, out_packets, oper, flag) \
                     VALUES (?1, ?2, ?3, 5000, ?4, ?4, 0, 0, 1, 0)",
                    rusqlite::params![chunk, sid, chunk * 5, sid * 1000 + chunk],
                )
                .ctx(&path, "test")?;
            }
        }
        let moved = move_samples(&tx, &path, 40)?;
        assert_eq!(moved, 40 * 400);
        assert_eq!(cache(&tx), usual, "the writer's cache is back");
        let left: i64 = tx
            .query_row("SELECT count(*) FROM port_sample_recent", [], |r| r.get(0))
            .ctx(&path, "test")?;
        assert_eq!(left, 10 * 400);
        let (n, sum): (i64, i64) = tx
            .query_row(
                "SELECT count(*), sum(in_octets) FROM port_sample_by_series WHERE series_id = 7",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ctx(&path, "test")?;
        assert_eq!((n, sum), (40, (0..40).map(|c| 7000 + c).sum::<i64>()));
        Ok(())
    }
}
