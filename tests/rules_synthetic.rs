//! The small synthetic set (`benches/synthetic/small`, made by `benches/synthetic/generate.py
//! --small`: daily and weekly rhythm, 8% noise, steps of 10 s, 1 min, 5 min and 1 h) replayed
//! through the frozen rule file (`benches/nab/rules.toml`) by the real binary, scored like
//! `benches/synthetic/evaluate.py`: an onset inside a labelled anomaly finds it, one in the 3
//! samples after its end is late, any other onset from day 4 on is a false alarm. The floors
//! asserted are what the rules meet on this set (see benches/synthetic/README.md); a change
//! that loses more of its spikes and drops, fires more on it, or finds spikes later, fails
//! here.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// Share of the target anomalies found that `benches/nab/rules.toml` meets (10 of 17).
const MIN_TARGET_RECALL: f64 = 0.55;
/// False alarms per 30 days of judged time it stays under (3 in 65 days: 1.38).
const MAX_FALSE_ALARMS_PER_30_DAYS: f64 = 1.5;

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

#[test]
fn the_frozen_rules_meet_their_floors_on_the_small_synthetic_set() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (csv, series) = load(&root.join("benches/synthetic/small"));
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("synthetic.csv");
    std::fs::write(&input, csv).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bandwatch"))
        .args(["-c", "none.toml", "backtest", "--rules"])
        .arg(root.join("benches/nab"))
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
    let mut report = String::new();
    let (mut targets, mut found_targets, mut false_alarms, mut judged_days) = (0, 0, 0, 0.0);
    let mut spike_delays = Vec::new();
    for (name, s) in &series {
        let fired = onsets.get(name).cloned().unwrap_or_default();
        for a in &s.anomalies {
            // The targets: spikes of 3x or more for 2 samples or more, drops to 40%
            // or less for 6 samples or more.
            let target = (a.kind == "spike" && a.magnitude >= 3.0 && a.length >= 2)
                || (a.kind == "shift_down" && a.magnitude <= 0.4 && a.length >= 6);
            let hit = fired.iter().find(|i| (a.start..=a.end).contains(*i));
            writeln!(
                report,
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
                spike_delays.push(i - a.start);
            }
            if target {
                targets += 1;
                found_targets += usize::from(hit.is_some());
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
            writeln!(report, "{name}: false alarms at samples {fa:?}").unwrap();
        }
        false_alarms += fa.len();
        judged_days += ((s.points - s.judged_from) * s.step) as f64 / 86400.0;
    }
    spike_delays.sort_unstable();
    let per_30_days = false_alarms as f64 / judged_days * 30.0;
    let recall = found_targets as f64 / targets as f64;
    // Floors this rule file meets on the small set (measured, benches/synthetic/README.md),
    // below the targets (recall 0.95, 1 false alarm per 30 days): the frozen NAB file
    // misses spikes at quiet hours and daytime drops that are not below the whole week's low.
    assert!(targets >= 12, "the small set lost its anomalies:\n{report}");
    assert!(
        recall >= MIN_TARGET_RECALL,
        "recall {recall:.2} of targets:\n{report}"
    );
    assert!(
        per_30_days <= MAX_FALSE_ALARMS_PER_30_DAYS,
        "{false_alarms} false alarms in {judged_days:.0} days:\n{report}"
    );
    assert!(
        spike_delays
            .get(spike_delays.len() / 2)
            .is_some_and(|d| *d <= 1),
        "median spike delay {spike_delays:?}:\n{report}"
    );
}
