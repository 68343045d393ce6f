//! `bandwatch demo`: starts the simulated fleet of `config/demo.toml` in-process, backfills
//! 28 days of history through the store's writer, starts the daemon polling the fleet over
//! real UDP SNMP, and plays the scripted storyline (see [`crate::demo`]) with timestamps,
//! then prints a summary and keeps running until Ctrl-C.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use jiff::Timestamp;

use crate::config::{self, Config, Duration};
use crate::daemon::{Daemon, Options};
use crate::demo::{Storyline, backfill};
use crate::sim::{self, FleetOptions, SwitchModel};
use crate::store::Store;

/// Ports of every simulated switch (eth1..eth24).
pub const DEMO_PORTS: usize = 24;
/// Days of history written before the live part starts.
pub const BACKFILL_DAYS: u32 = 28;
/// Interval of the backfilled sweeps, seconds.
pub const BACKFILL_STEP_SECS: u32 = 300;
/// The file that marks a data directory as the demo's, so that it may be wiped.
const MARKER: &str = ".bandwatch-demo";

/// Arguments of `demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The demo's configuration (its switches must be the simulator's addresses).
    #[arg(
        long,
        default_value = "config/demo.toml",
        env = "BANDWATCH_DEMO_CONFIG"
    )]
    pub demo_config: PathBuf,
    /// Data directory (database, outbox): wiped at start. Default `var/demo`, or
    /// `var/demo-2`, `-3`, ... while another demo runs in it.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// HTTP listen address (status page, /metrics). Default 127.0.0.1:9477, or a free port
    /// when that one is taken (printed).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// UDP address of the first simulated switch (the others on the following ports).
    /// Default: a free UDP port for each switch on 127.0.0.1, chosen at start and printed,
    /// so that two demos share a machine.
    #[arg(long)]
    pub snmp_listen: Option<SocketAddr>,
    /// Time runs this many times faster: storyline, poll interval (at least 1 s).
    /// Between 0.1 and 100.
    #[arg(long, default_value_t = 1.0, value_parser = parse_speed)]
    pub speed: f64,
}

/// `--speed`: a finite factor in 0.1..=100 (0 or a negative one would stop time).
fn parse_speed(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if v.is_finite() && (0.1..=100.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{s} is not between 0.1 and 100"))
    }
}

/// Runs `demo`: exit 1 when the configuration, the data directory, the fleet or the daemon
/// cannot be set up; otherwise runs until Ctrl-C.
pub fn run(args: DemoArgs) -> ExitCode {
    let rt = match super::tokio_runtime("demo") {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(demo(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bandwatch demo: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The default HTTP listener: 127.0.0.1:9477 when it is free, else a free port.
const DEFAULT_LISTEN: &str = "127.0.0.1:9477";

/// The HTTP address to listen on: the given one, or the default when free, else port 0 (the
/// daemon prints the port it got). The default is held (bound) until the daemon starts, so
/// that a second demo started meanwhile takes another port.
fn http_listen(given: Option<SocketAddr>) -> (SocketAddr, Option<std::net::TcpListener>) {
    if let Some(addr) = given {
        return (addr, None);
    }
    let default: SocketAddr = DEFAULT_LISTEN
        .parse()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 9477)));
    match std::net::TcpListener::bind(default) {
        Ok(held) => (default, Some(held)),
        Err(_) => (SocketAddr::new(default.ip(), 0), None),
    }
}

/// A demo data directory held for this process: a lock on its marker file, so that a second
/// demo never wipes the directory of a running one.
struct DataDir {
    path: PathBuf,
    _lock: std::fs::File,
}

/// The data directory: the given one (refused while another demo runs in it), or the first
/// of `var/demo`, `var/demo-2`, ... that no running demo holds. Wiped and locked.
fn data_dir(given: Option<&Path>) -> anyhow::Result<DataDir> {
    if let Some(dir) = given {
        return claim(dir)?.ok_or_else(|| {
            anyhow::anyhow!(
                "{}: another bandwatch demo is running in it; pass another --data-dir",
                dir.display()
            )
        });
    }
    for n in 1..=20 {
        let dir = if n == 1 {
            PathBuf::from("var/demo")
        } else {
            PathBuf::from(format!("var/demo-{n}"))
        };
        if let Some(held) = claim(&dir)? {
            return Ok(held);
        }
    }
    bail!("var/demo .. var/demo-20 are all used by running demos; pass --data-dir")
}

/// Wipes and locks `dir`, or `None` when a running demo holds it.
fn claim(dir: &Path) -> anyhow::Result<Option<DataDir>> {
    let marker = dir.join(MARKER);
    if let Ok(f) = std::fs::File::open(&marker) {
        match f.try_lock() {
            Ok(()) => drop(f),
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(e)) => {
                bail!("{}: cannot lock: {e}", marker.display())
            }
        }
    }
    wipe(dir)?;
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&marker)
        .with_context(|| format!("cannot open {}", marker.display()))?;
    match lock.try_lock() {
        Ok(()) => Ok(Some(DataDir {
            path: dir.to_path_buf(),
            _lock: lock,
        })),
        // Another demo claimed it between our check and the wipe.
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => bail!("{}: cannot lock: {e}", marker.display()),
    }
}

/// Empties `dir` when it is missing, empty or a previous demo's; anything else is refused.
fn wipe(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .next()
            .is_none();
        if !empty && !dir.join(MARKER).exists() {
            bail!(
                "{}: not empty and not a demo data directory (no {MARKER}); refusing to wipe it",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("cannot wipe {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(
        dir.join(MARKER),
        "written by `bandwatch demo`: wiped at each start\n",
    )
    .with_context(|| format!("cannot write {}", dir.join(MARKER).display()))?;
    Ok(())
}

/// What the demo changes in its configuration, at start and at every reload: the command
/// line's data folder and listener, the sped-up poll interval, and the rules scaled to the
/// speed (set once the scaled folder is written).
#[derive(Clone, Debug)]
struct DemoOverrides {
    data_dir: PathBuf,
    listen: SocketAddr,
    speed: f64,
    rules_dir: Option<PathBuf>,
    /// Where simulated switch `n` answers (set once the fleet runs).
    switches: Vec<SocketAddr>,
    /// Where the flow collector listens (a free UDP port: two demos can run at once).
    flows: Option<SocketAddr>,
}

impl DemoOverrides {
    fn apply(&self, cfg: &mut Config) {
        cfg.daemon.data_dir = self.data_dir.clone();
        cfg.daemon.listen = self.listen;
        let secs = (cfg.daemon.interval.std().as_secs_f64() / self.speed).max(1.0);
        let interval = Duration(std::time::Duration::from_secs_f64(secs));
        cfg.daemon.interval = interval;
        for s in &mut cfg.topology.switches {
            Arc::make_mut(s).interval = interval;
        }
        if let Some(dir) = &self.rules_dir {
            cfg.daemon.rules_dir = dir.clone();
        }
        for (s, addr) in cfg.topology.switches.iter_mut().zip(&self.switches) {
            Arc::make_mut(s).address = addr.to_string();
        }
        if let Some(a) = self.flows
            && cfg.flow.enabled()
        {
            cfg.flow.listen = vec![a];
        }
    }
}

/// A free UDP port on 127.0.0.1 for the flow collector.
fn free_udp() -> Option<SocketAddr> {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .ok()
}

/// The demo configuration with the command line's overrides and the sped-up interval.
fn load(args: &DemoArgs, overrides: &DemoOverrides) -> anyhow::Result<Config> {
    let loaded = config::load(&args.demo_config).map_err(|d| anyhow::anyhow!("{d}"))?;
    let mut cfg = loaded.config;
    overrides.apply(&mut cfg);
    Ok(cfg)
}

/// Wall-clock time and demo clock, like `12:03:07  t+1:30`.
fn stamp(start: tokio::time::Instant, speed: f64) -> String {
    stamp_at(start.elapsed().as_secs_f64(), speed)
}

/// [`stamp`] with the demo clock at `secs` seconds of real time after the start (a beat's
/// own time: the fleet plays it then, however late this line is printed on a busy machine).
fn stamp_at(secs: f64, speed: f64) -> String {
    let t = secs * speed;
    let now = Timestamp::now().strftime("%H:%M:%S");
    format!("{now}  t+{}:{:02}", (t / 60.0) as u64, (t % 60.0) as u64)
}

async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    // Checked before the data directory is touched.
    config::load(&args.demo_config).map_err(|d| anyhow::anyhow!("{d}"))?;
    let held = data_dir(args.data_dir.as_deref())?;
    let data = held.path.clone();
    let (listen, held_listener) = http_listen(args.listen);
    let mut overrides = DemoOverrides {
        data_dir: data.clone(),
        listen,
        speed: args.speed,
        rules_dir: None,
        switches: Vec::new(),
        flows: free_udp(),
    };
    let cfg = load(&args, &overrides)?;
    let mut story = Storyline::build(&cfg.topology, args.speed).map_err(anyhow::Error::msg)?;
    // The daily and weekly rhythm follow the wall clock, in the history as live.
    story.scenario.traffic.origin = Some(Timestamp::now().as_millisecond() as f64 / 1000.0);
    let topology = Arc::new(cfg.topology.clone());
    println!(
        "bandwatch demo: {} switches at {} sites, {} product lines, {} customers; data in {}",
        topology.switches.len(),
        topology.sites.len(),
        topology.product_lines.len(),
        topology.customers.len(),
        data.display()
    );
    let mut cfg = cfg;
    if args.speed != 1.0 {
        let scaled = data.join("rules");
        let n = crate::demo::rules::scale_dir(&cfg.daemon.rules_dir, &scaled, args.speed)
            .map_err(anyhow::Error::msg)?;
        println!(
            "rules: {n} files of {} with `for`, `clear_for` and `repeat` divided by {} in {} (churn windows stay real minutes)",
            cfg.daemon.rules_dir.display(),
            args.speed,
            scaled.display()
        );
        cfg.daemon.rules_dir = scaled.clone();
        overrides.rules_dir = Some(scaled);
    }

    // History: the models the fleet will run, read at negative times (before its start).
    let models: Vec<SwitchModel> = (0..topology.switches.len())
        .map(|n| SwitchModel::new(&story.scenario, &sim::switch_name(n), n, DEMO_PORTS))
        .collect();
    // The backfill's store is closed before the daemon opens its own (one per process).
    let store = Store::open_in(&cfg.daemon.data_dir, &cfg.retention)?;
    let db = store.path().to_path_buf();
    let started = std::time::Instant::now();
    let writer = store.writer(topology.clone())?;
    let topo = topology.clone();
    let filled = tokio::task::spawn_blocking(move || {
        let refs: Vec<&SwitchModel> = models.iter().collect();
        let r = backfill(
            &writer,
            &topo,
            &refs,
            Timestamp::now(),
            BACKFILL_DAYS,
            BACKFILL_STEP_SECS,
            |f| {
                print!(
                    "\rbackfilling {BACKFILL_DAYS} days of history: {:3.0}%",
                    f * 100.0
                );
                let _ = std::io::stdout().flush();
            },
        );
        writer.shutdown();
        r
    })
    .await
    .context("the backfill stopped")??;
    drop(store);
    println!(
        "\rbackfilled {} sweeps ({} port readings, {} .. {}) into {} in {:.1} s",
        filled.sweeps,
        filled.readings,
        filled.from.strftime("%Y-%m-%d %H:%M"),
        filled.to.strftime("%Y-%m-%d %H:%M"),
        db.display(),
        started.elapsed().as_secs_f64()
    );

    // The fleet: free UDP ports on 127.0.0.1 (or consecutive ones from --snmp-listen).
    let listen = args
        .snmp_listen
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    let community = std::env::var("BANDWATCH_COMMUNITY").unwrap_or_else(|_| "public".into());
    let fleet = sim::start(&FleetOptions {
        switches: topology.switches.len(),
        ports: DEMO_PORTS,
        listen,
        scenario: story.scenario.clone(),
        community,
    })
    .await
    .map_err(anyhow::Error::msg)?;
    overrides.switches = fleet.switches.iter().map(|(_, a)| *a).collect();
    // Flows: each simulated switch exports the traffic of its uplinks (eth1, eth2) as sFlow
    // (1 in 1,024 packets sampled) or IPFIX from its own loopback address to the collector,
    // so the attack's email says what it is.
    let flow_export = match cfg.flow.listen.first() {
        Some(collector) if cfg.flow.enabled() => Some(
            sim::flows::export(
                fleet.models.clone(),
                fleet.start,
                &sim::flows::FlowOptions {
                    collector: *collector,
                    sampling: 1024,
                    protocol: None,
                    ports: Some(2),
                },
            )
            .map_err(anyhow::Error::msg)?,
        ),
        _ => None,
    };
    for (s, addr) in cfg.topology.switches.iter_mut().zip(&overrides.switches) {
        Arc::make_mut(s).address = addr.to_string();
    }
    // The same daemon as `bandwatch run`: SIGHUP and `POST /-/reload` reload the demo's
    // configuration (with the demo's overrides), and alias attribution is refreshed.
    let mut options = Options::new(args.demo_config.clone());
    options.overrides = Some(Arc::new(move |c: &mut Config| overrides.apply(c)));
    drop(held_listener);
    let daemon = Daemon::start(cfg, options).await?;
    let base = format!("http://{}", daemon.listen);
    let ports: Vec<String> = fleet
        .switches
        .iter()
        .map(|(_, a)| a.port().to_string())
        .collect();
    println!(
        "simulated fleet: {} switches on UDP {} port {}, polled every {} s over SNMP",
        fleet.switches.len(),
        listen.ip(),
        ports.join(", "),
        (10.0 / args.speed).max(1.0)
    );
    println!("status page: {base}/");
    println!("metrics:     {base}/metrics");
    println!(
        "storyline ({} beats, about {:.0} s; --speed {}):",
        story.beats.len(),
        story.end,
        args.speed
    );

    let outbox = data.join("outbox");
    let play = async {
        for beat in &story.beats {
            tokio::time::sleep_until(fleet.start + std::time::Duration::from_secs_f64(beat.at))
                .await;
            println!("[{}] {}", stamp_at(beat.at, args.speed), beat.what);
            println!("    -> {}", beat.expect);
        }
        tokio::time::sleep_until(fleet.start + std::time::Duration::from_secs_f64(story.end)).await;
        print!("{}", summary(&outbox, &base));
        let _ = std::io::stdout().flush();
        std::future::pending::<()>().await;
    };
    let stop = async {
        tokio::select! {
            () = play => {}
            () = watch_outbox(&outbox, fleet.start, args.speed) => {}
            () = crate::daemon::signals::shutdown() => {}
        }
        println!("stopping");
    };
    daemon.serve(stop).await?;
    drop(flow_export);
    fleet.stop();
    Ok(())
}

/// The end-of-storyline summary: the emails in the outbox (one line per subject) and where
/// to look.
/// The `Subject:` header of an email, unfolded (long subjects continue on indented lines).
/// Encoded words (non-ASCII subjects) are left as they are.
fn subject(eml: &str) -> Option<String> {
    let mut lines = eml.lines().skip_while(|l| !l.starts_with("Subject: "));
    let mut s = lines.next()?.strip_prefix("Subject: ")?.to_string();
    for l in lines.take_while(|l| l.starts_with([' ', '\t'])) {
        s.push(' ');
        s.push_str(l.trim_start());
    }
    Some(s)
}

/// Prints each email as the notifier writes it into the outbox, so the console shows what
/// bandwatch did next to what happened. Runs until the demo stops.
async fn watch_outbox(outbox: &Path, start: tokio::time::Instant, speed: f64) {
    let mut seen = std::collections::HashSet::new();
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
    loop {
        tick.tick().await;
        let mut new: Vec<(std::time::SystemTime, PathBuf)> = match std::fs::read_dir(outbox) {
            Ok(rd) => rd
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml") && !seen.contains(p))
                .map(|p| {
                    let t = std::fs::metadata(&p)
                        .and_then(|m| m.modified())
                        .unwrap_or(std::time::SystemTime::UNIX_EPOCH);
                    (t, p)
                })
                .collect(),
            Err(_) => continue,
        };
        new.sort();
        for (_, path) in new {
            // A file still being written has no subject yet: read it again next time.
            let Some(subject) = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| subject(&t))
            else {
                continue;
            };
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            println!(
                "[{}]   email written: {subject}  (outbox/{})",
                stamp(start, speed),
                name.unwrap_or_default()
            );
            seen.insert(path);
        }
    }
}

fn summary(outbox: &Path, base: &str) -> String {
    let mut emails: Vec<(String, String)> = std::fs::read_dir(outbox)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .map(|p| {
                    let subject = std::fs::read_to_string(&p)
                        .ok()
                        .and_then(|t| subject(&t))
                        .unwrap_or_else(|| "(no subject)".into());
                    (p.display().to_string(), subject)
                })
                .collect()
        })
        .unwrap_or_default();
    emails.sort();
    let firing = emails
        .iter()
        .filter(|(_, s)| s.contains("FIRING") || s.contains("REPEAT"))
        .count();
    let mut s = String::from("\n=== storyline summary ===\n");
    s.push_str(&format!(
        "emails written: {} ({} with firing alerts, {} only resolved notices) in {}/*.eml\n",
        emails.len(),
        firing,
        emails.len() - firing,
        outbox.display()
    ));
    for (path, subject) in &emails {
        s.push_str(&format!("  {subject}\n      {path}\n"));
    }
    s.push_str(&format!(
        "look at: {base}/ (status page), {base}/metrics, the .eml files above\n\
         still polling and serving; Ctrl-C stops\n"
    ));
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn folded_subjects_are_unfolded() {
        let eml = "To: a@b\r\nSubject: [RESOLVED critical] uplink-attack: bj1-core-a eth1 (cdn) after 1\r\n min, peak 1.81 Gbit/s in\r\nFrom: x\r\n\r\nbody";
        assert_eq!(
            super::subject(eml).as_deref(),
            Some(
                "[RESOLVED critical] uplink-attack: bj1-core-a eth1 (cdn) after 1 min, peak 1.81 Gbit/s in"
            )
        );
        assert_eq!(super::subject("To: a@b\r\n\r\n"), None);
    }
}
