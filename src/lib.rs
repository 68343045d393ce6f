//! bandwatch: polls switches over SNMP, stores per-port, product-line, site, switch and
//! customer traffic in SQLite, evaluates alert rules on every sweep, and tells the right
//! people by email, Prometheus metrics and a monthly usage report.
//!
//! The pipeline, one module per stage: [`config`] -> poll -> store -> rules -> notify, with
//! http, report and sim beside them (see DESIGN.md); [`usage`] under report and cost.

pub mod cli;
pub mod config;
pub mod cost;
pub mod daemon;
pub mod demo;
pub mod flow;
pub mod format;
pub(crate) mod hash;
pub mod http;
pub mod intern;
pub mod maintenance;
pub mod mem;
pub mod notify;
pub mod poll;
pub mod process;
pub mod remote_write;
pub mod report;
pub mod rules;
pub mod runtime;
pub mod sim;
pub mod snmp;
pub mod store;
pub mod usage;
pub mod version;
