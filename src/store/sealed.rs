//! "Sealed up to T": the end of the newest 60 s aggregate slot that no sweep can still add
//! to, published by the writer after each commit so aggregate rules (product lines, sites,
//! customers) read a slot once it is complete instead of polling on a timer.
//!
//! Sweeps of different switches arrive at different phases, and an aggregate spans switches:
//! a slot is complete when every switch of the topology has a stored sweep at or after its
//! end. A switch that does not answer still sends (timed-out) sweeps, so one silent switch
//! delays nothing; but a switch that sends nothing at all (just started, or its poller
//! stopped) would hold every aggregate back, so the mark is never further behind the newest
//! stored sweep than [`slot_grace`], the time within which every switch has answered once.
//! A daemon polling one shard learns the other shards' switches from a shared PostgreSQL
//! (its writer reads how far each switch is stored while it holds the singleton lease), so
//! its mark moves as soon as every shard has written a slot; on SQLite the grace holds the
//! mark back for switches it does not poll.
//!
//! Flows are one more participant once the collector has handed over a minute: a slot is
//! complete only when the collector has handed it over too (it does so a few seconds after
//! the minute's end), so a customer or product line measured by flows is read by its rules
//! with its flow bytes in, never as a gap that the flow minute fills after the rules read it.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use tokio::sync::watch;

use super::SLOT_SECS;
use crate::config::Topology;
use crate::poll::Sweep;

/// Seconds after its end when an aggregate slot is complete at the latest: every switch has
/// polled once after it (an interval, whatever its phase) and the slowest answer has come in
/// (timeout x tries), plus a few seconds for the writer (it gathers sweeps for up to 2 s).
pub fn slot_grace(topology: &Topology) -> i64 {
    topology
        .switches
        .iter()
        .map(|s| {
            let answer = s.snmp.timeout.std().as_secs_f64() * f64::from(s.snmp.retries + 1);
            s.interval.as_secs() as i64 + answer.ceil() as i64
        })
        .max()
        .unwrap_or(60)
        + 5
}

/// The least grace once flows take part: the collector hands a minute over 2 s after its
/// end (plus its 1 s tick and the writer's queue).
const FLOW_GRACE_MS: i64 = 10_000;

/// Tracks each switch's newest stored sweep and publishes the seal mark.
pub(crate) struct SealTracker {
    /// Where each switch ever stored keeps its newest stored sweep in `newest`, by name.
    index: HashMap<String, usize>,
    /// Newest stored sweep per switch (unix milliseconds), by its place in `index`.
    newest: Vec<i64>,
    /// The end of the newest minute the flow collector handed over (unix milliseconds),
    /// once it has handed over any.
    flows: Option<i64>,
    /// The switches whose sweeps complete a slot (the topology's), by name.
    names: Vec<String>,
    /// The same switches' places in `newest` (`None`: none stored yet), so that publishing
    /// after each commit hashes no name.
    switches: Vec<Option<usize>>,
    grace_ms: i64,
    tx: watch::Sender<Option<Timestamp>>,
}

impl SealTracker {
    /// A tracker for `topology`, and the receiver the writer hands out.
    pub(crate) fn new(topology: &Topology) -> (SealTracker, watch::Receiver<Option<Timestamp>>) {
        let (tx, rx) = watch::channel(None);
        let mut t = SealTracker {
            index: HashMap::new(),
            newest: Vec::new(),
            flows: None,
            names: Vec::new(),
            switches: Vec::new(),
            grace_ms: 0,
            tx,
        };
        t.set_topology(topology);
        (t, rx)
    }

    /// Follows a reloaded topology: removed switches no longer hold slots back.
    pub(crate) fn set_topology(&mut self, topology: &Topology) {
        self.names = topology.switches.iter().map(|s| s.name.clone()).collect();
        self.switches = self
            .names
            .iter()
            .map(|n| self.index.get(n).copied())
            .collect();
        self.grace_ms = slot_grace(topology) * 1000;
    }

    /// Notes sweeps that were just committed.
    pub(crate) fn stored(&mut self, sweeps: &[Arc<Sweep>]) {
        for s in sweeps {
            self.stored_at(&s.switch, s.time.as_millisecond());
        }
    }

    /// Notes one committed sweep of `switch` at `t_ms` (unix milliseconds).
    pub(crate) fn stored_at(&mut self, switch: &str, t_ms: i64) {
        match self.index.get(switch).and_then(|&i| self.newest.get_mut(i)) {
            Some(e) => *e = (*e).max(t_ms),
            None => {
                let i = self.newest.len();
                self.newest.push(t_ms);
                self.index.insert(switch.to_string(), i);
                for (slot, name) in self.switches.iter_mut().zip(&self.names) {
                    if slot.is_none() && name == switch {
                        *slot = Some(i);
                    }
                }
            }
        }
    }

    /// Notes flow minutes that were just committed, up to `until_ms` (the end of the newest).
    pub(crate) fn flows_stored(&mut self, until_ms: i64) {
        self.flows = Some(self.flows.map_or(until_ms, |f| f.max(until_ms)));
    }

    /// Publishes the mark given the newest stored sweep (`newest_ms`, 0 when none); the mark
    /// only moves forward.
    pub(crate) fn publish(&self, newest_ms: i64) {
        if newest_ms <= 0 {
            return;
        }
        let mut every = self.flows;
        for s in &self.switches {
            let Some(t) = s.and_then(|i| self.newest.get(i).copied()) else {
                every = None;
                break;
            };
            every = Some(every.map_or(t, |e| e.min(t)));
        }
        let grace_ms = if self.flows.is_some() {
            self.grace_ms.max(FLOW_GRACE_MS)
        } else {
            self.grace_ms
        };
        let mark_ms = every
            .unwrap_or(i64::MIN)
            .max(newest_ms - grace_ms)
            .min(newest_ms);
        let slot_ms = SLOT_SECS * 1000;
        let Ok(mark) = Timestamp::from_second(mark_ms.div_euclid(slot_ms) * SLOT_SECS) else {
            return;
        };
        self.tx.send_if_modified(|cur| {
            if cur.is_none_or(|c| c < mark) {
                *cur = Some(mark);
                true
            } else {
                false
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Topology {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo.toml");
        crate::config::load(&path).unwrap().config.topology
    }

    #[test]
    fn a_slot_is_complete_one_interval_and_the_slowest_answer_after_its_end() {
        let topo = demo();
        // Demo: 10 s polls, 1 s timeout with 1 retry, 5 s for the writer.
        assert_eq!(slot_grace(&topo), 10 + 2 + 5);
        let mut slow = topo.clone();
        std::sync::Arc::make_mut(&mut slow.switches[3]).interval =
            crate::config::Duration::from_secs(300);
        assert_eq!(slot_grace(&slow), 300 + 2 + 5);
    }

    fn sweep(switch: &str, secs: i64) -> Sweep {
        Sweep {
            switch: switch.into(),
            time: Timestamp::from_second(secs).unwrap(),
            status: crate::poll::SweepStatus::Timeout,
            sys_uptime: None,
            ports: Vec::new(),
        }
    }

    #[test]
    fn the_mark_waits_for_every_switch_but_never_more_than_the_grace() {
        let topo = demo();
        let names: Vec<String> = topo.switches.iter().map(|s| s.name.clone()).collect();
        let (mut t, rx) = SealTracker::new(&topo);
        // A multiple of 60: slots start on it.
        let base = 1_800_000_000;
        // Nothing stored yet: no mark.
        t.publish(0);
        assert_eq!(*rx.borrow(), None);
        // Every switch but the last has swept past base + 120; the last one only past
        // base + 61: slots up to base + 60 are complete.
        for n in &names[..names.len() - 1] {
            t.stored(&[Arc::new(sweep(n, base + 125))]);
        }
        t.stored(&[Arc::new(sweep(&names[names.len() - 1], base + 61))]);
        t.publish((base + 125) * 1000);
        assert_eq!(rx.borrow().map(|m| m.as_second()), Some(base + 60));
        // The last switch catches up: the slot ending at base + 120 is complete.
        t.stored(&[Arc::new(sweep(&names[names.len() - 1], base + 122))]);
        t.publish((base + 125) * 1000);
        assert_eq!(rx.borrow().map(|m| m.as_second()), Some(base + 120));
        // One switch falls silent (no sweep at all): the others move the mark on, a grace
        // behind the newest sweep.
        for n in &names[..names.len() - 1] {
            t.stored(&[Arc::new(sweep(n, base + 600))]);
        }
        t.publish((base + 600) * 1000);
        let grace = slot_grace(&topo);
        let want = (base + 600 - grace).div_euclid(60) * 60;
        assert_eq!(rx.borrow().map(|m| m.as_second()), Some(want));
        // It never goes back.
        t.publish((base + 200) * 1000);
        assert_eq!(rx.borrow().map(|m| m.as_second()), Some(want));
    }
}
