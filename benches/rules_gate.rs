//! What the season-strength gate (`season_strength`) costs a daemon (plain `main`,
//! `harness = false`): the gate's measure is taken again once a season (a day) per series
//! and gated rule, over the rule's whole history, at the first point of the new day, and every
//! series crosses midnight UTC together. So a fleet with a gated rule does that work at once,
//! on the rules thread, once a day. No shipped rule sets the key; a user's may.
//!
//! Run: `cargo bench --bench rules_gate` (release). One series polled every minute, a daily
//! rhythm with noise, a seasonal baseline of 14 days in 5-minute slots with the gate at 0.5
//! (`BANDWATCH_BENCH_HISTORY_DAYS`, default 14), warmed with the history, then the baseline
//! asked at each minute of a day: prints the time of the first point of the day (the measure)
//! against the median of the other points, and what that is for 1,000 and 10,000 series.

use std::time::Instant;

use bandwatch::rules::baseline::{BaselineCache, Envelope};
use bandwatch::rules::rule::{BaselineKind, BaselineSpec};

fn main() {
    let days: i64 = std::env::var("BANDWATCH_BENCH_HISTORY_DAYS")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(14);
    let spec = BaselineSpec {
        kind: BaselineKind::Seasonal,
        history: days * 86_400,
        season: 86_400,
        bucket: 300,
        min_periods: 3,
        quantile: 0.5,
        warmup: None,
        season_strength: Some(0.5),
        season_points: None,
        strength_points: None,
        rhythm_only: false,
    };
    let mut cache = BaselineCache::new(spec, Envelope::Upper);
    cache.set_step(Some(60));
    // A deterministic noisy daily rhythm (xorshift), one point a minute.
    let mut h: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut value = |t: i64| {
        h ^= h << 13;
        h ^= h >> 7;
        h ^= h << 17;
        let noise = (h >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
        let phase = (t % 86_400) as f64 / 86_400.0 * std::f64::consts::TAU;
        1e9 * (1.0 + 0.4 * phase.sin()) * (1.0 + 0.1 * noise)
    };
    let start = 1_767_571_200; // a midnight UTC
    let warm_end = start + days * 86_400;
    for t in (start..warm_end).step_by(60) {
        cache.push(t, value(t));
    }
    let mut first = Vec::new();
    let mut others = Vec::new();
    for day in 0..3 {
        let day_start = warm_end + day * 86_400;
        for t in (day_start..day_start + 86_400).step_by(60) {
            let began = Instant::now();
            let b = cache.at(t);
            let took = began.elapsed().as_secs_f64();
            std::hint::black_box(&b);
            if t == day_start {
                first.push(took);
            } else {
                others.push(took);
            }
            cache.push(t, value(t));
        }
    }
    others.sort_by(f64::total_cmp);
    let median = others[others.len() / 2];
    let measure = first.iter().sum::<f64>() / first.len() as f64;
    println!(
        "gate over {days} days of 5-minute slots: the day's first point {:.2} ms (the measure), other points {:.0} ns (median)",
        measure * 1e3,
        median * 1e9
    );
    println!(
        "once a day at midnight UTC, per gated rule: 1,000 series {:.2} s, 10,000 series {:.1} s of the rules thread",
        measure * 1e3,
        measure * 1e4
    );
}
