//! `[daemon]`, `[retention]` and `alias_patterns`: how the daemon itself runs.

use super::*;

impl Builder<'_, '_> {
    pub(super) fn daemon(&mut self) -> Option<Daemon> {
        let raw: RawDaemon = self.doc.value("daemon").unwrap_or_default();
        self.daemon_shard = raw.shard.clone();
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
            Some(m) if !(1..=defaults::MAX_CONCURRENT_POLLS_LIMIT).contains(m.get_ref()) => {
                self.doc.error(
                    Some(m.span()),
                    "daemon.max_concurrent_polls",
                    format!(
                        "must be between 1 and {}",
                        defaults::MAX_CONCURRENT_POLLS_LIMIT
                    ),
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
            shard: raw.shard.map(|s| s.into_inner()),
        })
    }

    pub(super) fn retention(&mut self) -> Retention {
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

    pub(super) fn alias_patterns(
        &mut self,
        patterns: &[Spanned<String>],
        key: &str,
    ) -> Vec<AliasPattern> {
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
}
