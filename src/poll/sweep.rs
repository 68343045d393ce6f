//! What one poll of one switch produces, handed from the poller to the store (and from there
//! to the rules): per configured port either a reading or an unknown with its reason.
//!
//! Unknown is never zero: a port whose interval could not be measured has no [`Delta`], and
//! every consumer must treat it as a gap.

use std::sync::Arc;

use jiff::Timestamp;
use serde::Serialize;

/// How trustworthy one port's interval is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quality {
    /// A normal interval: both counter readings are from the same counter epoch.
    Ok,
    /// The first reading of this port (at start, after rediscovery or a renumbering): no delta yet.
    First,
    /// A Counter32 wrapped once and the reconstructed rate is plausible.
    Wrapped,
    /// The counters were reset (reboot, discontinuity, backwards counter): no delta.
    Reset,
    /// The delta implied more than the port's speed allows: no delta.
    Bogus,
    /// The previous poll was missed; the delta spans the longer interval.
    Gap,
}

impl Quality {
    /// Every quality, for metrics that enumerate them.
    pub const ALL: [Quality; 6] = [
        Quality::Ok,
        Quality::First,
        Quality::Wrapped,
        Quality::Reset,
        Quality::Bogus,
        Quality::Gap,
    ];

    /// The flag as stored and exported (`ok`, `first`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Quality::Ok => "ok",
            Quality::First => "first",
            Quality::Wrapped => "wrapped",
            Quality::Reset => "reset",
            Quality::Bogus => "bogus",
            Quality::Gap => "gap",
        }
    }

    /// True when a reading of this quality carries a delta.
    pub fn has_delta(self) -> bool {
        matches!(self, Quality::Ok | Quality::Wrapped | Quality::Gap)
    }
}

/// Why a port's interval is unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownReason {
    /// The switch did not answer in time.
    Timeout,
    /// The switch answered with an error, or with something malformed.
    AgentError,
    /// The configured port name was not found on the switch.
    PortMissing,
    /// The counters were reset.
    Reset,
    /// The delta was implausible.
    Bogus,
    /// This is the first reading: there is nothing to take a delta from.
    First,
}

impl UnknownReason {
    /// The reason as stored and exported.
    pub fn as_str(self) -> &'static str {
        match self {
            UnknownReason::Timeout => "timeout",
            UnknownReason::AgentError => "agent_error",
            UnknownReason::PortMissing => "port_missing",
            UnknownReason::Reset => "reset",
            UnknownReason::Bogus => "bogus",
            UnknownReason::First => "first",
        }
    }
}

/// ifOperStatus.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OperStatus {
    /// 1
    Up,
    /// 2
    Down,
    /// 3
    Testing,
    /// 4, or a value outside the MIB
    Unknown,
    /// 5
    Dormant,
    /// 6
    NotPresent,
    /// 7
    LowerLayerDown,
}

impl OperStatus {
    /// From the MIB's integer.
    pub fn from_mib(v: i64) -> Self {
        match v {
            1 => OperStatus::Up,
            2 => OperStatus::Down,
            3 => OperStatus::Testing,
            5 => OperStatus::Dormant,
            6 => OperStatus::NotPresent,
            7 => OperStatus::LowerLayerDown,
            _ => OperStatus::Unknown,
        }
    }
    /// The MIB's integer.
    pub fn to_mib(self) -> u8 {
        match self {
            OperStatus::Up => 1,
            OperStatus::Down => 2,
            OperStatus::Testing => 3,
            OperStatus::Unknown => 4,
            OperStatus::Dormant => 5,
            OperStatus::NotPresent => 6,
            OperStatus::LowerLayerDown => 7,
        }
    }
}

/// The measured change of a port's counters over one interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Delta {
    /// Milliseconds between the two responses (not the configured interval).
    pub dt_ms: u64,
    /// Octets received.
    pub in_octets: u64,
    /// Octets sent.
    pub out_octets: u64,
    /// Unicast packets received, when the device has the counter.
    pub in_packets: Option<u64>,
    /// Unicast packets sent, when the device has the counter.
    pub out_packets: Option<u64>,
}

impl Delta {
    /// Seconds of the interval.
    pub fn dt_secs(&self) -> f64 {
        self.dt_ms as f64 / 1000.0
    }
    /// Inbound bits per second.
    pub fn in_bps(&self) -> f64 {
        self.in_octets as f64 * 8.0 / self.dt_secs().max(1e-3)
    }
    /// Outbound bits per second.
    pub fn out_bps(&self) -> f64 {
        self.out_octets as f64 * 8.0 / self.dt_secs().max(1e-3)
    }
}

/// One port's reading in one sweep.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PortReading {
    /// ifIndex at the time of the reading (informational: identity is the name).
    pub if_index: u32,
    /// ifOperStatus.
    pub oper_status: OperStatus,
    /// Interface speed in bits per second (ifHighSpeed x 1e6).
    pub speed_bps: u64,
    /// Quality of the interval that ends with this reading.
    pub quality: Quality,
    /// The counters' change, present exactly when `quality.has_delta()`.
    pub delta: Option<Delta>,
}

/// A port's outcome in one sweep.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PortOutcome {
    /// The port was read (its delta may still be unknown: see [`PortReading::quality`]).
    Reading(PortReading),
    /// The port could not be read at all.
    Unknown(UnknownReason),
}

impl PortOutcome {
    /// The delta, when the interval is known.
    pub fn delta(&self) -> Option<&Delta> {
        match self {
            PortOutcome::Reading(r) => r.delta.as_ref(),
            PortOutcome::Unknown(_) => None,
        }
    }
}

/// One configured port in a sweep.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PortResult {
    /// Port name, as configured (or as found by an alias pattern): the topology's shared copy.
    pub port: Arc<str>,
    /// What was read.
    pub outcome: PortOutcome,
}

/// How the switch as a whole answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepStatus {
    /// The switch answered.
    Ok,
    /// No answer within the profile's timeout and retries.
    Timeout,
    /// An error: agent error status, malformed response, wrong credentials.
    Error(String),
}

/// One poll of one switch.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sweep {
    /// Switch name (the topology's shared copy).
    pub switch: Arc<str>,
    /// When the response arrived (the end of every delta in this sweep).
    pub time: Timestamp,
    /// How the switch answered.
    pub status: SweepStatus,
    /// sysUpTime in hundredths of a second, when read.
    pub sys_uptime: Option<u32>,
    /// Every configured port of the switch, in config order.
    pub ports: Vec<PortResult>,
}
