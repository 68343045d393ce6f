//! Who may see and change what, as configured: the scopes an endpoint needs, API tokens
//! (`[[api.token]]`, kept as hashes only), and `[http]`: the web configuration file (TLS,
//! basic-auth users), the scopes of basic-auth users and of anonymous readers, and the
//! listener's limits. The HTTP stage enforces them (`crate::http::auth`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use super::secret::Secret;
use super::units::{ByteSize, Duration};

/// What a request may do. Every endpoint needs one (`/healthz` none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Scope {
    /// `/metrics`.
    #[serde(rename = "metrics:read")]
    MetricsRead,
    /// The status page, alerts, silences and the topology, without money.
    #[serde(rename = "status:read")]
    StatusRead,
    /// `/report`: usage and money.
    #[serde(rename = "report:read")]
    ReportRead,
    /// `POST /api/v1/usage`.
    #[serde(rename = "usage:write")]
    UsageWrite,
    /// Adding and removing silences.
    #[serde(rename = "silence:write")]
    SilenceWrite,
    /// `POST /-/reload` and the token list.
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 6] = [
        Scope::MetricsRead,
        Scope::StatusRead,
        Scope::ReportRead,
        Scope::UsageWrite,
        Scope::SilenceWrite,
        Scope::Admin,
    ];
    /// The scopes that only read.
    pub const READ: [Scope; 3] = [Scope::MetricsRead, Scope::StatusRead, Scope::ReportRead];

    /// The scope as written in the configuration and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::MetricsRead => "metrics:read",
            Scope::StatusRead => "status:read",
            Scope::ReportRead => "report:read",
            Scope::UsageWrite => "usage:write",
            Scope::SilenceWrite => "silence:write",
            Scope::Admin => "admin",
        }
    }

    /// Parses a scope as written; the error lists the scopes.
    pub fn parse(s: &str) -> Result<Scope, String> {
        Scope::ALL
            .into_iter()
            .find(|x| x.as_str() == s.trim())
            .ok_or_else(|| {
                let all: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown scope `{s}`; the scopes are {}", all.join(", "))
            })
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Scopes(u8);

impl Scopes {
    /// No scope.
    pub const NONE: Scopes = Scopes(0);

    /// The set of `scopes`.
    pub fn of(scopes: impl IntoIterator<Item = Scope>) -> Scopes {
        Scopes(scopes.into_iter().fold(0, |acc, s| acc | s.bit()))
    }

    /// True when `scope` is in the set.
    pub fn has(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// The scopes in the set, in [`Scope::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.has(*s))
    }

    /// True when the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v: Vec<&str> = self.iter().map(Scope::as_str).collect();
        if v.is_empty() {
            f.write_str("(none)")
        } else {
            f.write_str(&v.join(", "))
        }
    }
}

impl Serialize for Scopes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

/// The prefix of a token hash as written in `[[api.token]] hash`.
pub const TOKEN_HASH_PREFIX: &str = "sha256:";

/// One `[[api.token]]`: a name for logs, its scopes, the SHA-256 of the token (the token
/// itself is never in the configuration) and an optional expiry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiToken {
    /// Name, in logs and in the token list.
    pub name: String,
    /// What it may do.
    pub scopes: Scopes,
    /// Lowercase hex SHA-256 of the token (without the `sha256:` prefix).
    pub sha256: String,
    /// After this instant it is refused.
    pub expires: Option<jiff::Timestamp>,
}

/// `[api]`
#[derive(Clone, Debug, Default)]
pub struct Api {
    /// The legacy shared bearer token (`[api] token = "..."`): a `usage:write` and `admin`
    /// token named `api.token`, kept for one release.
    pub token: Option<Secret>,
    /// `[[api.token]]` entries.
    pub tokens: Vec<ApiToken>,
}

/// The listener's limits (`[http]`), with their defaults in [`super::defaults`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct HttpLimits {
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Time a client has to send the request line and headers.
    pub header_timeout: Duration,
    /// Time a client has to send the whole body.
    pub body_timeout: Duration,
    /// Largest request body of every endpoint but the usage import.
    pub max_body: ByteSize,
    /// Largest body of `POST /api/v1/usage`.
    pub max_import_body: ByteSize,
    /// File descriptors HTTP never takes: polling, the store and email keep them.
    pub fd_reserve: u64,
}

/// `[http]`: how the listener authenticates and what anonymous readers get.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Http {
    /// The web configuration file (exporter-toolkit format), resolved against the
    /// configuration file.
    pub web_config: Option<PathBuf>,
    /// What a request without credentials may do; `None` is the default (see
    /// `crate::http::auth`).
    pub anonymous: Option<Scopes>,
    /// Scopes of each basic-auth user of the web configuration; users not listed get
    /// [`super::defaults::USER_SCOPES`].
    pub user_scopes: BTreeMap<String, Scopes>,
    /// Scopes of a client whose certificate the client CA verified, when it sends no other
    /// credential; `None` is [`super::defaults::USER_SCOPES`].
    pub client_cert_scopes: Option<Scopes>,
    /// Limits.
    pub limits: HttpLimits,
}

impl Default for HttpLimits {
    fn default() -> Self {
        use super::defaults as d;
        HttpLimits {
            max_connections: d::HTTP_MAX_CONNECTIONS,
            header_timeout: d::HTTP_HEADER_TIMEOUT,
            body_timeout: d::HTTP_BODY_TIMEOUT,
            max_body: d::HTTP_MAX_BODY,
            max_import_body: d::HTTP_MAX_IMPORT_BODY,
            fd_reserve: d::HTTP_FD_RESERVE,
        }
    }
}

/// `2027-06-30` (the start of that day, UTC) or an RFC 3339 instant.
pub fn parse_expiry(s: &str) -> Result<jiff::Timestamp, String> {
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Ok(ts);
    }
    s.parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp())
        .ok_or_else(|| {
            format!(
                "`{s}` is not a date like `2027-06-30` or an instant like `2027-06-30T12:00:00Z`"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_print() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Ok(s));
        }
        let e = Scope::parse("metrics:write").unwrap_err();
        assert!(e.contains("metrics:read"), "{e}");
        let set = Scopes::of([Scope::Admin, Scope::MetricsRead]);
        assert!(set.has(Scope::Admin) && !set.has(Scope::ReportRead));
        assert_eq!(set.to_string(), "metrics:read, admin");
        assert_eq!(Scopes::NONE.to_string(), "(none)");
    }
}
