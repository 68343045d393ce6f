//! The running daemon: wires the stages together as DESIGN.md draws them,
//! config -> poll -> (live view, store) -> rules -> notify, with http beside, and handles
//! SIGHUP (reload: a bad file keeps the running configuration) and SIGINT/SIGTERM (stop,
//! flushing the store and keeping unsent mail in the outbox).
//!
//! Each stage only sees the narrow type of the one before it: the poller sends [`Sweep`]s on
//! a channel; this module hands each sweep to the live view (for `/metrics`), to the rule
//! evaluation of its ports, and to the store writer (which never makes polling wait).

mod alerting;
mod pipeline;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use crate::config::{self, Config, ConfigHandle, Topology};
use crate::http::sources::{NotifySource, PollSource, StoreSource};
use crate::http::{AppState, Health, LiveView, MetricsSource};
use crate::notify::{Notice, Notifier, SenderOptions};
use crate::poll::{self, Poller, Sweep};
use crate::rules::view::AlertsView;
use crate::store::{Store, Writer};

pub use alerting::Alerting;
pub use pipeline::{Pipeline, SharedAlerting};

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
    /// The configuration the HTTP report, usage API, money metrics and report delivery read.
    in_force: ConfigHandle,
    options: Options,
    poller: Poller,
    pipeline: Pipeline,
    writer: Arc<Writer>,
    notifier: SharedNotifier,
    alerting: SharedAlerting,
    alerts: AlertsView,
    notices: tokio::sync::mpsc::UnboundedSender<Notice>,
    live: LiveView,
    health: Health,
    http_stop: watch::Sender<bool>,
    /// The poller's attribution generation the store and rules were last given.
    attribution_seen: u64,
    /// Address the HTTP server listens on.
    pub listen: std::net::SocketAddr,
}

impl Daemon {
    /// Opens the store, starts the notifier, the poller, the pipeline and the HTTP server.
    pub async fn start(config: Config, options: Options) -> anyhow::Result<Daemon> {
        let topology = Arc::new(config.topology.clone());
        let in_force = ConfigHandle::new(config.clone());
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
        let metrics_notify = notifier.as_ref().map(|n| n.metrics());
        let notifier: SharedNotifier = Arc::new(tokio::sync::RwLock::new(notifier));
        let (notices, notice_rx) = tokio::sync::mpsc::unbounded_channel::<Notice>();
        tokio::spawn(forward_notices(notice_rx, notifier.clone()));
        if let Some(n) = notifier.read().await.as_ref() {
            tokio::spawn(deliver_reports(n.outbox(), in_force.clone()));
        }
        let alerts = AlertsView::default();
        let alerting: SharedAlerting = Arc::new(std::sync::Mutex::new(Some(start_rules(
            &config,
            &config.topology,
            notices.clone(),
            alerts.clone(),
        )?)));

        let (tx, rx) = mpsc::channel::<Sweep>(4096);
        let poller = spawn_poller(&config, topology.clone(), tx.clone(), &options);
        live.set_attributed(poller.attributed.clone());
        let pipeline = Pipeline::start(
            rx,
            tx.clone(),
            live.clone(),
            writer.clone(),
            alerting.clone(),
        );

        let mut sources: Vec<Arc<dyn MetricsSource>> = vec![
            Arc::new(PollSource(poller.metrics.clone())),
            Arc::new(StoreSource(writer.metrics())),
        ];
        if let Some(m) = metrics_notify {
            sources.push(Arc::new(NotifySource(m)));
        }
        sources.push(Arc::new(crate::http::sources::AlertSource(alerts.clone())));
        sources.push(Arc::new(crate::http::sources::CostSource::new(
            crate::store::db_path(&config.daemon.data_dir),
            in_force.clone(),
        )));
        health.set(
            "poller",
            true,
            format!("{} switches", topology.switches.len()),
        );
        health.set("store_writer", true, "running");
        tokio::spawn(watch_health(
            health.clone(),
            live.clone(),
            writer.metrics(),
            topology
                .switches
                .iter()
                .map(|s| s.interval.std())
                .max()
                .unwrap_or_default(),
        ));
        let state = AppState {
            live: live.clone(),
            sources: Arc::new(sources),
            health: health.clone(),
            alerts: alerts.clone(),
            db: Some(crate::store::db_path(&config.daemon.data_dir)),
            config: Some(in_force.clone()),
            usage: Some(Arc::new(crate::http::usage::UsageApi {
                db: crate::store::db_path(&config.daemon.data_dir),
                config: in_force.clone(),
            })),
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
            in_force,
            options,
            poller,
            pipeline,
            writer,
            notifier,
            alerting,
            alerts,
            notices,
            live,
            health,
            http_stop,
            listen,
            attribution_seen: 0,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Gives the store, the rules and `/metrics` the ports the poller attributed by ifAlias patterns,
    /// when they changed since the last call: each joins its switch, site, product line and
    /// customer aggregates, and a customer or product line named only by an alias gets its
    /// own series and rules, like a configured one. The poller keeps the configured topology.
    pub fn refresh_attribution(&mut self) {
        let generation = self.poller.attributed.generation();
        if generation == self.attribution_seen {
            return;
        }
        self.attribution_seen = generation;
        let discovered = self.poller.attributed.all();
        let effective = Arc::new(self.config.topology.with_attributed(&discovered));
        if let Err(e) = self.writer.update_topology(effective.clone()) {
            error!("store writer did not take the attributed ports: {e}");
        }
        self.live.set_topology(effective.clone());
        // Rule files changed on disk since the last (re)load and now broken: the running
        // rules stay, on the configured ports, until a reload.
        match start_rules(
            &self.config,
            &effective,
            self.notices.clone(),
            self.alerts.clone(),
        ) {
            Ok(a) => self.replace_alerting(a),
            Err(e) => error!("rules did not restart on the attributed ports: {e}"),
        }
        info!(
            attributed = discovered.len(),
            customers = effective.customers.len(),
            product_lines = effective.product_lines.len(),
            "ports attributed by ifAlias patterns joined their aggregates"
        );
    }

    /// Puts `rules` in force in the pipeline and stops the rules thread they replace.
    fn replace_alerting(&self, rules: Alerting) {
        let old = self
            .alerting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .replace(rules);
        if let Some(old) = old {
            old.stop();
        }
    }

    /// Re-reads the configuration file. On any error the running configuration stays in
    /// force and every problem is logged like `check` prints it.
    pub async fn reload(&mut self) -> Result<(), config::Diagnostics> {
        let loaded = config::load(&self.options.config_path)?;
        for w in loaded.warnings.warnings() {
            warn!("{w}");
        }
        let new = loaded.config;
        // Rules first: a bad rule file rejects the whole reload.
        let (rule_files, diags) =
            crate::rules::file::load_dir(&new.daemon.rules_dir, &new.topology);
        if diags.has_errors() {
            return Err(diags);
        }
        let rules = match Alerting::start(
            rule_files.rules,
            &new.topology,
            crate::store::db_path(&new.daemon.data_dir),
            new.retention,
            self.notices.clone(),
            self.alerts.clone(),
        ) {
            Ok(a) => a,
            Err(e) => {
                error!("rules did not restart after reload: {e}");
                return Ok(());
            }
        };
        self.replace_alerting(rules);
        let topology = Arc::new(new.topology.clone());
        if let Err(e) = self.writer.update_topology(topology.clone()) {
            error!("store writer did not take the new topology: {e}");
        }
        self.live.set_topology(topology.clone());
        // Restart the poller on the new topology; its sweeps go to the same pipeline.
        self.poller.shutdown();
        self.poller = spawn_poller(&new, topology, self.pipeline.sender(), &self.options);
        self.live.set_attributed(self.poller.attributed.clone());
        self.attribution_seen = 0;
        {
            let mut guard = self.notifier.write().await;
            if let Some(n) = guard.take() {
                n.stop().await;
            }
            match Notifier::from_config(&new, self.options.sender.clone()) {
                Ok(n) => *guard = n,
                Err(e) => error!("notifier did not restart after reload: {e}"),
            }
        }
        info!(
            switches = new.topology.switches.len(),
            ports = new.topology.port_count(),
            "configuration reloaded"
        );
        self.in_force.replace(new.clone());
        self.config = new;
        Ok(())
    }

    /// Stops polling, drains the pipeline, flushes the store and stops the notifier (unsent
    /// mail stays in the outbox for the next start).
    pub async fn stop(self) {
        self.poller.shutdown();
        self.pipeline.stop().await;
        let rules = self
            .alerting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(r) = rules {
            let _ = tokio::task::spawn_blocking(move || r.stop()).await;
        }
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
        // Give notices already handed over a moment to reach the outbox, then stop.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        if let Some(n) = self.notifier.write().await.take() {
            n.stop().await;
        }
        self.health.set("poller", false, "stopped");
        let _ = self.http_stop.send(true);
        info!("bandwatch stopped");
    }
}

/// Keeps `/healthz` true to the parts' state: the poller is alive while sweeps arrive (within
/// three intervals of the slowest switch, plus timeouts), the store writer while it can write.
async fn watch_health(
    health: Health,
    live: LiveView,
    writer: Arc<crate::store::WriterMetrics>,
    max_interval: std::time::Duration,
) {
    let started = std::time::Instant::now();
    let limit = max_interval * 3 + std::time::Duration::from_secs(30);
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let quiet = live.since_last_sweep().unwrap_or_else(|| started.elapsed());
        if quiet > limit {
            health.set(
                "poller",
                false,
                format!("no sweep for {} s", quiet.as_secs()),
            );
        } else {
            health.set("poller", true, "sweeps arriving");
        }
        if writer.failing.get() > 0 {
            let detail = writer.last_error().unwrap_or_else(|| "cannot write".into());
            health.set("store_writer", false, detail);
        } else {
            health.set(
                "store_writer",
                true,
                format!("queue {}", writer.queue_depth.get()),
            );
        }
    }
}

/// Queues the monthly report for email when it is due (`[report] day` and `time`), through
/// the outbox, with the customers and routes in force; each month's report is queued once,
/// whatever the restarts.
async fn deliver_reports(outbox: Arc<crate::notify::Outbox>, config: ConfigHandle) {
    loop {
        let (o, c) = (outbox.clone(), config.get());
        let r = tokio::task::spawn_blocking(move || {
            let book =
                crate::store::UsageBook::open_read(&crate::store::db_path(&c.daemon.data_dir))
                    .map_err(|e| e.to_string())?;
            crate::report::deliver::queue_due(&o, &book, &c, jiff::Timestamp::now())
                .map_err(|e| e.to_string())
        })
        .await;
        match r {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => info!(messages = n, "monthly report queued for email"),
            Ok(Err(e)) => warn!("monthly report: {e}"),
            Err(e) => warn!("monthly report task: {e}"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(300)).await;
    }
}

/// The notify stage currently in force (replaced on reload; `None` without `[email]`).
pub type SharedNotifier = Arc<tokio::sync::RwLock<Option<Notifier>>>;

/// Forwards the rules stage's notices to the notifier; each is in the outbox once `send`
/// returns.
async fn forward_notices(
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Notice>,
    notifier: SharedNotifier,
) {
    while let Some(n) = rx.recv().await {
        let guard = notifier.read().await;
        match guard.as_ref() {
            Some(notifier) => {
                if let Err(e) = notifier.send(n).await {
                    error!("notify: {e}");
                }
            }
            None => {
                info!(rule = %n.rule, entity = %n.entity, kind = n.kind.word(), "no [email] configured: notice logged only")
            }
        }
    }
}

/// Loads the rule files and starts the rules thread on `topology` (the configured one, or
/// with the ports attributed by ifAlias patterns).
fn start_rules(
    config: &Config,
    topology: &Topology,
    notices: tokio::sync::mpsc::UnboundedSender<Notice>,
    alerts: AlertsView,
) -> anyhow::Result<Alerting> {
    let (rule_files, diags) =
        crate::rules::file::load_dir(&config.daemon.rules_dir, &config.topology);
    for d in diags.warnings() {
        warn!("{d}");
    }
    if diags.has_errors() {
        anyhow::bail!("rule files have errors:\n{diags}");
    }
    info!(
        rules = rule_files.rules.len(),
        files = rule_files.files.len(),
        "rules loaded"
    );
    Ok(Alerting::start(
        rule_files.rules,
        topology,
        crate::store::db_path(&config.daemon.data_dir),
        config.retention,
        notices,
        alerts,
    )?)
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
    let mut attribution = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = crate::cli::run::shutdown_signal() => break,
            _ = attribution.tick() => daemon.refresh_attribution(),
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
