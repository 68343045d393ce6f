//! The rule engine in the daemon: points for every rule from each sweep (ports, switches)
//! and from the store's aggregate slots (product lines, sites, customers), baselines warmed
//! from the store's rollups after a start, and alert states persisted in SQLite so that a
//! restart neither forgets a firing alert nor notifies it again.
//!
//! Unknown is not zero: a port whose interval is unknown yields an unknown point, a switch
//! that did not answer yields unknown points for its ports (so their drops cannot fire; the
//! switch's own `absent` rule speaks for them), and the first point after a gap or a reset
//! is marked so that it never fires a spike.

use std::collections::{BTreeMap, HashMap};

use crate::hash::FastMap;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;

use super::engine::{Engine, EntityId, History, Outcome};
use super::lifecycle::{AlertState, Phase};
use super::point::{Entity, Point};
use super::rule::{Kind, Metric, Rule, Scope};
use super::state_store::AlertStateStore;
use crate::config::Topology;
use crate::poll::{PortOutcome, Quality, Sweep, SweepStatus};
use crate::store::alerts::AlertRow;
use crate::store::{self, AlertStore, Reader};

/// Alert states kept in the store (`alert_state`), so a restart neither forgets nor repeats.
/// A save does not write: it goes to the [`StateJournal`], which the rules stage commits
/// together with the history and the notices the change owes, in one transaction
/// ([`crate::store::AlertStore::commit`]). Until then, [`AlertStateStore::load`] sees it.
pub struct StoredStates {
    table: Arc<dyn AlertStore>,
    journal: StateJournal,
}

impl StoredStates {
    /// Keeps states in `table` (the store's alert states), through `journal`.
    pub fn new(table: Arc<dyn AlertStore>, journal: StateJournal) -> StoredStates {
        StoredStates { table, journal }
    }
}

/// Alert states the engine saved that are not committed yet, oldest first. Shared by the
/// engine's [`StoredStates`] (which appends) and the rules stage (which commits and then
/// forgets what it committed).
#[derive(Clone, Default)]
pub struct StateJournal(Arc<Mutex<Vec<AlertRow>>>);

impl StateJournal {
    fn rows(&self) -> std::sync::MutexGuard<'_, Vec<AlertRow>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every uncommitted state, oldest first.
    pub fn pending(&self) -> Vec<AlertRow> {
        self.rows().clone()
    }

    /// Forgets the oldest `n` states (they were committed).
    pub fn committed(&self, n: usize) {
        let mut rows = self.rows();
        let n = n.min(rows.len());
        rows.drain(..n);
    }

    /// How many states wait to be committed.
    pub fn len(&self) -> usize {
        self.rows().len()
    }

    /// True when every saved state is committed.
    pub fn is_empty(&self) -> bool {
        self.rows().is_empty()
    }

    fn newest(&self, rule: &str, entity: &str) -> Option<AlertRow> {
        self.rows()
            .iter()
            .rev()
            .find(|r| r.rule == rule && r.entity == entity)
            .cloned()
    }
}

fn phase_word(p: Phase) -> &'static str {
    match p {
        Phase::Inactive => "inactive",
        Phase::Pending => "pending",
        Phase::Firing => "firing",
    }
}

/// The stored row of an engine state.
pub fn state_row(s: &AlertState, now: Timestamp) -> AlertRow {
    let since = match s.phase {
        Phase::Firing => s.fired_at.or(s.started_at),
        Phase::Pending => s.started_at,
        Phase::Inactive => None,
    };
    let now = now.as_second();
    AlertRow {
        rule: s.rule.clone(),
        entity: s.entity.clone(),
        state: phase_word(s.phase).to_string(),
        since: since.map(|t| t.as_second()).unwrap_or(now),
        last_eval: now,
        last_notified: s.last_notice.map(|t| t.as_second()),
        value: Some(s.reading.value),
        labels: None,
        data: serde_json::to_string(s).ok(),
    }
}

impl AlertStateStore for StoredStates {
    fn load(&self, rule: &str, entity: &str) -> Option<AlertState> {
        let row = match self.journal.newest(rule, entity) {
            Some(row) => Some(row),
            None => match self.table.load(rule, entity) {
                Ok(row) => row,
                Err(e) => {
                    tracing::error!("alert state: {e}");
                    None
                }
            },
        };
        row.and_then(|r| r.data)
            .and_then(|d| serde_json::from_str(&d).ok())
    }

    fn save(&mut self, s: &AlertState) {
        self.journal.rows().push(state_row(s, Timestamp::now()));
    }

    fn active(&self) -> Vec<AlertState> {
        match self.table.active() {
            Ok(rows) => rows
                .into_iter()
                .filter_map(|r| r.data.and_then(|d| serde_json::from_str(&d).ok()))
                .collect(),
            Err(e) => {
                tracing::error!("alert state: {e}");
                Vec::new()
            }
        }
    }
}

/// Past points from the store's rollups (5-minute steps), so baselines exist right after a
/// start instead of being learnt again over weeks.
pub struct StoreHistory {
    reader: Reader,
}

impl StoreHistory {
    /// Reads through `reader`.
    pub fn new(reader: Reader) -> StoreHistory {
        StoreHistory { reader }
    }
}

use super::series::read;
pub use super::series::store_entity;

impl History for StoreHistory {
    fn last_answer(&self, e: &Entity, before: Timestamp) -> Option<Timestamp> {
        if e.scope != Scope::Switch {
            return None;
        }
        match self.reader.last_answer(&e.name, before) {
            Ok(t) => t,
            Err(err) => {
                tracing::warn!("{}: last answer: {err}", e.name);
                None
            }
        }
    }

    fn points(&self, e: &Entity, metric: Metric, from: Timestamp, to: Timestamp) -> Vec<Point> {
        self.points_every(e, metric, from, to, HISTORY_STEP)
    }

    /// The store's rows at `step` (the tier whose buckets divide it: daily totals from the
    /// daily rollups), each a point stamped at the end of its step.
    fn points_every(
        &self,
        e: &Entity,
        metric: Metric,
        from: Timestamp,
        to: Timestamp,
        step: i64,
    ) -> Vec<Point> {
        let Some(se) = store_entity(e) else {
            return Vec::new();
        };
        let Some(rows) = read(&*self.reader, &se, metric, from, to, step) else {
            return Vec::new();
        };
        // A point is stamped with the end of its step, like a live sample. A step that ends
        // after `to` is still being filled: it is left out, or its future time stamp would
        // make the live points before it look out of order (and never evaluated).
        rows.into_iter()
            .filter_map(|(t, v, c)| {
                let end = Timestamp::from_second(t.as_second() + step).ok()?;
                (end <= to).then(|| match v {
                    Some(v) => Point::known(end, v).with_coverage(c),
                    None => Point::unknown(end),
                })
            })
            .collect()
    }
}

/// Step of the history that warms baselines after a start: the store's 5-minute rollups.
const HISTORY_STEP: i64 = 300;

/// The metrics a port yields from one reading.
const PORT_METRICS: [Metric; 6] = [
    Metric::InBps,
    Metric::OutBps,
    Metric::TotalBps,
    Metric::InPps,
    Metric::OutPps,
    Metric::Utilization,
];

/// A set of metrics in one word (a fleet keeps one per watched port).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct MetricSet(u16);

impl MetricSet {
    fn of(metrics: impl IntoIterator<Item = Metric>) -> MetricSet {
        MetricSet(metrics.into_iter().fold(0, |set, m| set | 1 << m as u16))
    }

    fn contains(self, m: &Metric) -> bool {
        self.0 & 1 << *m as u16 != 0
    }

    fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// A port some rule reads, with the metrics those rules read.
struct WatchedPort {
    entity: Entity,
    /// The engine's handle of `entity` (set when the engine is given the watch list).
    id: Option<EntityId>,
    /// Metrics of `PORT_METRICS` and `OperStatus` that a rule covering this port reads; the
    /// others are not computed (most ports are watched by one rule on one metric, if any).
    metrics: MetricSet,
    /// Whether its previous interval was unknown (its next point is "after a gap").
    after_gap: bool,
}

/// The engine, fed the way the daemon sees the world.
pub struct LiveRules {
    engine: Engine,
    /// Per switch, per port name: the ports some rule covers.
    ports: FastMap<Arc<str>, FastMap<Arc<str>, WatchedPort>>,
    switches: HashMap<String, Entity>,
    aggregates: Vec<Entity>,
    /// Per aggregate entity and metric: the end of the last slot fed.
    fed_until: HashMap<(String, Metric), i64>,
    /// Aggregate metrics some rule reads, per scope.
    wanted: BTreeMap<Scope, Vec<Metric>>,
    /// Per switch, per port: whether its previous interval was unknown (its next point is
    /// "after a gap"), as of the last update, for ports no longer watched (a watched port
    /// keeps its own in [`WatchedPort`]).
    after_gap: FastMap<Arc<str>, FastMap<Arc<str>, bool>>,
}

/// Which entities the rules watch: ports per switch, switches, aggregates, and the aggregate
/// metrics some rule reads. Worked out again whenever the rules or the topology change.
struct Watched {
    ports: FastMap<Arc<str>, FastMap<Arc<str>, WatchedPort>>,
    switches: HashMap<String, Entity>,
    aggregates: Vec<Entity>,
    wanted: BTreeMap<Scope, Vec<Metric>>,
}

impl Watched {
    fn of(rules: &[Rule], topology: &Topology) -> Watched {
        let mut wanted: BTreeMap<Scope, Vec<Metric>> = BTreeMap::new();
        for r in rules {
            if matches!(r.scope, Scope::ProductLine | Scope::Site | Scope::Customer) {
                let v = wanted.entry(r.scope).or_default();
                if !v.contains(&r.metric) {
                    v.push(r.metric);
                }
            }
        }
        let mut ports: FastMap<Arc<str>, FastMap<Arc<str>, WatchedPort>> = FastMap::default();
        let mut switches = HashMap::new();
        for sw in &topology.switches {
            switches.insert(sw.name.clone(), Entity::switch(sw));
            for p in &sw.ports {
                let entity = Entity::port(p);
                let covering: Vec<&Rule> = rules
                    .iter()
                    .filter(|r| r.applies_to(Scope::Port, &entity.labels))
                    .collect();
                let metrics = MetricSet::of(
                    PORT_METRICS
                        .iter()
                        .chain([&Metric::OperStatus])
                        .filter(|m| {
                            covering
                                .iter()
                                .any(|r| r.metric == **m || r.kind == Kind::Absent)
                        })
                        .copied(),
                );
                if !metrics.is_empty() {
                    ports
                        .entry(Arc::clone(&p.labels.switch))
                        .or_default()
                        .insert(
                            Arc::clone(&p.name),
                            WatchedPort {
                                entity,
                                id: None,
                                metrics,
                                after_gap: true,
                            },
                        );
                }
            }
        }
        let mut aggregates: Vec<Entity> = Vec::new();
        aggregates.extend(topology.product_lines.values().map(Entity::product_line));
        aggregates.extend(topology.sites.keys().map(|s| Entity::site(s)));
        aggregates.extend(topology.customers.values().map(Entity::customer));
        Watched {
            ports,
            switches,
            aggregates,
            wanted,
        }
    }
}

impl LiveRules {
    /// An engine over `rules` for `topology`.
    pub fn new(
        rules: Vec<Rule>,
        topology: &Arc<Topology>,
        states: Box<dyn AlertStateStore + Send>,
        history: Box<dyn History + Send>,
    ) -> LiveRules {
        let w = Watched::of(&rules, topology);
        let mut live = LiveRules {
            engine: Engine::new(rules, Arc::clone(topology), states, history),
            ports: w.ports,
            switches: w.switches,
            aggregates: w.aggregates,
            fed_until: HashMap::new(),
            wanted: w.wanted,
            after_gap: FastMap::default(),
        };
        live.adopt_ports();
        live
    }

    /// Gives the watched ports their engine handles and their gap flags as last known.
    fn adopt_ports(&mut self) {
        for (switch, ports) in &mut self.ports {
            let gaps = self.after_gap.get(switch);
            for (name, wp) in ports.iter_mut() {
                wp.id = Some(self.engine.entity(&wp.entity));
                wp.after_gap = gaps.and_then(|g| g.get(name)).copied().unwrap_or(true);
            }
        }
    }

    /// Puts new rules and a new topology in force (a reload, or ports attributed by ifAlias
    /// patterns): unchanged rules keep their alert states and baselines (see
    /// [`Engine::update`]); which slots were already evaluated and which ports come back
    /// from a gap are kept, so nothing is evaluated twice or mistaken for fresh data.
    pub fn update(&mut self, rules: Vec<Rule>, topology: &Arc<Topology>) {
        let w = Watched::of(&rules, topology);
        for (switch, ports) in &self.ports {
            let gaps = self.after_gap.entry(switch.clone()).or_default();
            for (name, wp) in ports {
                match gaps.get_mut(name) {
                    Some(g) => *g = wp.after_gap,
                    None => {
                        gaps.insert(name.clone(), wp.after_gap);
                    }
                }
            }
        }
        self.ports = w.ports;
        self.switches = w.switches;
        self.aggregates = w.aggregates;
        self.wanted = w.wanted;
        self.engine.update(rules, Arc::clone(topology));
        self.adopt_ports();
    }

    /// The engine (silences, active alerts).
    pub fn engine(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// Evaluates the port and switch rules on one sweep.
    pub fn on_sweep(&mut self, sweep: &Sweep) -> Outcome {
        let mut out = Outcome::default();
        let t = sweep.time;
        if let Some(sw) = self.switches.get(&*sweep.switch).cloned() {
            let p = if sweep.status == SweepStatus::Ok {
                Point::known(t, 1.0)
            } else {
                Point::unknown(t)
            };
            out.extend_from(self.engine.observe(&sw, Metric::Value, p));
        }
        let Some(watched) = self.ports.get_mut(&*sweep.switch) else {
            return out;
        };
        for pr in &sweep.ports {
            let Some(WatchedPort {
                entity,
                id,
                metrics,
                after_gap,
            }) = watched.get_mut(&*pr.port)
            else {
                continue;
            };
            let was_gap = *after_gap;
            // Every port metric at `t`, unknown unless the reading has a delta (no heap
            // block per port and sweep: a fleet's sweeps are most of the rules' work).
            let mut points = PORT_METRICS.map(|m| (m, Point::unknown(t)));
            let (status, gap_now) = match &pr.outcome {
                PortOutcome::Reading(r) => {
                    if let Some(d) = r.delta.as_ref().filter(|_| r.quality.has_delta()) {
                        let secs = d.dt_secs().max(1e-3);
                        let (i, o) = (d.in_bps(), d.out_bps());
                        let util = if r.speed_bps > 0 {
                            i.max(o) / r.speed_bps as f64
                        } else {
                            f64::NAN
                        };
                        let values = [
                            Some(i),
                            Some(o),
                            Some(i + o),
                            d.in_packets.map(|p| p as f64 / secs),
                            d.out_packets.map(|p| p as f64 / secs),
                            util.is_finite().then_some(util),
                        ];
                        // A long interval after a missed poll is known, but it is the first
                        // after a gap: it must not fire a spike.
                        let gap = was_gap || r.quality == Quality::Gap;
                        for ((_, p), v) in points.iter_mut().zip(values) {
                            if let Some(v) = v {
                                *p = Point::known(t, v);
                            }
                            if gap {
                                *p = p.after_gap();
                            }
                        }
                    }
                    (Some(r.oper_status), !r.quality.has_delta())
                }
                PortOutcome::Unknown(_) => (None, true),
            };
            *after_gap = gap_now;
            // The port's points of the metrics its rules read, in one call (the entity is
            // looked up once, not once per metric).
            let mut wanted = [(Metric::OperStatus, Point::unknown(t)); PORT_METRICS.len() + 1];
            let mut n = 0;
            for (m, p) in points {
                if metrics.contains(&m) {
                    wanted[n] = (m, p);
                    n += 1;
                }
            }
            if metrics.contains(&Metric::OperStatus) {
                let sp = match status {
                    Some(s) => Point::known(t, f64::from(s.to_mib())),
                    None => Point::unknown(t),
                };
                wanted[n] = (Metric::OperStatus, sp);
                n += 1;
            }
            let id = match *id {
                Some(id) => id,
                None => *id.insert(self.engine.entity(entity)),
            };
            out.extend_from(self.engine.observe_id(id, entity, &wanted[..n]));
        }
        out
    }

    /// Feeds aggregate rules the store's complete 60 s slots up to `until` (slots whose end
    /// is later are still being filled by switches with other phases).
    pub fn on_aggregates(&mut self, reader: &Reader, until: Timestamp) -> Outcome {
        let mut out = Outcome::default();
        let until_s = until.as_second().div_euclid(store::SLOT_SECS) * store::SLOT_SECS;
        for e in self.aggregates.clone() {
            let metrics = self.wanted.get(&e.scope).cloned().unwrap_or_default();
            let Some(se) = store_entity(&e) else { continue };
            for m in metrics {
                let key = (e.id(), m);
                // First time: start a few slots back, on a 5-minute boundary: the history the
                // engine warms from ends there, so the two join without a hole (a hole would
                // make the first slot look like it covered the hole too).
                let from_s = self.fed_until.get(&key).copied().unwrap_or_else(|| {
                    (until_s - 5 * store::SLOT_SECS).div_euclid(HISTORY_STEP) * HISTORY_STEP
                });
                if from_s >= until_s {
                    continue;
                }
                let (Ok(from), Ok(to)) = (
                    Timestamp::from_second(from_s),
                    Timestamp::from_second(until_s),
                ) else {
                    continue;
                };
                let Some(rows) = read(&**reader, &se, m, from, to, store::SLOT_SECS) else {
                    continue;
                };
                let mut prev_known = true;
                for (t, v, c) in rows {
                    let end = Timestamp::from_second(t.as_second() + store::SLOT_SECS).unwrap_or(t);
                    let p = match v {
                        Some(v) => {
                            let p = Point::known(end, v).with_coverage(c);
                            if prev_known { p } else { p.after_gap() }
                        }
                        None => Point::unknown(end),
                    };
                    prev_known = v.is_some();
                    out.extend_from(self.engine.observe(&e, m, p));
                }
                self.fed_until.insert(key, until_s);
            }
        }
        out
    }

    /// Advances the clock for `absent` rules.
    pub fn tick(&mut self, now: Timestamp) -> Outcome {
        self.engine.tick(now)
    }
}

impl Outcome {
    /// Appends another outcome.
    pub fn extend_from(&mut self, o: Outcome) {
        self.transitions.extend(o.transitions);
        self.events.extend(o.events);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metric_set_holds_exactly_the_metrics_it_was_made_of() {
        let s = MetricSet::of([Metric::OutBps, Metric::OperStatus]);
        for (_, m) in Metric::ALL {
            assert_eq!(s.contains(&m), m == Metric::OutBps, "{m:?}");
        }
        assert!(s.contains(&Metric::OperStatus));
        assert!(!s.is_empty());
        assert!(MetricSet::of([]).is_empty());
    }
}
