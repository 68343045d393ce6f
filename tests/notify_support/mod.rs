//! Shared by the `notify_*` tests: an in-process SMTP sink (mailin-embedded), a small MIME
//! reader for what arrives, and builders for notices and configuration.
#![allow(dead_code)]

use bandwatch::rules::event::AlertEvent;
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bandwatch::config::model::{Email, MailSecurity, MailTransport};
use bandwatch::config::topology::Route;
use bandwatch::config::units;
use bandwatch::notify::{ChartPoint, Notice, NoticeKind, SenderOptions, Severity};
use jiff::Timestamp;
use mailin_embedded::{Handler, Response, Server, response};

/// One message as the SMTP server received it.
#[derive(Clone, Debug)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: Vec<u8>,
}

/// How the sink answers.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    Accept,
    /// 550 to every recipient.
    RejectRecipients,
    /// 450 to the recipient of the first N attempts (one recipient each), then accept.
    TempFailFirst(usize),
}

#[derive(Clone)]
struct SinkHandler {
    mode: Mode,
    received: Arc<Mutex<Vec<Received>>>,
    temp_failures: Arc<Mutex<usize>>,
    current: Option<Received>,
}

impl Handler for SinkHandler {
    fn rcpt(&mut self, _to: &str) -> Response {
        match self.mode {
            Mode::RejectRecipients => response::NO_MAILBOX,
            Mode::TempFailFirst(n) => {
                // At RCPT: mailin stays in DATA state after an error at the end of DATA.
                let mut f = self.temp_failures.lock().unwrap();
                if *f < n {
                    *f += 1;
                    return Response::custom(450, "mailbox busy, try later".to_string());
                }
                response::OK
            }
            Mode::Accept => response::OK,
        }
    }
    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.current = Some(Received {
            from: from.to_string(),
            to: to.to_vec(),
            data: Vec::new(),
        });
        response::OK
    }
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if let Some(c) = &mut self.current {
            c.data.extend_from_slice(buf);
        }
        Ok(())
    }
    fn data_end(&mut self) -> Response {
        let Some(msg) = self.current.take() else {
            return response::INTERNAL_ERROR;
        };
        self.received.lock().unwrap().push(msg);
        response::OK
    }
}

/// An SMTP server in this process, on 127.0.0.1.
pub struct Sink {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    pub temp_failures: Arc<Mutex<usize>>,
}

impl Sink {
    /// Starts on an ephemeral port.
    pub fn start(mode: Mode) -> Sink {
        Sink::start_on(TcpListener::bind("127.0.0.1:0").unwrap(), mode)
    }

    /// Starts on a given listener (to bring a server "back up" on a known port).
    pub fn start_on(listener: TcpListener, mode: Mode) -> Sink {
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let temp_failures = Arc::new(Mutex::new(0));
        let handler = SinkHandler {
            mode,
            received: Arc::clone(&received),
            temp_failures: Arc::clone(&temp_failures),
            current: None,
        };
        let mut server = Server::new(handler);
        server.with_name("sink.test").with_tcp_listener(listener);
        // mailin-embedded has no shutdown: the thread ends with the test process.
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        Sink {
            port,
            received,
            temp_failures,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// A port nothing listens on (yet): bound, then released.
pub fn free_port() -> u16 {
    crate::net_support::tcp_port()
}

/// Polls `cond` until it holds, failing the test with `what` after `limit`.
pub async fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > limit {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub fn smtp_email(port: u16, group_wait: Duration) -> Email {
    Email {
        transport: MailTransport::Smtp,
        server: Some(format!("127.0.0.1:{port}")),
        security: MailSecurity::None,
        username: None,
        password: None,
        from: "bandwatch <bandwatch@example.net>".to_string(),
        group_wait: units::Duration(group_wait),
    }
}

pub fn routes(list: &[(&str, &[&str])]) -> BTreeMap<String, Route> {
    list.iter()
        .map(|(name, addrs)| {
            (
                name.to_string(),
                Route {
                    name: name.to_string(),
                    email: addrs.iter().map(|a| a.to_string()).collect(),
                },
            )
        })
        .collect()
}

/// Quick retries for tests.
pub fn fast_opts() -> SenderOptions {
    SenderOptions {
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        timeout: Duration::from_secs(5),
        ..SenderOptions::default()
    }
}

pub fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// A traffic notice for `switch/port` of product line cdn, with a 6-hour chart.
pub fn notice(kind: NoticeKind, rule: &str, switch: &str, port: &str, routes: &[&str]) -> Notice {
    let started = ts("2026-11-24T14:02:00Z");
    let at = match kind {
        NoticeKind::Resolved => ts("2026-11-24T14:14:00Z"),
        _ => ts("2026-11-24T14:05:00Z"),
    };
    let labels: BTreeMap<String, String> = [
        ("site", "bj-1"),
        ("switch", switch),
        ("port", port),
        ("product_line", "cdn"),
        ("role", "uplink"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let chart = (0..72)
        .map(|i| ChartPoint {
            at: ts("2026-11-24T08:05:00Z")
                .checked_add(jiff::SignedDuration::from_mins(5 * i))
                .unwrap(),
            value: Some(if i >= 70 { 4.2e9 } else { 8.0e8 }),
            band: Some((6.0e8, 1.0e9)),
        })
        .collect();
    Notice {
        event: AlertEvent {
            kind,
            rule: rule.to_string(),
            entity: format!("port:{switch}/{port}"),
            labels,
            severity: Severity::Critical,
            routes: routes.iter().map(|r| r.to_string()).collect(),
            value: if kind == NoticeKind::Resolved {
                7.9e8
            } else {
                4.2e9
            },
            baseline: Some(8.2e8),
            limit: Some(2.5e9),
            started_at: started,
            at,
            explanation: "4.2 Gbit/s in, 5.1x the usual 820 Mbit/s for Tuesday 14:05, for 3 min"
                .to_string(),
        },
        metric: "in_bps".to_string(),
        peak: (kind == NoticeKind::Resolved).then_some(4.6e9),
        money: None,
        evidence: None,
        chart,
    }
}

/// A MIME part: its headers (unfolded), decoded body, and sub-parts for multiparts.
#[derive(Debug, Clone)]
pub struct Part {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub parts: Vec<Part>,
}

impl Part {
    pub fn parse(raw: &[u8]) -> Part {
        let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
        let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.lines() {
            if line.starts_with(' ') || line.starts_with('\t') {
                if let Some(last) = headers.last_mut() {
                    last.1.push_str(line);
                }
            } else if let Some((k, v)) = line.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let mut part = Part {
            headers,
            body: Vec::new(),
            parts: Vec::new(),
        };
        let ct = part.header("content-type").unwrap_or_default();
        if ct.to_ascii_lowercase().starts_with("multipart/") {
            let boundary = ct
                .split(';')
                .find_map(|p| p.trim().strip_prefix("boundary="))
                .unwrap()
                .trim_matches('"')
                .to_string();
            let delim = format!("--{boundary}");
            for chunk in body.split(&delim).skip(1) {
                if chunk.starts_with("--") {
                    break;
                }
                let chunk = chunk.strip_prefix('\n').unwrap_or(chunk);
                part.parts.push(Part::parse(chunk.as_bytes()));
            }
        } else {
            let enc = part
                .header("content-transfer-encoding")
                .unwrap_or_default()
                .to_ascii_lowercase();
            part.body = match enc.as_str() {
                "base64" => base64(body),
                "quoted-printable" => quoted_printable(body),
                _ => body.as_bytes().to_vec(),
            };
        }
        part
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    pub fn content_type(&self) -> String {
        self.header("content-type")
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    }

    /// All leaf parts, depth first.
    pub fn leaves(&self) -> Vec<&Part> {
        if self.parts.is_empty() {
            vec![self]
        } else {
            self.parts.iter().flat_map(|p| p.leaves()).collect()
        }
    }

    /// The first leaf of this content type.
    pub fn find(&self, content_type: &str) -> Option<&Part> {
        self.leaves()
            .into_iter()
            .find(|p| p.content_type() == content_type)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).replace("\r\n", "\n")
    }
}

fn base64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0);
    for v in s.bytes().filter_map(val) {
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn quoted_printable(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' {
            if b.get(i + 1) == Some(&b'\n') {
                i += 2;
                continue;
            }
            if let Some(h) = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(h);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Every alert the `received` messages tell of, one `(kind, rule, place)` per alert per
/// message: a one-alert message by its subject (`[FIRING critical] rule: sim-0000 eth1
/// (cdn) 2.4 Gbit/s in`), a grouped one by the lines of its table. The place is without its
/// context in parentheses: `sim-0000 eth1`, `product line cdn`.
pub fn alerts_told(received: &[Received]) -> Vec<(String, String, String)> {
    // The place: the words before the context, the value (a number) or `after`.
    fn place<'a>(words: impl Iterator<Item = &'a str>) -> String {
        words
            .take_while(|w| {
                !w.starts_with('(') && !w.starts_with(|c: char| c.is_ascii_digit()) && *w != "after"
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
    let mut out = Vec::new();
    for m in received {
        let p = Part::parse(&m.data);
        let subject = p.header("subject").unwrap_or_default();
        let text = p.find("text/plain").map(|t| t.text()).unwrap_or_default();
        if text
            .lines()
            .next()
            .is_some_and(|l| l.contains(" alerts for "))
        {
            // "  FIRING   critical port-attack          sim-0000 eth1 (cdn)   2.4 Gbit/s"
            for line in text.lines().skip(2) {
                let w: Vec<&str> = line.split_whitespace().collect();
                if w.len() < 4 {
                    break;
                }
                out.push((w[0].into(), w[2].into(), place(w[3..].iter().copied())));
            }
        } else {
            let (head, tail) = subject.split_once("] ").unwrap_or_default();
            let kind = head.trim_start_matches('[').split(' ').next().unwrap_or("");
            let (rule, rest) = tail.split_once(": ").unwrap_or_default();
            out.push((kind.into(), rule.into(), place(rest.split_whitespace())));
        }
    }
    out
}

/// How many times each `(rule, place)` was told as `kind` (see [`alerts_told`]).
pub fn told(received: &[Received], kind: &str) -> BTreeMap<(String, String), usize> {
    let mut m = BTreeMap::new();
    for (k, rule, place) in alerts_told(received) {
        if k == kind {
            *m.entry((rule, place)).or_default() += 1;
        }
    }
    m
}
