//! `[store]`: which backend keeps what bandwatch measures. SQLite in `data_dir` is the
//! default; `backend = "postgres"` with `url` (a secret: `${ENV_VAR}` or `file:/path`, never
//! written into the file itself nor shown) shares one PostgreSQL between several daemons.

use super::*;
use crate::config::model::{StoreBackend, StoreSettings};
use crate::config::raw::RawStore;

impl Builder<'_, '_> {
    pub(super) fn store(&mut self) -> StoreSettings {
        let raw: RawStore = self.doc.value("store").unwrap_or_default();
        let backend = match raw
            .backend
            .as_ref()
            .map(|b| (b.get_ref().as_str(), b.span()))
        {
            None | Some(("sqlite", _)) => {
                if let Some(u) = &raw.url {
                    self.doc.warning(
                        Some(u.span()),
                        "store.url",
                        "`url` is used only with `backend = \"postgres\"`; the SQLite store in \
                         `daemon.data_dir` is used",
                    );
                }
                StoreBackend::Sqlite
            }
            Some(("postgres" | "postgresql", span)) => match &raw.url {
                None => {
                    self.doc.error(
                        Some(span),
                        "store.url",
                        "`backend = \"postgres\"` needs `url`, e.g. `url = \"${BANDWATCH_PG_URL}\"`",
                    );
                    StoreBackend::Sqlite
                }
                Some(u) => match self.secret(u, "store.url") {
                    Some(url) => StoreBackend::Postgres { url },
                    None => StoreBackend::Sqlite,
                },
            },
            Some((other, span)) => {
                let msg = format!(
                    "unknown backend `{other}`; the backends are `sqlite` (the default) and `postgres`"
                );
                self.doc.error(Some(span), "store.backend", msg);
                StoreBackend::Sqlite
            }
        };
        let max_queued_samples = raw.max_queued_samples.as_ref().and_then(|n| {
            let key = "store.max_queued_samples";
            match usize::try_from(*n.get_ref()) {
                Ok(v) if v > 0 => {
                    if backend == StoreBackend::Sqlite {
                        self.doc.warning(
                            Some(n.span()),
                            key,
                            "`max_queued_samples` is used only with `backend = \"postgres\"` \
                             (SQLite's writer has its own bound)",
                        );
                    }
                    Some(v)
                }
                _ => {
                    self.doc.error(
                        Some(n.span()),
                        key,
                        "must be a whole number of samples, at least 1",
                    );
                    None
                }
            }
        });
        StoreSettings {
            backend,
            max_queued_samples,
        }
    }
}
