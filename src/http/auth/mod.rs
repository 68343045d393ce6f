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

pub mod basic;
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

use super::web_config::WebConfig;
use super::web_config::watch::WebConfigWatch;
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
    /// A client whose certificate the client CA of the web configuration verified.
    Certificate,
}

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Who::Anonymous => f.write_str("anonymous"),
            Who::Token(n) => write!(f, "token {n}"),
            Who::User(n) => write!(f, "user {n}"),
            Who::Certificate => f.write_str("client certificate"),
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

/// What the listener knows about a connection, as a request extension.
#[derive(Clone, Copy, Debug, Default)]
pub struct Conn {
    /// The client presented a certificate the client CA verified.
    pub verified_client_cert: bool,
}

/// The authentication and authorization state of one listener.
#[derive(Clone)]
pub struct Gate {
    runtime: Option<RuntimeHandle>,
    loopback: bool,
    last_use: Arc<Mutex<HashMap<String, i64>>>,
    web: WebConfigWatch,
    basic: basic::Verified,
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
    pub fn new(
        runtime: Option<RuntimeHandle>,
        local: std::net::SocketAddr,
        web: WebConfigWatch,
    ) -> Gate {
        Gate {
            runtime,
            loopback: local.ip().is_loopback(),
            last_use: Arc::default(),
            web,
            basic: basic::Verified::default(),
        }
    }

    /// The web configuration in force (re-read when its files changed).
    pub fn web(&self) -> Option<Arc<WebConfig>> {
        let config = self.config();
        self.web
            .current(config.as_deref().and_then(|c| c.http.web_config.as_deref()))
    }

    fn config(&self) -> Option<Arc<Config>> {
        self.runtime.as_ref().map(RuntimeHandle::config)
    }

    /// True when a credential protects the listener (a scoped token, a basic-auth user, a
    /// required client certificate).
    pub fn protected(config: Option<&Config>, web: Option<&WebConfig>) -> bool {
        config.is_some_and(|c| !c.api.tokens.is_empty()) || web.is_some_and(WebConfig::protects)
    }

    /// What anonymous readers get: their scopes and whether they are redacted.
    fn anonymous(&self, config: Option<&Config>, web: Option<&WebConfig>) -> Viewer {
        let protected = Self::protected(config, web);
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

    /// Decides on a request with `headers`, over a connection `conn`, for a route that
    /// needs `need`.
    pub async fn admit(
        &self,
        headers: &HeaderMap,
        conn: Conn,
        need: Need,
    ) -> Result<Viewer, Refusal> {
        let config = self.config();
        let config = config.as_deref();
        let web = self.web();
        let viewer = match headers.get(header::AUTHORIZATION) {
            None if conn.verified_client_cert => Viewer {
                who: Who::Certificate,
                scopes: config
                    .and_then(|c| c.http.client_cert_scopes)
                    .unwrap_or(Scopes::of(crate::config::defaults::USER_SCOPES)),
                redacted: false,
            },
            None => self.anonymous(config, web.as_deref()),
            Some(value) => self.authenticate(value, config, web.as_deref()).await?,
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

    async fn authenticate(
        &self,
        value: &HeaderValue,
        config: Option<&Config>,
        web: Option<&WebConfig>,
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
        if scheme.eq_ignore_ascii_case("basic") {
            let user = self
                .basic
                .check(credential, web)
                .await
                .ok_or_else(|| bad("wrong user name or password"))?;
            let scopes = config
                .and_then(|c| c.http.user_scopes.get(&user).copied())
                .unwrap_or(Scopes::of(crate::config::defaults::USER_SCOPES));
            return Ok(Viewer {
                who: Who::User(user),
                scopes,
                redacted: false,
            });
        }
        Err(bad("unsupported authorization scheme: use Bearer or Basic"))
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

    /// The warning for a listener that other machines reach with nothing protecting it.
    pub fn exposure(&self) -> Option<String> {
        let config = self.config();
        exposure(self.loopback, config.as_deref(), self.web().as_deref())
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

    /// The answer to a refused request: its status, a challenge on 401 (Basic too when the
    /// web configuration has users, so a browser asks for them), and one line saying why
    /// (never the credential).
    pub fn refuse(&self, refusal: Refusal) -> Response {
        match refusal {
            Refusal::Unauthenticated(why) => {
                let mut r = (
                    StatusCode::UNAUTHORIZED,
                    format!("401 unauthorized: {why}\n"),
                )
                    .into_response();
                let h = r.headers_mut();
                if self.web().is_some_and(|w| !w.users.is_empty()) {
                    h.append(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"bandwatch\", charset=\"UTF-8\""),
                    );
                }
                h.append(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"bandwatch\""),
                );
                r
            }
            Refusal::Forbidden(why) => {
                (StatusCode::FORBIDDEN, format!("403 forbidden: {why}\n")).into_response()
            }
        }
    }
}

/// The warning `check` prints and the daemon logs when the listener (`listen`) is reachable
/// from other machines and nothing protects it; `None` otherwise.
pub fn exposure(
    loopback: bool,
    config: Option<&Config>,
    web: Option<&WebConfig>,
) -> Option<String> {
    if loopback || Gate::protected(config, web) {
        return None;
    }
    let addr = config.map_or_else(
        || "the listener".to_string(),
        |c| c.daemon.listen.to_string(),
    );
    Some(format!(
        "{addr} is reachable from other machines and nothing protects it: anonymous readers \
         get /metrics and the status page without customer names or money, and /report and \
         every write are refused; set basic_auth_users in the web configuration \
         (`[http] web_config`) or `[[api.token]]` (see README, \"Securing the listener\")"
    ))
}

/// The gate and the need of one route, as a middleware's state.
#[derive(Clone)]
pub struct Guarded {
    /// The listener's gate.
    pub gate: Gate,
    /// What the route needs.
    pub need: Need,
    /// The largest body the route takes.
    pub max_body: usize,
    /// Time a client has to send the whole body.
    pub body_timeout: std::time::Duration,
    /// The handler reads the body as a stream, within [`BodyLimits`] (a request extension),
    /// instead of the gate reading it whole first.
    pub streamed: bool,
}

/// The size and time limits of a streamed body, handed to its handler as an extension.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimits {
    /// The largest body the route takes.
    pub max_body: usize,
    /// Time a client has to send the whole body.
    pub body_timeout: std::time::Duration,
}

/// The middleware in front of every route: admits the request (with its [`Viewer`] as an
/// extension) or answers 401/403; then reads the body within the route's size limit (413)
/// and the body timeout (408), so no handler waits on a slow client and nobody unauthorized
/// makes the daemon read a byte of body.
pub async fn guard(State(g): State<Guarded>, mut req: Request, next: Next) -> Response {
    let conn = req.extensions().get::<Conn>().copied().unwrap_or_default();
    match g.gate.admit(req.headers(), conn, g.need).await {
        Ok(viewer) => {
            req.extensions_mut().insert(viewer);
            req.extensions_mut().insert(g.gate.clone());
        }
        Err(refusal) => {
            tracing::debug!(path = %req.uri().path(), "refused: {refusal:?}");
            return g.gate.refuse(refusal);
        }
    }
    if g.streamed {
        req.extensions_mut().insert(BodyLimits {
            max_body: g.max_body,
            body_timeout: g.body_timeout,
        });
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let read = axum::body::to_bytes(body, g.max_body);
    let bytes = match tokio::time::timeout(g.body_timeout, read).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            // http-body-util's LengthLimitError, somewhere in the chain.
            let mut cause: Option<&dyn std::error::Error> = Some(&e);
            let mut too_big = false;
            while let Some(c) = cause {
                too_big |= c.to_string().contains("length limit exceeded");
                cause = c.source();
            }
            let (code, why) = if too_big {
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the body is larger than {} bytes", g.max_body),
                )
            } else {
                (StatusCode::BAD_REQUEST, "the body could not be read".into())
            };
            return (code, [(header::CONNECTION, "close")], format!("{why}\n")).into_response();
        }
        Err(_) => {
            tracing::info!(path = %parts.uri.path(), "a client sent its body too slowly: cut off");
            return (
                StatusCode::REQUEST_TIMEOUT,
                [(header::CONNECTION, "close")],
                format!("the body did not arrive within {:?}\n", g.body_timeout),
            )
                .into_response();
        }
    };
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

/// Security headers on every answer: no MIME sniffing, no framing, no referrer; on HTML a
/// content security policy without scripts; then the web configuration's own headers.
pub async fn security_headers(State(gate): State<Gate>, req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    let html = r
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let h = r.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if html {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    if let Some(web) = gate.web() {
        for (name, value) in &web.headers {
            h.insert(name.clone(), value.clone());
        }
    }
    r
}

/// The content security policy of HTML answers: nothing runs, nothing loads from elsewhere;
/// inline styles and SVG only.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
                       frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
