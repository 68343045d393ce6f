//! Simulated switches for demos, tests and benchmarks: SNMP agents over UDP on 127.0.0.1
//! whose counters are a deterministic function of time, driven by a scenario file (base rate,
//! daily and weekly shape, noise, spikes, drops, reboots, unreachable periods, 32-bit-only
//! devices, removed ports), and optionally exporting sFlow and IPFIX consistent with their
//! counters, attacks included ([`flows`]).

pub mod agent;
pub mod fleet;
pub mod flows;
pub mod scenario;
pub mod traffic;

pub use fleet::{Fleet, FleetOptions, start, switch_name, write_config};
pub use scenario::Scenario;
pub use traffic::SwitchModel;
