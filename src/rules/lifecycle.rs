//! The alert lifecycle of one (rule, entity): inactive -> pending -> firing -> resolved
//! (inactive again), with `for`, `clear_for` (hysteresis) and flap damping. The state is plain
//! data (serde), so the store can persist it and a restart continues where it was.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::condition::{Reading, Verdict};

/// Onsets within this window count towards the built-in damping of a rule without `flap`.
pub const FLAP_WINDOW_SECS: i64 = 3600;
/// This many onsets within the flap window make such an alert flapping: it is then held
/// firing until its condition has been false for the whole flap window. A rule with `flap`
/// has a `flapping` state of its own instead ([`super::flap`]).
pub const FLAP_ONSETS: usize = 3;

/// How long a condition must hold before its alert fires: a time (`for`) and a number of
/// consecutive points (`for_points`); both must be met.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hold {
    /// Seconds since the condition started to hold.
    pub secs: i64,
    /// Consecutive points it held on, counting the first.
    pub points: u32,
}

/// Where an alert is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Condition false (or never evaluated).
    Inactive,
    /// Condition true, `for` not yet met.
    Pending,
    /// Firing.
    Firing,
}

/// The persisted state of one alert (one rule on one entity).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertState {
    /// Rule name.
    pub rule: String,
    /// Entity id (`port:sw/xe-0/0/1`).
    pub entity: String,
    /// Phase.
    pub phase: Phase,
    /// When the condition started to hold (pending and firing).
    pub started_at: Option<Timestamp>,
    /// Consecutive points the condition has held on while pending (towards `for_points`).
    #[serde(default)]
    pub pending_points: u32,
    /// When it started firing.
    pub fired_at: Option<Timestamp>,
    /// While firing: since when the condition has been false (moved later by the length of
    /// any gap since, so that only known time counts towards `clear_for`).
    pub clear_since: Option<Timestamp>,
    /// While firing and clearing: when the current gap began (data unknown since).
    #[serde(default)]
    pub clear_paused: Option<Timestamp>,
    /// Whether the firing notice of the current alert went out (not silenced).
    pub notified: bool,
    /// When the last firing or repeat notice went out.
    pub last_notice: Option<Timestamp>,
    /// Firing onsets within the flap window.
    pub onsets: Vec<Timestamp>,
    /// The latest reading.
    pub reading: Reading,
    /// The highest (spike) or most extreme value while firing, with its baseline.
    pub peak: Option<Reading>,
    /// Unknown points seen while pending or firing (data gaps during the alert).
    pub gap_points: u32,
    /// Repeat notices sent for the current firing (the next one waits longer with a backoff).
    #[serde(default)]
    pub repeats: u32,
    /// Flap detection: the last known condition, the times it changed, and since when the
    /// alert is flapping (see [`super::flap`]).
    #[serde(default)]
    pub flap: super::flap::FlapState,
}

/// What one step of the lifecycle did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Inactive -> pending.
    Pending,
    /// Pending -> inactive (did not hold for `for`).
    Cancelled,
    /// -> firing.
    Fired,
    /// Firing -> inactive.
    Resolved,
    /// Its condition started changing too often (a rule's `flap`).
    Flapping,
    /// It stopped flapping.
    Stable,
}

impl AlertState {
    /// An inactive alert.
    pub fn new(rule: &str, entity: &str) -> AlertState {
        AlertState {
            rule: rule.to_string(),
            entity: entity.to_string(),
            phase: Phase::Inactive,
            started_at: None,
            pending_points: 0,
            fired_at: None,
            clear_since: None,
            clear_paused: None,
            notified: false,
            last_notice: None,
            onsets: Vec::new(),
            reading: Reading::default(),
            peak: None,
            gap_points: 0,
            repeats: 0,
            flap: Default::default(),
        }
    }

    /// True when the alert has fired several times within the flap window.
    pub fn flapping(&self, now: Timestamp) -> bool {
        let from = now.as_second() - FLAP_WINDOW_SECS;
        self.onsets.iter().filter(|t| t.as_second() > from).count() >= FLAP_ONSETS
    }

    /// Advances by one verdict at time `now`. It fires once the condition has held for
    /// `hold.secs` and on `hold.points` consecutive points. `higher_is_worse` picks the peak;
    /// `damping` holds an alert with [`FLAP_ONSETS`] onsets within [`FLAP_WINDOW_SECS`] firing
    /// until its condition has been false for that long (rules without `flap`).
    pub fn step(
        &mut self,
        verdict: &Verdict,
        now: Timestamp,
        hold: Hold,
        clear_for_secs: i64,
        higher_is_worse: bool,
        damping: bool,
    ) -> Vec<Change> {
        let mut out = Vec::new();
        let secs = |a: Option<Timestamp>| a.map_or(0, |a| now.as_second() - a.as_second());
        match verdict {
            Verdict::Unknown(_) => match self.phase {
                // We do not know it held: pending starts over.
                Phase::Pending => {
                    self.phase = Phase::Inactive;
                    self.started_at = None;
                    self.pending_points = 0;
                    self.gap_points += 1;
                    out.push(Change::Cancelled);
                }
                // We do not know it cleared: a gap never resolves an alert, and its time does not
                // count towards `clear_for` (the clearing pauses; it does not start over, or an
                // irregularly sampled series would never resolve).
                Phase::Firing => {
                    if self.clear_since.is_some() && self.clear_paused.is_none() {
                        self.clear_paused = Some(now);
                    }
                    self.gap_points += 1;
                }
                Phase::Inactive => {}
            },
            Verdict::True(r) => {
                self.reading = r.clone();
                match self.phase {
                    Phase::Inactive => {
                        self.phase = Phase::Pending;
                        self.started_at = Some(now);
                        self.pending_points = 0;
                        self.gap_points = 0;
                        self.peak = None;
                        out.push(Change::Pending);
                    }
                    Phase::Pending | Phase::Firing => {}
                }
                if self.phase == Phase::Pending {
                    self.pending_points = self.pending_points.saturating_add(1);
                }
                if self.phase == Phase::Pending
                    && secs(self.started_at) >= hold.secs
                    && self.pending_points >= hold.points
                {
                    self.phase = Phase::Firing;
                    self.pending_points = 0;
                    self.fired_at = Some(now);
                    self.clear_since = None;
                    self.notified = false;
                    self.last_notice = None;
                    self.repeats = 0;
                    let from = now.as_second() - FLAP_WINDOW_SECS;
                    self.onsets.retain(|t| t.as_second() > from);
                    self.onsets.push(now);
                    out.push(Change::Fired);
                }
                if self.phase == Phase::Firing {
                    self.clear_since = None;
                    self.clear_paused = None;
                    let worse = match &self.peak {
                        None => true,
                        Some(p) if higher_is_worse => r.value > p.value,
                        Some(p) => r.value < p.value,
                    };
                    if worse {
                        self.peak = Some(r.clone());
                    }
                }
            }
            Verdict::False(r) => {
                self.reading = r.clone();
                match self.phase {
                    Phase::Pending => {
                        self.phase = Phase::Inactive;
                        self.started_at = None;
                        self.pending_points = 0;
                        out.push(Change::Cancelled);
                    }
                    Phase::Firing => {
                        if let (Some(paused), Some(since)) =
                            (self.clear_paused.take(), self.clear_since)
                        {
                            let gap = now.as_second() - paused.as_second();
                            self.clear_since = Timestamp::from_second(since.as_second() + gap)
                                .ok()
                                .or(Some(now));
                        }
                        let since = *self.clear_since.get_or_insert(now);
                        let hold = if damping && self.flapping(now) {
                            clear_for_secs.max(FLAP_WINDOW_SECS)
                        } else {
                            clear_for_secs
                        };
                        if now.as_second() - since.as_second() >= hold {
                            self.phase = Phase::Inactive;
                            self.clear_since = None;
                            self.clear_paused = None;
                            out.push(Change::Resolved);
                        }
                    }
                    Phase::Inactive => {}
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_767_571_200 + s).unwrap()
    }

    fn holds(v: bool) -> Verdict {
        let r = Reading {
            value: if v { 10.0 } else { 1.0 },
            ..Reading::default()
        };
        if v {
            Verdict::True(r)
        } else {
            Verdict::False(r)
        }
    }

    /// Feeds one verdict every `step` seconds; the index of each point that fired.
    fn fired_at(verdicts: &[Option<bool>], step: i64, hold: Hold) -> Vec<usize> {
        let mut s = AlertState::new("r", "series:x");
        let mut out = Vec::new();
        for (i, v) in verdicts.iter().enumerate() {
            let verdict = match v {
                Some(v) => holds(*v),
                None => Verdict::Unknown("no data".into()),
            };
            let changes = s.step(&verdict, at(i as i64 * step), hold, 0, true, false);
            if changes.contains(&Change::Fired) {
                out.push(i);
            }
        }
        out
    }

    #[test]
    fn for_points_counts_consecutive_points_whatever_the_step() {
        let two = Hold { secs: 0, points: 2 };
        let run = [Some(false), Some(true), Some(true), Some(true), Some(false)];
        // The second point of the run fires, at 10 s as at 1 h.
        assert_eq!(fired_at(&run, 10, two), vec![2]);
        assert_eq!(fired_at(&run, 3600, two), vec![2]);
        // A `for` of a minute is six points at 10 s: a run of three never fires.
        let minute = Hold {
            secs: 60,
            points: 0,
        };
        assert_eq!(fired_at(&run, 10, minute), Vec::<usize>::new());
        // Both must be met: two points and a minute is the later of the two.
        let both = Hold {
            secs: 60,
            points: 2,
        };
        let long = [Some(true); 8];
        assert_eq!(fired_at(&long, 10, both), vec![6]);
        assert_eq!(fired_at(&long, 3600, both), vec![1]);
        // One point alone never fires with 2; a false or unknown point starts the count over.
        let broken = [
            Some(true),
            Some(false),
            Some(true),
            None,
            Some(true),
            Some(true),
        ];
        assert_eq!(fired_at(&broken, 60, two), vec![5]);
    }
}
