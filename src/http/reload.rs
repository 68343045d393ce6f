//! `POST /-/reload`: asks the daemon to reload its configuration and rule files, like
//! SIGHUP, and answers with the outcome (Prometheus's lifecycle endpoint): 200 with what
//! changed, or 500 with every problem found while the running configuration stays in force.
//! It changes what the daemon does, so it takes the bearer token of `[api] token`, like the
//! usage import; without a token it is disabled (404).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::server::AppState;
use super::usage::require_token;

/// The handler.
pub async fn post_reload(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let (Some(reload), Some(runtime)) = (st.reload.clone(), st.runtime.clone()) else {
        return (
            StatusCode::NOT_FOUND,
            "reload is not available on this server\n",
        )
            .into_response();
    };
    if let Err(refused) = require_token(
        &runtime.config(),
        &headers,
        "reload over HTTP (SIGHUP works)",
    ) {
        return *refused;
    }
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
