//! Where alert states live between evaluations and across restarts. The store module will
//! implement [`AlertStateStore`] on SQLite; [`MemoryStateStore`] serves backtests and tests
//! (and serializes to JSON, to show a state survives a round trip).

use std::collections::BTreeMap;

use super::lifecycle::{AlertState, Phase};

/// Persistence of alert states, keyed by (rule, entity).
pub trait AlertStateStore {
    /// The state of one alert, if any was saved.
    fn load(&self, rule: &str, entity: &str) -> Option<AlertState>;
    /// Saves (replaces) a state.
    fn save(&mut self, state: &AlertState);
    /// Every saved state that is not inactive (pending or firing), for a restart.
    fn active(&self) -> Vec<AlertState>;
}

/// An in-memory store.
#[derive(Clone, Debug, Default)]
pub struct MemoryStateStore {
    states: BTreeMap<(String, String), AlertState>,
}

impl MemoryStateStore {
    /// An empty store.
    pub fn new() -> MemoryStateStore {
        MemoryStateStore::default()
    }

    /// Every state as JSON (what a database row would hold).
    pub fn to_json(&self) -> serde_json::Result<String> {
        let v: Vec<&AlertState> = self.states.values().collect();
        serde_json::to_string(&v)
    }

    /// A store rebuilt from [`MemoryStateStore::to_json`].
    pub fn from_json(s: &str) -> serde_json::Result<MemoryStateStore> {
        let v: Vec<AlertState> = serde_json::from_str(s)?;
        let mut out = MemoryStateStore::new();
        for st in v {
            out.save(&st);
        }
        Ok(out)
    }
}

impl AlertStateStore for MemoryStateStore {
    fn load(&self, rule: &str, entity: &str) -> Option<AlertState> {
        self.states
            .get(&(rule.to_string(), entity.to_string()))
            .cloned()
    }

    fn save(&mut self, state: &AlertState) {
        self.states
            .insert((state.rule.clone(), state.entity.clone()), state.clone());
    }

    fn active(&self) -> Vec<AlertState> {
        self.states
            .values()
            .filter(|s| s.phase != Phase::Inactive)
            .cloned()
            .collect()
    }
}
