//! Attack-aware billing: with `[report] exclude_attacks = true`, the 5-minute slots inside a
//! firing spike alert on a customer's port are left out of its 95th and counted; without it
//! they are billed. Spike rules are found among the rules in force, here those of the rule
//! files (as `bandwatch report` loads them).

use crate::report_support;

use bandwatch::report::build;
use bandwatch::report::render::{Format, render};
use bandwatch::rules::file::load_dir;
use bandwatch::store::Store;
use bandwatch::usage::Month;
use bandwatch::usage::attacks::spike_rules;
use jiff::Timestamp;
use report_support::*;
use rusqlite::{Connection, params};

fn five_min(mbps: u64) -> u64 {
    mbps * 1_000_000 / 8 * 300
}

/// Writes August's data of the attack and its alert history into `s`'s store, and rule files
/// into `rules/` beside the configuration; returns that folder.
fn attacked(s: &Setup) -> std::path::PathBuf {
    let from = day("2026-08-03");
    // grow (sw-a/p3): in k+1 Mbit/s in slot k, except slots 18 and 19: 400 and 500 (an attack).
    write_every(
        &s.db(),
        &s.config,
        from,
        from + 20 * 300,
        300,
        |sw, port, t| {
            let k = ((t - from) / 300) as u64;
            Some(match (sw, port, k) {
                ("sw-a", "p3", 18) => (five_min(400), 0),
                ("sw-a", "p3", 19) => (five_min(500), 0),
                ("sw-a", "p3", k) => (five_min(k + 1), 0),
                _ => (0, 0),
            })
        },
    );
    // The rules stage recorded a spike alert firing on the port over slots 18 and 19, and an
    // unrelated alert (not a spike) over the whole window.
    let conn = Connection::open(s.db()).unwrap();
    let history = [
        ("attack", "pending", "firing", from + 18 * 300 + 20),
        ("attack", "firing", "resolved", from + 20 * 300),
        ("drop", "pending", "firing", from),
    ];
    for (rule, a, b, ts) in history {
        conn.execute(
            "INSERT INTO alert_history(rule, entity, from_state, to_state, ts) \
             VALUES (?1, 'port:sw-a/p3', ?2, ?3, ?4)",
            params![rule, a, b, ts],
        )
        .unwrap();
    }
    drop(conn);

    let rules_dir = s.dir.path().join("rules");
    std::fs::create_dir_all(&rules_dir).unwrap();
    std::fs::write(
        rules_dir.join("default.toml"),
        "[[rule]]\nname = \"attack\"\nkind = \"spike\"\nscope = \"port\"\nmetric = \"in_bps\"\n\
         factor = 3.0\nmin_delta = \"10Mbps\"\n\n[[rule]]\nname = \"drop\"\nkind = \"threshold\"\n\
         scope = \"port\"\nmetric = \"in_bps\"\nbelow = \"1Mbps\"\n",
    )
    .unwrap();
    rules_dir
}

#[test]
fn slots_inside_a_firing_spike_are_left_out_of_the_95th_when_asked() {
    let mut s = Setup::new();
    s.config.daemon.rules_dir = attacked(&s);
    let rules = load_dir(&s.config.daemon.rules_dir, &s.config.topology)
        .0
        .rules;
    assert_eq!(spike_rules(&rules), ["attack"]);

    let book = Store::open_existing(&s.db(), &Default::default())
        .unwrap()
        .usage();
    let now = Timestamp::from_second(day("2026-09-02")).unwrap();
    let aug: Month = "2026-08".parse().unwrap();
    let grow = |r: &bandwatch::report::Report| {
        r.customers.iter().find(|c| c.id == "grow").unwrap().clone()
    };

    // Billed as measured: 20 slots, the 19th smallest is the 400 Mbit/s attack slot.
    let plain = grow(&build(&book, &s.config, aug, now, false, &rules).unwrap());
    assert_eq!(plain.this.excluded_slots, 0);
    assert_eq!(plain.billed_bps, Some(400e6));

    // exclude_attacks: 18 slots 1..18 Mbit/s, the 18th smallest (ceil 17.1) is 18.
    s.config.report.exclude_attacks = true;
    let r = build(&book, &s.config, aug, now, false, &rules).unwrap();
    let g = grow(&r);
    assert_eq!(g.this.excluded_slots, 2);
    assert_eq!(g.this.p95.slots, 18);
    assert_eq!(g.billed_bps, Some(18e6));
    // The bytes are still counted.
    assert_eq!(g.this.in_octets, plain.this.in_octets);
    let text = render(&r, Format::Text);
    assert!(
        text.contains("2 slots inside attacks left out of the 95th"),
        "{text}"
    );

    // No spike rules: nothing excluded even when asked.
    let none = grow(&build(&book, &s.config, aug, now, false, &[]).unwrap());
    assert_eq!(none.this.excluded_slots, 0);
}

#[test]
fn the_command_leaves_out_the_spikes_of_the_rule_files() {
    // `bandwatch report` loads the rule files of `daemon.rules_dir` as the rules in force.
    let config = CONFIG
        .replace(
            "data_dir = \"var\"",
            "data_dir = \"var\"\nrules_dir = \"rules\"",
        )
        .replace("down = 0.2", "down = 0.2\nexclude_attacks = true");
    let s = Setup::with_config(&config);
    assert_eq!(attacked(&s), s.config.daemon.rules_dir);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bandwatch"))
        .arg("-c")
        .arg(&s.config_path)
        .args(["report", "--month", "2026-08", "--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let grow = v["customers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "grow")
        .unwrap();
    assert_eq!(grow["this"]["excluded_slots"], 2);
    assert_eq!(grow["billed_bps"], 18e6);
}
