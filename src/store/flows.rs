//! Traffic measured by flows, for customers and product lines known by address prefixes:
//! what the flow collector hands the writer, one entity and one 60 s slot at a time. The
//! writer adds it into the entity's aggregate slots and rollups exactly like port traffic,
//! so the report, the rules (churn, surge, drop) and the money see prefix customers and
//! product lines like port ones.

use super::entity::EntityKind;

/// One customer's or product line's traffic in one 60 s slot, from flows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowSlot {
    /// [`EntityKind::Customer`] or [`EntityKind::ProductLine`].
    pub kind: EntityKind,
    /// The customer id or the product line's name.
    pub name: String,
    /// Start of the slot, unix seconds (a multiple of 60).
    pub slot_start: i64,
    /// Octets sent by the entity's addresses (source inside its prefixes), sampling applied.
    pub in_octets: u64,
    /// Octets sent to its addresses (destination inside its prefixes).
    pub out_octets: u64,
    /// Packets sent by its addresses.
    pub in_packets: u64,
    /// Packets sent to its addresses.
    pub out_packets: u64,
    /// Milliseconds of the slot that flows covered: the slot's share during which the
    /// collector ran, times the share of expected exporters that sent anything in it.
    pub covered_ms: u32,
    /// The shard of the daemon that measured it (`[daemon] shard`), when several daemons
    /// share the store: the two daemons of an HA pair receive the same exporters' flows, so
    /// the store keeps the first of their slots for an entity and minute and drops the other
    /// (counted as a duplicate); slots of different shards add up. `None` adds always.
    pub shard: Option<String>,
}
