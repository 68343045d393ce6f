//! The listener with a web configuration file (exporter-toolkit's format), driven by real
//! clients: curl over TLS (rustls on our side) with and without a client certificate, basic
//! auth with bcrypt hashes (a wrong password gets 401 and a Basic challenge), security
//! headers, the file re-read when it changes, and headless Chromium loading the status page
//! with basic auth. Certificates come from the `openssl` command (a CA, a server certificate
//! for 127.0.0.1 and a client certificate). Needs `openssl`, `curl` and `chromium`: fails
//! without them under CI=true, skips with the reason otherwise.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use bandwatch::http::{AppState, Health, LiveView, bind, serve};

const CONFIG: &str = r#"
[daemon]
data_dir = "var"
rules_dir = "rules"

[snmp.default]
version = "2c"
community = "${BANDWATCH_TEST_COMMUNITY:-public}"

[[site]]
name = "fra"

[[switch]]
name = "sw"
site = "fra"
address = "127.0.0.1:16100"

[[product_line]]
name = "web"

[[port]]
switch = "sw"
name = "w1"
product_line = "web"

[[customer]]
id = "zorblax"
name = "Zorblax Industries"
ports = [{ switch = "sw", name = "w1" }]

[http]
web_config = "web.yml"
user_scopes = { reporter = ["report:read"] }
"#;

fn have(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// True when the tools are there; under CI=true their absence fails the test.
fn tools(names: &[(&str, &str)]) -> bool {
    let missing: Vec<&str> = names
        .iter()
        .filter(|(c, a)| !have(c, a))
        .map(|(c, _)| *c)
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true but {missing:?} missing (Debian packages openssl, curl, chromium)");
    }
    eprintln!("skipping: {missing:?} not installed");
    false
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, both signed by it.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=bandwatch test CA",
        ],
    );
    for (name, ext) in [
        (
            "server",
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
        ),
        (
            "client",
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n",
        ),
    ] {
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN=bandwatch test {name}"),
            ],
        );
        std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{name}.pem"),
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
            ],
        );
    }
}

fn web_yml(client_auth: &str, users: &[(&str, &str)]) -> String {
    let mut s = format!(
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  \
         client_auth_type: {client_auth}\n  client_ca_file: ca.pem\n  min_version: TLS12\n\
         http_server_config:\n  headers:\n    Strict-Transport-Security: max-age=31536000\n\
         basic_auth_users:\n"
    );
    for (user, password) in users {
        let hash = bcrypt::hash(password, 4).unwrap();
        s.push_str(&format!("  {user}: {hash}\n"));
    }
    s
}

struct Server {
    addr: SocketAddr,
    dir: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

fn start(web: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    certificates(dir.path());
    std::fs::write(dir.path().join("web.yml"), web).unwrap();
    let path = dir.path().join("bandwatch.toml");
    std::fs::write(&path, CONFIG).unwrap();
    let config = bandwatch::config::load(&path).unwrap().config;
    let state = AppState {
        live: LiveView::new(Arc::new(config.topology.clone())),
        sources: Arc::new(Vec::new()),
        health: Health::default(),
        alerts: Default::default(),
        store: None,
        runtime: Some(bandwatch::runtime::RuntimeHandle::of_config(config)),
        reload: None,
        usage: None,
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt.block_on(bind("127.0.0.1:0".parse().unwrap())).unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(serve(listener, state, std::future::pending()));
    Server { addr, dir, _rt: rt }
}

/// curl with `args`: (exit code, status, headers, body).
fn curl(dir: &Path, args: &[&str]) -> (i32, u16, String, String) {
    let head = dir.join("head.txt");
    let out = Command::new("curl")
        .current_dir(dir)
        .args(["-s", "--max-time", "20", "-D"])
        .arg(&head)
        .args(args)
        .output()
        .unwrap();
    let headers = std::fs::read_to_string(&head).unwrap_or_default();
    let _ = std::fs::remove_file(&head);
    let status = headers
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (
        out.status.code().unwrap_or(-1),
        status,
        headers,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn url(s: &Server, path: &str) -> String {
    format!("https://127.0.0.1:{}{path}", s.addr.port())
}

#[test]
fn tls_with_basic_auth_client_certificates_and_reread_on_change() {
    if !tools(&[("openssl", "version"), ("curl", "--version")]) {
        return;
    }
    let s = start(&web_yml(
        "VerifyClientCertIfGiven",
        &[("grafana", "graf-pw"), ("reporter", "rep-pw")],
    ));
    let d = s.dir.path();
    let ca = ["--cacert", "ca.pem"];

    // Health over TLS, no credential.
    let (rc, code, _, body) = curl(d, &[&ca[..], &[&url(&s, "/healthz")]].concat());
    assert_eq!((rc, code), (0, 200), "{body}");
    // Plain HTTP to the TLS port is not served.
    let plain = format!("http://127.0.0.1:{}/healthz", s.addr.port());
    let (_, code, _, _) = curl(d, &[plain.as_str()]);
    assert_ne!(code, 200);

    // Basic auth: a user with the default scopes scrapes, unredacted.
    let (rc, code, _, body) = curl(
        d,
        &[&ca[..], &["-u", "grafana:graf-pw", &url(&s, "/metrics")]].concat(),
    );
    assert_eq!((rc, code), (0, 200), "{body}");
    assert!(body.contains("zorblax"), "a user reads customer labels");
    // A wrong password: 401 with a Basic challenge, nothing else.
    let (_, code, head, body) = curl(
        d,
        &[&ca[..], &["-u", "grafana:wrong", &url(&s, "/metrics")]].concat(),
    );
    assert_eq!(code, 401, "{body}");
    assert!(head.contains("Basic realm=\"bandwatch\""), "{head}");
    assert!(
        !body.contains("zorblax") && !body.contains("graf-pw"),
        "{body}"
    );
    // An unknown user is refused the same way.
    let (_, code, _, _) = curl(
        d,
        &[&ca[..], &["-u", "mallory:graf-pw", &url(&s, "/metrics")]].concat(),
    );
    assert_eq!(code, 401);
    // A user whose scopes (`[http] user_scopes`) lack metrics:read: 403.
    let (_, code, _, body) = curl(
        d,
        &[&ca[..], &["-u", "reporter:rep-pw", &url(&s, "/metrics")]].concat(),
    );
    assert_eq!(code, 403, "{body}");
    // Anonymous: protected by users, so 401.
    let (_, code, _, _) = curl(d, &[&ca[..], &[&url(&s, "/metrics")]].concat());
    assert_eq!(code, 401);

    // A client certificate from the client CA: its own default scopes.
    let cert = ["--cert", "client.pem", "--key", "client.key"];
    let (rc, code, _, body) = curl(d, &[&ca[..], &cert[..], &[&url(&s, "/metrics")]].concat());
    assert_eq!((rc, code), (0, 200), "{body}");

    // Security headers on the status page, with the web configuration's own.
    let (_, code, head, page) = curl(
        d,
        &[&ca[..], &["-u", "grafana:graf-pw", &url(&s, "/")]].concat(),
    );
    assert_eq!(code, 200, "{page}");
    let head = head.to_lowercase();
    for h in [
        "content-security-policy: default-src 'none'",
        "x-frame-options: deny",
        "x-content-type-options: nosniff",
        "strict-transport-security: max-age=31536000",
    ] {
        assert!(head.contains(h), "{h} missing:\n{head}");
    }
    assert!(
        !page.contains("<script"),
        "the CSP allows no script, the page has none"
    );

    // The file changes: a new user works without a restart, the old one no longer.
    std::fs::write(
        d.join("web.yml"),
        web_yml("VerifyClientCertIfGiven", &[("prometheus-new", "new-pw")]),
    )
    .unwrap();
    let (_, code, _, body) = curl(
        d,
        &[
            &ca[..],
            &["-u", "prometheus-new:new-pw", &url(&s, "/metrics")],
        ]
        .concat(),
    );
    assert_eq!(code, 200, "{body}");
    let (_, code, _, _) = curl(
        d,
        &[&ca[..], &["-u", "grafana:graf-pw", &url(&s, "/metrics")]].concat(),
    );
    assert_eq!(code, 401);
    // A broken change keeps the last good configuration in force.
    std::fs::write(d.join("web.yml"), "basic_auth_users:\n  x: not-a-hash\n").unwrap();
    let (_, code, _, _) = curl(
        d,
        &[
            &ca[..],
            &["-u", "prometheus-new:new-pw", &url(&s, "/metrics")],
        ]
        .concat(),
    );
    assert_eq!(code, 200);
}

#[test]
fn required_client_certificates_turn_away_clients_without_one() {
    if !tools(&[("openssl", "version"), ("curl", "--version")]) {
        return;
    }
    let s = start(&web_yml("RequireAndVerifyClientCert", &[]));
    let d = s.dir.path();
    let ca = ["--cacert", "ca.pem"];
    let (rc, code, _, _) = curl(d, &[&ca[..], &[&url(&s, "/healthz")]].concat());
    assert!(
        rc != 0 && code == 0,
        "no certificate, no TLS session (curl exit {rc})"
    );
    // A certificate the CA did not sign is refused too.
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "rogue.key",
            "-out",
            "rogue.pem",
            "-days",
            "2",
            "-subj",
            "/CN=rogue",
        ],
    );
    let rogue = ["--cert", "rogue.pem", "--key", "rogue.key"];
    let (rc, code, _, _) = curl(d, &[&ca[..], &rogue[..], &[&url(&s, "/healthz")]].concat());
    assert!(rc != 0 && code == 0, "a rogue certificate (curl exit {rc})");
    let cert = ["--cert", "client.pem", "--key", "client.key"];
    let (rc, code, _, body) = curl(d, &[&ca[..], &cert[..], &[&url(&s, "/metrics")]].concat());
    assert_eq!((rc, code), (0, 200), "{body}");
    assert!(body.contains("zorblax"));
}

#[test]
fn chromium_loads_the_status_page_with_basic_auth() {
    if !tools(&[
        ("openssl", "version"),
        ("curl", "--version"),
        ("chromium", "--version"),
    ]) {
        return;
    }
    let s = start(&web_yml("NoClientCert", &[("ops", "ops-pw")]));
    let dump = |u: &str| {
        let out = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-first-run",
                "--ignore-certificate-errors",
                "--virtual-time-budget=5000",
                "--dump-dom",
                u,
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let port = s.addr.port();
    let dom = dump(&format!("https://ops:ops-pw@127.0.0.1:{port}/"));
    assert!(dom.contains("bandwatch status"), "{dom}");
    assert!(
        dom.contains("<h3>web</h3>"),
        "the product line's card: {dom}"
    );
    let refused = dump(&format!("https://ops:wrong@127.0.0.1:{port}/"));
    assert!(!refused.contains("bandwatch status"), "{refused}");
}
