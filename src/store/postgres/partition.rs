//! Day partitions of `port_sample` (range on `slot_ms`, named `port_sample_YYYYMMDD`, UTC):
//! created before the first row of a day is written (under an advisory lock, so two daemons
//! never race on one), and dropped whole when `[retention] raw` no longer keeps any of their
//! day, instead of deleting expired rows one by one.

use std::collections::HashSet;

use jiff::Timestamp;
use postgres::Client;

use super::super::error::StoreError;
use super::conn::{Target, pg_err};
use crate::config::Retention;

/// Milliseconds in one partition.
const DAY_MS: i64 = 86_400_000;

/// Key of the advisory lock held while creating or dropping partitions.
const PARTITION_LOCK: i64 = 0x6277_7061_7274_0001;

/// The day number (since the epoch, UTC) of a slot.
pub(crate) fn day_of(slot_ms: i64) -> i64 {
    slot_ms.div_euclid(DAY_MS)
}

fn name_of(day: i64) -> String {
    let date = Timestamp::from_millisecond(day * DAY_MS)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .strftime("%Y%m%d");
    format!("port_sample_{date}")
}

/// The day of a partition's name, if it is one of ours.
fn day_of_name(name: &str) -> Option<i64> {
    let date = jiff::civil::Date::strptime("%Y%m%d", name.strip_prefix("port_sample_")?).ok()?;
    let ts = date.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp();
    Some(ts.as_millisecond().div_euclid(DAY_MS))
}

/// The partitions known to exist, so the writer asks the server once per day.
#[derive(Default)]
pub(crate) struct Partitions {
    known: HashSet<i64>,
}

impl Partitions {
    /// Makes sure the partitions of `days` exist.
    pub(crate) fn ensure(
        &mut self,
        client: &mut Client,
        target: &Target,
        days: impl IntoIterator<Item = i64>,
    ) -> Result<(), StoreError> {
        let e = |c| pg_err(target, c);
        for day in days {
            if self.known.contains(&day) {
                continue;
            }
            let name = name_of(day);
            let exists: bool = client
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])
                .and_then(|r| r.try_get(0))
                .map_err(e("looking up a sample partition"))?;
            if !exists {
                let mut tx = client
                    .transaction()
                    .map_err(e("creating a sample partition"))?;
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PARTITION_LOCK])
                    .map_err(e("waiting for the partition lock"))?;
                let (from, to) = (day * DAY_MS, (day + 1) * DAY_MS);
                tx.batch_execute(&format!(
                    "CREATE TABLE IF NOT EXISTS {name} PARTITION OF port_sample \
                     FOR VALUES FROM ({from}) TO ({to})"
                ))
                .map_err(e("creating a sample partition"))?;
                tx.commit().map_err(e("creating a sample partition"))?;
                tracing::debug!(database = %target, partition = %name, "sample partition created");
            }
            self.known.insert(day);
        }
        Ok(())
    }

    /// Forgets what is known (after partitions were dropped).
    pub(crate) fn forget(&mut self) {
        self.known.clear();
    }
}

/// The sample partitions, oldest first.
pub(crate) fn list(client: &mut Client, target: &Target) -> Result<Vec<String>, StoreError> {
    let rows = client
        .query(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = 'port_sample'::regclass",
            &[],
        )
        .map_err(pg_err(target, "listing sample partitions"))?;
    let mut names: Vec<String> = rows.iter().filter_map(|r| r.try_get(0).ok()).collect();
    names.sort();
    Ok(names)
}

/// Drops the partitions whose whole day is older than the raw retention, measured back from
/// the newest sample stored. Returns how many went.
pub(crate) fn drop_expired(
    client: &mut Client,
    target: &Target,
    retention: &Retention,
) -> Result<usize, StoreError> {
    let Some(keep) = retention.raw else {
        return Ok(0);
    };
    let newest: Option<i64> = client
        .query_opt("SELECT value FROM meta WHERE key = 'newest_ms'", &[])
        .map_err(pg_err(target, "reading the newest sample time"))?
        .and_then(|r| r.try_get(0).ok());
    let Some(newest) = newest else { return Ok(0) };
    let keep_ms = i64::try_from(keep.as_secs()).unwrap_or(i64::MAX / 2_000) * 1000;
    let cutoff = newest.saturating_sub(keep_ms);
    let mut dropped = 0;
    for name in list(client, target)? {
        let Some(day) = day_of_name(&name) else {
            continue;
        };
        if (day + 1) * DAY_MS > cutoff {
            continue;
        }
        let mut tx = client
            .transaction()
            .map_err(pg_err(target, "dropping a sample partition"))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PARTITION_LOCK])
            .map_err(pg_err(target, "waiting for the partition lock"))?;
        tx.batch_execute(&format!("DROP TABLE IF EXISTS {name}"))
            .map_err(pg_err(target, "dropping a sample partition"))?;
        tx.commit()
            .map_err(pg_err(target, "dropping a sample partition"))?;
        tracing::info!(database = %target, partition = %name, "expired sample partition dropped");
        dropped += 1;
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_round_trip_to_their_day() {
        let day = day_of(1_764_720_000_000 + 5_000);
        assert_eq!(name_of(day), "port_sample_20251203");
        assert_eq!(day_of_name(&name_of(day)), Some(day));
        assert_eq!(day_of_name("port_sample_x"), None);
        assert_eq!(day_of(-1), -1);
    }
}
