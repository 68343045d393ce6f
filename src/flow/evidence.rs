//! Attack evidence: a short, bounded summary of the last minutes of flows per exporting
//! switch, and a classifier that names what a spike on that switch most likely is, with the
//! numbers that justify it ("likely NTP reflection toward 203.0.113.7 (acme): 1.6 Gbit/s, 94%
//! of the traffic, ~4,100 sources, 468-byte packets").
//!
//! Bounded memory, whatever the number of switches: the last [`MINUTES`] minutes (older
//! ones are dropped for every switch as soon as a newer minute begins, so an exporter that
//! stopped sending, or was removed by a reload, holds nothing after [`MINUTES`] minutes);
//! per switch and minute at most [`MAX_DESTINATIONS`] destinations, and at most
//! [`MAX_MINUTE_DESTINATIONS`] over all switches in one minute (each minute starts with fresh
//! room; when a new destination finds none, the lighter half of the fullest map goes, its
//! bytes kept as "other", so a heavy target arriving late, or on a switch that starts
//! sending late, still gets in), each with a 64-register
//! HyperLogLog of its sources (about 13 % error; enough to tell 5 from 5,000) and its four
//! heaviest (protocol, source port) pairs (space-saving replacement); (protocol, source port)
//! sums likewise at most [`MAX_PORTS`] per switch and minute and [`MAX_MINUTE_PORTS`] over all
//! switches in one minute;
//! and per switch and minute the bytes of each second (480 bytes), so that a target's share
//! is of the traffic while it was seen.

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
/// Destinations tracked over all switches in one minute (about 500 bytes each with the
/// maps' slack: with [`MINUTES`] minutes held, some 30 MiB at most, however many switches
/// export; `cargo bench --bench flow_ingest` measures it).
pub const MAX_MINUTE_DESTINATIONS: usize = 20_000;
/// (protocol, port) pairs tracked per switch and minute.
pub const MAX_PORTS: usize = 1024;
/// (protocol, port) pairs tracked over all switches in one minute.
pub const MAX_MINUTE_PORTS: usize = 8_192;

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

/// Bytes by unix second, summed over some switches' minutes.
#[derive(Debug, Default)]
struct Seconds(HashMap<i64, Vec<u64>>);

impl Seconds {
    fn add(&mut self, m: &Minute) {
        if m.by_second.is_empty() {
            return;
        }
        let v = self.0.entry(m.minute).or_insert_with(|| vec![0; 60]);
        for (a, b) in v.iter_mut().zip(m.by_second.iter()) {
            *a += b;
        }
    }

    /// Bytes from second `from_s` to second `to_s`, both included.
    fn between(&self, from_s: i64, to_s: i64) -> u64 {
        self.0
            .iter()
            .filter(|(minute, _)| **minute * 60 + 59 >= from_s && **minute * 60 <= to_s)
            .flat_map(|(minute, v)| {
                v.iter()
                    .enumerate()
                    .filter(move |(i, _)| (from_s..=to_s).contains(&(minute * 60 + *i as i64)))
                    .map(|(_, b)| *b)
            })
            .sum()
    }
}

impl Dst {
    /// Its bytes received from `from_ms` to `to_ms`, taking them as spread evenly over its
    /// own span (one second wide at least).
    fn bytes_within(&self, from_ms: i64, to_ms: i64) -> f64 {
        let (a, b) = (self.first_ms, self.last_ms + 1000);
        let overlap = (b.min(to_ms + 1000) - a.max(from_ms)).max(0);
        self.bytes as f64 * overlap as f64 / (b - a).max(1) as f64
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
    /// Bytes by second of the minute (empty until the first record).
    by_second: Vec<u64>,
}

/// What may still be added over all switches in the newest minute (see
/// [`MAX_MINUTE_DESTINATIONS`]).
#[derive(Debug)]
struct Room {
    destinations: usize,
    ports: usize,
}

impl Room {
    const FULL: Room = Room {
        destinations: MAX_MINUTE_DESTINATIONS,
        ports: MAX_MINUTE_PORTS,
    };
}

impl Minute {
    /// Adds `r` to the minute's totals.
    fn add_totals(&mut self, r: &FlowRecord, now_ms: i64) {
        self.bytes = self.bytes.saturating_add(r.bytes);
        self.packets = self.packets.saturating_add(r.packets);
        self.sources.add(&r.src);
        if self.by_second.is_empty() {
            self.by_second = vec![0; 60];
        }
        let sec = (now_ms.div_euclid(1000) - self.minute * 60).clamp(0, 59) as usize;
        self.by_second[sec] = self.by_second[sec].saturating_add(r.bytes);
    }

    /// Adds `r` to its destination's entry: a new one while this minute has fewer than
    /// [`MAX_DESTINATIONS`] (else its lightest half goes first) and `room` is left (`false`:
    /// no room over all switches). A minute that is not the newest takes no new entries.
    fn add_dst(&mut self, r: &FlowRecord, now_ms: i64, room: &mut Room, newest: bool) -> bool {
        if let Some(d) = self.dsts.get_mut(&r.dst) {
            d.add(r, now_ms);
            return true;
        }
        if !newest {
            self.other_bytes = self.other_bytes.saturating_add(r.bytes);
            return true;
        }
        if self.dsts.len() >= MAX_DESTINATIONS {
            room.destinations += self.halve_dsts();
        }
        if room.destinations == 0 {
            return false;
        }
        room.destinations -= 1;
        self.dsts.entry(r.dst).or_default().add(r, now_ms);
        true
    }

    /// [`Minute::add_dst`] for the (protocol, source port) sums.
    fn add_port(&mut self, r: &FlowRecord, room: &mut Room, newest: bool) -> bool {
        let key = (r.protocol, r.src_port);
        if let Some(b) = self.sports.get_mut(&key) {
            *b = b.saturating_add(r.bytes);
            return true;
        }
        if !newest {
            return true;
        }
        if self.sports.len() >= MAX_PORTS {
            room.ports += halve(&mut self.sports, |b| *b).0;
        }
        if room.ports == 0 {
            return false;
        }
        room.ports -= 1;
        self.sports.insert(key, r.bytes);
        true
    }

    /// Drops the lighter half of the destinations (their bytes stay as "other"); how many
    /// went.
    fn halve_dsts(&mut self) -> usize {
        let (freed, bytes) = halve(&mut self.dsts, |d| d.bytes);
        self.other_bytes = self.other_bytes.saturating_add(bytes);
        freed
    }
}

/// Keeps the heavier half of `map` by `weight`; returns how many entries went and their
/// weight.
fn halve<K: Eq + Hash, V>(map: &mut HashMap<K, V>, weight: impl Fn(&V) -> u64) -> (usize, u64) {
    let keep = map.len() / 2;
    let mut all: Vec<(K, V)> = map.drain().collect();
    if keep > 0 {
        all.select_nth_unstable_by(keep - 1, |a, b| weight(&b.1).cmp(&weight(&a.1)));
    }
    let gone: Vec<(K, V)> = all.split_off(keep);
    *map = all.into_iter().collect();
    (gone.len(), gone.iter().map(|(_, v)| weight(v)).sum())
}

/// The recent flows of every exporting switch, shared by the collector (writing) and the
/// notify stage (reading when an alert fires).
#[derive(Debug)]
pub struct Evidence {
    inner: Mutex<Inner>,
}

impl Default for Evidence {
    fn default() -> Self {
        Evidence {
            inner: Mutex::new(Inner {
                switches: HashMap::new(),
                newest: i64::MIN,
                room: Room::FULL,
            }),
        }
    }
}

#[derive(Debug)]
struct Inner {
    switches: HashMap<String, VecDeque<Minute>>,
    /// The newest minute seen: minutes before the last [`MINUTES`] of it are dropped.
    newest: i64,
    /// What the newest minute may still add over all switches (a record that arrives late,
    /// for an older minute still held, takes from it too).
    room: Room,
}

impl Inner {
    /// Halves (by `halve`) the newest minute that holds the most (by `size`) over all
    /// switches; how many entries went.
    fn halve_largest(
        &mut self,
        size: impl Fn(&Minute) -> usize,
        halve: impl Fn(&mut Minute) -> usize,
    ) -> usize {
        let newest = self.newest;
        self.switches
            .values_mut()
            .filter_map(|q| q.back_mut().filter(|m| m.minute == newest))
            .max_by_key(|m| size(m))
            .map_or(0, halve)
    }

    /// Drops every switch's minutes that left the window ending at `minute`.
    fn expire(&mut self, minute: i64) {
        let first = minute - MINUTES as i64 + 1;
        self.switches.retain(|_, q| {
            while q.front().is_some_and(|m| m.minute < first) {
                q.pop_front();
            }
            !q.is_empty()
        });
    }
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
        let mut guard = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let inner = &mut *guard;
        if minute > inner.newest {
            inner.newest = minute;
            inner.room = Room::FULL;
            inner.expire(minute);
        }
        if minute < inner.newest - MINUTES as i64 + 1 {
            return; // the clock went back past the window: nothing to keep it in
        }
        if !inner.switches.contains_key(switch) {
            inner.switches.insert(switch.to_string(), VecDeque::new());
        }
        let Some(q) = inner.switches.get_mut(switch) else {
            return;
        };
        if q.back().is_none_or(|m| m.minute < minute) {
            q.push_back(Minute {
                minute,
                ..Minute::default()
            });
        }
        // The minute it belongs to (the newest one unless the clock stepped back).
        let Some(m) = q.iter_mut().rev().find(|m| m.minute == minute) else {
            return;
        };
        let newest = minute == inner.newest;
        let (mut no_dst, mut no_port) = (Vec::new(), Vec::new());
        for (i, r) in records.iter().enumerate() {
            m.add_totals(r, now_ms);
            if !m.add_dst(r, now_ms, &mut inner.room, newest) {
                no_dst.push(i);
            }
            if !m.add_port(r, &mut inner.room, newest) {
                no_port.push(i);
            }
        }
        // No room left over all switches this minute: the lighter half of the switch that
        // holds the most goes (possibly this one's), so a switch that starts sending late
        // in the minute still gets its heavy destinations in.
        for i in no_dst {
            if inner.room.destinations == 0 {
                inner.room.destinations +=
                    inner.halve_largest(|m| m.dsts.len(), Minute::halve_dsts);
            }
            let Some(m) = inner.switches.get_mut(switch).and_then(|q| q.back_mut()) else {
                return;
            };
            if !m.add_dst(&records[i], now_ms, &mut inner.room, true) {
                m.other_bytes = m.other_bytes.saturating_add(records[i].bytes);
            }
        }
        for i in no_port {
            if inner.room.ports == 0 {
                inner.room.ports +=
                    inner.halve_largest(|m| m.sports.len(), |m| halve(&mut m.sports, |b| *b).0);
            }
            let Some(m) = inner.switches.get_mut(switch).and_then(|q| q.back_mut()) else {
                return;
            };
            m.add_port(&records[i], &mut inner.room, true);
        }
    }

    /// What is held: (switch-minutes, destinations, (protocol, source port) pairs), for
    /// benchmarks and tests of its bounds.
    pub fn entries(&self) -> (usize, usize, usize) {
        let all = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        all.switches
            .values()
            .flatten()
            .fold((0, 0, 0), |(m, d, p), x| {
                (m + 1, d + x.dsts.len(), p + x.sports.len())
            })
    }

    /// The summary of the last [`MINUTES`] minutes up to `now_ms` on `switches` (every
    /// switch when empty), or `None` without flows.
    pub fn summary(&self, switches: &[&str], now_ms: i64, model: &FlowModel) -> Option<Summary> {
        self.summary_toward(switches, None, now_ms, model)
    }

    /// [`Evidence::summary`] with the target chosen among the destinations inside the
    /// prefixes of a customer or product line (`toward`), when given.
    pub fn summary_toward(
        &self,
        switches: &[&str],
        toward: Option<Toward>,
        now_ms: i64,
        model: &FlowModel,
    ) -> Option<Summary> {
        let first = now_ms.div_euclid(60_000) - MINUTES as i64 + 1;
        let all = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let mut dsts: HashMap<IpAddr, Dst> = HashMap::new();
        let (mut bytes, mut sports) = (0u64, HashMap::<(u8, u16), u64>::new());
        let mut minutes: Vec<i64> = Vec::new();
        // Bytes by second over the selected switches, to take shares over a target's span.
        let mut seconds = Seconds::default();
        for (name, q) in all.switches.iter() {
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
                seconds.add(m);
            }
        }
        drop(all);
        let of_interest = |ip: &IpAddr| match toward {
            None => true,
            Some(Toward::Customer(i)) => model.customer_of(*ip) == Some(i),
            Some(Toward::ProductLine(i)) => model.product_line_of(*ip) == Some(i),
        };
        let (target, d) = dsts
            .iter()
            .filter(|(ip, _)| of_interest(ip))
            .max_by_key(|(_, d)| d.bytes)?;
        let all_mix = dsts.values().fold(Mix::default(), |m, d| m.plus(d));
        if bytes == 0 || d.packets == 0 {
            return None;
        }
        // The share of some traffic `x`: of all the traffic received while `x` was seen (so a
        // spike's share is not diluted by the minutes before it); toward a customer, of the
        // traffic toward its addresses in that span (each destination's bytes taken evenly
        // over its own span).
        let share_of = |x: &Dst| -> f64 {
            let within = if toward.is_some() {
                dsts.iter()
                    .filter(|(ip, _)| of_interest(ip))
                    .map(|(_, o)| o.bytes_within(x.first_ms, x.last_ms))
                    .sum::<f64>()
            } else {
                seconds.between(x.first_ms.div_euclid(1000), x.last_ms.div_euclid(1000)) as f64
            };
            (x.bytes as f64 / within.max(x.bytes as f64).max(1.0)).min(1.0)
        };
        if toward.is_some() {
            // Traffic toward the customer's addresses (a carpet bombing's "everything").
            bytes = dsts
                .iter()
                .filter(|(ip, _)| of_interest(ip))
                .map(|(_, d)| d.bytes)
                .sum();
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
            share: share_of(d),
            sources: d.sources.estimate(),
            avg_packet: d.bytes as f64 / d.packets.max(1) as f64,
            destinations: dsts.len(),
            targets,
            window_secs,
            active_secs: active(d),
        };
        let class = classify(d, share_of(d), bytes, &sports, &all_mix.minus(d), true);
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
            let class = classify(gd, share_of(gd), bytes, &sports, &all_mix.minus(gd), false);
            if class != Class::NotAnAttack {
                return Some(summary(class, *busiest, gd, *n));
            }
        }
        Some(summary(Class::NotAnAttack, *target, d, 1))
    }
}

/// Whose addresses a summary is about (an index of the model's customers or product lines).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Toward {
    /// A customer known by prefixes.
    Customer(u32),
    /// A product line known by prefixes.
    ProductLine(u32),
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
    /// of the entity's switches (see [`switches_of`]); for a customer or product line known
    /// by prefixes only, the traffic toward its addresses on every exporter.
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
        let by_prefix = switches.is_empty()
            && (entity.starts_with("customer:") || entity.starts_with("product_line:"));
        let toward = if let Some(c) = entity.strip_prefix("customer:") {
            let i = model.customers().iter().position(|x| x == c);
            i.map(|i| Toward::Customer(i as u32))
        } else if let Some(p) = entity.strip_prefix("product_line:") {
            let i = model.product_lines().iter().position(|x| x == p);
            i.map(|i| Toward::ProductLine(i as u32))
        } else {
            None
        }
        .filter(|_| by_prefix);
        if by_prefix && toward.is_none() {
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
                .map(|k| k.switch.to_string())
                .chain(labelled.map(|p| p.labels.switch.to_string()))
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
            product_line_prefixes: vec![],
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
        let acme = e
            .summary_toward(&[], Some(Toward::Customer(0)), NOW + 1000, &m)
            .unwrap();
        assert_eq!(acme.target.to_string(), "203.0.113.9");
        assert_eq!(acme.customer.as_deref(), Some("acme"));
        assert_eq!(
            acme.class,
            Class::Amplification("NTP"),
            "{}",
            acme.describe()
        );
    }

    /// A product line known only by prefixes: its alert's evidence is the traffic toward its
    /// addresses on every exporter (not the busier traffic elsewhere).
    #[test]
    fn a_prefix_product_line_sees_the_traffic_toward_its_addresses() {
        let model = FlowModel::new(&FlowSettings {
            listen: vec![],
            exporters: vec![],
            prefixes: vec![],
            product_line_prefixes: vec![crate::config::ProductLinePrefix {
                prefix: "203.0.113.0/24".parse().unwrap(),
                product_line: "cloud".into(),
            }],
        });
        let e = std::sync::Arc::new(Evidence::new());
        let mut g = Lcg(13);
        background(&e, NOW, &mut g);
        let recs: Vec<FlowRecord> = (0..100)
            .map(|_| rec(g.ip(), "203.0.113.9", UDP, 53, 0, 1, 1400))
            .collect();
        e.record("edge-1", NOW, &recs);
        let fe = FlowEvidence {
            evidence: e,
            model: std::sync::Arc::new(move || std::sync::Arc::new(model.clone())),
        };
        let topo = Topology::default();
        let line = fe.line("product_line:cloud", &topo, NOW + 1000).unwrap();
        assert!(
            line.starts_with("Flows: likely DNS reflection toward 203.0.113.9:"),
            "{line}"
        );
        assert!(fe.line("product_line:other", &topo, NOW + 1000).is_none());
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
        let all = e.inner.lock().unwrap();
        let q = &all.switches["edge-1"];
        assert_eq!(q.len(), MINUTES);
        assert!(q.iter().all(|m| m.dsts.len() <= MAX_DESTINATIONS));
        assert!(q.iter().all(|m| m.other_bytes > 0));
    }

    /// 60 switches, each with 5,000 new destinations and 2,000 new source ports a minute:
    /// what is held stays under the global bounds (each minute with its own room), the bytes
    /// past them still count (as "other"), and switches that stop sending are forgotten
    /// after the window.
    #[test]
    fn memory_is_bounded_over_all_switches() {
        let e = Evidence::new();
        let mut g = Lcg(17);
        let t0 = NOW - NOW.rem_euclid(60_000) + 5_000;
        for minute in 0..4 {
            for sw in 0..60 {
                let recs: Vec<FlowRecord> = (0..5_000u32)
                    .map(|i| FlowRecord {
                        src: g.ip(),
                        dst: g.ip(),
                        src_port: (i % 2000) as u16,
                        protocol: UDP,
                        bytes: 100,
                        packets: 1,
                        ..FlowRecord::default()
                    })
                    .collect();
                e.record(&format!("sw-{sw}"), t0 + minute * 60_000, &recs);
            }
            let (minutes, dsts, ports) = e.entries();
            let held = (minute + 1).min(MINUTES as i64) as usize;
            assert!(dsts <= held * MAX_MINUTE_DESTINATIONS, "{dsts}");
            assert!(dsts >= held * MAX_MINUTE_DESTINATIONS / 2, "{dsts}");
            assert!(ports <= held * MAX_MINUTE_PORTS, "{ports}");
            assert!(minutes <= 60 * MINUTES, "{minutes}");
            let all = e.inner.lock().unwrap();
            let counted: u64 = all
                .switches
                .values()
                .flatten()
                .map(|m| m.dsts.values().map(|d| d.bytes).sum::<u64>() + m.other_bytes)
                .sum();
            let held_minutes = (minute + 1).min(MINUTES as i64) as u64;
            assert_eq!(counted, held_minutes * 60 * 5_000 * 100);
        }
        // A switch that starts sending after the room is taken still gets its heavy target
        // in (the fullest switches give up their lightest destinations).
        let late = t0 + 3 * 60_000 + 40_000;
        let recs: Vec<FlowRecord> = (0..2000)
            .map(|_| rec(g.ip(), "203.0.113.7", UDP, 123, 0, 100, 468))
            .collect();
        e.record("late", late, &recs);
        let s = e.summary(&["late"], late + 1000, &model()).unwrap();
        assert_eq!(s.class, Class::Amplification("NTP"), "{}", s.describe());
        assert_eq!(s.target.to_string(), "203.0.113.7");
        let (_, dsts, _) = e.entries();
        assert!(dsts <= MINUTES * MAX_MINUTE_DESTINATIONS, "{dsts}");

        // Only one switch keeps sending: the others' minutes leave with the window.
        for minute in 4..4 + MINUTES as i64 {
            let recs: Vec<FlowRecord> = (0..30_000)
                .map(|_| FlowRecord {
                    src: g.ip(),
                    dst: g.ip(),
                    bytes: 100,
                    packets: 1,
                    ..FlowRecord::default()
                })
                .collect();
            e.record("sw-0", t0 + minute * 60_000, &recs);
        }
        let (minutes, dsts, _) = e.entries();
        assert_eq!(minutes, MINUTES);
        assert!(dsts <= MINUTES * MAX_DESTINATIONS, "{dsts}");
        assert_eq!(e.inner.lock().unwrap().switches.len(), 1);
    }

    /// A spike of the last 10 seconds after 40 seconds of ordinary traffic: its share is of
    /// the traffic while it was seen (the spike's window), not of the whole minute.
    #[test]
    fn a_share_is_of_the_traffic_while_the_target_was_seen() {
        let m = model();
        let e = Evidence::new();
        let mut g = Lcg(23);
        let start = NOW - NOW.rem_euclid(60_000);
        for s in 0..40 {
            background(&e, start + s * 1000, &mut g);
        }
        // 10 s of NTP reflection, with a trickle of the ordinary traffic beside it.
        for s in 45..55 {
            let recs: Vec<FlowRecord> = (0..400)
                .map(|_| rec(g.ip(), "203.0.113.7", UDP, 123, 0, 100, 468))
                .collect();
            e.record("edge-1", start + s * 1000, &recs);
            let trickle: Vec<FlowRecord> = (0..20)
                .map(|i| rec(g.ip(), &format!("198.51.100.{i}"), TCP, 443, 0x18, 20, 900))
                .collect();
            e.record("edge-1", start + s * 1000, &trickle);
        }
        let s = e.summary(&["edge-1"], start + 56_000, &m).unwrap();
        assert_eq!(s.class, Class::Amplification("NTP"), "{}", s.describe());
        // 400 x 100 x 468 bytes beside 20 x 20 x 900 each second: 98.1 %. Over the whole
        // window (40 s of 33.6 MB a second of background before) it would be 12 %.
        assert!((s.share - 0.981).abs() < 0.0005, "{}", s.describe());
        assert!(
            s.describe().contains("98.1% of the traffic"),
            "{}",
            s.describe()
        );
        assert!((s.active_secs - 10.0).abs() < 1e-9, "{}", s.active_secs);

        // Toward a customer: of the traffic toward its addresses while the target was seen.
        let e = Evidence::new();
        let other = |i: usize| format!("203.0.113.{}", 100 + i % 50);
        for s in 0..40 {
            let recs: Vec<FlowRecord> = (0..200)
                .map(|i| rec(g.ip(), &other(i), TCP, 443, 0x18, 20, 900))
                .collect();
            e.record("edge-1", start + s * 1000, &recs);
        }
        for s in 45..55 {
            let recs: Vec<FlowRecord> = (0..400)
                .map(|_| rec(g.ip(), "203.0.113.7", UDP, 123, 0, 100, 468))
                .collect();
            e.record("edge-1", start + s * 1000, &recs);
        }
        let s = e
            .summary_toward(&[], Some(Toward::Customer(0)), start + 56_000, &m)
            .unwrap();
        assert_eq!(s.target.to_string(), "203.0.113.7");
        assert!(s.share > 0.99, "{}", s.describe());
    }
}
