//! Flap detection end to end at a real SMTP server (mailin-embedded in this process): the
//! shipped `uplink-down` rule (flap detection by default) watches an uplink that goes down
//! and up twenty times in an hour; the engine runs on a simulated clock (one ifOperStatus
//! point every 30 s) and every notice it makes goes through the real notify stage. Each
//! route gets exactly one FLAPPING and one STABLE message, and no firing or resolved message
//! while the link flaps.

use crate::notify_support;

use std::path::Path;
use std::time::Duration;

use bandwatch::config;
use bandwatch::notify::{Notice, Notifier};
use bandwatch::rules::file::load_dir;
use bandwatch::rules::{Change, Engine, Entity, MemoryStateStore, Metric, NoHistory, Point};
use jiff::Timestamp;
use notify_support::*;

const LIMIT: Duration = Duration::from_secs(20);
const T0: i64 = 1_767_571_200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_flapping_twenty_times_in_an_hour_gets_one_flapping_and_one_stable_notice_per_route()
{
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let topo = config::load(&root.join("config/bandwatch.toml"))
        .unwrap()
        .config
        .topology;
    let (files, diags) = load_dir(&root.join("alert-rules"), &topo);
    assert!(!diags.has_errors(), "{diags}");
    let rule = files
        .rules
        .into_iter()
        .find(|r| r.name == "uplink-down")
        .unwrap();
    // The shipped rule has no `flap` key: port_down rules get flap detection by default.
    let flap = rule
        .flap
        .expect("port_down rules detect flapping by default");
    assert_eq!((flap.changes, flap.within), (6, 3600));
    let mut engine = Engine::new(
        vec![rule],
        topo.clone(),
        Box::new(MemoryStateStore::new()),
        Box::new(NoHistory),
    );
    let port = topo
        .ports()
        .find(|p| p.key().to_string() == "bj1-core-a/xe-0/0/1")
        .unwrap();
    let entity = Entity::port(port);

    let sink = Sink::start(Mode::Accept);
    let dir = tempfile::tempdir().unwrap();
    // `uplink-down` notifies ops and the product line's owners (cdn: ops-cdn).
    let routes = routes(&[
        ("ops", &["noc@example.net"]),
        ("ops-cdn", &["cdn-team@example.net"]),
    ]);
    let notifier = Notifier::start(
        &smtp_email(sink.port, Duration::from_millis(50)),
        &routes,
        bandwatch::store::Store::open(&dir.path().join("bandwatch.db"), &Default::default())
            .unwrap()
            .outbox(),
        dir.path(),
        None,
        fast_opts(),
    )
    .unwrap();

    // ifOperStatus every 30 s: up for 10 minutes, then 20 flaps within the hour (ten that
    // stay up long enough to resolve: down 60 s, up 150 s; ten that do not: down 60 s, up
    // 90 s), then up for 45 minutes.
    let mut status: Vec<f64> = vec![1.0; 20];
    for i in 0..20 {
        let up = if i < 10 { 5 } else { 3 };
        status.extend([2.0; 2]);
        status.extend(std::iter::repeat_n(1.0, up));
    }
    let flaps_end = status.len();
    assert_eq!((flaps_end - 20) * 30, 3600, "twenty flaps in one hour");
    status.extend([1.0; 90]);

    let mut fired = 0;
    let mut sent = 0;
    for (i, v) in status.iter().enumerate() {
        let at = Timestamp::from_second(T0 + 30 * i as i64).unwrap();
        let out = engine.observe(&entity, Metric::OperStatus, Point::known(at, *v));
        fired += out
            .transitions
            .iter()
            .filter(|t| t.change == Change::Fired)
            .count();
        for ev in out.events {
            let n = ev.routes.len();
            let notice = Notice {
                event: ev,
                metric: "oper_status".into(),
                peak: None,
                money: None,
                chart: Vec::new(),
                evidence: None,
            };
            notifier.send(notice).await.unwrap();
            // One message per notice and route: wait for each, so none are grouped.
            sent += n;
            wait_for("the notice's messages", LIMIT, || {
                sink.received().len() == sent
            })
            .await;
        }
    }
    // The alert kept being evaluated and recorded while it flapped: it fired again and again.
    assert!(fired >= 10, "the underlying alert fired {fired} times");

    for (route, address) in [
        ("ops", "noc@example.net"),
        ("ops-cdn", "cdn-team@example.net"),
    ] {
        let mails: Vec<(String, String)> = sink
            .received()
            .iter()
            .filter(|m| m.to == [address])
            .map(|m| {
                let p = Part::parse(&m.data);
                let text = p.find("text/plain").map(|t| t.text()).unwrap_or_default();
                (p.header("subject").unwrap_or_default(), text)
            })
            .collect();
        let words: Vec<&str> = mails
            .iter()
            .map(|(s, _)| {
                s.trim_start_matches('[')
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
            })
            .collect();
        // Two full cycles before it counts as flapping (each resolves: up 150 s > clear_for
        // 2 min), the third onset fires, and its sixth change makes it flapping. Then nothing
        // until it has been stable for 30 minutes.
        assert_eq!(
            words,
            [
                "FIRING", "RESOLVED", "FIRING", "RESOLVED", "FIRING", "FLAPPING", "STABLE"
            ],
            "route {route}: {mails:#?}"
        );
        let (flapping, text) = &mails[5];
        assert!(
            flapping.contains("changed 6 times within 1 h"),
            "{flapping}"
        );
        assert!(text.contains("stable for 30 min"), "{text}");
        let (stable, _) = &mails[6];
        assert!(stable.contains("now clear"), "{stable}");
    }
    notifier.stop().await;
}
