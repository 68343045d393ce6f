//! The axum server: shared state, the handlers of the small endpoints, graceful shutdown.
//! The routes and what each needs are in [`super::routes`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Extension;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::net::TcpListener;

use super::auth::{Gate, Viewer, redact};
use super::live::LiveView;
use super::metrics::MetricsSource;
use super::web_config::watch::WebConfigWatch;
use crate::rules::view::AlertsView;

/// Liveness of the daemon's parts, as reported by `/healthz`.
#[derive(Clone, Default)]
pub struct Health {
    parts: Arc<Mutex<BTreeMap<String, PartHealth>>>,
    conditions: Arc<Mutex<BTreeMap<String, String>>>,
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

    /// Raises (`Some(detail)`) or clears (`None`) a condition that needs a person but does
    /// not make the daemon unhealthy (`notification-failing`: the mail server refuses a
    /// login). Shown on the status page and in `/healthz`'s body; the status code stays 200.
    pub fn set_condition(&self, name: &str, detail: Option<String>) {
        let mut g = self
            .conditions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match detail {
            Some(d) => g.insert(name.to_string(), d),
            None => g.remove(name),
        };
    }

    /// What needs attention: parts that do not work and raised conditions, as (name, detail).
    pub fn problems(&self) -> Vec<(String, String)> {
        let parts = self.parts.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<(String, String)> = parts
            .iter()
            .filter(|(_, p)| !p.alive)
            .map(|(n, p)| (n.clone(), p.detail.clone()))
            .collect();
        drop(parts);
        let conditions = self
            .conditions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        out.extend(conditions.iter().map(|(n, d)| (n.clone(), d.clone())));
        out
    }

    fn report(&self) -> (bool, BTreeMap<String, PartHealth>, BTreeMap<String, String>) {
        let g = self.parts.lock().unwrap_or_else(PoisonError::into_inner);
        let c = self
            .conditions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        (g.values().all(|p| p.alive), g.clone(), c.clone())
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
    /// Silences (`/api/v1/silences`).
    pub silences: Arc<dyn crate::store::SilenceStore>,
}

impl StoreView {
    /// The same view with the alert history and silences as a redacted reader may see them.
    pub fn redacted(self, sensitive: redact::Sensitive) -> StoreView {
        StoreView {
            alerts: Arc::new(redact::RedactedAlerts {
                inner: self.alerts,
                sensitive: sensitive.clone(),
            }),
            silences: Arc::new(redact::RedactedSilences {
                inner: self.silences,
                sensitive,
            }),
            ..self
        }
    }

    /// The handles of `store`.
    pub fn of(store: &crate::store::Store) -> StoreView {
        StoreView {
            reader: store.reader(),
            usage: store.usage(),
            alerts: store.alerts(),
            silences: store.silences(),
        }
    }
}

/// Binds the listener; the error names the address.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, std::io::Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

/// Serves on a bound listener until `shutdown` completes: TLS when the web configuration
/// of `[http] web_config` has `tls_server_config`, plain HTTP otherwise. A web configuration
/// that does not load is an error naming its file, line and key.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), std::io::Error> {
    let local = listener.local_addr()?;
    let config = state.runtime.as_ref().map(|r| r.config());
    let limits = config.as_ref().map(|c| c.http.limits).unwrap_or_default();
    let web_path = config.as_ref().and_then(|c| c.http.web_config.clone());
    let web = WebConfigWatch::start(web_path.as_deref()).map_err(|d| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("the web configuration does not load:\n{d}"),
        )
    })?;
    let tls = web
        .current(web_path.as_deref())
        .is_some_and(|w| w.tls.is_some());
    tracing::info!(
        addr = %local,
        tls,
        "HTTP listening: /metrics, /healthz, /api/v1/topology"
    );
    let gate = Gate::new(state.runtime.clone(), local, web.clone());
    if let Some(warning) = gate.exposure() {
        tracing::warn!("{warning}");
    }
    let app = super::routes::router(state, gate, limits);
    let opts = super::listener::Options {
        limits,
        web,
        web_path,
        tls,
    };
    super::listener::run(listener, app, opts, shutdown).await
}

/// `GET /metrics` (rendered by [`super::metrics::handler`]); a redacted reader gets it
/// without customers and money.
pub(crate) async fn metrics(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
    headers: axum::http::HeaderMap,
) -> Response {
    // Only a redacted reader needs a snapshot here (to know what to mask); the others get
    // the streamed body as it is.
    let snap = v.redacted.then(|| st.live.snapshot());
    let full = super::metrics::handler(State(st), headers).await;
    let Some(snap) = snap.filter(|_| full.status() == StatusCode::OK) else {
        return full;
    };
    let (parts, body) = full.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "rendering metrics failed
",
        )
            .into_response();
    };
    let text = String::from_utf8_lossy(&bytes);
    let sensitive = redact::Sensitive::of(&snap.topology, &snap.attributed);
    Response::from_parts(
        parts,
        axum::body::Body::from(redact::metrics(&text, &sensitive)),
    )
}

#[derive(Serialize)]
struct HealthBody {
    status: &'static str,
    parts: BTreeMap<String, PartHealth>,
    conditions: BTreeMap<String, String>,
}

/// `GET /healthz`.
pub(crate) async fn healthz(State(st): State<AppState>) -> Response {
    let (ok, parts, conditions) = st.health.report();
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
            conditions,
        }),
    )
        .into_response()
}

/// `/-/healthy`, as Prometheus names it: 200 while the process serves HTTP (liveness).
pub(crate) async fn healthy() -> Response {
    (StatusCode::OK, "bandwatch is Healthy.\n").into_response()
}

/// `/-/ready`, as Prometheus names it: 200 while every part of the daemon works (the same
/// judgement as `/healthz`, in plain text), 503 naming the parts that do not.
pub(crate) async fn ready(State(st): State<AppState>) -> Response {
    let (ok, parts, _) = st.health.report();
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

/// `GET /api/v1/topology`; a redacted reader gets it without customers and routes.
pub(crate) async fn topology(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
) -> Response {
    let snap = st.live.snapshot();
    if v.redacted {
        let s = redact::Sensitive::of(&snap.topology, &snap.attributed);
        return axum::Json(redact::topology(&snap.topology, &s)).into_response();
    }
    axum::Json(snap.topology.as_ref().clone()).into_response()
}

/// `GET /api/v1/tokens`: the configured API tokens (names, scopes, expiry, last use).
pub(crate) async fn tokens(Extension(gate): Extension<Gate>) -> Response {
    axum::Json(gate.token_uses()).into_response()
}

#[derive(Serialize)]
struct AlertsBody {
    active: Vec<crate::rules::view::ActiveAlert>,
    recent: Vec<crate::store::alerts::HistoryRow>,
}

/// Firing and pending alerts, and the last 50 state changes.
pub(crate) async fn alerts(
    State(st): State<AppState>,
    Extension(v): Extension<Viewer>,
) -> Response {
    let mut active = st.alerts.active();
    let mut store = st.store.clone();
    if v.redacted {
        let snap = st.live.snapshot();
        let s = redact::Sensitive::of(&snap.topology, &snap.attributed);
        active = active
            .into_iter()
            .map(|a| redact::active_alert(a, &s))
            .collect();
        store = store.map(|st| st.redacted(s));
    }
    let recent = match store {
        Some(store) => tokio::task::spawn_blocking(move || store.alerts.history(50))
            .await
            .ok()
            .and_then(|r| r.map_err(|e| tracing::warn!("alert history: {e}")).ok())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    axum::Json(AlertsBody { active, recent }).into_response()
}

/// The query of `/report`.
#[derive(serde::Deserialize)]
pub(crate) struct ReportQuery {
    month: Option<String>,
}

/// `/report?month=current|YYYY-MM`: the monthly usage report as HTML (the month so far, with
/// a projection, for `current`).
pub(crate) async fn report(
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
