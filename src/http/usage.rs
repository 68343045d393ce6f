//! `POST /api/v1/usage`: usage records as CSV (`customer,start,end,bytes[,source]`, the same
//! format as `bandwatch import`), authorized by the bearer token of `[api] token`. All or
//! nothing: 401 without the token, 400 with every line's error and nothing imported, 200
//! with what was imported. The only handler that writes to the store. Bodies are limited by
//! axum's default (2 MB, answered with 413); larger files go through `bandwatch import`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde_json::json;

use super::server::AppState;
use crate::config::Secret;
use crate::report::import::{ImportError, import};
use crate::store::UsageBook;

/// What the usage endpoint needs: the store's usage book, and the configuration in force (its
/// token and customers, as of the last reload).
#[derive(Clone)]
pub struct UsageApi {
    /// Where records are written (`Store::usage`).
    pub book: UsageBook,
    /// The model in force: `[api] token` (without one the endpoint is disabled) and the
    /// customers records may name.
    pub runtime: crate::runtime::RuntimeHandle,
}

/// Compares without stopping at the first difference (no timing hint about the token).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// True when the request carries `Authorization: Bearer <token>` with the `[api] token`.
fn authorized(headers: &HeaderMap, token: &Secret) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| same(given.trim().as_bytes(), token.expose().as_bytes()))
}

/// Lets a request through when it carries the bearer token of `[api] token`: 404 when no
/// token is configured (`what` is disabled), 401 without the right one.
pub(crate) fn require_token(
    config: &crate::config::Config,
    headers: &HeaderMap,
    what: &str,
) -> Result<(), Box<Response>> {
    let Some(token) = config.api.token.as_ref() else {
        return Err(Box::new(
            (
                StatusCode::NOT_FOUND,
                format!("{what} is disabled: set [api] token in the configuration\n"),
            )
                .into_response(),
        ));
    };
    if !authorized(headers, token) {
        return Err(Box::new(
            (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "a valid `Authorization: Bearer <token>` header is required\n",
            )
                .into_response(),
        ));
    }
    Ok(())
}

/// The handler.
pub async fn post_usage(State(st): State<AppState>, headers: HeaderMap, body: String) -> Response {
    let Some(api) = st.usage.clone() else {
        return (
            StatusCode::NOT_FOUND,
            "usage import is not enabled on this server\n",
        )
            .into_response();
    };
    let config = api.runtime.config();
    if let Err(refused) = require_token(&config, &headers, "usage import") {
        return *refused;
    }
    let done = tokio::task::spawn_blocking(move || {
        let mut book = api.book.clone();
        import(&mut book, &body, &config.topology, Timestamp::now())
    })
    .await;
    match done {
        Ok(Ok(w)) => {
            tracing::info!(
                inserted = w.inserted,
                replaced = w.replaced,
                unchanged = w.unchanged,
                "usage records imported over HTTP"
            );
            axum::Json(json!({
                "inserted": w.inserted,
                "replaced": w.replaced,
                "unchanged": w.unchanged,
            }))
            .into_response()
        }
        Ok(Err(ImportError::Invalid(errs))) => {
            let errors: Vec<_> = errs
                .iter()
                .map(|e| json!({"line": e.line, "message": e.message}))
                .collect();
            (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"imported": 0, "errors": errors})),
            )
                .into_response()
        }
        Ok(Err(ImportError::Store(e))) => {
            tracing::error!(error = %e, "usage import over HTTP failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("nothing imported: {e}\n"),
            )
                .into_response()
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("nothing imported: {e}\n"),
        )
            .into_response(),
    }
}
