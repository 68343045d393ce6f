//! `[snmp.<profile>]`: SNMP profiles (v2c communities, v3 USM users, timeouts).

use super::*;

impl Builder<'_, '_> {
    pub(super) fn profiles(&mut self) -> BTreeMap<String, SnmpProfile> {
        let raws: Vec<(Spanned<String>, RawSnmpProfile)> = self.doc.named_tables("snmp");
        let mut out = BTreeMap::new();
        for (name, raw) in raws {
            let key = format!("snmp.{}", name.get_ref());
            if let Some(p) = self.profile(name.get_ref(), raw, &key) {
                out.insert(name.into_inner(), p);
            }
        }
        out
    }

    pub(super) fn profile(
        &mut self,
        name: &str,
        raw: RawSnmpProfile,
        key: &str,
    ) -> Option<SnmpProfile> {
        let version = *raw.version.get_ref();
        let credentials = match version {
            SnmpVersion::V2c => {
                for (field, v) in [
                    ("user", raw.user.as_ref().map(|s| s.span())),
                    ("auth", raw.auth.as_ref().map(|s| s.span())),
                ] {
                    if let Some(span) = v {
                        self.doc.error(
                            Some(span),
                            &format!("{key}.{field}"),
                            "only SNMPv3 profiles take a user; v2c uses `community`",
                        );
                    }
                }
                let Some(c) = raw.community else {
                    self.doc.error(
                        Some(raw.version.span()),
                        &format!("{key}.community"),
                        "a v2c profile needs `community`",
                    );
                    return None;
                };
                SnmpCredentials::V2c {
                    community: self.secret(&c, &format!("{key}.community"))?,
                }
            }
            SnmpVersion::V3 => {
                if let Some(c) = &raw.community {
                    self.doc.error(
                        Some(c.span()),
                        &format!("{key}.community"),
                        "SNMPv3 uses `user`, not `community`",
                    );
                }
                let Some(user) = raw.user else {
                    self.doc.error(
                        Some(raw.version.span()),
                        &format!("{key}.user"),
                        "a v3 profile needs `user`",
                    );
                    return None;
                };
                let auth = match (raw.auth, raw.auth_password) {
                    (None, None) => None,
                    (Some(a), Some(pw)) => {
                        let s = self.usm_password(&pw, &format!("{key}.auth_password"))?;
                        Some((*a.get_ref(), s))
                    }
                    (Some(a), None) => {
                        self.doc.error(
                            Some(a.span()),
                            &format!("{key}.auth_password"),
                            "`auth` needs `auth_password`",
                        );
                        return None;
                    }
                    (None, Some(pw)) => {
                        self.doc.error(Some(pw.span()), &format!("{key}.auth"), "`auth_password` needs `auth` (md5, sha1, sha224, sha256, sha384 or sha512)");
                        return None;
                    }
                };
                let privacy = match (raw.privacy, raw.privacy_password) {
                    (None, None) => None,
                    (Some(p), _) if *p.get_ref() == PrivacyProtocol::None => None,
                    (Some(p), Some(pw)) => {
                        if auth.is_none() {
                            self.doc.error(
                                Some(p.span()),
                                &format!("{key}.privacy"),
                                "privacy needs authentication: set `auth` and `auth_password`",
                            );
                            return None;
                        }
                        let s = self.usm_password(&pw, &format!("{key}.privacy_password"))?;
                        Some((*p.get_ref(), s))
                    }
                    (Some(p), None) => {
                        self.doc.error(
                            Some(p.span()),
                            &format!("{key}.privacy_password"),
                            "`privacy` needs `privacy_password`",
                        );
                        return None;
                    }
                    (None, Some(pw)) => {
                        self.doc.error(
                            Some(pw.span()),
                            &format!("{key}.privacy"),
                            "`privacy_password` needs `privacy` (des, aes128, aes192 or aes256)",
                        );
                        return None;
                    }
                };
                SnmpCredentials::V3(UsmUser {
                    user: user.into_inner(),
                    auth,
                    privacy,
                })
            }
        };
        let timeout = self
            .positive_ms(raw.timeout.as_ref(), &format!("{key}.timeout"))
            .unwrap_or(defaults::SNMP_TIMEOUT);
        let max_repetitions = match raw.max_repetitions {
            Some(m) if *m.get_ref() == 0 || *m.get_ref() > 100 => {
                self.doc.error(
                    Some(m.span()),
                    &format!("{key}.max_repetitions"),
                    "must be between 1 and 100",
                );
                defaults::SNMP_MAX_REPETITIONS
            }
            Some(m) => *m.get_ref(),
            None => defaults::SNMP_MAX_REPETITIONS,
        };
        // A switch is unreachable after (retries + 1) x timeout: bounded, so that
        // `switch-unreachable` can fire within minutes.
        let retries = match &raw.retries {
            Some(r) if *r.get_ref() > 10 => {
                self.doc.error(
                    Some(r.span()),
                    &format!("{key}.retries"),
                    "must be between 0 and 10",
                );
                defaults::SNMP_RETRIES
            }
            Some(r) => *r.get_ref(),
            None => defaults::SNMP_RETRIES,
        };
        Some(SnmpProfile {
            name: name.to_string(),
            credentials,
            timeout,
            retries,
            max_repetitions,
        })
    }

    pub(super) fn positive_ms(
        &mut self,
        d: Option<&Spanned<Duration>>,
        key: &str,
    ) -> Option<Duration> {
        let d = d?;
        let v = d.get_ref().std();
        if v < std::time::Duration::from_millis(10) || v > std::time::Duration::from_secs(60) {
            self.doc
                .error(Some(d.span()), key, "must be between 10ms and 60s");
            return None;
        }
        Some(*d.get_ref())
    }

    /// A USM password: RFC 3414 wants at least 8 characters.
    pub(super) fn usm_password(&mut self, written: &Spanned<String>, key: &str) -> Option<Secret> {
        let s = self.secret(written, key)?;
        if s.expose().chars().count() < 8 {
            self.doc.error(
                Some(written.span()),
                key,
                "SNMPv3 passwords must be at least 8 characters long (RFC 3414)",
            );
            return None;
        }
        Some(s)
    }
}
