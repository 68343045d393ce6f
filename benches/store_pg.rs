//! PostgreSQL write path benchmark (plain `main`, like `store_ingest`): port-samples/s from
//! one writer into a real PostgreSQL, sustained load (everything submitted at once; the
//! writer batches up to 100,000 samples per transaction: a binary COPY, the aggregates of
//! 40 product lines, 10 switches and a site added in the same transaction).
//!
//! Run: `cargo bench --bench store_pg`. It starts its own PostgreSQL (as the tests do:
//! `initdb`/`pg_ctl` of Debian's `postgresql`, fsync off), or uses `BANDWATCH_PG_URL` when
//! set (an empty database). `BANDWATCH_BENCH_MINUTES` (default 60) sets how many minutes of
//! 60 s sweeps of 10 switches x 1,000 ports are written. Prints the wall-clock rate and the
//! CPU-seconds of this process (the client side; the server's are its own).

#[path = "../tests/net_support/mod.rs"]
mod net_support;
#[path = "../tests/pg_support/mod.rs"]
mod pg_support;

use std::sync::Arc;
use std::time::Instant;

use bandwatch::config::{
    Duration, Port, PortLabels, Retention, Secret, Site, SnmpProfile, Switch, Topology,
};
use bandwatch::poll::{
    Delta, OperStatus, PortOutcome, PortReading, PortResult, Quality, Sweep, SweepStatus,
    phase_offset,
};
use bandwatch::store::postgres::PgStore;
use jiff::Timestamp;

const SWITCHES: usize = 10;
const PORTS_PER_SWITCH: usize = 1000;

fn fleet() -> Topology {
    let mut t = Topology::default();
    t.sites.insert(
        "bj-1".into(),
        Site {
            name: "bj-1".into(),
            description: None,
            switches: Vec::new(),
        },
    );
    for s in 0..SWITCHES {
        let name = format!("sw{s:02}");
        let ports = (0..PORTS_PER_SWITCH)
            .map(|p| Port {
                name: format!("xe-0/0/{p}").into(),
                labels: PortLabels {
                    site: "bj-1".into(),
                    switch: name.clone().into(),
                    port: format!("xe-0/0/{p}").into(),
                    product_line: Some(format!("pl{}", p % 40).into()),
                    customer: None,
                    role: None,
                },
                max_rate: None,
                attributed: false,
                description: None,
            })
            .collect();
        t.switches.push(std::sync::Arc::new(Switch {
            name: name.clone(),
            site: "bj-1".into(),
            address: "127.0.0.1:161".into(),
            profile: "default".into(),
            snmp: SnmpProfile::default(),
            interval: Duration::from_secs(60),
            rediscover: Duration::from_secs(3600),
            alias_patterns: Vec::new(),
            ports,
            description: None,
            shard: None,
        }));
    }
    t
}

fn sweep(switch: usize, minute: i64, start: i64) -> Sweep {
    let name = format!("sw{switch:02}");
    let phase = phase_offset(&name, std::time::Duration::from_secs(60)).as_millis() as i64;
    let time = Timestamp::from_millisecond((start + minute * 60) * 1000 + phase + 350).unwrap();
    Sweep {
        switch: name.into(),
        time,
        status: SweepStatus::Ok,
        sys_uptime: Some(1),
        ports: (0..PORTS_PER_SWITCH)
            .map(|p| PortResult {
                port: format!("xe-0/0/{p}").into(),
                outcome: PortOutcome::Reading(PortReading {
                    if_index: p as u32 + 1,
                    oper_status: OperStatus::Up,
                    speed_bps: 10_000_000_000,
                    quality: Quality::Ok,
                    delta: Some(Delta {
                        dt_ms: 60_000,
                        in_octets: 1_000_000
                            + (p as u64 * 7919 + minute as u64 * 104_729) % 9_000_000,
                        out_octets: 500_000 + (p as u64 * 31 + minute as u64) % 4_000_000,
                        in_packets: Some(1_000 + p as u64),
                        out_packets: Some(800 + p as u64),
                    }),
                }),
            })
            .collect(),
    }
}

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let minutes: i64 = std::env::var("BANDWATCH_BENCH_MINUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let _server;
    let url = match std::env::var("BANDWATCH_PG_URL") {
        Ok(u) if !u.is_empty() => Secret::new(u),
        _ => {
            _server = pg_support::Pg::start();
            match &_server {
                Some(pg) => pg.database(),
                None => return,
            }
        }
    };
    let store = PgStore::connect(&url, &Retention::default()).expect("connecting");
    let writer = store.writer(Arc::new(fleet())).expect("writer");
    let now = Timestamp::now().as_second();
    let start = now - now.rem_euclid(86_400) - 86_400;
    let sweeps: Vec<Sweep> = (0..minutes)
        .flat_map(|m| (0..SWITCHES).map(move |s| sweep(s, m, start)))
        .collect();
    let samples = sweeps.len() * PORTS_PER_SWITCH;
    println!(
        "PostgreSQL write path: {samples} port-samples ({SWITCHES} switches x {PORTS_PER_SWITCH} ports, \
         {minutes} minutes of 60 s sweeps), one writer, sustained"
    );
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    for s in sweeps {
        writer.submit(s).expect("submit");
    }
    writer.flush().expect("flush");
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    println!(
        "  {:.0} port-samples/s wall ({wall:.2} s), client CPU {cpu:.2} s ({:.0} port-samples per client CPU-second)",
        samples as f64 / wall,
        samples as f64 / cpu.max(1e-9),
    );
    let written = writer
        .stats()
        .rows_written
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(written as usize, samples, "every sample written");
}
