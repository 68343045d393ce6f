//! `bandwatch simulate`: serves a fleet of simulated switches over SNMP (v2c and v3) on
//! consecutive UDP ports, with traffic from a scenario file, until interrupted; optionally
//! writes the bandwatch configuration that polls it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::sim::flows::{self, FlowOptions, FlowProtocol};
use crate::sim::{self, FleetOptions, Scenario};

/// Arguments of `simulate`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Number of switches.
    #[arg(long, default_value_t = 50)]
    pub switches: usize,
    /// Ports per switch.
    #[arg(long, default_value_t = 48)]
    pub ports: usize,
    /// Address of the first switch; the others follow on the next UDP ports.
    #[arg(long, default_value = "127.0.0.1:16100")]
    pub listen: SocketAddr,
    /// Scenario file (traffic shape and events); default: gentle daily traffic, no events.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Write a bandwatch configuration polling this fleet to FILE, then keep serving.
    #[arg(long, value_name = "FILE")]
    pub write_config: Option<PathBuf>,
    /// Poll interval written into that configuration.
    #[arg(long, default_value = "10s")]
    pub interval: String,
    /// Export flows of the switches' traffic to this collector (sFlow v5 and IPFIX, each
    /// switch from its own address 127.1.x.y); the written configuration trusts them.
    #[arg(long, value_name = "ADDR")]
    pub flows: Option<SocketAddr>,
    /// sFlow sampling rate (1 in N packets).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub flow_sampling: u32,
    /// Flow protocol: sflow, ipfix, or both (even switches sFlow, odd ones IPFIX).
    #[arg(long, default_value = "both", value_parser = ["sflow", "ipfix", "both"])]
    pub flow_protocol: String,
    /// Export the flows of the first N ports of each switch only (the uplinks); default all.
    #[arg(long, value_name = "N")]
    pub flow_ports: Option<usize>,
    /// v2c community the switches accept.
    #[arg(
        long,
        env = "BANDWATCH_COMMUNITY",
        default_value = "public",
        hide_env_values = true
    )]
    pub community: String,
}

/// Runs `simulate`: exit 1 on a bad scenario or an address that cannot be bound.
pub fn run(args: SimulateArgs) -> ExitCode {
    let scenario = match &args.scenario {
        Some(p) => match Scenario::load(p) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("bandwatch simulate: {e}");
                return ExitCode::from(1);
            }
        },
        None => Scenario::default(),
    };
    let rt = match super::tokio_runtime("simulate") {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async move {
        let opts = FleetOptions {
            switches: args.switches,
            ports: args.ports,
            listen: args.listen,
            scenario,
            community: args.community.clone(),
        };
        let fleet = match sim::start(&opts).await {
            Ok(f) => f,
            Err(e) => {
                eprintln!("bandwatch simulate: {e}");
                return ExitCode::from(1);
            }
        };
        let _flows = match args.flows {
            Some(collector) => {
                let protocol = match args.flow_protocol.as_str() {
                    "sflow" => Some(FlowProtocol::Sflow),
                    "ipfix" => Some(FlowProtocol::Ipfix),
                    _ => None,
                };
                let opts = FlowOptions {
                    collector,
                    sampling: args.flow_sampling,
                    protocol,
                    ports: args.flow_ports,
                };
                match flows::export(fleet.models.clone(), fleet.start, &opts) {
                    Ok(f) => Some(f),
                    Err(e) => {
                        eprintln!("bandwatch simulate: {e}");
                        return ExitCode::from(1);
                    }
                }
            }
            None => None,
        };
        if let Some(path) = &args.write_config {
            let mut text = sim::write_config(&fleet.switches, args.ports, &args.interval);
            if let Some(collector) = args.flows {
                let names: Vec<String> = fleet.switches.iter().map(|(n, _)| n.clone()).collect();
                text.push_str(&flows::flow_config(&names, collector));
            }
            if let Err(e) = std::fs::write(path, text) {
                eprintln!("bandwatch simulate: {}: cannot write: {e}", path.display());
                return ExitCode::from(1);
            }
            eprintln!("wrote {}", path.display());
        }
        let first = fleet.switches.first().map(|(_, a)| a.to_string());
        let last = fleet.switches.last().map(|(_, a)| a.port());
        eprintln!(
            "serving {} simulated switches x {} ports on {}..{} (v2c and v3 user {}); Ctrl-C or SIGTERM stops",
            fleet.switches.len(),
            args.ports,
            first.unwrap_or_default(),
            last.unwrap_or_default(),
            sim::fleet::SIM_V3_USER,
        );
        crate::daemon::signals::shutdown().await;
        fleet.stop();
        ExitCode::SUCCESS
    })
}
