//! Counter math: from two raw readings of one port to a [`Quality`] and, when the interval is
//! trustworthy, a [`Delta`]. Pure functions, no I/O, so every rule is unit-tested.
//!
//! The rules (DESIGN.md, "Counter correctness"):
//! - Counter64 is taken as is; a Counter64 going backwards is a reset.
//! - A Counter32 going backwards is a wrap only when the reconstructed rate is plausible
//!   (at most the cap x 1.05) and sysUpTime did not fall; otherwise a reset.
//! - A Counter32 on a port so fast that it could wrap more than once in the interval is
//!   ambiguous and therefore bogus.
//! - sysUpTime falling or ifCounterDiscontinuityTime changing is a reset.
//! - A delta implying more than the cap x 1.05 is bogus.
//! - Deltas are u64; the time base is the measured time between the two responses.

use super::sweep::{Delta, Quality};

/// Tolerance over the port's speed before a delta is called bogus (or a wrap implausible).
pub const SPEED_MARGIN: f64 = 1.05;

const WRAP32: u64 = 1 << 32;

/// What a port whose agent reports no speed (ifHighSpeed and ifSpeed 0) and that has no
/// `max_rate` is judged against: no interface or LAG carries more than 10 Tbit/s, so a 64-bit
/// counter jump that implies more is `bogus`, never stored as traffic (it would reach the
/// baselines, the 95th percentile and the bill). `max_rate` on the port overrides it.
pub const UNKNOWN_SPEED_CAP_BPS: u64 = 10_000_000_000_000;

/// Whether a port's octet counters are 64-bit (ifHC*) or 32-bit (ifIn/OutOctets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterWidth {
    /// Counter64 (ifHCInOctets, ...).
    C64,
    /// Counter32 (ifInOctets, ...): wraps at 2^32.
    C32,
}

/// One raw reading of one port's counters, as the agent reported them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterReading {
    /// When the response arrived, in milliseconds on a monotonic clock of the poller.
    pub at_ms: u64,
    /// sysUpTime (hundredths of a second) in the same response.
    pub sys_uptime: u32,
    /// ifCounterDiscontinuityTime, when read.
    pub discontinuity: Option<u32>,
    /// Counter width of the octet (and packet) counters.
    pub width: CounterWidth,
    /// Octets received.
    pub in_octets: u64,
    /// Octets sent.
    pub out_octets: u64,
    /// Unicast packets received, when the device has the counter.
    pub in_packets: Option<u64>,
    /// Unicast packets sent, when the device has the counter.
    pub out_packets: Option<u64>,
}

/// The verdict on one interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Assessment {
    /// The interval's quality flag.
    pub quality: Quality,
    /// The change, present exactly when `quality.has_delta()`.
    pub delta: Option<Delta>,
}

impl Assessment {
    fn without(quality: Quality) -> Self {
        Assessment {
            quality,
            delta: None,
        }
    }
}

/// Change of one counter between two readings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Forward by this much.
    Forward(u64),
    /// A Counter32 went backwards: forward by this much if it wrapped once.
    Wrapped(u64),
    /// Went backwards and cannot have wrapped.
    Backwards,
}

fn step(width: CounterWidth, prev: u64, cur: u64) -> Step {
    if cur >= prev {
        return Step::Forward(cur - prev);
    }
    match width {
        CounterWidth::C64 => Step::Backwards,
        CounterWidth::C32 if prev < WRAP32 && cur < WRAP32 => Step::Wrapped(WRAP32 - prev + cur),
        CounterWidth::C32 => Step::Backwards,
    }
}

/// True when sysUpTime fell between the readings (a reboot), allowing for its own wrap at
/// 2^32 hundredths (497 days) when the elapsed wall time explains it.
pub fn uptime_fell(prev: u32, cur: u32, elapsed_ms: u64) -> bool {
    if cur >= prev {
        return false;
    }
    // sysUpTime wraps after 2^32 centiseconds; a wrap is only plausible when the previous
    // value was within the elapsed time (plus a second of slack) of the end.
    let elapsed_cs = elapsed_ms / 10 + 100;
    let to_end = u64::from(u32::MAX - prev);
    to_end > elapsed_cs || u64::from(cur) > elapsed_cs
}

/// Judges the interval between `prev` and `cur` of one port.
///
/// `cap_bps` is the port's configured `max_rate`, else its speed (ifHighSpeed); 0 means
/// unknown: then a rate above [`UNKNOWN_SPEED_CAP_BPS`] is bogus, and a Counter32 wrap
/// cannot be shown plausible and is a reset. `previous_missed` says the poll before `cur` failed for this port, so a good
/// delta is flagged `gap`.
pub fn assess(
    prev: Option<&CounterReading>,
    cur: &CounterReading,
    cap_bps: u64,
    previous_missed: bool,
) -> Assessment {
    let Some(prev) = prev else {
        return Assessment::without(Quality::First);
    };
    if prev.width != cur.width {
        // HC counters appeared or vanished: a new counter epoch.
        return Assessment::without(Quality::First);
    }
    let dt_ms = cur.at_ms.saturating_sub(prev.at_ms);
    if dt_ms == 0 {
        return Assessment::without(Quality::Bogus);
    }
    if uptime_fell(prev.sys_uptime, cur.sys_uptime, dt_ms) {
        return Assessment::without(Quality::Reset);
    }
    if let (Some(a), Some(b)) = (prev.discontinuity, cur.discontinuity)
        && a != b
    {
        return Assessment::without(Quality::Reset);
    }
    let secs = dt_ms as f64 / 1000.0;
    let max_octets = cap_bps as f64 * SPEED_MARGIN * secs / 8.0;
    if cur.width == CounterWidth::C32 && cap_bps > 0 && max_octets >= WRAP32 as f64 {
        // The counter could have wrapped more than once: no way to know how often.
        return Assessment::without(Quality::Bogus);
    }

    let in_step = step(cur.width, prev.in_octets, cur.in_octets);
    let out_step = step(cur.width, prev.out_octets, cur.out_octets);
    let mut wrapped = false;
    let mut octets = [0u64; 2];
    for (slot, s) in octets.iter_mut().zip([in_step, out_step]) {
        match s {
            Step::Forward(d) => *slot = d,
            Step::Wrapped(d) => {
                wrapped = true;
                *slot = d;
            }
            Step::Backwards => return Assessment::without(Quality::Reset),
        }
    }
    let too_fast = |octets: u64| cap_bps > 0 && octets as f64 > max_octets;
    // Speed unknown: only beyond what any interface carries.
    let implausible =
        |octets: u64| cap_bps == 0 && octets as f64 * 8.0 / secs > UNKNOWN_SPEED_CAP_BPS as f64;
    if wrapped {
        // A wrap is believed only when the resulting rate is possible on this port.
        if cap_bps == 0 || octets.iter().any(|&o| too_fast(o)) {
            return Assessment::without(Quality::Reset);
        }
    } else if octets.iter().any(|&o| too_fast(o) || implausible(o)) {
        return Assessment::without(Quality::Bogus);
    }

    let packets = |p: Option<u64>, c: Option<u64>| -> Result<Option<u64>, ()> {
        match (p, c) {
            (Some(p), Some(c)) => match step(cur.width, p, c) {
                Step::Forward(d) | Step::Wrapped(d) => Ok(Some(d)),
                Step::Backwards => Err(()),
            },
            _ => Ok(None),
        }
    };
    let (Ok(in_packets), Ok(out_packets)) = (
        packets(prev.in_packets, cur.in_packets),
        packets(prev.out_packets, cur.out_packets),
    ) else {
        return Assessment::without(Quality::Reset);
    };

    let quality = if previous_missed {
        Quality::Gap
    } else if wrapped {
        Quality::Wrapped
    } else {
        Quality::Ok
    };
    Assessment {
        quality,
        delta: Some(Delta {
            dt_ms,
            in_octets: octets[0],
            out_octets: octets[1],
            in_packets,
            out_packets,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GBPS: u64 = 1_000_000_000;

    fn reading(at_s: u64, up_s: u32, width: CounterWidth, i: u64, o: u64) -> CounterReading {
        CounterReading {
            at_ms: at_s * 1000,
            sys_uptime: up_s * 100,
            discontinuity: None,
            width,
            in_octets: i,
            out_octets: o,
            in_packets: Some(i / 1000),
            out_packets: Some(o / 1000),
        }
    }

    /// ifHighSpeed 0 and no `max_rate`: a 1e15-octet jump in a minute (133 Tbit/s) is bogus,
    /// while a busy 400 Gbit/s port of unknown speed is still measured.
    #[test]
    fn an_absurd_jump_on_a_port_of_unknown_speed_is_bogus() {
        let p = reading(0, 10, CounterWidth::C64, 1_000, 1_000);
        let jump = reading(
            60,
            70,
            CounterWidth::C64,
            1_000 + 1_000_000_000_000_000,
            1_000,
        );
        assert_eq!(
            assess(Some(&p), &jump, 0, false),
            Assessment::without(Quality::Bogus)
        );
        let busy = reading(
            60,
            70,
            CounterWidth::C64,
            1_000 + 400 * GBPS / 8 * 60,
            1_000,
        );
        let a = assess(Some(&p), &busy, 0, false);
        assert_eq!(a.quality, Quality::Ok);
        assert_eq!(a.delta.map(|d| d.in_octets), Some(400 * GBPS / 8 * 60));
    }

    #[test]
    fn first_reading_has_no_delta() {
        let a = assess(None, &reading(0, 10, CounterWidth::C64, 5, 5), GBPS, false);
        assert_eq!(a, Assessment::without(Quality::First));
    }

    #[test]
    fn counter64_normal_delta_and_rate() {
        // 500 Mb/s in, 100 Mb/s out for 30 s, on top of large counters (beyond f64 precision).
        let base = 1u64 << 60;
        let p = reading(100, 1000, CounterWidth::C64, base, base + 7);
        let c = reading(
            130,
            1030,
            CounterWidth::C64,
            base + 500_000_000 / 8 * 30,
            base + 7 + 100_000_000 / 8 * 30,
        );
        let a = assess(Some(&p), &c, GBPS, false);
        assert_eq!(a.quality, Quality::Ok);
        let d = a.delta.unwrap();
        assert_eq!(d.dt_ms, 30_000);
        assert_eq!(d.in_octets, 1_875_000_000);
        assert_eq!(d.out_octets, 375_000_000);
        assert!((d.in_bps() - 5e8).abs() < 1.0);
        assert!((d.out_bps() - 1e8).abs() < 1.0);
        assert_eq!(d.in_packets, Some(1_875_000));
    }

    #[test]
    fn counter32_wrap_on_1gbps_at_30s_is_reconstructed() {
        // 900 Mb/s for 30 s = 3.375e9 octets: less than 2^32, but the counter passes 2^32.
        let start = (1u64 << 32) - 1_000_000_000;
        let moved = 900_000_000 / 8 * 30;
        let end = (start + moved) % (1 << 32);
        let mut p = reading(0, 500, CounterWidth::C32, start, 10);
        let mut c = reading(30, 530, CounterWidth::C32, end, 20);
        p.in_packets = Some(10);
        c.in_packets = Some(5); // packets wrapped too
        let a = assess(Some(&p), &c, GBPS, false);
        assert_eq!(a.quality, Quality::Wrapped);
        let d = a.delta.unwrap();
        assert_eq!(d.in_octets, moved);
        assert_eq!(d.out_octets, 10);
        assert_eq!(d.in_packets, Some((1 << 32) - 5));
        assert!((d.in_bps() - 9e8).abs() < 1.0);
    }

    #[test]
    fn counter32_backwards_with_implausible_wrap_is_reset() {
        // A wrap would mean ~1.1 Gb/s on a 100 Mb/s port: not a wrap, a reset.
        let p = reading(0, 500, CounterWidth::C32, 4_000_000_000, 10);
        let c = reading(30, 530, CounterWidth::C32, 3_800_000_000, 20);
        let a = assess(Some(&p), &c, GBPS / 10, false);
        assert_eq!(a, Assessment::without(Quality::Reset));
    }

    #[test]
    fn counter32_wrap_with_unknown_speed_is_reset() {
        let p = reading(0, 500, CounterWidth::C32, 4_000_000_000, 10);
        let c = reading(30, 530, CounterWidth::C32, 100, 20);
        assert_eq!(assess(Some(&p), &c, 0, false).quality, Quality::Reset);
    }

    #[test]
    fn counter32_on_a_port_that_can_wrap_twice_is_bogus() {
        // 10 Gb/s at 30 s could move 37.5 GB: 8 wraps possible, nothing is trustworthy.
        let p = reading(0, 500, CounterWidth::C32, 1000, 10);
        let c = reading(30, 530, CounterWidth::C32, 2000, 20);
        assert_eq!(
            assess(Some(&p), &c, 10 * GBPS, false).quality,
            Quality::Bogus
        );
    }

    #[test]
    fn reboot_sysuptime_fell_is_reset_even_if_counters_grew() {
        let p = reading(0, 86_400, CounterWidth::C64, 1000, 1000);
        let c = reading(30, 20, CounterWidth::C64, 5000, 5000);
        assert_eq!(
            assess(Some(&p), &c, GBPS, false),
            Assessment::without(Quality::Reset)
        );
    }

    #[test]
    fn reboot_with_counter32_does_not_become_a_wrap() {
        // After a reboot the counter restarts near 0: a "wrap" would look plausible, but
        // sysUpTime fell, so it is a reset.
        let p = reading(0, 86_400, CounterWidth::C32, 4_294_000_000, 1000);
        let c = reading(30, 25, CounterWidth::C32, 1_000_000, 500);
        assert_eq!(assess(Some(&p), &c, GBPS, false).quality, Quality::Reset);
    }

    #[test]
    fn sysuptime_own_wrap_is_not_a_reboot() {
        assert!(!uptime_fell(u32::MAX - 500, 2000, 30_000));
        assert!(uptime_fell(u32::MAX - 500_000, 2000, 30_000));
        assert!(uptime_fell(1_000_000, 2000, 30_000));
        assert!(!uptime_fell(1000, 4000, 30_000));
    }

    #[test]
    fn discontinuity_time_change_is_reset() {
        let mut p = reading(0, 500, CounterWidth::C64, 1000, 1000);
        let mut c = reading(30, 530, CounterWidth::C64, 2000, 2000);
        p.discontinuity = Some(100);
        c.discontinuity = Some(100);
        assert_eq!(assess(Some(&p), &c, GBPS, false).quality, Quality::Ok);
        c.discontinuity = Some(52_000);
        assert_eq!(assess(Some(&p), &c, GBPS, false).quality, Quality::Reset);
    }

    #[test]
    fn counter64_backwards_without_reboot_is_reset() {
        let p = reading(0, 500, CounterWidth::C64, 1_000_000, 1000);
        let c = reading(30, 530, CounterWidth::C64, 999_999, 2000);
        assert_eq!(
            assess(Some(&p), &c, GBPS, false),
            Assessment::without(Quality::Reset)
        );
    }

    #[test]
    fn packets_backwards_is_reset() {
        let mut p = reading(0, 500, CounterWidth::C64, 1000, 1000);
        let mut c = reading(30, 530, CounterWidth::C64, 2000, 2000);
        p.out_packets = Some(100);
        c.out_packets = Some(99);
        assert_eq!(assess(Some(&p), &c, GBPS, false).quality, Quality::Reset);
    }

    #[test]
    fn delta_above_speed_is_bogus_but_margin_is_allowed() {
        // 1 Gb/s for 10 s = 1.25e9 octets; 1.04x passes, 1.06x is bogus.
        let p = reading(0, 500, CounterWidth::C64, 0, 0);
        let ok = reading(10, 510, CounterWidth::C64, 1_300_000_000, 0);
        let bad = reading(10, 510, CounterWidth::C64, 1_325_000_000, 0);
        assert_eq!(assess(Some(&p), &ok, GBPS, false).quality, Quality::Ok);
        assert_eq!(
            assess(Some(&p), &bad, GBPS, false),
            Assessment::without(Quality::Bogus)
        );
        // Outbound is checked too.
        let bad_out = reading(10, 510, CounterWidth::C64, 0, 1_325_000_000);
        assert_eq!(
            assess(Some(&p), &bad_out, GBPS, false).quality,
            Quality::Bogus
        );
        // Unknown speed: nothing to compare with.
        assert_eq!(assess(Some(&p), &bad, 0, false).quality, Quality::Ok);
    }

    #[test]
    fn gap_keeps_the_delta_over_the_longer_interval() {
        let p = reading(0, 500, CounterWidth::C64, 0, 0);
        let c = reading(60, 560, CounterWidth::C64, 60_000, 120_000);
        let a = assess(Some(&p), &c, GBPS, true);
        assert_eq!(a.quality, Quality::Gap);
        let d = a.delta.unwrap();
        assert_eq!(d.dt_ms, 60_000);
        assert!((d.in_bps() - 8000.0).abs() < 1e-6);
        // A reset after a missed poll is still a reset.
        let r = reading(60, 5, CounterWidth::C64, 60_000, 120_000);
        assert_eq!(assess(Some(&p), &r, GBPS, true).quality, Quality::Reset);
    }

    #[test]
    fn width_change_starts_a_new_epoch() {
        let p = reading(0, 500, CounterWidth::C32, 10, 10);
        let c = reading(30, 530, CounterWidth::C64, 20, 20);
        assert_eq!(assess(Some(&p), &c, GBPS, false).quality, Quality::First);
    }

    #[test]
    fn zero_elapsed_time_is_bogus() {
        let p = reading(30, 500, CounterWidth::C64, 10, 10);
        let c = reading(30, 500, CounterWidth::C64, 20, 20);
        assert_eq!(assess(Some(&p), &c, GBPS, false).quality, Quality::Bogus);
    }
}
