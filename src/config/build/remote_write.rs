//! `[[remote_write]]`: receivers of Prometheus remote write, checked with file, line and key
//! (URL scheme and host, header names and secret values, external label names, queue bounds).

use super::*;
use crate::config::remote_write::{
    self as rw, Queue, RESERVED_HEADERS, RawQueue, RawRemoteWrite, RemoteWrite,
};

impl Builder<'_, '_> {
    pub(super) fn remote_writes(&mut self, daemon: &Option<Daemon>) -> Vec<RemoteWrite> {
        let raws: Vec<document::Element<RawRemoteWrite>> = self.doc.array_of_tables("remote_write");
        let interval = daemon
            .as_ref()
            .map(|d| d.interval)
            .unwrap_or(defaults::INTERVAL);
        let mut seen = HashMap::new();
        let mut out = Vec::new();
        for el in raws {
            let key = format!("remote_write[{}]", el.index);
            if let Some(r) = self.remote_write(&key, el.value, interval, &mut seen) {
                out.push(r);
            }
        }
        out
    }

    fn remote_write(
        &mut self,
        key: &str,
        raw: RawRemoteWrite,
        interval: Duration,
        seen: &mut HashMap<String, Seen>,
    ) -> Option<RemoteWrite> {
        let mut ok = true;
        let url = raw.url.get_ref().trim().to_string();
        if let Err(msg) = check_url(&url) {
            self.doc
                .error(Some(raw.url.span()), &format!("{key}.url"), msg);
            ok = false;
        }
        let name = match &raw.name {
            Some(n) => {
                if rw::sanitize_name(n.get_ref()) != *n.get_ref() {
                    self.doc.error(
                        Some(n.span()),
                        &format!("{key}.name"),
                        "a name may hold letters, digits, `.`, `-` and `_` only (it names a folder)",
                    );
                    ok = false;
                }
                n.clone()
            }
            None => toml::Spanned::new(raw.url.span(), rw::default_name(&url)),
        };
        let what = if raw.name.is_some() { "name" } else { "url" };
        if !self.unique(seen, "remote_write", &name, &format!("{key}.{what}")) {
            ok = false;
        }
        let mut headers = BTreeMap::new();
        for (h, v) in &raw.headers {
            let hkey = format!("{key}.headers.{h}");
            let valid = !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
            if !valid {
                self.doc
                    .error(Some(v.span()), &hkey, "not a valid HTTP header name");
                ok = false;
                continue;
            }
            if RESERVED_HEADERS.contains(&h.to_ascii_lowercase().as_str()) {
                self.doc.error(
                    Some(v.span()),
                    &hkey,
                    "this header is set by the remote write protocol itself",
                );
                ok = false;
                continue;
            }
            match self.secret(v, &hkey) {
                Some(s)
                    if s.expose()
                        .bytes()
                        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b)) =>
                {
                    headers.insert(h.clone(), s);
                }
                Some(_) => {
                    self.doc.error(
                        Some(v.span()),
                        &hkey,
                        "the value holds characters a header cannot carry (line breaks, \
                         control or non-ASCII characters); it is not shown",
                    );
                    ok = false;
                }
                None => ok = false,
            }
        }
        let mut external_labels = BTreeMap::new();
        for (l, v) in &raw.external_labels {
            let lkey = format!("{key}.external_labels.{l}");
            if !rw::is_label_name(l) || l == "__name__" {
                self.doc.error(
                    Some(v.span()),
                    &lkey,
                    format!("`{l}` is not a label name (letters, digits and `_`, not `__name__`)"),
                );
                ok = false;
                continue;
            }
            if v.get_ref().is_empty() {
                self.doc
                    .error(Some(v.span()), &lkey, "an external label needs a value");
                ok = false;
                continue;
            }
            external_labels.insert(l.clone(), v.get_ref().clone());
        }
        let interval = match &raw.interval {
            Some(i) => match self.positive(Some(i), &format!("{key}.interval")) {
                Some(d) => d,
                None => {
                    ok = false;
                    interval
                }
            },
            None => interval,
        };
        let families = match &raw.families {
            Some(f) if f.is_empty() || f.iter().any(|x| x.get_ref().trim().is_empty()) => {
                let span = f.first().map(|x| x.span());
                self.doc.error(
                    span,
                    &format!("{key}.families"),
                    "list the family-name prefixes to export, none empty (like `bandwatch_port_`)",
                );
                ok = false;
                Vec::new()
            }
            Some(f) => f.iter().map(|x| x.get_ref().trim().to_string()).collect(),
            None => rw::defaults::FAMILIES
                .iter()
                .map(|s| s.to_string())
                .collect(),
        };
        let timeout = match &raw.timeout {
            Some(t) if t.get_ref().std().is_zero() || t.get_ref().as_secs() > 600 => {
                self.doc.error(
                    Some(t.span()),
                    &format!("{key}.timeout"),
                    "must be above 0 and at most 10m",
                );
                ok = false;
                rw::defaults::TIMEOUT
            }
            Some(t) => *t.get_ref(),
            None => rw::defaults::TIMEOUT,
        };
        let queue = match &raw.queue {
            Some(q) => self.remote_queue(&format!("{key}.queue"), q.get_ref()),
            None => Some(Queue::default()),
        };
        let queue = queue?;
        ok.then(|| RemoteWrite {
            name: name.into_inner(),
            url,
            headers,
            external_labels,
            interval,
            families,
            timeout,
            queue,
        })
    }

    fn remote_queue(&mut self, key: &str, raw: &RawQueue) -> Option<Queue> {
        let mut q = Queue::default();
        let mut ok = true;
        if let Some(m) = &raw.max_samples_per_send {
            if !(1..=1_000_000).contains(m.get_ref()) {
                self.doc.error(
                    Some(m.span()),
                    &format!("{key}.max_samples_per_send"),
                    "must be from 1 to 1000000",
                );
                ok = false;
            } else {
                q.max_samples_per_send = *m.get_ref() as usize;
            }
        }
        if let Some(m) = &raw.max_samples {
            if *m.get_ref() < q.max_samples_per_send as i64 {
                self.doc.error(
                    Some(m.span()),
                    &format!("{key}.max_samples"),
                    format!(
                        "must be at least max_samples_per_send ({})",
                        q.max_samples_per_send
                    ),
                );
                ok = false;
            } else {
                q.max_samples = *m.get_ref() as u64;
            }
        }
        if let Some(b) = &raw.min_backoff {
            q.min_backoff = *b.get_ref();
        }
        if let Some(b) = &raw.max_backoff {
            q.max_backoff = *b.get_ref();
        }
        if q.min_backoff.std().is_zero() || q.min_backoff > q.max_backoff {
            let span = raw
                .min_backoff
                .as_ref()
                .or(raw.max_backoff.as_ref())
                .map(|s| s.span());
            self.doc.error(
                span,
                &format!("{key}.min_backoff"),
                format!(
                    "must be above 0 and at most max_backoff ({})",
                    q.max_backoff
                ),
            );
            ok = false;
        }
        ok.then_some(q)
    }
}

/// An `http://` or `https://` URL with a host.
fn check_url(url: &str) -> Result<(), String> {
    if url.contains('@') {
        return Err(
            "credentials in the URL would be logged; give them in `headers` as a secret \
             (`Authorization = \"${VAR}\"`); the URL is not shown"
                .into(),
        );
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "`{url}` is not a URL like `http://127.0.0.1:8428/api/v1/write`"
        ));
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(format!("scheme `{scheme}` is not `http` or `https`"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() {
        return Err(format!("`{url}` has no host"));
    }
    match url.parse::<hyper::Uri>() {
        Ok(u) if u.host().is_some() => Ok(()),
        _ => Err(format!("`{url}` is not a valid URL")),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{SourceFile, load_source};

    const BASE: &str = "[daemon]\ninterval = \"30s\"\n";

    fn load(extra: &str) -> Result<crate::config::Config, String> {
        let src = SourceFile {
            path: "bw.toml".into(),
            text: format!("{BASE}{extra}").into(),
        };
        load_source(&src)
            .map(|l| l.config)
            .map_err(|d| d.to_string())
    }

    #[test]
    fn defaults_and_name_from_the_url() {
        let c = load(
            "[[remote_write]]\nurl = \"http://vm.example.net:8428/api/v1/write\"\n\
             external_labels = { cluster = \"bj\", __replica__ = \"a\" }\n",
        )
        .unwrap();
        let r = &c.remote_write[0];
        assert_eq!(r.name, "vm.example.net_8428");
        assert_eq!(r.interval.as_secs(), 30);
        assert_eq!(r.queue, super::Queue::default());
        assert_eq!(r.external_labels.len(), 2);
        assert_eq!(r.families.len(), super::rw::defaults::FAMILIES.len());
    }

    #[test]
    fn mistakes_name_their_line_and_key() {
        let cases = [
            ("url = \"ftp://x/y\"", "remote_write[0].url", "scheme"),
            ("url = \"http:///x\"", "remote_write[0].url", "no host"),
            (
                "url = \"http://u:hunter2@vm/x\"",
                "remote_write[0].url",
                "credentials",
            ),
            (
                "url = \"http://vm/x\"\nheaders = { Content-Type = \"${BW_RW_T_UNSET:-x}\" }",
                "remote_write[0].headers.Content-Type",
                "set by the remote write protocol",
            ),
            (
                "url = \"http://vm/x\"\nheaders = { Authorization = \"Bearer hunter2\" }",
                "remote_write[0].headers.Authorization",
                "a secret must be written",
            ),
            (
                "url = \"http://vm/x\"\nexternal_labels = { 1bad = \"a\" }",
                "remote_write[0].external_labels.1bad",
                "not a label name",
            ),
            (
                "url = \"http://vm/x\"\nqueue = { max_samples = 10, max_samples_per_send = 100 }",
                "remote_write[0].queue.max_samples",
                "at least max_samples_per_send",
            ),
            (
                "url = \"http://vm/x\"\nqueue = { min_backoff = \"5s\", max_backoff = \"1s\" }",
                "remote_write[0].queue.min_backoff",
                "at most max_backoff",
            ),
            (
                "url = \"http://vm/x\"\nfamilies = []",
                "remote_write[0].families",
                "prefixes",
            ),
            (
                "url = \"http://vm/x\"\nname = \"a/b\"",
                "remote_write[0].name",
                "names a folder",
            ),
            (
                "url = \"http://vm/x\"\nqueue = { max = 1 }",
                "max",
                "unknown field",
            ),
        ];
        for (body, key, what) in cases {
            let text = format!("[[remote_write]]\n{body}\n");
            let e = load(&text).unwrap_err();
            assert!(e.contains(key), "{body}: {e}");
            assert!(e.contains(what), "{body}: {e}");
            assert!(e.contains("bw.toml:"), "{body}: {e}");
            assert!(!e.contains("hunter2"), "{body}: a secret is echoed: {e}");
        }
        let e = load(
            "[[remote_write]]\nurl = \"http://vm:8428/a\"\n[[remote_write]]\nurl = \"http://vm:8428/b\"\n",
        )
        .unwrap_err();
        assert!(e.contains("duplicate remote_write `vm_8428`"), "{e}");
        assert!(e.contains("bw.toml:6:7: remote_write[1].url"), "{e}");
    }
}
