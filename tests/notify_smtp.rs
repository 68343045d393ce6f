//! The notify stage against a real SMTP conversation (mailin-embedded in this process):
//! routing to the right addresses, subjects, inline charts, grouping, an SMTP server that is
//! down across a restart, and permanent and temporary refusals.

use crate::notify_support;

use std::time::Duration;

use bandwatch::notify::{MessageState, NoticeKind, Notifier, Outbox, Outcome};
use notify_support::*;

const LIMIT: Duration = Duration::from_secs(20);

fn start(
    port: u16,
    group_wait: Duration,
    routes: &std::collections::BTreeMap<String, bandwatch::config::topology::Route>,
    dir: &std::path::Path,
) -> Notifier {
    Notifier::start(
        &smtp_email(port, group_wait),
        routes,
        bandwatch::store::Store::open(&dir.join("bandwatch.db"), &Default::default())
            .unwrap()
            .outbox(),
        dir,
        Some("https://bandwatch.example.net/"),
        fast_opts(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firing_and_resolved_reach_the_route_addresses_with_subject_and_chart() {
    let sink = Sink::start(Mode::Accept);
    let dir = tempfile::tempdir().unwrap();
    let routes = routes(&[
        ("ops", &["noc@example.net", "oncall@example.net"]),
        ("sales", &["am@example.net"]),
    ]);
    let n = start(sink.port, Duration::from_millis(100), &routes, dir.path());
    let outbox = n.outbox();

    let firing = notice(
        NoticeKind::Firing,
        "uplink-attack",
        "bj1-core-a",
        "xe-0/0/1",
        &["ops"],
    );
    n.send(firing).await.unwrap();
    wait_for("the firing message", LIMIT, || sink.received().len() == 1).await;
    wait_for("the firing marked sent", LIMIT, || {
        outbox
            .resolution_owed("uplink-attack", "port:bj1-core-a/xe-0/0/1")
            .unwrap()
    })
    .await;

    let got = &sink.received()[0];
    // One message to all of the route's addresses, not one per address; not to sales.
    assert_eq!(got.from, "bandwatch@example.net");
    let mut to = got.to.clone();
    to.sort();
    assert_eq!(to, ["noc@example.net", "oncall@example.net"]);
    let mail = Part::parse(&got.data);
    assert_eq!(
        mail.header("subject").unwrap(),
        "[FIRING critical] uplink-attack: bj1-core-a xe-0/0/1 (cdn) 4.2 Gbit/s in, 5.1x normal"
    );
    assert_eq!(mail.content_type(), "multipart/alternative");
    assert!(
        mail.header("message-id")
            .is_some_and(|id| id.starts_with('<'))
    );
    assert_eq!(
        mail.header("auto-submitted").as_deref(),
        Some("auto-generated")
    );
    assert_eq!(mail.header("x-bandwatch-route").as_deref(), Some("ops"));
    let text = mail.find("text/plain").expect("a text part").text();
    for want in [
        "FIRING critical: uplink-attack",
        "5.1x the usual 820 Mbit/s",
        "Site:         bj-1",
        "Switch:       bj1-core-a",
        "Port:         xe-0/0/1",
        "Product line: cdn",
        "Value:        4.2 Gbit/s in",
        "Usual:        820 Mbit/s (now 5.1x)",
        "Since:        2026-11-24 14:02 UTC",
        "Firing for:   3 min",
        "Status page: https://bandwatch.example.net/",
    ] {
        assert!(text.contains(want), "text part lacks {want:?}:\n{text}");
    }
    // The HTML sits in multipart/related with the chart it references by Content-ID.
    let related = &mail.parts[1];
    assert_eq!(related.content_type(), "multipart/related");
    let html = related.find("text/html").expect("an HTML part").text();
    assert!(html.contains("src=\"cid:chart-0@bandwatch\""), "{html}");
    assert!(html.contains("href=\"https://bandwatch.example.net/\""));
    assert!(!html.to_ascii_lowercase().contains("<script"));
    let image = related.find("image/png").expect("an inline PNG");
    assert_eq!(image.header("content-id").unwrap(), "<chart-0@bandwatch>");
    assert!(
        image
            .header("content-disposition")
            .unwrap()
            .starts_with("inline")
    );
    let decoder = png::Decoder::new(std::io::Cursor::new(image.body.clone()));
    let info = decoder.read_info().expect("a valid PNG").info().clone();
    assert_eq!((info.width, info.height), (600, 260));

    let resolved = notice(
        NoticeKind::Resolved,
        "uplink-attack",
        "bj1-core-a",
        "xe-0/0/1",
        &["ops"],
    );
    n.send(resolved).await.unwrap();
    wait_for("the resolved message", LIMIT, || sink.received().len() == 2).await;
    let mail = Part::parse(&sink.received()[1].data);
    assert_eq!(
        mail.header("subject").unwrap(),
        "[RESOLVED critical] uplink-attack: bj1-core-a xe-0/0/1 (cdn) after 12 min, peak 4.6 Gbit/s in"
    );
    let text = mail.find("text/plain").unwrap().text();
    assert!(text.contains("Lasted:       12 min"), "{text}");
    assert!(text.contains("Peak:         4.6 Gbit/s in"), "{text}");
    assert!(
        text.contains("Ended:        2026-11-24 14:14 UTC"),
        "{text}"
    );
    assert!(
        mail.find("image/png").is_some(),
        "the resolved notice has its chart too"
    );

    wait_for("the resolution recorded", LIMIT, || {
        !outbox
            .resolution_owed("uplink-attack", "port:bj1-core-a/xe-0/0/1")
            .unwrap()
    })
    .await;
    // The message is marked sent in the outbox before the counter moves: wait for both.
    wait_for("the second send counted", LIMIT, || {
        n.metrics().get("ops", Outcome::Sent) == 2
    })
    .await;
    assert_eq!(n.metrics().get("ops", Outcome::Sent), 2);
    assert_eq!(n.metrics().get("sales", Outcome::Sent), 0);
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_alerts_for_one_route_become_one_message() {
    let sink = Sink::start(Mode::Accept);
    let dir = tempfile::tempdir().unwrap();
    let routes = routes(&[
        ("ops", &["noc@example.net", "oncall@example.net"]),
        ("sales", &["am@example.net"]),
        ("nobody", &[]),
    ]);
    let group_wait = Duration::from_millis(800);
    let n = start(sink.port, group_wait, &routes, dir.path());

    let ports = ["xe-0/0/1", "xe-0/0/2", "xe-0/0/3"];
    for (i, p) in ports.iter().enumerate() {
        let routes: &[&str] = if i == 0 {
            &["ops", "sales", "nobody"]
        } else {
            &["ops"]
        };
        n.send(notice(
            NoticeKind::Firing,
            "uplink-attack",
            "bj1-core-a",
            p,
            routes,
        ))
        .await
        .unwrap();
    }
    wait_for("two messages (ops and sales)", LIMIT, || {
        sink.received().len() == 2
    })
    .await;
    // Nothing more arrives after the groups closed.
    tokio::time::sleep(group_wait * 2).await;
    let got = sink.received();
    assert_eq!(got.len(), 2, "one message per route");

    let ops = got
        .iter()
        .find(|m| m.to.contains(&"noc@example.net".to_string()))
        .expect("a message for ops");
    assert_eq!(ops.to.len(), 2);
    let mail = Part::parse(&ops.data);
    let subject = mail.header("subject").unwrap();
    assert!(
        subject.starts_with(
            "[3 FIRING critical] 3 alerts: uplink-attack: bj1-core-a xe-0/0/1 (cdn) and 2 more"
        ),
        "{subject}"
    );
    let html = mail.find("text/html").unwrap().text();
    assert_eq!(
        html.matches("<tr style=\"border-top").count(),
        3,
        "a table row per alert"
    );
    for p in ports {
        assert!(
            html.contains(&format!("bj1-core-a {p} (cdn)")),
            "{p} missing in {html}"
        );
    }
    let charts = mail
        .leaves()
        .into_iter()
        .filter(|p| p.content_type() == "image/png")
        .count();
    assert_eq!(charts, 3);

    let sales = got
        .iter()
        .find(|m| m.to == ["am@example.net"])
        .expect("sales");
    let subject = Part::parse(&sales.data).header("subject").unwrap();
    assert!(
        subject.starts_with("[FIRING critical] uplink-attack: bj1-core-a xe-0/0/1"),
        "{subject}"
    );

    let m = n.metrics();
    assert_eq!(m.get("nobody", Outcome::NoAddress), 1);
    assert_eq!(m.get("nobody", Outcome::Sent), 0);
    assert_eq!(m.get("ops", Outcome::Sent), 1);
    n.stop().await;
}

fn pending(outbox: &Outbox) -> Vec<bandwatch::notify::StoredMessage> {
    outbox
        .messages()
        .unwrap()
        .into_iter()
        .filter(|m| m.state == MessageState::Pending)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_down_queues_in_the_outbox_survives_restart_and_delivers_once() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let routes = routes(&[
        ("ops", &["noc@example.net"]),
        ("sales", &["am@example.net"]),
    ]);
    let db = dir.path().join("bandwatch.db");

    // Run 1: the server is down; two messages are tried and kept.
    let n = start(port, Duration::from_millis(50), &routes, dir.path());
    n.send(notice(
        NoticeKind::Firing,
        "uplink-attack",
        "bj1-core-a",
        "xe-0/0/1",
        &["ops"],
    ))
    .await
    .unwrap();
    n.send(notice(
        NoticeKind::Firing,
        "uplink-attack",
        "bj1-core-a",
        "xe-0/0/2",
        &["sales"],
    ))
    .await
    .unwrap();
    let outbox = n.outbox();
    wait_for("two messages tried at least twice", LIMIT, || {
        let p = pending(&outbox);
        p.len() == 2 && p.iter().all(|m| m.attempts >= 2)
    })
    .await;
    for m in pending(&outbox) {
        let err = m.last_error.unwrap();
        assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    }
    assert!(n.metrics().get("ops", Outcome::Retried) >= 2);
    assert!(n.metrics().pending() >= 1);
    n.stop().await;
    drop(outbox);

    // Run 2: a notice arrives, its group is still open when the daemon stops.
    let n = start(port, Duration::from_secs(3600), &routes, dir.path());
    n.send(notice(
        NoticeKind::Resolved,
        "uplink-attack",
        "bj1-core-a",
        "xe-0/0/1",
        &["ops"],
    ))
    .await
    .unwrap();
    n.stop().await;
    let reopened = Outbox::new(
        bandwatch::store::Store::open(&db, &Default::default())
            .unwrap()
            .outbox(),
    );
    assert_eq!(pending(&reopened).len(), 2, "messages survive the restart");
    assert_eq!(
        reopened.queued_routes().unwrap().len(),
        1,
        "the open group survives too"
    );
    drop(reopened);

    // The server comes up; run 3 sends everything, once.
    let sink = Sink::start_on(
        std::net::TcpListener::bind(("127.0.0.1", port)).unwrap(),
        Mode::Accept,
    );
    let n = start(port, Duration::from_millis(50), &routes, dir.path());
    wait_for("three messages delivered", LIMIT, || {
        sink.received().len() == 3
    })
    .await;
    let outbox = n.outbox();
    wait_for("all marked sent", LIMIT, || {
        let all = outbox.messages().unwrap();
        all.len() == 3 && all.iter().all(|m| m.state == MessageState::Sent)
    })
    .await;
    n.stop().await;

    // Run 4: nothing is sent again.
    let n = start(port, Duration::from_millis(50), &routes, dir.path());
    tokio::time::sleep(Duration::from_millis(500)).await;
    n.stop().await;
    let got = sink.received();
    assert_eq!(got.len(), 3, "none twice");
    let mut ids: Vec<String> = got
        .iter()
        .map(|m| Part::parse(&m.data).header("message-id").unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "three distinct messages");
    let subjects: Vec<String> = got
        .iter()
        .map(|m| Part::parse(&m.data).header("subject").unwrap())
        .collect();
    assert_eq!(
        subjects.iter().filter(|s| s.starts_with("[FIRING")).count(),
        2,
        "{subjects:?}"
    );
    assert_eq!(
        subjects
            .iter()
            .filter(|s| s.starts_with("[RESOLVED"))
            .count(),
        1,
        "{subjects:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_refusal_is_kept_as_failed_with_its_error() {
    let sink = Sink::start(Mode::RejectRecipients);
    let dir = tempfile::tempdir().unwrap();
    let routes = routes(&[("ops", &["gone@example.net"])]);
    let n = start(sink.port, Duration::from_millis(50), &routes, dir.path());
    n.send(notice(
        NoticeKind::Firing,
        "uplink-attack",
        "bj1-core-a",
        "xe-0/0/1",
        &["ops"],
    ))
    .await
    .unwrap();
    let outbox = n.outbox();
    wait_for("the message marked failed", LIMIT, || {
        outbox
            .messages()
            .unwrap()
            .iter()
            .any(|m| m.state == MessageState::Failed)
    })
    .await;
    // No retry follows a permanent refusal.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let all = outbox.messages().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].attempts, 1);
    let err = all[0].last_error.clone().unwrap();
    assert!(err.contains("550"), "{err}");
    assert_eq!(n.metrics().get("ops", Outcome::Failed), 1);
    assert_eq!(n.metrics().get("ops", Outcome::Retried), 0);
    assert!(sink.received().is_empty());
    assert!(
        !outbox
            .resolution_owed("uplink-attack", "port:bj1-core-a/xe-0/0/1")
            .unwrap()
    );
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_temporary_refusal_is_retried_until_accepted() {
    let sink = Sink::start(Mode::TempFailFirst(2));
    let dir = tempfile::tempdir().unwrap();
    let routes = routes(&[("ops", &["noc@example.net"])]);
    let n = start(sink.port, Duration::from_millis(50), &routes, dir.path());
    n.send(notice(
        NoticeKind::Firing,
        "uplink-attack",
        "bj1-core-a",
        "xe-0/0/1",
        &["ops"],
    ))
    .await
    .unwrap();
    wait_for("the message accepted", LIMIT, || sink.received().len() == 1).await;
    let outbox = n.outbox();
    wait_for("the message marked sent", LIMIT, || {
        outbox
            .messages()
            .unwrap()
            .first()
            .is_some_and(|m| m.state == MessageState::Sent)
    })
    .await;
    // The sender counts a delivery just after marking it sent: wait for the count too.
    wait_for("the delivery counted", LIMIT, || {
        n.metrics().get("ops", Outcome::Sent) == 1
    })
    .await;
    assert_eq!(*sink.temp_failures.lock().unwrap(), 2);
    assert_eq!(outbox.messages().unwrap()[0].attempts, 3);
    assert_eq!(n.metrics().get("ops", Outcome::Retried), 2);
    assert_eq!(n.metrics().get("ops", Outcome::Sent), 1);
    n.stop().await;
}
