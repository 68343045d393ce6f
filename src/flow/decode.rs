//! Decoding NetFlow v9 and IPFIX datagrams into [`FlowRecord`]s with `netflow_parser`, and
//! sFlow v5 (version field `0x00000005`) through [`super::sflow`].
//!
//! Templates are cached per (exporter address, observation domain / source id, template id):
//! `netflow_parser`'s `AutoScopedParser` keeps one parser per (address, domain), each with its
//! own template cache, so two routers (or two line cards of one) that reuse a template id for
//! different layouts never read each other's records. The exporter is keyed by its IP alone
//! (not its source port), so a restarted exporter keeps its templates until it sends new
//! ones. Sources, templates and fields are bounded, so a flood of spoofed observation domains,
//! of template ids or of huge templates cannot grow memory without limit: at most
//! [`MAX_SOURCES`] (exporter, domain) pairs (least recently used first out), each with at
//! most [`MAX_TEMPLATES`] templates (and as many options templates), each of at most
//! [`MAX_FIELDS`] fields (a longer template is refused, and its data counted as of an unknown
//! template). `cargo bench --bench flow_ingest` measures the worst case.
//!
//! Sampling: a record's own sampling fields win, then the rate an options record announced for
//! its (exporter, domain), then the exporter's configured `sampling`. The fields read are
//! samplingInterval (34) and samplerRandomInterval (50), each 1 in N, and PSAMP's
//! samplingPacketInterval (305) with samplingPacketSpace (306), RFC 5477: `interval` packets
//! selected, then `space` skipped, so 1 in `(interval + space) / interval` (softflowd's
//! IPFIX announces `-s 10` as 1 and 9); 305 alone is read as 1 in N, as before. Bytes and
//! packets are multiplied by the rate. A rate above [`MAX_SAMPLING`] is absurd: the record is
//! dropped and counted.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use netflow_parser::scoped_parser::AutoScopedParser;
use netflow_parser::variable_versions::ipfix::FlowSetBody as IpfixBody;
use netflow_parser::variable_versions::v9::FlowSetBody as V9Body;
use netflow_parser::{FieldValue, IpfixField, NetflowPacket, NetflowParser};

use super::FlowRecord;

/// The largest sampling rate applied; beyond it a record is dropped as absurd.
pub const MAX_SAMPLING: u64 = 1_000_000;
/// Exporters (address, domain) whose templates are kept at once.
pub const MAX_SOURCES: usize = 1024;
/// Templates kept per (exporter, domain), least recently used first out (exporters use a
/// handful: softflowd 1-2, pmacct and routers a few per flow monitor).
pub const MAX_TEMPLATES: usize = 32;
/// Fields of one template (the parser's default is 10,000, some 200 KB a template; real
/// templates have up to a few dozen).
pub const MAX_FIELDS: usize = 100;

/// Why a datagram was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drop {
    /// Not NetFlow v9, IPFIX or sFlow v5 (NetFlow v5, sFlow v4, garbage): the version field
    /// says something else.
    UnsupportedVersion(u32),
    /// Truncated or inconsistent: lengths that do not add up, a header cut short.
    Malformed,
}

/// What one datagram held, beside its records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Decoded {
    /// Data records decoded (each pushed as a [`FlowRecord`]).
    pub records: u64,
    /// Data sets whose template is not (yet) known: skipped, counted.
    pub unknown_template_sets: u64,
    /// Records dropped for an absurd sampling rate.
    pub absurd_sampling: u64,
    /// Records without addresses or counters (options, or templates without them).
    pub skipped: u64,
}

/// Decodes datagrams of every exporter; one per collector (not shared between threads).
pub struct Decoder {
    parser: AutoScopedParser,
    /// Sampling rates announced by options records, per (exporter, observation domain).
    announced: HashMap<(IpAddr, u32), u64>,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("announced", &self.announced.len())
            .finish()
    }
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

/// Field (information element) numbers read from records; v9 and IPFIX share them.
mod ie {
    pub const OCTETS: u16 = 1;
    pub const PACKETS: u16 = 2;
    pub const PROTOCOL: u16 = 4;
    pub const TCP_FLAGS: u16 = 6;
    pub const SRC_PORT: u16 = 7;
    pub const SRC_V4: u16 = 8;
    pub const DST_PORT: u16 = 11;
    pub const DST_V4: u16 = 12;
    pub const SRC_V6: u16 = 27;
    pub const DST_V6: u16 = 28;
    pub const SAMPLING_INTERVAL: u16 = 34;
    pub const SAMPLER_RANDOM_INTERVAL: u16 = 50;
    pub const SAMPLING_PACKET_INTERVAL: u16 = 305;
    pub const SAMPLING_PACKET_SPACE: u16 = 306;
}

/// The sampling fields of one record (data or options), read into one 1-in-N rate.
#[derive(Clone, Copy, Debug, Default)]
struct Sampling {
    /// samplingInterval (34) or samplerRandomInterval (50): N.
    one_in: Option<u64>,
    /// samplingPacketInterval (305): packets selected in a row.
    packet_interval: Option<u64>,
    /// samplingPacketSpace (306): packets skipped after them.
    packet_space: Option<u64>,
}

impl Sampling {
    /// Reads `v` when `f` is a sampling field; false when it is not one.
    fn read(&mut self, f: u16, v: &FieldValue) -> bool {
        let slot = match f {
            ie::SAMPLING_INTERVAL | ie::SAMPLER_RANDOM_INTERVAL => &mut self.one_in,
            ie::SAMPLING_PACKET_INTERVAL => &mut self.packet_interval,
            ie::SAMPLING_PACKET_SPACE => &mut self.packet_space,
            _ => return false,
        };
        *slot = v.as_u64();
        true
    }

    /// The rate, 1 in N (rounded to the nearest whole N, at least 1), when the fields say.
    fn rate(&self) -> Option<u64> {
        if let Some(n) = self.one_in {
            return Some(n.max(1));
        }
        match (self.packet_interval, self.packet_space) {
            (Some(0), Some(_)) => None,
            (Some(i), Some(s)) => Some((i.saturating_add(s).saturating_add(i / 2) / i).max(1)),
            (None, Some(s)) => Some(s.saturating_add(1)),
            (Some(i), None) => Some(i.max(1)),
            (None, None) => None,
        }
    }
}

impl Decoder {
    /// A decoder with bounded caches.
    pub fn new() -> Decoder {
        let builder = NetflowParser::builder()
            .with_cache_size(MAX_TEMPLATES)
            .with_max_field_count(MAX_FIELDS)
            .with_allowed_versions(&[9, 10]);
        let parser = AutoScopedParser::try_with_builder(builder)
            .and_then(|p| p.with_max_sources(MAX_SOURCES))
            .unwrap_or_default();
        Decoder {
            parser,
            announced: HashMap::new(),
        }
    }

    /// Decodes one datagram from `exporter` into `out` (appended); `sampling` is the
    /// exporter's configured rate, used when the datagram does not say.
    pub fn decode(
        &mut self,
        exporter: IpAddr,
        data: &[u8],
        sampling: u64,
        out: &mut Vec<FlowRecord>,
    ) -> Result<Decoded, Drop> {
        let version = match data {
            [a, b, ..] => u16::from_be_bytes([*a, *b]),
            _ => return Err(Drop::Malformed),
        };
        if data.starts_with(&[0, 0, 0, 5]) {
            return super::sflow::decode(data, out);
        }
        if version != 9 && version != 10 {
            let v32 = match data {
                [a, b, c, d, ..] => u32::from_be_bytes([*a, *b, *c, *d]),
                _ => u32::from(version),
            };
            return Err(Drop::UnsupportedVersion(if version == 0 {
                v32
            } else {
                u32::from(version)
            }));
        }
        if version == 10 && !ipfix_length_ok(data) {
            return Err(Drop::Malformed);
        }
        let result = self
            .parser
            .parse_from_source(SocketAddr::new(exporter, 0), data);
        if result.error.is_some() && result.packets.is_empty() {
            return Err(Drop::Malformed);
        }
        let mut d = Decoded::default();
        let before = out.len();
        for packet in &result.packets {
            match packet {
                NetflowPacket::V9(v9) => {
                    let domain = v9.header.source_id;
                    for fs in &v9.flowsets {
                        match &fs.body {
                            V9Body::Data(data) => {
                                let rate = self.rate(exporter, domain, sampling);
                                for rec in &data.fields {
                                    let pairs = rec.iter().map(|(f, v)| (u16::from(*f), v));
                                    push(pairs, rate, &mut d, out);
                                }
                            }
                            V9Body::OptionsData(od) => {
                                for rec in &od.fields {
                                    let pairs =
                                        rec.options_fields.iter().map(|(f, v)| (u16::from(*f), v));
                                    self.announce(exporter, domain, pairs);
                                }
                            }
                            V9Body::NoTemplate(_) => d.unknown_template_sets += 1,
                            _ => {}
                        }
                    }
                }
                NetflowPacket::IPFix(ipfix) => {
                    let domain = ipfix.header.observation_domain_id;
                    for fs in &ipfix.flowsets {
                        match &fs.body {
                            IpfixBody::Data(data) => {
                                let rate = self.rate(exporter, domain, sampling);
                                for rec in &data.fields {
                                    let pairs = rec.iter().filter_map(|(f, v)| Some((iana(f)?, v)));
                                    push(pairs, rate, &mut d, out);
                                }
                            }
                            IpfixBody::OptionsData(od) => {
                                for rec in &od.fields {
                                    let pairs = rec.iter().filter_map(|(f, v)| Some((iana(f)?, v)));
                                    self.announce(exporter, domain, pairs);
                                }
                            }
                            IpfixBody::NoTemplate(_) => d.unknown_template_sets += 1,
                            _ => {}
                        }
                    }
                }
                // v5 and v7 are filtered out by `with_allowed_versions`.
                _ => {}
            }
        }
        d.records = (out.len() - before) as u64;
        if result.error.is_some() {
            // Part of the datagram decoded, the rest did not: what decoded is kept, the
            // datagram still counts as malformed.
            return Err(Drop::Malformed);
        }
        Ok(d)
    }

    /// The sampling rate for data of (exporter, domain) without a rate of its own.
    fn rate(&self, exporter: IpAddr, domain: u32, configured: u64) -> u64 {
        self.announced
            .get(&(exporter, domain))
            .copied()
            .unwrap_or(configured)
    }

    fn announce<'a>(
        &mut self,
        exporter: IpAddr,
        domain: u32,
        pairs: impl Iterator<Item = (u16, &'a FieldValue)>,
    ) {
        let mut sampling = Sampling::default();
        for (f, v) in pairs {
            sampling.read(f, v);
        }
        // Bounded like the parser's sources: an exporter announces one rate per domain.
        if let Some(n) = sampling.rate()
            && (self.announced.len() < MAX_SOURCES
                || self.announced.contains_key(&(exporter, domain)))
        {
            self.announced.insert((exporter, domain), n);
        }
    }
}

/// The IANA element number of an IPFIX field (enterprise fields are not read).
fn iana(f: &IpfixField) -> Option<u16> {
    use netflow_parser::variable_versions::ipfix::lookup::IANAIPFixField as F;
    let IpfixField::IANA(x) = f else {
        return None;
    };
    Some(match x {
        F::OctetDeltaCount => ie::OCTETS,
        F::PacketDeltaCount => ie::PACKETS,
        F::ProtocolIdentifier => ie::PROTOCOL,
        F::TcpControlBits => ie::TCP_FLAGS,
        F::SourceTransportPort => ie::SRC_PORT,
        F::SourceIpv4address => ie::SRC_V4,
        F::DestinationTransportPort => ie::DST_PORT,
        F::DestinationIpv4address => ie::DST_V4,
        F::SourceIpv6address => ie::SRC_V6,
        F::DestinationIpv6address => ie::DST_V6,
        F::SamplingInterval => ie::SAMPLING_INTERVAL,
        F::SamplerRandomInterval => ie::SAMPLER_RANDOM_INTERVAL,
        F::SamplingPacketInterval => ie::SAMPLING_PACKET_INTERVAL,
        F::SamplingPacketSpace => ie::SAMPLING_PACKET_SPACE,
        _ => return None,
    })
}

/// An IPFIX message's length field must match the datagram (RFC 7011 3.1): a truncated
/// datagram is malformed, not a shorter message.
fn ipfix_length_ok(data: &[u8]) -> bool {
    match data {
        [_, _, a, b, ..] => {
            let len = usize::from(u16::from_be_bytes([*a, *b]));
            len >= 16 && len <= data.len()
        }
        _ => false,
    }
}

/// Builds a record from its fields and appends it, or counts why not.
fn push<'a>(
    pairs: impl Iterator<Item = (u16, &'a FieldValue)>,
    rate: u64,
    d: &mut Decoded,
    out: &mut Vec<FlowRecord>,
) {
    let mut r = FlowRecord::default();
    let (mut src, mut dst, mut octets) = (None, None, None);
    let mut sampling = Sampling::default();
    for (f, v) in pairs {
        if sampling.read(f, v) {
            continue;
        }
        match f {
            ie::OCTETS => octets = v.as_u64(),
            ie::PACKETS => r.packets = v.as_u64().unwrap_or(0),
            ie::PROTOCOL => r.protocol = v.as_u8().unwrap_or(0),
            ie::TCP_FLAGS => r.tcp_flags = tcp_flags(v),
            ie::SRC_PORT => r.src_port = v.as_u16().unwrap_or(0),
            ie::DST_PORT => r.dst_port = v.as_u16().unwrap_or(0),
            ie::SRC_V4 | ie::SRC_V6 => src = IpAddr::try_from(v).ok(),
            ie::DST_V4 | ie::DST_V6 => dst = IpAddr::try_from(v).ok(),
            _ => {}
        }
    }
    let (Some(src), Some(dst), Some(octets)) = (src, dst, octets) else {
        d.skipped += 1;
        return;
    };
    let rate = sampling.rate().unwrap_or(rate).max(1);
    if rate > MAX_SAMPLING {
        d.absurd_sampling += 1;
        return;
    }
    r.src = src;
    r.dst = dst;
    r.bytes = octets.saturating_mul(rate);
    r.packets = r.packets.saturating_mul(rate);
    r.sampling = rate as u32;
    out.push(r);
}

fn tcp_flags(v: &FieldValue) -> u8 {
    match v {
        FieldValue::TcpControlBits(bits, _) => (u16::from(*bits) & 0xff) as u8,
        other => other.as_u8().unwrap_or(0),
    }
}
