//! Fetching: the GETBULK runs and GETs of one sweep, sent concurrently (a few in flight),
//! returning each port's raw values or its request's error.

use super::*;

/// Runs futures concurrently on the current task and returns their outputs in order.
pub(super) async fn join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
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

/// The values of one port in one response.
#[derive(Clone, Debug)]
pub(super) struct Fetched {
    pub(super) at_ms: u64,
    pub(super) uptime: u32,
    /// The port's columns, in [`HC_COLUMNS`] (or [`C32_COLUMNS`]) order.
    pub(super) values: [SnmpValue; COLS],
    /// How many values the agent sent for the port (fewer than [`COLS`] is unusable).
    pub(super) len: usize,
}

impl SwitchPoller {
    /// Reads the columns of the given ports (indexes into `self.ports`): contiguous runs of
    /// ifIndexes with one GETBULK each (small requests, one datagram per answer), the rest
    /// (and whatever a GETBULK did not deliver) with GET. Returns per port its values, or
    /// the error of its request. After a timeout no further request is sent this sweep.
    pub(super) async fn fetch(&self, which: &[usize]) -> Vec<(usize, Result<Fetched, SnmpError>)> {
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

    /// One GETBULK for a run: sysUpTime as a non-repeater, then the seven columns from the
    /// row before the run. Ports whose values did not all come back are returned for GET.
    pub(super) async fn fetch_bulk(
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
}
