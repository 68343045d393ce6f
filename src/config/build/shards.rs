//! Shards: `[daemon] shard` and `shard` on `[[site]]` (inherited by its switches) or
//! `[[switch]]`. Once any shard is named, every switch must be in one (else no daemon would
//! poll it) and `[daemon] shard` must say which one this daemon polls.

use super::*;

impl Builder<'_, '_> {
    /// A shard name: letters, digits, `.`, `-` and `_` (it appears in lease names and logs).
    pub(super) fn shard_name(&mut self, s: &Spanned<String>, key: &str) -> bool {
        let v = s.get_ref();
        let ok = !v.is_empty()
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !ok {
            self.doc.error(
                Some(s.span()),
                key,
                "a shard name holds letters, digits, `.`, `-` and `_`, and is not empty",
            );
        }
        ok
    }

    pub(super) fn shards(&mut self, topo: &Topology, daemon: &Option<Daemon>) {
        let daemon_shard = self.daemon_shard.clone();
        let daemon_shard = daemon_shard.as_ref();
        if let Some(s) = daemon_shard {
            self.shard_name(s, "daemon.shard");
        }
        let known: std::collections::BTreeSet<&str> = topo
            .switches
            .iter()
            .filter_map(|s| s.shard.as_deref())
            .collect();
        let any = daemon_shard.is_some() || !known.is_empty() || !self.site_shards.is_empty();
        if !any {
            return;
        }
        let names = if known.is_empty() {
            String::new()
        } else {
            format!(
                " (shards: {})",
                known.iter().copied().collect::<Vec<_>>().join(", ")
            )
        };
        for (key, span, name) in std::mem::take(&mut self.unsharded) {
            let msg = format!(
                "switch `{name}` is in no shard, so no daemon would poll it: set `shard` on it \
                 or on its site{names}"
            );
            self.doc.error(Some(span), &key, msg);
        }
        match (daemon_shard, daemon) {
            (None, _) => self.doc.error(
                None,
                "daemon.shard",
                format!("shards are configured: `[daemon] shard` must name the one this daemon polls{names}"),
            ),
            (Some(s), Some(_)) if !known.contains(s.get_ref().as_str()) => {
                let msg = format!(
                    "no switch is in shard `{}`: this daemon would poll nothing{names}",
                    s.get_ref()
                );
                self.doc.warning(Some(s.span()), "daemon.shard", msg);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{SourceFile, load_source};

    const SITES: &str = "[snmp.default]\nversion = \"2c\"\ncommunity = \"${X:-public}\"\n\
        [[site]]\nname = \"bj-1\"\nshard = \"bj\"\n[[site]]\nname = \"sh-1\"\n\
        [[switch]]\nname = \"a\"\nsite = \"bj-1\"\naddress = \"127.0.0.1:1161\"\n\
        [[switch]]\nname = \"b\"\nsite = \"sh-1\"\naddress = \"127.0.0.1:1162\"\n";

    fn load(text: &str) -> Result<crate::config::Loaded, String> {
        let src = SourceFile {
            path: "s.toml".into(),
            text: text.into(),
        };
        load_source(&src).map_err(|d| d.to_string())
    }

    #[test]
    fn a_switch_in_no_shard_is_an_error_at_its_line() {
        let e = load(&format!("[daemon]\nshard = \"bj\"\n{SITES}")).unwrap_err();
        // Switch `b` is declared on line 16 (its name), key switch[1].shard.
        assert!(
            e.contains("s.toml:16:8: switch[1].shard: switch `b` is in no shard"),
            "{e}"
        );
        assert!(e.contains("(shards: bj)"), "{e}");
        assert!(!e.contains("switch `a`"), "{e}");
    }

    #[test]
    fn the_daemon_must_name_its_shard_and_the_switch_inherits_its_sites() {
        let text = format!("{SITES}shard = \"sh\"\n");
        let e = load(&text).unwrap_err();
        assert!(e.contains("daemon.shard: shards are configured"), "{e}");
        let ok = load(&format!("[daemon]\nshard = \"sh\"\n{text}")).unwrap();
        let t = &ok.config.topology;
        assert_eq!(t.switch("a").and_then(|s| s.shard.as_deref()), Some("bj"));
        assert_eq!(t.switch("b").and_then(|s| s.shard.as_deref()), Some("sh"));
        assert_eq!(ok.config.daemon.shard.as_deref(), Some("sh"));
        // A shard no switch is in: a warning (the daemon would poll nothing).
        let w = load(&format!("[daemon]\nshard = \"gz\"\n{text}")).unwrap();
        assert!(
            w.warnings
                .to_string()
                .contains("no switch is in shard `gz`"),
            "{}",
            w.warnings
        );
        let bad = load(&format!("[daemon]\nshard = \"b j\"\n{text}")).unwrap_err();
        assert!(
            bad.contains("s.toml:2:9: daemon.shard: a shard name"),
            "{bad}"
        );
    }

    #[test]
    fn without_shards_nothing_changes() {
        let ok = load(&SITES.replace("shard = \"bj\"\n", "")).unwrap();
        assert!(ok.config.daemon.shard.is_none());
        assert!(
            ok.config
                .topology
                .switches
                .iter()
                .all(|s| s.shard.is_none())
        );
    }
}

#[cfg(test)]
mod example {
    /// The two-shard example of `config/shards/` checks, and its two files differ only in
    /// which shard the daemon polls.
    #[test]
    fn the_two_shard_example_loads() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/shards");
        let mut polled = Vec::new();
        for shard in ["bj-1", "sh-1"] {
            let l = match crate::config::load(&dir.join(format!("{shard}.toml"))) {
                Ok(l) => l,
                Err(d) => panic!("{d}"),
            };
            assert!(l.warnings.0.is_empty(), "{}", l.warnings);
            assert_eq!(l.config.daemon.shard.as_deref(), Some(shard));
            let t = crate::poll::shard::polled(&l.config.topology, Some(shard));
            polled.push(
                t.switches
                    .iter()
                    .map(|s| s.name.clone())
                    .collect::<Vec<_>>(),
            );
        }
        assert_eq!(polled[0], vec!["bj1-core-a"]);
        assert_eq!(polled[1], vec!["bj1-edge-a", "sh1-core-a"]);
    }
}
