//! `[[customer]]` and `[report]`: customers, their ports and billing, the monthly report.

use super::*;

impl Builder<'_, '_> {
    pub(super) fn customers(&mut self, topo: &mut Topology) -> BTreeMap<String, Billing> {
        let mut billing = BTreeMap::new();
        let raws: Vec<document::Element<RawCustomer>> = self.doc.array_of_tables("customer");
        let mut seen = HashMap::new();
        let mut claimed: HashMap<PortKey, (String, Range<usize>)> = HashMap::new();
        for el in raws {
            let key = format!("customer[{}]", el.index);
            let raw = el.value;
            let mut ok = self.unique(&mut seen, "customer", &raw.id, &format!("{key}.id"));
            if let Some(am) = &raw.account_manager {
                ok &= self.route_ref(topo, am, &format!("{key}.account_manager"));
            }
            let id = raw.id.get_ref().clone();
            if let Some(b) = &raw.billing {
                match self.billing(b, &key) {
                    Some(m) => {
                        billing.insert(id.clone(), m);
                    }
                    None => ok = false,
                }
            }
            ok &= self.customer_price(topo, &raw, &key, &mut billing);
            let mut ports = Vec::new();
            for (i, pr) in raw.ports.iter().enumerate() {
                let pkey = format!("{key}.ports[{i}]");
                let pr = pr.get_ref();
                if !self.switch_ref(topo, &pr.switch, &format!("{pkey}.switch")) {
                    ok = false;
                    continue;
                }
                let pk = PortKey::new(pr.switch.get_ref(), pr.name.get_ref());
                if let Some((other, span)) = claimed.get(&pk) {
                    let msg = format!(
                        "port `{pk}` is already claimed by customer `{other}` at {}",
                        self.at(span)
                    );
                    self.doc
                        .error(Some(pr.name.span()), &format!("{pkey}.name"), msg);
                    ok = false;
                    continue;
                }
                claimed.insert(pk.clone(), (id.clone(), pr.name.span()));
                ports.push(pk);
            }
            if !ok {
                continue;
            }
            for pk in &ports {
                let Some(sw) = topo.switches.iter_mut().find(|s| *s.name == *pk.switch) else {
                    continue;
                };
                let sw = std::sync::Arc::make_mut(sw);
                match sw.ports.iter_mut().find(|p| p.name == pk.port) {
                    Some(p) => p.labels.customer = Some(intern(&id)),
                    None => sw.ports.push(Port {
                        name: pk.port.clone(),
                        labels: PortLabels {
                            site: intern(&sw.site),
                            switch: Arc::clone(&pk.switch),
                            port: pk.port.clone(),
                            product_line: None,
                            customer: Some(intern(&id)),
                            role: Some(intern("customer")),
                        },
                        max_rate: None,
                        attributed: false,
                        description: None,
                    }),
                }
            }
            self.customer_prefixes
                .push((id.clone(), key.clone(), raw.prefixes));
            let name = raw.name.unwrap_or_else(|| id.clone());
            topo.customers.insert(
                id.clone(),
                Customer {
                    id,
                    name,
                    account_manager: raw.account_manager.map(Spanned::into_inner),
                    ports,
                },
            );
        }
        billing
    }

    pub(super) fn report(
        &mut self,
        topo: &Topology,
        billing: BTreeMap<String, Billing>,
    ) -> ReportSettings {
        let raw: RawReport = self.doc.value("report").unwrap_or_default();
        let mut out = ReportSettings {
            billing,
            ..ReportSettings::default()
        };
        if let Some(d) = &raw.day {
            match u8::try_from(*d.get_ref()) {
                Ok(v @ 1..=28) => out.day = v,
                _ => self.doc.error(
                    Some(d.span()),
                    "report.day",
                    "must be a day of the month from 1 to 28 (every month has it)",
                ),
            }
        }
        if let Some(t) = &raw.time {
            let parsed = t.get_ref().split_once(':').and_then(|(h, m)| {
                let (h, m) = (h.parse::<u8>().ok()?, m.parse::<u8>().ok()?);
                (h < 24 && m < 60 && t.get_ref().len() == 5).then_some((h, m))
            });
            match parsed {
                Some(hm) => out.time = hm,
                None => self.doc.error(
                    Some(t.span()),
                    "report.time",
                    format!("`{}` is not a time of day like `06:00` (UTC)", t.get_ref()),
                ),
            }
        }
        match &raw.route {
            Some(r) if self.route_ref(topo, r, "report.route") => {
                out.route = r.get_ref().clone();
            }
            Some(_) => {}
            None if self.doc.has("report") && !topo.routes.contains_key(&out.route) => {
                let msg = format!(
                    "the report goes to route `{}`, which is not configured: add a `[[route]]` \
                     named so, or set `report.route`",
                    out.route
                );
                self.doc.warning(None, "report.route", msg);
            }
            None => {}
        }
        for (key, v, slot) in [
            ("report.up", &raw.up, &mut out.up),
            ("report.down", &raw.down, &mut out.down),
        ] {
            if let Some(v) = v {
                let x = *v.get_ref();
                if x.is_finite() && x > 0.0 && x < 10.0 {
                    *slot = x;
                } else {
                    self.doc.error(
                        Some(v.span()),
                        key,
                        "must be a fraction above 0, like 0.2 for 20 %",
                    );
                }
            }
        }
        out.exclude_attacks = raw.exclude_attacks.unwrap_or(false);
        out
    }
}
