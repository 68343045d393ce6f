//! A fleet of simulated switches on consecutive UDP ports of one address, each answering
//! SNMPv2c (the community) and SNMPv3 (a fixed SHA-1/AES-128 user), and the bandwatch
//! configuration that polls it.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use async_snmp::agent::Agent;
use async_snmp::v3::AuthoritativeEngine;
use async_snmp::{AuthProtocol, PrivProtocol, oid};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::agent::SimHandler;
use super::scenario::Scenario;
use super::traffic::SwitchModel;

/// SNMPv3 user every simulated switch accepts (authPriv, SHA-1 + AES-128).
pub const SIM_V3_USER: &str = "bandwatch";
/// Its authentication password (a test fixture, not a secret).
pub const SIM_V3_AUTH: &str = "bandwatch-auth";
/// Its privacy password (a test fixture, not a secret).
pub const SIM_V3_PRIV: &str = "bandwatch-priv";

/// Largest response a simulated switch sends: one UDP datagram, as net-snmp does over v2c
/// (the async-snmp agent's default is 1,472 bytes, which would cut GETBULKs of 99 varbinds).
pub const SIM_MAX_MESSAGE: usize = 65_507;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct FleetOptions {
    /// Number of switches.
    pub switches: usize,
    /// Ports per switch.
    pub ports: usize,
    /// Address of the first switch; switch `n` listens on port + n (port 0: each switch on a
    /// free port).
    pub listen: SocketAddr,
    /// Traffic and events.
    pub scenario: Scenario,
    /// v2c community accepted.
    pub community: String,
}

/// A running fleet.
pub struct Fleet {
    /// (switch name, address) in order.
    pub switches: Vec<(String, SocketAddr)>,
    /// The models, for checking measured rates against the script.
    pub models: Vec<Arc<SwitchModel>>,
    /// Time 0 of every model.
    pub start: Instant,
    tasks: Vec<JoinHandle<()>>,
    agents: Vec<Arc<Agent>>,
}

impl Fleet {
    /// Stops every agent.
    pub fn stop(&self) {
        for a in &self.agents {
            a.cancel();
        }
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The name of switch `n` of a fleet.
pub fn switch_name(n: usize) -> String {
    format!("sim-{n:04}")
}

/// Starts the fleet: binds every agent (an error names the address that failed) and serves
/// until [`Fleet::stop`] or drop.
pub async fn start(opts: &FleetOptions) -> Result<Fleet, String> {
    let start = Instant::now();
    let mut fleet = Fleet {
        switches: Vec::new(),
        models: Vec::new(),
        start,
        tasks: Vec::new(),
        agents: Vec::new(),
    };
    for n in 0..opts.switches {
        let name = switch_name(n);
        // Port 0: every switch on a free port of its own (the addresses are in `switches`).
        let port = if opts.listen.port() == 0 {
            0
        } else {
            u16::try_from(usize::from(opts.listen.port()) + n)
                .map_err(|_| format!("switch {name}: UDP port beyond 65535"))?
        };
        let addr = SocketAddr::new(opts.listen.ip(), port);
        let model = Arc::new(SwitchModel::new(&opts.scenario, &name, n, opts.ports));
        let engine_id = format!("bandwatch-sim-{n}").into_bytes();
        let engine =
            AuthoritativeEngine::install(engine_id, |_| Ok::<(), std::convert::Infallible>(()))
                .map_err(|e| format!("switch {name}: engine: {e}"))?;
        let agent = Agent::builder()
            .bind(addr.to_string())
            .community(opts.community.as_bytes())
            .authoritative_engine(engine)
            .usm_user(SIM_V3_USER, |u| {
                u.auth_priv(
                    AuthProtocol::Sha1,
                    SIM_V3_AUTH,
                    PrivProtocol::Aes128,
                    SIM_V3_PRIV,
                )
            })
            .map_err(|e| format!("switch {name}: v3 user: {e}"))?
            .recv_buffer_size(None)
            // Like net-snmp over v2c, answer with up to one UDP datagram (v3 clients still
            // bound it by their advertised msgMaxSize).
            .max_message_size(SIM_MAX_MESSAGE)
            .handler(
                oid!(1, 3, 6, 1, 2, 1),
                Arc::new(SimHandler::new(model.clone(), start)),
            )
            .allow_all_access()
            .build()
            .await
            .map_err(|e| format!("switch {name}: cannot serve on {addr}: {e}"))?;
        let agent = Arc::new(agent);
        let bound = agent.local_addr();
        let runner = agent.clone();
        fleet.tasks.push(tokio::spawn(async move {
            if let Err(e) = runner.run().await {
                tracing::warn!(address = %bound, error = %e, "simulated agent stopped");
            }
        }));
        fleet.agents.push(agent);
        fleet.switches.push((name, bound));
        fleet.models.push(model);
    }
    Ok(fleet)
}

/// A bandwatch configuration polling this fleet: one site, a v2c profile whose community
/// comes from `BANDWATCH_COMMUNITY` (default `public`), a v3 profile for the simulator's
/// user, every port configured by name except the `Cust:` ports, which the alias pattern
/// attributes. `interval` is the poll interval written for `[daemon]`.
pub fn write_config(fleet: &[(String, SocketAddr)], ports: usize, interval: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Polls a simulated fleet started by `bandwatch simulate`.\n\
         # Customer ports (ifAlias `Cust: NAME`) are attributed by the alias pattern.\n\
         alias_patterns = [\"^Cust: (?P<customer>[A-Za-z0-9_-]+)\"]\n\n\
         [daemon]\ninterval = \"{interval}\"\nrediscover = \"1h\"\n\n\
         [snmp.default]\nversion = \"2c\"\ncommunity = \"${{BANDWATCH_COMMUNITY:-public}}\"\n\
         timeout = \"2s\"\nretries = 1\nmax_repetitions = 14\n\n\
         [snmp.v3]\nversion = \"3\"\nuser = \"{SIM_V3_USER}\"\nauth = \"sha1\"\n\
         auth_password = \"${{BANDWATCH_SIM_AUTH:-{SIM_V3_AUTH}}}\"\nprivacy = \"aes128\"\n\
         privacy_password = \"${{BANDWATCH_SIM_PRIV:-{SIM_V3_PRIV}}}\"\n\n\
         [[site]]\nname = \"sim\"\ndescription = \"simulated fleet\"\n\n\
         [[product_line]]\nname = \"cdn\"\n\n[[product_line]]\nname = \"cloud\"\n"
    );
    for (name, addr) in fleet {
        let _ = writeln!(
            s,
            "[[switch]]\nname = \"{name}\"\nsite = \"sim\"\naddress = \"{addr}\"\n"
        );
        for n in 1..=ports {
            if n > 2 && n.is_multiple_of(4) {
                continue; // attributed by its ifAlias
            }
            let _ = write!(s, "[[port]]\nswitch = \"{name}\"\nname = \"eth{n}\"\n");
            match n {
                1 => s.push_str("product_line = \"cdn\"\nrole = \"uplink\"\n"),
                2 => s.push_str("product_line = \"cloud\"\nrole = \"uplink\"\n"),
                _ => s.push_str("role = \"server\"\n"),
            }
            s.push('\n');
        }
    }
    s
}
