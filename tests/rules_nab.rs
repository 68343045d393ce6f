//! The frozen NAB rule file (`benches/nab/rules.toml`, the one `benches/nab/score.sh` scores;
//! issue 18's cross-validated file with one change, see its header) and the two it is compared
//! with, replayed through the real binary on a few series of the Numenta Anomaly Benchmark in
//! `../shared/datasets/nab`: each loads, it finds the labelled anomalies of synthetic jumps and of
//! a real load balancer's spike inside their windows, and it stays quiet on series without any.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn nab() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/datasets/nab");
    if dir.join("data").is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").is_err(),
        "CI must have the NAB corpus in ../shared/datasets/nab"
    );
    eprintln!("skipping: no NAB corpus at {}", dir.display());
    None
}

/// NAB's `timestamp,value` rows as backtest input rows `series,timestamp,value`.
fn append_series(csv: &mut String, nab: &Path, file: &str) -> Vec<jiff::Timestamp> {
    let text = std::fs::read_to_string(nab.join("data").join(file)).unwrap();
    let mut times = Vec::new();
    for line in text.lines().skip(1) {
        let (t, v) = line.split_once(',').unwrap();
        let t: jiff::Timestamp = format!("{}Z", t.replace(' ', "T")).parse().unwrap();
        writeln!(csv, "{file},{t},{v}").unwrap();
        times.push(t);
    }
    times
}

/// The labelled windows of `file`.
fn windows(nab: &Path, file: &str) -> Vec<(jiff::Timestamp, jiff::Timestamp)> {
    let text = std::fs::read_to_string(nab.join("labels/combined_windows.json")).unwrap();
    let all: serde_json::Value = serde_json::from_str(&text).unwrap();
    let parse = |s: &serde_json::Value| -> jiff::Timestamp {
        let s = s.as_str().unwrap();
        format!("{}Z", &s[..19].replace(' ', "T")).parse().unwrap()
    };
    all[file]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (parse(&w[0]), parse(&w[1])))
        .collect()
}

#[test]
fn the_frozen_nab_rules_find_labelled_anomalies_and_stay_quiet_elsewhere() {
    let Some(nab) = nab() else { return };
    replay_and_check(&nab, "benches/nab");
}

/// The file the selection protocol chose (`benches/nab/selected/rules.toml`, issue 18; the frozen
/// file is it with the spike rule learning its excursions clipped) does the same on the same
/// series: it loads with its gate, cap and measure keys, finds the jumps and the daily rhythm
/// that stops, and stays quiet on the series without anomalies.
#[test]
fn the_selected_nab_rules_find_labelled_anomalies_and_stay_quiet_elsewhere() {
    let Some(nab) = nab() else { return };
    replay_and_check(&nab, "benches/nab/selected");
}

/// tune.py's in-sample file, frozen before the protocol (`benches/nab/tuned/rules.toml`, kept to
/// compare against), does the same on the same series: it still loads and finds these windows.
#[test]
fn the_tuned_nab_rules_find_labelled_anomalies_and_stay_quiet_elsewhere() {
    let Some(nab) = nab() else { return };
    replay_and_check(&nab, "benches/nab/tuned");
}

/// Replays eight NAB series through `bandwatch backtest --rules DIR` (DIR relative to the
/// repository) and checks that every labelled window has an onset and nothing fires outside
/// them after NAB's probation.
fn replay_and_check(nab: &Path, rules_dir: &str) {
    let files = [
        // A daily rhythm that jumps up, one that stops.
        "artificialWithAnomaly/art_daily_jumpsup.csv",
        "artificialWithAnomaly/art_daily_nojump.csv",
        // Spikes that come more often; a load balancer's request count with a shift and a spike.
        "artificialWithAnomaly/art_increase_spike_density.csv",
        "realAWSCloudwatch/elb_request_count_8c0756.csv",
        // No anomaly at all.
        "artificialNoAnomaly/art_daily_small_noise.csv",
        "artificialNoAnomaly/art_daily_perfect_square_wave.csv",
        "artificialNoAnomaly/art_noisy.csv",
        "artificialNoAnomaly/art_flatline.csv",
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("series,timestamp,value\n");
    let mut probation_end = Vec::new();
    for f in files {
        let times = append_series(&mut csv, nab, f);
        // NAB scores nothing in the first 15% of a file (its probation).
        probation_end.push(times[times.len() * 15 / 100]);
    }
    let input = dir.path().join("nab.csv");
    std::fs::write(&input, csv).unwrap();
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join(rules_dir);
    let out = Command::new(env!("CARGO_BIN_EXE_bandwatch"))
        .args(["-c", "none.toml", "backtest", "--rules"])
        .arg(&rules)
        .arg("--input")
        .arg(&input)
        .args(["--format", "csv"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // A rule the file could not load is reported and left out, not fatal to a backtest.
    assert!(!stderr.contains("rule["), "{rules_dir}: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut onsets: Vec<(String, jiff::Timestamp)> = Vec::new();
    for line in stdout.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        onsets.push((cols[0].to_string(), cols[1].parse().unwrap()));
    }
    for (f, start) in files.iter().zip(&probation_end) {
        // The anomaly-free files are listed with no windows.
        let wins = windows(nab, f);
        let scored: Vec<jiff::Timestamp> = onsets
            .iter()
            .filter(|(s, t)| s == f && t >= start)
            .map(|(_, t)| *t)
            .collect();
        let inside = |t: &jiff::Timestamp| wins.iter().any(|(a, b)| t >= a && t <= b);
        for (a, b) in &wins {
            assert!(
                scored.iter().any(|t| t >= a && t <= b),
                "{f}: nothing fired in the window {a} .. {b}; onsets {scored:?}\n{stdout}"
            );
        }
        let false_alarms: Vec<_> = scored.iter().filter(|t| !inside(t)).collect();
        assert!(
            false_alarms.is_empty(),
            "{f}: onsets outside every labelled window: {false_alarms:?}\n{stdout}"
        );
    }
}
