//! `POST /-/reload`: asks the daemon to reload its configuration and rule files, like
//! SIGHUP, and answers with the outcome (Prometheus's lifecycle endpoint): 200 with what
//! changed, or 500 with every problem found while the running configuration stays in force.
//! It changes what the daemon does, so it needs the scope `admin` (checked by the gate).

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::auth::Viewer;
use super::server::AppState;

/// The handler.
pub async fn post_reload(
    State(st): State<AppState>,
    Extension(viewer): Extension<Viewer>,
) -> Response {
    let Some(reload) = st.reload.clone() else {
        return (
            StatusCode::NOT_FOUND,
            "reload is not available on this server\n",
        )
            .into_response();
    };
    tracing::info!(by = %viewer.who, "reload requested over HTTP");
    let (tx, rx) = tokio::sync::oneshot::channel();
    if reload.send(tx).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "the daemon is stopping\n").into_response();
    }
    match rx.await {
        Ok(Ok(summary)) => (StatusCode::OK, format!("reloaded: {summary}\n")).into_response(),
        Ok(Err(why)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reload rejected, the running configuration stays in force:\n{why}\n"),
        )
            .into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "the daemon is stopping\n").into_response(),
    }
}
