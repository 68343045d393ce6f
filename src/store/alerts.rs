//! Alert state and history in the database: what the rules stage persists so that a restart
//! neither forgets a firing alert nor notifies it again, and what the status page and
//! `/api/v1/alerts` read. The store keeps rows; what a state means is the rules stage's.

use std::sync::Arc;

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::db::Db;
use super::error::{SqlContext, StoreError};
use super::once::{NoticeKey, Once, OnceOutcome, OnceRow, admit};
use super::traits::{AlertStore, SilenceStore};

/// One alert's persisted state.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlertRow {
    /// Rule name.
    pub rule: String,
    /// Entity id (`port:sw/xe-0/0/1`).
    pub entity: String,
    /// `inactive`, `pending`, `firing` or `resolved`.
    pub state: String,
    /// Unix seconds the state was entered.
    pub since: i64,
    /// Unix seconds of the last evaluation.
    pub last_eval: i64,
    /// Unix seconds of the last notice, if any.
    pub last_notified: Option<i64>,
    /// Value at the last evaluation.
    pub value: Option<f64>,
    /// Labels, as a JSON object.
    pub labels: Option<String>,
    /// The rules stage's whole state, as JSON.
    pub data: Option<String>,
}

/// One state change.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HistoryRow {
    /// Rule name.
    pub rule: String,
    /// Entity id.
    pub entity: String,
    /// State before.
    pub from_state: String,
    /// State after.
    pub to_state: String,
    /// Unix seconds.
    pub ts: i64,
    /// Value at that time.
    pub value: Option<f64>,
    /// A line for people.
    pub message: Option<String>,
}

/// A notice owed by an alert change, for one route: the notify stage's payload (opaque to
/// the store), queued in the outbox's `notify_queue` like [`super::OutboxStore::queue_notice`].
#[derive(Clone, Debug, PartialEq)]
pub struct RoutedNotice {
    /// The route whose group it joins.
    pub route: String,
    /// The notice, as the notify stage encodes it.
    pub payload: String,
}

/// One evaluation's alert changes, written in ONE transaction (the transactional outbox):
/// the states, their history and the notices they owe. A crash or a failed write leaves
/// either all of them or none, so an alert is never stored `firing` without its firing
/// notice queued, and a resolution is queued only with the state that owes it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertCommit {
    /// States to save (replacing), in order: a later row for the same alert wins.
    pub states: Vec<AlertRow>,
    /// State changes to record.
    pub history: Vec<HistoryRow>,
    /// Notices to queue.
    pub notices: Vec<RoutedNotice>,
}

impl AlertCommit {
    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.states.is_empty() && self.history.is_empty() && self.notices.is_empty()
    }

    /// Appends `later` (a commit that failed is retried together with the ones after it,
    /// in order).
    pub fn append(&mut self, later: AlertCommit) {
        self.states.extend(later.states);
        self.history.extend(later.history);
        self.notices.extend(later.notices);
    }
}

/// One silence as stored: the rule it is limited to, its label matchers, its end, why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SilenceRow {
    /// Id.
    pub id: i64,
    /// Only this rule; `None` = every rule.
    pub rule: Option<String>,
    /// Label matchers (`customer` -> `acme`, or `~REGEX`).
    pub matchers: std::collections::BTreeMap<String, String>,
    /// Unix seconds it was added.
    pub starts: i64,
    /// Unix seconds it ends.
    pub ends: i64,
    /// Why.
    pub reason: String,
}

#[derive(serde::Deserialize, Serialize)]
struct StoredMatchers {
    rule: Option<String>,
    labels: std::collections::BTreeMap<String, String>,
}

/// The SQLite implementation of [`AlertStore`] and [`SilenceStore`]: reads through the
/// store's read pool, writes through its read-write connection.
pub(crate) struct SqliteAlerts {
    db: Arc<Db>,
}

/// Writes (replaces) one alert state row.
fn save_state(conn: &rusqlite::Connection, r: &AlertRow) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO alert_state
             (rule, entity, state, since, last_eval, last_notified, value, labels, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        r.rule,
        r.entity,
        r.state,
        r.since,
        r.last_eval,
        r.last_notified,
        r.value,
        r.labels,
        r.data
    ])
    .map(|_| ())
}

impl SqliteAlerts {
    /// The alert tables of `db`.
    pub(crate) fn new(db: Arc<Db>) -> SqliteAlerts {
        SqliteAlerts { db }
    }

    /// One transaction: states, history and notices; with `once`, deduplicated against
    /// what other daemons wrote (see [`super::once`]).
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
        let path = self.db.path();
        let mut conn = self.db.write()?;
        // IMMEDIATE: take the write lock up front (waiting for it), never fail on an upgrade.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .ctx(path, "committing alert changes")?;
        {
            for r in &c.states {
                save_state(&tx, r).ctx(path, "saving an alert state")?;
            }
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO alert_history (rule, entity, from_state, to_state, ts, value, message)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .ctx(path, "recording an alert transition")?;
            let mut seen = tx
                .prepare_cached(
                    "SELECT 1 FROM alert_history WHERE ts BETWEEN ?1 AND ?2 AND rule = ?3 \
                     AND entity = ?4 AND from_state = ?5 AND to_state = ?6 LIMIT 1",
                )
                .ctx(path, "reading alert history")?;
            for h in &c.history {
                if let Some(o) = once {
                    let w = o.window_s.max(0);
                    let dup = seen
                        .exists(params![
                            h.ts.saturating_sub(w),
                            h.ts.saturating_add(w),
                            h.rule,
                            h.entity,
                            h.from_state,
                            h.to_state
                        ])
                        .ctx(path, "reading alert history")?;
                    if dup {
                        out.history_skipped += 1;
                        continue;
                    }
                }
                st.execute(params![
                    h.rule,
                    h.entity,
                    h.from_state,
                    h.to_state,
                    h.ts,
                    h.value,
                    h.message
                ])
                .ctx(path, "recording an alert transition")?;
            }
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO notify_queue (route, notice, received_ms) VALUES (?1, ?2, ?3)",
                )
                .ctx(path, "queueing a notice")?;
            for (i, n) in c.notices.iter().enumerate() {
                let key = once.and_then(|o| o.keys.get(i)).and_then(Option::as_ref);
                if let (Some(o), Some(k)) = (once, key)
                    && !admit_in(&tx, path, &n.route, k, o.window_s)?
                {
                    out.notices_skipped += 1;
                    continue;
                }
                st.execute(params![n.route, n.payload, now.as_millisecond()])
                    .ctx(path, "queueing a notice")?;
            }
        }
        tx.commit().ctx(path, "committing alert changes")?;
        Ok(out)
    }
}

/// Reads and moves the `notify_once` state of one notice; false when it is not to be queued.
fn admit_in(
    tx: &rusqlite::Transaction<'_>,
    path: &std::path::Path,
    route: &str,
    k: &NoticeKey,
    window_s: i64,
) -> Result<bool, StoreError> {
    let prev: Option<OnceRow> = tx
        .prepare_cached(
            "SELECT open, started, at FROM notify_once \
             WHERE rule = ?1 AND entity = ?2 AND route = ?3 AND family = ?4",
        )
        .and_then(|mut s| {
            s.query_row(params![k.rule, k.entity, route, k.family.name()], |r| {
                Ok(OnceRow {
                    open: r.get::<_, i64>(0)? != 0,
                    started: r.get(1)?,
                    at: r.get(2)?,
                })
            })
            .optional()
        })
        .ctx(path, "reading what was notified")?;
    let Some(row) = admit(prev.as_ref(), k, window_s) else {
        return Ok(false);
    };
    tx.prepare_cached(
        "INSERT OR REPLACE INTO notify_once (rule, entity, route, family, open, started, at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .and_then(|mut s| {
        s.execute(params![
            k.rule,
            k.entity,
            route,
            k.family.name(),
            row.open as i64,
            row.started,
            row.at
        ])
    })
    .ctx(path, "recording what was notified")?;
    Ok(true)
}

impl AlertStore for SqliteAlerts {
    fn load(&self, rule: &str, entity: &str) -> Result<Option<AlertRow>, StoreError> {
        let conn = self.db.read()?;
        conn.query_row(
            "SELECT rule, entity, state, since, last_eval, last_notified, value, labels, data
                 FROM alert_state WHERE rule = ?1 AND entity = ?2",
            params![rule, entity],
            row,
        )
        .optional()
        .ctx(self.db.path(), "reading an alert state")
    }

    fn save(&self, r: &AlertRow) -> Result<(), StoreError> {
        let conn = self.db.write()?;
        save_state(&conn, r).ctx(self.db.path(), "saving an alert state")
    }

    fn active(&self) -> Result<Vec<AlertRow>, StoreError> {
        let conn = self.db.read()?;
        let mut st = conn
            .prepare_cached(
                "SELECT rule, entity, state, since, last_eval, last_notified, value, labels, data
                 FROM alert_state WHERE state IN ('pending', 'firing') ORDER BY state DESC, since",
            )
            .ctx(self.db.path(), "reading active alerts")?;
        let rows = st
            .query_map([], row)
            .ctx(self.db.path(), "reading active alerts")?;
        rows.collect::<Result<Vec<_>, _>>()
            .ctx(self.db.path(), "reading active alerts")
    }

    fn record(&self, h: &HistoryRow) -> Result<(), StoreError> {
        let conn = self.db.write()?;
        conn.prepare_cached(
            "INSERT INTO alert_history (rule, entity, from_state, to_state, ts, value, message)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .and_then(|mut st| {
            st.execute(params![
                h.rule,
                h.entity,
                h.from_state,
                h.to_state,
                h.ts,
                h.value,
                h.message
            ])
        })
        .map(|_| ())
        .ctx(self.db.path(), "recording an alert transition")
    }

    fn commit(&self, c: &AlertCommit, now: jiff::Timestamp) -> Result<(), StoreError> {
        self.commit_in(c, None, now).map(|_| ())
    }

    fn commit_once(
        &self,
        c: &AlertCommit,
        once: &Once,
        now: jiff::Timestamp,
    ) -> Result<OnceOutcome, StoreError> {
        self.commit_in(c, Some(once), now)
    }

    fn history(&self, limit: usize) -> Result<Vec<HistoryRow>, StoreError> {
        let conn = self.db.read()?;
        let mut st = conn
            .prepare_cached(
                "SELECT rule, entity, from_state, to_state, ts, value, message
                 FROM alert_history ORDER BY ts DESC, id DESC LIMIT ?1",
            )
            .ctx(self.db.path(), "reading alert history")?;
        let rows = st
            .query_map([limit as i64], |r| {
                Ok(HistoryRow {
                    rule: r.get(0)?,
                    entity: r.get(1)?,
                    from_state: r.get(2)?,
                    to_state: r.get(3)?,
                    ts: r.get(4)?,
                    value: r.get(5)?,
                    message: r.get(6)?,
                })
            })
            .ctx(self.db.path(), "reading alert history")?;
        rows.collect::<Result<Vec<_>, _>>()
            .ctx(self.db.path(), "reading alert history")
    }
}

impl SilenceStore for SqliteAlerts {
    fn add_silence(&self, s: &SilenceRow) -> Result<i64, StoreError> {
        let conn = self.db.write()?;
        let m = serde_json::to_string(&StoredMatchers {
            rule: s.rule.clone(),
            labels: s.matchers.clone(),
        })
        .unwrap_or_else(|_| "{}".into());
        conn.execute(
            "INSERT INTO silence (matchers, starts, ends, created_by, comment, created)
                 VALUES (?1, ?2, ?3, NULL, ?4, ?2)",
            params![m, s.starts, s.ends, s.reason],
        )
        .ctx(self.db.path(), "adding a silence")?;
        Ok(conn.last_insert_rowid())
    }

    fn silences(&self, now: Option<i64>) -> Result<Vec<SilenceRow>, StoreError> {
        let conn = self.db.read()?;
        let mut st = conn
            .prepare_cached("SELECT id, matchers, starts, ends, comment FROM silence WHERE ends > ?1 ORDER BY id")
            .ctx(self.db.path(), "reading silences")?;
        let rows = st
            .query_map([now.unwrap_or(i64::MIN)], |r| {
                let m: String = r.get(1)?;
                let m: StoredMatchers = serde_json::from_str(&m).unwrap_or(StoredMatchers {
                    rule: None,
                    labels: Default::default(),
                });
                Ok(SilenceRow {
                    id: r.get(0)?,
                    rule: m.rule,
                    matchers: m.labels,
                    starts: r.get(2)?,
                    ends: r.get(3)?,
                    reason: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                })
            })
            .ctx(self.db.path(), "reading silences")?;
        rows.collect::<Result<Vec<_>, _>>()
            .ctx(self.db.path(), "reading silences")
    }

    fn remove_silence(&self, id: i64) -> Result<bool, StoreError> {
        let conn = self.db.write()?;
        let n = conn
            .execute("DELETE FROM silence WHERE id = ?1", [id])
            .ctx(self.db.path(), "removing a silence")?;
        Ok(n > 0)
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AlertRow> {
    Ok(AlertRow {
        rule: r.get(0)?,
        entity: r.get(1)?,
        state: r.get(2)?,
        since: r.get(3)?,
        last_eval: r.get(4)?,
        last_notified: r.get(5)?,
        value: r.get(6)?,
        labels: r.get(7)?,
        data: r.get(8)?,
    })
}
