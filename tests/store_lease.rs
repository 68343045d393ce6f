//! Leases (`store::LeaseStore`) on both backends: the first holder gets token 1, renewal
//! keeps it, another holder is refused while it runs, a holder that stops renewing is taken
//! over after expiry with a higher token, and the stale holder's fenced writes are refused
//! (on SQLite the outbox claim; on PostgreSQL, with two daemons' own connections, the fence).

use crate::pg_support;

use std::sync::Arc;
use std::time::Duration;

use bandwatch::config::Retention;
use bandwatch::store::outbox::NewMessage;
use bandwatch::store::postgres::PgStore;
use bandwatch::store::{Lease, LeaseStore, OutboxStore, Store, StoreError};
use jiff::Timestamp;

/// A lease the test needs held: long enough that no stall of a loaded host lets it lapse.
const TTL: Duration = Duration::from_secs(60);

/// The last renewal of a holder that then stops renewing: short enough that the takeover
/// test waits well under a second for its expiry.
const SHORT: Duration = Duration::from_millis(400);

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
    std::thread::sleep(SHORT + Duration::from_millis(100));
    for _ in 0..100 {
        if leases.holder(name).unwrap().is_none() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the lease {name} never expired");
}

fn lost(r: Result<impl std::fmt::Debug, StoreError>) -> bool {
    matches!(r, Err(StoreError::LeaseLost { .. }))
}

/// The lease contract between two daemons `a` and `b` (their own handles on one store);
/// `fenced` is a write guarded by a lease. Returns b's lease after the takeover.
fn lease_contract(
    a_leases: &dyn LeaseStore,
    b_leases: &dyn LeaseStore,
    fenced: &dyn Fn(&Lease) -> Result<(), StoreError>,
) {
    let a = a_leases
        .acquire("outbox", "daemon-a", TTL)
        .unwrap()
        .unwrap();
    assert_eq!((a.holder.as_str(), a.token), ("daemon-a", 1));
    assert_eq!(
        b_leases.holder("outbox").unwrap().unwrap().holder,
        "daemon-a"
    );

    // Another holder is refused while a's lease runs; a's renewal keeps its token.
    assert!(
        b_leases
            .acquire("outbox", "daemon-b", TTL)
            .unwrap()
            .is_none()
    );
    let a = a_leases
        .acquire("outbox", "daemon-a", TTL)
        .unwrap()
        .unwrap();
    assert_eq!(a.token, 1, "renewal keeps the fencing token");
    a_leases.fence(&a).unwrap();
    fenced(&a).unwrap();

    // Leases of different names are independent.
    let r = b_leases
        .acquire("retention", "daemon-b", TTL)
        .unwrap()
        .unwrap();
    assert_eq!(r.token, 1);

    // a renews a last time, briefly, and stops: after expiry b takes over with a higher token.
    let a = a_leases
        .acquire("outbox", "daemon-a", SHORT)
        .unwrap()
        .unwrap();
    assert_eq!(a.token, 1);
    wait_for_expiry(b_leases, "outbox");
    let b = b_leases
        .acquire("outbox", "daemon-b", TTL)
        .unwrap()
        .unwrap();
    assert_eq!((b.holder.as_str(), b.token), ("daemon-b", 2));

    // The stale holder: its fence and its fenced write are refused, its renewal does not
    // take the lease back and it cannot release b's lease.
    assert!(lost(a_leases.fence(&a)));
    assert!(lost(fenced(&a)));
    assert!(
        a_leases
            .acquire("outbox", "daemon-a", TTL)
            .unwrap()
            .is_none()
    );
    assert!(
        !a_leases.release(&a).unwrap(),
        "a stale holder cannot release"
    );
    fenced(&b).unwrap();

    // A release hands the lease over at once, still with a higher token.
    assert!(b_leases.release(&b).unwrap());
    assert!(a_leases.holder("outbox").unwrap().is_none());
    assert!(lost(b_leases.fence(&b)));
    let a2 = a_leases
        .acquire("outbox", "daemon-a", TTL)
        .unwrap()
        .unwrap();
    assert_eq!(a2.token, 3, "tokens only grow");
}

#[test]
fn sqlite_leases_keep_the_contract_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bandwatch.db");
    let store = Store::open(&db, &Default::default()).unwrap();
    let outbox: Arc<dyn OutboxStore> = store.outbox();
    let id = outbox.enqueue(&message(), Timestamp::now()).unwrap();
    let claim = |l: &Lease| -> Result<(), StoreError> {
        assert!(outbox.claim(id, l, Timestamp::now())?, "pending: claimed");
        Ok(())
    };
    lease_contract(&*store.leases(), &*store.leases(), &claim);
    // A message no longer pending is not claimed, even under a current lease.
    let l = store.leases().holder("outbox").unwrap().unwrap();
    assert!(outbox.mark_sent(id, Timestamp::now()).unwrap());
    assert!(!outbox.claim(id, &l, Timestamp::now()).unwrap());
    drop(store);
    // The token sequence is in the file: a restarted daemon continues it.
    let store = Store::open(&db, &Default::default()).unwrap();
    let leases = store.leases();
    assert_eq!(leases.holder("outbox").unwrap().unwrap().token, 3);
    let a = leases
        .acquire("outbox", "daemon-a", SHORT)
        .unwrap()
        .unwrap();
    assert_eq!(
        a.token, 3,
        "the holder's renewal after the restart keeps its token"
    );
    wait_for_expiry(&*leases, "outbox");
    let c = leases.acquire("outbox", "daemon-c", TTL).unwrap().unwrap();
    assert_eq!(c.token, 4);
}

#[test]
fn postgres_leases_keep_the_contract_between_two_daemons() {
    let Some(pg) = pg_support::shared() else {
        return;
    };
    let url = pg.database();
    // Two daemons: two stores, two connections, one database.
    let a = PgStore::connect(&url, &Retention::default()).unwrap();
    let b = PgStore::connect(&url, &Retention::default()).unwrap();
    let fence = a.leases();
    lease_contract(&*a.leases(), &*b.leases(), &|l| fence.fence(l));
    // Many contenders at once: exactly one holds the lease.
    let contenders: Vec<_> = (0..8)
        .map(|i| {
            let s = PgStore::connect(&url, &Retention::default()).unwrap();
            std::thread::spawn(move || {
                s.leases()
                    .acquire("report", &format!("daemon-{i}"), Duration::from_secs(30))
                    .unwrap()
            })
        })
        .collect();
    let winners: Vec<_> = contenders
        .into_iter()
        .filter_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(winners[0].token, 1);
}
