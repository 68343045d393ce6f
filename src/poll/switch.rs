//! One switch's poller: its ports, their last readings, and one sweep at a time. Each sweep
//! GETs only the columns needed for the attributed ports' ifIndexes (plus sysUpTime in every
//! request), turns them into readings with the counter math, and returns a [`Sweep`].
//!
//! Port identity is the name: the name -> ifIndex map is re-learned by discovery, so a port
//! renumbered after a reboot keeps its series (its next interval is a reset, the one after is
//! normal again).

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

/// Most varbinds in one GET: sysUpTime plus this many ports' columns must fit one datagram
/// under SNMPv3's 1472-byte message size (about 27 bytes per Counter64 varbind).
pub const MAX_GET_VARBINDS: usize = 43;

/// Columns read for each port every sweep.
const COLS: usize = 7;

/// Where ifCounterDiscontinuityTime is among a port's values.
const DISCONTINUITY: usize = 6;

const HC_COLUMNS: [Column; COLS] = [
    Column::IfHcInOctets,
    Column::IfHcOutOctets,
    Column::IfHcInUcastPkts,
    Column::IfHcOutUcastPkts,
    Column::IfHighSpeed,
    Column::IfOperStatus,
    Column::IfCounterDiscontinuityTime,
];

const C32_COLUMNS: [Column; COLS] = [
    Column::IfInOctets,
    Column::IfOutOctets,
    Column::IfInUcastPkts,
    Column::IfOutUcastPkts,
    Column::IfSpeed,
    Column::IfOperStatus,
    Column::IfCounterDiscontinuityTime,
];

fn columns(width: CounterWidth) -> &'static [Column; COLS] {
    match width {
        CounterWidth::C64 => &HC_COLUMNS,
        CounterWidth::C32 => &C32_COLUMNS,
    }
}

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

/// Runs futures concurrently on the current task and returns their outputs in order.
async fn join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut futures: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, out) in futures.iter_mut().zip(outputs.iter_mut()) {
            if out.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *out = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// Most unwanted rows a GETBULK run may read between two wanted ones.
pub const BULK_MAX_GAP: usize = 2;

/// Ports read by one GETBULK: rows `first_row..=last_row` of the switch's ifIndex list.
#[derive(Clone, Debug)]
struct BulkRun {
    width: CounterWidth,
    first_row: usize,
    last_row: usize,
    first_index: u32,
    /// (ifIndex, port) in ifIndex order.
    ports: Vec<(u32, usize)>,
    /// The request's OIDs: sysUpTime's parent, then each column at the row before the run.
    oids: Vec<Vec<u32>>,
}

/// How a set of ports is read: GETBULK runs and the ports left for GET. Kept between
/// sweeps (it changes only with discovery or a counter-width fallback).
#[derive(Debug)]
struct Plan {
    which: Vec<usize>,
    runs: Vec<BulkRun>,
    leftovers: Vec<usize>,
}

/// One port the poller reads, with what it remembers between sweeps.
#[derive(Clone, Debug)]
pub struct PortState {
    /// Name, labels and cap.
    pub attribution: Attribution,
    /// Current ifIndex, when the port was found at the last discovery.
    pub if_index: Option<u32>,
    /// 64-bit counters, or the 32-bit fallback when the device has no ifHC* columns.
    pub width: CounterWidth,
    /// The last reading (the start of the next interval).
    pub prev: Option<CounterReading>,
    /// The last sweep did not read this port.
    pub missed: bool,
    /// Speed seen at the last reading, bits per second.
    pub speed_bps: u64,
}

impl PortState {
    fn new(attribution: Attribution) -> Self {
        PortState {
            attribution,
            if_index: None,
            width: CounterWidth::C64,
            prev: None,
            missed: false,
            speed_bps: 0,
        }
    }
}

/// The values of one port in one response.
#[derive(Clone, Debug)]
struct Fetched {
    at_ms: u64,
    uptime: u32,
    /// The port's columns, in [`HC_COLUMNS`] (or [`C32_COLUMNS`]) order.
    values: [SnmpValue; COLS],
    /// How many values the agent sent for the port (fewer than [`COLS`] is unusable).
    len: usize,
}

/// What reading one port's values gave.
enum Parsed {
    Reading(CounterReading, u64, OperStatus),
    /// No ifHC* columns: read it again with Counter32 columns.
    NeedsFallback,
    /// The ifIndex does not exist (any more).
    Missing,
    /// Values of the wrong type.
    Invalid(String),
}

/// Polls one switch through an [`SnmpSource`]; the scheduler calls [`SwitchPoller::poll`].
pub struct SwitchPoller {
    switch: Arc<Switch>,
    source: Box<dyn SnmpSource>,
    metrics: Arc<SwitchMetrics>,
    ports: Vec<PortState>,
    clock: Instant,
    last_discovery: Option<Instant>,
    need_discovery: bool,
    /// A discovery because of a missing port has been done since the last regular one.
    missing_rediscovered: bool,
    last_uptime: Option<u32>,
    /// The last sweep got answers (so this one need not probe with one request first).
    answered_last: bool,
    attributed: Option<Arc<AttributedPorts>>,
    /// Every ifIndex of the switch at the last discovery, ascending (to plan GETBULK runs).
    indexes: Vec<u32>,
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
            .into_iter()
            .map(PortState::new)
            .collect();
        SwitchPoller {
            switch,
            source,
            metrics,
            ports,
            clock: Instant::now(),
            last_discovery: None,
            need_discovery: true,
            missing_rediscovered: false,
            last_uptime: None,
            answered_last: false,
            attributed: None,
            indexes: Vec::new(),
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

    /// Labels of a port by name.
    pub fn labels(&self, port: &str) -> Option<&PortLabels> {
        self.ports
            .iter()
            .find(|p| p.attribution.name == port)
            .map(|p| &p.attribution.labels)
    }

    /// Tells the poller that a scheduled poll was skipped, so the next delta is a `gap`.
    pub fn note_missed_poll(&mut self) {
        for p in &mut self.ports {
            p.missed = true;
        }
    }

    fn now_ms(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }

    fn count_error(&self, e: &SnmpError) {
        if e.is_timeout() {
            self.metrics.timeouts.fetch_add(1, Ordering::Relaxed);
        } else {
            self.metrics.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn rediscover(&mut self) -> Result<(), SnmpError> {
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
                let mut state = match old.iter().position(|p| p.attribution.name == a.name) {
                    Some(i) => old.swap_remove(i),
                    None => PortState::new(a.clone()),
                };
                state.attribution = a;
                let found = interfaces.find(&state.attribution.name);
                if found != state.if_index {
                    debug!(switch = %self.switch.name, port = %state.attribution.name,
                        from = ?state.if_index, to = ?found, "ifIndex (re)learned");
                }
                state.if_index = found;
                state
            })
            .collect();
        self.last_discovery = Some(Instant::now());
        self.need_discovery = false;
        Ok(())
    }

    /// Whether the static columns must be walked before this sweep.
    fn discovery_due(&mut self) -> bool {
        let periodic = self
            .last_discovery
            .is_none_or(|t| t.elapsed() >= self.switch.rediscover.std());
        if periodic {
            // A new regular period: a missing port may trigger one extra walk again.
            self.missing_rediscovered = false;
        }
        self.need_discovery || periodic
    }

    /// Reads the columns of the given ports (indexes into `self.ports`): contiguous runs of
    /// ifIndexes with one GETBULK each (small requests, one datagram per answer), the rest
    /// (and whatever a GETBULK did not deliver) with GET. Returns per port its values, or
    /// the error of its request. After a timeout no further request is sent this sweep.
    async fn fetch(&self, which: &[usize]) -> Vec<(usize, Result<Fetched, SnmpError>)> {
        let plan = self.plan(which);
        let mut leftovers = plan.leftovers.clone();
        let mut out = Vec::with_capacity(which.len());
        let mut gave_up = false;
        // A switch that answered its last sweep gets its GETBULKs together, a few at a time.
        // Otherwise the first goes alone: a dead switch costs one timeout, not one per run.
        let probe = if self.answered_last { 0 } else { 1 };
        let (first, rest) = plan.runs.split_at(plan.runs.len().min(probe));
        let first = (!first.is_empty()).then_some(first);
        for batch in first.into_iter().chain(rest.chunks(BULK_IN_FLIGHT)) {
            if gave_up {
                for run in batch {
                    out.extend(run.ports.iter().map(|&(_, i)| (i, Err(SnmpError::Timeout))));
                }
                continue;
            }
            let answers = join_all(batch.iter().map(|run| self.fetch_bulk(run))).await;
            for (run, answer) in batch.iter().zip(answers) {
                match answer {
                    Ok((found, missed)) => {
                        out.extend(found);
                        leftovers.extend(missed);
                    }
                    Err(SnmpError::Agent(why)) => {
                        // tooBig, genErr, ...: the same ports may still be read with GET.
                        debug!(switch = %self.switch.name, error = %why, "GETBULK refused: using GET");
                        self.metrics.errors.fetch_add(1, Ordering::Relaxed);
                        leftovers.extend(run.ports.iter().map(|&(_, i)| i));
                    }
                    Err(e) => {
                        self.count_error(&e);
                        gave_up |= e.is_timeout();
                        out.extend(run.ports.iter().map(|&(_, i)| (i, Err(e.clone()))));
                    }
                }
            }
        }
        if gave_up {
            out.extend(leftovers.iter().map(|&i| (i, Err(SnmpError::Timeout))));
        } else if !leftovers.is_empty() {
            leftovers.sort_unstable();
            out.extend(self.fetch_get(&leftovers).await);
        }
        out
    }

    /// The plan for `which`: the cached one when it was made for the same ports.
    fn plan(&self, which: &[usize]) -> Arc<Plan> {
        let mut cache = self
            .plan
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(p) = cache.as_ref()
            && p.which == which
        {
            return p.clone();
        }
        let (runs, leftovers) = self.plan_bulk(which);
        let plan = Arc::new(Plan {
            which: which.to_vec(),
            runs,
            leftovers,
        });
        *cache = Some(plan.clone());
        plan
    }

    /// Drops the cached plan (ifIndexes or counter widths changed).
    fn forget_plan(&self) {
        *self
            .plan
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// Groups ports (same counter width) whose ifIndexes are close in the switch's ifIndex
    /// list into runs of at most [`BULK_ROWS`] (v3: [`BULK_ROWS_V3`]) rows, fewer when the
    /// profile's `max_repetitions` is lower, with at most [`BULK_MAX_GAP`] unwanted
    /// rows between two wanted ones. Ports that fit no run are returned for GET.
    fn plan_bulk(&self, which: &[usize]) -> (Vec<BulkRun>, Vec<usize>) {
        let limit = match self.switch.snmp.credentials {
            SnmpCredentials::V2c { .. } => BULK_ROWS,
            SnmpCredentials::V3(_) => BULK_ROWS_V3,
        };
        let rows = (self.switch.snmp.max_repetitions as usize).clamp(1, limit);
        let mut runs: Vec<BulkRun> = Vec::new();
        let mut leftovers = Vec::new();
        for width in [CounterWidth::C64, CounterWidth::C32] {
            let mut wanted: Vec<(usize, u32, usize)> = Vec::new(); // (row, ifIndex, port)
            for &i in which {
                let p = &self.ports[i];
                if p.width != width {
                    continue;
                }
                match p.if_index.and_then(|x| self.indexes.binary_search(&x).ok()) {
                    Some(row) if p.if_index.is_some_and(|x| x > 0) => {
                        wanted.push((row, p.if_index.unwrap_or(0), i))
                    }
                    _ => leftovers.push(i),
                }
            }
            wanted.sort_unstable();
            let mut current: Option<BulkRun> = None;
            for (row, if_index, i) in wanted {
                if let Some(run) = current.as_mut()
                    && row - run.last_row <= BULK_MAX_GAP + 1
                    && row - run.first_row < rows
                {
                    run.last_row = row;
                    run.ports.push((if_index, i));
                    continue;
                }
                runs.extend(current.take());
                current = Some(BulkRun {
                    width,
                    first_row: row,
                    last_row: row,
                    first_index: if_index,
                    ports: vec![(if_index, i)],
                    oids: Vec::new(),
                });
            }
            runs.extend(current);
        }
        for run in &mut runs {
            let cols = columns(run.width);
            run.oids.push(SYS_UPTIME[..SYS_UPTIME.len() - 1].to_vec());
            run.oids
                .extend(cols.iter().map(|c| c.instance(run.first_index - 1)));
        }
        (runs, leftovers)
    }

    /// One GETBULK for a run: sysUpTime as a non-repeater, then the seven columns from the
    /// row before the run. Ports whose values did not all come back are returned for GET.
    async fn fetch_bulk(
        &self,
        run: &BulkRun,
    ) -> Result<(Vec<(usize, Result<Fetched, SnmpError>)>, Vec<usize>), SnmpError> {
        let reps = (run.last_row - run.first_row + 1) as u32;
        self.metrics.requests.fetch_add(1, Ordering::Relaxed);
        // The answer is decoded straight into these slots, varbind by varbind.
        let mut values: Vec<[Option<SnmpValue>; COLS]> = vec![Default::default(); run.ports.len()];
        let mut uptime: Result<u32, SnmpError> = Err(SnmpError::Malformed(
            "GETBULK answer does not start with sysUpTime.0: it is empty".into(),
        ));
        let mut n = 0usize;
        let mut sink = |oid: &[u32], value: SnmpValue| {
            let k = n;
            n += 1;
            if k == 0 {
                uptime = match value {
                    SnmpValue::TimeTicks(t) if oid == SYS_UPTIME => Ok(t),
                    other if oid == SYS_UPTIME => Err(SnmpError::Malformed(format!(
                        "sysUpTime.0 is not TimeTicks: {other:?}"
                    ))),
                    other => Err(SnmpError::Malformed(format!(
                        "GETBULK answer does not start with sysUpTime.0: {oid:?} = {other:?}"
                    ))),
                };
                return;
            }
            let c = (k - 1) % COLS;
            // Slot c repeats column c: its OID is the column's, plus one ifIndex arc.
            let column = &run.oids[1 + c];
            let column = &column[..column.len() - 1];
            let if_index = match oid.split_last() {
                Some((&x, prefix)) if prefix == column => x,
                _ => return,
            };
            if let Some(p) = run.ports.iter().position(|(x, _)| *x == if_index) {
                values[p][c] = Some(value);
            }
        };
        self.source
            .get_bulk_each(&run.oids, 1, reps, &mut sink)
            .await?;
        let at_ms = self.now_ms();
        let uptime = uptime?;
        let mut found = Vec::with_capacity(run.ports.len());
        let mut missed = Vec::new();
        for ((_, i), mut vals) in run.ports.iter().zip(values) {
            // Packet counters and ifCounterDiscontinuityTime are optional: a device without
            // them still gets its octets.
            for c in [2, 3, DISCONTINUITY] {
                if vals[c].is_none() && vals[0].is_some() {
                    vals[c] = Some(SnmpValue::NoSuchObject);
                }
            }
            if vals.iter().all(Option::is_some) {
                found.push((
                    *i,
                    Ok(Fetched {
                        at_ms,
                        uptime,
                        values: vals.map(|v| v.unwrap_or(SnmpValue::Other)),
                        len: COLS,
                    }),
                ));
            } else {
                missed.push(*i);
            }
        }
        Ok((found, missed))
    }

    /// GETs the columns of the given ports, several ports per request.
    async fn fetch_get(&self, which: &[usize]) -> Vec<(usize, Result<Fetched, SnmpError>)> {
        let per_request = ((MAX_GET_VARBINDS - 1) / COLS).max(1);
        let mut out = Vec::with_capacity(which.len());
        let mut gave_up = false;
        for chunk in which.chunks(per_request) {
            if gave_up {
                // The agent did not answer: do not wait out one timeout per request.
                out.extend(chunk.iter().map(|&i| (i, Err(SnmpError::Timeout))));
                continue;
            }
            let mut oids: Vec<Vec<u32>> = Vec::with_capacity(1 + chunk.len() * COLS);
            oids.push(SYS_UPTIME.to_vec());
            for &i in chunk {
                let p = &self.ports[i];
                let index = p.if_index.unwrap_or(0);
                oids.extend(columns(p.width).iter().map(|c| c.instance(index)));
            }
            self.metrics.requests.fetch_add(1, Ordering::Relaxed);
            let result = self.source.get(&oids).await;
            let at_ms = self.now_ms();
            match result {
                Ok(mut vbs) => {
                    let uptime = match vbs.first().map(|v| &v.value) {
                        Some(SnmpValue::TimeTicks(t)) => *t,
                        other => {
                            let e = SnmpError::Malformed(format!(
                                "sysUpTime.0 is not TimeTicks: {other:?}"
                            ));
                            self.count_error(&e);
                            out.extend(chunk.iter().map(|&i| (i, Err(e.clone()))));
                            continue;
                        }
                    };
                    let mut rest = vbs.drain(1..);
                    for &i in chunk {
                        let mut values = [const { SnmpValue::Other }; COLS];
                        let mut len = 0;
                        for (slot, vb) in values.iter_mut().zip(rest.by_ref().take(COLS)) {
                            *slot = vb.value;
                            len += 1;
                        }
                        out.push((
                            i,
                            Ok(Fetched {
                                at_ms,
                                uptime,
                                values,
                                len,
                            }),
                        ));
                    }
                }
                Err(e) => {
                    self.count_error(&e);
                    gave_up = e.is_timeout();
                    out.extend(chunk.iter().map(|&i| (i, Err(e.clone()))));
                }
            }
        }
        out
    }

    fn parse(&self, port: &PortState, f: &Fetched) -> Parsed {
        let v = &f.values;
        if f.len != COLS {
            return Parsed::Invalid(format!("{} values instead of {COLS}", f.len));
        }
        if v.iter().all(SnmpValue::is_exception) {
            return Parsed::Missing;
        }
        if port.width == CounterWidth::C64 && (v[0].is_exception() || v[1].is_exception()) {
            return Parsed::NeedsFallback;
        }
        let (Some(in_octets), Some(out_octets)) = (counter(&v[0]), counter(&v[1])) else {
            return Parsed::Invalid(format!(
                "octet counters are not counters: {:?} / {:?}",
                v[0], v[1]
            ));
        };
        let speed = v[4].as_u64().unwrap_or(0);
        let speed_bps = match port.width {
            CounterWidth::C64 => speed.saturating_mul(1_000_000),
            CounterWidth::C32 => speed,
        };
        let oper = match v[5] {
            SnmpValue::Integer(i) => OperStatus::from_mib(i),
            _ => OperStatus::Unknown,
        };
        Parsed::Reading(
            CounterReading {
                at_ms: f.at_ms,
                sys_uptime: f.uptime,
                // Agents without the column answer noSuchObject/noSuchInstance: absent.
                discontinuity: match v[DISCONTINUITY] {
                    SnmpValue::TimeTicks(t) => Some(t),
                    _ => None,
                },
                width: port.width,
                in_octets,
                out_octets,
                in_packets: counter(&v[2]),
                out_packets: counter(&v[3]),
            },
            speed_bps,
            oper,
        )
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

    async fn poll_inner(&mut self) -> Sweep {
        let mut discovered_now = false;
        if self.discovery_due() {
            if let Err(e) = self.rediscover().await {
                self.count_error(&e);
                return self.failed(e);
            }
            discovered_now = true;
        }
        let mut results = self.fetch(&self.resolved()).await;

        // A reboot may have renumbered the ifIndexes: the values just read may belong to other
        // ports. Learn the names again and read once more before judging anything.
        let fell = results
            .iter()
            .find_map(|(_, r)| r.as_ref().ok())
            .is_some_and(|f| {
                self.last_uptime.is_some_and(|prev| {
                    uptime_fell(prev, f.uptime, f.at_ms.saturating_sub(self.last_at_ms()))
                })
            });
        // A configured port that is not where it was (or nowhere): walk once more now, so a
        // renumbered port is read in this very sweep. At most once per rediscover period.
        let missing = self.ports.iter().any(|p| p.if_index.is_none())
            || results.iter().any(|(i, r)| {
                r.as_ref()
                    .is_ok_and(|f| matches!(self.parse(&self.ports[*i], f), Parsed::Missing))
            });
        let missing = missing && !self.missing_rediscovered;
        if (fell || missing) && !discovered_now {
            if fell {
                warn!(switch = %self.switch.name, address = %self.switch.address,
                    "sysUpTime fell (reboot): rediscovering interfaces");
            } else {
                self.missing_rediscovered = true;
                debug!(switch = %self.switch.name, "a port is missing: rediscovering interfaces");
            }
            if let Err(e) = self.rediscover().await {
                self.count_error(&e);
                return self.failed(e);
            }
            results = self.fetch(&self.resolved()).await;
        }

        // Ports without ifHC* columns are read again with the Counter32 columns.
        let fallback: Vec<usize> = results
            .iter()
            .filter_map(|(i, r)| {
                let f = r.as_ref().ok()?;
                matches!(self.parse(&self.ports[*i], f), Parsed::NeedsFallback).then_some(*i)
            })
            .collect();
        if !fallback.is_empty() {
            for &i in &fallback {
                debug!(switch = %self.switch.name, port = %self.ports[i].attribution.name,
                    "no ifHC* counters: falling back to 32-bit counters");
                self.ports[i].width = CounterWidth::C32;
            }
            self.forget_plan();
            let again = self.fetch(&fallback).await;
            for (i, r) in again {
                if let Some(slot) = results.iter_mut().find(|(j, _)| *j == i) {
                    slot.1 = r;
                }
            }
        }
        self.judge(results)
    }

    fn last_at_ms(&self) -> u64 {
        self.ports
            .iter()
            .filter_map(|p| p.prev.map(|r| r.at_ms))
            .max()
            .unwrap_or(0)
    }

    fn resolved(&self) -> Vec<usize> {
        (0..self.ports.len())
            .filter(|&i| self.ports[i].if_index.is_some())
            .collect()
    }

    /// Turns fetched values into the sweep, updating each port's state.
    fn judge(&mut self, results: Vec<(usize, Result<Fetched, SnmpError>)>) -> Sweep {
        let mut outcomes: Vec<Option<PortOutcome>> = vec![None; self.ports.len()];
        let mut first_error: Option<SnmpError> = None;
        let mut any_ok = false;
        let mut reset = false;
        for (i, r) in results {
            let outcome = match r {
                Err(e) => {
                    first_error.get_or_insert(e.clone());
                    PortOutcome::Unknown(reason_of(&e))
                }
                Ok(f) => {
                    any_ok = true;
                    self.last_uptime = Some(f.uptime);
                    match self.parse(&self.ports[i], &f) {
                        Parsed::Reading(cur, speed_bps, oper) => {
                            let port = &mut self.ports[i];
                            let cap = port.attribution.max_rate.unwrap_or(speed_bps);
                            let a = assess(port.prev.as_ref(), &cur, cap, port.missed);
                            if a.quality == super::Quality::Reset {
                                reset = true;
                            }
                            if a.quality == super::Quality::Bogus {
                                warn!(switch = %self.switch.name, address = %self.switch.address,
                                    port = %port.attribution.name, "bogus delta (faster than the port): interval dropped");
                            }
                            port.prev = Some(cur);
                            port.speed_bps = speed_bps;
                            PortOutcome::Reading(PortReading {
                                if_index: port.if_index.unwrap_or(0),
                                oper_status: oper,
                                speed_bps,
                                quality: a.quality,
                                delta: a.delta,
                            })
                        }
                        Parsed::Missing => PortOutcome::Unknown(UnknownReason::PortMissing),
                        Parsed::NeedsFallback | Parsed::Invalid(_) => {
                            let why = match self.parse(&self.ports[i], &f) {
                                Parsed::Invalid(why) => why,
                                _ => "no octet counters".to_string(),
                            };
                            let e = SnmpError::Malformed(format!(
                                "unusable values for port {}: {why}",
                                self.ports[i].attribution.name
                            ));
                            self.count_error(&e);
                            first_error.get_or_insert(e);
                            PortOutcome::Unknown(UnknownReason::AgentError)
                        }
                    }
                }
            };
            outcomes[i] = Some(outcome);
        }
        let mut ports = Vec::with_capacity(self.ports.len());
        for (p, o) in self.ports.iter_mut().zip(outcomes) {
            let outcome = o.unwrap_or(PortOutcome::Unknown(UnknownReason::PortMissing));
            p.missed = !matches!(outcome, PortOutcome::Reading(_));
            ports.push(PortResult {
                port: p.attribution.name.clone(),
                outcome,
            });
        }
        // Learn the names again after a reset.
        if reset {
            self.need_discovery = true;
        }
        self.answered_last = any_ok && !first_error.as_ref().is_some_and(SnmpError::is_timeout);
        let status = match (&first_error, any_ok) {
            (None, _) => SweepStatus::Ok,
            (Some(e), _) if e.is_timeout() => SweepStatus::Timeout,
            (Some(e), _) => SweepStatus::Error(e.to_string()),
        };
        if let Some(e) = &first_error {
            warn!(switch = %self.switch.name, address = %self.switch.address, error = %e, "poll failed");
        }
        Sweep {
            switch: self.switch.name.clone(),
            time: Timestamp::now(),
            status,
            sys_uptime: self.last_uptime,
            ports,
        }
    }

    /// The sweep when the switch could not be read at all.
    fn failed(&mut self, e: SnmpError) -> Sweep {
        warn!(switch = %self.switch.name, address = %self.switch.address, error = %e, "poll failed");
        self.need_discovery = self.last_discovery.is_none() || self.need_discovery;
        self.answered_last = false;
        for p in &mut self.ports {
            p.missed = true;
        }
        failed_sweep(&self.switch, &self.ports_names(), &e)
    }

    fn ports_names(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| p.attribution.name.clone())
            .collect()
    }
}

/// A sweep of a switch that could not be read: every port unknown with the error's reason.
pub fn failed_sweep(switch: &Switch, ports: &[String], e: &SnmpError) -> Sweep {
    let reason = reason_of(e);
    Sweep {
        switch: switch.name.clone(),
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

fn counter(v: &SnmpValue) -> Option<u64> {
    match v {
        SnmpValue::Counter64(c) => Some(*c),
        SnmpValue::Counter32(c) => Some(u64::from(*c)),
        _ => None,
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
