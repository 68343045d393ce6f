//! The sorted slot means of a sliding window, kept once per thread between calls.
//!
//! Where a seasonal baseline's gate finds no rhythm (`season_strength`), every slot of the
//! history is comparable, and each point is judged against all of them sorted: 2,016 values
//! for 7 days of 5-minute slots. On a series polled once a slot, every point opens a new slot
//! and the sort ran again for each one; it was 70 % of a NAB backtest's time. Between two
//! consecutive points of one series the window moves by a slot: one value leaves, one comes.
//! [`SortedWindow`] keeps the last window it sorted (one per thread, not per series, so memory
//! does not grow with the fleet) and, when the next one is the same slots moved along, removes
//! the values that left and inserts those that came instead of sorting again. Whether it is
//! the same is checked value by value, so the result is always the full sort's, bit for bit;
//! a window of another series (the daemon judges every series in turn) just sorts afresh.

use std::cell::RefCell;
use std::cmp::Ordering;

/// The last window sorted on this thread and a buffer for the next one.
#[derive(Default)]
pub(super) struct SortedWindow {
    /// The first slot of the last window and its values in slot order (`None`: no value).
    start: i64,
    window: Vec<Option<f64>>,
    /// The known values of `window`, sorted by [`f64::total_cmp`].
    sorted: Vec<f64>,
    /// The next window's values in slot order, filled by the caller.
    next: Vec<Option<f64>>,
}

thread_local! {
    static WINDOW: RefCell<SortedWindow> = RefCell::new(SortedWindow::default());
}

/// Calls `f` with the known values of the window of slots starting at `start` whose values,
/// in slot order, `fill` pushes, sorted by [`f64::total_cmp`].
pub(super) fn with_sorted<R>(
    start: i64,
    fill: impl FnOnce(&mut Vec<Option<f64>>),
    f: impl FnOnce(&[f64]) -> R,
) -> R {
    WINDOW.with(|w| match w.try_borrow_mut() {
        Ok(mut w) => {
            w.next.clear();
            fill(&mut w.next);
            f(w.advance(start))
        }
        // Not re-entered in practice; a nested call sorts on its own.
        Err(_) => {
            let mut next = Vec::new();
            fill(&mut next);
            let mut sorted: Vec<f64> = next.into_iter().flatten().collect();
            sorted.sort_by(f64::total_cmp);
            f(&sorted)
        }
    })
}

/// Whether two slot values are the same value (bit for bit) or both unknown.
fn same(a: &Option<f64>, b: &Option<f64>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x.to_bits() == y.to_bits(),
        (None, None) => true,
        _ => false,
    }
}

impl SortedWindow {
    /// Makes `next` (starting at slot `start`) the window and returns its known values sorted.
    fn advance(&mut self, start: i64) -> &[f64] {
        let n = self.next.len();
        let moved = usize::try_from(start - self.start).ok().filter(|k| {
            // Moved along by at most a quarter of the window (more, and sorting is cheaper),
            // with every slot the two share unchanged.
            *k <= n / 4
                && self.window.len() == n
                && self.window[*k..]
                    .iter()
                    .zip(&self.next[..n - *k])
                    .all(|(a, b)| same(a, b))
        });
        let updated = moved.is_some_and(|k| self.shift(k));
        if !updated {
            self.sorted.clear();
            self.sorted.extend(self.next.iter().flatten());
            self.sorted.sort_by(f64::total_cmp);
        }
        std::mem::swap(&mut self.window, &mut self.next);
        self.start = start;
        &self.sorted
    }

    /// Removes from `sorted` the values of the first `k` slots of `window` and inserts those of
    /// the last `k` of `next`; false (and `sorted` to be rebuilt) if a value to remove is not
    /// there, which would mean `sorted` did not hold `window`.
    fn shift(&mut self, k: usize) -> bool {
        for x in self.window[..k].iter().flatten() {
            let i = self
                .sorted
                .partition_point(|y| y.total_cmp(x) == Ordering::Less);
            if self
                .sorted
                .get(i)
                .is_none_or(|y| y.to_bits() != x.to_bits())
            {
                return false;
            }
            self.sorted.remove(i);
        }
        let n = self.next.len();
        for x in self.next[n - k..].iter().flatten() {
            let i = self
                .sorted
                .partition_point(|y| y.total_cmp(x) != Ordering::Greater);
            self.sorted.insert(i, *x);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value for slot `s` of a series that repeats some values and leaves some slots empty.
    fn value(series: u64, s: i64) -> Option<f64> {
        let h = (s as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(series.wrapping_mul(0xbf58_476d_1ce4_e5b9));
        let h = h ^ (h >> 29);
        match h % 13 {
            0 => None,
            1 => Some(-0.0),
            2 => Some(0.0),
            r => Some((r % 5) as f64 * 1.5 + (h >> 40) as f64 / 1e6),
        }
    }

    fn sorted(series: u64, start: i64, len: i64) -> Vec<f64> {
        let mut v: Vec<f64> = (start..start + len)
            .filter_map(|s| value(series, s))
            .collect();
        v.sort_by(f64::total_cmp);
        v
    }

    fn through_window(series: u64, start: i64, len: i64) -> Vec<f64> {
        with_sorted(
            start,
            |next| next.extend((start..start + len).map(|s| value(series, s))),
            <[f64]>::to_vec,
        )
    }

    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn a_window_moved_along_sorts_like_a_full_sort() {
        // Slot by slot, with jumps (a gap in the series), a step back, another series in
        // between (the daemon's order) and a window of another length.
        let mut start = 1_000;
        for step in 0..600 {
            start += match step % 50 {
                17 => 9,
                31 => -3,
                _ => 1,
            };
            let len = if step % 97 == 0 { 150 } else { 200 };
            assert_eq!(
                bits(&through_window(1, start, len)),
                bits(&sorted(1, start, len)),
                "window at {start}"
            );
            if step % 41 == 0 {
                assert_eq!(
                    bits(&through_window(2, start, len)),
                    bits(&sorted(2, start, len))
                );
            }
        }
    }

    #[test]
    fn a_slot_that_changed_is_not_reused() {
        let window = |v: f64| {
            with_sorted(
                10,
                |next| next.extend([Some(3.0), Some(v), None, Some(1.0)]),
                <[f64]>::to_vec,
            )
        };
        assert_eq!(window(2.0), vec![1.0, 2.0, 3.0]);
        // The same slots, one value different: sorted afresh, not patched.
        assert_eq!(window(5.0), vec![1.0, 3.0, 5.0]);
    }
}
