//! How a rendered message leaves: SMTP with lettre on tokio and rustls (STARTTLS, TLS or
//! plain, AUTH when a username is set, pooled connections), or `.eml` files in
//! `data_dir/outbox/`. Failures are sorted into "try again later" and "give up".
//!
//! A file is written under a temporary name, synced and renamed into place, so the folder
//! never holds a partial message (a full disk leaves nothing, and the message is retried);
//! its name is the outbox message's key, so delivering the same message again after a crash
//! replaces the file instead of adding a second one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::address::{Address, Envelope};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::model::{Email, MailSecurity, MailTransport};

/// Options of the sender that are not configuration keys (yet).
#[derive(Clone, Debug)]
pub struct SenderOptions {
    /// An extra trusted root certificate (PEM file), e.g. a test server's self-signed one.
    pub extra_root_pem: Option<PathBuf>,
    /// The first retry delay after a transient failure; doubles on each failure.
    pub backoff_min: Duration,
    /// The longest retry delay.
    pub backoff_max: Duration,
    /// Timeout of one SMTP command.
    pub timeout: Duration,
    /// Messages taken from the outbox per round.
    pub batch: usize,
    /// The counters for `/metrics`, shared by every notifier started with these options (a
    /// reload replaces the notifier; the counters go on).
    pub metrics: std::sync::Arc<super::metrics::NotifyMetrics>,
    /// The lease under which this daemon sends (several daemons on one store): each message
    /// is claimed with the lease's fencing token before it is sent and marked sent only under
    /// that claim, so a sender whose lease was taken over sends nothing more. `None` sends
    /// without claims (one daemon).
    pub lease: Option<tokio::sync::watch::Receiver<Option<crate::store::Lease>>>,
}

impl Default for SenderOptions {
    fn default() -> Self {
        SenderOptions {
            extra_root_pem: None,
            backoff_min: Duration::from_secs(10),
            backoff_max: Duration::from_secs(15 * 60),
            timeout: Duration::from_secs(30),
            batch: 16,
            metrics: std::sync::Arc::default(),
            lease: None,
        }
    }
}

impl SenderOptions {
    /// The delay before attempt `attempts + 1`, after `attempts` failed ones (at least 1).
    pub fn backoff(&self, attempts: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(20));
        self.backoff_min
            .saturating_mul(factor)
            .min(self.backoff_max)
    }
}

/// Why the transport could not be set up (a configuration problem).
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// `[email] server` is missing or malformed.
    #[error("[email] server: {0}")]
    Server(String),
    /// The TLS setup failed (bad extra root certificate, ...).
    #[error("[email] TLS for {server}: {reason}")]
    Tls {
        /// The server.
        server: String,
        /// What went wrong.
        reason: String,
    },
    /// The outbox folder for the file transport cannot be created.
    #[error("cannot create {path}: {reason}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// The OS's reason.
        reason: String,
    },
}

/// The outcome of one failed attempt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Connection errors, timeouts, 4xx replies: try again later.
    #[error("{0}")]
    Transient(String),
    /// 5xx replies, invalid envelopes: retrying will not help.
    #[error("{0}")]
    Permanent(String),
}

/// A ready transport.
#[derive(Clone)]
pub enum Mailer {
    /// An SMTP server.
    Smtp {
        /// The pooled lettre transport.
        transport: AsyncSmtpTransport<Tokio1Executor>,
        /// `host:port`, for logs.
        server: String,
        /// Bound on one whole conversation, so a server that stops answering cannot hold
        /// the sender.
        deadline: Duration,
    },
    /// `.eml` files in a folder.
    File {
        /// The folder.
        dir: PathBuf,
    },
}

/// Splits `host:port` (or `host`, or `[v6]:port`) with the port defaulting by security.
fn host_port(server: &str, security: MailSecurity) -> Result<(String, u16), TransportError> {
    let default = match security {
        MailSecurity::Starttls => 587,
        MailSecurity::Tls => 465,
        MailSecurity::None => 25,
    };
    let s = server.trim();
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, tail) = rest
            .split_once(']')
            .ok_or_else(|| TransportError::Server(format!("`{s}`: missing `]`")))?;
        (h, tail.strip_prefix(':'))
    } else if s.matches(':').count() == 1 {
        let (h, p) = s.split_once(':').unwrap_or((s, ""));
        (h, Some(p))
    } else {
        (s, None)
    };
    if host.is_empty() {
        return Err(TransportError::Server(format!("`{s}`: empty host")));
    }
    let port = match port {
        Some(p) => p
            .parse()
            .map_err(|_| TransportError::Server(format!("`{s}`: invalid port `{p}`")))?,
        None => default,
    };
    Ok((host.to_string(), port))
}

impl Mailer {
    /// Builds the transport from `[email]`; `data_dir` is where `outbox/` goes for files.
    pub fn from_config(
        email: &Email,
        data_dir: &Path,
        opts: &SenderOptions,
    ) -> Result<Mailer, TransportError> {
        match email.transport {
            MailTransport::File => {
                let dir = data_dir.join("outbox");
                std::fs::create_dir_all(&dir).map_err(|e| TransportError::Folder {
                    path: dir.clone(),
                    reason: e.to_string(),
                })?;
                Ok(Mailer::File { dir })
            }
            MailTransport::Smtp => {
                let server = email.server.as_deref().ok_or_else(|| {
                    TransportError::Server("missing; needed with transport = \"smtp\"".into())
                })?;
                let (host, port) = host_port(server, email.security)?;
                let tls_err = |reason: String| TransportError::Tls {
                    server: server.to_string(),
                    reason,
                };
                let params = || -> Result<TlsParameters, TransportError> {
                    let mut b = TlsParameters::builder(host.clone());
                    if let Some(pem_path) = &opts.extra_root_pem {
                        let pem = std::fs::read(pem_path)
                            .map_err(|e| tls_err(format!("{}: {e}", pem_path.display())))?;
                        let cert = Certificate::from_pem(&pem)
                            .map_err(|e| tls_err(format!("{}: {e}", pem_path.display())))?;
                        b = b.add_root_certificate(cert);
                    }
                    b.build_rustls().map_err(|e| tls_err(e.to_string()))
                };
                let tls = match email.security {
                    MailSecurity::Starttls => Tls::Required(params()?),
                    MailSecurity::Tls => Tls::Wrapper(params()?),
                    MailSecurity::None => Tls::None,
                };
                let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)
                    .port(port)
                    .tls(tls)
                    .timeout(Some(opts.timeout))
                    .pool_config(PoolConfig::new().max_size(4));
                if let Some(user) = &email.username {
                    let password = email
                        .password
                        .as_ref()
                        .map(|p| p.expose().to_string())
                        .unwrap_or_default();
                    builder = builder.credentials(Credentials::new(user.clone(), password));
                }
                Ok(Mailer::Smtp {
                    transport: builder.build(),
                    server: format!("{host}:{port}"),
                    deadline: opts.timeout.saturating_mul(4),
                })
            }
        }
    }

    /// Checks that messages can leave: an SMTP server answers (connection, TLS and AUTH as
    /// configured, then QUIT); a folder is writable. A reload that changes `[email]` is
    /// refused when this fails, so the running transport stays in force. The error names the
    /// server and the reason, never a password.
    pub async fn probe(&self) -> Result<(), TransportError> {
        match self {
            Mailer::Smtp {
                transport,
                server,
                deadline,
            } => match tokio::time::timeout(*deadline, transport.test_connection()).await {
                Ok(Ok(true)) => Ok(()),
                Ok(Ok(false)) => Err(TransportError::Server(format!(
                    "{server}: the server did not accept a connection check"
                ))),
                Ok(Err(e)) => Err(TransportError::Server(format!("{server}: {e}"))),
                Err(_) => Err(TransportError::Server(format!(
                    "{server}: no answer within {} s",
                    deadline.as_secs()
                ))),
            },
            Mailer::File { dir, .. } => {
                let probe = dir.join(".bandwatch-probe");
                std::fs::write(&probe, b"")
                    .and_then(|()| std::fs::remove_file(&probe))
                    .map_err(|e| TransportError::Folder {
                        path: dir.clone(),
                        reason: e.to_string(),
                    })
            }
        }
    }

    /// Where messages go, for logs: `smtp://host:port` or the folder.
    pub fn describe(&self) -> String {
        match self {
            Mailer::Smtp { server, .. } => format!("smtp://{server}"),
            Mailer::File { dir, .. } => dir.display().to_string(),
        }
    }

    /// Sends one formatted message to the envelope's recipients. `key` names the message
    /// for good (the outbox's id for it): the file transport writes `KEY.eml`.
    pub async fn send(
        &self,
        key: &str,
        from: &str,
        to: &[String],
        body: &[u8],
    ) -> Result<(), SendError> {
        let parse = |a: &str| {
            a.parse::<Address>()
                .map_err(|e| SendError::Permanent(format!("invalid envelope address `{a}`: {e}")))
        };
        let recipients = to.iter().map(|a| parse(a)).collect::<Result<Vec<_>, _>>()?;
        let envelope = Envelope::new(Some(parse(from)?), recipients)
            .map_err(|e| SendError::Permanent(format!("invalid envelope: {e}")))?;
        match self {
            Mailer::Smtp {
                transport,
                server,
                deadline,
            } => match tokio::time::timeout(*deadline, transport.send_raw(&envelope, body)).await {
                Err(_) => Err(SendError::Transient(format!(
                    "smtp://{server}: no answer within {} s",
                    deadline.as_secs()
                ))),
                Ok(r) => r.map(|_| ()).map_err(|e| {
                    let msg = format!("smtp://{server}: {e}");
                    if e.is_permanent() {
                        SendError::Permanent(msg)
                    } else {
                        SendError::Transient(msg)
                    }
                }),
            },
            Mailer::File { dir } => {
                let (dir, key, body) = (dir.clone(), key.to_string(), body.to_vec());
                match tokio::task::spawn_blocking(move || write_file(&dir, &key, &body)).await {
                    Ok(r) => r,
                    Err(e) => Err(SendError::Transient(format!("writing a message: {e}"))),
                }
            }
        }
    }
}

/// Writes `dir/KEY.eml` whole or not at all: a temporary file, synced, renamed into place,
/// the folder synced. Any failure (a full disk) removes the temporary file and is transient.
fn write_file(dir: &Path, key: &str, body: &[u8]) -> Result<(), SendError> {
    use std::io::Write;
    let safe: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let tmp = dir.join(format!(".{safe}.eml.tmp"));
    let path = dir.join(format!("{safe}.eml"));
    let fail = |p: &Path, e: std::io::Error| SendError::Transient(format!("{}: {e}", p.display()));
    let written = std::fs::File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(body)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(&path, e));
    }
    // The rename is durable once the folder is synced (best effort where it cannot be opened).
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses() {
        let h = |s| host_port(s, MailSecurity::Starttls);
        assert_eq!(
            h("mail.example.net:2525").unwrap(),
            ("mail.example.net".into(), 2525)
        );
        assert_eq!(
            h("mail.example.net").unwrap(),
            ("mail.example.net".into(), 587)
        );
        assert_eq!(host_port("m", MailSecurity::Tls).unwrap().1, 465);
        assert_eq!(h("[::1]:25").unwrap(), ("::1".into(), 25));
        assert!(h("mail:x").is_err());
        assert!(h(":25").is_err());
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let o = SenderOptions {
            backoff_min: Duration::from_secs(10),
            backoff_max: Duration::from_secs(60),
            ..SenderOptions::default()
        };
        assert_eq!(o.backoff(1), Duration::from_secs(10));
        assert_eq!(o.backoff(2), Duration::from_secs(20));
        assert_eq!(o.backoff(3), Duration::from_secs(40));
        assert_eq!(o.backoff(4), Duration::from_secs(60));
        assert_eq!(o.backoff(100), Duration::from_secs(60));
    }
}
