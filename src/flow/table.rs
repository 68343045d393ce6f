//! What the collector runs on, built once per runtime model: the trusted exporters by
//! source address, and longest-prefix-match tables from addresses to customers and to
//! product lines (one table of each kind: a customer's prefix may lie inside a product
//! line's).

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

/// Owners of prefixes of one kind (customers, or product lines), by index, with their
/// longest-prefix-match tables.
#[derive(Clone, Debug, Default)]
struct Owners {
    names: Vec<String>,
    /// Owners (by index) whose usage their ports measure: flows attribute them (evidence)
    /// but do not add to their usage, which would count the same bytes twice.
    by_ports: HashSet<u32>,
    v4: Lpm,
    v6: Lpm,
}

impl Owners {
    fn new<'a>(prefixes: impl Iterator<Item = (&'a crate::config::Prefix, &'a str)>) -> Owners {
        let mut o = Owners::default();
        let mut ids: HashMap<&str, u32> = HashMap::new();
        for (prefix, owner) in prefixes {
            let idx = *ids.entry(owner).or_insert_with(|| {
                o.names.push(owner.to_string());
                (o.names.len() - 1) as u32
            });
            match prefix.addr() {
                IpAddr::V4(a) => o.v4.insert(u128::from(u32::from(a)), prefix.len(), 32, idx),
                IpAddr::V6(a) => o.v6.insert(u128::from(a), prefix.len(), 128, idx),
            }
        }
        o
    }

    fn of(&self, ip: IpAddr) -> Option<u32> {
        match canonical(ip) {
            IpAddr::V4(a) => self.v4.get(u128::from(u32::from(a)), 32),
            IpAddr::V6(a) => self.v6.get(u128::from(a), 128),
        }
    }

    fn mark_ports(&mut self, with_ports: &HashSet<&str>) {
        self.by_ports = self
            .names
            .iter()
            .enumerate()
            .filter(|(_, c)| with_ports.contains(c.as_str()))
            .map(|(i, _)| i as u32)
            .collect();
    }

    fn measured(&self, idx: u32) -> bool {
        (idx as usize) < self.names.len() && !self.by_ports.contains(&idx)
    }

    fn measured_names(&self) -> impl Iterator<Item = &String> {
        self.names
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.by_ports.contains(&(*i as u32)))
            .map(|(_, c)| c)
    }
}

/// The exporters and the customer and product line prefixes in force.
#[derive(Clone, Debug, Default)]
pub struct FlowModel {
    exporters: HashMap<IpAddr, Exporter>,
    exporter_names: Vec<String>,
    customers: Owners,
    product_lines: Owners,
}

impl FlowModel {
    /// Builds the model of `[flow]` (validated: prefixes of two customers, or of two
    /// product lines, never overlap).
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
        m.customers = Owners::new(
            settings
                .prefixes
                .iter()
                .map(|p| (&p.prefix, p.customer.as_str())),
        );
        m.product_lines = Owners::new(
            settings
                .product_line_prefixes
                .iter()
                .map(|p| (&p.prefix, p.product_line.as_str())),
        );
        m
    }

    /// The same model knowing which customers and product lines have ports in `topology`
    /// (configured or attributed by ifAlias): their usage is measured by their ports, not
    /// by flows.
    pub fn with_ports(mut self, topology: &Topology) -> FlowModel {
        let mut customers: HashSet<&str> = topology
            .customers
            .values()
            .filter(|c| !c.ports.is_empty())
            .map(|c| c.id.as_str())
            .collect();
        let mut lines: HashSet<&str> = topology
            .product_lines
            .values()
            .filter(|p| !p.ports.is_empty())
            .map(|p| p.name.as_str())
            .collect();
        for p in topology.ports() {
            customers.extend(p.labels.customer.as_deref());
            lines.extend(p.labels.product_line.as_deref());
        }
        self.customers.mark_ports(&customers);
        self.product_lines.mark_ports(&lines);
        self
    }

    /// Whether flows measure the usage of customer `idx` (it has prefixes and no ports).
    pub fn measured(&self, idx: u32) -> bool {
        self.customers.measured(idx)
    }

    /// The customers whose usage flows measure.
    pub fn measured_customers(&self) -> impl Iterator<Item = &String> {
        self.customers.measured_names()
    }

    /// Whether flows measure the traffic of product line `idx` (it has prefixes and no
    /// ports).
    pub fn product_line_measured(&self, idx: u32) -> bool {
        self.product_lines.measured(idx)
    }

    /// The product lines whose traffic flows measure.
    pub fn measured_product_lines(&self) -> impl Iterator<Item = &String> {
        self.product_lines.measured_names()
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
        &self.customers.names
    }

    /// Product lines with prefixes, by index.
    pub fn product_lines(&self) -> &[String] {
        &self.product_lines.names
    }

    /// The customer whose prefix holds `ip` (longest match), as an index into
    /// [`FlowModel::customers`].
    pub fn customer_of(&self, ip: IpAddr) -> Option<u32> {
        self.customers.of(ip)
    }

    /// The product line whose prefix holds `ip` (longest match), as an index into
    /// [`FlowModel::product_lines`].
    pub fn product_line_of(&self, ip: IpAddr) -> Option<u32> {
        self.product_lines.of(ip)
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
            product_line_prefixes: vec![],
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
