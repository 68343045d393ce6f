//! `[[site]]` and `[[switch]]`: where the switches are and how each is polled.

use super::*;

impl Builder<'_, '_> {
    pub(super) fn sites(&mut self, topo: &mut Topology) {
        let raws: Vec<document::Element<RawSite>> = self.doc.array_of_tables("site");
        let mut seen = HashMap::new();
        for el in raws {
            if self.unique(
                &mut seen,
                "site",
                &el.value.name,
                &format!("site[{}].name", el.index),
            ) {
                if let Some(s) = &el.value.shard {
                    self.shard_name(s, &format!("site[{}].shard", el.index));
                    self.site_shards
                        .insert(el.value.name.get_ref().clone(), s.get_ref().clone());
                }
                let name = el.value.name.into_inner();
                topo.sites.insert(
                    name.clone(),
                    Site {
                        name,
                        description: el.value.description,
                        switches: Vec::new(),
                    },
                );
            }
        }
    }

    pub(super) fn switches(
        &mut self,
        topo: &mut Topology,
        daemon: &Option<Daemon>,
        profiles: &BTreeMap<String, SnmpProfile>,
        global_patterns: &[AliasPattern],
    ) {
        let raws: Vec<document::Element<RawSwitch>> = self.doc.array_of_tables("switch");
        let mut seen = HashMap::new();
        let mut seen_addr: HashMap<String, Seen> = HashMap::new();
        let interval = daemon
            .as_ref()
            .map(|d| d.interval)
            .unwrap_or(defaults::INTERVAL);
        let rediscover = daemon
            .as_ref()
            .map(|d| d.rediscover)
            .unwrap_or(defaults::REDISCOVER);
        for el in raws {
            let key = format!("switch[{}]", el.index);
            let raw = el.value;
            let mut ok = self.unique(&mut seen, "switch", &raw.name, &format!("{key}.name"));
            if !topo.sites.contains_key(raw.site.get_ref()) {
                let names = known(topo.sites.keys());
                self.unknown_ref("site", "site", &raw.site, &format!("{key}.site"), names);
                ok = false;
            }
            let address = match normalize_address(raw.address.get_ref()) {
                Ok(a) => {
                    if let Some(first) = seen_addr.get(&a) {
                        let msg = format!(
                            "address `{a}` is already used by the switch at {}",
                            self.at(&first.span)
                        );
                        self.doc
                            .error(Some(raw.address.span()), &format!("{key}.address"), msg);
                        ok = false;
                    } else {
                        seen_addr.insert(
                            a.clone(),
                            Seen {
                                span: raw.address.span(),
                            },
                        );
                    }
                    a
                }
                Err(e) => {
                    self.doc
                        .error(Some(raw.address.span()), &format!("{key}.address"), e);
                    ok = false;
                    String::new()
                }
            };
            let profile_name = raw
                .profile
                .as_ref()
                .map(|p| p.get_ref().clone())
                .unwrap_or_else(|| defaults::PROFILE.to_string());
            let snmp = match profiles.get(&profile_name) {
                Some(p) => p.clone(),
                None => {
                    if !self.declared.contains(&("profile", profile_name.clone())) {
                        let span = raw
                            .profile
                            .as_ref()
                            .map(|p| p.span())
                            .unwrap_or(raw.name.span());
                        let msg = format!(
                            "unknown SNMP profile `{profile_name}`{}",
                            known(profiles.keys())
                        );
                        self.doc.error(Some(span), &format!("{key}.profile"), msg);
                    }
                    ok = false;
                    SnmpProfile::default()
                }
            };
            let sw_interval = self
                .positive(raw.interval.as_ref(), &format!("{key}.interval"))
                .unwrap_or(interval);
            if sw_interval.std() < std::time::Duration::from_secs(5)
                && let Some(i) = &raw.interval
            {
                let msg = "intervals under 5s read the agent's cached counters twice (net-snmp caches for about 3s): expect zero deltas";
                self.doc
                    .warning(Some(i.span()), &format!("{key}.interval"), msg);
            }
            let sw_rediscover = self
                .positive(raw.rediscover.as_ref(), &format!("{key}.rediscover"))
                .unwrap_or(rediscover);
            let mut patterns =
                self.alias_patterns(&raw.alias_patterns, &format!("{key}.alias_patterns"));
            patterns.extend(global_patterns.iter().cloned());
            let shard = match &raw.shard {
                Some(s) => {
                    ok &= self.shard_name(s, &format!("{key}.shard"));
                    Some(s.get_ref().clone())
                }
                None => self.site_shards.get(raw.site.get_ref()).cloned(),
            };
            if shard.is_none() {
                self.unsharded.push((
                    format!("{key}.shard"),
                    raw.name.span(),
                    raw.name.get_ref().clone(),
                ));
            }
            if !ok {
                continue;
            }
            let name = raw.name.into_inner();
            if let Some(site) = topo.sites.get_mut(raw.site.get_ref()) {
                site.switches.push(name.clone());
            }
            topo.switches.push(std::sync::Arc::new(Switch {
                name,
                site: raw.site.into_inner(),
                address,
                profile: profile_name,
                snmp,
                interval: sw_interval,
                rediscover: sw_rediscover,
                alias_patterns: patterns,
                ports: Vec::new(),
                description: raw.description,
                shard,
            }));
        }
    }
}
