//! Splitting an interval over fixed, aligned buckets, and its octets in proportion to time,
//! so that a sample spanning a bucket boundary puts each part of its bytes where it belongs
//! and the parts add up exactly to the whole.

/// The buckets of length `len_ms` (aligned to the Unix epoch) that `[start_ms, end_ms)`
/// overlaps, as `(bucket index, overlap in ms)`, in order (an iterator: the writer splits
/// every sample, and a list for each was an allocation per port-sample).
pub(crate) fn split(start_ms: i64, end_ms: i64, len_ms: i64) -> Split {
    let done = end_ms <= start_ms || len_ms <= 0;
    Split {
        start_ms,
        end_ms,
        len_ms,
        bucket: if done { 0 } else { start_ms.div_euclid(len_ms) },
        done,
    }
}

/// The pieces of an interval over aligned buckets (see [`split`]).
pub(crate) struct Split {
    start_ms: i64,
    end_ms: i64,
    len_ms: i64,
    bucket: i64,
    done: bool,
}

impl Iterator for Split {
    type Item = (i64, i64);

    fn next(&mut self) -> Option<(i64, i64)> {
        while !self.done {
            let b = self.bucket;
            let b_start = b * self.len_ms;
            let b_end = b_start + self.len_ms;
            let ov = self.end_ms.min(b_end) - self.start_ms.max(b_start);
            if b_end >= self.end_ms {
                self.done = true;
            } else {
                self.bucket += 1;
            }
            if ov > 0 {
                return Some((b, ov));
            }
        }
        None
    }
}

/// The share of `total` that falls in one piece of an interval of `whole_ms`, given the
/// milliseconds already handed out before it (`before_ms`) and its own length (`part_ms`).
/// Shares are computed from cumulative boundaries, so the shares of all pieces sum to
/// `total` exactly.
pub(crate) fn share(total: u64, before_ms: i64, part_ms: i64, whole_ms: i64) -> u64 {
    if whole_ms <= 0 {
        return 0;
    }
    if before_ms <= 0 && part_ms >= whole_ms {
        return total;
    }
    let cum = |ms: i64| -> u64 {
        let ms = ms.clamp(0, whole_ms) as u64;
        match total.checked_mul(ms) {
            Some(p) => p / whole_ms as u64,
            None => (total as u128 * ms as u128 / whole_ms as u128) as u64,
        }
    };
    cum(before_ms + part_ms) - cum(before_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_at_bucket_boundary() {
        // 60 s ending 20 s into a 5-minute bucket: 40 s before, 20 s after.
        let end = 300_000 * 10 + 20_000;
        let parts: Vec<_> = split(end - 60_000, end, 300_000).collect();
        assert_eq!(parts, vec![(9, 40_000), (10, 20_000)]);
        let total = 1_000_003u64;
        let a = share(total, 0, 40_000, 60_000);
        let b = share(total, 40_000, 20_000, 60_000);
        assert_eq!(a + b, total);
        assert_eq!(a, 666_668);
        // Totals too big for 64-bit intermediate products are still exact.
        let big = u64::MAX / 3;
        let parts = [
            share(big, 0, 40_000, 60_000),
            share(big, 40_000, 20_000, 60_000),
        ];
        assert_eq!(parts[0] + parts[1], big);
        assert_eq!(share(big, 0, 60_000, 60_000), big);
    }

    #[test]
    fn split_inside_one_bucket_and_across_many() {
        assert_eq!(
            split(1_000, 2_000, 60_000).collect::<Vec<_>>(),
            vec![(0, 1_000)]
        );
        let p: Vec<_> = split(30_000, 200_000, 60_000).collect();
        assert_eq!(p, vec![(0, 30_000), (1, 60_000), (2, 60_000), (3, 20_000)]);
        assert_eq!(p.iter().map(|x| x.1).sum::<i64>(), 170_000);
        assert!(split(5, 5, 60_000).next().is_none());
        assert!(split(5, 9, 0).next().is_none());
    }
}
