//! What changed between the running model and a new one, so that a reload applies only that:
//! a switch whose definition did not change keeps its poller and counter state, a rule whose
//! definition did not change keeps its alert states and baselines, the notifier is rebuilt
//! only when `[email]`, the routes or the public URL changed.

use std::collections::BTreeMap;

use super::Runtime;
use crate::config::Config;

/// Names added, removed and changed in one kind of thing (switches, rules).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// New in the new model.
    pub added: Vec<String>,
    /// Gone from the new model.
    pub removed: Vec<String>,
    /// In both, defined differently.
    pub changed: Vec<String>,
    /// In both, defined the same.
    pub unchanged: usize,
}

impl Changes {
    /// Compares two named collections with `same` deciding whether a definition changed.
    fn between<'a, T: 'a>(
        old: impl IntoIterator<Item = (&'a str, &'a T)>,
        new: impl IntoIterator<Item = (&'a str, &'a T)>,
        same: impl Fn(&T, &T) -> bool,
    ) -> Changes {
        let old: BTreeMap<&str, &T> = old.into_iter().collect();
        let new: BTreeMap<&str, &T> = new.into_iter().collect();
        let mut c = Changes::default();
        for (name, n) in &new {
            match old.get(name) {
                None => c.added.push(name.to_string()),
                Some(o) if same(o, n) => c.unchanged += 1,
                Some(_) => c.changed.push(name.to_string()),
            }
        }
        c.removed = old
            .keys()
            .filter(|k| !new.contains_key(*k))
            .map(|k| k.to_string())
            .collect();
        c
    }

    /// Nothing added, removed or changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// Whether `name` is new or defined differently (its state starts afresh).
    pub fn touches(&self, name: &str) -> bool {
        self.added.iter().chain(&self.changed).any(|n| n == name)
    }

    fn summary(&self) -> String {
        format!(
            "{} added, {} removed, {} changed, {} unchanged",
            self.added.len(),
            self.removed.len(),
            self.changed.len(),
            self.unchanged
        )
    }
}

/// The difference between two runtime models.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diff {
    /// Switches, by name, compared on everything the poller uses (address, SNMP profile and
    /// credentials, interval, rediscovery, alias patterns, ports and their labels).
    pub switches: Changes,
    /// Rules, by name, compared on their definition (not on where they are written).
    pub rules: Changes,
    /// The topology the store, the live view and the rules attribute with (ports' labels,
    /// product lines, customers, sites, routes, prices, alias-attributed ports).
    pub topology: bool,
    /// `[email]`, the routes' addresses or `daemon.public_url`: the notify stage is rebuilt.
    pub notify: bool,
    /// Anything else of the configuration (report, api, ...): readers see the new values.
    pub settings: bool,
}

impl Diff {
    /// What differs from `old` to `new`.
    pub fn between(old: &Runtime, new: &Runtime) -> Diff {
        // The configured switches: what the poller polls (ports attributed by ifAlias
        // patterns are the switch's own discovery, not its definition).
        let switches = Changes::between(
            old.config
                .topology
                .switches
                .iter()
                .map(|s| (s.name.as_str(), s)),
            new.config
                .topology
                .switches
                .iter()
                .map(|s| (s.name.as_str(), s)),
            |a, b| a == b,
        );
        let rules = Changes::between(
            old.rules.iter().map(|r| (r.name.as_str(), r)),
            new.rules.iter().map(|r| (r.name.as_str(), r)),
            |a, b| a.same_definition(b),
        );
        let (o, n) = (&old.topology, &new.topology);
        let topology = !switches.is_empty()
            || o.switches != n.switches
            || o.sites != n.sites
            || o.product_lines != n.product_lines
            || o.customers != n.customers
            || o.routes != n.routes
            || o.pricing != n.pricing
            || o.maintenance != n.maintenance;
        let notify = notify_changed(&old.config, &new.config);
        let settings = old.config.report.day != new.config.report.day
            || old.config.report.time != new.config.report.time
            || old.config.report.route != new.config.report.route
            || old.config.report.billing != new.config.report.billing
            || old.config.report.exclude_attacks != new.config.report.exclude_attacks
            || old.config.report.up != new.config.report.up
            || old.config.report.down != new.config.report.down
            || old.config.api.token != new.config.api.token
            || old.config.daemon.interval != new.config.daemon.interval
            || old.config.daemon.rediscover != new.config.daemon.rediscover
            || old.config.remote_write != new.config.remote_write;
        Diff {
            switches,
            rules,
            topology,
            notify,
            settings,
        }
    }

    /// Nothing to apply.
    pub fn is_empty(&self) -> bool {
        self.switches.is_empty()
            && self.rules.is_empty()
            && !self.topology
            && !self.notify
            && !self.settings
    }

    /// One line for the log: what the reload changed.
    pub fn summary(&self) -> String {
        if self.is_empty() {
            return "nothing changed".into();
        }
        let mut parts = vec![
            format!("switches: {}", self.switches.summary()),
            format!("rules: {}", self.rules.summary()),
        ];
        if self.topology {
            parts.push("topology changed".into());
        }
        if self.notify {
            parts.push("email settings changed".into());
        }
        if self.settings {
            parts.push("other settings changed".into());
        }
        parts.join("; ")
    }
}

fn notify_changed(old: &Config, new: &Config) -> bool {
    old.email != new.email
        || old.daemon.public_url != new.daemon.public_url
        || old.topology.routes != new.topology.routes
}

/// Settings a running daemon cannot change (the listener's address, the data folder, the
/// store's retention, the poller's concurrency): the new configuration keeps the running
/// values, and each one that differed is named, for a warning that it takes a restart.
pub fn keep_restart_only(running: &Config, new: &mut Config) -> Vec<&'static str> {
    let mut kept = Vec::new();
    if new.daemon.listen != running.daemon.listen {
        new.daemon.listen = running.daemon.listen;
        kept.push("daemon.listen");
    }
    if new.daemon.data_dir != running.daemon.data_dir {
        new.daemon.data_dir = running.daemon.data_dir.clone();
        kept.push("daemon.data_dir");
    }
    if new.daemon.max_concurrent_polls != running.daemon.max_concurrent_polls {
        new.daemon.max_concurrent_polls = running.daemon.max_concurrent_polls;
        kept.push("daemon.max_concurrent_polls");
    }
    if new.retention != running.retention {
        new.retention = running.retention;
        kept.push("retention");
    }
    if new.flow.listen != running.flow.listen {
        new.flow.listen = running.flow.listen.clone();
        kept.push("flow.listen");
    }
    if new.daemon.shard != running.daemon.shard {
        new.daemon.shard = running.daemon.shard.clone();
        kept.push("daemon.shard");
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Config {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/bandwatch.toml");
        match crate::config::load(&path) {
            Ok(l) => l.config,
            Err(d) => panic!("{d}"),
        }
    }

    fn runtime(config: Config) -> Runtime {
        match Runtime::build(config, Vec::new()) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn the_same_files_make_an_empty_diff() {
        let (a, b) = (runtime(example()), runtime(example()));
        let d = Diff::between(&a, &b);
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(d.switches.unchanged, a.topology.switches.len());
        assert_eq!(d.rules.unchanged, a.rules.len());
        assert!(!a.rules.is_empty());
    }

    #[test]
    fn a_changed_switch_and_rule_are_named_and_the_rest_is_unchanged() {
        let a = runtime(example());
        let mut config = example();
        std::sync::Arc::make_mut(&mut config.topology.switches[1]).interval =
            crate::config::Duration::from_secs(7);
        let mut rules: Vec<_> = a.rules.to_vec();
        rules[0].for_secs += 60;
        // Moving a rule within its file changes nothing.
        rules[1].line += 10;
        let b = Runtime::from_parts(config, rules, Vec::new());
        let d = Diff::between(&a, &b);
        assert_eq!(
            d.switches.changed,
            vec![a.topology.switches[1].name.clone()]
        );
        assert_eq!(d.switches.unchanged, a.topology.switches.len() - 1);
        assert_eq!(d.rules.changed, vec![a.rules[0].name.clone()]);
        assert_eq!(d.rules.unchanged, a.rules.len() - 1);
        assert!(d.topology);
        assert!(!d.notify);
    }

    #[test]
    fn added_and_removed_switches_and_changed_routes_are_seen() {
        let a = runtime(example());
        let mut config = example();
        let gone = config.topology.switches.remove(0);
        let mut extra = config.topology.switches[0].clone();
        std::sync::Arc::make_mut(&mut extra).name = "new-switch".into();
        config.topology.switches.push(extra);
        if let Some(r) = config.topology.routes.values_mut().next() {
            r.email.push("someone@example.net".into());
        }
        let b = Runtime::from_parts(config, a.rules.to_vec(), Vec::new());
        let d = Diff::between(&a, &b);
        assert_eq!(d.switches.added, vec!["new-switch".to_string()]);
        assert_eq!(d.switches.removed, vec![gone.name.clone()]);
        assert!(d.notify);
        assert!(d.switches.touches("new-switch"));
    }

    #[test]
    fn restart_only_settings_keep_their_running_values() {
        let running = example();
        let mut new = example();
        new.daemon.listen = "127.0.0.1:1".parse().unwrap_or(running.daemon.listen);
        new.daemon.data_dir = "/elsewhere".into();
        let kept = keep_restart_only(&running, &mut new);
        assert_eq!(kept, vec!["daemon.listen", "daemon.data_dir"]);
        assert_eq!(new.daemon.listen, running.daemon.listen);
        assert_eq!(new.daemon.data_dir, running.daemon.data_dir);
        assert!(keep_restart_only(&running, &mut new).is_empty());
    }
}
