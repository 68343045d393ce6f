//! A product line's or site's month against the month before: its usage both months from the
//! store's aggregate series, the estimates compared and the change (see [`super::customers`](mod@super::customers)
//! for how estimates are made).

use serde::Serialize;

use super::month::{Months, change};
use super::series::Usage;
use crate::store::{Entity, EntityKind, StoreError, UsageBook};

/// A product line's or site's month against the month before.
#[derive(Clone, Debug, Serialize)]
pub struct GroupUsage {
    /// Name.
    pub name: String,
    /// This month.
    pub this: Usage,
    /// The month before.
    pub last: Usage,
    /// This month's estimated bytes.
    pub this_estimate: f64,
    /// Last month's estimated bytes.
    pub last_estimate: f64,
    /// Change as a fraction.
    pub change: Option<f64>,
}

/// The usage in `months` of each of `names`, aggregates of `kind` (product lines or sites),
/// in the order given.
pub fn groups<'a>(
    book: &UsageBook,
    kind: EntityKind,
    names: impl IntoIterator<Item = &'a String>,
    months: &Months,
) -> Result<Vec<GroupUsage>, StoreError> {
    names
        .into_iter()
        .map(|n| {
            let e = Entity::new(kind, n);
            let this = Usage::read(book, &e, months.this)?;
            let last = Usage::read(book, &e, months.last)?;
            let (this_estimate, last_estimate) = months.estimates(&this, &last);
            Ok(GroupUsage {
                name: n.clone(),
                change: change(this_estimate, last_estimate),
                this,
                last,
                this_estimate,
                last_estimate,
            })
        })
        .collect()
}
