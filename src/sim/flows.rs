//! Flow export of the simulated switches: sFlow v5 or IPFIX datagrams to a collector, with
//! the same bytes as the switch's SNMP counters (IPFIX exactly; sFlow within its sampling:
//! each sample stands for `sampling` packets of its size, drawn without bias).
//!
//! The traffic has a shape. Ordinary traffic, on every port: many sources (100.64.0.0/10)
//! toward 256 addresses of the switch (198.18.N.0/24), 80 % of the bytes TCP from port 443,
//! 15 % UDP 443 (QUIC), 5 % ICMP, 700, 900 and 98-byte packets; the port's outbound bytes go
//! back the other way. During a spike with `flows = "..."` (see [`FlowShape`]) the spike's
//! extra bytes have the attack's shape toward its `target` (one address, or spread over a
//! prefix); a spike without `flows` is a legitimate surge: the ordinary mix, more of it.
//!
//! Each switch sends from its own loopback address ([`exporter_address`]), so the
//! collector tells the switches apart; [`flow_config`] writes the `[flow]` section that
//! trusts them.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::traffic::SwitchModel;

/// What a spike's extra traffic looks like in its flows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowShape {
    /// The ordinary mix (a legitimate surge: many sources, usual protocols and sizes).
    Surge,
    /// UDP reflection from this source port (53 DNS, 123 NTP, 161 SNMP, 389 CLDAP, 1900
    /// SSDP, 11211 memcached, 19 chargen), with the service's typical response size.
    Amplification(u16),
    /// TCP SYN, 60-byte packets, spoofed sources.
    Syn,
    /// UDP from random high ports to random ports, 512-byte packets.
    Udp,
    /// ICMP echo, 1,000-byte packets.
    Icmp,
    /// TCP ACK from port 443 with 1,400-byte packets: no amplifier, no flood flag, just
    /// volume.
    Volumetric,
}

impl FlowShape {
    /// The names a scenario uses.
    pub const NAMES: &'static [&'static str] = &[
        "surge",
        "dns",
        "ntp",
        "snmp",
        "cldap",
        "ssdp",
        "memcached",
        "chargen",
        "syn",
        "udp",
        "icmp",
        "volumetric",
    ];

    /// Parses a scenario's `flows` value.
    pub fn parse(s: &str) -> Option<FlowShape> {
        Some(match s {
            "surge" => FlowShape::Surge,
            "dns" => FlowShape::Amplification(53),
            "ntp" => FlowShape::Amplification(123),
            "snmp" => FlowShape::Amplification(161),
            "cldap" => FlowShape::Amplification(389),
            "ssdp" => FlowShape::Amplification(1900),
            "memcached" => FlowShape::Amplification(11211),
            "chargen" => FlowShape::Amplification(19),
            "syn" => FlowShape::Syn,
            "udp" => FlowShape::Udp,
            "icmp" => FlowShape::Icmp,
            "volumetric" => FlowShape::Volumetric,
            _ => return None,
        })
    }
}

/// Where a spike's extra traffic goes: `len` = 32 is one address, shorter spreads it over
/// the prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    /// The first address.
    pub base: Ipv4Addr,
    /// Prefix length.
    pub len: u8,
}

impl Target {
    /// Parses "203.0.113.7" or "203.0.113.0/24" (IPv4).
    pub fn parse(s: &str) -> Result<Target, String> {
        let (a, len) = match s.split_once('/') {
            Some((a, l)) => (
                a,
                l.parse::<u8>()
                    .ok()
                    .filter(|l| (8..=32).contains(l))
                    .ok_or_else(|| format!("`{s}`: a prefix length of 8 to 32"))?,
            ),
            None => (s, 32),
        };
        let base: Ipv4Addr = a
            .parse()
            .map_err(|_| format!("`{s}`: an IPv4 address or prefix"))?;
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        Ok(Target {
            base: Ipv4Addr::from(u32::from(base) & mask),
            len,
        })
    }

    /// Address number `k` of the target (wrapping inside the prefix; a /32 is always its
    /// address). A prefix skips its network and broadcast addresses.
    fn addr(&self, k: u64) -> Ipv4Addr {
        if self.len >= 31 {
            return self.base;
        }
        let size = 1u64 << (32 - self.len);
        let host = 1 + k % (size - 2);
        Ipv4Addr::from(u32::from(self.base) + host as u32)
    }
}

/// The flow shape of a spike on one port: from `start` to `end` (real seconds) the port's
/// rate is multiplied by `factor`, and the extra has `shape` toward `target`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Attack {
    /// Start, real seconds.
    pub start: f64,
    /// End, real seconds.
    pub end: f64,
    /// The spike's factor.
    pub factor: f64,
    /// The extra traffic's shape.
    pub shape: FlowShape,
    /// Where it goes; `None`: the port's ordinary destinations.
    pub target: Option<Target>,
}

/// Which export a switch speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowProtocol {
    /// sFlow v5, packet samples at the sampling rate.
    Sflow,
    /// IPFIX, unsampled flow records.
    Ipfix,
}

/// Flow export options of a fleet.
#[derive(Clone, Debug)]
pub struct FlowOptions {
    /// The collector.
    pub collector: SocketAddr,
    /// sFlow sampling rate (1 in N packets).
    pub sampling: u32,
    /// One protocol for every switch, or `None`: even switches sFlow, odd ones IPFIX.
    pub protocol: Option<FlowProtocol>,
    /// Export the traffic of the first N ports of each switch only (flow export enabled on
    /// the uplinks, as is common); `None`: every port.
    pub ports: Option<usize>,
}

impl FlowOptions {
    /// The protocol of switch `n`.
    pub fn protocol_of(&self, n: usize) -> FlowProtocol {
        self.protocol.unwrap_or(if n.is_multiple_of(2) {
            FlowProtocol::Sflow
        } else {
            FlowProtocol::Ipfix
        })
    }
}

/// The loopback address switch `n` exports from: 127.1.x.y, one per switch.
pub fn exporter_address(n: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 1, (n / 250) as u8, (n % 250) as u8 + 1)
}

/// The `[flow]` section trusting the fleet's exporters (`switches` in fleet order, each
/// switch `n` at [`exporter_address`]), listening on `listen`; sFlow samples carry their
/// own rate.
pub fn flow_config(switches: &[String], listen: SocketAddr) -> String {
    let mut s = format!(
        "\n# Flows from the simulated switches (each from its own loopback address).\n\
         [flow]\nlisten = [\"{listen}\"]\n"
    );
    for (n, name) in switches.iter().enumerate() {
        let _ = write!(
            s,
            "\n[[flow.exporter]]\nswitch = \"{name}\"\naddress = \"{}\"\n",
            exporter_address(n)
        );
    }
    s
}

/// One flow (or the packets one sample stands for).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimFlow {
    /// Source.
    pub src: Ipv4Addr,
    /// Destination.
    pub dst: Ipv4Addr,
    /// Source port (ICMP: 0).
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// IP protocol.
    pub proto: u8,
    /// TCP flags.
    pub flags: u8,
    /// IP bytes.
    pub bytes: u64,
    /// Packets.
    pub packets: u64,
    /// Bytes of one packet (IP total length).
    pub size: u16,
}

/// splitmix64 of a few numbers: the deterministic randomness of the flows.
fn mix(parts: &[u64]) -> u64 {
    let mut h: u64 = 0x243f_6a88_85a3_08d3;
    for p in parts {
        h ^= p.wrapping_add(0x9e37_79b9_7f4a_7c15);
        h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h ^= h >> 27;
        h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^= h >> 31;
    }
    h
}

/// An "internet" source: one of `pool` addresses of 100.64.0.0/10 drawn by `h`.
fn internet(h: u64, pool: u64) -> Ipv4Addr {
    Ipv4Addr::from(0x6440_0000u32 + ((h % pool) as u32).wrapping_mul(2_654_435_761) % (1 << 22))
}

/// Splits `bytes` of packets of `size` into flows: `n` flows built by `make(k)` (its bytes
/// and packets filled in here, the last taking the remainder).
fn split(
    out: &mut Vec<SimFlow>,
    bytes: f64,
    size: u16,
    n: u64,
    mut make: impl FnMut(u64) -> SimFlow,
) {
    let total = bytes.max(0.0).round() as u64;
    if total == 0 || n == 0 {
        return;
    }
    let each = total / n;
    for k in 0..n {
        let b = if k + 1 == n {
            total - each * (n - 1)
        } else {
            each
        };
        if b == 0 {
            continue;
        }
        let mut f = make(k);
        f.bytes = b;
        f.size = size;
        f.packets = b.div_ceil(u64::from(size)).max(1);
        out.push(f);
    }
}

/// Ordinary flows of `bytes` toward (or, `outbound`, from) the addresses of `dst`.
fn ordinary(
    out: &mut Vec<SimFlow>,
    bytes: f64,
    dst: impl Fn(u64) -> Ipv4Addr,
    seed: u64,
    outbound: bool,
) {
    const MIX: [(f64, u8, u16, u16, u8); 3] = [
        (0.80, 6, 443, 700, 0x18),
        (0.15, 17, 443, 900, 0),
        (0.05, 1, 0, 98, 0),
    ];
    for (c, (share, proto, port, size, flags)) in MIX.iter().enumerate() {
        split(out, bytes * share, *size, 16, |k| {
            let h = mix(&[seed, c as u64, k]);
            let (remote, local) = (internet(h, 1 << 22), dst(h >> 24));
            let eph = 32_768 + (h >> 40) as u16 % 28_000;
            if outbound {
                SimFlow {
                    src: local,
                    dst: remote,
                    sport: *port,
                    dport: if *proto == 1 { 0 } else { eph },
                    proto: *proto,
                    flags: *flags,
                    bytes: 0,
                    packets: 0,
                    size: 0,
                }
            } else {
                SimFlow {
                    src: remote,
                    dst: local,
                    sport: *port,
                    dport: if *proto == 1 { 0 } else { eph },
                    proto: *proto,
                    flags: *flags,
                    bytes: 0,
                    packets: 0,
                    size: 0,
                }
            }
        });
    }
}

/// The attack flows of `bytes` with `shape` toward `target`.
fn attack(out: &mut Vec<SimFlow>, bytes: f64, shape: FlowShape, target: Target, seed: u64) {
    let flow = |h: u64, sport: u16, dport: u16, proto: u8, flags: u8| SimFlow {
        src: internet(h, 4096),
        dst: target.addr(h >> 20),
        sport,
        dport,
        proto,
        flags,
        bytes: 0,
        packets: 0,
        size: 0,
    };
    let eph = |h: u64| 1024 + (h >> 44) as u16 % 60_000;
    match shape {
        FlowShape::Surge => ordinary(out, bytes, |h| target.addr(h), seed, false),
        FlowShape::Amplification(port) => {
            let size = match port {
                123 => 468,
                53 | 389 | 11211 => 1400,
                161 => 1200,
                1900 => 320,
                _ => 1000,
            };
            split(out, bytes, size, 64, |k| {
                let h = mix(&[seed, k]);
                flow(h, port, eph(h), 17, 0)
            });
        }
        FlowShape::Syn => split(out, bytes, 60, 64, |k| {
            let h = mix(&[seed, k]);
            let mut f = flow(h, eph(h), 443, 6, 0x02);
            f.src = internet(h, 1 << 22);
            f
        }),
        FlowShape::Udp => split(out, bytes, 512, 64, |k| {
            let h = mix(&[seed, k]);
            flow(h, eph(h), eph(h >> 3), 17, 0)
        }),
        FlowShape::Icmp => split(out, bytes, 1000, 64, |k| {
            let h = mix(&[seed, k]);
            flow(h, 0, 0, 1, 0)
        }),
        FlowShape::Volumetric => split(out, bytes, 1400, 64, |k| {
            let h = mix(&[seed, k]);
            flow(h, 443, eph(h), 6, 0x10)
        }),
    }
}

/// The flows switch `n` (its `model`) carried on its first `ports` ports (every port when
/// `None`) between `a` and `b` (real seconds): inbound bytes exactly the SNMP counters'
/// `in`, outbound their `out`.
pub fn flows_between(
    model: &SwitchModel,
    n: usize,
    a: f64,
    b: f64,
    ports: Option<usize>,
) -> Vec<SimFlow> {
    let mut out = Vec::new();
    let usual = |p: usize| {
        move |h: u64| {
            Ipv4Addr::new(
                198,
                18,
                (n % 256) as u8,
                ((h + p as u64 * 37) % 254) as u8 + 1,
            )
        }
    };
    let tick = (b * 10.0).round() as u64;
    for p in 0..model.ports.len().min(ports.unwrap_or(usize::MAX)) {
        if !model.present(p, b) {
            continue;
        }
        let inb = model.octets_between(p, a, b);
        if inb <= 0.0 {
            continue;
        }
        let outb = inb * model.out_ratio();
        let seed = mix(&[n as u64, p as u64, tick]);
        let (normal, extra) = match model.attack_at(p, (a + b) / 2.0) {
            Some(att) if att.factor > 1.0 => {
                let normal = inb / att.factor;
                (normal, Some((inb - normal, att)))
            }
            _ => (inb, None),
        };
        ordinary(&mut out, normal, usual(p), seed, false);
        if let Some((bytes, att)) = extra {
            match att.target {
                Some(t) => attack(&mut out, bytes, att.shape, t, seed ^ 0xa77a),
                None => ordinary(&mut out, bytes, usual(p), seed ^ 0x5e6e, false),
            }
        }
        ordinary(&mut out, outb, usual(p), seed ^ 0x07, true);
    }
    out
}

/// An IPFIX exporter (RFC 7011): template 256 of IPv4 addresses, ports, protocol, TCP
/// flags, octets and packets, sent with the first message and every 20th.
struct Ipfix {
    seq: u32,
    messages: u32,
    domain: u32,
}

const IPFIX_FIELDS: [(u16, u16); 8] = [
    (8, 4),  // sourceIPv4Address
    (12, 4), // destinationIPv4Address
    (7, 2),  // sourceTransportPort
    (11, 2), // destinationTransportPort
    (4, 1),  // protocolIdentifier
    (6, 1),  // tcpControlBits
    (1, 8),  // octetDeltaCount
    (2, 8),  // packetDeltaCount
];
const IPFIX_RECORD: usize = 30;
const IPFIX_PER_MESSAGE: usize = 40;

impl Ipfix {
    fn messages(&mut self, flows: &[SimFlow], now_secs: u32) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for chunk in flows.chunks(IPFIX_PER_MESSAGE) {
            let mut m = Vec::with_capacity(16 + 4 + 36 + 4 + chunk.len() * IPFIX_RECORD);
            m.extend_from_slice(&10u16.to_be_bytes());
            m.extend_from_slice(&0u16.to_be_bytes()); // length, below
            m.extend_from_slice(&now_secs.to_be_bytes());
            m.extend_from_slice(&self.seq.to_be_bytes());
            m.extend_from_slice(&self.domain.to_be_bytes());
            if self.messages.is_multiple_of(20) {
                let len = 4 + 4 + 4 * IPFIX_FIELDS.len();
                m.extend_from_slice(&2u16.to_be_bytes());
                m.extend_from_slice(&(len as u16).to_be_bytes());
                m.extend_from_slice(&256u16.to_be_bytes());
                m.extend_from_slice(&(IPFIX_FIELDS.len() as u16).to_be_bytes());
                for (id, l) in IPFIX_FIELDS {
                    m.extend_from_slice(&id.to_be_bytes());
                    m.extend_from_slice(&l.to_be_bytes());
                }
            }
            m.extend_from_slice(&256u16.to_be_bytes());
            m.extend_from_slice(&((4 + chunk.len() * IPFIX_RECORD) as u16).to_be_bytes());
            for f in chunk {
                m.extend_from_slice(&f.src.octets());
                m.extend_from_slice(&f.dst.octets());
                m.extend_from_slice(&f.sport.to_be_bytes());
                m.extend_from_slice(&f.dport.to_be_bytes());
                m.push(f.proto);
                m.push(f.flags);
                m.extend_from_slice(&f.bytes.to_be_bytes());
                m.extend_from_slice(&f.packets.to_be_bytes());
            }
            let len = m.len() as u16;
            m[2..4].copy_from_slice(&len.to_be_bytes());
            self.seq = self.seq.wrapping_add(chunk.len() as u32);
            self.messages = self.messages.wrapping_add(1);
            out.push(m);
        }
        out
    }
}

/// An sFlow v5 agent: one flow sample per sampled packet, each with the first bytes of the
/// packet's Ethernet frame (raw packet header record).
struct Sflow {
    agent: Ipv4Addr,
    seq: u32,
    sample_seq: u32,
    pool: u32,
    sampling: u32,
}

const SFLOW_PER_DATAGRAM: usize = 7;

/// The first bytes of a packet of `f`: Ethernet, IPv4 (total length `f.size`), and the
/// transport header.
fn packet_header(f: &SimFlow) -> Vec<u8> {
    let mut h = Vec::with_capacity(64);
    h.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00]);
    let ip_start = h.len();
    h.extend_from_slice(&[0x45, 0]);
    h.extend_from_slice(&f.size.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0x40, 0, 64, f.proto, 0, 0]);
    h.extend_from_slice(&f.src.octets());
    h.extend_from_slice(&f.dst.octets());
    let mut sum: u32 = h[ip_start..]
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let c = !(sum as u16);
    h[ip_start + 10..ip_start + 12].copy_from_slice(&c.to_be_bytes());
    match f.proto {
        6 => {
            h.extend_from_slice(&f.sport.to_be_bytes());
            h.extend_from_slice(&f.dport.to_be_bytes());
            h.extend_from_slice(&[
                0, 0, 0, 1, 0, 0, 0, 0, 0x50, f.flags, 0xff, 0xff, 0, 0, 0, 0,
            ]);
        }
        17 => {
            h.extend_from_slice(&f.sport.to_be_bytes());
            h.extend_from_slice(&f.dport.to_be_bytes());
            h.extend_from_slice(&(f.size.saturating_sub(20)).to_be_bytes());
            h.extend_from_slice(&[0, 0]);
        }
        _ => h.extend_from_slice(&[8, 0, 0, 0, 0, 1, 0, 1]),
    }
    h
}

impl Sflow {
    /// The samples of `flows`: each flow's packets / sampling, rounded at random without
    /// bias (`salt` keeps the draws apart per tick).
    fn samples<'a>(&self, flows: &'a [SimFlow], salt: u64) -> Vec<&'a SimFlow> {
        let mut out = Vec::new();
        for (i, f) in flows.iter().enumerate() {
            let x = f.packets as f64 / f64::from(self.sampling.max(1));
            let whole = x.floor();
            let u = (mix(&[salt, i as u64]) >> 11) as f64 / (1u64 << 53) as f64;
            let n = whole as u64 + u64::from(u < x - whole);
            for _ in 0..n {
                out.push(f);
            }
        }
        out
    }

    fn datagrams(&mut self, samples: &[&SimFlow], uptime_ms: u32) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for chunk in samples.chunks(SFLOW_PER_DATAGRAM) {
            let mut d = Vec::with_capacity(28 + chunk.len() * 200);
            let push = |d: &mut Vec<u8>, v: u32| d.extend_from_slice(&v.to_be_bytes());
            push(&mut d, 5);
            push(&mut d, 1);
            d.extend_from_slice(&self.agent.octets());
            push(&mut d, 0);
            push(&mut d, self.seq);
            push(&mut d, uptime_ms);
            push(&mut d, chunk.len() as u32);
            self.seq = self.seq.wrapping_add(1);
            for f in chunk {
                let header = packet_header(f);
                let header_len = header.len() as u32;
                let mut padded = header;
                while !padded.len().is_multiple_of(4) {
                    padded.push(0);
                }
                self.sample_seq = self.sample_seq.wrapping_add(1);
                self.pool = self.pool.wrapping_add(self.sampling);
                let record_len = 16 + padded.len() as u32;
                let sample_len = 32 + 8 + record_len;
                push(&mut d, 1); // flow sample
                push(&mut d, sample_len);
                push(&mut d, self.sample_seq);
                push(&mut d, 1); // source id: ifIndex 1
                push(&mut d, self.sampling);
                push(&mut d, self.pool);
                push(&mut d, 0); // drops
                push(&mut d, 1); // input
                push(&mut d, 2); // output
                push(&mut d, 1); // one record
                push(&mut d, 1); // raw packet header
                push(&mut d, record_len);
                push(&mut d, 1); // Ethernet
                push(&mut d, u32::from(f.size) + 14 + 4); // frame length (with FCS)
                push(&mut d, 4); // stripped (FCS)
                push(&mut d, header_len);
                d.extend_from_slice(&padded);
            }
            out.push(d);
        }
        out
    }
}

enum Encoder {
    Ipfix(Ipfix),
    Sflow(Sflow),
}

/// A running exporter thread, stopped on drop.
pub struct FlowExport {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FlowExport {
    /// Stops the exporter.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for FlowExport {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How often the switches export.
const TICK: Duration = Duration::from_secs(1);

/// Starts exporting the flows of `models` (fleet order) every second since `start`, each
/// switch from its own [`exporter_address`]. Fails naming the address it cannot bind.
pub fn export(
    models: Vec<Arc<SwitchModel>>,
    start: Instant,
    opts: &FlowOptions,
) -> Result<FlowExport, String> {
    let mut exporters = Vec::new();
    for (n, m) in models.into_iter().enumerate() {
        let addr = exporter_address(n);
        let socket = UdpSocket::bind((addr, 0))
            .map_err(|e| format!("flow export of {}: cannot bind {addr}: {e}", m.name))?;
        let enc = match opts.protocol_of(n) {
            FlowProtocol::Ipfix => Encoder::Ipfix(Ipfix {
                seq: 0,
                messages: 0,
                domain: n as u32,
            }),
            FlowProtocol::Sflow => Encoder::Sflow(Sflow {
                agent: addr,
                seq: 0,
                sample_seq: 0,
                pool: 0,
                sampling: opts.sampling.max(1),
            }),
        };
        exporters.push((m, socket, enc));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let to = opts.collector;
    let ports = opts.ports;
    let thread = std::thread::Builder::new()
        .name("sim-flows".into())
        .spawn(move || {
            let mut last = start.elapsed().as_secs_f64();
            let mut next = std::time::Instant::now() + TICK;
            while !flag.load(Ordering::Relaxed) {
                let now = std::time::Instant::now();
                if now < next {
                    std::thread::sleep((next - now).min(Duration::from_millis(100)));
                    continue;
                }
                next += TICK;
                let t = start.elapsed().as_secs_f64();
                let wall = jiff::Timestamp::now().as_second() as u32;
                for (n, (model, socket, enc)) in exporters.iter_mut().enumerate() {
                    let flows = flows_between(model, n, last, t, ports);
                    let datagrams = match enc {
                        Encoder::Ipfix(x) => x.messages(&flows, wall),
                        Encoder::Sflow(x) => {
                            let samples = x.samples(&flows, mix(&[n as u64, t.to_bits()]));
                            x.datagrams(&samples, (t * 1000.0) as u32)
                        }
                    };
                    for d in datagrams {
                        if let Err(e) = socket.send_to(&d, to) {
                            tracing::debug!(switch = %model.name, error = %e, "flow export: send failed");
                        }
                    }
                }
                last = t;
            }
        })
        .map_err(|e| format!("flow export: cannot start its thread: {e}"))?;
    Ok(FlowExport {
        stop,
        thread: Some(thread),
    })
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::flow::{Decoder, FlowRecord};
    use crate::sim::scenario::Scenario;

    fn model(flows: &str, target: &str) -> SwitchModel {
        let s = Scenario::parse(&format!(
            "[traffic]\nbase = \"100Mbps\"\nnoise = 0.0\n[[event]]\nat = \"20s\"\n\
             kind = \"spike\"\nfactor = 5.0\nduration = \"20s\"\nports = [\"eth1\"]\n\
             flows = \"{flows}\"\ntarget = \"{target}\"\n"
        ))
        .unwrap();
        SwitchModel::new(&s, "sim-0000", 0, 2)
    }

    fn decode(d: &mut Decoder, datagrams: &[Vec<u8>], from: Ipv4Addr) -> Vec<FlowRecord> {
        let mut out = Vec::new();
        for g in datagrams {
            d.decode(IpAddr::V4(from), g, 1, &mut out).unwrap();
        }
        out
    }

    fn inbound(m: &SwitchModel, a: f64, b: f64) -> f64 {
        (0..m.ports.len()).map(|p| m.octets_between(p, a, b)).sum()
    }

    #[test]
    fn ipfix_carries_the_counters_bytes_and_the_attack_toward_its_target() {
        let m = model("ntp", "203.0.113.7");
        let mut enc = Ipfix {
            seq: 0,
            messages: 0,
            domain: 1,
        };
        let mut decoder = Decoder::new();
        for (a, b) in [(5.0, 6.0), (25.0, 26.0)] {
            let flows = flows_between(&m, 0, a, b, None);
            let recs = decode(
                &mut decoder,
                &enc.messages(&flows, 1_700_000_000),
                exporter_address(0),
            );
            assert_eq!(recs.len(), flows.len());
            let internet = |ip: IpAddr| matches!(ip, IpAddr::V4(v) if v.octets()[0] == 100);
            let inb: u64 = recs
                .iter()
                .filter(|r| internet(r.src))
                .map(|r| r.bytes)
                .sum();
            let out: u64 = recs
                .iter()
                .filter(|r| internet(r.dst))
                .map(|r| r.bytes)
                .sum();
            let want = inbound(&m, a, b);
            assert!((inb as f64 - want).abs() <= 2.0 * 48.0, "{inb} vs {want}");
            assert!((out as f64 - want * m.out_ratio()).abs() <= 2.0 * 48.0);
            let ntp: u64 = recs
                .iter()
                .filter(|r| r.src_port == 123 && r.protocol == 17)
                .map(|r| r.bytes)
                .sum();
            if a < 20.0 {
                assert_eq!(ntp, 0);
            } else {
                // The spike's extra (4 of 5 parts of eth1) is NTP toward the target.
                let extra = m.octets_between(0, a, b) * 0.8;
                assert!((ntp as f64 - extra).abs() < 100.0, "{ntp} vs {extra}");
                assert!(
                    recs.iter()
                        .filter(|r| r.src_port == 123)
                        .all(|r| r.dst.to_string() == "203.0.113.7")
                );
            }
        }
    }

    #[test]
    fn sflow_samples_estimate_the_bytes_within_the_sampling_error() {
        let m = model("syn", "198.51.100.0/24");
        let mut enc = Sflow {
            agent: exporter_address(3),
            seq: 0,
            sample_seq: 0,
            pool: 0,
            sampling: 64,
        };
        let (mut got, mut want, mut syn) = (0u64, 0.0, 0u64);
        let mut dsts = std::collections::HashSet::new();
        for t in 20..40 {
            let (a, b) = (f64::from(t), f64::from(t + 1));
            let flows = flows_between(&m, 3, a, b, None);
            let samples = enc.samples(&flows, t as u64);
            let recs = decode(
                &mut Decoder::new(),
                &enc.datagrams(&samples, 1000),
                exporter_address(3),
            );
            assert_eq!(recs.len(), samples.len());
            got += recs.iter().map(|r| r.bytes).sum::<u64>();
            want += inbound(&m, a, b) * (1.0 + m.out_ratio());
            for r in recs.iter().filter(|r| r.tcp_flags == 0x02) {
                syn += r.packets;
                dsts.insert(r.dst);
                assert_eq!(r.bytes, 60 * 64, "60-byte packets, 1 in 64");
            }
        }
        let err = (got as f64 - want).abs() / want;
        assert!(err < 0.03, "{got} vs {want}: {err}");
        assert!(syn > 0);
        assert!(dsts.len() > 100, "spread over the /24: {}", dsts.len());
    }

    #[test]
    fn targets_and_shapes_parse() {
        assert_eq!(
            Target::parse("203.0.113.9/24").unwrap(),
            Target {
                base: Ipv4Addr::new(203, 0, 113, 0),
                len: 24
            }
        );
        assert!(Target::parse("2001:db8::1").is_err());
        assert!(Target::parse("10.0.0.0/2").is_err());
        for n in FlowShape::NAMES {
            assert!(FlowShape::parse(n).is_some(), "{n}");
        }
        assert!(
            Scenario::parse(
                "[[event]]\nat = \"1m\"\nkind = \"drop\"\npercent = 5.0\nflows = \"ntp\"\n"
            )
            .is_err()
        );
        assert!(
            Scenario::parse("[[event]]\nat = \"1m\"\nkind = \"spike\"\nfactor = 2.0\nduration = \"1m\"\nflows = \"bogus\"\n")
                .unwrap_err()
                .contains("memcached")
        );
    }
}
