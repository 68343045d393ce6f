//! `for_points`, `flap`, `repeat`, `repeat_backoff` and `repeat_max`: when and how often an
//! alert may speak. A flap table is checked key by key, so a typo names its key and line like
//! every other mistake.

use super::*;
use crate::rules::rule::{Flap, Repeat};

/// Keys of a `flap` table.
const FLAP_KEYS: [&str; 3] = ["changes", "within", "clear_for"];
/// The most points `for_points` may ask for (a count, not a memory: any bound is cheap).
const MAX_FOR_POINTS: u32 = 10_000;

impl Validator<'_, '_, '_> {
    /// The rule's flap detection: what `flap` says, else the default of its kind
    /// ([`defaults::flap`]: port_down and absent rules have it).
    pub(super) fn flap(&mut self, r: &RawRule, kind: Kind) -> Option<Flap> {
        let Some(f) = &r.flap else {
            return defaults::flap(kind);
        };
        let table = match f.get_ref() {
            toml::Value::Boolean(false) => return None,
            toml::Value::Boolean(true) => return Some(defaults::FLAP),
            toml::Value::Table(t) => t,
            _ => {
                self.err(
                    f,
                    "flap",
                    "expected `false`, `true` or a table like { changes = 6, within = \"1h\", clear_for = \"30m\" }",
                );
                return None;
            }
        };
        let mut flap = defaults::FLAP;
        for (k, v) in table {
            let field = format!("flap.{k}");
            match (k.as_str(), v) {
                ("changes", toml::Value::Integer(n)) if *n >= 2 => flap.changes = *n as usize,
                ("changes", _) => self.err(f, &field, "must be a whole number of at least 2"),
                ("within" | "clear_for", toml::Value::String(s)) => match s.parse::<Duration>() {
                    Ok(d) if d.as_secs() > 0 => {
                        if k == "within" {
                            flap.within = d.as_secs() as i64;
                        } else {
                            flap.clear_for = d.as_secs() as i64;
                        }
                    }
                    Ok(_) => self.err(f, &field, "must be longer than zero"),
                    Err(e) => self.err(f, &field, e.to_string()),
                },
                ("within" | "clear_for", _) => {
                    self.err(f, &field, "expected a duration like \"1h\" or \"30m\"")
                }
                _ => self.err(
                    f,
                    &field,
                    format!(
                        "unknown key `{k}`; a flap table has {}",
                        FLAP_KEYS.join(", ")
                    ),
                ),
            }
        }
        if !table.contains_key("clear_for") {
            flap.clear_for = flap.within.min(defaults::FLAP.clear_for);
        }
        Some(flap)
    }

    /// `for_points`: consecutive evaluated points the condition must hold on before firing
    /// (with `for`, both must be met); 0 when absent. Not for `absent` rules, whose points
    /// are the silence itself.
    pub(super) fn for_points(&mut self, r: &RawRule, kind: Kind) -> u32 {
        let Some(p) = &r.for_points else {
            return 0;
        };
        if kind == Kind::Absent {
            self.err(
                p,
                "for_points",
                "`for_points` does not apply to absent rules: their `for` is how long nothing came",
            );
            return 0;
        }
        match u32::try_from(*p.get_ref()) {
            Ok(n) if (1..=MAX_FOR_POINTS).contains(&n) => n,
            _ => {
                self.err(
                    p,
                    "for_points",
                    format!(
                        "must be a whole number of points from 1 to {MAX_FOR_POINTS}, like 2, got {}",
                        p.get_ref()
                    ),
                );
                0
            }
        }
    }

    /// `repeat` with its `repeat_backoff` and `repeat_max`.
    pub(super) fn repeat(&mut self, r: &RawRule) -> Option<Repeat> {
        let every = self.positive(&r.repeat, "repeat");
        let backoff = match &r.repeat_backoff {
            Some(b) if !(b.get_ref().is_finite() && *b.get_ref() >= 1.0) => {
                self.err(
                    b,
                    "repeat_backoff",
                    "must be a factor of at least 1 (1 = a fixed interval, 2 = each repeat twice as late)",
                );
                1.0
            }
            Some(b) => *b.get_ref(),
            None => 1.0,
        };
        let max = self.positive(&r.repeat_max, "repeat_max");
        let Some(every) = every else {
            for (present, field) in [
                (
                    r.repeat_backoff.as_ref().map(|s| s.span()),
                    "repeat_backoff",
                ),
                (r.repeat_max.as_ref().map(|s| s.span()), "repeat_max"),
            ] {
                if let Some(span) = present {
                    let key = format!("{}.{field}", self.key);
                    self.doc.error(
                        Some(span),
                        &key,
                        format!("`{field}` needs `repeat` (the first interval)"),
                    );
                    self.ok = false;
                }
            }
            return None;
        };
        if let (Some(m), Some(s)) = (max, &r.repeat_max)
            && m < every
        {
            self.err(s, "repeat_max", "must not be shorter than `repeat`");
        }
        Some(Repeat {
            every,
            backoff,
            max,
        })
    }
}
