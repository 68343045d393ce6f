//! `POST /api/v1/usage`: usage records as CSV (`customer,start,end,bytes[,source]`, the same
//! format as `bandwatch import`), for a token with the scope `usage:write` (the gate answers
//! 401 or 403 before this handler runs). All or nothing: 400 with every line's error and
//! nothing imported, 200 with what was imported; each import is logged with the token's
//! name. Bodies are limited by axum's default (2 MB, answered with 413); larger files go
//! through `bandwatch import`.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde_json::json;

use super::auth::Viewer;
use super::server::AppState;
use crate::report::import::{ImportError, import};
use crate::store::UsageBook;

/// What the usage endpoint needs: the store's usage book, and the configuration in force (the
/// customers records may name, as of the last reload).
#[derive(Clone)]
pub struct UsageApi {
    /// Where records are written (`Store::usage`).
    pub book: UsageBook,
    /// The model in force: the customers records may name.
    pub runtime: crate::runtime::RuntimeHandle,
}

/// The handler.
pub async fn post_usage(
    State(st): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    body: String,
) -> Response {
    let Some(api) = st.usage.clone() else {
        return (
            StatusCode::NOT_FOUND,
            "usage import is not enabled on this server\n",
        )
            .into_response();
    };
    let config = api.runtime.config();
    let done = tokio::task::spawn_blocking(move || {
        let mut book = api.book.clone();
        import(&mut book, &body, &config.topology, Timestamp::now())
    })
    .await;
    match done {
        Ok(Ok(w)) => {
            tracing::info!(
                by = %viewer.who,
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
