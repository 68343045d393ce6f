//! Checkpoints of the write-ahead log, off the store writer's thread.
//!
//! SQLite copies the WAL's pages back into the database (a checkpoint) in the connection whose
//! commit took the WAL past `wal_autocheckpoint` pages, inside that commit's call: on the
//! rig's 28-day store (200 x 48 ports every 10 s) that was the sweep writer every two and a
//! half minutes, with two `fsync`s and 30-60 MiB of pages (the five-minute move touches a
//! page per series), 2-3 s during which no sweep was written and the writer's timing of its
//! transaction said it had held the write lock for 8-9 s. A passive checkpoint takes no write
//! lock, so a thread of its own with its own connection does it instead, every
//! [`CHECKPOINT_EVERY`]; the writer's `wal_autocheckpoint` stays as a backstop should this
//! thread fall behind.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use super::error::{SqlContext, StoreError};

/// How often the WAL is checkpointed: often enough that the WAL stays well under the writer's
/// `wal_autocheckpoint` (64 MiB) at the rig's write rate (about 25 MiB a minute at 28 days).
pub(crate) const CHECKPOINT_EVERY: Duration = Duration::from_secs(30);

/// A checkpoint slower than this is logged (the disk is slow or the WAL large).
const SLOW: Duration = Duration::from_secs(5);

/// The checkpointing thread of one store file; dropping it stops the thread (after the
/// checkpoint in progress, if any).
pub(crate) struct Checkpointer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Opens a connection of its own to `path` (which must exist) and checkpoints the WAL
    /// every `every` until dropped.
    pub(crate) fn start(path: &Path, every: Duration) -> Result<Checkpointer, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ctx(path, "opening the database for checkpoints")?;
        conn.busy_timeout(super::schema::BUSY_TIMEOUT)
            .ctx(path, "setting the busy timeout")?;
        // The checkpoint copies pages file to file; it needs no page cache of its own.
        conn.pragma_update(None, "cache_size", -64)
            .ctx(path, "setting the page cache size")?;
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let path = path.to_path_buf();
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("store-checkpoint".into())
                .spawn(move || run(conn, path, every, stop))
                .map_err(|e| {
                    StoreError::InvalidQuery(format!("cannot start the checkpoint thread: {e}"))
                })?
        };
        Ok(Checkpointer {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        let (lock, cv) = &*self.stop;
        match lock.lock() {
            Ok(mut s) => *s = true,
            Err(p) => *p.into_inner() = true,
        }
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(conn: Connection, path: PathBuf, every: Duration, stop: Arc<(Mutex<bool>, Condvar)>) {
    let (lock, cv) = &*stop;
    loop {
        {
            let Ok(guard) = lock.lock() else { return };
            let Ok((guard, _)) = cv.wait_timeout_while(guard, every, |stopped| !*stopped) else {
                return;
            };
            if *guard {
                return;
            }
        }
        let started = Instant::now();
        // PASSIVE: copies what no reader still needs, without waiting for anyone and without
        // taking the write lock; the writer restarts the WAL from its start once all of it
        // is copied.
        match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        }) {
            Ok((frames, copied)) => {
                let took = started.elapsed();
                if took >= SLOW {
                    tracing::warn!(
                        file = %path.display(), frames, copied,
                        seconds = format_args!("{:.1}", took.as_secs_f64()),
                        "a WAL checkpoint was slow"
                    );
                } else {
                    tracing::debug!(file = %path.display(), frames, copied, "WAL checkpoint");
                }
            }
            Err(e) => tracing::warn!(file = %path.display(), error = %e, "WAL checkpoint failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The database file's size, and the WAL's, in bytes.
    fn sizes(path: &Path) -> (u64, u64) {
        let len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        (len(path), len(Path::new(&wal)))
    }

    #[test]
    fn the_thread_copies_the_wal_into_the_database_that_no_commit_checkpointed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = Connection::open(&path).unwrap();
        conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))
            .unwrap();
        // No commit checkpoints: only the thread can move the pages.
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        conn.execute_batch("CREATE TABLE t (v BLOB)").unwrap();
        let blob = vec![7u8; 4000];
        for _ in 0..500 {
            conn.execute("INSERT INTO t VALUES (?1)", [&blob]).unwrap();
        }
        let (db, wal) = sizes(&path);
        assert!(wal > 1_000_000, "the rows are in the WAL: {wal}");
        assert!(db < 100_000, "and not yet in the database: {db}");
        let cp = Checkpointer::start(&path, Duration::from_millis(20)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while sizes(&path).0 < 1_000_000 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(cp);
        let (db, _) = sizes(&path);
        assert!(
            db >= 1_000_000,
            "the checkpoint wrote the pages into the file: {db}"
        );
        // The data reads back whole from a new connection.
        let n: i64 = Connection::open(&path)
            .unwrap()
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 500);
    }

    #[test]
    fn dropping_it_stops_the_thread_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t (v)")
            .unwrap();
        let cp = Checkpointer::start(&path, Duration::from_secs(3600)).unwrap();
        let t = Instant::now();
        drop(cp);
        assert!(t.elapsed() < Duration::from_secs(60), "{:?}", t.elapsed());
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("none").join("t.db");
        let e = Checkpointer::start(&path, CHECKPOINT_EVERY)
            .err()
            .expect("no file, no checkpointer");
        assert!(e.to_string().contains("t.db"), "{e}");
    }
}
