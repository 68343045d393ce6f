//! Attack-aware billing (`[report] exclude_attacks = true`): 5-minute slots inside a firing
//! spike alert on a customer (or on one of its ports) are left out of that customer's 95th,
//! and the report counts them. The alerts come from the store's `alert_history`.
//!
//! Which rules are spike rules is decided on the compiled rules in force, handed in by the
//! caller (the daemon's, or those the CLI loaded); nothing here reads rule files.

use crate::config::Customer;
use crate::rules::rule::{Kind, Rule};
use crate::store::{StoreError, UsageBook};

/// The names of the spike rules among `rules`, in their order.
pub fn spike_rules(rules: &[Rule]) -> Vec<String> {
    rules
        .iter()
        .filter(|r| r.kind == Kind::Spike)
        .map(|r| r.name.clone())
        .collect()
}

/// The spans `[start, end)` in which a spike alert fired on the customer or its ports.
pub fn attack_spans(
    book: &UsageBook,
    rules: &[String],
    customer: &Customer,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, i64)>, StoreError> {
    if rules.is_empty() {
        return Ok(Vec::new());
    }
    let mut spans = book.firing_spans(rules, &format!("customer:{}", customer.id), from, to)?;
    for p in &customer.ports {
        spans.extend(book.firing_spans(
            rules,
            &format!("port:{}/{}", p.switch, p.port),
            from,
            to,
        )?);
    }
    spans.sort_unstable();
    Ok(spans)
}
