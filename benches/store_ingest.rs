//! Store benchmark (plain `main`, `harness = false`: the figures asked for are a sustained
//! rate over minutes of data, bytes on disk and one query's time, which criterion's
//! per-iteration model does not fit, and it adds no dependency).
//!
//! Run: `cargo bench --bench store_ingest` (release). Prints:
//! 1. ingest rate in port-samples/s, sweeps of 10,000 ports (10 switches x 1,000 ports, each
//!    polled every 60 s at its own phase), rollups and aggregates on, two ways: one
//!    transaction per sweep (the writer is waited for after every sweep) and sustained load
//!    (everything submitted at once; the writer batches);
//! 2. bytes on disk per raw port-sample and per 5-minute rollup row (the tables are
//!    `WITHOUT ROWID`, so the primary key is the table: no extra index);
//! 3. time of a 30-day, 5-minute query for one product line of 500 ports.
//!
//! `BANDWATCH_BENCH_MINUTES` (default 120) sets how many minutes of sweeps are ingested.
//!
//! `BANDWATCH_BENCH_FLEET=SWITCHESxPORTSxSECONDS` (e.g. `200x48x10`) runs only the daemon's
//! shape instead: that fleet (one site, 15 customers over the ports, the last two ports
//! uplinks, as on `benches/rig`), each switch swept every SECONDS at its own phase, one
//! transaction per second of sweep time (the writer's batch window was 1 s; it is 2 s since
//! the open buckets went into memory, and the bench keeps 1 s to compare with its figures), for
//! `BANDWATCH_BENCH_MINUTES` minutes (default 20); it prints the writer's CPU per 1,000
//! port-samples over the second half, when every port has history (a table keyed by series
//! then costs a page per port and commit, which an empty database hides).
//! Ingest is reported both per wall-clock second and per CPU-second of the process (user +
//! system, from /proc): on a shared machine the wall-clock rate mostly measures the
//! neighbours.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use bandwatch::config::{
    Customer, Duration, Port, PortKey, PortLabels, ProductLine, Retention, Site, SnmpProfile,
    Switch, Topology,
};
use bandwatch::poll::{
    Delta, OperStatus, PortOutcome, PortReading, PortResult, Quality, Sweep, SweepStatus,
};
use bandwatch::store::{Entity, EntityKind, Metric, RangeQuery, Store, WriterOptions};
use jiff::Timestamp;

const SWITCHES: usize = 10;
const PORTS_PER_SWITCH: usize = 1000;
const PRODUCT_LINES: usize = 40;

/// A tiny deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn fleet() -> Topology {
    let mut t = Topology {
        sites: BTreeMap::new(),
        ..Topology::default()
    };
    for site in ["bj-1", "sh-1"] {
        t.sites.insert(
            site.into(),
            Site {
                name: site.into(),
                description: None,
                switches: Vec::new(),
            },
        );
    }
    for s in 0..SWITCHES {
        let site = if s % 2 == 0 { "bj-1" } else { "sh-1" };
        let name = format!("{site}-sw{s}");
        let mut sw = Switch {
            name: name.clone(),
            site: site.into(),
            address: "127.0.0.1:161".into(),
            profile: "default".into(),
            snmp: SnmpProfile::default(),
            interval: Duration::from_secs(60),
            rediscover: Duration::from_secs(3600),
            alias_patterns: Vec::new(),
            ports: Vec::new(),
            description: None,
            shard: None,
        };
        for p in 0..PORTS_PER_SWITCH {
            let pname = format!("Ethernet{}/{}", p / 48 + 1, p % 48 + 1);
            let pl = format!("pl{}", (s * PORTS_PER_SWITCH + p) % PRODUCT_LINES);
            let cust = format!("cust{}", (s * PORTS_PER_SWITCH + p) / 5);
            let key = PortKey {
                switch: name.clone().into(),
                port: pname.clone().into(),
            };
            t.product_lines
                .entry(pl.clone())
                .or_insert_with(|| ProductLine {
                    name: pl.clone(),
                    owners: Vec::new(),
                    ports: Vec::new(),
                    description: None,
                })
                .ports
                .push(key.clone());
            t.customers
                .entry(cust.clone())
                .or_insert_with(|| Customer {
                    id: cust.clone(),
                    name: cust.clone(),
                    account_manager: None,
                    ports: Vec::new(),
                })
                .ports
                .push(key);
            sw.ports.push(Port {
                name: pname.clone().into(),
                labels: PortLabels {
                    site: site.into(),
                    switch: name.clone().into(),
                    port: pname.into(),
                    product_line: Some(pl.into()),
                    customer: Some(cust.into()),
                    role: None,
                },
                max_rate: None,
                attributed: false,
                description: None,
            });
        }
        if let Some(site) = t.sites.get_mut(site) {
            site.switches.push(name);
        }
        t.switches.push(std::sync::Arc::new(sw));
    }
    t
}

/// Port rates: log-uniform between 100 kbit/s and 2 Gbit/s, with a daily rhythm and noise.
fn sweeps(t: &Topology, start: i64, minutes: i64) -> Vec<Sweep> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let base_rate: Vec<f64> = (0..SWITCHES * PORTS_PER_SWITCH)
        .map(|_| 1e5 * (2e9f64 / 1e5).powf(rng.unit()))
        .collect();
    let mut out = Vec::new();
    for m in 0..minutes {
        for (s, sw) in t.switches.iter().enumerate() {
            let phase = (s as i64 * 6_000) % 60_000;
            let end_ms = (start + 60 * m) * 1000 + phase + (rng.next() % 400) as i64;
            let dt_ms = 60_000 + rng.next() % 300;
            let day = ((end_ms / 1000) % 86_400) as f64 / 86_400.0;
            let rhythm = 1.0 + 0.3 * (day * std::f64::consts::TAU).sin();
            let ports = sw
                .ports
                .iter()
                .enumerate()
                .map(|(p, port)| {
                    let bps =
                        base_rate[s * PORTS_PER_SWITCH + p] * rhythm * (0.9 + 0.2 * rng.unit());
                    let in_octets = (bps / 8.0 * dt_ms as f64 / 1000.0) as u64;
                    let out_octets = in_octets / 3 + rng.next() % 1000;
                    PortResult {
                        port: port.name.clone(),
                        outcome: PortOutcome::Reading(PortReading {
                            if_index: p as u32 + 1,
                            oper_status: OperStatus::Up,
                            speed_bps: if base_rate[s * PORTS_PER_SWITCH + p] > 1e9 {
                                10_000_000_000
                            } else {
                                1_000_000_000
                            },
                            quality: Quality::Ok,
                            delta: Some(Delta {
                                dt_ms,
                                in_octets,
                                out_octets,
                                in_packets: Some(in_octets / 700),
                                out_packets: Some(out_octets / 400),
                            }),
                        }),
                    }
                })
                .collect();
            out.push(Sweep {
                switch: sw.name.clone().into(),
                time: Timestamp::from_millisecond(end_ms).unwrap_or(Timestamp::UNIX_EPOCH),
                status: SweepStatus::Ok,
                sys_uptime: Some(1),
                ports,
            });
        }
    }
    out
}

fn forever() -> Retention {
    Retention {
        raw: None,
        rollup_5m: None,
        rollup_1h: None,
        rollup_1d: None,
    }
}

fn ingest(label: &str, per_sweep: bool, minutes: i64) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("bandwatch-bench-{}-{label}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("bandwatch.db");
    let topo = Arc::new(fleet());
    let now = Timestamp::now().as_second();
    let start = now - now.rem_euclid(86_400) - 86_400;
    let all = sweeps(&topo, start, minutes);
    let samples: usize = all.iter().map(|s| s.ports.len()).sum();
    let store = Store::open(&db, &forever()).unwrap();
    let w = store
        .writer_with(
            topo,
            WriterOptions {
                channel_capacity: 4096,
                ..WriterOptions::default()
            },
        )
        .unwrap();
    let cpu0 = cpu_secs();
    let t0 = Instant::now();
    for s in all {
        w.submit(s).unwrap();
        if per_sweep {
            w.flush().unwrap();
        }
    }
    w.flush().unwrap();
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu0;
    let m = w.metrics();
    println!(
        "ingest ({label}): {samples} port-samples in {secs:.2} s = {:.0} port-samples/s; \
         {cpu:.2} CPU-s = {:.0} port-samples per CPU-second ({} transactions, write time {:.2} s)",
        samples as f64 / secs,
        samples as f64 / cpu.max(1e-3),
        m.transactions_total.get(),
        m.write_seconds_total()
    );
    w.shutdown();
    db
}

/// CPU seconds (user + system) of this process so far, from /proc (the machine is shared,
/// so wall-clock rates alone depend on the neighbours' load).
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the command name; 100 Hz ticks.
    (tick(11) + tick(12)) / 100.0
}

fn sizes(db: &std::path::Path) {
    let c = rusqlite::Connection::open(db).unwrap();
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
    // `port_sample` and `rollup_5m` are views over a table keyed by series and one keyed by
    // time (recent rows): their sizes are the two tables'.
    let parts = |table: &str| -> Vec<String> {
        match table {
            "port_sample" | "rollup_5m" => {
                vec![format!("{table}_by_series"), format!("{table}_recent")]
            }
            t => vec![t.to_string()],
        }
    };
    for table in ["port_sample", "agg_slot", "rollup_5m", "rollup_1h"] {
        let (mut bytes, mut payload, mut unused) = (0i64, 0i64, 0i64);
        for part in parts(table) {
            let (b, p, u): (i64, i64, i64) = c
                .query_row(
                    "SELECT coalesce(sum(pgsize), 0), coalesce(sum(payload), 0), \
                     coalesce(sum(unused), 0) FROM dbstat WHERE name = ?1",
                    [part],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .unwrap();
            bytes += b;
            payload += p;
            unused += u;
        }
        let rows: i64 = c
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap();
        let n = rows.max(1) as f64;
        println!(
            "  {table:<12} {rows:>9} rows {bytes:>12} bytes = {:.1} bytes/row (record {:.1}, \
             free space {:.1})",
            bytes as f64 / n,
            payload as f64 / n,
            unused as f64 / n
        );
    }
    let total = std::fs::metadata(db).map(|m| m.len()).unwrap_or(0);
    println!("  database file: {total} bytes");
}

/// 30 days of 5-minute rollups for a product line of 500 ports (and the ports themselves,
/// so the table has a realistic size), then the product line's 30-day query at 5 minutes.
fn query_bench() {
    let dir = std::env::temp_dir().join(format!("bandwatch-bench-{}-query", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("bandwatch.db");
    let store = Store::open(&db, &forever()).unwrap();
    let now = Timestamp::now().as_second();
    let end = now - now.rem_euclid(300);
    let start = end - 30 * 86_400;
    {
        let mut c = rusqlite::Connection::open(&db).unwrap();
        let tx = c.transaction().unwrap();
        tx.execute(
            "INSERT INTO series(id, kind, name, product_line, created) VALUES (1, 'product_line', 'cdn', 'cdn', 0)",
            [],
        )
        .unwrap();
        for p in 0..500 {
            tx.execute(
                "INSERT INTO series(id, kind, name, switch, port, product_line, created) \
                 VALUES (?1, 'port', ?2, 'sw', ?3, 'cdn', 0)",
                rusqlite::params![p + 2, format!("sw/Ethernet1/{p}"), format!("Ethernet1/{p}")],
            )
            .unwrap();
        }
        let mut ins = tx
            .prepare("INSERT INTO rollup_5m_by_series VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6)")
            .unwrap();
        let mut rng = Rng(42);
        for sid in 1..=501i64 {
            let scale = if sid == 1 { 500.0 } else { 1.0 };
            for b in start / 300..end / 300 {
                let o = (scale * 3e8 * (0.5 + rng.unit())) as i64;
                ins.execute(rusqlite::params![
                    sid,
                    b,
                    o,
                    o / 3,
                    o * 8 / 300_000,
                    o * 8 / 300_000
                ])
                .unwrap();
            }
        }
        drop(ins);
        tx.commit().unwrap();
    }
    let r = store.reader();
    let q = RangeQuery::new(
        Entity::new(EntityKind::ProductLine, "cdn"),
        Metric::InBps,
        Timestamp::from_second(start).unwrap(),
        Timestamp::from_second(end).unwrap(),
    )
    .step(300);
    let mut times = Vec::new();
    let mut points = 0;
    for _ in 0..21 {
        let t0 = Instant::now();
        let s = r.range(&q).unwrap();
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
        points = s.points.iter().filter(|p| p.value.is_some()).count();
    }
    let first = times[0];
    times.sort_by(f64::total_cmp);
    println!(
        "query: product line of 500 ports, 30 days at 5 min ({points} points, tier 5m): \
         first {first:.1} ms, median {:.1} ms, max {:.1} ms",
        times[times.len() / 2],
        times[times.len() - 1]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The daemon's shape (see the module's documentation): CPU ms per 1,000 port-samples of the
/// writer over the second half of the run.
fn fleet_shaped(spec: &str, minutes: i64) {
    let dims: Vec<i64> = spec.split('x').filter_map(|v| v.parse().ok()).collect();
    let [switches, ports, every] = dims[..] else {
        panic!("BANDWATCH_BENCH_FLEET is SWITCHESxPORTSxSECONDS, not {spec}");
    };
    const CUSTOMERS: [&str; 15] = [
        "acme",
        "globex",
        "initech",
        "umbrella",
        "hooli",
        "stark",
        "wayne",
        "wonka",
        "tyrell",
        "cyberdyne",
        "soylent",
        "aperture",
        "vandelay",
        "oscorp",
        "duff",
    ];
    let mut t = Topology::default();
    t.sites.insert(
        "rig".into(),
        Site {
            name: "rig".into(),
            description: None,
            switches: Vec::new(),
        },
    );
    for i in 1..=switches {
        let name = format!("sw{i:03}");
        let mut sw = Switch {
            name: name.clone(),
            site: "rig".into(),
            address: "127.0.0.1:161".into(),
            profile: "default".into(),
            snmp: SnmpProfile::default(),
            interval: Duration::from_secs(every as u64),
            rediscover: Duration::from_secs(3600),
            alias_patterns: Vec::new(),
            ports: Vec::new(),
            description: None,
            shard: None,
        };
        for k in 1..=ports {
            let pname = format!("swp{k}");
            let key = PortKey {
                switch: name.clone().into(),
                port: pname.clone().into(),
            };
            let cust =
                (k <= ports - 2).then(|| CUSTOMERS[((i * 31 + k * 7) % 15) as usize].to_string());
            if let Some(c) = &cust {
                t.customers
                    .entry(c.clone())
                    .or_insert_with(|| Customer {
                        id: c.clone(),
                        name: c.clone(),
                        account_manager: None,
                        ports: Vec::new(),
                    })
                    .ports
                    .push(key);
            }
            sw.ports.push(Port {
                name: pname.clone().into(),
                labels: PortLabels {
                    site: "rig".into(),
                    switch: name.clone().into(),
                    port: pname.into(),
                    product_line: None,
                    customer: cust.map(Into::into),
                    role: Some(if k > ports - 2 { "uplink" } else { "server" }.into()),
                },
                max_rate: None,
                attributed: false,
                description: None,
            });
        }
        if let Some(site) = t.sites.get_mut("rig") {
            site.switches.push(name);
        }
        t.switches.push(Arc::new(sw));
    }
    let topo = Arc::new(t);
    let dir = std::env::temp_dir().join(format!("bandwatch-bench-{}-fleet", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::open(&dir.join("bandwatch.db"), &forever()).unwrap();
    let w = store
        .writer_with(topo.clone(), WriterOptions::default())
        .unwrap();
    let now = Timestamp::now().as_second();
    let start = now - now.rem_euclid(86_400) - 86_400;
    let mut rng = Rng(7);
    let total_secs = minutes * 60;
    let (mut samples, mut cpu_half, mut samples_half) = (0u64, 0.0, 0u64);
    let cpu0 = cpu_secs();
    let t0 = Instant::now();
    for sec in 0..total_secs {
        if sec == total_secs / 2 {
            cpu_half = cpu_secs();
            samples_half = samples;
        }
        for (i, sw) in topo.switches.iter().enumerate() {
            // Switch i answers at phase i * every / switches within each interval.
            let phase_ms = i as i64 * every * 1000 / switches;
            let t_ms = sec * 1000;
            let due = (t_ms - phase_ms).rem_euclid(every * 1000) < 1000 && t_ms >= phase_ms;
            if !due {
                continue;
            }
            let end_ms = (start + sec) * 1000 + (phase_ms % 1000) + (rng.next() % 50) as i64;
            let dt_ms = (every * 1000) as u64 + rng.next() % 20;
            let ports = sw
                .ports
                .iter()
                .enumerate()
                .map(|(p, port)| {
                    let in_octets = 1_000 + rng.next() % 10_000_000 + p as u64;
                    PortResult {
                        port: port.name.clone(),
                        outcome: PortOutcome::Reading(PortReading {
                            if_index: p as u32 + 2,
                            oper_status: OperStatus::Up,
                            speed_bps: 10_000_000_000,
                            quality: Quality::Ok,
                            delta: Some(Delta {
                                dt_ms,
                                in_octets,
                                out_octets: in_octets / 2,
                                in_packets: Some(in_octets / 700),
                                out_packets: Some(in_octets / 1400),
                            }),
                        }),
                    }
                })
                .collect::<Vec<_>>();
            samples += ports.len() as u64;
            w.submit(Sweep {
                switch: sw.name.clone().into(),
                time: Timestamp::from_millisecond(end_ms).unwrap_or(Timestamp::UNIX_EPOCH),
                status: SweepStatus::Ok,
                sys_uptime: Some(1),
                ports,
            })
            .unwrap();
        }
        // One transaction per second of sweep time (the daemon's batch window is 2 s).
        w.flush().unwrap();
    }
    let cpu = cpu_secs() - cpu0;
    let cpu_second = cpu_secs() - cpu_half;
    let n2 = (samples - samples_half).max(1);
    println!(
        "fleet {switches}x{ports} every {every}s, {minutes} min of sweeps ({samples} port-samples, \
         {:.1} s wall, {cpu:.1} CPU-s): second half {:.2} ms CPU per 1,000 port-samples \
         (whole run {:.2}; sweep building included)",
        t0.elapsed().as_secs_f64(),
        cpu_second * 1e6 / n2 as f64,
        cpu * 1e6 / samples.max(1) as f64
    );
    w.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    if let Ok(spec) = std::env::var("BANDWATCH_BENCH_FLEET") {
        let minutes = std::env::var("BANDWATCH_BENCH_MINUTES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20);
        fleet_shaped(&spec, minutes);
        return;
    }
    let minutes: i64 = std::env::var("BANDWATCH_BENCH_MINUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120);
    println!(
        "store benchmark: {} ports ({SWITCHES} switches x {PORTS_PER_SWITCH}), {minutes} minutes of 60 s sweeps, \
         {PRODUCT_LINES} product lines, {} customers, 2 sites",
        SWITCHES * PORTS_PER_SWITCH,
        SWITCHES * PORTS_PER_SWITCH / 5
    );
    let db = ingest("sustained", false, minutes);
    sizes(&db);
    if let Some(d) = db.parent() {
        let _ = std::fs::remove_dir_all(d);
    }
    let db = ingest("one-transaction-per-sweep", true, minutes.min(30));
    if let Some(d) = db.parent() {
        let _ = std::fs::remove_dir_all(d);
    }
    query_bench();
}
