//! The sender loop: takes due messages from the outbox, sends them, and records the result:
//! sent (never sent again), retried with exponential backoff (connection errors, 4xx), or
//! refused for good with its error (5xx: a refused login, a rejected recipient). Refused
//! messages are kept, counted in `bandwatch_outbox_failed` and logged at error level; a new
//! sender (a restart, or a reload that changed `[email]`: the operator fixed the password)
//! tries them again once, as does `bandwatch outbox retry`. Messages left pending by a
//! previous run are sent when it starts.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::{Notify, watch};

use super::metrics::{NotifyMetrics, Outcome};
use super::outbox::{Outbox, OutboxError, StoredMessage};
use super::transport::{Mailer, SendError, SenderOptions};

/// The longest the loop sleeps without looking at the outbox.
const IDLE_POLL: Duration = Duration::from_secs(60);
/// Delivered messages are kept this long for inspection, then deleted.
const KEEP_SENT: jiff::SignedDuration = jiff::SignedDuration::from_hours(30 * 24);
/// How often old delivered messages are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Runs an outbox call off the async runtime's worker threads.
pub(crate) async fn blocking<T: Send + 'static>(
    outbox: &Arc<Outbox>,
    f: impl FnOnce(&Outbox) -> Result<T, OutboxError> + Send + 'static,
) -> Result<T, OutboxError> {
    let ob = Arc::clone(outbox);
    match tokio::task::spawn_blocking(move || f(&ob)).await {
        Ok(r) => r,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Everything the sender loop needs.
pub(crate) struct Sender {
    pub outbox: Arc<Outbox>,
    pub mailer: Mailer,
    pub opts: SenderOptions,
    pub metrics: Arc<NotifyMetrics>,
    pub wake: Arc<Notify>,
}

impl Sender {
    /// Sends until `shutdown` turns true.
    pub(crate) async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(to = %self.mailer.describe(), "notify sender started");
        match blocking(&self.outbox, |o| o.requeue_failed(Timestamp::now())).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                messages = n,
                "trying again messages the server refused before (the configuration may have been fixed)"
            ),
            Err(e) => tracing::error!(error = %e, "outbox unreadable"),
        }
        match blocking(&self.outbox, |o| o.retry_now(Timestamp::now())).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                messages = n,
                "retrying messages left pending by the last run now"
            ),
            Err(e) => tracing::error!(error = %e, "outbox unreadable"),
        }
        let mut last_prune: Option<tokio::time::Instant> = None;
        loop {
            if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                last_prune = Some(tokio::time::Instant::now());
                self.prune().await;
            }
            let sleep_for = match self.round().await {
                Ok(Round::Full) => Duration::ZERO,
                Ok(Round::Done) => self.until_next_due().await,
                // The daemon stops this sender as it sees the lease gone; until then, wait.
                Ok(Round::LeaseLost) => self.opts.backoff_min,
                Err(e) => {
                    tracing::error!(error = %e, "outbox unreadable; retrying");
                    self.opts.backoff_min
                }
            };
            if sleep_for.is_zero() && !*shutdown.borrow() {
                continue;
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(sleep_for) => {}
                r = shutdown.changed() => if r.is_err() { break },
            }
            if *shutdown.borrow() {
                break;
            }
        }
        tracing::info!("notify sender stopped");
    }

    async fn prune(&self) {
        let before = Timestamp::now()
            .checked_sub(KEEP_SENT)
            .unwrap_or(Timestamp::UNIX_EPOCH);
        match blocking(&self.outbox, move |o| o.prune_sent(before)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                messages = n,
                "deleted delivered messages older than 30 days"
            ),
            Err(e) => tracing::error!(error = %e, "cannot prune the outbox"),
        }
    }

    async fn until_next_due(&self) -> Duration {
        match blocking(&self.outbox, |o| o.next_due()).await {
            Ok(Some(at)) => {
                let ms = at.as_millisecond() - Timestamp::now().as_millisecond();
                Duration::from_millis(ms.max(0) as u64).min(IDLE_POLL)
            }
            Ok(None) => IDLE_POLL,
            Err(e) => {
                tracing::error!(error = %e, "outbox unreadable");
                self.opts.backoff_min
            }
        }
    }

    /// One round over the due messages.
    async fn round(&self) -> Result<Round, OutboxError> {
        let limit = self.opts.batch.max(1);
        let due = blocking(&self.outbox, move |o| o.due(Timestamp::now(), limit)).await?;
        let full = due.len() == limit;
        for m in due {
            if self.attempt(m).await? == Sent::LeaseLost {
                return Ok(Round::LeaseLost);
            }
        }
        let pending = blocking(&self.outbox, |o| o.pending_count()).await?;
        self.metrics.set_pending(pending);
        let failed = blocking(&self.outbox, |o| o.failed_count()).await?;
        self.metrics.set_failed(failed, None);
        Ok(if full { Round::Full } else { Round::Done })
    }

    /// Under a lease: claims the message with its fencing token. `Ok(None)` without a lease,
    /// `Ok(Some(token))` when claimed, `Err(sent)` when it must not be sent.
    async fn claim(&self, id: i64) -> Result<Result<Option<i64>, Sent>, OutboxError> {
        let Some(rx) = &self.opts.lease else {
            return Ok(Ok(None));
        };
        let Some(lease) = rx.borrow().clone() else {
            return Ok(Err(Sent::LeaseLost));
        };
        let token = lease.token;
        match blocking(&self.outbox, move |o| o.claim(id, &lease, Timestamp::now())).await {
            Ok(true) => Ok(Ok(Some(token))),
            // Sent, failed or gone meanwhile.
            Ok(false) => Ok(Err(Sent::Skipped)),
            Err(OutboxError(crate::store::StoreError::LeaseLost { name, token })) => {
                tracing::warn!(
                    message = id, lease = %name, token,
                    "the lease was taken over: this daemon sends no more (its successor sends)"
                );
                Ok(Err(Sent::LeaseLost))
            }
            Err(e) => Err(e),
        }
    }

    async fn attempt(&self, m: StoredMessage) -> Result<Sent, OutboxError> {
        let id = m.id;
        let token = match self.claim(id).await? {
            Ok(t) => t,
            Err(s) => return Ok(s),
        };
        let result = self
            .mailer
            .send(&m.key(), &m.envelope_from, &m.envelope_to, &m.body)
            .await;
        let attempt = m.attempts + 1;
        match result {
            Ok(()) => {
                let marked = blocking(&self.outbox, move |o| match token {
                    Some(t) => o.mark_sent_claimed(id, t, Timestamp::now()),
                    None => o.mark_sent(id, Timestamp::now()),
                })
                .await?;
                if !marked {
                    tracing::warn!(
                        route = %m.route, message = id,
                        "a message sent here was claimed by the lease's next holder meanwhile"
                    );
                }
                self.metrics.count(&m.route, Outcome::Sent);
                tracing::info!(
                    route = %m.route, message = id, attempt, recipients = m.envelope_to.len(),
                    subject = %m.subject, "notification sent"
                );
            }
            Err(SendError::Transient(e)) => {
                let delay = self.opts.backoff(attempt);
                let next = Timestamp::now()
                    .checked_add(jiff::SignedDuration::try_from(delay).unwrap_or_default())
                    .unwrap_or_else(|_| Timestamp::now());
                let err = e.clone();
                blocking(&self.outbox, move |o| o.mark_retry(id, &err, next)).await?;
                self.metrics.count(&m.route, Outcome::Retried);
                tracing::warn!(
                    route = %m.route, message = id, attempt, error = %e,
                    retry_in_s = delay.as_secs_f64(), "notification not sent yet; will retry"
                );
            }
            Err(SendError::Permanent(e)) => {
                let err = e.clone();
                blocking(&self.outbox, move |o| o.mark_failed(id, &err)).await?;
                self.metrics.count(&m.route, Outcome::Failed);
                let failed = blocking(&self.outbox, |o| o.failed_count()).await?;
                self.metrics.set_failed(failed, Some(e.clone()));
                tracing::error!(
                    route = %m.route, message = id, attempt, error = %e,
                    subject = %m.subject,
                    "notification refused by the server; kept in the outbox and tried again after a reload, a restart or `bandwatch outbox retry`"
                );
            }
        }
        Ok(Sent::Done)
    }
}

/// How a round over the due messages ended.
enum Round {
    /// A full batch was taken: more may be due.
    Full,
    /// Everything due was tried.
    Done,
    /// The lease is no longer this daemon's: nothing more is sent here.
    LeaseLost,
}

/// What became of one message.
#[derive(PartialEq, Eq)]
enum Sent {
    /// Tried (sent, retried or refused).
    Done,
    /// Not pending any more: skipped.
    Skipped,
    /// Not tried: the lease is no longer this daemon's.
    LeaseLost,
}
