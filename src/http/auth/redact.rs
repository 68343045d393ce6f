//! What a redacted (anonymous, exposed) reader gets instead: the same pages and documents
//! with every customer name, email address and amount of money taken out. Structural where
//! the shape is known (the topology's customers and routes, money families of `/metrics`,
//! the `customer` label), and a final pass that drops or masks anything that still mentions
//! a customer (an alert on a customer, an ifAlias-attributed port's customer).

use std::sync::Arc;

use serde_json::Value;

use crate::config::{PortLabels, Topology};
use crate::store::alerts::{AlertRow, HistoryRow, SilenceRow};
use crate::store::{AlertStore, SilenceStore, StoreError};

/// What a masked value reads.
pub const MASK: &str = "(hidden)";

/// The words a redacted answer must not contain: customer ids and names, route names that
/// belong to customers' account managers, email addresses (lowercase).
#[derive(Clone, Debug, Default)]
pub struct Sensitive {
    words: Vec<String>,
}

impl Sensitive {
    /// The customers and addresses of `topology` and of ports attributed by ifAlias.
    pub fn of(topology: &Topology, attributed: &[PortLabels]) -> Sensitive {
        let mut words: Vec<String> = Vec::new();
        for c in topology.customers.values() {
            words.push(c.id.to_lowercase());
            words.push(c.name.to_lowercase());
        }
        for r in topology.routes.values() {
            words.extend(r.email.iter().map(|e| e.to_lowercase()));
        }
        words.extend(
            attributed
                .iter()
                .filter_map(|l| l.customer.as_deref())
                .map(str::to_lowercase),
        );
        words.retain(|w| !w.trim().is_empty());
        words.sort();
        words.dedup();
        Sensitive { words }
    }

    /// True when `text` names a customer (as a whole word, any case) or holds an email
    /// address.
    pub fn mentions(&self, text: &str) -> bool {
        if text.contains('@') {
            return true;
        }
        let lower = text.to_lowercase();
        self.words.iter().any(|w| whole_word(&lower, w))
    }

    /// `text`, or [`MASK`] when it mentions a customer.
    pub fn mask(&self, text: &str) -> String {
        if self.mentions(text) {
            MASK.to_string()
        } else {
            text.to_string()
        }
    }
}

fn whole_word(hay: &str, word: &str) -> bool {
    let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
    hay.match_indices(word).any(|(i, _)| {
        boundary(hay[..i].chars().next_back()) && boundary(hay[i + word.len()..].chars().next())
    })
}

/// The `/metrics` exposition without money (any sample with a `currency` label), without
/// customers (the `customer` label emptied on port samples, other samples with a customer
/// dropped) and without any sample whose labels still name one.
pub fn metrics(text: &str, s: &Sensitive) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        if let Some(kept) = sample(line, s) {
            out.push_str(&kept);
            out.push('\n');
        }
    }
    out
}

/// One sample line, redacted, or `None` when it must go.
fn sample(line: &str, s: &Sensitive) -> Option<String> {
    let Some(open) = line.find('{') else {
        return Some(line.to_string());
    };
    let close = line.rfind('}')?;
    let labels = parse_labels(&line[open + 1..close])?;
    let has = |k: &str| labels.iter().any(|(n, _)| n == k);
    if has("currency") {
        return None;
    }
    let mut kept = Vec::with_capacity(labels.len());
    for (k, v) in &labels {
        if k == "customer" && !v.is_empty() {
            if !has("port") {
                return None;
            }
            kept.push((k.clone(), String::new()));
        } else if s.mentions(v) {
            return None;
        } else {
            kept.push((k.clone(), v.clone()));
        }
    }
    let rendered: Vec<String> = kept
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    Some(format!(
        "{}{{{}}}{}",
        &line[..open],
        rendered.join(","),
        &line[close + 1..]
    ))
}

/// `k="v",k2="v2"` with the exposition's escapes, or `None` when it is not that.
fn parse_labels(s: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(out);
        }
        let mut name = String::new();
        for c in chars.by_ref() {
            if c == '=' {
                break;
            }
            name.push(c);
        }
        if chars.next() != Some('"') {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()? {
                '\\' => match chars.next()? {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        out.push((name.trim().to_string(), value));
    }
}

/// The topology for a redacted reader: sites, switches, ports and product lines, without
/// customers, routes, port descriptions or the customer label.
pub fn topology(t: &Topology, s: &Sensitive) -> Value {
    let mut v = serde_json::to_value(t).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.remove("customers");
        m.remove("routes");
    }
    scrub(&mut v, s);
    v
}

/// Removes customer labels and descriptions, masks strings that mention a customer.
fn scrub(v: &mut Value, s: &Sensitive) {
    match v {
        Value::Object(m) => {
            m.remove("description");
            if let Some(c) = m.get_mut("customer") {
                *c = Value::Null;
            }
            for (_, x) in m.iter_mut() {
                scrub(x, s);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| scrub(x, s)),
        Value::String(text) if s.mentions(text) => *text = MASK.to_string(),
        _ => {}
    }
}

/// A pending or firing alert for a redacted reader: the entity masked when it is a customer.
pub fn active_alert(
    mut a: crate::rules::view::ActiveAlert,
    s: &Sensitive,
) -> crate::rules::view::ActiveAlert {
    if a.scope == "customer" || s.mentions(&a.entity) {
        a.entity = MASK.to_string();
    }
    a.evidence = a.evidence_redacted.take();
    a
}

/// A state change for a redacted reader: the entity masked, no message (it may name a
/// customer or an amount).
pub fn history_row(mut r: HistoryRow, s: &Sensitive) -> HistoryRow {
    r.entity = s.mask(&r.entity);
    r.message = None;
    r
}

/// The alert store as a redacted reader sees its history (the status page reads it).
pub struct RedactedAlerts {
    /// The store.
    pub inner: Arc<dyn AlertStore>,
    /// What to take out.
    pub sensitive: Sensitive,
}

impl AlertStore for RedactedAlerts {
    fn load(&self, rule: &str, entity: &str) -> Result<Option<AlertRow>, StoreError> {
        self.inner.load(rule, entity)
    }
    fn save(&self, row: &AlertRow) -> Result<(), StoreError> {
        self.inner.save(row)
    }
    fn active(&self) -> Result<Vec<AlertRow>, StoreError> {
        self.inner.active()
    }
    fn record(&self, change: &HistoryRow) -> Result<(), StoreError> {
        self.inner.record(change)
    }
    fn commit(
        &self,
        changes: &crate::store::alerts::AlertCommit,
        now: jiff::Timestamp,
    ) -> Result<(), StoreError> {
        self.inner.commit(changes, now)
    }
    fn history(&self, limit: usize) -> Result<Vec<HistoryRow>, StoreError> {
        Ok(self
            .inner
            .history(limit)?
            .into_iter()
            .map(|r| history_row(r, &self.sensitive))
            .collect())
    }
}

/// The silences as a redacted reader sees them: matcher values and reasons that name a
/// customer masked.
pub struct RedactedSilences {
    /// The store.
    pub inner: Arc<dyn SilenceStore>,
    /// What to take out.
    pub sensitive: Sensitive,
}

impl SilenceStore for RedactedSilences {
    fn add_silence(&self, s: &SilenceRow) -> Result<i64, StoreError> {
        self.inner.add_silence(s)
    }
    fn silences(&self, now: Option<i64>) -> Result<Vec<SilenceRow>, StoreError> {
        Ok(self
            .inner
            .silences(now)?
            .into_iter()
            .map(|mut r| {
                for v in r.matchers.values_mut() {
                    *v = self.sensitive.mask(v);
                }
                r.reason = self.sensitive.mask(&r.reason);
                r
            })
            .collect())
    }
    fn remove_silence(&self, id: i64) -> Result<bool, StoreError> {
        self.inner.remove_silence(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Sensitive {
        Sensitive {
            words: w.iter().map(|s| s.to_lowercase()).collect(),
        }
    }

    #[test]
    fn whole_words_only() {
        let s = words(&["acme", "globex corp"]);
        assert!(s.mentions("ACME"));
        assert!(s.mentions("customer:acme/2"));
        assert!(!s.mentions("acmeplex"));
        assert!(s.mentions("paid by Globex Corp."));
        assert!(s.mentions("ops@example.net"));
        assert!(!s.mentions("fra1-core"));
    }

    #[test]
    fn metrics_lose_money_and_customers() {
        let s = words(&["acme"]);
        let text = "# HELP a A.\n# TYPE a gauge\n\
            bandwatch_port_bits_per_second{switch=\"sw1\",port=\"xe-0/0/1\",customer=\"acme\",role=\"\"} 5\n\
            bandwatch_customer_bits_per_second{customer=\"acme\",direction=\"in\"} 5\n\
            bandwatch_customer_revenue_month{customer=\"x\",currency=\"EUR\"} 100\n\
            bandwatch_product_line_cost_month{product_line=\"cdn\",currency=\"EUR\"} 7\n\
            bandwatch_alerts{rule=\"churn\",entity=\"acme\"} 1\n\
            bandwatch_build_info{version=\"0.1.0\"} 1\n\
            up 1\n";
        let r = metrics(text, &s);
        assert!(!r.contains("acme") && !r.contains("EUR"), "{r}");
        assert!(
            r.contains(
                "bandwatch_port_bits_per_second{switch=\"sw1\",port=\"xe-0/0/1\",customer=\"\",role=\"\"} 5\n"
            ),
            "{r}"
        );
        assert!(r.contains("bandwatch_build_info{version=\"0.1.0\"} 1\n"));
        assert!(r.contains("up 1\n") && r.contains("# TYPE a gauge\n"));
    }

    #[test]
    fn escaped_label_values_survive() {
        let s = words(&[]);
        let line = r#"x{port="a \"b\" \\ c\nd"} 1"#;
        assert_eq!(metrics(line, &s), format!("{line}\n"));
    }
}
