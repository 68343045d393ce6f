//! Cost accounting benchmark (plain `main`, `harness = false`, like the store benchmark):
//! how long the month's money takes for a network of 1,000 ports, so that the monthly report
//! and the `/metrics` refresh (every 5 minutes) stay cheap.
//!
//! Run: `cargo bench --bench cost_month` (release). Writes a 30-day month of hourly sweeps
//! (split exactly over 5-minute buckets by the store) for 2 sites x 5 switches x 100 ports:
//! 2 priced transit uplinks per site, 980 priced customers (one port each, 10 product lines),
//! then prints the time of (`BANDWATCH_BENCH_DAYS`, default 30, writes fewer days)
//! 1. `cost::allocate` alone (every uplink's bill and its per-slot split over the site's
//!    customers and product lines), and
//! 2. `report::build` of the month with its accounts (usage of every customer, product line
//!    and site for two months, revenue, allocation, margins).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use bandwatch::config::{self, Duration};
use bandwatch::poll::{
    Delta, OperStatus, PortOutcome, PortReading, PortResult, Quality, Sweep, SweepStatus,
};
use bandwatch::report::build;
use bandwatch::store::{Store, WriterOptions};
use bandwatch::usage::{Month, Period};
use jiff::Timestamp;

const SITES: usize = 2;
const SWITCHES_PER_SITE: usize = 5;
const PORTS: usize = 100;

fn config_text() -> String {
    let mut s = String::from(
        "[daemon]\ndata_dir = \"var\"\nrules_dir = \"rules\"\n\
         [retention]\nraw = \"forever\"\nrollup_5m = \"forever\"\n\
         [snmp.default]\nversion = \"2c\"\ncommunity = \"${BW_BENCH_COMMUNITY:-public}\"\n\
         [[price_plan]]\nname = \"burst\"\ncurrency = \"EUR\"\ncommit = \"50Mbps\"\n\
         commit_price = 400.0\noverage_price = 3.0\n\
         [[price_plan]]\nname = \"transit\"\ncurrency = \"EUR\"\ncommit = \"5Gbps\"\n\
         commit_price = 3000.0\noverage_price = 0.5\n",
    );
    for pl in 0..10 {
        let _ = writeln!(s, "[[product_line]]\nname = \"pl{pl}\"");
    }
    let mut customer = 0;
    for site in 0..SITES {
        let _ = writeln!(s, "[[site]]\nname = \"site{site}\"");
        for sw in 0..SWITCHES_PER_SITE {
            let name = format!("s{site}-sw{sw}");
            let _ = writeln!(
                s,
                "[[switch]]\nname = \"{name}\"\nsite = \"site{site}\"\naddress = \"127.0.0.1:{}\"",
                20000 + site * 100 + sw
            );
            for p in 0..PORTS {
                if sw == 0 && p < 2 {
                    let _ = writeln!(
                        s,
                        "[[port]]\nswitch = \"{name}\"\nname = \"p{p}\"\nrole = \"uplink\"\n\
                         transit = {{ price_plan = \"transit\" }}"
                    );
                } else {
                    let _ = writeln!(
                        s,
                        "[[port]]\nswitch = \"{name}\"\nname = \"p{p}\"\nproduct_line = \"pl{}\"\n\
                         [[customer]]\nid = \"c{customer}\"\nprice_plan = \"burst\"\n\
                         ports = [{{ switch = \"{name}\", name = \"p{p}\" }}]",
                        customer % 10
                    );
                    customer += 1;
                }
            }
        }
    }
    s
}

fn main() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("bandwatch.toml");
    std::fs::write(&path, config_text()).expect("config written");
    let config = match config::load(&path) {
        Ok(l) => l.config,
        Err(d) => panic!("{d}"),
    };
    std::fs::create_dir_all(&config.daemon.data_dir).expect("data dir");
    let db = config.daemon.data_dir.join("bandwatch.db");
    let month: Month = "2026-09".parse().expect("a month");
    println!(
        "cost benchmark: {} ports, {} customers, {} priced uplinks, a 30-day month, hourly sweeps",
        SITES * SWITCHES_PER_SITE * PORTS,
        config.topology.customers.len(),
        config.topology.pricing.transit.len()
    );

    let t = Instant::now();
    let mut topo = config.topology.clone();
    for s in &mut topo.switches {
        std::sync::Arc::make_mut(s).interval = Duration::from_secs(3600);
    }
    let store = Store::open(&db, &config.retention).expect("store");
    let writer = store
        .writer_with(
            Arc::new(topo.clone()),
            WriterOptions {
                retention_every: std::time::Duration::ZERO,
                ..WriterOptions::default()
            },
        )
        .expect("writer");
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let days: i64 = std::env::var("BANDWATCH_BENCH_DAYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let mut ts = month.start() + 3600;
    while ts <= month.end().min(month.start() + days * 86_400) {
        let hour = (ts / 3600) % 24;
        for sw in &topo.switches {
            let ports = sw
                .ports
                .iter()
                .map(|p| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    // 20-120 Mbit/s, busier in the evening; uplinks carry 50 customers' worth.
                    let base = 20 + rng % 100 + if (18..22).contains(&hour) { 60 } else { 0 };
                    let mbps = if p.labels.role.as_deref() == Some("uplink") {
                        base * 50
                    } else {
                        base
                    };
                    PortResult {
                        port: p.name.clone(),
                        outcome: PortOutcome::Reading(PortReading {
                            if_index: 1,
                            oper_status: OperStatus::Up,
                            speed_bps: 100_000_000_000,
                            quality: Quality::Ok,
                            delta: Some(Delta {
                                dt_ms: 3_600_000,
                                in_octets: mbps * 1_000_000 / 8 * 3600,
                                out_octets: mbps * 1_000_000 / 8 * 1200,
                                in_packets: None,
                                out_packets: None,
                            }),
                        }),
                    }
                })
                .collect();
            writer
                .submit(Sweep {
                    switch: sw.name.as_str().into(),
                    time: Timestamp::from_second(ts).expect("a time"),
                    status: SweepStatus::Ok,
                    sys_uptime: Some(1),
                    ports,
                })
                .expect("submitted");
        }
        ts += 3600;
    }
    writer.flush().expect("flushed");
    println!("  month written in {:.1} s", t.elapsed().as_secs_f64());

    let book = Store::open_existing(&db, &Default::default())
        .expect("book")
        .usage();
    let period = Period {
        from: month.start(),
        to: month.end(),
    };
    let t = Instant::now();
    let a = bandwatch::cost::allocate(&book, &config.topology, period, month.secs())
        .expect("allocated");
    let alloc = t.elapsed();
    let cost: f64 = a.uplinks.iter().map(|u| u.cost).sum();
    println!(
        "  allocate: {:.0} ms ({} uplinks, {:.2} EUR of transit, {} customers carry it)",
        alloc.as_secs_f64() * 1000.0,
        a.uplinks.len(),
        cost,
        a.customers.len()
    );
    let now = Timestamp::from_second(month.end() + 86_400).expect("a time");
    let t = Instant::now();
    let r = build(&book, &config, month, now, false, &[]).expect("report");
    let whole = t.elapsed();
    let accounts = r.accounts.expect("accounts");
    println!(
        "  report::build with accounts: {:.0} ms ({} priced customers, {:.2} EUR revenue)",
        whole.as_secs_f64() * 1000.0,
        accounts.customers.len(),
        accounts.totals.iter().map(|t| t.revenue).sum::<f64>()
    );
}
