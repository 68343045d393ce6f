//! Reload as a diff with rollback (Prometheus's `ApplyConfig` and Vector's
//! `reload_config_and_respawn` are the models).
//!
//! A reload runs in two phases. *Build*: read the configuration file, compile the rule files,
//! build the new [`Runtime`], compare it with the running one, and, when `[email]` or the
//! routes changed, check that the new transport answers. Nothing running is touched, so any
//! failure here leaves the running model in force, logged like `bandwatch check` prints it
//! and exported as `bandwatch_config_last_reload_successful 0`. *Apply*: only what changed:
//! the poller starts, restarts and stops the switches that differ (the others keep their SNMP
//! session and counter state), the rules keep the states and baselines of unchanged rules,
//! the store and the live view take the new topology, and the notifier is replaced (stopping
//! the old one only once the new one is known to work). Then the new model is published.

use std::sync::Arc;

use tracing::{error, info, warn};

use super::Daemon;
use crate::config::{self, Config, Diagnostics};
use crate::notify::{Notifier, NotifyError};
use crate::runtime::diff::keep_restart_only;
use crate::runtime::{BuildError, Diff, Runtime};

/// Why a reload was refused; the running model stays in force.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The configuration file has errors (each with file, line and key).
    #[error("{0}")]
    Config(Diagnostics),
    /// A rule file has errors.
    #[error("{0}")]
    Rules(Diagnostics),
    /// The new `[email]` cannot work (an address, or a server that does not answer).
    #[error("{0}")]
    Notify(#[from] NotifyError),
}

impl From<BuildError> for ReloadError {
    fn from(e: BuildError) -> Self {
        match e {
            BuildError::Config(d) => ReloadError::Config(d),
            BuildError::Rules(d) => ReloadError::Rules(d),
        }
    }
}

impl Daemon {
    /// Re-reads the configuration file and its rule files and applies what changed. On any
    /// error the running model stays in force, every problem is logged, and the error says
    /// why; the outcome is recorded for `/metrics`.
    pub async fn reload(&mut self) -> Result<String, ReloadError> {
        let now = jiff::Timestamp::now().as_second();
        let tried = self.try_reload().await;
        // Loading and checking the files ran code the steady state does not.
        super::release_startup_code("the reload", true);
        match tried {
            Ok(summary) => {
                self.reload_status.record(true, now);
                info!("configuration reloaded: {summary}");
                Ok(summary)
            }
            Err(e) => {
                self.reload_status.record(false, now);
                match &e {
                    ReloadError::Config(d) | ReloadError::Rules(d) => {
                        for d in &d.0 {
                            error!("{d}");
                        }
                    }
                    ReloadError::Notify(e) => error!("{e}"),
                }
                error!("reload rejected: the running configuration stays in force");
                Err(e)
            }
        }
    }

    async fn try_reload(&mut self) -> Result<String, ReloadError> {
        let loaded = config::load(&self.options.config_path).map_err(ReloadError::Config)?;
        for w in loaded.warnings.warnings() {
            warn!("{w}");
        }
        let mut new = loaded.config;
        if let Some(o) = &self.options.overrides {
            o(&mut new);
        }
        let running = self.runtime.current();
        for key in keep_restart_only(&running.config, &mut new) {
            warn!("{key} changed: it takes a restart; the running value stays in force");
        }
        let next = Runtime::build(new, running.attributed.to_vec())?;
        let diff = Diff::between(&running, &next);
        if diff.notify {
            Notifier::check(&next.config, &self.options.sender).await?;
        }
        self.apply(next, &diff).await?;
        Ok(diff.summary())
    }

    /// Puts `next` in force, touching only what `diff` names.
    async fn apply(&mut self, next: Runtime, diff: &Diff) -> Result<(), ReloadError> {
        if diff.notify {
            self.replace_notifier(&next.config).await?;
        }
        if !diff.switches.is_empty() {
            let done = self.poller.apply(&crate::poll::shard::polled(
                &next.config.topology,
                next.config.daemon.shard.as_deref(),
            ));
            info!(
                kept = done.kept,
                started = done.started,
                stopped = done.stopped,
                "poller follows the new switches"
            );
            self.live.set_attributed(self.poller.attributed.clone());
        }
        if diff.topology {
            if let Err(e) = self.writer.update_topology(next.topology.clone()) {
                error!("store writer did not take the new topology: {e}");
            }
            self.live.set_topology(next.topology.clone());
        }
        if diff.topology || !diff.rules.is_empty() || diff.notify {
            self.alerting.update(
                next.rules.clone(),
                next.topology.clone(),
                next.config.email.is_some(),
            );
        }
        if diff.settings {
            // Each receiver is compared on its own: unchanged ones keep their worker.
            for e in self.remote_write.apply(&next.config.remote_write).await {
                warn!("reload: {e}");
            }
        }
        self.runtime.publish(Arc::new(next));
        Ok(())
    }

    /// Stops the running notifier and starts one on `config`; when the new one cannot start,
    /// the old configuration's is started again, and the reload is refused.
    async fn replace_notifier(&mut self, config: &Config) -> Result<(), ReloadError> {
        let mut guard = self.notifier.write().await;
        if let Some(n) = guard.take() {
            n.stop().await;
        }
        if !self.holding.held() {
            // Another daemon holds the singleton lease and sends; this one starts its
            // notifier (on the configuration then in force) when it takes the lease.
            return Ok(());
        }
        // Under a lease, each message is claimed with its fencing token before it is sent.
        let opts = crate::notify::SenderOptions {
            lease: self.holding.lease(),
            ..self.options.sender.clone()
        };
        match Notifier::from_config(config, self.store.outbox(), opts.clone()) {
            Ok(n) => {
                *guard = n;
                Ok(())
            }
            Err(e) => {
                let running = self.runtime.current();
                match Notifier::from_config(&running.config, self.store.outbox(), opts) {
                    Ok(n) => *guard = n,
                    Err(e2) => error!("the running notifier did not start again: {e2}"),
                }
                Err(e.into())
            }
        }
    }

    /// Takes in the ports the poller attributed by ifAlias patterns, when they changed since
    /// the last call: each joins its switch, site, product line and customer aggregates, and
    /// a customer or product line named only by an alias gets its own series and rules, like
    /// a configured one. Nothing is re-read from disk; rules keep their states.
    pub fn refresh_attribution(&mut self) {
        let generation = self.poller.attributed.generation();
        if generation == self.attribution_seen {
            return;
        }
        self.attribution_seen = generation;
        let running = self.runtime.current();
        let next = running.with_attributed(self.poller.attributed.all());
        let diff = Diff::between(&running, &next);
        if !diff.topology {
            return;
        }
        if let Err(e) = self.writer.update_topology(next.topology.clone()) {
            error!("store writer did not take the attributed ports: {e}");
        }
        self.live.set_topology(next.topology.clone());
        self.alerting.update(
            next.rules.clone(),
            next.topology.clone(),
            next.config.email.is_some(),
        );
        info!(
            attributed = next.attributed.len(),
            customers = next.topology.customers.len(),
            product_lines = next.topology.product_lines.len(),
            "ports attributed by ifAlias patterns joined their aggregates"
        );
        self.runtime.publish(Arc::new(next));
    }
}
