//! Text for people, in one place: numbers (rates, sizes, money, percentages), durations and
//! CSV output. Every page, email, report and message formats through these, so the same
//! quantity reads the same everywhere. HTML escaping is `maud`'s: the status page, emails and
//! reports are built with its `html!`, which escapes every value.

pub mod csv;
pub mod number;
pub mod time;

pub use number::{format_bps, format_bytes, format_money, percent_change, significant};
pub use time::{duration, duration_secs, minute_utc};
