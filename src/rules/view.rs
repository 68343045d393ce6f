//! What the rules stage publishes for readers (`/metrics`, `/api/v1/alerts`, the status
//! page): the alerts that are pending or firing, refreshed after every evaluation.

use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;

/// An alert that is pending or firing, for `/metrics` and `/api/v1/alerts`.
#[derive(Clone, Debug, Serialize)]
pub struct ActiveAlert {
    /// Rule name.
    pub rule: String,
    /// Severity of the rule.
    pub severity: String,
    /// Scope of the rule.
    pub scope: String,
    /// Entity id.
    pub entity: String,
    /// `pending` or `firing`.
    pub state: String,
    /// Last value.
    pub value: f64,
    /// Baseline, if any.
    pub baseline: Option<f64>,
    /// Unix seconds since the condition holds.
    pub since: Option<i64>,
    /// What the flows say the traffic of a firing spike is (its notice's evidence line).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// The same line without customer names, what a redacted reader sees instead.
    #[serde(skip)]
    pub evidence_redacted: Option<String>,
}

/// Whether the rules stage's alert changes reach the store: the transactional commit of
/// states, history and owed notices (see [`crate::store::AlertStore::commit`]).
#[derive(Clone, Debug, Default, Serialize)]
pub struct CommitStatus {
    /// Alert changes (states, history rows, notices) waiting to be written: not zero only
    /// while the store refuses writes (a full disk); they are retried in order.
    pub unsaved: usize,
    /// Commits that failed since the start.
    pub failures: u64,
    /// The last failure, while it lasts.
    pub last_error: Option<String>,
}

/// What the HTTP stage reads.
#[derive(Clone, Default)]
pub struct AlertsView {
    inner: Arc<Mutex<Vec<ActiveAlert>>>,
    commit: Arc<Mutex<CommitStatus>>,
}

impl AlertsView {
    /// The active alerts.
    pub fn active(&self) -> Vec<ActiveAlert> {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
    /// Replaces the list (the rules thread, after each evaluation).
    pub fn set(&self, v: Vec<ActiveAlert>) {
        *self.inner.lock().unwrap_or_else(PoisonError::into_inner) = v;
    }

    /// Whether alert changes reach the store.
    pub fn commit(&self) -> CommitStatus {
        self.commit
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records the outcome of a commit (the rules thread).
    pub fn set_commit(&self, unsaved: usize, error: Option<String>) {
        let mut c = self.commit.lock().unwrap_or_else(PoisonError::into_inner);
        c.unsaved = unsaved;
        if error.is_some() {
            c.failures += 1;
        }
        c.last_error = error;
    }
}
