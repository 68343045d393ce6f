//! The running daemon: wires the stages together as DESIGN.md draws them,
//! config -> poll -> (live view, store) -> rules -> notify, with http beside, and handles
//! SIGHUP (reload: a bad file keeps the running configuration) and SIGINT/SIGTERM (stop,
//! flushing the store and keeping unsent mail in the outbox).
//!
//! Each stage only sees the narrow type of the one before it: the poller sends [`Sweep`]s on
//! a channel; this module hands each sweep to the live view (for `/metrics`), to the rule
//! evaluation of its ports, and to the store writer (which never makes polling wait).

mod pipeline;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use crate::config::{self, Config, Topology};
use crate::http::sources::{NotifySource, PollSource, StoreSource};
use crate::http::{AppState, Health, LiveView, MetricsSource};
use crate::notify::{Notifier, SenderOptions};
use crate::poll::{self, Poller, Sweep};
use crate::store::{Store, Writer};

pub use pipeline::Pipeline;

/// How the daemon reaches its switches and where it listens; the demo and tests override.
pub struct Options {
    /// The configuration file (re-read on SIGHUP).
    pub config_path: PathBuf,
    /// Reaches the switches; `None` is SNMP over UDP.
    pub connector: Option<poll::scheduler::Connector>,
    /// SMTP sender options (extra CA for tests).
    pub sender: SenderOptions,
}

/// A running daemon.
pub struct Daemon {
    config: Config,
    options: Options,
    poller: Poller,
    pipeline: Pipeline,
    writer: Arc<Writer>,
    notifier: Option<Notifier>,
    live: LiveView,
    health: Health,
    http_stop: watch::Sender<bool>,
    /// Address the HTTP server listens on.
    pub listen: std::net::SocketAddr,
}

impl Daemon {
    /// Opens the store, starts the notifier, the poller, the pipeline and the HTTP server.
    pub async fn start(config: Config, options: Options) -> anyhow::Result<Daemon> {
        let topology = Arc::new(config.topology.clone());
        std::fs::create_dir_all(&config.daemon.data_dir).with_context(|| {
            format!(
                "cannot create data_dir {}",
                config.daemon.data_dir.display()
            )
        })?;
        let store = Store::open_in(&config.daemon.data_dir, &config.retention)?;
        let writer = Arc::new(store.writer(topology.clone())?);
        let health = Health::default();
        let live = LiveView::new(topology.clone());
        let notifier = Notifier::from_config(&config, options.sender.clone())?;

        let (tx, rx) = mpsc::channel::<Sweep>(4096);
        let poller = spawn_poller(&config, topology.clone(), tx.clone(), &options);
        let pipeline = Pipeline::start(rx, tx.clone(), live.clone(), writer.clone());

        let mut sources: Vec<Arc<dyn MetricsSource>> = vec![
            Arc::new(PollSource(poller.metrics.clone())),
            Arc::new(StoreSource(writer.metrics())),
        ];
        if let Some(n) = &notifier {
            sources.push(Arc::new(NotifySource(n.metrics())));
        }
        health.set(
            "poller",
            true,
            format!("{} switches", topology.switches.len()),
        );
        health.set("store_writer", true, "running");
        let state = AppState {
            live: live.clone(),
            sources: Arc::new(sources),
            health: health.clone(),
        };
        let listener = crate::http::bind(config.daemon.listen).await?;
        let listen = listener.local_addr()?;
        let (http_stop, mut stop_rx) = watch::channel(false);
        tokio::spawn(async move {
            let stop = async move {
                let _ = stop_rx.wait_for(|s| *s).await;
            };
            if let Err(e) = crate::http::serve(listener, state, stop).await {
                error!("HTTP server stopped: {e}");
            }
        });
        info!(
            switches = topology.switches.len(),
            ports = topology.port_count(),
            %listen,
            db = %crate::store::db_path(&config.daemon.data_dir).display(),
            "bandwatch running"
        );
        Ok(Daemon {
            config,
            options,
            poller,
            pipeline,
            writer,
            notifier,
            live,
            health,
            http_stop,
            listen,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Re-reads the configuration file. On any error the running configuration stays in
    /// force and every problem is logged like `check` prints it.
    pub async fn reload(&mut self) -> Result<(), config::Diagnostics> {
        let loaded = config::load(&self.options.config_path)?;
        for w in loaded.warnings.warnings() {
            warn!("{w}");
        }
        let new = loaded.config;
        let topology = Arc::new(new.topology.clone());
        if let Err(e) = self.writer.update_topology(topology.clone()) {
            error!("store writer did not take the new topology: {e}");
        }
        self.live.set_topology(topology.clone());
        // Restart the poller on the new topology; its sweeps go to the same pipeline.
        self.poller.shutdown();
        self.poller = spawn_poller(&new, topology, self.pipeline.sender(), &self.options);
        if new.email.is_some() != self.config.email.is_some() || self.notifier.is_some() {
            if let Some(n) = self.notifier.take() {
                n.stop().await;
            }
            match Notifier::from_config(&new, self.options.sender.clone()) {
                Ok(n) => self.notifier = n,
                Err(e) => error!("notifier did not restart after reload: {e}"),
            }
        }
        info!(
            switches = new.topology.switches.len(),
            ports = new.topology.port_count(),
            "configuration reloaded"
        );
        self.config = new;
        Ok(())
    }

    /// Stops polling, drains the pipeline, flushes the store and stops the notifier (unsent
    /// mail stays in the outbox for the next start).
    pub async fn stop(mut self) {
        self.poller.shutdown();
        self.pipeline.stop().await;
        let writer = self.writer;
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(e) = writer.flush() {
                error!("store flush at shutdown failed: {e}");
            }
            // The pipeline has ended, so this is the last handle: stop the thread cleanly.
            if let Ok(w) = Arc::try_unwrap(writer) {
                w.shutdown();
            }
        })
        .await;
        if let Some(n) = self.notifier.take() {
            n.stop().await;
        }
        self.health.set("poller", false, "stopped");
        let _ = self.http_stop.send(true);
        info!("bandwatch stopped");
    }
}

fn spawn_poller(
    config: &Config,
    topology: Arc<Topology>,
    tx: mpsc::Sender<Sweep>,
    options: &Options,
) -> Poller {
    match &options.connector {
        Some(c) => {
            poll::scheduler::spawn_with(topology, config.daemon.max_concurrent_polls, tx, c.clone())
        }
        None => poll::spawn(topology, config.daemon.max_concurrent_polls, tx),
    }
}

/// `bandwatch run`: starts the daemon and serves until SIGINT/SIGTERM; SIGHUP reloads.
pub async fn run(config_path: &Path, config: Config) -> anyhow::Result<()> {
    let options = Options {
        config_path: config_path.to_path_buf(),
        connector: None,
        sender: SenderOptions::default(),
    };
    let mut daemon = Daemon::start(config, options).await?;
    let mut hup = hangup_signal()?;
    loop {
        tokio::select! {
            _ = crate::cli::run::shutdown_signal() => break,
            Some(()) = hup.recv() => {
                info!("SIGHUP: reloading {}", config_path.display());
                if let Err(diags) = daemon.reload().await {
                    for d in &diags.0 {
                        error!("{d}");
                    }
                    error!("reload rejected: the running configuration stays in force");
                }
            }
        }
    }
    info!("stopping");
    daemon.stop().await;
    Ok(())
}

/// SIGHUP as a stream of `()`.
fn hangup_signal() -> anyhow::Result<mpsc::Receiver<()>> {
    let (tx, rx) = mpsc::channel(4);
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                if tx.send(()).await.is_err() {
                    break;
                }
            }
        });
    }
    #[cfg(not(unix))]
    drop(tx);
    Ok(rx)
}
