//! Rules: rule files, selectors, evaluators, baselines, the alert state machine, backtest.

pub mod file;
pub mod rule;
