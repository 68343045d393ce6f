//! Sealing: once a 60 s slot or 5-minute bucket can no longer receive samples, aggregate
//! slot peaks become 5-minute maxima, 5-minute sums are added into the 1-hour and 1-day
//! rollups, port weights (usual traffic) are updated and aggregate capacities recomputed,
//! all in the transaction that moves the seal marks.

use std::collections::HashMap;

use rusqlite::{Transaction, params};

use super::{Ingest, M5_MS, SLOT_MS, WEIGHT_ALPHA};
use crate::store::buckets::{Acc, Coarse, move_sealed_5m};
use crate::store::error::{SqlContext, StoreError};

/// 1-hour and 1-day sums a seal holds before it writes them.
const COARSE_PART: usize = 1024;

impl Ingest {
    /// Seals slots and 5-minute buckets that ended more than the grace period before the
    /// newest sweep.
    pub(super) fn seal(&mut self, tx: &Transaction<'_>) -> Result<(), StoreError> {
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
            // The slot's bucket is open (in `rollup_5m_recent`) unless it came late.
            let mut upd = tx
                .prepare_cached(
                    "UPDATE rollup_5m_recent SET max_in_kbps = max(max_in_kbps, ?3), \
                     max_out_kbps = max(max_out_kbps, ?4) WHERE bucket = ?2 AND series_id = ?1",
                )
                .ctx(&path, "preparing the slot seal")?;
            let mut upd_sealed = tx
                .prepare_cached(
                    "UPDATE rollup_5m_by_series SET max_in_kbps = max(max_in_kbps, ?3), \
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
                    let p = params![a.series_id, slot * SLOT_MS / M5_MS, kb(i), kb(o)];
                    if upd.execute(p).ctx(&path, "sealing a slot")? == 0 {
                        upd_sealed.execute(p).ctx(&path, "sealing a slot")?;
                    }
                }
            }
            self.sealed_slot = Some(to_slot);
            tx.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES ('sealed_slot', ?1)",
                [to_slot.to_string()],
            )
            .ctx(&path, "writing the store's state")?;
        }
        // After a start, the pages this writes are read ahead first ([`super::warm`]); the
        // buckets wait in `rollup_5m_recent`, where readers find them as before.
        if to_5m > from_5m && self.warm() {
            // The open sums held in memory join their rows before these move.
            self.flush_open(tx, &path)?;
            move_sealed_5m(tx, &path, to_5m)?;
            let mut read = tx
                .prepare_cached(
                    "SELECT bucket, in_octets, out_octets, 0, 0, missing_ms, \
                     max_in_kbps, max_out_kbps FROM rollup_5m_by_series \
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
                // Written a part at a time: a fleet's seal held an entry per port and tier
                // (2.6 MB at 9,600 ports) until its end, every five minutes.
                if coarse.len() >= COARSE_PART {
                    coarse.write(tx, &path)?;
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
