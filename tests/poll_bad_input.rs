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

mod common;
use common::*;

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
    let (_, _, p) = read_tlv(b, p)?;
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
}

const IFX: [u32; 10] = [1, 3, 6, 1, 2, 1, 31, 1, 1, 1];

fn good_value(o: &[u32], tick: u64) -> Vec<u8> {
    if o == [1, 3, 6, 1, 2, 1, 1, 3, 0] {
        return uint(0x43, 100_000 + tick * 100);
    }
    if o.starts_with(&IFX) {
        return match o[10] {
            6 | 10 => uint(0x46, 1_000 * tick),
            7 | 11 => uint(0x46, tick),
            15 => uint(0x42, 1000),
            _ => vec![0x80, 0x00],
        };
    }
    if o.starts_with(&[1, 3, 6, 1, 2, 1, 2, 2, 1, 8]) {
        return int(1);
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
        let reply = if tag == 0xa5 && !sweep_bulk {
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
            let good: Vec<(Vec<u32>, Vec<u8>)> = asked
                .iter()
                .map(|o| (o.clone(), good_value(o, tick)))
                .collect();
            let m = *mode.lock().unwrap();
            match m {
                Mode::Good => response(id, 0, &good),
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
            timeout: Duration(std::time::Duration::from_millis(150)),
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
            description: None,
        }],
        description: None,
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
