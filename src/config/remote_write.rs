//! `[[remote_write]]`: where the daemon pushes its series by Prometheus remote write (spec
//! 1.0), the headers it sends (values are secrets: `${ENV}` or `file:`), the labels it adds
//! (`external_labels`, e.g. `cluster` and `replica` of an HA pair) and the bounds of its
//! on-disk queue. Defaults live in [`defaults`].

use std::collections::BTreeMap;

use super::secret::Secret;
use super::units::Duration;

/// Every default of a `[[remote_write]]` entry.
pub mod defaults {
    use super::Duration;
    /// `queue.max_samples`: the most samples kept on disk while the receiver is away.
    pub const MAX_SAMPLES: u64 = 5_000_000;
    /// `queue.max_samples_per_send`: samples per request (and per segment file).
    pub const MAX_SAMPLES_PER_SEND: usize = 10_000;
    /// `queue.min_backoff`: the first wait before a retry.
    pub const MIN_BACKOFF: Duration = Duration(std::time::Duration::from_millis(100));
    /// `queue.max_backoff`: the longest wait between retries.
    pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
    /// `timeout`: one request, connection included.
    pub const TIMEOUT: Duration = Duration::from_secs(30);
    /// `families`: the family-name prefixes exported, the same families as `/metrics`
    /// (ports, aggregates, switches, alerts).
    pub const FAMILIES: &[&str] = &[
        "bandwatch_port_",
        "bandwatch_product_line_",
        "bandwatch_site_",
        "bandwatch_customer_",
        "bandwatch_switch_",
        "bandwatch_alerts",
    ];
}

/// One validated `[[remote_write]]` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteWrite {
    /// The name of the queue (folder under `data_dir/remote_write/`) and of the `remote`
    /// label of `bandwatch_remote_write_*`; defaults to the URL's host and port.
    pub name: String,
    /// The receiver's write endpoint (`http://` or `https://`).
    pub url: String,
    /// Extra request headers (an `Authorization`, a tenant id); values are secrets.
    pub headers: BTreeMap<String, Secret>,
    /// Labels added to every series (`cluster`, `replica`, ...).
    pub external_labels: BTreeMap<String, String>,
    /// How often the series are collected; defaults to `daemon.interval`.
    pub interval: Duration,
    /// Family-name prefixes exported.
    pub families: Vec<String>,
    /// One request's timeout.
    pub timeout: Duration,
    /// The queue's bounds and retry pacing.
    pub queue: Queue,
}

/// `[[remote_write]] queue = { ... }`
#[derive(Clone, Debug, PartialEq)]
pub struct Queue {
    /// Samples kept at most; beyond it the oldest are dropped and counted.
    pub max_samples: u64,
    /// Samples per request.
    pub max_samples_per_send: usize,
    /// First retry wait.
    pub min_backoff: Duration,
    /// Longest retry wait.
    pub max_backoff: Duration,
}

impl Default for Queue {
    fn default() -> Self {
        Queue {
            max_samples: defaults::MAX_SAMPLES,
            max_samples_per_send: defaults::MAX_SAMPLES_PER_SEND,
            min_backoff: defaults::MIN_BACKOFF,
            max_backoff: defaults::MAX_BACKOFF,
        }
    }
}

/// `[[remote_write]]` as written.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRemoteWrite {
    pub name: Option<toml::Spanned<String>>,
    pub url: toml::Spanned<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, toml::Spanned<String>>,
    #[serde(default)]
    pub external_labels: BTreeMap<String, toml::Spanned<String>>,
    pub interval: Option<toml::Spanned<Duration>>,
    pub families: Option<Vec<toml::Spanned<String>>>,
    pub timeout: Option<toml::Spanned<Duration>>,
    pub queue: Option<toml::Spanned<RawQueue>>,
}

/// `queue = { ... }` as written.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQueue {
    pub max_samples: Option<toml::Spanned<i64>>,
    pub max_samples_per_send: Option<toml::Spanned<i64>>,
    pub min_backoff: Option<toml::Spanned<Duration>>,
    pub max_backoff: Option<toml::Spanned<Duration>>,
}

/// Headers the protocol sets itself; a configured one would break it.
pub const RESERVED_HEADERS: &[&str] = &[
    "content-encoding",
    "content-type",
    "content-length",
    "host",
    "x-prometheus-remote-write-version",
    "user-agent",
];

/// Whether `name` is a Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The queue name derived from a URL's host and port (`vm.example.net_8428`).
pub fn default_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    sanitize_name(authority)
}

/// A name usable as a folder: letters, digits, `.`, `-` and `_`, the rest as `_`.
pub fn sanitize_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
