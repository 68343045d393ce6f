//! Text for people, in one place: HTML escaping, numbers (rates, sizes, money, percentages),
//! durations and CSV output. Every page, email, report and message formats through these, so the same
//! quantity reads the same everywhere.

pub mod csv;
pub mod html;
pub mod number;
pub mod time;

pub use html::escape as html;
pub use number::{format_bps, format_bytes, format_money, percent_change, significant};
pub use time::{duration, duration_secs, minute_utc};
