//! The monthly usage report and usage accounting: per customer (all its ports on all its
//! switches, counted once through the store's customer aggregate), per product line and per
//! site, octets in and out by day and month, and the 95th percentile of the exact 5-minute
//! rates by the customer's billing method. Missing 5-minute slots are left out, never
//! counted as zero, and coverage is printed next to every figure.
//!
//! - [`percentile`]: nearest-rank 95th and the billing methods.
//! - [`usage`]: one entity's usage over a period from its 5-minute buckets.
//! - [`build`]: the report: this month against the last, statuses, groupings.
//! - [`render`]: text, CSV, JSON and e-mail-safe HTML.
//! - [`import`]: usage records from CSV (`bandwatch import`, `POST /api/v1/usage`).

pub mod attacks;
pub mod build;
pub mod deliver;
pub mod import;
pub mod month;
pub mod percentile;
pub mod render;
pub mod usage;

pub use build::{CustomerRow, Report, Status, TotalRow, build, build_with};
pub use month::Month;
pub use percentile::{Percentiles, SlotRate, nearest_rank};
pub use usage::{Period, Usage};
