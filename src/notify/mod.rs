//! The notify stage: turns alert notices into email for the right people.
//!
//! Flow: [`Notifier::send`] stores a [`Notice`] once per route in the outbox database
//! ([`outbox`]); the grouping loop ([`dispatch`]) closes a route's group after `group_wait`
//! into ONE message to all of the route's addresses ([`render`], with an inline [`chart`]);
//! the sender loop ([`sender`]) delivers it over SMTP or into `.eml` files ([`transport`]),
//! retrying with backoff, and records what was delivered.
//!
//! # Wiring into `bandwatch run`
//! ```no_run
//! # async fn run(config: bandwatch::config::Config) -> anyhow::Result<()> {
//! use bandwatch::notify::{Notifier, SenderOptions};
//! // `None` when the configuration has no `[email]` section.
//! let store = bandwatch::store::Store::open_in(&config.daemon.data_dir, &config.retention)?;
//! let opts = SenderOptions::default();
//! if let Some(notifier) = Notifier::from_config(&config, store.outbox(), opts)? {
//!     let metrics = notifier.metrics(); // for /metrics
//!     // for each alert event of the rules stage: notifier.send(event.into()).await?;
//!     notifier.stop().await; // on shutdown; on reload: stop, then start with the new config
//! }
//! # Ok(()) }
//! ```
//! Everything in flight lives in the database, so stopping and starting again (a restart or
//! a configuration reload) loses and repeats nothing.
//!
//! # Resolved notices and silences
//! Pitfall 13 (resolved notices lost under silences, inhibition or restarts) is handled by
//! the rule "suppress creation, never resolution": this stage never drops a notice it was
//! given, whatever its kind, and keeps it in SQLite from the moment [`Notifier::send`]
//! returns until the server accepted it. It records which alerts' firing notices were
//! delivered ([`Outbox::resolution_owed`], [`Outbox::resolutions_owed`]), so the rules stage,
//! before letting a silence hold back a resolved notice, asks whether a firing went out and
//! sends the resolution if so.

pub mod chart;
pub mod dispatch;
pub mod enrich;
pub mod format;
pub mod metrics;
pub mod notice;
pub mod outbox;
pub mod render;
pub mod sender;
pub mod transport;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use jiff::Timestamp;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::model::Email;
use crate::config::topology::Route;
use crate::store::OutboxStore;

pub use enrich::Enricher;
pub use metrics::{NotifyMetrics, Outcome};
pub use notice::{ChartPoint, Notice, NoticeKind, Severity};
pub use outbox::{MessageState, Outbox, OutboxError, StoredMessage};
pub use transport::{Mailer, SenderOptions, TransportError};

/// Why the notify stage could not start or take a notice.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The outbox database failed.
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    /// The mail transport could not be set up.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// An address in the configuration is not a valid mailbox.
    #[error("{place}: invalid email address `{address}`: {reason}")]
    Address {
        /// `[email] from` or `route NAME`.
        place: String,
        /// The address.
        address: String,
        /// The parser's reason.
        reason: String,
    },
    /// `Notifier::start` was called outside a tokio runtime.
    #[error("the notifier needs a running tokio runtime")]
    NoRuntime,
    /// The notifier was stopped.
    #[error("the notifier has stopped")]
    Stopped,
}

/// The running notify stage. Dropping it stops its tasks; [`Notifier::stop`] also waits
/// for them.
pub struct Notifier {
    outbox: Arc<Outbox>,
    routes: Arc<BTreeMap<String, Vec<String>>>,
    metrics: Arc<NotifyMetrics>,
    opened: mpsc::UnboundedSender<String>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

fn check_address(place: &str, address: &str) -> Result<(), NotifyError> {
    address
        .parse::<lettre::message::Mailbox>()
        .map(|_| ())
        .map_err(|e| NotifyError::Address {
            place: place.to_string(),
            address: address.to_string(),
            reason: e.to_string(),
        })
}

impl Notifier {
    /// Sets up the transport from `[email]` and starts the grouping and sender tasks on the
    /// current tokio runtime, on the store's `outbox`. Messages and notices left by a
    /// previous run are sent.
    pub fn start(
        email: &Email,
        routes: &BTreeMap<String, Route>,
        outbox: Arc<dyn OutboxStore>,
        data_dir: &Path,
        public_url: Option<&str>,
        opts: SenderOptions,
    ) -> Result<Notifier, NotifyError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| NotifyError::NoRuntime)?;
        check_address("[email] from", &email.from)?;
        for route in routes.values() {
            for a in &route.email {
                check_address(&format!("route {}", route.name), a)?;
            }
            if route.email.is_empty() {
                tracing::warn!(route = %route.name, "route has no email addresses; its notices will not be sent");
            }
        }
        let outbox = Arc::new(Outbox::new(outbox));
        let mailer = Mailer::from_config(email, data_dir, &opts)?;
        let routes: Arc<BTreeMap<String, Vec<String>>> = Arc::new(
            routes
                .iter()
                .map(|(name, r)| (name.clone(), r.email.clone()))
                .collect(),
        );
        let metrics = Arc::clone(&opts.metrics);
        let wake = Arc::new(Notify::new());
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (opened, opened_rx) = mpsc::unbounded_channel();
        let dispatcher = dispatch::Dispatcher {
            outbox: Arc::clone(&outbox),
            routes: Arc::clone(&routes),
            from: email.from.clone(),
            public_url: public_url.map(str::to_string),
            group_wait: email.group_wait.std(),
            metrics: Arc::clone(&metrics),
            wake_sender: Arc::clone(&wake),
        };
        let sender = sender::Sender {
            outbox: Arc::clone(&outbox),
            mailer,
            opts,
            metrics: Arc::clone(&metrics),
            wake,
        };
        let tasks = vec![
            runtime.spawn(dispatcher.run(opened_rx, shutdown_rx.clone())),
            runtime.spawn(sender.run(shutdown_rx)),
        ];
        Ok(Notifier {
            outbox,
            routes,
            metrics,
            opened,
            shutdown,
            tasks,
        })
    }

    /// Checks, without starting anything, that the notify stage of `config` can work: every
    /// address parses and the transport answers ([`Mailer::probe`]). A reload runs this before
    /// it stops the running notifier, so a broken `[email]` leaves mail flowing through the old
    /// transport.
    pub async fn check(
        config: &crate::config::Config,
        opts: &SenderOptions,
    ) -> Result<(), NotifyError> {
        let Some(email) = &config.email else {
            return Ok(());
        };
        check_address("[email] from", &email.from)?;
        for route in config.topology.routes.values() {
            for a in &route.email {
                check_address(&format!("route {}", route.name), a)?;
            }
        }
        let mailer = Mailer::from_config(email, &config.daemon.data_dir, opts)?;
        mailer.probe().await?;
        Ok(())
    }

    /// Starts from the loaded configuration: `[email]`, the topology's routes, `data_dir`
    /// and `daemon.public_url`, on the store's `outbox`. `None` without an `[email]` section.
    pub fn from_config(
        config: &crate::config::Config,
        outbox: Arc<dyn OutboxStore>,
        opts: SenderOptions,
    ) -> Result<Option<Notifier>, NotifyError> {
        let Some(email) = &config.email else {
            return Ok(None);
        };
        let data_dir = &config.daemon.data_dir;
        std::fs::create_dir_all(data_dir).map_err(|e| {
            NotifyError::Transport(TransportError::Folder {
                path: data_dir.clone(),
                reason: e.to_string(),
            })
        })?;
        Notifier::start(
            email,
            &config.topology.routes,
            outbox,
            data_dir,
            config.daemon.public_url.as_deref(),
            opts,
        )
        .map(Some)
    }

    /// Takes a notice: once this returns, it is stored for each of its routes and will be
    /// sent with the route's next group. Routes without addresses are logged and counted.
    pub async fn send(&self, notice: Notice) -> Result<(), NotifyError> {
        let mut routes = notice.routes.clone();
        routes.sort();
        routes.dedup();
        if routes.is_empty() {
            tracing::warn!(rule = %notice.rule, entity = %notice.entity, "notice without routes; nothing sent");
        }
        let notice = Arc::new(notice);
        for route in routes {
            if self.routes.get(&route).is_none_or(|a| a.is_empty()) {
                tracing::warn!(
                    %route, rule = %notice.rule, entity = %notice.entity, kind = notice.kind.word(),
                    "route has no email addresses; nothing sent"
                );
                self.metrics.count(&route, Outcome::NoAddress);
                continue;
            }
            let (n, r) = (Arc::clone(&notice), route.clone());
            sender::blocking(&self.outbox, move |o| {
                o.queue_notice(&r, &n, Timestamp::now())
            })
            .await?;
            self.opened.send(route).map_err(|_| NotifyError::Stopped)?;
        }
        Ok(())
    }

    /// Starts `route`'s group wait for notices someone else queued in the outbox (the rules
    /// stage, in the transaction that changed the alert's state). A route without
    /// addresses is logged and counted when its group closes.
    pub fn queued(&self, route: String) {
        if self.opened.send(route).is_err() {
            tracing::warn!("the notify stage has stopped: queued notices wait for the next start");
        }
    }

    /// The counters for `/metrics`.
    pub fn metrics(&self) -> Arc<NotifyMetrics> {
        Arc::clone(&self.metrics)
    }

    /// The outbox, for the rules stage's [`Outbox::resolution_owed`] and for inspection.
    pub fn outbox(&self) -> Arc<Outbox> {
        Arc::clone(&self.outbox)
    }

    /// Stops the tasks and waits for them. Queued notices and pending messages stay in the
    /// database for the next start.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
