//! The validated configuration the daemon runs on: daemon settings, retention, SNMP profiles,
//! email, and the [`Topology`]. Built once from the raw file by [`super::load`]; defaults live
//! in [`defaults`].

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::access::{Api, Http};
use super::secret::Secret;
use super::topology::Topology;
use super::units::Duration;

/// Every default of the configuration, in one place.
pub mod defaults {
    use super::Duration;
    /// `daemon.listen`
    pub const LISTEN: &str = "127.0.0.1:9477";
    /// `daemon.data_dir`, relative to the configuration file.
    pub const DATA_DIR: &str = "var";
    /// `daemon.rules_dir`, relative to the configuration file.
    pub const RULES_DIR: &str = "../alert-rules";
    /// `daemon.interval`
    pub const INTERVAL: Duration = Duration::from_secs(60);
    /// `daemon.rediscover` and `switch.rediscover`
    pub const REDISCOVER: Duration = Duration::from_secs(3600);
    /// `daemon.max_concurrent_polls`
    pub const MAX_CONCURRENT_POLLS: usize = 256;
    /// The largest `daemon.max_concurrent_polls` accepted (a larger one would overflow the
    /// poller's semaphore, and no fleet needs more switches polled at one instant).
    pub const MAX_CONCURRENT_POLLS_LIMIT: usize = 65_536;
    /// `snmp.*.timeout`
    pub const SNMP_TIMEOUT: Duration = Duration::from_secs(2);
    /// `snmp.*.retries`
    pub const SNMP_RETRIES: u32 = 2;
    /// `snmp.*.max_repetitions`
    pub const SNMP_MAX_REPETITIONS: u32 = 14;
    /// `switch.profile`
    pub const PROFILE: &str = "default";
    /// SNMP agent UDP port when the address has none.
    pub const SNMP_PORT: u16 = 161;
    /// `retention.raw`
    pub const RETAIN_RAW: Duration = Duration::from_secs(7 * 86400);
    /// `retention.rollup_5m`
    pub const RETAIN_5M: Duration = Duration::from_secs(62 * 86400);
    /// `retention.rollup_1h`
    pub const RETAIN_1H: Duration = Duration::from_secs(2 * 365 * 86400);
    /// `email.group_wait`
    pub const GROUP_WAIT: Duration = Duration::from_secs(30);
    /// `report.route`
    pub const REPORT_ROUTE: &str = "sales";
    /// `report.up` and `report.down`
    pub const REPORT_THRESHOLD: f64 = 0.2;
    /// `report.day`
    pub const REPORT_DAY: u8 = 1;
    /// `report.time` (UTC), hours and minutes
    pub const REPORT_TIME: (u8, u8) = (6, 0);
    /// Scopes of a basic-auth user not listed in `http.user_scopes`.
    pub const USER_SCOPES: [super::super::access::Scope; 2] = [
        super::super::access::Scope::MetricsRead,
        super::super::access::Scope::StatusRead,
    ];
    /// `http.max_connections`
    pub const HTTP_MAX_CONNECTIONS: usize = 256;
    /// `http.header_timeout`
    pub const HTTP_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
    /// `http.body_timeout`
    pub const HTTP_BODY_TIMEOUT: Duration = Duration::from_secs(60);
    /// `http.max_body`
    pub const HTTP_MAX_BODY: super::super::units::ByteSize =
        super::super::units::ByteSize(64 * 1024);
    /// `http.max_import_body`
    pub const HTTP_MAX_IMPORT_BODY: super::super::units::ByteSize =
        super::super::units::ByteSize(64 * 1024 * 1024);
    /// `http.fd_reserve`
    pub const HTTP_FD_RESERVE: u64 = 64;
}

/// The whole validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// `[daemon]`
    pub daemon: Daemon,
    /// `[retention]`
    pub retention: Retention,
    /// `[email]`, when configured.
    pub email: Option<Email>,
    /// `[api]`
    pub api: Api,
    /// `[http]`
    pub http: Http,
    /// `[report]` and each customer's billing method.
    pub report: ReportSettings,
    /// `[flow]` and the customers' prefixes.
    pub flow: super::flow::FlowSettings,
    /// `[[remote_write]]` receivers.
    pub remote_write: Vec<super::remote_write::RemoteWrite>,
    /// Sites, switches, ports, product lines, customers, routes.
    pub topology: Topology,
    /// `[store]`: which backend keeps the data.
    pub store: StoreSettings,
}

/// `[store]`: which backend keeps what bandwatch measures.
#[derive(Clone, Debug, Default)]
pub struct StoreSettings {
    /// The backend.
    pub backend: StoreBackend,
    /// PostgreSQL: samples held in memory while the database cannot be written; beyond it
    /// the oldest become gaps flagged `store_unavailable`. `None`: the writer's default.
    pub max_queued_samples: Option<usize>,
}

/// A store backend.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum StoreBackend {
    /// SQLite in `daemon.data_dir` (the default).
    #[default]
    Sqlite,
    /// A PostgreSQL shared by several daemons.
    Postgres {
        /// The connection URL (a secret: it may hold the password).
        url: super::Secret,
    },
}

/// `[daemon]`: where the daemon listens and keeps its data, and how often it polls.
#[derive(Clone, Debug, Serialize)]
pub struct Daemon {
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// Folder of `bandwatch.db` and the mail outbox (resolved against the config file).
    pub data_dir: PathBuf,
    /// Folder of the rule files (resolved against the config file).
    pub rules_dir: PathBuf,
    /// Default poll interval.
    pub interval: Duration,
    /// Base URL for links in emails.
    pub public_url: Option<String>,
    /// Default period between walks of the static columns.
    pub rediscover: Duration,
    /// How many switches may be polled at the same instant.
    pub max_concurrent_polls: usize,
    /// The shard this daemon polls (`None`: every switch, no lease).
    pub shard: Option<String>,
}

/// How long each storage tier keeps data; `None` is forever.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Retention {
    /// Raw port samples.
    pub raw: Option<Duration>,
    /// 5-minute rollups.
    pub rollup_5m: Option<Duration>,
    /// 1-hour rollups.
    pub rollup_1h: Option<Duration>,
    /// 1-day rollups.
    pub rollup_1d: Option<Duration>,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            raw: Some(defaults::RETAIN_RAW),
            rollup_5m: Some(defaults::RETAIN_5M),
            rollup_1h: Some(defaults::RETAIN_1H),
            rollup_1d: None,
        }
    }
}

/// SNMP protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub enum SnmpVersion {
    /// SNMPv2c (community).
    #[serde(rename = "2c")]
    V2c,
    /// SNMPv3 (USM).
    #[serde(rename = "3")]
    V3,
}

/// SNMPv3 authentication protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthProtocol {
    /// HMAC-MD5-96
    Md5,
    /// HMAC-SHA-96
    Sha1,
    /// HMAC-SHA-224
    Sha224,
    /// HMAC-SHA-256
    Sha256,
    /// HMAC-SHA-384
    Sha384,
    /// HMAC-SHA-512
    Sha512,
}

/// SNMPv3 privacy protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PrivacyProtocol {
    /// No encryption (authNoPriv).
    None,
    /// CBC-DES
    Des,
    /// CFB-AES-128
    Aes128,
    /// CFB-AES-192
    Aes192,
    /// CFB-AES-256
    Aes256,
}

/// SNMPv3 user credentials.
#[derive(Clone, Debug, PartialEq)]
pub struct UsmUser {
    /// Security name.
    pub user: String,
    /// Authentication protocol and password; `None` is noAuthNoPriv.
    pub auth: Option<(AuthProtocol, Secret)>,
    /// Privacy protocol and password; `None` is no privacy.
    pub privacy: Option<(PrivacyProtocol, Secret)>,
}

/// Credentials of a profile, per version.
#[derive(Clone, Debug, PartialEq)]
pub enum SnmpCredentials {
    /// v2c community.
    V2c {
        /// The community string.
        community: Secret,
    },
    /// v3 user.
    V3(UsmUser),
}

/// `[snmp.NAME]`: how to talk to a group of switches.
#[derive(Clone, Debug, PartialEq)]
pub struct SnmpProfile {
    /// Profile name.
    pub name: String,
    /// Version and credentials.
    pub credentials: SnmpCredentials,
    /// Time to wait for one response.
    pub timeout: Duration,
    /// Retries after a timeout.
    pub retries: u32,
    /// GETBULK max-repetitions.
    pub max_repetitions: u32,
}

impl Default for SnmpProfile {
    fn default() -> Self {
        SnmpProfile {
            name: String::new(),
            credentials: SnmpCredentials::V2c {
                community: Secret::new("public"),
            },
            timeout: defaults::SNMP_TIMEOUT,
            retries: defaults::SNMP_RETRIES,
            max_repetitions: defaults::SNMP_MAX_REPETITIONS,
        }
    }
}

/// How mail leaves bandwatch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    /// An SMTP server.
    Smtp,
    /// `.eml` files in `data_dir/outbox/`.
    File,
}

/// Transport security of the SMTP connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MailSecurity {
    /// Plain connection upgraded with STARTTLS (submission, port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption (a local relay).
    None,
}

/// `[email]`
#[derive(Clone, Debug, PartialEq)]
pub struct Email {
    /// SMTP or files.
    pub transport: MailTransport,
    /// `host:port` of the SMTP server (SMTP only).
    pub server: Option<String>,
    /// Transport security.
    pub security: MailSecurity,
    /// Login, when the server wants AUTH.
    pub username: Option<String>,
    /// Password for AUTH.
    pub password: Option<Secret>,
    /// Sender, like `bandwatch <bandwatch@example.net>`.
    pub from: String,
    /// Events for one route within this wait are grouped into one message.
    pub group_wait: Duration,
}

/// How a customer's usage is billed (`billing` on `[[customer]]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum Billing {
    /// The larger of the 95th percentile of the inbound and of the outbound 5-minute rates.
    #[default]
    #[serde(rename = "95th-max")]
    Max95,
    /// The 95th percentile of the inbound 5-minute rates.
    #[serde(rename = "95th-in")]
    In95,
    /// The 95th percentile of the outbound 5-minute rates.
    #[serde(rename = "95th-out")]
    Out95,
    /// The 95th percentile of inbound + outbound per 5-minute slot.
    #[serde(rename = "95th-sum")]
    Sum95,
    /// Total bytes in and out.
    #[serde(rename = "volume")]
    Volume,
}

impl Billing {
    /// Every method.
    pub const ALL: [Billing; 5] = [
        Billing::Max95,
        Billing::In95,
        Billing::Out95,
        Billing::Sum95,
        Billing::Volume,
    ];

    /// The method as written in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Billing::Max95 => "95th-max",
            Billing::In95 => "95th-in",
            Billing::Out95 => "95th-out",
            Billing::Sum95 => "95th-sum",
            Billing::Volume => "volume",
        }
    }

    /// Parses a method as written in the configuration.
    pub fn parse(s: &str) -> Option<Billing> {
        Billing::ALL.into_iter().find(|b| b.as_str() == s)
    }
}

/// `[report]`: the monthly usage report's delivery and status thresholds.
#[derive(Clone, Debug, Serialize)]
pub struct ReportSettings {
    /// Day of the month the report for the previous month is sent (1..=28).
    pub day: u8,
    /// Time of day (UTC) it is sent, hours and minutes.
    pub time: (u8, u8),
    /// Route that receives the whole report.
    pub route: String,
    /// Growth (fraction) from which a customer is `up`.
    pub up: f64,
    /// Fall (fraction) from which a customer is `down`.
    pub down: f64,
    /// Leave slots inside firing spike alerts out of the 95th.
    pub exclude_attacks: bool,
    /// Billing method per customer id (customers not listed use the default, `95th-max`).
    pub billing: std::collections::BTreeMap<String, Billing>,
}

impl Default for ReportSettings {
    fn default() -> Self {
        ReportSettings {
            day: defaults::REPORT_DAY,
            time: defaults::REPORT_TIME,
            route: defaults::REPORT_ROUTE.to_string(),
            up: defaults::REPORT_THRESHOLD,
            down: defaults::REPORT_THRESHOLD,
            exclude_attacks: false,
            billing: std::collections::BTreeMap::new(),
        }
    }
}

impl ReportSettings {
    /// The billing method of a customer.
    pub fn billing_of(&self, customer: &str) -> Billing {
        self.billing.get(customer).copied().unwrap_or_default()
    }
}
