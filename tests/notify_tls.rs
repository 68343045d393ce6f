//! The notify stage against a real SMTP server in another process: Debian's python3-aiosmtpd
//! with STARTTLS (required) and with implicit TLS, AUTH required, a certificate signed by a
//! test CA that the sender is told to trust. Needs `/usr/bin/python3` with aiosmtpd and the
//! `openssl` command: fails without them when CI=true, skips with a reason otherwise.

use crate::notify_support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bandwatch::config::Secret;
use bandwatch::config::model::MailSecurity;
use bandwatch::notify::{MessageState, NoticeKind, Notifier, SenderOptions};
use notify_support::*;

const LIMIT: Duration = Duration::from_secs(30);

/// Whether the tools are here; without them: fail in CI, skip (with the reason) elsewhere.
fn tools_present() -> bool {
    let python = Command::new("/usr/bin/python3")
        .args(["-c", "import aiosmtpd"])
        .output()
        .is_ok_and(|o| o.status.success());
    let openssl = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if python && openssl {
        return true;
    }
    let reason = format!(
        "needs /usr/bin/python3 with aiosmtpd (Debian: python3-aiosmtpd, found: {python}) and openssl (found: {openssl})"
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{reason}");
    }
    eprintln!("skipping: {reason}");
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

/// A test CA and a server certificate for localhost signed by it; returns (ca, cert, key).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
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
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// aiosmtpd in a child process; killed on drop.
struct Aiosmtpd {
    child: Child,
    starttls_port: u16,
    tls_port: u16,
    out: PathBuf,
}

impl Drop for Aiosmtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn aiosmtpd(dir: &Path, cert: &Path, key: &Path) -> Aiosmtpd {
    let out = dir.join("received");
    std::fs::create_dir_all(&out).unwrap();
    let (starttls_port, tls_port) = (free_port(), free_port());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/notify_aiosmtpd.py");
    let mut child = Command::new("/usr/bin/python3")
        .arg(script)
        .args([starttls_port.to_string(), tls_port.to_string()])
        .args([cert, key, &out])
        .args(["bw-user", "s3cret-pass"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        // Its tracebacks for the refused handshakes below are expected; keep them out of
        // the test output.
        .stderr(std::fs::File::create(dir.join("aiosmtpd.log")).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let server = Aiosmtpd {
        child,
        starttls_port,
        tls_port,
        out,
    };
    assert_eq!(line.trim(), "ready", "aiosmtpd did not start");
    server
}

/// Messages aiosmtpd saved: (envelope description, raw message).
fn saved(out: &Path) -> Vec<(String, Vec<u8>)> {
    (1..)
        .map_while(|i| {
            let env = std::fs::read_to_string(out.join(format!("{i}.env"))).ok()?;
            let eml = std::fs::read(out.join(format!("{i}.eml"))).ok()?;
            Some((env, eml))
        })
        .collect()
}

async fn send_one(
    dir: &Path,
    port: u16,
    security: MailSecurity,
    password: &str,
    extra_root: Option<PathBuf>,
) -> Notifier {
    static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let db = dir.join(format!("outbox-{run}.db"));
    let n = notifier(dir, &db, port, security, password, extra_root);
    n.send(notice(
        NoticeKind::Firing,
        "uplink-attack",
        "bj1-core-a",
        "xe-0/0/1",
        &["ops"],
    ))
    .await
    .unwrap();
    n
}

/// A notifier on the outbox database `db`, sending through `port` as `bw-user`.
fn notifier(
    dir: &Path,
    db: &Path,
    port: u16,
    security: MailSecurity,
    password: &str,
    extra_root: Option<PathBuf>,
) -> Notifier {
    let mut email = smtp_email(port, Duration::from_millis(50));
    email.server = Some(format!("localhost:{port}"));
    email.security = security;
    email.username = Some("bw-user".to_string());
    email.password = Some(Secret::new(password));
    let routes = routes(&[("ops", &["noc@example.net", "oncall@example.net"])]);
    Notifier::start(
        &email,
        &routes,
        bandwatch::store::Store::open(db, &Default::default())
            .unwrap()
            .outbox(),
        dir,
        None,
        SenderOptions {
            extra_root_pem: extra_root,
            ..fast_opts()
        },
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_and_tls_with_auth_to_aiosmtpd() {
    if !tools_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let server = aiosmtpd(dir.path(), &cert, &key);

    for (i, (port, security)) in [
        (server.starttls_port, MailSecurity::Starttls),
        (server.tls_port, MailSecurity::Tls),
    ]
    .into_iter()
    .enumerate()
    {
        let n = send_one(dir.path(), port, security, "s3cret-pass", Some(ca.clone())).await;
        wait_for("aiosmtpd to save the message", LIMIT, || {
            saved(&server.out).len() == i + 1
        })
        .await;
        let (env, eml) = saved(&server.out).pop().unwrap();
        assert!(env.contains("from bandwatch@example.net\n"), "{env}");
        assert!(
            env.contains("to noc@example.net,oncall@example.net\n"),
            "{env}"
        );
        assert!(
            env.contains("tls True\n"),
            "{security:?} must encrypt: {env}"
        );
        assert!(
            env.contains("auth True\n"),
            "{security:?} must log in: {env}"
        );
        let mail = Part::parse(&eml);
        assert_eq!(
            mail.header("subject").unwrap(),
            "[FIRING critical] uplink-attack: bj1-core-a xe-0/0/1 (cdn) 4.2 Gbit/s in, 5.1x normal"
        );
        assert!(mail.find("image/png").is_some());
        let outbox = n.outbox();
        wait_for("marked sent", LIMIT, || {
            outbox
                .messages()
                .unwrap()
                .first()
                .is_some_and(|m| m.state == MessageState::Sent)
        })
        .await;
        n.stop().await;
    }

    // A wrong password is refused for good (535) and kept as failed; nothing arrives.
    let n = send_one(
        dir.path(),
        server.starttls_port,
        MailSecurity::Starttls,
        "wrong",
        Some(ca.clone()),
    )
    .await;
    let outbox = n.outbox();
    wait_for("the refused login marked failed", LIMIT, || {
        outbox
            .messages()
            .unwrap()
            .first()
            .is_some_and(|m| m.state == MessageState::Failed)
    })
    .await;
    let err = outbox.messages().unwrap()[0].last_error.clone().unwrap();
    assert!(err.contains("535"), "{err}");
    assert!(
        !err.contains("wrong"),
        "the password must not appear in errors: {err}"
    );
    // Notification is failing, and says so; the message is kept, not retried by itself. The
    // count is published just after the outbox row is marked (it is read back from the
    // outbox): wait for it rather than race it.
    let metrics = n.metrics();
    wait_for("the refusal counted", LIMIT, || metrics.failed() == 1).await;
    assert_eq!(n.metrics().failed(), 1);
    assert!(
        n.metrics()
            .last_refusal()
            .is_some_and(|e| e.contains("535")),
        "{:?}",
        n.metrics().last_refusal()
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(outbox.messages().unwrap()[0].attempts, 1);
    n.stop().await;

    // The operator fixes the password: the notifier of the reloaded (or restarted)
    // configuration tries the refused message again, and it arrives.
    let db = dir.path().join("outbox-2.db");
    assert!(db.exists(), "the refused message's outbox");
    let n = notifier(
        dir.path(),
        &db,
        server.starttls_port,
        MailSecurity::Starttls,
        "s3cret-pass",
        Some(ca.clone()),
    );
    wait_for("the refused message delivered after the fix", LIMIT, || {
        saved(&server.out).len() == 3
    })
    .await;
    let outbox = n.outbox();
    wait_for("marked sent", LIMIT, || {
        outbox
            .messages()
            .unwrap()
            .first()
            .is_some_and(|m| m.state == MessageState::Sent)
    })
    .await;
    let metrics = n.metrics();
    wait_for("no refusal counted", LIMIT, || metrics.failed() == 0).await;
    n.stop().await;

    // Without the test CA the certificate is not trusted: retried, never sent in clear.
    let n = send_one(
        dir.path(),
        server.starttls_port,
        MailSecurity::Starttls,
        "s3cret-pass",
        None,
    )
    .await;
    let outbox = n.outbox();
    wait_for("an untrusted certificate retried", LIMIT, || {
        outbox
            .messages()
            .unwrap()
            .first()
            .is_some_and(|m| m.state == MessageState::Pending && m.attempts >= 2)
    })
    .await;
    let err = outbox.messages().unwrap()[0].last_error.clone().unwrap();
    assert!(err.to_ascii_lowercase().contains("certificate"), "{err}");
    n.stop().await;
    assert_eq!(saved(&server.out).len(), 3, "nothing more arrived");
}
