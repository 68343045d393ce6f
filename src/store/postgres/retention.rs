//! Retention on PostgreSQL, measured back from the newest sample stored (as on SQLite): raw
//! port samples by dropping whole day partitions (`partition.rs`), the aggregate slots with
//! the raw retention and each rollup tier with its own, by deleting the expired buckets
//! (few rows: one per aggregate and bucket). Idempotent, so any daemon may run it.

use postgres::Client;

use super::super::error::StoreError;
use super::aggregate::TABLES;
use super::conn::{Target, pg_err};
use super::partition;
use crate::config::Retention;

/// Applies `retention`; returns the partitions dropped and the aggregate rows deleted.
pub(crate) fn apply(
    client: &mut Client,
    target: &Target,
    retention: &Retention,
) -> Result<(usize, u64), StoreError> {
    let dropped = partition::drop_expired(client, target, retention)?;
    let mut done = 0;
    let newest: Option<i64> = client
        .query_opt("SELECT value FROM meta WHERE key = 'newest_ms'", &[])
        .map_err(pg_err(target, "reading the newest sample time"))?
        .and_then(|r| r.try_get(0).ok());
    let Some(newest) = newest else {
        return Ok((dropped, 0));
    };
    let keeps = [
        retention.raw,
        retention.rollup_5m,
        retention.rollup_1h,
        retention.rollup_1d,
    ];
    for ((table, len), keep) in TABLES.iter().zip(keeps) {
        let Some(keep) = keep else { continue };
        let keep_ms = i64::try_from(keep.as_secs()).unwrap_or(i64::MAX / 2_000) * 1000;
        // Buckets that ended before the cutoff.
        let below = newest.saturating_sub(keep_ms).div_euclid(*len);
        let n = client
            .execute(&format!("DELETE FROM {table} WHERE bucket < $1"), &[&below])
            .map_err(pg_err(target, "deleting expired aggregate buckets"))?;
        done += n;
    }
    Ok((dropped, done))
}
