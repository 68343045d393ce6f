//! The durable notification outbox on PostgreSQL, with SQLite's semantics
//! (`store::outbox`): notices queued per route (written by `AlertStore::commit` in the alert
//! transition's transaction), rendered messages, their attempts and delivery, and which
//! alerts' firing and resolved notices were delivered.
//!
//! Several daemons share the tables, so every step that moves a message or a notice checks,
//! in its own statement or transaction, that it still finds what it read: a group is closed
//! only if its notices are still queued (two dispatchers during a handover cannot both turn
//! them into a message), a message is marked sent only while pending, and a claim is fenced
//! by the lease ([`OutboxStore::claim`]).

use std::sync::Arc;

use jiff::Timestamp;
use postgres::GenericClient;

use super::super::error::StoreError;
use super::super::lease::Lease;
use super::super::outbox::{Delivery, MessageState, NewMessage, QueuedNotice, StoredMessage};
use super::super::traits::OutboxStore;
use super::conn::{Shared, pg_err};
use super::lease::current_in;

/// The PostgreSQL implementation of [`OutboxStore`].
pub(crate) struct PgOutbox {
    shared: Arc<Shared>,
}

impl PgOutbox {
    /// The outbox tables of the shared database.
    pub(crate) fn new(shared: Arc<Shared>) -> PgOutbox {
        PgOutbox { shared }
    }

    fn select(
        &self,
        tail: &str,
        args: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let sql = format!(
            "SELECT id, route, envelope_from, envelope_to, subject, body, state, attempts, \
             last_error, created_ms FROM notify_outbox {tail}"
        );
        self.shared.with("reading the outbox", |c| {
            c.query(&sql, args)?
                .iter()
                .map(|r| {
                    let to: String = r.try_get(3)?;
                    let state: String = r.try_get(6)?;
                    Ok(StoredMessage {
                        id: r.try_get(0)?,
                        route: r.try_get(1)?,
                        envelope_from: r.try_get(2)?,
                        envelope_to: serde_json::from_str(&to).unwrap_or_default(),
                        subject: r.try_get(4)?,
                        body: r.try_get(5)?,
                        state: MessageState::parse(&state),
                        attempts: r.try_get::<_, i32>(7)?.max(0) as u32,
                        last_error: r.try_get(8)?,
                        created_ms: r.try_get(9)?,
                    })
                })
                .collect()
        })
    }

    fn insert(
        &self,
        c: &mut impl GenericClient,
        m: &NewMessage,
        now: Timestamp,
    ) -> Result<i64, StoreError> {
        let target = &self.shared.target;
        let encoding = |e: serde_json::Error| StoreError::Encoding {
            path: target.to_string().into(),
            context: "encoding an outbox message",
            reason: e.to_string(),
        };
        let to = serde_json::to_string(&m.envelope_to).map_err(encoding)?;
        let alerts = serde_json::to_string(&m.alerts).map_err(encoding)?;
        c.query_one(
            "INSERT INTO notify_outbox (route, envelope_from, envelope_to, subject, body, alerts, \
             state, next_attempt_ms, created_ms) VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7) \
             RETURNING id",
            &[&m.route, &m.envelope_from, &to, &m.subject, &m.body, &alerts, &ms(now)],
        )
        .and_then(|r| r.try_get(0))
        .map_err(pg_err(target, "storing an outbox message"))
    }

    fn count(&self, sql: &str, context: &'static str) -> Result<u64, StoreError> {
        self.shared
            .with(context, |c| {
                c.query_one(sql, &[]).and_then(|r| r.try_get::<_, i64>(0))
            })
            .map(|n| n.max(0) as u64)
    }

    fn update(
        &self,
        sql: &str,
        args: &[&(dyn postgres::types::ToSql + Sync)],
        context: &'static str,
    ) -> Result<usize, StoreError> {
        let mut c = self.shared.client()?;
        c.execute(sql, args)
            .map(|n| n as usize)
            .map_err(pg_err(&self.shared.target, context))
    }
}

fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

fn at_ms(v: i64) -> Timestamp {
    Timestamp::from_millisecond(v).unwrap_or(Timestamp::UNIX_EPOCH)
}

impl OutboxStore for PgOutbox {
    fn queue_notice(&self, route: &str, payload: &str, now: Timestamp) -> Result<(), StoreError> {
        self.update(
            "INSERT INTO notify_queue (route, notice, received_ms) VALUES ($1, $2, $3)",
            &[&route, &payload, &ms(now)],
            "queueing a notice",
        )
        .map(drop)
    }

    fn queued_routes(&self) -> Result<Vec<(String, Timestamp)>, StoreError> {
        self.shared.with("reading queued notices", |c| {
            c.query(
                "SELECT route, MIN(received_ms) FROM notify_queue GROUP BY route ORDER BY route",
                &[],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, at_ms(r.try_get(1)?))))
            .collect()
        })
    }

    fn close_group(
        &self,
        route: &str,
        now: Timestamp,
        render: &mut dyn FnMut(&[QueuedNotice]) -> Option<NewMessage>,
    ) -> Result<Option<i64>, StoreError> {
        let target = &self.shared.target;
        // Read, render without holding a transaction, then store the message and remove
        // exactly the notices it was made of; if another dispatcher removed any meanwhile
        // (a handover), nothing is stored: those notices are in its message.
        let queued: Vec<QueuedNotice> = self.shared.with("reading queued notices", |c| {
            c.query(
                "SELECT id, notice FROM notify_queue WHERE route = $1 ORDER BY id",
                &[&route],
            )?
            .iter()
            .map(|r| {
                Ok(QueuedNotice {
                    id: r.try_get(0)?,
                    payload: r.try_get(1)?,
                })
            })
            .collect()
        })?;
        if queued.is_empty() {
            return Ok(None);
        }
        let message = render(&queued);
        let ids: Vec<i64> = queued.iter().map(|q| q.id).collect();
        let mut client = self.shared.client()?;
        let mut tx = client
            .transaction()
            .map_err(pg_err(target, "closing a group"))?;
        let removed = tx
            .execute(
                "DELETE FROM notify_queue WHERE route = $1 AND id = ANY($2)",
                &[&route, &ids],
            )
            .map_err(pg_err(target, "removing closed notices"))?;
        if removed as usize != ids.len() {
            tracing::info!(route, "a group was closed by another dispatcher meanwhile");
            return Ok(None);
        }
        let id = match message {
            Some(m) => Some(self.insert(&mut tx, &m, now)?),
            None => None,
        };
        tx.commit().map_err(pg_err(target, "closing a group"))?;
        Ok(id)
    }

    fn enqueue(&self, message: &NewMessage, now: Timestamp) -> Result<i64, StoreError> {
        let mut c = self.shared.client()?;
        self.insert(&mut *c, message, now)
    }

    fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<StoredMessage>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.select(
            "WHERE state = 'pending' AND next_attempt_ms <= $1 ORDER BY next_attempt_ms, id LIMIT $2",
            &[&ms(now), &limit],
        )
    }

    fn messages(&self) -> Result<Vec<StoredMessage>, StoreError> {
        self.select("ORDER BY id", &[])
    }

    fn next_due(&self) -> Result<Option<Timestamp>, StoreError> {
        self.shared.with("reading the outbox", |c| {
            c.query_one(
                "SELECT MIN(next_attempt_ms) FROM notify_outbox WHERE state = 'pending'",
                &[],
            )?
            .try_get::<_, Option<i64>>(0)
            .map(|v| v.map(at_ms))
        })
    }

    fn pending_count(&self) -> Result<u64, StoreError> {
        self.count(
            "SELECT COUNT(*) FROM notify_outbox WHERE state = 'pending'",
            "counting pending messages",
        )
    }

    fn mark_sent(&self, id: i64, now: Timestamp) -> Result<bool, StoreError> {
        let target = &self.shared.target;
        let e = |c| pg_err(target, c);
        let mut client = self.shared.client()?;
        let mut tx = client.transaction().map_err(e("marking a message sent"))?;
        let row = tx
            .query_opt(
                "UPDATE notify_outbox SET state = 'sent', sent_ms = $2, attempts = attempts + 1, \
                 last_error = NULL WHERE id = $1 AND state = 'pending' RETURNING route, alerts",
                &[&id, &ms(now)],
            )
            .map_err(e("marking a message sent"))?;
        let Some(row) = row else {
            return Ok(false);
        };
        let route: String = row.try_get(0).map_err(e("reading a sent message"))?;
        let alerts: String = row.try_get(1).map_err(e("reading a sent message"))?;
        let alerts: Vec<(Delivery, String, String)> =
            serde_json::from_str(&alerts).unwrap_or_default();
        for (kind, rule, entity) in alerts {
            let sql = match kind {
                Delivery::Firing | Delivery::Repeat => {
                    "INSERT INTO notify_delivered (rule, entity, route, firing_sent_ms, resolved_sent_ms) \
                     VALUES ($1, $2, $3, $4, NULL) \
                     ON CONFLICT (rule, entity, route) DO UPDATE SET firing_sent_ms = $4, resolved_sent_ms = NULL"
                }
                Delivery::Resolved => {
                    "INSERT INTO notify_delivered (rule, entity, route, firing_sent_ms, resolved_sent_ms) \
                     VALUES ($1, $2, $3, NULL, $4) \
                     ON CONFLICT (rule, entity, route) DO UPDATE SET resolved_sent_ms = $4"
                }
            };
            tx.execute(sql, &[&rule, &entity, &route, &ms(now)])
                .map_err(e("recording a delivered alert"))?;
        }
        tx.commit().map_err(e("marking a message sent"))?;
        Ok(true)
    }

    fn claim(&self, id: i64, lease: &Lease, now: Timestamp) -> Result<bool, StoreError> {
        let target = &self.shared.target;
        let e = |c| pg_err(target, c);
        let mut client = self.shared.client()?;
        let mut tx = client.transaction().map_err(e("claiming a message"))?;
        if !current_in(&mut tx, lease).map_err(e("checking the outbox lease"))? {
            return Err(StoreError::LeaseLost {
                name: lease.name.clone(),
                token: lease.token,
            });
        }
        let changed = tx
            .execute(
                "UPDATE notify_outbox SET claim_token = $2, claimed_ms = $3 \
                 WHERE id = $1 AND state = 'pending'",
                &[&id, &lease.token, &ms(now)],
            )
            .map_err(e("claiming a message"))?;
        tx.commit().map_err(e("claiming a message"))?;
        Ok(changed == 1)
    }

    fn mark_retry(&self, id: i64, error: &str, next: Timestamp) -> Result<(), StoreError> {
        self.update(
            "UPDATE notify_outbox SET attempts = attempts + 1, last_error = $2, next_attempt_ms = $3 \
             WHERE id = $1 AND state = 'pending'",
            &[&id, &error, &ms(next)],
            "recording a failed attempt",
        )
        .map(drop)
    }

    fn mark_failed(&self, id: i64, error: &str) -> Result<(), StoreError> {
        self.update(
            "UPDATE notify_outbox SET state = 'failed', attempts = attempts + 1, last_error = $2 \
             WHERE id = $1 AND state = 'pending'",
            &[&id, &error],
            "marking a message failed",
        )
        .map(drop)
    }

    fn failed_count(&self) -> Result<u64, StoreError> {
        self.count(
            "SELECT COUNT(*) FROM notify_outbox WHERE state = 'failed'",
            "counting refused messages",
        )
    }

    fn requeue_failed(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.update(
            "UPDATE notify_outbox SET state = 'pending', next_attempt_ms = $1 WHERE state = 'failed'",
            &[&ms(now)],
            "retrying refused messages",
        )
    }

    fn retry_now(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.update(
            "UPDATE notify_outbox SET next_attempt_ms = $1 WHERE state = 'pending' AND next_attempt_ms > $1",
            &[&ms(now)],
            "making pending messages due",
        )
    }

    fn prune_sent(&self, before: Timestamp) -> Result<usize, StoreError> {
        self.update(
            "DELETE FROM notify_outbox WHERE state = 'sent' AND sent_ms < $1",
            &[&ms(before)],
            "pruning sent messages",
        )
    }

    fn resolution_owed(&self, rule: &str, entity: &str) -> Result<bool, StoreError> {
        self.shared.with("reading delivered alerts", |c| {
            c.query_one(
                "SELECT COUNT(*) FROM notify_delivered WHERE rule = $1 AND entity = $2 \
                 AND firing_sent_ms IS NOT NULL AND resolved_sent_ms IS NULL",
                &[&rule, &entity],
            )?
            .try_get::<_, i64>(0)
            .map(|n| n > 0)
        })
    }

    fn resolutions_owed(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.shared.with("reading delivered alerts", |c| {
            c.query(
                "SELECT DISTINCT rule, entity FROM notify_delivered \
                 WHERE firing_sent_ms IS NOT NULL AND resolved_sent_ms IS NULL ORDER BY rule, entity",
                &[],
            )?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
        })
    }
}
