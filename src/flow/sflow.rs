//! sFlow v5 datagrams (told apart from NetFlow by their 32-bit version field, 5) into
//! [`FlowRecord`]s, with `sflow-parser`. Each flow sample is one sampled packet: its
//! addresses, ports and TCP flags come from the sampled header (Ethernet, with VLAN tags,
//! or raw IPv4/IPv6) or from a sampled IPv4/IPv6 record; its bytes are the packet's IP
//! length (like NetFlow's octets, so a customer reads the same whichever protocol its
//! switch exports), multiplied by the sample's sampling rate, and so are its packets.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use sflow_parser::models::record_flows::HeaderProtocol;
use sflow_parser::models::{FlowData, FlowRecord as SRecord};
use sflow_parser::{SampleData, parse_datagram};

use super::FlowRecord;
use super::decode::{Decoded, Drop, MAX_SAMPLING};

/// What one sampled packet says.
struct Packet {
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    src_port: u16,
    dst_port: u16,
    tcp_flags: u8,
    ip_len: u64,
}

/// Decodes an sFlow v5 datagram into `out`.
pub fn decode(data: &[u8], out: &mut Vec<FlowRecord>) -> Result<Decoded, Drop> {
    let dg = parse_datagram(data).map_err(|_| Drop::Malformed)?;
    let mut d = Decoded::default();
    for s in &dg.samples {
        let (rate, records) = match &s.sample_data {
            SampleData::FlowSample(f) => (f.sampling_rate, &f.flow_records),
            SampleData::FlowSampleExpanded(f) => (f.sampling_rate, &f.flow_records),
            _ => continue,
        };
        let Some(p) = records.iter().find_map(packet) else {
            d.skipped += 1;
            continue;
        };
        let rate = u64::from(rate.max(1));
        if rate > MAX_SAMPLING {
            d.absurd_sampling += 1;
            continue;
        }
        out.push(FlowRecord {
            src: p.src,
            dst: p.dst,
            src_port: p.src_port,
            dst_port: p.dst_port,
            protocol: p.protocol,
            tcp_flags: p.tcp_flags,
            bytes: p.ip_len.saturating_mul(rate),
            packets: rate,
            sampling: rate as u32,
        });
        d.records += 1;
    }
    Ok(d)
}

fn packet(r: &SRecord) -> Option<Packet> {
    match &r.flow_data {
        FlowData::SampledHeader(h) => match h.protocol {
            HeaderProtocol::EthernetIso88023 => ethernet(&h.header),
            HeaderProtocol::Ipv4 | HeaderProtocol::Ipv6 => ip(&h.header),
            _ => None,
        },
        FlowData::SampledIpv4(s) => Some(Packet {
            src: IpAddr::V4(s.src_ip),
            dst: IpAddr::V4(s.dst_ip),
            protocol: s.protocol as u8,
            src_port: s.src_port as u16,
            dst_port: s.dst_port as u16,
            tcp_flags: s.tcp_flags as u8,
            ip_len: u64::from(s.length),
        }),
        FlowData::SampledIpv6(s) => Some(Packet {
            src: IpAddr::V6(s.src_ip),
            dst: IpAddr::V6(s.dst_ip),
            protocol: s.protocol as u8,
            src_port: s.src_port as u16,
            dst_port: s.dst_port as u16,
            tcp_flags: s.tcp_flags as u8,
            ip_len: u64::from(s.length),
        }),
        _ => None,
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// An Ethernet frame's IP packet (802.1Q and 802.1ad tags skipped).
fn ethernet(f: &[u8]) -> Option<Packet> {
    let mut at = 12;
    let mut ethertype = be16(f, at)?;
    while ethertype == 0x8100 || ethertype == 0x88a8 {
        at += 4;
        ethertype = be16(f, at)?;
    }
    match ethertype {
        0x0800 | 0x86dd => ip(f.get(at + 2..)?),
        _ => None,
    }
}

/// An IPv4 or IPv6 packet's addresses, protocol, length and transport ports and flags.
fn ip(p: &[u8]) -> Option<Packet> {
    let (src, dst, protocol, ip_len, l4) = match p.first()? >> 4 {
        4 => {
            let ihl = usize::from(p.first()? & 0x0f) * 4;
            let a: [u8; 4] = p.get(12..16)?.try_into().ok()?;
            let b: [u8; 4] = p.get(16..20)?.try_into().ok()?;
            (
                IpAddr::V4(Ipv4Addr::from(a)),
                IpAddr::V4(Ipv4Addr::from(b)),
                *p.get(9)?,
                u64::from(be16(p, 2)?),
                ihl,
            )
        }
        6 => {
            let a: [u8; 16] = p.get(8..24)?.try_into().ok()?;
            let b: [u8; 16] = p.get(24..40)?.try_into().ok()?;
            (
                IpAddr::V6(Ipv6Addr::from(a)),
                IpAddr::V6(Ipv6Addr::from(b)),
                *p.get(6)?,
                u64::from(be16(p, 4)?) + 40,
                40,
            )
        }
        _ => return None,
    };
    let (src_port, dst_port, tcp_flags) = match protocol {
        6 | 17 => (
            be16(p, l4).unwrap_or(0),
            be16(p, l4 + 2).unwrap_or(0),
            if protocol == 6 {
                p.get(l4 + 13).copied().unwrap_or(0)
            } else {
                0
            },
        ),
        _ => (0, 0, 0),
    };
    Some(Packet {
        src,
        dst,
        protocol,
        src_port,
        dst_port,
        tcp_flags,
        ip_len,
    })
}
