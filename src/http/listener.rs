//! The accept loop: plain HTTP/1.1 or TLS (rustls, from the web configuration), one task per
//! connection, and the bounds that keep a slow or hostile client from taking the daemon down:
//!
//! - at most `[http] max_connections` connections are served at once, fewer when the process's
//!   open-file limit minus `[http] fd_reserve` (kept for polling, the store and email) is
//!   lower; further clients wait in the kernel's backlog and take no descriptor;
//! - a client has `[http] header_timeout` for its TLS handshake and for each request's line and
//!   headers (hyper's header read timeout, idle keep-alive connections included);
//! - bodies are read by the gate, after authorization, within `body_timeout` and the route's
//!   size limit (`super::auth::guard`).
//!
//! On shutdown the loop stops accepting and gives open requests a few seconds to finish.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::{Extension, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::auth::Conn;
use super::web_config::watch::WebConfigWatch;
use crate::config::HttpLimits;

/// How the loop serves.
pub struct Options {
    /// The listener's limits.
    pub limits: HttpLimits,
    /// The web configuration (TLS certificates re-read when they change).
    pub web: WebConfigWatch,
    /// `[http] web_config` at start.
    pub web_path: Option<PathBuf>,
    /// Serve TLS (the web configuration had `tls_server_config` at start).
    pub tls: bool,
}

/// How long open requests may take to finish after a stop.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves `app` on `listener` until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    app: Router,
    opts: Options,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let cap = connection_cap(&opts.limits);
    let permits = Arc::new(Semaphore::new(cap));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and the like: wait instead of spinning; the reserve keeps the
                    // rest of the daemon working.
                    tracing::warn!("HTTP accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let tls = match opts.tls {
            false => None,
            true => match opts
                .web
                .current(opts.web_path.as_deref())
                .and_then(|w| w.tls.clone())
            {
                Some(t) => Some(t),
                None => {
                    tracing::warn!(
                        %peer,
                        "the web configuration lost tls_server_config: connection refused (TLS \
                         is switched on or off by a restart)"
                    );
                    continue;
                }
            },
        };
        let app = app.clone();
        let watcher = graceful.watcher();
        let limits = opts.limits;
        tokio::spawn(async move {
            let _permit = permit;
            let Some(cfg) = tls else {
                serve_conn(TokioIo::new(tcp), app, Conn::default(), &limits, watcher).await;
                return;
            };
            let accept = tokio_rustls::TlsAcceptor::from(cfg).accept(tcp);
            let stream = match tokio::time::timeout(limits.header_timeout.std(), accept).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, "TLS handshake failed: {e}");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let verified = stream
                .get_ref()
                .1
                .peer_certificates()
                .is_some_and(|c| !c.is_empty());
            let conn = Conn {
                verified_client_cert: verified,
            };
            serve_conn(TokioIo::new(stream), app, conn, &limits, watcher).await;
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(DRAIN) => {
            tracing::warn!("HTTP: open requests did not finish within {DRAIN:?}; stopping anyway");
        }
    }
    Ok(())
}

async fn serve_conn<I>(
    io: TokioIo<I>,
    app: Router,
    conn: Conn,
    limits: &HttpLimits,
    watcher: hyper_util::server::graceful::Watcher,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = TowerToHyperService::new(app.layer(Extension(conn)));
    let c = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout.std())
        .serve_connection(io, svc);
    if let Err(e) = watcher.watch(c).await {
        tracing::debug!("HTTP connection ended: {e}");
    }
}

/// The connections served at once: `max_connections`, or fewer when the open-file limit
/// minus the reserve and what is open now leaves less.
fn connection_cap(limits: &HttpLimits) -> usize {
    let Some(soft) = open_file_limit() else {
        return limits.max_connections;
    };
    let open = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .unwrap_or(0);
    let budget = soft.saturating_sub(limits.fd_reserve.saturating_add(open));
    let cap = (limits.max_connections as u64).min(budget).max(1) as usize;
    if cap < limits.max_connections {
        tracing::warn!(
            open_file_limit = soft,
            reserve = limits.fd_reserve,
            "HTTP serves at most {cap} connections at once (not {}), so that polling, the \
             store and email keep {} file descriptors; raise LimitNOFILE to serve more",
            limits.max_connections,
            limits.fd_reserve
        );
    }
    cap
}

/// The soft limit of open files (`/proc/self/limits`), where the system says.
fn open_file_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}
