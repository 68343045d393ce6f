//! The web configuration file (`[http] web_config`), in the format of Prometheus's
//! exporter-toolkit (`web-configuration.md`), so the file written for node_exporter works here:
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt          # relative to this file
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert   # or NoClientCert, VerifyClientCertIfGiven
//!   client_ca_file: clients-ca.crt
//!   min_version: TLS12             # or TLS13
//! http_server_config:
//!   headers:
//!     Strict-Transport-Security: max-age=31536000
//! basic_auth_users:
//!   grafana: $2y$10$...            # bcrypt, from `bandwatch web-hash`
//! ```
//!
//! [`WebConfig::load`] reads and checks the whole file (certificates and keys are loaded, the
//! TLS configuration is built) and reports every problem with the file, line and key. What
//! rustls does not offer (TLS 1.0/1.1, unverified client certificates, chosen cipher suites)
//! is an error or a warning that says so. [`watch::WebConfigWatch`] re-reads it when it or
//! one of its files changes.

pub mod tls;
pub mod watch;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::{HeaderName, HeaderValue};
use serde::Deserialize;

use crate::config::{Diagnostic, Diagnostics, Severity};

/// `tls_server_config`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: Option<String>,
    key_file: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    client_auth_type: Option<String>,
    client_ca_file: Option<String>,
    client_ca: Option<String>,
    client_allowed_sans: Option<Vec<String>>,
    min_version: Option<String>,
    max_version: Option<String>,
    cipher_suites: Option<Vec<String>>,
    curve_preferences: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
}

/// `http_server_config`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpServer {
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
    rate_limit: Option<serde_norway::Value>,
}

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWeb {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttpServer>,
    basic_auth_users: Option<BTreeMap<String, String>>,
}

/// Whether and how clients present certificates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    None,
    /// A certificate is verified against the client CA when one is given.
    VerifyIfGiven,
    /// Every client must present a certificate the client CA signed.
    RequireAndVerify,
}

/// A checked web configuration.
#[derive(Clone)]
pub struct WebConfig {
    /// The file.
    pub path: PathBuf,
    /// The TLS server configuration, when `tls_server_config` is set.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Client certificates.
    pub client_auth: ClientAuth,
    /// Basic-auth users and their bcrypt hashes.
    pub users: BTreeMap<String, String>,
    /// Extra response headers (`http_server_config.headers`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The files it was read from (itself, certificates, keys), watched for changes.
    pub files: Vec<PathBuf>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("path", &self.path)
            .field("tls", &self.tls.is_some())
            .field("client_auth", &self.client_auth)
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The headers exporter-toolkit accepts in `http_server_config.headers`.
pub const ALLOWED_HEADERS: &[&str] = &[
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-XSS-Protection",
    "Content-Security-Policy",
];

/// Collects the problems of one file, each with the line of its key.
pub(crate) struct Problems<'a> {
    path: &'a Path,
    text: &'a str,
    /// What was found.
    pub diags: Diagnostics,
    /// The files read.
    pub files: Vec<PathBuf>,
}

impl<'a> Problems<'a> {
    fn new(path: &'a Path, text: &'a str) -> Problems<'a> {
        Problems {
            path,
            text,
            diags: Diagnostics::default(),
            files: vec![path.to_path_buf()],
        }
    }

    /// An error at `key` (a dotted path such as `tls_server_config.cert_file`).
    pub(crate) fn error(&mut self, key: &str, message: impl Into<String>) {
        self.push(Severity::Error, key, message.into());
    }

    /// A warning at `key`.
    pub(crate) fn warning(&mut self, key: &str, message: impl Into<String>) {
        self.push(Severity::Warning, key, message.into());
    }

    fn push(&mut self, severity: Severity, key: &str, message: String) {
        let line = line_of_key(self.text, key);
        self.diags.0.push(Diagnostic {
            severity,
            file: self.path.to_path_buf(),
            line,
            col: 1,
            key: key.to_string(),
            message,
        });
    }

    /// A path written in the file, resolved against the file's folder.
    pub(crate) fn resolve(&self, written: &str) -> PathBuf {
        let p = Path::new(written);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.path
                .parent()
                .map(|d| d.join(p))
                .unwrap_or_else(|| p.to_path_buf())
        }
    }
}

/// The 1-based line where the dotted `key` is written: each segment is looked for after the
/// line of the one before (`a.b` finds `b:` below `a:`); line 1 when it is not found.
fn line_of_key(text: &str, key: &str) -> usize {
    let mut from = 0usize;
    let mut found = 1usize;
    for seg in key.split('.') {
        let hit = text
            .lines()
            .enumerate()
            .skip(from)
            .find(|(_, l)| {
                let t = l.trim_start().trim_start_matches("- ");
                t.strip_prefix(seg)
                    .or_else(|| {
                        t.strip_prefix('"')
                            .and_then(|r| r.strip_prefix(seg))
                            .and_then(|r| r.strip_prefix('"'))
                    })
                    .is_some_and(|r| r.trim_start().starts_with(':'))
            })
            .map(|(i, _)| i);
        match hit {
            Some(i) => {
                from = i + 1;
                found = i + 1;
            }
            None => break,
        }
    }
    found
}

impl WebConfig {
    /// Reads and checks the file; every problem is returned, warnings beside a good result.
    pub fn load(path: &Path) -> Result<(WebConfig, Diagnostics), Diagnostics> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                let mut p = Problems::new(path, "");
                p.error("(file)", format!("cannot read the web configuration: {e}"));
                return Err(p.diags);
            }
        };
        let mut p = Problems::new(path, &text);
        let raw: RawWeb = if text.trim().is_empty() {
            RawWeb::default()
        } else {
            match serde_norway::from_str(&text) {
                Ok(r) => r,
                Err(e) => {
                    let (line, col) = e
                        .location()
                        .map(|l| (l.line(), l.column()))
                        .unwrap_or((1, 1));
                    p.diags.0.push(Diagnostic {
                        severity: Severity::Error,
                        file: path.to_path_buf(),
                        line,
                        col,
                        key: "(yaml)".into(),
                        message: strip_location(&e.to_string()),
                    });
                    return Err(p.diags);
                }
            }
        };
        let users = users(&mut p, raw.basic_auth_users.unwrap_or_default());
        let headers = headers(&mut p, raw.http_server_config.unwrap_or_default());
        let (tls, client_auth) = match raw.tls_server_config {
            Some(t) => tls::build(&mut p, t),
            None => (None, ClientAuth::None),
        };
        let (diags, files) = (p.diags, p.files);
        if diags.has_errors() {
            return Err(diags);
        }
        Ok((
            WebConfig {
                path: path.to_path_buf(),
                tls,
                client_auth,
                users,
                headers,
                files,
            },
            diags,
        ))
    }

    /// True when the file protects the listener: basic-auth users, or client certificates
    /// required of everyone.
    pub fn protects(&self) -> bool {
        !self.users.is_empty() || self.client_auth == ClientAuth::RequireAndVerify
    }
}

/// What `bandwatch check` says about the listener: every problem of the web configuration
/// (with its file, line and key), and a warning when other machines reach the listener and
/// nothing protects it.
pub fn check(config: &crate::config::Config) -> Diagnostics {
    let mut out = Diagnostics::default();
    let web = match config.http.web_config.as_deref().map(WebConfig::load) {
        None => None,
        Some(Ok((w, warnings))) => {
            out.extend(warnings);
            Some(w)
        }
        Some(Err(d)) => {
            out.extend(d);
            return out;
        }
    };
    let loopback = config.daemon.listen.ip().is_loopback();
    if let Some(message) = crate::http::auth::exposure(loopback, Some(config), web.as_ref()) {
        out.0.push(Diagnostic {
            severity: Severity::Warning,
            file: config.path.clone(),
            line: 1,
            col: 1,
            key: "daemon.listen".into(),
            message,
        });
    }
    out
}

fn strip_location(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

fn users(p: &mut Problems<'_>, raw: BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (user, hash) in raw {
        let key = format!("basic_auth_users.{user}");
        if user.is_empty() || user.contains(':') {
            p.error(&key, "a user name must not be empty nor hold `:`");
            continue;
        }
        if !is_bcrypt(&hash) {
            p.error(
                &key,
                "not a bcrypt hash (`$2y$10$` and 53 characters): make one with \
                 `bandwatch web-hash`",
            );
            continue;
        }
        out.insert(user, hash);
    }
    out
}

/// `$2a$`, `$2b$`, `$2x$` or `$2y$`, a two-digit cost from 4 to 31, 53 characters of bcrypt's
/// base64.
fn is_bcrypt(h: &str) -> bool {
    let parts: Vec<&str> = h.split('$').collect();
    matches!(parts.as_slice(), ["", v, cost, rest]
        if matches!(*v, "2a" | "2b" | "2x" | "2y")
            && cost.len() == 2
            && cost.parse::<u32>().is_ok_and(|c| (4..=31).contains(&c))
            && rest.len() == 53
            && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/'))
}

fn headers(p: &mut Problems<'_>, raw: RawHttpServer) -> Vec<(HeaderName, HeaderValue)> {
    if raw.http2.is_some() {
        p.warning(
            "http_server_config.http2",
            "ignored: bandwatch serves HTTP/1.1",
        );
    }
    if raw.rate_limit.is_some() {
        p.warning(
            "http_server_config.rate_limit",
            "ignored: bandwatch bounds connections with `[http] max_connections` instead",
        );
    }
    let mut out = Vec::new();
    for (name, value) in raw.headers.unwrap_or_default() {
        let key = format!("http_server_config.headers.{name}");
        if !ALLOWED_HEADERS
            .iter()
            .any(|h| h.eq_ignore_ascii_case(&name))
        {
            p.error(
                &key,
                format!(
                    "`{name}` cannot be set here; the headers are {}",
                    ALLOWED_HEADERS.join(", ")
                ),
            );
            continue;
        }
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            (Ok(n), Ok(v)) => out.push((n, v)),
            _ => p.error(&key, "not a valid header value"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_found_below_their_parents() {
        let text = "basic_auth_users:\n  a: x\ntls_server_config:\n  cert_file: a\n  key_file: b\n";
        assert_eq!(line_of_key(text, "tls_server_config.key_file"), 5);
        assert_eq!(line_of_key(text, "basic_auth_users.a"), 2);
        assert_eq!(line_of_key(text, "nothing.here"), 1);
    }
}
