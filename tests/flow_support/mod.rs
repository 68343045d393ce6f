//! Helpers of the flow tests: a pcap writer (Ethernet/IPv4/UDP packets, for a real exporter
//! to read) and small NetFlow v9 / IPFIX encoders written from RFC 3954 and RFC 7011,
//! independent of the decoder under test.
#![allow(dead_code)]

use std::net::Ipv4Addr;

/// One UDP packet of a capture.
pub struct Packet {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub sport: u16,
    pub dport: u16,
    pub payload: usize,
    /// Seconds since the capture's start.
    pub at: u32,
}

impl Packet {
    /// The IP total length of the packet (what exporters count as octets).
    pub fn ip_len(&self) -> u64 {
        (20 + 8 + self.payload) as u64
    }
}

fn checksum(b: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in b.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        s += u32::from(w);
    }
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// The Ethernet frame of a packet (the `i`th of a capture: its IP id).
pub fn frame(p: &Packet, i: usize) -> Vec<u8> {
    let mut frame = Vec::new();
    frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
    frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    frame.extend_from_slice(&0x0800u16.to_be_bytes());
    let total = (20 + 8 + p.payload) as u16;
    let mut ip = Vec::new();
    ip.extend_from_slice(&[0x45, 0]);
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&(i as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 0, 64, 17, 0, 0]);
    ip.extend_from_slice(&p.src.octets());
    ip.extend_from_slice(&p.dst.octets());
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    frame.extend_from_slice(&ip);
    frame.extend_from_slice(&p.sport.to_be_bytes());
    frame.extend_from_slice(&p.dport.to_be_bytes());
    frame.extend_from_slice(&((8 + p.payload) as u16).to_be_bytes());
    frame.extend_from_slice(&[0, 0]);
    frame.extend(std::iter::repeat_n(0x5a, p.payload));
    frame
}

/// An sFlow v5 datagram (XDR, sflow_version_5.txt): agent 10.0.0.1, one flow sample per
/// packet at `sampling`, each with a raw packet header record (the first 128 bytes of its
/// Ethernet frame).
pub fn sflow(sampling: u32, packets: &[Packet]) -> Vec<u8> {
    let u32s = |out: &mut Vec<u8>, vals: &[u32]| {
        for v in vals {
            out.extend_from_slice(&v.to_be_bytes());
        }
    };
    let mut out = Vec::new();
    u32s(&mut out, &[5, 1]);
    out.extend_from_slice(&[10, 0, 0, 1]);
    u32s(&mut out, &[0, 1, 1000, packets.len() as u32]);
    for (i, p) in packets.iter().enumerate() {
        let f = frame(p, i);
        let mut header = f[..f.len().min(128)].to_vec();
        let header_len = header.len() as u32;
        while !header.len().is_multiple_of(4) {
            header.push(0);
        }
        let mut record = Vec::new();
        u32s(&mut record, &[1, f.len() as u32 + 4, 4, header_len]);
        record.extend_from_slice(&header);
        let mut sample = Vec::new();
        u32s(
            &mut sample,
            &[i as u32, 3, sampling, sampling * (i as u32 + 1), 0, 3, 4, 1],
        );
        u32s(&mut sample, &[1, record.len() as u32]);
        sample.extend_from_slice(&record);
        u32s(&mut out, &[1, sample.len() as u32]);
        out.extend_from_slice(&sample);
    }
    out
}

/// A classic pcap file (microsecond timestamps, Ethernet link type) of `packets`.
pub fn pcap(packets: &[Packet], start: u32) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (i, p) in packets.iter().enumerate() {
        let frame = frame(p, i);
        out.extend_from_slice(&(start + p.at).to_le_bytes());
        out.extend_from_slice(&((i as u32 % 1000) * 1000).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    out
}

/// A field of a template: (element id, length).
pub type Field = (u16, u16);

/// One record's values, each as big-endian bytes of its field's length.
pub fn values(fields: &[Field], vals: &[u64]) -> Vec<u8> {
    let mut out = Vec::new();
    for ((_, len), v) in fields.iter().zip(vals) {
        let b = v.to_be_bytes();
        out.extend_from_slice(&b[8 - usize::from(*len)..]);
    }
    out
}

fn set(id: u16, body: &[u8], pad_to: usize) -> Vec<u8> {
    let mut b = body.to_vec();
    while !(b.len() + 4).is_multiple_of(pad_to) {
        b.push(0);
    }
    let mut out = Vec::new();
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&((b.len() + 4) as u16).to_be_bytes());
    out.extend_from_slice(&b);
    out
}

fn template_body(template: u16, fields: &[Field]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&template.to_be_bytes());
    t.extend_from_slice(&(fields.len() as u16).to_be_bytes());
    for (id, len) in fields {
        t.extend_from_slice(&id.to_be_bytes());
        t.extend_from_slice(&len.to_be_bytes());
    }
    t
}

/// An IPFIX message (RFC 7011): optionally a template set, then a data set of `records`.
pub fn ipfix(
    domain: u32,
    template: u16,
    fields: &[Field],
    with_template: bool,
    records: &[Vec<u64>],
) -> Vec<u8> {
    let mut sets = Vec::new();
    if with_template {
        sets.extend(set(2, &template_body(template, fields), 1));
    }
    if !records.is_empty() {
        let data: Vec<u8> = records.iter().flat_map(|r| values(fields, r)).collect();
        sets.extend(set(template, &data, 1));
    }
    let mut out = Vec::new();
    out.extend_from_slice(&10u16.to_be_bytes());
    out.extend_from_slice(&((16 + sets.len()) as u16).to_be_bytes());
    out.extend_from_slice(&1_700_000_000u32.to_be_bytes());
    out.extend_from_slice(&1u32.to_be_bytes());
    out.extend_from_slice(&domain.to_be_bytes());
    out.extend_from_slice(&sets);
    out
}

/// An IPFIX message of an options template (set 3, RFC 7011 3.4.2.2: the first `scope`
/// fields are its scope) and one options data set of `records`, as an exporter announces
/// its sampling.
pub fn ipfix_options(
    domain: u32,
    template: u16,
    fields: &[Field],
    scope: u16,
    records: &[Vec<u64>],
) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&template.to_be_bytes());
    body.extend_from_slice(&(fields.len() as u16).to_be_bytes());
    body.extend_from_slice(&scope.to_be_bytes());
    for (id, len) in fields {
        body.extend_from_slice(&id.to_be_bytes());
        body.extend_from_slice(&len.to_be_bytes());
    }
    let mut sets = set(3, &body, 1);
    let data: Vec<u8> = records.iter().flat_map(|r| values(fields, r)).collect();
    sets.extend(set(template, &data, 1));
    let mut out = Vec::new();
    out.extend_from_slice(&10u16.to_be_bytes());
    out.extend_from_slice(&((16 + sets.len()) as u16).to_be_bytes());
    out.extend_from_slice(&1_700_000_000u32.to_be_bytes());
    out.extend_from_slice(&1u32.to_be_bytes());
    out.extend_from_slice(&domain.to_be_bytes());
    out.extend_from_slice(&sets);
    out
}

/// A NetFlow v9 export packet (RFC 3954): optionally a template flowset, then a data
/// flowset of `records` (padded to 4 bytes).
pub fn v9(
    source_id: u32,
    template: u16,
    fields: &[Field],
    with_template: bool,
    records: &[Vec<u64>],
) -> Vec<u8> {
    let mut sets = Vec::new();
    let mut count = 0u16;
    if with_template {
        sets.extend(set(0, &template_body(template, fields), 4));
        count += 1;
    }
    if !records.is_empty() {
        let data: Vec<u8> = records.iter().flat_map(|r| values(fields, r)).collect();
        sets.extend(set(template, &data, 4));
        count += records.len() as u16;
    }
    let mut out = Vec::new();
    out.extend_from_slice(&9u16.to_be_bytes());
    out.extend_from_slice(&count.to_be_bytes());
    out.extend_from_slice(&1000u32.to_be_bytes());
    out.extend_from_slice(&1_700_000_000u32.to_be_bytes());
    out.extend_from_slice(&1u32.to_be_bytes());
    out.extend_from_slice(&source_id.to_be_bytes());
    out.extend_from_slice(&sets);
    out
}

/// An IPv4 address as the u64 [`values`] takes.
pub fn v4(s: &str) -> u64 {
    u64::from(u32::from(s.parse::<Ipv4Addr>().expect("test address")))
}
