//! The status page, `GET /`: server-rendered HTML that works without JavaScript (a meta
//! refresh reloads it every 30 s), readable on a laptop and a phone. Firing alerts first, then
//! the product lines and sites with a 24-hour inline-SVG chart each (inbound rate, with the
//! band of the same hours over the past 7 days as baseline), top ports by utilization,
//! switches with poll health, the alert history and the month's report link.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::live::Snapshot;
use super::server::{AppState, StoreView};
use crate::config::units::format_bps;
use crate::store::{Entity, EntityKind, Metric, RangeQuery, Reader, SeriesData};

/// Step of the 24-hour charts, seconds.
pub const CHART_STEP_SECS: i64 = 300;
/// Days of the same hours shown as the baseline band.
pub const BASELINE_DAYS: u32 = 7;

/// `GET /`: the status page; a redacted reader sees no customer in the alerts.
pub async fn page(
    State(st): State<AppState>,
    axum::Extension(v): axum::Extension<super::auth::Viewer>,
) -> Response {
    let snapshot = st.live.snapshot();
    let mut store = st.store.clone();
    let mut alerts = st.alerts.active();
    if v.redacted {
        use super::auth::redact;
        let s = redact::Sensitive::of(&snapshot.topology, &snapshot.attributed);
        alerts = alerts
            .into_iter()
            .map(|a| redact::active_alert(a, &s))
            .collect();
        store = store.map(|st| st.redacted(s));
    }
    // What needs attention; its details (a server's reply may quote an address) only for
    // readers who see everything.
    let mut problems = st.health.problems();
    if v.redacted {
        for p in &mut problems {
            p.1 = "details for signed-in readers".into();
        }
    }
    let html = tokio::task::spawn_blocking(move || {
        let now = Timestamp::now();
        let windows = super::maintenance::views(&snapshot, now, v.redacted);
        render(&snapshot, store.as_ref(), &alerts, &windows, now).replacen(
            ATTENTION_MARK,
            &attention(&problems).into_string(),
            1,
        )
    })
    .await;
    match html {
        Ok(body) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("rendering the status page failed: {e}"),
        )
            .into_response(),
    }
}

/// Where [`attention`] goes in the rendered page (the daemon's own problems are not part of
/// the fleet's snapshot that [`render`] draws).
const ATTENTION_MARK: &str = "<!--attention-->";

/// A banner of what needs a person: parts of the daemon that do not work and raised
/// conditions (`notification-failing`), empty when all is well.
fn attention(problems: &[(String, String)]) -> Markup {
    html! {
        @if !problems.is_empty() {
            section id="attention" class="down" {
                h2 { "Needs attention" }
                ul {
                    @for (name, detail) in problems {
                        li { strong { (name) } ": " (detail) }
                    }
                }
            }
        }
    }
}

/// A 24-hour series and its baseline band, ready to draw.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChartData {
    /// Inbound bits per second per step, `None` for a gap.
    pub values: Vec<Option<f64>>,
    /// (low, high) of the same step over the past days, `None` without history.
    pub band: Vec<Option<(f64, f64)>>,
    /// Time of the first step (for the clock times under the chart).
    pub start: Option<Timestamp>,
    /// Step between values, seconds.
    pub step: i64,
}

impl ChartData {
    /// Reads the last 24 hours of `entity`'s inbound rate and its band from the store.
    pub fn read(reader: &Reader, entity: Entity, now: Timestamp) -> Result<ChartData, String> {
        let to = now;
        let from = now - SignedDuration::from_secs(86_400);
        let q = RangeQuery::new(entity, Metric::InBps, from, to).step(CHART_STEP_SECS);
        let today = reader.range(&q).map_err(|e| e.to_string())?;
        let past = reader
            .seasonal(&q, BASELINE_DAYS)
            .map_err(|e| e.to_string())?;
        Ok(ChartData::from_series(&today, &past))
    }

    /// Builds the chart from today's series and the same window on past days.
    pub fn from_series(today: &SeriesData, past: &[SeriesData]) -> ChartData {
        let values: Vec<Option<f64>> = today.points.iter().map(|p| p.value).collect();
        let band = (0..values.len())
            .map(|i| {
                let vals: Vec<f64> = past
                    .iter()
                    .filter_map(|s| s.points.get(i).and_then(|p| p.value))
                    .collect();
                let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                (!vals.is_empty()).then_some((lo, hi))
            })
            .collect();
        ChartData {
            values,
            band,
            start: today.points.first().map(|p| p.time),
            step: today.step_secs,
        }
    }

    /// The chart as inline SVG: the band as a shaded area, the series as a line broken at
    /// gaps, grid lines at the value and time ticks.
    pub fn svg(&self, entity: &str) -> String {
        self.plot(entity, &self.scale()).into_string()
    }

    /// The value ticks: (top of the scale, tick values), bits per second.
    fn scale(&self) -> (f64, Vec<f64>) {
        let max = self
            .values
            .iter()
            .flatten()
            .copied()
            .chain(self.band.iter().flatten().map(|b| b.1))
            .fold(0.0_f64, f64::max)
            .max(1.0);
        let (_, top, step) = crate::notify::chart::value_ticks(0.0, max * 1.05);
        let ticks = (0..)
            .map(|i| i as f64 * step)
            .take_while(|v| *v <= top + step * 1e-6)
            .collect();
        (top, ticks)
    }

    /// The time ticks: (fraction of the width, clock time), every 6 hours of UTC.
    fn time_ticks(&self) -> Vec<(f64, String)> {
        let (Some(start), true) = (self.start, self.step > 0) else {
            return Vec::new();
        };
        let t0 = start.as_second();
        let span = self.step * (self.values.len().max(2) - 1) as i64;
        let every = 6 * 3600;
        let mut t = (t0 + every - 1).div_euclid(every) * every;
        let mut out = Vec::new();
        while t <= t0 + span {
            if let Ok(at) = Timestamp::from_second(t) {
                out.push((
                    (t - t0) as f64 / span as f64,
                    at.strftime("%H:%M").to_string(),
                ));
            }
            t += every;
        }
        out
    }

    /// The chart as markup, to place in a page: the SVG plot with its value labels left of
    /// it and clock times under it, as HTML text (legible at any width, on a phone too,
    /// unlike text inside a stretched SVG).
    pub fn markup(&self, entity: &str) -> Markup {
        let (top, ticks) = self.scale();
        let y_pct = |v: f64| {
            (PLOT_TOP + (PLOT_H - PLOT_TOP - PLOT_BOTTOM) * (1.0 - v / top)) / PLOT_H * 100.0
        };
        html! {
            div class="chart-box" {
                div class="chart-y" {
                    @for v in &ticks {
                        span style=(format!("top:{:.1}%", y_pct(*v))) { (format_bps(*v)) }
                    }
                }
                (self.plot(entity, &(top, ticks.clone())))
                div class="chart-x" {
                    @for (f, label) in self.time_ticks() {
                        span style=(format!("left:{:.1}%", f * 100.0)) { (label) }
                    }
                }
            }
        }
    }

    /// The SVG plot alone.
    fn plot(&self, entity: &str, scale: &(f64, Vec<f64>)) -> Markup {
        const W: f64 = 600.0;
        let (top, ticks) = scale;
        let n = self.values.len().max(2);
        let x = |i: usize| i as f64 * W / (n - 1) as f64;
        let y = |v: f64| PLOT_TOP + (PLOT_H - PLOT_TOP - PLOT_BOTTOM) * (1.0 - v / top);
        // Band: one polygon per run of steps with history.
        let mut runs: Vec<Vec<(usize, (f64, f64))>> = vec![Vec::new()];
        for (i, b) in self.band.iter().enumerate() {
            match b {
                Some(b) => runs.last_mut().map_or((), |r| r.push((i, *b))),
                None => runs.push(Vec::new()),
            }
        }
        let polygons: Vec<String> = runs
            .iter()
            .filter(|r| r.len() > 1)
            .map(|run| {
                let mut pts = String::new();
                for (i, (_, hi)) in run {
                    let _ = write!(pts, "{:.1},{:.1} ", x(*i), y(*hi));
                }
                for (i, (lo, _)) in run.iter().rev() {
                    let _ = write!(pts, "{:.1},{:.1} ", x(*i), y(*lo));
                }
                pts.trim_end().to_string()
            })
            .collect();
        let mut d = String::new();
        let mut pen = false;
        for (i, v) in self.values.iter().enumerate() {
            match v {
                Some(v) => {
                    let _ = write!(
                        d,
                        "{}{:.1},{:.1} ",
                        if pen { "L" } else { "M" },
                        x(i),
                        y(*v)
                    );
                    pen = true;
                }
                None => pen = false,
            }
        }
        let mut grid = String::new();
        for v in ticks {
            let _ = write!(grid, "M0,{:.1}H{W} ", y(*v));
        }
        for (f, _) in self.time_ticks() {
            let _ = write!(grid, "M{:.1},0V{PLOT_H} ", f * W);
        }
        html! {
            svg class="chart" data-entity=(entity) viewBox=(format!("0 0 {W} {PLOT_H}"))
                preserveAspectRatio="none" role="img"
                aria-label=(format!("{entity} inbound, last 24 hours")) {
                path class="grid" d=(grid.trim_end()) {}
                @for pts in &polygons {
                    polygon class="band" points=(pts) {}
                }
                path class="line" d=(d.trim_end()) {}
            }
        }
    }
}

/// Height of the status page's chart plot (CSS pixels and SVG units alike) and its margins.
const PLOT_H: f64 = 150.0;
const PLOT_TOP: f64 = 8.0;
const PLOT_BOTTOM: f64 = 1.0;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:12px;color:#222}\
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}\
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:12px}\
.card{border:1px solid #ddd;border-radius:6px;padding:8px}.card h3{margin:0 0 4px;font-size:1em}\
.chart-box{display:grid;grid-template-columns:auto 1fr;column-gap:6px;margin-top:4px}\
.chart-y{position:relative;min-width:5.6em;font-size:.8em;color:#444}\
.chart-y span{position:absolute;right:0;transform:translateY(-50%);white-space:nowrap}\
.chart{grid-column:2;width:100%;height:150px;background:#fafafa}.chart .band{fill:#cfe3f7}\
.chart .grid{fill:none;stroke:#e2e2e2;stroke-width:1;vector-effect:non-scaling-stroke}\
.chart .line{fill:none;stroke:#1565c0;stroke-width:1.5;vector-effect:non-scaling-stroke}\
.chart-x{grid-column:2;position:relative;height:1.4em;font-size:.8em;color:#444}\
.chart-x span{position:absolute;transform:translateX(-50%);white-space:nowrap}table{border-collapse:collapse;width:100%}\
td,th{text-align:left;padding:3px 6px;border-bottom:1px solid #eee}.down{color:#b71c1c;font-weight:bold}\
.up{color:#2e7d32}.muted{color:#777}.legend{font-size:.85em;color:#555}";

/// Renders the page from the live state and (when given) the store. Built with `maud`,
/// which escapes every value (switch, port and customer names may come from ifAlias text).
pub fn render(
    snap: &Snapshot,
    store: Option<&StoreView>,
    alerts: &[crate::rules::view::ActiveAlert],
    maintenance: &[crate::maintenance::WindowView],
    now: Timestamp,
) -> String {
    let topo = &snap.topology;
    let reader = store.map(|s| &s.reader);

    // Firing alerts first, then pending ones: rule, where, value vs baseline, since.
    let mut active: Vec<&crate::rules::view::ActiveAlert> = alerts.iter().collect();
    active.sort_by_key(|a| (a.state != "firing", a.since));
    let alerts_section = html! {
        section id="alerts" {
            h2 { "Firing alerts" }
            @if active.is_empty() {
                p class="up" { "Nothing is firing." }
            } @else {
                table {
                    tr {
                        th { "state" } th { "rule" } th { "where" } th { "severity" }
                        th { "value" } th { "baseline" } th { "since" }
                    }
                    @for a in &active {
                        tr {
                            td class=(if a.state == "firing" { "down" } else { "muted" }) { (a.state) }
                            td { (a.rule) }
                            td { (a.entity) }
                            td { (a.severity) }
                            td { (short_value(a.value)) }
                            td { (a.baseline.map(short_value).unwrap_or_else(|| "-".into())) }
                            td {
                                (a.since
                                    .and_then(|t| Timestamp::from_second(t).ok())
                                    .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
                                    .unwrap_or_default())
                            }
                        }
                        @if let Some(e) = &a.evidence {
                            tr class="evidence" { td {} td colspan="6" { (e) } }
                        }
                    }
                }
            }
        }
    };

    let charts = |kind: EntityKind, title: &str, items: Vec<(String, String)>| {
        html! {
            section id=(kind.as_str()) {
                h2 { (title) }
                p class="legend" {
                    "Inbound, last 24 hours (5-minute steps, times in UTC); shaded: the same hours \
                     over the past " (BASELINE_DAYS) " days."
                }
                div class="cards" {
                    @for (name, detail) in &items {
                        div class="card" {
                            h3 { (name) }
                            div class="muted" { (detail) }
                            @match &reader {
                                Some(r) => {
                                    @match ChartData::read(r, Entity::new(kind, name.clone()), now) {
                                        Ok(c) => { (c.markup(&format!("{}:{name}", kind.as_str()))) }
                                        Err(e) => { p class="down" { "cannot read the store: " (e) } }
                                    }
                                }
                                None => { p class="muted" { "no database configured for charts" } }
                            }
                        }
                    }
                }
            }
        }
    };
    let lines = topo
        .product_lines
        .values()
        .map(|pl| {
            let now = snap.aggregate(pl.ports.iter());
            (
                pl.name.clone(),
                format!(
                    "{} ports; now in {} / out {}",
                    pl.ports.len(),
                    format_bps(now.in_bps),
                    format_bps(now.out_bps)
                ),
            )
        })
        .collect();
    let lines = charts(EntityKind::ProductLine, "Product lines", lines);
    let sites = topo
        .sites
        .values()
        .map(|s| {
            (
                s.name.clone(),
                format!(
                    "{} switches{}",
                    s.switches.len(),
                    s.description
                        .as_deref()
                        .map(|d| format!("; {d}"))
                        .unwrap_or_default()
                ),
            )
        })
        .collect();
    let sites = charts(EntityKind::Site, "Sites", sites);

    // Top ports by utilization, from the live state.
    let mut ports: Vec<(f64, String, f64, f64)> = snap
        .ports
        .iter()
        .filter_map(|(k, p)| {
            let speed = p.speed_bps.filter(|s| *s > 0)? as f64;
            let (i, o) = (p.in_bps?, p.out_bps?);
            Some((i.max(o) / speed, format!("{}/{}", k.switch, k.port), i, o))
        })
        .collect();
    ports.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));

    // Switches and their poll health.
    let secs_now = now.as_millisecond() as f64 / 1000.0;
    let switches: Vec<_> = topo
        .switches
        .iter()
        .map(|sw| {
            let st = snap.switches.get(&sw.name);
            let (class, state) = match st {
                Some(s) if s.up => ("up", "answering"),
                Some(_) => ("down", "not answering"),
                None => ("muted", "not polled yet"),
            };
            let last = st
                .and_then(|s| s.last_success)
                .map_or("never".to_string(), |t| {
                    format!("{:.0} s ago", (secs_now - t).max(0.0))
                });
            (sw, class, state, last)
        })
        .collect();

    // The last 50 alert transitions.
    let history = store.map(|s| s.alerts.history(50));
    // Silences in force, with who set them (kept in the reason).
    let silences = store.map(|s| s.silences.silences(Some(now.as_second())));

    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="refresh" content="30";
                title { "bandwatch status" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "bandwatch status" }
                p class="muted" {
                    (topo.switches.len()) " switches, " (topo.product_lines.len())
                    " product lines, " (topo.customers.len()) " customers. Updated "
                    (now.strftime("%Y-%m-%d %H:%M:%S")) " UTC (reloads every 30 s). "
                    a href="/metrics" { "/metrics" }
                }
                (PreEscaped(ATTENTION_MARK))
                (alerts_section)
                (super::maintenance::section(maintenance))
                (lines)
                (sites)
                section id="ports" {
                    h2 { "Top ports by utilization" }
                    table {
                        tr { th { "port" } th { "utilization" } th { "in" } th { "out" } }
                        @for (u, name, i, o) in ports.iter().take(10) {
                            tr {
                                td { (name) }
                                td { (format!("{:.1}%", u * 100.0)) }
                                td { (format_bps(*i)) }
                                td { (format_bps(*o)) }
                            }
                        }
                        @if ports.is_empty() {
                            tr { td colspan="4" class="muted" { "no rates measured yet" } }
                        }
                    }
                }
                section id="switches" {
                    h2 { "Switches" }
                    table {
                        tr {
                            th { "switch" } th { "site" } th { "address" } th { "state" }
                            th { "last answer" }
                        }
                        @for (sw, class, state, last) in &switches {
                            tr {
                                td { (sw.name) }
                                td { (sw.site) }
                                td { (sw.address) }
                                td class=(class) { (state) }
                                td { (last) }
                            }
                        }
                    }
                }
                section id="silences" {
                    h2 { "Silences" }
                    @match &silences {
                        Some(Ok(rows)) if !rows.is_empty() => {
                            table {
                                tr { th { "rule" } th { "match" } th { "until" } th { "reason" } }
                                @for r in rows {
                                    tr {
                                        td { (r.rule.as_deref().unwrap_or("every rule")) }
                                        td {
                                            (r.matchers.iter().map(|(k, v)| format!("{k}={v}"))
                                                .collect::<Vec<_>>().join(", "))
                                        }
                                        td {
                                            (Timestamp::from_second(r.ends)
                                                .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
                                                .unwrap_or_default())
                                        }
                                        td { (r.reason) }
                                    }
                                }
                            }
                        }
                        Some(Err(e)) => { p class="down" { "cannot read the silences: " (e) } }
                        _ => { p class="muted" { "No silence is in force." } }
                    }
                }
                section id="history" {
                    h2 { "Last alert transitions" }
                    @match &history {
                        Some(Ok(rows)) if !rows.is_empty() => {
                            table {
                                tr {
                                    th { "time" } th { "rule" } th { "where" } th { "change" }
                                    th { "value" }
                                }
                                @for r in rows {
                                    tr {
                                        td {
                                            (Timestamp::from_second(r.ts)
                                                .map(|t| t.strftime("%m-%d %H:%M:%S").to_string())
                                                .unwrap_or_default())
                                        }
                                        td { (r.rule) }
                                        td { (r.entity) }
                                        td {
                                            (r.from_state) " → " (r.to_state)
                                            @if let Some(m) = &r.message {
                                                " " span class="muted" { (m) }
                                            }
                                        }
                                        td { (r.value.map(short_value).unwrap_or_default()) }
                                    }
                                }
                            }
                        }
                        Some(Err(e)) => {
                            p class="down" { "cannot read the alert history: " (e) }
                        }
                        _ => { p class="muted" { "No alert has changed state yet." } }
                    }
                }
                section id="report" {
                    h2 { "Reports" }
                    p {
                        a href="/report?month=current" { "This month's usage report" }
                        " (so far, with a projection to month end)"
                    }
                }
            }
        }
    }
    .into_string()
}

/// A value for the alert tables: rates with their unit, small numbers as they are.
fn short_value(v: f64) -> String {
    if v.abs() >= 1000.0 {
        format_bps(v)
    } else {
        format!("{v:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Point, Tier};

    fn series(values: &[Option<f64>]) -> SeriesData {
        SeriesData {
            entity: Entity::new(EntityKind::ProductLine, "cdn"),
            metric: Metric::InBps,
            tier: Tier::Raw,
            step_secs: 300,
            points: values
                .iter()
                .enumerate()
                .map(|(i, v)| Point {
                    time: Timestamp::from_second(i as i64 * 300).unwrap(),
                    value: *v,
                    coverage: if v.is_some() { 1.0 } else { 0.0 },
                })
                .collect(),
        }
    }

    #[test]
    fn band_spans_past_days_and_the_line_breaks_at_gaps() {
        let today = series(&[Some(10.0), None, Some(30.0), Some(40.0)]);
        let past = [
            series(&[Some(5.0), Some(6.0), None, Some(50.0)]),
            series(&[Some(15.0), Some(2.0), None, Some(45.0)]),
        ];
        let c = ChartData::from_series(&today, &past);
        assert_eq!(
            c.band,
            vec![
                Some((5.0, 15.0)),
                Some((2.0, 6.0)),
                None,
                Some((45.0, 50.0))
            ]
        );
        let svg = c.svg("product_line:cdn");
        assert!(svg.contains("data-entity=\"product_line:cdn\""));
        // Two runs of the line (a gap at step 1) and one band polygon (steps 0-1).
        let d = svg.split("class=\"line\" d=\"").nth(1).unwrap();
        let d = &d[..d.find('"').unwrap()];
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert_eq!(d.matches('L').count(), 1, "{d}");
        assert_eq!(svg.matches("<polygon").count(), 1);
    }

    #[test]
    fn problems_show_in_a_banner_and_nothing_shows_when_all_is_well() {
        let health = crate::http::server::Health::default();
        health.set("poller", true, "sweeps arriving");
        assert_eq!(attention(&health.problems()).into_string(), "");
        health.set_condition(
            "notification-failing",
            Some("1 message(s) refused: 535 <bad>".into()),
        );
        health.set("store_writer", false, "disk full");
        let banner = attention(&health.problems()).into_string();
        assert!(banner.contains("Needs attention"), "{banner}");
        assert!(
            banner.contains("<strong>store_writer</strong>: disk full"),
            "{banner}"
        );
        assert!(banner.contains("535 &lt;bad&gt;"), "{banner}");
        health.set_condition("notification-failing", None);
        assert!(!attention(&health.problems()).into_string().contains("535"));
    }

    #[test]
    fn escapes_names() {
        assert_eq!(
            html! { p title=("a\"b") { ("<a href=\"x\">&") } }.into_string(),
            "<p title=\"a&quot;b\">&lt;a href=&quot;x&quot;&gt;&amp;</p>"
        );
        let svg = ChartData::default().svg("site:<x>");
        assert!(svg.contains("site:&lt;x&gt;") && !svg.contains("<x>"));
    }

    #[test]
    fn names_from_if_alias_and_config_show_escaped_on_the_page() {
        const EVIL: &str = "<script>alert(1)</script>";
        let mut topo = crate::config::Topology::default();
        topo.product_lines.insert(
            EVIL.into(),
            crate::config::ProductLine {
                name: EVIL.into(),
                owners: Vec::new(),
                ports: Vec::new(),
                description: None,
            },
        );
        let snap = Snapshot {
            topology: std::sync::Arc::new(topo),
            ..Default::default()
        };
        // A port attributed by its ifAlias, firing.
        let alert = crate::rules::view::ActiveAlert {
            rule: "uplink-attack".into(),
            severity: "critical".into(),
            scope: "port".into(),
            entity: format!("port:sw1/{EVIL}"),
            state: "firing".into(),
            value: 4.2e9,
            baseline: None,
            since: Some(1_764_000_000),
            evidence: Some(format!("Flows: likely NTP reflection toward {EVIL}")),
            evidence_redacted: None,
        };
        let page = render(
            &snap,
            None,
            &[alert],
            &[],
            Timestamp::from_second(1_764_000_060).unwrap(),
        );
        assert!(!page.contains("<script>"), "{page}");
        assert!(
            page.contains("<td>port:sw1/&lt;script&gt;alert(1)&lt;/script&gt;</td>"),
            "{page}"
        );
        assert!(
            page.contains("<h3>&lt;script&gt;alert(1)&lt;/script&gt;</h3>"),
            "{page}"
        );
        assert!(
            page.contains("Flows: likely NTP reflection toward &lt;script&gt;"),
            "the evidence line under its alert: {page}"
        );
        // The page is still the page: its sections in order.
        let at = |s: &str| page.find(s).unwrap_or_else(|| panic!("{s} in {page}"));
        assert!(at("<section id=\"alerts\">") < at("<section id=\"product_line\">"));
        assert!(at("<section id=\"switches\">") < at("<section id=\"history\">"));
    }
}
