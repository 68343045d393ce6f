//! The durable notification outbox in SQLite (tables `notify_queue`, `notify_outbox`,
//! `notify_delivered`, created by migration 3): notices waiting for their route's group to
//! close, rendered messages waiting to be sent (written before the first attempt), their
//! attempts, errors and delivery, and which alerts' firing and resolved notices were
//! delivered. What a notice says is the notify stage's business: the store keeps it as an
//! opaque payload.
//!
//! Delivery is at least once: a message is marked sent right after the server accepted it, so
//! only a crash between the two could send it again. It is never sent again after being
//! marked.

use std::sync::Arc;

use jiff::Timestamp;
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::db::Db;
use super::error::{SqlContext, StoreError};
use super::lease::{Lease, current_in};
use super::traits::OutboxStore;

/// The outbox tables (idempotent): migration 3, and what the notify stage of release 0.1
/// created by itself, so a database of that release migrates in place.
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
    pub(crate) fn parse(s: &str) -> MessageState {
        match s {
            "sent" => MessageState::Sent,
            "failed" => MessageState::Failed,
            _ => MessageState::Pending,
        }
    }
}

/// What a message says about one alert, as far as delivery records go: a firing (or repeat)
/// notice marks the alert's firing delivered, a resolved notice its resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Delivery {
    /// The alert started firing.
    Firing,
    /// A reminder that it still fires.
    Repeat,
    /// The alert stopped firing.
    Resolved,
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
    /// The alerts in it `(kind, rule, entity)`, to record their delivery.
    pub alerts: Vec<(Delivery, String, String)>,
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
    /// Unix milliseconds it was stored.
    pub created_ms: i64,
}

impl StoredMessage {
    /// A name for this message that no other message of this or another database gets
    /// (its creation time and id): the file transport's file name, so that sending it again
    /// after a crash replaces the file instead of adding one.
    pub fn key(&self) -> String {
        format!("{}-{}", self.created_ms, self.id)
    }
}

/// A notice waiting in a route's group, as the notify stage stored it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedNotice {
    /// Row id (increasing in arrival order).
    pub id: i64,
    /// The notice, as the notify stage encoded it.
    pub payload: String,
}

/// The SQLite implementation of [`OutboxStore`], on the store's read-write connection.
pub(crate) struct SqliteOutbox {
    db: Arc<Db>,
}

impl SqliteOutbox {
    /// The outbox tables of `db`.
    pub(crate) fn new(db: Arc<Db>) -> SqliteOutbox {
        SqliteOutbox { db }
    }

    fn select(
        &self,
        tail: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let conn = self.db.write()?;
        let sql = format!(
            "SELECT id, route, envelope_from, envelope_to, subject, body, state, attempts, last_error, created_ms \
             FROM notify_outbox {tail}"
        );
        let mut stmt = conn
            .prepare_cached(&sql)
            .ctx(self.db.path(), "reading the outbox")?;
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
                    created_ms: r.get(9)?,
                })
            })
            .ctx(self.db.path(), "reading the outbox")?;
        rows.collect::<Result<_, _>>()
            .ctx(self.db.path(), "reading the outbox")
    }

    /// Marks a pending message sent (with `token`: only while it is that token's claim) and
    /// records the delivery of each alert in it, in one transaction.
    fn mark_sent_as(
        &self,
        id: i64,
        token: Option<i64>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let path = self.db.path();
        let mut conn = self.db.write()?;
        let tx = conn.transaction().ctx(path, "marking a message sent")?;
        let changed = tx
            .execute(
                "UPDATE notify_outbox SET state = 'sent', sent_ms = ?2, attempts = attempts + 1, last_error = NULL \
                 WHERE id = ?1 AND state = 'pending' AND (?3 IS NULL OR claim_token = ?3)",
                params![id, ms(now), token],
            )
            .ctx(path, "marking a message sent")?;
        if changed == 1 {
            let (route, alerts): (String, String) = tx
                .query_row(
                    "SELECT route, alerts FROM notify_outbox WHERE id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .ctx(path, "reading a sent message")?;
            let alerts: Vec<(Delivery, String, String)> =
                serde_json::from_str(&alerts).unwrap_or_default();
            for (kind, rule, entity) in alerts {
                let sql = match kind {
                    Delivery::Firing | Delivery::Repeat => {
                        "INSERT INTO notify_delivered (rule, entity, route, firing_sent_ms, resolved_sent_ms) \
                         VALUES (?1, ?2, ?3, ?4, NULL) \
                         ON CONFLICT (rule, entity, route) DO UPDATE SET firing_sent_ms = ?4, resolved_sent_ms = NULL"
                    }
                    Delivery::Resolved => {
                        "INSERT INTO notify_delivered (rule, entity, route, firing_sent_ms, resolved_sent_ms) \
                         VALUES (?1, ?2, ?3, NULL, ?4) \
                         ON CONFLICT (rule, entity, route) DO UPDATE SET resolved_sent_ms = ?4"
                    }
                };
                tx.execute(sql, params![rule, entity, route, ms(now)])
                    .ctx(path, "recording a delivered alert")?;
            }
        }
        tx.commit().ctx(path, "marking a message sent")?;
        Ok(changed == 1)
    }

    fn insert(&self, conn: &Connection, m: &NewMessage, now: Timestamp) -> Result<i64, StoreError> {
        let encoding = |e: serde_json::Error| StoreError::Encoding {
            path: self.db.path().to_path_buf(),
            context: "encoding an outbox message",
            reason: e.to_string(),
        };
        let to = serde_json::to_string(&m.envelope_to).map_err(encoding)?;
        let alerts = serde_json::to_string(&m.alerts).map_err(encoding)?;
        conn.execute(
            "INSERT INTO notify_outbox (route, envelope_from, envelope_to, subject, body, alerts, state, next_attempt_ms, created_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?7)",
            params![m.route, m.envelope_from, to, m.subject, m.body, alerts, ms(now)],
        )
        .ctx(self.db.path(), "storing an outbox message")?;
        Ok(conn.last_insert_rowid())
    }
}

fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

fn at_ms(v: i64) -> Timestamp {
    Timestamp::from_millisecond(v).unwrap_or(Timestamp::UNIX_EPOCH)
}

impl OutboxStore for SqliteOutbox {
    fn queue_notice(&self, route: &str, payload: &str, now: Timestamp) -> Result<(), StoreError> {
        self.db
            .write()?
            .execute(
                "INSERT INTO notify_queue (route, notice, received_ms) VALUES (?1, ?2, ?3)",
                params![route, payload, ms(now)],
            )
            .ctx(self.db.path(), "queueing a notice")?;
        Ok(())
    }

    fn queued_routes(&self) -> Result<Vec<(String, Timestamp)>, StoreError> {
        let conn = self.db.write()?;
        let mut stmt = conn
            .prepare_cached("SELECT route, MIN(received_ms) FROM notify_queue GROUP BY route")
            .ctx(self.db.path(), "reading queued notices")?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, at_ms(r.get::<_, i64>(1)?)))
            })
            .ctx(self.db.path(), "reading queued notices")?;
        rows.collect::<Result<_, _>>()
            .ctx(self.db.path(), "reading queued notices")
    }

    fn close_group(
        &self,
        route: &str,
        now: Timestamp,
        render: &mut dyn FnMut(&[QueuedNotice]) -> Option<NewMessage>,
    ) -> Result<Option<i64>, StoreError> {
        let path = self.db.path();
        // Read, render without holding the database (rendering a large group's charts takes
        // a while, and the writer waits for the lock meanwhile), then store the message and
        // remove exactly the notices it was made of, in one transaction. The dispatcher is the
        // only one that removes a route's notices, so none can vanish in between; a crash in
        // between leaves them queued, to be rendered again.
        let queued: Vec<QueuedNotice> = {
            let conn = self.db.write()?;
            let mut stmt = conn
                .prepare_cached("SELECT id, notice FROM notify_queue WHERE route = ?1 ORDER BY id")
                .ctx(path, "reading queued notices")?;
            let rows = stmt
                .query_map([route], |r| {
                    Ok(QueuedNotice {
                        id: r.get(0)?,
                        payload: r.get(1)?,
                    })
                })
                .ctx(path, "reading queued notices")?;
            rows.collect::<Result<_, _>>()
                .ctx(path, "reading queued notices")?
        };
        let Some(max_id) = queued.last().map(|q| q.id) else {
            return Ok(None);
        };
        let message = render(&queued);
        let mut conn = self.db.write()?;
        // IMMEDIATE: take the write lock up front (waiting for it), never fail on an upgrade.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .ctx(path, "closing a group")?;
        let id = match message {
            Some(m) => Some(self.insert(&tx, &m, now)?),
            None => None,
        };
        let removed = tx
            .execute(
                "DELETE FROM notify_queue WHERE route = ?1 AND id <= ?2",
                params![route, max_id],
            )
            .ctx(path, "removing closed notices")?;
        if removed != queued.len() {
            // Another dispatcher (the lease's previous or next holder) closed this group
            // meanwhile: its message has these notices. Dropping the transaction undoes ours.
            tracing::warn!(
                route,
                "the notice group was closed by another daemon meanwhile; its message is not made twice"
            );
            return Ok(None);
        }
        tx.commit().ctx(path, "closing a group")?;
        Ok(id)
    }

    fn enqueue(&self, message: &NewMessage, now: Timestamp) -> Result<i64, StoreError> {
        self.insert(&*self.db.write()?, message, now)
    }

    fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<StoredMessage>, StoreError> {
        self.select(
            "WHERE state = 'pending' AND next_attempt_ms <= ?1 ORDER BY next_attempt_ms, id LIMIT ?2",
            params![ms(now), limit as i64],
        )
    }

    fn messages(&self) -> Result<Vec<StoredMessage>, StoreError> {
        self.select("ORDER BY id", params![])
    }

    fn next_due(&self) -> Result<Option<Timestamp>, StoreError> {
        let at: Option<i64> = self
            .db
            .write()?
            .query_row(
                "SELECT MIN(next_attempt_ms) FROM notify_outbox WHERE state = 'pending'",
                [],
                |r| r.get(0),
            )
            .ctx(self.db.path(), "reading the outbox")?;
        Ok(at.map(at_ms))
    }

    fn pending_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .db
            .write()?
            .query_row(
                "SELECT COUNT(*) FROM notify_outbox WHERE state = 'pending'",
                [],
                |r| r.get(0),
            )
            .ctx(self.db.path(), "counting pending messages")?;
        Ok(n.max(0) as u64)
    }

    fn mark_sent(&self, id: i64, now: Timestamp) -> Result<bool, StoreError> {
        self.mark_sent_as(id, None, now)
    }

    fn mark_sent_claimed(&self, id: i64, token: i64, now: Timestamp) -> Result<bool, StoreError> {
        self.mark_sent_as(id, Some(token), now)
    }

    fn claim(&self, id: i64, lease: &Lease, now: Timestamp) -> Result<bool, StoreError> {
        let path = self.db.path();
        let mut conn = self.db.write()?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .ctx(path, "claiming a message")?;
        if !current_in(&tx, lease).ctx(path, "checking the outbox lease")? {
            return Err(StoreError::LeaseLost {
                name: lease.name.clone(),
                token: lease.token,
            });
        }
        let changed = tx
            .execute(
                "UPDATE notify_outbox SET claim_token = ?2, claimed_ms = ?3 \
                 WHERE id = ?1 AND state = 'pending'",
                params![id, lease.token, ms(now)],
            )
            .ctx(path, "claiming a message")?;
        tx.commit().ctx(path, "claiming a message")?;
        Ok(changed == 1)
    }

    fn mark_retry(&self, id: i64, error: &str, next: Timestamp) -> Result<(), StoreError> {
        self.db
            .write()?
            .execute(
                "UPDATE notify_outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_ms = ?3 \
                 WHERE id = ?1 AND state = 'pending'",
                params![id, error, ms(next)],
            )
            .ctx(self.db.path(), "recording a failed attempt")?;
        Ok(())
    }

    fn mark_failed(&self, id: i64, error: &str) -> Result<(), StoreError> {
        self.db
            .write()?
            .execute(
                "UPDATE notify_outbox SET state = 'failed', attempts = attempts + 1, last_error = ?2 \
                 WHERE id = ?1 AND state = 'pending'",
                params![id, error],
            )
            .ctx(self.db.path(), "marking a message failed")?;
        Ok(())
    }

    fn failed_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .db
            .write()?
            .query_row(
                "SELECT COUNT(*) FROM notify_outbox WHERE state = 'failed'",
                [],
                |r| r.get(0),
            )
            .ctx(self.db.path(), "counting refused messages")?;
        Ok(n.max(0) as u64)
    }

    fn requeue_failed(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.db
            .write()?
            .execute(
                "UPDATE notify_outbox SET state = 'pending', next_attempt_ms = ?1 WHERE state = 'failed'",
                [ms(now)],
            )
            .ctx(self.db.path(), "retrying refused messages")
    }

    fn retry_now(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.db
            .write()?
            .execute(
                "UPDATE notify_outbox SET next_attempt_ms = ?1 WHERE state = 'pending' AND next_attempt_ms > ?1",
                [ms(now)],
            )
            .ctx(self.db.path(), "making pending messages due")
    }

    fn prune_sent(&self, before: Timestamp) -> Result<usize, StoreError> {
        self.db
            .write()?
            .execute(
                "DELETE FROM notify_outbox WHERE state = 'sent' AND sent_ms < ?1",
                [ms(before)],
            )
            .ctx(self.db.path(), "pruning sent messages")
    }

    fn resolution_owed(&self, rule: &str, entity: &str) -> Result<bool, StoreError> {
        let n: i64 = self
            .db
            .write()?
            .query_row(
                "SELECT COUNT(*) FROM notify_delivered WHERE rule = ?1 AND entity = ?2 \
                 AND firing_sent_ms IS NOT NULL AND resolved_sent_ms IS NULL",
                params![rule, entity],
                |r| r.get(0),
            )
            .ctx(self.db.path(), "reading delivered alerts")?;
        Ok(n > 0)
    }

    fn resolutions_owed(&self) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.db.write()?;
        let mut stmt = conn
            .prepare_cached(
                "SELECT DISTINCT rule, entity FROM notify_delivered \
                 WHERE firing_sent_ms IS NOT NULL AND resolved_sent_ms IS NULL ORDER BY rule, entity",
            )
            .ctx(self.db.path(), "reading delivered alerts")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .ctx(self.db.path(), "reading delivered alerts")?;
        rows.collect::<Result<_, _>>()
            .ctx(self.db.path(), "reading delivered alerts")
    }
}
