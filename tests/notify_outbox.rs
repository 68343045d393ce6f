//! The outbox on a real SQLite file: grouping queued notices into one message atomically,
//! persistence across reopen, "never sent twice", backoff bookkeeping, and the record of
//! delivered firings that makes a resolved notice owed whatever silences say.

use crate::notify_support;

use bandwatch::notify::outbox::NewMessage;
use bandwatch::notify::{MessageState, NoticeKind, Outbox};
use bandwatch::store::OUTBOX_SCHEMA;
use notify_support::*;

fn message(route: &str, alerts: &[(NoticeKind, &str, &str)]) -> NewMessage {
    NewMessage {
        route: route.to_string(),
        envelope_from: "bandwatch@example.net".to_string(),
        envelope_to: vec!["noc@example.net".to_string()],
        subject: "s".to_string(),
        body: b"Subject: s\r\n\r\nbody\r\n".to_vec(),
        alerts: alerts
            .iter()
            .map(|(k, r, e)| ((*k).into(), r.to_string(), e.to_string()))
            .collect(),
    }
}

#[test]
fn schema_is_idempotent_and_messages_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bandwatch.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(OUTBOX_SCHEMA).unwrap();
    conn.execute_batch(OUTBOX_SCHEMA).unwrap();
    drop(conn);

    let now = ts("2026-11-27T10:00:00Z");
    let outbox = Outbox::new(
        bandwatch::store::Store::open(&db, &Default::default())
            .unwrap()
            .outbox(),
    );
    let id = outbox.enqueue(&message("ops", &[]), now).unwrap();
    drop(outbox);
    let outbox = Outbox::new(
        bandwatch::store::Store::open(&db, &Default::default())
            .unwrap()
            .outbox(),
    );
    let all = outbox.messages().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].id, id);
    assert_eq!(all[0].state, MessageState::Pending);
    assert_eq!(all[0].envelope_to, ["noc@example.net"]);
    assert_eq!(outbox.due(now, 10).unwrap().len(), 1);
    assert_eq!(outbox.pending_count().unwrap(), 1);
    let mode: String = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn closing_a_group_turns_its_queued_notices_into_one_message() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::new(
        bandwatch::store::Store::open(&dir.path().join("bandwatch.db"), &Default::default())
            .unwrap()
            .outbox(),
    );
    let now = ts("2026-11-27T10:00:00Z");
    for p in ["xe-0/0/1", "xe-0/0/2", "xe-0/0/3"] {
        let n = notice(
            NoticeKind::Firing,
            "uplink-attack",
            "bj1-core-a",
            p,
            &["ops"],
        );
        outbox.queue_notice("ops", &n, now).unwrap();
    }
    let n = notice(
        NoticeKind::Firing,
        "uplink-attack",
        "bj1-core-a",
        "xe-0/0/9",
        &["sales"],
    );
    outbox.queue_notice("sales", &n, now).unwrap();
    assert_eq!(outbox.queued_routes().unwrap().len(), 2);

    let mut seen = Vec::new();
    let id = outbox
        .close_group("ops", now, |notices| {
            seen = notices.iter().map(|n| n.entity.clone()).collect();
            Some(message("ops", &[]))
        })
        .unwrap();
    assert!(id.is_some());
    assert_eq!(
        seen,
        [
            "port:bj1-core-a/xe-0/0/1",
            "port:bj1-core-a/xe-0/0/2",
            "port:bj1-core-a/xe-0/0/3"
        ]
    );
    assert_eq!(outbox.messages().unwrap().len(), 1);
    let left = outbox.queued_routes().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].0, "sales");
    // An empty group gives nothing.
    assert_eq!(
        outbox
            .close_group("ops", now, |_| Some(message("ops", &[])))
            .unwrap(),
        None
    );
    assert_eq!(outbox.messages().unwrap().len(), 1);
}

#[test]
fn a_delivered_firing_owes_a_resolution_until_the_resolved_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::new(
        bandwatch::store::Store::open(&dir.path().join("bandwatch.db"), &Default::default())
            .unwrap()
            .outbox(),
    );
    let now = ts("2026-11-27T10:00:00Z");
    let (rule, entity) = ("uplink-attack", "port:bj1-core-a/xe-0/0/1");

    let firing = outbox
        .enqueue(&message("ops", &[(NoticeKind::Firing, rule, entity)]), now)
        .unwrap();
    assert!(
        !outbox.resolution_owed(rule, entity).unwrap(),
        "not delivered yet"
    );
    assert!(outbox.mark_sent(firing, now).unwrap());
    assert!(
        !outbox.mark_sent(firing, now).unwrap(),
        "never marked sent twice"
    );
    assert!(
        outbox.due(now, 10).unwrap().is_empty(),
        "a sent message is never due again"
    );
    assert!(outbox.resolution_owed(rule, entity).unwrap());
    assert_eq!(
        outbox.resolutions_owed().unwrap(),
        [(rule.to_string(), entity.to_string())]
    );

    // A firing refused for good owes nothing.
    let other = outbox
        .enqueue(
            &message("ops", &[(NoticeKind::Firing, rule, "port:x/y")]),
            now,
        )
        .unwrap();
    outbox
        .mark_failed(other, "smtp: 550 mailbox unavailable")
        .unwrap();
    assert!(!outbox.resolution_owed(rule, "port:x/y").unwrap());

    let resolved = outbox
        .enqueue(
            &message("ops", &[(NoticeKind::Resolved, rule, entity)]),
            now,
        )
        .unwrap();
    assert!(
        outbox.resolution_owed(rule, entity).unwrap(),
        "queued is not delivered"
    );
    outbox.mark_sent(resolved, now).unwrap();
    assert!(!outbox.resolution_owed(rule, entity).unwrap());
    assert!(outbox.resolutions_owed().unwrap().is_empty());
}

#[test]
fn backoff_bookkeeping_restart_retry_and_pruning() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::new(
        bandwatch::store::Store::open(&dir.path().join("bandwatch.db"), &Default::default())
            .unwrap()
            .outbox(),
    );
    let now = ts("2026-11-27T10:00:00Z");
    let later = ts("2026-11-27T11:00:00Z");
    let id = outbox.enqueue(&message("ops", &[]), now).unwrap();
    outbox.mark_retry(id, "connection refused", later).unwrap();
    assert!(outbox.due(now, 10).unwrap().is_empty());
    assert_eq!(outbox.next_due().unwrap(), Some(later));
    let m = &outbox.messages().unwrap()[0];
    assert_eq!(
        (m.attempts, m.last_error.as_deref()),
        (1, Some("connection refused"))
    );

    assert_eq!(outbox.retry_now(now).unwrap(), 1);
    assert_eq!(outbox.due(now, 10).unwrap().len(), 1);

    let failed = outbox.enqueue(&message("ops", &[]), now).unwrap();
    outbox.mark_failed(failed, "550").unwrap();
    outbox.mark_sent(id, now).unwrap();
    assert_eq!(
        outbox.prune_sent(now).unwrap(),
        0,
        "sent at `now`, not before"
    );
    assert_eq!(outbox.prune_sent(later).unwrap(), 1);
    let left = outbox.messages().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(
        left[0].state,
        MessageState::Failed,
        "failed messages are kept"
    );
}
