//! The rule engine: takes points of entities (live after each stored sweep, or replayed by
//! `bandwatch backtest` with a simulated clock), evaluates every rule that covers them, runs
//! the alert lifecycle and returns transitions and notices. Storage stays behind two small
//! traits: [`History`] (past points, to warm baselines after a restart) and
//! [`AlertStateStore`] (alert states).

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;

use super::condition::{SeriesEval, Verdict};
use super::event::{
    AlertEvent, AlertTransition, NoticeKind, expand_routes, explain, explain_flapping,
    explain_resolved, explain_stable,
};
use super::flap::FlapChange;
use super::lifecycle::{AlertState, Change, Hold, Phase};
use super::point::{Entity, Point};
use super::rule::{Condition, Kind, Metric, Rule, Scope};
use super::silence::Silence;
use super::state_store::AlertStateStore;
use crate::config::Topology;
use crate::hash::FastMap;

/// Past points of a series, read when the engine first sees it (after a restart), so that
/// baselines do not start from nothing. The store implements it over its rollups.
pub trait History {
    /// Points of `entity`'s `metric` in `[from, to)`, oldest first.
    fn points(&self, entity: &Entity, metric: Metric, from: Timestamp, to: Timestamp)
    -> Vec<Point>;

    /// [`History::points`] at one point per `step` seconds, where the history keeps totals
    /// that coarse (a churn rule's days, from the store's daily rollups: a few dozen rows where
    /// 5-minute steps are thousands); `from` and `to` are whole steps. By default the points
    /// as [`History::points`] gives them.
    fn points_every(
        &self,
        entity: &Entity,
        metric: Metric,
        from: Timestamp,
        to: Timestamp,
        _step: i64,
    ) -> Vec<Point> {
        self.points(entity, metric, from, to)
    }

    /// When `entity` last answered before `before` (a switch's last successful poll), if
    /// known: an `absent` rule measures silence from it, so a restart does not reset the
    /// timer of a switch that was already silent.
    fn last_answer(&self, _entity: &Entity, _before: Timestamp) -> Option<Timestamp> {
        None
    }
}

/// No history: baselines learn from the points they are given (backtests, tests).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHistory;

impl History for NoHistory {
    fn points(&self, _: &Entity, _: Metric, _: Timestamp, _: Timestamp) -> Vec<Point> {
        Vec::new()
    }
}

/// History held in memory: (entity id, metric) -> points in time order.
#[derive(Clone, Debug, Default)]
pub struct MemoryHistory {
    /// The points.
    pub series: HashMap<(String, Metric), Vec<Point>>,
}

impl History for MemoryHistory {
    fn points(&self, e: &Entity, m: Metric, from: Timestamp, to: Timestamp) -> Vec<Point> {
        self.series
            .get(&(e.id(), m))
            .map(|v| {
                v.iter()
                    .filter(|p| p.time >= from && p.time < to)
                    .copied()
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// What one observation produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Lifecycle changes, for the alert history.
    pub transitions: Vec<AlertTransition>,
    /// Notices for the notify stage.
    pub events: Vec<AlertEvent>,
}

impl Outcome {
    fn extend(&mut self, o: Outcome) {
        self.transitions.extend(o.transitions);
        self.events.extend(o.events);
    }
}

/// A rule's index and an interned entity: the key of the absent rules' watch list.
type Key = (usize, u32);

/// An entity as the engine knows it (see [`Engine::entity`]): an index into its tables,
/// valid for the engine that made it for as long as that engine lives (entities are never
/// forgotten, and [`Engine::update`] keeps them), so a caller that sees the same entity on
/// every sweep looks it up once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntityId(u32);

/// What the engine keeps for one rule on one entity: its evaluator and its alert state, in
/// one place, so a point costs one look-up per rule.
struct Entry {
    rule: usize,
    eval: SeriesEval,
    /// The alert state when it holds something (pending, firing, flapping, notified or
    /// damped); `None` when dormant, or not needed yet since the engine started or the rule
    /// changed (the store is then asked for it when the condition first gives a verdict).
    state: Option<Box<AlertState>>,
    /// Known dormant (inactive with nothing to remember, already in the store; `state` is
    /// `None`): a flag where a state costs hundreds of bytes, and most (rule, port) pairs of
    /// a fleet are dormant nearly all the time. A new state is made when the condition next
    /// holds.
    dormant: bool,
}

/// What the engine keeps for one entity, found by its [`EntityId`] without hashing.
#[derive(Default)]
struct PerEntity {
    /// Per metric: the rules that cover it (worked out once per update).
    applies: Vec<(Metric, Arc<[usize]>)>,
    /// One entry per rule that has evaluated a point of the entity (a few at most).
    entries: Vec<Entry>,
}

impl PerEntity {
    fn entry(&self, rule: usize) -> Option<&Entry> {
        self.entries.iter().find(|e| e.rule == rule)
    }
}

/// Entity ids (`port:sw/xe-0/0/1`) seen by the engine, interned once: its maps are keyed by
/// (rule index, entity index), so evaluating a point allocates no string and compares none
/// beyond one lookup. Ids are never forgotten (a fleet's entities, a few per port).
#[derive(Default)]
struct Ids {
    /// Per scope, by entity name: found without building the id string.
    index: Vec<(Scope, FastMap<String, u32>)>,
    names: Vec<String>,
}

impl Ids {
    fn intern(&mut self, entity: &Entity) -> u32 {
        let pos = match self.index.iter().position(|(s, _)| *s == entity.scope) {
            Some(pos) => pos,
            None => {
                self.index.push((entity.scope, FastMap::default()));
                self.index.len() - 1
            }
        };
        let by_name = &mut self.index[pos].1;
        if let Some(&ix) = by_name.get(entity.name.as_str()) {
            return ix;
        }
        let ix = self.names.len() as u32;
        self.names.push(entity.id());
        by_name.insert(entity.name.clone(), ix);
        ix
    }

    /// The index of an id (`scope:name`) already interned, found through the same index
    /// as [`Ids::intern`] (a backtest forgets each series it finishes: no scan of them all).
    fn find(&self, id: &str) -> Option<u32> {
        let (scope, name) = id.split_once(':')?;
        self.index
            .iter()
            .find(|(s, _)| s.name() == scope)
            .and_then(|(_, by_name)| by_name.get(name).copied())
    }

    fn name(&self, ix: u32) -> &str {
        self.names.get(ix as usize).map_or("", String::as_str)
    }
}

/// Entries of rules that stay, under their new index; the others are dropped.
fn remap<V>(m: FastMap<Key, V>, moved: &HashMap<usize, usize>) -> FastMap<Key, V> {
    m.into_iter()
        .filter_map(|((i, id), v)| moved.get(&i).map(|&j| ((j, id), v)))
        .collect()
}

/// Per rule: the indices of the rules named in its `inhibited_by`.
fn inhibitors_of(rules: &[Rule]) -> Vec<Vec<usize>> {
    rules
        .iter()
        .map(|r| {
            r.inhibited_by
                .iter()
                .filter_map(|n| rules.iter().position(|x| &x.name == n))
                .collect()
        })
        .collect()
}

/// What of a state must reach the store when it changes (not every new reading: that would be
/// a write per point).
fn persisted(s: &AlertState) -> impl PartialEq + use<> {
    (
        (s.phase, s.notified, s.last_notice, s.repeats),
        (
            s.flap.last,
            s.flap.last_change,
            s.flap.since,
            s.flap.notified,
        ),
    )
}

/// True when a sample of `entity` at `t` is inside an open maintenance window marked
/// `exclude_samples` and `rule` leaves such samples out (`maintenance_samples`).
fn excluded(topology: &Topology, rule: &Rule, entity: &Entity, t: Timestamp) -> bool {
    excluding(topology, rule, entity).any(|w| w.open_at(t))
}

/// The maintenance windows that leave `entity`'s samples out of `rule`'s learning when open.
fn excluding<'a>(
    topology: &'a Topology,
    rule: &Rule,
    entity: &'a Entity,
) -> impl Iterator<Item = &'a crate::maintenance::Window> {
    let on = rule.exclude_maintenance_samples;
    topology
        .maintenance
        .iter()
        .filter(move |w| on && w.exclude_samples && w.matches(&entity.labels))
}

/// The rule engine.
pub struct Engine {
    rules: Vec<Rule>,
    /// Shared with the other stages (never copied: a fleet's topology is megabytes).
    topology: Arc<Topology>,
    store: Box<dyn AlertStateStore + Send>,
    history: Box<dyn History + Send>,
    silences: Vec<Silence>,
    ids: Ids,
    /// Per interned entity (by its index in `ids`): its rules, evaluators and alert states.
    entities: Vec<PerEntity>,
    /// The distinct lists of rules that cover an entity's metric, shared by every entity with
    /// the same list (a fleet's ports have a handful of distinct lists, not one each).
    rule_lists: Vec<Arc<[usize]>>,
    /// Entities seen by absent rules, so that [`Engine::tick`] can notice silence.
    watched: FastMap<Key, (Entity, Metric)>,
    /// Per rule: the indices of the rules named in its `inhibited_by`.
    inhibitors: Vec<Vec<usize>>,
}

impl Engine {
    /// An engine over validated rules. States are loaded from `store` as entities are seen.
    pub fn new(
        rules: Vec<Rule>,
        topology: impl Into<Arc<Topology>>,
        store: Box<dyn AlertStateStore + Send>,
        history: Box<dyn History + Send>,
    ) -> Engine {
        Engine {
            inhibitors: inhibitors_of(&rules),
            rules,
            topology: topology.into(),
            store,
            history,
            silences: Vec::new(),
            ids: Ids::default(),
            entities: Vec::new(),
            rule_lists: Vec::new(),
            watched: FastMap::default(),
        }
    }

    /// Puts new rules and a new topology in force without forgetting what is still true
    /// (Prometheus's `rules.Manager.Update` with `CopyState` is the model): a rule whose
    /// definition did not change keeps its alert states, its baselines and the entities its
    /// absent check watches, under its new position; a new or changed rule starts afresh
    /// (its persisted alert state is loaded again as its entities are seen, so a firing
    /// alert is neither notified again nor forgotten); a removed rule's state is dropped.
    /// Which rules apply to which entity is worked out again (labels may have changed).
    pub fn update(&mut self, rules: Vec<Rule>, topology: impl Into<Arc<Topology>>) {
        let moved: HashMap<usize, usize> = self
            .rules
            .iter()
            .enumerate()
            .filter_map(|(old, r)| {
                let new = rules.iter().position(|n| n.name == r.name)?;
                r.same_definition(&rules[new]).then_some((old, new))
            })
            .collect();
        for e in &mut self.entities {
            e.entries.retain_mut(|x| match moved.get(&x.rule) {
                Some(&j) => {
                    x.rule = j;
                    true
                }
                None => false,
            });
            e.applies.clear();
        }
        self.rule_lists.clear();
        self.watched = remap(std::mem::take(&mut self.watched), &moved);
        self.inhibitors = inhibitors_of(&rules);
        self.rules = rules;
        self.topology = topology.into();
    }

    /// The rules.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Replaces the silences (the daemon re-reads them from the store; no restart needed).
    pub fn set_silences(&mut self, silences: Vec<Silence>) {
        self.silences = silences;
    }

    /// Gives the state store back (to persist it, or to rebuild an engine from it).
    pub fn into_store(self) -> Box<dyn AlertStateStore + Send> {
        self.store
    }

    /// Every alert state the engine holds that is pending, firing or flapping.
    pub fn active(&self) -> Vec<&AlertState> {
        self.entities
            .iter()
            .flat_map(|e| &e.entries)
            .filter_map(|x| x.state.as_deref())
            .filter(|s| s.phase != Phase::Inactive || s.flap.flapping())
            .collect()
    }

    /// Forgets everything kept for one entity (`Entity::id`): its evaluators, alert states
    /// and absent watch. A backtest calls it once a series is replayed to the end, so memory
    /// holds one series at a time.
    pub fn forget(&mut self, id: &str) {
        let Some(ix) = self.ids.find(id) else {
            return;
        };
        if let Some(e) = self.entities.get_mut(ix as usize) {
            *e = PerEntity::default();
        }
        self.watched.retain(|(_, e), _| *e != ix);
    }

    /// The engine's handle of `entity` (interned the first time), for [`Engine::observe_id`].
    pub fn entity(&mut self, entity: &Entity) -> EntityId {
        let ix = self.ids.intern(entity);
        if self.entities.len() <= ix as usize {
            let more = ix as usize + 1 - self.entities.len();
            if self.entities.capacity() < ix as usize + 1 {
                // In steps of an eighth: a fleet's entities are added once, and a doubling
                // Vec would leave up to half of 9,600 of them unused for good.
                self.entities
                    .reserve_exact(more.max(self.entities.len() / 8).max(16));
            }
            self.entities
                .resize_with(ix as usize + 1, PerEntity::default);
        }
        EntityId(ix)
    }

    fn rules_for(&mut self, ix: u32, entity: &Entity, metric: Metric) -> Arc<[usize]> {
        let Some(per) = self.entities.get_mut(ix as usize) else {
            return Arc::from([]);
        };
        if let Some((_, v)) = per.applies.iter().find(|(m, _)| *m == metric) {
            return v.clone();
        }
        let list: Vec<usize> = self
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.applies_to(entity.scope, &entity.labels)
                    && (r.metric == metric || r.kind == Kind::Absent)
            })
            .map(|(i, _)| i)
            .collect();
        let v = match self.rule_lists.iter().find(|l| ***l == *list) {
            Some(shared) => Arc::clone(shared),
            None => {
                let new: Arc<[usize]> = list.into();
                self.rule_lists.push(Arc::clone(&new));
                new
            }
        };
        // After an update: a switch's poll interval may have changed, and with it what
        // `for_points` comes to on an aggregate (its learnt bursts keep their run length).
        if per.entries.iter().any(|x| v.contains(&x.rule)) {
            let poll = Engine::polls_behind(&self.topology, entity);
            for x in per.entries.iter_mut().filter(|x| v.contains(&x.rule)) {
                x.eval.set_poll_secs(poll);
            }
        }
        per.applies.reserve_exact(1);
        per.applies.push((metric, v.clone()));
        v
    }

    /// The interval of the polls behind `entity`'s points where they are coarser than its
    /// points, else 0: on an aggregate (a product line, site, switch or customer, judged on
    /// the store's 60 s slots) the slowest of its ports' switches, once a minute or slower.
    /// Its rules count `for_points` in those polls ([`super::condition::confirm_points`]),
    /// `burst_factor` its runs a day at that interval and the seasonal baseline its step.
    /// Counted in slots, a product line of 5-minute ports was confirmed by one poll (its five
    /// slots) and never saw a 3x attack of two 1-minute polls (one whole slot between two
    /// partial ones): `benches/sim/`. Faster than a minute a slot is a mean of several polls,
    /// and nothing changes.
    fn polls_behind(topology: &Topology, entity: &Entity) -> u32 {
        let interval = |switch: &str| topology.switch(switch).map(|sw| sw.interval.as_secs());
        let of_ports = |ports: &[crate::config::PortKey]| {
            ports.iter().filter_map(|k| interval(&k.switch)).max()
        };
        let name = entity.name.as_str();
        let slowest = match entity.scope {
            Scope::ProductLine => topology
                .product_lines
                .get(name)
                .and_then(|pl| of_ports(&pl.ports)),
            Scope::Customer => topology
                .customers
                .get(name)
                .and_then(|c| of_ports(&c.ports)),
            Scope::Site => topology
                .sites
                .get(name)
                .and_then(|site| site.switches.iter().filter_map(|sw| interval(sw)).max()),
            Scope::Switch => interval(name),
            Scope::Port | Scope::Series => None,
        };
        match slowest {
            Some(poll) if poll >= crate::store::SLOT_SECS as u64 => {
                u32::try_from(poll).unwrap_or(u32::MAX)
            }
            _ => 0,
        }
    }

    /// The history a new rule state learns from, `[from, to)`. A churn rule whose windows are
    /// whole hours (days, usually) reads its whole windows as one total each, and only the
    /// window still open at `to` in the history's finer steps: its windows are all it keeps
    /// of the points, so a rule over ten weeks of days reads 70 rows, not 20,000 5-minute ones.
    /// Rows ending where the open window starts, so the finer steps after them join without
    /// a hole or an overlap (hours are whole 5-minute steps). Not `whole`: every point in the
    /// history's own steps (a maintenance window may leave part of a window out).
    fn warm_points(
        history: &dyn History,
        rule: &Rule,
        whole: bool,
        entity: &Entity,
        metric: Metric,
        from: Timestamp,
        to: Timestamp,
    ) -> Vec<Point> {
        let window = match &rule.condition {
            Condition::Churn(c) if whole && c.window >= 3600 && c.window % 3600 == 0 => c.window,
            _ => return history.points(entity, metric, from, to),
        };
        let whole_from = from.as_second().div_euclid(window) * window;
        let open = to.as_second().div_euclid(window) * window;
        let (Ok(whole_from), Ok(open_at)) = (
            Timestamp::from_second(whole_from),
            Timestamp::from_second(open),
        ) else {
            return history.points(entity, metric, from, to);
        };
        let mut points = if whole_from < open_at {
            history.points_every(entity, metric, whole_from, open_at, window)
        } else {
            Vec::new()
        };
        points.extend(history.points(entity, metric, open_at, to));
        points
    }

    fn warm_span(rule: &Rule) -> i64 {
        match &rule.condition {
            Condition::Spike(m) | Condition::Drop(m) => m.baseline.history + m.baseline.season,
            Condition::Churn(c) => c.window * (c.recent + c.reference + 1) as i64,
            Condition::Absent => rule.for_secs,
            // Whether the port was up before: a day of status history.
            Condition::PortDown => 86400,
            Condition::Threshold { .. } => 0,
        }
    }

    /// Evaluates every rule covering `entity` and `metric` at point `p`.
    pub fn observe(&mut self, entity: &Entity, metric: Metric, p: Point) -> Outcome {
        self.observe_each(entity, &[(metric, p)])
    }

    /// Evaluates every rule covering `entity` at each of its points (one per metric, of the
    /// same sweep), in order.
    pub fn observe_each(&mut self, entity: &Entity, points: &[(Metric, Point)]) -> Outcome {
        let id = self.entity(entity);
        self.observe_id(id, entity, points)
    }

    /// [`Engine::observe_each`] for an entity already known by its handle (`id` must be
    /// this engine's handle of `entity`): no look-up by name.
    pub fn observe_id(
        &mut self,
        id: EntityId,
        entity: &Entity,
        points: &[(Metric, Point)],
    ) -> Outcome {
        let mut out = Outcome::default();
        let ix = id.0;
        for (metric, p) in points {
            let metric = *metric;
            for &i in self.rules_for(ix, entity, metric).iter() {
                if self.rules[i].kind == Kind::Absent {
                    self.watched
                        .entry((i, ix))
                        .or_insert_with(|| (entity.clone(), metric));
                }
                out.extend(self.evaluate(i, ix, entity, metric, p));
            }
        }
        out
    }

    /// Advances the clock without data: every entity an absent rule has seen is evaluated with
    /// an unknown point at `now`, so a switch whose poller went quiet altogether still fires.
    /// Call it once per evaluation cycle; entities with a point at or after `now` are skipped.
    pub fn tick(&mut self, now: Timestamp) -> Outcome {
        let mut out = Outcome::default();
        let mut watched: Vec<(Key, (Entity, Metric))> =
            self.watched.iter().map(|(k, v)| (*k, v.clone())).collect();
        // In rule order, then by entity id: the order the notices come out in.
        watched.sort_by(|a, b| (a.0.0, self.ids.name(a.0.1)).cmp(&(b.0.0, self.ids.name(b.0.1))));
        for ((i, ix), (entity, metric)) in watched {
            let behind = self
                .entities
                .get(ix as usize)
                .and_then(|e| e.entry(i))
                .and_then(|x| x.eval.last_time())
                .is_some_and(|last| last < now.as_second());
            if behind {
                out.extend(self.evaluate(i, ix, &entity, metric, &Point::unknown(now)));
            }
        }
        out
    }

    fn evaluate(
        &mut self,
        i: usize,
        ix: u32,
        entity: &Entity,
        metric: Metric,
        p: &Point,
    ) -> Outcome {
        let rule = &self.rules[i];
        let Some(per) = self.entities.get_mut(ix as usize) else {
            return Outcome::default();
        };
        let pos = match per.entries.iter().position(|x| x.rule == i) {
            Some(pos) => pos,
            None => {
                let mut e = SeriesEval::new(rule, Engine::polls_behind(&self.topology, entity));
                if rule.kind == Kind::Absent
                    && let Some(last) = self.history.last_answer(entity, p.time)
                {
                    e.silent_since(last);
                }
                let span = Engine::warm_span(rule);
                if span > 0 {
                    // A port's live points come at its switch's poll interval: a baseline
                    // learns the (coarser) stored history knowing that.
                    // Only a spike's or drop's baseline uses it: no switch is looked up for
                    // the other kinds.
                    if entity.scope == Scope::Port
                        && matches!(rule.condition, Condition::Spike(_) | Condition::Drop(_))
                        && let Some(sw) = entity
                            .labels
                            .get("switch")
                            .and_then(|name| self.topology.switch(name))
                    {
                        e.expect_step(sw.interval.as_secs() as i64);
                    }
                    let from = Timestamp::from_second(p.time.as_second() - span)
                        .unwrap_or(Timestamp::UNIX_EPOCH);
                    // Whole windows only where no maintenance window could leave part of one
                    // out (samples are excluded by their time, and a window's total has one).
                    let whole = excluding(&self.topology, rule, entity).next().is_none();
                    let history = &*self.history;
                    for past in
                        Engine::warm_points(history, rule, whole, entity, metric, from, p.time)
                    {
                        let learn = !excluded(&self.topology, rule, entity, past.time);
                        e.warm(rule, &past, learn);
                    }
                }
                // Exactly as many as needed: a Vec grows to four at its first push, and a
                // fleet has one of these per port.
                per.entries.reserve_exact(1);
                per.entries.push(Entry {
                    rule: i,
                    eval: e,
                    state: None,
                    dormant: false,
                });
                per.entries.len() - 1
            }
        };
        let learn = !excluded(&self.topology, rule, entity, p.time);
        let Some(mut verdict) = per.entries[pos].eval.observe_as(rule, p, learn) else {
            return Outcome::default();
        };
        // Inhibited: while a rule of `inhibited_by` fires on this entity, this one does not
        // start (an alert already firing goes on as usual).
        let firing = |x: &Entry| x.state.as_ref().is_some_and(|s| s.phase == Phase::Firing);
        if let Verdict::True(r) = &verdict
            && self.inhibitors[i]
                .iter()
                .any(|j| per.entry(*j).is_some_and(firing))
            && !firing(&per.entries[pos])
        {
            let mut r = r.clone();
            r.note = Some("inhibited by another alert on this entity".into());
            verdict = Verdict::False(r);
        }
        let id = self.ids.name(ix);
        let entry = &mut per.entries[pos];
        if entry.dormant {
            // Nothing to start and nothing to remember: an inactive alert's step on a false or
            // unknown point changes only its latest reading, which no one reads while it is
            // inactive (and flap rules keep their full state).
            if !matches!(verdict, Verdict::True(_)) {
                return Outcome::default();
            }
            entry.dormant = false;
            entry.state = Some(Box::new(AlertState::new(&rule.name, id)));
        }
        let store = &self.store;
        let state = entry.state.get_or_insert_with(|| {
            Box::new(
                store
                    .load(&rule.name, id)
                    .unwrap_or_else(|| AlertState::new(&rule.name, id)),
            )
        });
        let before = persisted(state);
        let was_notified = state.notified;
        let flapped_since = state.flap.since;
        // Absent rules carry their `for` inside the condition.
        let hold = if rule.kind == Kind::Absent {
            Hold::default()
        } else {
            Hold {
                secs: rule.for_secs,
                points: entry.eval.confirm_points(rule),
            }
        };
        let higher = !matches!(rule.condition, Condition::Drop(_) | Condition::Churn(_))
            && !matches!(rule.condition, Condition::Threshold { above: None, .. });
        let mut changes = state.step(
            &verdict,
            p.time,
            hold,
            rule.clear_for_secs,
            higher,
            rule.flap.is_none(),
        );
        let flap = rule
            .flap
            .as_ref()
            .and_then(|f| state.flap.step(&verdict, p.time, f));
        match flap {
            Some(FlapChange::Started) => changes.push(Change::Flapping),
            Some(FlapChange::Stable) => changes.push(Change::Stable),
            None => {}
        }
        // A maintenance window mutes it like a silence, and its transitions say so.
        let window = crate::maintenance::covering(
            &self.topology.maintenance,
            &rule.name,
            &entity.labels,
            p.time,
        );
        let mut out = Outcome::default();
        for c in &changes {
            let mut reading = state.reading.clone();
            if let Some(w) = window {
                let mark = format!("(maintenance) {}", w.name);
                reading.note = Some(match reading.note {
                    Some(n) => format!("{n}; {mark}"),
                    None => mark,
                });
            }
            out.transitions.push(AlertTransition {
                rule: rule.name.clone(),
                entity: id.to_string(),
                change: *c,
                at: p.time,
                reading,
                started_at: state.started_at,
                peak: state.peak.clone(),
                gap_points: state.gap_points,
            });
        }
        let silenced = window.is_some()
            || self
                .silences
                .iter()
                .any(|s| s.covers(&rule.name, &entity.labels, p.time));
        let started = state.started_at.unwrap_or(p.time);
        let notice = |kind: NoticeKind, state: &AlertState| {
            let explanation = match kind {
                NoticeKind::Resolved => explain_resolved(rule, &state.reading, started, p.time),
                NoticeKind::Repeat => {
                    format!(
                        "still firing: {}",
                        explain(rule, &state.reading, started, p.time)
                    )
                }
                NoticeKind::Firing => explain(rule, &state.reading, started, p.time),
                NoticeKind::Flapping => {
                    let f = rule.flap.unwrap_or(crate::rules::file::defaults::FLAP);
                    explain_flapping(state.flap.count, f.within, f.clear_for)
                }
                NoticeKind::Stable => {
                    let f = rule.flap.unwrap_or(crate::rules::file::defaults::FLAP);
                    let firing = (state.phase == Phase::Firing)
                        .then(|| explain(rule, &state.reading, started, p.time));
                    let since = flapped_since.unwrap_or(p.time);
                    explain_stable(f.clear_for, since, firing)
                }
            };
            AlertEvent {
                kind,
                rule: rule.name.clone(),
                entity: id.to_string(),
                labels: entity.labels.to_map(),
                severity: rule.severity,
                routes: expand_routes(rule, entity, &self.topology),
                value: state.reading.value,
                baseline: state.reading.baseline,
                limit: state.reading.limit,
                started_at: started,
                at: p.time,
                explanation,
            }
        };
        let known = matches!(verdict, Verdict::True(_) | Verdict::False(_));
        if flap == Some(FlapChange::Stable) {
            // The flapping is over: close what people were told, then the lifecycle speaks
            // again (a firing alert whose flapping notice went out stays notified, so its
            // resolution follows; one that was never told is notified below as new).
            if state.notified {
                if state.flap.notified {
                    out.events.push(notice(NoticeKind::Stable, state));
                } else if state.phase != Phase::Firing {
                    out.events.push(notice(NoticeKind::Resolved, state));
                }
                state.notified = state.phase == Phase::Firing;
                state.last_notice = Some(p.time);
                state.repeats = 0;
            }
            state.flap.notified = false;
        }
        if state.flap.flapping() {
            // Flapping: one notice (when not silenced), then nothing until it is stable. What
            // people were told stays open underneath (a new onset does not forget it), so
            // the stable notice, or a resolved one, closes it.
            if !state.flap.notified && !silenced && known {
                out.events.push(notice(NoticeKind::Flapping, state));
                state.flap.notified = true;
            }
            state.notified = was_notified || state.flap.notified;
        } else if changes.contains(&Change::Resolved) {
            if state.notified {
                out.events.push(notice(NoticeKind::Resolved, state));
            }
            state.notified = false;
        } else if state.phase == Phase::Firing && !silenced && known {
            if !state.notified {
                // New, or its silence just ended.
                out.events.push(notice(NoticeKind::Firing, state));
                state.notified = true;
                state.last_notice = Some(p.time);
                state.repeats = 0;
            } else if let (Some(rep), Some(last)) = (rule.repeat, state.last_notice)
                && p.time.as_second() - last.as_second() >= rep.interval(state.repeats)
            {
                out.events.push(notice(NoticeKind::Repeat, state));
                state.last_notice = Some(p.time);
                state.repeats += 1;
            }
        }
        if !changes.is_empty() || before != persisted(state) {
            self.store.save(state);
        }
        if dormant(rule, state, p.time) {
            entry.state = None;
            entry.dormant = true;
        }
        out
    }
}

/// True when an alert state holds nothing its next steps need (inactive, nothing notified,
/// no onset that could damp a next one, no flap tracking) and the store has it as it is: the
/// engine then keeps only that it is dormant ([`Entry`]'s `dormant`), and a new state is made when
/// the condition next holds.
fn dormant(rule: &Rule, s: &AlertState, now: Timestamp) -> bool {
    let window = now.as_second() - super::lifecycle::FLAP_WINDOW_SECS;
    s.phase == Phase::Inactive
        && !s.notified
        && s.onsets.iter().all(|t| t.as_second() <= window)
        && rule.flap.is_none()
        && s.flap == super::flap::FlapState::default()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::SourceFile;
    use crate::rules::MemoryStateStore;
    use crate::rules::event::NoticeKind;
    use crate::rules::file::parse_source;

    const THRESHOLD: &str = r#"
[[rule]]
name = "hot"
kind = "threshold"
scope = "series"
metric = "value"
above = 100
for = "0s"
clear_for = "0s"
notify = []
"#;

    fn engine(text: &str, store: MemoryStateStore) -> Engine {
        let src = SourceFile {
            path: "r.toml".into(),
            text: text.into(),
        };
        let (rules, diags) = parse_source(&src, &Topology::default(), &mut HashMap::new());
        assert!(diags.0.is_empty(), "{diags}");
        Engine::new(
            rules,
            Topology::default(),
            Box::new(store),
            Box::new(NoHistory),
        )
    }

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_767_571_200 + s).unwrap()
    }

    impl Engine {
        /// How many alert states are held in full, and how many are dormant.
        fn held_and_dormant(&self) -> (usize, usize) {
            let entries = self.entities.iter().flat_map(|e| &e.entries);
            entries.fold((0, 0), |(h, d), x| {
                (
                    h + usize::from(x.state.is_some()),
                    d + usize::from(x.dormant),
                )
            })
        }
    }

    fn kinds(o: &Outcome) -> Vec<NoticeKind> {
        o.events.iter().map(|e| e.kind).collect()
    }

    #[test]
    fn quiet_alerts_are_kept_as_keys_and_fire_and_resolve_as_before() {
        let mut e = engine(THRESHOLD, MemoryStateStore::new());
        let series: Vec<Entity> = (0..50).map(|i| Entity::series(&format!("s{i}"))).collect();
        for (k, s) in series.iter().enumerate() {
            let o = e.observe(s, Metric::Value, Point::known(at(0), k as f64));
            assert!(o.transitions.is_empty());
        }
        assert_eq!(e.held_and_dormant(), (0, 50));
        // s7 goes over: it fires at once (for = 0s), and its state is held in full.
        let hot = &series[7];
        let o = e.observe(hot, Metric::Value, Point::known(at(60), 500.0));
        assert_eq!(kinds(&o), vec![NoticeKind::Firing]);
        assert_eq!(e.active().len(), 1);
        assert_eq!(e.held_and_dormant(), (1, 49));
        // An unknown point while firing resolves nothing.
        let o = e.observe(hot, Metric::Value, Point::unknown(at(120)));
        assert!(o.events.is_empty());
        let o = e.observe(hot, Metric::Value, Point::known(at(180), 5.0));
        assert_eq!(kinds(&o), vec![NoticeKind::Resolved]);
        // Its onset is remembered for an hour (a second one within it is damped), so the
        // state stays; after the hour a quiet point makes it dormant again.
        assert_eq!(e.held_and_dormant().0, 1);
        let o = e.observe(hot, Metric::Value, Point::known(at(180 + 3700), 5.0));
        assert!(o.transitions.is_empty());
        assert_eq!(e.held_and_dormant(), (0, 50));
        // From dormant, it fires and is notified like a new alert.
        let o = e.observe(hot, Metric::Value, Point::known(at(4000), 900.0));
        assert_eq!(kinds(&o), vec![NoticeKind::Firing]);
        assert_eq!(o.events[0].value, 900.0);
    }

    #[test]
    fn forget_drops_one_entity_by_its_id_and_keeps_the_others() {
        let mut e = engine(THRESHOLD, MemoryStateStore::new());
        let (a, b) = (Entity::series("nab/a:1"), Entity::series("nab/b"));
        e.observe(&a, Metric::Value, Point::known(at(0), 500.0));
        e.observe(&b, Metric::Value, Point::known(at(0), 500.0));
        assert_eq!(e.active().len(), 2);
        e.forget(&a.id());
        let left: Vec<&str> = e.active().iter().map(|s| s.entity.as_str()).collect();
        assert_eq!(left, vec!["series:nab/b"]);
        // An id never seen, or not of the form scope:name, forgets nothing.
        e.forget("series:nope");
        e.forget("garbage");
        assert_eq!(e.active().len(), 1);
    }

    #[test]
    fn a_stored_firing_alert_is_loaded_not_taken_for_dormant() {
        // The daemon restarts while s1 fires: its state comes from the store, and a quiet
        // point resolves it (a resolved notice, since the firing one went out).
        let mut first = engine(THRESHOLD, MemoryStateStore::new());
        let s1 = Entity::series("s1");
        let o = first.observe(&s1, Metric::Value, Point::known(at(0), 500.0));
        assert_eq!(kinds(&o), vec![NoticeKind::Firing]);
        let store = first.into_store();
        let restored = {
            // What the store kept: its active states, as a restart reads them.
            let mut m = MemoryStateStore::new();
            for s in store.active() {
                m.save(&s);
            }
            m
        };
        let mut second = engine(THRESHOLD, restored);
        let o = second.observe(&s1, Metric::Value, Point::known(at(60), 5.0));
        assert_eq!(kinds(&o), vec![NoticeKind::Resolved]);
    }
}
