//! `GET/POST/DELETE /api/v1/silences`: the silences of `bandwatch silence`, over HTTP, as ops
//! expect from Alertmanager. The same semantics: a silence holds back firing and repeat
//! notices of the alerts it covers (its rule, or every rule, and label matchers `LABEL=VALUE`
//! or `LABEL=~REGEX`) until it ends; the resolved notice of a sent firing still goes out; a
//! running daemon sees changes within seconds. Reading needs `status:read`, changing needs
//! `silence:write`; who set a silence is kept with its reason and each change is logged with
//! the token's or user's name.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::Viewer;
use super::server::AppState;
use crate::rules::silence::Silence;
use crate::store::SilenceStore;
use crate::store::alerts::SilenceRow;

/// `GET /api/v1/silences?all=true`
#[derive(Deserialize)]
pub struct ListQuery {
    /// Also the silences that have ended.
    #[serde(default)]
    all: bool,
}

/// One silence as the API shows it.
#[derive(Serialize)]
struct Shown {
    id: i64,
    rule: Option<String>,
    matchers: BTreeMap<String, String>,
    starts: String,
    ends: String,
    reason: String,
}

fn shown(r: SilenceRow) -> Shown {
    let at = |s: i64| {
        jiff::Timestamp::from_second(s)
            .map(|t| t.to_string())
            .unwrap_or_default()
    };
    Shown {
        id: r.id,
        rule: r.rule,
        matchers: r.matchers,
        starts: at(r.starts),
        ends: at(r.ends),
        reason: r.reason,
    }
}

/// The body of `POST /api/v1/silences`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSilence {
    /// Only this rule (default: every rule).
    rule: Option<String>,
    /// Label matchers; all must hold.
    #[serde(default)]
    matchers: BTreeMap<String, String>,
    /// How long it holds, like `2h` or `3d`.
    #[serde(rename = "for")]
    duration: String,
    /// Why.
    reason: String,
}

fn table(st: &AppState) -> Result<std::sync::Arc<dyn SilenceStore>, Box<Response>> {
    st.store
        .as_ref()
        .map(|s| s.silences.clone())
        .ok_or_else(|| {
            Box::new((StatusCode::NOT_FOUND, "this server has no store\n").into_response())
        })
}

fn bad(msg: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error": msg.into()})),
    )
        .into_response()
}

/// `GET /api/v1/silences`: the silences that have not ended (every one with `?all=true`).
pub async fn list(State(st): State<AppState>, Query(q): Query<ListQuery>) -> Response {
    let table = match table(&st) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let now = jiff::Timestamp::now().as_second();
    let rows =
        tokio::task::spawn_blocking(move || table.silences(if q.all { None } else { Some(now) }))
            .await;
    match rows {
        Ok(Ok(rows)) => axum::Json(rows.into_iter().map(shown).collect::<Vec<_>>()).into_response(),
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, format!("silences: {e}\n")).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("silences: {e}\n"),
        )
            .into_response(),
    }
}

/// `POST /api/v1/silences`: adds one; 201 with its id and end, 400 naming what is wrong.
pub async fn add(
    State(st): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    body: axum::body::Bytes,
) -> Response {
    let table = match table(&st) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let new: NewSilence = match serde_json::from_slice(&body) {
        Ok(n) => n,
        Err(e) => {
            return bad(format!(
                "the body must be JSON like {{\"rule\": \"uplink-attack\", \"matchers\": \
                 {{\"port\": \"eth1\"}}, \"for\": \"2h\", \"reason\": \"...\"}}: {e}"
            ));
        }
    };
    let duration = match new.duration.parse::<crate::config::Duration>() {
        Ok(d) if d.as_secs() > 0 => d,
        Ok(_) => return bad("`for` must be at least 1s"),
        Err(e) => return bad(format!("for: {e}")),
    };
    if new.reason.trim().is_empty() {
        return bad("`reason` must say why");
    }
    if let Some(k) = new.matchers.keys().find(|k| k.trim().is_empty()) {
        return bad(format!("a matcher has an empty label `{k}`"));
    }
    let now = jiff::Timestamp::now().as_second();
    let ends = now.saturating_add(i64::try_from(duration.as_secs()).unwrap_or(i64::MAX));
    let check = Silence {
        id: 0,
        rule: new.rule.clone(),
        matchers: new.matchers.clone(),
        until: jiff::Timestamp::from_second(ends).unwrap_or(jiff::Timestamp::MAX),
        reason: new.reason.clone(),
    };
    if let Err(e) = check.validate() {
        return bad(e);
    }
    let unknown_rule = match (&new.rule, &st.runtime) {
        (Some(r), Some(rt)) => !rt.get().rules.iter().any(|x| &x.name == r),
        _ => false,
    };
    let row = SilenceRow {
        id: 0,
        rule: new.rule,
        matchers: new.matchers,
        starts: now,
        ends,
        reason: format!("{} (set by {})", new.reason.trim(), viewer.who),
    };
    let added = tokio::task::spawn_blocking(move || table.add_silence(&row)).await;
    match added {
        Ok(Ok(id)) => {
            tracing::info!(by = %viewer.who, id, "silence added over HTTP");
            let mut answer = json!({"id": id, "ends": check.until.to_string()});
            if unknown_rule {
                answer["warning"] = json!(
                    "no rule of that name is loaded: the silence covers nothing until one is"
                );
            }
            (StatusCode::CREATED, axum::Json(answer)).into_response()
        }
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("silence not added: {e}\n"),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("silence not added: {e}\n"),
        )
            .into_response(),
    }
}

/// `DELETE /api/v1/silences/{id}`: removes one; 404 when there is none with that id.
pub async fn remove(
    State(st): State<AppState>,
    Extension(viewer): Extension<Viewer>,
    Path(id): Path<i64>,
) -> Response {
    let table = match table(&st) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let removed = tokio::task::spawn_blocking(move || table.remove_silence(id)).await;
    match removed {
        Ok(Ok(true)) => {
            tracing::info!(by = %viewer.who, id, "silence removed over HTTP");
            axum::Json(json!({"removed": id})).into_response()
        }
        Ok(Ok(false)) => {
            (StatusCode::NOT_FOUND, format!("no silence with id {id}\n")).into_response()
        }
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("silence not removed: {e}\n"),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("silence not removed: {e}\n"),
        )
            .into_response(),
    }
}
