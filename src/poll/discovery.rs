//! Discovery: the static columns (ifName, ifDescr, ifAlias) walked at start, after a reset,
//! when a configured port is missing and every `rediscover` period. From them the name ->
//! ifIndex map is (re)learned and ifAlias patterns attribute extra ports.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::{PortLabels, Switch};
use crate::intern::intern;
use crate::snmp::oids::Column;
use crate::snmp::{SnmpError, SnmpSource, walk_columns};

/// One interface as the static columns describe it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interface {
    /// ifName (may be empty on old agents).
    pub name: String,
    /// ifDescr.
    pub descr: String,
    /// ifAlias.
    pub alias: String,
}

impl Interface {
    /// The port name bandwatch uses: ifName, else ifDescr.
    pub fn port_name(&self) -> &str {
        if self.name.is_empty() {
            &self.descr
        } else {
            &self.name
        }
    }
}

/// The interfaces of one switch by ifIndex.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interfaces {
    /// ifIndex -> interface.
    pub by_index: BTreeMap<u32, Interface>,
}

impl Interfaces {
    /// The ifIndex of a configured port name: an exact ifName match, else an exact ifDescr
    /// match (lowest ifIndex when several match).
    pub fn find(&self, port: &str) -> Option<u32> {
        self.by_index
            .iter()
            .find(|(_, i)| i.name == port)
            .or_else(|| self.by_index.iter().find(|(_, i)| i.descr == port))
            .map(|(k, _)| *k)
    }
}

/// Walks ifName, ifDescr and ifAlias in one multi-column GETBULK walk. Returns the
/// interfaces and the number of requests it took is not known here (the caller counts one
/// discovery).
pub async fn discover<S: SnmpSource + ?Sized>(
    source: &S,
    max_repetitions: u32,
) -> Result<Interfaces, SnmpError> {
    let cols = [Column::IfName, Column::IfDescr, Column::IfAlias];
    let oids: Vec<Vec<u32>> = cols.iter().map(|c| c.oid()).collect();
    let walked = walk_columns(source, &oids, max_repetitions).await?;
    let mut out = Interfaces::default();
    for (col, vbs) in cols.iter().zip(walked) {
        for vb in vbs {
            let Some((_, index)) = Column::parse(&vb.oid) else {
                continue;
            };
            let text = vb.value.as_text().unwrap_or_default();
            let entry = out.by_index.entry(index).or_default();
            match col {
                Column::IfName => entry.name = text,
                Column::IfDescr => entry.descr = text,
                _ => entry.alias = text,
            }
        }
    }
    Ok(out)
}

/// A port the poller reads: a configured one, or one attributed by an ifAlias pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribution {
    /// Port name.
    pub name: Arc<str>,
    /// Labels for its samples.
    pub labels: PortLabels,
    /// Configured cap for bogus-delta detection, bits per second.
    pub max_rate: Option<u64>,
    /// True for a `[[port]]` of the config, false for an alias-attributed one.
    pub configured: bool,
}

/// The ports of a switch: its configured ports in config order, then every interface whose
/// ifAlias one of the switch's patterns matches (in ifIndex order) that is not configured.
pub fn attribute(switch: &Switch, interfaces: &Interfaces) -> Vec<Attribution> {
    let mut out: Vec<Attribution> = switch
        .ports
        .iter()
        .map(|p| Attribution {
            name: p.name.clone(),
            labels: p.labels.clone(),
            max_rate: p.max_rate.map(|r| r.bps()),
            configured: true,
        })
        .collect();
    for iface in interfaces.by_index.values() {
        let name = iface.port_name();
        if name.is_empty() || out.iter().any(|a| *a.name == *name) {
            continue;
        }
        if let Some(found) = switch.attribute_alias(&iface.alias) {
            out.push(Attribution {
                name: intern(name),
                labels: PortLabels {
                    site: intern(&switch.site),
                    switch: intern(&switch.name),
                    port: intern(name),
                    product_line: found.product_line.as_deref().map(intern),
                    customer: found.customer.as_deref().map(intern),
                    role: found.role.as_deref().map(intern),
                },
                max_rate: None,
                configured: false,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AliasPattern, Duration, Port, SnmpProfile};
    use regex::Regex;

    fn iface(name: &str, descr: &str, alias: &str) -> Interface {
        Interface {
            name: name.into(),
            descr: descr.into(),
            alias: alias.into(),
        }
    }

    fn switch() -> Switch {
        Switch {
            name: "sw1".into(),
            site: "dc".into(),
            address: "127.0.0.1:161".into(),
            profile: "default".into(),
            snmp: SnmpProfile::default(),
            interval: Duration::from_secs(10),
            rediscover: Duration::from_secs(3600),
            alias_patterns: vec![AliasPattern {
                regex: Regex::new("^Cust: (?P<customer>[a-z]+)").unwrap(),
            }],
            ports: vec![Port {
                name: "eth1".into(),
                labels: PortLabels {
                    site: "dc".into(),
                    switch: "sw1".into(),
                    port: "eth1".into(),
                    product_line: Some("cdn".into()),
                    customer: None,
                    role: Some("uplink".into()),
                },
                max_rate: None,
                description: None,
                attributed: false,
            }],
            description: None,
            shard: None,
        }
    }

    #[test]
    fn names_resolve_by_ifname_then_ifdescr() {
        let mut ifs = Interfaces::default();
        ifs.by_index.insert(3, iface("eth1", "Ethernet 1", ""));
        ifs.by_index.insert(9, iface("", "Port 9", ""));
        assert_eq!(ifs.find("eth1"), Some(3));
        assert_eq!(ifs.find("Ethernet 1"), Some(3));
        assert_eq!(ifs.find("Port 9"), Some(9));
        assert_eq!(ifs.find("eth2"), None);
    }

    #[test]
    fn alias_patterns_attribute_unconfigured_ports_only() {
        let mut ifs = Interfaces::default();
        ifs.by_index.insert(1, iface("eth1", "", "Cust: acme"));
        ifs.by_index.insert(2, iface("eth2", "", "Cust: globex"));
        ifs.by_index.insert(3, iface("eth3", "", "spare"));
        let a = attribute(&switch(), &ifs);
        assert_eq!(a.len(), 2);
        assert_eq!(&*a[0].name, "eth1");
        assert!(a[0].configured);
        assert_eq!(a[0].labels.customer, None, "config wins over the alias");
        assert_eq!(&*a[1].name, "eth2");
        assert!(!a[1].configured);
        assert_eq!(a[1].labels.customer.as_deref(), Some("globex"));
        assert_eq!(&*a[1].labels.site, "dc");
    }
}
