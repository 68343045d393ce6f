//! The configuration file as written: serde structs that mirror the TOML, with spans kept on
//! every value that later checks may need to point at. Nothing outside `config` reads these;
//! the daemon runs on the validated model built from them ([`super::Config`]).

use serde::Deserialize;
use toml::Spanned;

use super::model::{AuthProtocol, MailSecurity, MailTransport, PrivacyProtocol, SnmpVersion};
use super::units::{BitRate, ByteSize, Duration};

/// Top-level keys a configuration file may have.
pub const TOP_LEVEL_KEYS: &[&str] = &[
    "daemon",
    "retention",
    "snmp",
    "alias_patterns",
    "site",
    "switch",
    "product_line",
    "port",
    "customer",
    "route",
    "email",
    "api",
    "http",
    "report",
    "price_plan",
    "flow",
    "maintenance",
    "store",
    "remote_write",
];

/// `[store]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub backend: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    pub max_queued_samples: Option<Spanned<i64>>,
}

/// `[daemon]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDaemon {
    pub listen: Option<Spanned<String>>,
    pub data_dir: Option<String>,
    pub rules_dir: Option<String>,
    pub interval: Option<Spanned<Duration>>,
    pub public_url: Option<Spanned<String>>,
    pub rediscover: Option<Spanned<Duration>>,
    pub max_concurrent_polls: Option<Spanned<usize>>,
    pub shard: Option<Spanned<String>>,
}

/// A retention period: a duration or `"forever"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawRetain {
    For(Duration),
    Forever,
}

impl<'de> Deserialize<'de> for RawRetain {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim().eq_ignore_ascii_case("forever") {
            Ok(RawRetain::Forever)
        } else {
            s.parse::<Duration>()
                .map(RawRetain::For)
                .map_err(|e| serde::de::Error::custom(format!("{e}, or `forever`")))
        }
    }
}

/// `[retention]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetention {
    pub raw: Option<RawRetain>,
    pub rollup_5m: Option<RawRetain>,
    pub rollup_1h: Option<RawRetain>,
    pub rollup_1d: Option<RawRetain>,
}

/// `[snmp.NAME]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSnmpProfile {
    pub version: Spanned<SnmpVersion>,
    pub community: Option<Spanned<String>>,
    pub timeout: Option<Spanned<Duration>>,
    pub retries: Option<Spanned<u32>>,
    pub max_repetitions: Option<Spanned<u32>>,
    pub user: Option<Spanned<String>>,
    pub auth: Option<Spanned<AuthProtocol>>,
    pub auth_password: Option<Spanned<String>>,
    pub privacy: Option<Spanned<PrivacyProtocol>>,
    pub privacy_password: Option<Spanned<String>>,
}

/// `[[site]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSite {
    pub name: Spanned<String>,
    pub shard: Option<Spanned<String>>,
    pub description: Option<String>,
}

/// `[[switch]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSwitch {
    pub name: Spanned<String>,
    pub site: Spanned<String>,
    pub address: Spanned<String>,
    pub profile: Option<Spanned<String>>,
    pub interval: Option<Spanned<Duration>>,
    pub rediscover: Option<Spanned<Duration>>,
    #[serde(default)]
    pub alias_patterns: Vec<Spanned<String>>,
    pub shard: Option<Spanned<String>>,
    pub description: Option<String>,
}

/// `[[product_line]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProductLine {
    pub name: Spanned<String>,
    #[serde(default)]
    pub owners: Vec<Spanned<String>>,
    pub description: Option<String>,
    #[serde(default)]
    pub prefixes: Vec<Spanned<String>>,
}

/// `[[port]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPort {
    pub switch: Spanned<String>,
    pub name: Spanned<String>,
    pub product_line: Option<Spanned<String>>,
    pub role: Option<Spanned<String>>,
    pub max_rate: Option<BitRate>,
    pub description: Option<String>,
    pub transit: Option<Spanned<RawTransit>>,
}

/// `transit = { price_plan = "..." }` on an uplink `[[port]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTransit {
    pub price_plan: Spanned<String>,
}

/// `[[price_plan]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPricePlan {
    pub name: Spanned<String>,
    pub currency: Spanned<String>,
    pub billing: Option<Spanned<String>>,
    pub commit: Option<Spanned<String>>,
    pub commit_price: Option<Spanned<f64>>,
    pub overage_price: Option<Spanned<f64>>,
    pub description: Option<String>,
}

/// One entry of `customer.ports`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPortRef {
    pub switch: Spanned<String>,
    pub name: Spanned<String>,
}

/// `[[customer]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCustomer {
    pub id: Spanned<String>,
    pub name: Option<String>,
    pub account_manager: Option<Spanned<String>>,
    #[serde(default)]
    pub ports: Vec<Spanned<RawPortRef>>,
    pub billing: Option<Spanned<String>>,
    pub price_plan: Option<Spanned<String>>,
    pub monthly_revenue: Option<Spanned<f64>>,
    pub currency: Option<Spanned<String>>,
    #[serde(default)]
    pub prefixes: Vec<Spanned<String>>,
}

/// `[flow]`: the flow collector.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFlow {
    #[serde(default)]
    pub listen: Vec<Spanned<String>>,
    #[serde(default)]
    pub exporter: Vec<Spanned<RawFlowExporter>>,
}

/// `[[flow.exporter]]`: a switch that exports flows, and from which address.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFlowExporter {
    pub switch: Spanned<String>,
    pub address: Option<Spanned<String>>,
    pub sampling: Option<Spanned<i64>>,
}

/// `[[route]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub name: Spanned<String>,
    #[serde(default)]
    pub email: Vec<Spanned<String>>,
}

/// `[email]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmail {
    pub transport: Option<MailTransport>,
    pub server: Option<Spanned<String>>,
    pub security: Option<MailSecurity>,
    pub username: Option<String>,
    pub password: Option<Spanned<String>>,
    pub from: Option<Spanned<String>>,
    pub group_wait: Option<Duration>,
    pub allow_insecure_auth: Option<bool>,
}

/// `[api]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApi {
    pub token: Option<Spanned<RawApiTokens>>,
}

/// `[api] token = "..."` (the legacy shared token) or `[[api.token]]` entries.
#[derive(Debug)]
pub enum RawApiTokens {
    Legacy(String),
    Scoped(Vec<RawApiToken>),
}

impl<'de> Deserialize<'de> for RawApiTokens {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawApiTokens;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string (the legacy shared token) or `[[api.token]]` tables")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawApiTokens, E> {
                Ok(RawApiTokens::Legacy(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<RawApiTokens, A::Error> {
                Vec::<RawApiToken>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(RawApiTokens::Scoped)
            }
        }
        d.deserialize_any(V)
    }
}

/// `[[api.token]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApiToken {
    pub name: Spanned<String>,
    pub scopes: Spanned<Vec<Spanned<String>>>,
    pub hash: Spanned<String>,
    pub expires: Option<Spanned<String>>,
    pub description: Option<String>,
}

/// `[http]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    pub web_config: Option<Spanned<String>>,
    pub anonymous: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub user_scopes: std::collections::BTreeMap<String, Spanned<Vec<Spanned<String>>>>,
    pub client_cert_scopes: Option<Spanned<Vec<Spanned<String>>>>,
    pub max_connections: Option<Spanned<usize>>,
    pub header_timeout: Option<Spanned<Duration>>,
    pub body_timeout: Option<Spanned<Duration>>,
    pub max_body: Option<Spanned<ByteSize>>,
    pub max_import_body: Option<Spanned<ByteSize>>,
    pub fd_reserve: Option<Spanned<u64>>,
}

/// `[report]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReport {
    pub day: Option<Spanned<i64>>,
    pub time: Option<Spanned<String>>,
    pub route: Option<Spanned<String>>,
    pub up: Option<Spanned<f64>>,
    pub down: Option<Spanned<f64>>,
    pub exclude_attacks: Option<bool>,
}

/// `[[maintenance]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMaintenance {
    pub name: Spanned<String>,
    pub reason: Option<String>,
    #[serde(rename = "match")]
    pub matchers: Option<std::collections::BTreeMap<Spanned<String>, Spanned<String>>>,
    pub from: Option<Spanned<String>>,
    pub until: Option<Spanned<String>>,
    pub every: Option<Spanned<String>>,
    pub cron: Option<Spanned<String>>,
    pub duration: Option<Spanned<Duration>>,
    pub time_zone: Option<Spanned<String>>,
    pub alerts: Option<Vec<Spanned<String>>>,
    pub exclude_samples: Option<bool>,
}
