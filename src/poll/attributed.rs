//! Ports found by ifAlias patterns rather than configured: their labels live here, updated at
//! every discovery, so later stages (store, rules, http) can label samples of ports that the
//! [`Topology`](crate::config::Topology) does not list. A [`Sweep`](super::Sweep) names such
//! ports like any other; look their labels up by [`PortKey`].

use std::collections::BTreeMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::{PortKey, PortLabels};

/// The alias-attributed ports of every switch, by key.
#[derive(Debug, Default)]
pub struct AttributedPorts {
    inner: RwLock<BTreeMap<PortKey, PortLabels>>,
    /// Bumped whenever the set changes, so a later stage rebuilds only when it must.
    generation: AtomicU64,
}

impl AttributedPorts {
    /// Replaces the alias-attributed ports of one switch (after its discovery).
    pub fn replace_switch(&self, switch: &str, ports: Vec<PortLabels>) {
        if let Ok(mut map) = self.inner.write() {
            // The map is ordered by switch, then port: compare with the new set in that order.
            let before: Vec<&PortLabels> = map
                .iter()
                .filter(|(k, _)| *k.switch == *switch)
                .map(|(_, v)| v)
                .collect();
            let mut after: Vec<&PortLabels> = ports.iter().collect();
            after.sort_by(|a, b| a.port.cmp(&b.port));
            if before == after {
                return;
            }
            map.retain(|k, _| *k.switch != *switch);
            for labels in ports {
                let key = PortKey {
                    switch: crate::intern::intern(switch),
                    port: labels.port.clone(),
                };
                map.insert(key, labels);
            }
            self.generation.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A number that changes whenever an attribution does (starts at 0: none yet).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// The labels of an alias-attributed port.
    pub fn labels(&self, key: &PortKey) -> Option<PortLabels> {
        self.inner.read().ok()?.get(key).cloned()
    }

    /// The switches that have alias-attributed ports.
    pub fn switches(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .inner
            .read()
            .map(|m| m.keys().map(|k| k.switch.to_string()).collect())
            .unwrap_or_default();
        names.dedup();
        names
    }

    /// Every alias-attributed port, ordered by switch and port.
    pub fn all(&self) -> Vec<PortLabels> {
        self.inner
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(switch: &str, port: &str, customer: &str) -> PortLabels {
        PortLabels {
            site: "s".into(),
            switch: switch.into(),
            port: port.into(),
            customer: Some(customer.into()),
            ..PortLabels::default()
        }
    }

    #[test]
    fn replacing_one_switch_keeps_the_others() {
        let a = AttributedPorts::default();
        a.replace_switch("sw1", vec![labels("sw1", "eth4", "acme")]);
        a.replace_switch("sw2", vec![labels("sw2", "eth8", "globex")]);
        assert_eq!(a.generation(), 2);
        // Rediscovery that finds the same attributions changes nothing downstream.
        a.replace_switch("sw2", vec![labels("sw2", "eth8", "globex")]);
        assert_eq!(a.generation(), 2);
        a.replace_switch("sw1", vec![labels("sw1", "eth5", "initech")]);
        assert_eq!(a.generation(), 3);
        let key = |s: &str, p: &str| PortKey {
            switch: s.into(),
            port: p.into(),
        };
        assert_eq!(a.labels(&key("sw1", "eth4")), None);
        assert_eq!(
            a.labels(&key("sw1", "eth5")).unwrap().customer.as_deref(),
            Some("initech")
        );
        assert_eq!(a.all().len(), 2);
    }
}
