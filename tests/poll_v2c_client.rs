//! bandwatch's own SNMPv2c client over real UDP: answers on the shared socket reach the
//! request they answer (by request-id and source address, in any order), strangers and late
//! answers are dropped, and a 48-port switch of the simulator is read with five pipelined
//! GETBULKs per sweep (one probe only once it stopped answering).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bandwatch::config::{self, SnmpProfile};
use bandwatch::poll::{PortOutcome, Quality, SweepStatus, SwitchMetrics, SwitchPoller};
use bandwatch::sim::{self, FleetOptions, Scenario};
use bandwatch::snmp::ber::{TAG_RESPONSE, peek_request_id, push_integer, push_oid, push_tlv};
use bandwatch::snmp::{SharedUdp, SnmpError, SnmpValue, connect_shared};
use tokio::net::UdpSocket;

const UPTIME: [u32; 9] = [1, 3, 6, 1, 2, 1, 1, 3, 0];

/// A v2c response with one TimeTicks varbind (sysUpTime.0 = `ticks`).
fn answer(id: i32, ticks: u8) -> Vec<u8> {
    let mut vb = Vec::new();
    push_oid(&mut vb, &UPTIME);
    push_tlv(&mut vb, 0x43, &[ticks]);
    let mut list = Vec::new();
    push_tlv(&mut list, 0x30, &vb);
    let mut pdu = Vec::new();
    push_integer(&mut pdu, 0x02, i64::from(id));
    push_integer(&mut pdu, 0x02, 0);
    push_integer(&mut pdu, 0x02, 0);
    push_tlv(&mut pdu, 0x30, &list);
    let mut msg = Vec::new();
    push_integer(&mut msg, 0x02, 1);
    push_tlv(&mut msg, 0x04, b"public");
    push_tlv(&mut msg, TAG_RESPONSE, &pdu);
    let mut out = Vec::new();
    push_tlv(&mut out, 0x30, &msg);
    out
}

fn profile(timeout_ms: u64) -> SnmpProfile {
    SnmpProfile {
        timeout: config::Duration(Duration::from_millis(timeout_ms)),
        retries: 0,
        ..SnmpProfile::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_reach_their_request_in_any_order_and_strangers_are_ignored() {
    let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let shared = SharedUdp::default();
    let p = profile(2000);
    let src_a = connect_shared(&a.local_addr().unwrap().to_string(), &p, &shared)
        .await
        .unwrap();
    let src_b = connect_shared(&b.local_addr().unwrap().to_string(), &p, &shared)
        .await
        .unwrap();
    let oids = [UPTIME.to_vec()];
    let agents = async {
        let mut buf = [0u8; 1500];
        let (n, from_a) = a.recv_from(&mut buf).await.unwrap();
        let id_a = peek_request_id(&buf[..n]).unwrap();
        let (n, from_b) = b.recv_from(&mut buf).await.unwrap();
        let id_b = peek_request_id(&buf[..n]).unwrap();
        assert_eq!(from_a, from_b, "both switches are asked from one socket");
        assert_ne!(id_a, id_b);
        // A stranger answers first with A's request-id: not from A, so dropped.
        stranger.send_to(&answer(id_a, 99), from_a).await.unwrap();
        // B answers before A; each answer reaches its own request.
        b.send_to(&answer(id_b, 22), from_b).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        a.send_to(&answer(id_a, 11), from_a).await.unwrap();
    };
    let (ra, rb, ()) = tokio::join!(src_a.get(&oids), src_b.get(&oids), agents);
    assert_eq!(ra.unwrap()[0].value, SnmpValue::TimeTicks(11));
    assert_eq!(rb.unwrap()[0].value, SnmpValue::TimeTicks(22));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_answer_is_not_taken_for_the_next_request() {
    let agent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let shared = SharedUdp::default();
    // The first request times out whatever this is (its answer waits for the second
    // request); a second long enough that a loaded host hands the right answer over in time.
    let src = connect_shared(
        &agent.local_addr().unwrap().to_string(),
        &profile(1000),
        &shared,
    )
    .await
    .unwrap();
    let oids = [UPTIME.to_vec()];
    let agent_side = async {
        let mut buf = [0u8; 1500];
        // First request: answered only after the client gave up.
        let (n, from) = agent.recv_from(&mut buf).await.unwrap();
        let first = peek_request_id(&buf[..n]).unwrap();
        // Second request: the late answer to the first arrives before the right one.
        let (n, from2) = agent.recv_from(&mut buf).await.unwrap();
        let second = peek_request_id(&buf[..n]).unwrap();
        assert_ne!(first, second);
        agent.send_to(&answer(first, 1), from).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        agent.send_to(&answer(second, 2), from2).await.unwrap();
    };
    let client_side = async {
        let r1 = src.get(&oids).await;
        assert_eq!(r1, Err(SnmpError::Timeout));
        src.get(&oids).await
    };
    let (r2, ()) = tokio::join!(client_side, agent_side);
    assert_eq!(r2.unwrap()[0].value, SnmpValue::TimeTicks(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_48_port_switch_is_read_with_five_getbulks_per_sweep() {
    let listen = crate::net_support::udp_port();
    let opts = FleetOptions {
        switches: 1,
        ports: 48,
        listen: format!("127.0.0.1:{listen}").parse().unwrap(),
        scenario: Scenario::parse("[traffic]\nbase = \"80Mbps\"\n").unwrap(),
        community: "public".into(),
    };
    let fleet = sim::start(&opts).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bandwatch.toml");
    let text = sim::write_config(&fleet.switches, 48, "10s").replace(
        "timeout = \"2s\"\nretries = 1",
        "timeout = \"1s\"\nretries = 0",
    );
    std::fs::write(&path, text).unwrap();
    let cfg = config::load(&path).unwrap().config;
    let switch = Arc::clone(&cfg.topology.switches[0]);
    let shared = SharedUdp::default();
    let src = connect_shared(&switch.address, &switch.snmp, &shared)
        .await
        .unwrap();
    let metrics = Arc::new(SwitchMetrics::default());
    let mut poller = SwitchPoller::new(switch, src, metrics.clone());

    let first = poller.poll().await;
    assert_eq!(first.status, SweepStatus::Ok, "{first:?}");
    assert_eq!(
        first.ports.len(),
        48,
        "configured and alias-attributed ports"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = metrics.requests.load(Ordering::Relaxed);
    let second = poller.poll().await;
    assert_eq!(second.status, SweepStatus::Ok, "{second:?}");
    assert_eq!(
        metrics.requests.load(Ordering::Relaxed) - before,
        4,
        "48 consecutive ifIndexes, 14 rows per GETBULK"
    );
    for p in &second.ports {
        let PortOutcome::Reading(r) = &p.outcome else {
            panic!("{}: {:?}", p.port, p.outcome)
        };
        assert_eq!(r.quality, Quality::Ok, "{}", p.port);
        assert!(r.delta.unwrap().in_octets > 0, "{}", p.port);
    }
    assert_eq!(metrics.errors.load(Ordering::Relaxed), 0);

    // The switch dies. Having answered its last sweep, it gets its four GETBULKs at once;
    // after that failed sweep, the next one probes with a single request.
    fleet.stop();
    drop(fleet);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = metrics.requests.load(Ordering::Relaxed);
    let s = poller.poll().await;
    assert_eq!(s.status, SweepStatus::Timeout, "{s:?}");
    assert_eq!(metrics.requests.load(Ordering::Relaxed) - before, 4);
    let before = metrics.requests.load(Ordering::Relaxed);
    let s = poller.poll().await;
    assert_eq!(s.status, SweepStatus::Timeout, "{s:?}");
    assert_eq!(metrics.requests.load(Ordering::Relaxed) - before, 1);
}
