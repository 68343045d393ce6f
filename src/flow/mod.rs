//! Flows: a second input beside the SNMP poller. The collector receives NetFlow v9, IPFIX
//! and sFlow v5 datagrams over UDP, trusts only the configured exporters, decodes records with
//! per-(exporter, observation domain, template id) template caches, applies sampling,
//! attributes each record to a customer by longest-prefix match of its addresses, and hands
//! the writer per-customer, per-minute traffic with its coverage (see DESIGN.md, "Inputs
//! beside SNMP").
//!
//! ```text
//! UDP datagram --(exporter known? by source IP)--> decode::Decoder --> FlowRecord
//!     --> table::FlowModel (exporter, customer by prefix) --> aggregate::Minutes
//!     --> store::FlowSink (customer slots, like port aggregates)
//! ```
//!
//! - [`table`]: the exporters and the longest-prefix-match table, built once per runtime
//!   model (a reload puts a new one in force without restarting the collector).
//! - [`decode`] (and [`sflow`]): datagram to records; malformed, truncated and unsupported datagrams are
//!   errors the collector counts, never panics.
//! - [`aggregate`]: per-customer, per-minute sums and coverage (a minute in which an expected
//!   exporter sent nothing is not covered, so it reads as unknown, not zero).
//! - [`evidence`]: the last minutes of flows per switch, bounded, and the classifier that
//!   names a spike (amplification by service, SYN, UDP or ICMP flood, one destination, or not
//!   an attack) for the alert's notice.
//! - [`collector`]: the UDP listeners and the flush task; [`metrics`]: its counters;
//!   [`usage`]: what flows measured per customer and product line, for `/metrics`.

pub mod aggregate;
pub mod collector;
pub mod decode;
pub mod evidence;
pub mod metrics;
pub mod sflow;
pub mod table;
pub mod usage;

use std::net::{IpAddr, Ipv4Addr};

pub use collector::Collector;
pub use decode::Decoder;
pub use evidence::Evidence;
pub use metrics::FlowMetrics;
pub use table::FlowModel;

/// One flow record as decoded, with the exporter's sampling applied to its counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowRecord {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source transport port (0 when none).
    pub src_port: u16,
    /// Destination transport port (0 when none).
    pub dst_port: u16,
    /// IP protocol number.
    pub protocol: u8,
    /// TCP flags seen (OR of the flow's packets), 0 when none.
    pub tcp_flags: u8,
    /// Octets, sampling applied.
    pub bytes: u64,
    /// Packets, sampling applied.
    pub packets: u64,
    /// The sampling rate applied (1 in N).
    pub sampling: u32,
}

impl Default for FlowRecord {
    fn default() -> Self {
        FlowRecord {
            src: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            src_port: 0,
            dst_port: 0,
            protocol: 0,
            tcp_flags: 0,
            bytes: 0,
            packets: 0,
            sampling: 1,
        }
    }
}
