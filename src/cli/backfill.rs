//! `bandwatch backfill`: weeks of simulated history for every switch and port of a
//! configuration, written into its (new) SQLite store through the same writer the poller feeds,
//! so that a trial or a benchmark starts a daemon as it would run on its 29th day: seasonal
//! baselines with their periods, rollups and retention with work to do. The traffic is the
//! simulator's model (a daily and weekly rhythm with noise), one port of the model per
//! configured port.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use jiff::Timestamp;

use crate::config::{self, StoreBackend};
use crate::demo::backfill;
use crate::sim::{Scenario, SwitchModel};
use crate::store::{Store, WriterOptions};

/// Sweeps per transaction (and queued before the model waits).
const BATCH_SWEEPS: usize = 4096;

/// Arguments of `backfill`.
#[derive(Debug, clap::Args)]
pub struct BackfillArgs {
    /// Days of history, ending now.
    #[arg(long, default_value_t = 28, value_parser = clap::value_parser!(u32).range(1..=400))]
    pub days: u32,
    /// Time between two backfilled sweeps of a switch (e.g. 5m, 1m, 10s).
    #[arg(long, default_value = "5m", value_parser = parse_step)]
    pub step: u32,
    /// Scenario file for the traffic's shape (as `bandwatch simulate --scenario`) and its
    /// spike, drop and port_down events, their `at` counted from the first backfilled sweep;
    /// default: gentle daily traffic, no events.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// When the history ends (RFC 3339, e.g. 2026-11-30T00:00:00Z; default: now), for a
    /// history that is the same on every run (a benchmark's); not in the future.
    #[arg(long)]
    pub end: Option<Timestamp>,
    /// Add the history to a store that already exists (its samples in the same span are
    /// replaced by simulated ones).
    #[arg(long)]
    pub force: bool,
}

fn parse_step(s: &str) -> Result<u32, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{s:?}: {e}"))?;
    match u32::try_from(d.as_secs()) {
        Ok(secs) if secs >= 1 && d.subsec_nanos() == 0 => Ok(secs),
        _ => Err(format!("{s:?}: a whole number of seconds, at least 1s")),
    }
}

/// The scenario with its events inside the history: `at` counted from the first backfilled
/// sweep (the model's time runs from minus the span to 0, now). Says on stderr which events
/// the history cannot hold: the agent's own (a reboot, an unreachable spell, a lost port, a
/// counter reset), which only the live simulator plays, and those that start after its end.
fn played_in_history(scenario: Scenario, path: &Path, args: &BackfillArgs) -> Scenario {
    let span = history_span(args.days, args.step);
    for (n, e) in scenario.events.iter().enumerate() {
        let left_out = if !e.kind.in_backfill() {
            Some("only the live simulator (`bandwatch simulate`) plays it")
        } else if e.start >= span {
            Some("it starts after the backfilled span")
        } else {
            None
        };
        if let Some(why) = left_out {
            eprintln!(
                "bandwatch backfill: {}: event[{n}] ({}) is not in the history: {why}",
                path.display(),
                e.kind.name()
            );
        }
    }
    scenario.shifted(-span)
}

/// Seconds from the first backfilled sweep to the last (`crate::demo::backfill`'s steps).
fn history_span(days: u32, step: u32) -> f64 {
    let step = i64::from(step.max(1));
    ((i64::from(days) * 86_400) / step * step) as f64
}

/// Runs `backfill`: 0 once everything is stored; 1 (saying why) on a bad configuration or
/// scenario, a PostgreSQL store, a store that exists without `--force`, or a write error.
pub fn run(config_path: &Path, args: BackfillArgs) -> ExitCode {
    match backfill_config(config_path, &args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bandwatch backfill: {e}");
            ExitCode::from(1)
        }
    }
}

fn backfill_config(config_path: &Path, args: &BackfillArgs) -> Result<(), String> {
    let loaded = config::load(config_path).map_err(|d| d.to_string().trim_end().to_string())?;
    let cfg = loaded.config;
    if let StoreBackend::Postgres { .. } = cfg.store.backend {
        return Err(format!(
            "{}: [store] is PostgreSQL; backfill writes the SQLite store only",
            config_path.display()
        ));
    }
    let now = Timestamp::now();
    let end = args.end.unwrap_or(now);
    if end > now {
        return Err(format!(
            "--end {end}: in the future (the history ends at the latest now)"
        ));
    }
    let mut scenario = match &args.scenario {
        Some(p) => played_in_history(Scenario::load(p)?, p, args),
        None => Scenario::default(),
    };
    // The model's time 0 is the history's end: a rhythm on the wall clock starts there.
    if let Some(o) = &mut scenario.traffic.origin {
        *o = end.as_millisecond() as f64 / 1000.0;
    }
    let db = crate::store::db_path(&cfg.daemon.data_dir);
    if db.exists() && !args.force {
        return Err(format!(
            "{} exists: backfill fills a new store (--force adds to this one, replacing its samples of the span)",
            db.display()
        ));
    }
    let topology = Arc::new(cfg.topology);
    let models: Vec<SwitchModel> = topology
        .switches
        .iter()
        .enumerate()
        .map(|(n, sw)| {
            let names: Vec<String> = sw.ports.iter().map(|p| p.name.to_string()).collect();
            SwitchModel::with_port_names(&scenario, &sw.name, n, &names)
        })
        .collect();
    let store = Store::open_in(&cfg.daemon.data_dir, &cfg.retention).map_err(|e| e.to_string())?;
    // Larger transactions than a live fleet's: each port's pages are written once per
    // transaction, and a backfill has nothing to wait for.
    let opts = WriterOptions {
        channel_capacity: BATCH_SWEEPS,
        max_batch_sweeps: BATCH_SWEEPS,
        ..WriterOptions::default()
    };
    let writer = store
        .writer_with(topology.clone(), opts)
        .map_err(|e| e.to_string())?;
    let refs: Vec<&SwitchModel> = models.iter().collect();
    let tty = std::io::stderr().is_terminal();
    let started = Instant::now();
    let done = backfill(&writer, &topology, &refs, end, args.days, args.step, |f| {
        if tty {
            eprint!("\rbackfilling {} days: {:3.0}%", args.days, f * 100.0);
            let _ = std::io::stderr().flush();
        }
    });
    writer.shutdown();
    if tty {
        eprint!("\r\x1b[K");
    }
    let done = done.map_err(|e| e.to_string())?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{}: backfilled {} sweeps ({} port readings, {} .. {}) in {:.1} s ({:.0} readings/s)",
        store.path().display(),
        done.sweeps,
        done.readings,
        done.from.strftime("%Y-%m-%d %H:%M"),
        done.to.strftime("%Y-%m-%d %H:%M"),
        secs,
        done.readings as f64 / secs.max(1e-9)
    );
    Ok(())
}
