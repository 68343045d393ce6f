//! The season-strength measure behind `season_strength`: how much of a series' variance its
//! time of day (or of week) explains, measured robustly (a wandering level, past drops and
//! past incidents neither hide a rhythm nor make one), and the robust statistics it and the
//! gate's fallback use. Pure functions of the slot means a baseline cache hands over.

/// How many robust spreads from its time of day's median a slot mean may lie before the
/// season-strength measure leaves it out as an incident (`season_strength`).
pub const SHARE_OUTLIER: f64 = 4.0;

/// For the season-strength measure: the median of the known `values` within `half` places
/// either side of each place (`None` where there is none; within `half` places of either
/// end, the median of the whole window nearest to it). A median, not a mean: a drop or
/// decline lasting up to half the window leaves it where it was, and a longer one moves it
/// as a step, at the step's edges, so neither smears its deficit over the days around it.
fn moving_median(values: &[Option<f64>], half: usize) -> Vec<Option<f64>> {
    let mut window: Vec<f64> = Vec::with_capacity(2 * half + 1);
    let mut out = Vec::with_capacity(values.len());
    let insert = |w: &mut Vec<f64>, x: f64| {
        let i = w.partition_point(|y| *y < x);
        w.insert(i, x);
    };
    for x in values.iter().take(half).flatten() {
        insert(&mut window, *x);
    }
    for i in 0..values.len() {
        let new = values.get(i + half).copied().flatten();
        let old = i.checked_sub(half + 1).and_then(|j| values[j]);
        match (new, old) {
            // The window moves along: one value in, one out, as one shift of the values
            // between their two places, not a remove and an insert that each shift the rest
            // of the window (this runs once a season per series and gated rule, over its
            // whole history: most of a backtest's time with `season_strength`).
            (Some(x), Some(old)) => replace(&mut window, old, x),
            (Some(x), None) => insert(&mut window, x),
            (None, Some(old)) => {
                let j = window.partition_point(|y| *y < old);
                if j < window.len() {
                    window.remove(j);
                }
            }
            (None, None) => {}
        }
        let k = window.len();
        out.push((k > 0).then(|| (window[(k - 1) / 2] + window[k / 2]) / 2.0));
    }
    // Near either end the window would hold part of a season only (a night without its day):
    // there the nearest whole window's median stands, as if the window stopped at the end.
    let n = out.len();
    if n > 2 * half {
        let (head, tail) = (out[half], out[n - 1 - half]);
        out[..half].fill(head);
        out[n - half..].fill(tail);
    } else {
        let mut all: Vec<f64> = values.iter().flatten().copied().collect();
        all.sort_by(f64::total_cmp);
        let k = all.len();
        let m = (k > 0).then(|| (all[(k - 1) / 2] + all[k / 2]) / 2.0);
        out.fill(m);
    }
    out
}

/// In the sorted `window`, `old` (one of its values) replaced by `new`, the window kept sorted:
/// the same values as inserting `new` and removing `old`, with one shift of the values between
/// their places instead of two shifts of the window's tail.
fn replace(window: &mut Vec<f64>, old: f64, new: f64) {
    let i = window.partition_point(|y| *y < old);
    if i >= window.len() {
        // `old` is not there (it always is): `new` goes in and nothing out, as before.
        let j = window.partition_point(|y| *y < new);
        window.insert(j, new);
        return;
    }
    let j = window.partition_point(|y| *y < new);
    if j <= i {
        window.copy_within(j..i, j + 1);
        window[j] = new;
    } else {
        window.copy_within(i + 1..j, i);
        window[j - 1] = new;
    }
}

/// For the season-strength measure on a series polled more slowly than the slots
/// (`strength_points`): each known value replaced by the mean of the known values within
/// `reach` places either side of it (itself included); unknown places stay unknown.
pub(super) fn neighbour_means(values: &[Option<f64>], reach: usize) -> Vec<Option<f64>> {
    // Prefix sums of the known values and of their count.
    let mut sum = Vec::with_capacity(values.len() + 1);
    let mut count = Vec::with_capacity(values.len() + 1);
    let (mut s, mut c) = (0.0f64, 0u32);
    sum.push(s);
    count.push(c);
    for v in values {
        if let Some(x) = v {
            s += x;
            c += 1;
        }
        sum.push(s);
        count.push(c);
    }
    let n = values.len();
    (0..n)
        .map(|i| {
            values[i]?;
            let (lo, hi) = (i.saturating_sub(reach), (i + reach + 1).min(n));
            let k = count[hi] - count[lo];
            Some((sum[hi] - sum[lo]) / f64::from(k.max(1)))
        })
        .collect()
}

/// [`SHARE_OUTLIER`] robust spreads (the median absolute deviation x 1.4826) of `values`
/// around their median; `None` when that deviation is 0.
fn spread_cut(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let (_, mad) = median_mad(&sorted)?;
    (mad > 0.0).then_some(SHARE_OUTLIER * 1.4826 * mad)
}

/// The median of sorted `values` and their median absolute deviation from it; `None` when
/// there are none.
pub(super) fn median_mad(sorted: &[f64]) -> Option<(f64, f64)> {
    let k = sorted.len();
    if k == 0 {
        return None;
    }
    let median = (sorted[(k - 1) / 2] + sorted[k / 2]) / 2.0;
    let finite = sorted.first().is_some_and(|x| x.is_finite())
        && sorted.last().is_some_and(|x| x.is_finite());
    if !finite {
        let mut dev: Vec<f64> = sorted.iter().map(|x| (x - median).abs()).collect();
        dev.sort_by(f64::total_cmp);
        return Some((median, (dev[(k - 1) / 2] + dev[k / 2]) / 2.0));
    }
    // The deviations are two sorted runs, the values below the median walked down and those
    // from it walked up: merged as far as the middle, no copy and no sort (this runs for every
    // point judged against a whole history, `season_strength`'s fallback).
    let dev = |x: f64| (x - median).abs();
    let split = sorted.partition_point(|x| *x < median);
    let (mut down, mut up) = (split, split);
    let (mut before, mut middle) = (0.0, 0.0);
    for _ in 0..=k / 2 {
        let take_down = match (down.checked_sub(1), sorted.get(up)) {
            (Some(i), Some(y)) => dev(sorted[i]) <= dev(*y),
            (Some(_), None) => true,
            (None, _) => false,
        };
        before = middle;
        middle = if take_down {
            down -= 1;
            dev(sorted[down])
        } else {
            up += 1;
            dev(sorted[up - 1])
        };
    }
    let low = if k % 2 == 1 { middle } else { before };
    Some((median, (low + middle) / 2.0))
}

/// Each phase's median of the (phase, value) pairs (0 for a phase without any).
fn phase_medians(values: &[(usize, f64)], phases: usize) -> Vec<f64> {
    let mut by_phase = values.to_vec();
    by_phase.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut medians = vec![0.0; phases];
    for group in by_phase.chunk_by(|a, b| a.0 == b.0) {
        let k = group.len();
        let mid = (group[(k - 1) / 2].1 + group[k / 2].1) / 2.0;
        if let Some(m) = medians.get_mut(group[0].0) {
            *m = mid;
        }
    }
    medians
}

/// For the season-strength measure: each phase's median of the detrended `values` (phase,
/// value) and the distance from it beyond which a value is an incident, [`SHARE_OUTLIER`] x the
/// median absolute deviation from the phase medians x 1.4826 (about one standard deviation of
/// normal noise). `None` when that deviation is 0 (a quantized series, most values on their
/// phase's median): nothing is left out.
fn outlier_limit(values: &[(usize, f64)], phases: usize) -> Option<(Vec<f64>, f64)> {
    let medians = phase_medians(values, phases);
    let mut dev: Vec<f64> = values
        .iter()
        .map(|&(p, x)| (x - medians.get(p).copied().unwrap_or(0.0)).abs())
        .collect();
    if dev.is_empty() {
        return None;
    }
    dev.sort_by(f64::total_cmp);
    let k = dev.len();
    let mad = (dev[(k - 1) / 2] + dev[k / 2]) / 2.0;
    (mad > 0.0).then_some((medians, SHARE_OUTLIER * 1.4826 * mad))
}

/// The lowest and highest of the sorted `values` that are not past incidents: within
/// [`SHARE_OUTLIER`] robust spreads (the median absolute deviation x 1.4826) of their median.
/// Where the season-strength gate finds no rhythm every slot of the history is comparable, and
/// "lower than anything comparable" (`unprecedented`) then asks for lower than every slot of
/// the whole history, an earlier outage included; an outage is not the usual, so it does not
/// make the next one usual. When that deviation is 0 (a quantized series) every value counts.
pub(super) fn usual_range(sorted: &[f64]) -> Option<(f64, f64)> {
    let (median, mad) = median_mad(sorted)?;
    let cut = SHARE_OUTLIER * 1.4826 * mad;
    let usual = |x: &&f64| mad <= 0.0 || (**x - median).abs() <= cut;
    let lo = sorted.iter().find(usual)?;
    let hi = sorted.iter().rev().find(usual)?;
    Some((*lo, *hi))
}

/// The share of the variance of the slot `means` of a history (the first at slot `first`,
/// `per_season` slots a season) that the season explains,
/// once the series' level is taken out, so that a level that wanders from day to day,
/// which no time of day explains, neither hides a real rhythm nor makes one. The level is
/// robust to past drops and declines: a moving average over one season (the trend of a
/// classical decomposition) spread each one's deficit over a whole season around it and
/// lowered the measure with every drop in the history. Here each slot's time-of-day median
/// (of the slots less a rough level, their moving median) is taken off, which leaves the
/// level and the incidents; slots more than [`SHARE_OUTLIER`] robust spreads from the
/// moving median over three seasons of that are incidents; and the level is the moving
/// median over one season of the rest (a drop up to a season and a half long moves
/// neither). Of what is left once the level is taken out, the share between the slots of
/// a season over the past periods, adjusted for the number of slots so that noise scores
/// about 0: 1 - within-slot variance / total variance, each divided by its degrees of
/// freedom. A past incident (an outage of a few hours, an attack) is not "variance no time
/// of day explains": slot means further than [`SHARE_OUTLIER`] robust spreads from their
/// time of day's median (its median absolute deviation x 1.4826, over every slot) are
/// left out of both variances, so one bad day in the history does not turn the seasonal
/// baseline off on a rhythmic series. `None` when there are too few values to tell.
pub(super) fn share(means: &[Option<f64>], first: i64, per_season: i64) -> Option<f64> {
    // The level, in two passes. A median of one season's raw slots is no robust level on a
    // rhythmic series (its values spread over the rhythm's whole range, so each low slot in
    // the window moves the median a long way): first a rough level, and the time of day's
    // median of what is left over the past periods (the rhythm: robust to a drop on a day
    // or two); then the level is the moving median of the slots less that rhythm.
    let half = (per_season / 2) as usize;
    let phase = |i: usize| (first + i as i64).rem_euclid(per_season) as usize;
    let rough = moving_median(means, half);
    let left: Vec<(usize, f64)> = means
        .iter()
        .zip(&rough)
        .enumerate()
        .filter_map(|(i, (m, l))| Some((phase(i), (*m)? - (*l)?)))
        .collect();
    let rhythm = phase_medians(&left, per_season as usize);
    let flat: Vec<Option<f64>> = means
        .iter()
        .enumerate()
        .map(|(i, m)| m.map(|m| m - rhythm.get(phase(i)).copied().unwrap_or(0.0)))
        .collect();
    // A drop longer than half a season would still move that median: slots far from the
    // moving median over three seasons (more than SHARE_OUTLIER robust spreads of what
    // is left) are incidents, left out of the level.
    let wide = moving_median(&flat, 3 * half);
    let resid: Vec<f64> = flat
        .iter()
        .zip(&wide)
        .filter_map(|(x, w)| Some((*x)? - (*w)?))
        .collect();
    let cut = spread_cut(&resid);
    let usual: Vec<Option<f64>> = flat
        .iter()
        .zip(&wide)
        .map(|(x, w)| match (x, w, cut) {
            (Some(x), Some(w), Some(cut)) if (x - w).abs() > cut => None,
            _ => *x,
        })
        .collect();
    let level = moving_median(&usual, half);
    // The detrended means with their phase of the season.
    let mut detrended: Vec<(usize, f64)> = Vec::with_capacity(means.len());
    for (i, (m, l)) in means.iter().zip(&level).enumerate() {
        let (Some(m), Some(l)) = (m, l) else { continue };
        detrended.push((phase(i), m - l));
    }
    let limit = outlier_limit(&detrended, per_season as usize);
    // Per phase of the season: count, sum, sum of squares of the detrended means.
    let mut phases = vec![(0u32, 0.0f64, 0.0f64); per_season as usize];
    let (mut n, mut sum, mut sq) = (0u32, 0.0, 0.0);
    for &(phase, x) in &detrended {
        if limit
            .as_ref()
            .is_some_and(|(medians, cut)| medians.get(phase).is_some_and(|m| (x - m).abs() > *cut))
        {
            continue;
        }
        let p = &mut phases[phase];
        p.0 += 1;
        p.1 += x;
        p.2 += x * x;
        n += 1;
        sum += x;
        sq += x * x;
    }
    let groups = phases.iter().filter(|p| p.0 > 0).count();
    if n as usize <= groups + 1 {
        return None;
    }
    let total = sq - sum * sum / n as f64;
    let within: f64 = phases
        .iter()
        .filter(|p| p.0 > 0)
        .map(|p| p.2 - p.1 * p.1 / p.0 as f64)
        .sum();
    if total <= 0.0 {
        return Some(0.0);
    }
    let share = 1.0 - (within / (n as usize - groups) as f64) / (total / (n - 1) as f64);
    Some(share)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The moving median kept by sliding the sorted window is, bit for bit, the median of the
    /// known values within `half` places sorted from scratch at every place (with the ends
    /// filled from the nearest whole window): gaps, ties, repeated values, short series.
    #[test]
    fn moving_median_slides_like_a_sort_at_every_place() {
        let from_scratch = |values: &[Option<f64>], half: usize| -> Vec<Option<f64>> {
            let n = values.len();
            let median = |lo: usize, hi: usize| {
                let mut w: Vec<f64> = values[lo..hi].iter().flatten().copied().collect();
                w.sort_by(f64::total_cmp);
                let k = w.len();
                (k > 0).then(|| (w[(k - 1) / 2] + w[k / 2]) / 2.0)
            };
            if n <= 2 * half {
                return vec![median(0, n); n];
            }
            (0..n)
                .map(|i| {
                    let c = i.clamp(half, n - 1 - half);
                    median(c - half, c + half + 1)
                })
                .collect()
        };
        let mut h: u64 = 11;
        for len in [0usize, 1, 2, 5, 9, 30, 100, 333] {
            for half in [1usize, 2, 4, 12, 40] {
                for round in 0..3 {
                    let values: Vec<Option<f64>> = (0..len)
                        .map(|_| {
                            h = h.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                            let r = (h >> 33) as f64 / (1u64 << 31) as f64;
                            match round {
                                0 => Some(r * 100.0),
                                1 => (r > 0.2).then_some((r * 5.0).floor()),
                                _ => (r > 0.6).then_some(r),
                            }
                        })
                        .collect();
                    let bits = |v: Vec<Option<f64>>| -> Vec<Option<u64>> {
                        v.into_iter().map(|x| x.map(f64::to_bits)).collect()
                    };
                    assert_eq!(
                        bits(moving_median(&values, half)),
                        bits(from_scratch(&values, half)),
                        "len {len}, half {half}, round {round}"
                    );
                }
            }
        }
    }

    /// The median absolute deviation merged from the two sorted runs is the one a sort of the
    /// deviations gives, bit for bit: odd and even counts, ties, repeated medians, one value.
    #[test]
    fn median_mad_merges_like_a_sort() {
        let by_sort = |sorted: &[f64]| {
            let k = sorted.len();
            let median = (sorted[(k - 1) / 2] + sorted[k / 2]) / 2.0;
            let mut dev: Vec<f64> = sorted.iter().map(|x| (x - median).abs()).collect();
            dev.sort_by(f64::total_cmp);
            (median, (dev[(k - 1) / 2] + dev[k / 2]) / 2.0)
        };
        let mut h: u64 = 7;
        for len in 1..120usize {
            for round in 0..4 {
                let mut v: Vec<f64> = (0..len)
                    .map(|_| {
                        h = h.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                        let r = (h >> 33) as f64 / (1u64 << 31) as f64;
                        match round {
                            0 => r,
                            1 => (r * 4.0).floor(),
                            2 => 3.0,
                            _ => (r * 40.0).exp2() - 0.1,
                        }
                    })
                    .collect();
                v.sort_by(f64::total_cmp);
                let (m, mad) = median_mad(&v).unwrap();
                let (m2, mad2) = by_sort(&v);
                assert_eq!(
                    (m.to_bits(), mad.to_bits()),
                    (m2.to_bits(), mad2.to_bits()),
                    "{v:?}"
                );
            }
        }
        assert!(median_mad(&[]).is_none());
        let with_inf = [1.0, 2.0, f64::INFINITY];
        assert_eq!(median_mad(&with_inf), Some(by_sort(&with_inf)));
    }
}
