//! A price plan applied to measured usage: the commit price, plus the overage price per
//! Mbit/s of the billed 95th above the committed rate, or per TB (10^12 bytes) above the
//! committed volume. A month without any measurement bills nothing more than the commit.

use crate::config::{Billing, Commit, PricePlan};
use crate::usage::Usage;

/// Bits per second in one Mbit/s (SI, as transit is sold).
pub const MBPS: f64 = 1e6;
/// Bytes in one TB (SI).
pub const TB: f64 = 1e12;

/// The bill of a 95th plan for a billed 95th of `bps` (`None`: nothing measured).
pub fn bill_rate(plan: &PricePlan, bps: Option<f64>) -> f64 {
    let commit = match plan.commit {
        Commit::Rate(r) => r.bps() as f64,
        Commit::Volume(_) => 0.0,
    };
    let over = bps.map_or(0.0, |b| (b - commit).max(0.0));
    plan.commit_price + over / MBPS * plan.overage_price
}

/// The bill of a volume plan for `bytes` transferred.
pub fn bill_volume(plan: &PricePlan, bytes: f64) -> f64 {
    let commit = match plan.commit {
        Commit::Volume(v) => v.bytes() as f64,
        Commit::Rate(_) => 0.0,
    };
    plan.commit_price + (bytes - commit).max(0.0) / TB * plan.overage_price
}

/// The bill of a plan for a period's usage; `volume_bytes` is the volume to bill (measured,
/// or projected to the month's end).
pub fn bill_usage(plan: &PricePlan, usage: &Usage, volume_bytes: f64) -> f64 {
    match plan.billing {
        Billing::Volume => bill_volume(plan, volume_bytes),
        m => bill_rate(plan, usage.p95.billed(m)),
    }
}

/// An amount for people: defined with the other formatting in [`crate::format`].
pub use crate::format::format_money;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BitRate, ByteSize};

    fn plan(billing: Billing, commit: Commit) -> PricePlan {
        PricePlan {
            name: "p".into(),
            currency: "EUR".into(),
            billing,
            commit,
            commit_price: 900.0,
            overage_price: 2.4,
        }
    }

    #[test]
    fn rate_plans_bill_commit_plus_overage() {
        let p = plan(Billing::Max95, Commit::Rate(BitRate(500_000_000)));
        assert_eq!(bill_rate(&p, Some(300e6)), 900.0);
        assert_eq!(bill_rate(&p, None), 900.0);
        assert!((bill_rate(&p, Some(650e6)) - (900.0 + 150.0 * 2.4)).abs() < 1e-9);
    }

    #[test]
    fn volume_plans_bill_per_tb() {
        let p = plan(
            Billing::Volume,
            Commit::Volume(ByteSize(20_000_000_000_000)),
        );
        assert_eq!(bill_volume(&p, 5e12), 900.0);
        assert!((bill_volume(&p, 25e12) - (900.0 + 5.0 * 2.4)).abs() < 1e-9);
    }

    #[test]
    fn money_is_grouped_and_rounded() {
        assert_eq!(format_money(1234.5, "EUR"), "1,234.50 EUR");
        assert_eq!(format_money(-0.004, "USD"), "0.00 USD");
        assert_eq!(format_money(-1000000.0, "USD"), "-1,000,000.00 USD");
        assert_eq!(format_money(12.0, "EUR"), "12.00 EUR");
    }
}
