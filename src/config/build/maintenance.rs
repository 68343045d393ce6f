//! `[[maintenance]]`: planned work windows, checked and built into
//! [`crate::maintenance::Window`]s (see that module for what a window does).

use jiff::SignedDuration;
use jiff::tz::TimeZone;

use super::*;
use crate::maintenance::schedule::{self, Occurrence, Recurrence, Schedule};
use crate::maintenance::{Window, cron::Cron};
use crate::rules::rule::Matcher;

/// Labels a window may match on.
pub const MAINTENANCE_LABELS: [&str; 6] =
    ["site", "switch", "port", "product_line", "customer", "role"];

impl Builder<'_, '_> {
    pub(super) fn maintenance(&mut self) -> Vec<Window> {
        let raws: Vec<document::Element<RawMaintenance>> = self.doc.array_of_tables("maintenance");
        let mut seen = HashMap::new();
        let mut out = Vec::new();
        for el in raws {
            let key = format!("maintenance[{}]", el.index);
            if !self.unique(
                &mut seen,
                "maintenance window",
                &el.value.name,
                &format!("{key}.name"),
            ) {
                continue;
            }
            let line = self.doc.line_col(el.value.name.span().start).0;
            if let Some(mut w) = self.window(el.value, &key) {
                w.line = line;
                w.index = el.index;
                out.push(w);
            }
        }
        out
    }

    fn window(&mut self, r: RawMaintenance, key: &str) -> Option<Window> {
        let mut ok = true;
        let (tz, time_zone) = match &r.time_zone {
            Some(z) => match TimeZone::get(z.get_ref()) {
                Ok(tz) => (tz, z.get_ref().clone()),
                Err(e) => {
                    self.doc.error(
                        Some(z.span()),
                        &format!("{key}.time_zone"),
                        format!(
                            "unknown time zone `{}` ({e}); use an IANA name like `Europe/Berlin` or `UTC`",
                            z.get_ref()
                        ),
                    );
                    return None;
                }
            },
            None => (TimeZone::UTC, "UTC".to_string()),
        };
        let mut matchers = Vec::new();
        for (k, v) in r.matchers.iter().flatten() {
            let field = format!("{key}.match.{}", k.get_ref());
            if !MAINTENANCE_LABELS.contains(&k.get_ref().as_str()) {
                self.doc.error(
                    Some(k.span()),
                    &field,
                    format!(
                        "a maintenance window cannot match `{}`; it matches {}",
                        k.get_ref(),
                        MAINTENANCE_LABELS.join(", ")
                    ),
                );
                ok = false;
                continue;
            }
            match v.get_ref().strip_prefix('~') {
                Some(re) => match Regex::new(&format!("^(?:{re})$")) {
                    Ok(rx) => matchers.push(Matcher::Regex(k.get_ref().clone(), rx)),
                    Err(e) => {
                        let last = e
                            .to_string()
                            .lines()
                            .last()
                            .unwrap_or("")
                            .trim()
                            .to_string();
                        self.doc.error(
                            Some(v.span()),
                            &field,
                            format!("invalid regex `{re}`: {last}"),
                        );
                        ok = false;
                    }
                },
                None => matchers.push(Matcher::Equals(k.get_ref().clone(), v.get_ref().clone())),
            }
        }
        let alerts = r.alerts.as_ref().map(|list| {
            list.iter()
                .map(|a| a.get_ref().trim().to_string())
                .collect::<Vec<_>>()
        });
        if let Some(list) = &r.alerts
            && list.is_empty()
        {
            self.doc.error(
                None,
                &format!("{key}.alerts"),
                "an empty list mutes nothing: name rules, or leave `alerts` out to mute all",
            );
            ok = false;
        }
        let (schedule, written) = self.schedule(&r, key, &tz)?;
        if !ok {
            return None;
        }
        Some(Window {
            name: r.name.into_inner(),
            reason: r.reason,
            matchers,
            alerts,
            schedule,
            time_zone,
            exclude_samples: r.exclude_samples.unwrap_or(false),
            written,
            line: 0,
            index: 0,
        })
    }

    /// One-off (`from` and `until`) or recurring (`every` or `cron`, with `duration`).
    fn schedule(
        &mut self,
        r: &RawMaintenance,
        key: &str,
        tz: &TimeZone,
    ) -> Option<(Schedule, String)> {
        let usage = "give `from` and `until` (once), or `every` or `cron` with `duration`";
        let recurring = match (&r.every, &r.cron) {
            (Some(e), Some(c)) => {
                let _ = e;
                self.doc.error(
                    Some(c.span()),
                    &format!("{key}.cron"),
                    "give `every` or `cron`, not both",
                );
                return None;
            }
            (Some(e), None) => Some((
                e,
                "every",
                schedule::parse_every(e.get_ref()),
                format!("every {}", e.get_ref()),
            )),
            (None, Some(c)) => Some((
                c,
                "cron",
                Cron::parse(c.get_ref()).map(Recurrence::Cron),
                format!("cron {}", c.get_ref()),
            )),
            (None, None) => None,
        };
        if let Some((spanned, field, parsed, written)) = recurring {
            for (v, f) in [(&r.from, "from"), (&r.until, "until")] {
                if let Some(v) = v {
                    self.doc.error(
                        Some(v.span()),
                        &format!("{key}.{f}"),
                        format!("`{f}` is for a one-off window; this one recurs (`{field}`)"),
                    );
                }
            }
            let recurrence = match parsed {
                Ok(p) => p,
                Err(e) => {
                    self.doc
                        .error(Some(spanned.span()), &format!("{key}.{field}"), e);
                    return None;
                }
            };
            let Some(d) = &r.duration else {
                self.doc.error(
                    Some(spanned.span()),
                    &format!("{key}.duration"),
                    "a recurring window needs `duration` (how long each one lasts), like \"2h\"",
                );
                return None;
            };
            let secs = d.get_ref().as_secs();
            if secs < 60 {
                self.doc.error(
                    Some(d.span()),
                    &format!("{key}.duration"),
                    "must be at least 1m",
                );
                return None;
            }
            let duration = SignedDuration::from_secs(secs as i64);
            return Some((
                Schedule::Every {
                    recurrence,
                    duration,
                    tz: tz.clone(),
                },
                format!(
                    "{written} for {}",
                    crate::format::duration_secs(secs as i64)
                ),
            ));
        }
        let (Some(from), Some(until)) = (&r.from, &r.until) else {
            let span = r
                .from
                .as_ref()
                .or(r.until.as_ref())
                .map(|s| s.span())
                .unwrap_or_else(|| r.name.span());
            self.doc.error(
                Some(span),
                &format!("{key}.from"),
                format!("no schedule: {usage}"),
            );
            return None;
        };
        if let Some(d) = &r.duration {
            self.doc.error(
                Some(d.span()),
                &format!("{key}.duration"),
                "`duration` is for a recurring window; a one-off one ends at `until`",
            );
            return None;
        }
        let mut bound =
            |s: &Spanned<String>, f: &str| match schedule::parse_instant(s.get_ref(), tz) {
                Ok(t) => Some(t),
                Err(e) => {
                    self.doc.error(Some(s.span()), &format!("{key}.{f}"), e);
                    None
                }
            };
        let (start, end) = (bound(from, "from"), bound(until, "until"));
        let (start, end) = (start?, end?);
        if end <= start {
            self.doc.error(
                Some(until.span()),
                &format!("{key}.until"),
                "must be after `from`",
            );
            return None;
        }
        Some((
            Schedule::Once(Occurrence { start, end }),
            format!("from {} until {}", from.get_ref(), until.get_ref()),
        ))
    }
}
