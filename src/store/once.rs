//! Each alert notified once, whichever daemon noticed it: two daemons polling the same
//! switches (an HA pair, `[daemon] shard` named twice) both evaluate the port and switch
//! rules and both owe the same notices. The store keeps, per alert, route and family of
//! notices, whether the last notice queued opened or closed an episode (`notify_once`), and
//! admits a notice only when it moves that state, in the transaction that queues it
//! ([`super::AlertStore::commit_once`]): the second daemon's firing of an episode already
//! opened is not queued, nor its resolution of one already closed. History rows are kept
//! once the same way: the same change of the same alert within the window is one row.
//!
//! The decision is a pure function ([`admit`]) so every backend makes the same one.

/// Which of an alert's notice sequences a notice belongs to: the lifecycle (firing, repeat,
/// resolved) or flapping (flapping, stable again); each alternates open and close on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Firing, repeat, resolved.
    Lifecycle,
    /// Flapping, stable again.
    Flap,
}

impl Family {
    /// The name stored in `notify_once.family`.
    pub fn name(self) -> &'static str {
        match self {
            Family::Lifecycle => "lifecycle",
            Family::Flap => "flap",
        }
    }
}

/// What a notice does to its family's episode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Opens an episode (firing, flapping).
    Open,
    /// Reminds of an open episode (repeat).
    Repeat,
    /// Closes it (resolved, stable again).
    Close,
}

/// What makes two daemons' notices the same one: the alert, the family and step, when its
/// episode started and when the notice was made (unix seconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoticeKey {
    /// Rule name.
    pub rule: String,
    /// Entity id.
    pub entity: String,
    /// Lifecycle or flap.
    pub family: Family,
    /// Open, repeat or close.
    pub step: Step,
    /// When the episode's condition started to hold.
    pub started: i64,
    /// When the notice was made.
    pub at: i64,
}

/// The deduplication of one commit: a key per notice of [`super::AlertCommit::notices`] (in
/// the same order; `None` always queues), and how far apart in time two daemons' records of
/// the same change may be (seconds; a few poll intervals).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Once {
    /// One per notice, in order.
    pub keys: Vec<Option<NoticeKey>>,
    /// The window, in seconds, within which the same history change or repeat is one.
    pub window_s: i64,
}

impl Once {
    /// An error unless there is one key per notice of `commit` (both stores check it
    /// before writing anything).
    pub(crate) fn check(
        &self,
        commit: &super::alerts::AlertCommit,
    ) -> Result<(), super::StoreError> {
        if self.keys.len() == commit.notices.len() {
            return Ok(());
        }
        Err(super::StoreError::InvalidQuery(format!(
            "{} notice keys for {} notices",
            self.keys.len(),
            commit.notices.len()
        )))
    }
}

/// What a deduplicated commit left out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OnceOutcome {
    /// Notices not queued: another daemon queued the same.
    pub notices_skipped: usize,
    /// History rows not written: another daemon recorded the same change.
    pub history_skipped: usize,
}

/// The stored state of one (rule, entity, route, family).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OnceRow {
    /// The last notice queued opened an episode (or reminded of it).
    pub open: bool,
    /// When that episode started.
    pub started: i64,
    /// When the last notice was made.
    pub at: i64,
}

/// Whether `key` is queued given the stored `prev`; `Some(row)` to store when it is.
/// - an opening is refused while the episode is open, and when the last closing came after
///   this episode started (the other daemon saw the same episode start and end already);
/// - a repeat is refused when nothing is open or another was queued within `window_s`;
/// - a closing is refused when the episode is closed already.
///
/// Without a stored row everything is admitted (one daemon, or the first notice).
pub fn admit(prev: Option<&OnceRow>, key: &NoticeKey, window_s: i64) -> Option<OnceRow> {
    match (key.step, prev) {
        (Step::Open, Some(p)) if p.open || key.started <= p.at => None,
        (Step::Open, _) => Some(OnceRow {
            open: true,
            started: key.started,
            at: key.at,
        }),
        (Step::Repeat, Some(p)) if !p.open || p.at > key.at - window_s => None,
        (Step::Repeat, p) => Some(OnceRow {
            open: true,
            started: p.map_or(key.started, |p| p.started),
            at: key.at,
        }),
        (Step::Close, Some(p)) if !p.open => None,
        (Step::Close, p) => Some(OnceRow {
            open: false,
            started: p.map_or(key.started, |p| p.started),
            at: key.at,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(step: Step, started: i64, at: i64) -> NoticeKey {
        NoticeKey {
            rule: "r".into(),
            entity: "port:a/b".into(),
            family: Family::Lifecycle,
            step,
            started,
            at,
        }
    }

    /// Feeds keys in order, as they reach the store; returns which were admitted.
    fn run(keys: &[NoticeKey]) -> Vec<bool> {
        let mut row: Option<OnceRow> = None;
        keys.iter()
            .map(|k| match admit(row.as_ref(), k, 10) {
                Some(r) => {
                    row = Some(r);
                    true
                }
                None => false,
            })
            .collect()
    }

    #[test]
    fn one_daemon_is_never_held_back() {
        let got = run(&[
            key(Step::Open, 100, 110),
            key(Step::Repeat, 100, 400),
            key(Step::Repeat, 100, 700),
            key(Step::Close, 100, 800),
            key(Step::Open, 900, 910),
            key(Step::Close, 900, 990),
        ]);
        assert_eq!(got, [true; 6]);
    }

    #[test]
    fn an_ha_pair_notifies_each_step_once() {
        // A and B see the same episode a poll apart, in either order.
        let got = run(&[
            key(Step::Open, 100, 110),   // A
            key(Step::Open, 102, 112),   // B
            key(Step::Repeat, 100, 400), // A
            key(Step::Repeat, 102, 402), // B
            key(Step::Close, 100, 800),  // B first this time
            key(Step::Close, 102, 802),  // A
        ]);
        assert_eq!(got, [true, false, true, false, true, false]);
    }

    #[test]
    fn a_lagging_daemon_does_not_reopen_an_episode_the_other_closed() {
        // A's whole episode reaches the store before B's firing of the same one.
        let got = run(&[
            key(Step::Open, 100, 110),
            key(Step::Close, 100, 130),
            key(Step::Open, 102, 112),
            key(Step::Close, 102, 132),
            // A genuinely new episode later is notified.
            key(Step::Open, 200, 210),
        ]);
        assert_eq!(got, [true, true, false, false, true]);
    }
}
