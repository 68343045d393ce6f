//! Attack-aware billing (`[report] exclude_attacks = true`): 5-minute slots inside a firing
//! spike alert on a customer (or on one of its ports) are left out of that customer's 95th,
//! and the report counts them. The alerts come from the store's `alert_history`.
//!
//! Which rules are spike rules is read from the rule files, as the rule engine compiles them.

use crate::config::{Config, Customer};
use crate::rules::file::load_dir;
use crate::store::{StoreError, UsageBook};

/// The names of the spike rules in the configuration's rules folder.
pub fn spike_rules(config: &Config) -> Vec<String> {
    let (files, _diags) = load_dir(&config.daemon.rules_dir, &config.topology);
    files
        .rules
        .into_iter()
        .filter(|r| r.kind == crate::rules::rule::Kind::Spike)
        .map(|r| r.name)
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
