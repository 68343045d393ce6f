//! The durable outbox in SQLite: notices waiting for their route's group to close, rendered
//! messages waiting to be sent (written before the first attempt), their attempts, errors and
//! delivery, and which alerts' firing and resolved notices were delivered.
//!
//! Delivery is at least once: a message is marked sent right after the server accepted it, so
//! only a crash between the two could send it again. It is never sent again after being
//! marked.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use jiff::Timestamp;
use rusqlite::{Connection, params};

use super::notice::{Notice, NoticeKind};

/// The tables of the notify stage (idempotent), kept in one place so the store's versioned
/// migrations can take them over.
pub const OUTBOX_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS notify_queue (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    route       TEXT    NOT NULL,
    notice      TEXT    NOT NULL,  -- JSON of notify::Notice
    received_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS notify_queue_route ON notify_queue(route, id);
CREATE TABLE IF NOT EXISTS notify_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    route           TEXT    NOT NULL,
    envelope_from   TEXT    NOT NULL,
    envelope_to     TEXT    NOT NULL,  -- JSON array of addresses
    subject         TEXT    NOT NULL,
    body            BLOB    NOT NULL,  -- the whole RFC 5322 message
    alerts          TEXT    NOT NULL,  -- JSON array of [kind, rule, entity]
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    created_ms      INTEGER NOT NULL,
    sent_ms         INTEGER,
    last_error      TEXT
);
CREATE INDEX IF NOT EXISTS notify_outbox_due ON notify_outbox(state, next_attempt_ms);
CREATE TABLE IF NOT EXISTS notify_delivered (
    rule              TEXT    NOT NULL,
    entity            TEXT    NOT NULL,
    route             TEXT    NOT NULL,
    firing_sent_ms    INTEGER,
    resolved_sent_ms  INTEGER,
    PRIMARY KEY (rule, entity, route)
);
";

/// An outbox failure: which database and what went wrong.
#[derive(Debug, thiserror::Error)]
#[error("outbox {path}: {source}")]
pub struct OutboxError {
    /// The database file.
    pub path: PathBuf,
    /// SQLite's reason.
    #[source]
    pub source: rusqlite::Error,
}

/// A state of a message in the outbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageState {
    /// Waiting for its first or next attempt.
    Pending,
    /// Accepted by the server (or written to a file).
    Sent,
    /// Refused for good (5xx); kept with its error.
    Failed,
}

impl MessageState {
    fn parse(s: &str) -> MessageState {
        match s {
            "sent" => MessageState::Sent,
            "failed" => MessageState::Failed,
            _ => MessageState::Pending,
        }
    }
}

/// A rendered message to put into the outbox.
#[derive(Clone, Debug)]
pub struct NewMessage {
    /// Route it is for.
    pub route: String,
    /// Envelope sender address.
    pub envelope_from: String,
    /// Envelope recipients: all of the route's addresses.
    pub envelope_to: Vec<String>,
    /// Subject, for logs and inspection.
    pub subject: String,
    /// The formatted message.
    pub body: Vec<u8>,
    /// The alerts in it, to record their delivery.
    pub alerts: Vec<(NoticeKind, String, String)>,
}

/// A message of the outbox as stored.
#[derive(Clone, Debug)]
pub struct StoredMessage {
    /// Row id.
    pub id: i64,
    /// Route it is for.
    pub route: String,
    /// Envelope sender address.
    pub envelope_from: String,
    /// Envelope recipients.
    pub envelope_to: Vec<String>,
    /// Subject.
    pub subject: String,
    /// The formatted message.
    pub body: Vec<u8>,
    /// Pending, sent or failed.
    pub state: MessageState,
    /// Attempts made so far.
    pub attempts: u32,
    /// The last error, for retried and failed messages.
    pub last_error: Option<String>,
}

/// The outbox database. Cheap operations behind one connection and a mutex; callers on the
/// async runtime run them with `spawn_blocking`.
pub struct Outbox {
    path: PathBuf,
    conn: Mutex<Connection>,
}

fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

impl Outbox {
    /// Opens (or creates) the outbox tables in the SQLite file at `path`, in WAL mode.
    pub fn open(path: &Path) -> Result<Outbox, OutboxError> {
        let err = |source| OutboxError {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        conn.execute_batch(OUTBOX_SCHEMA).map_err(err)?;
        Ok(Outbox {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection itself usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn err(&self, source: rusqlite::Error) -> OutboxError {
        OutboxError {
            path: self.path.clone(),
            source,
        }
    }

    /// Stores a notice for `route` until the route's group closes.
    pub fn queue_notice(
        &self,
        route: &str,
        notice: &Notice,
        now: Timestamp,
    ) -> Result<(), OutboxError> {
        let json = serde_json::to_string(notice)
            .map_err(|e| self.err(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))?;
        self.conn()
            .execute(
                "INSERT INTO notify_queue (route, notice, received_ms) VALUES (?1, ?2, ?3)",
                params![route, json, ms(now)],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Routes with queued notices and when their oldest notice arrived (for a restart).
    pub fn queued_routes(&self) -> Result<Vec<(String, Timestamp)>, OutboxError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT route, MIN(received_ms) FROM notify_queue GROUP BY route")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (route, at) = row.map_err(|e| self.err(e))?;
            out.push((
                route,
                Timestamp::from_millisecond(at).unwrap_or(Timestamp::UNIX_EPOCH),
            ));
        }
        Ok(out)
    }

    /// Closes `route`'s group in one transaction: reads its queued notices, lets `render` make
    /// the message, stores it as pending and removes the notices. Returns the new message id,
    /// or `None` when nothing was queued or `render` gave nothing (it logs why).
    pub fn close_group(
        &self,
        route: &str,
        now: Timestamp,
        render: impl FnOnce(&[Notice]) -> Option<NewMessage>,
    ) -> Result<Option<i64>, OutboxError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        let mut notices = Vec::new();
        let mut max_id = None;
        {
            let mut stmt = tx
                .prepare("SELECT id, notice FROM notify_queue WHERE route = ?1 ORDER BY id")
                .map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map([route], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(|e| self.err(e))?;
            for row in rows {
                let (id, json) = row.map_err(|e| self.err(e))?;
                max_id = Some(id);
                match serde_json::from_str::<Notice>(&json) {
                    Ok(n) => notices.push(n),
                    Err(e) => tracing::error!(
                        route,
                        queue_id = id,
                        error = %e,
                        "dropping a queued notice that cannot be read back"
                    ),
                }
            }
        }
        let Some(max_id) = max_id else {
            return Ok(None);
        };
        let id = match (!notices.is_empty()).then(|| render(&notices)).flatten() {
            Some(m) => Some(insert_message(&tx, &m, now).map_err(|e| self.err(e))?),
            None => None,
        };
        tx.execute(
            "DELETE FROM notify_queue WHERE route = ?1 AND id <= ?2",
            params![route, max_id],
        )
        .map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(id)
    }

    /// Stores a rendered message as pending, due now.
    pub fn enqueue(&self, message: &NewMessage, now: Timestamp) -> Result<i64, OutboxError> {
        insert_message(&self.conn(), message, now).map_err(|e| self.err(e))
    }

    /// Pending messages due at `now`, oldest first, at most `limit`.
    pub fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<StoredMessage>, OutboxError> {
        self.select(
            "WHERE state = 'pending' AND next_attempt_ms <= ?1 ORDER BY next_attempt_ms, id LIMIT ?2",
            params![ms(now), limit as i64],
        )
    }

    /// Every message, oldest first (for inspection and tests).
    pub fn messages(&self) -> Result<Vec<StoredMessage>, OutboxError> {
        self.select("ORDER BY id", params![])
    }

    fn select(
        &self,
        tail: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<StoredMessage>, OutboxError> {
        let conn = self.conn();
        let sql = format!(
            "SELECT id, route, envelope_from, envelope_to, subject, body, state, attempts, last_error \
             FROM notify_outbox {tail}"
        );
        let mut stmt = conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(args, |r| {
                let to: String = r.get(3)?;
                let state: String = r.get(6)?;
                Ok(StoredMessage {
                    id: r.get(0)?,
                    route: r.get(1)?,
                    envelope_from: r.get(2)?,
                    envelope_to: serde_json::from_str(&to).unwrap_or_default(),
                    subject: r.get(4)?,
                    body: r.get(5)?,
                    state: MessageState::parse(&state),
                    attempts: r.get::<_, i64>(7)?.max(0) as u32,
                    last_error: r.get(8)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// When the next pending message is due, if any.
    pub fn next_due(&self) -> Result<Option<Timestamp>, OutboxError> {
        let at: Option<i64> = self
            .conn()
            .query_row(
                "SELECT MIN(next_attempt_ms) FROM notify_outbox WHERE state = 'pending'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        Ok(at.and_then(|a| Timestamp::from_millisecond(a).ok()))
    }

    /// Number of messages waiting to be sent.
    pub fn pending_count(&self) -> Result<u64, OutboxError> {
        let n: i64 = self
            .conn()
            .query_row(
                "SELECT COUNT(*) FROM notify_outbox WHERE state = 'pending'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        Ok(n.max(0) as u64)
    }

    /// Marks a message delivered (only a pending one, so it is never sent twice) and records
    /// the delivery of each alert in it. Returns false when it was not pending.
    pub fn mark_sent(&self, id: i64, now: Timestamp) -> Result<bool, OutboxError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        let changed = tx
            .execute(
                "UPDATE notify_outbox SET state = 'sent', sent_ms = ?2, attempts = attempts + 1, last_error = NULL \
                 WHERE id = ?1 AND state = 'pending'",
                params![id, ms(now)],
            )
            .map_err(|e| self.err(e))?;
        if changed == 1 {
            let (route, alerts): (String, String) = tx
                .query_row(
                    "SELECT route, alerts FROM notify_outbox WHERE id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(|e| self.err(e))?;
            let alerts: Vec<(NoticeKind, String, String)> =
                serde_json::from_str(&alerts).unwrap_or_default();
            for (kind, rule, entity) in alerts {
                let sql = match kind {
                    NoticeKind::Firing | NoticeKind::Repeat => {
                        "INSERT INTO notify_delivered (rule, entity, route, firing_sent_ms, resolved_sent_ms) \
                         VALUES (?1, ?2, ?3, ?4, NULL) \
                         ON CONFLICT (rule, entity, route) DO UPDATE SET firing_sent_ms = ?4, resolved_sent_ms = NULL"
                    }
                    NoticeKind::Resolved => {
                        "INSERT INTO notify_delivered (rule, entity, route, firing_sent_ms, resolved_sent_ms) \
                         VALUES (?1, ?2, ?3, NULL, ?4) \
                         ON CONFLICT (rule, entity, route) DO UPDATE SET resolved_sent_ms = ?4"
                    }
                };
                tx.execute(sql, params![rule, entity, route, ms(now)])
                    .map_err(|e| self.err(e))?;
            }
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(changed == 1)
    }

    /// Records a transient failure (connection error, 4xx): the next attempt is at `next`.
    pub fn mark_retry(&self, id: i64, error: &str, next: Timestamp) -> Result<(), OutboxError> {
        self.conn()
            .execute(
                "UPDATE notify_outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_ms = ?3 \
                 WHERE id = ?1 AND state = 'pending'",
                params![id, error, ms(next)],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Records a permanent failure (5xx): the message is kept with its error, never retried.
    pub fn mark_failed(&self, id: i64, error: &str) -> Result<(), OutboxError> {
        self.conn()
            .execute(
                "UPDATE notify_outbox SET state = 'failed', attempts = attempts + 1, last_error = ?2 \
                 WHERE id = ?1 AND state = 'pending'",
                params![id, error],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Makes every pending message due now: called when the daemon starts, so a restart
    /// (often after fixing the mail setup) retries at once instead of waiting out a backoff.
    pub fn retry_now(&self, now: Timestamp) -> Result<usize, OutboxError> {
        self.conn()
            .execute(
                "UPDATE notify_outbox SET next_attempt_ms = ?1 WHERE state = 'pending' AND next_attempt_ms > ?1",
                [ms(now)],
            )
            .map_err(|e| self.err(e))
    }

    /// Deletes delivered messages sent before `before` (failed ones stay for inspection);
    /// returns how many. The record of delivered alerts is kept.
    pub fn prune_sent(&self, before: Timestamp) -> Result<usize, OutboxError> {
        self.conn()
            .execute(
                "DELETE FROM notify_outbox WHERE state = 'sent' AND sent_ms < ?1",
                [ms(before)],
            )
            .map_err(|e| self.err(e))
    }

    /// Whether a firing (or repeat) notice of this alert was delivered to some route and no
    /// resolved notice has been delivered since: the rules stage must then send the resolved
    /// notice whatever silences or inhibitions say.
    pub fn resolution_owed(&self, rule: &str, entity: &str) -> Result<bool, OutboxError> {
        let n: i64 = self
            .conn()
            .query_row(
                "SELECT COUNT(*) FROM notify_delivered WHERE rule = ?1 AND entity = ?2 \
                 AND firing_sent_ms IS NOT NULL AND resolved_sent_ms IS NULL",
                params![rule, entity],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    /// Every (rule, entity) whose firing was delivered and whose resolution was not yet.
    pub fn resolutions_owed(&self) -> Result<Vec<(String, String)>, OutboxError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT DISTINCT rule, entity FROM notify_delivered \
                 WHERE firing_sent_ms IS NOT NULL AND resolved_sent_ms IS NULL ORDER BY rule, entity",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }
}

fn insert_message(conn: &Connection, m: &NewMessage, now: Timestamp) -> rusqlite::Result<i64> {
    let to = serde_json::to_string(&m.envelope_to)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let alerts = serde_json::to_string(&m.alerts)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    conn.execute(
        "INSERT INTO notify_outbox (route, envelope_from, envelope_to, subject, body, alerts, state, next_attempt_ms, created_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?7)",
        params![m.route, m.envelope_from, to, m.subject, m.body, alerts, ms(now)],
    )?;
    Ok(conn.last_insert_rowid())
}
