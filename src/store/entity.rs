//! What a series is about: an entity (port, product line, site, switch, customer), the metrics
//! readers ask for, and the storage tiers.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// The kind of thing a series measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// One interface of one switch; its name is `SWITCH/PORT`.
    Port,
    /// A product line: the sum of its ports across switches and sites.
    ProductLine,
    /// A site: the sum of its switches' ports.
    Site,
    /// A switch: the sum of its ports.
    Switch,
    /// A customer: the sum of its ports.
    Customer,
}

impl EntityKind {
    /// Every kind.
    pub const ALL: [EntityKind; 5] = [
        EntityKind::Port,
        EntityKind::ProductLine,
        EntityKind::Site,
        EntityKind::Switch,
        EntityKind::Customer,
    ];

    /// The kind as stored and written on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Port => "port",
            EntityKind::ProductLine => "product_line",
            EntityKind::Site => "site",
            EntityKind::Switch => "switch",
            EntityKind::Customer => "customer",
        }
    }

    /// Parses the stored name of a kind.
    pub fn parse(s: &str) -> Option<EntityKind> {
        EntityKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One entity: a kind and a name (`SWITCH/PORT` for ports, the id for customers).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Entity {
    /// What it is.
    pub kind: EntityKind,
    /// Its unique name within the kind.
    pub name: String,
}

impl Entity {
    /// An entity of a kind.
    pub fn new(kind: EntityKind, name: impl Into<String>) -> Self {
        Entity {
            kind,
            name: name.into(),
        }
    }
    /// The port `switch/port`.
    pub fn port(switch: &str, port: &str) -> Self {
        Entity::new(EntityKind::Port, format!("{switch}/{port}"))
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.name)
    }
}

impl FromStr for Entity {
    type Err = String;
    /// `port:SWITCH/PORT` (split at the first slash: port names contain slashes),
    /// `product_line:NAME`, `site:NAME`, `switch:NAME`, `customer:ID`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, name) = s.split_once(':').ok_or_else(|| {
            format!(
                "entity `{s}` has no kind; write it as KIND:NAME, e.g. `product_line:cdn` or \
                 `port:core-1/Ethernet1/1` (kinds: port, product_line, site, switch, customer)"
            )
        })?;
        let kind = EntityKind::parse(kind).ok_or_else(|| {
            format!(
                "unknown entity kind `{kind}` in `{s}` (kinds: port, product_line, site, switch, \
                 customer)"
            )
        })?;
        if name.is_empty() {
            return Err(format!("entity `{s}` has an empty name"));
        }
        if kind == EntityKind::Port {
            match name.split_once('/') {
                Some((sw, p)) if !sw.is_empty() && !p.is_empty() => {}
                _ => {
                    return Err(format!(
                        "port entity `{s}` must be `port:SWITCH/PORT` (the first slash separates \
                         the switch from the port name)"
                    ));
                }
            }
        }
        Ok(Entity::new(kind, name))
    }
}

/// A quantity read from a series.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Inbound bits per second.
    InBps,
    /// Outbound bits per second.
    OutBps,
    /// Inbound packets per second.
    InPps,
    /// Outbound packets per second.
    OutPps,
    /// Inbound octets in the step.
    InBytes,
    /// Outbound octets in the step.
    OutBytes,
    /// max(in, out) bits per second over the capacity (port speed, or the sum of the member
    /// ports' speeds), as a fraction.
    Utilization,
}

impl Metric {
    /// Every metric.
    pub const ALL: [Metric; 7] = [
        Metric::InBps,
        Metric::OutBps,
        Metric::InPps,
        Metric::OutPps,
        Metric::InBytes,
        Metric::OutBytes,
        Metric::Utilization,
    ];
    /// The metric's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::InBps => "in_bps",
            Metric::OutBps => "out_bps",
            Metric::InPps => "in_pps",
            Metric::OutPps => "out_pps",
            Metric::InBytes => "in_bytes",
            Metric::OutBytes => "out_bytes",
            Metric::Utilization => "utilization",
        }
    }
}

impl FromStr for Metric {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Metric::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown metric `{s}` (metrics: in_bps, out_bps, in_pps, out_pps, in_bytes, \
                     out_bytes, utilization)"
                )
            })
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A storage tier: raw samples (ports) or 60 s slots (aggregates), and the rollups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Port samples as polled; 60 s slots for aggregates.
    Raw,
    /// 5-minute buckets (exact: the basis of 95th-percentile billing).
    M5,
    /// 1-hour buckets.
    H1,
    /// 1-day buckets (UTC days).
    D1,
}

impl Tier {
    /// Bucket length in seconds (aggregate slot length for `Raw`).
    pub fn bucket_secs(self) -> i64 {
        match self {
            Tier::Raw => super::SLOT_SECS,
            Tier::M5 => 300,
            Tier::H1 => 3600,
            Tier::D1 => 86_400,
        }
    }
    /// The rollup table of a tier (`None` for raw). For 5 minutes, the sealed buckets' table
    /// (open buckets are in `rollup_5m_recent`, see `schema::MIGRATION_8`).
    pub(crate) fn rollup_table(self) -> Option<&'static str> {
        match self {
            Tier::Raw => None,
            Tier::M5 => Some("rollup_5m_by_series"),
            Tier::H1 => Some("rollup_1h"),
            Tier::D1 => Some("rollup_1d"),
        }
    }
    /// The tier's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Raw => "raw",
            Tier::M5 => "5m",
            Tier::H1 => "1h",
            Tier::D1 => "1d",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_entity_splits_at_first_slash() {
        let e: Entity = "port:core-1/Ethernet1/1".parse().unwrap();
        assert_eq!(e.kind, EntityKind::Port);
        assert_eq!(e.name, "core-1/Ethernet1/1");
        assert!("port:core-1".parse::<Entity>().is_err());
        assert!("bogus:x".parse::<Entity>().is_err());
        assert!("cdn".parse::<Entity>().is_err());
        let c: Entity = "customer:acme".parse().unwrap();
        assert_eq!(c.to_string(), "customer:acme");
    }

    #[test]
    fn metric_names_round_trip() {
        for m in Metric::ALL {
            assert_eq!(m.as_str().parse::<Metric>().unwrap(), m);
        }
        assert!("bps".parse::<Metric>().is_err());
    }
}
