//! `POST /api/v1/usage`: usage records as CSV (`customer,start,end,bytes[,source]`, the same
//! format as `bandwatch import`), for a token with the scope `usage:write` (the gate answers
//! 401 or 403 before this handler runs). All or nothing: 400 with the first lines' errors (and
//! how many there were) and nothing imported, 200 with what was imported; each import is
//! logged with the token's name.
//!
//! The body is read as a stream (within `[http] max_import_body`, 413 beyond, and the body
//! timeout, 408) and fed row by row to the same import as `bandwatch import` on a blocking
//! thread, which stages the records apart from the stored ones: the daemon's sweep writer is
//! kept from the database only for the short merge at the end.

use std::io::Read;
use std::pin::Pin;

use axum::Extension;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper::body::Body as _;
use jiff::Timestamp;
use serde_json::json;
use tokio::sync::mpsc;

use super::auth::{BodyLimits, Viewer};
use super::server::AppState;
use crate::report::import::{ImportError, import_from};
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

/// Chunks of the body on their way to the import's thread.
type Chunk = Result<Bytes, std::io::Error>;

/// The handler.
pub async fn post_usage(
    State(st): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    limits: Option<Extension<BodyLimits>>,
    body: Body,
) -> Response {
    let Some(api) = st.usage.clone() else {
        return (
            StatusCode::NOT_FOUND,
            "usage import is not enabled on this server\n",
        )
            .into_response();
    };
    let limits = limits.map_or(
        BodyLimits {
            max_body: 2 * 1024 * 1024,
            body_timeout: std::time::Duration::from_secs(60),
        },
        |Extension(l)| l,
    );
    let config = api.runtime.config();
    let (tx, rx) = mpsc::channel::<Chunk>(16);
    let import = tokio::task::spawn_blocking(move || {
        let input = ChannelReader {
            rx,
            chunk: Bytes::new(),
        };
        import_from(
            &api.book,
            input,
            &config.topology,
            Timestamp::now(),
            &mut |_| {},
        )
    });
    let problem = pump(body, tx, limits).await;
    let done = import.await;
    if let Some((code, why)) = problem {
        tracing::info!(by = %viewer.who, "usage import over HTTP: {why}");
        return (code, [(header::CONNECTION, "close")], format!("{why}\n")).into_response();
    }
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
        Ok(Err(ImportError::Invalid(invalid))) => {
            let errors: Vec<_> = invalid
                .errors
                .iter()
                .map(|e| json!({"line": e.line, "message": e.message}))
                .collect();
            (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({
                    "imported": 0,
                    "errors": errors,
                    "error_count": invalid.total,
                })),
            )
                .into_response()
        }
        Ok(Err(ImportError::Read(e))) => (
            StatusCode::BAD_REQUEST,
            [(header::CONNECTION, "close")],
            format!("nothing imported: the body could not be read: {e}\n"),
        )
            .into_response(),
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

/// Reads the body frame by frame into `tx`, within the size and time limits. Returns the
/// answer owed when the body broke a limit or could not be read (the import is told, and
/// imports nothing); `None` when the body was read whole, or the import stopped reading early.
async fn pump(
    mut body: Body,
    tx: mpsc::Sender<Chunk>,
    limits: BodyLimits,
) -> Option<(StatusCode, String)> {
    let deadline = tokio::time::Instant::now() + limits.body_timeout;
    let mut total: usize = 0;
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx));
        let frame = match tokio::time::timeout_at(deadline, frame).await {
            Err(_) => {
                return fail(
                    &tx,
                    StatusCode::REQUEST_TIMEOUT,
                    format!("the body did not arrive within {:?}", limits.body_timeout),
                )
                .await;
            }
            Ok(None) => return None,
            Ok(Some(Err(_))) => {
                return fail(
                    &tx,
                    StatusCode::BAD_REQUEST,
                    "the body could not be read".into(),
                )
                .await;
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total = total.saturating_add(data.len());
        if total > limits.max_body {
            return fail(
                &tx,
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than {} bytes", limits.max_body),
            )
            .await;
        }
        if tx.send(Ok(data)).await.is_err() {
            // The import stopped reading (a bad header): its answer says why.
            return None;
        }
    }
}

/// Tells the import that the body failed (so it imports nothing) and gives the answer owed.
async fn fail(
    tx: &mpsc::Sender<Chunk>,
    code: StatusCode,
    why: String,
) -> Option<(StatusCode, String)> {
    let _ = tx.send(Err(std::io::Error::other(why.clone()))).await;
    Some((code, why))
}

/// The body as `Read` for the import's blocking thread.
struct ChannelReader {
    rx: mpsc::Receiver<Chunk>,
    chunk: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.chunk = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}
