//! Fleet benchmark: one poller polls a simulated fleet (200 switches x 48 ports every 10 s by
//! default) served by `bandwatch simulate` in another process, and reports:
//! - poller CPU milliseconds per 1,000 port-samples (this process only: the poller),
//! - peak RSS of the poller process,
//! - how late sweeps start (p50, p99, max after warm-up),
//! - the simulator's CPU, as a fraction of one core.
//!
//! Run: `cargo bench --bench poll_fleet` (release build). Knobs (environment):
//! `BW_BENCH_SWITCHES` (200), `BW_BENCH_PORTS` (48), `BW_BENCH_INTERVAL` (10s),
//! `BW_BENCH_WARMUP_SECS` (25), `BW_BENCH_SECS` (60), `BW_BENCH_RUNTIME` (`multi`: 2 worker
//! threads like the daemon; `current`: one thread), `BW_BENCH_PORT` (first UDP port of the
//! simulated fleet; default derived from the process id), so that two benches can run side
//! by side for an A/B comparison under the same load. Nothing is asserted: targets
//! (<= 7 ms CPU per 1,000 samples, <= 40 MiB RSS at 10,000 ports, no sweep > 100 ms late,
//! simulator < 0.5 core at 10,000 ports) are read from the output.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bandwatch::config;
use bandwatch::poll::{self, PortOutcome, Sweep};
use tokio::sync::mpsc;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// utime + stime of a process, in milliseconds (from /proc/PID/stat, 100 Hz ticks).
fn cpu_ms(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields after the command: state is 0, utime is 11, stime is 12.
    (ticks(11) + ticks(12)) * 10.0
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is expected.
    let switches: usize = env_or("BW_BENCH_SWITCHES", 200);
    let ports: usize = env_or("BW_BENCH_PORTS", 48);
    let interval: String = env_or("BW_BENCH_INTERVAL", "10s".to_string());
    let warmup = Duration::from_secs(env_or("BW_BENCH_WARMUP_SECS", 25));
    let measure = Duration::from_secs(env_or("BW_BENCH_SECS", 60));

    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("bench.toml");
    let base: usize = env_or(
        "BW_BENCH_PORT",
        30000 + (std::process::id() as usize % 20000),
    );
    let mut sim = Command::new(env!("CARGO_BIN_EXE_bandwatch"))
        .args(["simulate", "--switches", &switches.to_string()])
        .args(["--ports", &ports.to_string(), "--interval", &interval])
        .arg("--listen")
        .arg(format!("127.0.0.1:{base}"))
        .arg("--write-config")
        .arg(&cfg_path)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the simulator");
    let sim_pid = sim.id().to_string();
    let stderr = sim.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    if !lines.any(|l| l.is_ok_and(|l| l.starts_with("serving"))) {
        let _ = sim.kill();
        panic!("the simulator did not start");
    }
    std::thread::spawn(move || for _ in lines {});

    let cfg = config::load(&cfg_path)
        .expect("generated config loads")
        .config;
    let total_ports = cfg.topology.port_count();
    // BW_BENCH_RUNTIME=current runs the poller on a single-threaded runtime.
    let current = std::env::var("BW_BENCH_RUNTIME").as_deref() == Ok("current");
    let rt = if current {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    };
    let report = rt.block_on(async move {
        let (tx, mut rx) = mpsc::channel::<Sweep>(4096);
        let poller = poll::spawn(
            Arc::new(cfg.topology.clone()),
            cfg.daemon.max_concurrent_polls,
            tx,
        );
        let metrics = poller.metrics.clone();
        // Looked up once: the harness should cost next to nothing per sweep.
        let by_name: std::collections::HashMap<String, Arc<poll::SwitchMetrics>> = metrics.switches().into_iter().collect();
        let started = Instant::now();
        let mut measuring = false;
        let (mut cpu0, mut sim0, mut t0) = (0.0, 0.0, Instant::now());
        let requests = |m: &poll::PollMetrics| -> u64 {
            m.switches()
                .iter()
                .map(|(_, s)| s.requests.load(Ordering::Relaxed))
                .sum()
        };
        let (mut req0, mut sweeps) = (0u64, 0u64);
        let mut samples = 0u64;
        let mut unknown = 0u64;
        let mut late_us: Vec<u64> = Vec::new();
        while let Some(sweep) = rx.recv().await {
            let el = started.elapsed();
            if !measuring && el >= warmup {
                measuring = true;
                cpu0 = cpu_ms("self");
                sim0 = cpu_ms(&sim_pid);
                t0 = Instant::now();
                req0 = requests(&metrics);
            }
            if measuring {
                if el >= warmup + measure {
                    break;
                }
                sweeps += 1;
                for p in &sweep.ports {
                    match p.outcome {
                        PortOutcome::Reading(_) => samples += 1,
                        PortOutcome::Unknown(_) => unknown += 1,
                    }
                }
                if let Some(m) = by_name.get(&*sweep.switch) {
                    late_us.push(m.last_start_lateness_us.load(Ordering::Relaxed));
                }
            }
        }
        let wall = t0.elapsed().as_secs_f64();
        let cpu = cpu_ms("self") - cpu0;
        let reqs = requests(&metrics) - req0;
        let sim_cpu = cpu_ms(&sim_pid) - sim0;
        poller.shutdown();
        late_us.sort_unstable();
        let errors: u64 = metrics
            .switches()
            .iter()
            .map(|(_, m)| m.errors.load(Ordering::Relaxed) + m.timeouts.load(Ordering::Relaxed))
            .sum();
        format!(
            "fleet: {switches} switches x {ports} ports ({total_ports} configured + alias-attributed), interval {interval}\n\
             measured {wall:.1} s after {:.0} s warm-up: {samples} port-samples, {unknown} unknown, {errors} SNMP errors/timeouts in total\n\
             SNMP requests: {reqs} ({:.1} per sweep)\n\
             poller CPU: {cpu:.0} ms = {:.2} ms per 1,000 port-samples ({:.1}% of one core)\n\
             poller peak RSS: {:.1} MiB\n\
             sweep start lateness: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} sweeps)\n\
             simulator CPU: {:.1}% of one core for {} ports",
            warmup.as_secs_f64(),
            reqs as f64 / sweeps.max(1) as f64,
            cpu / (samples.max(1) as f64 / 1000.0),
            cpu / wall / 10.0,
            peak_rss_kib() as f64 / 1024.0,
            percentile(&late_us, 0.5) as f64 / 1000.0,
            percentile(&late_us, 0.99) as f64 / 1000.0,
            late_us.last().copied().unwrap_or(0) as f64 / 1000.0,
            late_us.len(),
            sim_cpu / wall / 10.0,
            switches * ports,
        )
    });
    let _ = sim.kill();
    let _ = sim.wait();
    println!("{report}");
}
