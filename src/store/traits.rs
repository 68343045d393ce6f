//! What the stages may ask of the store, as operations: append a sweep, read a range, keep
//! an alert's state and history, hold silences, keep usage records, queue and deliver mail.
//! No SQL, no connection and no file path appears here, so a second backend (a shared
//! PostgreSQL, for several daemons polling shards of one fleet) implements these traits and
//! every stage works unchanged. SQLite (`super::Store`) is the embedded default.
//!
//! Every method is blocking and short; callers on the async runtime run them with
//! `spawn_blocking`. Every implementation is `Send + Sync`: one handle is shared by threads.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::watch;

use super::alerts::{AlertCommit, AlertRow, HistoryRow, SilenceRow};
use super::entity::{Entity, EntityKind, Metric};
use super::error::StoreError;
use super::flows::FlowSlot;
use super::lease::Lease;
use super::metrics::WriterMetrics;
use super::once::{Once, OnceOutcome};
use super::outbox::{NewMessage, QueuedNotice, StoredMessage};
use super::reader::{Point, RangeQuery, SeriesData, StoredSample};
use super::usage::{Bucket5m, UsageOverlap, UsageRecord, UsageWrite};
use super::usage_import::{BufferedImport, UsageImport};
use crate::config::Topology;
use crate::poll::Sweep;

/// Where the poller hands its sweeps: the store's write side.
pub trait SweepSink: Send + Sync {
    /// Queues a sweep for storage without waiting on the disk.
    fn submit(&self, sweep: Sweep) -> Result<(), StoreError>;
    /// [`SweepSink::submit`] of a sweep that other stages hold too: a sink that can keep the
    /// shared sweep (the SQLite writer) saves copying it.
    fn submit_shared(&self, sweep: Arc<Sweep>) -> Result<(), StoreError> {
        self.submit(Arc::unwrap_or_clone(sweep))
    }
    /// Applies a reloaded topology (in order with the sweeps).
    fn update_topology(&self, topology: Arc<Topology>) -> Result<(), StoreError>;
    /// Waits until everything submitted before is stored.
    fn flush(&self) -> Result<(), StoreError>;
    /// "Sealed up to T": the end of the newest complete 60 s aggregate slot, once every
    /// switch's sweeps past it are stored (see [`super::Writer::sealed`]). Aggregate rules
    /// read the slots up to it when it moves.
    fn sealed(&self) -> watch::Receiver<Option<Timestamp>>;
}

/// Where the flow collector hands customer and product line traffic measured by flows: the
/// writer adds each slot into the entity's aggregates and rollups, in order with the sweeps.
pub trait FlowSink: Send + Sync {
    /// Queues flow slots for storage without waiting on the disk.
    fn submit_flows(&self, slots: Vec<FlowSlot>) -> Result<(), StoreError>;
}

/// The writer a daemon runs, whatever the backend: sweeps and flow slots in, its health
/// (queue, errors, write time) out for `/metrics` and `/healthz`.
pub trait StoreWriter: SweepSink + FlowSink {
    /// The writer's health counters.
    fn metrics(&self) -> Arc<WriterMetrics>;
}

/// The store's read side for series, as rules, HTTP, backtests and queries see it.
pub trait SeriesSource: Send + Sync {
    /// A range of one series at a step (tier picked by step and retention; gaps are `None`).
    fn range(&self, q: &RangeQuery) -> Result<SeriesData, StoreError>;
    /// The newest point with at least `min_coverage`.
    fn latest(
        &self,
        entity: &Entity,
        metric: Metric,
        min_coverage: f64,
    ) -> Result<Option<Point>, StoreError>;
    /// A port's stored samples with `from <= time < to`, oldest first, gaps included.
    fn port_samples(
        &self,
        entity: &Entity,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<StoredSample>, StoreError>;
    /// Every stored entity of a kind, by name.
    fn entities(&self, kind: EntityKind) -> Result<Vec<Entity>, StoreError>;
    /// The stored ports with a label value (site, switch, product_line, customer, role).
    fn ports_where(&self, label: &str, value: &str) -> Result<Vec<Entity>, StoreError>;
    /// The newest sweep time written: the store's "now" for retention.
    fn newest(&self) -> Result<Option<Timestamp>, StoreError>;
    /// When `switch` last answered a poll before `before` (the newest sample of one of its
    /// ports that is not a timeout or an agent error), if the store has one: the start of a
    /// silence that began before this process did.
    fn last_answer(&self, switch: &str, before: Timestamp)
    -> Result<Option<Timestamp>, StoreError>;

    /// The same window on each of the past `days` days (index 0 is one day back): the basis
    /// of time-of-day baselines. Each has the step and tier `q` would get on its own.
    fn seasonal(&self, q: &RangeQuery, days: u32) -> Result<Vec<SeriesData>, StoreError> {
        (1..=i64::from(days))
            .map(|d| {
                let back = jiff::SignedDuration::from_secs(d * 86_400);
                let mut qd = q.clone();
                qd.from = q
                    .from
                    .checked_sub(back)
                    .map_err(|e| StoreError::InvalidQuery(format!("window {d} days back: {e}")))?;
                qd.to = q
                    .to
                    .checked_sub(back)
                    .map_err(|e| StoreError::InvalidQuery(format!("window {d} days back: {e}")))?;
                self.range(&qd)
            })
            .collect()
    }

    /// The same query for every stored entity of a kind (e.g. every product line).
    fn by_kind(&self, kind: EntityKind, q: &RangeQuery) -> Result<Vec<SeriesData>, StoreError> {
        self.entities(kind)?
            .into_iter()
            .map(|e| {
                let mut qe = q.clone();
                qe.entity = e;
                self.range(&qe)
            })
            .collect()
    }
}

/// Alert states and their history: what the rules stage keeps so that a restart neither
/// forgets a firing alert nor notifies it again, and what the status page reads.
pub trait AlertStore: Send + Sync {
    /// One alert's state.
    fn load(&self, rule: &str, entity: &str) -> Result<Option<AlertRow>, StoreError>;
    /// Saves (replaces) one alert's state.
    fn save(&self, row: &AlertRow) -> Result<(), StoreError>;
    /// Every alert that is pending or firing.
    fn active(&self) -> Result<Vec<AlertRow>, StoreError>;
    /// Records a state change.
    fn record(&self, change: &HistoryRow) -> Result<(), StoreError>;
    /// Writes states, history and the notices they owe in one transaction: all or none
    /// (see [`AlertCommit`]). The daemon's rules stage writes only through this.
    fn commit(&self, changes: &AlertCommit, now: Timestamp) -> Result<(), StoreError>;
    /// The newest `limit` state changes, newest first.
    fn history(&self, limit: usize) -> Result<Vec<HistoryRow>, StoreError>;
    /// [`AlertStore::commit`] for a store several daemons write (`[daemon] shard`): in the
    /// same transaction, a notice is queued only when [`super::once::admit`] admits its key
    /// against the stored state of its alert, route and family (which it then updates), and
    /// a history row only when the same change of the same alert was not recorded within
    /// `once.window_s` of it. So an HA pair's two daemons, which evaluate the same rules on
    /// the same switches, queue each notice and record each change once. States are saved
    /// as by `commit` (the last writer's).
    ///
    /// The default deduplicates nothing; a backend that several daemons share overrides it.
    fn commit_once(
        &self,
        changes: &AlertCommit,
        once: &Once,
        now: Timestamp,
    ) -> Result<OnceOutcome, StoreError> {
        let _ = once;
        self.commit(changes, now).map(|()| OnceOutcome::default())
    }
}

/// Silences: what `bandwatch silence` adds and removes and the rules stage reads.
pub trait SilenceStore: Send + Sync {
    /// Stores a silence; returns its id.
    fn add_silence(&self, s: &SilenceRow) -> Result<i64, StoreError>;
    /// Silences that have not ended at `now` (unix seconds), or every one with `None`.
    fn silences(&self, now: Option<i64>) -> Result<Vec<SilenceRow>, StoreError>;
    /// Removes a silence; false when there was none with that id.
    fn remove_silence(&self, id: i64) -> Result<bool, StoreError>;
}

/// Billing reads and imported usage records: what report, cost and `bandwatch import` use.
pub trait UsageStore: Send + Sync {
    /// Every customer the store has a series for, sorted by id.
    fn customers(&self) -> Result<Vec<String>, StoreError>;
    /// The stored 5-minute buckets of a series starting in `[from, to)` (unix seconds), in
    /// time order, measured ones only; `None` when the series was never written.
    fn buckets_5m(
        &self,
        entity: &Entity,
        from: i64,
        to: i64,
    ) -> Result<Option<Vec<Bucket5m>>, StoreError>;
    /// Imported records of every customer whose period overlaps `[from, to)`.
    fn records(&self, from: Timestamp, to: Timestamp) -> Result<Vec<UsageRecord>, StoreError>;
    /// Writes a batch of records atomically: all of them, or (on an overlap or an error)
    /// none. The same key replaces; an overlapping different period is refused.
    fn write(
        &self,
        records: &[UsageRecord],
        now: Timestamp,
    ) -> Result<Result<UsageWrite, UsageOverlap>, StoreError>;
    /// Starts an import of records added one by one and written all at once, or not at all
    /// (see [`UsageImport`]). The default keeps the records in memory and hands them to
    /// [`UsageStore::write`]; a backend with a staging area streams them instead.
    fn import(&self) -> Result<Box<dyn UsageImport + '_>, StoreError> {
        Ok(Box::new(BufferedImport::new(move |records, now| {
            self.write(records, now)
        })))
    }
    /// The spans `[start, end)` (unix seconds) in which an alert of one of `rules` was
    /// firing on `entity` (`kind:name`), clipped to `[from, to)`.
    fn firing_spans(
        &self,
        rules: &[String],
        entity: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, i64)>, StoreError>;
}

/// The durable notification outbox: notices waiting for their route's group to close,
/// rendered messages waiting to be sent, their attempts, and which alerts' firing and
/// resolved notices were delivered. Notices are opaque to the store (the notify stage's
/// JSON); a message is marked sent at most once.
pub trait OutboxStore: Send + Sync {
    /// Stores a notice (`payload`) for `route` until the route's group closes.
    fn queue_notice(&self, route: &str, payload: &str, now: Timestamp) -> Result<(), StoreError>;
    /// Routes with queued notices and when their oldest notice arrived.
    fn queued_routes(&self) -> Result<Vec<(String, Timestamp)>, StoreError>;
    /// Closes `route`'s group atomically: hands its queued notices to `render`, stores the
    /// message it makes as pending and removes the notices. Returns the new message id, or
    /// `None` when nothing was queued or `render` gave nothing. When some of the notices were
    /// removed meanwhile (another dispatcher, during a handover of the lease, closed the same
    /// group), nothing is stored and `None` is returned: a group becomes one message once.
    fn close_group(
        &self,
        route: &str,
        now: Timestamp,
        render: &mut dyn FnMut(&[QueuedNotice]) -> Option<NewMessage>,
    ) -> Result<Option<i64>, StoreError>;
    /// Stores a rendered message as pending, due now.
    fn enqueue(&self, message: &NewMessage, now: Timestamp) -> Result<i64, StoreError>;
    /// Pending messages due at `now`, oldest first, at most `limit`.
    fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<StoredMessage>, StoreError>;
    /// Every message, oldest first (for inspection and tests).
    fn messages(&self) -> Result<Vec<StoredMessage>, StoreError>;
    /// When the next pending message is due, if any.
    fn next_due(&self) -> Result<Option<Timestamp>, StoreError>;
    /// Number of messages waiting to be sent.
    fn pending_count(&self) -> Result<u64, StoreError>;
    /// Marks a pending message delivered and records the delivery of each alert in it;
    /// false when it was not pending (so it is never sent twice).
    fn mark_sent(&self, id: i64, now: Timestamp) -> Result<bool, StoreError>;
    /// Claims a pending message for sending under `lease` (the outbox dispatcher's), in one
    /// transaction with the check that the lease is still current: true when the message is
    /// pending and now claimed; false when it is not pending (sent, failed or gone);
    /// [`StoreError::LeaseLost`] when the lease was taken over or lapsed, so a dispatcher that
    /// stalled past its lease never sends what its successor owns. Records the claim
    /// (token and time) on the message.
    fn claim(&self, id: i64, lease: &Lease, now: Timestamp) -> Result<bool, StoreError>;
    /// [`OutboxStore::mark_sent`] for a message [`OutboxStore::claim`]ed with fencing token
    /// `token`, in one transaction with the check that the claim is still that token's:
    /// false when the message is not pending or a later holder claimed it since (that
    /// holder marks it). The default does not check the claim; a backend that several
    /// daemons share overrides it.
    fn mark_sent_claimed(&self, id: i64, token: i64, now: Timestamp) -> Result<bool, StoreError> {
        let _ = token;
        self.mark_sent(id, now)
    }
    /// Records a transient failure: the next attempt is at `next`.
    fn mark_retry(&self, id: i64, error: &str, next: Timestamp) -> Result<(), StoreError>;
    /// Records a permanent failure (5xx: a refused login, a rejected recipient): kept with
    /// its error and not retried by itself; [`OutboxStore::requeue_failed`] tries it again.
    fn mark_failed(&self, id: i64, error: &str) -> Result<(), StoreError>;
    /// Number of messages refused for good and kept.
    fn failed_count(&self) -> Result<u64, StoreError>;
    /// Makes every refused message pending and due now (after a reload or a restart, when
    /// the operator may have fixed the password or the address, or on `bandwatch outbox
    /// retry`); returns how many.
    fn requeue_failed(&self, now: Timestamp) -> Result<usize, StoreError>;
    /// Makes every pending message due now; returns how many moved.
    fn retry_now(&self, now: Timestamp) -> Result<usize, StoreError>;
    /// Deletes delivered messages sent before `before`; returns how many.
    fn prune_sent(&self, before: Timestamp) -> Result<usize, StoreError>;
    /// Whether a firing notice of this alert was delivered and its resolution not yet.
    fn resolution_owed(&self, rule: &str, entity: &str) -> Result<bool, StoreError>;
    /// Every (rule, entity) whose firing was delivered and whose resolution was not yet.
    fn resolutions_owed(&self) -> Result<Vec<(String, String)>, StoreError>;
}

/// Leases for work that runs in one daemon at a time (see [`super::lease`]): a row per name
/// with its holder, an expiry and a fencing token. Time is the database's clock.
pub trait LeaseStore: Send + Sync {
    /// Takes or renews the lease `name` for `holder` until `ttl` from now. Returns the lease
    /// when `holder` holds it now: a renewal keeps the fencing token, a takeover (the
    /// previous holder's lease expired or was released) gets a higher one. `None` while
    /// another holder's lease runs.
    fn acquire(&self, name: &str, holder: &str, ttl: Duration)
    -> Result<Option<Lease>, StoreError>;
    /// Gives the lease up before it expires (a clean shutdown), so another daemon takes over
    /// at once; false when it was no longer held with this token. The token is kept: the next
    /// holder's is higher.
    fn release(&self, lease: &Lease) -> Result<bool, StoreError>;
    /// Who holds `name` now, if its lease has not expired.
    fn holder(&self, name: &str) -> Result<Option<Lease>, StoreError>;
    /// Ok while `lease` is current (same holder and token, not expired), else
    /// [`StoreError::LeaseLost`]. Writes that must be fenced check this in their own
    /// transaction (see [`OutboxStore::claim`]); this is the check alone.
    fn fence(&self, lease: &Lease) -> Result<(), StoreError>;
}
