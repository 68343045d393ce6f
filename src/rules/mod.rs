//! Rules: rule files, selectors, evaluators, baselines, the alert state machine, backtest.
//!
//! Data flows file -> [`rule::Rule`] -> [`engine::Engine`] (one [`condition::SeriesEval`] per
//! rule and series, one [`lifecycle::AlertState`] per rule and entity) -> [`event`]s for notify.

pub mod backtest;
pub mod baseline;
pub mod churn;
pub mod condition;
pub mod engine;
pub mod event;
pub mod file;
pub mod lifecycle;
pub mod point;
pub mod rule;
pub mod silence;
pub mod state_store;

pub use condition::{Reading, Verdict};
pub use engine::{Engine, History, MemoryHistory, NoHistory, Outcome};
pub use event::{AlertEvent, AlertTransition, NoticeKind};
pub use lifecycle::{AlertState, Change, Phase};
pub use point::{Entity, Point};
pub use rule::{Kind, Metric, Rule, Scope};
pub use silence::Silence;
pub use state_store::{AlertStateStore, MemoryStateStore};
