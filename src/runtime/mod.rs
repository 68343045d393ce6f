//! The runtime model: what the daemon runs, built once from a validated configuration and
//! its rule files, and never changed in place.
//!
//! The parsed configuration ([`Config`]) says what the files say; a [`Runtime`] is what the
//! stages run on: the topology in force (the configured one plus the ports attributed by
//! ifAlias patterns), the compiled rules, the routes and prices. A reload (SIGHUP,
//! `POST /-/reload`, or an alias change found by discovery) builds a new `Runtime`, compares
//! it with the running one ([`diff::Diff`]) and the daemon applies only what changed
//! (Prometheus's `ApplyConfig` and `rules.Manager.Update` are the model). The model in force
//! is published through a [`tokio::sync::watch`] channel: every reader holds a
//! [`RuntimeHandle`] and takes a snapshot that a reload never changes under it.

pub mod diff;

use std::sync::Arc;

use tokio::sync::watch;

use crate::config::{Config, Diagnostics, PortLabels, Topology};
use crate::rules::Rule;

pub use diff::Diff;

/// One immutable model of what the daemon runs.
#[derive(Debug)]
pub struct Runtime {
    /// The configuration as loaded (with the caller's overrides, e.g. the demo's).
    pub config: Arc<Config>,
    /// The topology in force: the configured one with the ports attributed by ifAlias
    /// patterns joined to their switch, site, product line and customer.
    pub topology: Arc<Topology>,
    /// The compiled rules of `daemon.rules_dir`, in file order.
    pub rules: Arc<Vec<Rule>>,
    /// The alias-attributed ports `topology` was built with.
    pub attributed: Arc<Vec<PortLabels>>,
    /// The flow collector's exporters and customer prefixes (longest-prefix-match table),
    /// built once per model.
    pub flow: Arc<crate::flow::FlowModel>,
}

/// Why a new runtime model could not be built; the running one stays in force.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The configuration file has errors.
    #[error("configuration:\n{0}")]
    Config(Diagnostics),
    /// A rule file has errors.
    #[error("rule files:\n{0}")]
    Rules(Diagnostics),
}

impl Runtime {
    /// Compiles the rule files of `config.daemon.rules_dir` and builds the model, with the
    /// alias-attributed ports known so far. Warnings of the rule files are logged.
    pub fn build(config: Config, attributed: Vec<PortLabels>) -> Result<Runtime, BuildError> {
        let (files, diags) =
            crate::rules::file::load_dir(&config.daemon.rules_dir, &config.topology);
        if diags.has_errors() {
            return Err(BuildError::Rules(diags));
        }
        for w in diags.warnings() {
            tracing::warn!("{w}");
        }
        for (line, key, message) in crate::maintenance::unknown_rules(
            &config.topology.maintenance,
            files.rules.iter().map(|r| r.name.as_str()),
        ) {
            tracing::warn!("{}:{line}: {key}: {message}", config.path.display());
        }
        tracing::info!(
            rules = files.rules.len(),
            files = files.files.len(),
            "rules loaded"
        );
        Ok(Runtime::from_parts(config, files.rules, attributed))
    }

    /// The model of an already validated configuration and compiled rules (tests, backtests).
    pub fn from_parts(config: Config, rules: Vec<Rule>, attributed: Vec<PortLabels>) -> Runtime {
        let topology = Arc::new(config.topology.with_attributed(&attributed));
        let flow = Arc::new(crate::flow::FlowModel::new(&config.flow).with_ports(&topology));
        Runtime {
            flow,
            config: Arc::new(config),
            topology,
            rules: Arc::new(rules),
            attributed: Arc::new(attributed),
        }
    }

    /// The same model with another set of alias-attributed ports: only the topology is
    /// derived again; configuration and rules are shared, not re-read.
    pub fn with_attributed(&self, attributed: Vec<PortLabels>) -> Runtime {
        let topology = Arc::new(self.config.topology.with_attributed(&attributed));
        Runtime {
            config: self.config.clone(),
            flow: Arc::new(crate::flow::FlowModel::new(&self.config.flow).with_ports(&topology)),
            topology,
            rules: self.rules.clone(),
            attributed: Arc::new(attributed),
        }
    }
}

/// A reader's view of the model in force: a snapshot per call, replaced as a whole on a
/// successful reload.
#[derive(Clone, Debug)]
pub struct RuntimeHandle(watch::Receiver<Arc<Runtime>>);

impl RuntimeHandle {
    /// A handle that always shows `runtime` (tests, one-shot commands).
    pub fn fixed(runtime: Runtime) -> RuntimeHandle {
        let (tx, rx) = watch::channel(Arc::new(runtime));
        // The value stays readable after the sender is gone.
        drop(tx);
        RuntimeHandle(rx)
    }

    /// A handle that always shows the model of `config` with no rules (tests, one-shot
    /// commands that only read the configuration).
    pub fn of_config(config: Config) -> RuntimeHandle {
        RuntimeHandle::fixed(Runtime::from_parts(config, Vec::new(), Vec::new()))
    }

    /// The model in force now.
    pub fn get(&self) -> Arc<Runtime> {
        self.0.borrow().clone()
    }

    /// The configuration in force now.
    pub fn config(&self) -> Arc<Config> {
        self.0.borrow().config.clone()
    }

    /// Waits until a new model is put in force (`false` once the daemon has gone).
    pub async fn changed(&mut self) -> bool {
        self.0.changed().await.is_ok()
    }
}

/// The publishing side, held by the daemon.
#[derive(Debug)]
pub struct RuntimePublisher(watch::Sender<Arc<Runtime>>);

impl RuntimePublisher {
    /// Starts publishing `runtime`.
    pub fn new(runtime: Runtime) -> RuntimePublisher {
        RuntimePublisher(watch::Sender::new(Arc::new(runtime)))
    }

    /// A handle for a reader.
    pub fn subscribe(&self) -> RuntimeHandle {
        RuntimeHandle(self.0.subscribe())
    }

    /// The model in force.
    pub fn current(&self) -> Arc<Runtime> {
        self.0.borrow().clone()
    }

    /// Puts `runtime` in force for every reader.
    pub fn publish(&self, runtime: Arc<Runtime>) {
        self.0.send_replace(runtime);
    }
}

/// A request to reload (`POST /-/reload`), with where the daemon sends the outcome: what
/// changed, or why the running model stays in force.
pub type ReloadRequest = tokio::sync::oneshot::Sender<Result<String, String>>;

/// The outcome of the last reload, for `/metrics` (Prometheus's own names) and the log.
#[derive(Debug)]
pub struct ReloadStatus {
    ok: std::sync::atomic::AtomicBool,
    last_success: std::sync::atomic::AtomicI64,
    successes: std::sync::atomic::AtomicU64,
    failures: std::sync::atomic::AtomicU64,
}

impl ReloadStatus {
    /// The status after a start with `now` (unix seconds): the model loaded successfully.
    pub fn started(now: i64) -> ReloadStatus {
        ReloadStatus {
            ok: true.into(),
            last_success: now.into(),
            successes: 0.into(),
            failures: 0.into(),
        }
    }

    /// Records a reload's outcome at `now` (unix seconds).
    pub fn record(&self, ok: bool, now: i64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.ok.store(ok, Relaxed);
        if ok {
            self.last_success.store(now, Relaxed);
            self.successes.fetch_add(1, Relaxed);
        } else {
            self.failures.fetch_add(1, Relaxed);
        }
    }

    /// Whether the last reload (or the start) succeeded.
    pub fn last_ok(&self) -> bool {
        self.ok.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// When the model in force was put in force, unix seconds.
    pub fn last_success(&self) -> i64 {
        self.last_success.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Reloads that succeeded and that failed since the start.
    pub fn counts(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.successes.load(Relaxed), self.failures.load(Relaxed))
    }
}
