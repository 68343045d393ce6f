//! Leases: work that must run in exactly one daemon at a time (cross-shard aggregates and
//! their rules, the outbox dispatcher, the monthly report, retention) is done by whoever
//! holds its lease. A lease is a row (`lease`: name, holder, fencing token, expiry), not an
//! advisory lock: a row survives connection pooling and reconnects, expires by itself when
//! its holder dies, and carries a fencing token that a write can check in its own
//! transaction, so a holder that stalled past its expiry cannot write over its successor.
//!
//! Rules every backend keeps: the first holder of a name gets token 1; renewal by the same
//! holder keeps the token; a takeover after expiry (or after a release) increments it, so
//! tokens only grow. Time is the database's clock (SQLite: this machine's), never the
//! caller's, so daemons with skewed clocks agree on expiry.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use rusqlite::{OptionalExtension, params};

use super::db::Db;
use super::error::{SqlContext, StoreError};
use super::traits::LeaseStore;

/// A held lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// What the lease is for (`outbox`, `aggregates`, `retention`, ...).
    pub name: String,
    /// Who holds it (a daemon's id: host and process, or a configured name).
    pub holder: String,
    /// The fencing token: grows with every change of holder, never with a renewal.
    pub token: i64,
    /// When it lapses unless renewed.
    pub expires: Timestamp,
}

/// The SQLite implementation of [`LeaseStore`]: one daemon per file in practice, but the
/// same contract as the shared backend, so the daemon's singleton work runs unchanged.
pub(crate) struct SqliteLeases {
    db: Arc<Db>,
}

impl SqliteLeases {
    /// The leases of `db`.
    pub(crate) fn new(db: Arc<Db>) -> SqliteLeases {
        SqliteLeases { db }
    }
}

fn now_ms() -> i64 {
    Timestamp::now().as_millisecond()
}

fn at_ms(v: i64) -> Timestamp {
    Timestamp::from_millisecond(v).unwrap_or(Timestamp::UNIX_EPOCH)
}

fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2)
}

/// Whether `lease` is still current on `conn` (same holder and token, not expired): the
/// check a fenced write makes inside its own transaction.
pub(crate) fn current_in(conn: &rusqlite::Connection, lease: &Lease) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT 1 FROM lease WHERE name = ?1 AND holder = ?2 AND token = ?3 AND expires_ms > ?4",
        params![lease.name, lease.holder, lease.token, now_ms()],
        |_| Ok(()),
    )
    .optional()
    .map(|r| r.is_some())
}

impl LeaseStore for SqliteLeases {
    fn acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let path = self.db.path();
        let mut conn = self.db.write()?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .ctx(path, "acquiring a lease")?;
        let now = now_ms();
        let expires = now.saturating_add(ttl_ms(ttl));
        let found: Option<(String, i64, i64)> = tx
            .query_row(
                "SELECT holder, token, expires_ms FROM lease WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .ctx(path, "reading a lease")?;
        let token = match found {
            None => 1,
            // Renewal (also after a lapse nobody used): the same token.
            Some((h, token, _)) if h == holder => token,
            Some((_, token, until)) if until <= now => token + 1,
            Some(_) => return Ok(None),
        };
        tx.execute(
            "INSERT INTO lease (name, holder, token, expires_ms, acquired_ms) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (name) DO UPDATE SET holder = ?2, \
               acquired_ms = CASE WHEN lease.token = ?3 THEN lease.acquired_ms ELSE ?5 END, \
               token = ?3, expires_ms = ?4",
            params![name, holder, token, expires, now],
        )
        .ctx(path, "writing a lease")?;
        tx.commit().ctx(path, "acquiring a lease")?;
        Ok(Some(Lease {
            name: name.to_string(),
            holder: holder.to_string(),
            token,
            expires: at_ms(expires),
        }))
    }

    fn release(&self, lease: &Lease) -> Result<bool, StoreError> {
        // The row stays (expired), so the next holder's token is still higher.
        let changed = self
            .db
            .write()?
            .execute(
                "UPDATE lease SET expires_ms = MIN(expires_ms, ?4) \
                 WHERE name = ?1 AND holder = ?2 AND token = ?3 AND expires_ms > ?4",
                params![lease.name, lease.holder, lease.token, now_ms()],
            )
            .ctx(self.db.path(), "releasing a lease")?;
        Ok(changed == 1)
    }

    fn holder(&self, name: &str) -> Result<Option<Lease>, StoreError> {
        self.db
            .write()?
            .query_row(
                "SELECT holder, token, expires_ms FROM lease WHERE name = ?1 AND expires_ms > ?2",
                params![name, now_ms()],
                |r| {
                    Ok(Lease {
                        name: name.to_string(),
                        holder: r.get(0)?,
                        token: r.get(1)?,
                        expires: at_ms(r.get(2)?),
                    })
                },
            )
            .optional()
            .ctx(self.db.path(), "reading a lease")
    }

    fn fence(&self, lease: &Lease) -> Result<(), StoreError> {
        let conn = self.db.write()?;
        if current_in(&conn, lease).ctx(self.db.path(), "checking a lease")? {
            Ok(())
        } else {
            Err(StoreError::LeaseLost {
                name: lease.name.clone(),
                token: lease.token,
            })
        }
    }
}
