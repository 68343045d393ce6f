//! Silences: "do not tell anyone about this rule on these entities until then". A silence
//! suppresses new notifications (firing, repeat); it never suppresses the resolved notice of an
//! alert whose firing was notified, so nobody is left with an orphaned incident.

use std::collections::BTreeMap;

use jiff::Timestamp;
use regex::Regex;
use serde::{Deserialize, Serialize};

use super::labels::LabelSet;

/// One silence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    /// Id (assigned by the store).
    pub id: u64,
    /// Only this rule; `None` = every rule.
    pub rule: Option<String>,
    /// Label matchers, all of which must hold: `customer = "acme"` or `port = "~xe-.*"`.
    pub matchers: BTreeMap<String, String>,
    /// Until when it holds.
    pub until: Timestamp,
    /// Why (shown in `silence list`).
    pub reason: String,
}

impl Silence {
    /// True when this silence covers an alert of `rule` on an entity with `labels` at `now`.
    /// A regex matcher (`~REGEX`, whole value) that does not compile matches nothing.
    pub fn covers(&self, rule: &str, labels: &impl LabelSet, now: Timestamp) -> bool {
        if now >= self.until {
            return false;
        }
        if self.rule.as_deref().is_some_and(|r| r != rule) {
            return false;
        }
        self.matchers.iter().all(|(k, want)| {
            let Some(have) = labels.label(k) else {
                return false;
            };
            match want.strip_prefix('~') {
                Some(re) => Regex::new(&format!("^(?:{re})$")).is_ok_and(|r| r.is_match(have)),
                None => have == want,
            }
        })
    }

    /// Checks a silence before it is stored: a bad regex is an error naming the label.
    pub fn validate(&self) -> Result<(), String> {
        for (k, v) in &self.matchers {
            if let Some(re) = v.strip_prefix('~') {
                Regex::new(&format!("^(?:{re})$"))
                    .map_err(|e| format!("match {k}: invalid regex `{re}`: {e}"))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silence_covers_its_rule_labels_and_time() {
        let until: Timestamp = "2026-01-01T12:00:00Z".parse().unwrap();
        let s = Silence {
            id: 1,
            rule: Some("customer-surge".into()),
            matchers: [("customer".to_string(), "~ac.*".to_string())].into(),
            until,
            reason: "planned migration".into(),
        };
        let labels: BTreeMap<String, String> =
            [("customer".to_string(), "acme".to_string())].into();
        let other: BTreeMap<String, String> =
            [("customer".to_string(), "globex".to_string())].into();
        let before: Timestamp = "2026-01-01T11:00:00Z".parse().unwrap();
        assert!(s.covers("customer-surge", &labels, before));
        assert!(!s.covers("customer-churn-risk", &labels, before));
        assert!(!s.covers("customer-surge", &other, before));
        assert!(!s.covers("customer-surge", &labels, until));
        assert!(s.validate().is_ok());
        let bad = Silence {
            matchers: [("port".to_string(), "~(".to_string())].into(),
            ..s
        };
        assert!(bad.validate().unwrap_err().contains("port"));
    }
}
