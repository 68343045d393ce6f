//! One receiver's HTTP client: a single HTTP/1.1 connection (hyper's connection API, TLS by
//! rustls with the platform's trust store for `https://`), kept open between requests and
//! opened again after an error. [`Client::send`] POSTs one body with the headers of remote
//! write 1.0 and sorts the answer into what the queue does next: 2xx sent, 4xx (but 429)
//! refused for good, anything else (5xx, 429, no connection, timeout) tried again.
//!
//! Configured header values are secrets: marked sensitive, never logged; an error names the
//! receiver by its queue name and the HTTP status or the I/O reason only.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;

use crate::config::remote_write::RemoteWrite;

/// What became of one request.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: the receiver has the samples.
    Sent,
    /// 4xx but 429: the receiver will never take this body (bad data, a refused tenant);
    /// dropped and counted.
    Refused(String),
    /// 5xx, 429, or no answer: the same body is sent again after a backoff.
    Retry(String),
}

/// The client of one receiver.
pub struct Client {
    uri: hyper::Uri,
    host: String,
    port: u16,
    tls: Option<tokio_rustls::TlsConnector>,
    headers: Vec<(HeaderName, HeaderValue)>,
    timeout: std::time::Duration,
    conn: Option<SendRequest<Full<Bytes>>>,
}

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

impl Client {
    /// A client for `target` (its URL was checked by the configuration).
    pub fn new(target: &RemoteWrite) -> Result<Client, String> {
        let uri: hyper::Uri = target
            .url
            .parse()
            .map_err(|e| format!("remote write {}: bad URL: {e}", target.name))?;
        let https = uri.scheme_str() == Some("https");
        let host = uri
            .host()
            .ok_or_else(|| format!("remote write {}: the URL has no host", target.name))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tls = if https {
            Some(tls_connector().map_err(|e| format!("remote write {}: TLS: {e}", target.name))?)
        } else {
            None
        };
        let mut headers = Vec::new();
        for (name, value) in &target.headers {
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("remote write {}: bad header name {name}", target.name))?;
            let mut v = HeaderValue::from_str(value.expose()).map_err(|_| {
                format!(
                    "remote write {}: the value of header {name} cannot be sent (not shown)",
                    target.name
                )
            })?;
            v.set_sensitive(true);
            headers.push((n, v));
        }
        Ok(Client {
            uri,
            host,
            port,
            tls,
            headers,
            timeout: target.timeout.std(),
            conn: None,
        })
    }

    /// POSTs one body within the timeout.
    pub async fn send(&mut self, body: Bytes) -> Outcome {
        match tokio::time::timeout(self.timeout, self.try_send(body)).await {
            Ok(Ok(o)) => o,
            Ok(Err(reason)) => {
                self.conn = None;
                Outcome::Retry(reason)
            }
            Err(_) => {
                self.conn = None;
                Outcome::Retry(format!("no answer within {:?}", self.timeout))
            }
        }
    }

    async fn try_send(&mut self, body: Bytes) -> Result<Outcome, String> {
        let conn = match self.conn.take() {
            Some(c) if c.is_ready() => c,
            _ => self.connect().await?,
        };
        let mut conn = conn;
        let path = self
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let authority = self
            .uri
            .authority()
            .map_or_else(|| self.host.clone(), |a| a.as_str().to_string());
        let mut req = hyper::Request::post(path)
            .header(hyper::header::HOST, authority)
            .header(hyper::header::CONTENT_ENCODING, "snappy")
            .header(hyper::header::CONTENT_TYPE, "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .header(
                hyper::header::USER_AGENT,
                concat!("bandwatch/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(body))
            .map_err(|e| format!("request: {e}"))?;
        for (n, v) in &self.headers {
            req.headers_mut().insert(n.clone(), v.clone());
        }
        let resp = conn
            .send_request(req)
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let status = resp.status();
        // The answer's body (a receiver's reason), read up to a bound, for the log.
        let text = match http_body_util::Limited::new(resp.into_body(), 64 * 1024)
            .collect()
            .await
        {
            Ok(b) => {
                let b = b.to_bytes();
                String::from_utf8_lossy(&b[..b.len().min(256)])
                    .trim()
                    .to_string()
            }
            Err(e) => return Err(format!("reading the answer: {e}")),
        };
        self.conn = Some(conn);
        let why = if text.is_empty() {
            status.to_string()
        } else {
            format!("{status}: {text}")
        };
        Ok(if status.is_success() {
            Outcome::Sent
        } else if status.is_client_error() && status.as_u16() != 429 {
            Outcome::Refused(why)
        } else {
            Outcome::Retry(why)
        })
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("connecting to {}:{}: {e}", self.host, self.port))?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = match &self.tls {
            Some(tls) => {
                let name = rustls::pki_types::ServerName::try_from(self.host.clone())
                    .map_err(|e| format!("TLS name {}: {e}", self.host))?;
                Box::new(
                    tls.connect(name, tcp)
                        .await
                        .map_err(|e| format!("TLS handshake with {}: {e}", self.host))?,
                )
            }
            None => Box::new(tcp),
        };
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("remote write connection closed: {e}");
            }
        });
        Ok(send)
    }
}

/// TLS with the platform's trust store (the same verifier the mail sender uses).
fn tls_connector() -> Result<tokio_rustls::TlsConnector, rustls::Error> {
    use rustls_platform_verifier::BuilderVerifierExt as _;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_platform_verifier()?
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}
