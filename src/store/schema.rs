//! The schema and its versioned migrations (`PRAGMA user_version`), and how connections are
//! opened: WAL, `synchronous=NORMAL`, a busy timeout, and a refusal to touch a database
//! written by a newer bandwatch.

use std::path::Path;
use std::time::Duration as StdDuration;

use rusqlite::{Connection, OpenFlags};

use super::error::{SqlContext, StoreError};
use super::outbox::OUTBOX_SCHEMA;

/// Migrations in order; migration `i` brings the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    MIGRATION_1,
    MIGRATION_2,
    OUTBOX_SCHEMA,
    MIGRATION_4,
    MIGRATION_5,
    MIGRATION_6,
    MIGRATION_7,
    MIGRATION_8,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Seconds of one `port_sample_recent` chunk (the first column of its key).
pub(crate) const RECENT_CHUNK_SECS: i64 = 5;

/// Version 8: a sweep's rows are written where the sweeps before it were written, not next to
/// each port's older rows. A table keyed by series (a port's history in its own pages, which
/// is what reads want) makes every commit dirty one page per port and table: at 10,000 ports
/// that is a 4 KiB page into the WAL, and later into the file, per port-sample and table. So
/// new samples go to `port_sample_recent`, keyed by a 5-second chunk of their time first (a
/// switch's ports land side by side, a commit appends a few pages), and the writer moves them
/// into `port_sample_by_series` in (series, time) order every few minutes: each port's page is
/// then written once per move instead of once per sweep. Likewise open 5-minute buckets live
/// in `rollup_5m_recent`, keyed by bucket first, and move into `rollup_5m_by_series` when the
/// bucket is sealed. The old names are views over both halves (what `SELECT`s outside the
/// store, tests and tools, read); the store's own reads ask each half by its key.
const MIGRATION_8: &str = r#"
ALTER TABLE port_sample RENAME TO port_sample_by_series;
CREATE TABLE port_sample_recent(
    chunk       INTEGER NOT NULL,          -- ts / 5
    series_id   INTEGER NOT NULL,
    ts          INTEGER NOT NULL,
    dt_ms       INTEGER,
    in_octets   INTEGER,
    out_octets  INTEGER,
    in_packets  INTEGER,
    out_packets INTEGER,
    oper        INTEGER,
    flag        INTEGER NOT NULL,
    PRIMARY KEY (chunk, series_id, ts)
) WITHOUT ROWID;
CREATE VIEW port_sample AS
    SELECT series_id, ts, dt_ms, in_octets, out_octets, in_packets, out_packets, oper, flag
    FROM port_sample_by_series
    UNION ALL
    SELECT series_id, ts, dt_ms, in_octets, out_octets, in_packets, out_packets, oper, flag
    FROM port_sample_recent;
ALTER TABLE rollup_5m RENAME TO rollup_5m_by_series;
CREATE TABLE rollup_5m_recent(
    bucket      INTEGER NOT NULL,
    series_id   INTEGER NOT NULL,
    in_octets   INTEGER NOT NULL,
    out_octets  INTEGER NOT NULL,
    missing_ms  INTEGER NOT NULL,
    max_in_kbps  INTEGER NOT NULL,
    max_out_kbps INTEGER NOT NULL,
    PRIMARY KEY (bucket, series_id)
) WITHOUT ROWID;
CREATE VIEW rollup_5m AS
    SELECT series_id, bucket, in_octets, out_octets, missing_ms, max_in_kbps, max_out_kbps
    FROM rollup_5m_by_series
    UNION ALL
    SELECT series_id, bucket, in_octets, out_octets, missing_ms, max_in_kbps, max_out_kbps
    FROM rollup_5m_recent;
"#;

/// Version 7: the flow minutes stored per customer or product line and shard (see
/// `store::flows::FlowSlot::shard`): the second daemon of an HA pair finds its minute taken
/// and adds nothing twice.
const MIGRATION_7: &str = r#"
CREATE TABLE IF NOT EXISTS flow_claim(
    series_id INTEGER NOT NULL,
    slot      INTEGER NOT NULL,          -- unix seconds of the minute's start
    shard     TEXT    NOT NULL,
    PRIMARY KEY (series_id, slot, shard)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS flow_claim_slot ON flow_claim(slot);
"#;

/// Version 6: what several daemons sharing one store need to write each thing once (see
/// `store::ingest::shared` and `store::once`): the poll slots a port's stored samples cover
/// (a second daemon polling the same switch, an HA pair, finds its sample's slots taken and
/// stores nothing twice), and per alert, route and kind of notice the last one queued (the
/// second daemon's identical notice is not queued again).
const MIGRATION_6: &str = r#"
CREATE TABLE IF NOT EXISTS sample_slot(
    series_id INTEGER NOT NULL,
    slot      INTEGER NOT NULL,          -- k of the switch's poll grid k * interval + phase
    known     INTEGER NOT NULL,          -- 1: a measured sample covers it; 0: a gap
    ts        INTEGER NOT NULL,          -- port_sample.ts of the row that covers it
    PRIMARY KEY (series_id, slot)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS notify_once(
    rule    TEXT NOT NULL,
    entity  TEXT NOT NULL,
    route   TEXT NOT NULL,
    family  TEXT NOT NULL,               -- lifecycle (firing, repeat, resolved) or flap
    open    INTEGER NOT NULL,            -- 1 after an opening notice, 0 after a closing one
    started INTEGER NOT NULL,            -- unix seconds the opened episode started
    at      INTEGER NOT NULL,            -- unix seconds of the last notice queued
    PRIMARY KEY (rule, entity, route, family)
) WITHOUT ROWID;
"#;

/// Version 5: leases for work done by one daemon at a time (see `store::lease`), and the
/// outbox's record of which lease holder claimed a message for sending.
const MIGRATION_5: &str = r#"
CREATE TABLE lease(
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    token       INTEGER NOT NULL,        -- fencing token: grows with every change of holder
    expires_ms  INTEGER NOT NULL,
    acquired_ms INTEGER NOT NULL
) WITHOUT ROWID;
ALTER TABLE notify_outbox ADD COLUMN claim_token INTEGER;
ALTER TABLE notify_outbox ADD COLUMN claimed_ms INTEGER;
"#;

/// Version 4: the `outbox` table reserved by version 1 was never used (the notify stage's
/// tables of version 3 are the outbox); it goes.
const MIGRATION_4: &str = r#"
DROP INDEX IF EXISTS outbox_pending;
DROP TABLE IF EXISTS outbox;
"#;

// Version 3 is [`OUTBOX_SCHEMA`]: the notify stage's queue, messages and delivery record,
// until then created by the notify stage itself (`IF NOT EXISTS`, so a database of that
// release keeps its rows).

/// Version 2: the rules stage keeps each alert's whole state (baseline reading, peak,
/// notification marks) as JSON beside the columns the status page reads.
const MIGRATION_2: &str = r#"
ALTER TABLE alert_state ADD COLUMN data TEXT;
"#;

/// Version 1: series, raw port samples (gaps included), aggregate slots, rollups, and the
/// tables the rules, notify and import stages fill.
const MIGRATION_1: &str = r#"
-- Key/value state of the store itself (seal watermark, retention cursor).
CREATE TABLE meta(
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- One row per entity. `name` is `SWITCH/PORT` for ports. Labels are copied from the
-- topology when the series is created or the topology is reloaded.
CREATE TABLE series(
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('port','product_line','site','switch','customer')),
    name         TEXT NOT NULL,
    site         TEXT,
    switch       TEXT,
    port         TEXT,
    product_line TEXT,
    customer     TEXT,
    role         TEXT,
    weight       REAL NOT NULL DEFAULT 1.0,  -- ports: 1 + usual octets/s (coverage weight)
    capacity_bps INTEGER,                    -- port speed, or the sum of the members' speeds
    created      INTEGER NOT NULL,
    UNIQUE (kind, name)
);

-- Raw port samples: one row per port per sweep. A row without dt_ms is a gap; `flag` says
-- why (see store::flag). Octets are never written as zero for an unknown interval.
-- ts: unix seconds of the response (the end of the interval). oper: ifOperStatus (1 = up).
CREATE TABLE port_sample(
    series_id   INTEGER NOT NULL,
    ts          INTEGER NOT NULL,
    dt_ms       INTEGER,
    in_octets   INTEGER,
    out_octets  INTEGER,
    in_packets  INTEGER,
    out_packets INTEGER,
    oper        INTEGER,
    flag        INTEGER NOT NULL,
    PRIMARY KEY (series_id, ts)
) WITHOUT ROWID;

-- A port's speed, written only when it changes (samples do not repeat it).
CREATE TABLE port_speed(
    series_id INTEGER NOT NULL,
    ts        INTEGER NOT NULL,
    speed_bps INTEGER NOT NULL,
    PRIMARY KEY (series_id, ts)
) WITHOUT ROWID;

-- Aggregates (product line, site, switch, customer) in 60 s slots: slot = unix seconds / 60.
-- missing_ms: slot milliseconds not covered, weighted by the members' usual traffic
-- (0 = every member known for the whole slot; coverage = 1 - missing_ms / 60000).
CREATE TABLE agg_slot(
    series_id   INTEGER NOT NULL,
    slot        INTEGER NOT NULL,
    in_octets   INTEGER NOT NULL,
    out_octets  INTEGER NOT NULL,
    in_packets  INTEGER NOT NULL,
    out_packets INTEGER NOT NULL,
    missing_ms  INTEGER NOT NULL,
    PRIMARY KEY (series_id, slot)
) WITHOUT ROWID;

-- Rollups for every series. bucket = unix seconds / bucket length (300, 3600, 86400).
-- Octets of a sample that spans a bucket boundary are split by time. max_*_kbps: the highest
-- rate at the series' finest resolution (port samples; 60 s slots for aggregates).
-- Packets are kept at raw resolution only (samples and slots), to keep rollup rows small.
CREATE TABLE rollup_5m(
    series_id   INTEGER NOT NULL,
    bucket      INTEGER NOT NULL,
    in_octets   INTEGER NOT NULL,
    out_octets  INTEGER NOT NULL,
    missing_ms  INTEGER NOT NULL,
    max_in_kbps  INTEGER NOT NULL,
    max_out_kbps INTEGER NOT NULL,
    PRIMARY KEY (series_id, bucket)
) WITHOUT ROWID;
CREATE TABLE rollup_1h(
    series_id   INTEGER NOT NULL,
    bucket      INTEGER NOT NULL,
    in_octets   INTEGER NOT NULL,
    out_octets  INTEGER NOT NULL,
    missing_ms  INTEGER NOT NULL,
    max_in_kbps  INTEGER NOT NULL,
    max_out_kbps INTEGER NOT NULL,
    PRIMARY KEY (series_id, bucket)
) WITHOUT ROWID;
CREATE TABLE rollup_1d(
    series_id   INTEGER NOT NULL,
    bucket      INTEGER NOT NULL,
    in_octets   INTEGER NOT NULL,
    out_octets  INTEGER NOT NULL,
    missing_ms  INTEGER NOT NULL,
    max_in_kbps  INTEGER NOT NULL,
    max_out_kbps INTEGER NOT NULL,
    PRIMARY KEY (series_id, bucket)
) WITHOUT ROWID;

-- Alert state: one row per rule and entity (the rules stage owns the lifecycle).
CREATE TABLE alert_state(
    rule          TEXT NOT NULL,
    entity        TEXT NOT NULL,            -- kind:name
    state         TEXT NOT NULL CHECK (state IN ('inactive','pending','firing','resolved')),
    since         INTEGER NOT NULL,         -- unix seconds the state was entered
    last_eval     INTEGER NOT NULL,
    last_notified INTEGER,
    value         REAL,
    labels        TEXT,                     -- JSON object
    PRIMARY KEY (rule, entity)
) WITHOUT ROWID;

-- Every alert state change, for the status page, reports and backtests.
CREATE TABLE alert_history(
    id         INTEGER PRIMARY KEY,
    rule       TEXT NOT NULL,
    entity     TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state   TEXT NOT NULL,
    ts         INTEGER NOT NULL,
    value      REAL,
    message    TEXT
);
CREATE INDEX alert_history_ts ON alert_history(ts);

-- Silences: matchers (JSON) muting notifications between two times.
CREATE TABLE silence(
    id         INTEGER PRIMARY KEY,
    matchers   TEXT NOT NULL,
    starts     INTEGER NOT NULL,
    ends       INTEGER NOT NULL,
    created_by TEXT,
    comment    TEXT,
    created    INTEGER NOT NULL
);

-- The durable notification outbox: written with the alert change, drained by the sender.
CREATE TABLE outbox(
    id           INTEGER PRIMARY KEY,
    route        TEXT NOT NULL,
    kind         TEXT NOT NULL,             -- firing, resolved, repeat, report
    group_key    TEXT,
    payload      TEXT NOT NULL,             -- JSON
    created      INTEGER NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    sent         INTEGER,                   -- unix seconds when delivered, NULL while pending
    last_error   TEXT
);
CREATE INDEX outbox_pending ON outbox(sent, next_attempt);

-- Usage records imported from elsewhere (billing systems, flow collectors).
CREATE TABLE usage_record(
    id       INTEGER PRIMARY KEY,
    customer TEXT NOT NULL,
    start    INTEGER NOT NULL,
    end      INTEGER NOT NULL,
    bytes    INTEGER NOT NULL,
    source   TEXT NOT NULL,
    imported INTEGER NOT NULL,
    UNIQUE (customer, start, end, source)
);
"#;

/// Reads `PRAGMA user_version` without writing anything (read-only connection).
fn version_of_existing(path: &Path) -> Result<i64, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ctx(path, "opening the database to read its schema version")?;
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .ctx(path, "reading the schema version")
}

/// Refuses a database whose schema is newer than this build's.
pub(crate) fn check_not_newer(path: &Path) -> Result<i64, StoreError> {
    if !path.exists() {
        return Ok(0);
    }
    let found = version_of_existing(path)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(found)
}

/// Page cache of the readers and of the small-writes connection, in KiB. Their queries read a
/// series' range once (a chart, a report, warming a baseline): the operating system's page
/// cache serves repeated reads, so a large private cache per connection only grows the
/// process (4 readers at 64 MiB each were up to 256 MiB that nothing reused).
const READER_CACHE_KIB: i64 = 2 * 1024;

/// Page cache of the sweep writer, in KiB: the interior pages of the hot tables, the recent
/// halves' last pages, and a share of the leaves a move or a seal walks through in series
/// order (read again from the operating system's page cache when evicted, a few microseconds
/// each). The five-minute move's sort runs with a smaller cache ([`MOVE_CACHE_KIB`]).
/// Measured on the rig at 9,600 ports, side by side: 16 MiB cost the same CPU per sample as 4 MiB and 10
/// MiB more resident memory (it was 128 MiB once); 2 MiB against 4: see `benches/rig`.
const WRITER_CACHE_KIB: i64 = 2 * 1024;

/// Soft limit on all of SQLite's memory in a daemon, in KiB: the writer's cache fills first,
/// and the other connections' caches then reuse their own pages instead of growing. Without
/// it each of the six connections could grow to its own limit (4 readers warming 28 days of
/// baselines held 8 MiB). A soft limit: SQLite never fails an allocation for it. It does not
/// bound a sort's in-memory run, which only the connection's cache size and
/// [`SORT_RUN_PAGES`] do (see [`MOVE_CACHE_KIB`]).
const DAEMON_HEAP_KIB: i64 = 4 * 1024;

/// The least a sort holds in memory before it writes a sorted run to its temporary file, in
/// pages (SQLite's default is 250, 1 MiB; a connection whose cache is larger sorts in runs of
/// its cache's size). Lowered so that the writer's five-minute move can sort in runs of
/// [`MOVE_CACHE_KIB`]; connections with larger caches (`import`, `report`) are not affected.
const SORT_RUN_PAGES: std::ffi::c_int = 64;

/// The writer's page cache while it sorts rows into series order (the five-minute move of
/// recent samples, a sealed 5-minute bucket's move), in KiB: the sort's in-memory run is the
/// larger of this and [`SORT_RUN_PAGES`]. SQLite's sorter grows that run's buffer by
/// doubling, regardless of the soft limit; at the writer's 2 MiB it added 2 MiB to the
/// daemon's high-water mark every five minutes (41.7 against 39.7 MiB resident at 200 x 48
/// on the rig). A run of 256 KiB makes a move of 9,600 ports' five minutes (23 MB) about 90
/// runs merged in two levels instead of 12 in one.
pub(crate) const MOVE_CACHE_KIB: i64 = 256;

/// Sets SQLite's process-wide options; call before the first connection opens (SQLite refuses
/// them after its initialization, which is then harmless: its defaults stay).
pub fn configure_sqlite() {
    // SAFETY: sqlite3_config is called with an option that takes one int, as its variadic
    // signature requires for SQLITE_CONFIG_PMASZ; before initialization (the first open) it
    // only stores the value, after it returns SQLITE_MISUSE and changes nothing. main calls
    // this before any thread or connection exists.
    unsafe {
        rusqlite::ffi::sqlite3_config(rusqlite::ffi::SQLITE_CONFIG_PMASZ, SORT_RUN_PAGES);
    }
}

/// Holds SQLite's memory in this process to [`DAEMON_HEAP_KIB`] (process-wide; the
/// daemon's, not a command's: `import` and `report` keep their larger caches).
pub(crate) fn limit_daemon_heap() {
    // SAFETY: sqlite3_soft_heap_limit64 only sets a process-wide threshold under SQLite's
    // own mutex; it is safe to call at any time from any thread.
    unsafe {
        rusqlite::ffi::sqlite3_soft_heap_limit64(DAEMON_HEAP_KIB * 1024);
    }
}

/// SQLite's memory in this process now (page caches, prepared statements, sorts), and its
/// high-water mark since the start, bytes: what the daemon's soft limit
/// ([`DAEMON_HEAP_KIB`]) holds near 4 MiB.
pub(crate) fn sqlite_memory() -> (u64, u64) {
    // SAFETY: both only read SQLite's own counters under its mutex (resetting nothing: the
    // argument 0); safe from any thread at any time.
    let (used, high) = unsafe {
        (
            rusqlite::ffi::sqlite3_memory_used(),
            rusqlite::ffi::sqlite3_memory_highwater(0),
        )
    };
    (used.max(0) as u64, high.max(0) as u64)
}

/// Sets the writer connection's page cache to `kib` KiB, or back to its usual size.
pub(crate) fn set_writer_cache(
    conn: &Connection,
    path: &Path,
    kib: Option<i64>,
) -> Result<(), StoreError> {
    conn.pragma_update(None, "cache_size", -kib.unwrap_or(WRITER_CACHE_KIB))
        .ctx(path, "setting the page cache size")
}

/// How long a connection waits for another's lock before it fails with "database is locked".
pub(crate) const BUSY_TIMEOUT: StdDuration = StdDuration::from_secs(5);

/// Sets the connection options every store connection uses.
pub(crate) fn configure(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)
        .ctx(path, "setting the busy timeout")?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .ctx(path, "setting synchronous=NORMAL")?;
    conn.pragma_update(None, "cache_size", -READER_CACHE_KIB)
        .ctx(path, "setting the page cache size")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Opens (creating if needed) the database for writing, switches it to WAL and applies
/// missing migrations. A newer schema is refused before anything is written.
pub(crate) fn open_for_write(path: &Path) -> Result<Connection, StoreError> {
    check_not_newer(path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            context: "creating the data directory",
            source,
        })?;
    }
    let mut conn = Connection::open(path).ctx(path, "opening the database")?;
    // Before the first statement: another process (the daemon, while `bandwatch silence` or
    // `import` opens the file) may hold a lock for a moment; wait for it instead of failing.
    conn.busy_timeout(BUSY_TIMEOUT)
        .ctx(path, "setting the busy timeout")?;
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .ctx(path, "reading the schema version")?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    // Switching needs an exclusive moment: only when the file is not in WAL mode already.
    let mut mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .ctx(path, "reading the journal mode")?;
    if !mode.eq_ignore_ascii_case("wal") {
        mode = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .ctx(path, "switching to WAL")?;
    }
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(file = %path.display(), mode, "the database is not in WAL mode");
    }
    configure(&conn, path)?;
    // The writer's big transactions dirty many pages: a larger page cache and fewer, larger
    // checkpoints (each page is copied back once per checkpoint, not once per sweep).
    set_writer_cache(&conn, path, None)?;
    conn.pragma_update(None, "wal_autocheckpoint", 16_384)
        .ctx(path, "setting the checkpoint interval")?;
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)
        .ctx(path, "setting the WAL size limit")?;
    // Another process (the daemon, `bandwatch silence`, `import`) may be migrating the same
    // file right now: each migration runs in an IMMEDIATE transaction that re-reads the
    // version inside it, so two processes never apply the same step twice.
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i as i64 + 1;
        if version <= found {
            continue;
        }
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .ctx(path, "starting a migration")?;
        let now: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .ctx(path, "reading the schema version")?;
        if now >= version {
            continue;
        }
        tx.execute_batch(sql)
            .ctx(path, "applying a schema migration")?;
        tx.pragma_update(None, "user_version", version)
            .ctx(path, "recording the schema version")?;
        tx.commit().ctx(path, "committing a schema migration")?;
        tracing::info!(file = %path.display(), version, "database schema migrated");
    }
    Ok(conn)
}

/// Opens an existing database for reading: never creates, never migrates.
pub(crate) fn open_for_read(path: &Path) -> Result<Connection, StoreError> {
    if !path.exists() {
        return Err(StoreError::Missing {
            path: path.to_path_buf(),
        });
    }
    let found = check_not_newer(path)?;
    if found < SCHEMA_VERSION {
        return Err(StoreError::InvalidQuery(format!(
            "{}: schema version {found} is older than {SCHEMA_VERSION}; run `bandwatch run` once \
             to migrate it",
            path.display()
        )));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ctx(path, "opening the database for reading")?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .ctx(path, "setting the busy timeout")?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}
