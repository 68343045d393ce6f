//! The small synthetic set (`benches/synthetic/small`, made by `benches/synthetic/generate.py
//! --small`: daily and weekly rhythm, 8% noise, steps of 10 s, 1 min, 5 min and 1 h) replayed
//! by the real binary through the frozen NAB rule file (`benches/nab/rules.toml`), through
//! tune.py's file it replaced (`benches/nab/tuned`) and through the spike and drop rules of the
//! default `alert-rules/traffic.toml` (as rules on series, like `evaluate.py --as-series`), scored like `benches/synthetic/evaluate.py`: an onset inside a
//! labelled anomaly finds it, one in the 3 samples after its end is late, any other onset from
//! day 4 on is a false alarm. The floors asserted are what each file meets on this set (see
//! benches/synthetic/JOURNAL.md); a change that loses more of its spikes and drops, fires more
//! on it, or finds spikes later, fails here.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// What a NAB rule file meets on the small set: the share of the target anomalies it finds and
/// the false alarms per 30 days of judged time it stays under.
struct Floors {
    min_target_recall: f64,
    max_false_alarms_per_30_days: f64,
}

/// `benches/nab/rules.toml`, the frozen file (cross-validated): 10 of 17 targets, 5 false
/// alarms in 65 days (2.31; a sixth would be 2.77).
const FROZEN: Floors = Floors {
    min_target_recall: 0.55,
    max_false_alarms_per_30_days: 2.5,
};
/// `benches/nab/tuned/rules.toml`, tune.py's in-sample file kept to compare against: 10 of 17,
/// 3 false alarms in 65 days (1.38).
const TUNED: Floors = Floors {
    min_target_recall: 0.55,
    max_false_alarms_per_30_days: 1.5,
};
/// Share of the target spikes the default traffic rules find (7 of 8: the one they miss is a
/// 3x spike at the 1 min step).
const DEFAULT_MIN_SPIKE_RECALL: f64 = 0.85;
/// Share of the target drops they find (9 of 9).
const DEFAULT_MIN_DROP_RECALL: f64 = 0.99;
/// False alarms per 30 days they stay under (none in 65 days; one would be 0.46).
const DEFAULT_MAX_FALSE_ALARMS_PER_30_DAYS: f64 = 0.5;

struct Anomaly {
    kind: String,
    start: i64,
    end: i64,
    magnitude: f64,
    length: i64,
}

struct Series {
    step: i64,
    start: jiff::Timestamp,
    points: i64,
    judged_from: i64,
    anomalies: Vec<Anomaly>,
}

/// The set as backtest input (`series,timestamp,value`) and its labels.
fn load(dir: &Path) -> (String, BTreeMap<String, Series>) {
    let text = std::fs::read_to_string(dir.join("labels.json")).unwrap();
    let labels: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut csv = String::from("series,timestamp,value\n");
    let mut out = BTreeMap::new();
    for (name, lab) in labels.as_object().unwrap() {
        let file = lab["file"].as_str().unwrap();
        let body = std::fs::read_to_string(dir.join(file)).unwrap();
        let mut lines = body.lines();
        let head = lines.next().unwrap();
        let meta: BTreeMap<&str, &str> = head
            .trim_start_matches('#')
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .collect();
        let step: i64 = meta["step"].parse().unwrap();
        let start: jiff::Timestamp = meta["start"].parse().unwrap();
        let mut n = 0;
        for (i, v) in lines.enumerate() {
            let t = start + jiff::SignedDuration::from_secs(i as i64 * step);
            writeln!(csv, "{name},{t},{v}").unwrap();
            n += 1;
        }
        assert_eq!(n, lab["points"].as_i64().unwrap(), "{name}");
        let anomalies = lab["anomalies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| Anomaly {
                kind: a["kind"].as_str().unwrap().to_string(),
                start: a["start"].as_i64().unwrap(),
                end: a["end"].as_i64().unwrap(),
                magnitude: a["magnitude"].as_f64().unwrap(),
                length: a["length"].as_i64().unwrap(),
            })
            .collect();
        out.insert(
            name.clone(),
            Series {
                step,
                start,
                points: n,
                judged_from: lab["judged_from"].as_i64().unwrap(),
                anomalies,
            },
        );
    }
    (csv, out)
}

/// What one rule folder does on the small set.
struct Scores {
    /// Target spikes found, of all target spikes.
    spikes: (usize, usize),
    /// Target drops found, of all target drops.
    drops: (usize, usize),
    false_alarms: usize,
    judged_days: f64,
    spike_delays: Vec<i64>,
    report: String,
}

impl Scores {
    fn recall(&self) -> f64 {
        (self.spikes.0 + self.drops.0) as f64 / (self.spikes.1 + self.drops.1) as f64
    }

    fn per_30_days(&self) -> f64 {
        self.false_alarms as f64 / self.judged_days * 30.0
    }

    fn median_spike_delay(&self) -> Option<i64> {
        self.spike_delays.get(self.spike_delays.len() / 2).copied()
    }
}

/// Replays the small set through the rules of `rules_dir` and scores the onsets.
fn replay(rules_dir: &Path) -> Scores {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (csv, series) = load(&root.join("benches/synthetic/small"));
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("synthetic.csv");
    std::fs::write(&input, csv).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bandwatch"))
        .args(["-c", "none.toml", "backtest", "--rules"])
        .arg(rules_dir)
        .arg("--input")
        .arg(&input)
        .args(["--format", "csv"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut onsets: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for line in stdout.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        let s = &series[cols[0]];
        let t: jiff::Timestamp = cols[1].parse().unwrap();
        let i = (t.as_second() - s.start.as_second()) / s.step;
        onsets.entry(cols[0].to_string()).or_default().push(i);
    }
    let mut sc = Scores {
        spikes: (0, 0),
        drops: (0, 0),
        false_alarms: 0,
        judged_days: 0.0,
        spike_delays: Vec::new(),
        report: String::new(),
    };
    for (name, s) in &series {
        let fired = onsets.get(name).cloned().unwrap_or_default();
        for a in &s.anomalies {
            let hit = fired.iter().find(|i| (a.start..=a.end).contains(*i));
            writeln!(
                sc.report,
                "{name} {} x{} for {} samples at {}: {}",
                a.kind,
                a.magnitude,
                a.length,
                a.start,
                hit.map_or("missed".to_string(), |i| format!(
                    "found, {} samples late",
                    i - a.start
                ))
            )
            .unwrap();
            if let (Some(i), "spike") = (hit, a.kind.as_str()) {
                sc.spike_delays.push(i - a.start);
            }
            // The targets: spikes of 3x or more for 2 samples or more, drops to 40%
            // or less for 6 samples or more.
            let count = if a.kind == "spike" && a.magnitude >= 3.0 && a.length >= 2 {
                Some(&mut sc.spikes)
            } else if a.kind == "shift_down" && a.magnitude <= 0.4 && a.length >= 6 {
                Some(&mut sc.drops)
            } else {
                None
            };
            if let Some(c) = count {
                c.1 += 1;
                c.0 += usize::from(hit.is_some());
            }
        }
        let fa: Vec<i64> = fired
            .iter()
            .copied()
            .filter(|i| {
                *i >= s.judged_from
                    && !s
                        .anomalies
                        .iter()
                        .any(|a| (a.start..=a.end + 3).contains(i))
            })
            .collect();
        if !fa.is_empty() {
            writeln!(sc.report, "{name}: false alarms at samples {fa:?}").unwrap();
        }
        sc.false_alarms += fa.len();
        sc.judged_days += ((s.points - s.judged_from) * s.step) as f64 / 86400.0;
    }
    sc.spike_delays.sort_unstable();
    assert!(
        sc.spikes.1 + sc.drops.1 >= 12,
        "the small set lost its anomalies:\n{}",
        sc.report
    );
    sc
}

#[test]
fn the_frozen_rules_meet_their_floors_on_the_small_synthetic_set() {
    check_nab_floors("benches/nab", &FROZEN);
}

#[test]
fn the_tuned_rules_meet_their_floors_on_the_small_synthetic_set() {
    check_nab_floors("benches/nab/tuned", &TUNED);
}

/// Replays the small set through a NAB rule folder (relative to the repository) and checks the
/// floors it meets there (measured, benches/synthetic/JOURNAL.md), below the targets
/// (recall 0.95, 1 false alarm per 30 days): NAB's files miss spikes at quiet hours and daytime
/// drops that are not below the whole week's low.
fn check_nab_floors(rules_dir: &str, floors: &Floors) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sc = replay(&root.join(rules_dir));
    let report = &sc.report;
    let recall = sc.recall();
    assert!(
        recall >= floors.min_target_recall,
        "{rules_dir}: recall {recall:.2} of targets:\n{report}"
    );
    assert!(
        sc.per_30_days() <= floors.max_false_alarms_per_30_days,
        "{rules_dir}: {} false alarms in {:.0} days:\n{report}",
        sc.false_alarms,
        sc.judged_days
    );
    assert!(
        sc.median_spike_delay().is_some_and(|d| d <= 1),
        "{rules_dir}: median spike delay {:?}:\n{report}",
        sc.spike_delays
    );
}

/// The spike and drop rules of a default rule file as rules on imported series (scope
/// `series`, metric `value`, `min_delta` 0: the synthetic levels have no absolute scale), the
/// way `benches/synthetic/evaluate.py --as-series` writes them.
fn as_series(file: &Path) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    let doc: toml::Table = text.parse().unwrap();
    let mut rules = Vec::new();
    for r in doc["rule"].as_array().unwrap() {
        let mut r = r.as_table().unwrap().clone();
        let kind = r["kind"].as_str().unwrap();
        if !matches!(kind, "spike" | "drop") || r.contains_key("window") {
            continue;
        }
        for k in [
            "match",
            "notify",
            "repeat",
            "repeat_backoff",
            "repeat_max",
            "description",
            "inhibited_by",
        ] {
            r.remove(k);
        }
        r.insert("scope".into(), "series".into());
        r.insert("metric".into(), "value".into());
        r.insert("min_delta".into(), 0.into());
        r.insert("notify".into(), toml::Value::Array(Vec::new()));
        rules.push(toml::Value::Table(r));
    }
    let mut out = toml::Table::new();
    out.insert("rule".into(), toml::Value::Array(rules));
    toml::to_string(&out).unwrap()
}

#[test]
fn the_default_traffic_rules_meet_their_floors_on_the_small_synthetic_set() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("traffic.toml"),
        as_series(&root.join("alert-rules/traffic.toml")),
    )
    .unwrap();
    let sc = replay(dir.path());
    let report = &sc.report;
    // Floors the default rules meet on the small set (benches/synthetic/JOURNAL.md has the
    // full set, per step): every drop to 40% or less, most 3x spikes, no false alarm, spikes
    // confirmed on their second sample (`for_points = 2`).
    let share = |(found, all): (usize, usize)| found as f64 / all as f64;
    assert!(
        share(sc.spikes) >= DEFAULT_MIN_SPIKE_RECALL,
        "spikes found {:?}:\n{report}",
        sc.spikes
    );
    assert!(
        share(sc.drops) >= DEFAULT_MIN_DROP_RECALL,
        "drops found {:?}:\n{report}",
        sc.drops
    );
    assert!(
        sc.per_30_days() <= DEFAULT_MAX_FALSE_ALARMS_PER_30_DAYS,
        "{} false alarms in {:.0} days:\n{report}",
        sc.false_alarms,
        sc.judged_days
    );
    assert!(
        sc.median_spike_delay().is_some_and(|d| d <= 1),
        "median spike delay {:?}:\n{report}",
        sc.spike_delays
    );
}
