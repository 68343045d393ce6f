//! Cost accounting: money next to the bytes. What each customer pays for its measured usage,
//! what each uplink costs us in transit, that transit cost allocated to customers and product
//! lines by their traffic through the site in each 5-minute slot, the margins, and the money
//! an alert is about (revenue at risk for a churn warning, the transit or revenue a spike
//! would add if it lasted past the 95th window).
//!
//! - [`bill`]: a price plan applied to a billed 95th or a volume.
//! - [`allocate`](mod@allocate): transit cost of every priced uplink and its split per 5-minute slot.
//! - [`accounts`]: the month's revenue, allocated cost and margin per customer, account
//!   manager and product line, for the report and `/metrics`.
//! - [`alert`]: the money line of churn and spike notices.
//!
//! Inputs are the report's: the exact 5-minute buckets of the store, gaps left out (never
//! zero), and the report's per-customer usage.

pub mod accounts;
pub mod alert;
pub mod allocate;
pub mod bill;

pub use accounts::{Accounts, CustomerMoney, GroupMoney, month_to_date};
pub use alert::{MoneyNote, alert_money};
pub use allocate::{Allocation, UplinkCost, allocate};
pub use bill::{bill_rate, bill_usage, bill_volume, format_money};
