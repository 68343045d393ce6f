//! The SQLite backend's connections, shared by every handle of one [`super::Store`]: one
//! read-write connection for the small writes of the rules, notify and import stages (alert
//! states, history, silences, the outbox, usage records), behind a mutex, and a small pool
//! of read-only connections for readers. Both are opened when first needed, so a process
//! that only writes sweeps (a backfill) holds only the writer's connection. The sweep writer has its own connection on its own
//! thread. So a daemon holds a handful of connections whatever the number of callers.

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};

use rusqlite::Connection;

use super::error::StoreError;
use super::schema;

/// Most read-only connections one store opens; more readers at once wait for one.
pub(crate) const MAX_READERS: usize = 4;

/// The connections of one database file.
pub(crate) struct Db {
    path: PathBuf,
    /// `None` for a store opened read-only (`bandwatch report`, `query`, `backtest`);
    /// else the read-write connection once opened.
    write: Option<Mutex<Option<Connection>>>,
    readers: Mutex<Pool>,
    returned: Condvar,
}

#[derive(Default)]
struct Pool {
    idle: Vec<Connection>,
    open: usize,
}

/// The read-write connection, held under its lock.
pub(crate) struct WriteConn<'a>(MutexGuard<'a, Option<Connection>>);

impl std::ops::Deref for WriteConn<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        // `Db::write` hands it out only once opened.
        self.0.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl std::ops::DerefMut for WriteConn<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.0.as_mut().unwrap_or_else(|| unreachable!())
    }
}

/// A read-only connection borrowed from the pool; it goes back when dropped.
pub(crate) struct ReadConn<'a> {
    db: &'a Db,
    conn: Option<Connection>,
}

impl std::ops::Deref for ReadConn<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        // Only `Drop` takes the connection out.
        self.conn.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for ReadConn<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            self.db.pool().idle.push(c);
            self.db.returned.notify_one();
        }
    }
}

impl Db {
    /// Opens (creating and migrating if needed) the file for reading and writing.
    pub(crate) fn open_write(path: &Path) -> Result<Db, StoreError> {
        drop(schema::open_for_write(path)?);
        Ok(Db::new(path, Some(Mutex::new(None))))
    }

    /// Opens an existing, up-to-date file for reading only: never creates or migrates.
    pub(crate) fn open_read(path: &Path) -> Result<Db, StoreError> {
        let first = schema::open_for_read(path)?;
        let db = Db::new(path, None);
        {
            let mut p = db.pool();
            p.idle.push(first);
            p.open = 1;
        }
        Ok(db)
    }

    fn new(path: &Path, write: Option<Mutex<Option<Connection>>>) -> Db {
        Db {
            path: path.to_path_buf(),
            write,
            readers: Mutex::new(Pool::default()),
            returned: Condvar::new(),
        }
    }

    /// The database file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the store may write.
    pub(crate) fn writable(&self) -> bool {
        self.write.is_some()
    }

    fn pool(&self) -> MutexGuard<'_, Pool> {
        // A panic while holding the lock leaves the pool's connections usable.
        self.readers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A read-only connection: an idle one, a new one while fewer than [`MAX_READERS`] are
    /// open, else the next one returned.
    pub(crate) fn read(&self) -> Result<ReadConn<'_>, StoreError> {
        let mut pool = self.pool();
        loop {
            if let Some(conn) = pool.idle.pop() {
                return Ok(ReadConn {
                    db: self,
                    conn: Some(conn),
                });
            }
            if pool.open < MAX_READERS {
                pool.open += 1;
                drop(pool);
                return match schema::open_for_read(&self.path) {
                    Ok(conn) => Ok(ReadConn {
                        db: self,
                        conn: Some(conn),
                    }),
                    Err(e) => {
                        self.pool().open -= 1;
                        Err(e)
                    }
                };
            }
            pool = self.returned.wait(pool).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// The read-write connection (opened on first use); an error for a store opened
    /// read-only.
    pub(crate) fn write(&self) -> Result<WriteConn<'_>, StoreError> {
        let Some(m) = &self.write else {
            return Err(StoreError::ReadOnly {
                path: self.path.clone(),
            });
        };
        let mut guard = m.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            let conn = schema::open_for_write(&self.path)?;
            // It writes small rows: the writer's larger page cache is not needed.
            schema::configure(&conn, &self.path)?;
            *guard = Some(conn);
        }
        Ok(WriteConn(guard))
    }

    /// Open connections: the read-write one (once opened) and the pooled readers.
    pub(crate) fn connections(&self) -> usize {
        let write = self.write.as_ref().map_or(0, |m| {
            usize::from(m.lock().unwrap_or_else(|p| p.into_inner()).is_some())
        });
        write + self.pool().open
    }
}
