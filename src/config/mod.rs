//! Configuration: the TOML model, secret expansion, validation with `FILE:LINE:COL: KEY:`
//! errors, and the [`Topology`] the rest of the daemon runs on.
//!
//! [`load`] reads a file, reports every problem it finds (not only the first), and on success
//! returns the validated [`Config`]. Nothing downstream re-reads the raw file.

pub mod diagnostic;
pub mod document;
pub mod handle;
pub mod model;
pub mod pricing;
pub mod raw;
pub mod secret;
pub mod topology;
pub mod units;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use regex::Regex;
use toml::Spanned;

pub use diagnostic::{Diagnostic, Diagnostics, Severity, SourceFile};
pub use handle::ConfigHandle;
pub use model::{
    Api, AuthProtocol, Billing, Config, Daemon, Email, MailSecurity, MailTransport,
    PrivacyProtocol, ReportSettings, Retention, SnmpCredentials, SnmpProfile, SnmpVersion, UsmUser,
    defaults,
};
pub use pricing::{Commit, PricePlan, Pricing, Revenue};
pub use secret::Secret;
pub use topology::{
    AliasLabels, AliasPattern, Customer, Port, PortKey, PortLabels, ProductLine, Route, Site,
    Switch, Topology,
};
pub use units::{BitRate, ByteSize, Duration};

use document::Document;
use raw::*;

/// A loaded configuration and the warnings found on the way.
#[derive(Debug)]
pub struct Loaded {
    /// The validated configuration.
    pub config: Config,
    /// Problems that do not stop the daemon (printed by `check`, logged by `run`).
    pub warnings: Diagnostics,
}

/// Reads and validates a configuration file. On failure every error found is returned.
pub fn load(path: &Path) -> Result<Loaded, Diagnostics> {
    let src = SourceFile::read(path).map_err(|d| Diagnostics(vec![d]))?;
    load_source(&src)
}

/// Validates configuration text already read (the path is used for messages and relative paths).
pub fn load_source(src: &SourceFile) -> Result<Loaded, Diagnostics> {
    let mut doc = Document::parse(src)?;
    let config = Builder::new(&mut doc).build();
    let mut diags = std::mem::take(&mut doc.diags);
    diags.sort();
    match config {
        Some(config) if !diags.has_errors() => Ok(Loaded {
            config,
            warnings: diags,
        }),
        _ => Err(diags),
    }
}

/// Where a name was first defined, for "defined twice" messages.
struct Seen {
    span: Range<usize>,
}

struct Builder<'d, 'a> {
    doc: &'d mut Document<'a>,
    base_dir: PathBuf,
    /// Every name declared in the file, valid or not: a reference to a declared entry that
    /// failed its own checks is not reported again as unknown.
    declared: std::collections::HashSet<(&'static str, String)>,
    /// Where prices were referenced, for the mixed-currency check.
    pricing_spans: pricing::PricingSpans,
}

impl<'d, 'a> Builder<'d, 'a> {
    fn new(doc: &'d mut Document<'a>) -> Self {
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
        }
    }

    fn at(&self, span: &Range<usize>) -> String {
        let (line, col) = self.doc.src.line_col(span.start);
        format!("{}:{line}:{col}", self.doc.src.path.display())
    }

    fn secret(&mut self, written: &Spanned<String>, key: &str) -> Option<Secret> {
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
    fn unique(
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

    fn build(mut self) -> Option<Config> {
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
        self.product_lines(&mut topo);
        self.price_plans(&mut topo);
        self.ports(&mut topo);
        let billing = self.customers(&mut topo);
        self.check_currencies(&topo);
        let email = self.email();
        let api = self.api();
        let report = self.report(&topo, billing);
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
            report,
            topology: topo,
        })
    }

    fn daemon(&mut self) -> Option<Daemon> {
        let raw: RawDaemon = self.doc.value("daemon").unwrap_or_default();
        let listen = match &raw.listen {
            None => defaults::LISTEN.parse::<SocketAddr>().ok(),
            Some(l) => match l.get_ref().parse::<SocketAddr>() {
                Ok(a) => Some(a),
                Err(_) => {
                    let msg = format!(
                        "`{}` is not an address and port like `127.0.0.1:9477` or `[::]:9477`",
                        l.get_ref()
                    );
                    self.doc.error(Some(l.span()), "daemon.listen", msg);
                    None
                }
            },
        };
        let interval = self
            .positive(raw.interval.as_ref(), "daemon.interval")
            .unwrap_or(defaults::INTERVAL);
        let rediscover = self
            .positive(raw.rediscover.as_ref(), "daemon.rediscover")
            .unwrap_or(defaults::REDISCOVER);
        let max_concurrent_polls = match &raw.max_concurrent_polls {
            Some(m) if *m.get_ref() == 0 => {
                self.doc.error(
                    Some(m.span()),
                    "daemon.max_concurrent_polls",
                    "must be at least 1",
                );
                defaults::MAX_CONCURRENT_POLLS
            }
            Some(m) => *m.get_ref(),
            None => defaults::MAX_CONCURRENT_POLLS,
        };
        if let Some(u) = &raw.public_url
            && !(u.get_ref().starts_with("http://") || u.get_ref().starts_with("https://"))
        {
            self.doc.error(
                Some(u.span()),
                "daemon.public_url",
                "must start with http:// or https://",
            );
        }
        let data_dir = normalize_path(
            &self
                .base_dir
                .join(raw.data_dir.as_deref().unwrap_or(defaults::DATA_DIR)),
        );
        let rules_dir = normalize_path(
            &self
                .base_dir
                .join(raw.rules_dir.as_deref().unwrap_or(defaults::RULES_DIR)),
        );
        Some(Daemon {
            listen: listen?,
            data_dir,
            rules_dir,
            interval,
            public_url: raw
                .public_url
                .map(|u| u.into_inner().trim_end_matches('/').to_string()),
            rediscover,
            max_concurrent_polls,
        })
    }

    /// A duration that must be at least one second.
    fn positive(&mut self, d: Option<&Spanned<Duration>>, key: &str) -> Option<Duration> {
        let d = d?;
        if d.get_ref().std() < std::time::Duration::from_secs(1) {
            self.doc.error(Some(d.span()), key, "must be at least 1s");
            return None;
        }
        Some(*d.get_ref())
    }

    fn retention(&mut self) -> Retention {
        let raw: RawRetention = self.doc.value("retention").unwrap_or_default();
        let def = Retention::default();
        let pick = |r: Option<RawRetain>, d: Option<Duration>| match r {
            None => d,
            Some(RawRetain::Forever) => None,
            Some(RawRetain::For(x)) => Some(x),
        };
        Retention {
            raw: pick(raw.raw, def.raw),
            rollup_5m: pick(raw.rollup_5m, def.rollup_5m),
            rollup_1h: pick(raw.rollup_1h, def.rollup_1h),
            rollup_1d: pick(raw.rollup_1d, def.rollup_1d),
        }
    }

    fn alias_patterns(&mut self, patterns: &[Spanned<String>], key: &str) -> Vec<AliasPattern> {
        let mut out = Vec::new();
        for (i, p) in patterns.iter().enumerate() {
            let key = format!("{key}[{i}]");
            match Regex::new(p.get_ref()) {
                Err(e) => {
                    let msg = format!("invalid regular expression: {}", one_line(&e.to_string()));
                    self.doc.error(Some(p.span()), &key, msg);
                }
                Ok(regex) => {
                    let names: Vec<&str> = regex.capture_names().flatten().collect();
                    if let Some(bad) = names.iter().find(|n| !AliasPattern::GROUPS.contains(n)) {
                        let msg = format!(
                            "unknown group `{bad}`; the groups are `customer`, `product_line` and `role`"
                        );
                        self.doc.error(Some(p.span()), &key, msg);
                    } else if names.is_empty() {
                        let msg = "the pattern has no named group: use (?P<customer>...), (?P<product_line>...) or (?P<role>...)";
                        self.doc.error(Some(p.span()), &key, msg);
                    } else {
                        out.push(AliasPattern { regex });
                    }
                }
            }
        }
        out
    }

    fn profiles(&mut self) -> BTreeMap<String, SnmpProfile> {
        let raws: Vec<(Spanned<String>, RawSnmpProfile)> = self.doc.named_tables("snmp");
        let mut out = BTreeMap::new();
        for (name, raw) in raws {
            let key = format!("snmp.{}", name.get_ref());
            if let Some(p) = self.profile(name.get_ref(), raw, &key) {
                out.insert(name.into_inner(), p);
            }
        }
        out
    }

    fn profile(&mut self, name: &str, raw: RawSnmpProfile, key: &str) -> Option<SnmpProfile> {
        let version = *raw.version.get_ref();
        let credentials = match version {
            SnmpVersion::V2c => {
                for (field, v) in [
                    ("user", raw.user.as_ref().map(|s| s.span())),
                    ("auth", raw.auth.as_ref().map(|s| s.span())),
                ] {
                    if let Some(span) = v {
                        self.doc.error(
                            Some(span),
                            &format!("{key}.{field}"),
                            "only SNMPv3 profiles take a user; v2c uses `community`",
                        );
                    }
                }
                let Some(c) = raw.community else {
                    self.doc.error(
                        Some(raw.version.span()),
                        &format!("{key}.community"),
                        "a v2c profile needs `community`",
                    );
                    return None;
                };
                SnmpCredentials::V2c {
                    community: self.secret(&c, &format!("{key}.community"))?,
                }
            }
            SnmpVersion::V3 => {
                if let Some(c) = &raw.community {
                    self.doc.error(
                        Some(c.span()),
                        &format!("{key}.community"),
                        "SNMPv3 uses `user`, not `community`",
                    );
                }
                let Some(user) = raw.user else {
                    self.doc.error(
                        Some(raw.version.span()),
                        &format!("{key}.user"),
                        "a v3 profile needs `user`",
                    );
                    return None;
                };
                let auth = match (raw.auth, raw.auth_password) {
                    (None, None) => None,
                    (Some(a), Some(pw)) => {
                        let s = self.usm_password(&pw, &format!("{key}.auth_password"))?;
                        Some((*a.get_ref(), s))
                    }
                    (Some(a), None) => {
                        self.doc.error(
                            Some(a.span()),
                            &format!("{key}.auth_password"),
                            "`auth` needs `auth_password`",
                        );
                        return None;
                    }
                    (None, Some(pw)) => {
                        self.doc.error(Some(pw.span()), &format!("{key}.auth"), "`auth_password` needs `auth` (md5, sha1, sha224, sha256, sha384 or sha512)");
                        return None;
                    }
                };
                let privacy = match (raw.privacy, raw.privacy_password) {
                    (None, None) => None,
                    (Some(p), _) if *p.get_ref() == PrivacyProtocol::None => None,
                    (Some(p), Some(pw)) => {
                        if auth.is_none() {
                            self.doc.error(
                                Some(p.span()),
                                &format!("{key}.privacy"),
                                "privacy needs authentication: set `auth` and `auth_password`",
                            );
                            return None;
                        }
                        let s = self.usm_password(&pw, &format!("{key}.privacy_password"))?;
                        Some((*p.get_ref(), s))
                    }
                    (Some(p), None) => {
                        self.doc.error(
                            Some(p.span()),
                            &format!("{key}.privacy_password"),
                            "`privacy` needs `privacy_password`",
                        );
                        return None;
                    }
                    (None, Some(pw)) => {
                        self.doc.error(
                            Some(pw.span()),
                            &format!("{key}.privacy"),
                            "`privacy_password` needs `privacy` (des, aes128, aes192 or aes256)",
                        );
                        return None;
                    }
                };
                SnmpCredentials::V3(UsmUser {
                    user: user.into_inner(),
                    auth,
                    privacy,
                })
            }
        };
        let timeout = self
            .positive_ms(raw.timeout.as_ref(), &format!("{key}.timeout"))
            .unwrap_or(defaults::SNMP_TIMEOUT);
        let max_repetitions = match raw.max_repetitions {
            Some(m) if *m.get_ref() == 0 || *m.get_ref() > 100 => {
                self.doc.error(
                    Some(m.span()),
                    &format!("{key}.max_repetitions"),
                    "must be between 1 and 100",
                );
                defaults::SNMP_MAX_REPETITIONS
            }
            Some(m) => *m.get_ref(),
            None => defaults::SNMP_MAX_REPETITIONS,
        };
        Some(SnmpProfile {
            name: name.to_string(),
            credentials,
            timeout,
            retries: raw.retries.unwrap_or(defaults::SNMP_RETRIES),
            max_repetitions,
        })
    }

    fn positive_ms(&mut self, d: Option<&Spanned<Duration>>, key: &str) -> Option<Duration> {
        let d = d?;
        if d.get_ref().std() < std::time::Duration::from_millis(10) {
            self.doc.error(Some(d.span()), key, "must be at least 10ms");
            return None;
        }
        Some(*d.get_ref())
    }

    /// A USM password: RFC 3414 wants at least 8 characters.
    fn usm_password(&mut self, written: &Spanned<String>, key: &str) -> Option<Secret> {
        let s = self.secret(written, key)?;
        if s.expose().chars().count() < 8 {
            self.doc.error(
                Some(written.span()),
                key,
                "SNMPv3 passwords must be at least 8 characters long (RFC 3414)",
            );
            return None;
        }
        Some(s)
    }

    fn routes(&mut self) -> BTreeMap<String, Route> {
        let raws: Vec<document::Element<RawRoute>> = self.doc.array_of_tables("route");
        let mut seen = HashMap::new();
        let mut out = BTreeMap::new();
        for el in raws {
            let key = format!("route[{}]", el.index);
            if !self.unique(&mut seen, "route", &el.value.name, &format!("{key}.name")) {
                continue;
            }
            let mut email = Vec::new();
            for (i, addr) in el.value.email.iter().enumerate() {
                let a = addr.get_ref().trim();
                if !valid_address(a) {
                    self.doc.error(
                        Some(addr.span()),
                        &format!("{key}.email[{i}]"),
                        format!("`{a}` is not an email address"),
                    );
                } else {
                    email.push(a.to_string());
                }
            }
            let name = el.value.name.into_inner();
            out.insert(name.clone(), Route { name, email });
        }
        out
    }

    /// Reports a reference to an undefined name, unless the name is declared but broken
    /// (its own error is already reported).
    fn unknown_ref(
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

    fn route_ref(&mut self, topo: &Topology, r: &Spanned<String>, key: &str) -> bool {
        if topo.routes.contains_key(r.get_ref()) {
            return true;
        }
        self.unknown_ref("route", "route", r, key, known(topo.routes.keys()));
        false
    }

    fn sites(&mut self, topo: &mut Topology) {
        let raws: Vec<document::Element<RawSite>> = self.doc.array_of_tables("site");
        let mut seen = HashMap::new();
        for el in raws {
            if self.unique(
                &mut seen,
                "site",
                &el.value.name,
                &format!("site[{}].name", el.index),
            ) {
                let name = el.value.name.into_inner();
                topo.sites.insert(
                    name.clone(),
                    Site {
                        name,
                        description: el.value.description,
                        switches: Vec::new(),
                    },
                );
            }
        }
    }

    fn switches(
        &mut self,
        topo: &mut Topology,
        daemon: &Option<Daemon>,
        profiles: &BTreeMap<String, SnmpProfile>,
        global_patterns: &[AliasPattern],
    ) {
        let raws: Vec<document::Element<RawSwitch>> = self.doc.array_of_tables("switch");
        let mut seen = HashMap::new();
        let mut seen_addr: HashMap<String, Seen> = HashMap::new();
        let interval = daemon
            .as_ref()
            .map(|d| d.interval)
            .unwrap_or(defaults::INTERVAL);
        let rediscover = daemon
            .as_ref()
            .map(|d| d.rediscover)
            .unwrap_or(defaults::REDISCOVER);
        for el in raws {
            let key = format!("switch[{}]", el.index);
            let raw = el.value;
            let mut ok = self.unique(&mut seen, "switch", &raw.name, &format!("{key}.name"));
            if !topo.sites.contains_key(raw.site.get_ref()) {
                let names = known(topo.sites.keys());
                self.unknown_ref("site", "site", &raw.site, &format!("{key}.site"), names);
                ok = false;
            }
            let address = match normalize_address(raw.address.get_ref()) {
                Ok(a) => {
                    if let Some(first) = seen_addr.get(&a) {
                        let msg = format!(
                            "address `{a}` is already used by the switch at {}",
                            self.at(&first.span)
                        );
                        self.doc
                            .error(Some(raw.address.span()), &format!("{key}.address"), msg);
                        ok = false;
                    } else {
                        seen_addr.insert(
                            a.clone(),
                            Seen {
                                span: raw.address.span(),
                            },
                        );
                    }
                    a
                }
                Err(e) => {
                    self.doc
                        .error(Some(raw.address.span()), &format!("{key}.address"), e);
                    ok = false;
                    String::new()
                }
            };
            let profile_name = raw
                .profile
                .as_ref()
                .map(|p| p.get_ref().clone())
                .unwrap_or_else(|| defaults::PROFILE.to_string());
            let snmp = match profiles.get(&profile_name) {
                Some(p) => p.clone(),
                None => {
                    if !self.declared.contains(&("profile", profile_name.clone())) {
                        let span = raw
                            .profile
                            .as_ref()
                            .map(|p| p.span())
                            .unwrap_or(raw.name.span());
                        let msg = format!(
                            "unknown SNMP profile `{profile_name}`{}",
                            known(profiles.keys())
                        );
                        self.doc.error(Some(span), &format!("{key}.profile"), msg);
                    }
                    ok = false;
                    SnmpProfile::default()
                }
            };
            let sw_interval = self
                .positive(raw.interval.as_ref(), &format!("{key}.interval"))
                .unwrap_or(interval);
            if sw_interval.std() < std::time::Duration::from_secs(5)
                && let Some(i) = &raw.interval
            {
                let msg = "intervals under 5s read the agent's cached counters twice (net-snmp caches for about 3s): expect zero deltas";
                self.doc
                    .warning(Some(i.span()), &format!("{key}.interval"), msg);
            }
            let sw_rediscover = self
                .positive(raw.rediscover.as_ref(), &format!("{key}.rediscover"))
                .unwrap_or(rediscover);
            let mut patterns =
                self.alias_patterns(&raw.alias_patterns, &format!("{key}.alias_patterns"));
            patterns.extend(global_patterns.iter().cloned());
            if !ok {
                continue;
            }
            let name = raw.name.into_inner();
            if let Some(site) = topo.sites.get_mut(raw.site.get_ref()) {
                site.switches.push(name.clone());
            }
            topo.switches.push(Switch {
                name,
                site: raw.site.into_inner(),
                address,
                profile: profile_name,
                snmp,
                interval: sw_interval,
                rediscover: sw_rediscover,
                alias_patterns: patterns,
                ports: Vec::new(),
                description: raw.description,
            });
        }
    }

    fn product_lines(&mut self, topo: &mut Topology) {
        let raws: Vec<document::Element<RawProductLine>> = self.doc.array_of_tables("product_line");
        let mut seen = HashMap::new();
        for el in raws {
            let key = format!("product_line[{}]", el.index);
            let mut ok = self.unique(
                &mut seen,
                "product line",
                &el.value.name,
                &format!("{key}.name"),
            );
            for (i, o) in el.value.owners.iter().enumerate() {
                ok &= self.route_ref(topo, o, &format!("{key}.owners[{i}]"));
            }
            if ok {
                let name = el.value.name.into_inner();
                let owners = el
                    .value
                    .owners
                    .into_iter()
                    .map(Spanned::into_inner)
                    .collect();
                topo.product_lines.insert(
                    name.clone(),
                    ProductLine {
                        name,
                        owners,
                        ports: Vec::new(),
                        description: el.value.description,
                    },
                );
            }
        }
    }

    fn switch_ref(&mut self, topo: &Topology, s: &Spanned<String>, key: &str) -> bool {
        if topo.switch(s.get_ref()).is_some() {
            return true;
        }
        let names = known(topo.switches.iter().map(|s| &s.name));
        self.unknown_ref("switch", "switch", s, key, names);
        false
    }

    fn ports(&mut self, topo: &mut Topology) {
        let raws: Vec<document::Element<RawPort>> = self.doc.array_of_tables("port");
        let mut seen: HashMap<PortKey, Seen> = HashMap::new();
        for el in raws {
            let key = format!("port[{}]", el.index);
            let raw = el.value;
            if !self.switch_ref(topo, &raw.switch, &format!("{key}.switch")) {
                continue;
            }
            if raw.name.get_ref().trim().is_empty() {
                self.doc.error(
                    Some(raw.name.span()),
                    &format!("{key}.name"),
                    "port name must not be empty",
                );
                continue;
            }
            if let Some(pl) = &raw.product_line
                && !topo.product_lines.contains_key(pl.get_ref())
            {
                let names = known(topo.product_lines.keys());
                self.unknown_ref(
                    "product_line",
                    "product line",
                    pl,
                    &format!("{key}.product_line"),
                    names,
                );
                continue;
            }
            let pk = PortKey {
                switch: raw.switch.get_ref().clone(),
                port: raw.name.get_ref().clone(),
            };
            if let Some(first) = seen.get(&pk) {
                let msg = format!(
                    "port `{pk}` is declared twice; it is first declared at {}",
                    self.at(&first.span)
                );
                self.doc
                    .error(Some(raw.name.span()), &format!("{key}.name"), msg);
                continue;
            }
            seen.insert(
                pk.clone(),
                Seen {
                    span: raw.name.span(),
                },
            );
            let Some(sw) = topo.switches.iter_mut().find(|s| s.name == pk.switch) else {
                continue;
            };
            let product_line = raw.product_line.map(Spanned::into_inner);
            let transit = raw.transit;
            sw.ports.push(Port {
                name: pk.port.clone(),
                labels: PortLabels {
                    site: sw.site.clone(),
                    switch: sw.name.clone(),
                    port: pk.port.clone(),
                    product_line: product_line.clone(),
                    customer: None,
                    role: raw.role.map(Spanned::into_inner),
                },
                max_rate: raw.max_rate,
                description: raw.description,
            });
            if let Some(pl) = product_line.and_then(|pl| topo.product_lines.get_mut(&pl)) {
                pl.ports.push(pk.clone());
            }
            if let Some(t) = &transit {
                self.port_transit(topo, &pk, t, &key);
            }
        }
    }

    fn customers(&mut self, topo: &mut Topology) -> BTreeMap<String, Billing> {
        let mut billing = BTreeMap::new();
        let raws: Vec<document::Element<RawCustomer>> = self.doc.array_of_tables("customer");
        let mut seen = HashMap::new();
        let mut claimed: HashMap<PortKey, (String, Range<usize>)> = HashMap::new();
        for el in raws {
            let key = format!("customer[{}]", el.index);
            let raw = el.value;
            let mut ok = self.unique(&mut seen, "customer", &raw.id, &format!("{key}.id"));
            if let Some(am) = &raw.account_manager {
                ok &= self.route_ref(topo, am, &format!("{key}.account_manager"));
            }
            let id = raw.id.get_ref().clone();
            if let Some(b) = &raw.billing {
                match Billing::parse(b.get_ref()) {
                    Some(m) => {
                        billing.insert(id.clone(), m);
                    }
                    None => {
                        let msg = format!(
                            "unknown billing method `{}`; the methods are `95th-max` (the \
                             default), `95th-in`, `95th-out`, `95th-sum` and `volume`",
                            b.get_ref()
                        );
                        self.doc
                            .error(Some(b.span()), &format!("{key}.billing"), msg);
                        ok = false;
                    }
                }
            }
            ok &= self.customer_price(topo, &raw, &key, &mut billing);
            let mut ports = Vec::new();
            for (i, pr) in raw.ports.iter().enumerate() {
                let pkey = format!("{key}.ports[{i}]");
                let pr = pr.get_ref();
                if !self.switch_ref(topo, &pr.switch, &format!("{pkey}.switch")) {
                    ok = false;
                    continue;
                }
                let pk = PortKey {
                    switch: pr.switch.get_ref().clone(),
                    port: pr.name.get_ref().clone(),
                };
                if let Some((other, span)) = claimed.get(&pk) {
                    let msg = format!(
                        "port `{pk}` is already claimed by customer `{other}` at {}",
                        self.at(span)
                    );
                    self.doc
                        .error(Some(pr.name.span()), &format!("{pkey}.name"), msg);
                    ok = false;
                    continue;
                }
                claimed.insert(pk.clone(), (id.clone(), pr.name.span()));
                ports.push(pk);
            }
            if !ok {
                continue;
            }
            for pk in &ports {
                let Some(sw) = topo.switches.iter_mut().find(|s| s.name == pk.switch) else {
                    continue;
                };
                match sw.ports.iter_mut().find(|p| p.name == pk.port) {
                    Some(p) => p.labels.customer = Some(id.clone()),
                    None => sw.ports.push(Port {
                        name: pk.port.clone(),
                        labels: PortLabels {
                            site: sw.site.clone(),
                            switch: sw.name.clone(),
                            port: pk.port.clone(),
                            product_line: None,
                            customer: Some(id.clone()),
                            role: Some("customer".to_string()),
                        },
                        max_rate: None,
                        description: None,
                    }),
                }
            }
            let name = raw.name.unwrap_or_else(|| id.clone());
            topo.customers.insert(
                id.clone(),
                Customer {
                    id,
                    name,
                    account_manager: raw.account_manager.map(Spanned::into_inner),
                    ports,
                },
            );
        }
        billing
    }

    fn report(&mut self, topo: &Topology, billing: BTreeMap<String, Billing>) -> ReportSettings {
        let raw: RawReport = self.doc.value("report").unwrap_or_default();
        let mut out = ReportSettings {
            billing,
            ..ReportSettings::default()
        };
        if let Some(d) = &raw.day {
            match u8::try_from(*d.get_ref()) {
                Ok(v @ 1..=28) => out.day = v,
                _ => self.doc.error(
                    Some(d.span()),
                    "report.day",
                    "must be a day of the month from 1 to 28 (every month has it)",
                ),
            }
        }
        if let Some(t) = &raw.time {
            let parsed = t.get_ref().split_once(':').and_then(|(h, m)| {
                let (h, m) = (h.parse::<u8>().ok()?, m.parse::<u8>().ok()?);
                (h < 24 && m < 60 && t.get_ref().len() == 5).then_some((h, m))
            });
            match parsed {
                Some(hm) => out.time = hm,
                None => self.doc.error(
                    Some(t.span()),
                    "report.time",
                    format!("`{}` is not a time of day like `06:00` (UTC)", t.get_ref()),
                ),
            }
        }
        match &raw.route {
            Some(r) if self.route_ref(topo, r, "report.route") => {
                out.route = r.get_ref().clone();
            }
            Some(_) => {}
            None if self.doc.has("report") && !topo.routes.contains_key(&out.route) => {
                let msg = format!(
                    "the report goes to route `{}`, which is not configured: add a `[[route]]` \
                     named so, or set `report.route`",
                    out.route
                );
                self.doc.warning(None, "report.route", msg);
            }
            None => {}
        }
        for (key, v, slot) in [
            ("report.up", &raw.up, &mut out.up),
            ("report.down", &raw.down, &mut out.down),
        ] {
            if let Some(v) = v {
                let x = *v.get_ref();
                if x.is_finite() && x > 0.0 && x < 10.0 {
                    *slot = x;
                } else {
                    self.doc.error(
                        Some(v.span()),
                        key,
                        "must be a fraction above 0, like 0.2 for 20 %",
                    );
                }
            }
        }
        out.exclude_attacks = raw.exclude_attacks.unwrap_or(false);
        out
    }

    fn email(&mut self) -> Option<Email> {
        let raw: RawEmail = self.doc.value("email")?;
        let transport = raw.transport.unwrap_or(MailTransport::Smtp);
        let from = match &raw.from {
            Some(f) if valid_mailbox(f.get_ref()) => f.get_ref().clone(),
            Some(f) => {
                let msg = format!(
                    "`{}` is not a sender like `bandwatch <bandwatch@example.net>`",
                    f.get_ref()
                );
                self.doc.error(Some(f.span()), "email.from", msg);
                return None;
            }
            None => {
                self.doc.error(
                    None,
                    "email.from",
                    "`[email]` needs `from`, like `bandwatch <bandwatch@example.net>`",
                );
                return None;
            }
        };
        if transport == MailTransport::Smtp && raw.server.is_none() {
            self.doc.error(
                None,
                "email.server",
                "SMTP needs `server`, like `smtp.example.net:587`",
            );
            return None;
        }
        // An empty password (`${SMTP_PASSWORD:-}` with the variable unset) means no AUTH password.
        let password = match &raw.password {
            Some(p) => match secret::expand(p.get_ref(), &self.base_dir) {
                Ok(s) if s.expose().is_empty() => None,
                Ok(s) => Some(s),
                Err(e) => {
                    self.doc.error(Some(p.span()), "email.password", e);
                    return None;
                }
            },
            None => None,
        };
        Some(Email {
            transport,
            server: raw.server.map(Spanned::into_inner),
            security: raw.security.unwrap_or(MailSecurity::Starttls),
            username: raw.username,
            password,
            from,
            group_wait: raw.group_wait.unwrap_or(defaults::GROUP_WAIT),
        })
    }

    fn api(&mut self) -> Api {
        let raw: RawApi = self.doc.value("api").unwrap_or_default();
        let token = raw.token.and_then(|t| self.secret(&t, "api.token"));
        Api { token }
    }
}

/// Removes `.` and `name/..` pairs without touching the file system (paths may not exist yet).
fn normalize_path(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    if out.is_empty() {
        PathBuf::from(".")
    } else {
        out.iter().collect()
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`, normalized to `host:port`.
fn normalize_address(a: &str) -> Result<String, String> {
    let a = a.trim();
    let bad =
        || format!("`{a}` is not a host or host:port (IPv6 in brackets: `[2001:db8::1]:161`)");
    if a.is_empty() {
        return Err(bad());
    }
    if let Some(rest) = a.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        host.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse::<u16>().map_err(|_| bad())?,
            None if after.is_empty() => defaults::SNMP_PORT,
            None => return Err(bad()),
        };
        return Ok(format!("[{host}]:{port}"));
    }
    if a.matches(':').count() > 1 {
        return Err(bad());
    }
    let (host, port) = match a.split_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad())?),
        None => (a, defaults::SNMP_PORT),
    };
    if host.is_empty()
        || port == 0
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
    {
        return Err(bad());
    }
    Ok(format!("{host}:{port}"))
}

fn valid_address(a: &str) -> bool {
    let Some((local, domain)) = a.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && !a.chars().any(|c| c.is_whitespace() || c == '<' || c == '>')
}

fn valid_mailbox(m: &str) -> bool {
    let m = m.trim();
    match (m.rfind('<'), m.ends_with('>')) {
        (Some(i), true) => valid_address(&m[i + 1..m.len() - 1]),
        (None, false) => valid_address(m),
        _ => false,
    }
}

fn known<'k>(names: impl Iterator<Item = &'k String>) -> String {
    let v: Vec<String> = names.take(12).map(|n| format!("`{n}`")).collect();
    if v.is_empty() {
        String::new()
    } else {
        format!(" (known: {})", v.join(", "))
    }
}

fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_normalize() {
        assert_eq!(normalize_address("10.1.0.1").unwrap(), "10.1.0.1:161");
        assert_eq!(
            normalize_address("sw1.example.net:1161").unwrap(),
            "sw1.example.net:1161"
        );
        assert_eq!(
            normalize_address("[2001:db8::1]").unwrap(),
            "[2001:db8::1]:161"
        );
        assert!(normalize_address("10.1.0.1:notaport").is_err());
        assert!(normalize_address("2001:db8::1").is_err());
        assert!(normalize_address("").is_err());
    }

    #[test]
    fn paths_normalize() {
        assert_eq!(
            normalize_path(Path::new("config/../var")),
            PathBuf::from("var")
        );
        assert_eq!(
            normalize_path(Path::new("/etc/bandwatch/./rules")),
            PathBuf::from("/etc/bandwatch/rules")
        );
        assert_eq!(normalize_path(Path::new("../x")), PathBuf::from("../x"));
        assert_eq!(normalize_path(Path::new("a/..")), PathBuf::from("."));
    }

    #[test]
    fn mailboxes() {
        assert!(valid_mailbox("bandwatch <bandwatch@example.net>"));
        assert!(valid_mailbox("noc@example.net"));
        assert!(!valid_mailbox("bandwatch"));
        assert!(!valid_mailbox("x <y>"));
    }
}
