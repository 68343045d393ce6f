//! Scenario files for the simulator: the traffic shape of every port and scripted events
//! (spike, drop, reboot, unreachable, port removal) at offsets from the simulator's start,
//! plus 32-bit-only devices.
//!
//! A complete example is `src/sim/example-scenario.toml`. `bandwatch backfill --scenario`
//! plays the traffic's shape and the spike, drop and port_down events in the history it writes,
//! their `at` counted from its first sweep (so a trial of rules on stored history has labelled
//! events: `benches/sim/`); the other kinds are the live simulator's. The keys:
//!
//! ```toml
//! time_scale = 60.0          # scenario seconds per real second (offsets and the daily and
//!                            # weekly shape run this much faster; rates stay per real second)
//! [traffic]
//! speed = "1Gbps"            # ifHighSpeed / ifSpeed of every port
//! base = "100Mbps"           # mean inbound rate; outbound is base x out_ratio
//! out_ratio = 0.5
//! daily = 0.3                # amplitude of the daily sine, as a fraction of base
//! weekly = 0.1
//! noise = 0.05               # amplitude of a deterministic wobble (sum of sines)
//! jitter = 0.1               # minute-to-minute random steps of the rate, up to +-jitter
//! bursts_per_day = 4.0       # short bursts (2-10 min) adding burst_size x base, on average
//! burst_size = 0.5           # (each burst draws 0.5x..1.5x of it)
//! wall_clock = true          # daily peak at 20:00 UTC, weekly low on Sunday, from the
//!                            # simulator's start time (else the shape starts at t = 0)
//! spread = 0.5               # ports differ from base by up to +-spread/2
//! start_offset = 0           # counters' value at start (near 2^32 to provoke wraps)
//!
//! [[device]]
//! switches = ["sim-0001"]
//! counter32 = true           # no ifHC* columns and no ifHighSpeed
//!
//! [[event]]
//! at = "10m"                 # scenario time
//! kind = "spike"             # spike | drop | reboot | unreachable | remove_port |
//!                            # counter_reset | port_down
//! factor = 5.0               # spike: multiply the rate
//! percent = 10.0             # drop: to this percentage of the rate
//! duration = "5m"            # spike, unreachable: required; drop, port_down: optional
//!                            # (else forever)
//! switches = ["sim-0000"]    # default: every switch
//! ports = ["eth3"]           # default: every port (spike, drop, remove_port, counter_reset,
//!                            # port_down)
//! flows = "ntp"              # spike: the shape of its extra traffic in the simulated flows
//!                            # (see sim::flows::FlowShape): surge (the default: the usual
//!                            # mix, a legitimate surge), dns, ntp, snmp, cldap, ssdp,
//!                            # memcached, chargen (UDP reflection from that service's port),
//!                            # syn, udp, icmp, volumetric
//! target = "203.0.113.7"     # spike: where the extra traffic goes, one address or spread
//!                            # over a prefix ("203.0.113.0/24"); default: the port's usual
//!                            # destinations
//! ```

use std::path::Path;

use serde::Deserialize;

use super::flows::{FlowShape, Target};
use crate::config::{BitRate, Duration};

/// Kinds of scripted events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Rate multiplied by `factor` for `duration`.
    Spike,
    /// Rate down to `percent` % from `at` (for `duration`, or forever).
    Drop,
    /// sysUpTime and counters restart at 0 and ifIndexes are renumbered.
    Reboot,
    /// No answer at all for `duration`.
    Unreachable,
    /// The ports disappear from the agent from `at` on.
    RemovePort,
    /// The ports' counters restart at 0 at `at` (no reboot) and their
    /// ifCounterDiscontinuityTime becomes the sysUpTime of that instant.
    CounterReset,
    /// The ports' ifOperStatus is down (2) and they carry no traffic from `at` (for
    /// `duration`, or forever).
    PortDown,
}

impl EventKind {
    /// The kind as a scenario file spells it.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Spike => "spike",
            EventKind::Drop => "drop",
            EventKind::Reboot => "reboot",
            EventKind::Unreachable => "unreachable",
            EventKind::RemovePort => "remove_port",
            EventKind::CounterReset => "counter_reset",
            EventKind::PortDown => "port_down",
        }
    }

    /// Whether `bandwatch backfill` plays the kind in the history it writes: a change of the
    /// traffic (and of the port's status), not of the agent (reboots, silence, lost ports and
    /// counter resets are the live simulator's).
    pub fn in_backfill(self) -> bool {
        matches!(
            self,
            EventKind::Spike | EventKind::Drop | EventKind::PortDown
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    #[serde(default)]
    time_scale: Option<f64>,
    #[serde(default)]
    traffic: Option<RawTraffic>,
    #[serde(default)]
    device: Vec<RawDevice>,
    #[serde(default)]
    event: Vec<RawEvent>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTraffic {
    speed: Option<String>,
    base: Option<String>,
    out_ratio: Option<f64>,
    daily: Option<f64>,
    weekly: Option<f64>,
    noise: Option<f64>,
    jitter: Option<f64>,
    bursts_per_day: Option<f64>,
    burst_size: Option<f64>,
    wall_clock: Option<bool>,
    spread: Option<f64>,
    start_offset: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDevice {
    #[serde(default)]
    switches: Option<Vec<String>>,
    #[serde(default)]
    counter32: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    at: String,
    kind: EventKind,
    factor: Option<f64>,
    percent: Option<f64>,
    duration: Option<String>,
    switches: Option<Vec<String>>,
    ports: Option<Vec<String>>,
    flows: Option<String>,
    target: Option<String>,
}

/// Traffic shape shared by every port.
#[derive(Clone, Debug, PartialEq)]
pub struct TrafficShape {
    /// Port speed, bits per second.
    pub speed_bps: u64,
    /// Mean inbound rate, bits per second.
    pub base_bps: f64,
    /// Outbound rate as a fraction of inbound.
    pub out_ratio: f64,
    /// Daily sine amplitude (fraction of base).
    pub daily: f64,
    /// Weekly sine amplitude.
    pub weekly: f64,
    /// Noise amplitude (smooth: a sum of sines).
    pub noise: f64,
    /// Amplitude of the random minute-to-minute steps of the rate (fraction of base).
    pub jitter: f64,
    /// Mean number of short bursts per port and day (scenario time).
    pub bursts_per_day: f64,
    /// Mean extra rate of a burst, as a fraction of base.
    pub burst_size: f64,
    /// Unix time (seconds) of the simulator's start, when the daily and weekly shape follow
    /// the wall clock (daily peak at 20:00 UTC, weekly low on Sunday); `None`: the shape
    /// starts at t = 0.
    pub origin: Option<f64>,
    /// Per-port variety of the base rate.
    pub spread: f64,
    /// Initial counter value.
    pub start_offset: u64,
}

impl Default for TrafficShape {
    fn default() -> Self {
        TrafficShape {
            speed_bps: 1_000_000_000,
            base_bps: 100_000_000.0,
            out_ratio: 0.5,
            daily: 0.3,
            weekly: 0.1,
            noise: 0.05,
            jitter: 0.0,
            bursts_per_day: 0.0,
            burst_size: 0.5,
            origin: None,
            spread: 0.5,
            start_offset: 0,
        }
    }
}

/// One scripted event, in real seconds since the simulator started.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// What happens.
    pub kind: EventKind,
    /// Start, real seconds.
    pub start: f64,
    /// End, real seconds (`f64::INFINITY` for ever).
    pub end: f64,
    /// Rate multiplier while active (spike, drop; 0 for port down).
    pub factor: f64,
    /// Switch names it applies to; `None` = all.
    pub switches: Option<Vec<String>>,
    /// Port names it applies to; `None` = all.
    pub ports: Option<Vec<String>>,
    /// A spike's shape in the simulated flows (`None`: a legitimate surge).
    pub flows: Option<FlowShape>,
    /// Where a spike's extra traffic goes (`None`: the port's usual destinations).
    pub target: Option<Target>,
}

impl Event {
    /// Whether the event concerns this switch.
    pub fn on_switch(&self, switch: &str) -> bool {
        self.switches
            .as_ref()
            .is_none_or(|s| s.iter().any(|x| x == switch))
    }
    /// Whether the event concerns this port of this switch.
    pub fn on_port(&self, switch: &str, port: &str) -> bool {
        self.on_switch(switch)
            && self
                .ports
                .as_ref()
                .is_none_or(|p| p.iter().any(|x| x == port))
    }
}

/// A parsed scenario, with every time already converted to real seconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Scenario seconds per real second.
    pub time_scale: f64,
    /// Port traffic.
    pub traffic: TrafficShape,
    /// Switches that only have 32-bit counters.
    pub counter32: Vec<String>,
    /// Scripted events.
    pub events: Vec<Event>,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            time_scale: 1.0,
            traffic: TrafficShape::default(),
            counter32: Vec::new(),
            events: Vec::new(),
        }
    }
}

impl Scenario {
    /// The same scenario with every event moved `by` seconds (an event for ever stays for
    /// ever): `bandwatch backfill` plays a scenario's events inside the history it writes,
    /// their `at` counted from its first sweep, where the model's time is negative.
    pub fn shifted(mut self, by: f64) -> Scenario {
        for e in &mut self.events {
            e.start += by;
            e.end += by;
        }
        self
    }

    /// Reads a scenario file; errors name the file and the problem.
    pub fn load(path: &Path) -> Result<Scenario, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        Scenario::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses scenario TOML.
    pub fn parse(text: &str) -> Result<Scenario, String> {
        let raw: RawScenario = toml::from_str(text).map_err(|e| e.to_string())?;
        let scale = raw.time_scale.unwrap_or(1.0);
        if !(scale.is_finite() && scale > 0.0) {
            return Err("time_scale: must be a positive number".into());
        }
        let mut traffic = TrafficShape::default();
        if let Some(t) = raw.traffic {
            if let Some(s) = t.speed {
                traffic.speed_bps = s
                    .parse::<BitRate>()
                    .map_err(|e| format!("traffic.speed: {e}"))?
                    .bps();
            }
            if let Some(b) = t.base {
                traffic.base_bps = b
                    .parse::<BitRate>()
                    .map_err(|e| format!("traffic.base: {e}"))?
                    .bps() as f64;
            }
            traffic.out_ratio = t.out_ratio.unwrap_or(traffic.out_ratio);
            traffic.daily = t.daily.unwrap_or(traffic.daily);
            traffic.weekly = t.weekly.unwrap_or(traffic.weekly);
            traffic.noise = t.noise.unwrap_or(traffic.noise);
            traffic.jitter = t.jitter.unwrap_or(traffic.jitter);
            traffic.bursts_per_day = t.bursts_per_day.unwrap_or(traffic.bursts_per_day);
            traffic.burst_size = t.burst_size.unwrap_or(traffic.burst_size);
            if t.wall_clock == Some(true) {
                traffic.origin = Some(jiff::Timestamp::now().as_millisecond() as f64 / 1000.0);
            }
            traffic.spread = t.spread.unwrap_or(traffic.spread);
            traffic.start_offset = t.start_offset.unwrap_or(0);
        }
        let amplitudes =
            traffic.daily.abs() + traffic.weekly.abs() + traffic.noise.abs() + traffic.jitter.abs();
        if amplitudes > 0.95 {
            return Err("traffic: daily + weekly + noise + jitter must stay below 0.95".into());
        }
        let bursts_ok = (0.0..=1440.0).contains(&traffic.bursts_per_day)
            && (0.0..=10.0).contains(&traffic.burst_size);
        if !bursts_ok {
            return Err(
                "traffic: bursts_per_day must be in 0..1440 and burst_size in 0..10".into(),
            );
        }
        if !(0.0..=1.0).contains(&traffic.spread) || traffic.out_ratio < 0.0 {
            return Err("traffic: spread must be in 0..1 and out_ratio >= 0".into());
        }
        let counter32 = raw
            .device
            .into_iter()
            .filter(|d| d.counter32)
            .flat_map(|d| d.switches.unwrap_or_default())
            .collect();
        let secs = |s: &str, key: &str| -> Result<f64, String> {
            let d: Duration = s.parse().map_err(|e| format!("{key}: {e}"))?;
            Ok(d.std().as_secs_f64() / scale)
        };
        let mut events = Vec::new();
        for (n, e) in raw.event.into_iter().enumerate() {
            let key = |k: &str| format!("event[{n}].{k}");
            let start = secs(&e.at, &key("at"))?;
            let duration = e
                .duration
                .as_deref()
                .map(|d| secs(d, &key("duration")))
                .transpose()?;
            let (factor, end) = match e.kind {
                EventKind::Spike => (
                    e.factor
                        .ok_or_else(|| format!("{}: required for a spike", key("factor")))?,
                    start
                        + duration
                            .ok_or_else(|| format!("{}: required for a spike", key("duration")))?,
                ),
                EventKind::Drop => (
                    e.percent
                        .ok_or_else(|| format!("{}: required for a drop", key("percent")))?
                        / 100.0,
                    duration.map_or(f64::INFINITY, |d| start + d),
                ),
                EventKind::PortDown => (0.0, duration.map_or(f64::INFINITY, |d| start + d)),
                EventKind::Unreachable => (
                    1.0,
                    start
                        + duration.ok_or_else(|| {
                            format!("{}: required for unreachable", key("duration"))
                        })?,
                ),
                EventKind::Reboot | EventKind::RemovePort | EventKind::CounterReset => {
                    (1.0, f64::INFINITY)
                }
            };
            if !(factor.is_finite() && factor >= 0.0) {
                return Err(format!("{}: must be a non-negative number", key("factor")));
            }
            if e.kind != EventKind::Spike && (e.flows.is_some() || e.target.is_some()) {
                return Err(format!(
                    "{}: only a spike has flows and a target",
                    key("flows")
                ));
            }
            let flows = e
                .flows
                .as_deref()
                .map(|f| {
                    FlowShape::parse(f).ok_or_else(|| {
                        format!("{}: one of {}", key("flows"), FlowShape::NAMES.join(", "))
                    })
                })
                .transpose()?;
            let target = e
                .target
                .as_deref()
                .map(|t| Target::parse(t).map_err(|m| format!("{}: {m}", key("target"))))
                .transpose()?;
            events.push(Event {
                kind: e.kind,
                start,
                end,
                factor,
                switches: e.switches,
                ports: e.ports,
                flows,
                target,
            });
        }
        Ok(Scenario {
            time_scale: scale,
            traffic,
            counter32,
            events,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_in_real_seconds() {
        let s = Scenario::parse(
            r#"
            time_scale = 60.0
            [traffic]
            base = "200Mbps"
            noise = 0.0
            [[device]]
            switches = ["b"]
            counter32 = true
            [[event]]
            at = "10m"
            kind = "spike"
            factor = 5.0
            duration = "2m"
            switches = ["a"]
            [[event]]
            at = "1h"
            kind = "drop"
            percent = 10.0
            "#,
        )
        .unwrap();
        assert_eq!(s.traffic.base_bps, 2e8);
        assert_eq!(s.counter32, vec!["b".to_string()]);
        assert_eq!(s.events[0].start, 10.0);
        assert_eq!(s.events[0].end, 12.0);
        assert!(s.events[0].on_switch("a") && !s.events[0].on_switch("b"));
        assert_eq!(s.events[1].factor, 0.1);
        assert_eq!(s.events[1].end, f64::INFINITY);
    }

    #[test]
    fn the_example_scenario_parses() {
        let s = Scenario::parse(include_str!("example-scenario.toml")).unwrap();
        assert_eq!(s.time_scale, 60.0);
        assert_eq!(s.events.len(), 6);
        assert_eq!(s.events[5].kind, EventKind::CounterReset);
        assert_eq!(s.events[5].start, 720.0);
        // 2h of scenario time is 120 real seconds at 60x.
        assert_eq!(s.events[0].start, 120.0);
        assert_eq!(s.events[0].end, 140.0);
        assert_eq!(s.counter32, vec!["sim-0003".to_string()]);
    }

    #[test]
    fn rejects_bad_scenarios() {
        assert!(Scenario::parse("[[event]]\nat = \"1m\"\nkind = \"spike\"\n").is_err());
        assert!(Scenario::parse("[traffic]\ndaily = 0.9\nweekly = 0.5\n").is_err());
        assert!(Scenario::parse("time_scale = 0\n").is_err());
        assert!(Scenario::parse("bogus = 1\n").is_err());
    }
}
