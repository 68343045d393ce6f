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

use super::live::Snapshot;
use super::server::{AppState, StoreView};
use crate::config::units::format_bps;
use crate::store::{Entity, EntityKind, Metric, RangeQuery, Reader, SeriesData};

/// Step of the 24-hour charts, seconds.
pub const CHART_STEP_SECS: i64 = 300;
/// Days of the same hours shown as the baseline band.
pub const BASELINE_DAYS: u32 = 7;

/// `GET /`: the status page.
pub async fn page(State(st): State<AppState>) -> Response {
    let snapshot = st.live.snapshot();
    let store = st.store.clone();
    let alerts = st.alerts.active();
    let html = tokio::task::spawn_blocking(move || {
        render(&snapshot, store.as_ref(), &alerts, Timestamp::now())
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

/// Escapes text for HTML: the one escaper, in [`crate::format`].
pub use crate::format::html as esc;

/// A 24-hour series and its baseline band, ready to draw.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChartData {
    /// Inbound bits per second per step, `None` for a gap.
    pub values: Vec<Option<f64>>,
    /// (low, high) of the same step over the past days, `None` without history.
    pub band: Vec<Option<(f64, f64)>>,
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
        ChartData { values, band }
    }

    /// The chart as inline SVG: the band as a shaded area, the series as a line broken at
    /// gaps, the top of the scale and the time axis as text.
    pub fn svg(&self, entity: &str) -> String {
        const W: f64 = 600.0;
        const H: f64 = 150.0;
        const TOP: f64 = 14.0;
        const BOTTOM: f64 = 16.0;
        let n = self.values.len().max(2);
        let max = self
            .values
            .iter()
            .flatten()
            .copied()
            .chain(self.band.iter().flatten().map(|b| b.1))
            .fold(0.0_f64, f64::max)
            .max(1.0)
            * 1.1;
        let x = |i: usize| i as f64 * W / (n - 1) as f64;
        let y = |v: f64| TOP + (H - TOP - BOTTOM) * (1.0 - v / max);
        let mut s = format!(
            "<svg class=\"chart\" data-entity=\"{}\" viewBox=\"0 0 {W} {H}\" preserveAspectRatio=\"none\" \
             role=\"img\" aria-label=\"{} inbound, last 24 hours\">",
            esc(entity),
            esc(entity)
        );
        // Band: one polygon per run of steps with history.
        let mut runs: Vec<Vec<(usize, (f64, f64))>> = vec![Vec::new()];
        for (i, b) in self.band.iter().enumerate() {
            match b {
                Some(b) => runs.last_mut().map_or((), |r| r.push((i, *b))),
                None => runs.push(Vec::new()),
            }
        }
        for run in runs.iter().filter(|r| r.len() > 1) {
            let mut pts = String::new();
            for (i, (_, hi)) in run {
                let _ = write!(pts, "{:.1},{:.1} ", x(*i), y(*hi));
            }
            for (i, (lo, _)) in run.iter().rev() {
                let _ = write!(pts, "{:.1},{:.1} ", x(*i), y(*lo));
            }
            let _ = write!(s, "<polygon class=\"band\" points=\"{}\"/>", pts.trim_end());
        }
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
        let _ = write!(s, "<path class=\"line\" d=\"{}\"/>", d.trim_end());
        let _ = write!(
            s,
            "<text x=\"2\" y=\"11\">{}</text>\
             <text x=\"2\" y=\"{H}\" dy=\"-3\">-24h</text>\
             <text x=\"{}\" y=\"{H}\" dy=\"-3\">-12h</text>\
             <text x=\"{W}\" y=\"{H}\" dy=\"-3\" text-anchor=\"end\">now</text></svg>",
            esc(&format_bps(max / 1.1)),
            W / 2.0
        );
        s
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:12px;color:#222}\
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}\
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:12px}\
.card{border:1px solid #ddd;border-radius:6px;padding:8px}.card h3{margin:0 0 4px;font-size:1em}\
.chart{width:100%;height:150px;background:#fafafa}.chart .band{fill:#cfe3f7}\
.chart .line{fill:none;stroke:#1565c0;stroke-width:1.5;vector-effect:non-scaling-stroke}\
.chart text{font-size:10px;fill:#555}table{border-collapse:collapse;width:100%}\
td,th{text-align:left;padding:3px 6px;border-bottom:1px solid #eee}.down{color:#b71c1c;font-weight:bold}\
.up{color:#2e7d32}.muted{color:#777}.legend{font-size:.85em;color:#555}";

/// Renders the page from the live state and (when given) the store.
pub fn render(
    snap: &Snapshot,
    store: Option<&StoreView>,
    alerts: &[crate::rules::view::ActiveAlert],
    now: Timestamp,
) -> String {
    let topo = &snap.topology;
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"refresh\" content=\"30\"><title>bandwatch status</title>\
         <style>{STYLE}</style></head><body><h1>bandwatch status</h1>\
         <p class=\"muted\">{} switches, {} product lines, {} customers. Updated {} UTC \
         (reloads every 30 s). <a href=\"/metrics\">/metrics</a></p>",
        topo.switches.len(),
        topo.product_lines.len(),
        topo.customers.len(),
        now.strftime("%Y-%m-%d %H:%M:%S")
    );

    // Firing alerts first, then pending ones: rule, where, value vs baseline, since.
    h.push_str("<section id=\"alerts\"><h2>Firing alerts</h2>");
    let mut active: Vec<&crate::rules::view::ActiveAlert> = alerts.iter().collect();
    active.sort_by_key(|a| (a.state != "firing", a.since));
    if active.is_empty() {
        h.push_str("<p class=\"up\">Nothing is firing.</p>");
    } else {
        h.push_str("<table><tr><th>state</th><th>rule</th><th>where</th><th>severity</th><th>value</th><th>baseline</th><th>since</th></tr>");
        for a in active {
            let since = a
                .since
                .and_then(|t| Timestamp::from_second(t).ok())
                .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default();
            let _ = write!(
                h,
                "<tr><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                if a.state == "firing" { "down" } else { "muted" },
                esc(&a.state),
                esc(&a.rule),
                esc(&a.entity),
                esc(&a.severity),
                esc(&short_value(a.value)),
                a.baseline
                    .map(|b| esc(&short_value(b)))
                    .unwrap_or_else(|| "-".into()),
                esc(&since)
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</section>");

    let reader = store.map(|s| &s.reader);
    let charts = |h: &mut String, kind: EntityKind, title: &str, items: Vec<(String, String)>| {
        let _ = write!(
            h,
            "<section id=\"{}\"><h2>{title}</h2><p class=\"legend\">Inbound, last 24 hours \
             (5-minute steps); shaded: the same hours over the past {BASELINE_DAYS} days.</p>\
             <div class=\"cards\">",
            kind.as_str()
        );
        for (name, detail) in items {
            let label = format!("{}:{name}", kind.as_str());
            let chart = match &reader {
                Some(r) => match ChartData::read(r, Entity::new(kind, name.clone()), now) {
                    Ok(c) => c.svg(&label),
                    Err(e) => format!("<p class=\"down\">cannot read the store: {}</p>", esc(&e)),
                },
                None => "<p class=\"muted\">no database configured for charts</p>".into(),
            };
            let _ = write!(
                h,
                "<div class=\"card\"><h3>{}</h3><div class=\"muted\">{}</div>{chart}</div>",
                esc(&name),
                esc(&detail)
            );
        }
        h.push_str("</div></section>");
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
    charts(&mut h, EntityKind::ProductLine, "Product lines", lines);
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
    charts(&mut h, EntityKind::Site, "Sites", sites);

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
    h.push_str(
        "<section id=\"ports\"><h2>Top ports by utilization</h2><table>\
         <tr><th>port</th><th>utilization</th><th>in</th><th>out</th></tr>",
    );
    for (u, name, i, o) in ports.iter().take(10) {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{:.1}%</td><td>{}</td><td>{}</td></tr>",
            esc(name),
            u * 100.0,
            format_bps(*i),
            format_bps(*o)
        );
    }
    if ports.is_empty() {
        h.push_str("<tr><td colspan=\"4\" class=\"muted\">no rates measured yet</td></tr>");
    }
    h.push_str("</table></section>");

    // Switches and their poll health.
    h.push_str(
        "<section id=\"switches\"><h2>Switches</h2><table>\
         <tr><th>switch</th><th>site</th><th>address</th><th>state</th><th>last answer</th></tr>",
    );
    let secs_now = now.as_millisecond() as f64 / 1000.0;
    for sw in &topo.switches {
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
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{state}</td><td>{last}</td></tr>",
            esc(&sw.name),
            esc(&sw.site),
            esc(&sw.address)
        );
    }
    h.push_str("</table></section>");

    // The last 50 alert transitions.
    h.push_str("<section id=\"history\"><h2>Last alert transitions</h2>");
    let history = store.map(|s| s.alerts.history(50));
    match history {
        Some(Ok(rows)) if !rows.is_empty() => {
            h.push_str("<table><tr><th>time</th><th>rule</th><th>where</th><th>change</th><th>value</th></tr>");
            for r in rows {
                let t = Timestamp::from_second(r.ts)
                    .map(|t| t.strftime("%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default();
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} &rarr; {}</td><td>{}</td></tr>",
                    esc(&t),
                    esc(&r.rule),
                    esc(&r.entity),
                    esc(&r.from_state),
                    esc(&r.to_state),
                    r.value.map(|v| esc(&short_value(v))).unwrap_or_default()
                );
            }
            h.push_str("</table>");
        }
        Some(Err(e)) => {
            let _ = write!(
                h,
                "<p class=\"down\">cannot read the alert history: {}</p>",
                esc(&e.to_string())
            );
        }
        _ => h.push_str("<p class=\"muted\">No alert has changed state yet.</p>"),
    }
    h.push_str(
        "</section><section id=\"report\"><h2>Reports</h2><p><a href=\"/report?month=current\">This \
         month's usage report</a> (so far, with a projection to month end)</p></section></body></html>",
    );
    h
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
    fn escapes_names() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let svg = ChartData::default().svg("site:<x>");
        assert!(svg.contains("site:&lt;x&gt;") && !svg.contains("<x>"));
    }
}
