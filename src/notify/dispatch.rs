//! Routing and grouping: each notice goes to each of its routes; the notices for one route
//! that arrive within `group_wait` of the first become ONE message to all of the route's
//! addresses (one message per route, never one per address). Queued notices live in the
//! outbox database, so a restart loses none: groups left open are closed when it starts.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;

use super::metrics::{NotifyMetrics, Outcome};
use super::notice::Notice;
use super::outbox::{NewMessage, Outbox};
use super::render::{self, Envelope};
use super::sender::blocking;

/// How soon a group whose closing failed (the database was busy or full) is tried again.
const CLOSE_RETRY: Duration = Duration::from_secs(2);

/// What the grouping loop needs to render a route's message.
pub(crate) struct Dispatcher {
    pub outbox: Arc<Outbox>,
    pub routes: Arc<BTreeMap<String, Vec<String>>>,
    pub from: String,
    pub public_url: Option<String>,
    pub group_wait: Duration,
    pub metrics: Arc<NotifyMetrics>,
    pub wake_sender: Arc<Notify>,
}

/// Bounds of how often the queue is looked at for notices queued by other daemons.
const MIN_LOOK: Duration = Duration::from_secs(1);
const MAX_LOOK: Duration = Duration::from_secs(10);

impl Dispatcher {
    /// Closes groups as their wait ends, until `shutdown` (open groups stay queued in the
    /// database for the next start).
    pub(crate) async fn run(
        self,
        mut opened: mpsc::UnboundedReceiver<String>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut deadlines: BTreeMap<String, Instant> = BTreeMap::new();
        self.find_queued(&mut deadlines, true).await;
        // Notices queued by another daemon sharing the store (shards on PostgreSQL) open no
        // group here: the queue is looked at again every few seconds.
        let mut look = tokio::time::interval(self.group_wait.clamp(MIN_LOOK, MAX_LOOK));
        look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        look.tick().await;
        loop {
            let next = deadlines.values().min().copied();
            tokio::select! {
                _ = look.tick() => self.find_queued(&mut deadlines, false).await,
                route = opened.recv() => match route {
                    Some(route) => {
                        deadlines.entry(route).or_insert_with(|| Instant::now() + self.group_wait);
                    }
                    None => break,
                },
                _ = sleep_until(next) => {
                    let now = Instant::now();
                    let due: Vec<String> = deadlines
                        .iter()
                        .filter(|(_, at)| **at <= now)
                        .map(|(r, _)| r.clone())
                        .collect();
                    for route in due {
                        deadlines.remove(&route);
                        if !self.close(&route).await {
                            // The notices stay queued in the database: try again shortly.
                            deadlines.insert(route, Instant::now() + CLOSE_RETRY);
                        }
                    }
                }
                r = shutdown.changed() => if r.is_err() { break },
            }
            if *shutdown.borrow() {
                break;
            }
        }
    }

    /// Schedules the close of every route with queued notices that has none scheduled, at
    /// its oldest notice's arrival plus the group wait.
    async fn find_queued(&self, deadlines: &mut BTreeMap<String, Instant>, at_start: bool) {
        match blocking(&self.outbox, |o| o.queued_routes()).await {
            Ok(routes) => {
                let now_ms = Timestamp::now().as_millisecond();
                for (route, oldest) in routes {
                    if deadlines.contains_key(&route) {
                        continue;
                    }
                    let waited =
                        Duration::from_millis((now_ms - oldest.as_millisecond()).max(0) as u64);
                    let left = self.group_wait.saturating_sub(waited);
                    if at_start {
                        tracing::info!(%route, "closing a notice group left open by the last run");
                    }
                    deadlines.insert(route, Instant::now() + left);
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read queued notices"),
        }
    }

    /// Renders the route's queued notices into one message in the outbox and wakes the
    /// sender. False when the outbox could not be written (the notices stay queued).
    async fn close(&self, route: &str) -> bool {
        let to = self.routes.get(route).cloned().unwrap_or_default();
        let (from, public_url) = (self.from.clone(), self.public_url.clone());
        let metrics = Arc::clone(&self.metrics);
        let r = route.to_string();
        let result = blocking(&self.outbox, move |o| {
            o.close_group(&r, Timestamp::now(), |notices| {
                build(&r, &from, &to, public_url.as_deref(), notices, &metrics)
            })
        })
        .await;
        match result {
            Ok(Some(id)) => {
                tracing::debug!(route, message = id, "notice group closed into a message");
                self.wake_sender.notify_one();
                true
            }
            Ok(None) => true,
            Err(e) => {
                tracing::error!(route, error = %e, "cannot close the notice group; retrying");
                false
            }
        }
    }
}

/// The outbox row for one route's notices, or `None` (logged and counted) when the route
/// lost its addresses or the message cannot be built.
fn build(
    route: &str,
    from: &str,
    to: &[String],
    public_url: Option<&str>,
    notices: &[Notice],
    metrics: &NotifyMetrics,
) -> Option<NewMessage> {
    if to.is_empty() {
        tracing::warn!(
            route,
            notices = notices.len(),
            "route has no email addresses; nothing sent"
        );
        metrics.count(route, Outcome::NoAddress);
        return None;
    }
    let env = Envelope {
        from,
        route,
        to,
        public_url,
    };
    let message = match render::message(&env, notices) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(route, error = %e, "cannot build the notification");
            metrics.count(route, Outcome::Failed);
            return None;
        }
    };
    let envelope = message.envelope();
    Some(NewMessage {
        route: route.to_string(),
        envelope_from: envelope.from().map(|a| a.to_string()).unwrap_or_default(),
        envelope_to: envelope.to().iter().map(|a| a.to_string()).collect(),
        subject: render::subject(notices),
        body: message.formatted(),
        alerts: notices
            .iter()
            .map(|n| (n.kind.into(), n.rule.clone(), n.entity.clone()))
            .collect(),
    })
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
