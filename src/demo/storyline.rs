//! The demo's script: what happens to the simulated fleet and when (minute 1 a reboot, 1.5 an
//! attack, 2 a customer's traffic falls, 2.5 a switch stops answering, then recoveries), as
//! simulator events and as the lines the console prints when each moment comes. Every time
//! is divided by `--speed`.

use crate::config::Topology;
use crate::sim::scenario::{Event, EventKind, Scenario, TrafficShape};
use crate::sim::switch_name;

/// Switch that reboots at minute 1.
pub const REBOOT_SWITCH: &str = "sh1-access-2";
/// Uplink attacked at minute 1.5 (switch, port): `cdn`'s uplink on the shared switch.
pub const ATTACK_PORT: (&str, &str) = ("bj1-core-a", "eth1");
/// Attack factor.
pub const ATTACK_FACTOR: f64 = 8.0;
/// The attack's shape in the simulated flows: NTP reflection (UDP from port 123).
pub const ATTACK_FLOWS: &str = "ntp";
/// The address it hits: in customer `acme`'s prefix (config/demo.toml).
pub const ATTACK_TARGET: &str = "203.0.113.7";
/// Customer whose traffic falls at minute 2.
pub const CHURN_CUSTOMER: &str = "acme";
/// Its traffic falls to this percentage.
pub const CHURN_PERCENT: f64 = 30.0;
/// Switch that stops answering at minute 2.5.
pub const UNREACHABLE_SWITCH: &str = "sh1-access-1";
/// Real seconds the customer's traffic stays low, whatever `--speed`: churn is measured on the
/// store's 60 s aggregate slots, and 90 s low always fill more than half of one of them.
pub const CHURN_REAL_SECS: f64 = 90.0;
/// Real seconds from the customer's recovery to the summary: one more slot, the slot's grace
/// and the notifier's group wait, so the churn's resolved notice is in the summary.
pub const CHURN_RESOLVE_REAL_SECS: f64 = 120.0;

/// One moment of the storyline.
#[derive(Clone, Debug, PartialEq)]
pub struct Beat {
    /// Real seconds after the fleet started.
    pub at: f64,
    /// What happens.
    pub what: String,
    /// What bandwatch should do about it, and why.
    pub expect: String,
}

/// The script, ready to run.
#[derive(Clone, Debug)]
pub struct Storyline {
    /// Moments in time order.
    pub beats: Vec<Beat>,
    /// When the summary is printed, real seconds after the fleet started.
    pub end: f64,
    /// The simulator's scenario: traffic shape and the events of the beats.
    pub scenario: Scenario,
}

/// The traffic of every simulated port: 200 Mbit/s on average with a daily rhythm (peak in
/// the evening) and a weekly one (quieter weekends) on the wall clock, minute-to-minute
/// jitter and a few short bursts a day, on 10G ports (an attack x8 must not look like an
/// impossible counter jump). Bursts stay well under the attack rule's factor 3 over the
/// seasonal baseline, and under the churn rule's 40 % over its half-hour reference.
pub fn traffic() -> TrafficShape {
    TrafficShape {
        speed_bps: 10_000_000_000,
        base_bps: 200_000_000.0,
        out_ratio: 0.6,
        daily: 0.35,
        weekly: 0.1,
        noise: 0.05,
        jitter: 0.1,
        bursts_per_day: 4.0,
        burst_size: 0.4,
        origin: None,
        spread: 0.6,
        start_offset: 0,
    }
}

fn sim_name(topology: &Topology, switch: &str) -> Result<String, String> {
    topology
        .switches
        .iter()
        .position(|s| s.name == switch)
        .map(switch_name)
        .ok_or_else(|| format!("the demo configuration has no switch `{switch}`"))
}

impl Storyline {
    /// Builds the script for the demo topology (switch `n` of the configuration is simulated
    /// switch `n`), with every time divided by `speed`.
    pub fn build(topology: &Topology, speed: f64) -> Result<Storyline, String> {
        let speed = if speed.is_finite() && speed > 0.0 {
            speed
        } else {
            return Err(format!("--speed must be a positive number, not {speed}"));
        };
        let min = |m: f64| m * 60.0 / speed;
        let customer = topology
            .customers
            .get(CHURN_CUSTOMER)
            .ok_or_else(|| format!("the demo configuration has no customer `{CHURN_CUSTOMER}`"))?;
        let churn_port = customer
            .ports
            .first()
            .ok_or_else(|| format!("customer `{CHURN_CUSTOMER}` has no port"))?;
        let reboot = sim_name(topology, REBOOT_SWITCH)?;
        let attack = sim_name(topology, ATTACK_PORT.0)?;
        let churn = sim_name(topology, &churn_port.switch)?;
        let unreachable = sim_name(topology, UNREACHABLE_SWITCH)?;
        let line = topology
            .product_lines
            .values()
            .find(|pl| {
                pl.ports
                    .iter()
                    .any(|k| *k.switch == *ATTACK_PORT.0 && *k.port == *ATTACK_PORT.1)
            })
            .map_or("no product line".to_string(), |pl| pl.name.clone());
        let churn_end = min(3.5).max(min(2.0) + CHURN_REAL_SECS);
        let event = |kind, start: f64, end: f64, factor, sw: &str, port: Option<&str>| Event {
            kind,
            start,
            end,
            factor,
            switches: Some(vec![sw.to_string()]),
            ports: port.map(|p| vec![p.to_string()]),
            flows: None,
            target: None,
        };
        let mut events = vec![
            event(
                EventKind::Reboot,
                min(1.0),
                f64::INFINITY,
                1.0,
                &reboot,
                None,
            ),
            event(
                EventKind::Spike,
                min(1.5),
                min(2.75),
                ATTACK_FACTOR,
                &attack,
                Some(ATTACK_PORT.1),
            ),
            event(
                EventKind::Drop,
                min(2.0),
                churn_end,
                CHURN_PERCENT / 100.0,
                &churn,
                Some(&churn_port.port),
            ),
            event(
                EventKind::Unreachable,
                min(2.5),
                min(3.5),
                1.0,
                &unreachable,
                None,
            ),
        ];
        // The attack's extra traffic in the flows: NTP reflection toward acme's address.
        events[1].flows = crate::sim::flows::FlowShape::parse(ATTACK_FLOWS);
        events[1].target = crate::sim::flows::Target::parse(ATTACK_TARGET).ok();
        let beats = vec![
            Beat {
                at: min(1.0),
                what: format!(
                    "{REBOOT_SWITCH} reboots: sysUpTime restarts, every counter resets to 0, ifIndexes are renumbered"
                ),
                expect: "no alert: the poller sees sysUpTime go back, flags the interval `reset` (unknown, never a drop to zero) and finds the ports again by name".into(),
            },
            Beat {
                at: min(1.5),
                what: format!(
                    "attack: inbound traffic x{ATTACK_FACTOR} on {}/{} (uplink of product line `{line}`)",
                    ATTACK_PORT.0, ATTACK_PORT.1
                ),
                expect: format!("rule uplink-attack (seasonal baseline from the backfilled history) fires after `for`: an email to ops and the line's owners; the switch's flows name it: likely NTP reflection toward {ATTACK_TARGET} (acme)"),
            },
            Beat {
                at: min(2.0),
                what: format!(
                    "customer `{CHURN_CUSTOMER}`'s traffic falls to {CHURN_PERCENT}% of normal ({}/{})",
                    churn_port.switch, churn_port.port
                ),
                expect: "rule customer-churn-risk (demo windows: the last minute against the 30 before it; production compares weeks) fires once a whole minute is low: an email to its account manager and sales".into(),
            },
            Beat {
                at: min(2.5),
                what: format!("{UNREACHABLE_SWITCH} stops answering SNMP"),
                expect: "rule switch-unreachable fires after `for`: an email to ops; its ports are unknown, not zero, so no drop alert for them".into(),
            },
            Beat {
                at: min(2.75),
                what: "the attack stops".into(),
                expect: "uplink-attack resolves after `clear_for`: a resolved notice".into(),
            },
            Beat {
                at: min(3.5),
                what: format!("{UNREACHABLE_SWITCH} answers again"),
                expect: "switch-unreachable resolves after `clear_for`: a resolved notice".into(),
            },
            Beat {
                at: churn_end,
                what: format!("`{CHURN_CUSTOMER}`'s traffic is back to normal"),
                expect: "customer-churn-risk resolves once a whole minute is back: a resolved notice".into(),
            },
        ];
        let mut beats = beats;
        beats.sort_by(|a, b| a.at.total_cmp(&b.at));
        Ok(Storyline {
            beats,
            end: min(4.25).max(churn_end + CHURN_RESOLVE_REAL_SECS),
            scenario: Scenario {
                time_scale: 1.0,
                traffic: traffic(),
                counter32: Vec::new(),
                events,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo_topology() -> Topology {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo.toml");
        crate::config::load(&path).unwrap().config.topology
    }

    #[test]
    fn events_follow_the_script_and_scale_with_speed() {
        let topo = demo_topology();
        let s = Storyline::build(&topo, 1.0).unwrap();
        let kinds: Vec<_> = s
            .scenario
            .events
            .iter()
            .map(|e| (e.kind, e.start))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (EventKind::Reboot, 60.0),
                (EventKind::Spike, 90.0),
                (EventKind::Drop, 120.0),
                (EventKind::Unreachable, 150.0),
            ]
        );
        let fast = Storyline::build(&topo, 20.0).unwrap();
        assert_eq!(fast.scenario.events[1].start, 4.5);
        // The churn drop lasts 90 real seconds at any speed (the store's slots are real
        // minutes), and the summary waits for its resolved notice.
        assert_eq!(s.scenario.events[2].end, 210.0);
        assert_eq!(fast.scenario.events[2].end, 6.0 + CHURN_REAL_SECS);
        assert_eq!(s.end, 330.0);
        assert_eq!(fast.end, 6.0 + CHURN_REAL_SECS + CHURN_RESOLVE_REAL_SECS);
        // The attack hits the cdn uplink of simulated switch 0 (bj1-core-a) only.
        let spike = &s.scenario.events[1];
        assert_eq!(
            spike.flows,
            Some(crate::sim::flows::FlowShape::Amplification(123))
        );
        assert_eq!(
            spike.target.map(|t| t.base.to_string()).as_deref(),
            Some(ATTACK_TARGET)
        );
        assert!(spike.on_port("sim-0000", "eth1"));
        assert!(!spike.on_port("sim-0000", "eth2") && !spike.on_port("sim-0001", "eth1"));
        assert!(
            s.beats.windows(2).all(|w| w[0].at <= w[1].at) && s.beats.last().unwrap().at < s.end
        );
    }

    #[test]
    fn refuses_a_bad_speed_or_a_foreign_topology() {
        let topo = demo_topology();
        assert!(Storyline::build(&topo, 0.0).is_err());
        assert!(Storyline::build(&topo, f64::NAN).is_err());
        let mut other = topo.clone();
        other.customers.clear();
        assert!(Storyline::build(&other, 1.0).unwrap_err().contains("acme"));
    }
}
