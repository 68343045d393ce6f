//! The builder from the raw TOML document to the validated [`Config`]: one file per section,
//! each an `impl Builder` block; this file holds the shared state, name bookkeeping and the
//! order in which sections are built.

mod access;
mod customers;
mod daemon;
mod email;
mod flow;
mod maintenance;
mod ports;
mod remote_write;
mod routes;
mod shards;
mod sites;
mod snmp;
mod store;
pub(super) mod values;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use regex::Regex;
use toml::Spanned;

use super::document::Document;
use super::raw::*;
use super::secret;
use super::*;
use values::*;

use crate::intern::intern;

/// Where a name was first defined, for "defined twice" messages.
pub(super) struct Seen {
    span: Range<usize>,
}

/// The state of one build: the document being read and what was declared in it.
pub(super) struct Builder<'d, 'a> {
    pub(super) doc: &'d mut Document<'a>,
    pub(super) base_dir: PathBuf,
    /// Every name declared in the file, valid or not: a reference to a declared entry that
    /// failed its own checks is not reported again as unknown.
    pub(super) declared: std::collections::HashSet<(&'static str, String)>,
    /// Where prices were referenced, for the mixed-currency check.
    pub(super) pricing_spans: pricing::PricingSpans,
    /// Each valid customer's `prefixes` (id, key, as written), checked by `[flow]`.
    pub(super) customer_prefixes: Vec<(String, String, Vec<Spanned<String>>)>,
    /// Each valid product line's `prefixes` (name, key, as written), checked by `[flow]`.
    pub(super) product_line_prefixes: Vec<(String, String, Vec<Spanned<String>>)>,
    /// `[daemon] shard` as written.
    pub(super) daemon_shard: Option<Spanned<String>>,
    /// Each site's `shard`, inherited by its switches.
    pub(super) site_shards: HashMap<String, String>,
    /// Switches with no shard of their own or of their site: (key, span, name).
    pub(super) unsharded: Vec<(String, Range<usize>, String)>,
}

impl<'d, 'a> Builder<'d, 'a> {
    pub(super) fn new(doc: &'d mut Document<'a>) -> Self {
        let base_dir = doc
            .src
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        Builder {
            doc,
            base_dir,
            declared: Default::default(),
            pricing_spans: Default::default(),
            customer_prefixes: Vec::new(),
            product_line_prefixes: Vec::new(),
            daemon_shard: None,
            site_shards: HashMap::new(),
            unsharded: Vec::new(),
        }
    }

    pub(super) fn at(&self, span: &Range<usize>) -> String {
        let (line, col) = self.doc.line_col(span.start);
        format!("{}:{line}:{col}", self.doc.src.path.display())
    }

    pub(super) fn secret(&mut self, written: &Spanned<String>, key: &str) -> Option<Secret> {
        match secret::expand(written.get_ref(), &self.base_dir) {
            Ok(s) if s.expose().is_empty() => {
                self.doc
                    .error(Some(written.span()), key, "the secret is empty");
                None
            }
            Ok(s) => Some(s),
            Err(e) => {
                self.doc.error(Some(written.span()), key, e);
                None
            }
        }
    }

    /// Records a name; a second definition is an error naming the first.
    pub(super) fn unique(
        &mut self,
        seen: &mut HashMap<String, Seen>,
        kind: &str,
        name: &Spanned<String>,
        key: &str,
    ) -> bool {
        let n = name.get_ref();
        if n.trim().is_empty() {
            self.doc.error(
                Some(name.span()),
                key,
                format!("{kind} name must not be empty"),
            );
            return false;
        }
        if let Some(first) = seen.get(n) {
            let at = self.at(&first.span);
            self.doc.error(
                Some(name.span()),
                key,
                format!("duplicate {kind} `{n}`; it is first defined at {at}"),
            );
            return false;
        }
        seen.insert(n.clone(), Seen { span: name.span() });
        true
    }

    pub(super) fn build(mut self) -> Option<Config> {
        self.doc.deny_unknown_keys(TOP_LEVEL_KEYS);
        // Everything declared, valid or not: a reference to a broken entry is not "unknown".
        for (kind, key, field) in [
            ("profile", "snmp", None),
            ("site", "site", Some("name")),
            ("switch", "switch", Some("name")),
            ("product_line", "product_line", Some("name")),
            ("route", "route", Some("name")),
            ("price_plan", "price_plan", Some("name")),
        ] {
            for name in self.doc.declared_names(key, field) {
                self.declared.insert((kind, name));
            }
        }
        let daemon = self.daemon();
        let retention = self.retention();
        let global_patterns: Vec<Spanned<String>> =
            self.doc.value("alias_patterns").unwrap_or_default();
        let global_patterns = self.alias_patterns(&global_patterns, "alias_patterns");
        let profiles = self.profiles();
        let routes = self.routes();
        let mut topo = Topology {
            routes,
            ..Default::default()
        };
        self.sites(&mut topo);
        self.switches(&mut topo, &daemon, &profiles, &global_patterns);
        self.shards(&topo, &daemon);
        self.product_lines(&mut topo);
        self.price_plans(&mut topo);
        self.ports(&mut topo);
        let billing = self.customers(&mut topo);
        let flow = self.flow(&topo);
        self.check_currencies(&topo);
        topo.maintenance = self.maintenance();
        let email = self.email();
        let api = self.api();
        let http = self.http();
        let report = self.report(&topo, billing);
        let store = self.store();
        let remote_write = self.remote_writes(&daemon);
        if !self.doc.has("switch") {
            self.doc.warning(
                None,
                "switch",
                "no `[[switch]]` is configured: there is nothing to poll",
            );
        }
        for route in topo.routes.values() {
            if route.email.is_empty() {
                let msg = format!(
                    "route `{}` has no email address: alerts routed to it reach nobody",
                    route.name
                );
                self.doc
                    .warning(None, &format!("route.{}", route.name), msg);
            }
        }
        let daemon = daemon?;
        Some(Config {
            path: self.doc.src.path.clone(),
            daemon,
            retention,
            email,
            api,
            http,
            report,
            flow,
            remote_write,
            topology: topo,
            store,
        })
    }

    /// A polling period (`interval`, `rediscover`): at least one second, at most a day (a
    /// longer one is a typo, and would leave a switch unpolled while `/healthz` says ok).
    pub(super) fn positive(
        &mut self,
        d: Option<&Spanned<Duration>>,
        key: &str,
    ) -> Option<Duration> {
        let d = d?;
        let v = d.get_ref().std();
        if v < std::time::Duration::from_secs(1) || v > std::time::Duration::from_secs(86_400) {
            self.doc
                .error(Some(d.span()), key, "must be between 1s and 1d");
            return None;
        }
        Some(*d.get_ref())
    }

    /// Reports a reference to an undefined name, unless the name is declared but broken
    /// (its own error is already reported).
    pub(super) fn unknown_ref(
        &mut self,
        kind: &'static str,
        what: &str,
        r: &Spanned<String>,
        key: &str,
        known: String,
    ) {
        if !self.declared.contains(&(kind, r.get_ref().clone())) {
            let msg = format!("unknown {what} `{}`{known}", r.get_ref());
            self.doc.error(Some(r.span()), key, msg);
        }
    }

    pub(super) fn route_ref(&mut self, topo: &Topology, r: &Spanned<String>, key: &str) -> bool {
        if topo.routes.contains_key(r.get_ref()) {
            return true;
        }
        self.unknown_ref("route", "route", r, key, known(topo.routes.keys()));
        false
    }

    pub(super) fn switch_ref(&mut self, topo: &Topology, s: &Spanned<String>, key: &str) -> bool {
        if topo.switch(s.get_ref()).is_some() {
            return true;
        }
        let names = known(topo.switches.iter().map(|s| &s.name));
        self.unknown_ref("switch", "switch", s, key, names);
        false
    }
}
