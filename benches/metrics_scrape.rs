//! How long one `/metrics` render takes for 10,000 ports (200 switches x 50 ports, 2 product
//! lines, 1,000 customers), measured on the same code the HTTP handler runs.
//!
//!     cargo bench --bench metrics_scrape
//!
//! Before the timed scrapes it measures the memory of one scrape (a fresh snapshot and its
//! exposition): the peak of live heap bytes above what was live before (a counting global
//! allocator, exact) and the growth of the process's resident high-water mark (VmHWM after
//! `5` is written to /proc/self/clear_refs, against VmRSS before; Linux only, noisier, as the
//! allocator may reuse pages it already holds).
//!
//! Target (issue 6): under 50 ms per scrape; rendering happens off the async workers, under a
//! lock held only for the snapshot copy, so polling never waits on a scrape.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use bandwatch::config::{self, SourceFile};
use bandwatch::http::exposition::Format;
use bandwatch::http::live::LiveView;
use bandwatch::http::metrics::{CHUNK_BYTES, render, stream_as};
use bandwatch::poll::{
    Delta, OperStatus, PortOutcome, PortReading, PortResult, Quality, Sweep, SweepStatus,
};

/// The system allocator, counting the bytes live and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to `System` with the same arguments; the counters only
// observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// A field of /proc/self/status in KiB (`VmRSS`, `VmHWM`); `None` off Linux.
fn status_kib(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Peak heap growth (bytes) and resident high-water growth (KiB, when readable) of `scrape`.
fn memory_of(scrape: impl FnOnce()) -> (usize, Option<u64>) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    // Resets VmHWM to the current RSS.
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let rss = status_kib("VmRSS");
    scrape();
    let peak = PEAK.load(Ordering::Relaxed) - base;
    let hwm = match (reset, rss, status_kib("VmHWM")) {
        (true, Some(before), Some(hwm)) => Some(hwm.saturating_sub(before)),
        _ => None,
    };
    (peak, hwm)
}

fn report_memory(what: &str, (peak, hwm): (usize, Option<u64>)) {
    let hwm = hwm.map_or("unknown".to_string(), |k| {
        format!("{:.1} MiB", k as f64 / 1024.0)
    });
    println!(
        "metrics_scrape: one scrape ({what}): peak heap +{:.1} MiB, resident high-water +{hwm}",
        peak as f64 / 1048576.0
    );
}

fn main() {
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
    // Streamed first: the resident figure of the second is lower for the pages the
    // allocator kept from the first.
    report_memory(
        "streamed in chunks, as GET /metrics",
        memory_of(|| {
            std::hint::black_box(stream(&live));
        }),
    );
    report_memory(
        "render into one String",
        memory_of(|| {
            let body = render(&live.snapshot(), &[]);
            std::hint::black_box(body.len());
        }),
    );
    let mut times = Vec::new();
    let mut streamed = Vec::new();
    let mut bytes = 0;
    for _ in 0..21 {
        let t0 = Instant::now();
        let body = render(&live.snapshot(), &[]);
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
        bytes = body.len();
        drop(body);
        let t0 = Instant::now();
        let n = stream(&live);
        streamed.push(t0.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(n, bytes, "the stream has the bytes of the rendering");
    }
    times.sort_by(|a, b| a.total_cmp(b));
    streamed.sort_by(|a, b| a.total_cmp(b));
    println!(
        "metrics_scrape: {} ports, body {:.1} MiB: median {:.1} ms, max {:.1} ms per scrape (target < 50 ms)",
        topo.port_count(),
        bytes as f64 / 1048576.0,
        times[times.len() / 2],
        times[times.len() - 1]
    );
    println!(
        "metrics_scrape: streamed: median {:.1} ms, max {:.1} ms per scrape",
        streamed[streamed.len() / 2],
        streamed[streamed.len() - 1]
    );
}

/// One scrape as `GET /metrics` makes it: a snapshot rendered in chunks into a bounded
/// channel (2 chunks ahead, as the handler's) that another thread drains, as hyper would
/// write them out. The bytes streamed.
fn stream(live: &LiveView) -> usize {
    let (tx, rx) = std::sync::mpsc::sync_channel::<bytes::Bytes>(2);
    let reader = std::thread::spawn(move || rx.iter().map(|c| c.len()).sum::<usize>());
    let whole = stream_as(
        &live.snapshot(),
        &[],
        Format::Text,
        CHUNK_BYTES,
        Box::new(move |c| tx.send(c).is_ok()),
    );
    assert!(whole);
    reader.join().unwrap_or_default()
}
