//! The resolved Topology of the example configuration: many-to-many attribution as the rest of
//! the pipeline sees it (a real file, loaded through the public API).

use std::path::Path;

use bandwatch::config::{self, PortKey, SnmpCredentials};

fn example() -> config::Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/bandwatch.toml");
    match config::load(&path) {
        Ok(l) => l.config,
        Err(d) => panic!("example config must load:\n{d}"),
    }
}

fn key(switch: &str, port: &str) -> PortKey {
    PortKey {
        switch: switch.into(),
        port: port.into(),
    }
}

#[test]
fn two_product_lines_share_a_switch_on_different_uplinks() {
    let cfg = example();
    let t = &cfg.topology;
    let sw = t.switch("bj1-core-a").expect("bj1-core-a");
    let lines: Vec<Option<&str>> = sw
        .ports
        .iter()
        .map(|p| p.labels.product_line.as_deref())
        .collect();
    assert!(
        lines.contains(&Some("cdn")) && lines.contains(&Some("cloud")),
        "{lines:?}"
    );
    let cdn = t.port(&key("bj1-core-a", "xe-0/0/1")).unwrap();
    assert_eq!(cdn.labels.role.as_deref(), Some("uplink"));
    assert_eq!(&*cdn.labels.site, "bj-1");
    assert_eq!(cdn.max_rate.map(|r| r.bps()), Some(10_000_000_000));
}

#[test]
fn a_product_line_spans_switches_and_sites() {
    let cfg = example();
    let t = &cfg.topology;
    let cdn = &t.product_lines["cdn"];
    let sites: std::collections::BTreeSet<&str> = cdn
        .ports
        .iter()
        .map(|k| t.switch(&k.switch).unwrap().site.as_str())
        .collect();
    assert_eq!(sites.into_iter().collect::<Vec<_>>(), vec!["bj-1", "sh-1"]);
    assert_eq!(cdn.owners, vec!["ops-cdn".to_string()]);
}

#[test]
fn a_customer_on_two_switches_labels_both_ports() {
    let cfg = example();
    let t = &cfg.topology;
    let globex = &t.customers["globex"];
    assert_eq!(
        globex.ports,
        vec![
            key("bj1-access-3", "ge-0/0/14"),
            key("sh1-access-1", "ge-0/0/3")
        ]
    );
    for k in &globex.ports {
        let p = t.port(k).expect("customer ports are polled");
        assert_eq!(p.labels.customer.as_deref(), Some("globex"));
    }
    // A declared [[port]] keeps its own labels and gains its customer.
    let declared = t.port(&key("bj1-access-3", "ge-0/0/20")).unwrap();
    assert_eq!(declared.labels.role.as_deref(), Some("customer"));
    assert_eq!(declared.labels.customer.as_deref(), Some("initech"));
    assert_eq!(declared.description.as_deref(), Some("Initech, 1G fibre"));
}

#[test]
fn alias_patterns_attribute_by_ifalias_switch_first() {
    let cfg = example();
    let t = &cfg.topology;
    let access = t.switch("bj1-access-3").unwrap();
    let own = access.attribute_alias("C-wonka").expect("switch pattern");
    assert_eq!(own.customer.as_deref(), Some("wonka"));
    let global = access
        .attribute_alias("Cust: acme-2 (10G)")
        .expect("global pattern");
    assert_eq!(global.customer.as_deref(), Some("acme-2"));
    assert!(access.attribute_alias("uplink to core").is_none());
    // The global pattern applies on switches without their own.
    assert!(
        t.switch("sh1-core-a")
            .unwrap()
            .attribute_alias("Cust: x")
            .is_some()
    );
}

#[test]
fn profiles_resolve_with_secrets_redacted() {
    let cfg = example();
    let sw = cfg.topology.switch("bj1-core-a").unwrap();
    match &sw.snmp.credentials {
        SnmpCredentials::V3(u) => {
            assert_eq!(u.user, "bandwatch");
            let (_, pw) = u.auth.as_ref().expect("auth");
            assert_eq!(pw.expose(), "authpass-example");
            assert!(!format!("{:?}", sw.snmp).contains("authpass-example"));
        }
        other => panic!("expected v3, got {other:?}"),
    }
    assert_eq!(sw.interval.as_secs(), 30);
    assert_eq!(
        cfg.topology
            .switch("sh1-core-a")
            .unwrap()
            .interval
            .as_secs(),
        60
    );
    assert_eq!(
        cfg.topology.switch("sh1-core-a").unwrap().address,
        "10.2.0.1:161"
    );
}
