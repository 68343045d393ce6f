//! Who may see and change what on the listener. Every route of [`super::routes`] names the
//! scope it needs; the [`Gate`] finds who is asking (an API token, a basic-auth user, or
//! nobody) and lets the request through with a [`Viewer`] the handler reads, or answers:
//!
//! - 401 when the request carries no credential that works (none, a wrong password, an
//!   unknown or expired token), with `WWW-Authenticate`;
//! - 403 when the credential is good but lacks the scope.
//!
//! Anonymous readers (no `Authorization` header):
//! - on a listener bound to loopback with nothing protected (no `[[api.token]]`, no
//!   basic-auth user, no required client certificate): every read scope, nothing hidden;
//! - otherwise the scopes of `[http] anonymous`, by default `metrics:read` and `status:read`
//!   when nothing is protected and none when something is, and always [`Viewer::redacted`]:
//!   no customer name, email address or money reaches them, and the routes that cannot be
//!   shown without them (`/report`, silences) answer 401.
//!
//! Writes never go to anonymous readers. The legacy `[api] token` works as a `usage:write`
//! and `admin` token named `api.token`.

pub mod redact;
pub mod token;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::config::{Config, Scope, Scopes};
use crate::runtime::RuntimeHandle;

/// Who is asking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Who {
    /// No credential.
    Anonymous,
    /// An API token, by name.
    Token(String),
    /// A basic-auth user of the web configuration.
    User(String),
}

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Who::Anonymous => f.write_str("anonymous"),
            Who::Token(n) => write!(f, "token {n}"),
            Who::User(n) => write!(f, "user {n}"),
        }
    }
}

/// What the handler of an admitted request knows about who asked.
#[derive(Clone, Debug)]
pub struct Viewer {
    /// Who.
    pub who: Who,
    /// What they may do.
    pub scopes: Scopes,
    /// True for anonymous readers that must not see customer names, emails or money.
    pub redacted: bool,
}

impl Viewer {
    /// A viewer who sees everything (handlers called without the gate, tests).
    pub fn trusted() -> Viewer {
        Viewer {
            who: Who::Anonymous,
            scopes: Scopes::of(Scope::ALL),
            redacted: false,
        }
    }
}

/// When a token was last used, by name.
#[derive(Clone, Debug, Serialize)]
pub struct TokenUse {
    /// The token's name.
    pub name: String,
    /// Its scopes.
    pub scopes: Scopes,
    /// When it stops working (RFC 3339), if ever.
    pub expires: Option<String>,
    /// Unix seconds of its last admitted request since the daemon started.
    pub last_used: Option<i64>,
}

/// The authentication and authorization state of one listener.
#[derive(Clone)]
pub struct Gate {
    runtime: Option<RuntimeHandle>,
    loopback: bool,
    last_use: Arc<Mutex<HashMap<String, i64>>>,
}

/// What a route needs, as the router's table says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Need {
    /// The scope; `None` for routes open to everyone (`/healthz`).
    pub scope: Option<Scope>,
    /// The handler can answer a redacted anonymous reader (no names, no money).
    pub redactable: bool,
}

/// Why a request is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 401: no credential that works.
    Unauthenticated(String),
    /// 403: a good credential without the scope.
    Forbidden(String),
}

impl Gate {
    /// The gate of a listener bound to `local` that reads the model in force from `runtime`
    /// (`None`: no configuration, nothing protected).
    pub fn new(runtime: Option<RuntimeHandle>, local: std::net::SocketAddr) -> Gate {
        Gate {
            runtime,
            loopback: local.ip().is_loopback(),
            last_use: Arc::default(),
        }
    }

    fn config(&self) -> Option<Arc<Config>> {
        self.runtime.as_ref().map(RuntimeHandle::config)
    }

    /// True when a credential protects the listener (a scoped token, a basic-auth user, a
    /// required client certificate).
    fn protected(config: Option<&Config>) -> bool {
        config.is_some_and(|c| !c.api.tokens.is_empty())
    }

    /// What anonymous readers get: their scopes and whether they are redacted.
    fn anonymous(&self, config: Option<&Config>) -> Viewer {
        let protected = Self::protected(config);
        let open = self.loopback && !protected;
        let default = match (protected, self.loopback) {
            (true, _) => Scopes::NONE,
            (false, true) => Scopes::of(Scope::READ),
            (false, false) => Scopes::of([Scope::MetricsRead, Scope::StatusRead]),
        };
        Viewer {
            who: Who::Anonymous,
            scopes: config.and_then(|c| c.http.anonymous).unwrap_or(default),
            redacted: !open,
        }
    }

    /// Decides on a request with `headers` for a route that needs `need`.
    pub fn admit(&self, headers: &HeaderMap, need: Need) -> Result<Viewer, Refusal> {
        let config = self.config();
        let config = config.as_deref();
        let viewer = match headers.get(header::AUTHORIZATION) {
            None => self.anonymous(config),
            Some(value) => self.authenticate(value, config)?,
        };
        let Some(scope) = need.scope else {
            return Ok(viewer);
        };
        match (&viewer.who, viewer.scopes.has(scope)) {
            (Who::Anonymous, true) if viewer.redacted && !need.redactable => {
                Err(Refusal::Unauthenticated(format!(
                    "this needs a credential with the scope `{scope}`"
                )))
            }
            (_, true) => Ok(viewer),
            (Who::Anonymous, false) => Err(Refusal::Unauthenticated(format!(
                "this needs a credential with the scope `{scope}`"
            ))),
            (who, false) => Err(Refusal::Forbidden(format!(
                "{who} does not have the scope `{scope}`"
            ))),
        }
    }

    fn authenticate(
        &self,
        value: &HeaderValue,
        config: Option<&Config>,
    ) -> Result<Viewer, Refusal> {
        let bad = |why: &str| Refusal::Unauthenticated(why.to_string());
        let value = value
            .to_str()
            .map_err(|_| bad("the Authorization header is not text"))?;
        let (scheme, credential) = value.split_once(' ').unwrap_or((value, ""));
        let credential = credential.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            return self.bearer(credential, config);
        }
        Err(bad("unsupported authorization scheme: use Bearer"))
    }

    fn bearer(&self, given: &str, config: Option<&Config>) -> Result<Viewer, Refusal> {
        let invalid = || Refusal::Unauthenticated("the token is not valid".into());
        let Some(config) = config else {
            return Err(invalid());
        };
        if given.is_empty() {
            return Err(invalid());
        }
        let hash = token::sha256_hex(given);
        // Every entry is compared, each in constant time: the answer's timing says nothing
        // about which token came close.
        let mut found = None;
        for t in &config.api.tokens {
            if token::same(hash.as_bytes(), t.sha256.as_bytes()) {
                found = Some(t);
            }
        }
        let legacy = config
            .api
            .token
            .as_ref()
            .is_some_and(|t| token::same(given.as_bytes(), t.expose().as_bytes()));
        let now = jiff::Timestamp::now();
        let (name, scopes) = match (found, legacy) {
            (Some(t), _) => {
                if t.expires.is_some_and(|e| e <= now) {
                    return Err(Refusal::Unauthenticated("the token has expired".into()));
                }
                (t.name.clone(), t.scopes)
            }
            (None, true) => (
                "api.token".to_string(),
                Scopes::of([Scope::UsageWrite, Scope::Admin]),
            ),
            (None, false) => return Err(invalid()),
        };
        self.last_use
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.clone(), now.as_second());
        Ok(Viewer {
            who: Who::Token(name),
            scopes,
            redacted: false,
        })
    }

    /// Every configured token with its last use.
    pub fn token_uses(&self) -> Vec<TokenUse> {
        let Some(config) = self.config() else {
            return Vec::new();
        };
        let used = self.last_use.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<TokenUse> = config
            .api
            .tokens
            .iter()
            .map(|t| TokenUse {
                name: t.name.clone(),
                scopes: t.scopes,
                expires: t.expires.map(|e| e.to_string()),
                last_used: used.get(&t.name).copied(),
            })
            .collect();
        if config.api.token.is_some() {
            out.push(TokenUse {
                name: "api.token".into(),
                scopes: Scopes::of([Scope::UsageWrite, Scope::Admin]),
                expires: None,
                last_used: used.get("api.token").copied(),
            });
        }
        out
    }

    /// The challenge of a 401.
    fn challenge(&self) -> &'static str {
        "Bearer realm=\"bandwatch\""
    }

    /// The answer to a refused request: its status, a challenge on 401, and one line saying
    /// why (never the credential).
    pub fn refuse(&self, refusal: Refusal) -> Response {
        match refusal {
            Refusal::Unauthenticated(why) => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, self.challenge())],
                format!("401 unauthorized: {why}\n"),
            )
                .into_response(),
            Refusal::Forbidden(why) => {
                (StatusCode::FORBIDDEN, format!("403 forbidden: {why}\n")).into_response()
            }
        }
    }
}

/// The gate and the need of one route, as a middleware's state.
#[derive(Clone)]
pub struct Guarded {
    /// The listener's gate.
    pub gate: Gate,
    /// What the route needs.
    pub need: Need,
}

/// The middleware in front of every route: admits the request (with its [`Viewer`] as an
/// extension) or answers 401/403.
pub async fn guard(State(g): State<Guarded>, mut req: Request, next: Next) -> Response {
    match g.gate.admit(req.headers(), g.need) {
        Ok(viewer) => {
            req.extensions_mut().insert(viewer);
            req.extensions_mut().insert(g.gate.clone());
            next.run(req).await
        }
        Err(refusal) => {
            tracing::debug!(path = %req.uri().path(), "refused: {refusal:?}");
            g.gate.refuse(refusal)
        }
    }
}
