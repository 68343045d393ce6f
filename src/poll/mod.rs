//! Polling: one task per switch on a fixed schedule, counter math (wraps, resets, bogus
//! deltas), and the [`Sweep`] handed to the next stage. The poller knows nothing of storage
//! or rules.
//!
//! Entry point for the daemon:
//!
//! ```text
//! let (tx, rx) = tokio::sync::mpsc::channel::<Sweep>(1024);
//! let poller = poll::spawn(Arc::new(config.topology.clone()), config.daemon.max_concurrent_polls, tx);
//! // rx: one Sweep per switch per interval, in arrival order.
//! // poller.metrics: per-switch self-metrics (atomics) for /metrics.
//! // poller.attributed: labels of ports found by ifAlias patterns (not in the Topology).
//! // poller.shutdown(): stop (e.g. before a reload).
//! ```
//!
//! Parts: [`counter`] (pure counter math), [`discovery`] (static columns, name -> ifIndex,
//! alias attribution), [`switch`] (one switch's sweep), [`scheduler`] (tasks, phase,
//! concurrency), [`metrics`], [`replay`] (the response path without a network, for fuzzing).

pub mod attributed;
pub mod counter;
pub mod discovery;
pub mod metrics;
pub mod replay;
pub mod scheduler;
pub mod shard;
pub mod sweep;
pub mod switch;

pub use attributed::AttributedPorts;
pub use metrics::{PollMetrics, SwitchMetrics};
pub use scheduler::{Poller, phase_offset, spawn};
pub use sweep::{
    Delta, OperStatus, PortOutcome, PortReading, PortResult, Quality, Sweep, SweepStatus,
    UnknownReason,
};
pub use switch::SwitchPoller;
