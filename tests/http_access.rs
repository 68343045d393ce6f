//! Who may see what on the listener, over real HTTP against a real SQLite store: every route of
//! the router's table asked anonymously on a listener other machines reach (nothing with a
//! customer name, email address or money comes back), the same on loopback (everything, so the
//! words the first test looks for are really there), and API tokens: a scrape with
//! `metrics:read`, a token without the scope (403), a wrong and an expired token (401),
//! writes refused to anonymous readers, the legacy `[api] token`, and the token list.

use crate::report_support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;

use bandwatch::http::auth::token;
use bandwatch::http::metrics::MetricsSource;
use bandwatch::http::routes;
use bandwatch::http::sources::{AlertSource, CostSource};
use bandwatch::http::{AppState, Health, LiveView, bind, serve};
use bandwatch::rules::view::{ActiveAlert, AlertsView};
use bandwatch::store::alerts::HistoryRow;
use report_support::{Setup, day, write_steps};

/// Customers, addresses and prices whose every trace an anonymous reader must not see.
const BASE: &str = r#"
[daemon]
data_dir = "var"
rules_dir = "rules"

[retention]
raw = "forever"
rollup_5m = "forever"

[snmp.default]
version = "2c"
community = "${BANDWATCH_TEST_COMMUNITY:-public}"

[[route]]
name = "sales"
email = ["sales@bw-test.example"]
[[route]]
name = "acct"
email = ["anna@bw-test.example"]

[[site]]
name = "fra"

[[switch]]
name = "sw"
site = "fra"
address = "127.0.0.1:16100"

[[product_line]]
name = "web"

[[price_plan]]
name = "gold"
currency = "EUR"
commit = "100Mbps"
commit_price = 4321.5
overage_price = 3.1415

[[price_plan]]
name = "transit"
currency = "EUR"
commit = "1Gbps"
commit_price = 6173.0
overage_price = 1.0

[[port]]
switch = "sw"
name = "up"
role = "uplink"
transit = { price_plan = "transit" }
[[port]]
switch = "sw"
name = "w1"
product_line = "web"
description = "Zorblax rack 4"

[[customer]]
id = "zorblax"
name = "Zorblax Industries"
account_manager = "acct"
price_plan = "gold"
ports = [{ switch = "sw", name = "w1" }]
[[customer]]
id = "quux"
name = "Quux Corporation"
monthly_revenue = 98765.0
currency = "EUR"
ports = [{ switch = "sw", name = "q1" }]
"#;

/// Words that mean a customer, an address or money leaked.
const LEAKS: &[&str] = &[
    "zorblax", "quux", "@", "eur", "4321", "3.1415", "6173", "98765", "revenue", "margin", "price",
];

fn traffic(_sw: &str, port: &str, _t: i64) -> Option<(u64, u64)> {
    let day_at = |mbps: u64| mbps * 1_000_000 / 8 * 86_400;
    Some(match port {
        "up" => (day_at(400), 0),
        "w1" => (day_at(150), 0),
        "q1" => (day_at(20), 0),
        _ => (0, 0),
    })
}

fn mid_september() -> jiff::Timestamp {
    jiff::Timestamp::from_second(day("2026-09-16")).unwrap()
}

struct Server {
    addr: SocketAddr,
    _setup: Setup,
    _rt: tokio::runtime::Runtime,
}

/// A server on `bind_to` over `config_text` with half a month of usage, a firing alert on a
/// customer and its history row.
fn start(config_text: &str, bind_to: &str) -> Server {
    let setup = Setup::with_config(config_text);
    let config = setup.config.clone();
    write_steps(
        &setup.db(),
        &config,
        day("2026-09-01"),
        day("2026-09-16"),
        traffic,
    );
    let store = bandwatch::store::Store::open(&setup.db(), &config.retention).unwrap();
    store
        .alerts()
        .record(&HistoryRow {
            rule: "customer-churn-risk".into(),
            entity: "zorblax".into(),
            from_state: "pending".into(),
            to_state: "firing".into(),
            ts: day("2026-09-15"),
            value: Some(1.0e6),
            message: Some("Zorblax Industries fell to 30%, 4321.5 EUR at risk".into()),
        })
        .unwrap();
    let alerts = AlertsView::default();
    alerts.set(vec![ActiveAlert {
        rule: "customer-churn-risk".into(),
        severity: "warning".into(),
        scope: "customer".into(),
        entity: "zorblax".into(),
        state: "firing".into(),
        value: 1.0e6,
        baseline: Some(5.0e6),
        since: Some(day("2026-09-15")),
        // A spike's flow evidence names the customer; a redacted reader gets it without.
        evidence: Some("Flows: likely NTP reflection toward 192.0.2.7 (zorblax): 1 Gbit/s".into()),
        evidence_redacted: Some("Flows: likely NTP reflection toward 192.0.2.7: 1 Gbit/s".into()),
    }]);
    let runtime = bandwatch::runtime::RuntimeHandle::of_config(config.clone());
    let sources: Vec<Arc<dyn MetricsSource>> = vec![
        Arc::new(CostSource::with_clock(
            store.usage(),
            runtime.clone(),
            mid_september,
        )),
        Arc::new(AlertSource(alerts.clone())),
    ];
    let state = AppState {
        live: LiveView::new(Arc::new(config.topology.clone())),
        sources: Arc::new(sources),
        health: Health::default(),
        alerts,
        store: Some(bandwatch::http::StoreView::of(&store)),
        runtime: Some(runtime),
        reload: None,
        usage: None,
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt.block_on(bind(bind_to.parse().unwrap())).unwrap();
    let port = listener.local_addr().unwrap().port();
    rt.spawn(serve(listener, state, std::future::pending()));
    Server {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        _setup: setup,
        _rt: rt,
    }
}

/// One request over HTTP/1.0: (status, head, body).
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<&str>,
) -> (u16, String, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let body = if method == "GET" { "" } else { "x" };
    write!(
        s,
        "{method} {path} HTTP/1.0\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let (head, body) = buf.split_once("\r\n\r\n").unwrap();
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, head.to_string(), body.to_string())
}

/// A concrete path for a route's pattern (`{id}` segments get a value).
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.starts_with('{') { "1" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

/// What of `body` carries data: for `/metrics` its samples (the `# HELP` text of a family
/// may say "revenue" without holding any), for HTML all but the style sheet (CSS `margin`).
fn data_of(path: &str, body: &str) -> String {
    if path == "/metrics" {
        return body
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
    }
    match (body.find("<style>"), body.find("</style>")) {
        (Some(a), Some(b)) if a < b => format!("{}{}", &body[..a], &body[b..]),
        _ => body.to_string(),
    }
}

#[test]
fn anonymous_readers_of_an_exposed_listener_get_no_customer_address_or_money() {
    let s = start(BASE, "0.0.0.0:0");
    // A silence naming the customer, shown on the status page.
    bandwatch::store::Store::open(&s._setup.db(), &Default::default())
        .unwrap()
        .silences()
        .add_silence(&bandwatch::store::alerts::SilenceRow {
            id: 0,
            rule: None,
            matchers: [("customer".to_string(), "zorblax".to_string())].into(),
            starts: 0,
            ends: i64::from(i32::MAX),
            reason: "Zorblax Industries migrates (set by token noc)".into(),
        })
        .unwrap();
    let table = routes::table();
    assert!(table.len() >= 9, "the router's table lost routes");
    for route in &table {
        let path = concrete(route.path);
        let (code, head, body) = request(s.addr, route.method.as_str(), &path, None);
        let data = data_of(route.path, &body).to_lowercase();
        for leak in LEAKS {
            assert!(
                !data.contains(leak),
                "{} {path} answered {code} with `{leak}` in it:\n{body}",
                route.method
            );
        }
        // Readable without a credential: what has no scope, and the redacted views of
        // metrics:read and status:read. Everything else wants a credential.
        let open = route.need.scope.is_none()
            || (route.need.redactable
                && matches!(
                    route.need.scope,
                    Some(bandwatch::config::Scope::MetricsRead)
                        | Some(bandwatch::config::Scope::StatusRead)
                ));
        if open {
            assert_eq!(code, 200, "{} {path}: {body}", route.method);
        } else {
            assert_eq!(code, 401, "{} {path}: {body}", route.method);
            assert!(
                head.to_lowercase().contains("www-authenticate: bearer"),
                "{head}"
            );
        }
    }
    // The redacted views still show traffic: product lines, sites, the masked alert.
    let (_, _, page) = request(s.addr, "GET", "/", None);
    assert!(page.contains("web") && page.contains("fra"), "{page}");
    assert!(page.contains("customer-churn-risk"), "{page}");
    assert!(
        page.contains("customer=(hidden)"),
        "the silence, masked: {page}"
    );
    let (_, _, metrics) = request(s.addr, "GET", "/metrics", None);
    assert!(
        metrics.contains("bandwatch_product_line_coverage_ratio{product_line=\"web\"}"),
        "{metrics}"
    );
}

#[test]
fn loopback_without_protection_shows_everything_the_exposed_test_looks_for() {
    let s = start(BASE, "127.0.0.1:0");
    let (code, _, topo) = request(s.addr, "GET", "/api/v1/topology", None);
    assert_eq!(code, 200);
    assert!(topo.contains("Zorblax Industries") && topo.contains("anna@bw-test.example"));
    let (_, _, metrics) = request(s.addr, "GET", "/metrics", None);
    assert!(metrics.contains("customer=\"zorblax\""), "{metrics}");
    assert!(metrics.contains("currency=\"EUR\""), "{metrics}");
    let (code, _, report) = request(s.addr, "GET", "/report?month=2026-09", None);
    assert_eq!(code, 200, "{report}");
    assert!(
        report.contains("Zorblax") && report.contains("EUR"),
        "{report}"
    );
    let (_, _, alerts) = request(s.addr, "GET", "/api/v1/alerts", None);
    assert!(
        alerts.contains("zorblax") && alerts.contains("4321.5 EUR"),
        "{alerts}"
    );
    assert!(
        alerts.contains("NTP reflection toward 192.0.2.7 (zorblax)"),
        "{alerts}"
    );
    // Writes still want a credential, even on loopback.
    let (code, _, body) = request(s.addr, "POST", "/-/reload", None);
    assert_eq!(code, 401, "{body}");
}

#[test]
fn tokens_get_their_scopes_and_nothing_else() {
    let scrape = token::generate().unwrap();
    let admin = token::generate().unwrap();
    let old = token::generate().unwrap();
    let config = format!(
        "{BASE}\n\
         [[api.token]]\nname = \"prometheus\"\nscopes = [\"metrics:read\"]\nhash = \"{}\"\n\
         [[api.token]]\nname = \"ops\"\nscopes = [\"admin\", \"status:read\"]\nhash = \"{}\"\n\
         [[api.token]]\nname = \"old\"\nscopes = [\"metrics:read\"]\nhash = \"{}\"\n\
         expires = \"2020-01-01\"\n",
        token::hash_line(&scrape),
        token::hash_line(&admin),
        token::hash_line(&old),
    );
    // Loopback, but protected by tokens: anonymous readers get health only.
    let s = start(&config, "127.0.0.1:0");
    let bearer = |t: &str| format!("Bearer {t}");

    let (code, _, body) = request(s.addr, "GET", "/metrics", Some(&bearer(&scrape)));
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains("customer=\"zorblax\""),
        "a token reads unredacted"
    );
    let (code, _, body) = request(s.addr, "GET", "/report", Some(&bearer(&scrape)));
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains("prometheus") && body.contains("report:read"),
        "{body}"
    );
    assert!(!body.contains(&scrape));

    let (code, head, body) = request(s.addr, "GET", "/metrics", Some("Bearer bw_wrong"));
    assert_eq!(code, 401, "{body}");
    assert!(head.to_lowercase().contains("www-authenticate"), "{head}");
    assert!(!body.contains("zorblax"));
    let (code, _, body) = request(s.addr, "GET", "/metrics", Some(&bearer(&old)));
    assert_eq!(code, 401);
    assert!(body.contains("expired"), "{body}");

    let (code, _, _) = request(s.addr, "GET", "/metrics", None);
    assert_eq!(code, 401, "tokens protect the listener");
    let (code, _, _) = request(s.addr, "GET", "/healthz", None);
    assert_eq!(code, 200);
    let (code, _, _) = request(s.addr, "POST", "/-/reload", Some(&bearer(&scrape)));
    assert_eq!(code, 403);

    let (code, _, list) = request(s.addr, "GET", "/api/v1/tokens", Some(&bearer(&admin)));
    assert_eq!(code, 200, "{list}");
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    let used = |name: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()["last_used"]
            .clone()
    };
    assert!(used("prometheus").is_i64(), "{list}");
    assert!(
        used("old").is_null(),
        "an expired token is not a use: {list}"
    );
    assert!(
        !list.contains("sha256") && !list.contains(&scrape[3..]),
        "{list}"
    );
}

#[test]
fn the_legacy_shared_token_still_imports_and_reloads() {
    let config = format!("{BASE}\n[api]\ntoken = \"file:api-token\"\n");
    let s = start(&config, "0.0.0.0:0");
    let auth = format!("Bearer {}", report_support::TOKEN);
    // This server has no import and no reload wired: 404 past the gate, not 401 before it.
    let (code, _, body) = request(s.addr, "POST", "/api/v1/usage", Some(&auth));
    assert_eq!(code, 404, "{body}");
    let (code, _, body) = request(s.addr, "POST", "/-/reload", Some(&auth));
    assert_eq!(code, 404, "{body}");
    let (code, _, _) = request(s.addr, "GET", "/report", Some(&auth));
    assert_eq!(code, 403, "the legacy token never read money");
}

/// A request with a JSON body: (status, body).
fn send_json(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<&str>,
    json: &str,
) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
        json.len()
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let (head, body) = buf.split_once("\r\n\r\n").unwrap();
    (
        head.split_whitespace().nth(1).unwrap().parse().unwrap(),
        body.to_string(),
    )
}

#[test]
fn silences_over_http_need_silence_write_and_say_who_set_them() {
    let writer = token::generate().unwrap();
    let reader = token::generate().unwrap();
    let config = format!(
        "{BASE}\n\
         [[api.token]]\nname = \"noc-bot\"\nscopes = [\"silence:write\", \"status:read\"]\nhash = \"{}\"\n\
         [[api.token]]\nname = \"grafana\"\nscopes = [\"status:read\", \"metrics:read\"]\nhash = \"{}\"\n",
        token::hash_line(&writer),
        token::hash_line(&reader),
    );
    let s = start(&config, "127.0.0.1:0");
    let (w, r) = (format!("Bearer {writer}"), format!("Bearer {reader}"));
    let body = r#"{"rule": "customer-churn-risk", "matchers": {"customer": "zorblax"}, "for": "2h", "reason": "contract ends"}"#;

    let (code, _) = send_json(s.addr, "POST", "/api/v1/silences", None, body);
    assert_eq!(code, 401);
    let (code, answer) = send_json(s.addr, "POST", "/api/v1/silences", Some(&r), body);
    assert_eq!(code, 403, "{answer}");
    let (code, answer) = send_json(
        s.addr,
        "POST",
        "/api/v1/silences",
        Some(&w),
        r#"{"matchers": {"port": "~xe-("}, "for": "2h", "reason": "x"}"#,
    );
    assert_eq!(code, 400);
    assert!(answer.contains("invalid regex"), "{answer}");
    let (code, answer) = send_json(
        s.addr,
        "POST",
        "/api/v1/silences",
        Some(&w),
        r#"{"for": "soon", "reason": "x"}"#,
    );
    assert_eq!(code, 400);
    assert!(answer.contains("for:"), "{answer}");

    let (code, answer) = send_json(s.addr, "POST", "/api/v1/silences", Some(&w), body);
    assert_eq!(code, 201, "{answer}");
    let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let id = v["id"].as_i64().unwrap();

    // The reader lists it, with who set it; the store has it for the rules stage.
    let (code, _, list) = request(s.addr, "GET", "/api/v1/silences", Some(&r));
    assert_eq!(code, 200, "{list}");
    let l: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(l[0]["id"], id);
    assert_eq!(l[0]["matchers"]["customer"], "zorblax");
    assert_eq!(l[0]["reason"], "contract ends (set by token noc-bot)");
    let db = s._setup.db();
    let stored = bandwatch::store::Store::open(&db, &Default::default())
        .unwrap()
        .silences()
        .silences(Some(jiff::Timestamp::now().as_second()))
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].rule.as_deref(), Some("customer-churn-risk"));

    let (_, _, page) = request(s.addr, "GET", "/", Some(&r));
    assert!(
        page.contains("contract ends (set by token noc-bot)"),
        "{page}"
    );

    let path = format!("/api/v1/silences/{id}");
    let (code, _, _) = request(s.addr, "DELETE", &path, Some(&r));
    assert_eq!(code, 403);
    let (code, _, answer) = request(s.addr, "DELETE", &path, Some(&w));
    assert_eq!(code, 200, "{answer}");
    let (code, _, _) = request(s.addr, "DELETE", &path, Some(&w));
    assert_eq!(code, 404);
    let (_, _, list) = request(s.addr, "GET", "/api/v1/silences", Some(&r));
    assert_eq!(list.trim(), "[]");
}
