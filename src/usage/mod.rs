//! Usage: what each customer, product line, site and port used in a month, measured from the
//! store's exact 5-minute buckets. Calendar [`month`]s and their [`period`]s, one series'
//! [`series::Usage`] over a period (octets, daily totals, coverage), the billing
//! [`percentile`]s (nearest-rank 95th by method), the slots inside [`attacks`] left out of
//! a 95th, and every [customers](mod@customers)' and [groups](mod@groups)' month against the month before
//! (estimates, change, status).
//!
//! Missing 5-minute slots are left out, never counted as zero, and coverage is carried next
//! to every figure.
//!
//! # Why a layer of its own
//!
//! Both the monthly report and the money need the same figures: the report prints usage,
//! change and the billed 95th; cost bills the same 95th and volume, and allocates transit by
//! the same slots. Computing them here, once, lets `cost` compute from usage and `report`
//! combine usage with cost, without either calling the other. This module imports neither
//! `report` nor `cost`.

pub mod attacks;
pub mod customers;
pub mod groups;
pub mod month;
pub mod percentile;
pub mod period;
pub mod series;

pub use customers::{CHURN_FRACTION, CustomerUsage, Status, customers};
pub use groups::{GroupUsage, groups};
pub use month::{Month, Months, change};
pub use percentile::{Percentiles, SlotRate, nearest_rank, rank_95};
pub use period::{DAY_SECS, Period, slot_start};
pub use series::{DayUsage, RECENT_SECS, Usage};
