//! Leases on PostgreSQL (see [`crate::store::lease`] for the contract): one upsert decides
//! renewal, takeover or refusal atomically, by the server's clock, so daemons with skewed
//! clocks agree on expiry. A fenced write checks its lease with [`current_in`] in its own
//! transaction; `FOR SHARE` holds off a takeover until that transaction ends.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use postgres::GenericClient;

use super::super::error::StoreError;
use super::super::lease::Lease;
use super::super::traits::LeaseStore;
use super::conn::Shared;

/// The PostgreSQL implementation of [`LeaseStore`].
pub(crate) struct PgLeases {
    shared: Arc<Shared>,
}

impl PgLeases {
    /// The leases of the shared database.
    pub(crate) fn new(shared: Arc<Shared>) -> PgLeases {
        PgLeases { shared }
    }
}

const EXPIRES_MS: &str = "(extract(epoch FROM expires) * 1000)::bigint";

fn at_ms(v: i64) -> Timestamp {
    Timestamp::from_millisecond(v).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Whether `lease` is current (same holder and token, not expired), locking its row against
/// a takeover until the caller's transaction ends.
pub(crate) fn current_in(
    client: &mut impl GenericClient,
    lease: &Lease,
) -> Result<bool, postgres::Error> {
    client
        .query_opt(
            "SELECT 1 FROM lease WHERE name = $1 AND holder = $2 AND token = $3 \
             AND expires > clock_timestamp() FOR SHARE",
            &[&lease.name, &lease.holder, &lease.token],
        )
        .map(|r| r.is_some())
}

impl LeaseStore for PgLeases {
    fn acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
        let sql = format!(
            "INSERT INTO lease AS l (name, holder, token, expires, acquired) \
             VALUES ($1, $2, 1, clock_timestamp() + ($3::bigint * interval '1 millisecond'), clock_timestamp()) \
             ON CONFLICT (name) DO UPDATE SET \
               token = CASE WHEN l.holder = EXCLUDED.holder THEN l.token ELSE l.token + 1 END, \
               acquired = CASE WHEN l.holder = EXCLUDED.holder THEN l.acquired ELSE EXCLUDED.acquired END, \
               holder = EXCLUDED.holder, expires = EXCLUDED.expires \
             WHERE l.holder = EXCLUDED.holder OR l.expires <= clock_timestamp() \
             RETURNING token, {EXPIRES_MS}"
        );
        let row = self.shared.with("acquiring a lease", |c| {
            c.query_opt(&sql, &[&name, &holder, &ttl_ms])?
                .map(|r| {
                    Ok::<_, postgres::Error>((r.try_get::<_, i64>(0)?, r.try_get::<_, i64>(1)?))
                })
                .transpose()
        })?;
        Ok(row.map(|(token, expires)| Lease {
            name: name.to_string(),
            holder: holder.to_string(),
            token,
            expires: at_ms(expires),
        }))
    }

    fn release(&self, lease: &Lease) -> Result<bool, StoreError> {
        // The row stays (expired), so the next holder's token is still higher.
        let n = self.shared.with("releasing a lease", |c| {
            c.execute(
                "UPDATE lease SET expires = LEAST(expires, clock_timestamp()) \
                 WHERE name = $1 AND holder = $2 AND token = $3 AND expires > clock_timestamp()",
                &[&lease.name, &lease.holder, &lease.token],
            )
        })?;
        Ok(n == 1)
    }

    fn holder(&self, name: &str) -> Result<Option<Lease>, StoreError> {
        let sql = format!(
            "SELECT holder, token, {EXPIRES_MS} FROM lease \
             WHERE name = $1 AND expires > clock_timestamp()"
        );
        self.shared.with("reading a lease", |c| {
            c.query_opt(&sql, &[&name])?
                .map(|r| {
                    Ok(Lease {
                        name: name.to_string(),
                        holder: r.try_get(0)?,
                        token: r.try_get(1)?,
                        expires: at_ms(r.try_get(2)?),
                    })
                })
                .transpose()
        })
    }

    fn fence(&self, lease: &Lease) -> Result<(), StoreError> {
        if self
            .shared
            .with("checking a lease", |c| current_in(c, lease))?
        {
            Ok(())
        } else {
            Err(StoreError::LeaseLost {
                name: lease.name.clone(),
                token: lease.token,
            })
        }
    }
}
