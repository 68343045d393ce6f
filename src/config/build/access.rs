//! `[api]` and `[http]`: API tokens, the web configuration file, the scopes of basic-auth users
//! and anonymous readers, the listener's limits. (The web configuration itself is checked by
//! `crate::http::web_config`, which `check` and the daemon call.)

use super::super::access::{ApiToken, HttpLimits, TOKEN_HASH_PREFIX};
use super::*;

impl Builder<'_, '_> {
    pub(super) fn api(&mut self) -> Api {
        let raw: RawApi = self.doc.value("api").unwrap_or_default();
        let Some(field) = raw.token else {
            return Api::default();
        };
        let span = field.span();
        match field.into_inner() {
            RawApiTokens::Legacy(t) => {
                let written = Spanned::new(span.clone(), t);
                let token = self.secret(&written, "api.token");
                self.doc.warning(
                    Some(span),
                    "api.token",
                    "a single shared token is deprecated and works for one more release (as a \
                     `usage:write` and `admin` token named `api.token`): replace it with \
                     `[[api.token]]` entries made by `bandwatch token new NAME --scope ...`",
                );
                Api {
                    token,
                    tokens: Vec::new(),
                }
            }
            RawApiTokens::Scoped(list) => {
                let mut seen = HashMap::new();
                let mut tokens = Vec::new();
                for (i, t) in list.into_iter().enumerate() {
                    let key = format!("api.token[{i}]");
                    if let Some(t) = self.api_token(t, &key, &mut seen) {
                        tokens.push(t);
                    }
                }
                Api {
                    token: None,
                    tokens,
                }
            }
        }
    }

    fn api_token(
        &mut self,
        t: RawApiToken,
        key: &str,
        seen: &mut HashMap<String, Seen>,
    ) -> Option<ApiToken> {
        let named = self.unique(seen, "token", &t.name, &format!("{key}.name"));
        let scopes = self.scopes(&t.scopes, &format!("{key}.scopes"), None);
        if scopes.is_some_and(|s| s.is_empty()) {
            self.doc.error(
                Some(t.scopes.span()),
                &format!("{key}.scopes"),
                "a token needs at least one scope",
            );
        }
        let written = t.hash.get_ref().trim().to_ascii_lowercase();
        let sha256 = written
            .strip_prefix(TOKEN_HASH_PREFIX)
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(str::to_string);
        if sha256.is_none() {
            self.doc.error(
                Some(t.hash.span()),
                &format!("{key}.hash"),
                "not a token hash: write `sha256:` and 64 hex digits, as `bandwatch token new` \
                 prints them (never the token itself)",
            );
        }
        let expires = match &t.expires {
            None => None,
            Some(e) => match super::super::access::parse_expiry(e.get_ref()) {
                Ok(ts) => {
                    if ts <= jiff::Timestamp::now() {
                        self.doc.warning(
                            Some(e.span()),
                            &format!("{key}.expires"),
                            format!("token `{}` has expired: it is refused", t.name.get_ref()),
                        );
                    }
                    Some(ts)
                }
                Err(msg) => {
                    self.doc
                        .error(Some(e.span()), &format!("{key}.expires"), msg);
                    return None;
                }
            },
        };
        if !named {
            return None;
        }
        Some(ApiToken {
            name: t.name.into_inner(),
            scopes: scopes?,
            sha256: sha256?,
            expires,
        })
    }

    /// A list of scopes; with `allowed`, any other scope is an error saying why.
    fn scopes(
        &mut self,
        list: &Spanned<Vec<Spanned<String>>>,
        key: &str,
        allowed: Option<(&[Scope], &str)>,
    ) -> Option<Scopes> {
        let mut out = Vec::new();
        let mut ok = true;
        for (i, s) in list.get_ref().iter().enumerate() {
            let k = format!("{key}[{i}]");
            match Scope::parse(s.get_ref()) {
                Ok(scope) => match allowed {
                    Some((allowed, why)) if !allowed.contains(&scope) => {
                        self.doc
                            .error(Some(s.span()), &k, format!("`{scope}`: {why}"));
                        ok = false;
                    }
                    _ => out.push(scope),
                },
                Err(e) => {
                    self.doc.error(Some(s.span()), &k, e);
                    ok = false;
                }
            }
        }
        ok.then(|| Scopes::of(out))
    }

    pub(super) fn http(&mut self) -> Http {
        let raw: RawHttp = self.doc.value("http").unwrap_or_default();
        let web_config = raw
            .web_config
            .as_ref()
            .map(|w| normalize_path(&self.base_dir.join(w.get_ref())));
        let anonymous = raw.anonymous.as_ref().and_then(|a| {
            self.scopes(
                a,
                "http.anonymous",
                Some((
                    &Scope::READ,
                    "anonymous readers may only read (metrics:read, status:read, report:read); \
                     give writers a token",
                )),
            )
        });
        let mut user_scopes = BTreeMap::new();
        for (user, list) in &raw.user_scopes {
            if let Some(s) = self.scopes(list, &format!("http.user_scopes.{user}"), None) {
                user_scopes.insert(user.clone(), s);
            }
        }
        let client_cert_scopes = raw
            .client_cert_scopes
            .as_ref()
            .and_then(|s| self.scopes(s, "http.client_cert_scopes", None));
        let d = HttpLimits::default();
        let max_connections = match &raw.max_connections {
            Some(m) if !(1..=65_536).contains(m.get_ref()) => {
                self.doc.error(
                    Some(m.span()),
                    "http.max_connections",
                    "must be between 1 and 65536",
                );
                d.max_connections
            }
            Some(m) => *m.get_ref(),
            None => d.max_connections,
        };
        let header_timeout = self
            .positive(raw.header_timeout.as_ref(), "http.header_timeout")
            .unwrap_or(d.header_timeout);
        let body_timeout = self
            .positive(raw.body_timeout.as_ref(), "http.body_timeout")
            .unwrap_or(d.body_timeout);
        let mut size = |v: &Option<Spanned<ByteSize>>, key: &str, def: ByteSize| match v {
            Some(s) if s.get_ref().bytes() < 1024 => {
                self.doc.error(Some(s.span()), key, "must be at least 1KiB");
                def
            }
            Some(s) => *s.get_ref(),
            None => def,
        };
        let max_body = size(&raw.max_body, "http.max_body", d.max_body);
        let max_import_body = size(
            &raw.max_import_body,
            "http.max_import_body",
            d.max_import_body,
        );
        let fd_reserve = match &raw.fd_reserve {
            Some(f) if *f.get_ref() > 1_000_000 => {
                self.doc
                    .error(Some(f.span()), "http.fd_reserve", "must be at most 1000000");
                d.fd_reserve
            }
            Some(f) => *f.get_ref(),
            None => d.fd_reserve,
        };
        Http {
            web_config,
            anonymous,
            user_scopes,
            client_cert_scopes,
            limits: HttpLimits {
                max_connections,
                header_timeout,
                body_timeout,
                max_body,
                max_import_body,
                fd_reserve,
            },
        }
    }
}
