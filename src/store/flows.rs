//! Customer traffic measured by flows (customers known by address prefixes): what the flow
//! collector hands the writer, one customer and one 60 s slot at a time. The writer adds it
//! into the customer's aggregate slots and rollups exactly like port traffic, so the report,
//! the churn and surge rules and the money see prefix customers like port customers.

/// One customer's traffic in one 60 s slot, from flows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowSlot {
    /// The customer id.
    pub customer: String,
    /// Start of the slot, unix seconds (a multiple of 60).
    pub slot_start: i64,
    /// Octets sent by the customer (source inside its prefixes), sampling applied.
    pub in_octets: u64,
    /// Octets sent to the customer (destination inside its prefixes).
    pub out_octets: u64,
    /// Packets sent by the customer.
    pub in_packets: u64,
    /// Packets sent to the customer.
    pub out_packets: u64,
    /// Milliseconds of the slot that flows covered: the slot's share during which the
    /// collector ran, times the share of expected exporters that sent anything in it.
    pub covered_ms: u32,
}
