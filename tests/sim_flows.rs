//! Attack evidence end to end, one scenario per simulated switch: `bandwatch simulate`
//! serves 13 switches over SNMP and exports their traffic as sFlow (even switches, 1 in 256
//! packets) and IPFIX (odd ones) to the daemon's flow listener over real UDP; on each
//! switch's uplink a spike of one kind starts (UDP reflection from ports 53, 123, 161, 389,
//! 1900, 11211 and 19; a SYN, UDP and ICMP flood and a volumetric attack on one address; a
//! UDP flood spread over a customer's /24; and a legitimate surge toward a customer's
//! addresses). `bandwatch run` polls the counters, the spike rule fires on each uplink, and
//! `/api/v1/alerts` carries each alert's evidence: the class and the target customer, and
//! "not an attack" for the surge.

use std::time::Duration;

use crate::daemon_support;

use daemon_support::*;

/// (flows of the spike, one address or the whole /24, what the evidence must say; `{ip}`
/// is the target address, `{c}` the target customer).
const SCENARIOS: &[(&str, bool, &str)] = &[
    ("dns", false, "likely DNS reflection toward {ip} ({c}): "),
    ("ntp", false, "likely NTP reflection toward {ip} ({c}): "),
    ("snmp", false, "likely SNMP reflection toward {ip} ({c}): "),
    (
        "cldap",
        false,
        "likely CLDAP reflection toward {ip} ({c}): ",
    ),
    ("ssdp", false, "likely SSDP reflection toward {ip} ({c}): "),
    (
        "memcached",
        false,
        "likely memcached reflection toward {ip} ({c}): ",
    ),
    (
        "chargen",
        false,
        "likely chargen reflection toward {ip} ({c}): ",
    ),
    ("syn", false, "likely SYN flood toward {ip} ({c}): "),
    ("udp", false, "likely UDP flood toward {ip} ({c}): "),
    ("icmp", false, "likely ICMP flood toward {ip} ({c}): "),
    (
        "volumetric",
        false,
        "likely volumetric attack on one address, {ip} ({c}): ",
    ),
    (
        "udp",
        true,
        "likely UDP flood toward {n} addresses of {c} (busiest ",
    ),
    ("surge", true, "not an attack by its shape"),
];

const RULES: &str = r#"
[[rule]]
name = "uplink-attack"
kind = "spike"
scope = "port"
match = { role = "uplink" }
metric = "in_bps"
baseline = "recent"
history = "2m"
warmup = "20s"
factor = 3.0
min_delta = "50Mbps"
for = "6s"
severity = "critical"
notify = ["ops"]
"#;

fn scenario() -> String {
    let mut s = String::from(
        "time_scale = 1.0\n[traffic]\nspeed = \"10Gbps\"\nbase = \"20Mbps\"\nout_ratio = 0.1\n\
         daily = 0.0\nweekly = 0.0\nnoise = 0.0\nspread = 0.0\n",
    );
    for (k, (flows, spread, _)) in SCENARIOS.iter().enumerate() {
        let target = if *spread {
            format!("10.77.{k}.0/24")
        } else {
            format!("10.77.{k}.7")
        };
        s.push_str(&format!(
            "\n[[event]]\nat = \"30s\"\nkind = \"spike\"\nfactor = 20.0\nduration = \"10m\"\n\
             switches = [\"sim-{k:04}\"]\nports = [\"eth1\"]\nflows = \"{flows}\"\n\
             target = \"{target}\"\n"
        ));
    }
    s
}

fn customer(k: usize) -> String {
    format!("v{k}-{}", SCENARIOS[k].0)
}

#[test]
fn each_simulated_attack_is_named_with_its_target_and_a_surge_is_not_an_attack() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bw.toml");
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/attack.toml"), RULES).unwrap();
    let scenario_path = dir.path().join("scenario.toml");
    std::fs::write(&scenario_path, scenario()).unwrap();
    let flow_port = free_udp_base(1);
    let flows = format!("127.0.0.1:{flow_port}");
    let Simulated {
        sim: _sim,
        http,
        text,
    } = simulate(
        &cfg,
        SCENARIOS.len() as u16,
        2,
        &[
            "--scenario".as_ref(),
            scenario_path.as_os_str(),
            "--flows".as_ref(),
            flows.as_ref(),
            "--flow-sampling".as_ref(),
            "256".as_ref(),
        ],
        "rules_dir = \"rules\"\n",
    );
    assert!(
        text.contains("[flow]"),
        "the simulator trusts its exporters:\n{text}"
    );
    let mut text = text;
    for k in 0..SCENARIOS.len() {
        text.push_str(&format!(
            "\n[[customer]]\nid = \"{}\"\nprefixes = [\"10.77.{k}.0/24\"]\n",
            customer(k)
        ));
    }
    text.push_str(
        "\n[[route]]\nname = \"ops\"\nemail = [\"noc@example.net\"]\n\n\
         [email]\ntransport = \"file\"\nfrom = \"bandwatch <bandwatch@example.net>\"\ngroup_wait = \"1s\"\n",
    );
    std::fs::write(&cfg, &text).unwrap();
    let log = dir.path().join("run.log");
    let _daemon = spawn_run(&cfg, &log);

    // Every uplink's alert fires with its evidence.
    let mut last = String::new();
    let evidence_of = |body: &str, k: usize| -> Option<String> {
        let v: serde_json::Value = serde_json::from_str(body).ok()?;
        v["active"].as_array()?.iter().find_map(|a| {
            (a["entity"] == format!("port:sim-{k:04}/eth1") && a["state"] == "firing")
                .then(|| a["evidence"].as_str().map(str::to_string))
                .flatten()
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(150);
    loop {
        if let Some((_, body)) = http_get(http, "/api/v1/alerts") {
            if (0..SCENARIOS.len()).all(|k| evidence_of(&body, k).is_some()) {
                last = body;
                break;
            }
            last = body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not every uplink's alert fired with evidence:\n{last}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let mut wrong = Vec::new();
    for (k, (flows, spread, want)) in SCENARIOS.iter().enumerate() {
        let line = evidence_of(&last, k).unwrap_or_default();
        let c = customer(k);
        let ip = format!("10.77.{k}.7");
        let ok = if *spread {
            let head = want.split("{n}").next().unwrap_or_default();
            let tail = want
                .split("{n}")
                .nth(1)
                .unwrap_or_default()
                .replace("{c}", &c);
            // The surge's busiest destination is one of the customer's: "(c)" either way.
            line.contains(head) && line.contains(&tail) && line.contains(&c)
        } else {
            line.contains(&want.replace("{ip}", &ip).replace("{c}", &c))
        };
        if !ok {
            wrong.push(format!("{flows} (spread {spread}): {line}"));
        }
    }
    assert!(wrong.is_empty(), "misnamed:\n{}", wrong.join("\n"));
    // No spike on the second uplinks: their traffic is as usual.
    let v: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert!(
        v["active"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| !a["entity"].as_str().unwrap_or_default().ends_with("/eth2")),
        "{last}"
    );
}
