//! Connecting to PostgreSQL: the URL is parsed once (it is a secret: only [`Target`], which
//! has no password, is ever shown), and the store's connection for small operations is
//! reopened on first use after it was lost.

use std::fmt;
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use postgres::config::Host;
use postgres::{Client, Config, NoTls};

use super::super::error::StoreError;
use super::lock;
use crate::config::Secret;

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a store is connected, for logs and errors: `user@host:port/dbname`, never the
/// password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target(String);

impl Target {
    fn of(config: &Config) -> Target {
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            Some(Host::Unix(p)) => p.display().to_string(),
            None => "localhost".to_string(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let user = config.get_user().unwrap_or("?");
        let db = config.get_dbname().unwrap_or(user);
        Target(format!("postgresql {user}@{host}:{port}/{db}"))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Wraps a PostgreSQL error with where and what (the error's text is the server's or the
/// client's, which never carries the password).
pub(crate) fn pg_err(
    target: &Target,
    context: &'static str,
) -> impl Fn(postgres::Error) -> StoreError {
    let target = target.to_string();
    move |source| StoreError::Postgres {
        target: target.clone(),
        context,
        source,
    }
}

/// The parsed URL and the connection for small operations, shared by the store's handles.
pub(crate) struct Shared {
    pub(crate) target: Target,
    config: Config,
    client: Mutex<Option<Client>>,
}

impl Shared {
    /// Parses `url` and connects once (so a wrong URL or password fails at start).
    pub(crate) fn open(url: &Secret) -> Result<Shared, StoreError> {
        let mut config = Config::from_str(url.expose()).map_err(|e| {
            StoreError::InvalidQuery(
                // The parser's message names the bad part, not the value; the URL is not shown.
                format!("[store] url: not a PostgreSQL connection URL: {e}"),
            )
        })?;
        config.connect_timeout(CONNECT_TIMEOUT);
        if config.get_application_name().is_none() {
            config.application_name("bandwatch");
        }
        let target = Target::of(&config);
        let shared = Shared {
            target,
            config,
            client: Mutex::new(None),
        };
        drop(shared.client()?);
        Ok(shared)
    }

    /// A new connection of its own (the writer's).
    pub(crate) fn connect(&self) -> Result<Client, StoreError> {
        self.config
            .connect(NoTls)
            .map_err(pg_err(&self.target, "connecting"))
    }

    /// The shared connection, reopened when it was lost.
    pub(crate) fn client(&self) -> Result<ClientGuard<'_>, StoreError> {
        let mut guard = lock(&self.client);
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = Some(self.connect()?);
        }
        Ok(ClientGuard(guard))
    }

    /// Runs `f` on the shared connection; when the connection turns out to be lost (the
    /// server restarted since it was last used), once more on a fresh one. For operations
    /// that may run twice: reads, and upserts that give the same result again.
    pub(crate) fn with<T>(
        &self,
        context: &'static str,
        mut f: impl FnMut(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let mut guard = self.client()?;
        match f(&mut guard) {
            Ok(v) => Ok(v),
            Err(e) if e.is_closed() || guard.is_closed() => {
                *guard.0 = Some(self.connect()?);
                f(&mut guard).map_err(pg_err(&self.target, context))
            }
            Err(e) => Err(pg_err(&self.target, context)(e)),
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Closing a client blocks on its own runtime, which panics inside an async task:
        // there, the connection is closed on a thread of its own.
        let client = lock(&self.client).take();
        if let Some(c) = client
            && tokio::runtime::Handle::try_current().is_ok()
        {
            let _ = std::thread::Builder::new()
                .name("bandwatch-pg-close".into())
                .spawn(move || drop(c));
        }
    }
}

/// The shared connection, held under its lock.
pub(crate) struct ClientGuard<'a>(MutexGuard<'a, Option<Client>>);

impl std::ops::Deref for ClientGuard<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        // `Shared::client` hands it out only once connected.
        self.0.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl std::ops::DerefMut for ClientGuard<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        self.0.as_mut().unwrap_or_else(|| unreachable!())
    }
}
