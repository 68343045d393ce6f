//! SNMP as the poller needs it: a small trait ([`SnmpSource`]) with GET and multi-column
//! GETBULK, our own value and error types, and two implementations: SNMPv2c on bandwatch's
//! own BER codec and shared UDP socket ([`v2c::V2cSource`], the fleet's hot path), SNMPv3 on
//! the async-snmp crate ([`client::AsyncSnmpSource`]). The poller only sees the trait, so
//! either can be swapped and the poller tested without a network.

pub mod ber;
pub mod client;
pub mod connect;
pub mod oids;
pub mod source;
pub mod udp;
pub mod v2c;
pub mod walk;

pub use client::{AsyncSnmpSource, SharedUdp};
pub use connect::{connect, connect_shared};
pub use source::{BoxFuture, SnmpError, SnmpSource, SnmpValue, VarBind, VarBindSink};
pub use v2c::V2cSource;
pub use walk::walk_columns;
