//! Leases (`store::LeaseStore`) on a real store: the first holder gets token 1, renewal keeps
//! it, another holder is refused while it runs, a holder that stops renewing is taken over
//! after expiry with a higher token, and the stale holder's fenced writes (the outbox claim)
//! are refused. The same checks run on each backend the tests can start.

use std::sync::Arc;
use std::time::Duration;

use bandwatch::store::outbox::NewMessage;
use bandwatch::store::{LeaseStore, OutboxStore, Store, StoreError};
use jiff::Timestamp;

/// Short enough that the takeover test waits well under a second for expiry.
const TTL: Duration = Duration::from_millis(400);

fn message() -> NewMessage {
    NewMessage {
        route: "ops".to_string(),
        envelope_from: "bandwatch@example.net".to_string(),
        envelope_to: vec!["noc@example.net".to_string()],
        subject: "s".to_string(),
        body: b"Subject: s\r\n\r\nbody\r\n".to_vec(),
        alerts: Vec::new(),
    }
}

/// Waits until `name`'s current lease has expired by the store's own clock.
fn wait_for_expiry(leases: &dyn LeaseStore, name: &str) {
    std::thread::sleep(TTL + Duration::from_millis(100));
    for _ in 0..50 {
        if leases.holder(name).unwrap().is_none() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the lease {name} never expired");
}

/// The whole lease contract on one backend.
pub fn lease_contract(leases: Arc<dyn LeaseStore>, outbox: Arc<dyn OutboxStore>) {
    let a = leases.acquire("outbox", "daemon-a", TTL).unwrap().unwrap();
    assert_eq!((a.holder.as_str(), a.token), ("daemon-a", 1));
    assert_eq!(leases.holder("outbox").unwrap().unwrap().holder, "daemon-a");

    // Another holder is refused while a's lease runs; a's renewal keeps its token.
    assert!(leases.acquire("outbox", "daemon-b", TTL).unwrap().is_none());
    let a = leases.acquire("outbox", "daemon-a", TTL).unwrap().unwrap();
    assert_eq!(a.token, 1, "renewal keeps the fencing token");
    leases.fence(&a).unwrap();

    // Leases of different names are independent.
    let r = leases
        .acquire("retention", "daemon-b", TTL)
        .unwrap()
        .unwrap();
    assert_eq!(r.token, 1);

    let id = outbox.enqueue(&message(), Timestamp::now()).unwrap();
    assert!(outbox.claim(id, &a, Timestamp::now()).unwrap());

    // a stops renewing: after expiry b takes over with a higher token.
    wait_for_expiry(&*leases, "outbox");
    let b = leases.acquire("outbox", "daemon-b", TTL).unwrap().unwrap();
    assert_eq!((b.holder.as_str(), b.token), ("daemon-b", 2));

    // The stale holder: its fence and its fenced outbox claim are refused, and its renewal
    // does not take the lease back.
    assert!(matches!(
        leases.fence(&a),
        Err(StoreError::LeaseLost { token: 1, .. })
    ));
    assert!(matches!(
        outbox.claim(id, &a, Timestamp::now()),
        Err(StoreError::LeaseLost { .. })
    ));
    assert!(leases.acquire("outbox", "daemon-a", TTL).unwrap().is_none());
    assert!(
        !leases.release(&a).unwrap(),
        "a stale holder cannot release"
    );

    // The new holder claims; a message already sent is not claimed again.
    assert!(outbox.claim(id, &b, Timestamp::now()).unwrap());
    assert!(outbox.mark_sent(id, Timestamp::now()).unwrap());
    assert!(!outbox.claim(id, &b, Timestamp::now()).unwrap());

    // A release hands the lease over at once, still with a higher token.
    assert!(leases.release(&b).unwrap());
    assert!(leases.holder("outbox").unwrap().is_none());
    assert!(matches!(
        leases.fence(&b),
        Err(StoreError::LeaseLost { .. })
    ));
    let a2 = leases.acquire("outbox", "daemon-a", TTL).unwrap().unwrap();
    assert_eq!(a2.token, 3, "tokens only grow");
}

#[test]
fn sqlite_leases_keep_the_contract_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bandwatch.db");
    let store = Store::open(&db, &Default::default()).unwrap();
    lease_contract(store.leases(), store.outbox());
    drop(store);
    // The token sequence is in the file: a restarted daemon continues it.
    let store = Store::open(&db, &Default::default()).unwrap();
    let leases = store.leases();
    assert_eq!(leases.holder("outbox").unwrap().unwrap().token, 3);
    wait_for_expiry(&*leases, "outbox");
    let c = leases.acquire("outbox", "daemon-c", TTL).unwrap().unwrap();
    assert_eq!(c.token, 4);
}
