//! Turns the notices for one route into one email: a subject a tired person can act on, a
//! text part and an HTML part (inline styles, no scripts), inline PNG charts of the series
//! with their baseline band, and a link to the status page.
//!
//! MIME layout: `multipart/alternative` (text, HTML); with charts the HTML part becomes
//! `multipart/related` (HTML, PNG images referenced by `cid:`).

use std::fmt::Write as _;

use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use maud::{DOCTYPE, html};

use super::chart;
use super::format;
use super::notice::{Notice, NoticeKind, Severity};

/// RFC 3834: tells mail systems not to send auto-replies (vacation notices) to alerts.
const AUTO_SUBMITTED: HeaderName = HeaderName::new_from_ascii_str("Auto-Submitted");
/// The route a message was sent for, for people's mail filters.
const ROUTE_HEADER: HeaderName = HeaderName::new_from_ascii_str("X-Bandwatch-Route");

/// At most this many charts in one grouped message; the table still lists every notice.
pub const MAX_CHARTS: usize = 5;
/// At most this many notices get a detail section in one grouped message (an outage can
/// fire hundreds); the table at the top lists every one.
pub const MAX_DETAILS: usize = 20;

/// The sentence that replaces the details past [`MAX_DETAILS`].
fn more_line(notices: &[Notice]) -> Option<String> {
    (notices.len() > MAX_DETAILS).then(|| {
        format!(
            "Details of {} more alerts are left out; the table above lists them all.",
            notices.len() - MAX_DETAILS
        )
    })
}

/// Why a message could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// An address in `[email] from` or in a route is not a valid mailbox.
    #[error("invalid email address `{address}`: {reason}")]
    Address {
        /// The address as configured.
        address: String,
        /// The parser's reason.
        reason: String,
    },
    /// lettre refused to assemble the message.
    #[error("cannot build the message: {0}")]
    Build(String),
    /// There was nothing to send.
    #[error("no notices to render")]
    Empty,
}

/// Where the message goes and what surrounds the notices.
#[derive(Clone, Debug)]
pub struct Envelope<'a> {
    /// Sender, like `bandwatch <bandwatch@example.net>`.
    pub from: &'a str,
    /// Route name (shown in grouped messages).
    pub route: &'a str,
    /// The route's addresses; all go into one message.
    pub to: &'a [String],
    /// `daemon.public_url`, for the status-page link.
    pub public_url: Option<&'a str>,
}

/// The subject line. One notice:
/// `[FIRING critical] uplink-attack: bj1-core-a xe-0/0/1 (cdn) 4.2 Gbit/s in, 5.1x normal`.
/// Several: counts by kind, the highest severity, and the first notice named.
pub fn subject(notices: &[Notice]) -> String {
    let Some(first) = notices.first() else {
        return String::from("[bandwatch] no alerts");
    };
    if notices.len() == 1 {
        return single_subject(first);
    }
    let count = |k: NoticeKind| notices.iter().filter(|n| n.kind == k).count();
    let mut parts = Vec::new();
    for kind in [
        NoticeKind::Firing,
        NoticeKind::Repeat,
        NoticeKind::Flapping,
        NoticeKind::Stable,
        NoticeKind::Resolved,
    ] {
        let c = count(kind);
        if c > 0 {
            parts.push(format!("{c} {}", kind.word()));
        }
    }
    let severity = top_severity(notices);
    format!(
        "[{} {}] {} alerts: {}: {} and {} more",
        parts.join(", "),
        severity.word(),
        notices.len(),
        first.rule,
        place(first),
        notices.len() - 1
    )
}

fn single_subject(n: &Notice) -> String {
    let head = format!(
        "[{} {}] {}: {}",
        n.kind.word(),
        n.severity.word(),
        n.rule,
        place(n)
    );
    match n.kind {
        NoticeKind::Firing | NoticeKind::Repeat => {
            let mut s = format!("{head} {}", format::value(&n.metric, n.value));
            if let Some(r) = format::ratio(n.value, n.baseline) {
                let _ = write!(s, ", {r} normal");
            }
            s
        }
        NoticeKind::Resolved => {
            let mut s = format!("{head} after {}", format::duration(n.duration()));
            if let Some(p) = n.peak {
                let _ = write!(s, ", peak {}", format::value(&n.metric, p));
            }
            s
        }
        NoticeKind::Flapping | NoticeKind::Stable => format!("{head}: {}", n.explanation),
    }
}

/// Firing/repeat severities outrank resolved ones; with only resolved notices, their highest.
fn top_severity(notices: &[Notice]) -> Severity {
    let active = notices
        .iter()
        .filter(|n| !n.kind.closes())
        .map(|n| n.severity)
        .max();
    active
        .or_else(|| notices.iter().map(|n| n.severity).max())
        .unwrap_or(Severity::Info)
}

/// Where, in a few words: `bj1-core-a xe-0/0/1 (cdn)`, `customer acme`.
pub fn place(n: &Notice) -> String {
    let mut s = match (n.switch(), n.port()) {
        (Some(sw), Some(p)) => format!("{sw} {p}"),
        (Some(sw), None) => sw.to_string(),
        _ => match n.entity.split_once(':') {
            Some((scope, name)) => format!("{} {name}", scope.replace('_', " ")),
            None => n.entity.clone(),
        },
    };
    let context: Vec<&str> = ["product_line", "customer"]
        .iter()
        .filter_map(|k| n.labels.get(*k).map(String::as_str))
        .filter(|v| !v.is_empty() && !s.ends_with(&format!(" {v}")))
        .collect();
    if !context.is_empty() {
        let _ = write!(s, " ({})", context.join(", "));
    }
    s
}

/// The "where" facts of a notice, in a fixed order, as present.
fn where_facts(n: &Notice) -> Vec<(&'static str, String)> {
    let mut facts = Vec::new();
    for (key, label) in [
        ("site", "Site"),
        ("switch", "Switch"),
        ("port", "Port"),
        ("product_line", "Product line"),
        ("customer", "Customer"),
        ("role", "Role"),
    ] {
        let v = match key {
            "switch" => n.switch().map(str::to_string),
            "port" => n.port().map(str::to_string),
            _ => n.labels.get(key).cloned(),
        };
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            facts.push((label, v));
        }
    }
    facts
}

/// The "what and when" facts of a notice.
fn state_facts(n: &Notice) -> Vec<(&'static str, String)> {
    let mut facts = vec![("Value", format::value(&n.metric, n.value))];
    if let Some(b) = n.baseline {
        let mut s = format::quantity(&n.metric, b);
        if let Some(r) = format::ratio(n.value, Some(b)) {
            let _ = write!(s, " (now {r})");
        }
        facts.push(("Usual", s));
    }
    facts.push(("Since", format::time(n.started_at)));
    match n.kind {
        NoticeKind::Flapping => facts.push(("Flapping since", format::time(n.at))),
        NoticeKind::Stable => facts.push(("Stable again at", format::time(n.at))),
        NoticeKind::Resolved => {
            facts.push(("Ended", format::time(n.at)));
            facts.push(("Lasted", format::duration(n.duration())));
            if let Some(p) = n.peak {
                facts.push(("Peak", format::value(&n.metric, p)));
            }
        }
        _ => facts.push(("Firing for", format::duration(n.duration()))),
    }
    facts.push(("Alert", format!("{} on {}", n.rule, n.entity)));
    facts
}

fn headline(n: &Notice) -> String {
    format!("{} {}: {}", n.kind.word(), n.severity.word(), n.rule)
}

/// The plain-text part.
pub fn text_body(env: &Envelope<'_>, notices: &[Notice]) -> String {
    let mut out = String::new();
    if notices.len() > 1 {
        let _ = writeln!(out, "{} alerts for {}:\n", notices.len(), env.route);
        for n in notices {
            let _ = writeln!(
                out,
                "  {:<8} {:<8} {:<20} {:<32} {}",
                n.kind.word(),
                n.severity.word(),
                n.rule,
                place(n),
                format::value(&n.metric, n.value)
            );
        }
        out.push('\n');
    }
    for n in notices.iter().take(MAX_DETAILS) {
        let _ = writeln!(out, "{}", headline(n));
        if !n.explanation.is_empty() {
            let _ = writeln!(out, "{}", n.explanation);
        }
        if let Some(m) = &n.money {
            let _ = writeln!(out, "{m}");
        }
        if let Some(e) = &n.evidence {
            let _ = writeln!(out, "{e}");
        }
        out.push('\n');
        for (k, v) in where_facts(n).into_iter().chain(state_facts(n)) {
            let _ = writeln!(out, "  {:<13} {v}", format!("{k}:"));
        }
        out.push('\n');
    }
    if let Some(more) = more_line(notices) {
        let _ = writeln!(out, "{more}\n");
    }
    if let Some(url) = env.public_url {
        let _ = writeln!(out, "Status page: {url}");
    }
    out.push_str("-- \nbandwatch\n");
    out
}

/// The HTML part; `charts[i]` is the content id of notice `i`'s chart, if it has one. Built
/// with `maud`, which escapes every value it is given (rule names, ifAlias text, URLs).
pub fn html_body(env: &Envelope<'_>, notices: &[Notice], charts: &[Option<Chart>]) -> String {
    let colour = |n: &Notice| format!("color:{}", kind_colour(n.kind));
    let markup = html! {
        (DOCTYPE)
        html {
            body style="font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#222" {
                @if notices.len() > 1 {
                    p style="margin:0 0 8px 0" {
                        b { (notices.len()) " alerts for " (env.route) }
                    }
                    table cellpadding="4" style="border-collapse:collapse;margin-bottom:16px" {
                        tr style="background:#eee;text-align:left" {
                            th { "State" } th { "Severity" } th { "Rule" } th { "Where" }
                            th { "Value" } th { "Usual" } th { "Since" }
                        }
                        @for n in notices {
                            tr style="border-top:1px solid #ddd" {
                                td style=(colour(n)) { b { (n.kind.word()) } }
                                td { (n.severity.word()) }
                                td { (n.rule) }
                                td { (place(n)) }
                                td { (format::value(&n.metric, n.value)) }
                                td {
                                    (n.baseline
                                        .map(|b| format::quantity(&n.metric, b))
                                        .unwrap_or_default())
                                }
                                td { (format::time(n.started_at)) }
                            }
                        }
                    }
                }
                @for (i, n) in notices.iter().enumerate().take(MAX_DETAILS) {
                    h3 style=(format!("margin:16px 0 4px 0;{}", colour(n))) { (headline(n)) }
                    @if !n.explanation.is_empty() {
                        p style="margin:0 0 8px 0" { (n.explanation) }
                    }
                    @if let Some(m) = &n.money {
                        p style="margin:0 0 8px 0;font-weight:bold" { (m) }
                    }
                    @if let Some(e) = &n.evidence {
                        p style="margin:0 0 8px 0" { (e) }
                    }
                    table cellpadding="2" style="border-collapse:collapse" {
                        @for (k, v) in where_facts(n).into_iter().chain(state_facts(n)) {
                            tr {
                                td style="color:#666;padding-right:12px" { (k) }
                                td { (v) }
                            }
                        }
                    }
                    @if let Some(Some(c)) = charts.get(i) {
                        p style="margin:8px 0 0 0" {
                            img src=(format!("cid:{}", c.content_id)) width=(chart::WIDTH)
                                height=(chart::HEIGHT) alt=(format!("chart of {}", n.metric));
                        }
                        p style="margin:0;color:#666;font-size:12px" {
                            (format::time(c.from)) " to " (format::time(c.to))
                            "; blue: measured, shaded and dashed: usual to limit, red: alert start and the value that fired it; scale "
                            (format::quantity(super::enrich::chart_metric(&n.metric), c.scale.y_min)) " to "
                            (format::quantity(super::enrich::chart_metric(&n.metric), c.scale.y_max)) "."
                        }
                    }
                }
                @if let Some(more) = more_line(notices) {
                    p style="margin-top:16px" { (more) }
                }
                @if let Some(url) = env.public_url {
                    p style="margin-top:16px" { a href=(url) { "Status page" } }
                }
                p style="color:#999;font-size:12px" { "bandwatch" }
            }
        }
    };
    markup.into_string()
}

fn kind_colour(kind: NoticeKind) -> &'static str {
    match kind {
        NoticeKind::Firing | NoticeKind::Repeat => "#b00020",
        NoticeKind::Flapping => "#b26a00",
        NoticeKind::Resolved | NoticeKind::Stable => "#1b7f3b",
    }
}

/// A rendered chart of one notice.
#[derive(Clone, Debug)]
pub struct Chart {
    /// `Content-ID` of the inline image (without angle brackets).
    pub content_id: String,
    /// The PNG image.
    pub png: Vec<u8>,
    /// The value range drawn.
    pub scale: chart::ChartScale,
    /// First time on the chart.
    pub from: jiff::Timestamp,
    /// Last time on the chart.
    pub to: jiff::Timestamp,
}

/// Charts for the first [`MAX_CHARTS`] notices that carry chart data.
pub fn charts(notices: &[Notice]) -> Vec<Option<Chart>> {
    let mut made = 0;
    notices
        .iter()
        .enumerate()
        .map(|(i, n)| {
            if made >= MAX_CHARTS {
                return None;
            }
            let metric = super::enrich::chart_metric(&n.metric);
            // The alert's own usual and limit, when they are in the chart's unit.
            let reference = if metric == n.metric {
                chart::Reference {
                    usual: n.baseline,
                    limit: n.limit,
                    // A resolved notice's value is today's, not the one that fired it.
                    value: (n.kind != NoticeKind::Resolved).then_some(n.value),
                }
            } else {
                chart::Reference::default()
            };
            let (png, scale) = chart::render_png(&n.chart, Some(n.started_at), metric, reference)?;
            made += 1;
            Some(Chart {
                content_id: format!("chart-{i}@bandwatch"),
                png,
                scale,
                from: n.chart.iter().map(|p| p.at).min()?,
                to: n.chart.iter().map(|p| p.at).max()?,
            })
        })
        .collect()
}

fn mailbox(address: &str) -> Result<Mailbox, RenderError> {
    address
        .parse()
        .map_err(|e: lettre::address::AddressError| RenderError::Address {
            address: address.to_string(),
            reason: e.to_string(),
        })
}

/// Builds the whole message for one route: all addresses in one message.
pub fn message(env: &Envelope<'_>, notices: &[Notice]) -> Result<Message, RenderError> {
    if notices.is_empty() {
        return Err(RenderError::Empty);
    }
    let mut builder = Message::builder()
        .from(mailbox(env.from)?)
        .subject(subject(notices))
        // Generated once here and stored with the message, so a retry keeps the same id.
        .message_id(None)
        .raw_header(HeaderValue::new(AUTO_SUBMITTED, "auto-generated".into()))
        .raw_header(HeaderValue::new(ROUTE_HEADER, env.route.to_string()));
    for to in env.to {
        builder = builder.to(mailbox(to)?);
    }
    let charts = charts(notices);
    let text = SinglePart::plain(text_body(env, notices));
    let html = SinglePart::html(html_body(env, notices, &charts));
    let images: Vec<&Chart> = charts.iter().flatten().collect();
    let body = if images.is_empty() {
        MultiPart::alternative().singlepart(text).singlepart(html)
    } else {
        let mut related = MultiPart::related().singlepart(html);
        for c in images {
            related = related.singlepart(Attachment::new_inline(c.content_id.clone()).body(
                c.png.clone(),
                ContentType::parse("image/png").map_err(|e| RenderError::Build(e.to_string()))?,
            ));
        }
        MultiPart::alternative().singlepart(text).multipart(related)
    };
    builder
        .multipart(body)
        .map_err(|e| RenderError::Build(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn n(kind: NoticeKind, entity: &str, labels: &[(&str, &str)], severity: Severity) -> Notice {
        Notice {
            event: crate::rules::event::AlertEvent {
                kind,
                rule: "r".into(),
                entity: entity.into(),
                labels: labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>(),
                severity,
                routes: vec!["ops".into()],
                value: 0.93,
                baseline: None,
                limit: None,
                started_at: "2026-11-27T10:00:00Z".parse().unwrap(),
                at: "2026-11-27T11:30:00Z".parse().unwrap(),
                explanation: String::new(),
            },
            metric: "utilization".into(),
            peak: None,
            money: None,
            evidence: None,
            chart: Vec::new(),
        }
    }

    #[test]
    fn the_money_line_is_in_both_parts_when_present() {
        let env = Envelope {
            from: "bandwatch <bw@example.net>",
            route: "sales",
            to: &[],
            public_url: None,
        };
        let mut a = n(NoticeKind::Firing, "customer:acme", &[], Severity::Warning);
        assert!(!text_body(&env, std::slice::from_ref(&a)).contains("Revenue at risk"));
        a.money = Some("Revenue at risk: 1,200.00 EUR a month <plan>".into());
        let notices = [a];
        assert!(text_body(&env, &notices).contains("Revenue at risk: 1,200.00 EUR a month <plan>"));
        let html = html_body(&env, &notices, &[None]);
        assert!(
            html.contains("Revenue at risk: 1,200.00 EUR a month &lt;plan&gt;"),
            "{html}"
        );
    }

    #[test]
    fn places_for_ports_and_other_entities() {
        let port = n(
            NoticeKind::Firing,
            "port:bj1-core-a/xe-0/0/1",
            &[("product_line", "cdn"), ("customer", "acme")],
            Severity::Warning,
        );
        assert_eq!(place(&port), "bj1-core-a xe-0/0/1 (cdn, acme)");
        let customer = n(
            NoticeKind::Firing,
            "customer:acme",
            &[("customer", "acme")],
            Severity::Info,
        );
        assert_eq!(place(&customer), "customer acme");
        let line = n(NoticeKind::Firing, "product_line:cdn", &[], Severity::Info);
        assert_eq!(place(&line), "product line cdn");
    }

    #[test]
    fn subjects_without_baseline_and_for_groups() {
        let a = n(NoticeKind::Firing, "port:s/p", &[], Severity::Warning);
        assert_eq!(
            subject(std::slice::from_ref(&a)),
            "[FIRING warning] r: s p 93%"
        );
        let mut b = n(NoticeKind::Resolved, "port:s/q", &[], Severity::Critical);
        b.peak = Some(0.99);
        assert_eq!(
            subject(std::slice::from_ref(&b)),
            "[RESOLVED critical] r: s q after 1 h 30 min, peak 99%"
        );
        // A resolved critical does not make a group of warnings critical.
        assert_eq!(
            subject(&[a.clone(), b.clone(), a]),
            "[2 FIRING, 1 RESOLVED warning] 3 alerts: r: s p and 2 more"
        );
        assert_eq!(
            subject(&[b.clone(), b]),
            "[2 RESOLVED critical] 2 alerts: r: s q and 1 more"
        );
    }

    #[test]
    fn html_escapes_what_it_is_given_and_has_no_chart_without_data() {
        let mut a = n(
            NoticeKind::Firing,
            "port:s/p",
            &[("customer", "<b>acme</b>")],
            Severity::Info,
        );
        a.rule = "x<script>alert(1)</script>".into();
        a.explanation = "a & b".into();
        let env = Envelope {
            from: "bandwatch@example.net",
            route: "ops",
            to: &[],
            public_url: Some("https://example.net/?a=1&b=\"2\""),
        };
        let charts = charts(std::slice::from_ref(&a));
        assert!(charts[0].is_none());
        let html = html_body(&env, std::slice::from_ref(&a), &charts);
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("x&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("&lt;b&gt;acme&lt;/b&gt;"));
        assert!(html.contains("a &amp; b"));
        assert!(html.contains("href=\"https://example.net/?a=1&amp;b=&quot;2&quot;\""));
        assert!(!html.contains("<img"));
    }

    #[test]
    fn a_port_and_customer_named_by_if_alias_show_escaped_in_the_email() {
        const EVIL: &str = "<script>alert(1)</script>";
        let a = n(
            NoticeKind::Firing,
            &format!("port:sw1/{EVIL}"),
            &[("customer", EVIL), ("product_line", EVIL)],
            Severity::Critical,
        );
        let b = n(NoticeKind::Resolved, "port:sw1/p2", &[], Severity::Critical);
        let env = Envelope {
            from: "bandwatch@example.net",
            route: "ops",
            to: &[],
            public_url: None,
        };
        let notices = [a, b];
        let html = html_body(&env, &notices, &charts(&notices));
        assert!(!html.contains("<script>"), "{html}");
        let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;";
        // In the summary table, the headline and the facts of the first alert.
        assert!(html.matches(escaped).count() >= 3, "{html}");
        assert_eq!(html.matches("<tr style=\"border-top").count(), 2);
        assert!(
            html.starts_with("<!DOCTYPE html><html><body style="),
            "{html}"
        );
    }

    #[test]
    fn a_storm_lists_every_alert_but_details_only_the_first() {
        let storm: Vec<Notice> = (0..120)
            .map(|i| {
                n(
                    NoticeKind::Firing,
                    &format!("port:s/p{i}"),
                    &[],
                    Severity::Critical,
                )
            })
            .collect();
        let env = Envelope {
            from: "bandwatch@example.net",
            route: "ops",
            to: &[],
            public_url: None,
        };
        let html = html_body(&env, &storm, &charts(&storm));
        assert_eq!(html.matches("<tr style=\"border-top").count(), 120);
        assert_eq!(html.matches("<h3").count(), MAX_DETAILS);
        assert!(html.contains("Details of 100 more alerts are left out"));
        let text = text_body(&env, &storm);
        assert_eq!(text.matches("FIRING critical: r").count(), MAX_DETAILS);
        assert!(text.contains("s p119"));
    }

    #[test]
    fn a_bad_address_is_an_error_that_names_it() {
        let a = n(NoticeKind::Firing, "port:s/p", &[], Severity::Info);
        let to = vec!["not an address".to_string()];
        let env = Envelope {
            from: "bandwatch@example.net",
            route: "ops",
            to: &to,
            public_url: None,
        };
        let err = message(&env, &[a]).unwrap_err().to_string();
        assert!(err.contains("not an address"), "{err}");
        assert!(matches!(message(&env, &[]), Err(RenderError::Empty)));
    }
}
