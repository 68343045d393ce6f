//! The topology bandwatch watches, resolved and validated: sites, switches with their ports,
//! product lines and customers across switches and sites, and the routes that alerts go to.
//!
//! Everything downstream (poller, store, rules, notify, http) works from this model, never
//! from the raw file. Ports are identified by switch and name, never by ifIndex.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use regex::Regex;
use serde::Serialize;

use super::model::SnmpProfile;
use super::units::{BitRate, Duration};

/// A port's identity: the switch's name and the port's name (ifName, else ifDescr).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct PortKey {
    /// Switch name.
    pub switch: Arc<str>,
    /// Port name, as the device reports it in ifName (or ifDescr).
    pub port: Arc<str>,
}

impl PortKey {
    /// The key of `port` on `switch` (both interned: see [`crate::intern`]).
    pub fn new(switch: &str, port: &str) -> PortKey {
        PortKey {
            switch: crate::intern::intern(switch),
            port: crate::intern::intern(port),
        }
    }
}

impl fmt::Display for PortKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.switch, self.port)
    }
}

/// The labels every sample, aggregate and alert of a port carries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct PortLabels {
    /// Site of the port's switch.
    pub site: Arc<str>,
    /// Switch name.
    pub switch: Arc<str>,
    /// Port name.
    pub port: Arc<str>,
    /// The product line whose traffic this port carries, if any.
    pub product_line: Option<Arc<str>>,
    /// The customer this port serves, if any.
    pub customer: Option<Arc<str>>,
    /// Free role label: uplink, customer, peering, ...
    pub role: Option<Arc<str>>,
}

/// A datacenter or PoP.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Site {
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Names of the site's switches, in config order.
    pub switches: Vec<String>,
}

/// One interface of one switch that bandwatch polls.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Port {
    /// Port name (ifName, else ifDescr).
    pub name: Arc<str>,
    /// Labels for attribution.
    pub labels: PortLabels,
    /// Cap for bogus-delta detection; `None` means the interface's ifHighSpeed.
    pub max_rate: Option<BitRate>,
    /// Free text.
    pub description: Option<String>,
    /// Found by an ifAlias pattern ([`Topology::with_attributed`]) rather than configured by
    /// name: known only to the daemon that polls its switch.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub attributed: bool,
}

impl Port {
    /// The port's identity.
    pub fn key(&self) -> PortKey {
        PortKey {
            switch: self.labels.switch.clone(),
            port: self.name.clone(),
        }
    }
}

/// An ifAlias convention that attributes ports by their description, e.g.
/// `^Cust: (?P<customer>[A-Za-z0-9_-]+)`.
#[derive(Clone, Debug)]
pub struct AliasPattern {
    /// The compiled pattern; it has at least one of the groups `customer`, `product_line`, `role`.
    pub regex: Regex,
}

/// Two patterns are the same when they are written the same.
impl PartialEq for AliasPattern {
    fn eq(&self, other: &Self) -> bool {
        self.regex.as_str() == other.regex.as_str()
    }
}

impl Serialize for AliasPattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.regex.as_str())
    }
}

/// Attribution found in an ifAlias by an [`AliasPattern`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AliasLabels {
    /// Captured `customer` group.
    pub customer: Option<String>,
    /// Captured `product_line` group.
    pub product_line: Option<String>,
    /// Captured `role` group.
    pub role: Option<String>,
}

impl AliasPattern {
    /// The names of capture groups a pattern may use.
    pub const GROUPS: [&'static str; 3] = ["customer", "product_line", "role"];

    /// The labels this pattern finds in an ifAlias, or `None` when it does not match.
    pub fn attribute(&self, alias: &str) -> Option<AliasLabels> {
        let caps = self.regex.captures(alias)?;
        let get = |g: &str| {
            caps.name(g)
                .map(|m| m.as_str().to_string())
                .filter(|s| !s.is_empty())
        };
        Some(AliasLabels {
            customer: get("customer"),
            product_line: get("product_line"),
            role: get("role"),
        })
    }
}

/// One SNMP agent that bandwatch polls.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Switch {
    /// Unique name.
    pub name: String,
    /// The site it is in.
    pub site: String,
    /// `host:port` of its SNMP agent.
    pub address: String,
    /// Name of its SNMP profile.
    pub profile: String,
    /// Resolved SNMP settings (secrets inside are redacted when printed).
    #[serde(skip)]
    pub snmp: SnmpProfile,
    /// Poll interval.
    pub interval: Duration,
    /// How often the static columns (ifName, ifDescr, ifAlias) are walked again.
    pub rediscover: Duration,
    /// ifAlias conventions for this switch: its own first, then the global ones.
    pub alias_patterns: Vec<AliasPattern>,
    /// The ports configured by name, in config order.
    pub ports: Vec<Port>,
    /// Free text.
    pub description: Option<String>,
    /// The shard whose daemons poll it (its own `shard`, else its site's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
}

impl Switch {
    /// The attribution an ifAlias gets from this switch's patterns (the first that matches).
    pub fn attribute_alias(&self, alias: &str) -> Option<AliasLabels> {
        self.alias_patterns.iter().find_map(|p| p.attribute(alias))
    }
}

/// A business line whose traffic is the sum of its ports, across switches and sites.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProductLine {
    /// Unique name.
    pub name: String,
    /// Route names of its owners.
    pub owners: Vec<String>,
    /// Its ports, on any switch of any site.
    pub ports: Vec<PortKey>,
    /// Free text.
    pub description: Option<String>,
}

/// A customer: one or more ports on one or more switches.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Customer {
    /// Unique id (used in labels and alias patterns).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Route name of the account manager.
    pub account_manager: Option<String>,
    /// Its ports.
    pub ports: Vec<PortKey>,
}

/// A named audience with its email addresses.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Route {
    /// Unique name (ops, sales, an owner, an account manager).
    pub name: String,
    /// Addresses.
    pub email: Vec<String>,
}

/// The validated topology.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Topology {
    /// Sites by name.
    pub sites: BTreeMap<String, Site>,
    /// Switches in config order.
    pub switches: Vec<Arc<Switch>>,
    /// Product lines by name.
    pub product_lines: BTreeMap<String, ProductLine>,
    /// Customers by id.
    pub customers: BTreeMap<String, Customer>,
    /// Routes by name.
    pub routes: BTreeMap<String, Route>,
    /// Price plans, customers' revenue and uplinks' transit (never served by the topology
    /// API: prices are business-confidential).
    #[serde(skip)]
    pub pricing: super::pricing::Pricing,
    /// Maintenance windows (`[[maintenance]]`): which entities' alerts they mute, and when.
    /// Served by `/api/v1/maintenance`, not by the topology API.
    #[serde(skip)]
    pub maintenance: Vec<crate::maintenance::Window>,
}

impl Topology {
    /// A switch by name.
    pub fn switch(&self, name: &str) -> Option<&Switch> {
        self.switches.iter().find(|s| s.name == name).map(|s| &**s)
    }

    /// A port by its key.
    pub fn port(&self, key: &PortKey) -> Option<&Port> {
        self.switch(&key.switch)?
            .ports
            .iter()
            .find(|p| p.name == key.port)
    }

    /// Every configured port, switch by switch.
    pub fn ports(&self) -> impl Iterator<Item = &Port> {
        self.switches.iter().flat_map(|s| s.ports.iter())
    }

    /// Number of configured ports.
    pub fn port_count(&self) -> usize {
        self.switches.iter().map(|s| s.ports.len()).sum()
    }

    /// The topology as the stages after the poller see it: the configured one plus the ports
    /// the poller attributed by ifAlias patterns (`discovered`), each a member of its switch,
    /// site, product line and customer like a configured port. A customer or product line
    /// named only by an alias is added, with no account manager or owners; a port also
    /// configured by name keeps its configured labels.
    pub fn with_attributed(&self, discovered: &[PortLabels]) -> Topology {
        let mut t = self.clone();
        for labels in discovered {
            let Some(sw) = t.switches.iter_mut().find(|s| *s.name == *labels.switch) else {
                continue;
            };
            if sw.ports.iter().any(|p| p.name == labels.port) {
                continue;
            }
            let sw = Arc::make_mut(sw);
            let port = Port {
                name: labels.port.clone(),
                labels: PortLabels {
                    site: crate::intern::intern(&sw.site),
                    ..labels.clone()
                },
                max_rate: None,
                description: Some("attributed by an ifAlias pattern".into()),
                attributed: true,
            };
            let key = port.key();
            sw.ports.push(port);
            if let Some(pl) = &labels.product_line {
                t.product_lines
                    .entry(pl.to_string())
                    .or_insert_with(|| ProductLine {
                        name: pl.to_string(),
                        owners: Vec::new(),
                        ports: Vec::new(),
                        description: Some("named by an ifAlias pattern".into()),
                    })
                    .ports
                    .push(key.clone());
            }
            if let Some(c) = &labels.customer {
                t.customers
                    .entry(c.to_string())
                    .or_insert_with(|| Customer {
                        id: c.to_string(),
                        name: c.to_string(),
                        account_manager: None,
                        ports: Vec::new(),
                    })
                    .ports
                    .push(key);
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::diagnostic::SourceFile;

    fn topology() -> Topology {
        let text = r#"
[snmp.default]
version = "2c"
community = "${BW_TEST_UNSET_COMMUNITY:-public}"

[[site]]
name = "bj-1"

[[switch]]
name = "sw1"
site = "bj-1"
address = "127.0.0.1:16100"

[[product_line]]
name = "cdn"

[[port]]
switch = "sw1"
name = "eth1"
product_line = "cdn"
role = "uplink"

[[customer]]
id = "acme"
name = "ACME Corp"
ports = [{ switch = "sw1", name = "eth2" }]
"#;
        let src = SourceFile {
            path: "t.toml".into(),
            text: text.into(),
        };
        match crate::config::load_source(&src) {
            Ok(l) => l.config.topology,
            Err(d) => panic!("{d}"),
        }
    }

    fn alias(port: &str, customer: Option<&str>, product_line: Option<&str>) -> PortLabels {
        PortLabels {
            site: "".into(),
            switch: "sw1".into(),
            port: port.into(),
            product_line: product_line.map(Arc::from),
            customer: customer.map(Arc::from),
            role: Some("customer".into()),
        }
    }

    #[test]
    fn attributed_ports_join_their_customer_and_product_line_and_new_names_are_added() {
        let t = topology();
        let e = t.with_attributed(&[
            alias("eth3", Some("acme"), None),
            alias("eth4", Some("initech"), Some("cloud")),
            // Configured by name: the configured labels win.
            alias("eth1", Some("globex"), None),
            alias("eth9", Some("nobody"), None),
        ]);
        let keys = |v: &[PortKey]| v.iter().map(|k| k.port.to_string()).collect::<Vec<_>>();
        assert_eq!(keys(&e.customers["acme"].ports), ["eth2", "eth3"]);
        assert_eq!(e.customers["acme"].name, "ACME Corp");
        assert_eq!(keys(&e.customers["initech"].ports), ["eth4"]);
        assert_eq!(e.customers["initech"].account_manager, None);
        assert_eq!(keys(&e.product_lines["cloud"].ports), ["eth4"]);
        assert!(!e.customers.contains_key("globex"));
        let eth3 = e
            .port(&PortKey {
                switch: "sw1".into(),
                port: "eth3".into(),
            })
            .expect("eth3 is a port of the effective topology");
        assert_eq!(&*eth3.labels.site, "bj-1");
        assert_eq!(eth3.labels.customer.as_deref(), Some("acme"));
        // A port on a switch the configuration does not know is left out.
        let mut other = alias("eth5", Some("hooli"), None);
        other.switch = "gone".into();
        let e2 = t.with_attributed(&[other]);
        assert!(!e2.customers.contains_key("hooli"));
        // The configured topology is untouched.
        assert_eq!(t.port_count(), 2);
        assert_eq!(e.port_count(), 5);
    }
}
