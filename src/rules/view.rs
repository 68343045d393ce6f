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
}

/// What the HTTP stage reads.
#[derive(Clone, Default)]
pub struct AlertsView {
    inner: Arc<Mutex<Vec<ActiveAlert>>>,
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
}
