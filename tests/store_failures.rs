//! How the store fails: kill -9 in the middle of writing, a full disk, a long-lived reader,
//! and a database written by a newer bandwatch. Each on a real SQLite file.

use crate::store_support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use bandwatch::config::{Retention, Topology};
use bandwatch::store::{Store, StoreError, WriterOptions};
use jiff::Timestamp;
use rusqlite::Connection;
use store_support::*;

const CHILD_ENV: &str = "BANDWATCH_STORE_CRASH_CHILD_DB";
const CRASH_PORTS: usize = 3000;

fn many_ports(switch: &str, n: usize) -> (Arc<Topology>, Vec<String>) {
    let names: Vec<String> = (0..n).map(|i| format!("Ethernet1/{i}")).collect();
    let specs: Vec<PortSpec<'_>> = names
        .iter()
        .enumerate()
        .map(|(i, p)| {
            (
                switch,
                p.as_str(),
                Some(if i % 2 == 0 { "cdn" } else { "cloud" }),
                None,
            )
        })
        .collect();
    (topology(&specs), names)
}

fn big_sweep(switch: &str, names: &[String], t: i64) -> bandwatch::poll::Sweep {
    sweep(
        switch,
        at(t),
        names
            .iter()
            .enumerate()
            .map(|(i, p)| (p.as_str(), reading(60_000, 1_000_000 + i as u64, 7)))
            .collect(),
    )
}

/// The child: writes sweeps of many ports in a loop, one commit each, and says so on stdout
/// after each commit, until it is killed.
fn crash_child(db: &str) -> ! {
    let (topo, names) = many_ports("a-sw1", CRASH_PORTS);
    let store = Store::open(std::path::Path::new(db), &Retention::default()).unwrap();
    let w = store.writer(topo).unwrap();
    let b = base();
    for i in 0i64.. {
        w.submit(big_sweep("a-sw1", &names, b + 60 * (i + 1)))
            .unwrap();
        w.flush().unwrap();
        println!("committed {i}");
    }
    unreachable!()
}

/// The name the test harness knows a test of this file by (`store_failures::NAME`: the
/// module path without the test binary's name), for re-running it alone in a child.
fn test_name(name: &str) -> String {
    let path = module_path!();
    let module = path.split_once("::").map_or(path, |(_, m)| m);
    format!("{module}::{name}")
}

#[test]
fn kill_9_mid_write_leaves_a_sound_file_missing_at_most_the_sweep_in_flight() {
    if let Ok(db) = std::env::var(CHILD_ENV) {
        crash_child(&db);
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bandwatch.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            &test_name("kill_9_mid_write_leaves_a_sound_file_missing_at_most_the_sweep_in_flight"),
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let mut last = None;
    for line in BufReader::new(out).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("committed ") {
            let n: i64 = n.trim().parse().unwrap();
            last = Some(n);
            if n >= 12 {
                break;
            }
        }
    }
    // SIGKILL (what `kill -9` sends), while the child is writing its next sweep.
    child.kill().unwrap();
    child.wait().unwrap();
    let last = last.expect("the child committed sweeps");

    let conn = Connection::open(&db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let per_ts: Vec<(i64, i64)> = conn
        .prepare("SELECT ts, count(*) FROM port_sample GROUP BY ts ORDER BY ts")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let sweeps = per_ts.len() as i64;
    // Every reported commit survived; at most the one in flight is there besides.
    assert!(
        sweeps == last + 1 || sweeps == last + 2,
        "committed up to {last}, found {sweeps} sweeps"
    );
    // No sweep is half written.
    assert!(per_ts.iter().all(|(_, n)| *n == CRASH_PORTS as i64));
    // Samples and their rollups were committed together.
    let raw: i64 = conn
        .query_row("SELECT sum(in_octets) FROM port_sample", [], |r| r.get(0))
        .unwrap();
    let five: i64 = conn
        .query_row(
            "SELECT sum(r.in_octets) FROM rollup_5m r JOIN series s ON s.id = r.series_id \
             WHERE s.kind = 'port'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(raw, five);
    drop(conn);
    // And the daemon starts again on it and goes on writing.
    let (topo, names) = many_ports("a-sw1", CRASH_PORTS);
    let store = Store::open(&db, &Retention::default()).unwrap();
    let w = store.writer(topo).unwrap();
    w.submit(big_sweep("a-sw1", &names, base() + 60 * (sweeps + 1)))
        .unwrap();
    w.flush().unwrap();
    assert_eq!(w.metrics().sweeps_written_total.get(), 1);
}

const HELD_CHILD_ENV: &str = "BANDWATCH_STORE_HELD_CHILD_DB";
const HELD_PORTS: usize = 200;
/// 12.7 minutes of sweeps: two buckets sealed, and the sums of the last four sweeps held in
/// memory (written each minute of sweep time: after sweep 72 last).
const HELD_SWEEPS: i64 = 76;

/// A sweep every 10 s (so the writer holds the ports' open 5-minute sums in memory between
/// its minute writes of them), the samples ending 0.7 s after a second.
fn held_sweep(names: &[String], k: i64) -> bandwatch::poll::Sweep {
    let t = Timestamp::from_millisecond((base() + 10 * (k + 1)) * 1000 + 700).unwrap();
    sweep(
        "a-sw1",
        t,
        names
            .iter()
            .enumerate()
            .map(|(i, p)| (p.as_str(), reading(10_000, 100_003 + i as u64 * 7, 11)))
            .collect(),
    )
}

/// The child: writes [`HELD_SWEEPS`] sweeps without ever flushing, waiting for each commit
/// through the writer's metrics, says so on stdout and waits to be killed.
fn held_child(db: &str) -> ! {
    let (topo, names) = many_ports("a-sw1", HELD_PORTS);
    let store = Store::open(std::path::Path::new(db), &Retention::default()).unwrap();
    let w = store
        .writer_with(
            topo,
            WriterOptions {
                batch_window: StdDuration::ZERO,
                ..WriterOptions::default()
            },
        )
        .unwrap();
    let m = w.metrics();
    for k in 0..HELD_SWEEPS {
        w.submit(held_sweep(&names, k)).unwrap();
        while m.sweeps_written_total.get() <= k as u64 {
            std::thread::sleep(StdDuration::from_millis(1));
        }
    }
    println!("committed");
    loop {
        std::thread::sleep(StdDuration::from_secs(1));
    }
}

#[test]
fn kill_9_loses_no_open_five_minute_sum_held_in_memory_they_are_counted_again_on_open() {
    if let Ok(db) = std::env::var(HELD_CHILD_ENV) {
        held_child(&db);
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bandwatch.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            &test_name(
                "kill_9_loses_no_open_five_minute_sum_held_in_memory_they_are_counted_again_on_open",
            ),
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HELD_CHILD_ENV, &db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    for line in BufReader::new(out).lines() {
        // (The harness's "test NAME ... " may precede it on the line.)
        if line.unwrap().ends_with("committed") {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let sums = |conn: &Connection| -> (i64, i64, i64) {
        let raw: i64 = conn
            .query_row("SELECT sum(in_octets) FROM port_sample", [], |r| r.get(0))
            .unwrap();
        let (five, missing): (i64, i64) = conn
            .query_row(
                "SELECT sum(r.in_octets), sum(r.missing_ms) FROM rollup_5m r \
                 JOIN series s ON s.id = r.series_id WHERE s.kind = 'port'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        (raw, five, missing)
    };
    let (raw_killed, five_killed, _) = sums(&Connection::open(&db).unwrap());
    // The file's rollup lacks what was held in memory: four sweeps of every port.
    let per_sweep: i64 = (0..HELD_PORTS as i64).map(|i| 100_003 + i * 7).sum();
    assert_eq!(five_killed, raw_killed - 4 * per_sweep);
    // A writer opening the file counts them again.
    let (topo, _) = many_ports("a-sw1", HELD_PORTS);
    let store = Store::open(&db, &Retention::default()).unwrap();
    let w = store.writer(topo).unwrap();
    w.flush().unwrap();
    let (raw, five, missing) = sums(&Connection::open(&db).unwrap());
    assert_eq!(raw, raw_killed);
    assert_eq!(
        five, raw,
        "every committed sample is in the 5-minute rollup once"
    );
    // Each port's buckets cover what its samples cover: the first bucket lacks only the
    // time before the first sample's start, the newest the time after the last one's end.
    let conn = Connection::open(&db).unwrap();
    let (buckets, samples): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM rollup_5m r JOIN series s ON s.id = r.series_id \
             WHERE s.kind = 'port'), (SELECT count(*) FROM port_sample)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let covered = buckets * 300_000 - missing;
    assert_eq!(covered, samples * 10_000);
    drop(w);
}

#[test]
fn a_full_disk_is_reported_with_the_file_and_retried_without_losing_sweeps() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bandwatch.db");
    let store = Store::open(&db, &Retention::default()).unwrap();
    let pages: u32 = Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    let (topo, names) = many_ports("a-sw1", 400);
    let w = store
        .writer_with(
            topo,
            WriterOptions {
                max_pages: Some(pages + 40),
                max_backoff: StdDuration::from_millis(200),
                ..WriterOptions::default()
            },
        )
        .unwrap();
    let b = base();
    let m = w.metrics();
    let mut submitted = 0;
    let deadline = Instant::now() + StdDuration::from_secs(20);
    while m.write_errors_total.get() == 0 {
        assert!(Instant::now() < deadline, "the size limit was never hit");
        submitted += 1;
        w.submit(big_sweep("a-sw1", &names, b + 60 * submitted))
            .unwrap();
        std::thread::sleep(StdDuration::from_millis(5));
    }
    let err = m.last_error().unwrap();
    assert!(err.contains(&db.display().to_string()), "{err}");
    assert!(err.contains("full"), "{err}");
    assert_eq!(m.failing.get(), 1);
    // Polling goes on: submissions are accepted while the disk is full.
    for _ in 0..3 {
        submitted += 1;
        w.submit(big_sweep("a-sw1", &names, b + 60 * submitted))
            .unwrap();
    }
    // Writes keep being retried; once space is back everything lands.
    // (Waited for, not slept on: a loaded machine may take longer than one backoff.)
    let errors_before = m.write_errors_total.get();
    let deadline = Instant::now() + StdDuration::from_secs(10);
    while m.write_errors_total.get() <= errors_before {
        assert!(Instant::now() < deadline, "no retry happened");
        std::thread::sleep(StdDuration::from_millis(20));
    }
    w.set_max_pages(None);
    w.flush().unwrap();
    assert_eq!(m.failing.get(), 0);
    assert_eq!(m.last_error(), None);
    let n: i64 = Connection::open(&db)
        .unwrap()
        .query_row("SELECT count(DISTINCT ts) FROM port_sample", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, submitted);
}

#[test]
fn a_long_reader_transaction_does_not_stop_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bandwatch.db");
    let store = Store::open(&db, &Retention::default()).unwrap();
    let (topo, names) = many_ports("a-sw1", 100);
    let w = store.writer(topo).unwrap();
    let b = base();
    w.submit(big_sweep("a-sw1", &names, b + 60)).unwrap();
    w.flush().unwrap();
    let mut reader = Connection::open(&db).unwrap();
    let tx = reader.transaction().unwrap();
    let count = |c: &Connection| -> i64 {
        c.query_row("SELECT count(*) FROM port_sample", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(count(&tx), 100);
    for i in 2..=50 {
        w.submit(big_sweep("a-sw1", &names, b + 60 * i)).unwrap();
    }
    // The writer commits everything while the read transaction stays open.
    w.flush().unwrap();
    assert_eq!(w.metrics().sweeps_written_total.get(), 50);
    assert_eq!(w.metrics().write_errors_total.get(), 0);
    assert_eq!(count(&tx), 100, "the reader keeps its snapshot");
    tx.commit().unwrap();
    assert_eq!(count(&reader), 5000);
}

#[test]
fn a_database_from_a_newer_bandwatch_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bandwatch.db");
    {
        let c = Connection::open(&db).unwrap();
        c.execute_batch("CREATE TABLE future(x); PRAGMA user_version = 99;")
            .unwrap();
    }
    let before = std::fs::read(&db).unwrap();
    let err = Store::open(&db, &Retention::default()).unwrap_err();
    assert!(
        matches!(err, StoreError::TooNew { found: 99, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&db.display().to_string()), "{msg}");
    assert!(msg.contains("newer bandwatch"), "{msg}");
    let err = Store::open_existing(&db, &Retention::default())
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::TooNew { .. }));
    assert_eq!(std::fs::read(&db).unwrap(), before, "the file was modified");
    assert!(!dir.path().join("bandwatch.db-wal").exists());
}

#[test]
fn shutting_down_while_the_disk_is_full_returns_and_says_what_was_lost() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bandwatch.db");
    let store = Store::open(&db, &Retention::default()).unwrap();
    let pages: u32 = Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .unwrap();
    let (topo, names) = many_ports("a-sw1", 400);
    let w = store
        .writer_with(
            topo,
            WriterOptions {
                max_pages: Some(pages + 40),
                ..WriterOptions::default()
            },
        )
        .unwrap();
    let m = w.metrics();
    let deadline = Instant::now() + StdDuration::from_secs(20);
    let mut i = 0;
    while m.write_errors_total.get() == 0 {
        assert!(Instant::now() < deadline, "the size limit was never hit");
        i += 1;
        w.submit(big_sweep("a-sw1", &names, base() + 60 * i))
            .unwrap();
        std::thread::sleep(StdDuration::from_millis(5));
    }
    // The writer is now failing and backing off; shutdown gives up on the queued sweeps
    // (logging them) instead of retrying forever.
    w.shutdown();
    assert_eq!(
        m.queue_depth.get(),
        0,
        "every queued sweep is accounted for"
    );
    assert!(m.abandoned_sweeps_total.get() >= 1);
    assert_eq!(
        m.abandoned_sweeps_total.get() + m.sweeps_written_total.get(),
        i as u64
    );
    let check: String = Connection::open(&db)
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn a_full_channel_is_counted_and_nothing_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bandwatch.db");
    let store = Store::open(&db, &Retention::default()).unwrap();
    let (topo, names) = many_ports("a-sw1", 300);
    let w = store
        .writer_with(
            topo,
            WriterOptions {
                channel_capacity: 1,
                max_batch_sweeps: 1,
                ..WriterOptions::default()
            },
        )
        .unwrap();
    let b = base();
    // Submitting is never slowed by the disk: 100 sweeps go in much faster than they are
    // written, so the one-slot channel fills and the rest wait in the overflow queue.
    for i in 1..=100 {
        w.submit(big_sweep("a-sw1", &names, b + 60 * i)).unwrap();
    }
    let m = w.metrics();
    assert!(m.queue_full_total.get() > 0);
    assert!(m.queue_depth.get() > 1);
    w.flush().unwrap();
    assert_eq!(m.sweeps_written_total.get(), 100);
    assert_eq!(m.queue_depth.get(), 0);
    let n: i64 = Connection::open(&db)
        .unwrap()
        .query_row("SELECT count(DISTINCT ts) FROM port_sample", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, 100);
}

/// Makes a file unwritable for the duration of a test, and writable again when dropped (also
/// on panic, so the temporary folder can be removed). As root, permission bits do not stop
/// writes, so root uses the immutable attribute (`chattr +i`, Debian package e2fsprogs).
struct ReadOnly {
    path: std::path::PathBuf,
    immutable: bool,
}

impl ReadOnly {
    /// `Err` with a reason when this machine cannot make the file read-only.
    fn new(path: &std::path::Path) -> Result<ReadOnly, String> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let probe = path.with_extension("uid-probe");
        std::fs::write(&probe, b"").map_err(|e| e.to_string())?;
        let root = std::fs::metadata(&probe).map_err(|e| e.to_string())?.uid() == 0;
        let _ = std::fs::remove_file(&probe);
        if !root {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o444))
                .map_err(|e| e.to_string())?;
            return Ok(ReadOnly {
                path: path.to_path_buf(),
                immutable: false,
            });
        }
        let out = Command::new("chattr")
            .arg("+i")
            .arg(path)
            .output()
            .map_err(|e| format!("chattr not runnable ({e}); install e2fsprogs"))?;
        if !out.status.success() {
            return Err(format!(
                "chattr +i failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(ReadOnly {
            path: path.to_path_buf(),
            immutable: true,
        })
    }

    fn undo(&mut self) {
        use std::os::unix::fs::PermissionsExt;
        if self.immutable {
            let _ = Command::new("chattr").arg("-i").arg(&self.path).status();
            self.immutable = false;
        } else {
            let _ = std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o644));
        }
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        self.undo();
    }
}

#[test]
fn a_read_only_database_is_reported_and_retried_until_writable() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bandwatch.db");
    let (topo, names) = many_ports("a-sw1", 50);
    let store = Store::open(&db, &Retention::default()).unwrap();
    let b = base();
    {
        let w = store.writer(topo.clone()).unwrap();
        w.submit(big_sweep("a-sw1", &names, b + 60)).unwrap();
        w.shutdown();
    }
    let mut ro = match ReadOnly::new(&db) {
        Ok(ro) => ro,
        Err(why) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "cannot make a file read-only in CI: {why}"
            );
            eprintln!("skipped: cannot make a file read-only here: {why}");
            return;
        }
    };
    let w = store
        .writer_with(
            topo,
            WriterOptions {
                max_backoff: StdDuration::from_millis(200),
                ..WriterOptions::default()
            },
        )
        .unwrap();
    let m = w.metrics();
    for i in 2..=4 {
        w.submit(big_sweep("a-sw1", &names, b + 60 * i)).unwrap();
    }
    let deadline = Instant::now() + StdDuration::from_secs(20);
    while m.write_errors_total.get() < 2 {
        assert!(
            Instant::now() < deadline,
            "no write error on a read-only file"
        );
        std::thread::sleep(StdDuration::from_millis(20));
    }
    let err = m.last_error().unwrap();
    assert!(err.contains(&db.display().to_string()), "{err}");
    assert!(err.contains("readonly"), "{err}");
    assert_eq!(m.failing.get(), 1);
    ro.undo();
    w.flush().unwrap();
    assert_eq!(m.failing.get(), 0);
    let n: i64 = Connection::open(&db)
        .unwrap()
        .query_row("SELECT count(DISTINCT ts) FROM port_sample", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(n, 4);
}
