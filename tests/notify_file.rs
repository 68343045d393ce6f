//! `transport = "file"`: each message becomes one `.eml` file in `data_dir/outbox/`, with the
//! same content an SMTP server would get (the demo uses this).

use crate::notify_support;

use std::time::Duration;

use bandwatch::config::model::MailTransport;
use bandwatch::notify::{MessageState, NoticeKind, Notifier, Outcome};
use notify_support::*;

fn eml_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "eml"));
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_transport_writes_one_eml_per_message() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("var");
    let mut email = smtp_email(1, Duration::from_millis(50));
    email.transport = MailTransport::File;
    email.server = None;
    let routes = routes(&[
        ("ops", &["noc@example.net", "oncall@example.net"]),
        ("sales", &["am@example.net"]),
    ]);
    let n = Notifier::start(
        &email,
        &routes,
        bandwatch::store::Store::open(&dir.path().join("bandwatch.db"), &Default::default())
            .unwrap()
            .outbox(),
        &data_dir,
        None,
        fast_opts(),
    )
    .unwrap();
    n.send(notice(
        NoticeKind::Firing,
        "uplink-attack",
        "bj1-core-a",
        "xe-0/0/1",
        &["ops", "sales"],
    ))
    .await
    .unwrap();
    let outbox_dir = data_dir.join("outbox");
    wait_for("two .eml files", Duration::from_secs(20), || {
        eml_files(&outbox_dir).len() == 2
    })
    .await;
    let outbox = n.outbox();
    wait_for("both marked sent", Duration::from_secs(20), || {
        outbox
            .messages()
            .unwrap()
            .iter()
            .all(|m| m.state == MessageState::Sent)
    })
    .await;
    // A message is marked sent before its route's counter moves.
    wait_for("both sends counted", Duration::from_secs(20), || {
        n.metrics().get("ops", Outcome::Sent) + n.metrics().get("sales", Outcome::Sent) == 2
    })
    .await;

    let mut tos = Vec::new();
    for f in eml_files(&outbox_dir) {
        let mail = Part::parse(&std::fs::read(&f).unwrap());
        assert_eq!(
            mail.header("subject").unwrap(),
            "[FIRING critical] uplink-attack: bj1-core-a xe-0/0/1 (cdn) 4.2 Gbit/s in, 5.1x normal"
        );
        assert!(
            mail.find("text/plain")
                .unwrap()
                .text()
                .contains("Product line: cdn")
        );
        assert!(mail.find("image/png").is_some());
        assert!(
            !mail
                .find("text/html")
                .unwrap()
                .text()
                .contains("Status page"),
            "no public_url, no link"
        );
        tos.push(mail.header("to").unwrap());
    }
    tos.sort();
    assert!(
        tos[0].contains("am@example.net") && !tos[0].contains("noc@"),
        "{tos:?}"
    );
    assert!(
        tos[1].contains("noc@example.net") && tos[1].contains("oncall@example.net"),
        "{tos:?}"
    );
    assert_eq!(n.metrics().get("ops", Outcome::Sent), 1);
    assert_eq!(n.metrics().get("sales", Outcome::Sent), 1);
    n.stop().await;
}

/// The example configuration wired as `bandwatch run` does, with the file transport.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_config_wires_up_and_routes_to_its_addresses() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/bandwatch.toml");
    let mut config = match bandwatch::config::load(&path) {
        Ok(l) => l.config,
        Err(d) => panic!("example config must load:\n{d}"),
    };
    let dir = tempfile::tempdir().unwrap();
    config.daemon.data_dir = dir.path().join("var");
    let email = config.email.as_mut().expect("the example has [email]");
    email.transport = MailTransport::File;
    email.group_wait = bandwatch::config::Duration::from_secs(0);

    let store =
        bandwatch::store::Store::open_in(&config.daemon.data_dir, &config.retention).unwrap();
    let n = Notifier::from_config(&config, store.outbox(), fast_opts())
        .unwrap()
        .expect("a notifier");
    n.send(notice(
        NoticeKind::Firing,
        "uplink-attack",
        "bj1-core-a",
        "xe-0/0/1",
        &["ops-cdn"],
    ))
    .await
    .unwrap();
    let outbox_dir = config.daemon.data_dir.join("outbox");
    wait_for("one .eml file", Duration::from_secs(20), || {
        eml_files(&outbox_dir).len() == 1
    })
    .await;
    assert!(config.daemon.data_dir.join("bandwatch.db").exists());
    let mail = Part::parse(&std::fs::read(&eml_files(&outbox_dir)[0]).unwrap());
    let to = mail.header("to").unwrap();
    assert!(
        to.contains("cdn-oncall@example.net") && to.contains("noc@example.net"),
        "{to}"
    );
    assert!(
        mail.find("text/plain")
            .unwrap()
            .text()
            .contains("Status page: http://bandwatch.example.net:9477"),
        "public_url from [daemon]"
    );
    n.stop().await;

    config.email = None;
    assert!(
        Notifier::from_config(&config, store.outbox(), fast_opts())
            .unwrap()
            .is_none()
    );
}
