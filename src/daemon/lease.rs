//! Singleton work under a lease: with `[daemon] shard` set, several daemons share one store,
//! and the work that must happen once (the outbox dispatcher, that is every email, the
//! monthly report, the aggregate rules and retention) runs only in the daemon that holds the
//! lease `singleton` of the store's
//! [`LeaseStore`]. The holder renews it every half poll interval with a time to live of one
//! and a half; the others try every quarter interval, so when the holder dies another takes
//! over within 1.75 poll intervals. A holder that cannot renew (the store refuses, or another
//! took over) stops the work at once; a clean stop releases the lease, so the takeover is
//! immediate. Without `[daemon] shard` there is no lease: the daemon does everything.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};

use crate::http::MetricsSource;
use crate::http::exposition::{Exposition, MetricType};
use crate::store::{Lease, LeaseStore};

/// The lease's name in the store.
pub const SINGLETON: &str = "singleton";

/// Whether this daemon holds the singleton lease now (always, without shards).
#[derive(Clone)]
pub struct Holding(watch::Receiver<Option<Lease>>, bool);

impl Holding {
    /// Always the holder (no shards, no lease).
    pub fn always() -> Holding {
        let (_, rx) = watch::channel(None);
        Holding(rx, true)
    }

    /// This daemon may do the singleton work now.
    pub fn held(&self) -> bool {
        self.1 || self.0.borrow().is_some()
    }

    /// The lease held now, as it changes (renewals included); `None` without shards, where
    /// there is no lease and the daemon sends unfenced.
    pub fn lease(&self) -> Option<watch::Receiver<Option<Lease>>> {
        (!self.1).then(|| self.0.clone())
    }

    /// Waits for the next change of holding (never returns for [`Holding::always`]).
    pub async fn changed(&mut self) {
        if self.1 || self.0.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// The task that takes and renews the lease.
pub struct LeaseKeeper {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    held: watch::Receiver<Option<Lease>>,
}

impl LeaseKeeper {
    /// Starts trying to take the lease for `holder`, paced by the poll `interval`.
    pub fn start(
        store: Arc<dyn LeaseStore>,
        holder: String,
        interval: Duration,
    ) -> (LeaseKeeper, Holding) {
        let (tx, held) = watch::channel(None);
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(keep(store, holder, interval, tx, stop_rx));
        (
            LeaseKeeper {
                stop,
                task,
                held: held.clone(),
            },
            Holding(held, false),
        )
    }

    /// The `/metrics` source: `bandwatch_lease_held` and `bandwatch_lease_token`.
    pub fn metrics(&self) -> Arc<dyn MetricsSource> {
        Arc::new(LeaseMetrics(self.held.clone()))
    }

    /// Stops renewing and releases the lease, so another daemon takes over at once.
    pub async fn stop(self, store: Arc<dyn LeaseStore>) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        let lease = self.held.borrow().clone();
        if let Some(l) = lease {
            let r = tokio::task::spawn_blocking(move || store.release(&l)).await;
            match r {
                Ok(Ok(_)) => info!("lease `{SINGLETON}` released"),
                Ok(Err(e)) => warn!("lease `{SINGLETON}` not released: {e}"),
                Err(e) => warn!("lease `{SINGLETON}` not released: {e}"),
            }
        }
    }
}

async fn keep(
    store: Arc<dyn LeaseStore>,
    holder: String,
    interval: Duration,
    tx: watch::Sender<Option<Lease>>,
    mut stop: watch::Receiver<bool>,
) {
    let ttl = interval * 3 / 2;
    loop {
        let (s, h) = (store.clone(), holder.clone());
        let got = tokio::task::spawn_blocking(move || s.acquire(SINGLETON, &h, ttl)).await;
        let now = match got {
            Ok(Ok(l)) => l,
            Ok(Err(e)) => {
                warn!("lease `{SINGLETON}`: {e}");
                None
            }
            Err(e) => {
                warn!("lease `{SINGLETON}`: {e}");
                None
            }
        };
        let before = tx.borrow().as_ref().map(|l| l.token);
        match (&before, &now) {
            (None, Some(l)) => info!(
                holder = %holder,
                token = l.token,
                "lease `{SINGLETON}` taken: this daemon runs the outbox, the monthly report, aggregate rules and retention"
            ),
            (Some(_), None) => warn!(
                holder = %holder,
                "lease `{SINGLETON}` lost: the outbox, the monthly report, aggregate rules and retention stop here"
            ),
            _ => {}
        }
        let holding = now.is_some();
        if before != now.as_ref().map(|l| l.token) {
            tx.send_replace(now);
        } else if let Some(l) = now {
            // A renewal: the new expiry, without waking the watchers.
            tx.send_if_modified(|v| {
                *v = Some(l);
                false
            });
        }
        let wait = if holding { interval / 2 } else { interval / 4 };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// `bandwatch_lease_held` and `bandwatch_lease_token`.
struct LeaseMetrics(watch::Receiver<Option<Lease>>);

impl MetricsSource for LeaseMetrics {
    fn write(&self, e: &mut Exposition) {
        let held = self.0.borrow().clone();
        e.family(
            "bandwatch_lease_held",
            MetricType::Gauge,
            "1 while this daemon holds the lease (the outbox, the monthly report, aggregate rules and retention run here), 0 otherwise.",
        );
        e.sample(
            "bandwatch_lease_held",
            &[("name", SINGLETON)],
            if held.is_some() { 1.0 } else { 0.0 },
        );
        e.family(
            "bandwatch_lease_token",
            MetricType::Gauge,
            "The fencing token of the lease held (grows with every change of holder); absent while not held.",
        );
        if let Some(l) = held {
            e.sample(
                "bandwatch_lease_token",
                &[("name", SINGLETON)],
                l.token as f64,
            );
        }
    }
}

/// This daemon's name as a lease holder: its shard, host, process and listener.
pub fn holder_id(shard: &str, listen: std::net::SocketAddr) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{shard}@{host}:{}/{listen}", std::process::id())
}
