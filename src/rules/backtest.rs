//! Backtest: replays series through the same [`Engine`] the daemon runs, with a simulated
//! clock (the points' own times), and reports every alert onset and a summary per rule.
//!
//! Input here is a CSV of `series,timestamp,value` rows (ISO-8601 timestamps, any fixed step;
//! an empty or non-numeric value is unknown). Missing steps are replayed as unknown points, so
//! gaps are seen exactly as live gaps are.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use jiff::Timestamp;
use serde::Serialize;

use super::engine::{Engine, NoHistory, Outcome};
use super::lifecycle::Change;
use super::point::{Entity, Point};
use super::rule::{Metric, Rule};
use super::state_store::MemoryStateStore;
use crate::config::Topology;
use crate::format::significant as short;

/// Gap filling stops after this many missing steps in one gap (a series that pauses for
/// months is replayed as one jump, which the evaluator still sees as a gap).
pub const MAX_FILL: i64 = 100_000;

/// One input row.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Series name (entity `series:NAME`).
    pub series: String,
    /// When.
    pub time: Timestamp,
    /// The value, `None` when empty or not a number.
    pub value: Option<f64>,
}

/// Parses a timestamp: RFC 3339 (`2014-04-10T00:04:00Z`), or a civil time without zone
/// (`2014-04-10 00:04:00`), read as UTC.
pub fn parse_time(s: &str) -> Option<Timestamp> {
    let s = s.trim().trim_matches('"');
    if let Ok(t) = s.parse::<Timestamp>() {
        return Some(t);
    }
    let dt: jiff::civil::DateTime = s.parse().ok()?;
    dt.to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp())
}

/// Reads `series,timestamp,value` rows; a header line is skipped. Errors name the line.
pub fn read_csv(text: &str) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(row) = parse_line(i, line)? {
            rows.push(row);
        }
    }
    Ok(rows)
}

/// One line of the input (0-based index `i`): a row, nothing (blank, comment, the header), or
/// an error naming the line.
fn parse_line(i: usize, line: &str) -> Result<Option<Row>, String> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let mut f = line.rsplitn(3, ',');
    let (Some(value), Some(time), Some(series)) = (f.next(), f.next(), f.next()) else {
        return Err(format!(
            "line {}: expected `series,timestamp,value`, got `{line}`",
            i + 1
        ));
    };
    if i == 0 && time.trim() == "timestamp" {
        return Ok(None);
    }
    let Some(time) = parse_time(time) else {
        return Err(format!(
            "line {}: invalid timestamp `{time}`; write ISO-8601 like 2026-01-05T14:05:00Z",
            i + 1
        ));
    };
    let value = value
        .trim()
        .trim_matches('"')
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite());
    Ok(Some(Row {
        series: series.trim().trim_matches('"').to_string(),
        time,
        value,
    }))
}

/// Why a streamed replay stopped.
#[derive(Debug)]
pub enum StreamError {
    /// A line that is not a row (the message names it).
    Input(String),
    /// The input could not be read.
    Read(std::io::Error),
    /// A series' rows are not together: its name came back after another series (at this
    /// 1-based line). The caller replays the input again with [`replay_grouped`].
    Interleaved {
        /// The series.
        series: String,
        /// Where it came back.
        line: usize,
    },
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamError::Input(m) => f.write_str(m),
            StreamError::Read(e) => write!(f, "cannot read the input: {e}"),
            StreamError::Interleaved { series, line } => write!(
                f,
                "line {line}: series `{series}` comes back after another series"
            ),
        }
    }
}

/// Calls `row` for every row of `input`, read line by line (one line in memory at a time).
fn each_row<R: std::io::BufRead>(
    mut input: R,
    mut row: impl FnMut(usize, Row) -> Result<(), StreamError>,
) -> Result<(), StreamError> {
    let mut line = String::new();
    let mut i = 0;
    loop {
        line.clear();
        if input.read_line(&mut line).map_err(StreamError::Read)? == 0 {
            return Ok(());
        }
        if let Some(r) = parse_line(i, &line).map_err(StreamError::Input)? {
            row(i + 1, r)?;
        }
        i += 1;
    }
}

/// Replays `input` as it is read, one series at a time: the rows of a series must come
/// together (in any time order among themselves), as in NAB's feed or any file sorted by
/// series; only one series' points are held at once. A series that comes back after another
/// one stops the replay with [`StreamError::Interleaved`].
pub fn replay_stream<R: std::io::BufRead>(
    rules: Vec<Rule>,
    topology: Topology,
    input: R,
) -> Result<Report, StreamError> {
    let mut replay = Replay::new(rules, topology);
    let mut done: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut current: Option<String> = None;
    let mut points: Vec<(Timestamp, Option<f64>)> = Vec::new();
    each_row(input, |line, r| {
        if current.as_deref() != Some(r.series.as_str()) {
            if done.contains(&r.series) {
                return Err(StreamError::Interleaved {
                    series: r.series,
                    line,
                });
            }
            if let Some(name) = current.take() {
                replay.series(&name, std::mem::take(&mut points));
                // It does not come back: what the engine keeps for it can go.
                replay.close(&name);
                done.insert(name);
            }
            current = Some(r.series);
        }
        points.push((r.time, r.value));
        Ok(())
    })?;
    if let Some(name) = current {
        replay.series(&name, points);
    }
    Ok(replay.finish())
}

/// Replays `input` with every series' points gathered first (the rows of a series may be
/// anywhere in the input); holds every point.
pub fn replay_grouped<R: std::io::BufRead>(
    rules: Vec<Rule>,
    topology: Topology,
    input: R,
) -> Result<Report, StreamError> {
    let mut by_series: BTreeMap<String, Vec<(Timestamp, Option<f64>)>> = BTreeMap::new();
    each_row(input, |_, r| {
        by_series
            .entry(r.series)
            .or_default()
            .push((r.time, r.value));
        Ok(())
    })?;
    let mut replay = Replay::new(rules, topology);
    for (name, pts) in by_series {
        replay.series(&name, pts);
    }
    Ok(replay.finish())
}

/// One alert found by the replay.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlertRecord {
    /// Series name (or entity id for other scopes).
    pub series: String,
    /// Rule name.
    pub rule: String,
    /// Rule kind.
    pub kind: String,
    /// When it started firing.
    pub fired_at: Timestamp,
    /// When it resolved; `None` when still firing at the end of the data.
    pub resolved_at: Option<Timestamp>,
    /// Most extreme value while firing.
    pub peak: f64,
    /// Baseline at the peak.
    pub baseline: Option<f64>,
    /// True when data was missing while it was pending or firing.
    pub during_gap: bool,
}

/// Totals of one rule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuleSummary {
    /// Rule name.
    pub rule: String,
    /// Alert onsets.
    pub alerts: usize,
    /// Hours spent firing (until the end of the data for open alerts).
    pub alert_hours: f64,
    /// Alerts with missing data while pending or firing.
    pub during_gaps: usize,
}

/// The result of a replay.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    /// Series replayed.
    pub series: usize,
    /// Points replayed (including unknown points for missing steps).
    pub points: usize,
    /// Every alert onset, in time order.
    pub alerts: Vec<AlertRecord>,
    /// One line per rule.
    pub summary: Vec<RuleSummary>,
}

/// The median step of a sorted series, in seconds.
fn median_step(times: &[i64]) -> Option<i64> {
    let mut d: Vec<i64> = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| *d > 0)
        .collect();
    if d.is_empty() {
        return None;
    }
    d.sort_unstable();
    Some(d[d.len() / 2])
}

/// Replays `rows` through an engine over `rules` and reports what fired.
pub fn replay(rules: Vec<Rule>, topology: Topology, rows: Vec<Row>) -> Report {
    let mut by_series: BTreeMap<String, Vec<(Timestamp, Option<f64>)>> = BTreeMap::new();
    for r in rows {
        by_series
            .entry(r.series)
            .or_default()
            .push((r.time, r.value));
    }
    let mut replay = Replay::new(rules, topology);
    for (name, pts) in by_series {
        replay.series(&name, pts);
    }
    replay.finish()
}

/// A replay fed one whole series at a time. The engine keeps its state per rule and entity,
/// so replaying series one after another finds what replaying them interleaved in time
/// would; only the series being replayed is held.
pub struct Replay {
    engine: Engine,
    recorder: Recorder,
    last_time: Option<Timestamp>,
}

impl Replay {
    /// A replay of `rules`.
    pub fn new(rules: Vec<Rule>, topology: Topology) -> Replay {
        let recorder = Recorder::new(&rules);
        let engine = Engine::new(
            rules,
            topology,
            Box::new(MemoryStateStore::new()),
            Box::new(NoHistory),
        );
        Replay {
            engine,
            recorder,
            last_time: None,
        }
    }

    /// Replays every point of one series (in any order; a repeated time counts once), with
    /// missing steps (at the series' median step) as unknown points, as live gaps are.
    pub fn series(&mut self, name: &str, mut pts: Vec<(Timestamp, Option<f64>)>) {
        pts.sort_by_key(|p| p.0);
        pts.dedup_by_key(|p| p.0);
        let secs: Vec<i64> = pts.iter().map(|p| p.0.as_second()).collect();
        let step = median_step(&secs);
        drop(secs);
        let entity = Entity::series(name);
        let observe = |engine: &mut Engine, recorder: &mut Recorder, p: Point| {
            let out = engine.observe(&entity, Metric::Value, p);
            recorder.record(&out);
            recorder.report.points += 1;
        };
        self.recorder.report.series += 1;
        let mut prev: Option<i64> = None;
        for (t, v) in pts {
            let s = t.as_second();
            if let (Some(p), Some(step)) = (prev, step) {
                // Missing steps are unknown points, as a live gap would be.
                let mut k = 1;
                while s - (p + k * step) >= step / 2 && k <= MAX_FILL {
                    if let Ok(ft) = Timestamp::from_second(p + k * step) {
                        observe(&mut self.engine, &mut self.recorder, Point::unknown(ft));
                    }
                    k += 1;
                }
            }
            prev = Some(s);
            let point = match v {
                Some(v) => Point::known(t, v),
                None => Point::unknown(t),
            };
            observe(&mut self.engine, &mut self.recorder, point);
            self.last_time = Some(self.last_time.map_or(t, |l: Timestamp| l.max(t)));
        }
    }

    /// Completes a series that gets no more points: its open alerts take their peaks, and
    /// the engine forgets it.
    pub fn close(&mut self, name: &str) {
        let id = Entity::series(name).id();
        self.recorder.settle(&self.engine, Some(&id));
        self.engine.forget(&id);
    }

    /// The report: every alert onset in time order and the summary per rule.
    pub fn finish(self) -> Report {
        self.recorder.finish(&self.engine, self.last_time)
    }
}

/// Turns the transitions of a replay into alert rows and the per-rule summary: shared by
/// the CSV replay and the replay of stored history.
pub struct Recorder {
    rule_kinds: HashMap<String, String>,
    rule_names: Vec<String>,
    open: HashMap<(String, String), usize>,
    /// The report being built (series and points are the caller's to fill).
    pub report: Report,
}

impl Recorder {
    /// A recorder for these rules (one summary line each, in this order).
    pub fn new(rules: &[Rule]) -> Recorder {
        Recorder {
            rule_kinds: rules
                .iter()
                .map(|r| (r.name.clone(), r.kind.name().to_string()))
                .collect(),
            rule_names: rules.iter().map(|r| r.name.clone()).collect(),
            open: HashMap::new(),
            report: Report::default(),
        }
    }

    /// Records what one observation (or tick) of the engine produced.
    pub fn record(&mut self, out: &Outcome) {
        let name_of = |entity: &str| -> String {
            entity.strip_prefix("series:").unwrap_or(entity).to_string()
        };
        for tr in &out.transitions {
            let key = (tr.rule.clone(), tr.entity.clone());
            match tr.change {
                Change::Fired => {
                    self.open.insert(key, self.report.alerts.len());
                    self.report.alerts.push(AlertRecord {
                        series: name_of(&tr.entity),
                        kind: self.rule_kinds.get(&tr.rule).cloned().unwrap_or_default(),
                        rule: tr.rule.clone(),
                        fired_at: tr.at,
                        resolved_at: None,
                        peak: tr.reading.value,
                        baseline: tr.reading.baseline,
                        during_gap: tr.gap_points > 0,
                    });
                }
                Change::Resolved => {
                    if let Some(i) = self.open.remove(&key) {
                        let a = &mut self.report.alerts[i];
                        a.resolved_at = Some(tr.at);
                        if let Some(pk) = &tr.peak {
                            a.peak = pk.value;
                            a.baseline = pk.baseline;
                        }
                        a.during_gap |= tr.gap_points > 0;
                    }
                }
                Change::Pending | Change::Cancelled | Change::Flapping | Change::Stable => {}
            }
        }
    }

    /// Takes the peak and the gaps of the alerts still firing (of one entity, or all) from
    /// the engine's states.
    pub fn settle(&mut self, engine: &Engine, entity: Option<&str>) {
        for st in engine.active() {
            if entity.is_some_and(|e| e != st.entity) {
                continue;
            }
            if let Some(i) = self.open.get(&(st.rule.clone(), st.entity.clone())) {
                let a = &mut self.report.alerts[*i];
                if let Some(pk) = &st.peak {
                    a.peak = pk.value;
                    a.baseline = pk.baseline;
                }
                a.during_gap |= st.gap_points > 0;
            }
        }
    }

    /// Completes the alerts still firing at the end (`last_time`) and adds the summary.
    pub fn finish(mut self, engine: &Engine, last_time: Option<Timestamp>) -> Report {
        self.settle(engine, None);
        let mut report = self.report;
        // Onsets in time order (entities are replayed independently).
        report.alerts.sort_by(|a, b| {
            (a.fired_at, &a.series, &a.rule).cmp(&(b.fired_at, &b.series, &b.rule))
        });
        for name in self.rule_names {
            let mine: Vec<&AlertRecord> = report.alerts.iter().filter(|a| a.rule == name).collect();
            let hours: f64 = mine
                .iter()
                .map(|a| {
                    let end = a.resolved_at.or(last_time).unwrap_or(a.fired_at);
                    (end.as_second() - a.fired_at.as_second()) as f64 / 3600.0
                })
                .fold(0.0, |a, b| a + b);
            report.summary.push(RuleSummary {
                alerts: mine.len(),
                alert_hours: hours,
                during_gaps: mine.iter().filter(|a| a.during_gap).count(),
                rule: name,
            });
        }
        report
    }
}

fn opt_time(t: Option<Timestamp>) -> String {
    t.map(|t| t.to_string()).unwrap_or_default()
}

fn opt_num(v: Option<f64>) -> String {
    v.map(short).unwrap_or_default()
}

impl Report {
    /// One CSV row per alert onset: `series,timestamp,kind,rule,resolved_at,peak,baseline,during_gap`
    /// (the NAB scorer reads `series,timestamp,kind`).
    pub fn to_csv(&self) -> String {
        let head = [
            "series",
            "timestamp",
            "kind",
            "rule",
            "resolved_at",
            "peak",
            "baseline",
            "during_gap",
        ]
        .map(String::from)
        .to_vec();
        let rows = self.alerts.iter().map(|a| {
            vec![
                a.series.clone(),
                a.fired_at.to_string(),
                a.kind.clone(),
                a.rule.clone(),
                opt_time(a.resolved_at),
                short(a.peak),
                opt_num(a.baseline),
                a.during_gap.to_string(),
            ]
        });
        crate::format::csv::write(std::iter::once(head).chain(rows))
    }

    /// The per-rule summary as text.
    pub fn summary_table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} series, {} points replayed\n{:<28} {:>7} {:>12} {:>12}",
            self.series, self.points, "rule", "alerts", "alert-hours", "during gaps"
        );
        for r in &self.summary {
            let _ = writeln!(
                s,
                "{:<28} {:>7} {:>12.1} {:>12}",
                r.rule, r.alerts, r.alert_hours, r.during_gaps
            );
        }
        s
    }

    /// The alerts and the summary as aligned text.
    pub fn to_table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<40} {:<24} {:<9} {:<21} {:<21} {:>12} {:>12}",
            "series", "rule", "kind", "fired_at", "resolved_at", "peak", "baseline"
        );
        for a in &self.alerts {
            let _ = writeln!(
                s,
                "{:<40} {:<24} {:<9} {:<21} {:<21} {:>12} {:>12}{}",
                a.series,
                a.rule,
                a.kind,
                a.fired_at.to_string(),
                opt_time(a.resolved_at),
                short(a.peak),
                opt_num(a.baseline),
                if a.during_gap { "  (data gap)" } else { "" }
            );
        }
        s.push('\n');
        s.push_str(&self.summary_table());
        s
    }
}
