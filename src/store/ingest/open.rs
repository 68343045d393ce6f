//! A port's open 5-minute bucket, summed in memory between writes: each sweep's piece is
//! added to the port's [`OpenDelta`], and the sums go into `rollup_5m_recent` (added to what
//! the row holds, as every sweep's piece used to be) every [`OPEN_FLUSH_MS`] of sweep time,
//! before a seal moves the bucket, on a flush, at shutdown and before a new topology. On the
//! rig at 200 x 48 every 10 s, the upsert of each port's open bucket with every batch was
//! the largest part of the writer's SQLite time; a row now takes one write a minute.
//!
//! What a crash (or a failed write, after which the writer reopens) loses is only in memory:
//! the raw samples are committed, and a port's 5-minute bucket is a function of its samples
//! alone (each split on the second it is stored with, as the raw reads split it). So when
//! the writer opens, the open buckets of every port (those at or after the 5-minute seal
//! mark) are counted again from the raw samples and replace what `rollup_5m_recent` holds
//! for them ([`Ingest::recount_open`]). Aggregates are not held: their pieces depend on the
//! coverage weights in force when each sample came, and they are a few rows per batch.

use std::path::Path;

use rusqlite::{Transaction, params};

use super::{Ingest, M5_MS};
use crate::hash::FastMap;
use crate::store::buckets::{Acc, Table, stream_buckets};
use crate::store::error::{SqlContext, StoreError};
use crate::store::schema::RECENT_CHUNK_SECS;
use crate::store::split::{share, split};

/// How much sweep time may pass between writes of the open buckets held in memory: how far
/// a port's newest 5-minute rows in the file may trail its raw samples.
pub(super) const OPEN_FLUSH_MS: i64 = 60_000;

/// A port's piece sums of one 5-minute bucket not yet added into `rollup_5m_recent` (40
/// bytes a port: packets are not rolled up).
#[derive(Clone, Copy, Debug)]
pub(super) struct OpenDelta {
    /// The bucket (unix ms / 300,000), `i64::MIN` when nothing is held.
    bucket: i64,
    in_octets: u64,
    out_octets: u64,
    max_in_kbps: u64,
    max_out_kbps: u64,
    covered_ms: u32,
}

impl Default for OpenDelta {
    fn default() -> Self {
        OpenDelta {
            bucket: i64::MIN,
            in_octets: 0,
            out_octets: 0,
            max_in_kbps: 0,
            max_out_kbps: 0,
            covered_ms: 0,
        }
    }
}

impl OpenDelta {
    /// Adds a piece of `bucket`. When the delta holds another bucket (a sample across a
    /// bucket's end, a late sample), the sums held are returned, to be written with the
    /// batch, and the delta holds the new bucket.
    pub(super) fn add(&mut self, bucket: i64, a: &Acc) -> Option<(i64, Acc)> {
        let out = if self.bucket != bucket {
            self.take()
        } else {
            None
        };
        self.bucket = bucket;
        self.in_octets = self.in_octets.wrapping_add(a.in_octets);
        self.out_octets = self.out_octets.wrapping_add(a.out_octets);
        self.max_in_kbps = self.max_in_kbps.max(a.max_in_kbps);
        self.max_out_kbps = self.max_out_kbps.max(a.max_out_kbps);
        let covered = (self.covered_ms as f64 + a.covered_ms).round();
        self.covered_ms = covered.clamp(0.0, f64::from(u32::MAX)) as u32;
        out
    }

    /// The sums held, leaving the delta empty.
    pub(super) fn take(&mut self) -> Option<(i64, Acc)> {
        if self.bucket == i64::MIN {
            return None;
        }
        let d = std::mem::take(self);
        Some((
            d.bucket,
            Acc {
                in_octets: d.in_octets,
                out_octets: d.out_octets,
                in_packets: 0,
                out_packets: 0,
                covered_ms: f64::from(d.covered_ms),
                max_in_kbps: d.max_in_kbps,
                max_out_kbps: d.max_out_kbps,
            },
        ))
    }
}

/// The pieces of one sample over the 5-minute buckets: `(bucket, sums)`, the sample ending
/// at second `ts` and lasting `dt_ms`. The writer and [`Ingest::recount_open`] both split
/// this way, so a recount gives what the writer held.
pub(super) fn port_pieces(
    ts: i64,
    dt_ms: i64,
    in_octets: u64,
    out_octets: u64,
    mut each: impl FnMut(i64, Acc),
) {
    if dt_ms <= 0 {
        return;
    }
    let end_ms = ts.saturating_mul(1000);
    let start_ms = end_ms - dt_ms;
    let kbps = |o: u64| (o as u128 * 8 / dt_ms as u128) as u64; // bits/ms = kbit/s
    let mut before = 0;
    for (b, ov) in split(start_ms, end_ms, M5_MS) {
        each(
            b,
            Acc {
                in_octets: share(in_octets, before, ov, dt_ms),
                out_octets: share(out_octets, before, ov, dt_ms),
                in_packets: 0,
                out_packets: 0,
                covered_ms: ov as f64,
                max_in_kbps: kbps(in_octets),
                max_out_kbps: kbps(out_octets),
            },
        );
        before += ov;
    }
}

impl Ingest {
    /// Adds every port's held sums into `rollup_5m_recent`, leaving the deltas empty.
    pub(super) fn flush_open(
        &mut self,
        tx: &Transaction<'_>,
        path: &Path,
    ) -> Result<(), StoreError> {
        self.open_flushed_ms = self.newest_ms;
        if !self.open_held {
            return Ok(());
        }
        self.open_held = false;
        let rows = self
            .ports
            .states
            .iter_mut()
            .filter_map(|p| p.open.take().map(|(b, a)| (p.series_id, b, a)));
        stream_buckets(tx, path, Table::Recent5m, rows)
    }

    /// Writes the held sums in a transaction of their own (a flush asked for between
    /// batches). Nothing to do when nothing is held.
    pub(crate) fn flush_open_now(&mut self) -> Result<(), StoreError> {
        if !self.open_held {
            return Ok(());
        }
        self.with_write_tx("starting a write", "committing a write", |me, tx, path| {
            me.flush_open(tx, path)
        })
    }

    /// Counts the open 5-minute buckets of every port again from its raw samples (those
    /// ending after the 5-minute seal mark; all of them before the first seal) and puts them
    /// in `rollup_5m_recent` in place of what it held. A bucket row the sealed half holds
    /// already (a backlog written straight into it by an older bandwatch) is subtracted, so
    /// that the seal, which adds the two halves, counts each sample once.
    pub(super) fn recount_open(&mut self) -> Result<(), StoreError> {
        self.with_write_tx(
            "starting the recount of open buckets",
            "committing the recount of open buckets",
            |me, tx, path| me.recount_open_in(tx, path),
        )
    }

    fn recount_open_in(&mut self, tx: &Transaction<'_>, path: &Path) -> Result<(), StoreError> {
        let path = path.to_path_buf();
        let from_5m = self.sealed_5m.unwrap_or(i64::MIN / M5_MS);
        let after_s = from_5m.saturating_mul(M5_MS / 1000);
        let mut sums: FastMap<(i64, i64), Acc> = FastMap::default();
        let mut add = |sid: i64, ts: i64, dt: i64, i: i64, o: i64| {
            port_pieces(ts, dt, i.max(0) as u64, o.max(0) as u64, |b, a| {
                if b >= from_5m {
                    sums.entry((sid, b)).or_default().add(&a);
                }
            });
        };
        let ports: Vec<i64> = tx
            .prepare("SELECT id FROM series WHERE kind = 'port' ORDER BY id")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .ctx(&path, "reading the port series")?;
        {
            let mut st = tx
                .prepare(
                    "SELECT series_id, ts, dt_ms, in_octets, out_octets FROM port_sample_recent \
                     WHERE chunk >= ?1 AND ts > ?2 AND dt_ms > 0 \
                     AND in_octets IS NOT NULL AND out_octets IS NOT NULL",
                )
                .ctx(&path, "preparing the recount of open buckets")?;
            let mut rows = st
                .query(params![after_s.div_euclid(RECENT_CHUNK_SECS), after_s])
                .ctx(&path, "reading recent samples")?;
            while let Some(r) = rows.next().ctx(&path, "reading recent samples")? {
                let row = (|| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))()
                    .ctx(&path, "reading recent samples")?;
                add(row.0, row.1, row.2, row.3, row.4);
            }
            let mut st = tx
                .prepare(
                    "SELECT ts, dt_ms, in_octets, out_octets FROM port_sample_by_series \
                     WHERE series_id = ?1 AND ts > ?2 AND dt_ms > 0 \
                     AND in_octets IS NOT NULL AND out_octets IS NOT NULL",
                )
                .ctx(&path, "preparing the recount of open buckets")?;
            for &sid in &ports {
                let mut rows = st
                    .query(params![sid, after_s])
                    .ctx(&path, "reading a port's samples")?;
                while let Some(r) = rows.next().ctx(&path, "reading a port's samples")? {
                    let row = (|| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))()
                        .ctx(&path, "reading a port's samples")?;
                    add(sid, row.0, row.1, row.2, row.3);
                }
            }
        }
        // What the sealed half holds of the same buckets is not added again.
        {
            let mut st = tx
                .prepare(
                    "SELECT bucket, in_octets, out_octets, missing_ms FROM rollup_5m_by_series \
                     WHERE series_id = ?1 AND bucket >= ?2",
                )
                .ctx(&path, "preparing the recount of open buckets")?;
            for &sid in &ports {
                let held: Vec<(i64, i64, i64, i64)> = st
                    .query_map(params![sid, from_5m], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })
                    .and_then(|it| it.collect())
                    .ctx(&path, "reading sealed 5-minute buckets")?;
                for (b, i, o, missing) in held {
                    if let Some(a) = sums.get_mut(&(sid, b)) {
                        a.in_octets = a.in_octets.saturating_sub(i.max(0) as u64);
                        a.out_octets = a.out_octets.saturating_sub(o.max(0) as u64);
                        a.covered_ms = (a.covered_ms - (M5_MS - missing) as f64).max(0.0);
                    }
                }
            }
        }
        tx.execute(
            "DELETE FROM rollup_5m_recent WHERE bucket >= ?1 AND series_id IN \
             (SELECT id FROM series WHERE kind = 'port')",
            [from_5m],
        )
        .ctx(&path, "replacing open 5-minute buckets")?;
        let mut rows: Vec<(i64, i64, Acc)> = sums
            .into_iter()
            .filter(|(_, a)| a.covered_ms > 0.0 || a.in_octets > 0 || a.out_octets > 0)
            .map(|((sid, b), a)| (sid, b, a))
            .collect();
        rows.sort_unstable_by_key(|(sid, b, _)| (*b, *sid));
        let n = rows.len();
        stream_buckets(tx, &path, Table::Recent5m, rows.into_iter())?;
        if n > 0 {
            tracing::debug!(file = %path.display(), buckets = n,
                "open 5-minute buckets of the ports counted again from their samples");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delta_holds_one_bucket_and_hands_back_the_one_it_held() {
        let mut d = OpenDelta::default();
        assert!(d.take().is_none());
        let a = Acc {
            in_octets: 10,
            out_octets: 20,
            covered_ms: 1_000.0,
            max_in_kbps: 5,
            max_out_kbps: 7,
            ..Acc::default()
        };
        assert!(d.add(3, &a).is_none());
        assert!(d.add(3, &a).is_none());
        let (b, held) = d.add(4, &a).expect("bucket 3 handed back");
        assert_eq!(b, 3);
        assert_eq!((held.in_octets, held.out_octets), (20, 40));
        assert_eq!(held.covered_ms, 2_000.0);
        assert_eq!((held.max_in_kbps, held.max_out_kbps), (5, 7));
        let (b, held) = d.take().expect("bucket 4 held");
        assert_eq!((b, held.in_octets), (4, 10));
        assert!(d.take().is_none());
    }

    #[test]
    fn a_sample_across_a_bucket_end_is_split_on_its_stored_second() {
        let mut pieces = Vec::new();
        // Ends 2 s into bucket 10, lasted 10 s: 8 s in bucket 9.
        port_pieces(3_002, 10_000, 1_000, 100, |b, a| pieces.push((b, a)));
        assert_eq!(pieces.len(), 2);
        assert_eq!(pieces[0].0, 9);
        assert_eq!(pieces[0].1.in_octets + pieces[1].1.in_octets, 1_000);
        assert_eq!(pieces[0].1.covered_ms, 8_000.0);
        assert_eq!(pieces[1].1.covered_ms, 2_000.0);
        assert_eq!(pieces[1].1.max_in_kbps, 1_000 * 8 / 10_000);
    }
}
