//! Scheduled delivery of the monthly report through the notify outbox: not before `[report]
//! day` and `time`, the whole report to the report route and each account manager's own
//! customers to them, queued once.

use crate::report_support;

use bandwatch::notify::Outbox;
use bandwatch::report::deliver::queue_due;
use bandwatch::store::{Store, UsageRecord};
use jiff::Timestamp;
use report_support::*;

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

#[test]
fn last_months_report_is_queued_once_per_route_from_the_configured_time() {
    let s = Setup::new();
    let book = Store::open(&s.db(), &Default::default()).unwrap().usage();
    let rec = |c: &str, m: &str, bytes| UsageRecord {
        customer: c.into(),
        start: at(&format!("2026-{m}-01T00:00:00Z")),
        end: at(&format!("2026-{m}-02T00:00:00Z")),
        bytes,
        source: "api".into(),
    };
    book.write(
        &[
            rec("fresh", "10", 1_000_000),
            rec("grow", "09", 1_000_000),
            rec("grow", "10", 3_000_000),
        ],
        at("2026-11-01T00:00:00Z"),
    )
    .unwrap()
    .unwrap();
    let outbox = Outbox::new(Store::open(&s.db(), &Default::default()).unwrap().outbox());
    let read = Store::open_existing(&s.db(), &Default::default())
        .unwrap()
        .usage();

    // [report] day = 2, time = "07:30" (UTC).
    assert_eq!(
        queue_due(&outbox, &read, &s.config, &[], at("2026-11-01T23:00:00Z")).unwrap(),
        0
    );
    assert_eq!(
        queue_due(&outbox, &read, &s.config, &[], at("2026-11-02T07:29:00Z")).unwrap(),
        0
    );
    assert!(outbox.messages().unwrap().is_empty());
    assert_eq!(
        queue_due(&outbox, &read, &s.config, &[], at("2026-11-02T07:30:00Z")).unwrap(),
        3
    );
    // Once only.
    assert_eq!(
        queue_due(&outbox, &read, &s.config, &[], at("2026-11-02T08:30:00Z")).unwrap(),
        0
    );

    let msgs = outbox.messages().unwrap();
    let routes: Vec<&str> = msgs.iter().map(|m| m.route.as_str()).collect();
    assert_eq!(routes, ["sales", "alice", "bob"]);
    let body = |route: &str| {
        let m = msgs.iter().find(|m| m.route == route).unwrap();
        // Undo quoted-printable soft line breaks, enough to search the text.
        String::from_utf8_lossy(&m.body).replace("=\r\n", "")
    };
    let sales = &msgs[0];
    assert_eq!(sales.envelope_to, ["sales@example.net"]);
    assert!(
        sales.subject.contains("usage report 2026-10"),
        "{}",
        sales.subject
    );
    let all = body("sales");
    let has = |body: &str, id: &str| body.contains(&format!("<b>{id}</b>"));
    assert!(
        has(&all, "fresh") && has(&all, "grow") && has(&all, "two"),
        "{all}"
    );
    assert!(all.contains("text/html"), "{all}");
    let alice = &msgs[1];
    assert_eq!(alice.envelope_to, ["alice@example.net"]);
    assert!(
        alice.subject.contains("customers of alice"),
        "{}",
        alice.subject
    );
    let mine = body("alice");
    assert!(has(&mine, "fresh") && !has(&mine, "grow"), "{mine}");
    let bobs = body("bob");
    assert!(has(&bobs, "grow") && !has(&bobs, "fresh"), "{bobs}");
}
