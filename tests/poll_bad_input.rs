//! Bad input from an agent: a tiny UDP responder answers the poller's SNMPv2c requests with
//! crafted bytes (truncated BER, wrong request id, absurd lengths, missing or renamed
//! varbinds, wrong types, error status, garbage). Each must end as an unknown with its reason,
//! counted in the switch's metrics, without a panic; and the switch must recover as soon as
//! the agent answers properly again.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use bandwatch::config::{Duration, PortLabels, SnmpProfile, Switch};
use bandwatch::poll::{
    PortOutcome, Quality, SweepStatus, SwitchMetrics, SwitchPoller, UnknownReason,
};
use bandwatch::snmp::connect;
use tokio::net::UdpSocket;

use crate::common;
use common::*;

/// The max-repetitions of the last request parsed (the responder is one task).
static MAX_REPS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);

/// A parsed v2c request: PDU tag, request id, requested OIDs.
fn parse_request(b: &[u8]) -> Option<(u8, i64, Vec<Vec<u32>>)> {
    let (_, msg, _) = read_tlv(b, 0)?;
    let (_, _, p) = read_tlv(b, msg.start)?; // version
    let (_, _, p) = read_tlv(b, p)?; // community
    let (pdu_tag, pdu, _) = read_tlv(b, p)?;
    let (_, rid, p) = read_tlv(b, pdu.start)?;
    let mut id: i64 = if b[rid.start] & 0x80 != 0 { -1 } else { 0 };
    for &x in &b[rid] {
        id = (id << 8) | i64::from(x);
    }
    let (_, _, p) = read_tlv(b, p)?;
    let (_, reps, p) = read_tlv(b, p)?; // error-index, or GETBULK's max-repetitions
    let mut max_reps: u32 = 0;
    for &x in &b[reps] {
        max_reps = (max_reps << 8) | u32::from(x);
    }
    MAX_REPS.store(max_reps, std::sync::atomic::Ordering::Relaxed);
    let (_, list, _) = read_tlv(b, p)?;
    let mut oids = Vec::new();
    let mut q = list.start;
    while q < list.end {
        let (_, vb, next) = read_tlv(b, q)?;
        let (_, o, _) = read_tlv(b, vb.start)?;
        oids.push(decode_oid(&b[o]));
        q = next;
    }
    Some((pdu_tag, id, oids))
}

// ---- the responder ----

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Good,
    Truncated,
    WrongRequestId,
    AbsurdLength,
    MissingVarbinds,
    RenamedVarbinds,
    WrongTypes,
    GenErr,
    Garbage,
    /// The ifHC* columns and ifHighSpeed answer noSuchInstance (the 32-bit ones are there).
    NoHc,
    /// ifHighSpeed 0 (speed unknown).
    SpeedZero,
    /// ifHighSpeed 0, and the octet counters jump by [`JUMP`] from this answer on.
    SpeedZeroJump,
    /// The interface walk never ends: every GETBULK of the static columns gets as many more
    /// rows as it asks for.
    EndlessWalk,
}

/// How far the counters jump in [`Mode::SpeedZeroJump`].
static JUMP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

const IFX: [u32; 10] = [1, 3, 6, 1, 2, 1, 31, 1, 1, 1];

/// The agent's answer for `o` at `tick` in `mode`, counters moved by `offset` octets.
fn value(o: &[u32], tick: u64, mode: Mode, offset: u64) -> Vec<u8> {
    if o == [1, 3, 6, 1, 2, 1, 1, 3, 0] {
        return uint(0x43, 100_000 + tick * 100);
    }
    let no_hc = matches!(mode, Mode::NoHc);
    let speed_zero = matches!(mode, Mode::SpeedZero | Mode::SpeedZeroJump);
    if o.starts_with(&IFX) {
        return match o[10] {
            6 | 10 | 7 | 11 | 15 if no_hc => vec![0x81, 0x00],
            6 | 10 => uint(0x46, 1_000 * tick + offset),
            7 | 11 => uint(0x46, tick),
            15 if speed_zero => uint(0x42, 0),
            15 => uint(0x42, 1000),
            _ => vec![0x80, 0x00],
        };
    }
    // The 32-bit columns of ifTable (ifSpeed, ifInOctets, ifInUcastPkts, ifOutOctets,
    // ifOutUcastPkts), as every agent has them.
    if o.len() == 11 && o.starts_with(&[1, 3, 6, 1, 2, 1, 2, 2, 1]) {
        return match o[9] {
            5 => uint(0x42, 1_000_000_000),
            10 | 16 => uint(0x41, (1_000 * tick) % (1 << 32)),
            11 | 17 => uint(0x41, tick % (1 << 32)),
            8 => int(1),
            _ => vec![0x80, 0x00],
        };
    }
    vec![0x80, 0x00] // noSuchObject
}

/// Answers GETBULK (discovery) with one interface `eth1`, and GET as `mode` says.
async fn responder(sock: UdpSocket, mode: Arc<Mutex<Mode>>) {
    let mut buf = vec![0u8; 65535];
    let mut tick = 0u64;
    loop {
        let Ok((n, from)) = sock.recv_from(&mut buf).await else {
            return;
        };
        let Some((tag, id, oids)) = parse_request(&buf[..n]) else {
            continue;
        };
        let sweep_bulk = tag == 0xa5 && oids.first() == Some(&vec![1, 3, 6, 1, 2, 1, 1, 3]);
        let endless = matches!(*mode.lock().unwrap(), Mode::EndlessWalk);
        let reply = if tag == 0xa5 && !sweep_bulk && endless {
            // Rows after each cursor, row by row, for ever (ifIndex 1, 2, 3, ...).
            let mut vbs: Vec<(Vec<u32>, Vec<u8>)> = Vec::new();
            let reps = MAX_REPS.load(std::sync::atomic::Ordering::Relaxed).max(1);
            for r in 0..reps {
                for o in &oids {
                    let (col, next) = if o.len() == 10 || (o.len() == 11 && o.starts_with(&IFX)) {
                        (o.clone(), 1)
                    } else {
                        (o[..o.len() - 1].to_vec(), o[o.len() - 1] + 1)
                    };
                    vbs.push(([&col[..], &[next + r]].concat(), tlv(0x04, b"ethX")));
                }
            }
            response(id, 0, &vbs)
        } else if tag == 0xa5 && !sweep_bulk {
            // GETBULK of the static columns: row 1 of each column, then the end of the MIB.
            let columns: [Vec<u32>; 3] = [
                [&IFX[..], &[1]].concat(),
                vec![1, 3, 6, 1, 2, 1, 2, 2, 1, 2],
                [&IFX[..], &[18]].concat(),
            ];
            let vbs: Vec<(Vec<u32>, Vec<u8>)> = oids
                .iter()
                .map(|o| {
                    if columns.contains(o) {
                        ([&o[..], &[1]].concat(), tlv(0x04, b"eth1"))
                    } else {
                        (o.clone(), vec![0x82, 0x00])
                    }
                })
                .collect();
            response(id, 0, &vbs)
        } else {
            tick += 1;
            // A sweep's GETBULK (sysUpTime, then each column from row 0) gets row 1; a GET
            // gets exactly the instances asked for.
            let asked: Vec<Vec<u32>> = if sweep_bulk {
                let mut v = vec![vec![1, 3, 6, 1, 2, 1, 1, 3, 0]];
                v.extend(oids[1..].iter().map(|o| {
                    let mut row = o.clone();
                    if let Some(l) = row.last_mut() {
                        *l += 1;
                    }
                    row
                }));
                v
            } else {
                oids.clone()
            };
            let m = *mode.lock().unwrap();
            let offset = if matches!(m, Mode::SpeedZeroJump) {
                JUMP.load(std::sync::atomic::Ordering::SeqCst)
            } else {
                0
            };
            let good: Vec<(Vec<u32>, Vec<u8>)> = asked
                .iter()
                .map(|o| (o.clone(), value(o, tick, m, offset)))
                .collect();
            match m {
                Mode::Good
                | Mode::NoHc
                | Mode::SpeedZero
                | Mode::SpeedZeroJump
                | Mode::EndlessWalk => response(id, 0, &good),
                Mode::Truncated => {
                    let full = response(id, 0, &good);
                    full[..full.len() / 2].to_vec()
                }
                Mode::WrongRequestId => response(id + 1, 0, &good),
                Mode::AbsurdLength => {
                    let mut v = vec![0x30, 0x84, 0x7f, 0xff, 0xff, 0xff];
                    v.extend_from_slice(&response(id, 0, &good)[2..]);
                    v
                }
                Mode::MissingVarbinds => response(id, 0, &good[..good.len() / 2]),
                Mode::RenamedVarbinds => {
                    let renamed: Vec<_> = good
                        .iter()
                        .map(|(o, v)| {
                            let mut o = o.clone();
                            if let Some(l) = o.last_mut() {
                                *l += 7;
                            }
                            (o, v.clone())
                        })
                        .collect();
                    response(id, 0, &renamed)
                }
                Mode::WrongTypes => {
                    let strings: Vec<_> = good
                        .iter()
                        .map(|(o, v)| {
                            if o.len() == 12 && o.starts_with(&IFX) {
                                (o.clone(), tlv(0x04, b"12345"))
                            } else {
                                (o.clone(), v.clone())
                            }
                        })
                        .collect();
                    response(id, 0, &strings)
                }
                Mode::GenErr => response(id, 5, &good),
                Mode::Garbage => (0..200u32).map(|i| (i * 37 % 251) as u8).collect(),
            }
        };
        let _ = sock.send_to(&reply, from).await;
    }
}

fn switch(addr: SocketAddr) -> Switch {
    Switch {
        name: "crafted".into(),
        site: "lab".into(),
        address: addr.to_string(),
        profile: "default".into(),
        snmp: SnmpProfile {
            // Long enough for a loaded host to hand over a good answer; each bad one that
            // is dropped costs this once.
            timeout: Duration(std::time::Duration::from_millis(1000)),
            retries: 0,
            ..SnmpProfile::default()
        },
        interval: Duration::from_secs(10),
        rediscover: Duration::from_secs(3600),
        alias_patterns: Vec::new(),
        ports: vec![bandwatch::config::Port {
            name: "eth1".into(),
            labels: PortLabels {
                site: "lab".into(),
                switch: "crafted".into(),
                port: "eth1".into(),
                ..PortLabels::default()
            },
            max_rate: None,
            attributed: false,
            description: None,
        }],
        description: None,
        shard: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crafted_responses_are_counted_errors_and_the_switch_recovers() {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let mode = Arc::new(Mutex::new(Mode::Good));
    tokio::spawn(responder(sock, mode.clone()));

    let sw = Arc::new(switch(addr));
    let metrics = Arc::new(SwitchMetrics::default());
    let src = connect(&sw.address, &sw.snmp).await.unwrap();
    let mut poller = SwitchPoller::new(sw.clone(), src, metrics.clone());

    // A good start: discovery finds eth1 at ifIndex 1, the first reading has no delta.
    let s = poller.poll().await;
    assert_eq!(s.status, SweepStatus::Ok, "{s:?}");
    let PortOutcome::Reading(r) = &s.ports[0].outcome else {
        panic!("{s:?}")
    };
    assert_eq!((r.if_index, r.quality), (1, Quality::First));

    let cases = [
        (Mode::Truncated, None),
        (Mode::WrongRequestId, Some(UnknownReason::Timeout)),
        (Mode::AbsurdLength, None),
        (Mode::MissingVarbinds, Some(UnknownReason::AgentError)),
        (Mode::RenamedVarbinds, Some(UnknownReason::AgentError)),
        (Mode::WrongTypes, Some(UnknownReason::AgentError)),
        (Mode::GenErr, Some(UnknownReason::AgentError)),
        (Mode::Garbage, None),
    ];
    for (m, want) in cases {
        *mode.lock().unwrap() = m;
        let failures = |x: &SwitchMetrics| {
            x.errors.load(Ordering::Relaxed) + x.timeouts.load(Ordering::Relaxed)
        };
        let before = failures(&metrics);
        // Keep polls apart so that every interval has a measurable length.
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let s = poller.poll().await;
        assert_ne!(s.status, SweepStatus::Ok, "{m:?}: {s:?}");
        let PortOutcome::Unknown(reason) = s.ports[0].outcome else {
            panic!("{m:?}: a bad answer became a reading: {s:?}")
        };
        assert!(
            matches!(reason, UnknownReason::Timeout | UnknownReason::AgentError),
            "{m:?}: {reason:?}"
        );
        if let Some(w) = want {
            assert_eq!(reason, w, "{m:?}");
        }
        assert!(failures(&metrics) > before, "{m:?} was not counted");

        // Good answers again: the switch is read at once, the missed interval is a gap.
        *mode.lock().unwrap() = Mode::Good;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let s = poller.poll().await;
        assert_eq!(s.status, SweepStatus::Ok, "after {m:?}: {s:?}");
        let PortOutcome::Reading(r) = &s.ports[0].outcome else {
            panic!("after {m:?}: {s:?}")
        };
        assert_eq!(r.quality, Quality::Gap, "after {m:?}");
    }
}

async fn poller_on_responder() -> (SwitchPoller, Arc<Mutex<Mode>>) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let mode = Arc::new(Mutex::new(Mode::Good));
    tokio::spawn(responder(sock, mode.clone()));
    let sw = Arc::new(switch(addr));
    let src = connect(&sw.address, &sw.snmp).await.unwrap();
    let poller = SwitchPoller::new(sw, src, Arc::new(SwitchMetrics::default()));
    (poller, mode)
}

async fn poll_in(poller: &mut SwitchPoller, mode: &Mutex<Mode>, m: Mode) -> (Quality, u64) {
    *mode.lock().unwrap() = m;
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    let s = poller.poll().await;
    match &s.ports[0].outcome {
        PortOutcome::Reading(r) => (r.quality, r.delta.map(|d| d.in_octets).unwrap_or(0)),
        other => panic!("{m:?}: {other:?}"),
    }
}

/// One answer without the ifHC* columns costs that poll's 64-bit interval only: the port is
/// read with its 32-bit counters for that poll, and the interval after the ifHC* columns
/// return is `ok` again (measured from the last 64-bit reading), never `bogus` or `reset`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ifhc_columns_missing_for_one_poll_blind_only_that_poll() {
    let (mut poller, mode) = poller_on_responder().await;
    assert_eq!(
        poll_in(&mut poller, &mode, Mode::Good).await.0,
        Quality::First
    );
    assert_eq!(poll_in(&mut poller, &mode, Mode::Good).await.0, Quality::Ok);
    // The 32-bit counters have no earlier reading: no interval from them yet.
    assert_eq!(
        poll_in(&mut poller, &mode, Mode::NoHc).await.0,
        Quality::First
    );
    let (q, octets) = poll_in(&mut poller, &mode, Mode::Good).await;
    assert_eq!(
        q,
        Quality::Ok,
        "the interval after the ifHC* columns came back"
    );
    // Measured from the last 64-bit reading: the agent's counters move 1,000 octets per
    // request, and three requests were answered since (64-bit, 32-bit, 64-bit).
    assert_eq!(octets, 3_000);
    assert_eq!(poll_in(&mut poller, &mode, Mode::Good).await.0, Quality::Ok);

    // A device that keeps answering without them is asked for its 32-bit counters first
    // (one request a poll: 1,000 octets between two), whose intervals are measured as such.
    for _ in 0..4 {
        poll_in(&mut poller, &mode, Mode::NoHc).await;
    }
    let (q, octets) = poll_in(&mut poller, &mode, Mode::NoHc).await;
    assert_eq!((q, octets), (Quality::Ok, 1_000));
}

/// No speed (ifHighSpeed 0) and no `max_rate`: a counter jump is judged against what the
/// port ever carried, and the 10 Tbit/s bound of any interface: `bogus`, never traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_jump_on_a_port_without_speed_is_bogus_not_traffic() {
    let (mut poller, mode) = poller_on_responder().await;
    poll_in(&mut poller, &mode, Mode::SpeedZero).await;
    for _ in 0..5 {
        assert_eq!(
            poll_in(&mut poller, &mode, Mode::SpeedZero).await.0,
            Quality::Ok
        );
    }
    // 1e9 octets within one ~10 ms poll: below 10 Tbit/s, but far beyond 1,000 times what
    // this port ever carried (1,000 octets a poll) and above the 1 Gbit/s floor.
    JUMP.store(1_000_000_000, std::sync::atomic::Ordering::SeqCst);
    let (q, _) = poll_in(&mut poller, &mode, Mode::SpeedZeroJump).await;
    assert_eq!(q, Quality::Bogus, "a jump 1,000x above the port's history");
    assert_eq!(
        poll_in(&mut poller, &mode, Mode::SpeedZeroJump).await.0,
        Quality::Ok
    );
    // The case: +1e15 octets.
    JUMP.store(1_000_000_001_000_000, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        poll_in(&mut poller, &mode, Mode::SpeedZeroJump).await.0,
        Quality::Bogus
    );
}

/// A walk that never ends is cut off (a malformed answer, counted) and not walked again at
/// every poll: the next attempt waits, longer each time, up to the rediscovery period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_interface_walk_is_capped_and_not_repeated_every_poll() {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let mode = Arc::new(Mutex::new(Mode::EndlessWalk));
    tokio::spawn(responder(sock, mode.clone()));
    let sw = Arc::new(switch(addr));
    let metrics = Arc::new(SwitchMetrics::default());
    let src = connect(&sw.address, &sw.snmp).await.unwrap();
    let mut poller = SwitchPoller::new(sw, src, metrics.clone());
    let s = poller.poll().await;
    assert_ne!(s.status, SweepStatus::Ok, "{:?}", s.status);
    let SweepStatus::Error(e) = &s.status else {
        panic!("{:?}", s.status)
    };
    assert!(e.contains("rows in one column"), "{e}");
    let requests = metrics.requests.load(Ordering::Relaxed);
    // The next polls (within the pause) do not walk the table again.
    for _ in 0..3 {
        poller.poll().await;
    }
    assert_eq!(metrics.discoveries.load(Ordering::Relaxed), 1);
    assert!(
        metrics.requests.load(Ordering::Relaxed) < requests + 10,
        "the walk was repeated"
    );
}
