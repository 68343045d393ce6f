//! Counters of the notify stage for `/metrics`: `bandwatch_notifications_total{route,result}`
//! `bandwatch_outbox_pending` and `bandwatch_outbox_failed`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The `result` label of `bandwatch_notifications_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// A message was accepted by the server (or written to a file).
    Sent,
    /// A message was refused for good (5xx) or could not be built.
    Failed,
    /// An attempt failed for now (connection error, 4xx) and will be retried.
    Retried,
    /// A notice for a route without addresses: logged, nothing sent.
    NoAddress,
}

impl Outcome {
    /// The label value: `sent`, `failed`, `retried`, `no_address`.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Sent => "sent",
            Outcome::Failed => "failed",
            Outcome::Retried => "retried",
            Outcome::NoAddress => "no_address",
        }
    }
}

/// Counters shared between the notify tasks and the metrics endpoint.
#[derive(Debug, Default)]
pub struct NotifyMetrics {
    counts: Mutex<BTreeMap<(String, Outcome), u64>>,
    pending: AtomicU64,
    failed: AtomicU64,
    last_refusal: Mutex<Option<String>>,
}

impl NotifyMetrics {
    /// Counts one outcome for a route.
    pub fn count(&self, route: &str, outcome: Outcome) {
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        *c.entry((route.to_string(), outcome)).or_default() += 1;
    }

    /// The count of one outcome for a route.
    pub fn get(&self, route: &str, outcome: Outcome) -> u64 {
        let c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.get(&(route.to_string(), outcome)).copied().unwrap_or(0)
    }

    /// All counters as (route, result label, count), sorted, for the exposition.
    pub fn snapshot(&self) -> Vec<(String, &'static str, u64)> {
        let c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.iter()
            .map(|((route, o), n)| (route.clone(), o.label(), *n))
            .collect()
    }

    /// Messages waiting in the outbox, as last seen by the sender.
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    pub(crate) fn set_pending(&self, n: u64) {
        self.pending.store(n, Ordering::Relaxed);
    }

    /// Messages refused for good (5xx) and kept in the outbox until a reload, a restart or
    /// `bandwatch outbox retry`: not zero means notification is failing.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// The server's last refusal, while messages stay refused (names the server and the
    /// reply, never a password).
    pub fn last_refusal(&self) -> Option<String> {
        self.last_refusal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn set_failed(&self, n: u64, refusal: Option<String>) {
        self.failed.store(n, Ordering::Relaxed);
        let mut last = self.last_refusal.lock().unwrap_or_else(|p| p.into_inner());
        if n == 0 {
            *last = None;
        } else if refusal.is_some() {
            *last = refusal;
        }
    }
}
