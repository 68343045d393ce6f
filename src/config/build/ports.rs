//! `[[product_line]]` and `[[port]]`: the ports polled and their labels.

use super::*;

impl Builder<'_, '_> {
    pub(super) fn product_lines(&mut self, topo: &mut Topology) {
        let raws: Vec<document::Element<RawProductLine>> = self.doc.array_of_tables("product_line");
        let mut seen = HashMap::new();
        for el in raws {
            let key = format!("product_line[{}]", el.index);
            let mut ok = self.unique(
                &mut seen,
                "product line",
                &el.value.name,
                &format!("{key}.name"),
            );
            for (i, o) in el.value.owners.iter().enumerate() {
                ok &= self.route_ref(topo, o, &format!("{key}.owners[{i}]"));
            }
            if ok {
                let name = el.value.name.into_inner();
                self.product_line_prefixes
                    .push((name.clone(), key.clone(), el.value.prefixes));
                let owners = el
                    .value
                    .owners
                    .into_iter()
                    .map(Spanned::into_inner)
                    .collect();
                topo.product_lines.insert(
                    name.clone(),
                    ProductLine {
                        name,
                        owners,
                        ports: Vec::new(),
                        description: el.value.description,
                    },
                );
            }
        }
    }

    pub(super) fn ports(&mut self, topo: &mut Topology) {
        let raws: Vec<document::Element<RawPort>> = self.doc.array_of_tables("port");
        let mut seen: HashMap<PortKey, Seen> = HashMap::new();
        for el in raws {
            let key = format!("port[{}]", el.index);
            let raw = el.value;
            if !self.switch_ref(topo, &raw.switch, &format!("{key}.switch")) {
                continue;
            }
            if raw.name.get_ref().trim().is_empty() {
                self.doc.error(
                    Some(raw.name.span()),
                    &format!("{key}.name"),
                    "port name must not be empty",
                );
                continue;
            }
            if let Some(pl) = &raw.product_line
                && !topo.product_lines.contains_key(pl.get_ref())
            {
                let names = known(topo.product_lines.keys());
                self.unknown_ref(
                    "product_line",
                    "product line",
                    pl,
                    &format!("{key}.product_line"),
                    names,
                );
                continue;
            }
            let pk = PortKey::new(raw.switch.get_ref(), raw.name.get_ref());
            if let Some(first) = seen.get(&pk) {
                let msg = format!(
                    "port `{pk}` is declared twice; it is first declared at {}",
                    self.at(&first.span)
                );
                self.doc
                    .error(Some(raw.name.span()), &format!("{key}.name"), msg);
                continue;
            }
            seen.insert(
                pk.clone(),
                Seen {
                    span: raw.name.span(),
                },
            );
            let Some(sw) = topo.switches.iter_mut().find(|s| *s.name == *pk.switch) else {
                continue;
            };
            let sw = std::sync::Arc::make_mut(sw);
            let product_line = raw.product_line.map(Spanned::into_inner);
            let transit = raw.transit;
            sw.ports.push(Port {
                name: pk.port.clone(),
                labels: PortLabels {
                    site: intern(&sw.site),
                    switch: Arc::clone(&pk.switch),
                    port: pk.port.clone(),
                    product_line: product_line.as_deref().map(intern),
                    customer: None,
                    role: raw.role.as_ref().map(|r| intern(r.get_ref())),
                },
                max_rate: raw.max_rate,
                attributed: false,
                description: raw.description,
            });
            if let Some(pl) = product_line.and_then(|pl| topo.product_lines.get_mut(&pl)) {
                pl.ports.push(pk.clone());
            }
            if let Some(t) = &transit {
                self.port_transit(topo, &pk, t, &key);
            }
        }
        // The lists grew by doubling and live as long as the topology: a 48-port switch's
        // list had room for 64, 0.7 MiB of empty room at 9,600 ports (heaptrack).
        for sw in &mut topo.switches {
            std::sync::Arc::make_mut(sw).ports.shrink_to_fit();
        }
    }
}
