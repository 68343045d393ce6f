//! Attack evidence: a short, bounded summary of the last minutes of flows per exporting
//! switch, and a classifier that names what a spike on that switch most likely is, with the
//! numbers that justify it ("likely NTP reflection toward 203.0.113.7 (acme): 1.6 Gbit/s, 94%
//! of the traffic, ~4,100 sources, 468-byte packets").
//!
//! Bounded memory: per switch, the last [`MINUTES`] minutes; per minute at most
//! [`MAX_DESTINATIONS`] destinations (the rest are summed as "other"), each with a 64-register
//! HyperLogLog of its sources (about 13 % error; enough to tell 5 from 5,000) and its four
//! heaviest (protocol, source port) pairs (space-saving replacement).

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Mutex;

use super::FlowRecord;
use super::table::FlowModel;
use crate::config::Topology;
use crate::format::{format_bps, significant};

/// Minutes of summaries kept per switch.
pub const MINUTES: usize = 3;
/// Destinations tracked per switch and minute.
pub const MAX_DESTINATIONS: usize = 10_000;
/// (protocol, port) pairs tracked per switch and minute.
const MAX_PORTS: usize = 1024;

const UDP: u8 = 17;
const TCP: u8 = 6;
const ICMP: u8 = 1;
const ICMP6: u8 = 58;
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

/// UDP source ports of the common reflection/amplification attacks, with their names.
pub const AMPLIFIERS: &[(u16, &str)] = &[
    (19, "chargen"),
    (53, "DNS"),
    (123, "NTP"),
    (161, "SNMP"),
    (389, "CLDAP"),
    (1900, "SSDP"),
    (11211, "memcached"),
];

/// A 64-register HyperLogLog: distinct counts in 64 bytes.
#[derive(Clone, Debug)]
struct Hll([u8; 64]);

impl Default for Hll {
    fn default() -> Self {
        Hll([0; 64])
    }
}

impl Hll {
    fn add(&mut self, ip: &IpAddr) {
        let mut h = DefaultHasher::new();
        ip.hash(&mut h);
        let x = h.finish();
        let idx = (x & 63) as usize;
        let rank = ((x >> 6) | (1 << 58)).trailing_zeros() as u8 + 1;
        if rank > self.0[idx] {
            self.0[idx] = rank;
        }
    }

    fn merge(&mut self, o: &Hll) {
        for (a, b) in self.0.iter_mut().zip(o.0.iter()) {
            *a = (*a).max(*b);
        }
    }

    fn estimate(&self) -> f64 {
        let m = 64.0;
        let sum: f64 = self.0.iter().map(|r| 2f64.powi(-i32::from(*r))).sum();
        let e = 0.709 * m * m / sum;
        let zeros = self.0.iter().filter(|r| **r == 0).count();
        if e <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            e
        }
    }
}

/// Traffic toward one destination in one minute.
#[derive(Clone, Debug, Default)]
struct Dst {
    bytes: u64,
    packets: u64,
    tcp_packets: u64,
    syn_packets: u64,
    sources: Hll,
    /// The heaviest (protocol, source port, bytes), space-saving.
    ports: [(u8, u16, u64); 4],
    /// Bytes by protocol class: UDP, TCP, ICMP, other.
    protos: [u64; 4],
    /// When its first and last records arrived (ms; 0: none yet): its rate is over this
    /// span, not over the whole window (an attack that began 10 s ago is not averaged
    /// over three minutes).
    first_ms: i64,
    last_ms: i64,
}

fn proto_class(p: u8) -> usize {
    match p {
        UDP => 0,
        TCP => 1,
        ICMP | ICMP6 => 2,
        _ => 3,
    }
}

impl Dst {
    fn add(&mut self, r: &FlowRecord, now_ms: i64) {
        if self.first_ms == 0 || now_ms < self.first_ms {
            self.first_ms = now_ms;
        }
        self.last_ms = self.last_ms.max(now_ms);
        self.bytes = self.bytes.saturating_add(r.bytes);
        self.packets = self.packets.saturating_add(r.packets);
        self.protos[proto_class(r.protocol)] += r.bytes;
        if r.protocol == TCP {
            self.tcp_packets += r.packets;
            if r.tcp_flags & (SYN | ACK) == SYN {
                self.syn_packets += r.packets;
            }
        }
        self.sources.add(&r.src);
        bump(&mut self.ports, (r.protocol, r.src_port), r.bytes);
    }

    fn merge(&mut self, o: &Dst) {
        if o.first_ms != 0 && (self.first_ms == 0 || o.first_ms < self.first_ms) {
            self.first_ms = o.first_ms;
        }
        self.last_ms = self.last_ms.max(o.last_ms);
        self.bytes += o.bytes;
        self.packets += o.packets;
        self.tcp_packets += o.tcp_packets;
        self.syn_packets += o.syn_packets;
        self.sources.merge(&o.sources);
        for (a, b) in self.protos.iter_mut().zip(o.protos.iter()) {
            *a += b;
        }
        for p in o.ports.iter().filter(|p| p.2 > 0) {
            bump(&mut self.ports, (p.0, p.1), p.2);
        }
    }
}

/// Adds `bytes` to `key` in a space-saving table: an unknown key replaces the lightest entry
/// and inherits its count (an overestimate, never an underestimate).
fn bump(ports: &mut [(u8, u16, u64); 4], key: (u8, u16), bytes: u64) {
    if let Some(e) = ports.iter_mut().find(|e| (e.0, e.1) == key && e.2 > 0) {
        e.2 += bytes;
    } else if let Some(e) = ports.iter_mut().min_by_key(|e| e.2) {
        *e = (key.0, key.1, e.2 + bytes);
    }
}

/// One switch's flows in one minute.
#[derive(Clone, Debug, Default)]
struct Minute {
    minute: i64,
    bytes: u64,
    packets: u64,
    dsts: HashMap<IpAddr, Dst>,
    other_bytes: u64,
    sources: Hll,
    /// Bytes by (protocol, source port), bounded.
    sports: HashMap<(u8, u16), u64>,
}

impl Minute {
    fn add(&mut self, r: &FlowRecord, now_ms: i64) {
        self.bytes = self.bytes.saturating_add(r.bytes);
        self.packets = self.packets.saturating_add(r.packets);
        self.sources.add(&r.src);
        let key = (r.protocol, r.src_port);
        if self.sports.len() < MAX_PORTS || self.sports.contains_key(&key) {
            *self.sports.entry(key).or_default() += r.bytes;
        }
        if self.dsts.len() < MAX_DESTINATIONS || self.dsts.contains_key(&r.dst) {
            self.dsts.entry(r.dst).or_default().add(r, now_ms);
        } else {
            self.other_bytes = self.other_bytes.saturating_add(r.bytes);
        }
    }
}

/// The recent flows of every exporting switch, shared by the collector (writing) and the
/// notify stage (reading when an alert fires).
#[derive(Debug, Default)]
pub struct Evidence {
    switches: Mutex<HashMap<String, VecDeque<Minute>>>,
}

/// What the traffic most likely is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Class {
    /// UDP reflection from a well-known amplifier port (the service's name).
    Amplification(&'static str),
    /// TCP SYN without ACK, small packets.
    SynFlood,
    /// Mostly UDP toward one destination (or a customer's prefixes), no amplifier port,
    /// unlike the usual traffic.
    UdpFlood,
    /// Mostly ICMP toward one destination (or a customer's prefixes).
    IcmpFlood,
    /// A large share toward one destination (or a customer's prefixes) that looks unlike
    /// the usual traffic (protocols, packet sizes), no other pattern.
    Volumetric,
    /// Nothing dominates, or what dominates looks like the usual traffic: many sources, the
    /// usual protocol mix and packet sizes (a legitimate surge looks like this).
    NotAnAttack,
}

/// A summary of the last minutes on some switches, with its classification.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// The classification.
    pub class: Class,
    /// The heaviest destination.
    pub target: IpAddr,
    /// Its customer, when its address is in a customer prefix.
    pub customer: Option<String>,
    /// Bits per second toward it over the window.
    pub bps: f64,
    /// Its share of all the traffic of the switches (of the traffic toward the customer,
    /// for [`Evidence::summary_toward`]).
    pub share: f64,
    /// Estimated distinct sources toward it.
    pub sources: f64,
    /// Its average packet size in bytes.
    pub avg_packet: f64,
    /// Destinations seen (capped per minute).
    pub destinations: usize,
    /// Destinations the classified traffic went to: 1 for one address, more when it was
    /// spread over a customer's prefixes (or one /24, /48 without a customer).
    pub targets: usize,
    /// Seconds summarised.
    pub window_secs: f64,
    /// Seconds the traffic toward the target was seen within them (its rate, `bps`, is
    /// over these).
    pub active_secs: f64,
}

impl Summary {
    /// One line for people.
    pub fn describe(&self) -> String {
        let whom = match (&self.customer, self.targets) {
            (Some(c), 0 | 1) => format!("{} ({c})", self.target),
            (None, 0 | 1) => self.target.to_string(),
            (Some(c), n) => format!(
                "{} addresses of {c} (busiest {})",
                group(n as u64),
                self.target
            ),
            (None, n) => format!("{} addresses (busiest {})", group(n as u64), self.target),
        };
        let what = match &self.class {
            Class::Amplification(s) => format!("likely {s} reflection toward {whom}"),
            Class::SynFlood => format!("likely SYN flood toward {whom}"),
            Class::UdpFlood => format!("likely UDP flood toward {whom}"),
            Class::IcmpFlood => format!("likely ICMP flood toward {whom}"),
            Class::Volumetric if self.targets > 1 => {
                format!("likely volumetric attack toward {whom}")
            }
            Class::Volumetric => format!("likely volumetric attack on one address, {whom}"),
            Class::NotAnAttack => format!(
                "not an attack by its shape (many sources, the usual protocols and packet \
                 sizes): traffic over {} destinations, the busiest {whom}",
                self.destinations
            ),
        };
        format!(
            "{what}: {}, {}% of the traffic, ~{} sources, {}-byte packets (for {} s; flows of \
             the last {} s)",
            format_bps(self.bps),
            significant(self.share * 100.0),
            group(self.sources.round() as u64),
            self.avg_packet.round(),
            self.active_secs.round(),
            self.window_secs.round()
        )
    }
}

/// 4100 -> "4,100".
fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Evidence {
    /// An empty store of evidence.
    pub fn new() -> Evidence {
        Evidence::default()
    }

    /// Adds the records of one datagram from `switch`, received at `now_ms`.
    pub fn record(&self, switch: &str, now_ms: i64, records: &[FlowRecord]) {
        if records.is_empty() {
            return;
        }
        let minute = now_ms.div_euclid(60_000);
        let mut all = match self.switches.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if !all.contains_key(switch) {
            all.insert(switch.to_string(), VecDeque::new());
        }
        let Some(q) = all.get_mut(switch) else {
            return;
        };
        if q.back().is_none_or(|m| m.minute != minute) {
            q.push_back(Minute {
                minute,
                ..Minute::default()
            });
            while q.len() > MINUTES {
                q.pop_front();
            }
        }
        if let Some(m) = q.back_mut() {
            for r in records {
                m.add(r, now_ms);
            }
        }
    }

    /// What is held: (switch-minutes, destinations, (protocol, source port) pairs), for
    /// benchmarks and tests of its bounds.
    pub fn entries(&self) -> (usize, usize, usize) {
        let all = match self.switches.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        all.values().flatten().fold((0, 0, 0), |(m, d, p), x| {
            (m + 1, d + x.dsts.len(), p + x.sports.len())
        })
    }

    /// The summary of the last [`MINUTES`] minutes up to `now_ms` on `switches` (every
    /// switch when empty), or `None` without flows.
    pub fn summary(&self, switches: &[&str], now_ms: i64, model: &FlowModel) -> Option<Summary> {
        self.summary_toward(switches, None, now_ms, model)
    }

    /// [`Evidence::summary`] with the target chosen among the destinations inside the
    /// prefixes of customer `toward` (an index of `model`), when given.
    pub fn summary_toward(
        &self,
        switches: &[&str],
        toward: Option<u32>,
        now_ms: i64,
        model: &FlowModel,
    ) -> Option<Summary> {
        let first = now_ms.div_euclid(60_000) - MINUTES as i64 + 1;
        let all = match self.switches.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let mut dsts: HashMap<IpAddr, Dst> = HashMap::new();
        let (mut bytes, mut sports) = (0u64, HashMap::<(u8, u16), u64>::new());
        let mut minutes: Vec<i64> = Vec::new();
        for (name, q) in all.iter() {
            if !switches.is_empty() && !switches.contains(&name.as_str()) {
                continue;
            }
            for m in q.iter().filter(|m| m.minute >= first) {
                bytes += m.bytes;
                if !minutes.contains(&m.minute) {
                    minutes.push(m.minute);
                }
                for (k, v) in &m.sports {
                    *sports.entry(*k).or_default() += v;
                }
                for (ip, d) in &m.dsts {
                    dsts.entry(*ip).or_default().merge(d);
                }
            }
        }
        drop(all);
        let of_interest = |ip: &IpAddr| toward.is_none() || model.customer_of(*ip) == toward;
        let (target, d) = dsts
            .iter()
            .filter(|(ip, _)| of_interest(ip))
            .max_by_key(|(_, d)| d.bytes)?;
        let all_mix = dsts.values().fold(Mix::default(), |m, d| m.plus(d));
        if toward.is_some() {
            // Shares of the traffic toward the customer's addresses.
            bytes = dsts
                .iter()
                .filter(|(ip, _)| of_interest(ip))
                .map(|(_, d)| d.bytes)
                .sum();
        }
        if bytes == 0 || d.packets == 0 {
            return None;
        }
        let oldest = minutes.iter().min().copied().unwrap_or(first);
        let window_secs =
            ((now_ms - oldest * 60_000) as f64 / 1000.0).clamp(1.0, 60.0 * MINUTES as f64);
        // Seconds the traffic toward it has been seen (one export interval more than the
        // span of its records), at most the window.
        let active =
            |d: &Dst| ((d.last_ms - d.first_ms) as f64 / 1000.0 + 1.0).clamp(1.0, window_secs);
        let summary = |class: Class, target: IpAddr, d: &Dst, targets: usize| Summary {
            class,
            target,
            customer: model
                .customer_of(target)
                .and_then(|i| model.customers().get(i as usize).cloned()),
            bps: d.bytes as f64 * 8.0 / active(d),
            share: d.bytes as f64 / bytes as f64,
            sources: d.sources.estimate(),
            avg_packet: d.bytes as f64 / d.packets.max(1) as f64,
            destinations: dsts.len(),
            targets,
            window_secs,
            active_secs: active(d),
        };
        let share = d.bytes as f64 / bytes as f64;
        let class = classify(d, share, bytes, &sports, &all_mix.minus(d), true);
        if class != Class::NotAnAttack {
            return Some(summary(class, *target, d, 1));
        }
        // Many destinations: the traffic toward one customer's addresses (or one /24, /48
        // without a customer) taken together.
        let mut groups: HashMap<Group, (Dst, usize, IpAddr, u64)> = HashMap::new();
        for (ip, x) in dsts.iter().filter(|(ip, _)| of_interest(ip)) {
            let g = groups
                .entry(group_of(*ip, model))
                .or_insert_with(|| (Dst::default(), 0, *ip, 0));
            g.0.merge(x);
            g.1 += 1;
            if x.bytes > g.3 {
                (g.2, g.3) = (*ip, x.bytes);
            }
        }
        if let Some((gd, n, busiest, _)) = groups
            .values()
            .filter(|g| g.1 >= MIN_SPREAD)
            .max_by_key(|g| g.0.bytes)
        {
            let gshare = gd.bytes as f64 / bytes as f64;
            let class = classify(gd, gshare, bytes, &sports, &all_mix.minus(gd), false);
            if class != Class::NotAnAttack {
                return Some(summary(class, *busiest, gd, *n));
            }
        }
        Some(summary(Class::NotAnAttack, *target, d, 1))
    }
}

/// Destinations an attack must reach to be called spread over many.
const MIN_SPREAD: usize = 4;

/// A group of destinations: a customer, or a /24 (IPv4) or /48 (IPv6) without one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Group {
    Customer(u32),
    Net(IpAddr),
}

fn group_of(ip: IpAddr, model: &FlowModel) -> Group {
    match model.customer_of(ip) {
        Some(c) => Group::Customer(c),
        None => Group::Net(match ip {
            IpAddr::V4(a) => IpAddr::V4((u32::from(a) & 0xffff_ff00).into()),
            IpAddr::V6(a) => IpAddr::V6((u128::from(a) & !((1u128 << 80) - 1)).into()),
        }),
    }
}

/// Bytes, packets and bytes by protocol class of some traffic: what the usual traffic
/// looks like, to compare a target's with.
#[derive(Clone, Copy, Debug, Default)]
struct Mix {
    bytes: u64,
    packets: u64,
    protos: [u64; 4],
}

impl Mix {
    fn plus(mut self, d: &Dst) -> Mix {
        self.bytes += d.bytes;
        self.packets += d.packets;
        for (a, b) in self.protos.iter_mut().zip(d.protos.iter()) {
            *a += b;
        }
        self
    }

    /// This mix without `d`'s traffic (the rest).
    fn minus(mut self, d: &Dst) -> Mix {
        self.bytes = self.bytes.saturating_sub(d.bytes);
        self.packets = self.packets.saturating_sub(d.packets);
        for (a, b) in self.protos.iter_mut().zip(d.protos.iter()) {
            *a = a.saturating_sub(*b);
        }
        self
    }

    fn share(&self, class: usize) -> f64 {
        self.protos[class] as f64 / self.bytes.max(1) as f64
    }

    fn avg_packet(&self) -> f64 {
        self.bytes as f64 / self.packets.max(1) as f64
    }
}

/// Whether `d` looks like the rest of the traffic (`rest`): each protocol class's share of
/// its bytes within 0.2 of the rest's and its packets 0.7 to 1.4 times the rest's size. With
/// too little other traffic to compare (under 5 % of `d`'s) nothing is usual.
fn usual(d: &Dst, rest: &Mix) -> bool {
    if rest.bytes == 0 || (rest.bytes as f64) < 0.05 * d.bytes as f64 {
        return false;
    }
    let mine = Mix::default().plus(d);
    let ratio = mine.avg_packet() / rest.avg_packet().max(1.0);
    (0..4).all(|c| (mine.share(c) - rest.share(c)).abs() <= 0.2) && (0.7..=1.4).contains(&ratio)
}

/// Names the traffic toward `d` (one destination or a group; a `share` of all `bytes`),
/// compared with the `rest` of the traffic where the usual matters (a volumetric attack or
/// a UDP flood is traffic unlike the usual; a legitimate surge looks like it).
fn classify(
    d: &Dst,
    share: f64,
    bytes: u64,
    sports: &HashMap<(u8, u16), u64>,
    rest: &Mix,
    single: bool,
) -> Class {
    let of = |x: u64| x as f64 / d.bytes.max(1) as f64;
    let amp = |proto: u8, port: u16| {
        (proto == UDP)
            .then(|| AMPLIFIERS.iter().find(|(p, _)| *p == port).map(|(_, n)| *n))
            .flatten()
    };
    if let Some(&(p, port, b)) = d.ports.iter().max_by_key(|e| e.2)
        && let Some(name) = amp(p, port)
        && of(b) >= 0.6
        && share >= 0.1
    {
        // Most of the busiest destination's bytes from one amplifier port: reflection, even
        // while other traffic on the switch (or before the attack, in the window) is larger.
        return Class::Amplification(name);
    }
    let avg = d.bytes as f64 / d.packets.max(1) as f64;
    if share >= 0.3
        && d.tcp_packets as f64 >= 0.6 * d.packets as f64
        && d.syn_packets as f64 >= 0.6 * d.tcp_packets as f64
        && avg < 120.0
    {
        return Class::SynFlood;
    }
    let is_usual = usual(d, rest);
    if share >= 0.3 && of(d.protos[0]) >= 0.8 && !(is_usual && rest.share(0) >= 0.6) {
        return Class::UdpFlood;
    }
    if share >= 0.3 && of(d.protos[2]) >= 0.8 {
        return Class::IcmpFlood;
    }
    // Unlike the usual traffic; or, with nothing to compare, one address taking most of it.
    let comparable = rest.bytes as f64 >= 0.05 * d.bytes as f64;
    if (share >= 0.4 && comparable && !is_usual) || (single && !comparable && share >= 0.8) {
        return Class::Volumetric;
    }
    // Reflection spread over many destinations (carpet bombing): one amplifier port carries
    // most of all traffic even though no destination does.
    if let Some((&(p, port), &b)) = sports.iter().max_by_key(|(_, b)| **b)
        && let Some(name) = amp(p, port)
        && b as f64 >= 0.6 * bytes as f64
    {
        return Class::Amplification(name);
    }
    Class::NotAnAttack
}

/// What the notify stage holds to describe an alert: the shared evidence and the model in
/// force (for the target's customer).
#[derive(Clone)]
pub struct FlowEvidence {
    /// The collector's recent flows.
    pub evidence: std::sync::Arc<Evidence>,
    /// The exporters and prefixes in force.
    pub model: super::collector::ModelSource,
}

impl std::fmt::Debug for FlowEvidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowEvidence").finish_non_exhaustive()
    }
}

impl FlowEvidence {
    /// The evidence line for an alert on `entity` at `now_ms`, when flows exist: the flows
    /// of the entity's switches (see [`switches_of`]); for a customer known by prefixes
    /// only, the traffic toward its addresses on every exporter.
    pub fn line(&self, entity: &str, topology: &Topology, now_ms: i64) -> Option<String> {
        self.lines(entity, topology, now_ms).map(|(full, _)| full)
    }

    /// [`FlowEvidence::line`], and the same line without customer names (for readers who
    /// may not see them).
    pub fn lines(
        &self,
        entity: &str,
        topology: &Topology,
        now_ms: i64,
    ) -> Option<(String, String)> {
        let model = (self.model)();
        let switches = switches_of(entity, topology);
        let toward = entity
            .strip_prefix("customer:")
            .filter(|_| switches.is_empty())
            .and_then(|c| model.customers().iter().position(|x| x == c))
            .map(|i| i as u32);
        if entity.starts_with("customer:") && switches.is_empty() && toward.is_none() {
            return None;
        }
        let names: Vec<&str> = switches.iter().map(String::as_str).collect();
        let s = self
            .evidence
            .summary_toward(&names, toward, now_ms, &model)?;
        let anonymous = Summary {
            customer: None,
            ..s.clone()
        };
        Some((
            format!("Flows: {}", s.describe()),
            format!("Flows: {}", anonymous.describe()),
        ))
    }
}

/// The switches whose flows explain an alert on `entity` (`kind:name`): a port's or a
/// switch's own switch, a site's switches, the switches of a product line's or a customer's
/// ports; empty (every exporter) for anything else or a customer without ports.
pub fn switches_of(entity: &str, topology: &Topology) -> Vec<String> {
    let Some((kind, name)) = entity.split_once(':') else {
        return Vec::new();
    };
    let mut out: Vec<String> = match kind {
        "port" => name
            .split_once('/')
            .map(|(s, _)| vec![s.to_string()])
            .unwrap_or_default(),
        "switch" => vec![name.to_string()],
        "site" => topology
            .switches
            .iter()
            .filter(|s| s.site == name)
            .map(|s| s.name.clone())
            .collect(),
        "product_line" | "customer" => {
            let listed = if kind == "product_line" {
                topology.product_lines.get(name).map(|p| &p.ports)
            } else {
                topology.customers.get(name).map(|c| &c.ports)
            };
            let labelled = topology.ports().filter(|p| {
                let l = &p.labels;
                let v = if kind == "product_line" {
                    &l.product_line
                } else {
                    &l.customer
                };
                v.as_deref() == Some(name)
            });
            listed
                .into_iter()
                .flatten()
                .map(|k| k.switch.clone())
                .chain(labelled.map(|p| p.labels.switch.clone()))
                .collect()
        }
        _ => Vec::new(),
    };
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CustomerPrefix, FlowSettings};

    fn model() -> FlowModel {
        FlowModel::new(&FlowSettings {
            listen: vec![],
            exporters: vec![],
            prefixes: vec![CustomerPrefix {
                prefix: "203.0.113.0/24".parse().unwrap(),
                customer: "acme".into(),
            }],
        })
    }

    /// 1 in `n` deterministic pseudo-random numbers.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            self.0 >> 33
        }
        fn ip(&mut self) -> IpAddr {
            IpAddr::from((self.next() as u32).to_be_bytes())
        }
    }

    fn rec(
        src: IpAddr,
        dst: &str,
        proto: u8,
        sport: u16,
        flags: u8,
        pkts: u64,
        size: u64,
    ) -> FlowRecord {
        FlowRecord {
            src,
            dst: dst.parse().unwrap(),
            src_port: sport,
            dst_port: 40000,
            protocol: proto,
            tcp_flags: flags,
            bytes: pkts * size,
            packets: pkts,
            sampling: 1,
        }
    }

    /// Ordinary traffic: many sources, many destinations, TCP 443 and some UDP.
    fn background(e: &Evidence, now: i64, g: &mut Lcg) {
        let recs: Vec<FlowRecord> = (0..2000)
            .map(|i| {
                let dst = format!("198.51.100.{}", i % 200);
                if i % 5 == 0 {
                    rec(g.ip(), &dst, UDP, 443, 0, 10, 1200)
                } else {
                    rec(g.ip(), &dst, TCP, 443, 0x18, 20, 900)
                }
            })
            .collect();
        e.record("edge-1", now, &recs);
    }

    fn attack(e: &Evidence, now: i64, g: &mut Lcg, proto: u8, sport: u16, flags: u8, size: u64) {
        let recs: Vec<FlowRecord> = (0..4000)
            .map(|_| rec(g.ip(), "203.0.113.7", proto, sport, flags, 100, size))
            .collect();
        e.record("edge-1", now, &recs);
    }

    const NOW: i64 = 1_700_000_030_000;

    #[test]
    fn each_attack_class_is_named_and_a_surge_is_not_an_attack() {
        let m = model();
        for (proto, sport, flags, size, want) in [
            (UDP, 123, 0, 468, Class::Amplification("NTP")),
            (UDP, 53, 0, 1400, Class::Amplification("DNS")),
            (UDP, 11211, 0, 1400, Class::Amplification("memcached")),
            (UDP, 1900, 0, 300, Class::Amplification("SSDP")),
            (TCP, 40123, SYN, 60, Class::SynFlood),
            (UDP, 40123, 0, 1000, Class::UdpFlood),
            (ICMP, 0, 0, 1000, Class::IcmpFlood),
            (TCP, 443, 0x18, 1400, Class::Volumetric),
        ] {
            let e = Evidence::new();
            let mut g = Lcg(7);
            background(&e, NOW, &mut g);
            attack(&e, NOW, &mut g, proto, sport, flags, size);
            let s = e.summary(&["edge-1"], NOW + 1000, &m).unwrap();
            assert_eq!(s.class, want, "{}", s.describe());
            assert_eq!(s.customer.as_deref(), Some("acme"));
            assert_eq!(s.target.to_string(), "203.0.113.7");
            // 4000 sources, within the estimator's error.
            assert!((3000.0..5000.0).contains(&s.sources), "{}", s.sources);
            assert!((s.avg_packet - size as f64).abs() < 1.0);
        }
        let e = Evidence::new();
        let mut g = Lcg(9);
        for _ in 0..4 {
            background(&e, NOW, &mut g);
        }
        let s = e.summary(&[], NOW + 1000, &m).unwrap();
        assert_eq!(s.class, Class::NotAnAttack, "{}", s.describe());
        assert!(e.summary(&["other"], NOW, &m).is_none());
    }

    /// 4,000 sources toward acme: the background's mix (a surge) or a UDP flood, to one
    /// address or spread over its /24.
    fn toward_acme(e: &Evidence, g: &mut Lcg, usual_mix: bool, spread: bool) {
        let recs: Vec<FlowRecord> = (0..4000)
            .map(|i| {
                let dst = if spread {
                    format!("203.0.113.{}", i % 250 + 1)
                } else {
                    "203.0.113.7".to_string()
                };
                match (usual_mix, i % 5) {
                    (true, 0) => rec(g.ip(), &dst, UDP, 443, 0, 10, 1200),
                    (true, _) => rec(g.ip(), &dst, TCP, 443, 0x18, 20, 900),
                    (false, _) => rec(g.ip(), &dst, UDP, 40_000 + (i % 999) as u16, 0, 20, 512),
                }
            })
            .collect();
        e.record("edge-1", NOW, &recs);
    }

    #[test]
    fn a_surge_like_the_usual_traffic_is_no_attack_and_a_spread_flood_is() {
        let m = model();
        for spread in [false, true] {
            let e = Evidence::new();
            let mut g = Lcg(21);
            background(&e, NOW, &mut g);
            toward_acme(&e, &mut g, true, spread);
            let s = e.summary(&["edge-1"], NOW + 1000, &m).unwrap();
            assert_eq!(
                s.class,
                Class::NotAnAttack,
                "spread {spread}: {}",
                s.describe()
            );
            assert!(s.describe().starts_with("not an attack by its shape"));

            let e = Evidence::new();
            background(&e, NOW, &mut g);
            toward_acme(&e, &mut g, false, spread);
            let s = e.summary(&["edge-1"], NOW + 1000, &m).unwrap();
            assert_eq!(
                s.class,
                Class::UdpFlood,
                "spread {spread}: {}",
                s.describe()
            );
            assert_eq!(s.customer.as_deref(), Some("acme"));
            if spread {
                assert_eq!(s.targets, 250, "{}", s.describe());
                assert!(
                    s.describe().starts_with(
                        "likely UDP flood toward 250 addresses of acme (busiest 203.0.113."
                    ),
                    "{}",
                    s.describe()
                );
                assert!(s.share > 0.5, "{}", s.describe());
            } else {
                assert_eq!(s.targets, 1);
            }
        }
    }

    #[test]
    fn the_line_says_what_whom_how_much() {
        let m = model();
        let e = Evidence::new();
        let mut g = Lcg(3);
        attack(&e, NOW, &mut g, UDP, 123, 0, 468);
        let line = e.summary(&["edge-1"], NOW + 30_000, &m).unwrap().describe();
        assert!(
            line.starts_with("likely NTP reflection toward 203.0.113.7 (acme): "),
            "{line}"
        );
        assert!(
            line.contains("100% of the traffic") && line.contains("468-byte packets"),
            "{line}"
        );
    }

    #[test]
    fn a_prefix_customer_sees_the_traffic_toward_its_addresses() {
        let m = model();
        let e = Evidence::new();
        let mut g = Lcg(11);
        background(&e, NOW, &mut g);
        // A small NTP reflection toward acme beside heavier ordinary traffic elsewhere.
        let recs: Vec<FlowRecord> = (0..100)
            .map(|_| rec(g.ip(), "203.0.113.9", UDP, 123, 0, 1, 468))
            .collect();
        e.record("edge-1", NOW, &recs);
        let all = e.summary(&[], NOW + 1000, &m).unwrap();
        assert_ne!(all.target.to_string(), "203.0.113.9");
        let acme = e.summary_toward(&[], Some(0), NOW + 1000, &m).unwrap();
        assert_eq!(acme.target.to_string(), "203.0.113.9");
        assert_eq!(acme.customer.as_deref(), Some("acme"));
        assert_eq!(
            acme.class,
            Class::Amplification("NTP"),
            "{}",
            acme.describe()
        );
    }

    #[test]
    fn memory_is_bounded_by_destinations_and_minutes() {
        let e = Evidence::new();
        let mut g = Lcg(5);
        for minute in 0..10 {
            let recs: Vec<FlowRecord> = (0..30_000)
                .map(|_| FlowRecord {
                    src: g.ip(),
                    dst: g.ip(),
                    bytes: 100,
                    packets: 1,
                    ..FlowRecord::default()
                })
                .collect();
            e.record("edge-1", NOW + minute * 60_000, &recs);
        }
        let all = e.switches.lock().unwrap();
        let q = &all["edge-1"];
        assert_eq!(q.len(), MINUTES);
        assert!(q.iter().all(|m| m.dsts.len() <= MAX_DESTINATIONS));
        assert!(q.iter().all(|m| m.other_bytes > 0));
    }
}
