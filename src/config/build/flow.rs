//! `[flow]`, `customer.prefixes` and `product_line.prefixes`: the collector's listeners, the
//! exporters (configured switches, by source address) and the prefixes, which must not
//! overlap between two customers, nor between two product lines (a flow would be attributed
//! by accident of longest match). A customer's prefix may lie inside a product line's: they
//! are two dimensions, like a port's two labels.

use std::net::IpAddr;

use super::*;
use crate::config::flow::{CustomerPrefix, FlowExporter, FlowSettings, Prefix, ProductLinePrefix};

/// The largest `sampling` accepted: beyond 1 in a million a count is noise.
pub(crate) const MAX_SAMPLING: i64 = 1_000_000;

impl Builder<'_, '_> {
    pub(super) fn flow(&mut self, topo: &Topology) -> FlowSettings {
        let raw: RawFlow = self.doc.value("flow").unwrap_or_default();
        let mut out = FlowSettings::default();
        for (i, l) in raw.listen.iter().enumerate() {
            match l.get_ref().parse::<SocketAddr>() {
                Ok(a) => out.listen.push(a),
                Err(_) => self.doc.error(
                    Some(l.span()),
                    &format!("flow.listen[{i}]"),
                    format!(
                        "`{}` is not an address and port like `0.0.0.0:2055` or `[::]:6343`",
                        l.get_ref()
                    ),
                ),
            }
        }
        let mut by_addr: HashMap<IpAddr, (String, Range<usize>)> = HashMap::new();
        for (i, e) in raw.exporter.iter().enumerate() {
            let key = format!("flow.exporter[{i}]");
            let span = e.span();
            let e = e.get_ref();
            if !self.switch_ref(topo, &e.switch, &format!("{key}.switch")) {
                continue;
            }
            let name = e.switch.get_ref().clone();
            let address = match &e.address {
                Some(a) => match a.get_ref().parse::<IpAddr>() {
                    Ok(ip) => ip,
                    Err(_) => {
                        let msg = format!("`{}` is not an IPv4 or IPv6 address", a.get_ref());
                        self.doc
                            .error(Some(a.span()), &format!("{key}.address"), msg);
                        continue;
                    }
                },
                None => match topo.switch(&name).and_then(|s| host_ip(&s.address)) {
                    Some(ip) => ip,
                    None => {
                        let msg = format!(
                            "switch `{name}` has no IP address to recognise its flows by (its \
                             SNMP address is a host name): set `address`"
                        );
                        self.doc.error(Some(span.clone()), &key, msg);
                        continue;
                    }
                },
            };
            let sampling = match &e.sampling {
                Some(s) if !(1..=MAX_SAMPLING).contains(s.get_ref()) => {
                    let msg = format!("must be from 1 (unsampled) to {MAX_SAMPLING}");
                    self.doc
                        .error(Some(s.span()), &format!("{key}.sampling"), msg);
                    continue;
                }
                Some(s) => *s.get_ref() as u32,
                None => 1,
            };
            if let Some((other, at)) = by_addr.get(&address) {
                let msg = format!(
                    "address {address} is already the exporter of switch `{other}` at {}",
                    self.at(at)
                );
                self.doc.error(Some(span), &key, msg);
                continue;
            }
            by_addr.insert(address, (name.clone(), span));
            out.exporters.push(FlowExporter {
                switch: name,
                address,
                sampling,
            });
        }
        // A customer may have ports and prefixes (a dedicated port, and addresses that name
        // it in attack evidence): its usage is measured on its ports only
        // (`FlowModel::with_ports`), so no byte counts twice and nothing is warned. The same
        // holds for a product line.
        let customers = std::mem::take(&mut self.customer_prefixes);
        for (prefix, customer) in self.prefixes("customer", customers) {
            out.prefixes.push(CustomerPrefix { prefix, customer });
        }
        let lines = std::mem::take(&mut self.product_line_prefixes);
        for (prefix, product_line) in self.prefixes("product line", lines) {
            out.product_line_prefixes.push(ProductLinePrefix {
                prefix,
                product_line,
            });
        }
        if (!out.prefixes.is_empty() || !out.product_line_prefixes.is_empty()) && !out.enabled() {
            self.doc.warning(
                None,
                "flow.listen",
                "customers or product lines have `prefixes` but `[flow] listen` is empty: their \
                 traffic is measured by flows, and no collector runs",
            );
        }
        if out.enabled() && out.exporters.is_empty() {
            self.doc.warning(
                None,
                "flow.exporter",
                "no `[[flow.exporter]]` is configured: every flow datagram will be dropped as \
                 coming from an unknown exporter",
            );
        }
        out
    }
}

impl Builder<'_, '_> {
    /// Parses the `prefixes` of each owner (a customer or a product line: `what`) and
    /// refuses a prefix that overlaps another owner's of the same kind (a flow would go to
    /// whichever is longer) or has host bits set; (prefix, owner) in file order.
    fn prefixes(
        &mut self,
        what: &str,
        owners: Vec<(String, String, Vec<Spanned<String>>)>,
    ) -> Vec<(Prefix, String)> {
        let mut seen: Vec<(Prefix, String, Range<usize>)> = Vec::new();
        for (owner, key, prefixes) in owners {
            for (j, p) in prefixes.iter().enumerate() {
                let pkey = format!("{key}.prefixes[{j}]");
                let prefix = match p.get_ref().parse::<Prefix>() {
                    Ok(x) => x,
                    Err(e) => {
                        self.doc.error(Some(p.span()), &pkey, e);
                        continue;
                    }
                };
                let clash = seen
                    .iter()
                    .find(|(q, c, _)| *c != owner && q.overlaps(&prefix))
                    .map(|(q, c, at)| (*q, c.clone(), at.clone()));
                if let Some((q, c, at)) = clash {
                    let msg = format!(
                        "{prefix} of {what} `{owner}` overlaps {q} of {what} `{c}` at {}: a \
                         flow would go to whichever is longer; split them",
                        self.at(&at)
                    );
                    self.doc.error(Some(p.span()), &pkey, msg);
                    continue;
                }
                seen.push((prefix, owner.clone(), p.span()));
            }
        }
        seen.into_iter().map(|(p, o, _)| (p, o)).collect()
    }
}

/// The IP of a `host:port` or bare-host SNMP address, when it is one.
fn host_ip(address: &str) -> Option<IpAddr> {
    if let Ok(sa) = address.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    if let Ok(ip) = address.parse::<IpAddr>() {
        return Some(ip);
    }
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}
