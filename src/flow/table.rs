//! What the collector runs on, built once per runtime model: the trusted exporters by
//! source address, and a longest-prefix-match table from addresses to customers.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use crate::config::{FlowSettings, Topology};

/// A configured exporter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exporter {
    /// The switch it is.
    pub switch: String,
    /// Its configured sampling rate (used when its datagrams do not say).
    pub sampling: u32,
    /// Its position in [`FlowModel::exporters`] (for per-minute coverage).
    pub index: usize,
}

/// Longest-prefix match over one address family: a hash map per distinct prefix length,
/// tried from the longest length down (a handful of lengths in practice).
#[derive(Clone, Debug, Default)]
struct Lpm {
    /// Distinct lengths, longest first.
    lens: Vec<u8>,
    map: HashMap<(u8, u128), u32>,
}

impl Lpm {
    fn mask(bits: u128, len: u8, width: u8) -> u128 {
        if len == 0 {
            0
        } else {
            let shift = u32::from(width - len);
            (bits >> shift) << shift
        }
    }

    fn insert(&mut self, bits: u128, len: u8, width: u8, value: u32) {
        self.map.insert((len, Self::mask(bits, len, width)), value);
        if !self.lens.contains(&len) {
            self.lens.push(len);
            self.lens.sort_unstable_by(|a, b| b.cmp(a));
        }
    }

    fn get(&self, bits: u128, width: u8) -> Option<u32> {
        self.lens
            .iter()
            .find_map(|&len| self.map.get(&(len, Self::mask(bits, len, width))).copied())
    }
}

/// The exporters and the customer prefixes in force.
#[derive(Clone, Debug, Default)]
pub struct FlowModel {
    exporters: HashMap<IpAddr, Exporter>,
    exporter_names: Vec<String>,
    customers: Vec<String>,
    /// Customers (by index) whose usage their ports measure: flows attribute them (evidence)
    /// but do not add to their usage, which would count the same bytes twice.
    by_ports: HashSet<u32>,
    v4: Lpm,
    v6: Lpm,
}

impl FlowModel {
    /// Builds the model of `[flow]` (validated: prefixes of two customers never overlap).
    pub fn new(settings: &FlowSettings) -> FlowModel {
        let mut m = FlowModel::default();
        for e in &settings.exporters {
            let index = m.exporter_names.len();
            m.exporter_names.push(e.switch.clone());
            m.exporters.insert(
                e.address,
                Exporter {
                    switch: e.switch.clone(),
                    sampling: e.sampling.max(1),
                    index,
                },
            );
        }
        let mut ids: HashMap<&str, u32> = HashMap::new();
        for p in &settings.prefixes {
            let idx = *ids.entry(p.customer.as_str()).or_insert_with(|| {
                m.customers.push(p.customer.clone());
                (m.customers.len() - 1) as u32
            });
            match p.prefix.addr() {
                IpAddr::V4(a) => {
                    m.v4.insert(u128::from(u32::from(a)), p.prefix.len(), 32, idx)
                }
                IpAddr::V6(a) => m.v6.insert(u128::from(a), p.prefix.len(), 128, idx),
            }
        }
        m
    }

    /// The same model knowing which customers have ports in `topology` (configured or
    /// attributed by ifAlias): their usage is measured by their ports, not by flows.
    pub fn with_port_customers(mut self, topology: &Topology) -> FlowModel {
        let mut with_ports: HashSet<&str> = topology
            .customers
            .values()
            .filter(|c| !c.ports.is_empty())
            .map(|c| c.id.as_str())
            .collect();
        with_ports.extend(
            topology
                .ports()
                .filter_map(|p| p.labels.customer.as_deref()),
        );
        self.by_ports = self
            .customers
            .iter()
            .enumerate()
            .filter(|(_, c)| with_ports.contains(c.as_str()))
            .map(|(i, _)| i as u32)
            .collect();
        self
    }

    /// Whether flows measure the usage of customer `idx` (it has prefixes and no ports).
    pub fn measured(&self, idx: u32) -> bool {
        (idx as usize) < self.customers.len() && !self.by_ports.contains(&idx)
    }

    /// The customers whose usage flows measure.
    pub fn measured_customers(&self) -> impl Iterator<Item = &String> {
        self.customers
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.by_ports.contains(&(*i as u32)))
            .map(|(_, c)| c)
    }

    /// The exporter sending from `ip`, if it is a configured one.
    pub fn exporter(&self, ip: IpAddr) -> Option<&Exporter> {
        self.exporters.get(&canonical(ip))
    }

    /// The configured exporters' switches, by [`Exporter::index`].
    pub fn exporter_names(&self) -> &[String] {
        &self.exporter_names
    }

    /// Customers with prefixes, by index.
    pub fn customers(&self) -> &[String] {
        &self.customers
    }

    /// The customer whose prefix holds `ip` (longest match), as an index into
    /// [`FlowModel::customers`].
    pub fn customer_of(&self, ip: IpAddr) -> Option<u32> {
        match canonical(ip) {
            IpAddr::V4(a) => self.v4.get(u128::from(u32::from(a)), 32),
            IpAddr::V6(a) => self.v6.get(u128::from(a), 128),
        }
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, as a dual-stack socket reports IPv4
/// peers) as the IPv4 address it is.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CustomerPrefix, FlowExporter};

    fn model() -> FlowModel {
        let p = |s: &str, c: &str| CustomerPrefix {
            prefix: s.parse().unwrap(),
            customer: c.into(),
        };
        FlowModel::new(&FlowSettings {
            listen: vec![],
            exporters: vec![FlowExporter {
                switch: "core-1".into(),
                address: "10.0.0.1".parse().unwrap(),
                sampling: 0,
            }],
            prefixes: vec![
                p("203.0.113.0/24", "acme"),
                p("198.51.100.0/25", "globex"),
                p("198.51.100.128/26", "initech"),
                p("2001:db8:1::/48", "acme"),
            ],
        })
    }

    #[test]
    fn longest_prefix_wins_and_families_stay_apart() {
        let m = model();
        let name = |ip: &str| {
            m.customer_of(ip.parse().unwrap())
                .map(|i| m.customers()[i as usize].as_str())
        };
        assert_eq!(name("203.0.113.7"), Some("acme"));
        assert_eq!(name("198.51.100.5"), Some("globex"));
        assert_eq!(name("198.51.100.130"), Some("initech"));
        assert_eq!(name("198.51.100.200"), None);
        assert_eq!(name("2001:db8:1:2::1"), Some("acme"));
        assert_eq!(name("::ffff:203.0.113.9"), Some("acme"));
        assert_eq!(name("2001:db8:2::1"), None);
        let e = m.exporter("::ffff:10.0.0.1".parse().unwrap()).unwrap();
        assert_eq!((e.switch.as_str(), e.sampling), ("core-1", 1));
        assert!(m.exporter("10.0.0.2".parse().unwrap()).is_none());
    }
}
