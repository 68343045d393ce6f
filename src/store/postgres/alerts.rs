//! Alert states, their history and silences on PostgreSQL: the same rows and semantics as
//! SQLite's (`store::alerts`), on the database several daemons share. `commit` writes the
//! states, the history and the notices they owe (into the outbox's `notify_queue`) in one
//! transaction: the transactional outbox, so a crash or a lost connection leaves all of them
//! or none.

use std::collections::BTreeMap;
use std::sync::Arc;

use postgres::GenericClient;

use super::super::alerts::{AlertCommit, AlertRow, HistoryRow, SilenceRow};
use super::super::error::StoreError;
use super::super::once::{NoticeKey, Once, OnceOutcome, OnceRow, admit};
use super::super::traits::{AlertStore, SilenceStore};
use super::conn::{Shared, pg_err};

/// The PostgreSQL implementation of [`AlertStore`] and [`SilenceStore`].
pub(crate) struct PgAlerts {
    shared: Arc<Shared>,
}

impl PgAlerts {
    /// The alert tables of the shared database.
    pub(crate) fn new(shared: Arc<Shared>) -> PgAlerts {
        PgAlerts { shared }
    }
}

const COLUMNS: &str = "rule, entity, state, since, last_eval, last_notified, value, labels, data";

const UPSERT_STATE: &str = "INSERT INTO alert_state \
     (rule, entity, state, since, last_eval, last_notified, value, labels, data) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     ON CONFLICT (rule, entity) DO UPDATE SET state = EXCLUDED.state, since = EXCLUDED.since, \
       last_eval = EXCLUDED.last_eval, last_notified = EXCLUDED.last_notified, \
       value = EXCLUDED.value, labels = EXCLUDED.labels, data = EXCLUDED.data";

const INSERT_HISTORY: &str = "INSERT INTO alert_history \
     (rule, entity, from_state, to_state, ts, value, message) VALUES ($1, $2, $3, $4, $5, $6, $7)";

fn save_in(c: &mut impl GenericClient, r: &AlertRow) -> Result<u64, postgres::Error> {
    c.execute(
        UPSERT_STATE,
        &[
            &r.rule,
            &r.entity,
            &r.state,
            &r.since,
            &r.last_eval,
            &r.last_notified,
            &r.value,
            &r.labels,
            &r.data,
        ],
    )
}

fn record_in(c: &mut impl GenericClient, h: &HistoryRow) -> Result<u64, postgres::Error> {
    c.execute(
        INSERT_HISTORY,
        &[
            &h.rule,
            &h.entity,
            &h.from_state,
            &h.to_state,
            &h.ts,
            &h.value,
            &h.message,
        ],
    )
}

fn row(r: &postgres::Row) -> Result<AlertRow, postgres::Error> {
    Ok(AlertRow {
        rule: r.try_get(0)?,
        entity: r.try_get(1)?,
        state: r.try_get(2)?,
        since: r.try_get(3)?,
        last_eval: r.try_get(4)?,
        last_notified: r.try_get(5)?,
        value: r.try_get(6)?,
        labels: r.try_get(7)?,
        data: r.try_get(8)?,
    })
}

impl AlertStore for PgAlerts {
    fn load(&self, rule: &str, entity: &str) -> Result<Option<AlertRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM alert_state WHERE rule = $1 AND entity = $2");
        self.shared.with("reading an alert state", |c| {
            c.query_opt(&sql, &[&rule, &entity])?
                .as_ref()
                .map(row)
                .transpose()
        })
    }

    fn save(&self, r: &AlertRow) -> Result<(), StoreError> {
        self.shared
            .with("saving an alert state", |c| save_in(c, r))
            .map(|_| ())
    }

    fn active(&self) -> Result<Vec<AlertRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM alert_state WHERE state IN ('pending', 'firing') \
             ORDER BY state DESC, since"
        );
        self.shared.with("reading active alerts", |c| {
            c.query(&sql, &[])?.iter().map(row).collect()
        })
    }

    fn record(&self, h: &HistoryRow) -> Result<(), StoreError> {
        // Not retried on a lost connection: the row may have been written.
        let mut c = self.shared.client()?;
        record_in(&mut *c, h)
            .map(|_| ())
            .map_err(pg_err(&self.shared.target, "recording an alert transition"))
    }

    fn commit(&self, changes: &AlertCommit, now: jiff::Timestamp) -> Result<(), StoreError> {
        self.commit_in(changes, None, now).map(drop)
    }

    fn commit_once(
        &self,
        changes: &AlertCommit,
        once: &Once,
        now: jiff::Timestamp,
    ) -> Result<OnceOutcome, StoreError> {
        self.commit_in(changes, Some(once), now)
    }

    fn history(&self, limit: usize) -> Result<Vec<HistoryRow>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.shared.with("reading alert history", |c| {
            c.query(
                "SELECT rule, entity, from_state, to_state, ts, value, message \
                 FROM alert_history ORDER BY ts DESC, id DESC LIMIT $1",
                &[&limit],
            )?
            .iter()
            .map(|r| {
                Ok(HistoryRow {
                    rule: r.try_get(0)?,
                    entity: r.try_get(1)?,
                    from_state: r.try_get(2)?,
                    to_state: r.try_get(3)?,
                    ts: r.try_get(4)?,
                    value: r.try_get(5)?,
                    message: r.try_get(6)?,
                })
            })
            .collect()
        })
    }
}

/// Key of the advisory lock a deduplicated commit holds: the daemons of an HA pair decide
/// one after the other whether a notice or history row is new.
const ONCE_LOCK: i64 = 0x6277_6f6e_6365_0001;

impl PgAlerts {
    /// States, history and notices in one transaction; with `once`, notices and history rows
    /// another daemon already wrote are left out (as on SQLite, `store::once`).
    fn commit_in(
        &self,
        c: &AlertCommit,
        once: Option<&Once>,
        now: jiff::Timestamp,
    ) -> Result<OnceOutcome, StoreError> {
        let mut out = OnceOutcome::default();
        if c.is_empty() {
            return Ok(out);
        }
        if let Some(o) = once {
            o.check(c)?;
        }
        let now_ms = now.as_millisecond();
        let e = pg_err(&self.shared.target, "committing alert changes");
        let mut client = self.shared.client()?;
        let mut tx = client.transaction().map_err(&e)?;
        if once.is_some() {
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&ONCE_LOCK])
                .map_err(&e)?;
        }
        for r in &c.states {
            save_in(&mut tx, r).map_err(&e)?;
        }
        for h in &c.history {
            if let Some(o) = once {
                let w = o.window_s.max(0);
                let dup = tx
                    .query_opt(
                        "SELECT 1 FROM alert_history WHERE rule = $1 AND entity = $2 \
                         AND ts BETWEEN $3 AND $4 AND from_state = $5 AND to_state = $6 LIMIT 1",
                        &[
                            &h.rule,
                            &h.entity,
                            &h.ts.saturating_sub(w),
                            &h.ts.saturating_add(w),
                            &h.from_state,
                            &h.to_state,
                        ],
                    )
                    .map_err(&e)?
                    .is_some();
                if dup {
                    out.history_skipped += 1;
                    continue;
                }
            }
            record_in(&mut tx, h).map_err(&e)?;
        }
        for (i, n) in c.notices.iter().enumerate() {
            let key = once.and_then(|o| o.keys.get(i)).and_then(Option::as_ref);
            if let (Some(o), Some(k)) = (once, key)
                && !admit_in(&mut tx, &n.route, k, o.window_s).map_err(&e)?
            {
                out.notices_skipped += 1;
                continue;
            }
            tx.execute(
                "INSERT INTO notify_queue (route, notice, received_ms) VALUES ($1, $2, $3)",
                &[&n.route, &n.payload, &now_ms],
            )
            .map_err(&e)?;
        }
        tx.commit().map_err(&e)?;
        Ok(out)
    }
}

/// Reads and moves the `notify_once` state of one notice; false when it is not to be queued.
fn admit_in(
    tx: &mut impl GenericClient,
    route: &str,
    k: &NoticeKey,
    window_s: i64,
) -> Result<bool, postgres::Error> {
    let prev = tx
        .query_opt(
            "SELECT open, started, at FROM notify_once \
             WHERE rule = $1 AND entity = $2 AND route = $3 AND family = $4",
            &[&k.rule, &k.entity, &route, &k.family.name()],
        )?
        .map(|r| -> Result<OnceRow, postgres::Error> {
            Ok(OnceRow {
                open: r.try_get(0)?,
                started: r.try_get(1)?,
                at: r.try_get(2)?,
            })
        })
        .transpose()?;
    let Some(row) = admit(prev.as_ref(), k, window_s) else {
        return Ok(false);
    };
    tx.execute(
        "INSERT INTO notify_once (rule, entity, route, family, open, started, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (rule, entity, route, family) \
         DO UPDATE SET open = EXCLUDED.open, started = EXCLUDED.started, at = EXCLUDED.at",
        &[
            &k.rule,
            &k.entity,
            &route,
            &k.family.name(),
            &row.open,
            &row.started,
            &row.at,
        ],
    )?;
    Ok(true)
}

impl SilenceStore for PgAlerts {
    fn add_silence(&self, s: &SilenceRow) -> Result<i64, StoreError> {
        let matchers = serde_json::to_string(&s.matchers).map_err(|e| StoreError::Encoding {
            path: self.shared.target.to_string().into(),
            context: "encoding a silence's matchers",
            reason: e.to_string(),
        })?;
        let mut c = self.shared.client()?;
        c.query_one(
            "INSERT INTO silence (rule, matchers, starts, ends, comment, created) \
             VALUES ($1, $2, $3, $4, $5, $3) RETURNING id",
            &[&s.rule, &matchers, &s.starts, &s.ends, &s.reason],
        )
        .and_then(|r| r.try_get(0))
        .map_err(pg_err(&self.shared.target, "adding a silence"))
    }

    fn silences(&self, now: Option<i64>) -> Result<Vec<SilenceRow>, StoreError> {
        let now = now.unwrap_or(i64::MIN);
        self.shared.with("reading silences", |c| {
            c.query(
                "SELECT id, rule, matchers, starts, ends, comment FROM silence \
                 WHERE ends > $1 ORDER BY id",
                &[&now],
            )?
            .iter()
            .map(|r| {
                let m: String = r.try_get(2)?;
                Ok(SilenceRow {
                    id: r.try_get(0)?,
                    rule: r.try_get(1)?,
                    matchers: serde_json::from_str::<BTreeMap<String, String>>(&m)
                        .unwrap_or_default(),
                    starts: r.try_get(3)?,
                    ends: r.try_get(4)?,
                    reason: r.try_get::<_, Option<String>>(5)?.unwrap_or_default(),
                })
            })
            .collect()
        })
    }

    fn remove_silence(&self, id: i64) -> Result<bool, StoreError> {
        self.shared
            .with("removing a silence", |c| {
                c.execute("DELETE FROM silence WHERE id = $1", &[&id])
            })
            .map(|n| n > 0)
    }
}
