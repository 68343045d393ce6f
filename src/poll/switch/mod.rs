//! One switch's poller: its ports, their last readings, and one sweep at a time. Each sweep
//! GETs only the columns needed for the attributed ports' ifIndexes (plus sysUpTime in every
//! request), turns them into readings with the counter math, and returns a [`Sweep`].
//!
//! Port identity is the name: the name -> ifIndex map is re-learned by discovery, so a port
//! renumbered after a reboot keeps its series (its next interval is a reset, the one after is
//! normal again).

mod fetch;
mod parse;
mod plan;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration as StdDuration, Instant};

use jiff::Timestamp;
use tracing::{debug, warn};

use super::attributed::AttributedPorts;
use super::counter::{CounterReading, CounterWidth, assess, uptime_fell};
use super::discovery::{Attribution, Interfaces, attribute, discover};
use super::metrics::SwitchMetrics;
use super::sweep::{
    OperStatus, PortOutcome, PortReading, PortResult, Sweep, SweepStatus, UnknownReason,
};
use crate::config::{PortLabels, SnmpCredentials, Switch};
use crate::snmp::oids::{Column, SYS_UPTIME};
use crate::snmp::{SnmpError, SnmpSource, SnmpValue};

use fetch::Fetched;
use parse::Parsed;
use plan::{BulkRun, COLS, DISCONTINUITY, Plan, columns};

/// Most varbinds in one GET: sysUpTime plus this many ports' columns must fit one datagram
/// under SNMPv3's 1472-byte message size (about 27 bytes per Counter64 varbind).
pub const MAX_GET_VARBINDS: usize = 43;

/// Most rows one GETBULK asks for under SNMPv2c: 7 columns x 14 rows + sysUpTime = 99
/// varbinds, just under net-snmp's cap of 100 varbinds per GETBULK response (its
/// `maxGetbulkResponses`), about 3 KB: one UDP datagram. A 48-port switch takes 4 requests
/// (10 rows took 5). The profile's `max_repetitions` lowers it.
pub const BULK_ROWS: usize = 14;

/// Most rows under SNMPv3, whose agents answer only within the client's advertised 1472-byte
/// message size: 7 x 6 + 1 = 43 varbinds.
pub const BULK_ROWS_V3: usize = (MAX_GET_VARBINDS - 1) / COLS;

/// Most rows per GETBULK of the discovery walk under SNMPv3 (three text columns within the
/// 1472-byte message size): the default `max_repetitions` before it became 14 for v2c.
pub const WALK_ROWS_V3: u32 = 10;

/// Most GETBULK requests of one sweep in flight to one switch at once (when it answered its
/// last sweep): fewer round trips and wake-ups per sweep (a 48-port switch is read in one
/// go), still a small queue for the agent.
pub const BULK_IN_FLIGHT: usize = 6;

/// Most unwanted rows a GETBULK run may read between two wanted ones.
pub const BULK_MAX_GAP: usize = 2;

/// One port the poller reads, with what it remembers between sweeps.
#[derive(Clone, Debug)]
pub struct PortState {
    /// Name and cap.
    pub port: PolledPort,
    /// Current ifIndex, when the port was found at the last discovery.
    pub if_index: Option<u32>,
    /// The counters asked first: 64-bit, or 32-bit once [`STICKY_C32_AFTER`] polls in a row
    /// found no ifHC* columns (a device that has none; asked again after each discovery).
    /// A poll whose answer lacks the ifHC* columns reads the 32-bit ones for that poll only.
    pub width: CounterWidth,
    /// Polls in a row whose answer had no ifHC* columns for this port.
    pub hc_missing: u32,
    /// The last 64-bit reading (the start of the next 64-bit interval). A poll that had to
    /// read the 32-bit columns leaves it in place, so the interval after the ifHC* columns
    /// return is measured against it (`ok`, over two polls).
    pub prev: Option<CounterReading>,
    /// The last 32-bit reading. Boxed: nearly every port of a fleet has 64-bit counters, and
    /// the poller keeps one of these per port.
    pub prev_c32: Option<Box<CounterReading>>,
    /// The last sweep did not read this port.
    pub missed: bool,
    /// Speed seen at the last reading, bits per second.
    pub speed_bps: u64,
    /// The highest rate of any `ok` interval, bits per second: the port's own history, which
    /// bounds what is plausible when it reports no speed and has no `max_rate`.
    pub peak_bps: f64,
}

/// What the poller keeps of a port's [`Attribution`]: its name, its cap, and the labels of a
/// port found by an alias pattern. A configured port's labels are the topology's: a copy per
/// port here was 96 bytes of a fleet's memory that the poller never read.
#[derive(Clone, Debug, PartialEq)]
pub struct PolledPort {
    /// Port name (the topology's shared copy).
    pub name: Arc<str>,
    /// Configured cap for bogus-delta detection, bits per second.
    pub max_rate: Option<u64>,
    /// The labels an alias pattern gave a port the topology does not list.
    pub alias_labels: Option<Box<PortLabels>>,
}

impl From<&Attribution> for PolledPort {
    fn from(a: &Attribution) -> PolledPort {
        PolledPort {
            name: Arc::clone(&a.name),
            max_rate: a.max_rate,
            alias_labels: (!a.configured).then(|| Box::new(a.labels.clone())),
        }
    }
}

/// Polls in a row without ifHC* columns after which a port is asked for its 32-bit counters
/// first (saving a request per poll on devices that have no 64-bit ones).
pub const STICKY_C32_AFTER: u32 = 3;

/// A port without a speed and without `max_rate` may carry up to this multiple of the
/// highest rate it ever carried (and at least [`HISTORY_CAP_FLOOR_BPS`]): a counter jump
/// beyond is `bogus`, not traffic.
pub const HISTORY_CAP_FACTOR: f64 = 1000.0;

/// The least plausibility cap the port's own history gives.
pub const HISTORY_CAP_FLOOR_BPS: f64 = 1e9;

impl PortState {
    /// The last reading of counters of `width`.
    pub fn prev_of(&self, width: CounterWidth) -> Option<&CounterReading> {
        match width {
            CounterWidth::C64 => self.prev.as_ref(),
            CounterWidth::C32 => self.prev_c32.as_deref(),
        }
    }

    fn set_prev(&mut self, r: CounterReading) {
        match r.width {
            CounterWidth::C64 => self.prev = Some(r),
            CounterWidth::C32 => match &mut self.prev_c32 {
                Some(b) => **b = r,
                None => self.prev_c32 = Some(Box::new(r)),
            },
        }
    }

    /// The rate above which an interval is bogus: `max_rate`, else the reported speed, else
    /// (0 = unknown) what the port's own history makes plausible.
    pub fn cap_bps(&self, speed_bps: u64) -> u64 {
        if let Some(m) = self.port.max_rate {
            return m;
        }
        if speed_bps > 0 {
            return speed_bps;
        }
        if self.peak_bps > 0.0 {
            let cap = (self.peak_bps * HISTORY_CAP_FACTOR)
                .max(HISTORY_CAP_FLOOR_BPS)
                .min(crate::poll::counter::UNKNOWN_SPEED_CAP_BPS as f64);
            return cap as u64;
        }
        0
    }
}

impl PortState {
    fn new(port: PolledPort) -> Self {
        PortState {
            port,
            if_index: None,
            width: CounterWidth::C64,
            hc_missing: 0,
            prev: None,
            prev_c32: None,
            missed: false,
            speed_bps: 0,
            peak_bps: 0.0,
        }
    }
}

/// Polls one switch through an [`SnmpSource`]; the scheduler calls [`SwitchPoller::poll`].
pub struct SwitchPoller {
    switch: Arc<Switch>,
    /// The switch's name as its sweeps carry it (the shared copy, taken once).
    name: Arc<str>,
    source: Box<dyn SnmpSource>,
    metrics: Arc<SwitchMetrics>,
    ports: Vec<PortState>,
    clock: Instant,
    last_discovery: Option<Instant>,
    need_discovery: bool,
    /// Discoveries in a row whose walk the agent broke (a walk that never ends, rows going
    /// backwards): each waits twice as long as the one before, up to `rediscover`, instead
    /// of walking the broken table again every poll.
    broken_walks: u32,
    /// No discovery before this (after a broken walk).
    walk_again_at: Option<Instant>,
    /// A discovery because of a missing port has been done since the last regular one.
    missing_rediscovered: bool,
    last_uptime: Option<u32>,
    /// The last sweep got answers (so this one need not probe with one request first).
    answered_last: bool,
    attributed: Option<Arc<AttributedPorts>>,
    /// Every ifIndex of the switch at the last discovery, ascending (to plan GETBULK runs).
    indexes: Vec<u32>,
    /// The ports with an ifIndex (indexes into `ports`), as of the last discovery.
    resolved: Vec<usize>,
    /// The last plan made by [`SwitchPoller::fetch`], reused while it fits.
    plan: std::sync::Mutex<Option<Arc<Plan>>>,
}

impl SwitchPoller {
    /// A poller for `switch`, talking through `source`, counting into `metrics`.
    pub fn new(
        switch: Arc<Switch>,
        source: Box<dyn SnmpSource>,
        metrics: Arc<SwitchMetrics>,
    ) -> Self {
        let ports = attribute(&switch, &Interfaces::default())
            .iter()
            .map(|a| PortState::new(a.into()))
            .collect();
        SwitchPoller {
            name: crate::intern::intern(&switch.name),
            switch,
            source,
            metrics,
            ports,
            clock: Instant::now(),
            last_discovery: None,
            broken_walks: 0,
            walk_again_at: None,
            need_discovery: true,
            missing_rediscovered: false,
            last_uptime: None,
            answered_last: false,
            attributed: None,
            indexes: Vec::new(),
            resolved: Vec::new(),
            plan: std::sync::Mutex::new(None),
        }
    }

    /// Publishes the labels of alias-attributed ports to `registry` at every discovery.
    pub fn with_attributed(mut self, registry: Arc<AttributedPorts>) -> Self {
        self.attributed = Some(registry);
        self
    }

    /// The switch polled.
    pub fn switch(&self) -> &Switch {
        &self.switch
    }

    /// The ports currently polled (configured and alias-attributed) with their state.
    pub fn ports(&self) -> &[PortState] {
        &self.ports
    }

    /// Labels of a port by name: the topology's for a configured port, the alias pattern's
    /// for one it found.
    pub fn labels(&self, port: &str) -> Option<&PortLabels> {
        let state = self.ports.iter().find(|p| *p.port.name == *port)?;
        match &state.port.alias_labels {
            Some(l) => Some(l),
            None => self
                .switch
                .ports
                .iter()
                .find(|p| *p.name == *port)
                .map(|p| &p.labels),
        }
    }

    /// Tells the poller that a scheduled poll was skipped, so the next delta is a `gap`.
    pub fn note_missed_poll(&mut self) {
        for p in &mut self.ports {
            p.missed = true;
        }
    }

    pub(super) fn now_ms(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }

    /// After a failed discovery: a walk the agent broke (not a timeout: a switch that is
    /// down is walked again as soon as it answers) is retried after a growing pause.
    fn walk_broke(&mut self, e: &SnmpError) {
        if !matches!(e, SnmpError::Malformed(_)) {
            return;
        }
        self.broken_walks = self.broken_walks.saturating_add(1);
        let pause = self
            .switch
            .interval
            .std()
            .saturating_mul(2u32.saturating_pow(self.broken_walks.min(16)))
            .min(self.switch.rediscover.std());
        warn!(switch = %self.switch.name, address = %self.switch.address, error = %e,
            pause_s = pause.as_secs(), "the agent broke the interface walk: walking again after a pause");
        self.walk_again_at = Some(Instant::now() + pause);
    }

    pub(super) fn count_error(&self, e: &SnmpError) {
        if e.is_timeout() {
            self.metrics.timeouts.fetch_add(1, Ordering::Relaxed);
        } else {
            self.metrics.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(super) async fn rediscover(&mut self) -> Result<(), SnmpError> {
        self.metrics.discoveries.fetch_add(1, Ordering::Relaxed);
        // The walk's requests are counted as one per GETBULK inside a counting wrapper.
        let counting = Counting {
            inner: self.source.as_ref(),
            metrics: &self.metrics,
        };
        let reps = match self.switch.snmp.credentials {
            SnmpCredentials::V2c { .. } => self.switch.snmp.max_repetitions,
            SnmpCredentials::V3(_) => self.switch.snmp.max_repetitions.min(WALK_ROWS_V3),
        };
        let interfaces = discover(&counting, reps).await?;
        let attributions = attribute(&self.switch, &interfaces);
        self.indexes = interfaces.by_index.keys().copied().collect();
        self.forget_plan();
        if let Some(registry) = &self.attributed {
            let found = attributions
                .iter()
                .filter(|a| !a.configured)
                .map(|a| a.labels.clone())
                .collect();
            registry.replace_switch(&self.switch.name, found);
        }
        let mut old = std::mem::take(&mut self.ports);
        self.ports = attributions
            .into_iter()
            .map(|a| {
                let mut state = match old.iter().position(|p| p.port.name == a.name) {
                    Some(i) => old.swap_remove(i),
                    None => PortState::new((&a).into()),
                };
                state.port = (&a).into();
                let found = interfaces.find(&state.port.name);
                if found != state.if_index {
                    debug!(switch = %self.switch.name, port = %state.port.name,
                        from = ?state.if_index, to = ?found, "ifIndex (re)learned");
                }
                state.if_index = found;
                // Ask for the 64-bit counters again: a firmware upgrade may have brought them.
                if state.width == CounterWidth::C32 {
                    state.width = CounterWidth::C64;
                    state.hc_missing = 0;
                }
                state
            })
            .collect();
        self.resolved = (0..self.ports.len())
            .filter(|&i| self.ports[i].if_index.is_some())
            .collect();
        self.last_discovery = Some(Instant::now());
        self.need_discovery = false;
        Ok(())
    }

    /// Whether the static columns must be walked before this sweep.
    pub(super) fn discovery_due(&mut self) -> bool {
        if self.walk_again_at.is_some_and(|t| Instant::now() < t) {
            return false;
        }
        let periodic = self
            .last_discovery
            .is_none_or(|t| t.elapsed() >= self.switch.rediscover.std());
        if periodic {
            // A new regular period: a missing port may trigger one extra walk again.
            self.missing_rediscovered = false;
        }
        self.need_discovery || periodic
    }

    /// Polls the switch once and returns the sweep. Never panics on what the agent sends:
    /// every failure becomes an unknown with its reason, counted in the metrics.
    pub async fn poll(&mut self) -> Sweep {
        let started = Instant::now();
        let sweep = self.poll_inner().await;
        let us = started.elapsed().as_micros() as u64;
        let m = &self.metrics;
        m.sweeps.fetch_add(1, Ordering::Relaxed);
        m.last_duration_us.store(us, Ordering::Relaxed);
        m.total_duration_us.fetch_add(us, Ordering::Relaxed);
        m.record_duration(us);
        if sweep.status == SweepStatus::Ok {
            let now = Timestamp::now().as_millisecond().max(0) as u64;
            m.last_success_unix_ms.store(now, Ordering::Relaxed);
        }
        for p in &sweep.ports {
            match &p.outcome {
                PortOutcome::Reading(r) => m.count_quality(r.quality),
                PortOutcome::Unknown(reason) => m.count_unknown(*reason),
            }
        }
        sweep
    }

    pub(super) async fn poll_inner(&mut self) -> Sweep {
        let mut discovered_now = false;
        if self.discovery_due() {
            if let Err(e) = self.rediscover().await {
                self.count_error(&e);
                self.walk_broke(&e);
                return self.failed(e);
            }
            self.broken_walks = 0;
            self.walk_again_at = None;
            discovered_now = true;
        }
        let mut results = self.fetch(&self.resolved).await;

        // A reboot may have renumbered the ifIndexes: the values just read may belong to other
        // ports. Learn the names again and read once more before judging anything. Any answer
        // counts: a reboot between two requests of this sweep, or inside one GETBULK (its
        // sysUpTime read before, its later rows after: those are read again by GET), shows
        // only in the later answers.
        let fell = self.last_uptime.is_some_and(|prev| {
            let last_at_ms = self.last_at_ms();
            results
                .iter()
                .filter_map(|(_, r)| r.as_ref().ok())
                .any(|f| uptime_fell(prev, f.uptime, f.at_ms.saturating_sub(last_at_ms)))
        });
        // A configured port that is not where it was (or nowhere): walk once more now, so a
        // renumbered port is read in this very sweep. At most once per rediscover period.
        let missing = self.ports.iter().any(|p| p.if_index.is_none())
            || results.iter().any(|(i, r)| {
                r.as_ref()
                    .is_ok_and(|f| matches!(self.parse(&self.ports[*i], f), Parsed::Missing))
            });
        let paused = self.walk_again_at.is_some_and(|t| Instant::now() < t);
        let missing = missing && !self.missing_rediscovered && !paused;
        if fell {
            // Counted and told even when this sweep's walk came first (it was due anyway).
            self.metrics.reboots.fetch_add(1, Ordering::Relaxed);
            warn!(switch = %self.switch.name, address = %self.switch.address,
                walked = discovered_now, "sysUpTime fell (reboot): rediscovering interfaces");
        }
        if (fell || missing) && !discovered_now {
            if !fell {
                self.missing_rediscovered = true;
                debug!(switch = %self.switch.name, "a port is missing: rediscovering interfaces");
            }
            if let Err(e) = self.rediscover().await {
                self.count_error(&e);
                self.walk_broke(&e);
                return self.failed(e);
            }
            results = self.fetch(&self.resolved).await;
        }

        // Ports without ifHC* columns are read again with the Counter32 columns.
        let fallback: Vec<usize> = results
            .iter()
            .filter_map(|(i, r)| {
                let f = r.as_ref().ok()?;
                matches!(self.parse(&self.ports[*i], f), Parsed::NeedsFallback).then_some(*i)
            })
            .collect();
        // For this poll only, unless it keeps happening (then 32-bit first until the next
        // discovery); a warning when it starts, and when the ifHC* columns come back.
        for (i, r) in &results {
            let p = &mut self.ports[*i];
            if p.width == CounterWidth::C64
                && p.hc_missing > 0
                && !fallback.contains(i)
                && r.is_ok()
            {
                warn!(switch = %self.switch.name, port = %p.port.name,
                    polls = p.hc_missing, "ifHC* counters are back: reading 64-bit counters");
                p.hc_missing = 0;
            }
        }
        if !fallback.is_empty() {
            for &i in &fallback {
                let p = &mut self.ports[i];
                if p.hc_missing == 0 {
                    warn!(switch = %self.switch.name, address = %self.switch.address,
                        port = %p.port.name,
                        "the answer has no ifHC* counters: reading 32-bit counters for this poll");
                }
                p.hc_missing = p.hc_missing.saturating_add(1);
                p.width = CounterWidth::C32;
            }
            self.forget_plan();
            let again = self.fetch(&fallback).await;
            for (i, r) in again {
                if let Some(slot) = results.iter_mut().find(|(j, _)| *j == i) {
                    slot.1 = r;
                }
            }
        }
        let sweep = self.judge(results);
        if !fallback.is_empty() {
            for &i in &fallback {
                let p = &mut self.ports[i];
                if p.hc_missing < STICKY_C32_AFTER {
                    p.width = CounterWidth::C64;
                } else if p.hc_missing == STICKY_C32_AFTER {
                    warn!(switch = %self.switch.name, port = %p.port.name,
                        polls = p.hc_missing,
                        "no ifHC* counters poll after poll: asking for 32-bit counters first until the next discovery");
                }
            }
            self.forget_plan();
        }
        sweep
    }

    pub(super) fn last_at_ms(&self) -> u64 {
        self.ports
            .iter()
            .flat_map(|p| [p.prev.as_ref(), p.prev_c32.as_deref()])
            .filter_map(|r| r.map(|r| r.at_ms))
            .max()
            .unwrap_or(0)
    }

    pub(super) fn ports_names(&self) -> Vec<Arc<str>> {
        self.ports.iter().map(|p| p.port.name.clone()).collect()
    }
}

/// A sweep of a switch that could not be read: every port unknown with the error's reason.
pub fn failed_sweep(switch: &Switch, ports: &[Arc<str>], e: &SnmpError) -> Sweep {
    let reason = reason_of(e);
    Sweep {
        switch: crate::intern::intern(&switch.name),
        time: Timestamp::now(),
        status: if e.is_timeout() {
            SweepStatus::Timeout
        } else {
            SweepStatus::Error(e.to_string())
        },
        sys_uptime: None,
        ports: ports
            .iter()
            .map(|p| PortResult {
                port: p.clone(),
                outcome: PortOutcome::Unknown(reason),
            })
            .collect(),
    }
}

fn reason_of(e: &SnmpError) -> UnknownReason {
    if e.is_timeout() {
        UnknownReason::Timeout
    } else {
        UnknownReason::AgentError
    }
}

/// Counts every request of a walk in the switch's metrics.
struct Counting<'a> {
    inner: &'a dyn SnmpSource,
    metrics: &'a SwitchMetrics,
}

impl SnmpSource for Counting<'_> {
    fn get<'a>(
        &'a self,
        oids: &'a [Vec<u32>],
    ) -> crate::snmp::BoxFuture<'a, Result<Vec<crate::snmp::VarBind>, SnmpError>> {
        self.metrics.requests.fetch_add(1, Ordering::Relaxed);
        self.inner.get(oids)
    }
    fn get_bulk<'a>(
        &'a self,
        oids: &'a [Vec<u32>],
        non_repeaters: u32,
        max_repetitions: u32,
    ) -> crate::snmp::BoxFuture<'a, Result<Vec<crate::snmp::VarBind>, SnmpError>> {
        self.metrics.requests.fetch_add(1, Ordering::Relaxed);
        self.inner.get_bulk(oids, non_repeaters, max_repetitions)
    }
    fn target(&self) -> String {
        self.inner.target()
    }
}

/// How long a sweep may take at most: every request timing out with all retries. Used to
/// size waits in callers (`run --once`).
pub fn worst_case_request(switch: &Switch) -> StdDuration {
    switch.snmp.timeout.std() * (switch.snmp.retries + 1)
}
