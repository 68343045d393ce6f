//! ifCounterDiscontinuityTime over real UDP: a simulated switch resets one port's counters
//! without a reboot (scenario event `counter_reset`), early enough that the counter is
//! higher at the next poll than at the last one. Only the changed discontinuity time shows
//! the reset: that interval must be `reset`, the next one `ok` again at the scripted rate. A
//! 32-bit-only device has no such column (noSuchObject): absent, never an error.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bandwatch::config;
use bandwatch::poll::SwitchPoller;
use bandwatch::poll::{PortOutcome, PortReading, Quality, Sweep, SweepStatus, SwitchMetrics};
use bandwatch::sim::{self, FleetOptions, Scenario};
use bandwatch::snmp::{SharedUdp, connect_shared};

/// 80 Mbit/s = 10 MB/s on every port, flat, counters from 0.
const SCENARIO: &str = r#"
[traffic]
speed = "1Gbps"
base = "80Mbps"
out_ratio = 0.5
daily = 0.0
weekly = 0.0
noise = 0.0
spread = 0.0
start_offset = 0

[[device]]
switches = ["sim-0001"]
counter32 = true

[[event]]
at = "1500ms"
kind = "counter_reset"
switches = ["sim-0000"]
ports = ["eth1"]
"#;

fn reading<'a>(s: &'a Sweep, port: &str) -> &'a PortReading {
    let p = s.ports.iter().find(|p| &*p.port == port).unwrap();
    match &p.outcome {
        PortOutcome::Reading(r) => r,
        other => panic!("{port}: {other:?} in {s:?}"),
    }
}

fn assert_rate(r: &PortReading, bps: f64) {
    let d = r.delta.unwrap();
    let got = d.in_octets as f64 * 8.0 / d.dt_secs();
    // Within 3%: answers are stamped as they arrive, and a loaded host hands one over later
    // than another (the rates checked differ by far more).
    assert!((got - bps).abs() / bps < 0.03, "{got} bit/s, want {bps}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_discontinuity_time_is_a_reset_and_a_missing_column_is_absent() {
    let listen = crate::net_support::udp_range(2);
    let opts = FleetOptions {
        switches: 2,
        ports: 4,
        listen: format!("127.0.0.1:{listen}").parse().unwrap(),
        scenario: Scenario::parse(SCENARIO).unwrap(),
        community: "public".into(),
    };
    let fleet = sim::start(&opts).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bandwatch.toml");
    std::fs::write(&path, sim::write_config(&fleet.switches, 4, "10s")).unwrap();
    let cfg = config::load(&path).unwrap().config;
    let shared = SharedUdp::default();
    let mut pollers = Vec::new();
    for s in &cfg.topology.switches {
        let src = connect_shared(&s.address, &s.snmp, &shared).await.unwrap();
        let m = Arc::new(SwitchMetrics::default());
        pollers.push((SwitchPoller::new(Arc::clone(s), src, m.clone()), m));
    }
    let at = |secs: f64| fleet.start + Duration::from_secs_f64(secs);

    // 0.5 s: first readings. The reset happens at 1.5 s.
    tokio::time::sleep_until(at(0.5)).await;
    for (p, _) in pollers.iter_mut() {
        let s = p.poll().await;
        assert_eq!(s.status, SweepStatus::Ok, "{s:?}");
        assert_eq!(reading(&s, "eth1").quality, Quality::First);
    }
    // 3 s: eth1 counted 5 MB before the reset and 15 MB since: its counter went up, yet the
    // interval is a reset. eth2 is normal.
    tokio::time::sleep_until(at(3.0)).await;
    let s = pollers[0].0.poll().await;
    assert_eq!(s.status, SweepStatus::Ok, "{s:?}");
    let r = reading(&s, "eth1");
    assert_eq!(r.quality, Quality::Reset, "{s:?}");
    assert!(r.delta.is_none());
    assert_eq!(reading(&s, "eth2").quality, Quality::Ok);
    assert_rate(reading(&s, "eth2"), 80e6);
    let s32 = pollers[1].0.poll().await;
    assert_eq!(s32.status, SweepStatus::Ok, "{s32:?}");
    assert_eq!(reading(&s32, "eth1").quality, Quality::Ok);

    // 5 s: the discontinuity time stays where it is: normal again, at the scripted rate.
    tokio::time::sleep_until(at(5.0)).await;
    let s = pollers[0].0.poll().await;
    let r = reading(&s, "eth1");
    assert_eq!(r.quality, Quality::Ok, "{s:?}");
    assert_rate(r, 80e6);
    let s32 = pollers[1].0.poll().await;
    assert_eq!(reading(&s32, "eth1").quality, Quality::Ok);
    assert_rate(reading(&s32, "eth1"), 80e6);

    for (_, m) in &pollers {
        assert_eq!(m.errors.load(Ordering::Relaxed), 0);
        assert_eq!(m.timeouts.load(Ordering::Relaxed), 0);
    }
    fleet.stop();
}
