//! The rules stage in the daemon: a thread that owns the rule engine, fed each sweep (port
//! and switch rules) and the store's aggregate slots (product line, site, customer rules)
//! as soon as the writer says they are sealed. Each evaluation's state changes, their
//! history and the notices they owe (made by notify's enrich stage: chart, money) are
//! written in ONE transaction, the transactional outbox: a crash or a full disk leaves all
//! or none of them, so no alert is stored `firing` without its notice queued. A failed
//! commit is kept and retried, in order, before anything newer; the notify stage is woken
//! for the routes whose groups got notices.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use tokio::sync::mpsc as tmpsc;
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use crate::config::Topology;
use crate::notify::Enricher;
use crate::poll::Sweep;
use crate::rules::engine::Outcome;
use crate::rules::lifecycle::{Change, Phase};
use crate::rules::live::{LiveRules, StateJournal, StoreHistory, StoredStates};
use crate::rules::rule::Rule;
use crate::rules::silence::Silence;
use crate::rules::view::{ActiveAlert, AlertsView};
use crate::store::alerts::{AlertCommit, HistoryRow, RoutedNotice};
use crate::store::once::{Family, NoticeKey, Once, Step};
use crate::store::{self, AlertStore, Lease, Reader, SilenceStore, Store};

enum Msg {
    Sweep(Arc<Sweep>),
    /// New rules and topology (a reload or newly attributed ports), and whether email is
    /// configured.
    Update(Arc<Vec<Rule>>, Arc<Topology>, bool),
    /// Other daemons share the store: deduplicate within this window (seconds); aggregate
    /// rules run only while the lease is held.
    Shared(i64, Option<watch::Receiver<Option<Lease>>>),
    Stop,
}

/// The running rules thread.
pub struct Alerting {
    tx: mpsc::SyncSender<Msg>,
    /// The rules thread, woken for what must not wait out its [`GATHER`] pause.
    waker: std::thread::Thread,
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// When its queue runs empty the rules thread pauses this long before it waits to be
/// woken: the sweeps that come meanwhile (a phase slot's switches answer within a few
/// milliseconds of each other) are taken together instead of each waking the thread.
const GATHER: Duration = Duration::from_millis(250);

/// How often silences are read and `absent` rules see the clock.
const CYCLE: Duration = Duration::from_secs(5);
/// The longest the thread waits for a sweep before looking at the seal mark again.
const WAKE: Duration = Duration::from_secs(1);

impl Alerting {
    /// Starts the thread on the handles of `store`. Aggregate slots are read when `sealed`
    /// (the writer's [`store::Writer::sealed`]) moves. With `email` (an `[email]` section in
    /// force), notices are queued in the store's outbox with the changes that owe them, and
    /// their routes are sent on `queued` (the notify stage's wake-up); without, they are
    /// logged only.
    pub fn start(
        rules: Vec<Rule>,
        topology: Arc<Topology>,
        store: &Store,
        sealed: watch::Receiver<Option<Timestamp>>,
        queued: tmpsc::UnboundedSender<String>,
        email: bool,
        view: AlertsView,
    ) -> Result<Alerting, store::StoreError> {
        Alerting::start_with_flows(rules, topology, store, sealed, queued, email, view, None)
    }

    /// [`Alerting::start`] with the flow collector's evidence, which the notices of spikes
    /// carry.
    #[allow(clippy::too_many_arguments)]
    pub fn start_with_flows(
        rules: Vec<Rule>,
        topology: Arc<Topology>,
        store: &Store,
        sealed: watch::Receiver<Option<Timestamp>>,
        queued: tmpsc::UnboundedSender<String>,
        email: bool,
        view: AlertsView,
        flows: Option<crate::flow::evidence::FlowEvidence>,
    ) -> Result<Alerting, store::StoreError> {
        Alerting::start_on(
            rules,
            topology,
            store,
            store.alerts(),
            sealed,
            queued,
            email,
            view,
            flows,
        )
    }

    /// [`Alerting::start_with_flows`] writing alert changes to `table` instead of the
    /// store's own (a test injects write failures this way).
    #[allow(clippy::too_many_arguments)]
    pub fn start_on(
        rules: Vec<Rule>,
        topology: Arc<Topology>,
        store: &Store,
        table: Arc<dyn AlertStore>,
        sealed: watch::Receiver<Option<Timestamp>>,
        queued: tmpsc::UnboundedSender<String>,
        email: bool,
        view: AlertsView,
        flows: Option<crate::flow::evidence::FlowEvidence>,
    ) -> Result<Alerting, store::StoreError> {
        let journal = StateJournal::default();
        let states = StoredStates::new(Arc::clone(&table), journal.clone());
        let reader = store.reader();
        let history = StoreHistory::new(reader.clone());
        let silences = store.silences();
        let meta: BTreeMap<String, Rule> =
            rules.iter().map(|r| (r.name.clone(), r.clone())).collect();
        let enrich =
            Enricher::new(store.reader(), Some(store.usage()), &rules, &topology).with_flows(flows);
        let live = LiveRules::new(rules, &topology, Box::new(states), Box::new(history));
        let (tx, rx) = mpsc::sync_channel(4096);
        let v = view.clone();
        let thread = std::thread::Builder::new()
            .name("bandwatch-rules".into())
            .spawn(move || {
                let mut w = Worker {
                    live,
                    reader,
                    table,
                    silences,
                    sealed,
                    fed_until: None,
                    meta,
                    queued,
                    email,
                    journal,
                    unsaved: AlertCommit::default(),
                    unsaved_keys: Vec::new(),
                    shared: None,
                    lease: None,
                    view: v,
                    enrich,
                };
                w.run(rx)
            })
            .map_err(|source| store::StoreError::Io {
                path: store.path().to_path_buf(),
                context: "starting the rules thread",
                source,
            })?;
        Ok(Alerting {
            tx,
            waker: thread.thread().clone(),
            thread: std::sync::Mutex::new(Some(thread)),
        })
    }

    /// Hands a sweep to the rules (never blocks the pipeline: a full queue is logged).
    pub fn submit(&self, sweep: Arc<Sweep>) {
        if let Err(mpsc::TrySendError::Full(_)) = self.tx.try_send(Msg::Sweep(sweep)) {
            warn!("rules queue full: a sweep was not evaluated");
        }
    }

    /// Puts new rules and a new topology in force, in order with the sweeps: unchanged rules
    /// keep their alert states and baselines (see [`LiveRules::update`]).
    /// `email` says whether an `[email]` section is in force (notices are queued or logged).
    pub fn update(&self, rules: Arc<Vec<Rule>>, topology: Arc<Topology>, email: bool) {
        if self.tx.send(Msg::Update(rules, topology, email)).is_err() {
            error!("the rules thread has stopped: the new rules are not in force");
        }
        self.waker.unpark();
    }

    /// Tells the rules stage that other daemons write the same store (`[daemon] shard`): its
    /// commits then go through [`AlertStore::commit_once`], so a notice or a history row that
    /// the other daemon of an HA pair wrote within `window` is not written again. With
    /// `lease` (the singleton lease's watch), the aggregate rules (product lines, sites,
    /// customers: aggregates across shards) are evaluated only while it is held; a daemon
    /// taking it over loads their states from the store as it first sees each alert.
    pub fn set_shared(&self, window: Duration, lease: Option<watch::Receiver<Option<Lease>>>) {
        let secs = i64::try_from(window.as_secs()).unwrap_or(i64::MAX).max(1);
        if self.tx.send(Msg::Shared(secs, lease)).is_err() {
            error!("the rules thread has stopped");
        }
        self.waker.unpark();
    }

    /// Stops the thread (after the sweeps already queued) and waits for it.
    pub fn stop(&self) {
        let _ = self.tx.send(Msg::Stop);
        self.waker.unpark();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

struct Worker {
    live: LiveRules,
    reader: Reader,
    table: Arc<dyn AlertStore>,
    silences: Arc<dyn SilenceStore>,
    /// The writer's "sealed up to T".
    sealed: watch::Receiver<Option<Timestamp>>,
    /// The seal mark the aggregate rules were last fed up to.
    fed_until: Option<Timestamp>,
    meta: BTreeMap<String, Rule>,
    /// Routes whose groups got notices: the notify stage's wake-up.
    queued: tmpsc::UnboundedSender<String>,
    /// Whether an `[email]` section is in force: notices are queued, or logged only.
    email: bool,
    /// States the engine saved, not committed yet.
    journal: StateJournal,
    /// History rows and notices of commits that failed, retried first.
    unsaved: AlertCommit,
    /// The deduplication key of each notice of `unsaved`, in order (shared stores).
    unsaved_keys: Vec<Option<NoticeKey>>,
    /// The deduplication window (seconds) when other daemons share the store.
    shared: Option<i64>,
    /// The singleton lease: aggregate rules are fed only while it is held.
    lease: Option<watch::Receiver<Option<Lease>>>,
    view: AlertsView,
    enrich: Enricher,
}

/// The next message: what is queued, else after a [`GATHER`] pause (not woken by each sweep
/// that comes; [`Alerting`] wakes it for the rest), else whatever comes within [`WAKE`].
fn next(rx: &mpsc::Receiver<Msg>) -> Result<Msg, RecvTimeoutError> {
    let now = || match rx.try_recv() {
        Ok(m) => Some(Ok(m)),
        Err(mpsc::TryRecvError::Disconnected) => Some(Err(RecvTimeoutError::Disconnected)),
        Err(mpsc::TryRecvError::Empty) => None,
    };
    if let Some(m) = now() {
        return m;
    }
    std::thread::park_timeout(GATHER);
    match now() {
        Some(m) => m,
        None => rx.recv_timeout(WAKE.saturating_sub(GATHER)),
    }
}

impl Worker {
    fn run(&mut self, rx: mpsc::Receiver<Msg>) {
        let mut last_cycle = Instant::now() - CYCLE;
        loop {
            match next(&rx) {
                Ok(Msg::Sweep(s)) => {
                    let out = self.live.on_sweep(&s);
                    self.handle(out);
                }
                Ok(Msg::Update(rules, topology, email)) => {
                    self.email = email;
                    self.update(&rules, &topology)
                }
                Ok(Msg::Shared(window, lease)) => {
                    self.shared = Some(window);
                    self.lease = lease;
                }
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => {
                    if self.commit().is_err() {
                        // Nothing of it was written: after the restart the alerts are
                        // evaluated again from their last committed states and owe their
                        // notices again.
                        error!("stopping with alert changes that could not be written");
                    }
                    break;
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            if last_cycle.elapsed() >= CYCLE {
                self.load_silences(Timestamp::now());
            }
            self.feed_sealed();
            if last_cycle.elapsed() >= CYCLE {
                last_cycle = Instant::now();
                let now = Timestamp::now();
                let out = self.live.tick(now);
                self.handle(out);
                // A commit that failed (a full disk) is retried even when nothing new came.
                let _ = self.commit();
                // States loaded from the database after a restart change no phase: show them.
                self.refresh_view();
            }
        }
        info!("rules stopped");
    }

    fn update(&mut self, rules: &[Rule], topology: &Arc<Topology>) {
        self.meta = rules.iter().map(|r| (r.name.clone(), r.clone())).collect();
        self.enrich.update(rules, topology);
        self.live.update(rules.to_vec(), topology);
        self.refresh_view();
    }

    /// Feeds the aggregate rules the slots sealed since the last call.
    fn feed_sealed(&mut self) {
        if let Some(l) = &self.lease
            && l.borrow().is_none()
        {
            // Another daemon holds the lease and runs the aggregate rules.
            return;
        }
        let Some(until) = *self.sealed.borrow_and_update() else {
            return;
        };
        if self.fed_until.is_some_and(|f| f >= until) {
            return;
        }
        self.fed_until = Some(until);
        let out = self.live.on_aggregates(&self.reader, until);
        self.handle(out);
    }

    /// Silences are read from the database every cycle: `bandwatch silence add` takes effect
    /// within seconds, without a restart.
    fn load_silences(&mut self, now: Timestamp) {
        match self.silences.silences(Some(now.as_second())) {
            Ok(rows) => {
                let silences = rows
                    .into_iter()
                    .filter_map(|r| {
                        Some(Silence {
                            id: u64::try_from(r.id).ok()?,
                            rule: r.rule,
                            matchers: r.matchers,
                            until: Timestamp::from_second(r.ends).ok()?,
                            reason: r.reason,
                        })
                    })
                    .collect();
                self.live.engine().set_silences(silences);
            }
            Err(e) => warn!("silences: {e}"),
        }
    }

    fn handle(&mut self, out: Outcome) {
        let mut batch = AlertCommit::default();
        let mut keys: Vec<Option<NoticeKey>> = Vec::new();
        for t in &out.transitions {
            let (from, to) = match t.change {
                Change::Pending => ("inactive", "pending"),
                Change::Cancelled => ("pending", "inactive"),
                Change::Fired => ("pending", "firing"),
                Change::Resolved => ("firing", "inactive"),
                Change::Flapping => ("stable", "flapping"),
                Change::Stable => ("flapping", "stable"),
            };
            info!(rule = %t.rule, entity = %t.entity, from, to, value = t.reading.value, "alert");
            batch.history.push(HistoryRow {
                rule: t.rule.clone(),
                entity: t.entity.clone(),
                from_state: from.into(),
                to_state: to.into(),
                ts: t.at.as_second(),
                value: Some(t.reading.value),
                message: t.reading.note.clone(),
            });
        }
        for ev in out.events {
            let peak = out
                .transitions
                .iter()
                .find(|t| {
                    t.rule == ev.rule && t.entity == ev.entity && t.change == Change::Resolved
                })
                .and_then(|t| t.peak.as_ref().map(|p| p.value));
            let Some(notice) = self.enrich.notice(ev, peak) else {
                continue;
            };
            if !self.email {
                info!(rule = %notice.rule, entity = %notice.entity, kind = notice.kind.word(), "no [email] configured: notice logged only");
                continue;
            }
            let mut routes = notice.routes.clone();
            routes.sort();
            routes.dedup();
            if routes.is_empty() {
                warn!(rule = %notice.rule, entity = %notice.entity, "notice without routes; nothing sent");
            }
            let payload = match serde_json::to_string(&notice) {
                Ok(p) => p,
                Err(e) => {
                    error!(rule = %notice.rule, entity = %notice.entity, "a notice cannot be encoded: {e}");
                    continue;
                }
            };
            let key = notice_key(&notice);
            for route in routes {
                batch.notices.push(RoutedNotice {
                    route,
                    payload: payload.clone(),
                });
                keys.push(Some(key.clone()));
            }
        }
        let changed = !batch.is_empty() || !self.journal.is_empty();
        self.unsaved.append(batch);
        self.unsaved_keys.extend(keys);
        if changed {
            let _ = self.commit();
            self.refresh_view();
        }
    }

    /// Writes what is unsaved (the journal's states, the history rows and notices) in one
    /// transaction; on success wakes the notify stage for the routes that got notices.
    fn commit(&mut self) -> Result<(), ()> {
        let states = self.journal.pending();
        if states.is_empty() && self.unsaved.is_empty() {
            return Ok(());
        }
        let n_states = states.len();
        let mut all = AlertCommit {
            states,
            ..AlertCommit::default()
        };
        all.append(std::mem::take(&mut self.unsaved));
        let keys = std::mem::take(&mut self.unsaved_keys);
        let result = match self.shared {
            Some(window_s) => {
                let once = Once { keys, window_s };
                let r = self.table.commit_once(&all, &once, Timestamp::now());
                if let Ok(o) = &r
                    && (o.notices_skipped > 0 || o.history_skipped > 0)
                {
                    debug!(
                        notices = o.notices_skipped,
                        history = o.history_skipped,
                        "already written by another daemon sharing the store: not written again"
                    );
                }
                r.map(|_| ()).map_err(|e| (e, once.keys))
            }
            None => self
                .table
                .commit(&all, Timestamp::now())
                .map_err(|e| (e, keys)),
        };
        match result {
            Ok(()) => {
                self.journal.committed(n_states);
                let mut routes: Vec<&String> = all.notices.iter().map(|n| &n.route).collect();
                routes.sort();
                routes.dedup();
                for route in routes {
                    if self.queued.send(route.clone()).is_err() {
                        warn!(%route, "the notify stage is gone: queued notices wait for the next start");
                    }
                }
                self.view.set_commit(self.journal.len(), None);
                Ok(())
            }
            Err((e, keys)) => {
                self.unsaved_keys = keys;
                all.states.clear();
                let unsaved = n_states + all.history.len() + all.notices.len();
                error!(
                    unsaved,
                    "alert changes not written (retried in order; nothing is notified before it is stored): {e}"
                );
                self.unsaved = all;
                self.view.set_commit(unsaved, Some(e.to_string()));
                Err(())
            }
        }
    }

    fn refresh_view(&mut self) {
        let rules = &self.meta;
        let v: Vec<ActiveAlert> = self
            .live
            .engine()
            .active()
            .into_iter()
            .map(|s| {
                let r = rules.get(&s.rule);
                let evidence = (s.phase == Phase::Firing)
                    .then(|| self.enrich.evidence_of(&s.rule, &s.entity))
                    .flatten();
                ActiveAlert {
                    rule: s.rule.clone(),
                    severity: r.map(|r| r.severity.word().to_string()).unwrap_or_default(),
                    scope: r.map(|r| r.scope.name().to_string()).unwrap_or_default(),
                    entity: s.entity.clone(),
                    state: if s.flap.flapping() {
                        "flapping"
                    } else if s.phase == Phase::Firing {
                        "firing"
                    } else {
                        "pending"
                    }
                    .to_string(),
                    value: s.reading.value,
                    baseline: s.reading.baseline,
                    since: s.started_at.map(|t| t.as_second()),
                    evidence: evidence.map(|e| e.0.clone()),
                    evidence_redacted: evidence.map(|e| e.1.clone()),
                }
            })
            .collect();
        self.view.set(v);
    }
}

/// What makes this notice the same as another daemon's (see [`crate::store::once`]).
fn notice_key(n: &crate::notify::Notice) -> NoticeKey {
    use crate::notify::NoticeKind;
    let (family, step) = match n.kind {
        NoticeKind::Firing => (Family::Lifecycle, Step::Open),
        NoticeKind::Repeat => (Family::Lifecycle, Step::Repeat),
        NoticeKind::Resolved => (Family::Lifecycle, Step::Close),
        NoticeKind::Flapping => (Family::Flap, Step::Open),
        NoticeKind::Stable => (Family::Flap, Step::Close),
    };
    NoticeKey {
        rule: n.rule.clone(),
        entity: n.entity.clone(),
        family,
        step,
        started: n.started_at.as_second(),
        at: n.at.as_second(),
    }
}
