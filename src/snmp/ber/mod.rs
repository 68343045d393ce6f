//! A small BER codec for exactly the SNMP messages bandwatch exchanges: GetRequest and
//! GetBulkRequest out, Response (and Report) in, for SNMPv1/v2c. Encoding writes into one
//! buffer; decoding reads the datagram in place (no copy of the message) and only allocates
//! the varbinds it returns. Every length is checked against what is left of the datagram,
//! so truncated, absurd or garbage input is an error, never a panic.

mod decode;
mod encode;
mod message;
#[cfg(test)]
mod tests;

use super::source::{SnmpError, SnmpValue, VarBind};

pub use decode::*;
pub use encode::*;
pub use message::*;

/// GetRequest-PDU tag.
pub const TAG_GET: u8 = 0xa0;
/// GetNextRequest-PDU tag.
pub const TAG_GET_NEXT: u8 = 0xa1;
/// Response-PDU tag.
pub const TAG_RESPONSE: u8 = 0xa2;
/// GetBulkRequest-PDU tag.
pub const TAG_GET_BULK: u8 = 0xa5;
/// Report-PDU tag (SNMPv3).
pub const TAG_REPORT: u8 = 0xa8;

/// Most arcs an OID may have (RFC 2578: 128 sub-identifiers).
pub const MAX_OID_ARCS: usize = 128;

/// SNMP version number on the wire for SNMPv2c.
pub const VERSION_2C: i64 = 1;

fn malformed(what: &str) -> SnmpError {
    SnmpError::Malformed(what.to_string())
}
