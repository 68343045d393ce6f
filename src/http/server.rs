//! The axum server: routes, shared state, graceful shutdown.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use tokio::net::TcpListener;

use super::live::LiveView;
use super::metrics::MetricsSource;
use crate::rules::view::AlertsView;

/// Liveness of the daemon's parts, as reported by `/healthz`.
#[derive(Clone, Default)]
pub struct Health {
    parts: Arc<Mutex<BTreeMap<String, PartHealth>>>,
}

/// One part's state.
#[derive(Clone, Debug, Serialize)]
pub struct PartHealth {
    /// True while the part works.
    pub alive: bool,
    /// A short word on its state.
    pub detail: String,
}

impl Health {
    /// Records a part's state (`poller`, `store_writer`, ...).
    pub fn set(&self, part: &str, alive: bool, detail: impl Into<String>) {
        let mut g = self.parts.lock().unwrap_or_else(PoisonError::into_inner);
        g.insert(
            part.to_string(),
            PartHealth {
                alive,
                detail: detail.into(),
            },
        );
    }

    fn report(&self) -> (bool, BTreeMap<String, PartHealth>) {
        let g = self.parts.lock().unwrap_or_else(PoisonError::into_inner);
        (g.values().all(|p| p.alive), g.clone())
    }
}

/// What the handlers read.
#[derive(Clone)]
pub struct AppState {
    /// Live port state, fed from sweeps.
    pub live: LiveView,
    /// Self-metrics of the other stages.
    pub sources: Arc<Vec<Arc<dyn MetricsSource>>>,
    /// Liveness of the daemon's parts.
    pub health: Health,
    /// Pending and firing alerts, as the rules stage publishes them.
    pub alerts: AlertsView,
    /// The store's handles, for charts, the alert history and `/report` (none in tests
    /// without a store).
    pub store: Option<StoreView>,
    /// The model in force, for `/report` (none in tests without one).
    pub runtime: Option<crate::runtime::RuntimeHandle>,
    /// `POST /api/v1/usage` (disabled when `None`).
    pub usage: Option<Arc<super::usage::UsageApi>>,
    /// Where `POST /-/reload` asks the daemon to reload (disabled when `None`).
    pub reload: Option<tokio::sync::mpsc::Sender<crate::runtime::ReloadRequest>>,
}

/// What the HTTP handlers read from the store: series for charts, usage for `/report`,
/// alert history for `/api/v1/alerts` and the status page.
#[derive(Clone)]
pub struct StoreView {
    /// Series (charts).
    pub reader: crate::store::Reader,
    /// Billing reads (`/report`).
    pub usage: crate::store::UsageBook,
    /// Alert history.
    pub alerts: Arc<dyn crate::store::AlertStore>,
}

impl StoreView {
    /// The handles of `store`.
    pub fn of(store: &crate::store::Store) -> StoreView {
        StoreView {
            reader: store.reader(),
            usage: store.usage(),
            alerts: store.alerts(),
        }
    }
}

/// The router with every endpoint.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(super::status::page))
        .route("/metrics", get(super::metrics::handler))
        .route("/healthz", get(healthz))
        .route("/-/healthy", get(healthy))
        .route("/-/ready", get(ready))
        .route("/api/v1/topology", get(topology))
        .route("/api/v1/alerts", get(alerts))
        .route("/report", get(report))
        .route(
            "/api/v1/usage",
            axum::routing::post(super::usage::post_usage),
        )
        .route("/-/reload", axum::routing::post(super::reload::post_reload))
        .with_state(state)
}

/// Binds the listener; the error names the address.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, std::io::Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

/// Serves on a bound listener until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), std::io::Error> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "HTTP listening: /metrics, /healthz, /api/v1/topology");
    }
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

#[derive(Serialize)]
struct HealthBody {
    status: &'static str,
    parts: BTreeMap<String, PartHealth>,
}

async fn healthz(State(st): State<AppState>) -> Response {
    let (ok, parts) = st.health.report();
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        axum::Json(HealthBody {
            status: if ok { "ok" } else { "unhealthy" },
            parts,
        }),
    )
        .into_response()
}

/// `/-/healthy`, as Prometheus names it: 200 while the process serves HTTP (liveness).
async fn healthy() -> Response {
    (StatusCode::OK, "bandwatch is Healthy.\n").into_response()
}

/// `/-/ready`, as Prometheus names it: 200 while every part of the daemon works (the same
/// judgement as `/healthz`, in plain text), 503 naming the parts that do not.
async fn ready(State(st): State<AppState>) -> Response {
    let (ok, parts) = st.health.report();
    if ok {
        return (StatusCode::OK, "bandwatch is Ready.\n").into_response();
    }
    let down: Vec<String> = parts
        .iter()
        .filter(|(_, p)| !p.alive)
        .map(|(name, p)| format!("{name}: {}", p.detail))
        .collect();
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!("bandwatch is not ready: {}\n", down.join(", ")),
    )
        .into_response()
}

async fn topology(State(st): State<AppState>) -> Response {
    let snap = st.live.snapshot();
    axum::Json(snap.topology.as_ref().clone()).into_response()
}

#[derive(Serialize)]
struct AlertsBody {
    active: Vec<crate::rules::view::ActiveAlert>,
    recent: Vec<crate::store::alerts::HistoryRow>,
}

/// Firing and pending alerts, and the last 50 state changes.
async fn alerts(State(st): State<AppState>) -> Response {
    let active = st.alerts.active();
    let recent = match st.store.clone() {
        Some(store) => tokio::task::spawn_blocking(move || store.alerts.history(50))
            .await
            .ok()
            .and_then(|r| r.map_err(|e| tracing::warn!("alert history: {e}")).ok())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    axum::Json(AlertsBody { active, recent }).into_response()
}

#[derive(serde::Deserialize)]
struct ReportQuery {
    month: Option<String>,
}

/// `/report?month=current|YYYY-MM`: the monthly usage report as HTML (the month so far, with
/// a projection, for `current`).
async fn report(
    State(st): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<ReportQuery>,
) -> Response {
    let (Some(runtime), Some(store)) = (st.runtime.as_ref().map(|r| r.get()), st.store.clone())
    else {
        return (StatusCode::NOT_FOUND, "no report: this server has no store").into_response();
    };
    let which = q.month.unwrap_or_else(|| "current".into());
    let now = jiff::Timestamp::now();
    let (month, current) = if which == "current" {
        (crate::usage::Month::of(now), true)
    } else {
        match which.parse::<crate::usage::Month>() {
            Ok(m) => (m, false),
            Err(e) => {
                return (StatusCode::BAD_REQUEST, format!("month={which}: {e}")).into_response();
            }
        }
    };
    let html = tokio::task::spawn_blocking(move || {
        let (config, rules) = (&runtime.config, &runtime.rules);
        let r = crate::report::build::build(&store.usage, config, month, now, current, rules)
            .map_err(|e| e.to_string())?;
        Ok::<String, String>(crate::report::render::render(
            &r,
            crate::report::render::Format::Html,
        ))
    })
    .await;
    match html {
        Ok(Ok(body)) => {
            ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
        }
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, format!("report: {e}")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("report: {e}")).into_response(),
    }
}
