//! Polling: one task per switch on a fixed schedule, counter math (wraps, resets, bogus
//! deltas), and the [`Sweep`] handed to the next stage. The poller knows nothing of storage
//! or rules.
//!
//! Entry point for the daemon: [`spawn`] (one task per switch of the topology, sweeps sent on
//! an mpsc channel, metrics readable through the returned [`Poller`]).

pub mod counter;
pub mod discovery;
pub mod metrics;
pub mod replay;
pub mod scheduler;
pub mod sweep;
pub mod switch;

pub use metrics::{PollMetrics, SwitchMetrics};
pub use scheduler::{Poller, phase_offset, spawn};
pub use sweep::{
    Delta, OperStatus, PortOutcome, PortReading, PortResult, Quality, Sweep, SweepStatus,
    UnknownReason,
};
pub use switch::SwitchPoller;
