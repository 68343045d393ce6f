//! Importing usage records as a stream: the records are staged apart from the stored ones,
//! then checked against each other and against what is stored in one ordered pass, then
//! merged in one short transaction. Nothing is held in memory per record, and the database's
//! write lock is taken only for the merge, so the daemon's sweep writer keeps writing while a
//! million rows are read, parsed and checked.
//!
//! SQLite: the staging table is a `TEMP` table of the import's own connection (its pages live
//! in a temporary file of that connection; writing them locks nothing in the database). The
//! check walks the staged rows and the stored ones in the order of the stored key
//! `(customer, start, end, source)`, like a merge join, so it costs one ordered read of each,
//! not a search of the stored rows per record. A stored record whose key is staged again is
//! replaced (or left alone when its bytes are the same); any other overlap of two periods of
//! one customer and source is a conflict and nothing is written. A counter in `meta` changes
//! with every merge, so an import that was checked against an older state of the table
//! checks again inside its write transaction.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};

use super::error::{SqlContext, StoreError};
use super::usage::{UsageRecord, UsageWrite};

/// Staged rows per transaction of the staging table.
const STAGE_BATCH: u64 = 50_000;

/// Conflicts kept to be listed (the rest are counted).
const KEEP_CONFLICTS: usize = 100;

/// The `meta` key of the counter every usage merge increments.
const GENERATION_KEY: &str = "usage_generation";

/// A record that cannot be imported because its period overlaps another one of the same
/// customer and source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageConflict {
    /// The line (or index) the offending record was added with.
    pub line: u64,
    /// The record it overlaps.
    pub other: UsageRecord,
    /// The line of that record when it is in the same import; `None` when it is stored.
    pub other_line: Option<u64>,
    /// Both are in the import, with exactly the same period (a repeated row).
    pub repeats: bool,
}

/// The conflicts of an import: the first ones by line, and how many there were.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsageConflicts {
    /// The conflicts with the lowest lines, in line order.
    pub first: Vec<UsageConflict>,
    /// Every conflict found.
    pub total: usize,
}

impl UsageConflicts {
    fn push(&mut self, c: UsageConflict) {
        self.total += 1;
        self.first.push(c);
        if self.first.len() > 4 * KEEP_CONFLICTS {
            self.trim();
        }
    }
    fn trim(&mut self) {
        self.first.sort_by_key(|c| c.line);
        self.first.truncate(KEEP_CONFLICTS);
    }
}

/// One import in progress: records are added one by one (each with the line it came from),
/// then [`UsageImport::finish`] checks and writes all of them, or none. Dropping it without
/// finishing writes nothing.
pub trait UsageImport {
    /// Stages one record.
    fn add(&mut self, record: &UsageRecord, line: u64) -> Result<(), StoreError>;
    /// Records staged so far.
    fn staged(&self) -> u64;
    /// Checks every staged record against the others and against the stored ones; writes
    /// them all when nothing overlaps (the same key replaces), else nothing.
    fn finish(
        self: Box<Self>,
        now: Timestamp,
    ) -> Result<Result<UsageWrite, UsageConflicts>, StoreError>;
}

/// The SQLite import: a connection of its own with a `TEMP` staging table.
pub(crate) struct StagedImport {
    conn: Connection,
    path: PathBuf,
    staged: u64,
    in_tx: bool,
}

impl StagedImport {
    /// Opens a connection on `path` (an existing, migrated database) and its staging table.
    pub(crate) fn open(path: &Path) -> Result<StagedImport, StoreError> {
        let conn = Connection::open(path).ctx(path, "opening the database for an import")?;
        super::schema::configure(&conn, path)?;
        // Small caches: the staged rows go to a temporary file, not to memory.
        conn.execute_batch(
            "PRAGMA cache_size = -8192; PRAGMA temp_store = FILE; \
             PRAGMA temp.cache_size = -16384; \
             CREATE TEMP TABLE import_stage(customer TEXT NOT NULL, source TEXT NOT NULL, \
             start INTEGER NOT NULL, end INTEGER NOT NULL, bytes INTEGER NOT NULL, \
             line INTEGER NOT NULL);",
        )
        .ctx(path, "creating the import's staging table")?;
        Ok(StagedImport {
            conn,
            path: path.to_path_buf(),
            staged: 0,
            in_tx: false,
        })
    }

    fn end_batch(&mut self) -> Result<(), StoreError> {
        if self.in_tx {
            self.conn
                .execute_batch("COMMIT")
                .ctx(&self.path, "staging usage records")?;
            self.in_tx = false;
        }
        Ok(())
    }

    fn generation(&self) -> Result<i64, StoreError> {
        let v: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM main.meta WHERE key = ?1",
                [GENERATION_KEY],
                |r| r.get(0),
            )
            .optional()
            .ctx(&self.path, "reading the usage generation")?;
        Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    /// The ordered pass over staged and stored rows: what the merge would do, or the conflicts.
    fn check(&self) -> Result<Result<UsageWrite, UsageConflicts>, StoreError> {
        let path = &self.path;
        let mut staged = self
            .conn
            .prepare(
                "SELECT customer, start, end, source, bytes, line FROM temp.import_stage \
                 ORDER BY customer, start, end, source, line",
            )
            .ctx(path, "reading the staged usage records")?;
        let mut stored = self
            .conn
            .prepare(
                "SELECT customer, start, end, source, rowid FROM main.usage_record \
                 ORDER BY customer, start, end, source",
            )
            .ctx(path, "reading the stored usage records")?;
        let mut bytes_of = self
            .conn
            .prepare("SELECT bytes FROM main.usage_record WHERE rowid = ?1")
            .ctx(path, "reading a stored usage record")?;
        let item = |r: &rusqlite::Row<'_>, staged: bool| -> rusqlite::Result<Item> {
            Ok(Item {
                customer: r.get(0)?,
                start: r.get(1)?,
                end: r.get(2)?,
                source: r.get(3)?,
                bytes_or_rowid: r.get(4)?,
                line: if staged {
                    Some(r.get::<_, i64>(5)?.max(0) as u64)
                } else {
                    None
                },
            })
        };
        let mut staged_rows = staged
            .query([])
            .ctx(path, "reading the staged usage records")?;
        let mut stored_rows = stored
            .query([])
            .ctx(path, "reading the stored usage records")?;
        let ctx_staged = "reading the staged usage records";
        let ctx_stored = "reading the stored usage records";
        let mut next_staged = || -> Result<Option<Item>, StoreError> {
            match staged_rows.next().ctx(path, ctx_staged)? {
                Some(r) => Ok(Some(item(r, true).ctx(path, ctx_staged)?)),
                None => Ok(None),
            }
        };
        let mut next_stored = || -> Result<Option<Item>, StoreError> {
            match stored_rows.next().ctx(path, ctx_stored)? {
                Some(r) => Ok(Some(item(r, false).ctx(path, ctx_stored)?)),
                None => Ok(None),
            }
        };
        let mut sweep = Sweep::default();
        let mut done = UsageWrite::default();
        let mut a = next_staged()?;
        let mut b = next_stored()?;
        // The staged row at the head matched a stored key (it replaces that record).
        let mut head_matched = false;
        loop {
            let take_stored = match (&a, &b) {
                (None, None) => break,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some(x), Some(y)) => y.key() <= x.key(),
            };
            if take_stored {
                let Some(y) = b.take() else { break };
                b = next_stored()?;
                if let Some(x) = &a
                    && x.key() == y.key()
                    && !head_matched
                {
                    let stored_bytes: i64 = bytes_of
                        .query_row([y.bytes_or_rowid], |r| r.get(0))
                        .ctx(path, "reading a stored usage record")?;
                    if stored_bytes == x.bytes_or_rowid {
                        done.unchanged += 1;
                    } else {
                        done.replaced += 1;
                    }
                    head_matched = true;
                    continue;
                }
                sweep.see(y);
            } else {
                let Some(x) = a.take() else { break };
                a = next_staged()?;
                if !std::mem::take(&mut head_matched) {
                    done.inserted += 1;
                }
                sweep.see(x);
            }
        }
        let mut conflicts = sweep.conflicts;
        if conflicts.total > 0 {
            conflicts.trim();
            return Ok(Err(conflicts));
        }
        Ok(Ok(done))
    }
}

impl UsageImport for StagedImport {
    fn add(&mut self, r: &UsageRecord, line: u64) -> Result<(), StoreError> {
        if !self.in_tx {
            self.conn
                .execute_batch("BEGIN")
                .ctx(&self.path, "staging usage records")?;
            self.in_tx = true;
        }
        self.conn
            .prepare_cached(
                "INSERT INTO temp.import_stage(customer, source, start, end, bytes, line) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    r.customer,
                    r.source,
                    r.start.as_second(),
                    r.end.as_second(),
                    i64::try_from(r.bytes).unwrap_or(i64::MAX),
                    i64::try_from(line).unwrap_or(i64::MAX),
                ])
            })
            .ctx(&self.path, "staging a usage record")?;
        self.staged += 1;
        if self.staged.is_multiple_of(STAGE_BATCH) {
            self.end_batch()?;
        }
        Ok(())
    }

    fn staged(&self) -> u64 {
        self.staged
    }

    fn finish(
        mut self: Box<Self>,
        now: Timestamp,
    ) -> Result<Result<UsageWrite, UsageConflicts>, StoreError> {
        self.end_batch()?;
        let path = self.path.clone();
        let started = std::time::Instant::now();
        self.conn
            .execute_batch(
                "CREATE INDEX temp.import_stage_key ON import_stage(customer, start, end, source, line)",
            )
            .ctx(&path, "sorting the staged usage records")?;
        // The check reads one snapshot of the stored records, without any write lock.
        self.conn
            .execute_batch("BEGIN")
            .ctx(&path, "checking the usage records")?;
        let checked_at = self.generation()?;
        let checked = self.check();
        self.conn
            .execute_batch("COMMIT")
            .ctx(&path, "checking the usage records")?;
        let done = match checked? {
            Ok(done) => done,
            Err(conflicts) => return Ok(Err(conflicts)),
        };
        let checked_in = started.elapsed();
        if done.inserted + done.replaced == 0 {
            tracing::debug!(
                rows = self.staged,
                ?checked_in,
                "usage import: nothing to write"
            );
            return Ok(Ok(done));
        }
        let locked = std::time::Instant::now();
        // The merge: the only part that holds the write lock.
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .ctx(&path, "starting the usage merge")?;
        let merged = self.merge(checked_at, done, now);
        match merged {
            Ok(Ok(_)) => {
                self.conn
                    .execute_batch("COMMIT")
                    .ctx(&path, "committing the usage merge")?;
                tracing::debug!(
                    rows = self.staged,
                    ?checked_in,
                    write_lock_held = ?locked.elapsed(),
                    "usage import merged"
                );
            }
            _ => {
                let _ = self.conn.execute_batch("ROLLBACK");
            }
        }
        merged
    }
}

impl StagedImport {
    /// Inside the write transaction: checks again if another import merged since the check,
    /// then writes the staged records and moves the generation on.
    fn merge(
        &self,
        checked_at: i64,
        mut done: UsageWrite,
        now: Timestamp,
    ) -> Result<Result<UsageWrite, UsageConflicts>, StoreError> {
        let path = &self.path;
        if self.generation()? != checked_at {
            // Another import merged since the check: check again, under the lock.
            done = match self.check()? {
                Ok(done) => done,
                Err(conflicts) => return Ok(Err(conflicts)),
            };
        }
        self.conn
            .execute(
                "INSERT INTO main.usage_record(customer, start, end, bytes, source, imported) \
                 SELECT customer, start, end, bytes, source, ?1 FROM temp.import_stage WHERE true \
                 ON CONFLICT(customer, start, end, source) DO UPDATE \
                 SET bytes = excluded.bytes, imported = excluded.imported \
                 WHERE bytes <> excluded.bytes",
                [now.as_second()],
            )
            .ctx(path, "merging the usage records")?;
        self.conn
            .execute(
                "INSERT INTO main.meta(key, value) VALUES (?1, '1') ON CONFLICT(key) DO UPDATE \
                 SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)",
                [GENERATION_KEY],
            )
            .ctx(path, "recording the usage generation")?;
        Ok(Ok(done))
    }
}

/// A row of the ordered pass: staged (with its line and bytes) or stored (with its rowid).
#[derive(Clone, Debug)]
struct Item {
    customer: String,
    start: i64,
    end: i64,
    source: String,
    bytes_or_rowid: i64,
    line: Option<u64>,
}

impl Item {
    fn key(&self) -> (&str, i64, i64, &str) {
        (&self.customer, self.start, self.end, &self.source)
    }
    fn record(&self) -> UsageRecord {
        let ts = |v: i64| Timestamp::from_second(v).unwrap_or(Timestamp::UNIX_EPOCH);
        UsageRecord {
            customer: self.customer.clone(),
            start: ts(self.start),
            end: ts(self.end),
            bytes: if self.line.is_some() {
                self.bytes_or_rowid.max(0) as u64
            } else {
                0
            },
            source: self.source.clone(),
        }
    }
}

/// Periods of one customer seen in start order: per source, the one that ends last. A period
/// that starts before it ends overlaps it.
#[derive(Default)]
struct Sweep {
    customer: String,
    last: HashMap<String, Item>,
    conflicts: UsageConflicts,
}

impl Sweep {
    fn see(&mut self, it: Item) {
        if it.customer != self.customer {
            self.last.clear();
            self.customer.clone_from(&it.customer);
        }
        let Some(prev) = self.last.get_mut(&it.source) else {
            self.last.insert(it.source.clone(), it);
            return;
        };
        if prev.end > it.start {
            let conflict = match (prev.line, it.line) {
                (Some(pl), Some(il)) => Some(UsageConflict {
                    line: il,
                    other: prev.record(),
                    other_line: Some(pl),
                    repeats: prev.start == it.start && prev.end == it.end,
                }),
                (None, Some(il)) => Some(UsageConflict {
                    line: il,
                    other: prev.record(),
                    other_line: None,
                    repeats: false,
                }),
                (Some(pl), None) => Some(UsageConflict {
                    line: pl,
                    other: it.record(),
                    other_line: None,
                    repeats: false,
                }),
                // Two stored periods: not this import's doing.
                (None, None) => None,
            };
            if let Some(c) = conflict {
                self.conflicts.push(c);
            }
            if it.end > prev.end {
                *prev = it;
            }
        } else {
            *prev = it;
        }
    }
}

/// An import for backends without a staging area of their own: the records are kept in
/// memory, checked against each other, and handed to [`super::UsageStore::write`] at once.
pub struct BufferedImport<'a> {
    records: Vec<(UsageRecord, u64)>,
    write: WriteFn<'a>,
}

/// How a [`BufferedImport`] writes its batch.
type WriteFn<'a> = Box<
    dyn FnOnce(
            &[UsageRecord],
            Timestamp,
        ) -> Result<Result<UsageWrite, super::UsageOverlap>, StoreError>
        + 'a,
>;

impl<'a> BufferedImport<'a> {
    /// An import that writes its batch with `write` (a backend's [`super::UsageStore::write`]).
    pub fn new(
        write: impl FnOnce(
            &[UsageRecord],
            Timestamp,
        ) -> Result<Result<UsageWrite, super::UsageOverlap>, StoreError>
        + 'a,
    ) -> BufferedImport<'a> {
        BufferedImport {
            records: Vec::new(),
            write: Box::new(write),
        }
    }
}

impl UsageImport for BufferedImport<'_> {
    fn add(&mut self, record: &UsageRecord, line: u64) -> Result<(), StoreError> {
        self.records.push((record.clone(), line));
        Ok(())
    }

    fn staged(&self) -> u64 {
        self.records.len() as u64
    }

    fn finish(
        self: Box<Self>,
        now: Timestamp,
    ) -> Result<Result<UsageWrite, UsageConflicts>, StoreError> {
        let mut order: Vec<usize> = (0..self.records.len()).collect();
        let key = |i: &usize| {
            let (r, line) = &self.records[*i];
            (r.customer.clone(), r.start, r.end, r.source.clone(), *line)
        };
        order.sort_by_key(key);
        let mut sweep = Sweep::default();
        for i in order {
            let (r, line) = &self.records[i];
            sweep.see(Item {
                customer: r.customer.clone(),
                start: r.start.as_second(),
                end: r.end.as_second(),
                source: r.source.clone(),
                bytes_or_rowid: i64::try_from(r.bytes).unwrap_or(i64::MAX),
                line: Some(*line),
            });
        }
        let mut conflicts = sweep.conflicts;
        if conflicts.total > 0 {
            conflicts.trim();
            return Ok(Err(conflicts));
        }
        let records: Vec<UsageRecord> = self.records.iter().map(|(r, _)| r.clone()).collect();
        Ok((self.write)(&records, now)?.map_err(|o| {
            let line = self.records.get(o.index).map_or(0, |(_, l)| *l);
            UsageConflicts {
                first: vec![UsageConflict {
                    line,
                    other: o.existing,
                    other_line: None,
                    repeats: false,
                }],
                total: 1,
            }
        }))
    }
}
