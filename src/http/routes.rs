//! Every endpoint of the listener in one table: method, path, the scope it needs, whether it
//! can answer a redacted anonymous reader, and its handler. The router is built from this
//! table only, so an endpoint cannot exist without a scope, and the tests walk the same table
//! (an endpoint added here is checked for what it shows anonymous readers).

use axum::Router;
use axum::http::Method;
use axum::routing::{MethodRouter, delete, get, post};

use axum::extract::DefaultBodyLimit;

use super::auth::{Gate, Guarded, Need, guard, security_headers};
use super::server::AppState;
use crate::config::{HttpLimits, Scope};

/// One endpoint.
#[derive(Clone)]
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// Path, with `{param}` segments.
    pub path: &'static str,
    /// What it needs.
    pub need: Need,
    /// What it is, for people.
    pub summary: &'static str,
    /// It takes large bodies (`[http] max_import_body` instead of `max_body`), read by its
    /// handler as a stream.
    pub large_body: bool,
    handler: fn() -> MethodRouter<AppState>,
}

const fn need(scope: Scope, redactable: bool) -> Need {
    Need {
        scope: Some(scope),
        redactable,
    }
}

/// The table.
pub fn table() -> Vec<Route> {
    use Scope::*;
    vec![
        Route {
            method: Method::GET,
            path: "/",
            need: need(StatusRead, true),
            summary: "the status page",
            large_body: false,
            handler: || get(super::status::page),
        },
        Route {
            method: Method::GET,
            path: "/metrics",
            need: need(MetricsRead, true),
            summary: "Prometheus exposition",
            large_body: false,
            handler: || get(super::server::metrics),
        },
        Route {
            method: Method::GET,
            path: "/healthz",
            need: Need {
                scope: None,
                redactable: true,
            },
            summary: "liveness of the daemon's parts",
            large_body: false,
            handler: || get(super::server::healthz),
        },
        Route {
            method: Method::GET,
            path: "/-/healthy",
            need: Need {
                scope: None,
                redactable: true,
            },
            summary: "liveness (Prometheus's name)",
            large_body: false,
            handler: || get(super::server::healthy),
        },
        Route {
            method: Method::GET,
            path: "/-/ready",
            need: Need {
                scope: None,
                redactable: true,
            },
            summary: "readiness (Prometheus's name)",
            large_body: false,
            handler: || get(super::server::ready),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/topology",
            need: need(StatusRead, true),
            summary: "sites, switches, ports, product lines (and customers, routes)",
            large_body: false,
            handler: || get(super::server::topology),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/alerts",
            need: need(StatusRead, true),
            summary: "pending and firing alerts, the last state changes",
            large_body: false,
            handler: || get(super::server::alerts),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/maintenance",
            need: need(StatusRead, true),
            summary: "maintenance windows: what they cover, whether open, the next occurrences",
            large_body: false,
            handler: || get(super::maintenance::api),
        },
        Route {
            method: Method::GET,
            path: "/report",
            need: need(ReportRead, false),
            summary: "the monthly usage report with money",
            large_body: false,
            handler: || get(super::server::report),
        },
        Route {
            method: Method::POST,
            path: "/api/v1/usage",
            need: need(UsageWrite, false),
            summary: "usage records import (CSV)",
            large_body: true,
            handler: || post(super::usage::post_usage),
        },
        Route {
            method: Method::POST,
            path: "/-/reload",
            need: need(Admin, false),
            summary: "reload the configuration",
            large_body: false,
            handler: || post(super::reload::post_reload),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/silences",
            need: need(StatusRead, false),
            summary: "silences (`?all=true`: the ended ones too)",
            large_body: false,
            handler: || get(super::silences::list),
        },
        Route {
            method: Method::POST,
            path: "/api/v1/silences",
            need: need(SilenceWrite, false),
            summary: "add a silence",
            large_body: false,
            handler: || post(super::silences::add),
        },
        Route {
            method: Method::DELETE,
            path: "/api/v1/silences/{id}",
            need: need(SilenceWrite, false),
            summary: "remove a silence",
            large_body: false,
            handler: || delete(super::silences::remove),
        },
        Route {
            method: Method::GET,
            path: "/api/v1/tokens",
            need: need(Admin, false),
            summary: "API tokens with their last use",
            large_body: false,
            handler: || get(super::server::tokens),
        },
    ]
}

/// The router: every route of [`table`] behind the gate, with the listener's body limits,
/// and security headers on every answer.
pub fn router(state: AppState, gate: Gate, limits: HttpLimits) -> Router {
    let mut r = Router::new();
    for route in table() {
        let max = if route.large_body {
            limits.max_import_body
        } else {
            limits.max_body
        };
        let max_body = usize::try_from(max.bytes()).unwrap_or(usize::MAX);
        let guarded = Guarded {
            gate: gate.clone(),
            need: route.need,
            max_body,
            body_timeout: limits.body_timeout.std(),
            streamed: route.large_body,
        };
        let m = (route.handler)()
            .layer(DefaultBodyLimit::max(max_body))
            .route_layer(axum::middleware::from_fn_with_state(guarded, guard));
        r = r.route(route.path, m);
    }
    r.layer(axum::middleware::from_fn_with_state(gate, security_headers))
        .with_state(state)
}
