//! The monthly usage report: per customer (all its ports on all its switches, counted once
//! through the store's customer aggregate), per product line and per site, octets in and out
//! by day and month, and the 95th percentile of the exact 5-minute rates by the customer's
//! billing method. Missing 5-minute slots are left out, never counted as zero, and coverage
//! is printed next to every figure. The figures come from [`crate::usage`]; the money from
//! [`crate::cost`].
//!
//! - [`build`](mod@build): the report: this month against the last, statuses, groupings.
//! - [`render`]: text, CSV, JSON and e-mail-safe HTML.
//! - [`import`]: usage records from CSV (`bandwatch import`, `POST /api/v1/usage`).

pub mod build;
pub mod deliver;
pub mod import;
pub mod render;

pub use build::{Report, build};
