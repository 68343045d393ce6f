//! Polling: one task per switch on a fixed schedule, counter math (wraps, resets, bogus
//! deltas), and the [`Sweep`] handed to the next stage. The poller knows nothing of storage
//! or rules.

pub mod counter;
pub mod sweep;

pub use sweep::{
    Delta, OperStatus, PortOutcome, PortReading, PortResult, Quality, Sweep, SweepStatus,
    UnknownReason,
};
