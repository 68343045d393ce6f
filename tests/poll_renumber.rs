//! The switch poller over an in-memory agent (the `SnmpSource` trait, no network): ifIndex
//! renumbering keeps a port's series continuous, a removed port is `port_missing` without a
//! walk on every sweep, a reboot is one reset, and a device without ifHC* columns is read
//! through its 32-bit counters.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use bandwatch::config::{Duration, Port, PortLabels, SnmpProfile, Switch};
use bandwatch::poll::{PortOutcome, Quality, SwitchMetrics, SwitchPoller, UnknownReason};
use bandwatch::snmp::oids::{Column, SYS_UPTIME};
use bandwatch::snmp::{BoxFuture, SnmpError, SnmpSource, SnmpValue, VarBind};

/// (start OIDs, non-repeaters, repetitions) of one GETBULK.
type Bulk = (Vec<Vec<u32>>, u32, u32);

#[derive(Default)]
struct Agent {
    mib: Mutex<BTreeMap<Vec<u32>, SnmpValue>>,
    gets: Mutex<Vec<Vec<Vec<u32>>>>,
    /// (start OIDs, non-repeaters, repetitions) of every GETBULK.
    bulks: Mutex<Vec<Bulk>>,
    /// A MIB that replaces `mib` once this many more GETBULKs have been answered: a device
    /// that changes between two requests of one sweep.
    next_mib: Mutex<Option<(usize, Mib)>>,
}

type Mib = BTreeMap<Vec<u32>, SnmpValue>;

#[derive(Clone)]
struct Shared(Arc<Agent>);

impl Agent {
    fn set(&self, oid: Vec<u32>, v: SnmpValue) {
        self.mib.lock().unwrap().insert(oid, v);
    }
    /// Puts an interface at `index` with 64-bit (or only 32-bit) counters.
    fn interface(&self, index: u32, name: &str, octets: u64, hc: bool) {
        self.set(
            Column::IfName.instance(index),
            SnmpValue::Octets(name.into()),
        );
        self.set(
            Column::IfDescr.instance(index),
            SnmpValue::Octets(name.into()),
        );
        self.set(
            Column::IfAlias.instance(index),
            SnmpValue::Octets(Vec::new()),
        );
        self.set(Column::IfOperStatus.instance(index), SnmpValue::Integer(1));
        if hc {
            let packets = SnmpValue::Counter64(octets / 100);
            self.set(Column::IfHcInUcastPkts.instance(index), packets.clone());
            self.set(Column::IfHcOutUcastPkts.instance(index), packets);
            self.set(
                Column::IfHcInOctets.instance(index),
                SnmpValue::Counter64(octets),
            );
            self.set(
                Column::IfHcOutOctets.instance(index),
                SnmpValue::Counter64(octets / 2),
            );
            self.set(
                Column::IfHighSpeed.instance(index),
                SnmpValue::Gauge32(100_000),
            );
        } else {
            let c32 = SnmpValue::Counter32((octets % (1 << 32)) as u32);
            self.set(Column::IfInOctets.instance(index), c32);
            let c32 = SnmpValue::Counter32(((octets / 2) % (1 << 32)) as u32);
            self.set(Column::IfOutOctets.instance(index), c32);
            self.set(
                Column::IfSpeed.instance(index),
                SnmpValue::Gauge32(u32::MAX),
            );
        }
    }
    fn remove(&self, index: u32) {
        self.mib
            .lock()
            .unwrap()
            .retain(|o, _| Column::parse(o).is_none_or(|(_, i)| i != index));
    }
    fn uptime(&self, ticks: u32) {
        self.set(SYS_UPTIME.to_vec(), SnmpValue::TimeTicks(ticks));
    }
}

impl SnmpSource for Shared {
    fn get<'a>(&'a self, oids: &'a [Vec<u32>]) -> BoxFuture<'a, Result<Vec<VarBind>, SnmpError>> {
        Box::pin(async move {
            self.0.gets.lock().unwrap().push(oids.to_vec());
            let mib = self.0.mib.lock().unwrap();
            Ok(oids
                .iter()
                .map(|o| VarBind {
                    oid: o.clone(),
                    value: match mib.get(o) {
                        Some(v) => v.clone(),
                        None if mib.keys().any(|k| {
                            k.len() == o.len() && k[..k.len() - 1] == o[..o.len() - 1]
                        }) =>
                        {
                            SnmpValue::NoSuchInstance
                        }
                        None => SnmpValue::NoSuchObject,
                    },
                })
                .collect())
        })
    }
    fn get_bulk<'a>(
        &'a self,
        oids: &'a [Vec<u32>],
        non_repeaters: u32,
        reps: u32,
    ) -> BoxFuture<'a, Result<Vec<VarBind>, SnmpError>> {
        Box::pin(async move {
            self.0
                .bulks
                .lock()
                .unwrap()
                .push((oids.to_vec(), non_repeaters, reps));
            let mib = self.0.mib.lock().unwrap();
            let next_of = |c: &Vec<u32>| match mib
                .range::<Vec<u32>, _>((
                    std::ops::Bound::Excluded(c.clone()),
                    std::ops::Bound::Unbounded,
                ))
                .next()
            {
                Some((o, v)) => VarBind {
                    oid: o.clone(),
                    value: v.clone(),
                },
                None => VarBind {
                    oid: c.clone(),
                    value: SnmpValue::EndOfMibView,
                },
            };
            let n = non_repeaters as usize;
            let mut out: Vec<VarBind> = oids[..n].iter().map(next_of).collect();
            let mut cursors = oids[n..].to_vec();
            for _ in 0..reps {
                for c in cursors.iter_mut() {
                    let next = mib
                        .range::<Vec<u32>, _>((
                            std::ops::Bound::Excluded(c.clone()),
                            std::ops::Bound::Unbounded,
                        ))
                        .next();
                    let vb = match next {
                        Some((o, v)) => VarBind {
                            oid: o.clone(),
                            value: v.clone(),
                        },
                        None => VarBind {
                            oid: c.clone(),
                            value: SnmpValue::EndOfMibView,
                        },
                    };
                    *c = vb.oid.clone();
                    out.push(vb);
                }
            }
            drop(mib);
            let mut next = self.0.next_mib.lock().unwrap();
            if let Some((after, _)) = next.as_mut() {
                *after -= 1;
                if *after == 0
                    && let Some((_, m)) = next.take()
                {
                    *self.0.mib.lock().unwrap() = m;
                }
            }
            Ok(out)
        })
    }
    fn target(&self) -> String {
        "memory".into()
    }
}

fn switch(ports: &[&str]) -> Switch {
    Switch {
        name: "mem".into(),
        site: "lab".into(),
        address: "memory".into(),
        profile: "default".into(),
        snmp: SnmpProfile::default(),
        interval: Duration::from_secs(10),
        rediscover: Duration::from_secs(3600),
        alias_patterns: Vec::new(),
        ports: ports
            .iter()
            .map(|p| Port {
                name: (*p).into(),
                labels: PortLabels {
                    site: "lab".into(),
                    switch: "mem".into(),
                    port: (*p).into(),
                    ..PortLabels::default()
                },
                max_rate: None,
                attributed: false,
                description: None,
            })
            .collect(),
        description: None,
        shard: None,
    }
}

fn setup(ports: &[&str]) -> (Arc<Agent>, SwitchPoller, Arc<SwitchMetrics>) {
    let agent = Arc::new(Agent::default());
    let metrics = Arc::new(SwitchMetrics::default());
    let poller = SwitchPoller::new(
        Arc::new(switch(ports)),
        Box::new(Shared(agent.clone())),
        metrics.clone(),
    );
    (agent, poller, metrics)
}

fn reading(s: &bandwatch::poll::Sweep, port: &str) -> bandwatch::poll::PortReading {
    match &s.ports.iter().find(|p| &*p.port == port).unwrap().outcome {
        PortOutcome::Reading(r) => r.clone(),
        other => panic!("{port}: {other:?}"),
    }
}

async fn tick() {
    tokio::time::sleep(StdDuration::from_millis(20)).await;
}

#[tokio::test]
async fn renumbered_ifindex_keeps_the_series_in_the_same_sweep() {
    let (agent, mut poller, metrics) = setup(&["eth1", "eth2"]);
    agent.uptime(1000);
    agent.interface(5, "eth1", 10_000, true);
    agent.interface(6, "eth2", 20_000, true);
    let s = poller.poll().await;
    assert_eq!(reading(&s, "eth1").quality, Quality::First);
    assert_eq!(reading(&s, "eth1").if_index, 5);
    tick().await;

    // eth1 moves to ifIndex 9 without a reboot; its counters keep counting.
    agent.uptime(1100);
    agent.remove(5);
    agent.interface(9, "eth1", 13_000, true);
    agent.interface(6, "eth2", 21_000, true);
    let s = poller.poll().await;
    let r = reading(&s, "eth1");
    assert_eq!((r.if_index, r.quality), (9, Quality::Ok));
    assert_eq!(r.delta.unwrap().in_octets, 3_000, "continuous series");
    assert_eq!(reading(&s, "eth2").delta.unwrap().in_octets, 1_000);
    assert_eq!(metrics.discoveries.load(Ordering::Relaxed), 2);

    // The sweep read both ports with one GETBULK: sysUpTime, then the seven needed columns
    // from the row before ifIndex 6, two rows (6 and 9).
    let bulks = agent.bulks.lock().unwrap();
    let (oids, non_repeaters, reps) = bulks.last().unwrap();
    assert_eq!((*non_repeaters, *reps), (1, 2));
    assert_eq!(oids.len(), 8);
    assert_eq!(oids[0], SYS_UPTIME[..8].to_vec());
    let wanted = [
        Column::IfHcInOctets,
        Column::IfHcOutOctets,
        Column::IfHcInUcastPkts,
        Column::IfHcOutUcastPkts,
        Column::IfHighSpeed,
        Column::IfOperStatus,
        Column::IfCounterDiscontinuityTime,
    ];
    for (o, c) in oids[1..].iter().zip(wanted) {
        assert_eq!(*o, c.instance(5));
    }
    assert_eq!(reading(&s, "eth1").delta.unwrap().in_packets, Some(30));
}

#[tokio::test]
async fn a_removed_port_is_missing_without_a_walk_every_sweep() {
    let (agent, mut poller, metrics) = setup(&["eth1", "gone"]);
    agent.uptime(1000);
    agent.interface(1, "eth1", 0, true);
    for n in 1..=4u32 {
        agent.uptime(1000 + n * 10);
        agent.interface(1, "eth1", u64::from(n) * 100, true);
        let s = poller.poll().await;
        let gone = &s.ports.iter().find(|p| &*p.port == "gone").unwrap().outcome;
        assert_eq!(*gone, PortOutcome::Unknown(UnknownReason::PortMissing));
        if n > 1 {
            assert_eq!(reading(&s, "eth1").quality, Quality::Ok);
        }
        tick().await;
    }
    // The start, plus one extra walk for the missing port; not one per sweep.
    assert_eq!(metrics.discoveries.load(Ordering::Relaxed), 2);
    assert_eq!(metrics.unknowns(UnknownReason::PortMissing), 4);
}

#[tokio::test]
async fn reboot_is_one_reset_then_normal_under_new_indexes() {
    let (agent, mut poller, metrics) = setup(&["eth1"]);
    agent.uptime(500_000);
    agent.interface(1, "eth1", 1_000_000, true);
    poller.poll().await;
    tick().await;
    // Reboot: uptime restarts, counters restart, eth1 is now ifIndex 3.
    agent.remove(1);
    agent.uptime(300);
    agent.interface(3, "eth1", 5_000, true);
    let s = poller.poll().await;
    let r = reading(&s, "eth1");
    assert_eq!((r.quality, r.if_index), (Quality::Reset, 3));
    assert_eq!(r.delta, None);
    assert_eq!(metrics.reboots.load(Ordering::Relaxed), 1);
    tick().await;
    agent.uptime(310);
    agent.interface(3, "eth1", 6_000, true);
    let s = poller.poll().await;
    let r = reading(&s, "eth1");
    assert_eq!(r.quality, Quality::Ok);
    assert_eq!(r.delta.unwrap().in_octets, 1_000);
}

#[tokio::test]
async fn a_reboot_between_two_requests_of_one_sweep_is_seen_and_counted() {
    // Two ports with more unwanted rows between them than a run may read: two GETBULK
    // runs per sweep.
    let (agent, mut poller, metrics) = setup(&["eth1", "eth2"]);
    let others = |a: &Agent, base: u32| {
        for i in 2..=5 {
            a.interface(base + i, &format!("other{i}"), 0, true);
        }
    };
    others(&agent, 0);
    agent.uptime(500_000);
    agent.interface(1, "eth1", 1_000_000, true);
    agent.interface(10, "eth2", 2_000_000, true);
    poller.poll().await;
    tick().await;
    agent.uptime(501_000);
    agent.interface(1, "eth1", 1_100_000, true);
    agent.interface(10, "eth2", 2_100_000, true);
    let before = agent.bulks.lock().unwrap().len();
    let s = poller.poll().await;
    assert_eq!(reading(&s, "eth2").quality, Quality::Ok);
    let sent = agent.bulks.lock().unwrap().len() - before;
    assert_eq!(sent, 2, "two runs a sweep");
    tick().await;

    // The device reboots after answering the sweep's first GETBULK (eth1's, still with the
    // old sysUpTime): the second run's answer is the first sign of it.
    let rebooted = Agent::default();
    rebooted.uptime(300);
    rebooted.interface(101, "eth1", 5_000, true);
    rebooted.interface(110, "eth2", 7_000, true);
    others(&rebooted, 100);
    let rebooted = rebooted.mib.into_inner().unwrap();
    *agent.next_mib.lock().unwrap() = Some((1, rebooted));
    let s = poller.poll().await;
    assert!(
        agent.next_mib.lock().unwrap().is_none(),
        "the reboot came mid-sweep"
    );
    assert_eq!(metrics.reboots.load(Ordering::Relaxed), 1);
    assert_eq!(metrics.discoveries.load(Ordering::Relaxed), 2);
    for (port, index) in [("eth1", 101), ("eth2", 110)] {
        let r = reading(&s, port);
        assert_eq!((r.quality, r.if_index), (Quality::Reset, index), "{port}");
    }

    // One reboot, once: the next sweep is normal.
    tick().await;
    agent.uptime(310);
    agent.interface(101, "eth1", 6_000, true);
    agent.interface(110, "eth2", 9_000, true);
    let s = poller.poll().await;
    assert_eq!(reading(&s, "eth2").delta.unwrap().in_octets, 2_000);
    assert_eq!(metrics.reboots.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn device_without_hc_counters_is_read_with_counter32_and_wraps() {
    let (agent, mut poller, _m) = setup(&["eth1"]);
    agent.uptime(1000);
    agent.interface(1, "eth1", (1 << 32) - 500, false);
    let s = poller.poll().await;
    let r = reading(&s, "eth1");
    assert_eq!(r.quality, Quality::First);
    assert_eq!(r.speed_bps, u64::from(u32::MAX));
    tick().await;
    agent.uptime(1010);
    agent.interface(1, "eth1", (1 << 32) + 700, false);
    let s = poller.poll().await;
    let r = reading(&s, "eth1");
    assert_eq!(r.quality, Quality::Wrapped);
    assert_eq!(r.delta.unwrap().in_octets, 1200);
    // The second sweep asked for the 32-bit columns directly (and
    // ifCounterDiscontinuityTime, which this device lacks), with one GETBULK.
    let bulks = agent.bulks.lock().unwrap();
    let (oids, _, _) = bulks.last().unwrap();
    assert!(
        oids[1..7]
            .iter()
            .all(|o| o.starts_with(&[1, 3, 6, 1, 2, 1, 2, 2, 1])),
        "{oids:?}"
    );
    assert_eq!(oids[7], Column::IfCounterDiscontinuityTime.instance(0));
}
