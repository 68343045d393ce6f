//! What the evaluator reads: points of one series of one entity. A point may be unknown (a gap,
//! a reset, a timeout): unknown is never zero, and the evaluator never compares it with a baseline.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::labels::Labels;
use super::rule::Scope;
use crate::config::topology::{Customer, Port, ProductLine, Switch};

/// One interval of one series.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// End of the interval (when the sample arrived).
    pub time: Timestamp,
    /// The value, or `None` when unknown (gap, reset, bogus delta, poll timeout).
    pub value: Option<f64>,
    /// For aggregates: the fraction of member ports known in this interval (1.0 for a port).
    pub coverage: f64,
    /// The first interval after a gap or a counter reset: it never fires a spike.
    pub after_gap_or_reset: bool,
}

impl Point {
    /// A known value with full coverage.
    pub fn known(time: Timestamp, value: f64) -> Point {
        Point {
            time,
            value: Some(value),
            coverage: 1.0,
            after_gap_or_reset: false,
        }
    }

    /// An unknown interval.
    pub fn unknown(time: Timestamp) -> Point {
        Point {
            time,
            value: None,
            coverage: 0.0,
            after_gap_or_reset: false,
        }
    }

    /// The same point, marked as the first after a gap or reset.
    pub fn after_gap(mut self) -> Point {
        self.after_gap_or_reset = true;
        self
    }

    /// The same point with this coverage.
    pub fn with_coverage(mut self, coverage: f64) -> Point {
        self.coverage = coverage;
        self
    }
}

/// Something a rule watches: a port, product line, site, switch, customer or imported series,
/// with the labels rules match on.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Entity {
    /// Which kind of entity.
    pub scope: Scope,
    /// Its name within the scope: `bj1-core-a/xe-0/0/1`, `cdn`, `acme`, `nab/x/y`.
    pub name: String,
    /// Labels (`site`, `switch`, `port`, `product_line`, `customer`, `role`, `series`).
    pub labels: Labels,
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.scope.name(), self.name)
    }
}

impl Entity {
    fn new(scope: Scope, name: &str, labels: &[(&str, Option<&str>)]) -> Entity {
        Entity {
            scope,
            name: name.to_string(),
            labels: Labels::new(labels.iter().filter_map(|(k, v)| v.map(|v| (*k, v)))),
        }
    }

    /// The stable id used in alert state and events: `port:bj1-core-a/xe-0/0/1`.
    pub fn id(&self) -> String {
        self.to_string()
    }

    /// An imported series (`series:NAME`), as `bandwatch backtest --input` reads them.
    pub fn series(name: &str) -> Entity {
        Entity::new(Scope::Series, name, &[("series", Some(name))])
    }

    /// A configured port.
    pub fn port(p: &Port) -> Entity {
        let l = &p.labels;
        Entity::new(
            Scope::Port,
            &p.key().to_string(),
            &[
                ("site", Some(&l.site)),
                ("switch", Some(&l.switch)),
                ("port", Some(&l.port)),
                ("product_line", l.product_line.as_deref()),
                ("customer", l.customer.as_deref()),
                ("role", l.role.as_deref()),
            ],
        )
    }

    /// A product line.
    pub fn product_line(pl: &ProductLine) -> Entity {
        Entity::new(
            Scope::ProductLine,
            &pl.name,
            &[("product_line", Some(&pl.name))],
        )
    }

    /// A customer.
    pub fn customer(c: &Customer) -> Entity {
        Entity::new(Scope::Customer, &c.id, &[("customer", Some(&c.id))])
    }

    /// A switch.
    pub fn switch(s: &Switch) -> Entity {
        Entity::new(
            Scope::Switch,
            &s.name,
            &[("switch", Some(&s.name)), ("site", Some(&s.site))],
        )
    }

    /// A site.
    pub fn site(name: &str) -> Entity {
        Entity::new(Scope::Site, name, &[("site", Some(name))])
    }
}
