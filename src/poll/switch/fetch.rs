//! Fetching: the GETBULK runs and GETs of one sweep, sent concurrently (a few in flight),
//! returning each port's raw values or its request's error.

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::Poll;

use super::*;

/// Runs up to [`BULK_IN_FLIGHT`] futures concurrently on the current task, handing each
/// output to `each` with the future's position as it completes. The futures stay in this
/// one's state (no allocation per future, none for the outputs).
pub(super) async fn join_each<F: Future>(
    futures: impl Iterator<Item = F>,
    mut each: impl FnMut(usize, F::Output),
) {
    let mut futures = futures.fuse();
    // BULK_IN_FLIGHT (6) pinned slots; a slot is emptied when its future completes.
    let mut slots: [Pin<&mut Option<F>>; BULK_IN_FLIGHT] = [
        pin!(futures.next()),
        pin!(futures.next()),
        pin!(futures.next()),
        pin!(futures.next()),
        pin!(futures.next()),
        pin!(futures.next()),
    ];
    debug_assert!(futures.next().is_none(), "more than BULK_IN_FLIGHT futures");
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (k, slot) in slots.iter_mut().enumerate() {
            let Some(f) = slot.as_mut().as_pin_mut() else {
                continue;
            };
            match f.poll(cx) {
                Poll::Ready(v) => {
                    slot.set(None);
                    each(k, v);
                }
                Poll::Pending => pending = true,
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
}

/// One port's values in a GETBULK's answer, packed (64 bytes: a run's fit in one small
/// heap block, which the allocator hands out from its per-thread cache): each column's
/// number and its [`Cell`] kind, 0 for a column that did not come back.
#[derive(Clone, Copy, Default)]
struct PackedRow {
    numbers: [u64; COLS],
    kinds: [u8; COLS],
}

impl PackedRow {
    fn set(&mut self, c: usize, cell: Cell) {
        let (kind, n) = match cell {
            Cell::Integer(i) => (1, i as u64),
            Cell::Counter32(v) => (2, u64::from(v)),
            Cell::Counter64(v) => (3, v),
            Cell::Gauge32(v) => (4, u64::from(v)),
            Cell::TimeTicks(v) => (5, u64::from(v)),
            Cell::NoSuchObject => (6, 0),
            Cell::NoSuchInstance => (7, 0),
            Cell::EndOfMibView => (8, 0),
            Cell::Other => (9, 0),
        };
        if let (Some(k), Some(slot)) = (self.kinds.get_mut(c), self.numbers.get_mut(c)) {
            *k = kind;
            *slot = n;
        }
    }

    fn get(&self, c: usize) -> Option<Cell> {
        let n = *self.numbers.get(c)?;
        Some(match *self.kinds.get(c)? {
            0 => return None,
            1 => Cell::Integer(n as i64),
            2 => Cell::Counter32(n as u32),
            3 => Cell::Counter64(n),
            4 => Cell::Gauge32(n as u32),
            5 => Cell::TimeTicks(n as u32),
            6 => Cell::NoSuchObject,
            7 => Cell::NoSuchInstance,
            8 => Cell::EndOfMibView,
            _ => Cell::Other,
        })
    }
}

/// What one GETBULK of a run read: each of the run's ports' values, by its place in the run.
pub(super) struct BulkAnswer {
    at_ms: u64,
    uptime: u32,
    rows: Vec<PackedRow>,
}

impl BulkAnswer {
    /// The values of the run's `p`-th port, when they all came back.
    fn port(&self, p: usize) -> Option<Fetched> {
        let row = self.rows.get(p)?;
        let mut vals: [Option<Cell>; COLS] = std::array::from_fn(|c| row.get(c));
        // Packet counters and ifCounterDiscontinuityTime are optional: a device without
        // them still gets its octets.
        for c in [2, 3, DISCONTINUITY] {
            if vals[c].is_none() && vals[0].is_some() {
                vals[c] = Some(Cell::NoSuchObject);
            }
        }
        vals.iter().all(Option::is_some).then(|| Fetched {
            at_ms: self.at_ms,
            uptime: self.uptime,
            values: vals.map(Option::unwrap_or_default),
            len: COLS as u32,
        })
    }
}

/// One value of a polled column: [`SnmpValue`] without its octet strings (the polled
/// columns are numbers; a string where a number belongs is [`Cell::Other`]), so a port's
/// values are a small copyable array rather than seven enums that may own a buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Cell {
    /// INTEGER
    Integer(i64),
    /// Counter32
    Counter32(u32),
    /// Counter64
    Counter64(u64),
    /// Gauge32 / Unsigned32
    Gauge32(u32),
    /// TimeTicks
    TimeTicks(u32),
    /// noSuchObject
    NoSuchObject,
    /// noSuchInstance
    NoSuchInstance,
    /// endOfMibView
    EndOfMibView,
    /// Any other type, or nothing read.
    #[default]
    Other,
}

impl From<SnmpValue> for Cell {
    fn from(v: SnmpValue) -> Cell {
        match v {
            SnmpValue::Integer(i) => Cell::Integer(i),
            SnmpValue::Counter32(c) => Cell::Counter32(c),
            SnmpValue::Counter64(c) => Cell::Counter64(c),
            SnmpValue::Gauge32(g) => Cell::Gauge32(g),
            SnmpValue::TimeTicks(t) => Cell::TimeTicks(t),
            SnmpValue::NoSuchObject => Cell::NoSuchObject,
            SnmpValue::NoSuchInstance => Cell::NoSuchInstance,
            SnmpValue::EndOfMibView => Cell::EndOfMibView,
            SnmpValue::Octets(_) | SnmpValue::Other => Cell::Other,
        }
    }
}

impl Cell {
    /// As [`SnmpValue::as_u64`].
    pub(super) fn as_u64(self) -> Option<u64> {
        match self {
            Cell::Counter32(v) | Cell::Gauge32(v) | Cell::TimeTicks(v) => Some(u64::from(v)),
            Cell::Counter64(v) => Some(v),
            Cell::Integer(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// As [`SnmpValue::is_exception`].
    pub(super) fn is_exception(self) -> bool {
        matches!(
            self,
            Cell::NoSuchObject | Cell::NoSuchInstance | Cell::EndOfMibView
        )
    }
}

/// The values of one port in one response.
#[derive(Clone, Copy, Debug)]
pub(super) struct Fetched {
    pub(super) at_ms: u64,
    pub(super) uptime: u32,
    /// How many values the agent sent for the port (fewer than [`COLS`] is unusable).
    pub(super) len: u32,
    /// The port's columns, in [`HC_COLUMNS`] (or [`C32_COLUMNS`]) order.
    pub(super) values: [Cell; COLS],
}

/// One port's values or its request's error, by its index into the poller's ports.
pub(super) type PortFetch = (usize, Result<Fetched, SnmpError>);

/// Spare lists of a sweep's per-port results, at most this many per thread.
const SPARE_RESULTS: usize = 16;

/// A spare list is not kept beyond this many entries (a switch of thousands of ports).
const SPARE_RESULTS_MAX: usize = 1024;

std::thread_local! {
    /// Result lists of finished sweeps, for the next sweeps of any switch on this thread: a
    /// 48-port sweep's list is 7 KB, and allocating one per sweep (a request large enough to
    /// make glibc consolidate its small free blocks first) was a tenth of the poller's
    /// allocator time. A few sweeps are in flight at once, so a few lists serve a fleet.
    static SPARE: std::cell::RefCell<Vec<Vec<PortFetch>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// An empty result list with room for `n` ports, reused when one is spare.
fn results_list(n: usize) -> Vec<PortFetch> {
    let mut v = SPARE
        .try_with(|s| s.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_default();
    v.clear();
    v.reserve(n);
    v
}

/// Gives a sweep's result list back for reuse.
pub(super) fn recycle_results(mut v: Vec<PortFetch>) {
    if v.capacity() == 0 || v.capacity() > SPARE_RESULTS_MAX {
        return;
    }
    v.clear();
    let _ = SPARE.try_with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < SPARE_RESULTS {
            s.push(v);
        }
    });
}

impl SwitchPoller {
    /// Reads the columns of the given ports (indexes into `self.ports`): contiguous runs of
    /// ifIndexes with one GETBULK each (small requests, one datagram per answer), the rest
    /// (and whatever a GETBULK did not deliver) with GET. Returns per port its values, or
    /// the error of its request. After a timeout no further request is sent this sweep.
    pub(super) async fn fetch(&self, which: &[usize]) -> Vec<PortFetch> {
        let plan = self.plan(which);
        let mut leftovers = plan.leftovers.clone();
        let mut out = results_list(which.len());
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
            let mut answers = |k: usize, answer: Result<BulkAnswer, SnmpError>| {
                let Some(run) = batch.get(k) else { return };
                match answer {
                    Ok(answer) => {
                        for (p, &(_, i)) in run.ports.iter().enumerate() {
                            match answer.port(p) {
                                Some(f) => out.push((i, Ok(f))),
                                None => leftovers.push(i),
                            }
                        }
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
            };
            join_each(batch.iter().map(|run| self.fetch_bulk(run)), &mut answers).await;
        }
        if gave_up {
            out.extend(leftovers.iter().map(|&i| (i, Err(SnmpError::Timeout))));
        } else if !leftovers.is_empty() {
            leftovers.sort_unstable();
            out.extend(self.fetch_get(&leftovers).await);
        }
        out
    }

    /// One GETBULK for a run: sysUpTime as a non-repeater, then the seven columns from the
    /// row before the run. Ports whose values did not all come back are for GET.
    pub(super) async fn fetch_bulk(&self, run: &BulkRun) -> Result<BulkAnswer, SnmpError> {
        let reps = (run.last_row - run.first_row + 1) as u32;
        self.metrics.requests.fetch_add(1, Ordering::Relaxed);
        // The answer is decoded straight into these slots, varbind by varbind.
        let mut rows = vec![PackedRow::default(); run.ports.len()];
        let mut uptime: Option<Result<u32, SnmpError>> = None;
        let mut n = 0usize;
        let mut sink = |oid: &[u32], value: SnmpValue| {
            let k = n;
            n += 1;
            if k == 0 {
                uptime = Some(match value {
                    SnmpValue::TimeTicks(t) if oid == SYS_UPTIME => Ok(t),
                    other if oid == SYS_UPTIME => Err(SnmpError::Malformed(format!(
                        "sysUpTime.0 is not TimeTicks: {other:?}"
                    ))),
                    other => Err(SnmpError::Malformed(format!(
                        "GETBULK answer does not start with sysUpTime.0: {oid:?} = {other:?}"
                    ))),
                });
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
            // A run's ifIndexes are mostly consecutive: the row is looked for where its
            // place would be first, then among all.
            let guess = if_index.wrapping_sub(run.first_index) as usize;
            let place = match run.ports.get(guess) {
                Some((x, _)) if *x == if_index => Some(guess),
                _ => run.ports.iter().position(|(x, _)| *x == if_index),
            };
            if let Some(slot) = place.and_then(|p| rows.get_mut(p)) {
                slot.set(c, Cell::from(value));
            }
        };
        self.source
            .get_bulk_each(&run.oids, 1, reps, &mut sink)
            .await?;
        let at_ms = self.now_ms();
        let uptime = uptime.unwrap_or_else(|| {
            Err(SnmpError::Malformed(
                "GETBULK answer does not start with sysUpTime.0: it is empty".into(),
            ))
        })?;
        Ok(BulkAnswer {
            at_ms,
            uptime,
            rows,
        })
    }

    /// GETs the columns of the given ports, several ports per request.
    pub(super) async fn fetch_get(
        &self,
        which: &[usize],
    ) -> Vec<(usize, Result<Fetched, SnmpError>)> {
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
                        let mut values = [Cell::Other; COLS];
                        let mut len = 0;
                        for (slot, vb) in values.iter_mut().zip(rest.by_ref().take(COLS)) {
                            *slot = Cell::from(vb.value);
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
}
