//! `bandwatch run`: runs the daemon (see [`crate::daemon`]). `run --once --json`
//! polls each switch once (twice, `--interval` apart, with `--rates`) and prints one JSON
//! object per port.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tracing::warn;

use crate::config::{self, Config, Duration, Switch};
use crate::poll::counter::CounterReading;
use crate::poll::switch::failed_sweep;
use crate::poll::{PortOutcome, Sweep, SweepStatus, SwitchMetrics, SwitchPoller};

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Poll each switch once, print the samples and exit.
    #[arg(long)]
    pub once: bool,
    /// With --once: print one JSON object per port (default: a text table).
    #[arg(long, requires = "once")]
    pub json: bool,
    /// With --once: poll twice, --interval apart, to print rates.
    #[arg(long, requires = "once")]
    pub rates: bool,
    /// With --once --rates: time between the two polls.
    #[arg(long, default_value = "10s", requires = "rates")]
    pub interval: Duration,
}

/// Runs `run`.
pub fn run(config_path: &Path, args: RunArgs) -> ExitCode {
    let loaded = match config::load(config_path) {
        Ok(l) => l,
        Err(diags) => {
            eprint!("{diags}");
            return ExitCode::from(1);
        }
    };
    for w in &loaded.warnings.0 {
        warn!("{w}");
    }
    let rt = match super::tokio_runtime("run") {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let config = loaded.config;
    if args.once {
        rt.block_on(once(config, args))
    } else {
        rt.block_on(daemon(config_path, config))
    }
}

async fn daemon(config_path: &Path, config: Config) -> ExitCode {
    match crate::daemon::run(
        crate::daemon::Options::new(config_path.to_path_buf()),
        config,
    )
    .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("bandwatch run: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// One switch polled once or twice: the last sweep and the poller (for labels and counters).
async fn poll_switch(switch: Arc<Switch>, rates: Option<std::time::Duration>) -> Vec<Value> {
    let metrics = Arc::new(SwitchMetrics::default());
    let source = match crate::snmp::connect(&switch.address, &switch.snmp).await {
        Ok(s) => s,
        Err(e) => {
            let names: Vec<Arc<str>> = switch.ports.iter().map(|p| p.name.clone()).collect();
            let sweep = failed_sweep(&switch, &names, &e);
            return lines(&sweep, None);
        }
    };
    let mut poller = SwitchPoller::new(switch.clone(), source, metrics);
    let mut sweep = poller.poll().await;
    if let Some(wait) = rates
        && sweep.status == SweepStatus::Ok
    {
        tokio::time::sleep(wait).await;
        sweep = poller.poll().await;
    }
    lines(&sweep, Some(&poller))
}

fn lines(sweep: &Sweep, poller: Option<&SwitchPoller>) -> Vec<Value> {
    let mut out = Vec::new();
    for p in &sweep.ports {
        let state = poller.and_then(|pl| pl.ports().iter().find(|s| s.port.name == p.port));
        let labels = poller.and_then(|pl| pl.labels(&p.port));
        let mut obj = json!({
            "time": sweep.time.to_string(),
            "switch": sweep.switch,
            "port": p.port,
            "site": labels.map(|l| l.site.clone()),
            "product_line": labels.and_then(|l| l.product_line.clone()),
            "customer": labels.and_then(|l| l.customer.clone()),
            "role": labels.and_then(|l| l.role.clone()),
        });
        match &p.outcome {
            PortOutcome::Reading(r) => {
                let prev: Option<&CounterReading> = state.and_then(|s| s.prev.as_ref());
                obj["if_index"] = json!(r.if_index);
                obj["oper_status"] = json!(r.oper_status);
                obj["speed_bps"] = json!(r.speed_bps);
                obj["quality"] = json!(r.quality);
                obj["in_octets"] = json!(prev.map(|c| c.in_octets));
                obj["out_octets"] = json!(prev.map(|c| c.out_octets));
                if let Some(d) = &r.delta {
                    let secs = d.dt_secs().max(1e-3);
                    obj["dt_ms"] = json!(d.dt_ms);
                    obj["in_delta_octets"] = json!(d.in_octets);
                    obj["out_delta_octets"] = json!(d.out_octets);
                    obj["in_bps"] = json!(d.in_bps());
                    obj["out_bps"] = json!(d.out_bps());
                    obj["in_pps"] = json!(d.in_packets.map(|p| p as f64 / secs));
                    obj["out_pps"] = json!(d.out_packets.map(|p| p as f64 / secs));
                }
            }
            PortOutcome::Unknown(reason) => {
                obj["quality"] = Value::Null;
                obj["unknown"] = json!(reason);
                if let SweepStatus::Error(e) = &sweep.status {
                    obj["error"] = json!(e);
                }
            }
        }
        out.push(obj);
    }
    out
}

async fn once(config: Config, args: RunArgs) -> ExitCode {
    let rates = args.rates.then(|| args.interval.std());
    let permits = Arc::new(Semaphore::new(config.daemon.max_concurrent_polls.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (n, switch) in config.topology.switches.iter().enumerate() {
        let switch = Arc::clone(switch);
        let permits = permits.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            (n, poll_switch(switch, rates).await)
        });
    }
    let mut results: Vec<(usize, Vec<Value>)> = Vec::new();
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(x) => results.push(x),
            Err(e) => warn!(error = %e, "a poll task failed"),
        }
    }
    results.sort_by_key(|(n, _)| *n);
    let mut all_ok = true;
    let mut stdout = std::io::stdout().lock();
    for (_, objs) in &results {
        for o in objs {
            if o.get("unknown").is_some() {
                all_ok = false;
            }
            let written = if args.json {
                writeln!(stdout, "{o}")
            } else {
                writeln!(stdout, "{}", text_line(o))
            };
            if written.is_err() {
                // stdout closed (e.g. piped into `head`): nothing more to say.
                return ExitCode::from(1);
            }
        }
    }
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn text_line(o: &Value) -> String {
    let s = |k: &str| match o.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".to_string(),
        Some(v) => v.to_string(),
    };
    let bps = |k: &str| {
        o.get(k)
            .and_then(Value::as_f64)
            .map_or("-".to_string(), config::units::format_bps)
    };
    format!(
        "{:<16} {:<14} ifIndex={:<6} in={:>12} out={:>12} quality={}{}",
        s("switch"),
        s("port"),
        s("if_index"),
        bps("in_bps"),
        bps("out_bps"),
        s("quality"),
        o.get("unknown")
            .map(|u| format!(" unknown={u}"))
            .unwrap_or_default()
    )
}
