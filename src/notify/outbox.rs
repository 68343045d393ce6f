//! The notify stage's view of the durable outbox: notices in, rendered messages out, on the
//! store's [`OutboxStore`] (the tables and their SQL live in `store/outbox.rs`). This file
//! only turns [`Notice`]s into what the store keeps and back.
//!
//! Delivery is at least once: a message is marked sent right after the server accepted it, so
//! only a crash between the two could send it again. It is never sent again after being
//! marked.

use std::sync::Arc;

use jiff::Timestamp;

use super::notice::{Notice, NoticeKind};
use crate::store::outbox::{Delivery, QueuedNotice};
use crate::store::{OutboxStore, StoreError};

pub use crate::store::outbox::{MessageState, NewMessage, StoredMessage};

/// An outbox failure: the store's error (it names the database).
#[derive(Debug, thiserror::Error)]
#[error("outbox: {0}")]
pub struct OutboxError(#[from] pub StoreError);

/// A flapping notice opens an incident for people like a firing one; a stable-again notice
/// closes it like a resolved one.
impl From<NoticeKind> for Delivery {
    fn from(k: NoticeKind) -> Delivery {
        match k {
            NoticeKind::Firing | NoticeKind::Flapping => Delivery::Firing,
            NoticeKind::Repeat => Delivery::Repeat,
            NoticeKind::Resolved | NoticeKind::Stable => Delivery::Resolved,
        }
    }
}

/// The outbox as the notify stage uses it. Cheap operations on the store; callers on the
/// async runtime run them with `spawn_blocking`.
#[derive(Clone)]
pub struct Outbox {
    store: Arc<dyn OutboxStore>,
}

impl Outbox {
    /// The outbox kept by `store` (from `Store::outbox`).
    pub fn new(store: Arc<dyn OutboxStore>) -> Outbox {
        Outbox { store }
    }

    /// Stores a notice for `route` until the route's group closes.
    pub fn queue_notice(
        &self,
        route: &str,
        notice: &Notice,
        now: Timestamp,
    ) -> Result<(), OutboxError> {
        let json = serde_json::to_string(notice).map_err(|e| {
            OutboxError(StoreError::InvalidQuery(format!(
                "a notice of {} cannot be encoded: {e}",
                notice.rule
            )))
        })?;
        Ok(self.store.queue_notice(route, &json, now)?)
    }

    /// Routes with queued notices and when their oldest notice arrived (for a restart).
    pub fn queued_routes(&self) -> Result<Vec<(String, Timestamp)>, OutboxError> {
        Ok(self.store.queued_routes()?)
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
        let mut render = Some(render);
        let mut make = |queued: &[QueuedNotice]| {
            let notices: Vec<Notice> = queued
                .iter()
                .filter_map(|q| match serde_json::from_str::<Notice>(&q.payload) {
                    Ok(n) => Some(n),
                    Err(e) => {
                        tracing::error!(
                            route,
                            queue_id = q.id,
                            error = %e,
                            "dropping a queued notice that cannot be read back"
                        );
                        None
                    }
                })
                .collect();
            if notices.is_empty() {
                return None;
            }
            render.take().and_then(|r| r(&notices))
        };
        Ok(self.store.close_group(route, now, &mut make)?)
    }

    /// Stores a rendered message as pending, due now.
    pub fn enqueue(&self, message: &NewMessage, now: Timestamp) -> Result<i64, OutboxError> {
        Ok(self.store.enqueue(message, now)?)
    }

    /// Pending messages due at `now`, oldest first, at most `limit`.
    pub fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<StoredMessage>, OutboxError> {
        Ok(self.store.due(now, limit)?)
    }

    /// Every message, oldest first (for inspection and tests).
    pub fn messages(&self) -> Result<Vec<StoredMessage>, OutboxError> {
        Ok(self.store.messages()?)
    }

    /// When the next pending message is due, if any.
    pub fn next_due(&self) -> Result<Option<Timestamp>, OutboxError> {
        Ok(self.store.next_due()?)
    }

    /// Number of messages waiting to be sent.
    pub fn pending_count(&self) -> Result<u64, OutboxError> {
        Ok(self.store.pending_count()?)
    }

    /// Marks a message delivered (only a pending one, so it is never sent twice) and records
    /// the delivery of each alert in it. Returns false when it was not pending.
    pub fn mark_sent(&self, id: i64, now: Timestamp) -> Result<bool, OutboxError> {
        Ok(self.store.mark_sent(id, now)?)
    }

    /// Claims a pending message for sending under `lease` (see [`OutboxStore::claim`]): true
    /// when claimed, false when it is no longer pending, [`StoreError::LeaseLost`] (in the
    /// error) when the lease is no longer this daemon's.
    pub fn claim(
        &self,
        id: i64,
        lease: &crate::store::Lease,
        now: Timestamp,
    ) -> Result<bool, OutboxError> {
        Ok(self.store.claim(id, lease, now)?)
    }

    /// [`Outbox::mark_sent`] for a message claimed with fencing token `token`: false when it
    /// is no longer pending or another holder claimed it since.
    pub fn mark_sent_claimed(
        &self,
        id: i64,
        token: i64,
        now: Timestamp,
    ) -> Result<bool, OutboxError> {
        Ok(self.store.mark_sent_claimed(id, token, now)?)
    }

    /// Records a transient failure (connection error, 4xx): the next attempt is at `next`.
    pub fn mark_retry(&self, id: i64, error: &str, next: Timestamp) -> Result<(), OutboxError> {
        Ok(self.store.mark_retry(id, error, next)?)
    }

    /// Records a permanent failure (5xx): the message is kept with its error, never retried.
    pub fn mark_failed(&self, id: i64, error: &str) -> Result<(), OutboxError> {
        Ok(self.store.mark_failed(id, error)?)
    }

    /// Makes every pending message due now: called when the daemon starts, so a restart
    /// (often after fixing the mail setup) retries at once instead of waiting out a backoff.
    pub fn retry_now(&self, now: Timestamp) -> Result<usize, OutboxError> {
        Ok(self.store.retry_now(now)?)
    }

    /// Number of messages refused for good (5xx) and kept.
    pub fn failed_count(&self) -> Result<u64, OutboxError> {
        Ok(self.store.failed_count()?)
    }

    /// Makes every refused message pending and due now; returns how many.
    pub fn requeue_failed(&self, now: Timestamp) -> Result<usize, OutboxError> {
        Ok(self.store.requeue_failed(now)?)
    }

    /// Deletes delivered messages sent before `before` (failed ones stay for inspection);
    /// returns how many. The record of delivered alerts is kept.
    pub fn prune_sent(&self, before: Timestamp) -> Result<usize, OutboxError> {
        Ok(self.store.prune_sent(before)?)
    }

    /// Whether a firing (or repeat) notice of this alert was delivered to some route and no
    /// resolved notice has been delivered since: the rules stage must then send the resolved
    /// notice whatever silences or inhibitions say.
    pub fn resolution_owed(&self, rule: &str, entity: &str) -> Result<bool, OutboxError> {
        Ok(self.store.resolution_owed(rule, entity)?)
    }

    /// Every (rule, entity) whose firing was delivered and whose resolution was not yet.
    pub fn resolutions_owed(&self) -> Result<Vec<(String, String)>, OutboxError> {
        Ok(self.store.resolutions_owed()?)
    }
}
