//! Flow benchmark (plain `main`, `harness = false`, like the others): the collector's work
//! per datagram without the socket: decode (IPFIX, 30 records per datagram, templates cached
//! per exporter), attribute by longest-prefix match over 2,000 customer prefixes and 8
//! product line prefixes, add into the per-minute customer and product line sums and into
//! the attack evidence (10,000 distinct destinations a minute). Prints records per
//! CPU-second of the process, then the peak RSS after a flood of 200,000 datagrams that each
//! define a new template (ids and observation domains cycling through 65,280 x 64
//! combinations) with data for it.
//!
//! Then memory under churn, each figure the process's resident memory and what the caches
//! hold: 30 minutes of 10,000 *new* destinations each (300,000 distinct in all) through the
//! attack evidence and the minute sums; the attack evidence of 100 switches with 10,000 new
//! destinations each a minute (1,000,000 a minute); and a flood of 200,000 datagrams of data
//! for templates never defined (unknown templates, over 64 observation domains); and the
//! worst a flood of new templates can hold: every source, template and field the decoder
//! keeps, filled.
//!
//! Run: `cargo bench --bench flow_ingest`. `BANDWATCH_BENCH_RECORDS` (default 3,000,000) sets
//! how many records are processed.

#[path = "../tests/flow_support/mod.rs"]
mod flow_support;

use std::net::IpAddr;
use std::time::Instant;

use bandwatch::config::{CustomerPrefix, FlowExporter, FlowSettings};
use bandwatch::flow::aggregate::Minutes;
use bandwatch::flow::{Decoder, Evidence, FlowModel};
use flow_support::{Field, ipfix};

const FIELDS: &[Field] = &[
    (8, 4),
    (12, 4),
    (7, 2),
    (11, 2),
    (4, 1),
    (6, 1),
    (1, 8),
    (2, 8),
];
const PER_DATAGRAM: u64 = 30;

fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// The process's resident memory now, MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn main() {
    let total: u64 = std::env::var("BANDWATCH_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000_000);
    let prefixes = (0..2000u32)
        .map(|i| CustomerPrefix {
            prefix: format!("10.{}.{}.0/24", i / 256, i % 256).parse().unwrap(),
            customer: format!("c{i}"),
        })
        .collect();
    let model = FlowModel::new(&FlowSettings {
        listen: vec![],
        exporters: vec![FlowExporter {
            switch: "edge-1".into(),
            address: "192.0.2.1".parse().unwrap(),
            sampling: 1,
        }],
        prefixes,
        // Eight product lines by /16, holding the customers' /24s (both tables are looked up).
        product_line_prefixes: (0..8u32)
            .map(|i| bandwatch::config::ProductLinePrefix {
                prefix: format!("10.{i}.0.0/16").parse().unwrap(),
                product_line: format!("line{i}"),
            })
            .collect(),
    });
    let exporter: IpAddr = "192.0.2.1".parse().unwrap();
    // 400 datagrams over 10,000 destinations in the customers' prefixes and 50,000 sources.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let datagrams: Vec<Vec<u8>> = (0..400)
        .map(|d| {
            let recs: Vec<Vec<u64>> = (0..PER_DATAGRAM)
                .map(|_| {
                    let dst = 0x0a00_0000 + (rnd() % 10_000) as u32 * 53 % (2000 * 256);
                    let src = 0x6440_0000 + (rnd() % 50_000) as u32;
                    vec![
                        u64::from(src),
                        u64::from(dst),
                        443,
                        50_000,
                        6,
                        0x18,
                        15_000,
                        12,
                    ]
                })
                .collect();
            ipfix(1, 256, FIELDS, d == 0, &recs)
        })
        .collect();
    let mut decoder = Decoder::new();
    let mut minutes = Minutes::new(0);
    let evidence = Evidence::new();
    let mut out = Vec::new();
    let (t0, c0) = (Instant::now(), cpu_secs());
    let mut done = 0u64;
    let mut now_ms = 0i64;
    while done < total {
        for d in &datagrams {
            out.clear();
            if decoder.decode(exporter, d, 1, &mut out).is_err() {
                panic!("a datagram did not decode");
            }
            minutes.seen(now_ms, 0);
            for r in &out {
                minutes.add(now_ms, &model, r);
            }
            evidence.record("edge-1", now_ms, &out);
            done += out.len() as u64;
            now_ms += 2; // 30,000 datagrams a minute
        }
        let _ = minutes.take_due(now_ms, 2000, &model, false);
    }
    let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_secs() - c0);
    println!(
        "flow ingest: {done} records in {wall:.2} s wall, {cpu:.2} s CPU: {:.0} records per \
         CPU-second ({:.0} per wall-second)",
        done as f64 / cpu.max(1e-9),
        done as f64 / wall
    );
    let before = peak_rss_mib();
    let fields: &[Field] = &[(8, 4), (12, 4), (1, 8)];
    for i in 0..200_000u32 {
        let template = 256 + (i % 65_280) as u16;
        let domain = i % 64;
        let d = ipfix(domain, template, fields, true, &[vec![1, 2, 3]]);
        out.clear();
        let _ = decoder.decode(exporter, &d, 1, &mut out);
    }
    println!(
        "template flood: peak RSS {before:.0} MiB before, {:.0} MiB after 200,000 new templates",
        peak_rss_mib()
    );

    // 30 minutes, each with 10,000 destinations never seen before (2 records each).
    let churn = Evidence::new();
    let mut sums = Minutes::new(0);
    for minute in 0..30u64 {
        let t = (minute * 60_000) as i64 + 1;
        for chunk in 0..(20_000 / PER_DATAGRAM) {
            let recs: Vec<bandwatch::flow::FlowRecord> = (0..PER_DATAGRAM)
                .map(|i| {
                    let n = (chunk * PER_DATAGRAM + i) / 2;
                    let dst = 0x0a00_0000 + ((minute * 10_000 + n) % (1 << 24)) as u32;
                    bandwatch::flow::FlowRecord {
                        src: IpAddr::from((0x6440_0000u32 + (rnd() % 50_000) as u32).to_be_bytes()),
                        dst: IpAddr::from(dst.to_be_bytes()),
                        src_port: 443,
                        dst_port: 50_000,
                        protocol: 6,
                        tcp_flags: 0x18,
                        bytes: 1500,
                        packets: 1,
                        sampling: 1,
                    }
                })
                .collect();
            minutes_add(&mut sums, t, &model, &recs);
            churn.record("edge-1", t, &recs);
        }
        let _ = sums.take_due(t + 60_000, 2000, &model, false);
        if minute == 2 || minute == 29 {
            let (m, d, p) = churn.entries();
            println!(
                "destination churn: after {} minutes ({} distinct destinations): peak RSS {:.0} \
                 MiB; evidence holds {m} switch-minutes, {d} destinations, {p} port pairs",
                minute + 1,
                (minute + 1) * 10_000,
                peak_rss_mib()
            );
        }
    }

    // An attack across many switches: 100 exporters, each with 10,000 new destinations a
    // minute (1,000,000 a minute in all), for 5 minutes.
    drop(churn);
    drop(sums);
    let before = rss_mib();
    let wide = Evidence::new();
    for minute in 0..5u64 {
        let t = (minute * 60_000) as i64 + 1;
        for sw in 0..100u64 {
            let recs: Vec<bandwatch::flow::FlowRecord> = (0..10_000u64)
                .map(|n| bandwatch::flow::FlowRecord {
                    src: IpAddr::from((0x6440_0000u32 + (rnd() % 50_000) as u32).to_be_bytes()),
                    dst: IpAddr::from(
                        ((0x0a00_0000 + (minute * 1_000_000 + sw * 10_000 + n)) as u32)
                            .to_be_bytes(),
                    ),
                    src_port: (n % 4096) as u16,
                    dst_port: 50_000,
                    protocol: 17,
                    tcp_flags: 0,
                    bytes: 1500,
                    packets: 1,
                    sampling: 1,
                })
                .collect();
            wide.record(&format!("edge-{sw}"), t, &recs);
        }
    }
    let (m, d, p) = wide.entries();
    println!(
        "evidence over 100 switches x 10,000 new destinations a minute, 5 minutes: RSS \
         {before:.0} MiB before, {:.0} MiB after (peak {:.0} MiB); evidence holds {m} \
         switch-minutes, {d} destinations, {p} port pairs",
        rss_mib(),
        peak_rss_mib()
    );

    // The worst a flood of new templates can do: every source the decoder keeps (and some
    // more), each with every template it keeps (and some more), each of the most fields
    // accepted.
    use bandwatch::flow::decode::{MAX_FIELDS, MAX_SOURCES, MAX_TEMPLATES};
    let big: Vec<Field> = (0..MAX_FIELDS as u16).map(|i| (1 + i % 200, 4)).collect();
    let big_vals = vec![7u64; MAX_FIELDS];
    let before = rss_mib();
    let mut flood = 0u64;
    for domain in 0..(MAX_SOURCES as u32 + 64) {
        for t in 0..(MAX_TEMPLATES as u16 + 8) {
            let d = ipfix(domain, 256 + t, &big, true, std::slice::from_ref(&big_vals));
            out.clear();
            let _ = decoder.decode(exporter, &d, 1, &mut out);
            flood += 1;
        }
    }
    println!(
        "worst template flood: {flood} datagrams, each a new {MAX_FIELDS}-field template, over \
         {} observation domains: RSS {before:.0} MiB before, {:.0} MiB after (peak {:.0} MiB)",
        MAX_SOURCES + 64,
        rss_mib(),
        peak_rss_mib()
    );

    // Data for templates nobody defined: counted and dropped, nothing kept.
    let unknown_fields: &[Field] = &[(8, 4), (12, 4), (1, 8)];
    let before = peak_rss_mib();
    let mut unknown = 0u64;
    for i in 0..200_000u32 {
        let template = 256 + (i % 65_280) as u16;
        let d = ipfix(
            i % 64,
            template,
            unknown_fields,
            false,
            &vec![vec![1, 2, 3]; 20],
        );
        out.clear();
        if let Ok(x) = decoder.decode(exporter, &d, 1, &mut out) {
            unknown += x.unknown_template_sets;
        }
    }
    println!(
        "unknown-template flood: {unknown} data sets of unknown templates counted; peak RSS \
         {before:.0} MiB before, {:.0} MiB after 200,000 datagrams",
        peak_rss_mib()
    );
}

fn minutes_add(
    sums: &mut Minutes,
    t: i64,
    model: &FlowModel,
    recs: &[bandwatch::flow::FlowRecord],
) {
    sums.seen(t, 0);
    for r in recs {
        sums.add(t, model, r);
    }
}
