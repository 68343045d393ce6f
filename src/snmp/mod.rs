//! SNMP as the poller needs it: a small trait ([`SnmpSource`]) with GET and multi-column
//! GETBULK, our own value and error types, and one implementation on the async-snmp crate
//! ([`client::AsyncSnmpSource`]). The poller only sees the trait, so the crate can be swapped
//! and the poller tested without a network.

pub mod client;
pub mod oids;
pub mod source;
pub mod walk;

pub use client::{AsyncSnmpSource, SharedUdp};
pub use source::{BoxFuture, SnmpError, SnmpSource, SnmpValue, VarBind};
pub use walk::walk_columns;
