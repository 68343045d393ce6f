//! The slot means a seasonal baseline learns from: one mean per slot (5 minutes by default)
//! over the rule's `history`, in 2 bytes a slot where a slot holds several points.
//!
//! A 16-bit code holds a mean to 11 significant bits (0.05 % at worst): a half-precision
//! float whose exponent is counted down from the largest magnitude the ring has seen, so its
//! 31 octaves (2 x 10^9) sit where the series' values are, with 10 more octaves of fading
//! precision below them; 0 and values of up to 11 significant bits (100, 5, 130) are exact.
//! A baseline is a median of slot means of traffic that varies by several percent from day
//! to day, so the code changes no onset on NAB or the synthetic set (it may change a printed
//! baseline's last digit where that digit was a rounding edge), and 14 days of 5-minute slots
//! are 8.6 kB per series and rule instead of 17 (an `f32`): at 200 switches with two uplinks
//! each, 2.9 MiB less anonymous memory on the rig at 28 days (`benches/rig/rss.sh`). Slots of
//! single points stay `f32` (see [`SlotRing`]).

use std::collections::VecDeque;

/// Bits of a code's mantissa (11 significant bits with the implicit leading one).
const MANTISSA_BITS: i32 = 10;
/// A code's mantissa field.
const MANTISSA: u16 = (1 << MANTISSA_BITS) - 1;
/// Exponents a code holds: 1..=31 normal, 0 for the linear steps below them.
const EXPONENTS: i32 = 31;
/// The sign bit of a code.
const NEGATIVE: u16 = 0x8000;
/// An empty slot (no point).
const EMPTY: u16 = 0;
/// Exactly zero.
const ZERO: u16 = NEGATIVE;

/// The binary exponent of a positive, finite `mag` and its mantissa rounded to
/// [`MANTISSA_BITS`] (a rounding that carries into the next power of two moves the exponent).
fn split(mag: f64) -> (i32, u16) {
    let bits = mag.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32 - 1023;
    let frac = bits & ((1 << 52) - 1);
    let shift = 52 - MANTISSA_BITS;
    let m = (frac + (1 << (shift - 1))) >> shift;
    if m > u64::from(MANTISSA) {
        (exp + 1, 0)
    } else {
        (exp, m as u16)
    }
}

/// The code of a finite, nonzero `v` whose magnitude's exponent is at most `top`.
fn encode(top: i32, v: f64) -> u16 {
    let sign = if v < 0.0 { NEGATIVE } else { 0 };
    let mag = v.abs();
    let (exp, m) = split(mag);
    let biased = exp - (top - EXPONENTS);
    if (1..=EXPONENTS).contains(&biased) {
        return sign | ((biased as u16) << MANTISSA_BITS) | m;
    }
    // Below the normal range: linear steps of 2^(top - 40), never down to zero.
    let step = f64::from(top - EXPONENTS + 1 - MANTISSA_BITS).exp2();
    sign | (mag / step).round().clamp(1.0, f64::from(MANTISSA)) as u16
}

/// The value of a code (not [`EMPTY`]) under `top`.
fn decode(top: i32, code: u16) -> f64 {
    if code == ZERO {
        return 0.0;
    }
    let biased = i32::from((code & !NEGATIVE) >> MANTISSA_BITS);
    let m = f64::from(code & MANTISSA);
    let mag = if biased == 0 {
        m * f64::from(top - EXPONENTS + 1 - MANTISSA_BITS).exp2()
    } else {
        (f64::from(1 << MANTISSA_BITS) + m)
            * f64::from(biased + top - EXPONENTS - MANTISSA_BITS).exp2()
    };
    if code & NEGATIVE != 0 { -mag } else { mag }
}

/// The slots' storage: exact (`f32`, NaN for an empty slot) while each slot holds one point,
/// coded (16 bits) once the series is known to put several points in a slot.
#[derive(Clone, Debug)]
enum Slots {
    /// One `f32` a slot, as a single point was stored before the codes: a slot that holds one
    /// point keeps it, so that a value equal to a past one compares as it always did.
    Exact(VecDeque<f32>),
    /// One code a slot, and the binary exponent of the largest magnitude seen (it only rises;
    /// a rise re-codes the slots, at most a few dozen times in a ring's life).
    Coded {
        codes: VecDeque<u16>,
        top: Option<i32>,
    },
}

impl Slots {
    fn len(&self) -> usize {
        match self {
            Slots::Exact(v) => v.len(),
            Slots::Coded { codes, .. } => codes.len(),
        }
    }

    fn capacity(&self) -> usize {
        match self {
            Slots::Exact(v) => v.capacity(),
            Slots::Coded { codes, .. } => codes.capacity(),
        }
    }

    fn reserve_exact(&mut self, n: usize) {
        match self {
            Slots::Exact(v) => v.reserve_exact(n),
            Slots::Coded { codes, .. } => codes.reserve_exact(n),
        }
    }

    fn clear(&mut self) {
        match self {
            Slots::Exact(v) => v.clear(),
            Slots::Coded { codes, .. } => codes.clear(),
        }
    }

    fn push_front_empty(&mut self) {
        match self {
            Slots::Exact(v) => v.push_front(f32::NAN),
            Slots::Coded { codes, .. } => codes.push_front(EMPTY),
        }
    }

    fn push_back_empty(&mut self) {
        match self {
            Slots::Exact(v) => v.push_back(f32::NAN),
            Slots::Coded { codes, .. } => codes.push_back(EMPTY),
        }
    }

    fn pop_front(&mut self) {
        match self {
            Slots::Exact(v) => {
                v.pop_front();
            }
            Slots::Coded { codes, .. } => {
                codes.pop_front();
            }
        }
    }

    /// Slot `i`'s value; `None` when it is empty or not kept.
    fn get(&self, i: usize) -> Option<f64> {
        match self {
            Slots::Exact(v) => v.get(i).filter(|m| !m.is_nan()).map(|m| f64::from(*m)),
            Slots::Coded { codes, top } => codes
                .get(i)
                .filter(|c| **c != EMPTY)
                .map(|c| decode(top.unwrap_or(0), *c)),
        }
    }

    /// Stores a finite `v` in slot `i`, raising a coded ring's top (and re-coding what it
    /// holds) when `v`'s magnitude is above it.
    fn set(&mut self, i: usize, v: f64) {
        match self {
            Slots::Exact(means) => {
                if let Some(m) = means.get_mut(i) {
                    *m = v as f32;
                }
            }
            Slots::Coded { codes, top } => {
                let code = if v == 0.0 {
                    ZERO
                } else {
                    let (exp, _) = split(v.abs());
                    match *top {
                        Some(old) if exp <= old => {}
                        Some(old) => {
                            for c in codes.iter_mut() {
                                if *c != EMPTY && *c != ZERO {
                                    *c = encode(exp, decode(old, *c));
                                }
                            }
                            *top = Some(exp);
                        }
                        None => *top = Some(exp),
                    }
                    encode(top.unwrap_or(exp), v)
                };
                if let Some(c) = codes.get_mut(i) {
                    *c = code;
                }
            }
        }
    }

    /// The same slots, coded.
    fn coded(&self) -> Slots {
        let mut out = Slots::Coded {
            codes: VecDeque::with_capacity(self.len()),
            top: None,
        };
        for i in 0..self.len() {
            out.push_back_empty();
            if let Some(v) = self.get(i) {
                out.set(i, v);
            }
        }
        out
    }
}

/// Per-slot means over the past `history`: a window of consecutive slots that grows as points
/// arrive, up to `cap` slots, and then slides. While each slot holds a single point (a series
/// polled no faster than the slots), 4 bytes a slot, the point as an `f32`; once the series
/// is known to put several points in a slot ([`SlotRing::code_means`]), 2 bytes a slot (see
/// the module's doc), the newest slot, the one points still arrive in, keeping its exact
/// running mean. The buffer grows in steps but never past `cap` (a doubling deque would hold
/// 8,192 slots for the 4,324 of 15 days): a series seen for an hour holds 12 slots, not 14
/// days.
#[derive(Clone, Debug)]
pub(super) struct SlotRing {
    bucket: i64,
    cap: usize,
    /// Absolute slot number of the first slot kept.
    first: i64,
    slots: Slots,
    /// The newest slot that has a point (absolute number), its points (saturating) and their
    /// running mean (rounded to `f32` at each step while the slots are exact, as they always
    /// were).
    open: i64,
    open_points: u32,
    open_mean: f64,
}

impl SlotRing {
    /// An empty ring of `cap` slots of `bucket` seconds.
    pub(super) fn new(bucket: i64, cap: usize) -> SlotRing {
        SlotRing {
            bucket,
            cap: cap.max(1),
            first: 0,
            slots: Slots::Exact(VecDeque::new()),
            open: i64::MIN,
            open_points: 0,
            open_mean: 0.0,
        }
    }

    /// Codes the slots in 16 bits from now on: the series puts several points in each slot
    /// (its step is shorter than a slot), so a slot holds a mean, an estimate, not a point.
    pub(super) fn code_means(&mut self) {
        if matches!(self.slots, Slots::Exact(_)) {
            self.slots = self.slots.coded();
        }
    }

    /// Room for one more slot: the buffer doubles while small and stops exactly at `cap`.
    fn make_room(&mut self) {
        let len = self.slots.len();
        if len == self.slots.capacity() && len < self.cap {
            self.slots.reserve_exact(len.max(16).min(self.cap - len));
        }
    }

    /// Adds a point at time `t` (seconds) to its slot's mean; an unknown value is not a point.
    pub(super) fn push(&mut self, t: i64, v: f64) {
        if !v.is_finite() {
            return;
        }
        let abs = t.div_euclid(self.bucket);
        let end = self.first + self.slots.len() as i64;
        if self.slots.len() == 0 || abs >= end + self.cap as i64 || abs < self.first {
            if self.slots.len() > 0 && abs < self.first {
                // Older than anything kept: a late point for a slot already forgotten, or
                // before the window starts; the window only grows forward.
                if self.first - abs + self.slots.len() as i64 > self.cap as i64 {
                    return;
                }
                while self.first > abs {
                    self.make_room();
                    self.slots.push_front_empty();
                    self.first -= 1;
                }
            } else {
                // Nothing kept, or a gap longer than the whole window: start afresh.
                self.slots.clear();
                self.first = abs;
                self.open = i64::MIN;
            }
        }
        while self.first + (self.slots.len() as i64) <= abs {
            if self.slots.len() >= self.cap {
                self.slots.pop_front();
                self.first += 1;
            }
            self.make_room();
            self.slots.push_back_empty();
        }
        let i = (abs - self.first) as usize;
        if i >= self.slots.len() {
            return;
        }
        let exact = matches!(self.slots, Slots::Exact(_));
        let mean = if abs > self.open {
            self.open = abs;
            self.open_points = 1;
            self.open_mean = if exact { f64::from(v as f32) } else { v };
            self.open_mean
        } else if abs == self.open {
            self.open_points = self.open_points.saturating_add(1);
            let n = f64::from(self.open_points);
            self.open_mean = if exact {
                let m = self.open_mean as f32;
                f64::from(m + ((v - f64::from(m)) / n) as f32)
            } else {
                self.open_mean + (v - self.open_mean) / n
            };
            self.open_mean
        } else if self.slots.get(i).is_none() {
            // A late point for an empty older slot (the newest stays open).
            v
        } else {
            // A late point for an older slot that already has its mean is left out: its count
            // is no longer kept, and points of one series arrive in time order.
            return;
        };
        self.slots.set(i, mean);
    }

    /// The mean of absolute slot `abs`, if it has a point and is still kept.
    pub(super) fn mean(&self, abs: i64) -> Option<f64> {
        let i = usize::try_from(abs - self.first).ok()?;
        let m = self.slots.get(i)?;
        if abs == self.open {
            return Some(self.open_mean);
        }
        Some(m)
    }

    /// Whether the slots are coded in 16 bits (for tests).
    #[cfg(test)]
    pub(super) fn is_coded(&self) -> bool {
        matches!(self.slots, Slots::Coded { .. })
    }

    /// Slots kept (for tests of the window's size).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.len()
    }

    /// Slots the buffer has room for (for tests of its growth).
    #[cfg(test)]
    fn capacity(&self) -> usize {
        self.slots.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The code's worst relative error: half a unit in the 11th significant bit of a
    /// mantissa just above 1.
    const PRECISION: f64 = 1.0 / 2048.0;

    fn close(got: Option<f64>, want: f64) -> bool {
        got.is_some_and(|g| (g - want).abs() <= want.abs() * PRECISION)
    }

    #[test]
    fn slot_ring_keeps_means_and_never_holds_more_than_its_window() {
        // 15 days of 5-minute slots at a 10 s poll: the buffer stops at the window's size
        // (a doubling deque would hold 8,192 slots), and each slot is the mean of its points.
        let cap = 15 * 288 + 4;
        let mut r = SlotRing::new(300, cap);
        r.code_means();
        for t in (0..16 * 86400).step_by(10) {
            r.push(
                t,
                (t / 300 % 7) as f64 + if t % 20 == 0 { 1.0 } else { 0.0 },
            );
        }
        assert_eq!(r.len(), cap);
        assert!(r.capacity() < cap + 16, "{}", r.capacity());
        let last = (16 * 86400 - 1) / 300;
        // The open slot's mean is exact; a closed one's is within the code's precision.
        assert_eq!(r.mean(last), Some((last % 7) as f64 + 0.5));
        let oldest = last - cap as i64 + 1;
        assert!(close(r.mean(oldest), (oldest % 7) as f64 + 0.5));
        assert!(close(r.mean(last - 1), ((last - 1) % 7) as f64 + 0.5));
        assert_eq!(r.mean(last - cap as i64), None, "slid out of the window");
        // A gap leaves its slots unknown, not zero; a late point fills an empty older slot
        // and leaves the newest slot's running mean alone.
        r.push((last + 3) * 300, 4.0);
        r.push((last + 3) * 300 + 10, 6.0);
        assert_eq!(r.mean(last + 1), None);
        r.push((last + 1) * 300, 2.0);
        assert!(close(r.mean(last + 1), 2.0));
        r.push((last + 3) * 300 + 20, 8.0);
        assert_eq!(r.mean(last + 3), Some(6.0));
        // An unknown value is not a point.
        r.push((last + 2) * 300, f64::NAN);
        assert_eq!(r.mean(last + 2), None);

        // A window smaller than the first growth step (an hour of 5-minute slots).
        let mut small = SlotRing::new(300, 20);
        for t in (0..86400).step_by(60) {
            small.push(t, 1.0);
        }
        assert_eq!(small.len(), 20);
        assert!(small.capacity() <= 20, "{}", small.capacity());
        assert_eq!(small.mean(86399 / 300), Some(1.0));
        assert!(close(small.mean(86399 / 300 - 5), 1.0));
    }

    #[test]
    fn a_code_holds_zero_signs_and_a_wide_range_to_its_precision() {
        let mut r = SlotRing::new(1, 100);
        r.code_means();
        // From a quiet night's few bits per second to a busy uplink's tens of gigabits (31
        // octaves), a negative value (a backtest's input may have them) and exactly zero.
        let values = [300.0, 0.0, 1.5e10, -42.5, 12.5, 2.0e10, 999.0, 1.0e10 / 3.0];
        for (t, v) in values.iter().enumerate() {
            r.push(t as i64, *v);
        }
        // The newest slot is open (exact); push one more so that every value is coded.
        r.push(values.len() as i64, 1.0);
        for (t, v) in values.iter().enumerate() {
            let got = r.mean(t as i64);
            assert!(close(got, *v), "slot {t}: {got:?} for {v}");
        }
        assert_eq!(r.mean(1), Some(0.0), "zero is exact");
        // Values of up to 11 significant bits are exact.
        for (t, v) in [300.0, -42.5, 12.5, 999.0].into_iter().enumerate() {
            r.push(100 + 2 * t as i64, v);
            r.push(101 + 2 * t as i64, 1.0);
            assert_eq!(r.mean(100 + 2 * t as i64), Some(v));
        }
        // Between the codes, the nearest one.
        for v in [2047.5_f64, 2049.0, 1.0e9 + 7.0, 6.02e8] {
            let c = encode(40, v);
            assert!(
                (decode(40, c) - v).abs() <= v * PRECISION,
                "{v}: {}",
                decode(40, c)
            );
        }
    }

    #[test]
    fn a_larger_value_raises_the_top_and_keeps_the_older_means() {
        let mut r = SlotRing::new(1, 1000);
        r.code_means();
        for t in 0..500 {
            r.push(t, 1000.0 + t as f64);
        }
        // 2^38: far above the first top (2^9); the older means are re-coded.
        r.push(500, 3.0e11);
        r.push(501, 1000.0);
        for t in 0..500 {
            assert!(
                close(r.mean(t), 1000.0 + t as f64),
                "slot {t}: {:?}",
                r.mean(t)
            );
        }
        assert!(close(r.mean(500), 3.0e11));
        // What falls more than 41 octaves below the top keeps the smallest nonzero code.
        r.push(502, 1.0e-6);
        r.push(503, 1000.0);
        let tiny = r.mean(502).unwrap_or(f64::NAN);
        assert!(tiny > 0.0 && tiny < 3.0e11 / 1.0e12, "{tiny}");
    }

    #[test]
    fn single_points_stay_exact_until_the_slots_hold_means() {
        // An hourly or 5-minute series in 5-minute slots: each slot one point, kept as the
        // `f32` it always was (0.07 compares with 0.07 as before).
        let mut r = SlotRing::new(300, 100);
        let values = [0.07, 0.134, 12_345.678, 0.0];
        for (k, v) in values.iter().enumerate() {
            r.push(k as i64 * 300, *v);
        }
        for (k, v) in values.iter().enumerate() {
            assert_eq!(r.mean(k as i64), Some(f64::from(*v as f32)));
        }
        assert_eq!(r.capacity() * 4, 16 * 4, "f32 slots");
        // Told that the series now puts several points in a slot: what it holds is coded.
        r.code_means();
        for (k, v) in values.iter().enumerate().take(3) {
            assert!(close(r.mean(k as i64), *v), "{k}: {:?}", r.mean(k as i64));
        }
        r.push(4 * 300, 10.0);
        r.push(4 * 300 + 10, 20.0);
        assert_eq!(r.mean(4), Some(15.0), "the open slot's running mean");
        assert!(matches!(r.slots, Slots::Coded { .. }));
    }
}
