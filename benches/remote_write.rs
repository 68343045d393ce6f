//! The CPU cost of Prometheus remote write: one collection of 10,000 ports (200 switches x 50
//! ports, 2 product lines, 1,000 customers; 10 series per port plus the aggregates) through
//! `/metrics`'s own code, cut into requests, protobuf-encoded and snappy-compressed, queued
//! on disk, and POSTed to a local HTTP sink that answers 204.
//!
//!     cargo bench --bench remote_write
//!
//! Prints the CPU of a collection (cold and warm label cache) and of compression, samples/s
//! through encode+compress, and the process CPU per 1,000 port-samples (one port polled
//! once) for the whole path, the sink's own CPU included (an upper bound). CPU times come
//! from /proc/self/stat (10 ms ticks), summed over 10 rounds.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bandwatch::config::{self, SourceFile};
use bandwatch::http::live::LiveView;
use bandwatch::poll::{
    Delta, OperStatus, PortOutcome, PortReading, PortResult, Quality, Sweep, SweepStatus,
};
use bandwatch::remote_write::{collect::Collector, queue::DiskQueue, wire};

fn fleet() -> (LiveView, usize) {
    let (switches, ports) = (200usize, 50usize);
    let mut t = String::from(
        "[snmp.default]\nversion = \"2c\"\ncommunity = \"${X:-public}\"\n[[site]]\nname = \"a\"\n[[site]]\nname = \"b\"\n\
         [[product_line]]\nname = \"cdn\"\n[[product_line]]\nname = \"cloud\"\n",
    );
    for s in 0..switches {
        let _ = write!(
            t,
            "[[switch]]\nname = \"sw{s}\"\nsite = \"{}\"\naddress = \"127.0.0.1:{}\"\n",
            if s % 2 == 0 { "a" } else { "b" },
            20000 + s
        );
        for p in 0..ports {
            let pl = if p < 2 {
                format!(
                    "product_line = \"{}\"\nrole = \"uplink\"\n",
                    if p == 0 { "cdn" } else { "cloud" }
                )
            } else {
                String::new()
            };
            let _ = write!(
                t,
                "[[port]]\nswitch = \"sw{s}\"\nname = \"xe-0/0/{p}\"\n{pl}"
            );
        }
    }
    for c in 0..1000 {
        let (s, p) = (c % switches, 2 + c / switches);
        let _ = write!(
            t,
            "[[customer]]\nid = \"c{c}\"\nports = [{{ switch = \"sw{s}\", name = \"xe-0/0/{p}\" }}]\n"
        );
    }
    let src = SourceFile {
        path: "bench.toml".into(),
        text: t.into(),
    };
    let topo = match config::load_source(&src) {
        Ok(l) => l.config.topology,
        Err(d) => panic!("{d}"),
    };
    let live = LiveView::new(Arc::new(topo.clone()));
    for sw in &topo.switches {
        let ports = sw
            .ports
            .iter()
            .map(|p| PortResult {
                port: p.name.clone(),
                outcome: PortOutcome::Reading(PortReading {
                    if_index: 1,
                    oper_status: OperStatus::Up,
                    speed_bps: 10_000_000_000,
                    quality: Quality::Ok,
                    delta: Some(Delta {
                        dt_ms: 10_000,
                        in_octets: 123_456_789,
                        out_octets: 98_765_432,
                        in_packets: Some(1000),
                        out_packets: Some(900),
                    }),
                }),
            })
            .collect();
        live.apply(&Sweep {
            switch: sw.name.clone().into(),
            time: jiff::Timestamp::now(),
            status: SweepStatus::Ok,
            sys_uptime: Some(1),
            ports,
        });
    }
    (live, topo.port_count())
}

/// Process CPU time (user + system) in seconds, from /proc/self/stat.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

/// A keep-alive HTTP/1.1 sink on a thread: reads each request and answers 204.
fn sink() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut w = s.try_clone().unwrap();
                let mut r = BufReader::new(s);
                loop {
                    let mut len = 0usize;
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.to_ascii_lowercase();
                        if let Some(v) = l.strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    if w.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    port
}

fn main() {
    let (live, ports) = fleet();
    let families: Vec<String> = bandwatch::config::remote_write::defaults::FAMILIES
        .iter()
        .map(|s| s.to_string())
        .collect();
    let external = [("cluster".to_string(), "bj".to_string())]
        .into_iter()
        .collect();
    let rounds = 10;
    let per_send = bandwatch::config::remote_write::defaults::MAX_SAMPLES_PER_SEND;
    let mut collector = Collector::new(&families, &external);

    // Collection with a cold label cache (the first after a start), then warm ones.
    let snap = live.snapshot();
    let c0 = cpu_secs();
    let chunks = collector.collect(&snap, &[], 1, per_send);
    let cold = cpu_secs() - c0;
    let samples: u64 = chunks.iter().map(|c| c.samples).sum();
    let c0 = cpu_secs();
    for i in 0..rounds {
        let chunks = collector.collect(&snap, &[], 2 + i, per_send);
        assert_eq!(chunks.iter().map(|c| c.samples).sum::<u64>(), samples);
    }
    let warm = (cpu_secs() - c0) / rounds as f64;

    // Compression alone.
    let c0 = cpu_secs();
    let mut raw = 0usize;
    let mut bytes = 0usize;
    for _ in 0..rounds {
        for c in &chunks {
            raw += c.request.len();
            bytes += wire::compress(&c.request).unwrap().len();
        }
    }
    let comp = (cpu_secs() - c0) / rounds as f64;
    println!(
        "remote_write: {samples} samples a collection of {ports} ports: collect+encode {:.1} ms CPU warm ({:.1} ms cold), compress {:.1} ms CPU; encode+compress {:.2} million samples/s; {:.1} B per sample encoded, {:.1} B compressed",
        warm * 1000.0,
        cold * 1000.0,
        comp * 1000.0,
        samples as f64 / (warm + comp) / 1e6,
        raw as f64 / (samples as f64 * rounds as f64),
        bytes as f64 / (samples as f64 * rounds as f64)
    );

    // The whole path: snapshot, collect, encode, compress, queue on disk, send to the sink,
    // delete.
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = DiskQueue::open(dir.path(), 10_000_000).unwrap();
    let q = Arc::new(Mutex::new(q));
    let port = sink();
    let target = bandwatch::config::remote_write::RemoteWrite {
        name: "bench".into(),
        url: format!("http://127.0.0.1:{port}/api/v1/write"),
        headers: Default::default(),
        external_labels: external.clone(),
        interval: bandwatch::config::Duration::from_secs(10),
        families: families.clone(),
        timeout: bandwatch::config::Duration::from_secs(10),
        queue: Default::default(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut client = bandwatch::remote_write::client::Client::new(&target).unwrap();
    let cpu0 = cpu_secs();
    let t0 = Instant::now();
    let mut sent = 0u64;
    for i in 0..rounds {
        let chunks = collector.collect(&live.snapshot(), &[], 100 + i, per_send);
        bandwatch::remote_write::enqueue(&q, chunks).unwrap();
        loop {
            let head = {
                let q = q.lock().unwrap();
                q.front().map(|s| (s, q.read(s).unwrap()))
            };
            let Some((seg, body)) = head else { break };
            let o = rt.block_on(client.send(bytes::Bytes::from(body)));
            assert_eq!(o, bandwatch::remote_write::client::Outcome::Sent);
            sent += seg.samples;
            q.lock().unwrap().remove(seg);
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu0;
    assert_eq!(sent, samples * rounds as u64);
    let per_1000 = cpu / rounds as f64 / (ports as f64 / 1000.0) * 1000.0;
    println!(
        "remote_write: whole path {:.1} ms wall and {:.1} ms CPU per collection = {:.2} ms CPU per 1,000 port-samples (the sink's CPU included)",
        wall / rounds as f64 * 1000.0,
        cpu / rounds as f64 * 1000.0,
        per_1000
    );
}
