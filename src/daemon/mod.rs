//! The running daemon: wiring only. It builds the [`Runtime`] model from the configuration,
//! starts the stages as DESIGN.md draws them, config -> poll -> (live view, store) -> rules
//! -> notify, with http beside, and keeps them on the model in force:
//!
//! - a reload (SIGHUP, `POST /-/reload`) builds a new model, and the daemon applies only
//!   what changed ([`reload`]); any failure leaves the running model in force;
//! - ports that discovery attributes by ifAlias patterns join the model the same way,
//!   without re-reading any file or restarting a stage;
//! - SIGINT/SIGTERM stop it, flushing the store and keeping unsent mail in the outbox.
//!
//! Each stage only sees the narrow type of the one before it: the poller sends [`Sweep`]s on
//! a channel; the [`Pipeline`] hands each sweep to the live view (for `/metrics`), to the
//! rule evaluation of its ports, and to the store writer (which never makes polling wait).

mod alerting;
pub mod lease;
mod pipeline;
pub mod reload;
pub mod signals;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{mpsc, watch};
use tracing::{debug, error, info, warn};

use crate::config::Config;
use crate::http::sources::{NotifySource, PollSource, ReloadSource, StoreSource};
use crate::http::{AppState, Health, LiveView, MetricsSource};
use crate::notify::{Notifier, SenderOptions};
use crate::poll::{self, Poller, Sweep};
use crate::rules::view::AlertsView;
use crate::runtime::{ReloadRequest, ReloadStatus, Runtime, RuntimeHandle, RuntimePublisher};
use crate::store::{Store, StoreWriter};

pub use alerting::Alerting;
pub use pipeline::Pipeline;
pub use reload::ReloadError;

/// Changes the daemon makes to every configuration it loads (the demo's data folder, its
/// listener and its sped-up intervals), at start and at each reload.
pub type ConfigOverride = Arc<dyn Fn(&mut Config) + Send + Sync>;

/// How the daemon reaches its switches and where it listens; the demo and tests override.
#[derive(Clone)]
pub struct Options {
    /// The configuration file (re-read on reload).
    pub config_path: PathBuf,
    /// Reaches the switches; `None` is SNMP over UDP.
    pub connector: Option<poll::scheduler::Connector>,
    /// SMTP sender options (extra CA for tests).
    pub sender: SenderOptions,
    /// Applied to every configuration loaded, the first one included.
    pub overrides: Option<ConfigOverride>,
}

impl Options {
    /// The options of `bandwatch run`: SNMP over UDP, default sender, no overrides.
    pub fn new(config_path: PathBuf) -> Options {
        Options {
            config_path,
            connector: None,
            sender: SenderOptions::default(),
            overrides: None,
        }
    }
}

/// The notify stage in force (replaced on a reload that changes `[email]`; `None` without
/// `[email]`).
pub type SharedNotifier = Arc<tokio::sync::RwLock<Option<Notifier>>>;

/// A running daemon.
pub struct Daemon {
    runtime: RuntimePublisher,
    options: Options,
    poller: Poller,
    pipeline: Pipeline,
    /// The store, opened once: every stage gets its handles from it.
    store: Store,
    writer: Arc<dyn StoreWriter>,
    /// The flow collector, when `[flow] listen` is set.
    flows: Option<crate::flow::Collector>,
    /// Prometheus remote write, one worker per `[[remote_write]]`.
    remote_write: crate::remote_write::RemoteWriter,
    /// The singleton lease's keeper, with `[daemon] shard`.
    lease: Option<lease::LeaseKeeper>,
    /// Whether this daemon does the singleton work (the outbox, the monthly report) now.
    holding: lease::Holding,
    notifier: SharedNotifier,
    alerting: Arc<Alerting>,
    live: LiveView,
    health: Health,
    reload_status: Arc<ReloadStatus>,
    reload_requests: mpsc::Receiver<ReloadRequest>,
    http_stop: watch::Sender<bool>,
    /// The poller's attribution generation the model was last built with.
    attribution_seen: u64,
    /// Address the HTTP server listens on.
    pub listen: std::net::SocketAddr,
}

impl Daemon {
    /// Builds the model from `config` (with `options.overrides` applied) and its rule files,
    /// opens the store, starts the notifier, the poller, the pipeline and the HTTP server.
    pub async fn start(mut config: Config, options: Options) -> anyhow::Result<Daemon> {
        if let Some(o) = &options.overrides {
            o(&mut config);
        }
        let runtime = Runtime::build(config, Vec::new())?;
        let config = runtime.config.clone();
        // A web configuration that does not load stops the start (TLS and users are not
        // silently dropped), with the same messages as `check`.
        let web = crate::http::web_config::check(&config);
        anyhow::ensure!(
            !web.has_errors(),
            "the web configuration does not load:\n{web}"
        );
        let topology = runtime.topology.clone();
        std::fs::create_dir_all(&config.daemon.data_dir).with_context(|| {
            format!(
                "cannot create data_dir {}",
                config.daemon.data_dir.display()
            )
        })?;
        // SQLite in data_dir, or the PostgreSQL of `[store]` (shared by several daemons);
        // opened off the async threads (the PostgreSQL client blocks).
        let store = {
            let config = config.clone();
            tokio::task::spawn_blocking(move || Store::open_config(&config))
                .await
                .context("opening the store")??
        };
        store.limit_memory();
        // With shards, several daemons share the store: the outbox, the monthly report, the
        // aggregate rules and retention run only in the holder of the singleton lease
        // (`lease`), whose notifier follows it.
        let (lease, holding) = match &config.daemon.shard {
            Some(shard) => {
                let holder = lease::holder_id(shard, config.daemon.listen);
                let (k, h) =
                    lease::LeaseKeeper::start(store.leases(), holder, config.daemon.interval.std());
                (Some(k), h)
            }
            None => (None, lease::Holding::always()),
        };
        // With shards, other daemons write the same store: each poll slot is stored once,
        // whichever daemon of an HA pair polled it; retention runs in the lease holder.
        let writer = {
            let (store, topology) = (store.clone(), topology.clone());
            let opts = crate::store::SinkOptions {
                shared: config.daemon.shard.is_some(),
                lease: holding.lease(),
                max_queued_samples: config.store.max_queued_samples,
            };
            tokio::task::spawn_blocking(move || store.sink_with(topology, opts))
                .await
                .context("opening the store")??
        };
        let health = Health::default();
        let live = LiveView::new(topology.clone());
        // Under a lease the notifier starts with it (`follow_lease`), never before.
        let notifier = match lease {
            Some(_) => None,
            None => Notifier::from_config(&config, store.outbox(), options.sender.clone())?,
        };
        let notifier: SharedNotifier = Arc::new(tokio::sync::RwLock::new(notifier));
        let (queued, queued_rx) = mpsc::unbounded_channel::<String>();
        tokio::spawn(wake_notifier(queued_rx, notifier.clone()));
        let alerts = AlertsView::default();
        let runtime = RuntimePublisher::new(runtime);
        let handle = runtime.subscribe();
        let evidence = Arc::new(crate::flow::Evidence::new());
        let flow_evidence = config
            .flow
            .enabled()
            .then(|| crate::flow::evidence::FlowEvidence {
                evidence: evidence.clone(),
                model: flow_models(&handle),
            });
        let alerting = Arc::new(Alerting::start_with_flows(
            handle.get().rules.to_vec(),
            topology.clone(),
            &store,
            writer.sealed(),
            queued,
            config.email.is_some(),
            alerts.clone(),
            flow_evidence,
        )?);

        if config.daemon.shard.is_some() {
            // Another daemon may poll the same shard (an HA pair) and owe the same notices.
            // Aggregate rules (across shards) run in the lease holder only.
            alerting.set_shared(
                (config.daemon.interval.std() * 5).max(Duration::from_secs(10)),
                holding.lease(),
            );
        }
        let (tx, rx) = mpsc::channel::<Sweep>(4096);
        let poller = spawn_poller(&config, tx, &options);
        live.set_attributed(poller.attributed.clone());
        let pipeline = Pipeline::start(rx, live.clone(), writer.clone(), alerting.clone());

        let flows = start_flows(&config, &handle, &writer, evidence).await?;
        tokio::spawn(deliver_reports(
            notifier.clone(),
            store.usage(),
            handle.clone(),
            holding.clone(),
        ));
        if lease.is_some() {
            tokio::spawn(follow_lease(
                holding.clone(),
                notifier.clone(),
                handle.clone(),
                store.outbox(),
                options.sender.clone(),
            ));
        }
        let reload_status = Arc::new(ReloadStatus::started(jiff::Timestamp::now().as_second()));
        let mut sources: Vec<Arc<dyn MetricsSource>> = vec![
            Arc::new(PollSource(poller.metrics.clone())),
            Arc::new(StoreSource(writer.metrics())),
            Arc::new(ReloadSource(reload_status.clone())),
            Arc::new(crate::http::sources::ProcessSource {
                sqlite_memory: {
                    let store = store.clone();
                    Box::new(move || store.sqlite_memory())
                },
            }),
        ];
        // The counters outlive notifiers replaced by reloads (and exist before `[email]` is
        // added by one).
        sources.push(Arc::new(NotifySource(Arc::clone(&options.sender.metrics))));
        if let Some(f) = &flows {
            sources.push(f.metrics());
        }
        sources.push(Arc::new(crate::http::sources::AlertSource(alerts.clone())));
        let rw_metrics = Arc::new(crate::remote_write::RemoteWriteMetrics::default());
        sources.push(rw_metrics.clone());
        if let Some(k) = &lease {
            sources.push(k.metrics());
        }
        // Remote write exports the families of `/metrics` from the live view the pipeline
        // keeps and the alerts (not the stages' self-metrics nor the money, which reads the
        // store).
        let mut remote_write = crate::remote_write::RemoteWriter::new(
            live.clone(),
            vec![Arc::new(crate::http::sources::AlertSource(alerts.clone()))],
            &config.daemon.data_dir,
            rw_metrics,
        );
        let failed = remote_write.apply(&config.remote_write).await;
        anyhow::ensure!(failed.is_empty(), "{}", failed.join("\n"));
        sources.push(Arc::new(crate::http::sources::CostSource::new(
            store.usage(),
            handle.clone(),
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
            alerts.clone(),
            Arc::clone(&options.sender.metrics),
            handle.clone(),
        ));
        let (reload_tx, reload_requests) = mpsc::channel::<ReloadRequest>(8);
        let state = AppState {
            live: live.clone(),
            sources: Arc::new(sources),
            health: health.clone(),
            alerts: alerts.clone(),
            store: Some(crate::http::StoreView::of(&store)),
            runtime: Some(handle.clone()),
            usage: Some(Arc::new(crate::http::usage::UsageApi {
                book: store.usage(),
                runtime: handle.clone(),
            })),
            reload: Some(reload_tx),
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
            db = %store.path().display(),
            "bandwatch running"
        );
        Ok(Daemon {
            runtime,
            options,
            poller,
            pipeline,
            store,
            writer,
            flows,
            remote_write,
            lease,
            holding,
            notifier,
            alerting,
            live,
            health,
            reload_status,
            reload_requests,
            http_stop,
            listen,
            attribution_seen: 0,
        })
    }

    /// The model in force.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.runtime.current()
    }

    /// A reader's handle on the model in force.
    pub fn runtime_handle(&self) -> RuntimeHandle {
        self.runtime.subscribe()
    }

    /// Runs until `stop` completes: reloads on SIGHUP and on `POST /-/reload`, takes in the
    /// ports discovery attributes by ifAlias patterns, then stops every stage cleanly.
    /// `bandwatch run` and `bandwatch demo` both serve through this.
    pub async fn serve(
        mut self,
        stop: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let mut hup = signals::hangups()?;
        let mut attribution = tokio::time::interval(std::time::Duration::from_secs(5));
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => break,
                _ = attribution.tick() => self.refresh_attribution(),
                Some(()) = hup.recv() => {
                    info!("SIGHUP: reloading {}", self.options.config_path.display());
                    // A stop during a slow reload (an SMTP server that does not answer the
                    // check) abandons the reload rather than waiting for it.
                    tokio::select! {
                        _ = self.reload() => {}
                        () = &mut stop => {
                            warn!("stop requested during a reload: the reload is abandoned");
                            break;
                        }
                    }
                }
                Some(reply) = self.reload_requests.recv() => {
                    info!("POST /-/reload: reloading {}", self.options.config_path.display());
                    tokio::select! {
                        r = self.reload() => {
                            let _ = reply.send(r.map_err(|e| e.to_string()));
                        }
                        () = &mut stop => {
                            warn!("stop requested during a reload: the reload is abandoned");
                            let _ = reply.send(Err("the daemon is stopping".into()));
                            break;
                        }
                    }
                }
            }
        }
        info!("stopping");
        self.stop().await;
        Ok(())
    }

    /// Stops polling, drains the pipeline, flushes the store and stops the notifier (unsent
    /// mail stays in the outbox for the next start).
    pub async fn stop(self) {
        self.poller.shutdown();
        // The poller holds the pipeline's sender: dropping it lets the pipeline drain and end.
        drop(self.poller);
        self.pipeline.stop().await;
        if let Some(f) = self.flows {
            f.stop().await;
        }
        self.remote_write.stop().await;
        let alerting = self.alerting;
        let _ = tokio::task::spawn_blocking(move || alerting.stop()).await;
        let writer = self.writer;
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(e) = writer.flush() {
                error!("store flush at shutdown failed: {e}");
            }
            // The last handle stops the writer thread (after one last attempt).
            drop(writer);
        })
        .await;
        // The rules thread has committed its notices to the outbox (or, on a full disk,
        // left their alerts' states uncommitted too): nothing owed is in flight.
        if let Some(n) = self.notifier.write().await.take() {
            n.stop().await;
        }
        if let Some(k) = self.lease {
            k.stop(self.store.leases()).await;
        }
        self.health.set("poller", false, "stopped");
        let _ = self.http_stop.send(true);
        info!("bandwatch stopped");
    }
}

/// Keeps `/healthz` true to the parts' state: the poller is alive while sweeps arrive (within
/// three intervals of the slowest switch in force, plus timeouts), the store writer while it
/// can write, the rules stage while its alert changes reach the store.
async fn watch_health(
    health: Health,
    live: LiveView,
    writer: Arc<crate::store::WriterMetrics>,
    alerts: AlertsView,
    notify: Arc<crate::notify::NotifyMetrics>,
    runtime: RuntimeHandle,
) {
    let started = std::time::Instant::now();
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let max_interval = runtime
            .get()
            .topology
            .switches
            .iter()
            .map(|s| s.interval.std())
            .max()
            .unwrap_or_default();
        let limit = max_interval * 3 + std::time::Duration::from_secs(30);
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
        let commit = alerts.commit();
        match commit.last_error {
            Some(e) => health.set(
                "alert_commit",
                false,
                format!("{} alert changes not written: {e}", commit.unsaved),
            ),
            None => health.set("alert_commit", true, "alert changes written"),
        }
        // The server's reply is not repeated here (it may quote an address; `/healthz` is
        // open): `bandwatch outbox list` and the log at error level have it.
        let refused = notify.failed();
        health.set_condition(
            "notification-failing",
            (refused > 0).then(|| {
                format!(
                    "{refused} message(s) refused by the mail server (see `bandwatch outbox list` and the log); tried again after a reload, a restart or `bandwatch outbox retry`"
                )
            }),
        );
    }
}

/// Queues the monthly report for email when it is due (`[report] day` and `time`), through
/// the outbox of the notifier in force, with the customers, routes and rules in force; each
/// month's report is queued once, whatever the restarts. A notifier added by a reload
/// delivers the next report.
async fn deliver_reports(
    notifier: SharedNotifier,
    book: crate::store::UsageBook,
    runtime: RuntimeHandle,
    holding: lease::Holding,
) {
    loop {
        let outbox = match holding.held() {
            true => notifier.read().await.as_ref().map(Notifier::outbox),
            false => None,
        };
        if let Some(o) = outbox {
            let (rt, book) = (runtime.get(), book.clone());
            let r = tokio::task::spawn_blocking(move || {
                crate::report::deliver::queue_due(
                    &o,
                    &book,
                    &rt.config,
                    &rt.rules,
                    jiff::Timestamp::now(),
                )
                .map_err(|e| e.to_string())
            })
            .await;
            match r {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => info!(messages = n, "monthly report queued for email"),
                Ok(Err(e)) => warn!("monthly report: {e}"),
                Err(e) => warn!("monthly report task: {e}"),
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(300)).await;
    }
}

/// Starts the notifier when this daemon takes the singleton lease (it finds what is owed in
/// the outbox) and stops it when the lease is lost, so one daemon sends at a time.
async fn follow_lease(
    mut holding: lease::Holding,
    notifier: SharedNotifier,
    runtime: RuntimeHandle,
    outbox: Arc<dyn crate::store::OutboxStore>,
    sender: SenderOptions,
) {
    loop {
        holding.changed().await;
        let held = holding.held();
        let mut g = notifier.write().await;
        if held && g.is_none() {
            // Each message is claimed with the lease's fencing token before it is sent.
            let opts = SenderOptions {
                lease: holding.lease(),
                ..sender.clone()
            };
            match Notifier::from_config(&runtime.get().config, outbox.clone(), opts) {
                Ok(n) => *g = n,
                Err(e) => error!("the notifier did not start with the lease: {e}"),
            }
        } else if !held && let Some(n) = g.take() {
            n.stop().await;
        }
    }
}

/// Tells the notifier in force which routes got notices queued by the rules stage (their
/// groups' wait starts). A notifier started later finds them in the outbox by itself.
async fn wake_notifier(mut rx: mpsc::UnboundedReceiver<String>, notifier: SharedNotifier) {
    while let Some(route) = rx.recv().await {
        if let Some(n) = notifier.read().await.as_ref() {
            n.queued(route);
        }
    }
}

/// Starts the flow collector on `[flow] listen` (none when empty). It reads the exporters
/// and prefixes of the model in force at each datagram, so a reload needs no restart; its
/// customer minutes go through the store writer.
async fn start_flows(
    config: &Config,
    handle: &RuntimeHandle,
    writer: &Arc<dyn StoreWriter>,
    evidence: Arc<crate::flow::Evidence>,
) -> anyhow::Result<Option<crate::flow::Collector>> {
    if !config.flow.enabled() {
        return Ok(None);
    }
    let sink: Arc<dyn crate::store::FlowSink> = Arc::new(FlowsTo {
        writer: writer.clone(),
        shard: config.daemon.shard.clone(),
    });
    let c = crate::flow::Collector::start(&config.flow.listen, flow_models(handle), sink, evidence)
        .await?;
    Ok(Some(c))
}

/// The store writer as the flow collector's sink. With `[daemon] shard` each slot names it,
/// so the store keeps one of an HA pair's two measurements of a minute.
struct FlowsTo {
    writer: Arc<dyn StoreWriter>,
    shard: Option<String>,
}

impl crate::store::FlowSink for FlowsTo {
    fn submit_flows(
        &self,
        mut slots: Vec<crate::store::FlowSlot>,
    ) -> Result<(), crate::store::StoreError> {
        if let Some(shard) = &self.shard {
            for s in &mut slots {
                s.shard = Some(shard.clone());
            }
        }
        self.writer.submit_flows(slots)
    }
}

/// The flow model of the runtime model in force, read at each use.
fn flow_models(handle: &RuntimeHandle) -> crate::flow::collector::ModelSource {
    let h = handle.clone();
    Arc::new(move || h.get().flow.clone())
}

fn spawn_poller(config: &Config, tx: mpsc::Sender<Sweep>, options: &Options) -> Poller {
    // The configured topology: ports attributed by ifAlias patterns are found by each
    // switch's own discovery and must not make its definition look changed.
    let topology = Arc::new(poll::shard::polled(
        &config.topology,
        config.daemon.shard.as_deref(),
    ));
    match &options.connector {
        Some(c) => {
            poll::scheduler::spawn_with(topology, config.daemon.max_concurrent_polls, tx, c.clone())
        }
        None => poll::spawn(topology, config.daemon.max_concurrent_polls, tx),
    }
}

/// `bandwatch run`: starts the daemon on `config` and serves until SIGINT/SIGTERM; SIGHUP
/// and `POST /-/reload` reload.
pub async fn run(options: Options, config: Config) -> anyhow::Result<()> {
    let daemon = Daemon::start(config, options).await?;
    // Not evicted from the page cache yet: a daemon restarted within its first minute (a
    // crash loop) would read its code from the disk at every start.
    release_startup_code("the start", false);
    // The start goes on after `start` returns: the rules warm their baselines from the store
    // at each entity's first point, the writer reads ahead for its first seal. Their code is
    // given back once a whole minute after the start is stored for every switch (the
    // writer's "sealed up to" mark passes it), by when every entity has had its first point.
    let mut sealed = daemon.writer.sealed();
    let minute_in = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(60);
    tokio::spawn(async move {
        while sealed.changed().await.is_ok() {
            if sealed.borrow_and_update().is_some_and(|t| t >= minute_in) {
                release_startup_code("the start's first minute", true);
                break;
            }
        }
    });
    daemon.serve(signals::shutdown()).await
}

/// Gives back the executable's pages that `after` ran and the steady state does not
/// (`crate::mem::release_startup_code`): called by `run` once the daemon has started, again
/// once its first whole minute is stored, and after each reload.
pub(crate) fn release_startup_code(after: &str, evict: bool) {
    match crate::mem::release_startup_code(evict) {
        Ok(r) => debug!(
            mappings = r.mappings,
            file_mib_before = r.file_kib_before / 1024,
            file_mib_after = r.file_kib_after / 1024,
            "gave back the code pages {after} ran"
        ),
        Err(e) => debug!("cannot give back the code pages {after} ran: {e}"),
    }
}
