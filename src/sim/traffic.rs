//! The traffic of one simulated switch as a deterministic function of time: counters are the
//! closed-form integral of the scripted rate, so a poller's measured rates can be checked
//! exactly against the script. Time `t` is real seconds since the simulator started.
//!
//! The rate of a port is its base times a shape: a daily and a weekly sine (following the
//! wall clock when the scenario says so), a smooth wobble (sines), random minute-to-minute
//! steps (`jitter`: the integral is a piecewise-linear interpolation of random values, so the
//! counter stays exact in constant time) and short random bursts (one chance per hour of
//! scenario time), times the scripted multipliers (spike, drop, port down). Everything random
//! is a hash of the port and the time bucket: the same port gives the same traffic at the
//! same time in the backfill, the live agent and a test.

use std::f64::consts::{FRAC_PI_2, TAU};

use super::flows::{Attack, FlowShape};
use super::scenario::{EventKind, Scenario};

/// Average packet size used to derive packet counters from octets.
pub const PACKET_SIZE: f64 = 700.0;

/// The scenario clock's periods of the noise sines, in scenario seconds.
const NOISE_PERIODS: [f64; 3] = [47.0, 131.0, 293.0];

/// Length of one jitter step, scenario seconds.
const JITTER_STEP: f64 = 60.0;
/// Window in which at most one burst happens, scenario seconds.
const BURST_WINDOW: f64 = 3_600.0;
/// Shortest and longest burst, scenario seconds.
const BURST_SECS: (f64, f64) = (120.0, 600.0);
/// Scenario seconds from the Unix epoch (a Thursday) to the daily peak (20:00 UTC) and the
/// weekly peak (Wednesday 15:00 UTC, so the low is at the weekend).
const DAILY_PEAK: f64 = 72_000.0;
const WEEKLY_PEAK: f64 = 6.0 * 86_400.0 + 54_000.0;

/// A sine component of the rate shape: amplitude, angular frequency (per real second), phase.
#[derive(Clone, Copy, Debug)]
struct Wave {
    amp: f64,
    omega: f64,
    phase: f64,
}

/// One port of a simulated switch.
#[derive(Clone, Debug)]
pub struct SimPort {
    /// ifName.
    pub name: String,
    /// ifAlias.
    pub alias: String,
    /// Mean inbound rate, octets per second.
    base_in: f64,
    waves: Vec<Wave>,
    /// (start, end, factor) of the rate multipliers that apply to this port.
    multipliers: Vec<(f64, f64, f64)>,
    /// Removed from this time on.
    removed_at: f64,
    /// Times its counters were reset (without a reboot), ascending.
    resets: Vec<f64>,
    /// Random steps and bursts of this port.
    random: Randomness,
    /// (start, end) of the windows where its ifOperStatus is down.
    down: Vec<(f64, f64)>,
    /// The spikes on this port and their shape in the flows.
    attacks: Vec<Attack>,
}

/// One simulated switch: ports, reboots, unreachable windows, counter width.
#[derive(Clone, Debug)]
pub struct SwitchModel {
    /// Switch name.
    pub name: String,
    /// Its ports, ifIndex order in the first epoch.
    pub ports: Vec<SimPort>,
    /// Only 32-bit counters (no ifHC*, no ifHighSpeed).
    pub counter32: bool,
    /// Port speed, bits per second.
    pub speed_bps: u64,
    out_ratio: f64,
    start_offset: u64,
    reboots: Vec<f64>,
    unreachable: Vec<(f64, f64)>,
}

/// The random parts of a port's rate, in real seconds.
#[derive(Clone, Debug)]
struct Randomness {
    seed: u64,
    jitter: f64,
    jitter_step: f64,
    /// Chance of a burst in one window.
    burst_chance: f64,
    burst_size: f64,
    burst_window: f64,
    /// Scenario seconds per real second.
    scale: f64,
}

impl Randomness {
    /// The random value of step `k` in -0.5..0.5.
    fn step_value(&self, k: i64) -> f64 {
        mix(self.seed, k, 100) - 0.5
    }

    /// The integral of the jitter part of the shape from 0 to `t` (bounded: the
    /// interpolation of the step values, times the step length and amplitude).
    fn jitter_integral(&self, t: f64) -> f64 {
        if self.jitter == 0.0 {
            return 0.0;
        }
        let x = t / self.jitter_step;
        let k = x.floor();
        let (w0, w1) = (self.step_value(k as i64), self.step_value(k as i64 + 1));
        self.jitter * self.jitter_step * (w0 + (w1 - w0) * (x - k))
    }

    /// The jitter part of the shape at `t`.
    fn jitter_at(&self, t: f64) -> f64 {
        if self.jitter == 0.0 {
            return 0.0;
        }
        let k = (t / self.jitter_step).floor() as i64;
        self.jitter * (self.step_value(k + 1) - self.step_value(k))
    }

    /// The burst of window `n`, if any: (start, end, extra shape), real seconds.
    fn burst(&self, n: i64) -> Option<(f64, f64, f64)> {
        if self.burst_chance <= 0.0 || mix(self.seed, n, 200) >= self.burst_chance {
            return None;
        }
        let secs = BURST_SECS.0 + (BURST_SECS.1 - BURST_SECS.0) * mix(self.seed, n, 201);
        let len = secs / self.scale;
        let start = n as f64 * self.burst_window
            + mix(self.seed, n, 202) * (self.burst_window - len).max(0.0);
        let size = self.burst_size * (0.5 + mix(self.seed, n, 203));
        Some((start, start + len, size))
    }

    /// The windows that overlap `a..b`.
    fn windows(&self, a: f64, b: f64) -> std::ops::RangeInclusive<i64> {
        (a / self.burst_window).floor() as i64..=(b / self.burst_window).floor() as i64
    }

    /// The integral of the bursts' extra shape over `a..b`.
    fn burst_integral(&self, a: f64, b: f64) -> f64 {
        if self.burst_chance <= 0.0 || b <= a {
            return 0.0;
        }
        self.windows(a, b)
            .filter_map(|n| self.burst(n))
            .map(|(s, e, size)| size * (e.min(b) - s.max(a)).max(0.0))
            .sum()
    }

    /// The bursts' extra shape at `t`.
    fn burst_at(&self, t: f64) -> f64 {
        self.windows(t, t)
            .filter_map(|n| self.burst(n))
            .filter(|(s, e, _)| *s <= t && t < *e)
            .map(|(_, _, size)| size)
            .sum()
    }
}

/// A uniform value in 0..1 from a port's seed, a bucket number and a salt (splitmix64).
fn mix(seed: u64, n: i64, salt: u64) -> f64 {
    let mut h = seed ^ (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt.rotate_left(32);
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

fn unit_hash(s: &str, salt: u64) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    // splitmix64 finaliser: spreads the last bytes' influence over every bit.
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// The ifAlias the simulator gives port `n` (1-based): every fourth port is a customer port
/// (`Cust: c<switch>-<n>`), the first two are uplinks.
pub fn port_alias(switch_index: usize, n: usize) -> String {
    if n <= 2 {
        format!("uplink {n}")
    } else if n.is_multiple_of(4) {
        format!("Cust: c{switch_index}-{n}")
    } else {
        format!("server {n}")
    }
}

impl SwitchModel {
    /// The model of switch `name` (number `index` in the fleet) with `ports` ports, named
    /// `eth1` to `ethN` as the simulated agents name them.
    pub fn new(scenario: &Scenario, name: &str, index: usize, ports: usize) -> Self {
        let names: Vec<String> = (1..=ports).map(|n| format!("eth{n}")).collect();
        Self::with_port_names(scenario, name, index, &names)
    }

    /// The model of switch `name` with ports of the given names (`bandwatch backfill` models
    /// a configuration's own ports, so that a scenario's events name them as it does).
    pub fn with_port_names(
        scenario: &Scenario,
        name: &str,
        index: usize,
        port_names: &[String],
    ) -> Self {
        let t = &scenario.traffic;
        let k = scenario.time_scale;
        let mut sim_ports = Vec::with_capacity(port_names.len());
        for (n, pname) in (1..).zip(port_names) {
            let pname = pname.clone();
            let key = format!("{name}/{pname}");
            let variety = 1.0 + t.spread * (unit_hash(&key, 1) - 0.5);
            // On the wall clock: the sine's peak at the daily and weekly peak times.
            let phase = |peak: f64, period: f64| {
                t.origin
                    .map_or(0.0, |o| TAU * (o - peak) / period + FRAC_PI_2)
            };
            let mut waves = vec![
                Wave {
                    amp: t.daily,
                    omega: TAU * k / 86_400.0,
                    phase: phase(DAILY_PEAK, 86_400.0),
                },
                Wave {
                    amp: t.weekly,
                    omega: TAU * k / 604_800.0,
                    phase: phase(WEEKLY_PEAK, 604_800.0),
                },
            ];
            for (j, p) in NOISE_PERIODS.iter().enumerate() {
                waves.push(Wave {
                    amp: t.noise / NOISE_PERIODS.len() as f64,
                    omega: TAU * k / p,
                    phase: TAU * unit_hash(&key, 10 + j as u64),
                });
            }
            waves.retain(|w| w.amp != 0.0);
            let mut multipliers = Vec::new();
            let mut removed_at = f64::INFINITY;
            let mut resets = Vec::new();
            let mut down = Vec::new();
            let mut attacks = Vec::new();
            for e in &scenario.events {
                if !e.on_port(name, &pname) {
                    continue;
                }
                match e.kind {
                    EventKind::Spike => {
                        multipliers.push((e.start, e.end, e.factor));
                        attacks.push(Attack {
                            start: e.start,
                            end: e.end,
                            factor: e.factor,
                            shape: e.flows.unwrap_or(FlowShape::Surge),
                            target: e.target,
                        });
                    }
                    EventKind::Drop => multipliers.push((e.start, e.end, e.factor)),
                    EventKind::RemovePort => removed_at = removed_at.min(e.start),
                    EventKind::CounterReset => resets.push(e.start),
                    EventKind::PortDown => {
                        down.push((e.start, e.end));
                        multipliers.push((e.start, e.end, 0.0));
                    }
                    _ => {}
                }
            }
            sim_ports.push(SimPort {
                name: pname,
                alias: port_alias(index, n),
                base_in: t.base_bps / 8.0 * variety,
                waves,
                multipliers,
                removed_at,
                resets,
                down,
                attacks,
                random: Randomness {
                    seed: (unit_hash(&key, 99) * (1u64 << 53) as f64) as u64,
                    jitter: t.jitter,
                    jitter_step: JITTER_STEP / k,
                    burst_chance: (t.bursts_per_day * BURST_WINDOW / 86_400.0).min(1.0),
                    burst_size: t.burst_size,
                    burst_window: BURST_WINDOW / k,
                    scale: k,
                },
            });
        }
        let mut reboots: Vec<f64> = scenario
            .events
            .iter()
            .filter(|e| e.kind == EventKind::Reboot && e.on_switch(name))
            .map(|e| e.start)
            .collect();
        reboots.sort_by(f64::total_cmp);
        let unreachable = scenario
            .events
            .iter()
            .filter(|e| e.kind == EventKind::Unreachable && e.on_switch(name))
            .map(|e| (e.start, e.end))
            .collect();
        SwitchModel {
            name: name.to_string(),
            ports: sim_ports,
            counter32: scenario.counter32.iter().any(|s| s == name),
            speed_bps: t.speed_bps,
            out_ratio: t.out_ratio,
            start_offset: t.start_offset,
            reboots,
            unreachable,
        }
    }

    /// Reboots so far and when the current epoch started (`None` = before the simulator).
    pub fn epoch(&self, t: f64) -> (u32, Option<f64>) {
        let n = self.reboots.iter().filter(|&&r| r <= t).count();
        (n as u32, n.checked_sub(1).map(|i| self.reboots[i]))
    }

    /// sysUpTime in hundredths of a second (the device booted a day before the simulator).
    pub fn uptime_ticks(&self, t: f64) -> u32 {
        let since = match self.epoch(t).1 {
            Some(r) => t - r,
            None => t + 86_400.0,
        };
        (since.max(0.0) * 100.0) as u32
    }

    /// The ifIndex of port `i` (0-based) at `t`: renumbered by 1000 at each reboot.
    pub fn if_index(&self, i: usize, t: f64) -> u32 {
        i as u32 + 1 + self.epoch(t).0 * 1000
    }

    /// Which port an ifIndex names at `t`, if it exists then.
    pub fn port_of_index(&self, if_index: u32, t: f64) -> Option<usize> {
        let base = self.epoch(t).0 * 1000 + 1;
        let i = if_index.checked_sub(base)? as usize;
        (i < self.ports.len() && self.present(i, t)).then_some(i)
    }

    /// The ifIndexes that exist at `t`, ascending.
    pub fn indexes(&self, t: f64) -> Vec<u32> {
        (0..self.ports.len())
            .filter(|&i| self.present(i, t))
            .map(|i| self.if_index(i, t))
            .collect()
    }

    /// Whether port `i` exists at `t`.
    pub fn present(&self, i: usize, t: f64) -> bool {
        t < self.ports[i].removed_at
    }

    /// When the agent answers again, if it is unreachable at `t`.
    pub fn unreachable_until(&self, t: f64) -> Option<f64> {
        self.unreachable
            .iter()
            .find(|(s, e)| *s <= t && t < *e)
            .map(|(_, e)| *e)
    }

    /// The spike on port `i` at `t`, with its shape in the flows, if one is under way.
    pub fn attack_at(&self, i: usize, t: f64) -> Option<&Attack> {
        self.ports[i]
            .attacks
            .iter()
            .find(|a| a.start <= t && t < a.end)
    }

    /// Whether port `i`'s ifOperStatus is up at `t`.
    pub fn oper_up(&self, i: usize, t: f64) -> bool {
        !self.ports[i].down.iter().any(|(s, e)| *s <= t && t < *e)
    }

    /// The integral of the shape from 0 to `t`, bursts aside (they are integrated over a
    /// range: [`Randomness::burst_integral`]).
    fn shape_integral(port: &SimPort, t: f64) -> f64 {
        let mut f = t;
        for w in &port.waves {
            f += w.amp * (w.phase.cos() - (w.omega * t + w.phase).cos()) / w.omega;
        }
        f + port.random.jitter_integral(t)
    }

    fn multiplier_at(port: &SimPort, t: f64) -> f64 {
        port.multipliers
            .iter()
            .filter(|(s, e, _)| *s <= t && t < *e)
            .map(|(_, _, f)| f)
            .product()
    }

    /// Inbound octets moved on port `i` between `a` and `b` (real seconds), as a real number.
    pub fn octets_between(&self, i: usize, a: f64, b: f64) -> f64 {
        let port = &self.ports[i];
        if b <= a {
            return 0.0;
        }
        let mut cuts = vec![a, b];
        for (s, e, _) in &port.multipliers {
            for x in [*s, *e] {
                if x > a && x < b {
                    cuts.push(x);
                }
            }
        }
        cuts.sort_by(f64::total_cmp);
        let mut total = 0.0;
        for w in cuts.windows(2) {
            let m = Self::multiplier_at(port, w[0]);
            total += m
                * (Self::shape_integral(port, w[1]) - Self::shape_integral(port, w[0])
                    + port.random.burst_integral(w[0], w[1]));
        }
        total * port.base_in
    }

    /// Inbound rate of port `i` at `t`, bits per second.
    pub fn rate_in_bps(&self, i: usize, t: f64) -> f64 {
        let port = &self.ports[i];
        let shape: f64 = 1.0
            + port
                .waves
                .iter()
                .map(|w| w.amp * (w.omega * t + w.phase).sin())
                .sum::<f64>()
            + port.random.jitter_at(t)
            + port.random.burst_at(t);
        port.base_in * 8.0 * shape * Self::multiplier_at(port, t)
    }

    /// Outbound rate as a fraction of inbound.
    pub fn out_ratio(&self) -> f64 {
        self.out_ratio
    }

    /// The last counter reset of port `i` at or before `t` within the current epoch (since
    /// the last reboot), if any.
    fn last_reset(&self, i: usize, t: f64) -> Option<f64> {
        let since = self.epoch(t).1.unwrap_or(f64::NEG_INFINITY);
        self.ports[i]
            .resets
            .iter()
            .copied()
            .filter(|&r| r <= t && r > since)
            .fold(None, |acc: Option<f64>, r| {
                Some(acc.map_or(r, |a| a.max(r)))
            })
    }

    /// ifCounterDiscontinuityTime of port `i` at `t`: the sysUpTime of its last counter
    /// reset since the agent started, else 0.
    pub fn discontinuity_ticks(&self, i: usize, t: f64) -> u32 {
        self.last_reset(i, t).map_or(0, |r| self.uptime_ticks(r))
    }

    /// Where port `i`'s counters started counting from 0 (the epoch's start or its last
    /// reset), and whether that is the simulator's start (where `start_offset` applies).
    fn counting_from(&self, i: usize, t: f64) -> (f64, bool) {
        let (epoch, start) = self.epoch(t);
        match self.last_reset(i, t) {
            Some(r) => (r, false),
            None => (start.unwrap_or(0.0), epoch == 0),
        }
    }

    /// (in, out) octet counters of port `i` at `t` (full width; a 32-bit agent reports them
    /// modulo 2^32).
    pub fn octets(&self, i: usize, t: f64) -> (u64, u64) {
        let (from, initial) = self.counting_from(i, t);
        let offset = if initial { self.start_offset } else { 0 };
        let inb = self.octets_between(i, from, t);
        (
            offset.wrapping_add(inb as u64),
            offset.wrapping_add((inb * self.out_ratio) as u64),
        )
    }

    /// (in, out) unicast packet counters of port `i` at `t`.
    pub fn packets(&self, i: usize, t: f64) -> (u64, u64) {
        let (from, _) = self.counting_from(i, t);
        let inb = self.octets_between(i, from, t);
        (
            (inb / PACKET_SIZE) as u64,
            (inb * self.out_ratio / PACKET_SIZE) as u64,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(text: &str) -> SwitchModel {
        SwitchModel::new(&Scenario::parse(text).unwrap(), "sw", 0, 4)
    }

    #[test]
    fn flat_traffic_counts_exactly() {
        let m = model(
            "[traffic]\nbase = \"80Mbps\"\ndaily = 0.0\nweekly = 0.0\nnoise = 0.0\nspread = 0.0\n",
        );
        let (a, _) = m.octets(0, 10.0);
        let (b, _) = m.octets(0, 20.0);
        assert_eq!(b - a, 100_000_000);
        assert!((m.rate_in_bps(0, 5.0) - 8e7).abs() < 1e-6);
    }

    #[test]
    fn integral_matches_the_rate_with_waves() {
        let m = model("time_scale = 1000.0\n[traffic]\ndaily = 0.3\nweekly = 0.1\nnoise = 0.2\n");
        // Numerical integration of the rate agrees with the closed form.
        let (a, b) = (100.0, 130.0);
        let steps = 30_000;
        let h = (b - a) / steps as f64;
        let numeric: f64 = (0..steps)
            .map(|s| m.rate_in_bps(1, a + (s as f64 + 0.5) * h) / 8.0 * h)
            .sum();
        let closed = m.octets_between(1, a, b);
        assert!(
            (numeric - closed).abs() / closed < 1e-6,
            "{numeric} vs {closed}"
        );
    }

    #[test]
    fn events_shape_the_counters() {
        let m = model(
            "[traffic]\nbase = \"8Mbps\"\ndaily = 0.0\nweekly = 0.0\nnoise = 0.0\nspread = 0.0\n\
             [[event]]\nat = \"10s\"\nkind = \"spike\"\nfactor = 5.0\nduration = \"10s\"\nports = [\"eth1\"]\n\
             [[event]]\nat = \"30s\"\nkind = \"reboot\"\n\
             [[event]]\nat = \"40s\"\nkind = \"remove_port\"\nports = [\"eth2\"]\n\
             [[event]]\nat = \"50s\"\nkind = \"unreachable\"\nduration = \"5s\"\n",
        );
        // 1 MB/s, five times that during the spike on eth1 only.
        assert_eq!(m.octets_between(0, 0.0, 10.0).round(), 1e7);
        assert_eq!(m.octets_between(0, 10.0, 20.0).round(), 5e7);
        assert_eq!(m.octets_between(1, 10.0, 20.0).round(), 1e7);
        // Reboot: counters restart, uptime restarts, ifIndexes renumbered.
        assert!(m.uptime_ticks(29.0) > 8_000_000);
        assert_eq!(m.uptime_ticks(32.0), 200);
        assert_eq!(m.octets(0, 32.0).0, 2_000_000);
        assert_eq!(m.if_index(0, 29.0), 1);
        assert_eq!(m.if_index(0, 31.0), 1001);
        assert_eq!(m.port_of_index(1001, 31.0), Some(0));
        assert_eq!(m.port_of_index(1, 31.0), None);
        // Port removal.
        assert_eq!(m.indexes(35.0), vec![1001, 1002, 1003, 1004]);
        assert_eq!(m.indexes(45.0), vec![1001, 1003, 1004]);
        assert_eq!(m.unreachable_until(52.0), Some(55.0));
        assert_eq!(m.unreachable_until(56.0), None);
    }

    #[test]
    fn jitter_and_bursts_integrate_exactly_and_follow_the_wall_clock() {
        // Two days of scenario time at 100x: many jitter steps and several bursts.
        let m = model(
            "time_scale = 100.0\n[traffic]\nbase = \"80Mbps\"\ndaily = 0.3\nweekly = 0.1\n\
             noise = 0.05\njitter = 0.2\nbursts_per_day = 12.0\nburst_size = 0.8\n",
        );
        let (a, b) = (0.0, 2.0 * 864.0);
        let steps = 400_000;
        let h = (b - a) / steps as f64;
        let numeric: f64 = (0..steps)
            .map(|s| m.rate_in_bps(1, a + (s as f64 + 0.5) * h) / 8.0 * h)
            .sum();
        let closed = m.octets_between(1, a, b);
        assert!(
            (numeric - closed).abs() / closed < 1e-4,
            "{numeric} vs {closed}"
        );
        // Bursts happened: some instant is well above the smooth shape's ceiling.
        let ceiling = 1e7 * 1.25 * (1.0 + 0.3 + 0.1 + 0.05 + 0.2);
        let peak = (0..20_000)
            .map(|s| m.rate_in_bps(1, s as f64 * b / 20_000.0) / 8.0)
            .fold(0.0, f64::max);
        assert!(peak > ceiling, "no burst above {ceiling}: {peak}");
        // Every rate stays positive.
        assert!((0..20_000).all(|s| m.rate_in_bps(1, s as f64 * b / 20_000.0) > 0.0));

        // On the wall clock, the daily peak is at 20:00 UTC: started at 08:00 UTC on a
        // Wednesday, the rate 12 h later is higher than at the start.
        let wednesday_8 = 1_764_144_000.0; // 2025-11-26 08:00 UTC
        let mut s =
            Scenario::parse("[traffic]\ndaily = 0.4\nweekly = 0.0\nnoise = 0.0\nspread = 0.0\n")
                .unwrap();
        s.traffic.origin = Some(wednesday_8);
        let m = SwitchModel::new(&s, "sw", 0, 1);
        assert!((m.rate_in_bps(0, 12.0 * 3600.0) / 1e8 - 1.4).abs() < 1e-9);
        assert!((m.rate_in_bps(0, 0.0) / 1e8 - 0.6).abs() < 1e-9);
    }

    #[test]
    fn a_down_port_is_down_and_silent_for_its_window() {
        let m = model(
            "[traffic]\nbase = \"8Mbps\"\ndaily = 0.0\nweekly = 0.0\nnoise = 0.0\nspread = 0.0\n\
             [[event]]\nat = \"10s\"\nkind = \"port_down\"\nduration = \"10s\"\nports = [\"eth2\"]\n",
        );
        assert!(m.oper_up(1, 9.0) && !m.oper_up(1, 10.0) && !m.oper_up(1, 19.0));
        assert!(m.oper_up(1, 20.0) && m.oper_up(0, 15.0));
        assert_eq!(m.octets_between(1, 10.0, 20.0), 0.0);
        assert_eq!(m.octets_between(0, 10.0, 20.0).round(), 1e7);
    }
}
