//! One entity's usage over a period, from its exact 5-minute buckets: octets in and out, the
//! 95th percentiles of the measured slots, daily totals, and coverage next to every figure.
//!
//! A slot's rate is its octets over the time that was measured in it; a slot with nothing
//! measured is absent and takes no part in the percentile (it is never a zero). Coverage is
//! the measured time over the period's length.

use serde::Serialize;

use super::percentile::{Percentiles, SlotRate};
use super::period::{DAY_SECS, Period};
use crate::store::{Bucket5m, Entity, StoreError, UsageBook, UsageRecord};

/// The last stretch of a period that tells whether a customer still uses anything.
pub const RECENT_SECS: i64 = 7 * DAY_SECS;

/// One day of usage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct DayUsage {
    /// Bytes in + out measured that day.
    pub bytes: u64,
    /// Fraction of the day measured.
    pub coverage: f64,
}

/// Usage of one entity over one period.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Usage {
    /// The period.
    pub period: Option<Period>,
    /// Octets received, measured.
    pub in_octets: u64,
    /// Octets sent, measured.
    pub out_octets: u64,
    /// Bytes imported from other systems (CSV / API), pro rata for the period.
    pub imported_bytes: u64,
    /// Seconds measured (weighted for aggregates).
    pub covered_secs: f64,
    /// Measured time over the period's length, 0..=1.
    pub coverage: f64,
    /// 5-minute slots with a measurement.
    pub slots: usize,
    /// 5-minute slots in the period.
    pub expected_slots: usize,
    /// The 95th percentiles over the measured slots.
    pub p95: Percentiles,
    /// Per day of the period.
    pub daily: Vec<DayUsage>,
    /// Average bit/s over the measured time of the last seven days of the period; `None`
    /// when nothing was measured then.
    pub recent_bps: Option<f64>,
    /// Average bit/s over the measured time of the whole period.
    pub average_bps: Option<f64>,
    /// Measured slots left out of the percentiles because an attack (a firing spike alert,
    /// `[report] exclude_attacks`) or a maintenance window marked `exclude_samples` overlapped
    /// them; their bytes still count.
    pub excluded_slots: usize,
}

impl Usage {
    /// The usage of `entity` over `period`, read from its stored 5-minute buckets (nothing
    /// measured when the series was never written).
    pub fn read(book: &UsageBook, entity: &Entity, period: Period) -> Result<Usage, StoreError> {
        Usage::read_excluding(book, entity, period, &[])
    }

    /// [`Usage::read`], leaving the slots that overlap any of `attacks` out of the
    /// percentiles (see [`Usage::from_buckets_excluding`]).
    pub fn read_excluding(
        book: &UsageBook,
        entity: &Entity,
        period: Period,
        attacks: &[(i64, i64)],
    ) -> Result<Usage, StoreError> {
        let buckets = book
            .buckets_5m(entity, period.from, period.to)?
            .unwrap_or_default();
        Ok(Usage::from_buckets_excluding(&buckets, period, attacks))
    }

    /// Adds the imported records of `customer` that overlap the period, read from `book`.
    pub fn read_imported(&mut self, book: &UsageBook, customer: &str) -> Result<(), StoreError> {
        let Some(p) = self.period else {
            return Ok(());
        };
        let ts = |s: i64| jiff::Timestamp::from_second(s).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let records = book.records(ts(p.from), ts(p.to))?;
        self.add_imported(records.iter().filter(|r| r.customer == customer));
        Ok(())
    }

    /// Computes usage over `period` from the stored buckets (any outside it are ignored).
    pub fn from_buckets(buckets: &[Bucket5m], period: Period) -> Usage {
        Usage::from_buckets_excluding(buckets, period, &[])
    }

    /// [`Usage::from_buckets`], leaving the slots that overlap any of `attacks` (`[start,
    /// end)` unix seconds) out of the percentiles and counting them.
    pub fn from_buckets_excluding(
        buckets: &[Bucket5m],
        period: Period,
        attacks: &[(i64, i64)],
    ) -> Usage {
        let mut u = Usage {
            period: Some(period),
            expected_slots: (period.secs() / 300) as usize,
            daily: vec![DayUsage::default(); period.days()],
            ..Usage::default()
        };
        let mut rates = Vec::with_capacity(buckets.len());
        let recent_from = period.to - RECENT_SECS;
        let (mut recent_octets, mut recent_secs) = (0u64, 0f64);
        let mut day_covered = vec![0f64; u.daily.len()];
        for b in buckets
            .iter()
            .filter(|b| b.start >= period.from && b.start < period.to && b.covered_ms > 0)
        {
            let secs = b.covered_ms as f64 / 1000.0;
            let (i, o) = (b.in_octets.max(0) as u64, b.out_octets.max(0) as u64);
            u.in_octets = u.in_octets.saturating_add(i);
            u.out_octets = u.out_octets.saturating_add(o);
            u.covered_secs += secs;
            if attacks
                .iter()
                .any(|(s, e)| *s < b.start + 300 && *e > b.start)
            {
                u.excluded_slots += 1;
            } else {
                rates.push(SlotRate {
                    start: b.start,
                    in_bps: i as f64 * 8.0 / secs,
                    out_bps: o as f64 * 8.0 / secs,
                });
            }
            let d = ((b.start - period.from) / DAY_SECS) as usize;
            if let Some(day) = u.daily.get_mut(d) {
                day.bytes = day.bytes.saturating_add(i.saturating_add(o));
                day_covered[d] += secs;
            }
            if b.start >= recent_from {
                recent_octets = recent_octets.saturating_add(i.saturating_add(o));
                recent_secs += secs;
            }
        }
        for (d, day) in u.daily.iter_mut().enumerate() {
            let start = period.from + d as i64 * DAY_SECS;
            let len = (period.to.min(start + DAY_SECS) - start).max(1) as f64;
            day.coverage = (day_covered[d] / len).clamp(0.0, 1.0);
        }
        u.slots = rates.len() + u.excluded_slots;
        u.p95 = Percentiles::of(&rates);
        if period.secs() > 0 {
            u.coverage = (u.covered_secs / period.secs() as f64).clamp(0.0, 1.0);
        }
        if recent_secs > 0.0 {
            u.recent_bps = Some(recent_octets as f64 * 8.0 / recent_secs);
        }
        if u.covered_secs > 0.0 {
            u.average_bps = Some(u.measured_bytes() as f64 * 8.0 / u.covered_secs);
        }
        u
    }

    /// Adds imported records of this entity, each pro rata to its overlap with the period.
    pub fn add_imported<'a>(&mut self, records: impl IntoIterator<Item = &'a UsageRecord>) {
        let Some(p) = self.period else { return };
        for r in records {
            let (s, e) = (r.start.as_second(), r.end.as_second());
            let overlap = (e.min(p.to) - s.max(p.from)).max(0);
            let len = (e - s).max(1);
            if overlap > 0 {
                let part = u64::try_from(r.bytes as u128 * overlap as u128 / len as u128)
                    .unwrap_or(u64::MAX);
                // Sums saturate: 18 EB is the most a month can show, never a wrapped small figure.
                self.imported_bytes = self.imported_bytes.saturating_add(part);
            }
        }
    }

    /// Bytes in + out measured over SNMP.
    pub fn measured_bytes(&self) -> u64 {
        self.in_octets.saturating_add(self.out_octets)
    }

    /// Bytes in + out measured plus imported: the volume billed.
    pub fn total_bytes(&self) -> u64 {
        self.measured_bytes().saturating_add(self.imported_bytes)
    }

    /// The measured traffic extended over `full_secs` at its measured average rate (unmeasured
    /// time assumed like the measured; a projection for the month so far), plus imports.
    pub fn estimated_bytes(&self, full_secs: i64) -> f64 {
        let measured = match self.average_bps {
            Some(bps) => bps / 8.0 * full_secs as f64,
            None => 0.0,
        };
        measured + self.imported_bytes as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(start: i64, i: i64, o: i64, covered_ms: i64) -> Bucket5m {
        Bucket5m {
            start,
            in_octets: i,
            out_octets: o,
            covered_ms,
        }
    }

    #[test]
    fn gaps_are_left_out_and_coverage_reported() {
        let p = Period { from: 0, to: 3600 };
        // Four of twelve slots measured, one half-covered (its rate is over 150 s).
        let u = Usage::from_buckets(
            &[
                b(0, 300, 0, 300_000),
                b(300, 600, 0, 300_000),
                b(600, 900, 0, 300_000),
                b(900, 150, 0, 150_000),
            ],
            p,
        );
        assert_eq!(u.slots, 4);
        assert_eq!(u.expected_slots, 12);
        assert_eq!(u.measured_bytes(), 1950);
        assert!((u.coverage - 1050.0 / 3600.0).abs() < 1e-9);
        // Rates 8, 16, 24, 8 bit/s: ceil(3.8) = 4th smallest = 24.
        assert_eq!(u.p95.in_bps, Some(24.0));
        assert_eq!(u.daily.len(), 1);
        assert_eq!(u.daily[0].bytes, 1950);

        // An attack over the third slot: left out of the 95th (now 16), bytes still counted.
        let a = Usage::from_buckets_excluding(
            &[
                b(0, 300, 0, 300_000),
                b(300, 600, 0, 300_000),
                b(600, 900, 0, 300_000),
                b(900, 150, 0, 150_000),
            ],
            p,
            &[(650, 700)],
        );
        assert_eq!(a.excluded_slots, 1);
        assert_eq!(a.slots, 4);
        assert_eq!(a.p95.in_bps, Some(16.0));
        assert_eq!(a.p95.slots, 3);
        assert_eq!(a.measured_bytes(), 1950);
    }

    #[test]
    fn sums_of_huge_imports_saturate_instead_of_wrapping() {
        let mut u = Usage::from_buckets(
            &[],
            Period {
                from: 0,
                to: 86_400,
            },
        );
        let rec = |bytes: u64| UsageRecord {
            customer: "big".into(),
            start: jiff::Timestamp::from_second(0).unwrap(),
            end: jiff::Timestamp::from_second(86_400).unwrap(),
            bytes,
            source: String::new(),
        };
        u.add_imported([rec(u64::MAX / 2), rec(u64::MAX / 2), rec(u64::MAX / 2)].iter());
        assert_eq!(u.imported_bytes, u64::MAX);
        assert_eq!(u.total_bytes(), u64::MAX);
    }

    #[test]
    fn imported_bytes_are_split_by_overlap() {
        let mut u = Usage::from_buckets(&[], Period { from: 100, to: 200 });
        let r = UsageRecord {
            customer: "c".into(),
            start: jiff::Timestamp::from_second(0).unwrap(),
            end: jiff::Timestamp::from_second(200).unwrap(),
            bytes: 1000,
            source: String::new(),
        };
        u.add_imported([&r]);
        assert_eq!(u.imported_bytes, 500);
        assert_eq!(u.total_bytes(), 500);
        assert_eq!(u.estimated_bytes(100), 500.0);
    }
}
