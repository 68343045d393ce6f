//! The schedule: one tokio task per switch, each on a fixed grid (start times never drift by
//! a poll's duration) shifted by a stable per-switch phase so that switches do not all fire
//! at once; a global bound on switches polled at the same instant. A slow or dead switch
//! only delays itself: its task skips the ticks it overran (the next delta is a `gap`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration as StdDuration, SystemTime, UNIX_EPOCH};

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{info, warn};

use super::attributed::AttributedPorts;
use super::metrics::{PollMetrics, SwitchMetrics};
use super::sweep::Sweep;
use super::switch::{SwitchPoller, failed_sweep};
use crate::config::{Switch, Topology};
use crate::snmp::{BoxFuture, SharedUdp, SnmpError, SnmpSource};

/// Opens the SNMP source of one switch (the real one is [`crate::snmp::connect_shared`]).
pub type Connector = Arc<
    dyn Fn(Arc<Switch>) -> BoxFuture<'static, Result<Box<dyn SnmpSource>, SnmpError>> + Send + Sync,
>;

/// The running poller: one task per switch, its metrics and the ports it attributed.
pub struct Poller {
    /// The task and the definition it polls, per switch name.
    tasks: HashMap<String, (JoinHandle<()>, Arc<Switch>)>,
    /// Per-switch self-metrics, readable at any time.
    pub metrics: Arc<PollMetrics>,
    /// Labels of the ports found by ifAlias patterns, updated at every discovery.
    pub attributed: Arc<AttributedPorts>,
    permits: Arc<Semaphore>,
    tx: mpsc::Sender<Sweep>,
    connector: Connector,
}

/// What [`Poller::apply`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Switches whose task kept running (definition unchanged: counter state kept).
    pub kept: usize,
    /// Switches started (new, or restarted because their definition changed).
    pub started: usize,
    /// Switches stopped (gone from the topology).
    pub stopped: usize,
}

impl Poller {
    /// Polls the switches of `topology` (the configured one: ports attributed by ifAlias
    /// patterns are found by the switch's own discovery) from now on: a switch whose definition is unchanged
    /// keeps its task, its SNMP session and its counter state (its next interval is a normal
    /// delta, not `first`); a new or changed switch (re)starts; a removed one stops and its
    /// alias-attributed ports are forgotten.
    pub fn apply(&mut self, topology: &Topology) -> Applied {
        let mut done = Applied::default();
        let wanted: HashMap<&str, &Switch> = topology
            .switches
            .iter()
            .map(|s| (s.name.as_str(), &**s))
            .collect();
        self.tasks.retain(|name, (handle, _)| {
            if wanted.contains_key(name.as_str()) {
                return true;
            }
            handle.abort();
            done.stopped += 1;
            false
        });
        for switch in &topology.switches {
            if let Some((handle, running)) = self.tasks.get(&switch.name) {
                if **running == **switch && !handle.is_finished() {
                    done.kept += 1;
                    continue;
                }
                handle.abort();
            }
            // Shared with the topology, not copied.
            let switch = Arc::clone(switch);
            let m = self.metrics.get_or_add(&switch.name);
            let handle = tokio::spawn(run_switch(
                switch.clone(),
                m,
                self.permits.clone(),
                self.tx.clone(),
                self.connector.clone(),
                self.attributed.clone(),
            ));
            self.tasks.insert(switch.name.clone(), (handle, switch));
            done.started += 1;
        }
        let names: Vec<&str> = topology.switches.iter().map(|s| s.name.as_str()).collect();
        self.metrics.retain_ordered(&names);
        for gone in self.attributed.switches() {
            if !wanted.contains_key(gone.as_str()) {
                self.attributed.replace_switch(&gone, Vec::new());
            }
        }
        done
    }

    /// How many switch tasks run.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// True when no switch is polled.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Stops every switch task.
    pub fn shutdown(&self) {
        for (h, _) in self.tasks.values() {
            h.abort();
        }
    }
}

/// The connector used by the daemon: SNMP over UDP with the switch's profile (v2c on
/// bandwatch's own client, v3 on async-snmp), every switch on one shared socket (per
/// address family).
pub fn udp_connector() -> Connector {
    let shared = Arc::new(SharedUdp::default());
    Arc::new(move |switch: Arc<Switch>| {
        let shared = shared.clone();
        Box::pin(async move {
            crate::snmp::connect_shared(&switch.address, &switch.snmp, &shared).await
        })
    })
}

/// Starts polling every switch of `topology`, at most `max_concurrent` at the same instant,
/// sending each sweep on `tx`. Tasks end when the receiver is dropped or on
/// [`Poller::shutdown`]. Must be called inside a tokio runtime.
pub fn spawn(topology: Arc<Topology>, max_concurrent: usize, tx: mpsc::Sender<Sweep>) -> Poller {
    spawn_with(topology, max_concurrent, tx, udp_connector())
}

/// [`spawn`] with another way to reach the switches (tests, other transports).
pub fn spawn_with(
    topology: Arc<Topology>,
    max_concurrent: usize,
    tx: mpsc::Sender<Sweep>,
    connector: Connector,
) -> Poller {
    let mut poller = Poller {
        tasks: HashMap::new(),
        metrics: Arc::new(PollMetrics::default()),
        attributed: Arc::new(AttributedPorts::default()),
        permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
        tx,
        connector,
    };
    let started = poller.apply(&topology);
    info!(switches = started.started, max_concurrent, "poller started");
    poller
}

/// FNV-1a: a hash that is the same in every build, so a switch keeps its phase across
/// restarts and upgrades.
fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Phases are whole multiples of this: switches whose slots coincide start together and
/// share the poller's wake-ups (one timer, one burst of answers read in one go) instead of
/// each waking the process on its own. A 10 s interval has 40 slots; 200 switches start
/// about 5 at a time, still far from all at once.
pub const PHASE_SLOT: StdDuration = StdDuration::from_millis(250);

/// The switch's stable offset within its interval: one of the interval's [`PHASE_SLOT`]s
/// (or 0 when the interval is shorter than a slot).
pub fn phase_offset(name: &str, interval: StdDuration) -> StdDuration {
    let slot = PHASE_SLOT.as_millis() as u64;
    let slots = (interval.as_millis() as u64 / slot).max(1);
    StdDuration::from_millis(fnv1a(name) % slots * slot)
}

/// Time until the next instant of the grid `k * interval + phase` (Unix time).
fn until_next_slot(
    now_unix: StdDuration,
    interval: StdDuration,
    phase: StdDuration,
) -> StdDuration {
    let i = interval.as_millis().max(1);
    let now = now_unix.as_millis();
    let p = phase.as_millis() % i;
    let since = (now + i - p) % i;
    let wait = if since == 0 { 0 } else { i - since };
    StdDuration::from_millis(wait as u64)
}

async fn run_switch(
    switch: Arc<Switch>,
    metrics: Arc<SwitchMetrics>,
    permits: Arc<Semaphore>,
    tx: mpsc::Sender<Sweep>,
    connector: Connector,
    attributed: Arc<AttributedPorts>,
) {
    let interval = switch.interval.std().max(StdDuration::from_millis(10));
    let phase = phase_offset(&switch.name, interval);
    let now_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let first = Instant::now() + until_next_slot(now_unix, interval, phase);
    let mut ticks = tokio::time::interval_at(first, interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut poller: Option<SwitchPoller> = None;
    loop {
        let tick = ticks.tick().await;
        // A tick returned more than half an interval after its instant was overrun by the
        // previous poll: skip it (and the ones tokio already dropped) and start on the next
        // slot of the grid rather than off-grid. The next delta will be a gap.
        let overdue = Instant::now().saturating_duration_since(tick);
        if overdue > interval / 2 {
            let missed = (overdue.as_millis() / interval.as_millis().max(1)) as u64 + 1;
            metrics
                .skipped
                .fetch_add(missed, std::sync::atomic::Ordering::Relaxed);
            if let Some(p) = poller.as_mut() {
                p.note_missed_poll();
            }
            continue;
        }
        let Ok(_permit) = permits.acquire().await else {
            return;
        };
        let late = Instant::now().saturating_duration_since(tick);
        metrics.record_lateness(late.as_micros() as u64);
        if poller.is_none() {
            match connector(switch.clone()).await {
                Ok(source) => {
                    poller = Some(
                        SwitchPoller::new(switch.clone(), source, metrics.clone())
                            .with_attributed(attributed.clone()),
                    )
                }
                Err(e) => {
                    warn!(switch = %switch.name, address = %switch.address, error = %e,
                        "cannot open SNMP session");
                    metrics
                        .errors
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let names: Vec<std::sync::Arc<str>> =
                        switch.ports.iter().map(|p| p.name.clone()).collect();
                    if tx.send(failed_sweep(&switch, &names, &e)).await.is_err() {
                        return;
                    }
                    continue;
                }
            }
        }
        let Some(p) = poller.as_mut() else { continue };
        let sweep = p.poll().await;
        drop(_permit);
        if tx.send(sweep).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_is_stable_and_within_the_interval() {
        let i = StdDuration::from_secs(60);
        let a = phase_offset("bj1-core-a", i);
        assert_eq!(a, phase_offset("bj1-core-a", i));
        assert!(a < i);
        // Different switches spread out over the interval's 240 slots of 250 ms.
        let phases: Vec<_> = (0..50)
            .map(|n| phase_offset(&format!("sw-{n}"), i).as_millis())
            .collect();
        assert!(phases.iter().all(|p| p % 250 == 0), "{phases:?}");
        let slots: std::collections::BTreeSet<_> = phases.iter().collect();
        assert!(slots.len() > 35, "{slots:?}");
        assert!(phases.iter().any(|p| *p >= 30_000), "{phases:?}");
        // 200 switches on a 10 s interval: about 5 per slot, never a crowd.
        let mut per_slot = std::collections::BTreeMap::new();
        for n in 0..200 {
            let p = phase_offset(&format!("sim-sw-{n:03}"), StdDuration::from_secs(10));
            *per_slot.entry(p).or_insert(0) += 1;
        }
        assert!(per_slot.len() > 30, "{per_slot:?}");
        assert!(per_slot.values().all(|c| *c <= 15), "{per_slot:?}");
        // An interval shorter than a slot: every switch at its start.
        assert_eq!(
            phase_offset("x", StdDuration::from_millis(100)),
            StdDuration::ZERO
        );
    }

    #[test]
    fn next_slot_is_on_the_grid() {
        let i = StdDuration::from_secs(10);
        let p = StdDuration::from_millis(2500);
        // 1000.0 s -> next slot at 1002.5 s
        assert_eq!(
            until_next_slot(StdDuration::from_millis(1_000_000), i, p),
            StdDuration::from_millis(2500)
        );
        // 1003.0 s -> 1012.5 s
        assert_eq!(
            until_next_slot(StdDuration::from_millis(1_003_000), i, p),
            StdDuration::from_millis(9500)
        );
        // exactly on the slot -> now
        assert_eq!(
            until_next_slot(StdDuration::from_millis(1_002_500), i, p),
            StdDuration::ZERO
        );
    }
}
