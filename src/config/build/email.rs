//! `[email]`: the SMTP transport and sender alerts and reports are mailed with.

use super::*;

impl Builder<'_, '_> {
    pub(super) fn email(&mut self) -> Option<Email> {
        let raw: RawEmail = self.doc.value("email")?;
        let transport = raw.transport.unwrap_or(MailTransport::Smtp);
        let from = match &raw.from {
            Some(f) if valid_mailbox(f.get_ref()) => f.get_ref().clone(),
            Some(f) => {
                let msg = format!(
                    "`{}` is not a sender like `bandwatch <bandwatch@example.net>`",
                    f.get_ref()
                );
                self.doc.error(Some(f.span()), "email.from", msg);
                return None;
            }
            None => {
                self.doc.error(
                    None,
                    "email.from",
                    "`[email]` needs `from`, like `bandwatch <bandwatch@example.net>`",
                );
                return None;
            }
        };
        if transport == MailTransport::Smtp && raw.server.is_none() {
            self.doc.error(
                None,
                "email.server",
                "SMTP needs `server`, like `smtp.example.net:587`",
            );
            return None;
        }
        // An empty password (`${SMTP_PASSWORD:-}` with the variable unset) means no AUTH password.
        let password = match &raw.password {
            Some(p) => match secret::expand(p.get_ref(), &self.base_dir) {
                Ok(s) if s.expose().is_empty() => None,
                Ok(s) => Some(s),
                Err(e) => {
                    self.doc.error(Some(p.span()), "email.password", e);
                    return None;
                }
            },
            None => None,
        };
        let security = raw.security.unwrap_or(MailSecurity::Starttls);
        // A password over an unencrypted connection can be read by anyone on the path: refused
        // unless the operator says the path is trusted (a local relay on loopback, say).
        if transport == MailTransport::Smtp
            && security == MailSecurity::None
            && password.is_some()
            && raw.allow_insecure_auth != Some(true)
        {
            let span = raw.password.as_ref().map(|p| p.span());
            self.doc.error(
                span,
                "email.password",
                "a password with `security = \"none\"` would cross the network in clear text; \
                 use `security = \"starttls\"` or `\"tls\"`, or set `allow_insecure_auth = true` \
                 for a relay on a trusted path",
            );
            return None;
        }
        Some(Email {
            transport,
            server: raw.server.map(Spanned::into_inner),
            security,
            username: raw.username,
            password,
            from,
            group_wait: raw.group_wait.unwrap_or(defaults::GROUP_WAIT),
        })
    }
}
