//! Rule files: good ones load, bad ones are reported as `FILE:LINE:COL: KEY: message`, every
//! problem at once; `bandwatch check` lists the default rules and fails on bad ones.

use std::path::Path;
use std::process::Command;

use bandwatch::config;
use bandwatch::rules::file::load_dir;
use bandwatch::rules::rule::{ChurnStatistic, Condition, Kind, Scope};

fn topology() -> bandwatch::config::Topology {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    config::load(&root.join("config/bandwatch.toml"))
        .expect("example config loads")
        .config
        .topology
}

/// Writes `text` as `rules.toml` in a fresh folder and loads the folder.
fn load(text: &str) -> (Vec<bandwatch::rules::Rule>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.toml"), text).unwrap();
    let (files, diags) = load_dir(dir.path(), &topology());
    let lines = diags
        .0
        .iter()
        .map(|d| {
            // Strip the temp folder so assertions read like the user sees them.
            d.to_string()
                .replace(&format!("{}/", dir.path().display()), "")
        })
        .collect();
    (files.rules, lines)
}

#[test]
fn the_issue_examples_load() {
    let (rules, diags) = load(
        r#"
[[rule]]
name = "uplink-attack"
description = "Inbound traffic far above normal for this time of day: possible attack"
kind = "spike"
scope = "port"
match = { role = "uplink", switch = "~bj1-.*" }
metric = "in_bps"
baseline = "seasonal"
history = "14d"
season = "1d"
factor = 3.0
min_delta = "200Mbps"
for = "2m"
for_points = 3
clear_for = "10m"
severity = "critical"
notify = ["ops", "owners"]
repeat = "4h"

[[rule]]
name = "customer-churn-risk"
kind = "drop"
scope = "customer"
metric = "usage_bytes"
window = "1d"
recent = "7d"
reference = "28d"
max_drop = 0.4
min_coverage = 0.9
severity = "warning"
notify = ["account_manager", "sales"]
"#,
    );
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(rules.len(), 2);
    let a = &rules[0];
    assert_eq!(a.kind, Kind::Spike);
    assert_eq!(a.scope, Scope::Port);
    assert_eq!(a.for_secs, 120);
    assert_eq!(a.for_points, 3);
    assert_eq!(rules[1].for_points, 0);
    assert_eq!(a.repeat.map(|r| r.every), Some(4 * 3600));
    match &a.condition {
        Condition::Spike(m) => {
            assert_eq!(m.min_delta, 200e6);
            assert_eq!(m.factor, 3.0);
            assert_eq!(m.baseline.history, 14 * 86400);
        }
        other => panic!("expected a spike, got {other:?}"),
    }
    let labels = |sw: &str| -> std::collections::BTreeMap<String, String> {
        [
            ("role".to_string(), "uplink".to_string()),
            ("switch".to_string(), sw.to_string()),
        ]
        .into()
    };
    assert!(a.applies_to(Scope::Port, &labels("bj1-core-a")));
    assert!(!a.applies_to(Scope::Port, &labels("sh1-core-a")));
    match &rules[1].condition {
        Condition::Churn(c) => {
            assert_eq!((c.window, c.recent, c.reference), (86400, 7, 28));
            assert_eq!(c.max_drop, 0.4);
            // Without `statistic` a churn rule compares means, as before the key existed.
            assert_eq!(c.statistic, ChurnStatistic::Mean);
        }
        other => panic!("expected a churn drop, got {other:?}"),
    }
}

#[test]
fn every_error_names_file_line_and_key() {
    let (rules, diags) = load(
        r#"[[rule]]
name = "a"
kind = "spik"
scope = "port"
metric = "in_bps"

[[rule]]
name = "b"
kind = "spike"
scope = "port"
match = { role = "~(up", colour = "red" }
metric = "in_bps"
factor = 1.0
min_delta = "200Mbps"
notify = ["opz"]

[[rule]]
name = "c"
kind = "drop"
scope = "customer"
metric = "usage_bytes"
window = "1d"
recent = "7d"
max_drop = 1.4
notify = ["owners"]

[[rule]]
name = "d"
kind = "threshold"
scope = "port"
metric = "bandwidth"
above = 0.9

[[rule]]
name = "e"
kind = "spike"
scope = "galaxy"
metric = "in_bps"
factor = 2.0
min_delta = 5
"#,
    );
    assert!(rules.is_empty());
    let expect = [
        "rules.toml:3:8: rule[0].kind: unknown kind `spik`",
        "rules.toml:11:18: rule[1].match.role: invalid regex `(up`",
        "rules.toml:11:26: rule[1].match.colour: a port has no label `colour`",
        "rules.toml:13:10: rule[1].factor: must be above 1",
        "rules.toml:15:11: rule[1].notify[0]: unknown route `opz`",
        "rules.toml:24:12: rule[2].max_drop: must be a fraction between 0 and 1",
        "rule[2].reference: a churn drop (with `window`) needs `reference`",
        "rules.toml:25:11: rule[2].notify[0]: `owners` are a product line's",
        "rules.toml:31:10: rule[3].metric: unknown metric `bandwidth`",
        "rules.toml:37:9: rule[4].scope: unknown scope `galaxy`",
    ];
    for e in expect {
        assert!(
            diags.iter().any(|d| d.contains(e)),
            "missing `{e}` in:\n{}",
            diags.join("\n")
        );
    }
}

#[test]
fn nonsense_combinations_are_refused() {
    let cases = [
        (
            "kind = \"port_down\"\nscope = \"port\"\nflap = { changes = 1, within = \"1h\" }",
            "rule[0].flap.changes: must be a whole number of at least 2",
        ),
        (
            "kind = \"port_down\"\nscope = \"port\"\nflap = { changes = 6, whithin = \"1h\" }",
            "rule[0].flap.whithin: unknown key `whithin`; a flap table has changes, within, clear_for",
        ),
        (
            "kind = \"port_down\"\nscope = \"port\"\nflap = { changes = 6, within = \"an hour\" }",
            "rule[0].flap.within:",
        ),
        (
            "kind = \"port_down\"\nscope = \"port\"\nflap = 6",
            "rule[0].flap: expected `false`, `true` or a table",
        ),
        (
            "kind = \"port_down\"\nscope = \"port\"\nrepeat = \"1h\"\nrepeat_backoff = 0.5",
            "rule[0].repeat_backoff: must be a factor of at least 1",
        ),
        (
            "kind = \"port_down\"\nscope = \"port\"\nrepeat_max = \"1d\"",
            "rule[0].repeat_max: `repeat_max` needs `repeat`",
        ),
        (
            "kind = \"port_down\"\nscope = \"port\"\nrepeat = \"2h\"\nrepeat_max = \"1h\"",
            "rule[0].repeat_max: must not be shorter than `repeat`",
        ),
        (
            "kind = \"spike\"\nscope = \"port\"\nmetric = \"utilization\"\nfactor = 2.0\nmin_delta = 0.1",
            "rule[0].metric: `utilization` is bounded by the port speed",
        ),
        (
            "kind = \"spike\"\nscope = \"port\"\nmetric = \"in_bps\"\nfactor = 3.0",
            "rule[0].min_delta: a spike or drop rule needs `min_delta`",
        ),
        (
            "kind = \"spike\"\nscope = \"port\"\nmetric = \"in_bps\"\nfactor = 3.0\nmin_delta = 200",
            "rule[0].min_delta: a bare number is ambiguous",
        ),
        (
            "kind = \"absent\"\nscope = \"switch\"",
            "rule[0].for: an absent rule needs `for`",
        ),
        (
            "kind = \"port_down\"\nscope = \"port\"\nmetric = \"in_bps\"",
            "rule[0].metric: `metric` does not apply to a port_down rule",
        ),
        (
            "kind = \"threshold\"\nscope = \"port\"\nmetric = \"in_bps\"",
            "rule[0].above: a threshold rule needs `above`, `below` or both",
        ),
        (
            "kind = \"threshold\"\nscope = \"port\"\nmetric = \"value\"\nabove = 3",
            "rule[0].metric: metric `value` belongs to imported series",
        ),
        (
            "kind = \"spike\"\nscope = \"series\"\nmetric = \"value\"\nfactor = 3.0\nmin_delta = 1\nmax_drop = 0.5",
            "rule[0].max_drop: `max_drop` does not apply here",
        ),
        (
            "kind = \"spike\"\nscope = \"series\"\nmetric = \"value\"\nfactor = 3.0\nmin_delta = 1\nstatistic = \"median\"",
            "rule[0].statistic: `statistic` does not apply here",
        ),
        (
            "kind = \"drop\"\nscope = \"customer\"\nmetric = \"usage_bytes\"\nwindow = \"1d\"\nrecent = \"14d\"\nreference = \"56d\"\nmax_drop = 0.3\nstatistic = \"p50\"",
            "rule[0].statistic: must be \"mean\" or \"median\"",
        ),
        (
            "kind = \"drop\"\nscope = \"product_line\"\nmetric = \"total_bps\"\nfactor = 3.0\nmin_delta = \"1Gbps\"\nbaseline = \"seasonal\"\nseason = \"7d\"\nhistory = \"3d\"",
            "rule[0].history: a seasonal baseline needs a history of at least one season",
        ),
        (
            "kind = \"spike\"\nscope = \"port\"\nmetric = \"in_bps\"\nfactor = 3.0\nmin_delta = \"10Mbps\"\nfor = \"5 parsecs\"",
            "rule[0].for: invalid duration `5 parsecs`",
        ),
        (
            "kind = \"spike\"\nscope = \"port\"\nmetric = \"in_bps\"\nfactor = 3.0\nmin_delta = \"10Mbps\"\nflavour = \"mint\"",
            "unknown field `flavour`",
        ),
        (
            "kind = \"spike\"\nscope = \"port\"\nmetric = \"in_bps\"\nfactor = 3.0\nmin_delta = \"10Mbps\"\nafter_gap = \"evaluate\"",
            "rule[0].after_gap: \"evaluate\" is only for metric \"value\"",
        ),
        (
            "kind = \"spike\"\nscope = \"series\"\nmetric = \"value\"\nfactor = 3.0\nmin_delta = 1\nafter_gap = \"maybe\"",
            "rule[0].after_gap:",
        ),
        (
            "kind = \"spike\"\nscope = \"series\"\nmetric = \"value\"\nfactor = 3.0\nmin_delta = 1\nwarmup = \"0s\"",
            "rule[0].warmup: must be longer than zero",
        ),
        (
            "kind = \"spike\"\nscope = \"series\"\nmetric = \"value\"\nfactor = 2.0\nmin_delta = 0\ncompare = \"spread\"",
            "rule[0].compare: \"spread\" needs `smooth`",
        ),
        (
            "kind = \"spike\"\nscope = \"series\"\nmetric = \"value\"\nfactor = 2.0\nmin_delta = 0\ncompare = \"smoothed\"",
            "rule[0].compare: \"smoothed\" needs `smooth`",
        ),
        (
            "kind = \"spike\"\nscope = \"series\"\nmetric = \"value\"\nfactor = 2.0\nmin_delta = 0\nsmooth = \"1h\"\ncompare = \"mean\"",
            "rule[0].compare:",
        ),
        (
            "kind = \"spike\"\nscope = \"series\"\nmetric = \"value\"\nfactor = 2.0\nmin_delta = 0\nsmooth_points = 0",
            "rule[0].smooth_points: must be a whole number of points from 1 to 10000, like 3, got 0",
        ),
        (
            "kind = \"spike\"\nscope = \"series\"\nmetric = \"value\"\nfactor = 2.0\nmin_delta = 0\nfor_points = 0",
            "rule[0].for_points: must be a whole number of points from 1 to 10000, like 2, got 0",
        ),
        (
            "kind = \"spike\"\nscope = \"series\"\nmetric = \"value\"\nfactor = 2.0\nmin_delta = 0\nbaseline = \"recent\"\nlevel_points = 24",
            "rule[0].level_points: `level_points` is for `baseline = \"seasonal\"`",
        ),
        (
            "kind = \"spike\"\nscope = \"series\"\nmetric = \"value\"\nfactor = 2.0\nmin_delta = 0\nlevel_points = -3",
            "rule[0].level_points: must be a whole number of slots from 1 to 10000, like 12, got -3",
        ),
        (
            "kind = \"spike\"\nscope = \"series\"\nmetric = \"value\"\nfactor = 2.0\nmin_delta = 0\nburst_factor = 0.5",
            "rules.toml:9:16: rule[0].burst_factor: must be a number from 1 to 10 (it multiplies how high the series' own bursts reach), like 1.5, got 0.5",
        ),
        (
            "kind = \"spike\"\nscope = \"series\"\nmetric = \"value\"\nfactor = 2.0\nmin_delta = 0\nsmooth = \"6h\"\ncompare = \"spread\"\nburst_factor = 1.5",
            "rule[0].burst_factor: `burst_factor` does not apply with `compare = \"spread\"`",
        ),
        (
            "kind = \"threshold\"\nscope = \"series\"\nmetric = \"value\"\nabove = 3\nburst_factor = 1.5",
            "rule[0].burst_factor: `burst_factor` does not apply here",
        ),
        (
            "kind = \"drop\"\nscope = \"series\"\nmetric = \"value\"\nfactor = 1.2\nmin_delta = 0\ndeviation = 10\nbaseline = \"seasonal\"\nseason_strength = 0.8\ndeviation_cap = 1",
            "rule[0].deviation_cap: must be a ratio above 1 and at most 100",
        ),
        (
            "kind = \"drop\"\nscope = \"series\"\nmetric = \"value\"\nfactor = 1.2\nmin_delta = 0\ndeviation = 10\nbaseline = \"seasonal\"\ndeviation_cap = 2",
            "rule[0].deviation_cap: `deviation_cap` caps the margin of `deviation` where `season_strength` finds no rhythm: it needs both",
        ),
        (
            "kind = \"drop\"\nscope = \"series\"\nmetric = \"value\"\nfactor = 1.2\nmin_delta = 0\ndeviation = 10\nbaseline = \"seasonal\"\nseason_strength = 0.5\ndeviation_cap = 2\ndeviation_cap_below = 0.8",
            "rules.toml:13:23: rule[0].deviation_cap_below: must be a share of the variance above 0 and at most `season_strength` (0.5), like 0.3, got 0.8",
        ),
        (
            "kind = \"drop\"\nscope = \"series\"\nmetric = \"value\"\nfactor = 1.2\nmin_delta = 0\ndeviation = 10\nbaseline = \"seasonal\"\nseason_strength = 0.5\ndeviation_cap_below = 0.3",
            "rule[0].deviation_cap_below: `deviation_cap_below` says where `deviation_cap` applies: it needs it",
        ),
        (
            "kind = \"drop\"\nscope = \"series\"\nmetric = \"value\"\nfactor = 1.2\nmin_delta = 0\nbaseline = \"seasonal\"\nseason_strength = 0.5\nstrength_points = 6",
            "rule[0].strength_points: must be an odd number of points from 1 to 25 (each point's and as many on each side), like 7, got 6",
        ),
        (
            "kind = \"drop\"\nscope = \"series\"\nmetric = \"value\"\nfactor = 1.2\nmin_delta = 0\nbaseline = \"seasonal\"\nstrength_points = 7",
            "rule[0].strength_points: `strength_points` is for the gate's measure: it needs `season_strength`",
        ),
        (
            "kind = \"threshold\"\nscope = \"series\"\nmetric = \"value\"\nabove = 3\nstrength_points = 7",
            "rule[0].strength_points: `strength_points` does not apply here",
        ),
        (
            "kind = \"spike\"\nscope = \"series\"\nmetric = \"value\"\nfactor = 2.0\nmin_delta = 0\nbaseline = \"seasonal\"\nrhythm_only = true",
            "rules.toml:10:15: rule[0].rhythm_only: `rhythm_only` keeps the rule to series whose rhythm `season_strength` finds: it needs it",
        ),
        (
            "kind = \"threshold\"\nscope = \"series\"\nmetric = \"value\"\nabove = 3\nrhythm_only = true",
            "rule[0].rhythm_only: `rhythm_only` does not apply here",
        ),
        (
            "kind = \"threshold\"\nscope = \"series\"\nmetric = \"value\"\nabove = 3\nclip_excursions = true",
            "rule[0].clip_excursions: `clip_excursions` does not apply here",
        ),
        (
            "kind = \"spike\"\nscope = \"series\"\nmetric = \"value\"\nfactor = 2.0\nmin_delta = 0\nclip_excursions = 1",
            "rule[0].clip_excursions",
        ),
        (
            "kind = \"absent\"\nscope = \"switch\"\nfor = \"3m\"\nfor_points = 2",
            "rule[0].for_points: `for_points` does not apply to absent rules",
        ),
        (
            "kind = \"threshold\"\nscope = \"series\"\nmetric = \"value\"\nabove = 3\nsmooth_points = 3",
            "rule[0].smooth_points: `smooth_points` does not apply here",
        ),
        (
            "kind = \"drop\"\nscope = \"series\"\nmetric = \"value\"\nfactor = 2.0\nmin_delta = 0\nseason_strength = 1.5",
            "rule[0].season_strength: must be a share of the variance from 0 to below 1, like 0.3, got 1.5",
        ),
        (
            "kind = \"drop\"\nscope = \"series\"\nmetric = \"value\"\nfactor = 2.0\nmin_delta = 0\nbaseline = \"recent\"\nseason_strength = 0.3",
            "rule[0].season_strength: `season_strength` is for `baseline = \"seasonal\"`",
        ),
        (
            "kind = \"spike\"\nscope = \"series\"\nmetric = \"value\"\nfactor = 2.0\nmin_delta = 0\nseason_points = 4",
            "rule[0].season_points: must be an odd number of points from 1 to 25 (the slot's and as many on each side), like 3, got 4",
        ),
        (
            "kind = \"spike\"\nscope = \"series\"\nmetric = \"value\"\nfactor = 2.0\nmin_delta = 0\nbaseline = \"recent\"\nseason_points = 3",
            "rule[0].season_points: `season_points` is for `baseline = \"seasonal\"`",
        ),
        (
            "kind = \"threshold\"\nscope = \"series\"\nmetric = \"value\"\nabove = 3\ninhibited_by = [\"nope\"]",
            "rule[0].inhibited_by: unknown rule `nope`",
        ),
        (
            "kind = \"threshold\"\nscope = \"series\"\nmetric = \"value\"\nabove = 3\ninhibited_by = [\"x\"]",
            "rule[0].inhibited_by: a rule cannot inhibit itself",
        ),
        (
            "kind = \"threshold\"\nscope = \"series\"\nmetric = \"value\"\nabove = 3\nwarmup = \"1d\"",
            "rule[0].warmup: `warmup` does not apply here",
        ),
    ];
    for (body, want) in cases {
        let (rules, diags) = load(&format!(
            "[[rule]]\nname = \"x\"\nnotify = [\"ops\"]\n{body}\n"
        ));
        assert!(rules.is_empty(), "accepted: {body}");
        assert!(
            diags
                .iter()
                .any(|d| d.starts_with("rules.toml:") && d.contains(want)),
            "for\n{body}\nexpected `{want}` in:\n{}",
            diags.join("\n")
        );
    }
    // A refused cap is one error: `deviation_cap_below` does not add a second about it.
    let (rules, diags) = load(
        "[[rule]]\nname = \"x\"\nnotify = []\nkind = \"drop\"\nscope = \"series\"\nmetric = \"value\"\nfactor = 1.2\nmin_delta = 0\ndeviation = 10\nbaseline = \"seasonal\"\ndeviation_cap = 2\ndeviation_cap_below = 0.3\n",
    );
    assert!(rules.is_empty());
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert!(
        diags[0].contains("rule[0].deviation_cap: `deviation_cap` caps"),
        "{diags:?}"
    );
}

#[test]
fn duplicate_names_across_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let rule = "[[rule]]\nname = \"same\"\nkind = \"absent\"\nscope = \"switch\"\nfor = \"3m\"\nnotify = [\"ops\"]\n";
    std::fs::write(dir.path().join("a.toml"), rule).unwrap();
    std::fs::write(dir.path().join("b.toml"), rule).unwrap();
    let (files, diags) = load_dir(dir.path(), &topology());
    assert_eq!(files.rules.len(), 1);
    let text = diags.to_string();
    assert!(
        text.contains("b.toml:1:1: rule[0].name: duplicate rule `same`"),
        "{text}"
    );
    assert!(text.contains("a.toml:2"), "{text}");
}

#[test]
fn check_lists_the_default_rules_and_fails_on_bad_ones() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_bandwatch"))
        .args(["check", "-c"])
        .arg(root.join("config/bandwatch.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in [
        "uplink-attack",
        "product-line-attack",
        "product-line-collapse",
        "customer-churn-risk",
        "customer-surge",
        "uplink-down",
        "switch-unreachable",
        "port-saturated",
    ] {
        assert!(stdout.contains(name), "{name} missing from:\n{stdout}");
    }

    // The same configuration pointed at a folder with a bad rule fails with its position.
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(
        rules.join("bad.toml"),
        "[[rule]]\nname = \"x\"\nkind = \"spike\"\nscope = \"port\"\nmetric = \"in_bps\"\nfactor = 0.5\nmin_delta = \"1Mbps\"\nnotify = [\"ops\"]\n",
    )
    .unwrap();
    let cfg = std::fs::read_to_string(root.join("config/bandwatch.toml"))
        .unwrap()
        .replace(
            "rules_dir = \"../alert-rules\"",
            &format!("rules_dir = \"{}\"", rules.display()),
        )
        .replace(
            "file:secrets/",
            &format!("file:{}/config/secrets/", root.display()),
        );
    let cfg_path = dir.path().join("bandwatch.toml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bandwatch"))
        .args(["check", "-c"])
        .arg(&cfg_path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("bad.toml:6:10: rule[0].factor: must be above 1"),
        "{stderr}"
    );
}

/// Durations are bounded where they are read: a `for`, `clear_for` or `repeat` of billions
/// of years is an error at its line and key (it used to wrap and fire at once, resolve at
/// once or mail every poll).
#[test]
fn absurd_durations_are_errors_not_wraps() {
    let rule = |name: &str, key: &str| {
        format!(
            "[[rule]]\nname = \"{name}\"\nkind = \"threshold\"\nscope = \"port\"\nmetric = \"in_bps\"\nabove = \"1Gbps\"\n{key} = \"300000000000y\"\nnotify = [\"ops\"]\n\n"
        )
    };
    let text = rule("a", "for") + &rule("b", "clear_for") + &rule("c", "repeat");
    let (rules, diags) = load(&text);
    assert!(rules.is_empty());
    for e in [
        "rules.toml:7:7: rule[0].for: ",
        "rules.toml:16:13: rule[1].clear_for: ",
        "rules.toml:25:10: rule[2].repeat: ",
    ] {
        assert!(
            diags
                .iter()
                .any(|d| d.contains(e) && d.contains("longer than 100 years")),
            "missing `{e}...longer than 100 years` in:\n{}",
            diags.join("\n")
        );
    }
}

#[test]
fn windows_in_points_and_a_season_gate_load_and_bad_values_name_their_line() {
    let (rules, diags) = load(
        r#"[[rule]]
name = "shift"
kind = "spike"
scope = "series"
metric = "value"
baseline = "seasonal"
season_strength = 0.3
season_points = 3
strength_points = 7
deviation = 5
deviation_cap = 2
deviation_cap_below = 0.2
clip_excursions = true
smooth = "30m"
smooth_points = 3
compare = "smoothed"
factor = 1.5
min_delta = 0
notify = []
"#,
    );
    assert!(diags.is_empty(), "{diags:?}");
    match &rules[0].condition {
        Condition::Spike(m) => {
            assert_eq!(m.smooth, Some(1800));
            assert_eq!(m.smooth_points, Some(3));
            assert_eq!(m.baseline.season_strength, Some(0.3));
            assert_eq!(m.baseline.season_points, Some(3));
            assert_eq!(m.baseline.strength_points, Some(7));
            assert_eq!(m.deviation_cap, Some(2.0));
            assert_eq!(m.deviation_cap_below, Some(0.2));
            assert!(m.clip_excursions && !m.unprecedented);
            assert!(m.smoothed_baseline);
        }
        other => panic!("expected a spike, got {other:?}"),
    }
    // `smooth_points` alone is a window too (the last N points).
    let (rules, diags) = load(
        "[[rule]]\nname = \"p\"\nkind = \"drop\"\nscope = \"series\"\nmetric = \"value\"\nbaseline = \"recent\"\nsmooth_points = 5\ncompare = \"smoothed\"\nfactor = 2.0\nmin_delta = 0\nnotify = []\n",
    );
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(rules.len(), 1);
    let (rules, diags) = load(
        "[[rule]]\nname = \"p\"\nkind = \"drop\"\nscope = \"series\"\nmetric = \"value\"\nfactor = 2.0\nmin_delta = 0\nnotify = []\nsmooth_points = 20000\nseason_strength = -0.1\n",
    );
    assert!(rules.is_empty());
    for want in [
        "rules.toml:9:17: rule[0].smooth_points: must be a whole number of points from 1 to 10000",
        "rules.toml:10:19: rule[0].season_strength: must be a share of the variance",
    ] {
        assert!(
            diags.iter().any(|d| d.contains(want)),
            "missing `{want}` in:\n{}",
            diags.join("\n")
        );
    }
}
