//! Scheduled delivery of the monthly report through the notify outbox: from `[report] day`
//! at `time` (UTC), the previous month's report goes whole to `[report] route`, and each
//! account manager gets a report of their own customers. Queued once per month and route
//! (a message with the same subject already in the outbox is not queued again), so calling
//! [`queue_due`] every few minutes is safe; the notify sender delivers with its retries.

use jiff::Timestamp;
use lettre::Message;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};

use super::build::{Report, build};
use super::render::{Format, render, title};
use crate::config::Config;
use crate::notify::Outbox;
use crate::notify::outbox::NewMessage;
use crate::rules::rule::Rule;
use crate::store::UsageBook;
use crate::usage::Month;

/// Why the report could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// No `[email]` section: nothing can be sent.
    #[error("the report cannot be mailed: the configuration has no [email] section")]
    NoEmail,
    /// An address of the sender or of a route is not a mailbox.
    #[error("report mail for route `{route}`: {reason}")]
    Message {
        /// The route.
        route: String,
        /// What is wrong.
        reason: String,
    },
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The outbox could not be written.
    #[error(transparent)]
    Outbox(#[from] crate::notify::OutboxError),
}

/// When the report of the month before `now`'s month is due: `[report] day` and `time` of
/// `now`'s month, UTC.
pub fn due_at(config: &Config, now: Timestamp) -> Timestamp {
    let m = Month::of(now);
    let (h, mi) = config.report.time;
    let secs = m.start()
        + (i64::from(config.report.day) - 1) * 86_400
        + i64::from(h) * 3600
        + i64::from(mi) * 60;
    Timestamp::from_second(secs).unwrap_or(now)
}

/// Queues last month's reports if they are due and not queued yet; returns how many
/// messages were queued. `rules` are the rules in force (for `[report] exclude_attacks`).
pub fn queue_due(
    outbox: &Outbox,
    book: &UsageBook,
    config: &Config,
    rules: &[Rule],
    now: Timestamp,
) -> Result<usize, DeliverError> {
    if now < due_at(config, now) {
        return Ok(0);
    }
    let email = config.email.as_ref().ok_or(DeliverError::NoEmail)?;
    let month = Month::of(now).prev();
    let full = build(book, config, month, now, false, rules)?;
    let queued: Vec<(String, String)> = outbox
        .messages()?
        .into_iter()
        .map(|m| (m.route, m.subject))
        .collect();
    let mut reports = vec![(config.report.route.clone(), full.clone())];
    let mut managers: Vec<&str> = full
        .customers
        .iter()
        .filter_map(|c| c.account_manager.as_deref())
        .collect();
    managers.sort_unstable();
    managers.dedup();
    for am in managers {
        reports.push((am.to_string(), full.clone().only_account_manager(am)));
    }
    let mut n = 0;
    for (route, report) in reports {
        let subject = title(&report);
        if queued.iter().any(|(r, s)| *r == route && *s == subject) {
            continue;
        }
        let Some(to) = config.topology.routes.get(&route).map(|r| r.email.clone()) else {
            tracing::warn!(%route, "the report's route is not configured; not sent");
            continue;
        };
        if to.is_empty() {
            tracing::warn!(%route, "the report's route has no email address; not sent");
            continue;
        }
        let message = mail(&email.from, &to, &route, &subject, &report)?;
        let envelope_from = email
            .from
            .parse::<Mailbox>()
            .map(|m| m.email.to_string())
            .map_err(|e| DeliverError::Message {
                route: route.clone(),
                reason: format!("sender `{}`: {e}", email.from),
            })?;
        outbox.enqueue(
            &NewMessage {
                route: route.clone(),
                envelope_from,
                envelope_to: to,
                subject: subject.clone(),
                body: message.formatted(),
                alerts: Vec::new(),
            },
            now,
        )?;
        tracing::info!(%route, %month, "monthly usage report queued");
        n += 1;
    }
    Ok(n)
}

fn mail(
    from: &str,
    to: &[String],
    route: &str,
    subject: &str,
    report: &Report,
) -> Result<Message, DeliverError> {
    let bad = |reason: String| DeliverError::Message {
        route: route.to_string(),
        reason,
    };
    let mut b = Message::builder()
        .from(
            from.parse::<Mailbox>()
                .map_err(|e| bad(format!("sender `{from}`: {e}")))?,
        )
        .subject(subject)
        .message_id(None);
    for a in to {
        b = b.to(a
            .parse::<Mailbox>()
            .map_err(|e| bad(format!("address `{a}`: {e}")))?);
    }
    let text = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(render(report, Format::Text));
    let html = SinglePart::builder()
        .header(ContentType::TEXT_HTML)
        .body(render(report, Format::Html));
    b.multipart(MultiPart::alternative().singlepart(text).singlepart(html))
        .map_err(|e| bad(e.to_string()))
}
