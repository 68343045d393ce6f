//! `[flow]`, `customer.prefixes` and `product_line.prefixes` as validated: where the flow
//! collector listens, which switches export flows (from which address, at which sampling
//! rate), and the address prefixes that identify customers and product lines in flow
//! records.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use serde::Serialize;

/// The flow collector's settings; the default (no `listen`) runs no collector.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FlowSettings {
    /// UDP addresses to receive NetFlow v9 / IPFIX on (the format is told by each
    /// datagram's version field).
    pub listen: Vec<SocketAddr>,
    /// The switches whose flows are trusted, by source address.
    pub exporters: Vec<FlowExporter>,
    /// Every customer prefix, in file order.
    pub prefixes: Vec<CustomerPrefix>,
    /// Every product line prefix, in file order.
    pub product_line_prefixes: Vec<ProductLinePrefix>,
}

impl FlowSettings {
    /// Whether a collector runs.
    pub fn enabled(&self) -> bool {
        !self.listen.is_empty()
    }
}

/// `[[flow.exporter]]`: a configured switch that exports flows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FlowExporter {
    /// The switch (`[[switch]] name`).
    pub switch: String,
    /// The source address of its export datagrams (default: the host of its SNMP address).
    pub address: IpAddr,
    /// 1 in N packets sampled, when its datagrams do not say (default 1: unsampled).
    pub sampling: u32,
}

/// One prefix of one customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CustomerPrefix {
    /// The prefix.
    pub prefix: Prefix,
    /// The customer id.
    pub customer: String,
}

/// One prefix of one product line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProductLinePrefix {
    /// The prefix.
    pub prefix: Prefix,
    /// The product line's name.
    pub product_line: String,
}

/// An IPv4 or IPv6 prefix with no host bits set, e.g. `203.0.113.0/24`, `2001:db8:1::/48`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

impl Serialize for Prefix {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The host bits of `len` in a 128-bit (or 32-bit, widened) address, cleared.
fn mask128(bits: u128, len: u8, width: u8) -> u128 {
    if len == 0 {
        0
    } else {
        let keep = u128::MAX << (128 - u32::from(len));
        let shifted = bits << (128 - u32::from(width));
        (shifted & keep) >> (128 - u32::from(width))
    }
}

impl Prefix {
    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn len(&self) -> u8 {
        self.len
    }

    /// Whether the prefix is `/0`.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `ip` is inside the prefix (never across address families).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                mask128(u128::from(u32::from(a)), self.len, 32) == u128::from(u32::from(n))
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                mask128(u128::from(a), self.len, 128) == u128::from(n)
            }
            _ => false,
        }
    }

    /// Whether the two prefixes share any address.
    pub fn overlaps(&self, other: &Prefix) -> bool {
        if self.len <= other.len {
            self.contains(other.addr)
        } else {
            other.contains(self.addr)
        }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for Prefix {
    type Err = String;
    /// `ADDRESS/LENGTH`; host bits must be zero (a typo like `203.0.113.7/24` is refused
    /// rather than silently widened).
    fn from_str(s: &str) -> Result<Prefix, String> {
        let (a, l) = s.split_once('/').ok_or_else(|| {
            format!("`{s}` is not a prefix like `203.0.113.0/24` or `2001:db8:1::/48`")
        })?;
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("`{a}` in `{s}` is not an IPv4 or IPv6 address"))?;
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let len: u8 =
            l.parse().ok().filter(|n| *n <= width).ok_or_else(|| {
                format!("`{l}` in `{s}` is not a prefix length from 0 to {width}")
            })?;
        let masked = match addr {
            IpAddr::V4(v) => IpAddr::V4(Ipv4Addr::from(
                mask128(u128::from(u32::from(v)), len, 32) as u32
            )),
            IpAddr::V6(v) => IpAddr::V6(Ipv6Addr::from(mask128(u128::from(v), len, 128))),
        };
        if masked != addr {
            return Err(format!(
                "`{s}` has host bits set; the prefix is `{masked}/{len}`"
            ));
        }
        Ok(Prefix { addr, len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_parse_contain_and_overlap() {
        let p: Prefix = "203.0.113.0/24".parse().unwrap();
        assert!(p.contains("203.0.113.7".parse().unwrap()));
        assert!(!p.contains("203.0.114.7".parse().unwrap()));
        assert!(!p.contains("::1".parse().unwrap()));
        let q: Prefix = "203.0.113.128/25".parse().unwrap();
        assert!(p.overlaps(&q) && q.overlaps(&p));
        let r: Prefix = "203.0.112.0/24".parse().unwrap();
        assert!(!p.overlaps(&r));
        let v6: Prefix = "2001:db8:1::/48".parse().unwrap();
        assert!(v6.contains("2001:db8:1:ffff::9".parse().unwrap()));
        assert!(!v6.contains("2001:db8:2::9".parse().unwrap()));
        let all: Prefix = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let e = "203.0.113.7/24".parse::<Prefix>().unwrap_err();
        assert!(e.contains("203.0.113.0/24"), "{e}");
        assert!("203.0.113.0/33".parse::<Prefix>().is_err());
        assert!("acme".parse::<Prefix>().is_err());
    }
}
