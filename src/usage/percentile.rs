//! The 95th percentile as billing computes it: nearest rank over the measured 5-minute rates
//! (`ceil(0.95 n)`-th smallest; 8,928 slots of a 31-day month give the 8,482nd), with missing
//! slots left out, never counted as zero, and the billing methods built on it.

use crate::config::Billing;

/// The `p`-th percentile (0 < p <= 1) of `values` by nearest rank: the `ceil(p n)`-th
/// smallest. `None` for no values. Sorts `values` in place.
pub fn nearest_rank(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let rank = ((p * n as f64).ceil() as usize).clamp(1, n);
    Some(values[rank - 1])
}

/// The 1-based rank the 95th percentile takes among `n` slots.
pub fn rank_95(n: usize) -> usize {
    (((n as f64) * 0.95).ceil() as usize).clamp(1, n.max(1))
}

/// One measured 5-minute slot: its average rates in bits per second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SlotRate {
    /// Start of the slot, unix seconds.
    pub start: i64,
    /// Inbound bits per second over the slot's measured time.
    pub in_bps: f64,
    /// Outbound bits per second over the slot's measured time.
    pub out_bps: f64,
}

/// The 95th percentiles of a set of slots, by every method.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Percentiles {
    /// 95th of the inbound rates (bit/s).
    pub in_bps: Option<f64>,
    /// 95th of the outbound rates (bit/s).
    pub out_bps: Option<f64>,
    /// The larger of the two.
    pub max_bps: Option<f64>,
    /// 95th of in + out per slot (bit/s).
    pub sum_bps: Option<f64>,
    /// How many slots the percentiles are taken over.
    pub slots: usize,
}

impl Percentiles {
    /// The percentiles of `slots` (missing slots are simply not in the list).
    pub fn of(slots: &[SlotRate]) -> Percentiles {
        let mut ins: Vec<f64> = slots.iter().map(|s| s.in_bps).collect();
        let mut outs: Vec<f64> = slots.iter().map(|s| s.out_bps).collect();
        let mut sums: Vec<f64> = slots.iter().map(|s| s.in_bps + s.out_bps).collect();
        let in_bps = nearest_rank(&mut ins, 0.95);
        let out_bps = nearest_rank(&mut outs, 0.95);
        let max_bps = match (in_bps, out_bps) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        Percentiles {
            in_bps,
            out_bps,
            max_bps,
            sum_bps: nearest_rank(&mut sums, 0.95),
            slots: slots.len(),
        }
    }

    /// The 95th figure a billing method uses (bit/s); `None` for `volume`, which bills bytes.
    pub fn billed(&self, method: Billing) -> Option<f64> {
        match method {
            Billing::Max95 => self.max_bps,
            Billing::In95 => self.in_bps,
            Billing::Out95 => self.out_bps,
            Billing::Sum95 => self.sum_bps,
            Billing::Volume => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_of_a_31_day_month_is_the_8482nd_smallest() {
        let mut v: Vec<f64> = (1..=8928).rev().map(f64::from).collect();
        assert_eq!(rank_95(8928), 8482);
        assert_eq!(nearest_rank(&mut v, 0.95), Some(8482.0));
    }

    #[test]
    fn nearest_rank_small_cases() {
        assert_eq!(nearest_rank(&mut [], 0.95), None);
        assert_eq!(nearest_rank(&mut [7.0], 0.95), Some(7.0));
        // 20 values: ceil(19) = 19th smallest.
        let mut v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(nearest_rank(&mut v, 0.95), Some(19.0));
        // 21 values: ceil(19.95) = 20th smallest.
        let mut v: Vec<f64> = (1..=21).map(f64::from).collect();
        assert_eq!(nearest_rank(&mut v, 0.95), Some(20.0));
    }

    #[test]
    fn methods_differ_as_defined() {
        // 20 slots: in rises 1..20, out falls 20..1; in+out is 21 everywhere except one
        // slot where both peak.
        let mut slots: Vec<SlotRate> = (1..=20)
            .map(|i| SlotRate {
                start: i * 300,
                in_bps: i as f64,
                out_bps: (21 - i) as f64,
            })
            .collect();
        slots[0].out_bps = 100.0; // in 1 + out 100 = 101
        let p = Percentiles::of(&slots);
        assert_eq!(p.in_bps, Some(19.0));
        // outs: 100, 19, 18, ..., 1 -> sorted 1..19, 100: the 19th smallest is 19.
        assert_eq!(p.out_bps, Some(19.0));
        assert_eq!(p.max_bps, Some(19.0));
        // sums: 101 once, 21 nineteen times: the 19th smallest is 21.
        assert_eq!(p.sum_bps, Some(21.0));
        assert_eq!(p.billed(Billing::Volume), None);
        assert_eq!(p.billed(Billing::Sum95), Some(21.0));
    }
}
