//! Which switches this daemon polls: with `[daemon] shard`, only those of its shard (each
//! switch's own `shard`, else its site's, resolved by the configuration); without, all.
//! Every daemon keeps the whole topology for everything else (aggregates, rules, reports).

use crate::config::Topology;

/// The topology the poller gets: `topology` with only the switches of `shard` (all of them
/// when `shard` is `None`).
pub fn polled(topology: &Topology, shard: Option<&str>) -> Topology {
    let Some(shard) = shard else {
        return topology.clone();
    };
    let mut t = topology.clone();
    t.switches.retain(|s| s.shard.as_deref() == Some(shard));
    for site in t.sites.values_mut() {
        site.switches
            .retain(|name| t.switches.iter().any(|s| &s.name == name));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{SourceFile, load_source};

    #[test]
    fn only_the_daemons_shard_is_polled() {
        let text = "[daemon]\nshard = \"bj\"\n[snmp.default]\nversion = \"2c\"\ncommunity = \"${X:-public}\"\n\
            [[site]]\nname = \"bj-1\"\nshard = \"bj\"\n[[site]]\nname = \"sh-1\"\nshard = \"sh\"\n\
            [[switch]]\nname = \"a\"\nsite = \"bj-1\"\naddress = \"127.0.0.1:1161\"\n\
            [[switch]]\nname = \"b\"\nsite = \"sh-1\"\naddress = \"127.0.0.1:1162\"\n\
            [[switch]]\nname = \"c\"\nsite = \"sh-1\"\naddress = \"127.0.0.1:1163\"\nshard = \"bj\"\n";
        let src = SourceFile {
            path: "s.toml".into(),
            text: text.into(),
        };
        let c = match load_source(&src) {
            Ok(l) => l.config,
            Err(d) => panic!("{d}"),
        };
        let t = polled(&c.topology, c.daemon.shard.as_deref());
        let names: Vec<&str> = t.switches.iter().map(|s| s.name.as_str()).collect();
        // `c` sits in site sh-1 but names its own shard.
        assert_eq!(names, vec!["a", "c"]);
        assert_eq!(t.sites["sh-1"].switches, vec!["c".to_string()]);
        assert_eq!(polled(&c.topology, None).switches.len(), 3);
    }
}
