//! Maintenance windows over HTTP: `GET /api/v1/maintenance` (every window, whether it is open,
//! and its open and next occurrences), the status page's section, and the
//! `bandwatch_maintenance_active{name}` family of `/metrics`. The windows are the topology's
//! in force (a reload changes them). A redacted reader sees every text that names a customer
//! (a window's name, reason or matcher) masked, like the rest of the status page.

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use maud::{Markup, html};
use serde::Serialize;

use super::auth::{Viewer, redact};
use super::exposition::{Exposition, MetricType};
use super::live::Snapshot;
use super::server::AppState;
use crate::config::Topology;
use crate::maintenance::WindowView;

#[derive(Serialize)]
struct Body {
    /// When the answer was made (RFC 3339).
    now: String,
    windows: Vec<WindowView>,
}

/// `GET /api/v1/maintenance`.
pub async fn api(State(st): State<AppState>, Extension(v): Extension<Viewer>) -> Response {
    let snap = st.live.snapshot();
    let now = Timestamp::now();
    axum::Json(Body {
        now: now.to_string(),
        windows: views(&snap, now, v.redacted),
    })
    .into_response()
}

/// The windows as shown at `now`; for a `redacted` reader, texts naming a customer masked.
pub fn views(snap: &Snapshot, now: Timestamp, redacted: bool) -> Vec<WindowView> {
    let mut out: Vec<WindowView> = snap
        .topology
        .maintenance
        .iter()
        .map(|w| w.view(now))
        .collect();
    if redacted && !out.is_empty() {
        let s = redact::Sensitive::of(&snap.topology, &snap.attributed);
        for w in &mut out {
            w.name = s.mask(&w.name);
            w.reason = w.reason.as_deref().map(|r| s.mask(r));
            for m in w.matchers.values_mut() {
                *m = s.mask(m);
            }
        }
    }
    out
}

/// `bandwatch_maintenance_active{name}`: 1 while a window is open, 0 otherwise.
pub fn write_metrics(e: &mut Exposition, topo: &Topology, now: Timestamp) {
    if topo.maintenance.is_empty() {
        return;
    }
    let name = "bandwatch_maintenance_active";
    e.family(
        name,
        MetricType::Gauge,
        "1 while the maintenance window is open (its alerts are recorded, not notified).",
    );
    for w in &topo.maintenance {
        let open = if w.open_at(now) { 1.0 } else { 0.0 };
        e.sample(name, &[("name", &w.name)], open);
    }
}

/// The status page's section: open windows first, then the next occurrences.
pub fn section(views: &[WindowView]) -> Markup {
    let mut views: Vec<&WindowView> = views.iter().collect();
    views.sort_by(|a, b| b.open.cmp(&a.open).then(a.next.cmp(&b.next)));
    html! {
        section id="maintenance" {
            h2 { "Maintenance windows" }
            @if views.is_empty() {
                p class="muted" { "None configured." }
            } @else {
                table {
                    tr {
                        th { "window" } th { "state" } th { "schedule" } th { "covers" }
                        th { "next" } th { "reason" }
                    }
                    @for v in &views {
                        tr {
                            td { (v.name) }
                            td class=(if v.open { "down" } else { "muted" }) {
                                (if v.open { "open" } else { "closed" })
                            }
                            td { (v.schedule) " (" (v.time_zone) ")" }
                            td {
                                @if v.matchers.is_empty() { "everything" }
                                @for (k, m) in &v.matchers { (k) "=" (m) " " }
                                @if let Some(a) = &v.alerts { " · " (a.join(", ")) }
                            }
                            td {
                                @for (s, e) in &v.next { (s) " – " (e) br; }
                            }
                            td { (v.reason.clone().unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    }
}
