//! The quality flag stored with each raw port sample: the poller's [`Quality`] for a reading,
//! or the [`UnknownReason`] of a gap. `ok` is 0, which SQLite stores in no bytes at all.

use crate::poll::{Quality, UnknownReason};

/// A normal interval.
pub const OK: i64 = 0;
/// A Counter32 wrapped once; the delta is reconstructed.
pub const WRAPPED: i64 = 1;
/// The previous poll was missed; the delta spans the longer interval.
pub const GAP_SPANNED: i64 = 2;
/// First reading: no delta (gap).
pub const FIRST: i64 = 3;
/// Counter reset: no delta (gap).
pub const RESET: i64 = 4;
/// Implausible delta: no delta (gap).
pub const BOGUS: i64 = 5;
/// The switch did not answer (gap).
pub const TIMEOUT: i64 = 6;
/// The switch answered with an error (gap).
pub const AGENT_ERROR: i64 = 7;
/// The port was not found on the switch (gap).
pub const PORT_MISSING: i64 = 8;

/// The store could not take the sample (a shared database unreachable for longer than the
/// writer's queue holds): unknown, never zero.
pub const STORE_UNAVAILABLE: i64 = 9;

/// The flag of a reading.
pub fn of_quality(q: Quality) -> i64 {
    match q {
        Quality::Ok => OK,
        Quality::Wrapped => WRAPPED,
        Quality::Gap => GAP_SPANNED,
        Quality::First => FIRST,
        Quality::Reset => RESET,
        Quality::Bogus => BOGUS,
    }
}

/// The flag of an unknown port.
pub fn of_unknown(r: UnknownReason) -> i64 {
    match r {
        UnknownReason::Timeout => TIMEOUT,
        UnknownReason::AgentError => AGENT_ERROR,
        UnknownReason::PortMissing => PORT_MISSING,
        UnknownReason::Reset => RESET,
        UnknownReason::Bogus => BOGUS,
        UnknownReason::First => FIRST,
    }
}

/// The flag's name, as shown to people (`ok`, `timeout`, ...).
pub fn name(flag: i64) -> &'static str {
    match flag {
        OK => "ok",
        WRAPPED => "wrapped",
        GAP_SPANNED => "gap",
        FIRST => "first",
        RESET => "reset",
        BOGUS => "bogus",
        TIMEOUT => "timeout",
        AGENT_ERROR => "agent_error",
        PORT_MISSING => "port_missing",
        STORE_UNAVAILABLE => "store_unavailable",
        _ => "unknown",
    }
}
