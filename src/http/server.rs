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
use super::metrics::{MetricsSource, render};

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
}

/// The router with every endpoint.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(super::status::page))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/api/v1/topology", get(topology))
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

async fn metrics(State(st): State<AppState>) -> Response {
    // Rendering 10k ports takes milliseconds; do it off the async workers anyway.
    let body = tokio::task::spawn_blocking(move || render(&st.live.snapshot(), &st.sources)).await;
    match body {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("rendering metrics failed: {e}"),
        )
            .into_response(),
    }
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

async fn topology(State(st): State<AppState>) -> Response {
    let snap = st.live.snapshot();
    axum::Json(snap.topology.as_ref().clone()).into_response()
}
