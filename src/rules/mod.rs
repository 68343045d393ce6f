//! Rules: rule files, selectors, evaluators, baselines, the alert state machine, backtest.
//!
//! Data flows file -> [`rule::Rule`] -> [`engine::Engine`] (one [`condition::SeriesEval`] per
//! rule and series, one [`lifecycle::AlertState`] per rule and entity) -> [`event`]s for notify.
//!
//! How the daemon wires it (the store is not on this branch yet):
//! - at start and on reload, [`file::load_dir`] with the configuration's topology;
//! - [`Engine::new`] with an [`AlertStateStore`] over SQLite (states survive restarts: a firing
//!   alert is neither forgotten nor notified again) and a [`History`] over the rollups (past
//!   points warm the baselines of a series the first time it is seen);
//! - after each stored sweep, [`Engine::observe`] for every touched entity and metric, with
//!   [`Point::unknown`] for unknown intervals, [`Point::after_gap`] for the first interval
//!   after a gap or reset, and the aggregate's coverage; then [`Engine::tick`] once per cycle
//!   (absent rules notice silence even when no point arrives);
//! - [`Engine::set_silences`] whenever the silences table changes;
//! - [`Outcome::transitions`] go to the alert history table, [`Outcome::events`] to notify.
//!
//! Unknown is not zero throughout: when a switch is unreachable its ports' points are unknown,
//! so their rules neither fire nor resolve, and only `switch-unreachable` speaks.

pub mod backtest;
pub mod baseline;
pub mod burst;
pub mod churn;
pub mod condition;
pub mod engine;
pub mod event;
pub mod file;
pub mod flap;
pub mod labels;
pub mod level;
pub mod lifecycle;
pub mod live;
pub mod point;
mod pool;
pub mod rule;
mod season_share;
pub mod series;
pub mod silence;
mod slots;
pub mod state_store;
pub mod stored;
pub mod view;
mod warming;

pub use condition::{Reading, Verdict};
pub use engine::{Engine, History, MemoryHistory, NoHistory, Outcome};
pub use event::{AlertEvent, AlertTransition, NoticeKind};
pub use labels::{LabelSet, Labels};
pub use lifecycle::{AlertState, Change, Phase};
pub use point::{Entity, Point};
pub use rule::{Kind, Metric, Rule, Scope};
pub use silence::Silence;
pub use state_store::{AlertStateStore, MemoryStateStore};
