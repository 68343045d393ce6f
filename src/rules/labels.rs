//! The labels of an entity (`site`, `switch`, `port`, `product_line`, `customer`, `role`,
//! `series`), as rules, silences and maintenance windows match them. A fleet has one entity
//! per port, each kept for the life of the daemon, so labels are a sorted slice of shared
//! strings: label names and the values many ports repeat (a site, a switch, a role) are held
//! once in an interning pool, not once per port.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::intern::intern;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Something labels can be read from: an entity's [`Labels`], or a notice's plain map.
pub trait LabelSet {
    /// The value of label `name`, if the set has it.
    fn label(&self, name: &str) -> Option<&str>;
}

impl LabelSet for BTreeMap<String, String> {
    fn label(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

/// An entity's labels: (name, value) pairs sorted by name, each name once.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Box<[(Arc<str>, Arc<str>)]>);

impl LabelSet for Labels {
    fn label(&self, name: &str) -> Option<&str> {
        self.get(name)
    }
}

impl Labels {
    /// Labels from pairs; a name given twice keeps its last value.
    pub fn new<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Labels {
        let mut v: Vec<(Arc<str>, Arc<str>)> = Vec::new();
        for (k, val) in pairs {
            match v.iter_mut().find(|(n, _)| &**n == k) {
                Some(slot) => slot.1 = intern(val),
                None => v.push((intern(k), intern(val))),
            }
        }
        v.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Labels(v.into_boxed_slice())
    }

    /// The value of label `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(n, _)| (**n).cmp(name))
            .ok()
            .map(|i| &*self.0[i].1)
    }

    /// The pairs, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }

    /// How many labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A plain map (for a notice, which outlives no entity and is rendered as text).
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

impl From<&BTreeMap<String, String>> for Labels {
    fn from(m: &BTreeMap<String, String>) -> Labels {
        Labels::new(m.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for Labels {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Labels, D::Error> {
        let m = BTreeMap::<String, String>::deserialize(d)?;
        Ok(Labels::from(&m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_sorted_found_by_name_and_share_repeated_values() {
        let a = Labels::new([("switch", "sw1"), ("site", "bj-1"), ("port", "xe-0/0/1")]);
        let b = Labels::new([("site", "bj-1"), ("port", "xe-0/0/2"), ("switch", "sw1")]);
        assert_eq!(
            a.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            ["port", "site", "switch"]
        );
        assert_eq!(a.get("site"), Some("bj-1"));
        assert_eq!(a.get("role"), None);
        // The site's value is one string for both ports.
        let (sa, sb) = (&a.0[1].1, &b.0[1].1);
        assert!(Arc::ptr_eq(sa, sb));
        assert_ne!(a, b);
        // A name given twice keeps its last value.
        assert_eq!(Labels::new([("a", "1"), ("a", "2")]).get("a"), Some("2"));
    }

    #[test]
    fn labels_serialize_as_a_map_and_come_back_equal() {
        let a = Labels::new([("switch", "sw1"), ("customer", "acme")]);
        let json = serde_json::to_string(&a).unwrap_or_default();
        assert_eq!(json, r#"{"customer":"acme","switch":"sw1"}"#);
        let back: Labels = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, a);
        assert_eq!(
            back.to_map().get("customer").map(String::as_str),
            Some("acme")
        );
    }
}
