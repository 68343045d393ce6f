//! Rules that adapt to the series, through the real binary (`bandwatch backtest --input`):
//! `smooth_points` keeps a "last 30 minutes" window from being one point on an hourly series,
//! `season_strength` keeps a daily-season drop rule from judging a series without a daily
//! rhythm by what it did at this hour on the past few days (and `rhythm_only` keeps a rule
//! against the time of day off such a series altogether), `for_points` confirms on the same
//! number of samples whatever the step, and `unprecedented` still sees a second attack after
//! a bigger one.

use std::fmt::Write as _;
use std::process::Command;

/// Replays hourly `values` of one series through `rules`; the onsets as (rule, hour index).
fn onsets(rules: &str, values: &[f64]) -> Vec<(String, i64)> {
    onsets_every(rules, values, 3600)
}

/// Replays `values` of one series, one every `step` seconds, through `rules`; the onsets as
/// (rule, point index).
fn onsets_every(rules: &str, values: &[f64], step: i64) -> Vec<(String, i64)> {
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = dir.path().join("rules");
    std::fs::create_dir(&rules_dir).unwrap();
    std::fs::write(rules_dir.join("rules.toml"), rules).unwrap();
    let start: jiff::Timestamp = "2026-01-05T00:00:00Z".parse().unwrap();
    let mut csv = String::from("series,timestamp,value\n");
    for (i, v) in values.iter().enumerate() {
        let t = start + jiff::SignedDuration::from_secs(i as i64 * step);
        writeln!(csv, "kpi,{t},{v}").unwrap();
    }
    let input = dir.path().join("kpi.csv");
    std::fs::write(&input, csv).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bandwatch"))
        .args(["-c", "none.toml", "backtest", "--rules"])
        .arg(&rules_dir)
        .arg("--input")
        .arg(&input)
        .args(["--format", "csv"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            let t: jiff::Timestamp = c[1].parse().unwrap();
            (c[3].to_string(), (t.as_second() - start.as_second()) / step)
        })
        .collect()
}

const SHIFT: &str = r#"
kind = "spike"
scope = "series"
metric = "value"
baseline = "recent"
history = "7d"
warmup = "2d"
smooth = "30m"
compare = "smoothed"
quantile = 0.99
factor = 1.5
min_delta = 0
clear_for = "1h"
notify = []
"#;

#[test]
fn a_points_floor_keeps_an_hourly_series_from_being_judged_on_one_point() {
    // 100 to 104 every hour for ten days; one outlier hour of 300 at hour 200; a new level of
    // 300 for six hours from hour 230.
    let mut v: Vec<f64> = (0..240).map(|i| 100.0 + (i % 5) as f64).collect();
    v[200] = 300.0;
    for x in &mut v[230..236] {
        *x = 300.0;
    }
    let rules = format!(
        "[[rule]]\nname = \"one-point\"{SHIFT}\n[[rule]]\nname = \"three-points\"\nsmooth_points = 3{SHIFT}"
    );
    let fired = onsets(&rules, &v);
    let of = |rule: &str| -> Vec<i64> {
        fired
            .iter()
            .filter(|(r, _)| r == rule)
            .map(|(_, i)| *i)
            .collect()
    };
    // Thirty minutes of an hourly series are one point: the outlier is "a level shift".
    assert_eq!(of("one-point"), vec![200, 230], "{fired:?}");
    // With a floor of three points the median of the last three hours moves only with the
    // new level, on its second hour.
    assert_eq!(of("three-points"), vec![231], "{fired:?}");
}

const DROP: &str = r#"
kind = "drop"
scope = "series"
metric = "value"
baseline = "seasonal"
season = "1d"
history = "7d"
min_periods = 3
factor = 1.5
min_delta = 0
unprecedented = true
clear_for = "1h"
notify = []
"#;

#[test]
fn a_season_gate_leaves_series_without_a_daily_rhythm_to_every_hour_of_the_week() {
    // Ten days of a quantized KPI without a daily rhythm: 10, and 5 one hour in five (at no
    // particular hour of the day); then an outage (1) for three hours from hour 220.
    let mut v: Vec<f64> = (0..240)
        .map(|k| if k % 5 == 0 { 5.0 } else { 10.0 })
        .collect();
    for x in &mut v[220..223] {
        *x = 1.0;
    }
    let rules = format!(
        "[[rule]]\nname = \"by-hour\"{DROP}\n[[rule]]\nname = \"gated\"\nseason_strength = 0.3{DROP}"
    );
    let fired = onsets(&rules, &v);
    let of = |rule: &str| -> Vec<i64> {
        fired
            .iter()
            .filter(|(r, _)| r == rule)
            .map(|(_, i)| *i)
            .collect()
    };
    // By the hour of the day, a 5 where the past days happened to show 10 is "below anything
    // seen at this hour": false alarms before the outage.
    let by_hour = of("by-hour");
    assert!(
        by_hour.iter().filter(|i| **i < 220).count() >= 3,
        "{fired:?}"
    );
    assert!(by_hour.contains(&220), "{fired:?}");
    // Gated, the 5s are known levels of the week; only the outage fires, on its first hour.
    assert_eq!(of("gated"), vec![220], "{fired:?}");
}

/// The onset indexes of `rule` among `fired`.
fn of(fired: &[(String, i64)], rule: &str) -> Vec<i64> {
    fired
        .iter()
        .filter(|(r, _)| r == rule)
        .map(|(_, i)| *i)
        .collect()
}

const ATTACK: &str = r#"
kind = "spike"
scope = "series"
metric = "value"
baseline = "seasonal"
season = "1d"
history = "3d"
min_periods = 1
factor = 2.5
min_delta = 0
clear_for = "1m"
notify = []
"#;

#[test]
fn for_points_confirms_on_two_samples_at_ten_seconds_where_a_minute_needs_six() {
    // Four days of a 10-second series at 100 to 104; then spikes of 400 lasting 2, 3 and
    // 12 samples, an hour apart.
    let day = 8640;
    let mut v: Vec<f64> = (0..4 * day + 1000)
        .map(|i| 100.0 + (i % 5) as f64)
        .collect();
    for (at, len) in [(4 * day + 100, 2), (4 * day + 460, 3), (4 * day + 820, 12)] {
        for x in &mut v[at..at + len] {
            *x = 400.0;
        }
    }
    let rules = format!(
        "[[rule]]\nname = \"minute\"\nfor = \"1m\"{ATTACK}\n[[rule]]\nname = \"two-points\"\nfor_points = 2{ATTACK}"
    );
    let fired = onsets_every(&rules, &v, 10);
    let d = 4 * day as i64;
    // A minute of confirmation is six samples after the first: only the long spike fires.
    assert_eq!(of(&fired, "minute"), vec![d + 826], "{fired:?}");
    // Two samples: every spike, on its second sample.
    assert_eq!(
        of(&fired, "two-points"),
        vec![d + 101, d + 461, d + 821],
        "{fired:?}"
    );
}

#[test]
fn a_big_attack_does_not_hide_the_next_smaller_one_from_unprecedented() {
    // Ten days of an hourly series at 100 to 104; a 10x attack for three hours at hour 180;
    // a 5x one for three hours at hour 210, a day later.
    let mut v: Vec<f64> = (0..240).map(|i| 100.0 + (i % 5) as f64).collect();
    for x in &mut v[180..183] {
        *x = 1000.0;
    }
    for x in &mut v[210..213] {
        *x = 500.0;
    }
    let rules = r#"
[[rule]]
name = "never-seen"
kind = "spike"
scope = "series"
metric = "value"
baseline = "recent"
history = "7d"
warmup = "2d"
factor = 2.0
min_delta = 0
unprecedented = true
clear_for = "1h"
notify = []
"#;
    let fired = onsets(rules, &v);
    // The 1000s are learnt clipped at the factor times the limit the first of them crossed
    // (2 x twice the usual, about 408), not as 1000: the 500s are above anything the
    // history holds, and fire. Learnt as they were, the 1000s would hide them for 7 days.
    assert_eq!(of(&fired, "never-seen"), vec![180, 210], "{fired:?}");
}

#[test]
fn a_big_attack_does_not_raise_a_high_quantile_for_the_next_with_clip_excursions() {
    // The series above: a 10x attack at hour 180, a 5x one at hour 210. The baseline is the
    // 0.999 quantile of a week of hourly points, which is their highest: learnt as they were,
    // the 1000s are that quantile for a week, and 500 is not 1.2 x 1000.
    let mut v: Vec<f64> = (0..240).map(|i| 100.0 + (i % 5) as f64).collect();
    for x in &mut v[180..183] {
        *x = 1000.0;
    }
    for x in &mut v[210..213] {
        *x = 500.0;
    }
    let rule = |name: &str, clip: bool| {
        format!(
            "[[rule]]\nname = \"{name}\"\nkind = \"spike\"\nscope = \"series\"\nmetric = \"value\"\n\
             baseline = \"recent\"\nhistory = \"7d\"\nwarmup = \"2d\"\nquantile = 0.999\nfactor = 1.2\n\
             min_delta = 0\nclip_excursions = {clip}\nclear_for = \"1h\"\nnotify = []\n"
        )
    };
    let rules = rule("plain", false) + &rule("clipped", true);
    let fired = onsets(&rules, &v);
    assert_eq!(of(&fired, "plain"), vec![180], "{fired:?}");
    // Clipped at 1.2 x the limit the first 1000 crossed (1.2 x 104.9, about 126): the week's
    // highest learnt value is about 151, and 500 is far above 1.2 x that.
    assert_eq!(of(&fired, "clipped"), vec![180, 210], "{fired:?}");
}

const BURSTY: &str = r#"
kind = "spike"
scope = "series"
metric = "value"
baseline = "recent"
history = "1d"
factor = 2.5
min_delta = 0
for_points = 2
clear_for = "5m"
notify = []
"#;

#[test]
fn burst_factor_raises_the_factor_on_a_series_whose_bursts_reach_high() {
    // Five days of a 1-minute series at 100 to 104; on the bursty one, every hour starts with
    // two points at 180 (1.8x). Then, on both, two points at 280 (2.8x) and, ten hours later,
    // two at 400 (4x).
    let series = |bursty: bool| -> Vec<f64> {
        let mut v: Vec<f64> = (0..7200)
            .map(|i| match i % 60 {
                0 | 1 if bursty => 180.0,
                _ => 100.0 + (i % 5) as f64,
            })
            .collect();
        for at in [6030, 6630] {
            let x = if at == 6030 { 280.0 } else { 400.0 };
            v[at] = x;
            v[at + 1] = x;
        }
        v
    };
    let rules = format!(
        "[[rule]]\nname = \"plain\"{BURSTY}\n[[rule]]\nname = \"bursts\"\nburst_factor = 1.7{BURSTY}"
    );
    // The steady series: the rule's own factor, so both excursions fire under both rules.
    let fired = onsets_every(&rules, &series(false), 60);
    assert_eq!(of(&fired, "plain"), vec![6031, 6631], "{fired:?}");
    assert_eq!(of(&fired, "bursts"), vec![6031, 6631], "{fired:?}");
    // The bursty one: its runs of two reach 1.8x every hour (24 a day, more than the 3 a day
    // that measure its bursts), so `burst_factor` raises 2.5 to 1.7 x 1.8 = 3.1: the 2.8x
    // excursion is one of its bursts, the 4x one is not.
    let fired = onsets_every(&rules, &series(true), 60);
    assert_eq!(of(&fired, "plain"), vec![6031, 6631], "{fired:?}");
    assert_eq!(of(&fired, "bursts"), vec![6631], "{fired:?}");
}

const BY_THE_HOUR: &str = r#"
kind = "spike"
scope = "series"
metric = "value"
baseline = "seasonal"
season = "1d"
history = "14d"
season_points = 3
season_strength = 0.8
factor = 2.0
min_delta = 0
for_points = 2
clear_for = "6h"
notify = []
"#;

#[test]
fn rhythm_only_judges_the_time_of_day_only_on_series_that_have_one() {
    let rules = format!(
        "[[rule]]\nname = \"pooled\"{BY_THE_HOUR}\n[[rule]]\nname = \"rhythm-only\"\nrhythm_only = true{BY_THE_HOUR}"
    );
    // Twenty days of an hourly series with a daily rhythm: 100 at night, 1000 at midday;
    // then three hours of 400 from midnight on day 18, four times the night, well below midday.
    let day = |h: usize| {
        let x = (h % 24) as f64 / 24.0 * std::f64::consts::TAU;
        550.0 - 450.0 * x.cos() + (h % 3) as f64
    };
    let mut v: Vec<f64> = (0..20 * 24).map(day).collect();
    let night = 18 * 24;
    for x in &mut v[night..night + 3] {
        *x = 400.0;
    }
    let fired = onsets(&rules, &v);
    // By the hour, the night is the usual; both rules see the 400s on their second hour.
    let at = night as i64 + 1;
    assert_eq!(of(&fired, "rhythm-only"), vec![at], "{fired:?}");
    assert_eq!(of(&fired, "pooled"), vec![at], "{fired:?}");

    // Twenty days without a daily rhythm: 100, and three hours of 500 every 17 hours, at
    // every hour of the day in turn.
    let v: Vec<f64> = (0..20 * 24usize)
        .map(|k| if k % 17 < 3 { 500.0 } else { 100.0 })
        .collect();
    let fired = onsets(&rules, &v);
    // Pooled, every 500 is five times the median of the fortnight: it keeps firing.
    assert!(of(&fired, "pooled").len() >= 5, "{fired:?}");
    // Kept to series with a rhythm, the rule says nothing here.
    assert_eq!(of(&fired, "rhythm-only"), Vec::<i64>::new(), "{fired:?}");
}
