//! The flow collector end to end: a real exporter (`pmacctd` from Debian's `pmacct`, reading
//! a capture this test writes, exporting IPFIX and sFlow v5 over UDP) to per-customer bytes; templates
//! kept apart per exporter and observation domain; sampling; malformed, truncated, garbage
//! and unknown-exporter datagrams counted and dropped, never a panic; flow minutes stored
//! as customer usage like port traffic; overlapping customer (or product line) prefixes
//! refused by `check`.

use crate::flow_support;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bandwatch::config::{self, SourceFile};
use bandwatch::flow::collector::ModelSource;
use bandwatch::flow::decode::Drop;
use bandwatch::flow::{Collector, Decoder, FlowMetrics, FlowModel, FlowRecord};
use bandwatch::store::{Entity, EntityKind, FlowSink, FlowSlot, Store, StoreError};
use flow_support::*;

/// Flow slots handed over by the collector, kept for the test to read.
#[derive(Default)]
struct Slots(Mutex<Vec<FlowSlot>>);

impl FlowSink for Slots {
    fn submit_flows(&self, slots: Vec<FlowSlot>) -> Result<(), StoreError> {
        self.0.lock().unwrap().extend(slots);
        Ok(())
    }
}

impl Slots {
    /// (in, out) octets per customer over every slot.
    fn totals(&self) -> HashMap<String, (u64, u64)> {
        let mut t: HashMap<String, (u64, u64)> = HashMap::new();
        for s in self.0.lock().unwrap().iter() {
            let e = t.entry(s.name.clone()).or_default();
            e.0 += s.in_octets;
            e.1 += s.out_octets;
        }
        t
    }
}

const CONFIG: &str = r#"
[daemon]
listen = "127.0.0.1:0"
data_dir = "var"

[snmp.default]
version = "2c"
community = "${BANDWATCH_FLOW_TEST_COMMUNITY:-public}"

[[site]]
name = "dc1"

[[switch]]
name = "edge-1"
site = "dc1"
address = "127.0.0.1:161"

[[switch]]
name = "edge-2"
site = "dc1"
address = "edge-2.example.net:161"

[[customer]]
id = "acme"
prefixes = ["203.0.113.0/24", "2001:db8:1::/48"]

[[customer]]
id = "globex"
prefixes = ["198.51.100.0/24"]

[flow]
listen = ["127.0.0.1:0"]

[[flow.exporter]]
switch = "edge-1"

[[flow.exporter]]
switch = "edge-2"
address = "127.0.0.3"
sampling = 100
"#;

fn load(text: &str, dir: &Path) -> Result<config::Config, String> {
    let path = dir.join("bandwatch.toml");
    std::fs::write(&path, text).unwrap();
    let src = SourceFile::read(&path).map_err(|d| d.to_string())?;
    config::load_source(&src)
        .map(|l| l.config)
        .map_err(|d| d.to_string())
}

fn model_of(c: &config::Config) -> ModelSource {
    let m = Arc::new(FlowModel::new(&c.flow));
    Arc::new(move || m.clone())
}

/// Waits (bounded) until `cond` holds on the collector's metrics.
fn wait_for(m: &FlowMetrics, what: &str, cond: impl Fn(&FlowMetrics) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond(m) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {m:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

const FIELDS: &[Field] = &[(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (1, 8), (2, 8)];

#[test]
fn config_reads_flow_and_refuses_overlapping_prefixes() {
    let dir = tempfile::tempdir().unwrap();
    let c = load(CONFIG, dir.path()).unwrap();
    assert_eq!(c.flow.exporters.len(), 2);
    assert_eq!(c.flow.exporters[0].address.to_string(), "127.0.0.1");
    assert_eq!(c.flow.exporters[1].sampling, 100);
    assert_eq!(c.flow.prefixes.len(), 3);
    assert!(c.topology.customers.contains_key("globex"));

    let overlap = CONFIG.replace(r#"["198.51.100.0/24"]"#, r#"["203.0.113.128/25"]"#);
    let e = load(&overlap, dir.path()).unwrap_err();
    assert!(
        e.contains("customer[1].prefixes[0]")
            && e.contains("overlaps 203.0.113.0/24 of customer `acme`")
            && e.contains("bandwatch.toml:"),
        "{e}"
    );
    let host_bits = CONFIG.replace("203.0.113.0/24", "203.0.113.7/24");
    let e = load(&host_bits, dir.path()).unwrap_err();
    assert!(
        e.contains("host bits") && e.contains("203.0.113.0/24"),
        "{e}"
    );
    let no_ip = CONFIG.replace("address = \"127.0.0.3\"\n", "");
    let e = load(&no_ip, dir.path()).unwrap_err();
    assert!(
        e.contains("flow.exporter[1]") && e.contains("set `address`"),
        "{e}"
    );
    // A customer with ports too is measured on its ports (no byte counted twice), which is
    // no mistake: `check` warns of nothing.
    let both = format!("{CONFIG}\n[[port]]\nswitch = \"edge-1\"\nname = \"ge-0/0/1\"\n").replace(
        "id = \"globex\"\n",
        "id = \"globex\"\nports = [{ switch = \"edge-1\", name = \"ge-0/0/1\" }]\n",
    );
    let path = dir.path().join("both.toml");
    std::fs::write(&path, &both).unwrap();
    let loaded = config::load(&path).unwrap();
    let warnings = loaded.warnings.to_string();
    assert!(!warnings.contains("prefixes"), "{warnings}");
    let m = FlowModel::new(&loaded.config.flow).with_ports(&loaded.config.topology);
    let globex = m.customers().iter().position(|c| c == "globex").unwrap() as u32;
    assert!(!m.measured(globex));
    // Product lines by prefix: a customer's prefix may lie inside one (two dimensions, like
    // a port's labels); two product lines' prefixes may not overlap.
    let lines = format!(
        "{CONFIG}\n[[product_line]]\nname = \"cloud\"\nprefixes = [\"203.0.112.0/22\"]\n\n\
         [[product_line]]\nname = \"cdn\"\nprefixes = [\"198.51.100.0/24\", \"2001:db8::/32\"]\n"
    );
    let c = load(&lines, dir.path()).unwrap();
    assert_eq!(c.flow.product_line_prefixes.len(), 3);
    let m = FlowModel::new(&c.flow);
    let line = |ip: &str| {
        m.product_line_of(ip.parse().unwrap())
            .map(|i| m.product_lines()[i as usize].clone())
    };
    assert_eq!(line("203.0.113.7").as_deref(), Some("cloud"));
    assert_eq!(line("2001:db8:1::9").as_deref(), Some("cdn"));
    assert_eq!(line("192.0.2.1"), None);
    let acme = m.customer_of("203.0.113.7".parse().unwrap()).unwrap();
    assert_eq!(m.customers()[acme as usize], "acme");
    let clash = lines.replace("\"198.51.100.0/24\", ", "\"203.0.113.128/25\", ");
    let e = load(&clash, dir.path()).unwrap_err();
    assert!(
        e.contains("product_line[1].prefixes[0]")
            && e.contains("203.0.113.128/25 of product line `cdn` overlaps 203.0.112.0/22 of product line `cloud`"),
        "{e}"
    );
    let absurd = CONFIG.replace("sampling = 100", "sampling = 0");
    let e = load(&absurd, dir.path()).unwrap_err();
    assert!(e.contains("flow.exporter[1].sampling"), "{e}");
}

#[test]
fn templates_are_kept_apart_per_exporter_and_observation_domain() {
    let mut d = Decoder::new();
    let a: IpAddr = "10.0.0.1".parse().unwrap();
    let b: IpAddr = "10.0.0.2".parse().unwrap();
    // Both exporters use template 256, with different layouts; b's domain 7 uses another.
    let fa: &[Field] = &[(8, 4), (12, 4), (1, 4), (2, 4)];
    let fb: &[Field] = &[(1, 8), (2, 8), (12, 4), (8, 4)];
    let fb7: &[Field] = &[(12, 4), (8, 4), (2, 4), (1, 4)];
    let mut out = Vec::new();
    for (ip, msg) in [
        (a, v9(1, 256, fa, true, &[])),
        (b, ipfix(1, 256, fb, true, &[])),
        (b, ipfix(7, 256, fb7, true, &[])),
    ] {
        d.decode(ip, &msg, 1, &mut out).unwrap();
    }
    assert!(out.is_empty());
    let src = v4("203.0.113.5");
    let dst = v4("198.51.100.9");
    d.decode(
        a,
        &v9(1, 256, fa, false, &[vec![src, dst, 1000, 2]]),
        1,
        &mut out,
    )
    .unwrap();
    d.decode(
        b,
        &ipfix(1, 256, fb, false, &[vec![3000, 3, dst, src]]),
        1,
        &mut out,
    )
    .unwrap();
    d.decode(
        b,
        &ipfix(7, 256, fb7, false, &[vec![dst, src, 5, 5000]]),
        1,
        &mut out,
    )
    .unwrap();
    let got: Vec<(String, String, u64, u64)> = out
        .iter()
        .map(|r| (r.src.to_string(), r.dst.to_string(), r.bytes, r.packets))
        .collect();
    assert_eq!(
        got,
        vec![
            ("203.0.113.5".into(), "198.51.100.9".into(), 1000, 2),
            ("203.0.113.5".into(), "198.51.100.9".into(), 3000, 3),
            ("203.0.113.5".into(), "198.51.100.9".into(), 5000, 5),
        ]
    );
    // Data for a template exporter c never sent: skipped and counted, not misread.
    let c: IpAddr = "10.0.0.3".parse().unwrap();
    let r = d
        .decode(
            c,
            &v9(1, 256, fa, false, &[vec![src, dst, 1, 1]]),
            1,
            &mut out,
        )
        .unwrap();
    assert_eq!((r.records, r.unknown_template_sets), (0, 1));
}

/// A template of more fields than any exporter sends is refused (it would cost some 200 KB
/// a copy with the parser's default limit), and its data is counted as of an unknown
/// template; one at the limit is read.
#[test]
fn templates_of_too_many_fields_are_refused() {
    use bandwatch::flow::decode::MAX_FIELDS;
    let mut d = Decoder::new();
    let ip: IpAddr = "10.0.0.1".parse().unwrap();
    let fields = |n: usize| -> Vec<Field> {
        let mut f: Vec<Field> = vec![(8, 4), (12, 4), (1, 4), (2, 4)];
        f.extend((f.len()..n).map(|i| (1000 + i as u16, 1)));
        f
    };
    let vals = |n: usize| -> Vec<u64> {
        let mut v = vec![v4("203.0.113.5"), v4("198.51.100.9"), 1000, 2];
        v.resize(n, 0);
        v
    };
    let mut out = Vec::new();
    let ok = d.decode(
        ip,
        &ipfix(1, 256, &fields(MAX_FIELDS), true, &[vals(MAX_FIELDS)]),
        1,
        &mut out,
    );
    assert_eq!(ok.map(|r| r.records), Ok(1));
    out.clear();
    let n = MAX_FIELDS + 1;
    let r = d.decode(ip, &ipfix(1, 257, &fields(n), true, &[]), 1, &mut out);
    let data = d.decode(
        ip,
        &ipfix(1, 257, &fields(n), false, &[vals(n)]),
        1,
        &mut out,
    );
    assert!(out.is_empty(), "{out:?}");
    assert!(
        r.is_err() || data.is_ok_and(|x| x.unknown_template_sets == 1),
        "{r:?} {data:?}"
    );
}

#[test]
fn sampling_multiplies_counters_and_absurd_rates_are_dropped() {
    let mut d = Decoder::new();
    let ip: IpAddr = "10.0.0.1".parse().unwrap();
    let rec = vec![v4("192.0.2.1"), v4("203.0.113.5"), 123, 40000, 17, 468, 1];
    let mut out: Vec<FlowRecord> = Vec::new();
    d.decode(
        ip,
        &ipfix(1, 300, FIELDS, true, std::slice::from_ref(&rec)),
        1000,
        &mut out,
    )
    .unwrap();
    assert_eq!(
        (out[0].bytes, out[0].packets, out[0].sampling),
        (468_000, 1000, 1000)
    );
    assert_eq!(
        (out[0].protocol, out[0].src_port, out[0].dst_port),
        (17, 123, 40000)
    );
    // A record with its own samplingInterval (34) wins over the configured rate.
    let mut with_rate = FIELDS.to_vec();
    with_rate.push((34, 4));
    let mut r2 = rec.clone();
    r2.push(10);
    out.clear();
    d.decode(ip, &ipfix(1, 301, &with_rate, true, &[r2]), 1000, &mut out)
        .unwrap();
    assert_eq!(out[0].bytes, 4680);
    let mut r3 = rec;
    r3.push(50_000_000);
    out.clear();
    let res = d
        .decode(ip, &ipfix(1, 301, &with_rate, false, &[r3]), 1, &mut out)
        .unwrap();
    assert_eq!((res.records, res.absurd_sampling), (0, 1));
}

/// PSAMP's systematic count-based sampling (RFC 5477): samplingPacketInterval (305) packets
/// selected, then samplingPacketSpace (306) skipped, is 1 in (305 + 306) / 305, whether a
/// record says it or an options record announces it for the domain (as softflowd's IPFIX
/// does for `-s 10`: 1 and 9). It was once read as 1 in 305, a tenth of the traffic.
#[test]
fn psamp_packet_interval_and_space_make_the_rate() {
    let mut d = Decoder::new();
    let ip: IpAddr = "10.0.0.1".parse().unwrap();
    let rec = vec![v4("192.0.2.1"), v4("203.0.113.5"), 123, 40000, 17, 468, 1];
    let mut out: Vec<FlowRecord> = Vec::new();
    // Announced by an options record (scope: the exporting process id, 144).
    let opts: &[Field] = &[(144, 4), (305, 4), (306, 4), (304, 2)];
    d.decode(
        ip,
        &ipfix_options(1, 256, opts, 1, &[vec![7, 1, 9, 1]]),
        1,
        &mut out,
    )
    .unwrap();
    d.decode(
        ip,
        &ipfix(1, 300, FIELDS, true, std::slice::from_ref(&rec)),
        1,
        &mut out,
    )
    .unwrap();
    assert_eq!(
        (out[0].bytes, out[0].packets, out[0].sampling),
        (4680, 10, 10)
    );
    // Another domain of the same exporter announced nothing: the configured rate.
    d.decode(
        ip,
        &ipfix(2, 300, FIELDS, true, std::slice::from_ref(&rec)),
        3,
        &mut out,
    )
    .unwrap();
    assert_eq!(out[1].sampling, 3);
    // In the record itself: 2 selected, 6 skipped is 1 in 4.
    let mut own = FIELDS.to_vec();
    own.extend([(305, 4), (306, 4)]);
    let mut r = rec;
    r.extend([2, 6]);
    d.decode(ip, &ipfix(1, 301, &own, true, &[r]), 1, &mut out)
        .unwrap();
    assert_eq!((out[2].bytes, out[2].sampling), (1872, 4));
}

#[test]
fn truncated_mutated_and_garbage_datagrams_never_panic() {
    let mut d = Decoder::new();
    let ip: IpAddr = "10.0.0.1".parse().unwrap();
    let recs: Vec<Vec<u64>> = (0..5)
        .map(|i| vec![v4("192.0.2.1"), v4("203.0.113.5"), 53, 1000 + i, 17, 512, 1])
        .collect();
    let whole = ipfix(3, 400, FIELDS, true, &recs);
    let mut out = Vec::new();
    for cut in 0..whole.len() {
        let r = d.decode(ip, &whole[..cut], 1, &mut out);
        assert!(
            r.is_err(),
            "a truncated IPFIX message ({cut} of {} bytes) decoded",
            whole.len()
        );
    }
    let whole9 = v9(3, 400, FIELDS, true, &recs);
    for cut in 0..whole9.len() {
        // v9 has no length field: a cut may decode fewer records, but never panic or
        // invent any.
        out.clear();
        let _ = d.decode(ip, &whole9[..cut], 1, &mut out);
        assert!(out.len() <= recs.len());
    }
    let ip4 = |s: &str| s.parse().unwrap();
    let sampled: Vec<Packet> = (0..4)
        .map(|i| Packet {
            src: ip4("192.0.2.1"),
            dst: ip4("203.0.113.5"),
            sport: 123,
            dport: 40000 + i,
            payload: 440,
            at: 0,
        })
        .collect();
    let whole_sflow = sflow(512, &sampled);
    for cut in 0..whole_sflow.len() {
        out.clear();
        let r = d.decode(ip, &whole_sflow[..cut], 1, &mut out);
        assert!(
            r.is_err(),
            "a truncated sFlow datagram ({cut} bytes) decoded"
        );
    }
    // Random byte flips and garbage (a small LCG: deterministic, no crate).
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (x >> 33) as usize
    };
    for _ in 0..3000 {
        let mut m = if next() % 2 == 0 {
            whole.clone()
        } else {
            whole9.clone()
        };
        for _ in 0..(1 + next() % 4) {
            let i = next() % m.len();
            m[i] = next() as u8;
        }
        out.clear();
        let _ = d.decode(ip, &m, 1 + (next() % 3) as u64, &mut out);
        let garbage: Vec<u8> = (0..next() % 200).map(|_| next() as u8).collect();
        let _ = d.decode(ip, &garbage, 1, &mut out);
    }
    assert_eq!(
        d.decode(ip, &[0, 5, 0, 1, 0, 0, 0, 1], 1, &mut out),
        Err(Drop::UnsupportedVersion(5)),
        "NetFlow v5 is told apart"
    );
    assert_eq!(
        d.decode(ip, &[0, 0, 0, 5, 0, 0, 0, 1], 1, &mut out),
        Err(Drop::Malformed),
        "a truncated sFlow v5 datagram"
    );
    // sFlow: each sample is a packet, its IP length times the sampling rate.
    out.clear();
    let r = d.decode(ip, &whole_sflow, 1, &mut out).unwrap();
    assert_eq!(r.records, 4);
    assert!(
        out.iter()
            .all(|f| f.bytes == 468 * 512 && f.packets == 512 && f.src_port == 123)
    );
    assert_eq!(out[3].dst_port, 40003);
    // The decoder still works after all that.
    out.clear();
    d.decode(ip, &ipfix(9, 500, FIELDS, true, &recs), 1, &mut out)
        .unwrap();
    assert_eq!(out.len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_counts_bad_datagrams_and_unknown_exporters_over_udp() {
    let dir = tempfile::tempdir().unwrap();
    let c = load(CONFIG, dir.path()).unwrap();
    let sink = Arc::new(Slots::default());
    let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let col = Collector::start(&[listen], model_of(&c), sink.clone(), Arc::default())
        .await
        .unwrap();
    let to = col.local_addrs()[0];
    let m = col.metrics();
    let good = ipfix(
        1,
        256,
        FIELDS,
        true,
        &[vec![
            v4("192.0.2.1"),
            v4("203.0.113.7"),
            123,
            40000,
            17,
            46_800,
            100,
        ]],
    );
    let m2 = m.clone();
    tokio::task::spawn_blocking(move || {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        for bad in [
            vec![0xde, 0xad, 0xbe, 0xef, 1, 2, 3],
            vec![0, 10, 0, 200, 0, 0],
            vec![0, 0, 0, 5, 0, 0, 0, 1, 127, 0, 0, 1],
            good[..good.len() - 3].to_vec(),
        ] {
            s.send_to(&bad, to).unwrap();
        }
        s.send_to(&good, to).unwrap();
        // Another address, configured nowhere: counted (logged once), never decoded.
        let stranger = UdpSocket::bind("127.0.0.2:0").unwrap();
        for _ in 0..3 {
            stranger.send_to(&good, to).unwrap();
        }
        wait_for(&m2, "every datagram", |m| {
            let g = FlowMetrics::get;
            g(&m.datagrams_ok)
                + g(&m.datagrams_malformed)
                + g(&m.datagrams_unsupported)
                + g(&m.datagrams_unknown_exporter)
                == 8
        });
    })
    .await
    .unwrap();
    let g = FlowMetrics::get;
    assert_eq!(g(&m.datagrams_ok), 1);
    assert_eq!(g(&m.datagrams_malformed), 3, "{m:?}");
    assert_eq!(g(&m.datagrams_unsupported), 1, "{m:?}");
    assert_eq!(g(&m.datagrams_unknown_exporter), 3);
    assert_eq!(g(&m.records_attributed), 1);
    col.stop().await;
    let t = sink.totals();
    assert_eq!(t.get("acme"), Some(&(0, 46_800)), "{t:?}");
    assert_eq!(
        t.get("globex"),
        Some(&(0, 0)),
        "a covered minute without traffic is zero"
    );
}

/// pmacctd (Debian `pmacct`) reads a capture and exports IPFIX with its nfprobe plugin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pmacctd_ipfix_export_is_attributed_to_prefix_customers() {
    pmacctd_export(
        "plugins: nfprobe\nnfprobe_version: 10\nnfprobe_receiver",
        4,
        2..=2,
        0.0,
    )
    .await;
}

/// pmacctd's sfprobe plugin exports every packet of the capture as an sFlow v5 sample. On
/// a loaded machine pmacctd has been seen to exit before exporting the last few samples of
/// the capture (the collector had decoded every datagram it was sent): a filler stream ends
/// the capture, and up to 5 % of the streams checked may still be missing; every sample that
/// arrives is counted exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pmacctd_sflow_export_is_attributed_to_prefix_customers() {
    pmacctd_export(
        "plugins: sfprobe\nsampling_rate: 1\nsfprobe_receiver",
        180,
        30..=50,
        0.05,
    )
    .await;
}

/// Runs pmacctd on a capture of three streams with `plugin` (its receiver key last, the
/// collector's address is appended), waits for `records` records and checks the customers'
/// bytes against the capture's IP lengths, and the `unattributed` records of the third and
/// the filler stream; `loss` is the share of the checked streams the exporter may lose.
async fn pmacctd_export(
    plugin: &str,
    records: u64,
    unattributed: std::ops::RangeInclusive<u64>,
    loss: f64,
) {
    let Some(pmacctd) = ["/usr/sbin/pmacctd", "/usr/bin/pmacctd"]
        .into_iter()
        .find(|p| Path::new(p).exists())
    else {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "CI=true but pmacctd is missing (Debian package `pmacct`)"
        );
        eprintln!("skipped: pmacctd is not installed (Debian package `pmacct`)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let c = load(CONFIG, dir.path()).unwrap();
    let sink = Arc::new(Slots::default());
    let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let col = Collector::start(&[listen], model_of(&c), sink.clone(), Arc::default())
        .await
        .unwrap();
    let to = col.local_addrs()[0];
    let ip = |s: &str| s.parse().unwrap();
    let mut packets = Vec::new();
    for i in 0..100 {
        // An NTP-like stream toward acme.
        packets.push(Packet {
            src: ip("192.0.2.1"),
            dst: ip("203.0.113.7"),
            sport: 123,
            dport: 40000,
            payload: 440,
            at: i / 10,
        });
    }
    for i in 0..50 {
        // globex sends DNS queries out.
        packets.push(Packet {
            src: ip("198.51.100.20"),
            dst: ip("192.0.2.53"),
            sport: 5353,
            dport: 53,
            payload: 60 + i as usize,
            at: i / 10,
        });
    }
    for i in 0..30 {
        packets.push(Packet {
            src: ip("10.9.9.9"),
            dst: ip("10.8.8.8"),
            sport: 1000,
            dport: 2000,
            payload: 100,
            at: i / 10,
        });
    }
    for _ in 0..20 {
        // Filler at the end of the capture, attributed to nobody.
        packets.push(Packet {
            src: ip("10.7.7.7"),
            dst: ip("10.6.6.6"),
            sport: 3000,
            dport: 4000,
            payload: 100,
            at: 4,
        });
    }
    let acme_out: u64 = packets[..100].iter().map(Packet::ip_len).sum();
    let globex_in: u64 = packets[100..150].iter().map(Packet::ip_len).sum();
    let cap = dir.path().join("traffic.pcap");
    std::fs::write(&cap, pcap(&packets, 1_700_000_000)).unwrap();
    let conf = dir.path().join("pmacctd.conf");
    std::fs::write(
        &conf,
        format!(
            "daemonize: false\npcap_savefile: {}\naggregate: src_host, dst_host, src_port, \
             dst_port, proto\n{plugin}: {to}\n",
            cap.display()
        ),
    )
    .unwrap();
    let m = col.metrics();
    let out = tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(pmacctd)
            .arg("-f")
            .arg(&conf)
            .output()
            .expect("run pmacctd");
        let seen = |m: &FlowMetrics| {
            FlowMetrics::get(&m.records_attributed) + FlowMetrics::get(&m.records_unattributed)
        };
        let least = (records as f64 * (1.0 - loss)).ceil() as u64;
        wait_for(&m, "pmacctd's records", |m| seen(m) >= least);
        // pmacctd has exited: what it sent is in flight or received; let it settle.
        let mut last = seen(&m);
        loop {
            std::thread::sleep(Duration::from_millis(300));
            if seen(&m) == last {
                break;
            }
            last = seen(&m);
        }
        out
    })
    .await
    .unwrap();
    // Its exit status is not part of the contract (under load it has been seen to exit
    // non-zero after exporting everything); what it exported is.
    if !out.status.success() {
        eprintln!("pmacctd exited with {}", out.status);
    }
    let m = col.metrics();
    assert_eq!(FlowMetrics::get(&m.datagrams_malformed), 0, "{m:?}");
    let within =
        |got: u64, want: u64| got <= want && got as f64 >= (want as f64 * (1.0 - loss)).floor();
    let un = FlowMetrics::get(&m.records_unattributed);
    assert!(unattributed.contains(&un), "{un} unattributed: {m:?}");
    col.stop().await;
    let t = sink.totals();
    let (acme, globex) = (t["acme"], t["globex"]);
    assert_eq!(acme.0, 0, "acme sends nothing: {t:?}");
    assert!(
        within(acme.1, acme_out),
        "acme receives the NTP stream, {acme_out} bytes: {t:?}"
    );
    assert_eq!(acme.1 % 468, 0, "whole 468-byte packets: {t:?}");
    assert_eq!(globex.1, 0, "globex receives nothing: {t:?}");
    assert!(
        within(globex.0, globex_in),
        "globex sends the DNS queries, {globex_in} bytes: {t:?}"
    );
}

#[test]
fn flow_minutes_are_stored_as_customer_usage() {
    let dir = tempfile::tempdir().unwrap();
    let c = load(CONFIG, dir.path()).unwrap();
    let store = Store::open(&dir.path().join("bandwatch.db"), &c.retention).unwrap();
    let writer = store.writer(Arc::new(c.topology.clone())).unwrap();
    let start = 1_700_000_100; // a 5-minute boundary
    let slots: Vec<FlowSlot> = (0..5)
        .map(|i| FlowSlot {
            kind: EntityKind::Customer,
            name: "acme".into(),
            slot_start: start + 60 * i,
            in_octets: 1000,
            out_octets: 20_000,
            in_packets: 10,
            out_packets: 20,
            covered_ms: if i == 4 { 30_000 } else { 60_000 },
            shard: None,
        })
        .collect();
    FlowSink::submit_flows(&writer, slots).unwrap();
    writer.flush().unwrap();
    let book = store.usage();
    assert!(book.customers().unwrap().contains(&"acme".to_string()));
    let b = book
        .buckets_5m(
            &Entity::new(EntityKind::Customer, "acme"),
            start,
            start + 300,
        )
        .unwrap()
        .expect("acme's series exists");
    assert_eq!(b.len(), 1);
    assert_eq!((b[0].in_octets, b[0].out_octets), (5000, 100_000));
    assert_eq!(
        b[0].covered_ms, 270_000,
        "a half-covered minute is not full coverage"
    );
}
