//! Flow-measured customer and product line slots into the aggregate tables: 60 s slots, the 5-minute rollup,
//! and straight into 1 h and 1 d for a 5-minute bucket already sealed. Flows move the
//! store's "now" like sweeps (the end of their newest minute, never past the wall clock), so
//! a store fed by flows alone seals its 5-minute buckets into 1 h and 1 d too. One
//! transaction. A slot with a shard claims its (series, minute, shard) first: the other
//! daemon of an HA pair finds it taken, and its slot is a duplicate (not added).

use std::path::Path;

use rusqlite::{Transaction, params};

use super::{Ingest, M5_MS, SLOT_MS};
use crate::hash::FastMap;
use crate::store::buckets::{Acc, Coarse, Table, write_5m, write_buckets};
use crate::store::entity::EntityKind;
use crate::store::error::{SqlContext, StoreError};
use crate::store::flows::FlowSlot;
use crate::store::metrics::WriterMetrics;

impl Ingest {
    /// Adds flow slots into their customers' and product lines' series (created if
    /// missing), in one write transaction timed like a batch of sweeps
    /// ([`Ingest::last_tx`]); returns how many.
    pub(crate) fn write_flows(
        &mut self,
        slots: &[FlowSlot],
        metrics: &WriterMetrics,
    ) -> Result<usize, StoreError> {
        self.with_write_tx(
            "starting a flow write",
            "committing a flow write",
            |me, tx, path| me.write_flows_in(tx, path, slots, metrics),
        )
    }

    fn write_flows_in(
        &mut self,
        tx: &Transaction<'_>,
        path: &Path,
        slots: &[FlowSlot],
        metrics: &WriterMetrics,
    ) -> Result<usize, StoreError> {
        let mut ids: FastMap<(EntityKind, &str), i64> = FastMap::default();
        let mut slot_rows: FastMap<(i64, i64), Acc> = FastMap::default();
        let mut m5: FastMap<(i64, i64), Acc> = FastMap::default();
        let wall_ms = jiff::Timestamp::now().as_millisecond();
        let now = wall_ms.div_euclid(1000);
        let mut min_start_ms = i64::MAX;
        for s in slots {
            let sid = match ids.get(&(s.kind, s.name.as_str())) {
                Some(id) => *id,
                None => {
                    // The entity's own label column holds its name, as for port aggregates.
                    let sql = if s.kind == EntityKind::ProductLine {
                        "INSERT INTO series(kind, name, product_line, created) \
                         VALUES ('product_line', ?1, ?1, ?2) ON CONFLICT(kind, name) \
                         DO UPDATE SET product_line = excluded.product_line RETURNING id"
                    } else {
                        "INSERT INTO series(kind, name, customer, created) \
                         VALUES ('customer', ?1, ?1, ?2) ON CONFLICT(kind, name) \
                         DO UPDATE SET customer = excluded.customer RETURNING id"
                    };
                    let id: i64 = tx
                        .prepare_cached(sql)
                        .and_then(|mut st| st.query_row(params![s.name, now], |r| r.get(0)))
                        .ctx(path, "writing a flow-measured series")?;
                    ids.insert((s.kind, &s.name), id);
                    id
                }
            };
            if let Some(shard) = s.shard.as_deref() {
                let fresh = tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO flow_claim(series_id, slot, shard) \
                         VALUES (?1, ?2, ?3)",
                    )
                    .and_then(|mut st| st.execute(params![sid, s.slot_start, shard]))
                    .ctx(path, "claiming a flow minute")?;
                if fresh == 0 {
                    metrics.duplicate_samples_total.inc();
                    continue;
                }
            }
            let start_ms = s.slot_start.saturating_mul(1000);
            min_start_ms = min_start_ms.min(start_ms);
            self.newest_ms = self.newest_ms.max((start_ms + SLOT_MS).min(wall_ms));
            let a = Acc {
                in_octets: s.in_octets,
                out_octets: s.out_octets,
                in_packets: s.in_packets,
                out_packets: s.out_packets,
                covered_ms: f64::from(s.covered_ms.min(SLOT_MS as u32)),
                max_in_kbps: 0,
                max_out_kbps: 0,
            };
            slot_rows
                .entry((sid, start_ms.div_euclid(SLOT_MS)))
                .or_default()
                .add(&a);
            m5.entry((sid, start_ms.div_euclid(M5_MS)))
                .or_default()
                .add(&a);
        }
        if self.sealed_slot.is_none() && min_start_ms != i64::MAX {
            self.sealed_slot = Some(min_start_ms.div_euclid(SLOT_MS));
            self.sealed_5m = Some(min_start_ms.div_euclid(M5_MS));
        }
        write_buckets(tx, path, Table::Slot, &slot_rows)?;
        let sealed_5m = self.sealed_5m.unwrap_or(i64::MIN);
        let mut coarse = Coarse::default();
        let late = write_5m(tx, path, &m5, sealed_5m, &mut coarse, false)?;
        metrics.late_samples_total.add(late);
        coarse.write(tx, path)?;
        self.seal(tx)?;
        tx.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES ('newest_ms', ?1)",
            [self.newest_ms.to_string()],
        )
        .ctx(path, "writing the store's state")?;
        Ok(slots.len())
    }
}
