//! Writing a store that other daemons write too (`[daemon] shard`: shards and HA pairs on one
//! store). Two daemons polling the same switch (an HA pair) each measure every poll slot of
//! it: the store keeps one sample per port and slot of the switch's poll grid
//! `k * interval + phase` ([`crate::poll::phase_offset`], the same in every daemon), so no
//! slot is counted twice in a port's series, its aggregates or a 95th percentile.
//!
//! A measured sample covers the slots whose polls ended in its interval `(end - dt, end]`
//! (one, or several after a missed poll); a gap covers the slot it was polled in. The claims
//! are rows of `sample_slot`, checked and written in the batch's transaction:
//! - a sample whose slots are all free is stored and claims them;
//! - a measured sample over a slot another measured one covers is a duplicate: not stored,
//!   not added into aggregates or rollups (counted in `bandwatch_store_duplicate_samples_total`);
//! - a measured sample replaces gaps in its slots (the other daemon's poll timed out, this
//!   one's answered);
//! - a gap in a claimed slot is a duplicate.
//!
//! Seal marks are read from the store at each batch, so a bucket is sealed (added into the
//! 1-hour and 1-day rollups) by one writer only. Claims older than [`KEEP_CLAIMS_MS`] are
//! deleted now and then: a sample later than that is not deduplicated.

use std::path::Path;

use rusqlite::{OptionalExtension, Transaction, params};

use super::Ingest;
use crate::store::error::{SqlContext, StoreError};

/// How long claims are kept (a sample arriving later than this is not deduplicated).
pub(super) const KEEP_CLAIMS_MS: i64 = 3_600_000;
/// How often old claims are deleted.
const PRUNE_EVERY_MS: i64 = 300_000;
/// The most slots one sample claims (a sample after a long outage covers many).
const MAX_SLOTS: i64 = 1024;

/// A switch's poll grid, in milliseconds.
#[derive(Clone, Copy, Debug)]
pub(super) struct Grid {
    pub(super) interval_ms: i64,
    pub(super) phase_ms: i64,
}

impl Grid {
    /// The slot `k` whose poll (started at `k * interval + phase`) an answer at `t_ms` is.
    pub(super) fn slot(&self, t_ms: i64) -> i64 {
        (t_ms - self.phase_ms).div_euclid(self.interval_ms.max(1))
    }
}

/// What to do with one sample in a shared store.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Claim {
    /// Store it (its slots are claimed now).
    Store,
    /// Another daemon stored this slot already: skip it.
    Duplicate,
}

/// Claims the slots of one sample of series `sid` answered at `end_ms`, measured over
/// `dt_ms` (`None` for a gap), deleting the gaps a measured sample replaces.
pub(super) fn claim(
    tx: &Transaction<'_>,
    path: &Path,
    sid: i64,
    grid: Grid,
    end_ms: i64,
    dt_ms: Option<i64>,
    ts: i64,
) -> Result<Claim, StoreError> {
    let hi = grid.slot(end_ms);
    let Some(dt) = dt_ms.filter(|d| *d > 0) else {
        // A gap: one slot, free or not.
        let taken: Option<i64> = tx
            .prepare_cached("SELECT 1 FROM sample_slot WHERE series_id = ?1 AND slot = ?2")
            .and_then(|mut s| s.query_row(params![sid, hi], |r| r.get(0)).optional())
            .ctx(path, "checking a poll slot")?;
        if taken.is_some() {
            return Ok(Claim::Duplicate);
        }
        tx.prepare_cached(
            "INSERT INTO sample_slot(series_id, slot, known, ts) VALUES (?1, ?2, 0, ?3)",
        )
        .and_then(|mut s| s.execute(params![sid, hi, ts]))
        .ctx(path, "claiming a poll slot")?;
        return Ok(Claim::Store);
    };
    let lo = (grid.slot(end_ms - dt) + 1).clamp(hi - MAX_SLOTS + 1, hi);
    let taken: Vec<(i64, bool, i64)> = tx
        .prepare_cached(
            "SELECT slot, known, ts FROM sample_slot WHERE series_id = ?1 AND slot BETWEEN ?2 AND ?3",
        )
        .and_then(|mut s| {
            s.query_map(params![sid, lo, hi], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)? != 0, r.get(2)?))
            })?
            .collect()
        })
        .ctx(path, "checking poll slots")?;
    if taken.iter().any(|(_, known, _)| *known) {
        return Ok(Claim::Duplicate);
    }
    for (_, _, gap_ts) in &taken {
        // The other daemon's gap: this measurement replaces it.
        tx.prepare_cached(
            "DELETE FROM port_sample_by_series WHERE series_id = ?1 AND ts = ?2 \
             AND dt_ms IS NULL",
        )
        .and_then(|mut s| s.execute(params![sid, gap_ts]))
        .ctx(path, "replacing a gap")?;
        tx.prepare_cached(
            "DELETE FROM port_sample_recent WHERE chunk = ?1 AND series_id = ?2 AND ts = ?3 \
             AND dt_ms IS NULL",
        )
        .and_then(|mut s| {
            s.execute(params![
                gap_ts.div_euclid(crate::store::schema::RECENT_CHUNK_SECS),
                sid,
                gap_ts
            ])
        })
        .ctx(path, "replacing a gap")?;
    }
    let mut put = tx
        .prepare_cached(
            "INSERT OR REPLACE INTO sample_slot(series_id, slot, known, ts) VALUES (?1, ?2, 1, ?3)",
        )
        .ctx(path, "claiming poll slots")?;
    for slot in lo..=hi {
        put.execute(params![sid, slot, ts])
            .ctx(path, "claiming poll slots")?;
    }
    Ok(Claim::Store)
}

impl Ingest {
    /// In a shared store, at the start of a batch: the seal marks another writer may have
    /// moved, and now and then the deletion of old claims.
    pub(super) fn shared_begin(&mut self, tx: &Transaction<'_>) -> Result<(), StoreError> {
        let path = self.path.clone();
        let get = |key: &str| -> Result<Option<i64>, StoreError> {
            let v: Option<String> = tx
                .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()
                .ctx(&path, "reading the store's state")?;
            Ok(v.and_then(|s| s.parse().ok()))
        };
        // Marks only move forward: the furthest of this writer's and the store's.
        if let Some(s) = get("sealed_slot")? {
            self.sealed_slot = Some(self.sealed_slot.map_or(s, |m| m.max(s)));
        }
        if let Some(s) = get("sealed_5m")? {
            self.sealed_5m = Some(self.sealed_5m.map_or(s, |m| m.max(s)));
        }
        if let Some(n) = get("newest_ms")? {
            self.newest_ms = self.newest_ms.max(n);
        }
        if self.newest_ms - self.claims_pruned_ms >= PRUNE_EVERY_MS {
            let before = (self.newest_ms - KEEP_CLAIMS_MS).div_euclid(1000);
            tx.execute("DELETE FROM sample_slot WHERE ts < ?1", [before])
                .ctx(&path, "deleting old poll slot claims")?;
            tx.execute("DELETE FROM flow_claim WHERE slot < ?1", [before])
                .ctx(&path, "deleting old flow minute claims")?;
            self.claims_pruned_ms = self.newest_ms;
        }
        Ok(())
    }

    /// Marks the store as shared with other daemons (see the module's doc).
    pub(crate) fn set_shared(&mut self, shared: bool) {
        self.shared = shared;
        self.rebuild_grids();
    }

    /// The poll grids of the topology's switches, kept while shared.
    pub(super) fn rebuild_grids(&mut self) {
        self.grids.clear();
        if !self.shared {
            return;
        }
        for s in &self.topology.switches {
            let interval = s.interval.std();
            let phase = crate::poll::phase_offset(&s.name, interval);
            self.grids.insert(
                s.name.clone(),
                Grid {
                    interval_ms: i64::try_from(interval.as_millis()).unwrap_or(i64::MAX),
                    phase_ms: i64::try_from(phase.as_millis()).unwrap_or(0),
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_fall_in_the_slot_their_poll_started() {
        let g = Grid {
            interval_ms: 2000,
            phase_ms: 300,
        };
        // The poll of slot 5 starts at 10 300 ms; answers until the next poll are slot 5.
        assert_eq!(g.slot(10_300), 5);
        assert_eq!(g.slot(10_950), 5);
        assert_eq!(g.slot(12_299), 5);
        assert_eq!(g.slot(12_300), 6);
        assert_eq!(g.slot(299), -1);
    }
}
