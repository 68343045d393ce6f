//! `bandwatch demo`: the whole job on a simulated fleet. The fleet of `config/demo.toml`
//! runs in-process (see [`crate::sim`]), 28 days of history are written through the store's
//! writer so baselines exist, the daemon polls the fleet live over UDP SNMP, and a scripted
//! storyline (reboot, attack, churn, unreachable switch, recoveries) plays out on top.

pub mod backfill;
pub mod rules;
pub mod storyline;

pub use backfill::{Backfill, backfill};
pub use storyline::{Beat, Storyline};
